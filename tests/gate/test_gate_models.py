"""The gate over real transformers/peft/lm-eval code paths with a tiny local Llama."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gate_support import GATE, SUITE, make_run_dir, write_mini_suite

from curagate import golden
from curagate.errors import CheckFailed, ConfigError, InputError
from curagate.gate import run_gate
from curagate.gate.report import REPORT_SCHEMA

pytestmark = pytest.mark.slow  # torch + lm-eval imports alone take ~15 s on the shared CPUs


def _gate(tmp_path: Path, golden_dir: Path, *, suite: bool = False) -> Path:
    p = tmp_path / "gate.yaml"
    p.write_text(GATE.format(golden=golden_dir, suite=SUITE if suite else ""))
    return p


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps({"prompt": "Review: fine", "completion": "Positive"}) + "\n")
    return p


def test_zero_adapter_candidate_equals_base_within_noise(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    # A previous run over endpoints (by a curagate that wrote no marker) left its log:
    # beside this report, it told of requests no side of it made.
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "gate_report.json").write_text("{}\n")
    (tmp_path / "out" / "endpoint_log.json").write_text('{"candidate": {"requests": 40}}\n')
    out = run_gate(
        _gate(tmp_path, golden_dir), str(run), str(tiny_model_dir), tmp_path / "out", device="cpu"
    )
    assert not (tmp_path / "out" / "endpoint_log.json").exists()
    res = out.report["results"][0]
    assert res["metrics"]["accuracy"]["delta"] == 0
    assert all(m["within_noise"] for m in res["metrics"].values())
    assert [e["candidate_output"] for e in res["failing_examples"]] == [
        e["base_output"] for e in res["failing_examples"]
    ]
    cand = out.report["candidate"]
    assert cand["kind"] == "run" and len(cand["adapter_sha256"]) == 64
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(out.report)
    assert out.report["base"]["sha256"] == cand["base_model_sha256"]
    base_check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert base_check["verdict"] == "pass" and "trained from" in base_check["message"]


def test_gate_draws_no_library_bar_when_quiet(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    # transformers drew "Loading weights: 100%|..." once per model into CI logs.
    import os
    import subprocess
    import sys

    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    argv = ["gate", str(_gate(tmp_path, golden_dir)), "--candidate", str(run)]
    argv += ["--base", str(tiny_model_dir), "--out", str(tmp_path / "out"), "--device", "cpu"]
    proc = subprocess.run(
        [sys.executable, "-m", "curagate", *argv, "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CURAGATE_PROGRESS": ""},
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "%|" not in proc.stderr and "it/s]" not in proc.stderr, proc.stderr


def test_a_base_that_is_not_the_candidates_own_is_flagged(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    # Found by attack: a bundle gated with itself as --base passed every regression check
    # (all deltas 0), signed, and was promoted; any weaker model does the same.
    import shutil

    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    gate = _gate(tmp_path, golden_dir)
    out = run_gate(gate, str(run), str(run), tmp_path / "self", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert check["verdict"] == "fail" and "--base is the candidate itself" in check["message"]
    assert out.report["verdict"] == "fail" and out.exit_code == 1
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    (other / "generation_config.json").write_text('{"do_sample": false}\n')  # other bytes
    out = run_gate(gate, str(run), str(other), tmp_path / "other-out", device="cpu")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert (
        check["verdict"] == "warn"
        and "not the model the candidate was trained from" in check["message"]
    )


def test_a_folder_of_the_base_plus_an_adapter_is_not_the_base_itself(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    # Found by attack: the base's files plus a PEFT adapter in one folder (transformers
    # loads it as base + adapter) failed GATE013 as "--base is the candidate itself": the
    # check compared model.safetensors and left the adapter out.
    import shutil

    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=False, train_files=[train_file]
    )
    cand = tmp_path / "cand"
    shutil.copytree(tiny_model_dir, cand)
    for f in (run / "adapter").iterdir():
        shutil.copy(f, cand / f.name)
    out = run_gate(_gate(tmp_path, golden_dir), str(cand), str(tiny_model_dir), tmp_path / "o")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert check["verdict"] == "pass", check
    # The same folder twice, adapter and all, is still the candidate itself.
    twin = tmp_path / "twin"
    shutil.copytree(cand, twin)
    # ... and so is a copy with a spare adapter_model.bin beside the safetensors one (not
    # loaded) and its adapter config saved again in another layout: the adapter loaded is
    # the same (found by re-attack: such a copy passed as another model).
    shutil.copy(twin / "adapter_model.safetensors", twin / "adapter_model.bin")
    config = twin / "adapter_config.json"
    config.write_text(json.dumps(json.loads(config.read_text()), indent=1, sort_keys=True))
    out = run_gate(_gate(tmp_path, golden_dir), str(cand), str(twin), tmp_path / "o2")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert check["verdict"] == "fail" and "the candidate itself" in check["message"]


@pytest.mark.parametrize("side", ["--candidate", "--base"])
def test_a_prompt_past_a_local_models_context_exits_2_before_any_generation(
    tmp_path, capsys, tiny_model_dir, side: str
) -> None:
    # Found by attack: a prompt longer than max_position_embeddings (512 here) was scored
    # silently on the transformers path; llama-server refuses it (exit 2).
    from gate_support import SENTIMENT_ITEMS, CannedServer, write_set

    from curagate.cli import main

    root = tmp_path / "golden"
    long = {"id": "long", "prompt": "great product " * 400, "reference": "Positive"}
    write_set(root, "sentiment", "classification", [*SENTIMENT_ITEMS[:9], long])
    golden.lock(root)
    srv = CannedServer(lambda p: "Positive")
    try:
        other = "--base" if side == "--candidate" else "--candidate"
        argv = ["gate", str(_gate(tmp_path, root)), side, str(tiny_model_dir), other, srv.url]
        rc = main([*argv, "--out", str(tmp_path / "o"), "--no-cache", "--device", "cpu"])
    finally:
        srv.close()
    err = capsys.readouterr().err
    who = side.removeprefix("--")
    assert rc == 2 and srv.requests == 0, err
    assert re.search(
        rf"golden set 'sentiment': item 'long': the prompt is \d+ tokens as the {who} reads "
        r"it \(its chat template\), and its model's context is 512 tokens",
        err,
    ), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"max_position_embeddings": 4096}, (4096, False)),
        ({"n_positions": 1024, "model_type": "gpt2"}, (1024, True)),
        # the first key whose value is a positive integer, as before
        ({"max_position_embeddings": 4096.0, "n_positions": 1024}, (1024, False)),
        # found by re-attack: GPT-J's and CodeGen's rotary sin/cos, CTRL's sinusoids and MPT's
        # ALiBi biases are tables of the context's size (generating past it crashed, exit 3);
        # MPT and DBRX state it as max_seq_len (the check was skipped)
        ({"n_positions": 2048, "model_type": "gptj", "rotary_dim": 64}, (2048, True)),
        ({"n_positions": 2048, "model_type": "codegen"}, (2048, True)),
        ({"n_positions": 256, "model_type": "ctrl"}, (256, True)),
        ({"max_seq_len": 2048, "model_type": "mpt"}, (2048, True)),
        ({"max_seq_len": 32768, "model_type": "dbrx"}, (32768, False)),
        # dynamic NTK: transformers recomputes the frequencies for any length past it
        ({"max_position_embeddings": 4096, "rope_scaling": {"type": "dynamic", "factor": 2}}, None),
        (
            {
                "max_position_embeddings": 4096,
                "rope_parameters": {"rope_type": "dynamic", "factor": 2},
            },
            None,
        ),
        # linear: factor x max_position_embeddings (transformers reads no other length)
        (
            {"max_position_embeddings": 4096, "rope_scaling": {"type": "linear", "factor": 4}},
            (16384, False),
        ),
        # yarn without original_max_position_embeddings: transformers takes
        # max_position_embeddings as the pretrained length (Qwen2.5's 32768 x 4)
        (
            {"max_position_embeddings": 32768, "rope_scaling": {"type": "yarn", "factor": 4.0}},
            (131072, False),
        ),
        # llama3 (Llama 3.1): max_position_embeddings is already the stretched context
        (
            {
                "max_position_embeddings": 131072,
                "rope_scaling": {
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "original_max_position_embeddings": 8192,
                },
            },
            (131072, False),
        ),
        # yarn, the config's own original_max_position_embeddings first, as transformers reads it
        (
            {
                "max_position_embeddings": 4096,
                "original_max_position_embeddings": 2048,
                "rope_scaling": {
                    "rope_type": "yarn",
                    "factor": 4,
                    "original_max_position_embeddings": 1024,
                },
            },
            (8192, False),
        ),
        # longrope without a factor (Phi-3): max_position_embeddings
        (
            {
                "max_position_embeddings": 131072,
                "original_max_position_embeddings": 4096,
                "rope_scaling": {"type": "longrope", "long_factor": [1.0], "short_factor": [1.0]},
            },
            (131072, False),
        ),
        # found by re-attack: json reads Infinity as a float, int() of it crashed (exit 3); a
        # factor or length that is no finite number is none, as a negative or NaN one is
        (
            {"max_position_embeddings": 100, "rope_scaling": {"type": "yarn", "factor": math.inf}},
            (100, False),
        ),
        (
            {
                "max_position_embeddings": 100,
                "rope_scaling": {
                    "type": "yarn",
                    "factor": 2,
                    "original_max_position_embeddings": math.inf,
                },
            },
            (200, False),
        ),
        # found by re-attack: a multimodal model's language model states it in text_config
        # (Gemma 3, Llama 4), and the check was skipped; its own RoPE scaling too
        (
            {
                "model_type": "llama4",
                "text_config": {
                    "max_position_embeddings": 4096,
                    "rope_scaling": {"rope_type": "yarn", "factor": 2.0},
                },
            },
            (8192, False),
        ),
        (
            {"model_type": "gemma3", "text_config": {"model_type": "gpt2", "n_positions": 64}},
            (64, True),
        ),
        # one per layer type: the largest context
        (
            {
                "max_position_embeddings": 8192,
                "rope_parameters": {
                    "full_attention": {"rope_type": "linear", "factor": 8.0},
                    "sliding_attention": {"rope_type": "default"},
                },
            },
            (65536, False),
        ),
    ],
)
def test_the_context_follows_transformers_rope_scaling(
    tmp_path, config: dict[str, Any], expected: tuple[int, bool] | None
) -> None:
    # Found by attack: a config with RoPE scaling built to extend past
    # max_position_embeddings was refused there.
    from curagate.gate.models import context_size

    (tmp_path / "config.json").write_text(json.dumps(config))
    got = context_size(tmp_path)
    assert (got if got is None else (got.tokens, got.absolute)) == expected


def _small_model(tmp_path: Path, *, gpt2: bool = False, rope: dict[str, Any] | None = None) -> Path:
    """A tiny model of 64 positions, its tokenizer trained on the sentiment items: a Llama
    (``rope``: its config's rope_scaling), or a GPT-2 (learned positions)."""
    import torch
    from gate_support import SENTIMENT_ITEMS
    from tests.tiny_llama import build_tokenizer, save_tiny_llama
    from transformers import GPT2Config, GPT2LMHeadModel

    corpus = [str(i["prompt"]) + " " + str(i["reference"]) for i in SENTIMENT_ITEMS]
    tok = build_tokenizer(corpus * 3, unk_token="<unk>", bos_token="<|im_start|>")
    path = tmp_path / "small"
    if not gpt2:
        save_tiny_llama(path, tok, hidden_size=32, max_position_embeddings=64)
        config = json.loads((path / "config.json").read_text())
        config.pop("rope_parameters", None)
        config.update({"rope_scaling": rope} if rope else {})
        (path / "config.json").write_text(json.dumps(config))
        return path
    torch.manual_seed(0)
    eos = tok.eos_token_id
    cfg = GPT2Config(
        vocab_size=len(tok), n_positions=64, n_embd=16, n_layer=1, n_head=2,
        bos_token_id=eos, eos_token_id=eos,
    )  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _gate_small(tmp_path: Path, items: list[dict[str, Any]], max_new_tokens: int) -> Path:
    """Set "sentiment" of ``items``, locked, and a gate file over it at ``max_new_tokens``."""
    from gate_support import write_set

    write_set(tmp_path / "golden", "sentiment", "classification", items)
    golden.lock(tmp_path / "golden")
    gate = GATE.format(golden=tmp_path / "golden", suite="")
    path = tmp_path / "gate.yaml"
    path.write_text(gate.replace("max_new_tokens: 4", f"max_new_tokens: {max_new_tokens}"))
    return path


def _gate_cli(tmp_path: Path, gate: Path, model: Path, capsys: Any) -> tuple[int, str, str]:
    from gate_support import CannedServer

    from curagate.cli import main

    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", str(model), "--base", srv.url]
        rc = main([*argv, "--out", str(tmp_path / "o"), "--no-cache", "--device", "cpu"])
    finally:
        srv.close()
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_prompt_past_max_position_embeddings_of_dynamic_rope_is_generated(
    tmp_path, capsys
) -> None:
    # Found by attack: dynamic RoPE scaling extends past max_position_embeddings (64 here)
    # for any length, yet a prompt past it was refused (exit 2) as one the model has no
    # positions for.
    from gate_support import SENTIMENT_ITEMS

    model = _small_model(tmp_path, rope={"type": "dynamic", "factor": 2.0})
    long = {"id": "long", "prompt": "great product " * 40, "reference": "Positive"}
    gate = _gate_small(tmp_path, [*SENTIMENT_ITEMS[:9], long], 4)
    rc, _, err = _gate_cli(tmp_path, gate, model, capsys)
    assert rc in (0, 1) and (tmp_path / "o" / "gate_report.json").is_file(), err


def test_an_answer_past_learned_positions_exits_2_before_any_generation(tmp_path, capsys) -> None:
    # Found by attack: a GPT-2 (n_positions 64 here) whose prompt plus max_new_tokens runs
    # past its positions was accepted; generating past them failed (IndexError, exit 3).
    from gate_support import SENTIMENT_ITEMS

    model = _small_model(tmp_path, gpt2=True)
    gate = _gate_small(tmp_path, SENTIMENT_ITEMS[:10], 60)
    rc, _, err = _gate_cli(tmp_path, gate, model, capsys)
    assert rc == 2, err
    found = re.search(
        r"golden set 'sentiment': item '[^']+': the prompt is (\d+) tokens as the candidate "
        r"reads it \(its chat template\), and its model's context is 64 tokens \(n_positions "
        r"in config.json\), a table of that many positions: with max_new_tokens 60 its answer may run "
        r"to (\d+) tokens, and generating past the context fails; set max_new_tokens: (\d+) "
        r"\(or less\) on golden set 'sentiment' in the gate file",
        err,
    )
    assert found is not None, err
    prompt, total, fix = map(int, found.groups())
    assert total == prompt + 60 > 64 and fix == 64 - prompt
    assert not (tmp_path / "o").exists()


def test_an_answer_past_a_rope_models_context_is_a_warning(tmp_path, capsys) -> None:
    # A RoPE model computes any position: an answer that may run past its context is
    # generated, and named (gate_report.json's past_context, report.md, the terminal).
    from gate_support import SENTIMENT_ITEMS

    model = _small_model(tmp_path)
    gate = _gate_small(tmp_path, SENTIMENT_ITEMS[:10], 60)
    rc, out, err = _gate_cli(tmp_path, gate, model, capsys)
    assert rc in (0, 1), err
    report = json.loads((tmp_path / "o" / "gate_report.json").read_text())
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
    past = report["results"][0]["past_context"]
    assert len(past) == 10 and {p["side"] for p in past} == {"candidate"}
    assert all(p["prompt_tokens"] + 60 > 64 == p["context"] for p in past)
    assert all(p["max_new_tokens"] == 60 for p in past)
    assert "WARNING: 10 answer(s) may run past the model's context" in out
    assert "WARNING: 10 answer(s) may run past" in (tmp_path / "o" / "report.md").read_text()


def test_an_endpoint_base_without_a_digest_is_a_warning_for_a_run_candidate(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    # Found by attack: "not compared" was a pass, so serving a weaker model (or the
    # candidate itself) over HTTP as --base gave a signed pass where a local one warns.
    from gate_support import CannedServer

    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    weak = CannedServer(lambda p: "hmm")
    try:
        out = run_gate(
            _gate(tmp_path, golden_dir), str(run), weak.url, tmp_path / "o", device="cpu"
        )
    finally:
        weak.close()
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert check["verdict"] == "warn" and "pass --base-digest" in check["message"]


def test_trained_adapter_changes_the_outputs(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=False, train_files=[train_file]
    )
    out = run_gate(
        _gate(tmp_path, golden_dir), str(run), str(tiny_model_dir), tmp_path / "out", device="cpu"
    )
    examples = out.report["results"][0]["failing_examples"]
    assert any(e["candidate_output"] != e["base_output"] for e in examples)


def test_rerun_loads_no_model_when_everything_is_cached(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=False, train_files=[train_file]
    )
    gate, cache = _gate(tmp_path, golden_dir), tmp_path / "cache"
    first = run_gate(
        gate, str(run), str(tiny_model_dir), tmp_path / "a", cache_dir=cache, device="cpu"
    )
    again = run_gate(
        gate, str(run), str(tiny_model_dir), tmp_path / "b", cache_dir=cache, device="cpu"
    )
    assert first.cache_misses == 2 * 40 and again.cache_misses == 0
    assert (tmp_path / "a" / "gate_report.json").read_bytes() == (
        tmp_path / "b" / "gate_report.json"
    ).read_bytes()


def test_changed_base_weights_are_refused(tmp_path, golden_dir, tiny_model_dir, train_file) -> None:
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    meta = json.loads((run / "run.json").read_text())
    meta["base_model"]["files"]["model.safetensors"] = "0" * 64
    (run / "run.json").write_text(json.dumps(meta))
    # The same condition, and exit code (1), as in export: the adapter is not this model.
    with pytest.raises(CheckFailed, match="base model files changed since training"):
        run_gate(_gate(tmp_path, golden_dir), str(run), str(tiny_model_dir), tmp_path / "o")


def test_signed_run_attests_the_verdict_for_exactly_the_candidate(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    import hashlib

    from curagate.artifacts import GatePredicate
    from curagate.signing import generate_keypair, key_fingerprint, load_private_key, open_envelope

    private, public = generate_keypair(tmp_path / "keys")
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    out = run_gate(
        _gate(tmp_path, golden_dir),
        str(run),
        str(tiny_model_dir),
        tmp_path / "out",
        device="cpu",
        sign_key=private,
    )
    fp = key_fingerprint(load_private_key(private).public_key())
    assert out.report["attestation"] == {
        "signed": True,
        "keyid": fp,
        "file": "gate_attestation.dsse.json",
    }
    envelope = (tmp_path / "out" / "gate_attestation.dsse.json").read_bytes()
    opened = open_envelope(envelope, {fp: public.read_bytes()}, source="test")
    pred = GatePredicate.model_validate(opened.statement["predicate"])
    report_bytes = (tmp_path / "out" / "gate_report.json").read_bytes()
    assert pred.gate_report_sha256 == hashlib.sha256(report_bytes).hexdigest()
    assert pred.verdict == out.report["verdict"]
    digest = out.report["candidate"]["artifact_sha256"]
    assert opened.statement["subject"][0]["digest"]["sha256"] == digest
    # Unsigned rerun into the same folder: the stale attestation goes with the old report.
    run_gate(
        _gate(tmp_path, golden_dir), str(run), str(tiny_model_dir), tmp_path / "out", device="cpu"
    )
    assert not (tmp_path / "out" / "gate_attestation.dsse.json").exists()


def test_a_signed_run_never_attests_answers_planted_in_the_cache(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    from curagate.signing import generate_keypair

    private, _ = generate_keypair(tmp_path / "keys")
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=False, train_files=[train_file]
    )
    gate, cache = _gate(tmp_path, golden_dir), tmp_path / "cache"
    honest = run_gate(
        gate, str(run), str(tiny_model_dir), tmp_path / "honest", cache_dir=cache, device="cpu"
    )
    # Someone rewrites every cached answer (the folder is the working directory's, by
    # default): an unsigned run would use them, a signed one generates them again.
    planted = 0
    for entry in cache.rglob("*.json"):
        doc = json.loads(entry.read_text())
        entry.write_text(json.dumps({**doc, "output": "PLANTED"}))
        planted += 1
    assert planted == 2 * 40
    signed = run_gate(
        gate,
        str(run),
        str(tiny_model_dir),
        tmp_path / "signed",
        cache_dir=cache,
        device="cpu",
        sign_key=private,
    )
    assert (signed.cache_rejected, signed.cache_misses) == (planted, planted)
    assert "PLANTED" not in (tmp_path / "signed" / "gate_report.json").read_text()
    assert signed.report["results"] == honest.report["results"]
    # What the signed run wrote, its next run reads.
    again = run_gate(
        gate,
        str(run),
        str(tiny_model_dir),
        tmp_path / "again",
        cache_dir=cache,
        device="cpu",
        sign_key=private,
    )
    assert (again.cache_misses, again.cache_rejected) == (0, 0)


def _first_weight(model) -> float:
    return float(next(model.parameters()).detach().flatten()[0])


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_signed_run_loads_exactly_the_bytes_it_resolved(
    tmp_path, tiny_model_dir, snapshot: bool
) -> None:
    # A signed run (snapshot) loads each local model from a private copy hashed while it
    # was copied: weights swapped in after the digest was taken are refused, and weights
    # rewritten in place once loaded do not reach the model. An unsigned run loads the
    # files where they are (the parameter shows what each case does).
    import shutil

    from safetensors.torch import load_file, save_file

    from curagate.errors import InputError
    from curagate.gate.models import LoadedModels, resolve_model

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    weights = model_dir / "model.safetensors"
    original = weights.read_bytes()
    save_file(
        {name: t * -3 for name, t in load_file(weights).items()},
        tmp_path / "swapped.safetensors",
        metadata={"format": "pt"},
    )
    swapped = (tmp_path / "swapped.safetensors").read_bytes()
    ref = resolve_model(str(model_dir))
    weights.write_bytes(swapped)  # after the digest was taken, before the load
    with LoadedModels(device="cpu", snapshot=snapshot) as models:
        if snapshot:
            with pytest.raises(InputError, match="changed while the gate ran"):
                models.hf(ref)
        else:
            wrong = _first_weight(models.hf(ref)[0])
    weights.write_bytes(original)
    with LoadedModels(device="cpu", snapshot=snapshot) as models:
        model, _ = models.hf(ref)
        right = _first_weight(model)
        with weights.open("r+b") as f:  # in place: the same inode, as a careless writer does
            f.write(swapped)
        assert (_first_weight(model) == right) is snapshot
        copies = list(models._copies)
    if not snapshot:
        assert wrong == -3 * right and not copies
    assert copies == [] or not any(c.exists() for c in copies)


def test_a_model_whose_index_names_shards_outside_its_folder_is_refused(
    tmp_path, tiny_model_dir
) -> None:
    # An index naming /elsewhere/shard.safetensors makes from_pretrained read bytes that
    # neither the digest nor the private copy covers.
    import shutil

    from curagate.errors import InputError
    from curagate.gate.models import resolve_model

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    outside = tmp_path / "elsewhere" / "model.safetensors"
    outside.parent.mkdir()
    (model_dir / "model.safetensors").rename(outside)
    (model_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": {"lm_head.weight": str(outside)}})
    )
    # Refused when resolved, signed or not (the digest would not cover the shard).
    with pytest.raises(InputError, match=r"names shard .*elsewhere.* which is not a file of"):
        resolve_model(str(model_dir))


@pytest.mark.parametrize("key", ["fast_tokenizer_files", "tokenizer_file"])
def test_a_signed_run_refuses_a_tokenizer_file_named_outside_the_model_folder(
    tmp_path, tiny_model_dir, key
) -> None:
    # transformers resolves fast_tokenizer_files with cached_file(folder, name): an
    # absolute name or ../ reads a tokenizer nobody hashed (older versions also opened a
    # tokenizer_file named in the config verbatim).
    import shutil

    from curagate.errors import InputError
    from curagate.gate.models import LoadedModels, resolve_model

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    outside = tmp_path / "elsewhere" / "tokenizer.1.0.json"
    outside.parent.mkdir()
    shutil.copy(model_dir / "tokenizer.json", outside)
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    config[key] = [str(outside)] if key == "fast_tokenizer_files" else str(outside)
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config))
    # fast_tokenizer_files is refused when resolved, signed or not; tokenizer_file (which
    # transformers 5 ignores) by the signed run's private copy.
    with pytest.raises(InputError, match=rf"{key} names .*elsewhere.* which is not a file of"):
        ref = resolve_model(str(model_dir))
        with LoadedModels(device="cpu", snapshot=True) as models:
            models.hf(ref)


def test_a_stale_tokenizer_path_from_an_older_save_is_not_refused(tmp_path, tiny_model_dir) -> None:
    # Older save_pretrained wrote the absolute path it read the tokenizer from: absent
    # here, no loader reads it (transformers 5 ignores it), so a signed run loads the
    # folder's own tokenizer.json instead of refusing the model.
    import shutil

    from curagate.gate.models import LoadedModels, resolve_model

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    config["tokenizer_file"] = "/home/someone/.cache/huggingface/transformers/0a1b.tokenizer.json"
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config))
    with LoadedModels(device="cpu", snapshot=True) as models:
        _, tok = models.hf(resolve_model(str(model_dir)))
    assert tok("Positive")["input_ids"]


def _break_header(d: Path) -> None:
    (d / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")


def _truncate_weights(d: Path) -> None:
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])


def _garbage_tokenizer(d: Path) -> None:
    (d / "tokenizer.json").write_text('{"version": "1.0"}')


def _unknown_model_type(d: Path) -> None:
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "model_type": "no-such-model"}))


def _wrong_hidden_size(d: Path) -> None:
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "hidden_size": 64}))


@pytest.mark.parametrize(
    "damage",
    [_break_header, _truncate_weights, _garbage_tokenizer, _unknown_model_type, _wrong_hidden_size],
)
def test_a_model_folder_transformers_cannot_load_is_an_input_error(
    tmp_path, tiny_model_dir, damage
) -> None:
    """Damaged model files are the user's to fix (exit 2 naming the folder), not a bug
    (they reached the CLI as SafetensorError, KeyError, ValueError: exit 3)."""
    import shutil

    from curagate.errors import InputError
    from curagate.gate.models import LoadedModels, resolve_model

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    damage(model_dir)
    ref = resolve_model(str(model_dir))
    with (
        LoadedModels(device="cpu") as models,
        pytest.raises(InputError, match=rf"{re.escape(str(model_dir))}: cannot load"),
    ):
        models.hf(ref)


def test_copies_left_by_killed_signed_runs_are_removed(tmp_path, monkeypatch) -> None:
    import subprocess
    import sys
    import tempfile

    from curagate.gate.models import LoadedModels
    from curagate.io.atomic import hold, release

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tempfile.tempdir = None  # read TMPDIR again
    try:
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        stale = tmp_path / f"curagate-gate-model-{gone}-abc"
        live = tmp_path / f"curagate-gate-model-{os.getppid()}-def"
        for d in (stale, live):
            (d / "model").mkdir(parents=True)
        LoadedModels(snapshot=False).close()
        assert stale.exists()  # only a signed run sweeps
        lock = hold(live)  # as its live run holds it
        try:
            LoadedModels(snapshot=True).close()
        finally:
            release(lock)
        assert not stale.exists() and live.exists()
    finally:
        tempfile.tempdir = None


def test_lm_eval_suite_runs_base_and_candidate_identically(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    pytest.importorskip("lm_eval")
    rows = [
        {"question": f"Is {i} even?", "choices": ["yes", "no"], "label": i % 2} for i in range(12)
    ]
    write_mini_suite(golden_dir, rows)
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    gate, cache = _gate(tmp_path, golden_dir, suite=True), tmp_path / "cache"
    out = run_gate(
        gate, str(run), str(tiny_model_dir), tmp_path / "out", device="cpu", cache_dir=cache
    )
    again = run_gate(gate, str(run), str(tiny_model_dir), tmp_path / "again", cache_dir=cache)
    assert again.report == out.report
    assert len(list((cache / "lm_eval").glob("*.json"))) == 2
    task = out.report["regression_suite"]["tasks"]["tiny_mc"]
    assert task["items"] == 12 and task["delta"] == 0 and task["within_noise"]
    check = next(c for c in out.report["checks"] if c["id"] == "GATE007")
    assert check["verdict"] == "pass"


@pytest.mark.parametrize("edit", ["cut", "no_task", "not_numbers"])
def test_an_edited_suite_cache_entry_is_a_miss_not_a_crash(
    tmp_path, golden_dir, tiny_model_dir, train_file, edit: str
) -> None:
    """Unsigned runs read every cache entry: one side's cut to fewer samples than the
    other's was a zip() ValueError (exit 3), one without the task a KeyError."""
    pytest.importorskip("lm_eval")
    rows = [
        {"question": f"Is {i} even?", "choices": ["yes", "no"], "label": i % 2} for i in range(8)
    ]
    write_mini_suite(golden_dir, rows)
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    gate, cache = _gate(tmp_path, golden_dir, suite=True), tmp_path / "cache"
    args = (str(run), str(tiny_model_dir))
    first = run_gate(gate, *args, tmp_path / "a", device="cpu", cache_dir=cache)
    entry = sorted((cache / "lm_eval").glob("*.json"))[0]  # one side's
    doc = json.loads(entry.read_text())
    task = doc["value"]["tiny_mc"]
    if edit == "cut":
        task["samples"] = task["samples"][:3]
    elif edit == "no_task":
        del doc["value"]["tiny_mc"]
    else:
        task["samples"] = ["1"] * len(task["samples"])
    entry.write_text(json.dumps(doc))
    again = run_gate(gate, *args, tmp_path / "b", device="cpu", cache_dir=cache)
    assert again.report["regression_suite"] == first.report["regression_suite"]
    assert again.report["regression_suite"]["tasks"]["tiny_mc"]["items"] == 8


def _mini_suite(golden_dir: Path, labels: list[int], metric_entry: str | None = None) -> None:
    # Words the tiny tokenizer knows (it was trained on the sentiment items): unknown
    # words would all be <unk>, and every model would score every choice the same.
    rows = [
        {
            "question": f"Review {i}: great product",
            "choices": ["Positive", "Negative"],
            "label": label,
        }
        for i, label in enumerate(labels)
    ]
    write_mini_suite(golden_dir, rows, metric_entry=metric_entry)


LOWER_IS_BETTER = "  - metric: acc\n    aggregation: mean\n    higher_is_better: false\n"


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_lm_eval_suite_fails_a_candidate_that_lost_what_the_base_knew(
    tmp_path, golden_dir, tiny_model_dir, train_file, higher_is_better: bool
) -> None:
    """And reads the metric's direction from its task's metric_list: a metric declared
    lower-is-better was judged higher-is-better (a perplexity 7e9 times the base's passed),
    so the same fall in it passes there."""
    pytest.importorskip("lm_eval")
    n = 24
    entry = None if higher_is_better else LOWER_IS_BETTER
    # First learn the base's answers (labels all 0: a correct sample means it chose 0) ...
    _mini_suite(golden_dir, [0] * n, entry)
    gate, cache = _gate(tmp_path, golden_dir, suite=True), tmp_path / "cache"
    run_gate(gate, str(tiny_model_dir), str(tiny_model_dir), tmp_path / "probe", cache_dir=cache)
    [probe] = (cache / "lm_eval").glob("*.json")
    samples = json.loads(probe.read_text())["value"]["tiny_mc"]["samples"]  # a cache entry
    # ... then make those the right answers: the base scores 1.0, and a candidate whose
    # random adapter changes any answer regresses.
    _mini_suite(golden_dir, [0 if s == 1.0 else 1 for s in samples], entry)
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=False, train_files=[train_file]
    )
    from safetensors.torch import load_file, save_file

    weights = run / "adapter" / "adapter_model.safetensors"
    tensors = load_file(weights)  # a candidate far from its base: LoRA's B scaled up
    save_file({k: t * 300 if "lora_B" in k else t for k, t in tensors.items()}, weights)
    out = run_gate(gate, str(run), str(tiny_model_dir), tmp_path / "out", cache_dir=cache)
    task = out.report["regression_suite"]["tasks"]["tiny_mc"]
    assert task["base"] == 1.0 and task["candidate"] < 0.95
    assert task["higher_is_better"] is higher_is_better
    check = next(c for c in out.report["checks"] if c["id"] == "GATE007")
    assert check["verdict"] == ("fail" if higher_is_better else "pass")


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("  - metric: acc\n    aggregation: median\n", "aggregates it with 'median'"),
        ("  - metric: f1\n", "task 'tiny_mc' aggregates it with 'f1_score'"),
        ("  - metric: brier_score\n", "aggregates it with 'brier_score'"),  # lm-eval's own
        ("  - metric: my_score\n", "lm-eval knows no aggregation for it"),
        ("  - metric: acc\n    higher_is_better: maybe\n", "higher_is_better 'maybe'"),
        # lm-eval's perplexity is lower-is-better under its own aggregation; averaged by
        # mean it is a log-likelihood, higher better: a worse candidate passed as a gain
        ("  - metric: perplexity\n    aggregation: mean\n", "declare higher_is_better"),
    ],
)
def test_a_suite_metric_that_is_not_a_mean_of_per_document_scores_is_refused_first(
    tmp_path, golden_dir, tiny_model_dir, entry: str, why: str
) -> None:
    """f1's per-document values are (gold, prediction) pairs: exit 3 once both models had
    run the suite. A perplexity's score is no mean of per-document log-likelihoods: the
    delta and interval printed beside it were of those."""
    pytest.importorskip("lm_eval")
    _mini_suite(golden_dir, [0] * 4, entry)
    metric = entry.split("metric: ", 1)[1].split("\n", 1)[0]
    suite = SUITE if metric == "acc" else SUITE + f"  metric: {metric}\n"
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE.format(golden=golden_dir, suite=suite))
    with pytest.raises(ConfigError, match=re.escape(why)):
        run_gate(gate, str(tiny_model_dir), str(tiny_model_dir), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_whose_training_data_holds_golden_items_fails_on_contamination(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    long_prompt = "Review 99: " + " ".join(f"word{i}" for i in range(20))
    items = json.loads(
        "[" + ",".join((golden_dir / "sentiment" / "data.jsonl").read_text().split("\n")[:-1]) + "]"
    )
    items[0]["prompt"] = long_prompt
    (golden_dir / "sentiment" / "data.jsonl").write_text(
        "".join(json.dumps(i) + "\n" for i in items)
    )
    golden.lock(golden_dir)
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"prompt": long_prompt, "completion": "Positive"}) + "\n")
    run = make_run_dir(tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train])
    out, check = _contamination_run(tmp_path, golden_dir, tiny_model_dir, run)
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert out.report["contamination"]["corpus"] == [str(train)]


def _contamination_run(
    tmp_path: Path, golden_dir: Path, base: Path, run: Path
) -> tuple[Any, dict[str, Any]]:
    """The gate with its contamination check on (failing on a leak), and its GATE005."""
    gate = _gate(tmp_path, golden_dir)
    gate.write_text(
        gate.read_text().replace("contamination: {check: false}", "contamination: {on_leak: fail}")
    )
    out = run_gate(gate, str(run), str(base), tmp_path / "out", device="cpu")
    return out, next(c for c in out.report["checks"] if c["id"] == "GATE005")


def test_training_data_changed_after_the_run_fails_contamination_not_passes_it(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # The gate scanned the training files as they were now: a golden item trained on,
    # then cut from the file run.json names, gave "pass, 0 golden items found".
    long_prompt = "Review 99: " + " ".join(f"word{i}" for i in range(20))
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"prompt": long_prompt, "completion": "Positive"}) + "\n")
    run = make_run_dir(tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train])
    train.write_text(json.dumps({"prompt": "an unrelated prompt", "completion": "No"}) + "\n")
    out, check = _contamination_run(tmp_path, golden_dir, tiny_model_dir, run)
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert "changed since the run" in check["message"]


def test_training_data_no_row_of_which_can_be_read_is_said_unreadable_not_empty(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # Found by the re-attack: a corrupt .parquet the run names (--train-data's is refused
    # before generation) failed GATE005 as "holds no record", as an empty file does.
    train = tmp_path / "train.parquet"
    train.write_bytes(b"PAR1 not a parquet file PAR1")
    run = make_run_dir(tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train])
    out, check = _contamination_run(tmp_path, golden_dir, tiny_model_dir, run)
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert "could not be read" in check["message"] and "holds no record" not in check["message"]


def test_a_golden_item_in_the_runs_system_prompt_fails_contamination(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # data.system_prompt is trained on in every example; the scan read the data files only.
    items = [json.loads(x) for x in (golden_dir / "sentiment" / "data.jsonl").open()]
    items[0]["prompt"] = "Review 99: " + " ".join(f"word{i}" for i in range(20))
    (golden_dir / "sentiment" / "data.jsonl").write_text(
        "".join(json.dumps(i) + "\n" for i in items)
    )
    golden.lock(golden_dir)
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"prompt": "an unrelated prompt", "completion": "No"}) + "\n")
    run = make_run_dir(tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train])
    record = json.loads((run / "run.json").read_text())
    record.setdefault("config", {}).setdefault("data", {})["system_prompt"] = items[0]["prompt"]
    (run / "run.json").write_text(json.dumps(record))
    out, check = _contamination_run(tmp_path, golden_dir, tiny_model_dir, run)
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert out.report["contamination"]["system_prompt_scanned"] is True


@pytest.mark.parametrize("swap", ["folder", "glob-name"])
def test_training_data_replaced_by_a_folder_or_a_glob_match_fails_contamination(
    tmp_path, golden_dir, tiny_model_dir, swap
) -> None:
    # The file run.json names deleted and a folder of clean data made in its place: the
    # hash check looked at regular files only and the scan read the folder ("pass, 0
    # golden items found", signed). A name that is a glob pattern (x[1].jsonl) deleted
    # was "found" through the files the pattern matches.
    long_prompt = "Review 99: " + " ".join(f"word{i}" for i in range(20))
    name = "train.jsonl" if swap == "folder" else "x[1].jsonl"
    train = tmp_path / name
    train.write_text(json.dumps({"prompt": long_prompt, "completion": "Positive"}) + "\n")
    run = make_run_dir(tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train])
    train.unlink()
    clean = json.dumps({"prompt": "an unrelated prompt", "completion": "No"}) + "\n"
    if swap == "folder":
        train.mkdir()
        (train / "clean.jsonl").write_text(clean)
    else:
        (tmp_path / "x1.jsonl").write_text(clean)
    out, check = _contamination_run(tmp_path, golden_dir, tiny_model_dir, run)
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert ("no longer the file the run read" if swap == "folder" else "not found") in check[
        "message"
    ]


def test_with_a_train_key_the_run_record_must_be_the_one_the_trainer_signed(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    """run.json names the training data the contamination check scans: edited before the
    gate to name clean data, a contaminated run passed and was signed as clean."""
    from curagate.signing import RUN_ATTESTATION_NAME, generate_keypair, sign_run_record

    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    private, public = generate_keypair(tmp_path / "trainer")
    raw = (run / "run.json").read_bytes()
    (run / RUN_ATTESTATION_NAME).write_bytes(sign_run_record(raw, "run", private))
    gate = _gate(tmp_path, golden_dir)
    args = (str(run), str(tiny_model_dir))
    out = run_gate(gate, *args, tmp_path / "a", device="cpu", train_key=public)
    assert re.fullmatch(r"[0-9a-f]{64}", out.report["candidate"]["run_signed_by"])
    # --train-data in place of the signed record's files: the scan read a clean file while
    # the report named the trainer's signature (a contaminated run passed, signed).
    with pytest.raises(InputError, match="--train-data with --train-key"):
        run_gate(gate, *args, tmp_path / "t", device="cpu", train_key=public, train_data=[str(raw)])
    # Without the key it may be given: the report says it replaced the record's files.
    gate.write_text(gate.read_text().replace("contamination: {check: false}", "contamination: {}"))
    out = run_gate(gate, *args, tmp_path / "u", device="cpu", train_data=[str(train_file)])
    cont = out.report["contamination"]
    assert (cont["corpus_from"], cont["replaced_run_record"]) == ("--train-data", True)
    md = (tmp_path / "u" / "report.md").read_text()
    assert "in place of the files the run record names" in md
    record = json.loads(raw)
    record["allow_leakage"] = True
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(CheckFailed, match="signs another run record"):
        run_gate(gate, *args, tmp_path / "b", device="cpu", train_key=public)
    (run / RUN_ATTESTATION_NAME).unlink()
    with pytest.raises(CheckFailed, match="the run record is not signed"):
        run_gate(gate, *args, tmp_path / "c", device="cpu", train_key=public)
    other = generate_keypair(tmp_path / "other")[0]
    (run / RUN_ATTESTATION_NAME).write_bytes(
        sign_run_record((run / "run.json").read_bytes(), "run", other)
    )
    with pytest.raises(CheckFailed, match="no signature verifies"):
        run_gate(gate, *args, tmp_path / "d", device="cpu", train_key=public)


@pytest.mark.parametrize("kind", ["bundle", "run", "model_dir"])
def test_a_run_or_bundle_naming_no_base_is_a_warning(kind: str) -> None:
    # Re-attack: a bundle whose lineage names no base (made or edited by hand) was "not a
    # run or bundle: not compared", a pass, against any endpoint base.
    from curagate.gate.models import ModelRef
    from curagate.gate.runner import _base_check

    cand = ModelRef(kind=kind, spec="c", lineage={"run": "runs/x"}, identity="cand")
    base = ModelRef(kind="http", spec="http://b", url="http://b", identity="base")
    check = _base_check(cand, base)
    if kind == "model_dir":
        assert check.verdict == "pass" and "not compared" in check.message
    else:
        assert check.verdict == "warn" and "names no base model" in check.message


def test_the_bases_tensors_saved_again_are_the_candidate_itself(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # Found by attack: the base's tensors saved with other header metadata (or in other
    # shards) were another model to the file digests: GATE013 passed, every delta 0.
    import shutil

    from safetensors.numpy import load_file, save_file

    from curagate.gate.models import same_tensors

    tensors = load_file(str(tiny_model_dir / "model.safetensors"))
    resaved = tmp_path / "resaved"
    shutil.copytree(tiny_model_dir, resaved)
    save_file(tensors, str(resaved / "model.safetensors"), metadata={"format": "pt", "n": "x"})
    sharded = tmp_path / "sharded"
    shutil.copytree(tiny_model_dir, sharded)
    (sharded / "model.safetensors").unlink()
    names = sorted(tensors)
    half = len(names) // 2
    for k, part in enumerate((names[:half], names[half:])):
        save_file(
            {n: tensors[n] for n in part}, str(sharded / f"model-0000{k + 1}-of-00002.safetensors")
        )
    changed = tmp_path / "changed"
    shutil.copytree(tiny_model_dir, changed)
    other = {n: t.copy() for n, t in tensors.items()}
    other[names[-1]].flat[0] += 1
    save_file(other, str(changed / "model.safetensors"))
    assert same_tensors(tiny_model_dir, resaved) and same_tensors(resaved, sharded)
    assert not same_tensors(tiny_model_dir, changed)
    out = run_gate(_gate(tmp_path, golden_dir), str(resaved), str(tiny_model_dir), tmp_path / "o")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE013")
    assert check["verdict"] == "fail" and "--base is the candidate itself" in check["message"]


@pytest.mark.parametrize(
    "offsets",
    ["[0, Infinity]", "[-1000, -992]", "[0, 1000000000000000]", "[8, 4]"],
)
def test_a_hostile_safetensors_header_is_no_model_not_a_crash_or_a_hang(
    tmp_path, tiny_model_dir, offsets: str
) -> None:
    # Found by the re-attack: a stray .safetensors file whose header said Infinity was exit 3
    # (OverflowError), negative offsets exit 3 (seek), and offsets past the end on both
    # sides read empty bytes as equal for ever.
    import shutil
    import struct

    from curagate.gate.models import same_tensors

    header = ('{"w": {"dtype": "F32", "shape": [2], "data_offsets": ' + offsets + "}}").encode()
    sides = []
    for name in ("a", "b"):
        side = tmp_path / name
        shutil.copytree(tiny_model_dir, side)
        (side / "extra.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
        sides.append(side)
    assert same_tensors(*sides) is False


def test_files_beside_the_safetensors_do_not_hide_a_resaved_base(tmp_path, tiny_model_dir) -> None:
    # Found by the re-attack: a checkpoint's training_args.bin (or a base's
    # original/consolidated.00.pth) beside model.safetensors made the tensors "not
    # comparable": the re-saved base passed GATE013.
    import shutil

    from safetensors.numpy import load_file, save_file

    from curagate.gate.models import same_tensors

    cand = tmp_path / "cand"
    shutil.copytree(tiny_model_dir, cand)
    tensors = load_file(str(tiny_model_dir / "model.safetensors"))
    save_file(tensors, str(cand / "model.safetensors"), metadata={"format": "pt", "n": "x"})
    (cand / "training_args.bin").write_bytes(b"\x80\x04pickle")
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    (base / "original").mkdir()
    (base / "original" / "consolidated.00.pth").write_bytes(b"PK\x03\x04")
    assert same_tensors(cand, base)


def _relaid(tmp_path: Path, tiny_model_dir: Path, layout: str) -> Path:
    import shutil

    from tests.tiny_llama import relay_output_layer

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    return relay_output_layer(model, layout)


def _output_layer_layouts() -> list[str]:
    from tests.tiny_llama import OUTPUT_LAYER_LAYOUTS

    return list(OUTPUT_LAYER_LAYOUTS)


@pytest.mark.parametrize("side", ["candidate", "base"])
@pytest.mark.parametrize("layout", _output_layer_layouts())
def test_a_model_whose_output_layer_transformers_loads_against_config_json_is_refused(
    tmp_path, golden_dir, tiny_model_dir, layout: str, side: str
) -> None:
    # Found by attack: a bundle (no GGUF) whose config.json says tie_word_embeddings: false
    # and whose weights transformers loads hold no lm_head.weight was gated with no finding,
    # each run evaluating another random output layer; tied with a differing lm_head.weight,
    # loaders disagree on the model. Either side, as a model directory: exit 2.
    from tests.tiny_llama import OUTPUT_LAYER_LAYOUTS

    model = _relaid(tmp_path, tiny_model_dir, layout)
    tied = OUTPUT_LAYER_LAYOUTS[layout]
    named = (
        "tie_word_embeddings is true and the weights transformers loads hold an lm_head.weight "
        "that differs from the input embeddings"
        if tied
        else "tie_word_embeddings is false and the weights transformers loads hold no "
        "lm_head.weight"
    )
    cand, base = (model, tiny_model_dir) if side == "candidate" else (tiny_model_dir, model)
    with pytest.raises(InputError, match=re.escape(f"{model / 'config.json'}: {named}")):
        run_gate(_gate(tmp_path, golden_dir), str(cand), str(base), tmp_path / "out", device="cpu")
    assert not (tmp_path / "out" / "gate_report.json").exists()


@pytest.mark.parametrize("value", ["false", None, 0])
def test_a_tie_word_embeddings_transformers_cannot_read_is_an_input_error(
    tmp_path, tiny_model_dir, value
) -> None:
    # transformers 5 raised StrictDataclassFieldValidationError reading it: exit 3.
    import shutil

    from curagate.gate.models import LoadedModels, resolve_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": value}))
    named = f"{model / 'config.json'}: tie_word_embeddings is {json.dumps(value)}"
    with (
        LoadedModels(device="cpu") as models,
        pytest.raises(InputError, match=re.escape(named) + ".*transformers expects true or false"),
    ):
        models.hf(resolve_model(str(model)))


def test_a_model_with_a_missing_weight_is_refused_naming_it(tmp_path, tiny_model_dir) -> None:
    # Any weight transformers initializes at random is another model on every load.
    import shutil

    from safetensors.torch import load_file, save_file

    from curagate.gate.models import LoadedModels, resolve_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    state = load_file(model / "model.safetensors")
    del state["model.layers.1.mlp.up_proj.weight"]
    save_file(state, model / "model.safetensors", metadata={"format": "pt"})
    with (
        LoadedModels(device="cpu") as models,
        pytest.raises(
            InputError,
            match=re.escape(f"{model}: the weights transformers loads lack 1 the model needs "
                            "(model.layers.1.mlp.up_proj.weight)"),
        ),
    ):  # fmt: skip
        models.hf(resolve_model(str(model)))


@pytest.mark.parametrize("damage", ["fewer layers in config", "nan"])
@pytest.mark.parametrize("side", ["candidate", "base"])
def test_a_model_whose_weights_transformers_would_load_wrongly_is_refused(
    tmp_path, golden_dir, tiny_model_dir, damage: str, side: str
) -> None:
    # Found by attack: config.json saying num_hidden_layers 1 beside weights of 2 layers was
    # gated as a 1-layer model (transformers drops the tensors it has no place for); a NaN
    # weight was gated with a WARN. Either side: exit 2, naming the tensors.
    import shutil

    from tests.tiny_llama import damage_weights

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    named = damage_weights(model, damage)
    cand, base = (model, tiny_model_dir) if side == "candidate" else (tiny_model_dir, model)
    with pytest.raises(InputError, match=re.escape(f"{model}: {named}")):
        run_gate(_gate(tmp_path, golden_dir), str(cand), str(base), tmp_path / "out", device="cpu")
    assert not (tmp_path / "out" / "gate_report.json").exists()


@pytest.mark.parametrize("kind", ["tied llama", "old rotary inv_freq", "gpt2 with masked_bias"])
def test_models_saved_normally_load_despite_tensors_transformers_drops(tmp_path, kind) -> None:
    # Tensors transformers drops on purpose (constant buffers older checkpoints saved) are
    # no sign of another model: the unexpected-tensor refusal must not catch them.
    import torch
    from safetensors.torch import load_file, save_file
    from tests.tiny_llama import build_tokenizer, save_tiny_llama
    from transformers import GPT2Config, GPT2LMHeadModel

    from curagate.hf import load_causal_lm

    model = tmp_path / "model"
    if kind == "gpt2 with masked_bias":
        config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=32)
        GPT2LMHeadModel(config).save_pretrained(model)
        state = load_file(model / "model.safetensors")
        for i in range(2):
            state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 32, 32))
            state[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    else:
        tok = build_tokenizer(["a small corpus of words"] * 5, vocab_size=280)
        save_tiny_llama(model, tok, hidden_size=32, tie_word_embeddings=kind == "tied llama")
        state = load_file(model / "model.safetensors")
        if kind == "old rotary inv_freq":
            for i in range(2):
                state[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    save_file(state, model / "model.safetensors", metadata={"format": "pt"})
    assert load_causal_lm(model) is not None


# How a tied model's file holds an lm_head.weight beside its embeddings (whether loaders
# agree on the output layer): the head a float32 ulp off the embeddings (one tensor in
# bfloat16), so with LlamaModel's names (embed_tokens.weight) or in a pytorch_model.bin, a
# zero of the other sign, and the embeddings bit for bit.
_TIED_HEADS = {
    "an ulp off": False,
    "an ulp off, llama model names": False,
    "an ulp off, pytorch_model.bin": False,
    "a zero of the other sign": False,
    "bit for bit": True,
}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("kind", list(_TIED_HEADS))
def test_a_tied_output_layer_is_judged_on_the_files_whatever_dtype_loads_them(
    tmp_path, tiny_model_dir, kind: str, dtype: str
) -> None:
    # Found by review: the lm_head.weight was compared with the embeddings as loaded, so
    # one that differs in float32 but rounds to them in bfloat16 was refused by export (and
    # the gate on CPU: float32) and passed by the gate on a GPU (bfloat16). The verdict is
    # the files', and the GGUF check's on them is the same.
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from curagate.export.gguf_q8 import output_layer_problem
    from curagate.hf import load_causal_lm

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    state = load_file(model / "model.safetensors")
    embed = state["model.embed_tokens.weight"]
    head = embed.clone()
    if kind.startswith("an ulp off"):
        head.view(torch.int32)[3, 5] ^= 1
        assert not torch.equal(head, embed) and torch.equal(head.bfloat16(), embed.bfloat16())
    elif kind == "a zero of the other sign":
        embed[3, 5], head[3, 5] = 0.0, -0.0
    state["lm_head.weight"] = head
    if kind.endswith("llama model names"):
        state = {k.removeprefix("model."): v for k, v in state.items()}
    if kind.endswith("pytorch_model.bin"):
        (model / "model.safetensors").unlink()
        torch.save(state, model / "pytorch_model.bin")
    else:
        save_file(state, model / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))

    accepted = _TIED_HEADS[kind]
    if accepted:
        assert load_causal_lm(model, dtype=getattr(torch, dtype)) is not None
    else:
        named = (
            f"{model / 'config.json'}: tie_word_embeddings is true and the weights transformers "
            "loads hold an lm_head.weight that differs from the input embeddings"
        )
        with pytest.raises(InputError, match=re.escape(named)):
            load_causal_lm(model, dtype=getattr(torch, dtype))
    if "," not in kind:  # names and files the GGUF check knows
        assert (output_layer_problem(model, {"tie_word_embeddings": True}) is None) is accepted


@pytest.mark.parametrize("value", ["3.4e38", "nan"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_weight_that_overflows_the_load_dtype_is_refused_for_that_reason(
    tmp_path, tiny_model_dir, value: str, dtype: str
) -> None:
    # Found by review: a float32 weight beyond bfloat16's range (finite in the files) loads
    # as an infinity on a GPU and was refused as "not finite numbers" in the weights, which
    # the files do not hold: refused all the same there (the model computes NaN), saying
    # why; loaded in float32 it is the model the files hold. A NaN in the files is theirs.
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from curagate.hf import load_causal_lm

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    state = load_file(model / "model.safetensors")
    name = "model.layers.0.mlp.up_proj.weight"
    state[name][0, 0] = float(value)
    assert value == "nan" or torch.isinf(state[name].bfloat16()).any()
    save_file(state, model / "model.safetensors", metadata={"format": "pt"})
    if value == "nan":
        named = f"{model}: the weights hold values that are not finite numbers (NaN or infinity) in {name}:"  # fmt: skip
    elif dtype == "bfloat16":
        named = (
            f"{model}: the weights hold values too large for bfloat16, the dtype the model is "
            f"loaded in here, in {name}: finite as stored (float32), they load as infinity"
        )
    else:
        assert load_causal_lm(model, dtype=torch.float32) is not None
        return
    with pytest.raises(InputError, match=re.escape(named)):
        load_causal_lm(model, dtype=getattr(torch, dtype))


def test_a_candidates_generation_config_does_not_decide_its_answers(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # Found by attack: transformers applied the candidate folder's generation_config.json
    # (a sequence_bias toward "Positive") to its answers only: accuracy 0.0 -> 0.5, with
    # the same greedy settings named for both sides in the report.
    import shutil

    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    cand = tmp_path / "cand"
    shutil.copytree(tiny_model_dir, cand)
    weights = load_file(cand / "model.safetensors")  # another model, barely
    weights[sorted(weights)[0]][0, 0] += 1e-4
    save_file(weights, cand / "model.safetensors", metadata={"format": "pt"})
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    pos = tok.encode("Positive", add_special_tokens=False)
    bias = [[pos[:1], 100.0], [pos, 100.0], [[*pos, tok.eos_token_id], 100.0]]
    (cand / "generation_config.json").write_text(
        json.dumps({"eos_token_id": tok.eos_token_id, "sequence_bias": bias})
    )
    out = run_gate(_gate(tmp_path, golden_dir), str(cand), str(tiny_model_dir), tmp_path / "o")
    rows = [json.loads(line) for line in (tmp_path / "o" / "items.jsonl").read_text().splitlines()]
    assert [r["candidate_output"] for r in rows] == [r["base_output"] for r in rows]
    assert out.report["settings"]["model_generation_config"] == {
        "candidate": {"sequence_bias": bias},
        "base": {},
    }
    check = next(c for c in out.report["checks"] if c["id"] == "GATE015")
    assert check["verdict"] == "warn", check
    assert "the candidate's generation_config.json asks for sequence_bias" in check["message"]
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(out.report)


def _another_model(tiny_model_dir: Path, cand: Path) -> Path:
    """A copy of the tiny model with one weight moved by 1e-4: another model, barely."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(tiny_model_dir, cand)
    weights = load_file(cand / "model.safetensors")
    weights[sorted(weights)[0]][0, 0] += 1e-4
    save_file(weights, cand / "model.safetensors", metadata={"format": "pt"})
    return cand


def test_a_candidates_config_json_generation_settings_are_overridden_and_named(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # Found by attack: a folder without generation_config.json has the decoding settings of
    # its config.json applied by plain generate(); GATE015 named nothing for it and passed.
    from transformers import AutoTokenizer

    from curagate.hf import load_causal_lm

    cand = _another_model(tiny_model_dir, tmp_path / "cand")
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    pos, neg = (tok.encode(w, add_special_tokens=False) for w in ("Positive", "Negative"))
    legacy = {
        "repetition_penalty": 5.0,
        "do_sample": True,
        "temperature": 0.3,
        "suppress_tokens": sorted({pos[0], neg[0]}),
        "bad_words_ids": [pos, neg],
        "no_repeat_ngram_size": 2,
        "sequence_bias": [[pos[:1], 50.0]],
    }
    config = json.loads((cand / "config.json").read_text())
    (cand / "config.json").write_text(json.dumps({**config, **legacy}))
    (cand / "generation_config.json").unlink()
    # transformers takes them as the model's generation settings.
    applied = load_causal_lm(str(cand)).generation_config
    assert (applied.repetition_penalty, applied.bad_words_ids) == (5.0, [pos, neg])
    out = run_gate(_gate(tmp_path, golden_dir), str(cand), str(tiny_model_dir), tmp_path / "o")
    rows = [json.loads(line) for line in (tmp_path / "o" / "items.jsonl").read_text().splitlines()]
    assert [r["candidate_output"] for r in rows] == [r["base_output"] for r in rows]
    assert out.report["settings"]["model_generation_config"] == {"candidate": legacy, "base": {}}
    check = next(c for c in out.report["checks"] if c["id"] == "GATE015")
    assert check["verdict"] == "warn", check
    assert "the candidate's config.json asks for bad_words_ids" in check["message"]
    assert check["stats"]["sources"] == {
        "candidate": "config.json",
        "base": "generation_config.json",
    }


def test_gate015_warns_for_a_stop_token_set_in_special_tokens_map(
    tmp_path, golden_dir, tiny_model_dir
) -> None:
    # Found by attack: transformers took the candidate's eos from special_tokens_map.json
    # ("%"), so the gate stopped its answers there, while GATE015 read tokenizer_config.json
    # only, named the same stop tokens for both sides and passed.
    from transformers import AutoTokenizer

    cand = _another_model(tiny_model_dir, tmp_path / "cand")
    (cand / "special_tokens_map.json").write_text(json.dumps({"eos_token": "%"}))
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    eos, percent = tok.eos_token_id, tok.convert_tokens_to_ids("%")
    out = run_gate(_gate(tmp_path, golden_dir), str(cand), str(tiny_model_dir), tmp_path / "o")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE015")
    assert check["verdict"] == "warn", check
    assert check["stats"]["stop_tokens"] == {
        "candidate": sorted({eos, percent}),
        "base": [eos],
    }
    assert "the sides stop their answers at different tokens" in check["message"]


def test_lm_eval_suite_interval_does_not_depend_on_its_data_files_order(
    tmp_path, golden_dir, tiny_model_dir, train_file
) -> None:
    """Found by attack: the suite's documents were drawn in their data file's order (their
    doc_id), so the same file shuffled gave another interval for the same scores."""
    pytest.importorskip("lm_eval")
    import random

    labels = [i % 2 for i in range(24)]
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=False, train_files=[train_file]
    )
    from safetensors.torch import load_file, save_file

    weights = run / "adapter" / "adapter_model.safetensors"
    tensors = load_file(weights)  # a candidate far from its base: its answers differ
    save_file({k: t * 300 if "lora_B" in k else t for k, t in tensors.items()}, weights)
    rows = [
        {"question": f"Review {i}: great product", "choices": ["Positive", "Negative"], "label": v}
        for i, v in enumerate(labels)
    ]
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    tasks = []
    for name, order in (("given", rows), ("shuffled", shuffled)):
        write_mini_suite(golden_dir, order)
        gate = _gate(tmp_path, golden_dir, suite=True)
        out = run_gate(gate, str(run), str(tiny_model_dir), tmp_path / name, device="cpu")
        tasks.append(out.report["regression_suite"]["tasks"]["tiny_mc"])
    assert tasks[0]["ci_low"] < tasks[0]["ci_high"]  # the sides differ: an interval to draw
    assert tasks[0] == tasks[1]


@pytest.mark.parametrize("signed", [False, True])
def test_each_local_tokenizer_is_loaded_once_per_gate_run(
    tmp_path, golden_dir, tiny_model_dir, train_file, monkeypatch, signed
) -> None:
    # Found by attack: GATE015 (the stop tokens each side's answers end at) loaded each
    # local side's tokenizer, and the model run loaded it again. Counted at transformers'
    # own loader, which stays the real one.
    from transformers import AutoTokenizer

    from curagate.signing import generate_keypair

    real = AutoTokenizer.from_pretrained
    loads: list[str] = []

    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", staticmethod(counted))
    run = make_run_dir(
        tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train_file]
    )
    private = generate_keypair(tmp_path / "keys")[0] if signed else None
    out = run_gate(
        _gate(tmp_path, golden_dir),
        str(run),
        str(tiny_model_dir),
        tmp_path / "out",
        device="cpu",
        sign_key=private,
    )
    assert any(c["id"] == "GATE015" for c in out.report["checks"])
    # One load per side (the candidate's is its base's or its adapter's tokenizer).
    assert len(loads) == 2, loads


def test_a_judge_prompt_past_a_table_of_positions_exits_2(tmp_path, capsys) -> None:
    # Found by re-attack: a local judge of learned positions (a GPT-2 of 64 here) whose
    # prompt, the answers in it, runs past its context crashed (IndexError, exit 3); the
    # golden sets' prompts are checked before any model runs, a judge's only then.
    from gate_support import SENTIMENT_ITEMS, CannedServer, write_set

    from curagate.cli import main

    judge = _small_model(tmp_path, gpt2=True)
    write_set(tmp_path / "golden", "chat", "generation", SENTIMENT_ITEMS[:10])
    golden.lock(tmp_path / "golden")
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {tmp_path / 'golden'}\ngolden_sets:\n  - name: chat\n"
        "    task: generation\n    metrics: {judge_win_rate: {min: 0.5}}\n"
        f"    judge: {{model: {judge}, max_new_tokens: 4}}\ncontamination: {{check: false}}\n"
    )
    srv = CannedServer(lambda p: "great product " * 20)
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url, "--no-cache"]
        rc = main([*argv, "--out", str(tmp_path / "o"), "--device", "cpu"])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.search(
        rf"chat: judge: a prompt is \d+ tokens as {re.escape(str(judge))} reads it \(its chat "
        r"template\), and with max_new_tokens 4 its answer may run to \d+ tokens, past its "
        r"model's context of 64 tokens \(n_positions in config.json\), a table of that many "
        r"positions: generating past it fails",
        err,
    ), err
    assert not (tmp_path / "o").exists()
