"""A reference file whose items hold a prompt and a `text` column (a golden set's slice or
note) is read by the prompt, the field the gate's contamination check reads
(:func:`curagate.golden.item_text_field`), and its `text` is looked for too."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow.parquet as pq

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import detect

TOPICS = ["rivers", "volcanoes", "glaciers", "deserts", "forests", "islands", "caves", "reefs"]
ITEMS = [
    {
        "id": f"s{k}",
        "prompt": f"Question {k}: explain in two sentences how {t} shape the land around them",
        "reference": "ok",
        "text": "note",
    }
    for k, t in enumerate(TOPICS)
]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _trained(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two clean training rows around a row per item, its prompt verbatim."""
    clean = [{"prompt": f"Write a haiku about the number {n}.", "completion": "ok"} for n in (1, 2)]
    return [clean[0], *({"prompt": r["prompt"], "completion": "ok"} for r in rows), clean[1]]


def test_leakage_reads_a_golden_set_by_its_prompts_beside_a_text_column(tmp_path: Path) -> None:
    # Found by attack: the reader took the file for text records (it has a `text` column)
    # and scanned the note: every prompt copied verbatim into the training data, leaked 0.
    ref = _write_jsonl(tmp_path / "golden" / "s" / "data.jsonl", ITEMS)
    corpus = _write_jsonl(tmp_path / "train.jsonl", _trained(ITEMS))
    out = tmp_path / "out"
    args = ["--reference", str(ref.parent), "--corpus", str(corpus), "--out", str(out)]
    assert main(["leakage", *args, "--fail-on-leak"]) == 1
    report = json.loads((out / "leakage.json").read_text())
    schema = resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    jsonschema.validate(report, json.loads(schema))
    assert report["reference"]["items"] == len(ITEMS)
    assert report["summary"]["leaked_reference_items"] == len(ITEMS)
    assert sorted(leak["reference"]["id"] for leak in report["leaks"]) == [i["id"] for i in ITEMS]
    assert {leak["reference"]["part"] for leak in report["leaks"]} == {"prompt"}


def test_decontaminate_removes_a_golden_sets_prompts_beside_a_text_column(
    tmp_path: Path,
) -> None:
    ref = _write_jsonl(tmp_path / "golden" / "s" / "data.jsonl", ITEMS)
    corpus = _write_jsonl(tmp_path / "train.jsonl", _trained(ITEMS))
    result = curate([corpus], tmp_path / "out", decontaminate__reference=[str(ref)])
    assert result.removed.get("leakage") == len(ITEMS)
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    assert sorted(r["source_row"] for r in removed) == list(range(1, 1 + len(ITEMS)))


def test_the_text_column_beside_the_prompt_is_looked_for_too(tmp_path: Path) -> None:
    # Read by the prompt alone, a set whose `text` is what its items are about (a document
    # under a short instruction, as before the fix the reader's key) lost those leaks.
    docs = [
        {
            "id": f"d{k}",
            "prompt": "Summarize the passage.",
            "text": f"The {t} of the northern valley were mapped in detail by a survey team "
            f"that spent {k + 3} summers measuring them",
        }
        for k, t in enumerate(TOPICS)
    ]
    ref = _write_jsonl(tmp_path / "ref.jsonl", docs)
    corpus = _write_jsonl(
        tmp_path / "train.jsonl", [{"text": docs[2]["text"]}, {"text": "an unrelated row"}]
    )
    result = detect(reference=[str(ref)], corpus=[str(corpus)])
    assert [(leak.item.id, leak.item.part) for leak in result.leaks] == [("d2", "text")]
    assert result.leaked_reference_items == 1
    # One item per row: the views are no items of their own.
    assert result.to_dict()["reference"]["items"] == len(docs)


def test_a_named_reference_text_field_reads_that_field_alone(tmp_path: Path) -> None:
    ref = _write_jsonl(tmp_path / "ref.jsonl", ITEMS)
    corpus = _write_jsonl(tmp_path / "train.jsonl", _trained(ITEMS))
    result = detect(reference=[str(ref)], corpus=[str(corpus)], reference_text_field="text")
    assert result.leaked_reference_items == 0
