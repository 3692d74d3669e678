"""The native (Rust) JSONL chunk reader: the flat-record fast path gives the very
table Arrow's JSON reader gives (types, values, chunks, hence Parquet bytes), and
any other input falls back to the general path with its quarantine reasons."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest
from tests.io.io_support import all_keys, all_quarantined, read_all

from curagate._core import jsonl_chunk
from curagate.io.readers import _arrow_read, _flat_table, _layout, _string_array
from curagate.records import RecordFormat, build_keys

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("CURAGATE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES * 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    with pq.ParquetWriter(out, table.schema, compression="zstd") as writer:
        writer.write_table(table)
    return out.getvalue()


def _native(data: bytes, block: int) -> pa.Table | None:
    flat = jsonl_chunk(data, safe_depth=4096, min_block_size=block)[5]
    return None if flat is None else _flat_table(flat)


def _arrow(data: bytes, block: int) -> pa.Table:
    longest = max(len(line) + 1 for line in data.split(b"\n"))
    options = pj.ReadOptions(use_threads=True, block_size=max(block, 2 * longest + 2))
    return pj.read_json(pa.BufferReader(data), read_options=options)


# Not ISO dates (Arrow reads those as timestamps, which the reader then re-reads as strings).
texts = st.text(max_size=30).filter(lambda t: not t[:1].isdigit())
keys = st.sampled_from(["prompt", "completion", "text", "", "é k", 'q"x', "a\\b"])


@st.composite
def flat_chunks(draw: st.DrawFn) -> tuple[bytes, int]:
    names = draw(st.lists(keys, min_size=1, max_size=3, unique=True))
    rows = draw(
        st.lists(
            st.lists(st.none() | texts, min_size=len(names), max_size=len(names)),
            min_size=1,
            max_size=30,
        )
    )
    rows[0] = [v if v is not None else "x" for v in rows[0]]  # no all-null column
    ascii_only = draw(st.booleans())
    lines = []
    for row in rows:
        line = json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=ascii_only).encode()
        lines.append(line + draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\n  \n"])))
    data = b"".join(lines)
    if draw(st.booleans()):
        data = data.rstrip(b"\r\n")  # an unterminated last line
    return data, draw(st.integers(1, 200))


@FUZZ
@given(chunk=flat_chunks())
def test_flat_records_give_the_table_arrow_gives_chunk_for_chunk(chunk: tuple[bytes, int]) -> None:
    data, block = chunk
    native = _native(data, block)
    assert native is not None
    arrow = _arrow(data, block)
    assert native.equals(arrow)
    assert [len(c) for c in native.column(0).chunks] == [len(c) for c in arrow.column(0).chunks]
    assert _parquet(native) == _parquet(arrow)


def test_flat_chunk_of_the_default_block_size_writes_the_same_parquet_bytes() -> None:
    # Lines of 100-1000 bytes over three 16 MiB blocks: the chunks Arrow cuts.
    lines = [
        json.dumps({"prompt": f"question {i} " + "w" * (i % 900), "completion": f"a{i}"}).encode()
        for i in range(90_000)
    ]
    data = b"\n".join(lines) + b"\n"
    layout = _layout(data, flat=True)
    assert layout.flat is not None
    native = _flat_table(layout.flat)
    arrow = _arrow_read(data, layout.max_length)
    assert native.column(0).num_chunks == arrow.column(0).num_chunks > 1
    assert _parquet(native) == _parquet(arrow)
    keys = build_keys(arrow, RecordFormat.PROMPT_COMPLETION)
    assert _string_array(pa.large_string(), len(lines), *layout.flat.join([0, 1], "\n")).equals(
        keys
    )


@pytest.mark.parametrize(
    "line",
    [
        b'{"prompt": "p", "completion": 1}',  # a number
        b'{"completion": "c", "prompt": "p"}',  # another key order
        b'{"prompt": "p", "completion": "c", "prompt": "q"}',  # a duplicate key
        b'{"prompt": "p", "completion": "\\ud800"}',  # an unpaired surrogate
        b'{"prompt": "p", "completion": {"a": "b"}}',  # nested
        b'{"prompt": "p", "completion": "c"',  # unterminated
        b"\xff\xfe",  # not UTF-8
    ],
)
def test_one_odd_line_takes_the_general_path_with_the_same_verdicts(
    tmp_path: Path, line: bytes
) -> None:
    good = [json.dumps({"prompt": f"p{i}", "completion": f"c{i}"}).encode() for i in range(5)]
    data = b"\n".join([*good[:2], line, *good[2:]]) + b"\n"
    assert jsonl_chunk(data, safe_depth=4096, min_block_size=1 << 20)[5] is None
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    batches = read_all([path])
    rows = sum(b.table.num_rows for b in batches)
    assert rows + len(all_quarantined(batches)) == 6
    assert [q.line for q in all_quarantined(batches)] in ([], [3])
    assert all_keys(batches)[:2] == ["p0\nc0", "p1\nc1"]


def test_flat_path_keys_quarantine_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(
        '{"prompt": "a", "completion": "b"}\n\n'
        '{"prompt": "  ", "completion": "b"}\n'
        '{"prompt": "c", "completion": null}\n'
        '{"prompt": "d", "completion": "e"}\n',
        encoding="utf-8",
    )
    assert _layout(path.read_bytes(), flat=True).flat is not None
    batches = read_all([path], batch_rows=2)
    assert all_keys(batches) == ["a\nb", "d\ne"]
    assert [(q.line, q.row, q.reason) for q in all_quarantined(batches)] == [
        (3, 1, "field 'prompt' is empty"),
        (4, 2, "missing field 'completion' (absent or null)"),
    ]
    assert [b.lines.to_pylist() for b in batches if b.table.num_rows] == [[1], [5]]


@FUZZ
@given(data=st.binary(max_size=300), block=st.integers(1, 64))
def test_arbitrary_bytes_never_crash_the_native_chunk_reader(data: bytes, block: int) -> None:
    bounds, records, longest, _utf8, _deep, flat = jsonl_chunk(
        data, safe_depth=16, min_block_size=block
    )
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    assert len(bounds) // 8 == lines + 1
    assert longest <= len(data)
    if flat is not None:
        assert flat.rows == len(records) // 8 == sum(flat.block_rows)
