"""Rows nested thousands deep are quarantined (no crash in curate, split, audit);
integer ids beyond what a double holds exactly stay exact, as strings."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_support import all_quarantined, cli, read_all

from curagate.cli import main


def deep_row(levels: int) -> str:
    return '{"text": "deep row", "a": ' + "[" * levels + "]" * levels + "}"


def write_deep(path: Path, levels: int) -> Path:
    rows = [json.dumps({"text": f"row {i}"}) for i in range(5)]
    rows.insert(2, deep_row(levels))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# The documented limit is 128 levels of objects/arrays (docs/formats.md), written here
# rather than imported so that a changed limit fails instead of moving with the test. The
# row's own object is one level: 128 arrays inside it make 129, one past the limit.
@pytest.mark.parametrize("levels", [128, 3000, 50_000])
@pytest.mark.slow
def test_too_deep_rows_are_quarantined_by_the_reader(tmp_path: Path, levels: int) -> None:
    path = write_deep(tmp_path / "d.jsonl", levels)
    batches = read_all([path])
    [q] = all_quarantined(batches)
    assert (q.line, q.row) == (3, 2)
    assert q.reason.startswith("nested too deep")
    assert sum(b.table.num_rows for b in batches) == 5


def nested_objects(levels: int) -> str:
    return '{"text": "deep row", "a": ' + '{"b": ' * levels + "1" + "}" * levels + "}"


# A field's value may take 98 Parquet levels (docs/formats.md), an object one, an array two.
@pytest.mark.parametrize(
    ("row", "kept"),
    [
        (deep_row(49), True),
        (deep_row(50), False),
        (nested_objects(98), True),
        (nested_objects(99), False),
    ],
)
def test_rows_past_what_parquet_holds_are_quarantined(tmp_path: Path, row: str, kept: bool) -> None:
    # Found by attack: 50 arrays inside each other (or 99 objects) were kept, and the kept
    # file with every row of its input could not be read back by any Parquet reader
    # (curate exit 0; verify, check and split then failed on it).
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(5)) + row + "\n")
    [(kept_rows, quarantined)] = [
        (sum(b.table.num_rows for b in batches), all_quarantined(batches))
        for batches in [read_all([path])]
    ]
    assert (kept_rows, len(quarantined)) == ((6, 0) if kept else (5, 1))
    assert main(["curate", str(path), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    for part in (tmp_path / "c" / "kept").iterdir():
        assert pq.read_table(part).num_rows == (6 if kept else 5)
    assert main(["verify", str(tmp_path / "c")]) == 0
    assert main(["split", str(tmp_path / "c" / "kept"), "--out", str(tmp_path / "s")]) == 0


@pytest.mark.slow
def test_curate_and_split_quarantine_a_row_3000_deep(tmp_path: Path) -> None:
    path = write_deep(tmp_path / "d.jsonl", 3000)
    done = cli("curate", str(path), "--out", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    [q] = [json.loads(x) for x in (tmp_path / "c" / "quarantine.jsonl").read_text().splitlines()]
    assert q["line"] == 3 and "nested too deep" in q["reason"]
    done = cli("split", str(path), "--out", str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_audit_reports_a_row_1000_deep_without_a_traceback(tmp_path: Path) -> None:
    path = write_deep(tmp_path / "d.jsonl", 1000)
    done = cli("audit", str(path), "--out", str(tmp_path / "a"))
    assert "Traceback" not in done.stderr
    assert done.returncode == 1
    assert "nested too deep" in done.stdout


def tool_call_row(arguments: str) -> dict[str, Any]:
    call = {"type": "function", "function": {"name": "lookup", "arguments": arguments}}
    return {
        "messages": [
            {"role": "user", "content": "look it up please"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
        ]
    }


@pytest.mark.parametrize("levels", [950, 100_000])
def test_tool_call_arguments_nested_deep_are_kept_as_written(tmp_path: Path, levels: int) -> None:
    # The arguments string is parsed for the dedup key: nested 100,000 deep it raised
    # RecursionError, 950 deep it overflowed the key's canonical JSON (exit 3 in curate,
    # check, audit and split). Past the records' limit it is keyed as the string it is.
    from curagate.cli import main
    from curagate.records import tool_call_texts

    deep = "[" * levels + "]" * levels
    rows = [tool_call_row(deep), tool_call_row(deep), tool_call_row('{"q": [1, 2]}')]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert tool_call_texts(rows[0]["messages"][1]) == [f"[tool_use] lookup({deep})"]
    assert tool_call_texts(rows[2]["messages"][1]) == ['[tool_use] lookup({"q":[1,2]})']
    assert main(["curate", str(path), "--out", str(tmp_path / "c")]) == 0
    stats = json.loads((tmp_path / "c" / "stats.json").read_text(encoding="utf-8"))
    assert (stats["totals"]["kept"], stats["totals"]["removed"]) == (2, {"exact": 1})
    assert main(["check", str(path)]) == 1  # the exact copy is reported
    assert main(["split", str(path), "--out", str(tmp_path / "s")]) == 0
    assert main(["audit", str(path), "--out", str(tmp_path / "a")]) in (0, 1)
    assert (tmp_path / "a" / "report.html").is_file()


def test_integer_ids_beyond_int64_stay_exact_and_distinct(tmp_path: Path) -> None:
    big = [2**64 + 1, 2**64 + 2, -(2**70) - 1]
    path = tmp_path / "ids.jsonl"
    path.write_text(
        "".join(f'{{"id": {i}, "text": "row number {k}"}}\n' for k, i in enumerate(big)),
        encoding="utf-8",
    )
    [batch] = read_all([path])
    assert batch.ids.to_pylist() == [str(i) for i in big]
    assert batch.table.column("id").to_pylist() == [str(i) for i in big]
    out = tmp_path / "out"
    done = cli("curate", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    kept = pq.read_table(out / "kept" / "part-00000.parquet").column("id").to_pylist()
    assert kept == [str(i) for i in big]


def test_int64_ids_above_2_53_are_exact(tmp_path: Path) -> None:
    ids = [2**53 + 1, 2**53 + 2, 2**63 - 1]
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(f'{{"id": {i}, "text": "t{i}"}}\n' for i in ids), encoding="utf-8")
    [batch] = read_all([path])
    assert batch.ids.to_pylist() == [str(i) for i in ids]


def test_a_binary_id_that_is_not_utf8_is_hex_and_leaves_its_neighbours_ids(
    tmp_path: Path,
) -> None:
    # One such value failed the cast of its whole row group: doc-3 became "ids.parquet:2".
    schema = pa.schema([("id", pa.binary()), ("text", pa.string())])
    path = tmp_path / "ids.parquet"
    with pq.ParquetWriter(path, schema) as writer:
        for ids in ([b"doc-1", b"doc-2"], [b"doc-3", b"\xffdoc-4", None]):
            texts = [f"row {i}" for i in range(len(ids))]
            writer.write_table(pa.table({"id": ids, "text": texts}, schema=schema))

    batches = read_all([path])

    assert [i for b in batches for i in b.ids.to_pylist()] == [
        "doc-1",
        "doc-2",
        "doc-3",
        "hex:ff646f632d34",
        f"{path.as_posix()}:4",
    ]


def test_a_fixed_size_binary_id_is_its_text_or_hex(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    ids = pa.array([b"ab-1", b"\x00\x01\xfe\xff"], pa.binary(4))
    pq.write_table(pa.table({"id": ids, "text": ["one", "two"]}), path)

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == ["ab-1", "hex:0001feff"]


def test_a_dictionary_binary_id_is_converted_value_by_value(tmp_path: Path) -> None:
    # One non-UTF-8 value failed the cast of the whole column: every id was "<file>:<row>".
    path = tmp_path / "ids.parquet"
    ids = pa.array([b"doc-1", b"\xffdoc-2", b"doc-1", None]).dictionary_encode()
    pq.write_table(pa.table({"id": ids, "text": ["a", "b", "c", "d"]}), path)

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == ["doc-1", "hex:ff646f632d32", "doc-1", f"{path.as_posix()}:3"]


@pytest.mark.skipif(not hasattr(pa, "uuid"), reason="Arrow's uuid type needs pyarrow 18")
def test_a_uuid_id_is_its_canonical_string(tmp_path: Path) -> None:
    # Its 16 bytes were read as UTF-8: "<file>:<row>", or made-up text when they were.
    first = uuid.UUID("12345678-90ab-cdef-1234-567890abcdef")
    ascii_bytes = uuid.UUID(bytes=b"0123456789abcdef")  # valid UTF-8 as bytes
    path = tmp_path / "ids.parquet"
    ids = pa.array([first.bytes, ascii_bytes.bytes, None], pa.uuid())
    pq.write_table(pa.table({"id": ids, "text": ["a", "b", "c"]}), path)

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == [str(first), str(ascii_bytes), f"{path.as_posix()}:2"]
    assert batch.ids.to_pylist()[1] == "30313233-3435-3637-3839-616263646566"


@pytest.mark.parametrize("nested", [False, True], ids=["native-reader", "arrow-reader"])
def test_integers_in_a_column_arrow_reads_as_doubles_are_kept_exactly_as_strings(
    tmp_path: Path, nested: bool
) -> None:
    # A fraction or an integer beyond int64 makes Arrow read the whole column as doubles:
    # 2^53 + 1 became 2^53 in kept/, and an integer of 400 digits infinity.
    values = ["9007199254740993", "18446744073709551617", "1.50", "1" + "0" * 400, "-0", "null"]
    extra = ', "meta": {"k": 1}' if nested else ""  # a struct column: Arrow's reader
    path = tmp_path / "n.jsonl"
    path.write_text(
        "".join(f'{{"text": "row number {k}", "n": {v}{extra}}}\n' for k, v in enumerate(values)),
        encoding="utf-8",
    )
    exact = ["9007199254740993", "18446744073709551617", "1.5", "1" + "0" * 400, "0", None]
    [batch] = read_all([path])
    assert batch.table.column("n").to_pylist() == exact
    out = tmp_path / "out"
    assert main(["curate", str(path), "--out", str(out)]) == 0
    kept = pq.read_table(out / "kept" / "part-00000.parquet").column("n").to_pylist()
    assert kept == exact


def test_a_literal_beyond_a_doubles_range_is_never_infinity(tmp_path: Path) -> None:
    # 1.7976931348623159e308 is finite as written but a double rounds it to infinity:
    # it was kept as inf (and two such ids were both "Infinity").
    path = tmp_path / "n.jsonl"
    path.write_text(
        '{"id": 1.7976931348623159e308, "text": "a b c", "x": 1.7976931348623159e308}\n'
        '{"id": 1.797693134862316e308, "text": "d e f", "x": 2}\n'
        '{"id": 3, "text": "g h i", "m": {"y": 1.8e308}}\n'
        '{"id": 4, "text": "j k l", "m": {"y": 0.5}}\n',
        encoding="utf-8",
    )
    batches = read_all([path])
    kept = [row for b in batches for row in b.table.to_pylist()]
    assert [(r["id"], r["x"]) for r in kept] == [
        ("1.7976931348623159e308", "1.7976931348623159e308"),
        ("1.797693134862316e308", "2"),
        ("4", None),
    ]
    [q] = all_quarantined(batches)
    assert q.line == 3 and q.reason.startswith("field 'm.y' holds 1.8e308, which the double")


def test_a_literal_whose_exponent_arrow_refuses_is_kept_as_written_like_any_beyond_range(
    tmp_path: Path,
) -> None:
    # Arrow's parser refuses 1e309 and up ("Number too big to be stored in double")
    # while it reads 1.8e308 as infinity: such a row was quarantined with Arrow's error,
    # not kept as the string of its literal (top level) or quarantined naming the field.
    path = tmp_path / "n.jsonl"
    path.write_text(
        '{"text": "a b c", "x": 1.5}\n'
        '{"text": "d e f Infinity", "x": 1e400}\n'
        '{"text": "g h i", "x": -1E+309, "s": "-Infinity"}\n'
        '{"text": "j k l", "m": {"y": 1e999}}\n',
        encoding="utf-8",
    )
    batches = read_all([path])
    kept = [row for b in batches for row in b.table.to_pylist()]
    assert [(r["text"], r["x"], r["s"]) for r in kept] == [
        ("a b c", "1.5", None),
        ("d e f Infinity", "1e400", None),
        ("g h i", "-1E+309", "-Infinity"),
    ]
    [q] = all_quarantined(batches)
    assert q.line == 4 and q.reason.startswith("field 'm.y' holds 1e999, which the double")


def test_a_lone_surrogate_beside_a_number_arrow_refuses_is_quarantined_not_a_crash(
    tmp_path: Path,
) -> None:
    # The line written again for Arrow could not be encoded (UnicodeEncodeError: exit 3).
    path = tmp_path / "n.jsonl"
    path.write_text(
        '{"id": 0, "text": "base", "x": 2.0}\n{"id": 2, "text": "\\ud800 lone", "x": 1e400}\n',
        encoding="utf-8",
    )
    batches = read_all([path])
    assert [r["text"] for b in batches for r in b.table.to_pylist()] == ["base"]
    [q] = all_quarantined(batches)
    assert q.line == 2 and "surrogate" in q.reason


def test_a_column_of_doubles_without_rounded_integers_stays_doubles(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text(
        '{"text": "a b c", "n": 1e20}\n{"text": "d e f", "n": 0.5}\n{"text": "g h", "n": 3}\n',
        encoding="utf-8",
    )
    [batch] = read_all([path])
    assert batch.table.column("n").to_pylist() == [1e20, 0.5, 3.0]


def test_a_rounded_integer_inside_an_object_or_list_is_quarantined_naming_the_field(
    tmp_path: Path,
) -> None:
    # A nested field cannot change its type alone: the row would be kept with 2^53 + 1
    # rounded to 2^53, so it is quarantined instead, and the others are kept as read.
    path = tmp_path / "m.jsonl"
    rows = [
        '{"text": "a", "m": {"x": 9007199254740993}}',
        '{"text": "b", "m": {"x": 1.5}}',
        '{"text": "c", "m": {"xs": [1, 18446744073709551617]}}',
        '{"text": "d", "m": {"x": 9007199254740992, "xs": [2]}}',
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    batches = read_all([path], format="text")
    kept = [row for b in batches for row in b.table.to_pylist()]
    assert [(r["text"], r["m"]) for r in kept] == [
        ("b", {"x": 1.5, "xs": None}),
        ("d", {"x": 9007199254740992.0, "xs": [2.0]}),
    ]
    quarantined = [(q.line, q.reason) for q in all_quarantined(batches)]
    assert [line for line, _ in quarantined] == [1, 3]
    assert quarantined[0][1].startswith("field 'm.x' holds 9007199254740993, which the double")
    assert quarantined[1][1].startswith("field 'm.xs[1]' holds 18446744073709551617, which")
    assert all(reason.endswith("write such numbers as strings") for _, reason in quarantined)


def test_an_integer_beyond_2_53_in_a_list_that_becomes_double_is_quarantined_not_a_crash(
    tmp_path: Path,
) -> None:
    # The rows cannot share one Arrow chunk (a list of ints, of booleans, of floats): they
    # are converted one by one, and the int list then cannot be cast to the double list
    # the floats make of the column (found by tests/io/test_io_fuzz.py).
    path = tmp_path / "f.jsonl"
    rows = [
        {"text": "a", "meta": [2**53 + 1]},
        {"text": "b", "meta": [False]},
        {"text": "c", "meta": [0.5]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    batches = read_all([path], format="text")
    kept = [row["text"] for b in batches for row in b.table.to_pylist()]
    quarantined = [(q.line, q.reason) for q in all_quarantined(batches)]
    assert kept == ["c"]
    assert [line for line, _ in quarantined] == [1, 2]
    # The rows that can share a table are read as one (the double list the float makes of
    # the column), and the integer it would round is named.
    assert quarantined[0][1].startswith(
        "field 'meta[0]' holds 9007199254740993, which the double its column stores it as"
    )
    assert quarantined[0][1].endswith("write such numbers as strings")


@pytest.mark.parametrize(
    "meta",
    # After a null in a list, pyarrow gives the keyless objects fewer values than the
    # list's offsets name (every reader exited 3).
    [{}, [{}], {"a": {}}, [[{}], []], [None, {}], [None, None, {}], {"a": [None, {}]}],
)
def test_objects_without_keys_inside_a_field_are_curated_not_a_crash(
    tmp_path: Path, meta: Any
) -> None:
    # Arrow reads {} in every row as a struct without fields, which Parquet cannot
    # store: curate exited 3 (ArrowNotImplementedError) writing its outputs.
    from curagate.curate import curate

    path = tmp_path / "empty_objects.jsonl"
    rows = [{"id": f"r{i}", "text": f"record number {i}", "meta": meta} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = curate([path], tmp_path / "out", threads=1)
    assert result.quarantined == 0
    kept = pq.read_table(tmp_path / "out" / "kept" / "part-00000.parquet")
    assert kept.column("text").to_pylist() == [r["text"] for r in rows]
    # Each keyless object is null; the lists and objects around it are kept.
    assert kept.column("meta").to_pylist() == [_keyless_as_none(meta)] * 5


def _keyless_as_none(value: Any) -> Any:
    if value == {}:
        return None
    if isinstance(value, dict):
        return {k: _keyless_as_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keyless_as_none(v) for v in value]
    return value


def test_a_lone_surrogate_escape_in_tool_call_arguments_is_read_as_a_replacement_character(
    tmp_path: Path,
) -> None:
    # json.loads turned {"a": "\\ud800"} into a lone surrogate that no UTF-8 key column
    # holds: exit 3 in curate, check, audit, split and leakage for one such row.
    from curagate.cli import main
    from curagate.records import tool_call_texts

    rows = [tool_call_row('{"a": "\\ud800"}'), tool_call_row('{"a": "x"}')]
    assert tool_call_texts(rows[0]["messages"][1]) == ['[tool_use] lookup({"a":"\ufffd"})']
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["curate", str(path), "--out", str(tmp_path / "c")]) == 0
    stats = json.loads((tmp_path / "c" / "stats.json").read_text(encoding="utf-8"))
    assert (stats["totals"]["kept"], stats["totals"]["quarantined"]) == (2, 0)
    assert main(["check", str(path), "--no-golden"]) == 0
    assert main(["split", str(path), "--out", str(tmp_path / "s")]) == 0
    assert main(["audit", str(path), "--out", str(tmp_path / "a")]) in (0, 1)
    args = ["leakage", "--corpus", str(path), "--reference", str(path)]
    assert main([*args, "--out", str(tmp_path / "l")]) in (0, 1)


@pytest.mark.parametrize(
    "where",
    [
        # A tool call without arguments, and an empty metadata object on a message.
        lambda m: m[1].update(
            content=None,
            tool_calls=[{"type": "function", "function": {"name": "now", "arguments": {}}}],
        ),
        lambda m: m[0].update(metadata={}),
    ],
    ids=["arguments", "metadata"],
)
def test_an_object_without_keys_inside_a_message_keeps_the_message(
    tmp_path: Path, where: Any
) -> None:
    """The whole `messages` column was read as null for the chunk: every valid chat of it
    quarantined ("missing field 'messages'") for one {} in one of them."""
    from curagate.curate import curate

    chats = [
        [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"a {i}"}]
        for i in range(200)
    ]
    where(chats[7])
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in chats), encoding="utf-8")
    result = curate([path], tmp_path / "out", threads=1)
    assert (result.quarantined, result.kept) == (0, 200)
    kept = pq.read_table(tmp_path / "out" / "kept" / "part-00000.parquet").to_pylist()
    assert [r["messages"][0]["content"] for r in kept] == [m[0]["content"] for m in chats]


def test_a_tool_call_without_arguments_keys_alike_in_every_chunk(tmp_path: Path) -> None:
    """`{}` is null in a chunk where every row has it, `{k: null}` where another row
    gives the object a key: the two copies must still be one exact duplicate."""
    from curagate.curate import curate

    def chat(args: Any) -> dict[str, Any]:
        call = {"type": "function", "function": {"name": "now", "arguments": args}}
        return {
            "messages": [
                {"role": "user", "content": "what time is it?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "name": "now", "content": "12:00"},
                {"role": "assistant", "content": "noon"},
            ]
        }

    rows = [chat({}), chat({"tz": "utc"}), chat({})]  # batch_rows 2: chunks [0, 1] and [2]
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    # Punctuation kept: "now({})" and "now()" would otherwise normalize alike anyway.
    result = curate(
        [path], tmp_path / "out", threads=1, batch_rows=2, normalize__strip_punctuation=False
    )
    assert (result.quarantined, result.kept, result.removed.get("exact")) == (0, 2, 1)
