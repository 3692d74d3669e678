"""The leakage scan of split with and without --templates: which finds hold an item's own
text (split_pairs.covers_item_text), and rows the scan reads whatever their other columns
hold (docs/split.md, "Prompt templates")."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.split import CheckOptions, verify_split_files
from tests.split.reviews import TEMPLATE, review_items

BIG_US = 253402300800_000000 + 10**12  # microseconds since 1970: past the year 9999


def _words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(20000)}x" for _ in range(n))


@pytest.mark.parametrize(
    "column",
    [
        pa.array([BIG_US], pa.timestamp("us")),
        pa.array([BIG_US // 1000], pa.date64()),
        pa.array([10**15], pa.duration("s")),
        pa.array([[{"when": BIG_US}]], pa.list_(pa.struct([("when", pa.timestamp("us"))]))),
    ],
    ids=["timestamp", "date64", "duration", "nested"],
)
def test_a_find_in_rows_holding_values_python_cannot_hold(tmp_path: Path, column: pa.Array) -> None:
    """The scan's find was read back with to_pylist of the whole item row: a year-10000
    date or a duration of 10**15 s in any column raised OverflowError (exit 3 in split)."""
    rng = random.Random(0)
    texts = [_words(rng, 12) for _ in range(12)]
    copied = texts[10]
    parts = {"train": [*texts[:8], copied], "val": texts[8:10], "test": texts[10:]}
    files = []
    for name, rows in parts.items():
        values = pa.concat_arrays([column] * len(rows))
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"text": rows, "extra": values}), path)
        files.append(path)
    report = verify_split_files(*files, CheckOptions())
    assert report["leaks_total"] == 1


DAY_10000 = 2932897 + 1  # days since 1970: in the year 10000


@pytest.mark.parametrize(
    "column",
    [
        pa.array([19000 + i for i in range(29)] + [DAY_10000], pa.date32()),
        pa.array(
            [(19000 + i) * 86_400_000 for i in range(29)] + [DAY_10000 * 86_400_000], pa.date64()
        ),
        pa.array([*range(29), 10**15], pa.duration("s")),
        pa.array(
            [{"when": (19000 + i) * 86_400 * 10**6} for i in range(29)] + [{"when": BIG_US}],
            pa.struct([("when", pa.timestamp("us"))]),
        ),
    ],
    ids=["date32", "date64", "duration", "struct"],
)
@pytest.mark.parametrize("option", ["--time", "--group", "--label"])
def test_split_by_a_column_python_cannot_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: pa.Array, option: str
) -> None:
    """--time/--group/--label on a date past the year 9999, a duration of 10**15 s or a struct
    holding such a timestamp: exit 3 (OverflowError in to_pylist). A date is a time as its
    midnight, a duration or a struct no time (exit 2, naming the column); as a group or a
    label each is one value per row."""
    from curagate.cli import main

    texts = [f"distinct row number {i} with its own words {i * 7}" for i in range(30)]
    src = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": texts, "c": column}), src)
    out = tmp_path / "out"
    code = main(["split", str(src), "--out", str(out), option, "c", "--ratios", "80/10/10"])
    err = capsys.readouterr().err
    if option == "--time" and not pa.types.is_date(column.type):
        assert code == 2, err
        assert "'c'" in err and "use numbers or ISO-8601 times" in err
        return
    assert code == 0, err
    rows = {s: pq.read_table(out / f"{s}.parquet") for s in ("train", "val", "test")}
    assert sum(t.num_rows for t in rows.values()) == 30
    if option == "--time":
        # the year-10000 row is the latest: in test
        assert texts[-1] in rows["test"].column("text").to_pylist()


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


SYLLABLES = ["ka", "lo", "mi", "ru", "te", "zan", "pol", "vek", "dar", "six", "mor", "tal"]


def _quoted_preferences(tmp_path: Path, disguise: Callable[[str], str]) -> list[Path]:
    """Preference items of TEMPLATE and a 6-word review; one train record quotes test item
    t0's prompt whole, written as ``disguise`` makes it, in its `chosen` answer."""
    rng = random.Random(1)

    def words(n: int) -> str:
        return " ".join("".join(rng.choice(SYLLABLES) for _ in range(4)) for _ in range(n))

    train, val, test = review_items(words)
    quote = "Sure. The question was: " + disguise(str(test[0]["prompt"])) + " My answer: yes."
    train.append({"id": "quoter", "prompt": words(15), "chosen": quote, "rejected": "no"})
    return [
        _write_jsonl(tmp_path / f"{n}.jsonl", r)
        for n, r in (("train", train), ("val", val), ("test", test))
    ]


@pytest.mark.parametrize(
    "disguise",
    [
        lambda t: t.translate(str.maketrans({"a": "\u0430", "o": "\u043e", "e": "\u0435"})),
        lambda t: t.translate(str.maketrans({"a": "\u00e1", "e": "\u00e9"})),
        lambda t: t.replace("a", "a\u0301"),  # composes under NFKC
        lambda t: t.replace("x", "x\u0301"),  # composes with nothing
    ],
    ids=["cyrillic", "accented", "combining", "combining-alone"],
)
def test_a_disguised_copy_of_an_item_is_a_leak_whatever_the_templates(
    tmp_path: Path, disguise: Callable[[str], str]
) -> None:
    """The engine folds look-alike letters and accents and finds the quote; with the
    template named, the words were compared NFKC and case folded only (Cyrillic U+0430 is not
    a), the find was taken for template text and dropped: the copy passed."""
    files = _quoted_preferences(tmp_path, disguise)
    for templates in ((), tuple(read_templates_text(TEMPLATE))):
        report = verify_split_files(*files, CheckOptions(templates=templates))
        scan = report["leakage_scan"]
        assert report["leaks_total"] == 1, templates
        assert [(e["id"], e["in_id"]) for e in scan["examples"]] == [("t0", "quoter")]


def read_templates_text(text: str) -> list[str]:
    from curagate.split import template_fragments

    return list(template_fragments(text + "\n"))


def _pseudo_words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(4)) for _ in range(n))


def _files(tmp_path: Path, parts: dict[str, list[dict[str, object]]]) -> list[Path]:
    return [_write_jsonl(tmp_path / f"{n}.jsonl", parts[n]) for n in ("train", "val", "test")]


def _found_copy_of_r200_in_r1000(
    tmp_path: Path, parts: dict[str, Any], templates: tuple[str, ...], copied: bool
) -> dict[str, Any] | None:
    """The verdict on ``parts``' split files: one leak, test's r200 in train's r1000, where
    ``copied``; none else. The example, or None."""
    report = verify_split_files(*_files(tmp_path, parts), CheckOptions(templates=templates))
    assert report["leaks_total"] == (1 if copied else 0)
    if not copied:
        return None
    [example] = report["leakage_scan"]["examples"]
    assert (example["id"], example["in_id"]) == ("r200", "r1000")
    return dict(example)


@pytest.mark.parametrize("copied", [False, True])
def test_chat_rows_sharing_only_named_system_prompts(tmp_path: Path, copied: bool) -> None:
    """The turns' role names (``system``, ``user``) counted as the item's own text, and lay
    inside every span that matched a system prompt: with the system prompts named as
    templates every pair was still a copy (leaks_total 16 of 16 items). A user turn quoted
    whole is still one."""
    rng = random.Random(3)
    systems = [f"You are a helpful helper. Task {k}: " + _pseudo_words(rng, 40) for k in range(8)]

    def item(i: int, k: int) -> dict[str, object]:
        turns = [("system", systems[k]), ("user", _pseudo_words(rng, 40))]
        turns.append(("assistant", _pseudo_words(rng, 5)))
        return {"id": f"r{i}", "messages": [{"role": r, "content": c} for r, c in turns]}

    parts = {
        "train": [item(1000 + 10 * k + j, k) for k in range(8) for j in range(3)],
        "val": [item(100 + k, k) for k in range(8)],
        "test": [item(200 + k, k) for k in range(8)],
    }
    if copied:
        quoted = parts["test"][0]["messages"][1]["content"]  # type: ignore[index]
        parts["train"][0]["messages"][1]["content"] = f"Earlier you said: {quoted}"  # type: ignore[index]
    templates = tuple(read_templates_text("\n\n".join(systems)))
    _found_copy_of_r200_in_r1000(tmp_path, parts, templates, copied)


@pytest.mark.parametrize("copied", [False, True])
def test_a_short_answer_of_template_words_is_not_the_items_own_text(
    tmp_path: Path, copied: bool
) -> None:
    """FLAN-style items whose answer (``positive``/``negative``) is a word of the template:
    the answer's words lay inside every span matching the template, so every pair sharing
    one was taken for a copy (leaks_total 16). A review quoted whole is still one."""
    rng = random.Random(3)
    tasks = [
        f"Task {k}: "
        + _pseudo_words(rng, 40)
        + " Is this review positive or negative?\nText: {review}\nAnswer:"
        for k in range(8)
    ]

    def item(i: int, k: int, answer: str) -> dict[str, object]:
        prompt = tasks[k].replace("{review}", _pseudo_words(rng, 40))
        return {"id": f"r{i}", "prompt": prompt, "completion": answer}

    parts = {
        "train": [
            item(1000 + 10 * k + j, k, rng.choice(["positive", "negative"]))
            for k in range(8)
            for j in range(3)
        ],
        "val": [item(100 + k, k, "positive") for k in range(8)],
        "test": [item(200 + k, k, "negative") for k in range(8)],
    }
    if copied:
        parts["train"][0]["completion"] = "As asked before: " + str(parts["test"][0]["prompt"])
    templates = tuple(read_templates_text("\n\n".join(tasks)))
    _found_copy_of_r200_in_r1000(tmp_path, parts, templates, copied)


@pytest.mark.parametrize("copied", [False, True])
def test_an_item_whose_own_words_are_all_template_words_is_a_copy_when_quoted_whole(
    tmp_path: Path, copied: bool
) -> None:
    """A test item of a template and the 4-word review "the movie is good", every word of
    which the template holds, quoted whole in a train record: once the template was taken
    out it was 4 words, under every rule of the engine, and the find of the rows as they
    are was dropped as template text alone (found by re-attack: split and verify passed
    while `curagate leakage` found it). Records sharing only the template are still none."""
    rng = random.Random(5)
    template = "Does the reviewer think the movie is good? Review: {review}\nAnswer:"

    def item(i: int, review: str) -> dict[str, object]:
        return {"id": f"r{i}", "prompt": template.replace("{review}", review), "completion": "yes"}

    parts = {
        "train": [item(1000 + j, _pseudo_words(rng, 8)) for j in range(20)],
        "val": [item(100 + j, _pseudo_words(rng, 8)) for j in range(5)],
        "test": [item(200, "the movie is good")]
        + [item(201 + j, _pseudo_words(rng, 8)) for j in range(4)],
    }
    if copied:
        quoted = f"{parts['test'][0]['prompt']} yes"
        parts["train"][0]["context"] = (
            f"{_pseudo_words(rng, 200)} {quoted} {_pseudo_words(rng, 200)}"
        )
    templates = tuple(read_templates_text(template.replace("{review}", "{{review}}")))
    example = _found_copy_of_r200_in_r1000(tmp_path, parts, templates, copied)
    assert example is None or example["item_text"] is True
