"""--templates and the leakage engine's scan: template text is not evidence, a copy of an
item is, whatever the templates (docs/split.md, "Prompt templates")."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from curagate.cli import main
from curagate.errors import ConfigError, InputError
from curagate.split import CheckOptions, read_templates, verify_split_files, verify_splits
from curagate.split_pairs import without_templates
from tests.split.reviews import TEMPLATE, review_items


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def preference_data(tmp_path: Path) -> tuple[list[dict[str, Any]], ...]:
    """Items of the template and a 6-word review; one train record quotes test item t0's
    prompt whole in its `chosen` answer."""
    rng = random.Random(1)
    vocab = [f"v{i}x" for i in range(20000)]

    def words(n: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(n))

    train, val, test = review_items(words)
    quote = "Sure. The question was: " + str(test[0]["prompt"]) + " My answer: yes, clearly."
    train.append({"id": "quoter", "prompt": words(15), "chosen": quote, "rejected": words(10)})
    (tmp_path / "templates.txt").write_text(TEMPLATE + "\n", encoding="utf-8")
    return train, val, test


def test_an_item_copied_whole_is_a_leak_whatever_the_templates(tmp_path: Path) -> None:
    """With the template named it was taken out of every string: the test item was its
    6-word review, under every rule of the engine, and the copy passed (leaks_total 0)."""
    train, val, test = preference_data(tmp_path)
    files = [
        write_jsonl(tmp_path / f"{n}.jsonl", r)
        for n, r in zip("abc", (train, val, test), strict=True)
    ]
    fragments = tuple(read_templates([tmp_path / "templates.txt"]))
    for options in (CheckOptions(), CheckOptions(templates=fragments)):
        report = verify_split_files(*files, options)
        scan = report["leakage_scan"]
        assert report["leaks_total"] == 1, options
        assert [(e["id"], e["in_id"]) for e in scan["examples"]] == [("t0", "quoter")]
    assert scan["item_text_pairs"] == 1
    assert scan["examples"][0]["item_text"] is True


def test_records_sharing_only_a_named_template_are_still_no_leak(tmp_path: Path) -> None:
    """The scan of the rows as they are finds every pair sharing the template; only a pair
    whose record holds the item's own words is kept."""
    train, val, test = preference_data(tmp_path)
    train = [r for r in train if r["id"] != "quoter"]
    files = [
        write_jsonl(tmp_path / f"{n}.jsonl", r)
        for n, r in zip("abc", (train, val, test), strict=True)
    ]
    fragments = tuple(read_templates([tmp_path / "templates.txt"]))
    report = verify_split_files(*files, CheckOptions(templates=fragments))
    assert report["leaks_total"] == 0


@pytest.mark.slow
def test_verify_of_a_copy_names_it_and_does_not_advise_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify printed "(by ngram, 0% of it)" for an item copied whole (the engine's n-gram
    ratio, 0 for an item found by its words), and advised naming the templates, which
    then hid it."""
    train, val, test = preference_data(tmp_path)
    rows = [dict(r, t=-1 if r["id"] == "quoter" else 0) for r in train]
    rows += [dict(r, t=1) for r in val] + [dict(r, t=2) for r in test]
    data = write_jsonl(tmp_path / "all.jsonl", rows)
    out = tmp_path / "out"
    argv = ["split", str(data), "--out", str(out), "--time", "t", "--ratios", "50/25/25"]
    argv += ["--templates", str(tmp_path / "templates.txt"), "--fail-on-leak"]
    argv += ["--shared-passages", "ignore"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--templates does not clear" in err
    assert "name prompt templates" not in err
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "test.parquet id 't0' found inside train.parquet id 'quoter'" in err, err
    assert "the item's own text whole" in err
    assert "0%" not in err
    assert "--templates FILE" not in err


def test_records_that_are_only_template_text_split(tmp_path: Path) -> None:
    """Every record one of the template's lines: nothing is left of the val/test rows once
    the templates are out, and the scan was exit 2, an error naming its temporary files and
    advising golden-set options. Such rows hold nothing to leak."""
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    names += ["india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
    lines = [f"Instruction number {w} tells the model to behave in style {w}." for w in names]
    data = write_jsonl(
        tmp_path / "d.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(lines)]
    )
    templates = tmp_path / "templates.txt"
    templates.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    for join in ("warn", "join"):
        out = tmp_path / join
        argv = ["split", str(data), "--out", str(out), "--templates", str(templates)]
        assert main([*argv, "--shared-passages", join, "--fail-on-leak"]) == 0


@pytest.mark.parametrize(
    "records",
    [
        [pa.table({"text": [None] * 5}), pa.table({"text": [None]}), pa.table({"text": [None]})],
        [pa.table({"n": list(range(5))}), pa.table({"n": [1]}), pa.table({"n": [2]})],
        [pa.table({"text": ["  "] * 5}), pa.table({"text": [""]}), pa.table({"text": [" "]})],
    ],
)
def test_verify_splits_of_records_without_text_is_a_clear_error(records: list[pa.Table]) -> None:
    """An error naming the scan's temporary files and advising golden-set options."""
    keys = [[f"train text number {i} with several words in it" for i in range(5)]]
    keys += [["val text alpha words here"], ["test text beta words here"]]
    ids = [[f"a{i}" for i in range(5)], ["v"], ["t"]]
    with pytest.raises(ConfigError, match=r"records_by_split\[1\] \(val\) holds no text") as e:
        verify_splits(keys, ids, records_by_split=records)
    assert "curagate-split-check" not in str(e.value)


def test_verify_splits_records_of_the_wrong_kind_are_a_clear_error() -> None:
    keys = [["a b c d e f"], ["g h i j k l"], ["m n o p q r"]]
    ids = [["a"], ["b"], ["c"]]
    with pytest.raises(ConfigError, match=r"records_by_split\[0\] is a list, not a pyarrow"):
        verify_splits(keys, ids, records_by_split=keys)  # type: ignore[arg-type]
    records = [pa.table({"id": k}) for k in keys]  # no column the engine reads as text
    with pytest.raises(
        InputError, match=r"scan of .* failed: the (val|test) split: cannot tell"
    ) as e:
        verify_splits(keys, ids, records_by_split=records)
    assert "curagate-split-check" not in str(e.value)


@pytest.mark.slow
def test_a_template_fragment_over_the_regex_bound_is_taken_out(tmp_path: Path) -> None:
    """One fragment longer than RE2's bound (a long few-shot prompt on one line, no
    placeholder to cut it) was exit 3, "pattern too large"."""
    rng = random.Random(0)
    vocab = [f"word{i}" for i in range(5000)]
    long_line = " ".join(rng.choice(vocab) for _ in range(60_000))  # ~530,000 characters
    long_word = "x" * 30_000  # no whitespace at all
    fragments = [f"{long_line} {long_word}"]
    table = pa.table({"text": [f"{long_line} {long_word} the filled in value", "other words"]})
    stripped = without_templates(table, fragments).column("text").to_pylist()
    assert [" ".join(t.split()) for t in stripped] == ["the filled in value", "other words"]
    rows = [
        {"id": f"r{i}", "prompt": " ".join(rng.choice(vocab) for _ in range(20))} for i in range(60)
    ]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    templates = tmp_path / "templates.txt"
    templates.write_text(fragments[0] + " {question}\n", encoding="utf-8")
    assert (
        main(["split", str(data), "--out", str(tmp_path / "out"), "--templates", str(templates)])
        == 0
    )


@pytest.mark.slow
def test_out_of_rounds_names_a_copy_without_a_zero_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repair's message said "(ngram, 0% of the item)" for an item copied whole."""
    train, val, test = preference_data(tmp_path)
    rows = [dict(r, t=-1 if r["id"] == "quoter" else 0) for r in train]
    rows += [dict(r, t=1) for r in val] + [dict(r, t=2) for r in test]
    data = write_jsonl(tmp_path / "all.jsonl", rows)
    argv = ["split", str(data), "--out", str(tmp_path / "out"), "--time", "t"]
    argv += ["--ratios", "50/25/25", "--templates", str(tmp_path / "templates.txt")]
    assert main([*argv, "--shared-passages", "join", "--max-rounds", "1"]) == 1
    err = capsys.readouterr().err
    assert "found by the `curagate leakage` scan (ngram, the item's own text whole)" in err, err
    assert "(id t0, in test)" in err
    assert "0% of the item" not in err


def test_verify_split_files_refuses_one_file_for_two_splits_however_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the same spelling was refused: a link, an absolute path or a hard link to the
    train file given for val passed, its rows found in train as leaks."""
    rows = [{"id": f"r{i}", "prompt": f"alpha bravo charlie number {i}"} for i in range(4)]
    a = write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "link.jsonl").symlink_to(a)
    (tmp_path / "hard.jsonl").hardlink_to(a)
    monkeypatch.chdir(tmp_path)
    for other in ("link.jsonl", str(a), "hard.jsonl", "./a.jsonl"):
        with pytest.raises(ConfigError, match=r"is given for both train and val"):
            verify_split_files("a.jsonl", other, None)
    with pytest.raises(ConfigError, match=r"train is a list; give one path"):
        verify_split_files(["a.jsonl"], None, None)  # type: ignore[arg-type]


def test_a_templates_file_with_a_byte_order_mark_matches(tmp_path: Path) -> None:
    """A file saved with a BOM kept U+FEFF on its first fragment, which matched nothing."""
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfRead the review and say if it is positive. {review}\n")
    fragments = read_templates([path])
    assert fragments == ["Read the review and say if it is positive. "]
    table = pa.table({"prompt": ["Read the review and say if it is positive. great phone"]})
    assert without_templates(table, fragments).column(0).to_pylist()[0].split() == [
        "great",
        "phone",
    ]


@pytest.mark.parametrize(
    "content",
    ["", " \n\n\t\n", "{{instruction}}\n\n{review}\n", "{{a}} ... {b} -- !!\n"],
    ids=["empty", "blank", "placeholders", "punctuation"],
)
def test_a_templates_file_without_template_text_is_an_input_error(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Such a file was ignored without a word: the run went on as if no template had been
    named. Beside a file of templates too: each file named must hold some."""
    named = tmp_path / "templates.txt"
    named.write_text(TEMPLATE + "\n", encoding="utf-8")
    hollow = tmp_path / "hollow.txt"
    hollow.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=r"hollow\.txt' \(--templates\): holds no template text"):
        read_templates([named, hollow])
    data = write_jsonl(
        tmp_path / "d.jsonl", [{"id": f"r{i}", "text": f"row {i}"} for i in range(8)]
    )
    out = tmp_path / "out"
    argv = ["split", str(data), "--out", str(out), "--templates", str(named)]
    assert main([*argv, "--templates", str(hollow)]) == 2
    err = capsys.readouterr().err
    assert "hollow.txt' (--templates): holds no template text" in err, err
    assert "write the prompt templates' own words in it" in err
    assert not out.exists()


def test_a_fragment_is_taken_out_at_word_boundaries_only() -> None:
    """A one-word fragment was taken out of the inside of other words."""
    table = pa.table({"p": ["Reviewer Review: good. Reviews", "preQ: x. Q: x.", "Ответ: да"]})
    out = without_templates(table, ["Review", "Q: x.", "Ответ"]).column(0).to_pylist()
    assert [t.split() for t in out] == [
        ["Reviewer", ":", "good.", "Reviews"],
        ["preQ:", "x."],
        [":", "да"],
    ]


# Prompts that are template text alone (a named template each), every one under several
# preference pairs with answers of their own.
TEMPLATE_PROMPTS = [
    "Write a short poem about the sea in the style of an old sailor song",
    "Explain to a child why the sky looks blue during the day",
    "Give three tips for keeping a small vegetable garden healthy",
    "Describe your ideal weekend in a few sentences",
]


def template_prompt_pairs(
    tmp_path: Path, *, chat: bool, copied: str | None = None
) -> tuple[list[Path], tuple[str, ...]]:
    """Train, val and test files of preference pairs (chat messages or strings) whose prompts
    are the named templates; ``copied``: the chosen answer of train row a0 and test row c0,
    under one prompt."""
    rng = random.Random(3)

    def words(n: int) -> str:
        return " ".join(f"v{rng.randrange(20000)}x" for _ in range(n))

    def turn(role: str, text: str) -> Any:
        return [{"role": role, "content": text}] if chat else text

    def pairs(name: str, n: int) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{name}{i}",
                "prompt": turn("user", TEMPLATE_PROMPTS[i % 4]),
                "chosen": turn(
                    "assistant", copied if copied and f"{name}{i}" in ("a0", "c0") else words(25)
                ),
                "rejected": turn("assistant", words(25)),
            }
            for i in range(n)
        ]

    files = [
        write_jsonl(tmp_path / f"{n}.jsonl", pairs(n, k))
        for n, k in zip("abc", (32, 4, 4), strict=True)
    ]
    (tmp_path / "templates.txt").write_text("\n\n".join(TEMPLATE_PROMPTS) + "\n", "utf-8")
    return files, tuple(read_templates([tmp_path / "templates.txt"]))


@pytest.mark.parametrize("chat", [False, True], ids=["strings", "chat"])
def test_pairs_sharing_only_a_named_template_prompt_are_no_leak(tmp_path: Path, chat: bool) -> None:
    """Keyed by prompt and responses, pairs whose prompt is a named template and whose answers
    are their own: the scan of the rows as they are found the prompt whole (exact), and the
    answers, found nowhere, made the find a copy of the item's own text: every val/test row a
    leak of every train row under its prompt (64 pairs), which --templates did not clear."""
    files, fragments = template_prompt_pairs(tmp_path, chat=chat)
    report = verify_split_files(
        *files, CheckOptions(templates=fragments), preference_key="prompt+responses"
    )
    assert report["leakage_scan"]["pairs"] == 0
    assert report["leaks_total"] == 0
    # Without the templates named, an equal prompt across splits is a leak, as before.
    report = verify_split_files(*files, CheckOptions(), preference_key="prompt+responses")
    assert report["leaks_total"] == 8


@pytest.mark.parametrize("chat", [False, True], ids=["strings", "chat"])
def test_an_answer_copied_under_a_named_template_prompt_is_still_a_leak(
    tmp_path: Path, chat: bool
) -> None:
    copied = " ".join(f"copied{i}word" for i in range(30))
    files, fragments = template_prompt_pairs(tmp_path, chat=chat, copied=copied)
    report = verify_split_files(
        *files, CheckOptions(templates=fragments), preference_key="prompt+responses"
    )
    assert report["leaks_total"] == 1
    pairs = {(e["id"], e["in_id"]) for e in report["leakage_scan"]["examples"]}
    assert pairs == {("c0", "a0")}


def test_split_join_keeps_pairs_of_a_named_template_prompt_apart(tmp_path: Path) -> None:
    """--shared-passages join joined every pair of a prompt into one unit (4 units of 10
    rows: train 30, val 10, test 0) though the templates were named."""
    files, _ = template_prompt_pairs(tmp_path, chat=True)
    rows = [json.loads(line) for f in files for line in f.read_text("utf-8").splitlines()]
    data = write_jsonl(tmp_path / "all.jsonl", rows)
    out = tmp_path / "out"
    argv = ["split", str(data), "--out", str(out), "--preference-key", "prompt+responses"]
    argv += ["--templates", str(tmp_path / "templates.txt"), "--shared-passages", "join"]
    assert main([*argv, "--fail-on-leak"]) == 0
    manifest = json.loads((out / "split_manifest.json").read_text("utf-8"))
    assert manifest["units"] == {"count": 40, "largest": 1}
    assert manifest["repair"]["pairs_joined"] == 0
    assert manifest["splits"]["test"]["rows"] == 4
