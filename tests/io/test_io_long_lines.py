"""A JSONL line longer than ``readers.MAX_LINE_BYTES`` is quarantined unread, in plain,
gzip and zstd files alike, wherever it lies; it is never held whole. A 72 KB ``.zst``
of one 2.3 GB line took 4.7 GB and ended in Arrow's ArrowCapacityError (exit 3) in
every data command; a 6 GB line, a MemoryError.

The cap is lowered here to 64 KiB so the lines stay small; with the stream read in
small blocks the same code meets a line that arrives whole in one block, one that spans
blocks, and one that ends the file without a newline."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import zstandard
from io_support import all_keys, all_quarantined, read_all

from curagate.cli import main
from curagate.io import readers
from curagate.io.readers import count_records

CAP = 64 << 10
SMALL = [b'{"text": "small record number %d here"}\n' % i for i in range(3)]
LONG = b'{"text": "' + b"a" * (CAP + 10) + b'"}\n'


@pytest.fixture(autouse=True)
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", CAP)


def _write(path: Path, data: bytes) -> Path:
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize(
    ("where", "line"),
    [("first", 1), ("middle", 3), ("last-without-newline", 4), ("two", 2)],
)
@pytest.mark.parametrize("block", [1 << 12, 1 << 22], ids=["spans-blocks", "one-block"])
def test_a_line_past_the_cap_is_quarantined_and_the_others_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    where: str,
    line: int,
    block: int,
) -> None:
    monkeypatch.setattr(readers, "_FEED_ZSTD", min(block, 1 << 12))
    monkeypatch.setattr(readers, "_FEED", min(block, 64 << 10))
    if where == "first":
        data = LONG + b"".join(SMALL)
    elif where == "middle":
        data = b"".join(SMALL[:2]) + LONG + SMALL[2]
    elif where == "two":
        data = SMALL[0] + LONG + LONG + b"".join(SMALL[1:])
    else:
        data = b"".join(SMALL) + LONG.rstrip(b"\n")
    path = _write(tmp_path / f"d{suffix}", data)
    batches = read_all([path], batch_rows=2)
    quarantined = all_quarantined(batches)
    longs = 2 if where == "two" else 1
    assert [(q.line, q.row) for q in quarantined] == [
        (line + k, line + k - 1) for k in range(longs)
    ]
    assert all("longer than the 65,536 a record may have" in q.reason for q in quarantined)
    assert all(q.raw is None for q in quarantined)
    assert all_keys(batches) == [f"small record number {i} here" for i in range(3)]
    # Every line is counted once: 3 kept + the long ones.
    assert sum(b.input_rows for b in batches) == count_records(path) == 3 + longs


def test_curate_and_leakage_say_so_and_never_pass_the_row_as_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _write(tmp_path / "c.jsonl.zst", b"".join(SMALL[:2]) + LONG + SMALL[2])
    out = tmp_path / "o"
    assert main(["curate", str(corpus), "--out", str(out), "--strict", "--quiet"]) == 1
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "g.jsonl").write_text(
        '{"prompt": "what is the capital city of the great country of france", '
        '"completion": "paris"}\n'
    )
    argv = ["leakage", "--reference", str(ref), "--corpus", str(corpus)]
    assert main([*argv, "--out", str(tmp_path / "l"), "--fail-on-leak"]) == 2
    assert "c.jsonl.zst:3: the line is" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_cap_is_the_same_for_plain_and_compressed_files(
    tmp_path: Path, suffix: str, extra: int
) -> None:
    # A line of exactly the cap was kept in a plain file and quarantined in a compressed
    # one (the newline counted there): the same bytes gave other records.
    body = b'{"text": "' + b"b" * (CAP + extra - 12) + b'"}'
    assert len(body) == CAP + extra
    path = _write(tmp_path / f"d{suffix}", b'{"text": "x"}\n' + body + b'\n{"text": "y"}\n')
    batches = read_all([path])
    assert len(all_quarantined(batches)) == (1 if extra > 0 else 0)
    assert sum(b.table.num_rows for b in batches) == (2 if extra > 0 else 3)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize("block", [1 << 12, 1 << 22], ids=["spans-blocks", "one-block"])
@pytest.mark.parametrize("end", [b"", b"\n"], ids=["no-newline", "newline"])
def test_a_long_line_of_cr_separated_records_says_to_convert_the_line_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, block: int, end: bytes
) -> None:
    # Found by attack: a CR-only (classic Mac) file over the cap is one line to every
    # reader; it was told to "split the record or store its large parts as files", with
    # no word of its line ends (a shorter one gets the CR hint from the JSON parser).
    monkeypatch.setattr(readers, "_FEED_ZSTD", min(block, 1 << 12))
    monkeypatch.setattr(readers, "_FEED", min(block, 64 << 10))
    records = b"".join(b'{"text": "record %d"}\r' % i for i in range(CAP // 20))
    rest = b"\n" + SMALL[1] if end else b""  # the long line ends the file, or a line follows
    path = _write(tmp_path / f"mac{suffix}", SMALL[0] + records + rest)
    batches = read_all([path])
    [q] = all_quarantined(batches)
    assert q.line == 2
    hint = readers.cr_hint(path.as_posix()).removeprefix("; ")
    assert q.reason.endswith("it was not read: " + hint)
    assert "split the record" not in q.reason
    assert all_keys(batches) == [f"small record number {i} here" for i in range(1 + bool(end))]
    # One long record, or a long line whose CRs lie inside one record, keeps the old advice.
    for line in (LONG, b'{"text": "a"' + b" \r" * CAP + b"}\n"):
        [q] = all_quarantined(read_all([_write(tmp_path / f"one{suffix}", line)]))
        assert q.reason.endswith("split the record or store its large parts as files")
