from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.errors import CheckFailed
from curagate.train import train

from .conftest import write_config, write_jsonl

pytest.importorskip("trl")

LEAKED = (
    "a farmer has seventeen sheep and all but nine run away through the broken gate "
    "in the night so how many sheep does the farmer still have in the field"
)


def _data(tmp_path: Path) -> tuple[Path, Path]:
    golden = write_jsonl(
        tmp_path / "golden" / "g.jsonl", [{"prompt": LEAKED, "completion": "nine"}]
    )
    rows = [
        {"prompt": f"what color is the red cat number {i}?", "completion": "red."} for i in range(7)
    ]
    rows.append({"prompt": LEAKED, "completion": "nine"})
    train_f = write_jsonl(tmp_path / "data" / "train.jsonl", rows)
    return golden, train_f


def test_guard_refuses_training_data_with_golden_items(tmp_path: Path, tiny_model: Path) -> None:
    golden, train_f = _data(tmp_path)
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, train_f, leakage_reference={"riddles": str(golden)}
    )
    with pytest.raises(CheckFailed, match="1 golden-set item"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


def test_golden_items_in_the_validation_data_are_refused(tmp_path: Path, tiny_model: Path) -> None:
    # Found by attack: the golden set given as data.validation trained without a word
    # ("0 leaked"), and the checkpoint shipped was the one with the best loss on the
    # gate's own items; the gate scanned only data.train.
    golden, train_f = _data(tmp_path)
    rows = [json.loads(line) for line in train_f.read_text().splitlines()]
    clean = write_jsonl(
        tmp_path / "data" / "clean.jsonl", [r for r in rows if r["prompt"] != LEAKED]
    )
    val = write_jsonl(tmp_path / "data" / "val.jsonl", [{"prompt": LEAKED, "completion": "nine"}])
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, clean, val, leakage_reference={"riddles": str(golden)}
    )
    with pytest.raises(CheckFailed, match=r"data.train and data.validation\) contains 1 golden"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.slow
def test_allow_leakage_trains_and_is_recorded(tmp_path: Path, tiny_model: Path) -> None:
    golden, train_f = _data(tmp_path)
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        train_f,
        leakage_reference={"riddles": str(golden)},
        training={"max_steps": 1},
    )
    run_dir = train("sft", cfg, allow_leakage=True).run_dir
    run = json.loads((run_dir / "run.json").read_text())
    assert run["allow_leakage"] is True
    assert set(run["golden_sets"]) == {"riddles"}
    assert run["summary"]["leakage"]["leaked_reference_items"] == 1


@pytest.mark.slow
def test_a_golden_item_in_the_system_prompt_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    # data.system_prompt is put in every example and was never scanned: exit 0, "0 leaked".
    golden, _ = _data(tmp_path)
    clean = write_jsonl(
        tmp_path / "data" / "clean.jsonl",
        [
            {"prompt": f"what color is the red cat number {i}?", "completion": "red."}
            for i in range(8)
        ],
    )
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        clean,
        leakage_reference={"riddles": str(golden)},
        data={"system_prompt": f"Remember: {LEAKED}.", "max_length": 200},
        training={"max_steps": 1},
    )
    with pytest.raises(CheckFailed, match=r"data\.system_prompt contains 1 golden-set item"):
        train("sft", cfg)
    run = json.loads((train("sft", cfg, allow_leakage=True).run_dir / "run.json").read_text())
    leakage = run["summary"]["leakage"]
    assert (leakage["leaked_reference_items"], leakage["leaked_in_system_prompt"]) == (1, 1)


@pytest.mark.slow
def test_without_a_leakage_reference_the_run_says_nothing_was_checked(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The guard runs only with leakage_reference: without it a run of golden items trained,
    # exit 0, and its record (allow_leakage: false, no leakage summary) read like a clean one.
    from curagate.cli import main

    _, train_f = _data(tmp_path)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, train_f, training={"max_steps": 1})
    assert main(["train", "sft", "--config", str(cfg), "--quiet"]) == 0
    assert "warning: no leakage_reference in the train config" in capsys.readouterr().err
    run = json.loads((tmp_path / "runs" / "tiny" / "run.json").read_text())
    assert run["summary"]["leakage"]["checked"] is False


def _failed_split(tmp_path: Path) -> Path:
    """A split whose run failed --fail-on-leak (exit 1): its newest row (test) shares a
    15-word passage with its oldest (train); written for inspection, recorded as failed."""
    from curagate.cli import main

    rows = []
    for i in range(10):
        text = f"what color is the red cat number {i}?"
        if i in (0, 9):  # a passage in common, each with words of its own (no near copy)
            own = "one two three four five six seven eight nine ten eleven twelve thirteen"
            text = f"{text} {' '.join(LEAKED.split()[:15])} {own.replace(' ', f' {i}')}"
        rows.append({"prompt": text, "completion": "red.", "created": f"2024-01-{i + 1:02d}"})
    src = write_jsonl(tmp_path / "data" / "rows.jsonl", rows)
    out = tmp_path / "splits"
    argv = ["split", str(src), "--out", str(out), "--time", "created", "--fail-on-leak"]
    assert main(argv) == 1
    return out


@pytest.mark.slow
def test_a_split_that_failed_its_leak_check_is_refused_unless_allowed(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: the output of a failed --fail-on-leak run (exit 1) was a complete,
    # verify-ok output that train took, with nothing in run.json saying so.
    from curagate.cli import main

    out = _failed_split(tmp_path)
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, out / "train.parquet", training={"max_steps": 1}
    )
    capsys.readouterr()
    assert main(["train", "sft", "--config", str(cfg), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"data.train: {out}: its split failed the leak check" in err
    assert "--allow-leakage" in err
    assert not (tmp_path / "runs" / "tiny").exists()
    argv = ["train", "sft", "--config", str(cfg), "--quiet", "--allow-leakage"]
    assert main(argv) == 0
    assert f"warning: trained with --allow-leakage on {out}: its split failed" in (
        capsys.readouterr().err
    )
    run = json.loads((tmp_path / "runs" / "tiny" / "run.json").read_text())
    assert run["allow_leakage"] is True
    (why,) = run["summary"]["failed_split_checks"]
    assert why.startswith(f"{out}: its split failed the leak check")
