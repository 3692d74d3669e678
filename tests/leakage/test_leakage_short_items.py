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


@pytest.mark.parametrize("methods", [("exact",), ("minhash",), ("exact", "ngram", "minhash")])
def test_an_operator_between_numbers_is_no_punctuation(tmp_path: Path, methods) -> None:
    # Found by review: normalization dropped `*` and `+` with all punctuation, so the
    # golden item `Solve: 17 * 23` was an exact copy (and a near one) of a training row
    # `Solve: 17 + 23`. An operator between numbers is kept (the multiplication sign is
    # `*`, spaces around it or not), any other punctuation still is not.
    ref = write(tmp_path / "golden.jsonl", [{"id": "g", "prompt": "Solve: 17 * 23"}])
    copies = ["Solve: 17*23", "Solve: 17 \u00d7 23", "SOLVE 17 \u2217 23", "Solve -- 17 * 23!"]
    # found by re-attack: a middle dot was punctuation again once `*` was kept
    copies += ["Solve: 17 \u00b7 23", "Solve: 17\u221923"]
    others = ["Solve: 17 + 23", "Solve: 17 - 23", "Solve: 17 / 23", "Solve: 17 \u00f7 23"]
    others += ["Solve: 1723", "Solve: 17 23"]
    rows = [{"text": t} for t in copies + others]
    result = detect(ref, write(tmp_path / "t.jsonl", rows), methods=methods)
    assert {m.row for leak in result.leaks for m in leak.matches} == set(range(len(copies)))


@pytest.mark.parametrize("methods", [("exact",), ("minhash",), ("exact", "ngram", "minhash")])
def test_a_minus_typed_as_a_hyphen_or_dash_is_a_minus(tmp_path: Path, methods) -> None:
    # Found by re-attack: once `-` was kept between numbers, an en dash or a Unicode
    # hyphen (what word processors type) was punctuation, and `Compute 17 \u2013 23` no
    # copy of `Compute 17 - 23`.
    ref = write(tmp_path / "golden.jsonl", [{"id": "g", "prompt": "Compute 17 - 23"}])
    copies = ["Compute 17 \u2013 23", "Compute 17 \u2010 23", "Compute 17\u201223"]
    rows = [{"text": t} for t in [*copies, "Compute 17 + 23"]]
    result = detect(ref, write(tmp_path / "t.jsonl", rows), methods=methods)
    assert {m.row for leak in result.leaks for m in leak.matches} == set(range(len(copies)))


def test_an_expression_tells_a_formula_from_another(tmp_path: Path) -> None:
    # 12 items "What is a+b?" around a shared instruction: each expression is one word,
    # so a row asking another (2-2 for 2+2) is none of them, as before operators were
    # kept; with its numbers words of their own, 2-2 held `2? Think carefully ...`, an
    # 8-word span of 2+2 and of 9+2 (found by review of this change).
    head = "Answer the following arithmetic question. Reply with the number only, nothing else."
    tail = "Think carefully before answering and double check your work."
    items = [f"{head}\nWhat is {i + 2}+{2 + (i * 3) % 7}?\n{tail}" for i in range(12)]
    ref = write(tmp_path / "g.jsonl", [{"id": f"g{i}", "prompt": p} for i, p in enumerate(items)])
    asks = ["2+2", "2-2", "2*2", "2 + 2", "2/2", "9-2"]
    rows = [{"text": f"{head}\nWhat is {q}?\n{tail}\nLet me think."} for q in asks]
    result = detect(ref, write(tmp_path / "t.jsonl", rows), methods=("exact", "ngram"))
    found = {(m.row, leak.item.id) for leak in result.leaks for m in leak.matches}
    assert found == {(0, "g0"), (3, "g0")}


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        ("Solve for x: 2 + x = 5.", "Solve for x: 2+x=5."),
        ("If 3 - y = 1, what is y?", "If 3-y=1, what is y?"),
        (
            "A recipe uses 3 - x - 4 cups of flour and 2 eggs.",
            "A recipe uses 3-x-4 cups of flour and 2 eggs.",
        ),
    ],
)
def test_algebra_written_without_spaces_is_a_copy(tmp_path: Path, item: str, copy: str) -> None:
    # Found by re-attack: the view of a row with its joined words split kept numbers whole
    # by taking the letter beside each joiner, so in `2+x=5` the `=` after that letter was
    # left joined (`2 x=5`) and the copy matched no method.
    ref = write(tmp_path / "golden.jsonl", [{"id": "g", "prompt": item}])
    result = detect(ref, write(tmp_path / "t.jsonl", [{"text": copy}]))
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
