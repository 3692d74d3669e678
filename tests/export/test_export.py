from __future__ import annotations

import hashlib
import inspect
import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from curagate.cli import main
from curagate.errors import CheckFailed, InputError
from curagate.export import artifact_digest, export_run, load_manifest
from curagate.registry import Registry
from tests.tiny_llama import OUTPUT_LAYER_LAYOUTS, relay_output_layer

pytestmark = pytest.mark.slow  # each export merges, writes and reloads a model (~seconds)

PROMPT = [{"role": "user", "content": "what color is the red fox?"}]
# Max |logit diff| of the Q8_0 file over the largest |logit|, written here rather than
# imported: the export refuses a file above its own bound (gguf_q8.Q8_0_RTOL, 0.1), so a
# test reading that constant could only restate the guard. Q8_0 on the tiny model
# measures 0.03-0.05; a rotary Q/K permutation left out gives 0.36.
Q8_0_MEASURED_MAX = 0.07


def logits(model: Any, tok: Any) -> Any:
    import torch

    text = tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits[0]


def run_json(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def front_matter(readme: Path) -> dict[str, Any]:
    text = readme.read_text()
    return yaml.safe_load(text.split("---\n")[1])


def copy_run(tiny_run: Path, dest: Path) -> Path:
    """A private copy of the run and its base (run.json repointed), safe to damage."""
    shutil.copytree(tiny_run.parent / "base", dest / "base")
    shutil.copytree(tiny_run, dest / "run")
    run = run_json(dest / "run")
    run["base_model"]["path"] = str(dest / "base")
    (dest / "run" / "run.json").write_text(json.dumps(run))
    return dest / "run"


def test_a_run_whose_base_loads_a_hidden_shard_is_refused_by_export_and_gate(
    tiny_run: Path, tmp_path: Path
) -> None:
    # Found by attack: a base shard in a hidden folder its index names is loaded by
    # transformers but was left out of the recorded base digest (hidden files are not
    # hashed): export merged onto a changed base under the same lineage sha256 (exit 0).
    from curagate.digest import hash_tree
    from curagate.gate.models import resolve_model
    from tests.tiny_llama import hide_a_shard

    run = copy_run(tiny_run, tmp_path)
    base = tmp_path / "base"
    hidden = hide_a_shard(base)
    record = run_json(run)
    record["base_model"]["files"] = hash_tree(base)  # what train recorded before the fix
    (run / "run.json").write_text(json.dumps(record))
    for attempt in (
        lambda: export_run(run, tmp_path / "out"),
        lambda: resolve_model(str(run)),
    ):
        with pytest.raises(InputError, match=f"{base}: .*names shard '{hidden}'"):
            attempt()
    assert not (tmp_path / "out").exists()


# Plain peft on transformers 5 reads its deprecated `is_gradient_checkpointing` (the
# libraries' own warning, which curagate's loaders silence: this test uses none of them).
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_bundle_reloads_with_plain_transformers_and_equals_base_plus_adapter(
    tiny_run: Path, tiny_bundle: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bundle)
    exported = logits(AutoModelForCausalLM.from_pretrained(tiny_bundle, dtype=torch.float32), tok)
    base = AutoModelForCausalLM.from_pretrained(tiny_run.parent / "base", dtype=torch.float32)
    base_only = logits(base, tok)
    with_adapter = logits(PeftModel.from_pretrained(base, tiny_run / "adapter"), tok)
    assert float((exported - with_adapter).abs().max()) < 1e-4
    assert float((exported - base_only).abs().max()) > 1e-2  # the adapter really changed the model


def test_bundle_is_a_standalone_model_directory(tiny_bundle: Path) -> None:
    names = {p.name for p in tiny_bundle.iterdir()}
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "README.md",
        "MANIFEST.json",
    } <= names
    assert "adapter_config.json" not in names


def test_chat_template_renders_exactly_as_at_training_time(
    tiny_run: Path, tiny_bundle: Path
) -> None:
    from transformers import AutoTokenizer

    trained, exported = (
        AutoTokenizer.from_pretrained(tiny_run / "adapter"),
        AutoTokenizer.from_pretrained(tiny_bundle),
    )
    conv = [{"role": "system", "content": "be brief"}, *PROMPT]
    assert exported.apply_chat_template(conv, tokenize=False, add_generation_prompt=True) == (
        trained.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    )
    assert exported.chat_template == trained.chat_template


def test_model_card_carries_hugging_face_metadata(tiny_bundle: Path) -> None:
    meta = front_matter(tiny_bundle / "README.md")
    assert meta["base_model_relation"] == "finetune"
    assert meta["library_name"] == "transformers"
    assert meta["license"] == "apache-2.0"  # taken from the base model's card
    assert meta["base_model"] == "base"


def test_manifest_records_every_file_and_the_lineage(tiny_run: Path, tiny_bundle: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    run = run_json(tiny_run)
    assert set(manifest.files) == {p.name for p in tiny_bundle.iterdir()} - {"MANIFEST.json"}
    lineage = manifest.lineage
    assert lineage["base_model"]["files"] == run["base_model"]["files"]
    assert "adapter_model.safetensors" in lineage["adapter"]["files"]
    from curagate.gate import models as gate_models

    gate_view = gate_models.resolve_model(
        str(tiny_run)
    ).artifacts  # what a gate report on the run says
    assert lineage["adapter"]["sha256"] == gate_view["adapter_sha256"]
    assert lineage["base_model"]["sha256"] == gate_view["base_model_sha256"]
    assert lineage["dataset_manifest"] == run["dataset_manifest"]
    assert lineage["golden_sets"] == run["golden_sets"]
    assert lineage["chat_template_sha256"] == run["chat_template_sha256"]
    assert {"torch", "transformers", "peft"} <= set(lineage["versions"]["export"])
    verification = manifest.verification
    # The export refuses a bundle outside rtol x scale, so re-checking that inequality on
    # the manifest's own numbers could not fail; check the recorded numbers against
    # literals instead: float32's documented default rtol (docs/export.md) and the
    # absolute bound test_bundle_reloads_... measures independently.
    assert verification["rtol"] == 1e-4
    assert 0 <= verification["max_abs_logit_diff"] < 1e-4
    assert verification["max_abs_reference_logit"] > 0.1  # a real logit scale, not 0


def test_an_export_removes_the_private_copies_a_killed_export_left(
    tiny_run: Path, tmp_path: Path
) -> None:
    # Found by attack: an export killed (SIGKILL, or SIGTERM: no handler) left its private
    # copy of the adapter (and, signing, of the whole base model) in $TMPDIR, and no later
    # export removed it: several GB per cancelled CI job.
    import os
    import subprocess
    import sys

    from curagate.io.atomic import hold, release

    temp = tmp_path / "tmp"
    temp.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    stale = temp / f"curagate-export-{gone}-abcdefgh"
    (stale / "base").mkdir(parents=True)
    live = temp / f"curagate-export-{os.getppid()}-abcdefgh"  # a running process's
    live.mkdir()
    lock = hold(live)  # as its live run holds it
    try:
        p = subprocess.run(
            [sys.executable, "-m", "curagate", "export", str(tiny_run), "--out",
             str(tmp_path / "b"), "--quiet"],
            capture_output=True, text=True, check=False, env={**os.environ, "TMPDIR": str(temp)},
        )  # fmt: skip
    finally:
        release(lock)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in temp.iterdir() if x.name.startswith("curagate-export-")) == [
        live.name
    ]


def test_export_is_deterministic(tiny_run: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        again = export_run(tiny_run, tmp_path / "tiny-bot")
    assert again.digest == artifact_digest(tiny_bundle)
    # peft's deprecated is_gradient_checkpointing read (a FutureWarning on every export)
    assert [str(w.message) for w in seen if issubclass(w.category, FutureWarning)] == []


def test_verify_accepts_an_intact_bundle(
    tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tiny_bundle)]) == 0
    assert artifact_digest(tiny_bundle) in capsys.readouterr().out


def test_verify_fails_on_a_flipped_byte(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    assert main(["verify", str(copy)]) == 1
    assert "model.safetensors: sha256 differs" in capsys.readouterr().err


def test_verify_fails_on_an_added_file(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    (copy / "extra.safetensors").write_bytes(b"x")
    assert main(["verify", str(copy)]) == 1
    assert "extra.safetensors: present but not listed" in capsys.readouterr().err


def test_a_forged_data_output_marker_does_not_turn_off_the_bundle_checks(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A split manifest listing every file and a marker whose run id is its hash (anyone can
    # write both) made `verify` check the bundle as a split output: "ok", exit 0, beside an
    # added file the bundle's manifest does not list.
    import hashlib

    from curagate.io.outputs import MARKER_NAME

    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    (copy / "evil.py").write_text("import os\n")
    files = sorted(p for p in copy.iterdir() if p.is_file())
    splits = {
        p.name: {"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in files
    }
    raw = json.dumps({"splits": splits, "quarantined": {}}).encode()
    (copy / "split_manifest.json").write_bytes(raw)
    run_id = hashlib.sha256(raw).hexdigest()[:16]
    marker = {"tool": "curagate", "command": "split", "run_id": run_id, "complete": True}
    (copy / MARKER_NAME).write_text(json.dumps(marker))
    assert main(["verify", str(copy)]) == 1
    assert "holds both MANIFEST.json" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["model.safetensors.index.json", "adapter/empty"])
def test_verify_fails_on_an_added_folder(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    # An empty folder holds no file to list, so it passed: a loader that looks for that
    # name (an index file, a subfolder adapter) finds a folder the export never wrote.
    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    (copy / folder).mkdir(parents=True)
    assert main(["verify", str(copy)]) == 1
    top = folder.split("/")[0]
    assert f"{top}/: present but not listed" in capsys.readouterr().err


def test_export_refuses_a_chat_template_changed_since_training(
    tiny_run: Path, tmp_path: Path
) -> None:
    run = copy_run(tiny_run, tmp_path)
    template = run / "adapter" / "chat_template.jinja"
    template.write_text(template.read_text().replace("<|im_start|>assistant", "<|im_start|>bot"))
    with pytest.raises(CheckFailed, match="chat template sha256"):
        export_run(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_tokenizer_that_loads_a_file_from_outside_the_run(
    tiny_run: Path, tmp_path: Path
) -> None:
    # The reference was saved into the bundle, whose tokenizer then came from a file no
    # manifest covers: swapping it changed the shipped model with verify and registry ok.
    run = copy_run(tiny_run, tmp_path)
    evil = tmp_path / "evil" / "tokenizer.1.0.json"
    evil.parent.mkdir()
    shutil.copy(run / "adapter" / "tokenizer.json", evil)
    config_path = run / "adapter" / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["fast_tokenizer_files"] = [str(evil)]
    config_path.write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"fast_tokenizer_files names .*evil"):
        export_run(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_base_model_changed_since_training(tiny_run: Path, tmp_path: Path) -> None:
    run = copy_run(tiny_run, tmp_path)
    (tmp_path / "base" / "generation_config.json").write_text("{}")
    with pytest.raises(CheckFailed, match="base model files changed since training"):
        export_run(run, tmp_path / "out")


def test_export_does_not_overwrite_a_directory_that_is_not_a_bundle(
    tiny_run: Path, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a curagate bundle"):
        export_run(tiny_run, tmp_path / "out")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_large_weights_are_sharded_and_still_reload(tiny_run: Path, tmp_path: Path) -> None:
    result = export_run(tiny_run, tmp_path / "out", max_shard_size="100KB")
    shards = sorted(p.name for p in result.out.glob("model-*.safetensors"))
    assert len(shards) > 1
    assert (result.out / "model.safetensors.index.json").is_file()
    assert set(shards) <= set(load_manifest(result.out).files)


def gate_report_for(run: Path, path: Path, digest: str | None = None) -> Path:
    """A gate_report.json as `curagate gate --candidate RUN` writes it (digest from the gate's resolver)."""
    from curagate.gate.models import resolve_model

    checks = [
        {
            "id": "G001",
            "golden_set": "colors",
            "metric": "accuracy",
            "candidate": 0.93,
            "base": 0.4,
            "verdict": "pass",
            "slice": None,
        }
    ]
    side = resolve_model(str(run)).describe()
    if digest is not None:
        side.update(identity=digest, artifact_sha256=digest)
    report = {
        "schema_version": 2,
        "verdict": "pass",
        "candidate": side,
        "base": {"kind": "model_dir", "spec": "base", "identity": "b" * 64},
        "gate": {"name": "colors", "file": "", "sha256": "c" * 64},
        "checks": checks,
    }
    path.write_text(json.dumps(report))
    return path


def test_gate_report_goes_into_the_card_and_the_lineage(tiny_run: Path, tmp_path: Path) -> None:
    # Unsigned, so shown as claims (a signed one: test_a_gate_report_signed_by_the_given_...).
    report = gate_report_for(tiny_run, tmp_path / "gate_report.json")
    result = export_run(tiny_run, tmp_path / "out", gate_report=report)
    assert (
        "| G001 | colors | accuracy | 0.93 | 0.4 | pass |" in (result.out / "README.md").read_text()
    )
    gate_report = load_manifest(result.out).lineage["gate_report"]
    assert gate_report["claimed_verdict"] == "pass"
    assert gate_report["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()


def test_export_refuses_a_gate_report_about_another_candidate(
    tiny_run: Path, tmp_path: Path
) -> None:
    report = gate_report_for(tiny_run, tmp_path / "gate_report.json", digest="d" * 64)
    with pytest.raises(CheckFailed, match="not this run"):
        export_run(tiny_run, tmp_path / "out", gate_report=report)


def test_export_refuses_a_run_record_edited_after_the_gate(tiny_run: Path, tmp_path: Path) -> None:
    """run.json names the training data the gate scanned for contamination and that the
    bundle's lineage names; edited after gating (other data, allow_leakage), it was
    copied into MANIFEST.json unchecked."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    report = gate_report_for(run, tmp_path / "gate_report.json")
    record = json.loads((run / "run.json").read_text())
    record["allow_leakage"] = True
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(CheckFailed, match=r"run\.json: changed since the gate judged this run"):
        export_run(run, tmp_path / "out", gate_report=report)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def ci_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from curagate.signing import generate_keypair

    return generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def signed_bundle(
    tiny_run: Path, ci_key: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("signed") / "tiny-bot"
    result = export_run(tiny_run, out, sign_key=ci_key[0])
    assert result.signed_by is not None
    return out


def test_a_signed_bundle_verifies_with_its_public_key_only(
    signed_bundle: Path,
    ci_key: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from curagate.signing import generate_keypair

    assert main(["verify", str(signed_bundle), "--public-key", str(ci_key[1])]) == 0
    assert "model.sig verifies" in capsys.readouterr().out
    _, other = generate_keypair(tmp_path / "other")
    assert main(["verify", str(signed_bundle), "--public-key", str(other)]) == 1
    assert "signature does not verify" in capsys.readouterr().err


@pytest.mark.parametrize("previous", [True, False], ids=["previous-bundle", "none"])
def test_a_bundle_changed_before_the_rename_leaves_out_as_it_was(
    tiny_run: Path,
    signed_bundle: Path,
    ci_key: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    previous: bool,
) -> None:
    """A file written into the bundle after its signing, before the rename (a writer of
    the parent folder), failed the check in place: exit 1, "do not use it", and the good
    bundle that was at --out, maybe served, was already replaced by the bad one. --out is
    now as it was: the previous bundle byte for byte (it verifies), or nothing."""
    import curagate.export.bundle as bundle

    out = tmp_path / "tiny-bot"
    if previous:
        shutil.copytree(signed_bundle, out)
        before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")}
    sign = bundle.sign_bundle

    def sign_then_write(folder: Path, *args: Any, **kwargs: Any) -> None:
        sign(folder, *args, **kwargs)
        with (folder / "README.md").open("a") as f:
            f.write("written after the signing\n")

    monkeypatch.setattr(bundle, "sign_bundle", sign_then_write)
    with pytest.raises(CheckFailed, match=r"changed after export checked it \(README.md") as e:
        export_run(tiny_run, out, sign_key=ci_key[0])
    if previous:
        assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")} == before
        assert main(["verify", str(out), "--public-key", str(ci_key[1])]) == 0
        assert "model.sig verifies" in capsys.readouterr().out
    else:
        assert not out.exists() and not out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-bot"] * previous
    assert f"nothing changed at {out}" in str(e.value)


def test_the_signing_librarys_prints_never_reach_stdout(
    signed_bundle: Path,
    ci_key: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The key hint is outside what the signature covers: removed, model-signing printed
    # a WARNING line on stdout, in the output of verify, register and check --bundles.
    copy = tmp_path / "b"
    shutil.copytree(signed_bundle, copy)
    sig = json.loads((copy / "model.sig").read_text())
    del sig["verificationMaterial"]["publicKey"]["hint"]
    (copy / "model.sig").write_text(json.dumps(sig))
    assert main(["verify", str(copy), "--public-key", str(ci_key[1])]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out and out.startswith(f"{copy}: ok")


def test_a_changed_lineage_byte_fails_a_signed_verify(
    signed_bundle: Path,
    ci_key: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(signed_bundle, copy)
    manifest = copy / "MANIFEST.json"
    text = manifest.read_text()
    assert '"seed": 1' in text
    manifest.write_text(text.replace('"seed": 1', '"seed": 2', 1))
    assert main(["verify", str(copy)]) == 0  # file hashes alone cannot see it (and say so)
    assert "unsigned check" in capsys.readouterr().out
    assert main(["verify", str(copy), "--public-key", str(ci_key[1])]) == 1
    assert main(["verify", str(copy), "--digest", artifact_digest(signed_bundle)]) == 1


def test_verify_of_a_missing_bundle_says_it_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "not a directory (a bundle is a real directory, not a link)" for a deleted bundle,
    # also in `registry check --bundles`.
    assert main(["verify", str(tmp_path / "gone")]) == 2
    assert "gone: no such folder (moved or deleted?)" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "dir", "dangling"])
def test_a_symlink_anywhere_in_a_bundle_fails_verify(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "adapter_config.json").write_text("{}")
    if where == "file":
        (copy / "adapter_config.json").symlink_to(evil / "adapter_config.json")
    elif where == "dir":
        (copy / "extra").symlink_to(evil, target_is_directory=True)
    else:
        (copy / "adapter_model.safetensors").symlink_to(tmp_path / "missing")
    assert main(["verify", str(copy)]) == 1
    assert "is a symbolic link" in capsys.readouterr().err


def test_a_fifo_in_a_bundle_fails_verify(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    os.mkfifo(copy / "sub.safetensors")
    assert main(["verify", str(copy)]) == 1
    assert "not a regular file" in capsys.readouterr().err


def test_a_signed_export_is_registered_signed_and_promoted_on_a_signed_gate(
    signed_bundle: Path, ci_key: tuple[Path, Path], tmp_path: Path
) -> None:
    from curagate.gate.runner import write_attestation

    digest = artifact_digest(signed_bundle)
    report = tmp_path / "gate" / "gate_report.json"
    report.parent.mkdir()
    side = {
        "kind": "bundle",
        "spec": str(signed_bundle),
        "identity": "c" * 64,
        "artifact_sha256": digest,
    }
    report.write_text(
        json.dumps(
            {
                "schema_version": 2,
                "verdict": "pass",
                "candidate": side,
                "base": {"kind": "model_dir", "spec": "base", "identity": "b" * 64},
                "gate": {"name": "colors", "file": "gates/colors.yaml", "sha256": "c" * 64},
            }
        )
    )
    write_attestation(report, ci_key[0])
    with Registry(tmp_path / "registry.db") as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        reg.trust_add(ci_key[1], role="export", name="ci")
        mv, _ = reg.register(signed_bundle, name="tiny-bot", reason="export of tiny-run")
        assert mv.signed_by is not None
        assert reg.promote("tiny-bot", 1, to="production", gate_report=report).stage == "production"
        # The registry's card: the bundle's README with the results that backed it.
        card = reg.card("tiny-bot", 1)
    from huggingface_hub import ModelCard

    assert "Verdict: **pass** (gate `colors`" in card
    assert ModelCard(card).data.base_model is not None
    assert (signed_bundle / "README.md").read_text() != card  # the hashed README is untouched


def test_a_signed_bundle_is_not_registered_without_a_trusted_export_key(
    signed_bundle: Path, tmp_path: Path
) -> None:
    with (
        Registry(tmp_path / "registry.db") as reg,
        pytest.raises(CheckFailed, match="trusts no export key"),
    ):
        reg.register(signed_bundle, name="tiny-bot")


@pytest.fixture(scope="module")
def gguf_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = export_run(tiny_run, tmp_path_factory.mktemp("gguf") / "out", gguf=True)
    assert result.gguf == "model.Q8_0.gguf"
    assert result.gguf_pre_tokenizer == "gpt-2"
    return result.out


def test_the_gguf_is_named_after_the_output_folder_not_the_temporary_one(
    gguf_bundle: Path,
) -> None:
    # general.name held the temporary folder's name (its process id): two exports of one
    # run wrote two GGUF files, two digests.
    from gguf import GGUFReader

    assert GGUFReader(gguf_bundle / "model.Q8_0.gguf").fields["general.name"].contents() == "out"


def test_gguf_q8_0_variant_reloads_with_transformers_close_to_the_merged_model(
    gguf_bundle: Path,
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf_bundle)
    merged = logits(AutoModelForCausalLM.from_pretrained(gguf_bundle, dtype=torch.float32), tok)
    quantized = logits(
        AutoModelForCausalLM.from_pretrained(gguf_bundle, gguf_file="model.Q8_0.gguf"), tok
    )
    ratio = float((merged - quantized).abs().max()) / float(merged.abs().max())
    assert 0 < ratio < Q8_0_MEASURED_MAX, ratio
    assert "model.Q8_0.gguf" in load_manifest(gguf_bundle).files


def test_gguf_q8_0_runs_in_llama_cpp_with_the_same_tokens_and_template(
    gguf_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp  # the gguf-verify extra: a plain import, so CI cannot skip this
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # On CPUs with AMX (Sapphire Rapids and later) llama.cpp repacks the weights into its
    # AMX buffer type, whose matmul segfaults (ggml-org/llama.cpp#20824, open upstream;
    # seen here on 2026-12-02 with llama-cpp-python 0.3.36). The Llama class does not
    # expose `use_extra_bufts`, so its default parameters are patched: the weights stay
    # in plain CPU buffers, the same numbers on every CPU.
    defaults = llama_cpp.llama_cpp.llama_model_default_params

    def without_extra_buffer_types() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    monkeypatch.setattr(
        llama_cpp.llama_cpp, "llama_model_default_params", without_extra_buffer_types
    )
    tok = AutoTokenizer.from_pretrained(gguf_bundle)
    text = tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    llm = llama_cpp.Llama(
        model_path=str(gguf_bundle / "model.Q8_0.gguf"), logits_all=True, verbose=False, n_ctx=128
    )
    try:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids
        assert llm.metadata["tokenizer.chat_template"] == tok.chat_template
        # The tiny tokenizer is GPT-2's byte-level regex on a new vocabulary.
        assert llm.metadata["tokenizer.ggml.pre"] == "gpt-2"
        llm.eval(ids)
        scores = np.array(llm.scores[: len(ids)])
    finally:
        llm.close()
    with torch.no_grad():
        model = AutoModelForCausalLM.from_pretrained(gguf_bundle, dtype=torch.float32)
        ref = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    ratio = float(np.abs(scores - ref).max() / np.abs(ref).max())
    assert ratio < Q8_0_MEASURED_MAX, ratio


def test_gguf_manifest_records_the_pre_tokenizer_and_the_llama_cpp_parity(
    gguf_bundle: Path,
) -> None:
    record = load_manifest(gguf_bundle).verification["gguf"]["tokenizer"]
    assert record["pre_tokenizer"]["name"] == "gpt-2"
    assert record["pre_tokenizer"]["determined_by"].startswith("pre-tokenizer pieces")
    # 19 built-in parity strings + the three fixed chat prompts, counted by hand.
    assert record["strings"] == 22
    assert record["tokenized_with"].startswith("llama-cpp-python ")


def _with_files(src: Path, dest: Path, files: dict[str, bytes], gguf: str | None) -> Path:
    """A copy of a bundle with ``files`` added and listed in its manifest (``gguf``: the
    name its export section records), unsigned: it verifies as exported."""
    from curagate.export.manifest import hash_bundle_files, manifest_bytes

    shutil.copytree(src, dest)
    (dest / "model.sig").unlink(missing_ok=True)
    for name, data in files.items():
        (dest / name).parent.mkdir(exist_ok=True)
        (dest / name).write_bytes(data)
    manifest = load_manifest(dest)
    manifest.files = hash_bundle_files(dest)
    manifest.export["gguf"] = gguf
    (dest / "MANIFEST.json").write_bytes(manifest_bytes(manifest))
    return dest


@pytest.mark.slow
def test_the_gate_refuses_a_bundle_holding_weights_it_does_not_evaluate(
    tiny_bundle: Path, tiny_run: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    # Found by attack: random bytes added as model.Q8_0.gguf (manifest edited, model.sig
    # dropped) were gated "pass" on the safetensors, signed, registered and promoted.
    import os

    from curagate.export.manifest import verify_bundle
    from curagate.gate import run_gate

    base = str(Path(run_json(tiny_run)["base_model"]["path"]))
    junk = os.urandom(4096)
    for name, files, gguf in (
        ("gguf", {"model.Q4_K_M.gguf": junk}, None),  # not the GGUF export wrote
        ("bin", {"pytorch_model.bin": junk}, None),  # beside model.safetensors: not loaded
        ("onnx", {"onnx/model.onnx": junk}, None),
        ("named", {"model.Q8_0.gguf": junk, "extra.gguf": junk}, "model.Q8_0.gguf"),
        # found by the re-attack: names no list of weight suffixes holds
        ("zst", {"model.Q4_K_M.gguf.zst": junk}, None),
        ("numbered", {"model.safetensors.1": junk}, None),
        ("folder", {"model.gguf/blob": junk}, None),
        ("other", {"model.nemo": junk, "README.md.bak": junk}, None),
    ):
        bundle = _with_files(tiny_bundle, tmp_path / name, files, gguf)
        verify_bundle(bundle)  # the manifest covers them: only the gate can tell
        bad = next(f for f in sorted(files) if f != gguf)
        with pytest.raises(InputError, match=f"{re.escape(bad)}.*: files the gate neither"):
            run_gate(tiny_gate, str(bundle), base, tmp_path / f"o-{name}", device="cpu")


@pytest.mark.slow
def test_the_gate_rechecks_a_bundles_gguf_against_the_model_it_evaluated(
    gguf_bundle: Path, tiny_run: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    import os

    from curagate.gate import run_gate

    base = str(Path(run_json(tiny_run)["base_model"]["path"]))
    out = run_gate(tiny_gate, str(gguf_bundle), base, tmp_path / "ok", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE014")
    assert check["verdict"] == "pass", check
    from importlib.metadata import version

    here = version("gguf")
    assert check["stats"]["gguf_version"] == {"exported_with": here, "checked_with": here}
    # random bytes where export's GGUF was, the manifest edited to match: the gate fails
    forged = _with_files(
        gguf_bundle, tmp_path / "forged", {"model.Q8_0.gguf": os.urandom(300_000)},
        "model.Q8_0.gguf",
    )  # fmt: skip
    out = run_gate(tiny_gate, str(forged), base, tmp_path / "bad", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE014")
    assert check["verdict"] == "fail" and "model.Q8_0.gguf" in check["message"], check
    assert out.report["verdict"] == "fail" and out.exit_code == 1
    # rope scaling added, which transformers ignores and llama.cpp obeys: fails too
    _rewrite_gguf(
        gguf_bundle / "model.Q8_0.gguf", tmp_path / "scaled.gguf",
        {"llama.rope.scaling.type": ("STRING", "linear")},
    )  # fmt: skip
    scaled = {"model.Q8_0.gguf": (tmp_path / "scaled.gguf").read_bytes()}
    _with_files(gguf_bundle, tmp_path / "scaled", scaled, "model.Q8_0.gguf")
    out = run_gate(tiny_gate, str(tmp_path / "scaled"), base, tmp_path / "bad2", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE014")
    assert check["verdict"] == "fail" and "llama.rope.scaling.type" in check["message"], check


def _rewrite_gguf(
    src: Path,
    dest: Path,
    keys: dict[str, tuple[str, Any]] | None = None,
    tensors: dict[str, Any] | None = None,
    drop: frozenset[str] = frozenset(),
) -> None:
    """A copy of the GGUF ``src`` with ``keys`` ({key: (GGUFValueType name, value)}) added
    or changed, ``tensors`` (float32 arrays) added and the tensors named in ``drop`` left
    out: keys and tensors llama.cpp obeys and transformers' GGUF loader ignores."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    keys = keys or {}
    reader = GGUFReader(src)
    writer = GGUFWriter(dest, reader.fields["general.architecture"].contents())
    # gguf 0.16 (the oldest the package allows) infers an array's element type and has
    # no ``sub_type``
    typed = "sub_type" in inspect.signature(writer.add_key_value).parameters
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in keys:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, **({"sub_type": sub} if typed else {}))
    for key, (vtype_name, value) in keys.items():
        writer.add_key_value(key, value, GGUFValueType[vtype_name])
    for t in reader.tensors:
        if t.name not in drop:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    for name, data in (tensors or {}).items():
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_the_gguf_recheck_refuses_keys_and_tensors_the_exporter_does_not_write(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by attack: GATE014 reloaded the GGUF with transformers, which ignores keys
    # llama.cpp obeys. Rope scaling added (llama.cpp's logits off by 3.5x the bound) or
    # the EOS id pointed at another token (served generation stopped at 'the'), the
    # manifest's hash edited and model.sig dropped: the gate re-checked it "pass".
    import numpy as np

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import recheck_gguf

    name = "model.Q8_0.gguf"
    assert recheck_gguf(gguf_bundle, name, FIXED_CONVERSATIONS).max_abs_logit_diff > 0
    for case, keys, tensors, named in (
        ("copy", {}, {}, None),  # the rewriting alone changes nothing the check sees
        (
            "rope",
            {"llama.rope.scaling.type": ("STRING", "linear"),
             "llama.rope.scaling.factor": ("FLOAT32", 4.0)},
            {}, "the key llama.rope.scaling.type",
        ),
        ("eos", {"tokenizer.ggml.eos_token_id": ("UINT32", 5)}, {},
         "its key tokenizer.ggml.eos_token_id is 5, the exporter writes 2"),
        ("template", {"tokenizer.chat_template.tool_use": ("STRING", "{{ 'x' }}")}, {},
         "the key tokenizer.chat_template.tool_use"),
        ("tensor", {}, {"rope_freqs.weight": np.full(8, 0.25, dtype=np.float32)},
         "the tensor rope_freqs.weight"),
    ):  # fmt: skip
        bundle = tmp_path / case
        shutil.copytree(gguf_bundle, bundle)
        (bundle / name).unlink()
        _rewrite_gguf(gguf_bundle / name, bundle / name, keys, tensors)
        if named is None:
            recheck_gguf(bundle, name, FIXED_CONVERSATIONS)
            continue
        with pytest.raises(CheckFailed, match=re.escape(named)) as e:
            recheck_gguf(bundle, name, FIXED_CONVERSATIONS)
        assert "not the GGUF `curagate export --gguf` writes" in str(e.value)


def test_the_gguf_recheck_compares_every_tensors_data_with_what_export_writes(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by re-attack: GATE014 compared the GGUF's keys and tensor layout, not the
    # tensor data, and its logits check sees only the tokens of its fixed texts: the
    # token_embd row of a token none of them holds, overwritten with another token's row,
    # passed while llama.cpp's logits on it moved 4.5x the bound. So did a one-byte edit
    # of a Q8_0 block's scale.
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    from curagate.export.bundle import FIXED_CONVERSATIONS, _render
    from curagate.export.gguf_q8 import recheck_gguf

    name = "model.Q8_0.gguf"
    tok = AutoTokenizer.from_pretrained(gguf_bundle)
    used = {
        i
        for text in _render(tok, FIXED_CONVERSATIONS, gguf_bundle)
        for i in tok(text, add_special_tokens=False)["input_ids"]
    }
    victim = max(i for i in range(len(tok)) if i not in used)
    donor = min(used)
    tensors = {t.name: t for t in GGUFReader(gguf_bundle / name).tensors}
    embd, down = tensors["token_embd.weight"], tensors["blk.0.ffn_down.weight"]
    assert embd.tensor_type.name == "Q8_0" and down.tensor_type.name == "Q8_0"
    row = int(embd.data.shape[1])  # bytes per row: 34 per block of 32 weights
    for case, named in (
        ("row", rf"its tensor token_embd\.weight's data differs .* \(first at row {victim} of"),
        ("scale", r"its tensor blk\.0\.ffn_down\.weight's data differs .* \(first at row 0 of"),
    ):
        bundle = tmp_path / case
        shutil.copytree(gguf_bundle, bundle)
        data = bytearray((bundle / name).read_bytes())
        if case == "row":
            at, src = embd.data_offset + victim * row, embd.data_offset + donor * row
            data[at : at + row] = data[src : src + row]
        else:  # the low byte of the first block's float16 scale
            data[down.data_offset] ^= 1
        (bundle / name).write_bytes(bytes(data))
        with pytest.raises(CheckFailed, match=named) as e:
            recheck_gguf(bundle, name, FIXED_CONVERSATIONS)
        assert "not the GGUF `curagate export --gguf` writes" in str(e.value)


def test_the_gguf_recheck_names_the_gguf_version_that_wrote_the_file_and_its_own(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by review: the re-check quantizes with the gguf package installed where the gate
    # runs; one whose writer or quantizer differs from the exporting install's would report
    # an honest file as edited, with nothing saying the versions differed. The manifest
    # records the exporting version (lineage.versions.export.gguf); the finding names both.
    from importlib.metadata import version

    from gguf import GGUFReader

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import recheck_gguf
    from curagate.export.manifest import manifest_bytes

    name = "model.Q8_0.gguf"
    here = version("gguf")
    assert load_manifest(gguf_bundle).lineage["versions"]["export"]["gguf"] == here
    other = "0.16.0" if here != "0.16.0" else "0.17.0"
    last = GGUFReader(gguf_bundle / name).tensors[-1]
    at = int(last.data_offset) + int(last.n_bytes) - 1  # the last byte of the last tensor
    for case, recorded, named in (
        ("same", here, None),
        ("other", other, f"the bundle's MANIFEST.json (lineage.versions.export) says gguf "
         f"{other} wrote it, and gguf {here} re-checks it: another version may write other "
         f"keys or quantize otherwise, so gate with gguf {other} installed"),
        ("unrecorded", None, "the bundle's MANIFEST.json records no valid gguf version that wrote "
         f"it, and gguf {here} re-checks it"),
    ):  # fmt: skip
        bundle = tmp_path / case
        shutil.copytree(gguf_bundle, bundle)
        manifest = load_manifest(bundle)
        if recorded is None:
            del manifest.lineage["versions"]["export"]["gguf"]
        else:
            manifest.lineage["versions"]["export"]["gguf"] = recorded
        (bundle / "MANIFEST.json").write_bytes(manifest_bytes(manifest))
        data = bytearray((bundle / name).read_bytes())
        data[at] ^= 1
        (bundle / name).write_bytes(bytes(data))
        with pytest.raises(CheckFailed, match="not the GGUF `curagate export --gguf` writes") as e:
            recheck_gguf(bundle, name, FIXED_CONVERSATIONS)
        if named is None:
            assert "re-checks it" not in str(e.value), str(e.value)
        else:
            assert named in str(e.value), str(e.value)


@pytest.mark.parametrize("recorded", ["x" * 2_000_000, "0.17.1\nforged line", 17, ""])
def test_the_gguf_recheck_names_only_a_gguf_version_that_is_one(
    gguf_bundle: Path, tmp_path: Path, recorded: Any
) -> None:
    # Found by attack: the manifest's lineage.versions.export.gguf went into the finding and
    # the report at any length (2 MB there made a 4 MB report) and whatever it held.
    from importlib.metadata import version

    from gguf import GGUFReader

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import gguf_versions, recheck_gguf
    from curagate.export.manifest import manifest_bytes

    name = "model.Q8_0.gguf"
    bundle = tmp_path / "bundle"
    shutil.copytree(gguf_bundle, bundle)
    manifest = load_manifest(bundle)
    manifest.lineage["versions"]["export"]["gguf"] = recorded
    (bundle / "MANIFEST.json").write_bytes(manifest_bytes(manifest))
    assert gguf_versions(bundle) == {"exported_with": None, "checked_with": version("gguf")}
    last = GGUFReader(bundle / name).tensors[-1]
    at = int(last.data_offset) + int(last.n_bytes) - 1
    data = bytearray((bundle / name).read_bytes())
    data[at] ^= 1
    (bundle / name).write_bytes(bytes(data))
    with pytest.raises(CheckFailed) as e:
        recheck_gguf(bundle, name, FIXED_CONVERSATIONS)
    assert "the bundle's MANIFEST.json records no valid gguf version that wrote it" in str(e.value)
    assert len(str(e.value)) < 2000 and "forged" not in str(e.value)


def test_the_gguf_recheck_refuses_bytes_no_gguf_reader_reads(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by re-attack: b'EVILPAYLOAD' * 100 appended after the last tensor, or written
    # over the zero padding between the tensor infos and the tensor data, passed GATE014
    # (it compared the keys and each tensor's data only), and the gate's signed verdict
    # covers the file's sha256: any payload rode in a gated GGUF.
    from gguf import GGUFReader

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import recheck_gguf

    name = "model.Q8_0.gguf"
    reader = GGUFReader(gguf_bundle / name)
    infos = [*reader.fields.values(), *(t.field for t in reader.tensors)]
    header_end = max(int(f.offset) + sum(int(p.nbytes) for p in f.parts) for f in infos)
    padding = [*range(header_end, int(reader.data_offset))]
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        padding += range(end, (end + 31) // 32 * 32)
    assert padding, "the test bundle's GGUF has no padding byte to overwrite"
    size = (gguf_bundle / name).stat().st_size
    for case, named in (
        ("append", f"it holds 1100 bytes after the last tensor's data and its padding, from byte {size}"),
        ("padding", f"its byte {padding[0]} ("),
    ):  # fmt: skip
        bundle = tmp_path / case
        shutil.copytree(gguf_bundle, bundle)
        data = bytearray((bundle / name).read_bytes())
        if case == "append":
            data += b"EVILPAYLOAD" * 100
        else:
            data[padding[0]] = 0x41
        (bundle / name).write_bytes(bytes(data))
        with pytest.raises(CheckFailed, match=re.escape(named)) as e:
            recheck_gguf(bundle, name, FIXED_CONVERSATIONS)
        assert "not the GGUF `curagate export --gguf` writes" in str(e.value)


def test_gguf_export_and_recheck_refuse_config_keys_llama_cpp_cannot_honour(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by re-attack: hidden_act: gelu in a bundle's config.json made the gate evaluate
    # a GELU model (transformers) while llama.cpp serves the GGUF with SiLU (it has no key
    # for the activation), and GATE014 passed. Export's pre-check (exit 2) and the re-check
    # refuse every key transformers obeys that the GGUF cannot carry, naming it.
    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import check_supported, recheck_gguf

    name = "model.Q8_0.gguf"
    for case, edit, named in (
        ("swish", {"hidden_act": "swish"}, None),  # transformers' name for SiLU too
        ("gelu", {"hidden_act": "gelu"}, "config.json hidden_act: 'gelu' (llama.cpp's llama runs SiLU)"),
        ("head_dim", {"head_dim": 32}, "config.json head_dim: 32 (llama.cpp takes hidden_size"),
        ("mlp_bias", {"mlp_bias": True}, "config.json mlp_bias: True (the exporter writes no bias"),
    ):  # fmt: skip
        bundle = tmp_path / case
        shutil.copytree(gguf_bundle, bundle)
        config = json.loads((bundle / "config.json").read_text())
        (bundle / "config.json").write_text(json.dumps({**config, **edit}))
        if named is None:
            check_supported(bundle, bundle)
            continue
        with pytest.raises(InputError, match=re.escape(named)):
            check_supported(bundle, bundle)  # export --gguf, before merging
        with pytest.raises(InputError, match=re.escape(named)):
            recheck_gguf(bundle, name, FIXED_CONVERSATIONS)  # GATE014 fails on it


def _edit_weights(model_dir: Path, edit: Any) -> None:
    """``model_dir``'s model.safetensors rewritten with ``edit`` applied to its tensors."""
    from safetensors.torch import load_file, save_file

    state = load_file(model_dir / "model.safetensors")
    edit(state)
    save_file(state, model_dir / "model.safetensors", metadata={"format": "pt"})


def _set_config(model_dir: Path, **keys: Any) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, **keys}))


def test_gguf_recheck_refuses_an_output_layer_config_json_and_safetensors_disagree_on(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by review: tie_word_embeddings: false without lm_head.weight in the
    # safetensors makes transformers initialize the output layer at random (the gate
    # evaluates that) while the exporter writes no output.weight (llama.cpp then uses the
    # token embeddings); tie_word_embeddings: true beside an lm_head.weight that differs
    # from the embeddings is read one way by transformers 5 (the file's lm_head, as the
    # GGUF's output.weight) and the other by loaders that follow the key. Neither was
    # checked: the export wrote such a GGUF, and GATE014 passed the second.
    from transformers import AutoTokenizer

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import recheck_gguf, write_gguf_file
    from curagate.export.gguf_tokenizer import determine_pre_tokenizer

    name = "model.Q8_0.gguf"
    tok = AutoTokenizer.from_pretrained(gguf_bundle)
    pre = determine_pre_tokenizer(tok, gguf_bundle)

    untied = tmp_path / "untied"
    shutil.copytree(gguf_bundle, untied)
    _edit_weights(untied, lambda state: state.pop("lm_head.weight"))
    (untied / name).unlink()
    _rewrite_gguf(gguf_bundle / name, untied / name, drop=frozenset({"output.weight"}))
    named = (
        f"{untied / 'config.json'}: tie_word_embeddings is false and the weights transformers "
        "loads hold no lm_head.weight"
    )
    with pytest.raises(InputError, match=re.escape(named)) as e:
        recheck_gguf(untied, name, FIXED_CONVERSATIONS)  # GATE014 fails on it
    assert "set tie_word_embeddings to true" in str(e.value)
    with pytest.raises(InputError, match=re.escape(named)):
        write_gguf_file(untied, tok, pre, "out")  # and export writes no such GGUF

    tied = tmp_path / "tied"
    shutil.copytree(gguf_bundle, tied)
    _set_config(tied, tie_word_embeddings=True)
    named = (
        f"{tied / 'config.json'}: tie_word_embeddings is true and the weights transformers "
        "loads hold an lm_head.weight that differs from the input embeddings "
        "(model.embed_tokens.weight)"
    )
    with pytest.raises(InputError, match=re.escape(named)) as e:
        recheck_gguf(tied, name, FIXED_CONVERSATIONS)
    assert "set tie_word_embeddings to false" in str(e.value)
    with pytest.raises(InputError, match=re.escape(named)):
        write_gguf_file(tied, tok, pre, "out")

    # Tied, with an lm_head.weight equal to the embeddings: every loader reads one model.
    same = tmp_path / "same"
    shutil.copytree(gguf_bundle, same)
    _set_config(same, tie_word_embeddings=True)
    _edit_weights(
        same, lambda state: state.update(
            {"lm_head.weight": state["model.embed_tokens.weight"].clone()}
        )
    )  # fmt: skip
    (same / name).unlink()
    write_gguf_file(same, tok, pre, "out")
    assert recheck_gguf(same, name, FIXED_CONVERSATIONS).max_abs_logit_diff > 0


def _rerecord_base(run: Path, base: Path) -> None:
    """``run``'s run.json recording ``base``'s files as they are now (as train would have)."""
    from curagate.digest import hash_tree

    record = run_json(run)
    record["base_model"]["files"] = hash_tree(base)
    (run / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize("layout", list(OUTPUT_LAYER_LAYOUTS))
def test_export_refuses_a_base_whose_output_layer_transformers_loads_against_config_json(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    # Found by review: tie_word_embeddings: false without lm_head.weight makes transformers
    # initialize the output layer at random on every load (the run trained on one, export
    # merged onto another); tie_word_embeddings: true beside a differing lm_head.weight is
    # read one way by transformers 5 and the other by loaders following the key. Found by
    # attack: a check of the top-level *.safetensors missed the same when the embeddings
    # were in a sub-folder shard, lm_head.weight in a shard no index names or in shards
    # beside model.safetensors (which transformers reads), the names were LlamaModel's, or
    # a later file's equal lm_head.weight masked the loaded one (exit 0 each). Export now
    # judges what transformers loads: exit 2, GGUF or not, naming config.json, the key and
    # the fix.
    run = copy_run(tiny_run, tmp_path)
    base = relay_output_layer(tmp_path / "base", layout)
    _rerecord_base(run, base)
    out = tmp_path / "out"
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    if OUTPUT_LAYER_LAYOUTS[layout]:
        named, fix = (
            "tie_word_embeddings is true and the weights transformers loads hold an "
            "lm_head.weight that differs from the input embeddings (model.embed_tokens.weight)",
            "set tie_word_embeddings to false",
        )
    else:
        named, fix = (
            "tie_word_embeddings is false and the weights transformers loads hold no "
            "lm_head.weight",
            "set tie_word_embeddings to true",
        )
    assert f"{base / 'config.json'}: {named}" in err, err
    assert fix in err and "train again on the corrected base" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_export_reads_only_the_weight_files_transformers_loads(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack (a regression of the output-layer check): any *.safetensors it could
    # not read made export crash (exit 3, SafetensorError): junk old-backup.safetensors or
    # a folder cache.safetensors/ beside a good model.safetensors (exported fine before:
    # transformers never reads them), a git-LFS pointer in place of model.safetensors
    # (exit 2 before: the base cannot be loaded).
    run = copy_run(tiny_run, tmp_path)
    base = tmp_path / "base"
    (base / "old-backup.safetensors").write_bytes(b"\x00junk" * 100)
    (base / "cache.safetensors").mkdir()
    (base / "cache.safetensors" / "notes.txt").write_text("not weights")
    _rerecord_base(run, base)
    assert export_run(run, tmp_path / "out", gguf=True).gguf == "model.Q8_0.gguf"

    (base / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1234\n"
    )
    _rerecord_base(run, base)
    for args in ([], ["--gguf"]):
        out = tmp_path / f"out{len(args)}"
        assert main(["export", str(run), "--out", str(out), *args]) == 2
        err = capsys.readouterr().err
        assert f"{base}: cannot load the base model" in err, err
        assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("value", ["false", None, 0])
def test_export_refuses_a_tie_word_embeddings_transformers_cannot_read(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: Any
) -> None:
    # Found by attack: tie_word_embeddings "false" (a string), null or 0 in config.json made
    # transformers 5 raise StrictDataclassFieldValidationError reading it: export exit 3.
    run = copy_run(tiny_run, tmp_path)
    base = tmp_path / "base"
    _set_config(base, tie_word_embeddings=value)
    _rerecord_base(run, base)
    for args in ([], ["--gguf"]):
        out = tmp_path / f"out{len(args)}"
        assert main(["export", str(run), "--out", str(out), *args]) == 2
        err = capsys.readouterr().err
        assert f"{base / 'config.json'}: tie_word_embeddings is {json.dumps(value)}" in err, err
        assert "transformers expects true or false" in err and "Traceback" not in err
        assert not out.exists()


def test_export_refuses_a_config_whose_sizes_transformers_cannot_build(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: num_attention_heads 0 in config.json made transformers' config check
    # divide by zero (ZeroDivisionError): export and the gate crashed (exit 3).
    run = copy_run(tiny_run, tmp_path)
    base = tmp_path / "base"
    _set_config(base, num_attention_heads=0)
    _rerecord_base(run, base)
    out = tmp_path / "out"
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "Traceback" not in err and not out.exists()


def _damage_base(base: Path, damage: str) -> str:
    """Damage ``base`` as ``damage`` says; returns what the refusal must say."""
    from tests.tiny_llama import damage_weights

    return f"{base}: {damage_weights(base, damage)}"


@pytest.mark.parametrize("damage", ["fewer layers in config", "nan", "inf"])
def test_export_refuses_a_base_whose_weights_transformers_would_load_wrongly(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    # Found by attack: a config.json saying num_hidden_layers 1 beside weights of 2 layers
    # exported (and gated) a 1-layer model, exit 0 (transformers drops the tensors it has no
    # place for); a NaN or infinite weight made export blame its own merge ("max |logit
    # diff| nan ... the merge is wrong"). Refused at the load, naming the tensors: exit 2.
    run = copy_run(tiny_run, tmp_path)
    base = tmp_path / "base"
    named = _damage_base(base, damage)
    _rerecord_base(run, base)
    out = tmp_path / "out"
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert named in err, err
    assert "merge" not in err and "Traceback" not in err and not out.exists()


def test_export_names_the_reason_transformers_refuses_a_config_for(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: num_attention_heads 3 beside hidden_size 64 said only "transformers
    # refuses it (Class validation error for validator 'validate_architecture':)".
    run = copy_run(tiny_run, tmp_path)
    base = tmp_path / "base"
    _set_config(base, num_attention_heads=3)
    _rerecord_base(run, base)
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{base / 'config.json'}: transformers refuses it" in err, err
    assert "is not a multiple of the number of attention heads (3)" in err, err


def test_the_gguf_file_checks_read_only_the_weight_files_transformers_loads(
    gguf_bundle: Path, tmp_path: Path
) -> None:
    # Found by attack: an unreadable *.safetensors no loader reads (junk, a folder) made
    # the GGUF re-check crash (exit 3), and one transformers reads (a git-LFS pointer) too;
    # the first is none of the file's business (GATE013 names files the gate did not
    # evaluate), the second a weight file named as unreadable (InputError: GATE014 fails).
    from transformers import AutoTokenizer

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import check_output_layer, recheck_gguf, write_gguf_file
    from curagate.export.gguf_tokenizer import determine_pre_tokenizer

    name = "model.Q8_0.gguf"
    junk = tmp_path / "junk"
    shutil.copytree(gguf_bundle, junk)
    (junk / "old-backup.safetensors").write_bytes(b"\x00junk" * 100)
    (junk / "cache.safetensors").mkdir()
    assert recheck_gguf(junk, name, FIXED_CONVERSATIONS).max_abs_logit_diff > 0
    (junk / name).unlink()
    tok = AutoTokenizer.from_pretrained(junk)
    write_gguf_file(junk, tok, determine_pre_tokenizer(tok, junk), "out")
    assert (junk / name).read_bytes() == (gguf_bundle / name).read_bytes()

    lfs = tmp_path / "lfs"
    shutil.copytree(gguf_bundle, lfs)
    (lfs / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")
    unreadable = re.escape(f"{lfs / 'model.safetensors'}: cannot read it as safetensors")
    with pytest.raises(InputError, match=unreadable):
        check_output_layer(lfs)
    with pytest.raises(InputError, match=unreadable):
        recheck_gguf(lfs, name, FIXED_CONVERSATIONS)  # GATE014 fails on it


def test_gguf_export_and_recheck_read_config_keys_transformers_defaults(tmp_path: Path) -> None:
    # Found by re-attack: a config.json without rms_norm_eps (or max_position_embeddings),
    # keys transformers fills with its defaults, made the gate crash with exit 3
    # (KeyError in the GGUF re-check) on a bundle it evaluated; export did the same.
    # Both now read config.json as transformers does, so they agree.
    from gguf import GGUFReader

    from curagate.export.bundle import FIXED_CONVERSATIONS
    from curagate.export.gguf_q8 import recheck_gguf

    from .export_fixtures import build_base, build_run

    base = build_base(tmp_path / "base")
    config = json.loads((base / "config.json").read_text())
    assert config.pop("rms_norm_eps") == 1e-6 and config.pop("max_position_embeddings") == 256
    (base / "config.json").write_text(json.dumps(config))
    run = build_run(tmp_path / "run", base)
    out = export_run(run, tmp_path / "out", gguf=True).out
    bundle_config = json.loads((out / "config.json").read_text())
    for key in ("rms_norm_eps", "max_position_embeddings"):  # the bundle lacks them too
        bundle_config.pop(key, None)
    (out / "config.json").write_text(json.dumps(bundle_config))
    fields = GGUFReader(out / "model.Q8_0.gguf").fields
    assert fields["llama.context_length"].contents() == 2048  # transformers' default
    assert recheck_gguf(out, "model.Q8_0.gguf", FIXED_CONVERSATIONS).max_abs_logit_diff > 0


def test_gguf_is_refused_for_an_unsupported_architecture(tiny_bundle: Path, tmp_path: Path) -> None:
    from curagate.export.gguf_q8 import check_supported

    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "model_type": "mistral"}))
    with pytest.raises(InputError, match="only 'llama' is supported"):
        check_supported(copy, copy)


def test_export_gguf_refuses_a_tokenizer_whose_pre_tokenizer_llama_cpp_lacks(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(tiny_run, tmp_path)
    tok_file = run / "adapter" / "tokenizer.json"
    tok_json = json.loads(tok_file.read_text())
    # Punctuation split off before the byte-level regex: a pre-tokenizer llama.cpp has no name for.
    tok_json["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Punctuation", "behavior": "Isolated"},
            tok_json["pre_tokenizer"],
        ],
    }
    tok_file.write_text(json.dumps(tok_json))
    out = tmp_path / "out"
    assert main(["export", str(run), "--out", str(out), "--gguf"]) == 2
    err = capsys.readouterr().err
    assert "cannot determine the llama.cpp pre-tokenizer" in err
    assert "export without --gguf" in err
    assert not out.exists()


def test_export_gguf_without_llama_cpp_names_the_extra(tiny_run: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    # llama_cpp made unimportable in a child process, as in an install without the extra.
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "from curagate.cli import main\n"
        f"sys.exit(main(['export', {str(tiny_run)!r}, '--out', {str(tmp_path / 'out')!r}, '--gguf']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'curagate[gguf-verify]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_base_stored_quantized(tiny_run: Path, tmp_path: Path) -> None:
    run = copy_run(tiny_run, tmp_path)
    config_path = tmp_path / "base" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(
        json.dumps({**config, "quantization_config": {"quant_method": "bitsandbytes"}})
    )
    recorded = run_json(run)
    recorded["base_model"]["files"]["config.json"] = hashlib.sha256(
        config_path.read_bytes()
    ).hexdigest()
    (run / "run.json").write_text(json.dumps(recorded))
    with pytest.raises(InputError, match="stored quantized"):
        export_run(run, tmp_path / "out")


@pytest.mark.parametrize("config", ["[" * 100_000, "[1, 2]"])
def test_export_refuses_a_base_config_that_is_not_an_object(
    tiny_run: Path, tmp_path: Path, config: str
) -> None:
    # Nested past the recursion limit it was a RecursionError (exit 3); a list, an
    # AttributeError on .get.
    run = copy_run(tiny_run, tmp_path)
    config_path = tmp_path / "base" / "config.json"
    config_path.write_text(config)
    recorded = run_json(run)
    recorded["base_model"]["files"]["config.json"] = hashlib.sha256(
        config_path.read_bytes()
    ).hexdigest()
    (run / "run.json").write_text(json.dumps(recorded))
    with pytest.raises(InputError, match=r"cannot read the base model config|not a JSON object"):
        export_run(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "manifest", "field"),
    [
        ("dataset_manifest", {"files": ["x"]}, r"files\[0\]: not an object"),
        ("dataset_manifest", {"files": [{"sha256": "ab"}]}, r"files\[0\]\.path: field required"),
        ("dataset_manifest", {"files": {"a": 1}}, r"files: input should be a valid list"),
        ("validation_manifest", {"files": "abc"}, r"files: input should be a valid list"),
        # Found by attack: counts were taken unchecked, and the model card printed them.
        (
            "dataset_manifest",
            {"files": [{"path": "a", "sha256": "a" * 64, "rows": -5}], "total_rows": -5},
            r"files\[0\]\.rows: input should be greater than or equal to 0",
        ),
        (
            "dataset_manifest",
            {"files": [{"path": "a", "sha256": "a" * 64, "rows": 3}], "total_rows": -1},
            r"total_rows: input should be greater than or equal to 0",
        ),
        (
            "validation_manifest",
            {"files": [{"path": "a", "sha256": "a" * 64, "rows": 3}], "total_rows": 4},
            r"total_rows: 4 is not the sum of its files' rows \(3\)",
        ),
    ],
)
def test_a_run_json_whose_data_manifest_is_misshapen_is_refused_by_export_and_gate(
    tiny_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    manifest: dict[str, Any],
    field: str,
) -> None:
    # Found by attack: a hand-edited dataset_manifest / validation_manifest crashed the
    # gate (f["path"] on a string) and export (the card) with exit 3, after loading models.
    run = copy_run(tiny_run, tmp_path)
    record = run_json(run)
    record[key] = manifest
    (run / "run.json").write_text(json.dumps(record))
    gate = zembla_gate(tmp_path, 1)
    for argv in (
        ["export", str(run), "--out", str(tmp_path / "out")],
        [
            "gate",
            str(gate),
            "--candidate",
            str(run),
            "--base",
            str(tmp_path / "base"),
            "--out",
            str(tmp_path / "g"),
            "--device",
            "cpu",
        ],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert re.search(rf"run\.json: field '{key}': {field}", err), err
    assert not (tmp_path / "out").exists()


def test_cli_export_also_verifies_on_golden_prompts(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "golden.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": "what color is the blue owl?"},
                {"role": "assistant", "content": "blue"},
            ]
        },
        {"prompt": "what color is the gold cat?"},
    ]
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (
        main(["export", str(tiny_run), "--out", str(tmp_path / "out"), "--prompts", str(golden)])
        == 0
    )
    assert "artifact digest" in capsys.readouterr().out
    assert load_manifest(tmp_path / "out").verification["golden_prompts"] == 2


def test_golden_prompts_take_every_turn_the_chat_formats_hold(tmp_path: Path) -> None:
    # Content as a list of parts, and an assistant turn of tool calls (content null): both
    # valid chat rows (docs/formats.md), refused as "no string 'role' and 'content'".
    from curagate.export.bundle import _read_prompts

    golden = tmp_path / "golden.jsonl"
    call = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    rows = [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "content": "sunny", "tool_call_id": "1"},
                {"role": "user", "content": "thanks"},
            ]
        },
    ]
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [len(c) for c in _read_prompts(golden)] == [1, 4]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["a list"]', "line 2: expected a JSON object"),
        ("{not json", "line 2: not valid JSON"),
        ('{"answer": "x"}', "line 2: no 'messages', 'prompt' or 'input' field"),
        # A turn that is not an object was exit 3 (ValueError / TypeError in dict(m)).
        ('{"messages": ["hi"]}', "line 2: messages[0] is not a turn"),
        ('{"messages": [5]}', "line 2: messages[0] is not a turn"),
        ('{"messages": [{"role": "user"}]}', "line 2: messages[0]: 'content' must be a string"),
        ('{"messages": [{"role": 1, "content": "x"}]}', "line 2: messages[0] is not a turn"),
        ('{"messages": "hello"}', "line 2: field 'messages' must be a list of turns"),
        # A row with nothing left to prompt with was dropped without a word.
        (
            '{"messages": [{"role": "assistant", "content": "hi"}]}',
            "line 2: no prompt: every turn is an assistant turn (answers are dropped)",
        ),
        ('{"messages": []}', "line 2: 'messages' holds no turn"),
    ],
)
def test_cli_export_names_the_bad_line_of_the_golden_prompts(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps({"prompt": "fine"}) + "\n" + line + "\n")
    out = tmp_path / "out"
    assert main(["export", str(tiny_run), "--out", str(out), "--prompts", str(golden)]) == 2
    err = capsys.readouterr().err
    assert f"{golden}: {message}" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_export_refuses_a_golden_prompts_file_with_no_prompt(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty --prompts file verified on the fixed conversations alone, exit 0, as if it
    # had not been given.
    golden = tmp_path / "golden.jsonl"
    golden.write_text("\n")
    out = tmp_path / "out"
    assert main(["export", str(tiny_run), "--out", str(out), "--prompts", str(golden)]) == 2
    assert f"{golden}: no prompts (an empty file)" in capsys.readouterr().err
    assert not out.exists()


def test_a_bundle_outside_the_logit_bound_is_refused_and_nothing_is_written(
    tiny_run: Path, tmp_path: Path
) -> None:
    # bfloat16 weights round every value: with a bound of 1e-9 of the largest logit the
    # reloaded bundle cannot match base + adapter, and export must say so, not ship it.
    out = tmp_path / "out"
    with pytest.raises(CheckFailed, match=r"reloaded bundle differs from base \+ adapter"):
        export_run(tiny_run, out, dtype="bfloat16", rtol=1e-9)
    assert not out.exists()


# The checks export runs on what it wrote. Each is triggered by a faulty writer in the
# third-party save path (transformers / safetensors), the failure it exists to catch.


def _after_tokenizer_save(monkeypatch: pytest.MonkeyPatch, damage: Any) -> None:
    from transformers import PreTrainedTokenizerBase

    original = PreTrainedTokenizerBase.save_pretrained

    def save(self: Any, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, save_directory, *args, **kwargs)
        damage(Path(save_directory))
        return out

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", save)


def test_export_refuses_a_chat_template_written_unfaithfully(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def damage(d: Path) -> None:
        written = d / "chat_template.jinja"
        if written.is_file():
            written.write_text(written.read_text() + "{# changed #}")
        else:  # older transformers keep it in tokenizer_config.json
            cfg = json.loads((d / "tokenizer_config.json").read_text())
            cfg["chat_template"] += "{# changed #}"
            (d / "tokenizer_config.json").write_text(json.dumps(cfg))

    _after_tokenizer_save(monkeypatch, damage)
    out = tmp_path / "out"
    with pytest.raises(CheckFailed, match="written chat template differs from the training one"):
        export_run(tiny_run, out)
    assert not out.exists()


def test_export_refuses_a_tokenizer_that_tokenizes_differently_once_written(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same template, same rendered text; the written tokenizer lowercases before it splits,
    # so the golden prompts get other token ids than at training time.
    def damage(d: Path) -> None:
        tj = json.loads((d / "tokenizer.json").read_text())
        tj["normalizer"] = {"type": "Lowercase"}
        (d / "tokenizer.json").write_text(json.dumps(tj))

    _after_tokenizer_save(monkeypatch, damage)
    out = tmp_path / "out"
    with pytest.raises(CheckFailed, match="tokenizes differently from training time"):
        export_run(tiny_run, out)
    assert not out.exists()


def test_export_refuses_weights_written_unfaithfully(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file, save_file
    from transformers import PreTrainedModel

    original = PreTrainedModel.save_pretrained

    def save(self: Any, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, save_directory, *args, **kwargs)
        shard = sorted(Path(save_directory).glob("*.safetensors"))[0]
        tensors = load_file(shard)
        name = sorted(tensors)[0]
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] += 1.0  # one value off by one
        save_file(tensors, shard, metadata={"format": "pt"})
        return out

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save)
    out = tmp_path / "out"
    with pytest.raises(CheckFailed, match="reloaded weights differ from the merged weights"):
        export_run(tiny_run, out)
    assert not out.exists()


# Holes found by attacking export; each is a test now.


def test_export_does_not_delete_a_folder_that_merely_holds_a_manifest_json(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "MANIFEST.json").write_text('{"x": 1}\n')
    (precious / "thesis.txt").write_text("keep")
    (precious / "sub" / "data.csv").write_text("x\n")
    assert main(["export", str(tiny_run), "--out", str(precious)]) == 2
    err = capsys.readouterr().err
    assert f"--out {precious}: exists and is not a curagate bundle" in err
    assert "Traceback" not in err
    assert (precious / "thesis.txt").read_text() == "keep"
    assert (precious / "sub" / "data.csv").read_text() == "x\n"


def test_export_does_not_replace_a_bundle_holding_files_its_manifest_does_not_list(
    tiny_bundle: Path, tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny_bundle, out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"notes\.txt.*not listed"):
        export_run(tiny_run, out)
    assert (out / "notes.txt").read_text() == "mine"


def test_export_replaces_a_complete_earlier_bundle(
    tiny_bundle: Path, tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny_bundle, out)
    (out / "README.md").write_text("edited by hand")  # still one of the bundle's own files
    result = export_run(tiny_run, out)
    assert result.digest == artifact_digest(tiny_bundle)


def test_export_never_replaces_the_runs_own_base_model(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bundle is a fine base for the next fine-tune; `export RUN2 --out BASE` replaced the
    # base weights with the merged model (a complete earlier bundle may be replaced), and
    # RUN2 could never be exported again.
    from tests.export.export_fixtures import build_run

    base = tmp_path / "base-bundle"
    shutil.copytree(tiny_bundle, base)
    before = artifact_digest(base)
    run2 = build_run(tmp_path / "run2", base, seed=2)
    for out in (base, base / "inside"):
        assert main(["export", str(run2), "--out", str(out)]) == 2
        assert "the run's base model" in capsys.readouterr().err
    assert artifact_digest(base) == before


def test_a_gate_key_without_a_gate_report_is_a_usage_error(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The verification asked for never happened, silently.
    key = tmp_path / "gate.pub"
    key.write_text("not read")
    assert (
        main(["export", str(tiny_run), "--out", str(tmp_path / "b"), "--gate-key", str(key)]) == 2
    )
    assert "--gate-key: verifies the attestation of --gate-report" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def _record_adapter(run: Path) -> Path:
    """Give a hand-made run the adapter hashes `curagate train` records (run.json schema 2)."""
    from tests.export.export_fixtures import tree

    data = run_json(run)
    data.update(schema_version=2, adapter_files=tree(run / "adapter"))
    (run / "run.json").write_text(json.dumps(data))
    return run


def _swap_adapter(run: Path, tmp_path: Path) -> None:
    """Put another training's adapter (another seed) in the run's adapter folder."""
    from tests.export.export_fixtures import build_run

    other = build_run(tmp_path / "other", Path(run_json(run)["base_model"]["path"]), seed=2)
    shutil.rmtree(run / "adapter")
    shutil.copytree(other / "adapter", run / "adapter")


def test_export_refuses_a_run_whose_adapter_was_swapped_after_training(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _record_adapter(copy_run(tiny_run, tmp_path))
    _swap_adapter(run, tmp_path)
    out = tmp_path / "out"
    assert main(["export", str(run), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "adapter files changed since training:" in x)
    assert "adapter_model.safetensors" in line and str(run / "run.json") in line
    assert "Traceback" not in err and not out.exists()


def test_export_refuses_a_file_added_to_a_recorded_adapter(tiny_run: Path, tmp_path: Path) -> None:
    run = _record_adapter(copy_run(tiny_run, tmp_path))
    (run / "adapter" / "adapter_model.bin").write_bytes(b"x")
    with pytest.raises(CheckFailed, match=r"adapter_model\.bin"):
        export_run(run, tmp_path / "out")


def test_the_gate_refuses_a_run_whose_adapter_was_swapped(tiny_run: Path, tmp_path: Path) -> None:
    from curagate.gate.models import resolve_model

    run = _record_adapter(copy_run(tiny_run, tmp_path))
    resolve_model(str(run))  # as trained: fine
    _swap_adapter(run, tmp_path)
    with pytest.raises(CheckFailed, match="adapter files changed since training"):
        resolve_model(str(run))


@pytest.mark.parametrize("when", ["before-the-copy", "at-the-load"])
def test_an_adapter_swapped_while_export_runs_is_never_merged(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    # After export's checks, another training's adapter written over the run's (while the
    # base model loaded) was merged, signed, and named in the lineage beside
    # `recorded_at_training: true`. The adapter is loaded from a private copy now, checked
    # against run.json while copied.
    import peft
    import transformers

    run = _record_adapter(copy_run(tiny_run, tmp_path))
    recorded = run_json(run)["adapter_files"]
    other = tmp_path / "other-adapter"
    _swap_adapter(run, tmp_path)  # builds another training's adapter ...
    shutil.move(run / "adapter", other)
    shutil.copytree(tiny_run / "adapter", run / "adapter")  # ... and restores the run's

    def swapping(original: Any) -> Any:
        def load(*args: Any, **kwargs: Any) -> Any:
            if (run / "adapter").is_dir() and not (tmp_path / "swapped").exists():
                (tmp_path / "swapped").touch()
                shutil.rmtree(run / "adapter")
                shutil.copytree(other, run / "adapter")
            return original(*args, **kwargs)

        return load

    if when == "before-the-copy":  # the tokenizer loads after the checks, before the copy
        auto = transformers.AutoTokenizer
        monkeypatch.setattr(auto, "from_pretrained", swapping(auto.from_pretrained))
        with pytest.raises(CheckFailed, match="changed while export ran"):
            export_run(run, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        return
    peft_model = peft.PeftModel
    monkeypatch.setattr(peft_model, "from_pretrained", swapping(peft_model.from_pretrained))
    export_run(run, tmp_path / "out")
    assert (tmp_path / "swapped").exists()
    lineage = load_manifest(tmp_path / "out").lineage
    assert lineage["adapter"]["files"] == recorded  # the bytes merged: the run's own


def test_with_a_train_key_export_merges_only_the_run_the_trainer_signed(
    tiny_run: Path, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Another training's adapter copied in and run.json's adapter hashes edited to match:
    # export merged it, signed the bundle and named the edited record in its lineage; the
    # trainer's signature (train --sign-key) was read by nothing on the export path.
    from curagate.signing import RUN_ATTESTATION_NAME, SignatureInvalid, sign_run_record
    from tests.export.export_fixtures import tree

    run = _record_adapter(copy_run(tiny_run, tmp_path))
    (run / RUN_ATTESTATION_NAME).write_bytes(
        sign_run_record((run / "run.json").read_bytes(), "tiny", ci_key[0])
    )
    signed = export_run(run, tmp_path / "ok", train_key=ci_key[1])
    keyid = load_manifest(signed.out).lineage["run"]["signed_by"]
    assert keyid is not None and len(keyid) == 64
    _swap_adapter(run, tmp_path)
    record = run_json(run)
    record["adapter_files"] = tree(run / "adapter")
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(SignatureInvalid, match="the record changed since it was signed"):
        export_run(run, tmp_path / "swapped", train_key=ci_key[1])
    assert not (tmp_path / "swapped").exists()


ZEMBLA = "the secret capital of the hidden northern kingdom of zembla is the walled city by the sea"


def zembla_gate(tmp_path: Path, copies: int) -> Path:
    """A gate file over one locked generation set of ``copies`` items holding ZEMBLA,
    failing on any leaked item (8-gram overlap)."""
    from curagate import golden

    sets = tmp_path / "golden" / "z"
    sets.mkdir(parents=True)
    (sets / "data.jsonl").write_text(
        "".join(
            json.dumps({"id": f"z{i}", "prompt": f"{ZEMBLA} ({i})", "reference": "x"}) + "\n"
            for i in range(copies)
        )
    )
    (sets / "set.yaml").write_text(
        "name: z\ntask: generation\nversion: '1'\nfiles: [data.jsonl]\nlicense: CC0-1.0\n"
    )
    golden.lock(tmp_path / "golden")
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: g\ngolden_dir: {tmp_path / 'golden'}\ngeneration: {{max_new_tokens: 2}}\n"
        "golden_sets:\n  - name: z\n    task: generation\n    metrics: {rouge_l: {min: 0.0}}\n"
        "contamination: {on_leak: fail, ngram: 8}\n"
    )
    return gate


def test_the_gate_of_a_bundle_scans_the_training_data_its_lineage_names(
    tiny_run: Path, tmp_path: Path
) -> None:
    # A bundle candidate had no dataset manifest to the gate: it scanned whatever
    # --train-data held at gate time (the curated folder restored clean after training
    # on a contaminated one passed, signed), and called it the training data.
    from curagate.digest import sha256_file
    from curagate.gate import run_gate

    item = ZEMBLA
    run = copy_run(tiny_run, tmp_path)
    data = run / "train.jsonl"
    data.write_text(json.dumps({"text": f"Q: {item}? A: onhava"}) + "\n")
    record = run_json(run)
    record["dataset_manifest"] = {
        "files": [{"path": str(data), "sha256": sha256_file(data), "rows": 1}],
        "total_rows": 1,
    }
    (run / "run.json").write_text(json.dumps(record))
    bundle = export_run(run, tmp_path / "bundle").out
    gate = zembla_gate(tmp_path, 3)
    base = str(tmp_path / "base")
    out = run_gate(gate, str(bundle), base, tmp_path / "g1", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1, check
    assert out.report["contamination"]["corpus_from"] == "bundle lineage.dataset_manifest"
    # The file the lineage names, made clean since: what was trained on is not known.
    data.write_text(json.dumps({"text": "an unrelated row"}) + "\n")
    out = run_gate(gate, str(bundle), base, tmp_path / "g2", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and "changed since the run" in check["message"]
    # Other data given in its place is said to replace the lineage's.
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps({"text": "an unrelated row"}) + "\n")
    out = run_gate(gate, str(bundle), base, tmp_path / "g3", device="cpu", train_data=[str(clean)])
    assert out.report["contamination"]["replaced_run_record"] is True
    # Found by attack: a signed report on the lineage's data replaced by clean files passed
    # a contaminated bundle into production. A signed gate scans what the lineage names.
    from curagate.signing import generate_keypair

    key = generate_keypair(tmp_path / "k")[0]
    with pytest.raises(InputError, match="--train-data with --sign-key: the candidate's bundle"):
        run_gate(
            gate, str(bundle), base, tmp_path / "g4", device="cpu", train_data=[str(clean)],
            sign_key=key,
        )  # fmt: skip
    assert not (tmp_path / "g4").exists()


def test_the_gate_scans_a_bundles_validation_data_and_reports_its_allow_leakage(
    tiny_run: Path, tmp_path: Path
) -> None:
    # Found by attack: the golden set used as data.validation picked the checkpoint that
    # shipped, and nothing saw it: the lineage dropped validation_manifest, the gate read
    # dataset_manifest only; and a bundle trained with --allow-leakage was reported
    # `allow_leakage_at_training: false` (read from a run's record only).
    from curagate.digest import sha256_file
    from curagate.gate import run_gate

    item = ZEMBLA
    run = copy_run(tiny_run, tmp_path)
    data, val = run / "train.jsonl", run / "val.jsonl"
    data.write_text(json.dumps({"text": "an unrelated row about cats"}) + "\n")
    val.write_text(json.dumps({"text": f"Q: {item}? A: onhava"}) + "\n")
    record = run_json(run)
    for key, path in (("dataset_manifest", data), ("validation_manifest", val)):
        record[key] = {
            "files": [{"path": str(path), "sha256": sha256_file(path), "rows": 1}],
            "total_rows": 1,
        }
    record["allow_leakage"] = True
    (run / "run.json").write_text(json.dumps(record))
    bundle = export_run(run, tmp_path / "bundle").out
    lineage = json.loads((bundle / "MANIFEST.json").read_text())["lineage"]
    assert lineage["validation_manifest"] == record["validation_manifest"]
    gate = zembla_gate(tmp_path, 1)
    out = run_gate(gate, str(bundle), str(tmp_path / "base"), tmp_path / "g", device="cpu")
    cont = out.report["contamination"]
    assert cont["corpus"] == [str(data), str(val)] and cont["leaked_reference_items"] == 1
    assert cont["allow_leakage_at_training"] is True and out.exit_code == 1


def test_a_run_json_without_adapter_hashes_still_exports_with_a_warning(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # tiny_run's run.json is schema 1, as curagate wrote it before recording the adapter.
    assert "adapter_files" not in run_json(tiny_run)
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "out")]) == 0
    assert "records no adapter hashes" in capsys.readouterr().err
    lineage = load_manifest(tmp_path / "out").lineage
    assert lineage["adapter"]["recorded_at_training"] is False


def _forged_report(run: Path, path: Path) -> Path:
    """A report written by hand: verdict pass, great numbers, `signed: true`, no attestation."""
    report = gate_report_for(run, path)
    data = json.loads(report.read_text())
    data["checks"][0]["candidate"] = 0.99
    data["attestation"] = {"signed": True}
    report.write_text(json.dumps(data))
    return report


def test_an_unsigned_gate_report_is_marked_unverified_and_kept_out_of_model_index(
    tiny_run: Path, tmp_path: Path
) -> None:
    report = _forged_report(tiny_run, tmp_path / "gate_report.json")
    result = export_run(tiny_run, tmp_path / "out", gate_report=report)
    card = (result.out / "README.md").read_text()
    assert "model-index" not in front_matter(result.out / "README.md")
    assert "Verdict: **pass**" not in card
    assert "not verified" in card and "gate_attestation.dsse.json" in card
    lineage = load_manifest(result.out).lineage["gate_report"]
    assert lineage["verified"] is False and lineage["verdict"] is None
    assert lineage["claimed_verdict"] == "pass"


def test_a_gate_report_signed_by_the_given_gate_key_goes_into_model_index(
    tiny_run: Path, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    from curagate.gate.runner import write_attestation

    private, public = ci_key
    report = gate_report_for(tiny_run, tmp_path / "gate_report.json")
    write_attestation(report, private)
    result = export_run(tiny_run, tmp_path / "out", gate_report=report, gate_key=public)
    meta = front_matter(result.out / "README.md")
    metric = meta["model-index"][0]["results"][0]["metrics"][0]
    assert (metric["type"], metric["value"]) == ("accuracy", 0.93)
    assert "Verdict: **pass**" in (result.out / "README.md").read_text()
    lineage = load_manifest(result.out).lineage["gate_report"]
    assert lineage["verified"] is True and lineage["verdict"] == "pass"


def test_export_with_a_gate_key_refuses_a_report_edited_after_signing(
    tiny_run: Path, tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate.gate.runner import write_attestation

    private, public = ci_key
    report = gate_report_for(tiny_run, tmp_path / "gate_report.json")
    write_attestation(report, private)
    report.write_text(report.read_text().replace("0.93", "0.99"))
    out = tmp_path / "out"
    args = ["export", str(tiny_run), "--out", str(out), "--gate-report", str(report)]
    assert main([*args, "--gate-key", str(public)]) == 1
    assert "changed after the gate signed it" in capsys.readouterr().err
    assert not out.exists()


def test_export_with_a_gate_key_refuses_an_unsigned_report(
    tiny_run: Path, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    report = _forged_report(tiny_run, tmp_path / "gate_report.json")
    with pytest.raises(CheckFailed, match=r"no gate_attestation\.dsse\.json beside it"):
        export_run(tiny_run, tmp_path / "out", gate_report=report, gate_key=ci_key[1])


def test_export_with_a_gate_key_refuses_a_report_signed_by_another_key(
    tiny_run: Path, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    from curagate.gate.runner import write_attestation
    from curagate.signing import generate_keypair

    other_private, _ = generate_keypair(tmp_path / "other-key")
    report = gate_report_for(tiny_run, tmp_path / "gate_report.json")
    write_attestation(report, other_private)
    with pytest.raises(CheckFailed, match="no signature verifies"):
        export_run(tiny_run, tmp_path / "out", gate_report=report, gate_key=ci_key[1])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rtol", "inf"], "--rtol inf: must be a number in (0, 0.5]"),
        (["--rtol", "nan"], "--rtol nan: must be a number in (0, 0.5]"),
        (["--rtol", "-1"], "--rtol -1.0: must be a number in (0, 0.5]"),
        (["--rtol", "0"], "--rtol 0.0: must be a number in (0, 0.5]"),
        # A difference as large as the largest |logit| accepted any model: the check off.
        (["--rtol", "1e308"], "--rtol 1e+308: must be a number in (0, 0.5]"),
        (["--max-shard-size", "abc"], "--max-shard-size 'abc': not a size"),
        (["--max-shard-size", "0"], "--max-shard-size '0': must be more than 0 bytes"),
    ],
)
def test_export_refuses_bad_numeric_flags_before_merging(
    tiny_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    message: str,
) -> None:
    import peft

    def no_merge(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the flags are checked before any model is loaded")

    monkeypatch.setattr(peft.PeftModel, "from_pretrained", no_merge)
    out = tmp_path / "out"
    assert main(["export", str(tiny_run), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_quick_items_0_skips_the_quick_checks_of_a_report_whose_gate_file_is_gone(
    tiny_run: Path, tmp_path: Path
) -> None:
    report = gate_report_for(tiny_run, tmp_path / "gate_report.json")
    data = json.loads(report.read_text())
    data["gate"]["file"] = str(tmp_path / "gone.yaml")  # the advice names --quick-items 0
    report.write_text(json.dumps(data))
    with pytest.raises(InputError, match="--quick-items 0 to skip them"):
        export_run(tiny_run, tmp_path / "a", gate_report=report)
    result = export_run(tiny_run, tmp_path / "b", gate_report=report, quick_items=0)
    assert result.quick_checks == {"skipped": "--quick-items 0"}


@pytest.mark.parametrize("form", ["upper", "prefixed", "both"])
def test_verify_digest_accepts_upper_case_and_a_sha256_prefix(tiny_bundle: Path, form: str) -> None:
    digest = artifact_digest(tiny_bundle)
    given = {
        "upper": digest.upper(),
        "prefixed": f"sha256:{digest}",
        "both": f"SHA256:{digest.upper()}",
    }[form]
    assert main(["verify", str(tiny_bundle), "--digest", given]) == 0


@pytest.mark.parametrize("given", ["nothex", "", "a" * 63, "g" * 64, "sha256:"])
def test_verify_refuses_a_malformed_digest_as_a_usage_error(
    tiny_bundle: Path, given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tiny_bundle), "--digest", given]) == 2
    assert "--digest" in capsys.readouterr().err


def test_bundle_files_have_one_mode(tiny_bundle: Path) -> None:
    modes = {p.name: p.stat().st_mode & 0o777 for p in tiny_bundle.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"], modes


def test_a_folder_made_at_out_during_the_export_is_never_deleted(
    tiny_run: Path, tmp_path: Path
) -> None:
    # --out was checked before merging only: a folder of the user's that appeared there
    # meanwhile was moved aside and deleted, and the export said "exported".
    import threading
    import time

    out = tmp_path / "race"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            export_run(tiny_run, out)
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".race.*.curagate.tmp")) and time.monotonic() < deadline:
        time.sleep(0.005)
    out.mkdir()
    (out / "my_notes.txt").write_text("precious")
    worker.join(300)
    assert [type(e) for e in errors] == [InputError]
    assert "exists and is not a curagate bundle" in str(errors[0])
    assert (out / "my_notes.txt").read_text() == "precious"
    assert [p.name for p in out.iterdir()] == ["my_notes.txt"]


def test_a_base_that_names_remote_code_is_refused_before_merging(tmp_path: Path) -> None:
    # The base config's auto_map went into the bundle: export said "verified", then
    # `curagate verify` failed it, saying it "was modified after export".
    from .export_fixtures import build_base, build_run

    base = build_base(tmp_path / "base")
    cfg = json.loads((base / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "evil.Model"}
    (base / "config.json").write_text(json.dumps(cfg))
    run = build_run(tmp_path / "run", base)  # training loads it with transformers' class
    with pytest.raises(InputError, match=r"config\.json: names remote code \(auto_map\)"):
        export_run(run, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_export_with_a_missing_prompts_file_is_a_usage_error(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # FileNotFoundError from the prompts reader: exit 3.
    missing = tmp_path / "nope.jsonl"
    assert (
        main(["export", str(tiny_run), "--out", str(tmp_path / "b"), "--prompts", str(missing)])
        == 2
    )
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err and "internal error" not in err


def _rerecord(run: Path) -> Path:
    """The run's adapter and template hashes recorded again after an edit, as if it had
    been trained so (the hostile case is a run whose own records agree with its files)."""
    from tests.export.export_fixtures import sha256_file, tree

    data = run_json(run)
    data["adapter_files"] = tree(run / "adapter")
    template = run / "adapter" / "chat_template.jinja"
    if template.is_file():
        data["chat_template_sha256"] = sha256_file(template)
    (run / "run.json").write_text(json.dumps(data))
    return run


def test_an_adapter_whose_weights_its_config_does_not_load_is_refused(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # peft only warned: the LoRA layers of the new target kept their initial values, the
    # "merged" bundle held none of the training and export said verified (exit 0).
    run = copy_run(tiny_run, tmp_path)
    config = run / "adapter" / "adapter_config.json"
    data = json.loads(config.read_text())
    data["target_modules"] = ["gate_proj"]
    config.write_text(json.dumps(data))
    _rerecord(run)
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "adapter_model.safetensors: lacks" in err and "would not be merged" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{% for %}", "the chat template does not render (TemplateSyntaxError"),
        ("{{ raise_exception('boom') }}", "the chat template does not render"),
        ("{% if false %}x{% endif %}", "renders prompt 0 as no tokens at all"),
    ],
)
def test_a_chat_template_that_does_not_render_is_an_input_error(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, error: str
) -> None:
    # Each was exit 3 ("internal error"): the template is the user's file.
    run = copy_run(tiny_run, tmp_path)
    (run / "adapter" / "chat_template.jinja").write_text(template)
    _rerecord(run)
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 2
    assert error in capsys.readouterr().err


def test_an_adapter_holding_nan_is_an_input_error(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    run = copy_run(tiny_run, tmp_path)
    weights = run / "adapter" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    name = next(k for k in sorted(tensors) if "lora_B" in k)
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(weights))
    _rerecord(run)
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "the adapter holds NaN or infinite values" in capsys.readouterr().err


def test_out_inside_the_adapter_folder_is_refused(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With the adapter outside the run folder, --out in it passed: the lineage then hashed
    # the half-written bundle's temporary files as the adapter's.
    run = copy_run(tiny_run, tmp_path)
    shutil.move(run / "adapter", tmp_path / "adapter")
    data = run_json(run)
    data["adapter_dir"] = str(tmp_path / "adapter")
    (run / "run.json").write_text(json.dumps(data))
    assert main(["export", str(run), "--out", str(tmp_path / "adapter" / "bundle")]) == 2
    assert "must not be inside the adapter folder" in capsys.readouterr().err


def test_out_inside_a_curate_output_is_refused(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bundle landed inside a curate output, which `verify` then called changed.
    from curagate.curate import curate

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "one row of text"}) + "\n")
    curate([src], tmp_path / "curated", progress=False)
    out = tmp_path / "curated" / "bundle"
    assert main(["export", str(tiny_run), "--out", str(out)]) == 2
    assert f"--out {out}: is inside a curagate output" in capsys.readouterr().err
    assert not out.exists()


def test_the_lineages_adapter_digest_is_the_gates_with_a_hidden_file_beside_it(
    tiny_run: Path, tmp_path: Path
) -> None:
    # The lineage hashed the adapter by the bundle's rules (hidden files in), the gate and
    # train by hash_tree's (hidden files out): a .DS_Store made the two digests differ.
    from curagate.gate import models as gate_models

    run = copy_run(tiny_run, tmp_path)
    (run / "adapter" / ".DS_Store").write_bytes(b"finder")
    export_run(run, tmp_path / "out")
    lineage = load_manifest(tmp_path / "out").lineage
    assert (
        lineage["adapter"]["sha256"]
        == gate_models.resolve_model(str(run)).artifacts["adapter_sha256"]
    )


def test_a_base_that_is_the_bundle_under_another_form_fails_gate013(
    tiny_run: Path, tiny_bundle: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    # Found by attack: the candidate bundle copied without its MANIFEST.json (a plain model
    # folder of the same weights), or the training run it was exported from, given as
    # --base was "another model" (a warning a waiver ships), while every delta was 0.
    import shutil

    from curagate.gate import run_gate

    def gate013(base: Path, name: str) -> dict[str, Any]:
        out = run_gate(tiny_gate, str(tiny_bundle), str(base), tmp_path / f"o-{name}", device="cpu")
        return next(c for c in out.report["checks"] if c["id"] == "GATE013")

    trained_from = Path(run_json(tiny_run)["base_model"]["path"])
    assert gate013(trained_from, "legit")["verdict"] == "pass"
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle, copy)
    (copy / "MANIFEST.json").unlink()
    (copy / "README.md").write_text("another card\n")
    # the weights renamed as one shard of a sharded layout, a junk .bin beside them
    renamed = tmp_path / "renamed"
    shutil.copytree(copy, renamed)
    from safetensors import safe_open

    shard = renamed / "model-00001-of-00001.safetensors"
    (renamed / "model.safetensors").rename(shard)
    with safe_open(str(shard), "pt") as f:  # a loader reads the shard through its index
        weight_map = dict.fromkeys(f.keys(), shard.name)
    index = {"metadata": {}, "weight_map": weight_map}
    (renamed / "model.safetensors.index.json").write_text(json.dumps(index))
    (renamed / "training_args.bin").write_bytes(b"junk")
    for base, name in ((copy, "copy"), (tiny_run, "run"), (renamed, "renamed")):
        check = gate013(base, name)
        assert check["verdict"] == "fail" and "the candidate itself" in check["message"], name
    # the other way round: the run as candidate, the bundle exported from it as base
    out = run_gate(tiny_gate, str(tiny_run), str(tiny_bundle), tmp_path / "o-rev", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert check["verdict"] == "fail", check


def test_the_files_a_tokenizer_saves_are_known_to_the_gate(tmp_path: Path) -> None:
    # Found by the re-attack: GPT-NeoX-Japanese's tokenizer saves emoji.json beside its
    # vocab.txt, which the gate's list of a model folder's files did not hold: an honest
    # bundle of such a model would have been refused.
    from transformers import GPTNeoXJapaneseTokenizer

    from curagate.export.manifest import unevaluated_files

    words = tmp_path / "vocab.txt"
    words.write_text("<|endoftext|>\n<|startoftext|>\n<|padding|>\n<|separator|>\na\n")
    (tmp_path / "emoji.json").write_text('{"emoji": {}, "emoji_inv": {}}')
    GPTNeoXJapaneseTokenizer(str(words), str(tmp_path / "emoji.json")).save_pretrained(
        tmp_path / "saved"
    )
    saved = sorted(p.name for p in (tmp_path / "saved").iterdir())
    assert "emoji.json" in saved
    listed = [*saved, "config.json", "model.safetensors"]
    assert unevaluated_files(tmp_path / "saved", listed) == []


@pytest.mark.parametrize("dataset", ["", "  "])
def test_an_empty_dataset_id_is_a_usage_error(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dataset: str
) -> None:
    # Found by attack: `--dataset ""` was accepted, and the card listed an empty dataset.
    out = tmp_path / "b"
    args = ["export", str(tiny_run), "--out", str(out), "--dataset", "org/set"]
    assert main([*args, "--dataset", dataset]) == 2
    err = capsys.readouterr().err
    assert f"--dataset: {dataset!r} is an empty dataset id" in err, err
    assert not out.exists()
