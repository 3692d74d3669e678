"""--templates: what is left of a record once template text is taken out is its own, read
whole (docs/split.md, "Prompt templates"): a short fragment taken out of a passage does not
cut the passage apart."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from curagate.split import CheckOptions, read_templates, verify_split_files

SPLITS = ("train", "val", "test")


def write_splits(
    tmp_path: Path, splits: tuple[list[dict[str, Any]], ...], template: str
) -> tuple[list[Path], Path]:
    files = []
    for name, rows in zip(SPLITS, splits, strict=True):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        files.append(path)
    named = tmp_path / "templates.txt"
    named.write_text(template + "\n", encoding="utf-8")
    return files, named


def words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(100_000)}" for _ in range(n))


# 30 words of no template, "is" four times in them.
PASSAGE = (
    "our hotel is near the station and the room is small but the view of the harbour is "
    "lovely and the breakfast is served from seven until ten every day"
)


def test_a_template_word_inside_a_passage_of_its_own_does_not_hide_it(tmp_path: Path) -> None:
    """A template with a one-word fragment ("is" of "{name} is {age} years old") was taken out
    of the keys and no n-gram spanned its place: a 30-word passage shared by two test rows and
    a train row, found by the shared-passage check without templates (the engine takes it for
    the test set's own boilerplate: 2 of its 4 items), was cut into pieces under 13 words,
    and the split passed (leaks_total 0)."""
    rng = random.Random(3)

    def with_passage(i: str) -> dict[str, Any]:
        return {"id": i, "text": f"{words(rng, 40)} {PASSAGE} {words(rng, 40)}"}

    train = [{"id": f"t{i}", "text": words(rng, 60)} for i in range(30)] + [with_passage("tx")]
    val = [{"id": f"v{i}", "text": words(rng, 60)} for i in range(4)]
    test = [with_passage("s0"), with_passage("s1")]
    test += [{"id": f"s{i}", "text": words(rng, 60)} for i in (2, 3)]
    files, named = write_splits(tmp_path, (train, val, test), "{name} is {age} years old")
    plain = verify_split_files(*files)
    options = CheckOptions(templates=tuple(read_templates([named])))
    report = verify_split_files(*files, options)
    for found in (plain, report):
        passages = found["shared_passages"]
        assert found["leaks_total"] == 2
        assert passages["pairs"] == 2
        assert {(e["id"], e["in_id"]) for e in passages["examples"]} == {
            ("s0", "tx"),
            ("s1", "tx"),
        }
    # The spans are read off the words with the template text taken out: the passage whole.
    example = report["shared_passages"]["examples"][0]
    assert example["shared_ngrams"] == len(PASSAGE.split()) - 4 - 13 + 1
    assert [s["text"] for s in example["spans"]] == [PASSAGE.replace(" is ", " ")]
