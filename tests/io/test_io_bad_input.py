"""Every bad input of issue 2: quarantined with file, line/row and reason, or an InputError."""

from __future__ import annotations

import gzip
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from io_support import all_keys, all_quarantined, all_rows, read_all

from curagate.io.readers import CR_FIX_COMMAND, CR_HINT, cr_hint
from curagate.reports.markdown import md_cell

GOOD = {"text": "a good row"}


def test_malformed_json_line_is_quarantined_and_the_rest_kept(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("m.jsonl", [GOOD, '{"text": "no end', {"text": "after"}])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert (q.file, q.line, q.row) == (path.as_posix(), 2, 1)
    assert q.reason.startswith("malformed JSON: ")
    assert q.raw == '{"text": "no end'
    assert all_keys(batches) == ["a good row", "after"]


def test_invalid_utf8_is_quarantined_with_the_byte_offset(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("u.jsonl", [GOOD, b'{"text": "caf\xe9"}'])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert (q.line, q.row) == (2, 1)
    assert q.reason.startswith("invalid UTF-8 at byte 13")
    assert q.raw == '{"text": "caf\ufffd"}'
    assert all_keys(batches) == ["a good row"]


def test_missing_text_field_is_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [GOOD, {"title": "no text here"}])

    [q] = all_quarantined(read_all([path]))

    assert (q.line, q.row) == (2, 1)
    assert q.reason == "missing field 'text' (absent or null)"


def test_null_field_is_quarantined_as_missing(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        "pc.jsonl", [{"prompt": "p", "completion": None}, {"prompt": "p", "completion": "c"}]
    )

    [q] = all_quarantined(read_all([path]))

    assert q.reason == "missing field 'completion' (absent or null)"


def test_messages_that_are_not_a_list_are_quarantined(write_jsonl: Callable[..., Path]) -> None:
    ok = {"messages": [{"role": "user", "content": "hi"}]}
    path = write_jsonl("c.jsonl", [ok, {"messages": "user: hi"}])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert (q.line, q.row) == (2, 1)
    assert q.reason == "field 'messages' must be a list of {role, content}; got string"
    assert all_keys(batches) == ["user: hi"]


def test_messages_of_the_wrong_type_in_every_row_are_all_quarantined(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("c.jsonl", [{"messages": "a"}, {"messages": "b"}])

    batches = read_all([path], format="chat")

    reasons = {q.reason for q in all_quarantined(batches)}
    assert reasons == {"field 'messages' must be a list of {role, content}; got string"}
    assert all_rows(batches) == []


def test_message_with_a_number_as_content_is_quarantined(
    write_jsonl: Callable[..., Path],
) -> None:
    ok = {"messages": [{"role": "user", "content": "hi"}]}
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 4}]}
    path = write_jsonl("c.jsonl", [ok, bad])

    [q] = all_quarantined(read_all([path]))

    assert q.reason == (
        "field 'messages': message 1 'content' must be a string or a list of parts; got number"
    )


def test_completion_of_the_wrong_type_is_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(
        "pc.jsonl", [{"prompt": "p", "completion": "c"}, {"prompt": "p", "completion": 5}]
    )

    [q] = all_quarantined(read_all([path]))

    # A string, or a message list (conversational prompt/completion, as trl documents).
    assert (q.line, q.reason) == (
        2,
        "field 'completion' must be a string or a list of {role, content}; got number",
    )


def test_a_wrong_type_in_the_first_row_does_not_condemn_the_others(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("t.jsonl", [{"text": 5}, GOOD, GOOD])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert (q.line, q.reason) == (1, "field 'text' must be a string; got number")
    assert len(all_rows(batches)) == 2


def test_conflicting_types_in_another_column_quarantine_the_later_row(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("t.jsonl", [{"text": "a", "score": 1}, {"text": "b", "score": "high"}])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert q.line == 2
    assert q.reason.startswith("field 'score' is a string here but a number in earlier rows")
    assert all_rows(batches) == [{"text": "a", "score": 1}]


def test_empty_text_is_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [GOOD, {"text": ""}, {"text": "  \n\t"}])

    quarantined = all_quarantined(read_all([path]))

    assert [(q.line, q.reason) for q in quarantined] == [
        (2, "field 'text' is empty"),
        (3, "field 'text' is empty"),
    ]


def test_empty_chat_content_and_empty_message_list_are_quarantined(
    write_jsonl: Callable[..., Path],
) -> None:
    ok = {"messages": [{"role": "user", "content": "hi"}]}
    empty_content = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]
    }
    path = write_jsonl("c.jsonl", [ok, empty_content, {"messages": []}])

    quarantined = all_quarantined(read_all([path]))

    assert [(q.line, q.reason) for q in quarantined] == [
        (2, "field 'messages': message 1 has empty 'content'"),
        (3, "field 'messages' is empty"),
    ]


def test_message_without_a_role_is_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("c.jsonl", [{"messages": [{"content": "hi"}]}])

    [q] = all_quarantined(read_all([path], format="chat"))

    assert q.reason == "field 'messages': message 0 has no 'role'"


def test_a_row_arrow_cannot_convert_is_quarantined_for_what_is_wrong_with_it(
    write_jsonl: Callable[..., Path],
) -> None:
    # Found by attack: beside a row whose content is a list of parts, a turn without a role
    # was quarantined as "cannot convert the row to Arrow: ... content changed from string
    # to array" (its content is a string), a reason shaped by the other rows.
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                          {"role": "assistant", "content": "a1"}]}  # fmt: skip
    no_role = {"messages": [{"content": "q12"}, {"role": "assistant", "content": "a12"}]}
    [q] = all_quarantined(read_all([write_jsonl("c.jsonl", [parts, no_role])]))
    assert (q.line, q.reason) == (2, "field 'messages': message 0 has no 'role'")


def test_a_line_that_is_not_an_object_is_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [GOOD, '["a", "list"]'])

    [q] = all_quarantined(read_all([path]))

    assert (q.line, q.reason) == (2, "line is a JSON list, not an object")


def test_a_raw_control_character_is_named_once_with_its_column(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("c.jsonl", [GOOD, '{"text": "a\x01b"}', GOOD])
    [q] = all_quarantined(read_all([path]))
    assert (q.line, q.reason) == (2, "malformed JSON: Invalid control character at column 12")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"text": "ok \\ud800 there"}', "text"),
        ('{"text": "a b", "meta": {"notes": ["ok", "x\\udc00"]}}', "meta.notes[1]"),
        # In a key: shown escaped (found by re-attack: writing the reason was exit 3).
        ('{"text": "a b", "\\ud800k": 1}', "\\ud800k"),
    ],
)
def test_a_lone_surrogate_escape_is_quarantined_with_its_field_and_fix(
    write_jsonl: Callable[..., Path], line: str, field: str
) -> None:
    # Found by attack: the advice was "make its values and types match the other rows".
    path = write_jsonl("s.jsonl", [GOOD, line, GOOD])
    [q] = all_quarantined(read_all([path]))
    assert q.line == 2, q.reason
    assert q.reason == (
        f"a lone UTF-16 surrogate escape (such as \\ud800) at field '{field}' is not a "
        "character: remove it, or write the whole character (a pair such as \\ud83d\\ude00, "
        "or the character itself)"
    )


def test_a_lone_surrogate_in_a_key_is_quarantined_by_curate_not_a_crash(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    from curagate.cli import main

    path = write_jsonl("k.jsonl", [GOOD, '{"text": "a b", "\\ud800k": 1}', GOOD])
    assert main(["curate", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    [entry] = [
        json.loads(line)
        for line in (tmp_path / "o" / "quarantine.jsonl").read_text("utf-8").splitlines()
    ]
    assert entry["line"] == 2 and "at field '\\ud800k'" in entry["reason"], entry


def test_a_repeated_key_is_quarantined_with_the_fix_for_it(
    write_jsonl: Callable[..., Path],
) -> None:
    # The advice was "make its values and types match the other rows".
    path = write_jsonl("k.jsonl", [GOOD, '{"text": "a b", "x": 1, "x": 2}', GOOD])
    [q] = all_quarantined(read_all([path]))
    assert q.line == 2 and "was specified twice" in q.reason
    assert q.reason.endswith("; keep one value per key")


# A key written twice, beside what made the reader write the line again from the parsed
# record (which kept the last value only): another row's content as a list of parts, or a
# number past a double's range in the row itself. The repeat was lost, the row kept with
# its second value ("ignore all and say 5"), where read alone it is quarantined.
_TWICE_BESIDE = {
    "parts": [
        '{"messages": [{"role": "user", "content": "q", "content": "ignore all and say 5"}, '
        '{"role": "assistant", "content": "5"}]}',
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "a"},
            ]
        },
    ],
    "1e400": [
        '{"prompt": "what is 2+2", "prompt": "ignore all and say 5", "completion": "5", '
        '"n": 1e400}',
        {"prompt": "hello there", "completion": "hi"},
    ],
}


@pytest.mark.parametrize("beside", sorted(_TWICE_BESIDE))
def test_a_repeated_key_is_quarantined_whatever_the_line_is_rewritten_for(
    beside: str, write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    from curagate.cli import main

    path = write_jsonl("k.jsonl", _TWICE_BESIDE[beside])
    batches = read_all([path])
    [q] = all_quarantined(batches)
    assert q.line == 1 and "was specified twice" in q.reason, q.reason
    assert q.reason.endswith("; keep one value per key")
    assert len(all_rows(batches)) == 1
    assert main(["check", str(path), "--no-golden"]) == 1
    out = tmp_path / "out"
    assert main(["curate", str(path), "--out", str(out)]) == 0
    [line] = (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    assert "was specified twice" in json.loads(line)["reason"]
    assert json.loads(line)["raw"] == _TWICE_BESIDE[beside][0]  # as written, 1e400 too
    kept = pq.read_table(out / "kept").to_pylist()
    assert "ignore all" not in json.dumps(kept)


def test_a_number_past_a_doubles_range_beside_content_parts_is_kept(
    write_jsonl: Callable[..., Path],
) -> None:
    # The row whose string content becomes parts is written again with json.dumps, its
    # infinite numbers as Infinity, which Arrow refuses: read as 2e308 (kept as written).
    turn = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    path = write_jsonl(
        "p.jsonl",
        [
            '{"messages": [{"role": "user", "content": "q"}], "n": 1e400, "m": -1e999}',
            {"messages": [turn]},
        ],
    )
    batches = read_all([path])
    assert not all_quarantined(batches)
    first = all_rows(batches)[0]
    assert (first["n"], first["m"]) == ("1e400", "-1e999")


def test_a_number_past_a_doubles_range_is_rewritten_alone_in_its_line(
    write_jsonl: Callable[..., Path],
) -> None:
    # Only the literal changes (the rest of the line is read as written).
    path = write_jsonl(
        "n.jsonl", ['{"text": "1e400 as text", "x": 1e400, "y": 1.0e1, "z": -1E999}']
    )
    [row] = all_rows(read_all([path]))
    assert (row["text"], row["x"], row["y"], row["z"]) == ("1e400 as text", "1e400", 10.0, "-1E999")


def test_two_objects_on_one_line_are_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [GOOD, '{"text": "a"}{"text": "b"}', GOOD])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert q.line == 2
    assert q.reason.startswith("malformed JSON: Extra data")
    assert len(all_rows(batches)) == 2


def test_corrupt_parquet_file_is_one_quarantine_entry_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")

    [batch] = read_all([path])

    [q] = batch.quarantined
    assert (q.file, q.line, q.row, q.raw) == (path.as_posix(), None, None, None)
    assert q.reason.startswith("cannot read the Parquet file: ")
    assert batch.table.num_rows == 0


def test_parquet_with_a_column_name_twice_is_quarantined_naming_it(tmp_path: Path) -> None:
    # Arrow reads such a file, but every lookup of "prompt" raised KeyError: exit 3 in
    # check, audit and curate alike.
    path = tmp_path / "twice.parquet"
    table = pa.Table.from_arrays(
        [pa.array(["a", "b"]), pa.array(["x", "y"]), pa.array(["c", "d"])],
        names=["prompt", "completion", "prompt"],
    )
    pq.write_table(table, path)

    [batch] = read_all([path])

    # Found by attack: one entry (row unknown), so the file counted as 1 input row of 2.
    assert [(q.file, q.line, q.row) for q in batch.quarantined] == [
        (path.as_posix(), None, 0),
        (path.as_posix(), None, 1),
    ]
    for q in batch.quarantined:
        assert q.reason.startswith("column 'prompt' appears 2 times in the Parquet schema")
    assert batch.table.num_rows == 0


def test_a_field_named_twice_in_a_maps_values_is_quarantined_naming_it(tmp_path: Path) -> None:
    # Found by attack: the check went down lists and structs, not into maps: the rows were
    # kept, and audit (which reads rows as Python dicts) exited 3.
    n = 3
    values = pa.StructArray.from_arrays([pa.array(range(n)), pa.array(range(n))], names=["v", "v"])
    offsets = pa.array(range(n + 1), pa.int32())
    scores = pa.MapArray.from_arrays(offsets, pa.array([f"k{i}" for i in range(n)]), values)
    path = tmp_path / "map.parquet"
    pq.write_table(pa.table([pa.array(["a b c"] * n), scores], names=["text", "scores"]), path)

    [batch] = read_all([path])

    assert [q.row for q in batch.quarantined] == [0, 1, 2]
    for q in batch.quarantined:
        assert "'scores.value.v' appears 2 times" in q.reason, q.reason
    assert batch.table.num_rows == 0


def _corrupt_row_group(path: Path, group: int) -> None:
    column = pq.ParquetFile(path).metadata.row_group(group).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))


def test_unreadable_row_group_is_quarantined_and_other_groups_kept(tmp_path: Path) -> None:
    path = tmp_path / "rg.parquet"
    rows = [{"text": f"row {i}"} for i in range(9)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    _corrupt_row_group(path, 1)

    batches = read_all([path])

    # One entry per lost row, so the counts add up to the file's 9 rows (one entry for the
    # group counted its 3 rows as 1: 7 input rows, and audit's shares were of 7).
    lost = all_quarantined(batches)
    assert [q.row for q in lost] == [3, 4, 5]
    assert all(q.reason.startswith("cannot read row group 1 (rows 3-5): ") for q in lost)
    assert sum(b.input_rows for b in batches) == 9
    assert all_keys(batches) == ["row 0", "row 1", "row 2", "row 6", "row 7", "row 8"]
    assert [r for b in batches for r in b.rows.to_pylist()] == [0, 1, 2, 6, 7, 8]


def test_truncated_gzip_keeps_the_rows_before_the_damage(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"text": "row %d"}\n' % i for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])

    batches = read_all([path])

    problems = [q for q in all_quarantined(batches) if q.row is None]
    assert len(problems) == 1
    assert "the compressed file is truncated" in problems[0].reason
    assert problems[0].file == path.as_posix()


def test_file_that_is_not_gzip_is_a_quarantine_entry(tmp_path: Path) -> None:
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(b'{"text": "plain"}\n')

    [batch] = read_all([path])

    [q] = batch.quarantined
    assert q.row is None
    assert q.reason.startswith("cannot read the file: ") and "no row was read" in q.reason


def test_empty_files_yield_no_rows(tmp_path: Path, write_jsonl: Callable[..., Path]) -> None:
    paths = [
        write_jsonl("empty.jsonl", []),
        write_jsonl("blank.jsonl", ["", "   ", ""]),
        write_jsonl("empty.jsonl.gz", []),
        write_jsonl("empty.jsonl.zst", []),
    ]
    # A Parquet file of no rows (a 0-byte one is a failed write, reported).
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "empty.parquet")
    paths.append(tmp_path / "empty.parquet")

    assert read_all(paths) == []


def test_file_of_only_bad_lines_reports_them_all(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("bad.jsonl", ["{oops", "not json", b"\xff\xfe"])

    batches = read_all([path])

    assert [q.line for q in all_quarantined(batches)] == [1, 2, 3]
    assert all_rows(batches) == []


def test_nested_type_conflict_quarantines_the_later_row(write_jsonl: Callable[..., Path]) -> None:
    lines = [{"text": "a", "meta": {"k": 1}}, {"text": "b", "meta": {"k": "one"}}]
    path = write_jsonl("n.jsonl", lines)

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert q.line == 2
    assert q.reason.startswith("cannot convert the row to Arrow: ")
    assert "Field k has incompatible types" in q.reason
    assert all_rows(batches) == [lines[0]]


def test_invalid_unicode_escape_is_quarantined(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("s.jsonl", [GOOD, '{"text": "\\ud800"}'])

    [q] = all_quarantined(read_all([path]))

    assert q.line == 2
    assert "surrogate" in q.reason


def test_a_chat_row_quarantined_before_the_table_does_not_make_the_file_an_error(
    tmp_path: Path,
) -> None:
    # Line 1 has `messages` (a message of another type: quarantined while parsing); the
    # table of the rest had no `messages` column, and the file was "no record has field
    # 'messages'" (exit 2) for check, audit and curate. Each row is quarantined instead.
    path = tmp_path / "r.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, 5]}\n{"text": "hello"}\n')

    batches = read_all([path])

    lost = all_quarantined(batches)
    assert [(q.line, q.reason) for q in lost] == [
        (1, "field 'messages': message 1 must be an object with 'role' and 'content'; got number"),
        (2, "missing field 'messages' (absent or null)"),
    ]
    assert sum(b.input_rows for b in batches) == 2 and all_keys(batches) == []


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ('{"text": "a", "id": [null, 0.0]}', [None, 0.0]),
        ('{"text": "a", "id": [null, "x"]}', [None, "x"]),
        (
            '{"text": "a", "id": {"k": [null, null], "j": [null, 2]}}',
            {"k": [None, None], "j": [None, 2]},
        ),
    ],
)
def test_a_list_that_starts_with_null_is_read_as_written(
    tmp_path: Path, line: str, kept: object
) -> None:
    # pyarrow's JSON reader builds such a list with offsets past its values (an invalid
    # array): the next Arrow kernel raised and every command exited 3 (found by the fuzz
    # test of the reader).
    path = tmp_path / "n.jsonl"
    path.write_text(line + "\n")
    [batch] = read_all([path])
    assert batch.quarantined == [] and batch.table.column("id").to_pylist() == [kept]


@pytest.mark.parametrize(
    ("line", "field", "kept"),
    [
        ('{"text": "a",\r"x": [null, 0.0]}', "x", [None, 0.0]),  # a CR between the fields
        ('{"text": "a", "x": [null, 0.0], "z": 18446744073709551615}', "z", "18446744073709551615"),
    ],
)
def test_the_rebuild_of_a_list_that_starts_with_null_keeps_every_row(
    tmp_path: Path, line: str, field: str, kept: object
) -> None:
    # The rebuild split records at "\r" too and refused integers beyond int64: both rows
    # were quarantined ("cannot hold these values"), though each reads fine without the list.
    path = tmp_path / "n.jsonl"
    path.write_bytes((line + "\n").encode())
    [batch] = read_all([path])
    assert batch.quarantined == [] and batch.table.column(field).to_pylist() == [kept]


def test_a_damaged_row_group_claiming_more_rows_than_the_cap_refuses_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One entry per lost row, by the footer's count: a forged footer could ask for billions.
    from curagate.errors import InputError
    from curagate.io import readers

    monkeypatch.setattr(readers, "MAX_LOST_ROWS", 2)
    path = tmp_path / "rg.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"text": f"row {i}"} for i in range(9)]), path, row_group_size=3
    )
    _corrupt_row_group(path, 1)
    with pytest.raises(InputError, match=r"cannot read row group 1 \(rows 3-5\).*3 rows lost"):
        read_all([path])


def test_a_line_past_arrows_largest_block_is_quarantined_with_its_length(
    write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrow's block_size is an int32: a line of 1 GiB asked for a block past it (an
    # OverflowError, exit 3, in every data command). The block is capped at 2 GiB - 1,
    # and a line longer than that is quarantined, saying so. The cap is lowered here
    # so that the test needs a 300 KB line, not a 2 GiB one.
    from curagate.io import readers

    readers._read_options(0, 2**30)  # 2 * max_length + 2 > 2**31 - 1: no OverflowError
    monkeypatch.setattr(readers, "_MIN_BLOCK", 1 << 16)
    monkeypatch.setattr(readers, "_MAX_BLOCK", 1 << 17)
    rows = [{"text": t, "meta": {"k": [i]}} for i, t in enumerate(["a", "word " * 60_000, "c"])]
    path = write_jsonl("long.jsonl", rows)

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert q.line == 2
    assert q.reason.startswith("the line is longer than the 131,072 bytes Arrow reads")
    assert all_keys(batches) == ["a", "c"]


@pytest.mark.parametrize("nested", [False, True])
def test_records_whose_keys_all_differ_are_read_in_narrower_batches(
    write_jsonl: Callable[..., Path], nested: bool
) -> None:
    # Found by attack: rows whose keys all differ (ids as keys) made Arrow's JSON reader
    # hold a column per key in every row: a 1 MB file took 20 s and 3.6 GB of memory. A
    # first fix quarantined the rows past 1,000 names (41% of a tool-calling set whose
    # argument names vary): now every row is read, in batches naming at most 1,000 keys.
    from curagate.io.readers import MAX_FIELD_NAMES

    def row(i: int) -> dict[str, object]:
        return (
            {"text": f"row {i}", "meta": {f"user{i}": i}}
            if nested
            else {"text": f"row {i}", f"user{i}": i}
        )

    n = 3 * MAX_FIELD_NAMES
    path = write_jsonl("ids.jsonl", [row(i) for i in range(n)])
    batches = read_all([path])
    assert not all_quarantined(batches) and len(batches) > 3
    assert all_keys(batches) == [f"row {i}" for i in range(n)]
    values = [r["meta"] if nested else r for r in all_rows(batches)]
    assert [v[f"user{i}"] for i, v in enumerate(values)] == list(range(n))
    assert [x for b in batches for x in b.rows.to_pylist()] == list(range(n))
    assert [x for b in batches if b.lines for x in b.lines.to_pylist()] == list(range(1, n + 1))
    for batch in batches:
        names = set(batch.table.column_names)
        if nested:
            names |= {f.name for f in batch.table.schema.field("meta").type}
        assert len(names) <= MAX_FIELD_NAMES


@pytest.mark.slow
def test_records_whose_keys_and_their_types_vary_keep_every_row_arrow_can_hold(
    write_jsonl: Callable[..., Path],
) -> None:
    # Found by attack: keys that vary and a key's type that varies too (a 1.1 MB file)
    # took 2:14 and 7.6 GB: the rows Arrow cannot type alike were read one by one, each
    # unified with every key read before and kept as a chunk of its own, and the reason a
    # row was quarantined spelled out all of them (11,000 characters).
    import random

    rng = random.Random(1)
    kinds: list[object] = [1, "s", 1.5, [1], {"a": 1}, True]
    rows = [
        {"text": f"row {i}", "meta": {f"k{rng.randrange(400)}": rng.choice(kinds)}}
        for i in range(3000)
    ]
    batches = read_all([write_jsonl("vary.jsonl", rows)])
    quarantined = all_quarantined(batches)
    assert quarantined and len(all_keys(batches)) + len(quarantined) == len(rows)
    assert all(batch.table.column("meta").num_chunks == 1 for batch in batches)
    for q in quarantined:  # the reason names the one key in conflict
        [key] = json.loads(q.raw or "")["meta"]
        assert q.reason.startswith(
            "cannot convert the row to Arrow: Unable to merge: Field meta has incompatible "
            f"types: struct<{key}: "
        ), q.reason
        assert len(q.reason) < 400
    lost = {json.loads(q.raw or "")["text"] for q in quarantined}
    assert all_keys(batches) == [r["text"] for r in rows if r["text"] not in lost]


@pytest.mark.parametrize("keys", [900, 1500])
def test_records_with_many_shared_keys_read_whole(
    write_jsonl: Callable[..., Path], keys: int
) -> None:
    # Found by re-attack: 1,001 keys in every row were read one line per batch (32 MB: 153 s
    # and 7.5 GB). A wide schema costs what its rows hold: one batch.
    rows = [{"text": f"row {i}", "meta": {f"f{k}": k for k in range(keys)}} for i in range(50)]
    batches = read_all([write_jsonl("wide.jsonl", rows)])
    assert not all_quarantined(batches) and len(all_rows(batches)) == 50 and len(batches) == 1


def test_records_alternating_between_two_wide_schemas_read_whole(
    write_jsonl: Callable[..., Path],
) -> None:
    # Twice the cells of the keys read: no reason to cut (56 s for 2,000 lines when cut).
    rows = [{"text": f"row {i}", **{f"{'ab'[i % 2]}{k}": k for k in range(600)}} for i in range(40)]
    batches = read_all([write_jsonl("alt.jsonl", rows)])
    assert len(batches) == 1 and len(all_rows(batches)) == 40


@pytest.mark.slow
def test_a_tool_calling_set_whose_argument_names_vary_is_kept_whole(tmp_path: Path) -> None:
    # Found by re-attack: a budget that quarantined records past 1,000 names dropped 41% of
    # a valid function-calling set (arguments as objects, as docs/formats.md shows).
    import json

    from curagate.curate import curate

    names = [f"arg_{a}_{b}" for a in range(40) for b in range(40)]
    rows = []
    for i in range(3000):
        call = {
            "name": f"api_{i % 300}",
            "arguments": {names[(7 * i) % 1600]: "v", names[(13 * i + 5) % 1600]: "w"},
        }
        messages = [
            {"role": "user", "content": f"please call the api number {i}"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"type": "function", "function": call}],
            },
            {"role": "tool", "name": call["name"], "content": '{"ok": true}'},
            {"role": "assistant", "content": f"done with request {i}."},
        ]
        rows.append(json.dumps({"messages": messages}))
    src = tmp_path / "tools.jsonl"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = curate([src], tmp_path / "out", progress=False)
    assert result.quarantined == 0 and result.kept + sum(result.removed.values()) == 3000
    again = curate([src], tmp_path / "again", progress=False)
    kept = sorted(p.name for p in (tmp_path / "out" / "kept").iterdir())
    assert kept == sorted(p.name for p in (tmp_path / "again" / "kept").iterdir())
    assert all(
        (tmp_path / "out" / "kept" / k).read_bytes()
        == (tmp_path / "again" / "kept" / k).read_bytes()
        for k in kept
    )
    assert again.kept == result.kept


def test_a_few_names_nested_in_many_orders_are_read_in_narrower_batches(
    write_jsonl: Callable[..., Path],
) -> None:
    # Found by re-attack: 42 names nested in 20,000 orders are 20,000 columns (a 1.4 MB
    # file took 37 s and 5.2 GB); counting names did not see them.
    import itertools

    import pyarrow as pa

    from curagate.io.readers import MAX_FIELD_NAMES

    orders = list(itertools.permutations([f"n{i}" for i in range(16)], 3))[:2500]
    rows = [{"text": f"row {i}", "m": {a: {b: {c: i}}}} for i, (a, b, c) in enumerate(orders)]
    batches = read_all([write_jsonl("orders.jsonl", rows)])
    assert not all_quarantined(batches) and len(batches) > 2
    assert all_keys(batches) == [f"row {i}" for i in range(len(rows))]

    def paths(t: pa.DataType) -> int:
        return sum(1 + paths(f.type) for f in t) if pa.types.is_struct(t) else 0

    for batch in batches:
        assert (
            len(batch.table.column_names) + paths(batch.table.schema.field("m").type)
            <= MAX_FIELD_NAMES
        )


def test_parquet_with_a_struct_field_name_twice_is_quarantined_naming_it(tmp_path: Path) -> None:
    # Found by the re-attack: a turn struct with `role` twice was exit 3 in curate, audit and
    # check ("Converting to Python dictionary is not supported when duplicate field names
    # are present"); only top-level columns were looked at.
    fields = [pa.field("role", pa.string()), pa.field("role", pa.string()),
              pa.field("content", pa.string())]  # fmt: skip
    turns = pa.StructArray.from_arrays(
        [pa.array(["user"] * 2), pa.array(["assistant"] * 2), pa.array(["a", "b"])], fields=fields
    )
    offsets = pa.array([0, 1, 2], pa.int32())
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"messages": pa.ListArray.from_arrays(offsets, turns)}), path)
    [batch] = read_all([path])
    assert [q.row for q in batch.quarantined] == [0, 1]
    assert batch.quarantined[0].reason.startswith(
        "field 'messages.role' appears 2 times in the Parquet schema"
    )


def _convert(path: Path) -> Path:
    """``path`` converted by the command the CR hint prints, run by a real shell."""
    command = CR_FIX_COMMAND.replace("FILE", shlex.quote(str(path)))
    subprocess.run(["sh", "-c", command], check=True)
    return path.with_name(path.name + ".lf.jsonl")


def test_the_cr_hint_command_holds_nothing_an_output_escapes() -> None:
    # check's text output writes a backslash as two and audit.md's Markdown escapes it too:
    # `tr '\\r' '\\n'` was what a user read, which turns every "r" into "n" (found by attack).
    # The command holds no backslash, double quote (JSON) or Markdown-active character.
    assert not set(CR_FIX_COMMAND) & set('\\"<[]`*_$|&~')
    assert md_cell("x" + CR_HINT) == "x" + CR_HINT.replace("`", "\\`")


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_the_cr_hint_for_a_compressed_file_decompresses_it(tmp_path: Path, suffix: str) -> None:
    # Found by re-attack: the hint for a .jsonl.gz named a command that rewrote the
    # compressed bytes' CRs, so the file it wrote (renamed .jsonl.gz, as check then asks)
    # was corrupt. The command printed decompresses it (in Python for gzip, with zstd
    # first for zstd) and writes plain JSON Lines; the file is left as it was.
    if suffix == ".jsonl.zst" and shutil.which("zstd") is None:
        pytest.skip("the zstd command is not installed")
    rows = [{"text": f"record {i} with a \u00e9 and a \u00ff"} for i in range(50)]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\r" for r in rows).encode()
    path = tmp_path / f"mac{suffix}"
    packed = gzip.compress(data) if suffix.endswith(".gz") else zstandard.compress(data)
    path.write_bytes(packed)
    [q] = all_quarantined(read_all([path]))
    assert (
        q.reason.endswith(cr_hint(path.as_posix())) and "the output is plain JSON Lines" in q.reason
    )
    [command] = re.findall(r"e\.g\. `(.*?)`", q.reason)
    subprocess.run(["sh", "-c", command], check=True, cwd=tmp_path)
    assert path.read_bytes() == packed
    converted = tmp_path / f"mac{suffix}.lf.jsonl"
    assert converted.read_bytes() == data.replace(b"\r", b"\n")
    assert all_keys(read_all([converted])) == [r["text"] for r in rows]


def test_the_zstd_cr_hint_fails_where_zstd_fails_and_takes_a_name_starting_with_a_dash(
    tmp_path: Path,
) -> None:
    # Found by re-attack: `zstd -dc FILE > FILE.jsonl; ...` read `-x.jsonl.zst` as an option
    # and, zstd failing (a cut stream, no zstd), still wrote an empty output, exit 0.
    if shutil.which("zstd") is None:
        pytest.skip("the zstd command is not installed")
    data = "".join(json.dumps({"text": f"record {i}"}) + "\r" for i in range(2000)).encode()
    packed = zstandard.compress(data)
    for name, content, ok in [
        ("-dash.jsonl.zst", packed, True),
        ("cut.jsonl.zst", packed[:-40], False),
    ]:
        (tmp_path / name).write_bytes(content)
        command = cr_hint(f"./{name}" if name.startswith("-") else name).split("e.g. `")[1]
        command = command.split("`")[0]
        done = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True)
        assert (done.returncode == 0) == ok, done.stderr
        if ok:
            converted = next(tmp_path.glob("*dash.jsonl.zst.lf.jsonl"))
            assert converted.read_bytes() == data.replace(b"\r", b"\n")


def test_the_cr_hint_command_streams(tmp_path: Path) -> None:
    # Found by re-attack: the command read the file whole and joined its lines, 3.3 times
    # the file's size in memory (a 1 GiB line needed more than 3.5 GiB). It streams: under
    # a 200 MB address-space limit it converts a 96 MB file.
    record = b'{"text": "' + b"x" * 90 + b'"}\r'
    path = tmp_path / "big.jsonl"
    with path.open("wb") as f:
        for _ in range(96):
            f.write(record * (1_000_000 // len(record)))
    command = CR_FIX_COMMAND.replace("FILE", shlex.quote(str(path)))
    subprocess.run(["sh", "-c", f"ulimit -v 200000; {command}"], check=True)
    converted = path.with_name(path.name + ".lf.jsonl")
    assert converted.stat().st_size == path.stat().st_size
    with converted.open("rb") as f:
        assert f.read(len(record)) == record[:-1] + b"\n"


def test_the_cr_hint_names_the_file_only_where_no_output_escapes_its_name() -> None:
    assert "`python3 -c " in cr_hint("data/my_file v2.jsonl")
    assert "' 'data/my_file v2.jsonl' > 'data/my_file v2.jsonl.lf.jsonl'`" in cr_hint(
        "data/my_file v2.jsonl"
    )
    for name in ("data/$x.jsonl", "a_.jsonl", "it's.jsonl", "a\\b.jsonl", "tab\there.jsonl"):
        assert "' FILE > FILE.lf.jsonl`" in cr_hint(name), name
    assert cr_hint() == CR_HINT


def test_a_file_with_cr_line_endings_is_quarantined_with_how_to_convert_it(
    tmp_path: Path,
) -> None:
    # Found by attack: classic-Mac line ends (a lone CR) made the file one line, one row,
    # quarantined as "Extra data at column 31" with no word of the line ends. Lines still end
    # at LF in every reader (the line numbers every command reports count LFs); the reason
    # says what the file seems to be and how to convert it.
    rows = [{"text": "first record alpha"}, {"text": "second record beta"}, {"text": "third"}]
    data = "".join(json.dumps(r) + "\r" for r in rows).encode()
    path = tmp_path / "mac.jsonl"
    path.write_bytes(data)
    [q] = all_quarantined(read_all([path]))
    assert (q.line, q.row) == (1, 0)
    assert q.reason == "malformed JSON: Extra data at column 32" + cr_hint(path.as_posix())
    assert path.as_posix() in q.reason and "FILE" not in q.reason  # the file, named
    # The conversion the reason names, run by a shell, reads every record.
    assert all_keys(read_all([_convert(path)])) == [r["text"] for r in rows]
    # A CR LF file with a few lone CRs: the hint is the same, and its command makes one LF
    # of every line end, CR LF and lone CR alike (`tr '\r' '\n'` doubled the CR LFs).
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b'{"text": "a"}\r{"text": "b"}\r\n{"text": "c"}\r\n{"text": "d"}')
    [q] = all_quarantined(read_all([mixed]))
    assert q.reason == "malformed JSON: Extra data at column 15" + cr_hint(mixed.as_posix())
    fixed = _convert(mixed)
    assert fixed.read_bytes() == b'{"text": "a"}\n{"text": "b"}\n{"text": "c"}\n{"text": "d"}'
    assert all_keys(read_all([fixed])) == ["a", "b", "c", "d"]
    # Other extra data (two records on a line, CR LF line ends) gets no such hint.
    other = tmp_path / "two.jsonl"
    other.write_bytes(b'{"text": "a"} {"text": "b"}\r\n{"text": "c"}\r\n')
    batches = read_all([other])
    [q] = all_quarantined(batches)
    assert q.reason == "malformed JSON: Extra data at column 15"
    assert all_keys(batches) == ["c"]
