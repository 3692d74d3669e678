"""A golden item of a few words behind a short instruction is found copied whole.

`Translate: Good morning, my friend` or `Solve: 17 * 23` has no n-gram and no 8-word span;
copied with its answer into a text row (not the row's whole prompt, where `exact` finds
it) it matched nothing (found by review). Such an item is now found as a whole run: from
a line's start to the end of a line, or to its sentence mark and a short answer, or to
`=` and a short answer, symbols and all (docs/leakage.md, "whole short items").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.leakage import detect

ITEMS = [
    ("Translate: Good morning, my friend", "Buenos días, mi amigo"),
    ("Solve: 17 * 23", "391"),
    ("Translate: Where is the train station?", "¿Dónde está la estación de tren?"),
    ("Summarize: The cat sat on the mat.", "A cat sat."),
]
COPIES = [
    ("Translate: Good morning, my friend\nBuenos días, mi amigo", 0),
    ("Some practice.\nTranslate: good morning my friend\n\nBuenos días, mi amigo.", 0),
    ("Solve: 17 * 23\n391", 1),
    ("Solve: 17 * 23 = 391", 1),
    ("Exercise 4. Solve: 17 * 23\nAnswer: 391", 1),
    ("Translate: Where is the train station? ¿Dónde está la estación de tren?", 2),
    ("User: Summarize: The cat sat on the mat.\nAssistant: A cat sat.", 3),
]
CLEAN = [
    "Solve: 17 + 23\n40",  # another operation
    "Solve: 17 * 23 + 5 = 396",  # more of a problem
    "Solve: 17 * 230\n3910",
    "Translate: Good morning, my friend and neighbour\nBuenos días, mi amigo y vecino",
    "Translate: Good morning\nBuenos días",  # part of the item
    "Paraphrase: Good morning, my friend\nHello there, pal",  # another instruction
    "We translate: good morning, my friend, every day.",  # not from a line's start
    "Translate: Where is the train station? I need to get there by noon because my "
    "grandmother is waiting for me on the platform with two heavy suitcases.",
    "Summarize: The cat sat on the mat. Then it slept.",
]


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    return write(
        tmp_path / "golden.jsonl",
        [{"id": f"g{k}", "prompt": p, "reference": a} for k, (p, a) in enumerate(ITEMS)],
    )


def test_a_short_item_copied_whole_with_its_answer_is_found(tmp_path: Path, golden: Path) -> None:
    corpus = write(
        tmp_path / "train.jsonl", [{"text": t} for t, _ in COPIES + [(c, -1) for c in CLEAN]]
    )
    result = detect(golden, corpus, methods=("exact", "ngram"))
    found = sorted((m.row, leak.item.row) for leak in result.leaks for m in leak.matches)
    assert found == [(row, item) for row, (_, item) in enumerate(COPIES)]
    for leak in result.leaks:
        for m in leak.matches:
            assert "ngram" in m.methods  # (the chat's user turn is the item: exact too)
            assert m.span is not None and m.span.text.lower().startswith(leak.item.text.lower()[:5])


def test_check_reports_a_short_item_copied_into_a_text_row(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = tmp_path / "golden_sets" / "short"
    sets.mkdir(parents=True)
    golden.rename(sets / "data.jsonl")
    data = write(tmp_path / "train.jsonl", [{"text": COPIES[2][0]}, {"text": CLEAN[0]}])
    rc = main(["check", str(data), "--golden", str(tmp_path / "golden_sets")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert len(out) == 1 and out[0].startswith(f"{data.as_posix()}:1: LEAK001")
