"""The boilerplate limit (``max_ngram_items``) counts golden items, not reference rows.

Found by a re-attack on the gate: its contamination scan looks for a conversation item
by several rows (its rendering, its last user turn, its user turns joined;
``gate.runner._as_read``), and the index counted each row as an item. An instruction
shared by 4 conversation items of a large set counted as 12 and became the set's
template, so a record holding it (which docs/gate.md says still matches an instruction
shared by 10 items or fewer, under a quarter of the set's) matched nothing. The gate names
the rows of one item (``reference_item_rows``); every other reference row is an item of its
own, whatever its id (tests/leakage/test_leakage_small_sets.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.gate.runner import _as_read
from curagate.leakage import detect

# 15 words, shared by every item; each item's own question is under 8 words.
INSTRUCTION = (
    "Answer the following question about world geography using one short phrase and no "
    "extra explanation."
)
COUNTRIES = ["Peru", "Chile", "Kenya", "Norway", "Japan", "Egypt", "Spain", "Canada"]
COUNTRIES += ["Brazil", "India", "Ghana", "Mexico"]


def question(country: str) -> str:
    return f"What is the capital of {country}?"


# Questions of 8 words or more, each its own (the set's capitals differ in one word).
OWN_QUESTIONS = [
    "Which mountain range runs along the western edge of Peru?",
    "What desert in the north of Chile is among the driest places?",
    "Which lake on the border of Kenya is the largest in Africa?",
    "What are the long narrow sea inlets along the coast of Norway called?",
]


def conversation_set(
    tmp_path: Path, items: int, instructed: int | None = None, asks: list[str] | None = None
) -> tuple[Path, dict[str, list[int]]]:
    """A gate set of conversation items, read as the gate's contamination scan reads it:
    each item's rendering, last user turn and user turns joined, and which item each row
    is. The first ``instructed`` items (all by default) ask with the instruction, item k
    ``asks[k]`` (default: the capital of a country)."""
    path = tmp_path / f"golden{items}.jsonl"
    instructed = items if instructed is None else instructed
    asks = asks or [question(country) for country in (COUNTRIES * 4)[:items]]
    rows = [
        {
            "id": f"geo-{k}",
            "messages": [
                {"role": "user", "content": "Hi there."},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {
                    "role": "user",
                    "content": f"{INSTRUCTION} {asks[k]}"
                    if k < instructed
                    else f"Name a river that flows through the region numbered {k} today.",
                },
            ],
            "completion": "a city",
        }
        for k in range(items)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    owners: dict[str, list[int]] = {}
    read = _as_read(path, tmp_path / f"read{items}", owners)
    assert len(owners[str(read)]) == 3 * items  # three rows per item
    return read, owners


def corpus(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "completion": "Lima"}) + "\n" for p in rows))
    return path


def test_an_instruction_of_4_of_40_conversation_items_is_evidence_not_template(
    tmp_path: Path,
) -> None:
    golden, owners = conversation_set(tmp_path, 40, instructed=4)
    train = corpus(
        tmp_path,
        [
            f"{INSTRUCTION} {question('Peru')}",  # item 0, verbatim
            f"{INSTRUCTION} What is the tallest mountain of Peru?",  # the instruction
            "Write a haiku about the sea at night.",
        ],
    )
    result = detect(golden, train, methods=("exact", "ngram"), reference_item_rows=owners)
    matches = {(m.row, leak.item.id): m for leak in result.leaks for m in leak.matches}
    # The verbatim leak is found by the instruction's n-grams (before: by its own run
    # alone, shared_ngrams 0), and no item's last user turn reports any of them as
    # boilerplate (the greeting every rendering opens with is).
    assert matches[(0, "geo-0")].shared_ngrams >= 3
    turns = [item for item in result.items if item.text.startswith(INSTRUCTION)]
    assert len(turns) == 4 and all(item.common_ngrams == 0 for item in turns)
    # An instruction shared by 10 items or fewer, under a quarter of the set's, still
    # matches (docs/gate.md): the row holding it leaks the 4 items (before: none).
    assert {i for r, i in matches if r == 1} == {f"geo-{k}" for k in range(4)}
    assert {r for r, _ in matches} == {0, 1}
    # Without the gate's owners its 12 rows are 12 items: template.
    rows = detect(golden, train, methods=("exact", "ngram"))
    assert {(m.row, leak.item.id) for leak in rows.leaks for m in leak.matches} == {(0, "geo-0")}


@pytest.mark.parametrize("items", [4, 11])
def test_an_instruction_of_every_conversation_item_is_template(tmp_path: Path, items: int) -> None:
    # 11 items: more than the limit; 4 items: all of the set's (a quarter or more), each
    # with a question of its own (of the capitals' one word, the 4-item set's instruction
    # is their evidence: below).
    asks = OWN_QUESTIONS if items == 4 else None
    golden, owners = conversation_set(tmp_path, items, asks=asks)
    first = asks[0] if asks else question("Peru")
    train = corpus(
        tmp_path,
        [
            f"{INSTRUCTION} {first}",  # item 0, verbatim: its own words (or own run)
            f"{INSTRUCTION} What is the tallest mountain of Peru?",  # clean
            INSTRUCTION,  # clean
        ],
    )
    result = detect(golden, train, methods=("exact", "ngram"), reference_item_rows=owners)
    found = {(m.row, leak.item.id) for leak in result.leaks for m in leak.matches}
    assert found == {(0, "geo-0")}


def test_an_instruction_of_4_items_that_differ_in_one_word_is_their_template(
    tmp_path: Path,
) -> None:
    """Four conversation items, the instruction then "What is the capital of <country>?":
    each has one word of its own, too few for an n-gram, but the instruction, in all four
    (three items or more), is the set's format, as with 11 such items (above), not their
    evidence as the text of two near copies is (tests/leakage/test_leakage_small_sets.py).
    A row with the instruction leaks none (found by attack: a few-shot block flagged every
    clean row written with it); a copy of an item is found by its own run."""
    golden, owners = conversation_set(tmp_path, 4)
    train = corpus(
        tmp_path,
        [
            f"{INSTRUCTION} {question('Peru')}",
            f"{INSTRUCTION} What is the tallest mountain of Peru?",
            INSTRUCTION,
        ],
    )
    result = detect(golden, train, methods=("exact", "ngram"), reference_item_rows=owners)
    found = {(m.row, leak.item.id) for leak in result.leaks for m in leak.matches}
    assert found == {(0, "geo-0")}
    exact = {leak.item.id for leak in result.leaks for m in leak.matches if "exact" in m.methods}
    assert exact == {"geo-0"}
