"""--templates: what is left of a record once template text is taken out is its own, read
whole (docs/split.md, "Prompt templates"): a short fragment taken out of a passage does not
cut the passage apart, and a long matched part is read whole, not as the report shows it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
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


def test_a_leak_beyond_the_named_templates_does_not_advise_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A passage of no template shared by a test row and a train row: the message advised
    "or name prompt templates with --templates" to a run that had named them."""
    rng = random.Random(3)
    rows = [{"id": f"t{i}", "text": words(rng, 60), "t": 0} for i in range(30)]
    rows += [{"id": "tx", "text": f"{words(rng, 40)} {PASSAGE} {words(rng, 40)}", "t": 0}]
    rows += [{"id": f"v{i}", "text": words(rng, 60), "t": 1} for i in range(4)]
    rows += [{"id": "s0", "text": f"{words(rng, 40)} {PASSAGE} {words(rng, 40)}", "t": 2}]
    rows += [{"id": f"s{i}", "text": words(rng, 60), "t": 2} for i in range(1, 4)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    named = tmp_path / "templates.txt"
    named.write_text("Answer the question about {topic} below with care.\n", encoding="utf-8")
    argv = ["split", str(data), "--time", "t", "--ratios", "80/10/10", "--fail-on-leak"]
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 1
    err = capsys.readouterr().err
    assert "or name prompt templates with --templates" in err, err
    assert main(["verify", str(tmp_path / "plain")]) == 1
    assert "or name the prompt templates (--templates FILE)" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "named"), "--templates", str(named)]) == 1
    err = capsys.readouterr().err
    assert "name prompt templates" not in err, err
    assert "the text they share goes beyond the named templates (--templates)" in err
    assert "(shared_passages and leakage_scan examples)" in err
    assert main(["verify", str(tmp_path / "named")]) == 1
    err = capsys.readouterr().err
    assert "name the prompt templates" not in err, err
    assert "what they share goes beyond the named templates" in err


LONG = "You are a careful assistant. " + " ".join(
    f"Rule {i}: always be careful and precise about item {i}." for i in range(12)
)


def test_pairs_under_a_long_template_prompt_are_no_copies(tmp_path: Path) -> None:
    """Preference pairs keyed by prompt+responses, every prompt a 656-character named
    template, each pair with answers of its own: the engine found each by its prompt (exact),
    and the matched text, shortened in the middle to 300 characters for the report, held
    pieces of template fragments at the cut, read as the item's own text: 72 "copies", every
    val/test row flagged (the fix for template prompts held only under 300 characters)."""
    rng = random.Random(2)

    def pair(i: str) -> dict[str, Any]:
        return {"id": i, "prompt": LONG, "chosen": words(rng, 20), "rejected": words(rng, 20)}

    splits = (
        [pair(f"t{i}") for i in range(16)],
        [pair(f"v{i}") for i in range(2)],
        [pair(f"s{i}") for i in range(2)],
    )
    files, named = write_splits(tmp_path, splits, LONG)
    options = CheckOptions(templates=tuple(read_templates([named])))
    report = verify_split_files(*files, options, preference_key="prompt+responses")
    assert report["leakage_scan"]["item_text_pairs"] == 0
    assert report["leaks_total"] == 0


T1 = (
    "Read the customer review below. Pay close attention to the tone of every sentence, the "
    "words the writer chose, and whether the complaints outweigh the praise in the end."
)
T2 = (
    "Now decide whether the review is positive or negative. Think about sarcasm, mixed "
    "feelings and faint praise before you answer, and answer with exactly one word please."
)


def test_a_short_item_between_long_template_fragments_quoted_whole_is_a_leak(
    tmp_path: Path,
) -> None:
    """A test prompt (two named template fragments of 169 and 167 characters around a 6-word
    review) quoted whole in a train record: the review was in the middle of the matched
    text, which the report shortens to 300 characters, and not in what was read of it:
    leaks_total 0 with the template named, 1 without."""
    rng = random.Random(4)
    review = "the soup arrived cold and late"

    def templated(i: str, text: str) -> dict[str, Any]:
        return {"id": i, "prompt": f"{T1}\n{text}\n{T2}", "completion": "positive"}

    def plain(i: str) -> dict[str, Any]:
        return {"id": i, "prompt": words(rng, 30), "completion": "ok"}

    train = [templated(f"t{i}", words(rng, 40)) for i in range(20)]
    quote = f"{words(rng, 300)} Example: {T1}\n{review}\n{T2} Answer: negative."
    train.append({"id": "quoter", "prompt": "Summarize this text.", "completion": quote})
    val = [plain(f"v{i}") for i in range(12)]
    test = [templated("s0", review)] + [plain(f"s{i}") for i in range(1, 12)]
    files, named = write_splits(tmp_path, (train, val, test), f"{T1}\n{{review}}\n{T2}")
    options = CheckOptions(templates=tuple(read_templates([named])))
    report = verify_split_files(*files, options)
    scan = report["leakage_scan"]
    assert report["leaks_total"] == 1
    assert scan["item_text_pairs"] == 1
    [example] = scan["examples"]
    assert (example["id"], example["in_id"], example["item_text"]) == ("s0", "quoter", True)
    # The report shows the matched text as `curagate leakage` does, shortened in the middle.
    assert " … " in example["span"] and len(example["span"]) <= 303


TEMPLATE_ONLY = (
    "Read the following customer review very carefully and decide whether the writer "
    "liked the product or not, thinking about tone sarcasm and faint praise before answering"
)


def test_a_near_copy_that_is_a_named_template_alone_is_reported(tmp_path: Path) -> None:
    """A test row that is a named template and nothing else, near copy of a train row (the
    template and one word): the template taken out, it has no text of its own, and reading
    its shared spans was exit 3, KeyError (`split --templates --no-join-near`)."""
    rng = random.Random(5)
    train = [{"id": f"t{i}", "text": words(rng, 40)} for i in range(20)]
    train.append({"id": "tx", "text": f"{TEMPLATE_ONLY} fine"})
    val = [{"id": f"v{i}", "text": words(rng, 40)} for i in range(4)]
    test = [{"id": "s0", "text": TEMPLATE_ONLY}]
    test += [{"id": f"s{i}", "text": words(rng, 40)} for i in (1, 2, 3)]
    files, named = write_splits(tmp_path, (train, val, test), TEMPLATE_ONLY + " {review}")
    options = CheckOptions(templates=tuple(read_templates([named])))
    report = verify_split_files(*files, options)
    [example] = report["near_copies"]["examples"]
    assert (example["id"], example["in_id"]) == ("s0", "tx")
    assert example["shared_ngrams"] == 0
    assert example["spans"] == []
    assert report["leaks_total"] == 1


NBSP_TEMPLATE = (
    "Read the product review below and answer with one word, positive or negative, "
    "after weighing every sentence of it with care"
)


def test_a_template_written_with_no_break_spaces_is_taken_out(tmp_path: Path) -> None:
    """Rows whose template text has no-break spaces (U+00A0, as pasted from a web page)
    between its words, in the template file too: the leakage scan's patterns read any
    whitespace as ASCII's (RE2's \\s), so the template stayed in the rows and every val/test
    row of it was a leak of the train rows of it, though the template was named (the check
    of the matched text, Python's \\s, took it out)."""
    rng = random.Random(6)
    template = NBSP_TEMPLATE.replace(" ", "\u00a0")

    def templated(i: str) -> dict[str, Any]:
        return {"id": i, "prompt": f"{template}\n{words(rng, 12)}", "completion": "positive"}

    def plain(i: str) -> dict[str, Any]:
        return {"id": i, "prompt": words(rng, 30), "completion": "ok"}

    splits = (
        [templated(f"t{i}") for i in range(16)],
        [plain(f"v{i}") for i in range(12)],
        [templated("s0")] + [plain(f"s{i}") for i in range(1, 12)],
    )
    files, named = write_splits(tmp_path, splits, template + "\n{review}")
    options = CheckOptions(templates=tuple(read_templates([named])))
    assert verify_split_files(*files)["leaks_total"] == 1
    report = verify_split_files(*files, options)
    assert report["leakage_scan"]["pairs"] == 0
    assert report["leaks_total"] == 0
