"""`leakage --reference` and `curate --decontaminate` over a multiple-choice golden set read
each item as the gate's contamination check (GATE005) does: its prompt with its lettered
options, the user turn the gate sends, and its bare prompt (``choice_views``)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow.parquet as pq
import pytest
from tests.mc_questions import MC_QUESTIONS, OTHER_MC_QUESTIONS

from curagate import golden
from curagate.cli import main
from curagate.curate import curate
from curagate.gate.tasks.multiple_choice import rendered_prompt
from curagate.leakage import LeakageIndex, detect

QUESTIONS = MC_QUESTIONS  # as the gate's own tests of GATE005 use them
IDS = [f"q{i}" for i in range(len(QUESTIONS))]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _golden(tmp_path: Path, task: str = "multiple_choice") -> Path:
    """A locked golden folder with one set of :data:`QUESTIONS` (as tests/gate builds one)."""
    root = tmp_path / "golden"
    items = [
        {"id": i, "prompt": p, "choices": c, "reference": 0}
        for i, (p, c) in zip(IDS, QUESTIONS, strict=True)
    ]
    if task != "multiple_choice":  # the same rows under another task: no options read
        items = [{**i, "reference": i["choices"][0]} for i in items]
    _write_jsonl(root / "mc" / "data.jsonl", items)
    (root / "mc" / "set.yaml").write_text(
        f"name: mc\ntask: {task}\nversion: '1'\nfiles: [data.jsonl]\n"
        "provenance: written by the test\nlicense: CC0-1.0\n"
    )
    golden.lock(root)
    return root


def _trained(written: str) -> list[dict[str, Any]]:
    """A training row per question, holding it as the model reads it (``written``)."""
    rows: list[dict[str, Any]] = []
    for p, c in QUESTIONS:
        if written == "user turn":  # the gate's user turn, as a prompt
            rows.append({"prompt": rendered_prompt(p, c), "completion": "A"})
        else:  # the prompt and its options as a chat's user turn
            listed = "\n".join(f"{'ABC'[i]}. {x}" for i, x in enumerate(c))
            turn = {"role": "user", "content": f"{p}\n{listed}"}
            rows.append({"messages": [turn, {"role": "assistant", "content": "A"}]})
    return rows


@pytest.mark.parametrize("written", ["user turn", "with options"])
def test_leakage_finds_multiple_choice_items_as_the_model_reads_them(
    tmp_path: Path, written: str
) -> None:
    ref = _golden(tmp_path)
    corpus = _write_jsonl(tmp_path / "train.jsonl", _trained(written))
    out = tmp_path / "out"
    args = ["--reference", str(ref), "--corpus", str(corpus), "--out", str(out)]
    assert main(["leakage", *args, "--fail-on-leak"]) == 1
    report = json.loads((out / "leakage.json").read_text())
    schema = resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    jsonschema.validate(report, json.loads(schema))
    # Every item found, each counted once (whichever of its texts matched), its row's id;
    # the views are no items of their own.
    assert report["summary"]["leaked_reference_items"] == len(QUESTIONS)
    assert report["summary"]["contaminated_records"] == len(QUESTIONS)
    assert report["reference"]["items"] == len(QUESTIONS)
    assert sorted({leak["reference"]["id"] for leak in report["leaks"]}) == IDS
    parts = {leak["reference"]["part"] for leak in report["leaks"]}
    assert parts == {"user turn" if written == "user turn" else "prompt with options"}


def test_decontaminate_removes_multiple_choice_items_as_the_model_reads_them(
    tmp_path: Path,
) -> None:
    ref = _golden(tmp_path)
    clean = [{"prompt": f"Write a haiku about the number {n}.", "completion": "ok"} for n in (1, 2)]
    rows = [clean[0], *_trained("user turn"), clean[1]]
    corpus = _write_jsonl(tmp_path / "train.jsonl", rows)
    result = curate([corpus], tmp_path / "out", decontaminate__reference=[str(ref)])
    assert result.removed.get("leakage") == len(QUESTIONS)
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    assert sorted(r["source_row"] for r in removed) == list(range(1, 1 + len(QUESTIONS)))
    assert sorted(r["leaked_reference_id"] for r in removed) == [f"{i} (user turn)" for i in IDS]


def test_other_questions_in_the_gates_template_are_no_leak(tmp_path: Path) -> None:
    # The same options and instruction under other questions: the instruction is the set's
    # template (boilerplate, one golden item per row with its views), the options no item.
    corpus = _write_jsonl(
        tmp_path / "train.jsonl",
        [{"prompt": rendered_prompt(p, c), "completion": "B"} for p, c in OTHER_MC_QUESTIONS],
    )
    result = detect(reference=[str(_golden(tmp_path))], corpus=[str(corpus)])
    assert result.leaked_reference_items == 0, [leak.to_dict() for leak in result.leaks]


def test_a_one_item_sets_short_item_is_found_as_the_gates_user_turn(tmp_path: Path) -> None:
    # Its user turn is the only text that finds it (its prompt with options is under 8
    # words): a change that stopped looking for a one-item file's user turn, to spare
    # other questions sharing its instruction, missed this copy (found by re-attack).
    root = tmp_path / "golden"
    item = {"id": "q0", "prompt": "Is ice cold?", "choices": ["yes", "no"], "reference": 0}
    _write_jsonl(root / "mc" / "data.jsonl", [item])
    (root / "mc" / "set.yaml").write_text(
        "name: mc\ntask: multiple_choice\nversion: '1'\nfiles: [data.jsonl]\n"
        "provenance: written by the test\nlicense: CC0-1.0\n"
    )
    golden.lock(root)
    turn = rendered_prompt("Is ice cold?", ["yes", "no"])
    corpus = _write_jsonl(tmp_path / "train.jsonl", [{"prompt": turn, "completion": "A"}])
    result = detect(reference=[str(root)], corpus=[str(corpus)])
    assert [(leak.item.id, leak.item.part) for leak in result.leaks] == [("q0", "user turn")]


def test_a_set_of_another_task_is_read_by_its_prompt_alone(tmp_path: Path) -> None:
    # The task is the set's (its set.yaml), never guessed from a row's `choices`.
    index = LeakageIndex.build(_golden(tmp_path, task="classification"))
    assert [i.part for i in index.prompt_items] == ["prompt"] * len(QUESTIONS)
    mc = LeakageIndex.build(_golden(tmp_path / "mc", task="multiple_choice"))
    assert len(mc.row_items) == len(QUESTIONS)
    assert len(mc.prompt_items) == 3 * len(QUESTIONS)  # the prompt, with options, user turn
    assert {mc.row_item(i.index) for i in mc.prompt_items} == {i.index for i in mc.row_items}


def test_check_golden_finds_them_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _golden(tmp_path)
    corpus = _write_jsonl(tmp_path / "train.jsonl", _trained("with options"))
    assert main(["check", str(corpus), "--golden", str(ref)]) == 1
    out = capsys.readouterr().out
    assert all(f"golden item {i} (prompt with options)" in out for i in IDS), out


def test_leakage_names_sets_and_tasks_as_golden_does() -> None:
    # leakage reads set.yaml without importing curagate.golden (~0.2 s for `check`).
    from curagate import leakage

    assert (leakage._SET_FILE, leakage._MULTIPLE_CHOICE) == (
        golden.SET_FILE,
        golden.MULTIPLE_CHOICE,
    )
