"""A reference item is also looked for by other spellings of it (docs/leakage.md, "other
spellings"): its operators spaced or joined (`2x+3=11` / `2x + 3 = 11`), its numbering or
variant tag split off, dropped or written another way (`a.Which`, `Q1.` / `1)`), its
superscripts and fractions (`x²` / `x^2`, `¾` / `3/4`).

Changing the core's reading of numbers and tags to meet both spellings lost copies found
before (a text's new reading differed from its old one on one side of a pair: reverted);
the views only add readings: each is an item of the row's owner, the item's own reading is
kept, and variants `(a)`, `(b)` of one text stay apart.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from curagate.leakage import LeakageIndex, detect
from curagate.leakage.views import PARTS


def _found(tmp_path: Path, items: list[str], rows: list[str]) -> dict[int, list[str]]:
    """Corpus row -> the ids of the reference items found in it."""
    ref = tmp_path / "golden.jsonl"
    ref.write_text(
        "".join(
            json.dumps({"id": f"i{k}", "prompt": t}, ensure_ascii=False) + "\n"
            for k, t in enumerate(items)
        ),
        encoding="utf-8",
    )
    corpus = tmp_path / "train.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in rows),
        encoding="utf-8",
    )
    found: dict[int, list[str]] = {}
    for leak in detect(ref, corpus).leaks:
        for m in leak.matches:
            found.setdefault(m.row, []).append(leak.item.id)
    return found


def test_an_item_with_its_operators_joined_is_found_spaced(tmp_path: Path) -> None:
    found = _found(tmp_path, ["Solve 2x+3=11 for x."], ["Solve 2x + 3 = 11 for x."])
    assert found == {0: ["i0"]}


@pytest.mark.parametrize(
    "copy",
    ["a. Which planet is largest?", "Which planet is largest?"],
)
def test_an_item_with_a_glued_tag_is_found_with_it_split_off_or_dropped(
    tmp_path: Path, copy: str
) -> None:
    items = ["a.Which planet is largest?", "b.Which planet is smallest?"]
    assert _found(tmp_path, items, [copy]) == {0: ["i0"]}


@pytest.mark.parametrize(
    "copy", ["1) What is the capital?", "What is the capital?", "Question 1: What is the capital?"]
)
def test_a_numbered_item_is_found_under_another_numbering_or_none(
    tmp_path: Path, copy: str
) -> None:
    assert _found(tmp_path, ["Q1. What is the capital?"], [copy]) == {0: ["i0"]}


def test_variants_told_by_their_tag_stay_apart(tmp_path: Path) -> None:
    """Dropped, the tags of `(a)` and `(b)` would leave one text: theirs are kept."""
    items = ["(a) Which planet is largest?", "(b) Which planet is largest?"]
    rows = ["(a) Which planet is largest?", "(b) Which planet is largest?"]
    assert _found(tmp_path, items, rows) == {0: ["i0"], 1: ["i1"]}
    index = LeakageIndex.build(tmp_path / "golden.jsonl")
    assert not [i for i in index.prompt_items if i.part == "untagged"]


@pytest.mark.parametrize(
    ("item", "copy"),
    [
        ("What is x² + 2¹⁰?", "What is x^2 + 2^10?"),
        ("What is 2^{10} + 7?", "What is 2^10 + 7?"),
        ("Add ¾ cup of flour to 2 eggs", "Add 3/4 cup of flour to 2 eggs"),
    ],
)
def test_superscripts_and_fractions_are_found_written_plain(
    tmp_path: Path, item: str, copy: str
) -> None:
    assert _found(tmp_path, [item], [copy]) == {0: ["i0"]}


def test_views_are_one_item_and_only_for_texts_that_have_them(tmp_path: Path) -> None:
    ref = tmp_path / "golden.jsonl"
    ref.write_text(
        json.dumps({"id": "q", "prompt": "Solve 2x+3=11 for x."})
        + "\n"
        + json.dumps({"id": "p", "prompt": "Name a planet with rings."})
        + "\n",
        encoding="utf-8",
    )
    index = LeakageIndex.build(ref)
    assert [i.id for i in index.row_items] == ["q", "p"]
    views = [i for i in index.prompt_items if i.part != "prompt"]
    assert [(i.id, i.part, i.text) for i in views] == [
        ("q", "operators spaced", "Solve 2x + 3 = 11 for x.")
    ]
    assert {index.row_item(i.index) for i in views} == {0}
    corpus = tmp_path / "train.jsonl"
    corpus.write_text(
        json.dumps({"text": "Solve 2x + 3 = 11 for x."})
        + "\n"
        + json.dumps({"text": "Solve 2x+3=11 for x."})
        + "\n",
        encoding="utf-8",
    )
    result = detect(ref, corpus)
    assert result.leaked_reference_items == 1
    assert {leak.item.id for leak in result.leaks} == {"q"}


def test_the_schema_names_every_views_part() -> None:
    schema = json.loads(
        resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    )
    assert set(PARTS) <= set(schema["$defs"]["item"]["properties"]["part"]["enum"])
