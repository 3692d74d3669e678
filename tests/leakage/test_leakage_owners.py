"""The boilerplate limit (``max_ngram_items``) counts golden items, not reference rows.

Found by a re-attack on the gate: its contamination scan looks for a conversation item
by several rows under the item's id (its rendering, its last user turn, its user turns
joined; ``gate.runner._as_read``), and the index counted each row as an item. An
instruction shared by 4 conversation items counted as 12 and became the set's template,
so a verbatim leak of an item was found by nothing but its own run, and a record holding
the instruction (which docs/gate.md says still matches an instruction shared by 10 items
or fewer) by nothing at all. Rows of one file under one id are one item now.
"""

from __future__ import annotations

import json
from pathlib import Path

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


def conversation_set(tmp_path: Path, items: int) -> Path:
    """A gate set of conversation items, read as the gate's contamination scan reads it:
    each item's rendering, last user turn and user turns joined, under its id."""
    path = tmp_path / f"golden{items}.jsonl"
    rows = [
        {
            "id": f"geo-{k}",
            "messages": [
                {"role": "user", "content": "Hi there."},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": f"{INSTRUCTION} {question(country)}"},
            ],
            "completion": "a city",
        }
        for k, country in enumerate(COUNTRIES[:items])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    owners: dict[str, list[int]] = {}
    read = _as_read(path, tmp_path / f"read{items}", owners)
    assert len(owners[str(read)]) == 3 * items  # three rows per item
    return read


def corpus(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "completion": "Lima"}) + "\n" for p in rows))
    return path


def test_an_instruction_of_4_conversation_items_is_evidence_not_template(
    tmp_path: Path,
) -> None:
    golden = conversation_set(tmp_path, 4)
    train = corpus(
        tmp_path,
        [
            f"{INSTRUCTION} {question('Peru')}",  # item 0, verbatim
            f"{INSTRUCTION} What is the tallest mountain of Peru?",  # the instruction
            "Write a haiku about the sea at night.",
        ],
    )
    result = detect(golden, train, methods=("exact", "ngram"))
    matches = {(m.row, leak.item.id): m for leak in result.leaks for m in leak.matches}
    # The verbatim leak is found by the instruction's n-grams (before: by its own run
    # alone, shared_ngrams 0), and every item reports none of them as boilerplate.
    assert matches[(0, "geo-0")].shared_ngrams >= 3
    assert all(item.common_ngrams == 0 for item in result.items if item.id.startswith("geo"))
    # An instruction shared by 10 items or fewer still matches (docs/gate.md): the row
    # holding it leaks the 4 items (before: none).
    assert {i for r, i in matches if r == 1} == {f"geo-{k}" for k in range(4)}
    assert {r for r, _ in matches} == {0, 1}


def test_an_instruction_of_11_conversation_items_is_still_template(tmp_path: Path) -> None:
    golden = conversation_set(tmp_path, 11)
    train = corpus(
        tmp_path,
        [
            f"{INSTRUCTION} {question('Peru')}",  # item 0, verbatim: its own run
            f"{INSTRUCTION} What is the tallest mountain of Peru?",  # clean
            INSTRUCTION,  # clean
        ],
    )
    result = detect(golden, train, methods=("exact", "ngram"))
    found = {(m.row, leak.item.id) for leak in result.leaks for m in leak.matches}
    assert found == {(0, "geo-0")}
