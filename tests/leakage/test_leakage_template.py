"""A golden set's own template is no evidence of a leak.

Found by attack: golden_sets/gsm8k_math ends each of its 200 items with the same
instruction ("Solve step by step, then give the final number on the last line as
'#### <number>'."). Its own 13-grams are shared by every item (boilerplate, left out),
but one reaching across its edge (a question's last word, then the suffix's first
twelve) is in a few items only: the other 1119 GSM8K test questions written with the
same suffix were 130 leaked items, 434 records. So were short items by the span
criterion (their last words plus the suffix made the run). Text the set shares across
its items is its template: an n-gram holding a template word is not indexed, and the
span criterion counts the item's own words only.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from curagate.leakage import detect

SUFFIX = "\nSolve step by step, then give the final number on the last line as '#### <number>'."
ENDINGS = [
    "How many does she have now?",
    "How many are left?",
    "How much money did he spend?",
    "How many did they give away in total?",
]


def question(rng: random.Random) -> str:
    """Words of its own (none shared with another question but by chance), then one of a
    few endings questions share, as GSM8K's do ("How many ... does she have left?")."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(3, 8))) for _ in range(rng.randint(14, 26))]
    return " ".join(words).capitalize() + ". " + rng.choice(ENDINGS)


def short_question(rng: random.Random, k: int) -> str:
    return f"What is {k} plus {k * 3 + 1}?"  # under 8 words: the span rule's whole item


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    rng = random.Random(7)
    golden = [question(rng) for _ in range(24)] + [short_question(rng, k) for k in range(6)]
    clean = [question(rng) for _ in range(60)]
    clean += [short_question(rng, k) for k in range(100, 120)]
    assert not set(golden) & set(clean)
    ref = tmp_path / "golden.jsonl"
    ref.write_text("".join(json.dumps({"question": q + SUFFIX}) + "\n" for q in golden))
    return ref, golden, clean


def write(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": t, "completion": "42"}) + "\n" for t in texts))
    return path


def test_clean_rows_with_the_golden_sets_suffix_are_not_leaks(
    tmp_path: Path, sets: tuple[Path, list[str], list[str]]
) -> None:
    ref, _, clean = sets
    corpus = write(tmp_path / "clean.jsonl", [q + SUFFIX for q in clean])
    result = detect(ref, corpus)
    assert result.leaks == []
    # The template's n-grams are counted as left out, not as the item's.
    assert all(i.common_ngrams > 0 for i in result.items if i.words >= 13)


def test_golden_items_with_or_without_the_suffix_are_still_found(
    tmp_path: Path, sets: tuple[Path, list[str], list[str]]
) -> None:
    ref, golden, clean = sets
    long = golden[:24]
    plants = {
        "whole": [q + SUFFIX for q in long],
        "question only": long,
        "wrapped": [f"Question: {q}\nAnswer: let me think." for q in long],
        "truncated": [" ".join(q.split()[: len(q.split()) * 3 // 5]) for q in long],
        "upper": [q.upper() + SUFFIX for q in long],
    }
    for kind, texts in plants.items():
        corpus = write(tmp_path / f"{kind}.jsonl", [clean[0] + SUFFIX, *texts])
        result = detect(ref, corpus)
        found = {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}
        assert found == {(k + 1, k) for k in range(len(texts))}, kind
    # A short item is still found whole (exact), suffix and all.
    corpus = write(tmp_path / "short.jsonl", [golden[24] + SUFFIX])
    assert [leak.item.row for leak in detect(ref, corpus).leaks] == [24]
