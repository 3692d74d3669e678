"""Format detection and the dedup key of every format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from io_support import all_keys, all_quarantined, read_all

from curagate.errors import ConfigError, InputError
from curagate.io import read_batches
from curagate.records import RecordFormat


def _msgs(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in turns]


def test_text_is_detected_and_keyed_by_the_text(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [{"text": "Hello world", "lang": "en"}])

    [batch] = read_all([path])

    assert batch.format is RecordFormat.TEXT
    assert batch.keys.to_pylist() == ["Hello world"]


def test_prompt_completion_key_joins_prompt_and_completion(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("pc.jsonl", [{"prompt": "2+2?", "completion": "4"}])

    [batch] = read_all([path])

    assert batch.format is RecordFormat.PROMPT_COMPLETION
    assert batch.keys.to_pylist() == ["2+2?\n4"]


def test_chat_key_is_role_tagged_turns(write_jsonl: Callable[..., Path]) -> None:
    rows = [
        {"messages": _msgs(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"))},
        {"messages": _msgs(("user", "2+2?"), ("assistant", "4"))},
    ]
    path = write_jsonl("c.jsonl", rows)

    [batch] = read_all([path])

    assert batch.format is RecordFormat.CHAT
    assert batch.keys.to_pylist() == [
        "system: Be brief.\nuser: Hi\nassistant: Hello!",
        "user: 2+2?\nassistant: 4",
    ]


def test_chat_wins_over_a_text_column(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("c.jsonl", [{"text": "x", "messages": _msgs(("user", "q"))}])

    [batch] = read_all([path])

    assert batch.format is RecordFormat.CHAT


def test_preference_key_is_the_prompt_by_default(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("p.jsonl", [{"prompt": "Q", "chosen": "good", "rejected": "bad"}])

    [batch] = read_all([path])

    assert batch.format is RecordFormat.PREFERENCE
    assert batch.keys.to_pylist() == ["Q"]


def test_preference_key_can_include_the_responses(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("p.jsonl", [{"prompt": "Q", "chosen": "good", "rejected": "bad"}])

    [batch] = read_all([path], preference_key="prompt+responses")

    assert batch.keys.to_pylist() == ["Q\ngood\nbad"]


def test_preference_message_lists_render_like_chat(write_jsonl: Callable[..., Path]) -> None:
    row = {
        "prompt": _msgs(("user", "Q")),
        "chosen": _msgs(("assistant", "good")),
        "rejected": _msgs(("assistant", "bad")),
    }
    path = write_jsonl("p.jsonl", [row])

    [batch] = read_all([path], preference_key="prompt+responses")

    assert batch.keys.to_pylist() == ["user: Q\nassistant: good\nassistant: bad"]


def test_text_field_names_the_text_column(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("q.jsonl", [{"question": "Why?", "answer": "Because."}])

    [batch] = read_all([path], text_field="question")

    assert batch.format is RecordFormat.TEXT
    assert batch.keys.to_pylist() == ["Why?"]


def test_a_text_field_that_is_not_a_column_says_so(write_jsonl: Callable[..., Path]) -> None:
    # It was reported as "cannot tell the record format", which sent users to --format.
    path = write_jsonl("q.jsonl", [{"question": "Why?", "answer": "Because."}])
    with pytest.raises(InputError) as info:
        read_all([path], text_field="body")
    assert str(info.value) == (
        f"{path.as_posix()}: the text field 'body' (--text-field, text_field in a config) is "
        "not a column here (columns: 'question', 'answer'); name the column that holds the text"
    )


def test_a_text_field_is_never_silently_unused(write_jsonl: Callable[..., Path]) -> None:
    # A file the columns say is prompt/completion was read as such, --text-field ignored
    # without a word: a column the user named was not deduplicated, or not there at all.
    pc = write_jsonl("pc.jsonl", [{"prompt": "a b", "completion": "c d", "body": "the text"}])
    (batch,) = read_all([pc], text_field="body")
    assert batch.format is RecordFormat.TEXT
    assert batch.keys.to_pylist() == ["the text"]
    # A file without it is read in the format its columns give (a folder of several kinds;
    # `check --staged-context` reads every staged file with the config's text_field).
    lacking = write_jsonl("lacking.jsonl", [{"prompt": "a b", "completion": "c d"}])
    (batch,) = read_all([lacking], text_field="body")
    assert batch.format is RecordFormat.PROMPT_COMPLETION
    with pytest.raises(InputError, match=r"the text field 'body' .* is not a column here"):
        read_all([write_jsonl("t.jsonl", [{"text": "x"}])], text_field="body")


def test_a_text_field_with_another_named_format_is_refused(
    write_jsonl: Callable[..., Path],
) -> None:
    # It names the column of text records: with --format chat it did nothing, exit 0.
    path = write_jsonl("c.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    with pytest.raises(ConfigError, match=r"a text field \('body': .*\) given with format chat"):
        read_all([path], format="chat", text_field="body")


def test_curate_with_a_text_field_no_input_has_is_a_usage_error(
    write_jsonl: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every file read in the format its columns give: the option did nothing, exit 0.
    from curagate.cli import main

    path = write_jsonl("pc.jsonl", [{"prompt": "a b", "completion": "c d"}])
    out = tmp_path / "out"
    assert main(["curate", str(path), "--out", str(out), "--text-field", "body"]) == 2
    assert "the text field 'body'" in capsys.readouterr().err and not out.exists()
    # The staged run too (it was exit 0 there).
    staged = ["--work-dir", str(tmp_path / "w")]
    assert main(["curate", str(path), "--out", str(out), "--text-field", "body", *staged]) == 2
    assert "the text field 'body'" in capsys.readouterr().err and not out.exists()
    # Found by attack: split and leakage took it without a word (split's units were made
    # of prompt and completion, leakage scanned them).
    ref = write_jsonl("ref.jsonl", [{"id": "g", "prompt": "a golden question of some words"}])
    for argv in (
        ["split", str(path), "--out", str(out)],
        ["leakage", "--reference", str(ref), "--corpus", str(path), "--out", str(out)],
    ):
        assert main([*argv, "--text-field", "body"]) == 2, argv
        assert "the text field 'body'" in capsys.readouterr().err and not out.exists()
    # (found by the re-attack: an empty corpus, which holds no column at all, is no such
    # case; it is refused for holding no record, as curate refuses it)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    argv = ["leakage", "--reference", str(ref), "--corpus", str(empty), "--out", str(out)]
    for given in ([*argv, "--text-field", "body"], argv):
        assert main(given) == 2
        err = capsys.readouterr().err
        assert "no records found in 1 input file(s)" in err and "text field" not in err


def test_undetectable_format_names_the_columns_and_the_flags(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("q.jsonl", [{"question": "Why?", "answer": "Because."}])

    with pytest.raises(InputError) as info:
        read_all([path])

    message = str(info.value)
    assert "q.jsonl" in message
    assert "'question', 'answer'" in message
    assert "--format" in message
    assert "--text-field" in message


def test_named_format_overrides_detection(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("pc.jsonl", [{"prompt": "p", "completion": "c", "text": "t"}])

    [batch] = read_all([path], format="text")

    assert batch.format is RecordFormat.TEXT
    assert batch.keys.to_pylist() == ["t"]


def test_named_format_whose_field_no_record_has_is_an_input_error(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("t.jsonl", [{"text": "hello"}])

    with pytest.raises(InputError, match=r"t\.jsonl: no record has field 'messages'.*--format"):
        read_all([path], format=RecordFormat.CHAT)


def test_a_malformed_line_does_not_hide_a_field_no_record_has(tmp_path: Path) -> None:
    # A line that did not parse holds no field; it made "messages" count as held by a
    # quarantined row, and every row was quarantined "missing field 'messages'" (curate
    # exit 0 with nothing kept, check exit 1) instead of the input error.
    path = tmp_path / "fm.jsonl"
    path.write_text(
        '{"prompt": "a b c", "completion": "d"}\n{"prompt": "e", "completion": "h"}\n{"oops\n'
    )

    with pytest.raises(InputError, match=r"fm\.jsonl: no record has field 'messages'"):
        read_all([path], format=RecordFormat.CHAT)


def test_unknown_format_name_is_a_config_error(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [{"text": "hello"}])

    with pytest.raises(ConfigError, match="unknown format 'sharegpt'"):
        read_all([path], format="sharegpt")


def test_unknown_preference_key_is_a_config_error(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [{"text": "hello"}])

    with pytest.raises(ConfigError, match="preference_key"):
        read_all([path], preference_key="responses")


def test_each_file_gets_its_own_format(write_jsonl: Callable[..., Path]) -> None:
    text = write_jsonl("a.jsonl", [{"text": "hello"}])
    chat = write_jsonl("b.jsonl", [{"messages": _msgs(("user", "hi"))}])

    batches = read_all([text, chat])

    assert [b.format for b in batches] == [RecordFormat.TEXT, RecordFormat.CHAT]
    assert [b.source_index for b in batches] == [0, 1]
    assert all_keys(batches) == ["hello", "user: hi"]
    assert all_quarantined(batches) == []


def test_bad_options_fail_at_the_call_not_at_the_first_batch(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("t.jsonl", [{"text": "hello"}])

    with pytest.raises(ConfigError, match="batch_rows"):
        read_batches([path], batch_rows=0)
