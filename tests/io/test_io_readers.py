"""Streaming reads: compression, Parquet row groups, chunks, ids, conservation, columns."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_support import all_keys, all_quarantined, all_rows, read_all

from curagate.io import expand_inputs, readers
from curagate.records import RecordFormat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.jsonl.zst"])
def test_plain_gzip_and_zstd_read_the_same(write_jsonl: Callable[..., Path], name: str) -> None:
    path = write_jsonl(name, [{"text": f"row {i}"} for i in range(5)])

    batches = read_all([path])

    assert all_keys(batches) == [f"row {i}" for i in range(5)]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.jsonl.zst"])
def test_chunks_hold_at_most_batch_rows_and_keep_line_numbers(
    write_jsonl: Callable[..., Path], name: str
) -> None:
    lines: list[object] = []
    for i in range(10):
        lines.append({"text": f"row {i}"})
        if i % 3 == 0:
            lines.append("")  # blank lines are not records but still count as lines
    path = write_jsonl(name, lines)

    batches = read_all([path], batch_rows=4)

    assert all(b.input_rows <= 4 for b in batches)
    assert [r for b in batches for r in b.rows.to_pylist()] == list(range(10))
    line_numbers = [n for b in batches for n in b.lines.to_pylist()]
    expected = [i + 1 for i, line in enumerate(lines) if line != ""]
    assert line_numbers == expected


def test_last_line_without_newline_is_read(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("r.jsonl", [{"text": "a"}, {"text": "b"}], newline_at_end=False)

    assert all_keys(read_all([path])) == ["a", "b"]


def test_windows_line_endings_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "win.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n{"text": "b"}\r\n')

    batches = read_all([path])

    assert all_keys(batches) == ["a", "b"]
    assert all_quarantined(batches) == []


@pytest.mark.parametrize("cut", [1, 2, 3], ids=["mark-split-1", "mark-split-2", "mark-alone"])
def test_a_byte_order_mark_in_its_own_gzip_member_is_a_mark(tmp_path: Path, cut: int) -> None:
    # b"\xef" alone in the first member: the first line was malformed JSON; the whole mark
    # alone: the stream ended there, every row lost without a word.
    data = b'\xef\xbb\xbf{"text": "a"}\n{"text": "b"}\n'
    path = tmp_path / "bom.jsonl.gz"
    path.write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))

    batches = read_all([path])

    assert all_keys(batches) == ["a", "b"]
    assert all_quarantined(batches) == []


def test_parquet_is_read_by_row_group(write_parquet: Callable[..., Path]) -> None:
    path = write_parquet("p.parquet", [{"text": f"row {i}"} for i in range(7)], row_group_size=3)

    batches = read_all([path])

    assert [b.table.num_rows for b in batches] == [3, 3, 1]
    assert [b.rows.to_pylist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert all(b.lines is None for b in batches)


def test_parquet_row_group_larger_than_batch_rows_is_split(
    write_parquet: Callable[..., Path],
) -> None:
    path = write_parquet("p.parquet", [{"text": f"row {i}"} for i in range(5)])

    batches = read_all([path], batch_rows=2)

    assert [b.rows.to_pylist() for b in batches] == [[0, 1], [2, 3], [4]]


def test_parquet_bad_rows_are_quarantined_with_row_and_raw(
    write_parquet: Callable[..., Path],
) -> None:
    path = write_parquet("p.parquet", [{"text": "ok", "n": 1}, {"text": "", "n": 2}])

    batches = read_all([path])

    [q] = all_quarantined(batches)
    assert (q.line, q.row, q.reason) == (None, 1, "field 'text' is empty")
    assert json.loads(q.raw or "") == {"text": "", "n": 2}


def test_parquet_chat_records(write_parquet: Callable[..., Path]) -> None:
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    path = write_parquet("c.parquet", [row])

    [batch] = read_all([path])

    assert batch.format is RecordFormat.CHAT
    assert batch.keys.to_pylist() == ["user: hi\nassistant: yo"]


def test_ids_come_from_the_id_column_as_strings(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("i.jsonl", [{"id": 7, "text": "a"}, {"id": 8, "text": "b"}])

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == ["7", "8"]
    assert batch.ids.type == pa.string()


def test_ids_without_an_id_column_are_source_and_row(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("i.jsonl", ["", {"text": "a"}, {"text": "b"}])

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == [f"{path.as_posix()}:0", f"{path.as_posix()}:1"]


def test_null_id_falls_back_to_source_and_row(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("i.jsonl", [{"id": "x", "text": "a"}, {"id": None, "text": "b"}])

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == ["x", f"{path.as_posix()}:1"]


def test_ids_of_rows_after_a_quarantined_row_keep_their_file_row(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("i.jsonl", [{"text": "a"}, "{broken", {"text": "c"}])

    [batch] = read_all([path])

    assert batch.ids.to_pylist() == [f"{path.as_posix()}:0", f"{path.as_posix()}:2"]


def test_every_batch_conserves_its_rows(write_jsonl: Callable[..., Path]) -> None:
    lines: list[object] = []
    for i in range(50):
        lines.append({"text": f"row {i}"} if i % 7 else "{bad json")
        if i % 11 == 0:
            lines.append({"text": ""})
    path = write_jsonl("c.jsonl", lines)

    batches = read_all([path], batch_rows=8)

    for batch in batches:
        assert batch.input_rows == batch.table.num_rows + len(batch.quarantined)
        assert len(batch.ids) == len(batch.keys) == len(batch.rows) == batch.table.num_rows
        assert batch.lines is not None and len(batch.lines) == batch.table.num_rows
    assert sum(b.input_rows for b in batches) == len(lines)
    assert all(b.input_rows <= 8 for b in batches)


def test_all_original_columns_are_kept(write_jsonl: Callable[..., Path]) -> None:
    row = {
        "id": "r1",
        "prompt": "p",
        "completion": "c",
        "meta": {"src": "web", "tags": ["a"]},
        "score": 0.5,
    }
    path = write_jsonl("pc.jsonl", [row])

    [batch] = read_all([path])

    assert batch.table.to_pylist() == [row]


def test_date_like_strings_stay_strings(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("d.jsonl", [{"text": "2024-01-02", "created": "2024-01-02"}])

    [batch] = read_all([path])

    assert batch.table.to_pylist() == [{"text": "2024-01-02", "created": "2024-01-02"}]
    assert batch.keys.to_pylist() == ["2024-01-02"]


def test_keys_are_large_strings(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("t.jsonl", [{"text": "a"}])

    [batch] = read_all([path])

    assert batch.keys.type == pa.large_string()


def test_example_corpus_reads_with_its_four_broken_rows() -> None:
    batches = read_all(expand_inputs([EXAMPLES / "corpus"]))

    quarantined = all_quarantined(batches)
    assert len(all_rows(batches)) == 305
    assert [(Path(q.file).name, q.line) for q in quarantined] == [
        ("amazon_polarity_Is_this_product_review_positive.jsonl", line) for line in (11, 22, 33, 44)
    ]
    assert {b.format for b in batches} == {RecordFormat.PROMPT_COMPLETION}


def test_example_chat_and_preference_files_read_cleanly() -> None:
    chat = read_all([EXAMPLES / "chat" / "chat.jsonl"])
    preference = read_all([EXAMPLES / "preference" / "preference.jsonl"])

    assert [b.format for b in chat + preference] == [RecordFormat.CHAT, RecordFormat.PREFERENCE]
    assert len(all_rows(chat)) == len(all_rows(preference)) == 12
    assert all_quarantined(chat + preference) == []
    assert chat[0].ids.to_pylist()[:2] == ["chat-001", "chat-002"]


def test_parquet_and_jsonl_of_the_same_rows_give_the_same_keys(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    rows = [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(4)]
    jsonl = write_jsonl("s.jsonl", rows)
    parquet = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)

    assert all_keys(read_all([jsonl])) == all_keys(read_all([parquet]))


def test_dictionary_encoded_parquet_text_is_read(tmp_path: Path) -> None:
    table = pa.table({"text": pa.array(["a", "b", "a"]).dictionary_encode()})
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)

    assert all_keys(read_all([path])) == ["a", "b", "a"]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
@pytest.mark.parametrize("batch_rows", [1, 3, 64])
def test_chunking_matches_a_naive_line_by_line_read(
    write_jsonl: Callable[..., Path], name: str, batch_rows: int
) -> None:
    lines: list[object] = []
    for i in range(200):
        if i % 13 == 0:
            lines.append("   ")
        elif i % 17 == 0:
            lines.append("{broken")
        else:
            lines.append({"text": "w " * (i % 29 + 1) + str(i)})
    path = write_jsonl(name, lines)

    batches = read_all([path], batch_rows=batch_rows)

    expected_lines = [i + 1 for i, line in enumerate(lines) if isinstance(line, dict)]
    expected_bad = [i + 1 for i, line in enumerate(lines) if line == "{broken"]
    assert [n for b in batches for n in b.lines.to_pylist()] == expected_lines
    assert [q.line for q in all_quarantined(batches)] == expected_bad
    assert all_keys(batches) == [line["text"] for line in lines if isinstance(line, dict)]


def test_a_block_of_many_blank_lines_is_chunked_in_bounded_memory() -> None:
    # A decompressed block may hold millions of lines (a few KB of gzip of newlines):
    # the newline positions of all of them were held and shifted per chunk, quadratic
    # time and memory (20M blank lines in a .jsonl.gz: 266 s, 1.4 GB).
    lines = 100_000
    block = b'{"text": "a"}\n' + b"\n" * lines + b'{"text": "b"}\n'
    tracemalloc.start()
    try:
        chunks = [bytes(c) for c in readers._stream_chunks(iter([block]), 1_000)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert b"".join(chunks) == block
    assert all(c.count(b"\n") <= 1_000 for c in chunks)
    assert peak < 4 * len(block)  # a position each was 88 times the block


def test_a_bad_row_after_a_long_run_of_blank_lines_keeps_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "a"}\n' + b"\n" * 10_000 + b"{bad\n"))

    batches = read_all([path], batch_rows=64)

    assert all_keys(batches) == ["a"]
    assert [q.line for q in all_quarantined(batches)] == [10_002]


def test_sparse_bad_lines_in_later_chunks_give_the_same_result_as_one_chunk(
    write_jsonl: Callable[..., Path],
) -> None:
    lines: list[object] = [{"text": f"row {i}", "n": i} for i in range(1200)]
    lines[5] = "{bad"
    lines[450] = b'{"text": "\xff"}'
    lines[700] = {"text": 7, "n": 700}
    lines[1100] = {"text": "", "n": 1100}
    path = write_jsonl("s.jsonl", lines)

    whole = read_all([path], batch_rows=100_000)
    chunked = read_all([path], batch_rows=600)

    assert len(chunked) == 2
    assert all_rows(chunked) == all_rows(whole)
    assert [(q.line, q.reason) for q in all_quarantined(chunked)] == [
        (q.line, q.reason) for q in all_quarantined(whole)
    ]
    assert [q.line for q in all_quarantined(whole)] == [6, 451, 701, 1101]


def test_a_single_path_is_not_read_as_a_list_of_characters(
    write_jsonl: Callable[..., Path],
) -> None:
    path = write_jsonl("a.jsonl", [{"text": "a"}])

    assert all_keys(read_all(str(path))) == ["a"]


@pytest.mark.parametrize("lead", ["null", "  null", "\n\nnull"])
@pytest.mark.parametrize("where", ["first", "chunk start"])
@pytest.mark.slow
def test_a_null_line_opening_a_chunk_is_quarantined_not_a_crash(
    tmp_path: Path, lead: str, where: str
) -> None:
    # Found by attack: pyarrow 26 segfaults on a block whose first value is `null`: a file
    # (or a 4-row chunk here, 65,536 by default) opening with that line killed check,
    # audit, curate and leakage (exit 139). In a subprocess: a crash must not end the run.
    import subprocess
    import sys

    rows = [] if where == "first" else [json.dumps({"text": f"row {i}"}) for i in range(4)]
    path = tmp_path / "n.jsonl"
    path.write_text("\n".join([*rows, lead, '{"text": "after"}']) + "\n")
    code = (
        "import sys\n"
        "from curagate.io import read_batches\n"
        "b = list(read_batches([sys.argv[1]], batch_rows=4))\n"
        "print(sum(b.table.num_rows for b in b), [q.reason for x in b for q in x.quarantined])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, (out.returncode, out.stderr[-500:])
    assert out.stdout.strip() == f"{len(rows) + 1} ['line is a JSON null, not an object']"
