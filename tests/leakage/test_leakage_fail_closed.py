"""Leakage fails closed: quarantined rows are scanned, unreadable rows are never a silent 0."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from curagate.cli import main
from curagate.errors import InputError
from curagate.leakage import detect

ITEM = (
    "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 "
    "in repairs. This increased the value of the house by 150%. How much profit did he make?"
)
OTHER = (
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total "
    "does it take to make the robe when the tailor works alone?"
)


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return write(tmp_path / "test.jsonl", [{"question": ITEM}, {"question": OTHER}])


def leakage(reference: Path, corpus: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "leakage",
            "--reference",
            str(reference),
            "--reference-text-field",
            "question",
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            *extra,
        ]
    )


def test_plants_in_quarantined_rows_are_all_found(tmp_path: Path, reference: Path) -> None:
    # Rows with an empty completion fail validation; 70% of the item sits in the prompt.
    part = ITEM[: int(len(ITEM) * 0.7)]
    clean = [
        {"prompt": f"question {i} about the weather", "completion": "sunny"} for i in range(40)
    ]
    plants = [{"prompt": f"Solve: {part}", "completion": ""} for _ in range(20)]
    corpus = write(tmp_path / "corpus.jsonl", clean[:20] + plants + clean[20:])
    result = detect(reference, corpus, reference_text_field="question")

    assert result.quarantined == 20
    assert result.quarantined_scanned == 20
    assert result.unreadable == []
    assert result.leaked_reference_items == 1
    matches = result.leaks[0].matches
    assert [m.row for m in matches] == list(range(20, 40))
    assert [m.line for m in matches] == list(range(21, 41))
    assert all(m.quarantined and "ngram" in m.methods for m in matches)


def test_every_string_field_of_a_quarantined_row_is_scanned(
    tmp_path: Path, reference: Path
) -> None:
    # Wrong type for completion (a number) and the item hidden in a nested extra field.
    row = {"id": "r-1", "prompt": "hi", "completion": 3, "meta": {"notes": [f"see: {OTHER}"]}}
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": "a", "completion": "b"}, row])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.id for m in leak.matches]) for leak in result.leaks] == [
        (OTHER, ["r-1"])
    ]


def test_all_corpus_files_unreadable_is_exit_2_with_fail_on_leak(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_bytes(b"\x00\x01garbage that is not json\n{broken\n")
    (corpus / "b.jsonl.gz").write_bytes(b"this is not gzip at all\n")
    assert leakage(reference, corpus, tmp_path / "report", "--fail-on-leak") == 2
    err = capsys.readouterr().err
    assert "could not be read" in err and "a.jsonl:1" in err
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())
    assert report["corpus"]["unreadable"] == 3
    assert report["corpus"]["records"] == 0


def test_unreadable_rows_without_fail_on_leak_exit_0_and_say_so(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "fine row"}\n{"text": "cut\n', encoding="utf-8")
    assert leakage(reference, corpus, tmp_path / "report") == 0
    assert "UNREADABLE corpus rows: 1" in capsys.readouterr().out


def test_truncated_gzip_corpus_is_exit_2_with_fail_on_leak(tmp_path: Path, reference: Path) -> None:
    data = gzip.compress(
        "".join(json.dumps({"text": f"row {i} " * 20}) + "\n" for i in range(3000)).encode()
    )
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(data[: len(data) // 2])
    assert leakage(reference, corpus, tmp_path / "report", "--fail-on-leak") == 2


def test_clean_readable_corpus_still_exits_0(tmp_path: Path, reference: Path) -> None:
    corpus = write(tmp_path / "c.jsonl", [{"text": "nothing to see here"}])
    assert leakage(reference, corpus, tmp_path / "report", "--fail-on-leak") == 0


def test_strings_outside_the_key_of_valid_rows_are_scanned(tmp_path: Path, reference: Path) -> None:
    rows = [
        # Preference rows are keyed by their prompt: the item sits in a response.
        {"prompt": "Answer politely.", "chosen": f"Sure. {ITEM}", "rejected": "no"},
        {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away", "meta": {"src": [OTHER]}},
        {"prompt": f"Q: {ITEM}", "chosen": f"Again: {ITEM}", "rejected": "x"},  # key and response
    ]
    corpus = write(tmp_path / "pref.jsonl", rows)
    result = detect(reference, corpus, reference_text_field="question")
    found = {leak.item.text: [m.row for m in leak.matches] for leak in result.leaks}
    assert found == {ITEM: [0, 2], OTHER: [1]}  # row 2 once, not once per field
    assert result.quarantined == 0


def test_an_item_used_as_an_object_key_is_scanned(tmp_path: Path, reference: Path) -> None:
    # A sentence as a key ({"votes": {ITEM: 3}}) is text training sees; keys that are
    # names (no space in them) are not scanned as text.
    rows = [
        {"prompt": "Hi", "completion": "Hello", "votes": {ITEM: 3}},
        {"prompt": "Yo", "completion": "Hey", "votes": {"up": 1}},
        {"prompt": "Hm", "completion": "Ok", "labels": {OTHER: True}},
    ]
    corpus = write(tmp_path / "keys.jsonl", rows)
    result = detect(reference, corpus, reference_text_field="question")
    found = {leak.item.text: [m.row for m in leak.matches] for leak in result.leaks}
    assert found == {ITEM: [0], OTHER: [2]}


def test_rows_after_one_without_other_text_keep_their_place(
    tmp_path: Path, reference: Path
) -> None:
    # Two extra columns, both null in row 0: that row's other text is empty, not dropped
    # (pyarrow's "skip" join drops such rows and shifted every later row onto the one before).
    rows = [
        {"prompt": "p0", "completion": "c0"},
        {"prompt": "p1", "completion": "c1", "system": f"Recall: {ITEM}"},
        {"prompt": "p2", "completion": "c2", "source": "web"},
    ]
    corpus = write(tmp_path / "c.jsonl", rows)
    result = detect(reference, corpus, reference_text_field="question")
    assert [(m.row, m.line) for leak in result.leaks for m in leak.matches] == [(1, 2)]


def test_every_field_of_a_chat_message_is_scanned(tmp_path: Path, reference: Path) -> None:
    # The key renders role and content only: a reasoning trace, a tool call's id and a
    # content part's extra field are trained on all the same.
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]},
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "reasoning_content": ITEM},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [{"id": OTHER, "function": {"name": "f", "arguments": "{}"}}],
                },
            ]
        },
    ]
    corpus = write(tmp_path / "chat.jsonl", rows)
    result = detect(reference, corpus, reference_text_field="question")
    found = {leak.item.text: [m.row for m in leak.matches] for leak in result.leaks}
    assert found == {ITEM: [1], OTHER: [2]}
    assert result.quarantined == 0 and result.unreadable == []


def test_other_text_of_plain_chat_rows_costs_nothing() -> None:
    # Role and content are the key: nothing else to scan, no second text built.
    import pyarrow as pa

    from curagate.leakage import row_texts

    table = pa.table({"messages": [[{"role": "user", "content": "hi"}]], "id": ["a"]})
    assert row_texts(table, "chat", pa.array(["user: hi"], pa.large_string())).other is None


def _parquet_columns() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "dictionary": pa.array([None, ITEM]).dictionary_encode(),
        "binary": pa.array([None, ITEM.encode()], pa.binary()),
        "large_binary": pa.array([None, ITEM.encode()], pa.large_binary()),
        "string_view": pa.array([None, ITEM], pa.string_view()),
        "large_string": pa.array([None, ITEM], pa.large_string()),
        "nested": pa.array([None, [{"note": ITEM, "n": 1}]]),
        "map": pa.array([None, [("note", ITEM)]], pa.map_(pa.string(), pa.string())),
    }


@pytest.mark.parametrize("kind", list(_parquet_columns()))
def test_parquet_columns_of_every_string_type_are_scanned(
    tmp_path: Path, reference: Path, kind: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = _parquet_columns()[kind]
    table = pa.table({"prompt": ["hello there", "hi"], "completion": ["a", "b"], "system": column})
    pq.write_table(table, tmp_path / "c.parquet")
    result = detect(reference, tmp_path / "c.parquet", reference_text_field="question")
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [1])
    ]
    assert result.unreadable == []


def test_bytes_that_are_not_utf8_are_unreadable_and_exit_2_with_fail_on_leak(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    blob = pa.array([b"fine text", b"\xff\xfe" + ITEM.encode()], pa.binary())
    table = pa.table({"prompt": ["hello there", "hi"], "completion": ["a", "b"], "blob": blob})
    pq.write_table(table, tmp_path / "c.parquet")
    assert leakage(reference, tmp_path / "c.parquet", tmp_path / "report", "--fail-on-leak") == 2
    err = capsys.readouterr().err
    assert "could not be read" in err and "row 1" in err and "'blob'" in err
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())
    assert report["corpus"]["unreadable_rows"][0]["row"] == 1
    # The rest of the field is still scanned (best effort): the item is found.
    assert report["summary"]["leaked_reference_items"] == 1


GOLDEN = [
    "A farmer has twelve cows and buys nine more cows at the spring market, how many cows "
    "does the farmer own now in total",
    "Maria reads fourteen pages of her history book every evening for three weeks, how many "
    "pages has she read by the end",
    "A train leaves the northern station at nine in the morning travelling sixty miles per "
    "hour, when does it reach the coast",
]


def _golden_with_bad_rows(path: Path) -> Path:
    """Row 2 is typed unlike row 1 (quarantined, parseable); row 3 is not JSON."""
    path.write_text(
        json.dumps({"id": "m1", "prompt": GOLDEN[0], "reference": "21"})
        + "\n"
        + json.dumps({"id": "m2", "prompt": GOLDEN[1], "reference": 294})
        + "\n"
        + '{"id": "m3", "prompt": ' + json.dumps(GOLDEN[2]) + ', "reference": "noon",}\n',
        encoding="utf-8",
    )  # fmt: skip
    return path


def test_quarantined_reference_rows_are_indexed_and_unparseable_ones_listed(
    tmp_path: Path,
) -> None:
    golden = _golden_with_bad_rows(tmp_path / "golden.jsonl")
    corpus = write(tmp_path / "train.jsonl", [{"prompt": p, "completion": "x"} for p in GOLDEN])
    result = detect(golden, corpus)
    assert [(i.id, i.row, i.text) for i in result.items] == [
        ("m1", 0, GOLDEN[0]),
        ("m2", 1, GOLDEN[1]),  # its key, as a valid row's would be
    ]
    assert sorted(leak.item.id for leak in result.leaks) == ["m1", "m2"]
    assert result.reference_quarantined == 1
    assert [(q.line, q.row) for q in result.reference_unreadable] == [(3, 2)]
    reference = result.to_dict()["reference"]
    assert reference["quarantined"] == 1 and reference["unreadable"] == 1
    assert reference["unreadable_rows"][0]["line"] == 3


def test_unreadable_reference_row_is_exit_2_with_fail_on_leak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = _golden_with_bad_rows(tmp_path / "golden.jsonl")
    corpus = write(tmp_path / "train.jsonl", [{"prompt": "hello there", "completion": "x"}])
    argv = ["leakage", "--reference", str(golden), "--corpus", str(corpus)]
    assert main([*argv, "--out", str(tmp_path / "r1"), "--fail-on-leak"]) == 2
    err = capsys.readouterr().err
    assert f"{golden.as_posix()}:3" in err and "reference row(s) could not be read" in err
    # Without --fail-on-leak: reported, exit 0.
    assert main([*argv, "--out", str(tmp_path / "r2")]) == 0
    assert "UNREADABLE reference rows: 1" in capsys.readouterr().out
    report = json.loads((tmp_path / "r2" / "leakage.json").read_text())
    assert report["reference"]["unreadable"] == 1
    schema = resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    jsonschema.validate(report, json.loads(schema))


def test_a_lone_surrogate_in_a_corpus_row_is_scanned_not_a_crash(
    tmp_path: Path, reference: Path
) -> None:
    # The readers quarantine the row (a \ud800 escape is no character); the scan re-read
    # it with Python's json, which takes the escape, and Arrow refused the string (exit 3).
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"text": "fine row"})
        + "\n"
        + json.dumps({"text": f"lone \\ud800 then {OTHER}"}).replace("\\\\ud800", "\\ud800")
        + "\n",
        encoding="utf-8",
    )
    assert "\\ud800" in corpus.read_text()
    assert leakage(reference, corpus, tmp_path / "report", "--fail-on-leak") == 1
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())
    assert [m["row"] for leak in report["leaks"] for m in leak["matches"]] == [1]


def test_a_lone_surrogate_in_a_reference_row_is_indexed_not_a_crash(tmp_path: Path) -> None:
    ref = tmp_path / "ref.jsonl"
    ref.write_text('{"question": "' + OTHER + ' \\udc00"}\n', encoding="utf-8")
    corpus = write(tmp_path / "c.jsonl", [{"text": f"copied: {OTHER}"}])
    assert leakage(ref, corpus, tmp_path / "report", "--fail-on-leak") == 1


def test_a_golden_item_in_the_first_of_two_repeated_keys_is_found(
    tmp_path: Path, reference: Path
) -> None:
    # Python's json keeps the last value of a repeated key: the first was never scanned.
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"text": "fine row"}\n'
        f'{{"text": {json.dumps(ITEM)}, "text": "a clean record two"}}\n'
        f'{{"meta": {{"note": {json.dumps(OTHER)}, "note": "x"}}, "text": "three"}}\n',
        encoding="utf-8",
    )
    result = detect(reference, corpus, reference_text_field="question")
    found = {leak.item.text: [m.row for m in leak.matches] for leak in result.leaks}
    assert found == {ITEM: [1], OTHER: [2]}


@pytest.mark.parametrize("filler", ["\u115f", "\u1160", "\u3164", "\uffa0"])
def test_a_hangul_filler_in_every_word_does_not_hide_an_item(
    tmp_path: Path, reference: Path, filler: str
) -> None:
    # Letters by category but drawn as nothing: one inside each word made every n-gram
    # of the pasted item differ from the reference's.
    hidden = " ".join(w[:1] + filler + w[1:] for w in OTHER.split())
    corpus = write(tmp_path / "c.jsonl", [{"text": "fine row"}, {"text": hidden}])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (OTHER, [1])
    ]


def _enclosed(first: int) -> dict[str, str]:
    # A font of 26 enclosed capitals from `first` (A) for both cases of each letter.
    return {
        c: chr(first + ord(c.lower()) - ord("a"))
        for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    }


@pytest.mark.parametrize(
    "disguise",
    [
        {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"},  # Cyrillic
        {"o": "\u03bf", "i": "\u03b9", "k": "\u03ba", "t": "\u03c4"},  # Greek
        {"a": "\u00e1", "e": "\u00e8", "o": "\u00f6", "i": "\u00ef"},  # accents
        {"a": "a\u0301", "o": "o\u0308"},  # combining accents
        # Found by attack: a "small caps" font pasted as text, Cherokee letters drawn like
        # Latin ones, Greek sigma for o.
        {"t": "\u1d1b", "h": "\u029c", "e": "\u1d07", "a": "\u1d00", "r": "\u0280"},
        {"a": "\u13aa", "e": "\u13ac", "t": "\u13a2", "c": "\u13df", "w": "\u13b3"},
        {"o": "\u03c3"},
        {"c": "\u03f2"},  # the lunate sigma, drawn as c (NFKC makes it a sigma: found by re-attack)
        # Found by re-attack: Lisu letters drawn like Latin capitals, the negative circled
        # and squared "fancy text" fonts.
        {"a": "\ua4ee", "e": "\ua4f0", "o": "\ua4f3", "t": "\ua4d4", "b": "\ua4d0"},
        _enclosed(0x1F150),
        _enclosed(0x1F170),
    ],
    ids=[
        "cyrillic",
        "greek",
        "accents",
        "combining",
        "small-capitals",
        "cherokee",
        "sigma",
        "lunate-sigma",
        "lisu",
        "negative-circled",
        "negative-squared",
    ],
)
def test_look_alike_letters_do_not_hide_an_item(
    tmp_path: Path, reference: Path, disguise: dict[str, str]
) -> None:
    # Letters of other scripts drawn like Latin ones, or accents added: the copy reads
    # the same to a person and matched no n-gram of the item.
    hidden = "".join(disguise.get(c, c) for c in OTHER)
    assert hidden != OTHER
    corpus = write(tmp_path / "c.jsonl", [{"text": "fine row"}, {"text": f"Q: {hidden}"}])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (OTHER, [1])
    ]


def test_a_small_caps_copy_with_q_written_as_o_with_ogonek_is_found(tmp_path: Path) -> None:
    # Found by re-attack: "small caps" generators write q as `ǫ` (there is no small capital
    # q), which read as o with its accent folded away; an item with q-words in every part
    # so copied matched nothing.
    item = (
        "A quick question: is the square of a quarter equal to the quotient of one and "
        "sixteen, quite exactly, in quantity?"
    )
    font = dict(
        zip(
            "abcdefghijklmnopqrstuvwxyz",
            "\u1d00\u0299\u1d04\u1d05\u1d07\ua730\u0262\u029c\u026a\u1d0a\u1d0b\u029f\u1d0d"
            "\u0274\u1d0f\u1d18\u01eb\u0280\ua731\u1d1b\u1d1c\u1d20\u1d21x\u028f\u1d22",
            strict=True,
        )
    )
    hidden = "".join(font.get(c, c) for c in item.lower())
    reference = write(tmp_path / "test.jsonl", [{"question": item}])
    corpus = write(tmp_path / "c.jsonl", [{"text": "fine row"}, {"text": hidden}])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (item, [1])
    ]


@pytest.mark.parametrize(
    "zero", [0x0660, 0x06F0, 0x0966, 0x0E50], ids=["arabic", "persian", "devanagari", "thai"]
)
def test_numbers_written_in_the_digits_of_another_script_do_not_hide_an_item(
    tmp_path: Path, reference: Path, zero: int
) -> None:
    # Its three numbers in Arabic-Indic (or Devanagari, Thai) digits left no 13-gram of
    # the item alike, and the n-gram scan found nothing.
    hidden = ITEM.translate({ord(str(d)): chr(zero + d) for d in range(10)})
    corpus = write(tmp_path / "c.jsonl", [{"text": "fine row"}, {"text": hidden}])
    result = detect(reference, corpus, reference_text_field="question", methods=["ngram"])
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [1])
    ]


@pytest.mark.parametrize("words", [4, 6])
def test_an_item_cut_into_user_turns_is_found(tmp_path: Path, reference: Path, words: int) -> None:
    # A question cut into pieces of a few words, each its own user turn answered "ok": no
    # 13-gram of it stood whole in the conversation's key, and nothing matched.
    w = ITEM.split()
    turns = []
    for i in range(0, len(w), words):
        turns += [
            {"role": "user", "content": " ".join(w[i : i + words])},
            {"role": "assistant", "content": "ok"},
        ]
    chat = {"messages": turns}
    plain = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    }
    corpus = write(tmp_path / "c.jsonl", [plain, chat])
    result = detect(reference, corpus, reference_text_field="question", methods=["ngram"])
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [1])
    ]


ANSWER = (
    "The cost of the house and repairs came out to 80,000 + 50,000 = $130,000. He increased "
    "the value of the house by 80,000 * 1.5 = 120,000. So the new value of the house is "
    "120,000 + 80,000 = $200,000. So he made a profit of 200,000 - 130,000 = $70,000"
)


@pytest.mark.parametrize("words", [4, 6])
def test_an_answer_cut_into_assistant_turns_is_found(tmp_path: Path, words: int) -> None:
    # A golden answer given a few words per assistant turn, each followed by "go on": no
    # 13-gram of it stood whole in the conversation's key (only user turns were joined).
    reference = write(tmp_path / "test.jsonl", [{"question": ITEM, "answer": ANSWER}])
    w = ANSWER.split()
    turns = [{"role": "user", "content": "tell me a story about a house"}]
    for i in range(0, len(w), words):
        turns += [
            {"role": "assistant", "content": " ".join(w[i : i + words])},
            {"role": "user", "content": "go on"},
        ]
    turns.append({"role": "assistant", "content": "the end"})
    plain = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    }
    corpus = write(tmp_path / "c.jsonl", [plain, {"messages": turns}])
    result = detect(reference, corpus, reference_text_field="question", methods=["ngram"])
    assert [(leak.item.text, [m.row for m in leak.matches]) for leak in result.leaks] == [
        (ANSWER, [1])
    ]


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_a_quarantined_row_of_bytes_that_are_not_utf8_is_unreadable_not_clean(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # Scanned with U+FFFD in place of the bytes, and counted as read: --fail-on-leak was 0,
    # though what those bytes held was never seen (the same bytes in a valid row's other
    # column were already exit 2).
    if kind == "jsonl":
        corpus = tmp_path / "corpus.jsonl"
        corpus.write_bytes(b'{"prompt": "hello", "completion": "hi"}\n{"prompt": "caf\xe9"}\n')
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        corpus = tmp_path / "corpus.parquet"
        prompts = pa.array([b"hello there friend", b"caf\xe9 ok"], pa.binary())
        pq.write_table(pa.table({"prompt": prompts, "completion": ["hi", "y"]}), corpus)
    assert leakage(reference, corpus, tmp_path / "report", "--fail-on-leak") == 2
    assert "1 corpus row(s) could not be read" in capsys.readouterr().err


def test_an_item_in_a_quarantined_rows_tool_call_arguments_is_found_decoded(
    tmp_path: Path,
) -> None:
    # The arguments are JSON in a string, their Thai text escaped (\u0e41...): a valid row's
    # key decodes them; a quarantined row (object arguments earlier in the file, a string
    # here) was scanned with the escapes in place, and the item was missed.
    item = "แมวของฉันชอบนอนบนโซฟาสีแดงในห้องนั่งเล่นทุกวันตอนบ่าย"
    reference = write(tmp_path / "golden.jsonl", [{"question": item}])

    def call(arguments: Any) -> dict[str, Any]:
        fn = {"name": "search", "arguments": arguments}
        return {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": fn}],
                },
                {"role": "tool", "tool_call_id": "c", "content": "ok"},
                {"role": "assistant", "content": "done"},
            ]
        }

    rows = [call({"q": "weather"}), call(json.dumps({"q": item}))]  # ensure_ascii: escaped
    corpus = write(tmp_path / "corpus.jsonl", rows)
    result = detect(reference, corpus, reference_text_field="question")
    assert result.quarantined == 1
    assert [m.line for leak in result.leaks for m in leak.matches] == [2]


@pytest.mark.parametrize("quarantined", [False, True])
@pytest.mark.parametrize("space", list("\u200b\u200a\u2009\u202f\u2006\u2008\u205f\x0b\x0c"))
def test_an_item_with_a_zero_width_space_inside_its_words_is_found(
    tmp_path: Path, reference: Path, quarantined: bool, space: str
) -> None:
    # U+200B is a word break (Thai, Khmer): one after every third character cut the item
    # into fragments no n-gram or span matched, in valid and quarantined rows alike; so did
    # a hair, thin or narrow no-break space (found by attack), as invisible to a reader.
    hidden = "".join(c + (space if i % 3 == 2 else "") for i, c in enumerate(ITEM))
    row = {"prompt": hidden, "completion": "" if quarantined else "profit"}
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": "hello", "completion": "hi"}, row])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.line for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [2])
    ]
    assert result.leaks[0].matches[0].quarantined is quarantined


JOINERS = ["-", "_", ".", "/", "+", ",", ":", "'", "*", "|", "~", "=", "\u2013", "\u2011"]
JOINERS += ["\u00b7", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e", "\u034f"]
# Found by attack: default-ignorable letters and marks (the Hangul fillers, Khmer's inherent
# vowels) put for spaces hid the item from every method.
JOINERS += ["\u3164", "\uffa0", "\u115f", "\u1160", "\u17b4", "\u17b5"]
# ... and the rest of the default-ignorable set, unassigned code points included.
JOINERS += ["\u180f", "\u2065", "\ufff0", "\U000e0000", "\U000e0002", "\U000e0fff"]


def _joined(words: list[str], joiner: str, how: str) -> str:
    if how == "runs-of-four":  # four joins, then a space: under a run-length threshold
        return " ".join(joiner.join(words[i : i + 5]) for i in range(0, len(words), 5))
    if how == "zero-width-spaces-too":  # a ZWSP inside every word as well
        return joiner.join(w[:1] + "\u200b" + w[1:] for w in words)
    return joiner.join(words)


@pytest.mark.parametrize(
    ("joiner", "how"),
    [(j, "all") for j in JOINERS] + [("-", "runs-of-four"), ("-", "zero-width-spaces-too")],
)
@pytest.mark.parametrize("quarantined", [False, True])
def test_an_item_whose_words_are_joined_is_found(
    tmp_path: Path, reference: Path, quarantined: bool, joiner: str, how: str
) -> None:
    # Normalization deletes punctuation, symbols and format characters: words joined by
    # them ("Josh-decides-to-try-flipping", "Josh\u2013decides") became one word no n-gram
    # of the item matched (check, audit, leakage and decontaminate).
    hidden = _joined(ITEM.split(), joiner, how)
    row = {"prompt": hidden, "completion": "" if quarantined else "profit"}
    plain = {"prompt": "a state-of-the-art model, well-known", "completion": "hi"}
    corpus = write(tmp_path / "corpus.jsonl", [plain, row])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.line for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [2])
    ]


def test_a_match_is_reported_by_the_text_that_shows_most_of_the_item(
    tmp_path: Path, reference: Path
) -> None:
    # Found by attack: a row is scanned as written, then with joined words split; the
    # first text to match a (row, item) pair reported it, so a copy whose second half
    # was joined by hyphens showed the weak match of its first half only.
    words = OTHER.split()  # no joined words of its own ("$80,000" is two words split)
    half = len(words) // 2
    hidden = " ".join(words[:half]) + " " + "-".join(words[half:])
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": hidden, "completion": "bolts"}])
    result = detect(reference, corpus, reference_text_field="question")
    [leak] = result.leaks
    [match] = leak.matches
    assert match.ratio == 1.0
    assert match.shared_ngrams == leak.item.ngrams
    assert match.span is not None and match.span.words == len(words)


def test_a_reference_set_kept_as_a_json_array_is_read(tmp_path: Path) -> None:
    # Found by attack: an lm-eval suite's data.json beside a .jsonl set was skipped by
    # `leakage --reference DIR`, `check --golden` and `curate --decontaminate` (the gate read
    # it): a verbatim copy of its item in the training data was "0 leaked", exit 0.
    suite = tmp_path / "golden" / "suite"
    suite.mkdir(parents=True)
    (suite / "data.json").write_text(json.dumps([{"question": ITEM, "label": 0}]))
    (tmp_path / "golden" / "other").mkdir()
    other = write(tmp_path / "golden" / "other" / "data.jsonl", [{"prompt": OTHER}])
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": ITEM, "completion": "x"}])
    for reference in (tmp_path / "golden", [suite / "data.json", other]):
        result = detect(reference, corpus)
        assert [leak.item.file for leak in result.leaks] == [(suite / "data.json").as_posix()]
    assert main(["check", str(corpus), "--golden", str(tmp_path / "golden")]) == 1
    # compressed, it is read too; cut short, it is refused (it was "0 leaked")
    import gzip

    packed = gzip.compress((suite / "data.json").read_bytes())
    (suite / "data.json").unlink()
    (suite / "data.json.gz").write_bytes(packed)
    assert detect(tmp_path / "golden", corpus).leaked_reference_items == 1
    (suite / "data.json.gz").unlink()
    (suite / "data.json").write_text(json.dumps([{"question": ITEM, "label": 0}])[:-5])
    with pytest.raises(InputError, match=r"data\.json: records in a file"):
        detect(tmp_path / "golden", corpus)
    (suite / "data.json").write_text(json.dumps([{"question": ITEM, "label": 0}]))
    out = tmp_path / "cur"
    argv = ["curate", str(corpus), "--out", str(out), "--decontaminate", str(tmp_path / "golden")]
    assert main([*argv, "--quiet"]) == 0
    assert json.loads((out / "stats.json").read_text())["totals"]["removed"] == {"leakage": 1}


@pytest.mark.parametrize("where", ["_holdout/data.jsonl", ".private/data.jsonl", "gsm/_test.jsonl"])
def test_a_golden_file_under_a_hidden_name_is_read(tmp_path: Path, where: str) -> None:
    # Found by attack: the folder walk passed `_`/`.` names by (as it does `_SUCCESS` in an
    # input folder), so a verbatim copy of an item kept there leaked "0" in `leakage
    # --fail-on-leak`, `check` and `curate --decontaminate`, exit 0; alone, the folder was
    # said to hold "no .jsonl ... file". A version-control folder is still passed by.
    golden = tmp_path / "golden"
    (golden / "other").mkdir(parents=True)
    write(golden / "other" / "data.jsonl", [{"prompt": "an unrelated question of its own"}])
    (golden / where).parent.mkdir(parents=True, exist_ok=True)
    write(golden / where, [{"id": "hidden_0", "question": ITEM}])
    (golden / ".git").mkdir()
    (golden / ".git" / "junk.jsonl").write_text("not json at all\n")
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": ITEM, "completion": "x"}])
    result = detect(golden, corpus)
    assert [leak.item.file for leak in result.leaks] == [(golden / where).as_posix()]
    assert leakage(golden, corpus, tmp_path / "o", "--fail-on-leak") == 1
    assert main(["check", str(corpus), "--golden", str(golden)]) == 1
    # so a report written there would be read back: refused
    assert leakage(golden, corpus, golden / ".report") == 2
    assert not (golden / ".report").exists()
    out = tmp_path / "cur"
    argv = ["curate", str(corpus), "--out", str(out), "--decontaminate", str(golden), "--quiet"]
    assert main(argv) == 0
    assert json.loads((out / "stats.json").read_text())["totals"]["removed"] == {"leakage": 1}


@pytest.mark.parametrize(
    "document",
    [{"version": "1.1", "data": [{"id": "q0", "question": ITEM}]}, [ITEM, OTHER]],
    ids=["object_of_items", "list_of_strings"],
)
def test_a_json_document_of_items_in_a_golden_folder_is_refused_as_when_named(
    tmp_path: Path, document: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: SQuAD's `{"data": [...]}` or a list of question strings beside a
    # .jsonl set was passed by in the folder (a verbatim leak: exit 0), refused when named.
    golden = tmp_path / "golden"
    (golden / "other").mkdir(parents=True)
    write(golden / "other" / "data.jsonl", [{"prompt": "an unrelated question of its own"}])
    (golden / "gsm").mkdir()
    (golden / "gsm" / "test.json").write_text(json.dumps(document))
    # what holds no items is still passed by: a schema, a lock, dataset_info.json, state.json
    (golden / "gsm" / "schema.json").write_text(
        json.dumps({"$schema": "x", "anyOf": [{"description": "a text of words"}]})
    )
    (golden / "lock.json").write_text(json.dumps({"files": [{"path": "a", "sha256": "0f"}]}))
    (golden / "gsm" / "dataset_info.json").write_text(json.dumps({"features": {"q": {}}}))
    (golden / "gsm" / "state.json").write_text(
        json.dumps({"_data_files": [{"filename": "data 0.arrow"}], "_split": "test"})
    )
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": ITEM, "completion": "x"}])
    told = "gsm/test.json: a .json file that holds no records that read"
    for reference in (golden, golden / "gsm" / "test.json"):
        assert main(["check", str(corpus), "--golden", str(reference)]) == 2
        assert told in capsys.readouterr().err
        assert leakage(reference, corpus, tmp_path / "o", "--fail-on-leak") == 2
        assert told in capsys.readouterr().err
    (golden / "gsm" / "test.json").unlink()
    assert main(["check", str(corpus), "--golden", str(golden)]) == 0


def test_a_json_array_items_key_written_twice_is_read_as_its_json_lines_twin(
    tmp_path: Path,
) -> None:
    # Found by attack: `json.loads` kept only the last value of a repeated key, so an array
    # whose item was under the first "question" leaked "0" (exit 0) where the same object
    # as a JSON Lines row was found (exit 1).
    twice = f'{{"question": {json.dumps(ITEM)}, "question": "zzz other text", "answer": "x"}}'
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": ITEM, "completion": "x"}])
    for name, text in (("ref.jsonl", twice + "\n"), ("ref.json", f"[{twice}]")):
        ref = tmp_path / name
        ref.write_text(text)
        assert detect(ref, corpus).leaked_reference_items == 1, name
        assert main(["check", str(corpus), "--golden", str(ref)]) == 1, name
    # a record nested 330 deep still converts (a Python re-writer of every record stopped
    # at ~330 levels with exit 3; found by re-attack), and is found
    deep = json.dumps({"question": ITEM, "meta": json.loads("[" * 330 + "1" + "]" * 330)})
    (tmp_path / "deep.json").write_text(f"[{deep}]")
    assert main(["check", str(corpus), "--golden", str(tmp_path / "deep.json")]) == 1


def test_an_item_in_a_text_part_of_another_type_is_found(tmp_path: Path, reference: Path) -> None:
    # Found by attack: only parts typed "text" were text; OpenAI's Responses format writes
    # "input_text" / "output_text", whose text was in no key and, being a part's "text",
    # not among the other strings either: invisible to every scan (and to dedup).
    def turn(role: str, kind: str, text: str) -> dict[str, Any]:
        return {"role": role, "content": [{"type": kind, "text": text}]}

    rows = [
        {"messages": [turn("user", "input_text", "hello"), turn("assistant", "output_text", "hi")]},
        {"messages": [turn("user", "input_text", ITEM), turn("assistant", "output_text", "ok")]},
    ]
    corpus = write(tmp_path / "corpus.jsonl", rows)
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.line for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [2])
    ]


def test_items_of_a_later_reference_file_keep_their_own_numbers(tmp_path: Path) -> None:
    # Re-attack of a reverted change (items holding U+200B indexed twice): from the second
    # reference file on, items took another entry's word counts, an emoji item was no longer
    # matched byte for byte, and a span mapping crashed (exit 3).
    zw = "\u200b"
    (tmp_path / "ref").mkdir()
    write(tmp_path / "ref" / "a.jsonl", [{"text": f"what is the ca{zw}pital of france"}])
    write(tmp_path / "ref" / "b.jsonl", [{"text": "🙏🙏🙏"}, {"text": ITEM}])
    corpus = write(tmp_path / "c.jsonl", [{"text": "🙏🙏🙏"}, {"text": f"quote: {ITEM} end"}])
    result = detect(tmp_path / "ref", corpus)
    found = {
        leak.item.text: (leak.item.words, [m.line for m in leak.matches]) for leak in result.leaks
    }
    assert found == {"🙏🙏🙏": (0, [1]), ITEM: (len(ITEM.split()), [2])}


@pytest.mark.parametrize(
    "inside",
    [
        "<b></b>", "<span class='x'></span>", "<wbr>", "\x1b[0m", "\x1b[1;31m",
        "<|endoftext|>", "<|im_start|>", "<|eot_id|>", "<pad>", "<unk>", "<|a|><pad>",
    ],
)  # fmt: skip
def test_an_item_with_markup_inside_its_words_is_found(
    tmp_path: Path, reference: Path, inside: str
) -> None:
    # An empty inline tag or a terminal colour escape inside every word drew the same text
    # and cut each word in two ("ca", "pital"): no n-gram, span or MinHash matched. So did
    # a special token (found by re-attack): every reading took it for a space.
    hidden = " ".join(w[:1] + inside + w[1:] if len(w) > 1 else w for w in ITEM.split())
    corpus = write(tmp_path / "corpus.jsonl", [{"text": "a line<br>broken"}, {"text": hidden}])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.line for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [2])
    ]


def test_a_block_tag_between_words_still_breaks_them() -> None:
    from curagate.leakage.texts import markup_decoded

    assert markup_decoded("end<br>start, <p>new</p>para<i>graph</i>") == (
        "end start,  new paragraph\nend start,  new para graph "
    )


def test_the_column_decoding_is_the_decoding_of_each_row() -> None:
    # Rows whose only markup is special tokens (`<|endoftext|>`) are decoded by Arrow in one
    # pass, the others row by row: every row must read as markup_decoded reads it alone.
    import random

    import pyarrow as pa

    from curagate.leakage.texts import _decoded, markup_decoded

    pieces = [
        "word", " ", "\n", "<|endoftext|>", "<|im_start|>user\n", "<|", "|>", "<", ">",
        "<b>", "</s>", "<rt>reading</rt>", "&amp;", "&amp", "%20", "%", "\x1b[31m", "é",
        "<|" + "x" * 198 + ">", "<|" + "x" * 199 + ">", "<|" + "x" * 200 + ">", "<| spaced |>", "\u200b",
    ]  # fmt: skip
    rng = random.Random(7)
    rows: list[str | None] = [
        "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 9))) for _ in range(3000)
    ]
    rows += [None, "", "plain text", "ends in a token<|endoftext|>", "<|a|><|b|>"]
    rows += ["co<|endoftext|>mmittee", "é<|a|>é", "a<|a|>,", "x\u3000<|a|>\u3000y", "a<|x|> b"]
    rows += ["a <|x|><|y|>b", "<|x|>b<|y|>c", "a<|x|>\nb<|y|>c", "é<|x|><|y|>é <|z|>"]
    decoded = _decoded(pa.array(rows, pa.large_string()))
    assert decoded is not None
    expected = [(markup_decoded(r) or "") if r is not None else "" for r in rows]
    assert decoded.to_pylist() == expected
    # Both paths ran: rows decoded in Arrow (special tokens only) and row by row.
    assert "ends in a token " in expected and any("<rt>" in r for r in rows if r)
    assert "co mmittee\ncommittee" in expected  # a token inside a word: read as nothing too


@pytest.mark.parametrize("between", ["<span>{}</span>", "<b>{}</b>", "{}</s><s>"])
def test_an_item_with_each_word_in_a_tag_and_no_space_is_found(
    tmp_path: Path, reference: Path, between: str
) -> None:
    # Found by re-attack: once inline tags read as nothing, one word to a <span> with no
    # space between (PDF to HTML), or `</s><s>` between words, ran the words together.
    hidden = "".join(between.format(w) for w in ITEM.split())
    corpus = write(tmp_path / "corpus.jsonl", [{"text": "fine row"}, {"text": hidden}])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.line for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [2])
    ]


@pytest.mark.parametrize("how", ["&nbsp;", "&#32;", "%20", "tags"])
@pytest.mark.parametrize("quarantined", [False, True])
def test_an_item_copied_with_web_markup_between_its_words_is_found(
    tmp_path: Path, reference: Path, how: str, quarantined: bool
) -> None:
    # Found by attack (open for several sessions): a scraped copy with `&nbsp;` or `%20` for
    # every space, or each word in <b>, left `nbsp`, `20` or `b` as words between the item's
    # words after normalization, and no method matched it (leakage, check, decontaminate).
    words = ITEM.split()
    hidden = " ".join(f"<b>{w}</b>" for w in words) if how == "tags" else how.join(words)
    row = {"prompt": hidden, "completion": "" if quarantined else "profit"}
    corpus = write(tmp_path / "corpus.jsonl", [{"prompt": "a 50% raise &amp; <i>bonus</i>"}, row])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, [m.line for m in leak.matches]) for leak in result.leaks] == [
        (ITEM, [2])
    ]


@pytest.mark.parametrize("space", ["<|endoftext|>", "&nbsp;", "%20", "</span><span>"])
def test_an_item_written_with_markup_is_found_in_a_plain_copy(tmp_path: Path, space: str) -> None:
    # Rows were decoded, items were not (found by re-attack: split scans val and test as
    # the reference): an item with markup for every space matched none of its plain copy.
    marked = f"<span>{ITEM.replace(' ', space)}</span>"
    reference = write(tmp_path / "ref.jsonl", [{"question": marked}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": "unrelated"}, {"text": ITEM}])
    result = detect(reference, corpus, reference_text_field="question")
    assert [(leak.item.text, leak.item.part) for leak in result.leaks] == [(marked, "prompt")]
    (match,) = result.leaks[0].matches
    assert match.line == 2 and match.span is not None
    assert (match.span.reference_start, match.span.reference_end) == (0, len(marked))
