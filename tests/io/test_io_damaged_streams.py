"""Damaged compressed shards: every row before the damage is kept, the damage is reported
(file, last good line, error), ``curate --strict`` and ``check`` exit 1."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
import zstandard
from io_support import all_keys, all_quarantined, read_all

from curagate.check import check
from curagate.cli import main
from curagate.errors import InputError
from curagate.findings import Severity

ROWS = [b'{"text": "row %d %s"}\n' % (i, b"pad " * 8) for i in range(20000)]


def _zst_frames(rows: list[bytes], per_frame: int) -> bytes:
    c = zstandard.ZstdCompressor()
    return b"".join(
        c.compress(b"".join(rows[i : i + per_frame])) for i in range(0, len(rows), per_frame)
    )


def _readable_lines(decoded_prefix: bytes) -> int:
    return decoded_prefix.count(b"\n")


def _problem(path: Path) -> tuple[int, str]:
    batches = read_all([path], batch_rows=4096)
    [q] = all_quarantined(batches)
    assert (q.file, q.line, q.row) == (path.as_posix(), None, None)
    return len(all_keys(batches)), q.reason


def test_multi_frame_zstd_cut_in_half_is_reported(tmp_path: Path) -> None:
    data = _zst_frames(ROWS, 1000)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    # Independent oracle: the whole frames before the cut, decoded one by one.
    whole = 0
    rest = data[: len(data) // 2]
    while True:
        d = zstandard.ZstdDecompressor().decompressobj()
        out = d.decompress(rest)
        if not d.eof:
            break
        whole += _readable_lines(out)
        rest = d.unused_data

    rows, reason = _problem(path)
    assert rows == whole > 0
    assert reason.startswith(f"cannot read the file after line {whole}: ")
    assert "the compressed file is truncated" in reason


def test_a_stream_cut_before_its_first_line_says_so(tmp_path: Path) -> None:
    # It said "cannot read the file after line 0".
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(_zst_frames(ROWS[:2000], 2000)[:200])
    rows, reason = _problem(path)
    assert rows == 0
    assert reason.startswith("cannot read the file: the compressed file is truncated; no row")


def _parquet_bytes() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"text": ["row 0", "row 1"]}), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("data", "what", "name"),
    [
        (gzip.compress(b"".join(ROWS[:10]), mtime=0), "gzip-compressed", ".jsonl.gz"),
        (_zst_frames(ROWS[:10], 10), "zstd-compressed", ".jsonl.zst"),
        (_parquet_bytes(), "a Parquet file", ".parquet"),
    ],
)
def test_a_compressed_or_parquet_file_named_jsonl_is_named_for_what_it_is(
    tmp_path: Path, data: bytes, what: str, name: str
) -> None:
    # A gzip file named .jsonl was read as a line of binary: "invalid UTF-8 at byte 1",
    # and one named .jsonl.zst was "corrupt data ... re-download the file" (re-attack).
    for suffix in (".jsonl", ".jsonl.gz", ".jsonl.zst"):
        if suffix == name:
            continue
        path = tmp_path / f"shard{suffix}"
        path.write_bytes(data)
        rows, reason = _problem(path)
        assert rows == 0
        assert reason == f"the file is {what} but named {suffix}; rename it to end in {name}"


@pytest.mark.parametrize(
    "first",
    [
        b"PAR1",
        b"PAR1 and more PAR",
        b"\x1f\x8b",
        b"\x1f\x8b\x00junk",
        b"(\xb5/\xfd",
        b"(\xb5/\xfd\xffjunk",
    ],
)
def test_a_jsonl_line_that_opens_with_a_magic_number_is_one_line_to_quarantine(
    tmp_path: Path, first: bytes
) -> None:
    # A file whose first line was "PAR1" was refused whole as "a Parquet file" (the magic
    # alone was read); the row after it was lost with it. So was one that also ended in
    # "PAR1" (by re-attack: 199 good rows hidden).
    path = tmp_path / "shard.jsonl"
    path.write_bytes(first + b"\n" + ROWS[0])
    ends = tmp_path / "ends.jsonl"
    ends.write_bytes(first + b"\n" + ROWS[0] + b"PAR1")
    assert [q.row for q in all_quarantined(read_all([ends], format="text"))] == [0, 2]
    batches = read_all([path], format="text")
    assert [q.row for q in all_quarantined(batches)] == [0]  # row 0: the first line
    assert all_keys(batches) and sum(b.table.num_rows for b in batches) == 1


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_a_misnamed_stream_whose_first_line_is_long_is_named_for_what_it_is(
    tmp_path: Path, suffix: str
) -> None:
    # By re-attack: 256 KiB decoded without a newline read as "not that kind": each line of
    # binary quarantined (a false row count) and the reason lost.
    import base64
    import random

    noise = base64.b64encode(random.Random(0).randbytes(600_000))  # packs to over 256 KiB
    data = b'{"text": "' + noise + b'"}\n' + b"".join(ROWS[:100])
    packed = (
        gzip.compress(data) if suffix == ".jsonl.gz" else zstandard.ZstdCompressor().compress(data)
    )
    path = tmp_path / "long.jsonl"
    path.write_bytes(packed)
    rows, reason = _problem(path)
    assert rows == 0
    assert reason.startswith("the file is ") and reason.endswith(f"rename it to end in {suffix}")


def test_gzip_cut_at_75_percent_keeps_every_decodable_row(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(ROWS))
    cut = data[: len(data) * 3 // 4]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    expected = _readable_lines(zlib.decompressobj(31).decompress(cut))

    rows, reason = _problem(path)
    assert rows == expected > 14000  # before the fix: the last 4 MiB block was lost
    assert f"after line {expected}: the compressed file is truncated" in reason


@pytest.mark.parametrize("damage", ["64 bytes", "one bit", "crc trailer"])
def test_a_damaged_gzip_member_that_passed_rows_on_is_refused_whole(
    tmp_path: Path, damage: str
) -> None:
    # Found by attack: deflate has no per-block check, so the damaged stretch decoded to
    # lines that parse ("gz line 4words here"), kept and trained on with exit 0, before the
    # member's CRC said the bytes were wrong (and not which). No row of it is used now; rows
    # of it were passed on (batches of 100 rows, damage past the first 64 KiB): exit 2.
    text = _varied(6000)
    data = bytearray(_bad_crc(text) if damage == "crc trailer" else gzip.compress(text))
    mid = len(data) // 2
    assert mid > (64 << 10)
    if damage == "64 bytes":
        data[mid : mid + 64] = b"\xff" * 64
    elif damage == "one bit":
        data[mid] ^= 0x10
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(data))
    what = (
        "a gzip member fails its checksum"
        if damage == "crc trailer"
        else "(a gzip member fails its checksum|corrupt data inside a gzip member)"
    )
    with pytest.raises(InputError, match=rf"bad\.jsonl\.gz: {what} .* none is used"):
        read_all([path], batch_rows=100)


def test_complete_multi_member_gzip_and_multi_frame_zstd_read_every_row(tmp_path: Path) -> None:
    gz = tmp_path / "m.jsonl.gz"
    gz.write_bytes(
        b"".join(gzip.compress(b"".join(ROWS[i : i + 999])) for i in range(0, 20000, 999))
    )
    zst = tmp_path / "m.jsonl.zst"
    zst.write_bytes(_zst_frames(ROWS, 777))
    for path in (gz, zst):
        batches = read_all([path], batch_rows=3000)
        assert all_quarantined(batches) == []
        keys = all_keys(batches)
        assert len(keys) == len(ROWS) and keys[-1].startswith("row 19999 ")


@pytest.mark.parametrize("zeros", [512, 3 << 20])  # inside the first read block, and past it
@pytest.mark.parametrize("name", ["pad.jsonl.gz", "pad.jsonl.zst"])
def test_zeros_after_the_last_member_are_reported_whatever_their_length(
    tmp_path: Path, name: str, zeros: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a download into a pre-allocated file that stopped after its first
    # member/frame (the rest still zeros) kept 10 of 20,000 rows without a word, curate
    # --strict and check exit 0, when the zeros fitted in the block being read; longer
    # zeros were "corrupt data". Both are now the same report.
    first = b"".join(ROWS[:10])
    head = gzip.compress(first) if name.endswith("gz") else _zst_frames(ROWS[:10], 10)
    path = tmp_path / name
    path.write_bytes(head + b"\0" * zeros)
    rows, reason = _problem(path)
    assert rows == 10
    unit = "gzip member" if name.endswith("gz") else "zstd frame"
    assert reason.startswith(
        f"cannot read the file after line 10: {zeros:,} zero bytes after the last complete {unit}"
    )
    assert main(["curate", str(path), "--out", str(tmp_path / "out"), "--strict"]) == 1
    assert main(["check", str(path), "--no-golden"]) == 1
    assert "zero bytes after the last complete" in capsys.readouterr().out


def test_data_after_zeros_after_a_member_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "pad.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(ROWS[:10])) + b"\0" * (3 << 20) + b"junk")
    rows, reason = _problem(path)
    assert rows == 10
    assert "corrupt data: zero bytes then data after a complete gzip member" in reason


@pytest.mark.parametrize("name", ["cut.jsonl.gz", "cut.jsonl.zst"])
def test_strict_curate_and_check_exit_1_on_a_truncated_shard(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = gzip.compress(b"".join(ROWS)) if name.endswith("gz") else _zst_frames(ROWS, 1000)
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    assert main(["curate", str(path), "--out", str(tmp_path / "out"), "--strict"]) == 1
    assert main(["check", str(path), "--no-golden"]) == 1
    assert "the compressed file is truncated" in capsys.readouterr().out


def test_a_long_window_zstd_file_is_named_not_called_corrupt(tmp_path: Path) -> None:
    # Found by attack: a valid file made with `zstd --long=31` was "corrupt data", its rows
    # lost as one quarantined row, exit 0.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()  # size unknown
    path = tmp_path / "w.jsonl.zst"
    path.write_bytes(stream.compress(b"".join(ROWS)) + stream.flush())
    with pytest.raises(InputError, match=r"w\.jsonl\.zst: compressed with a zstd window over"):
        read_all([path])


@pytest.mark.parametrize(
    ("bom", "codec", "named"),
    [
        (b"\xff\xfe", "utf-16-le", "UTF-16LE"),
        (b"\xfe\xff", "utf-16-be", "UTF-16BE"),
        (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32LE"),
        (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32BE"),
        (b"", "utf-16-le", "UTF-16LE"),  # no byte order mark: told by the NULs
        (b"", "utf-16-be", "UTF-16BE"),
        (b"", "utf-32-le", "UTF-32LE"),
    ],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_a_utf16_or_utf32_jsonl_file_is_one_problem_saying_save_it_as_utf8(
    tmp_path: Path, bom: bytes, codec: str, named: str, suffix: str
) -> None:
    # Found by attack: read as lines of UTF-8, line 1 was "invalid UTF-8 at byte 0", every
    # other "malformed JSON", and the NUL after the last newline a sixth row of five.
    data = bom + "".join(f'{{"text": "row {i}"}}\r\n' for i in range(5)).encode(codec)
    if suffix == ".jsonl.gz":
        data = gzip.compress(data)
    elif suffix == ".jsonl.zst":
        data = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"wide{suffix}"
    path.write_bytes(data)
    batches = read_all([path])
    assert sum(b.input_rows for b in batches) == 1
    rows, reason = _problem(path)
    assert rows == 0
    assert reason == (
        f"the file is {named} text, not UTF-8; save it as UTF-8 (e.g. `iconv -f {named} -t "
        "UTF-8`); no row was read"
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("lead", ["\n", " ", "\r\n\t \n", ""])
@pytest.mark.parametrize("line", ['{{"text": "row {i}"}}\n', '[{{"text": "row {i}"}}]\n'])
def test_a_utf16_file_without_a_bom_is_told_past_leading_blank_lines(
    tmp_path: Path, codec: str, lead: str, line: str
) -> None:
    # Found by attack: without a byte order mark only `{\x00` at byte 0 was looked for, so
    # a file starting with a blank line or a space (or holding arrays) was read as UTF-8.
    path = tmp_path / "wide.jsonl"
    path.write_bytes((lead + "".join(line.format(i=i) for i in range(3))).encode(codec))
    rows, reason = _problem(path)
    named = codec.upper().replace("-LE", "LE").replace("-BE", "BE")
    assert rows == 0 and reason.startswith(f"the file is {named} text, not UTF-8")


def test_a_utf16_long_first_line_after_a_blank_line_is_told_too(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(("\n" + json.dumps({"text": "word " * 40_000}) + "\n").encode("utf-16-le"))
    rows, reason = _problem(path)
    assert rows == 0 and reason.startswith("the file is UTF-16LE text, not UTF-8")


def test_utf8_records_after_blank_lines_are_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "shard.jsonl"
    path.write_bytes(b"\n  \n" + b"".join(ROWS[:3]))
    batches = read_all([path], format="text")
    assert sum(b.table.num_rows for b in batches) == 3 and not all_quarantined(batches)


@pytest.mark.parametrize("first", [b"\xff\xfe junk", b"{\x00junk", b"\xfe\xff"])
def test_a_first_line_that_opens_like_utf16_but_is_not_is_one_line_to_quarantine(
    tmp_path: Path, first: bytes
) -> None:
    # The rows after a first line of binary junk are UTF-8 records: kept, as before.
    path = tmp_path / "shard.jsonl"
    path.write_bytes(first + b"\n" + b"".join(ROWS[:3]))
    batches = read_all([path], format="text")
    assert [q.row for q in all_quarantined(batches)] == [0]
    assert sum(b.table.num_rows for b in batches) == 3


def test_a_utf16_file_whose_first_line_is_longer_than_the_head_is_told_too(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(("\ufeff" + json.dumps({"text": "word " * 40_000}) + "\n").encode("utf-16-le"))
    rows, reason = _problem(path)
    assert rows == 0 and reason.startswith("the file is UTF-16LE text, not UTF-8")


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_parquet_page_failing_its_crc_loses_its_row_group(
    tmp_path: Path, compression: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: page checksums written by the producer (write_page_checksum, Spark)
    # were never verified: one flipped bit changed a row, kept with curate --strict exit 0.
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"review number {i} of the hotel" for i in range(100)]
    good = tmp_path / "good.parquet"
    pq.write_table(
        pa.table({"text": texts}),
        good,
        write_page_checksum=True,
        compression=compression,
        use_dictionary=False,
    )
    data = bytearray(good.read_bytes())
    at = data.find(b"review number 20 ") if compression == "none" else 200
    assert at > 0
    data[at + 15] ^= 0x01  # "20" -> "21" uncompressed; a bit of the zstd frame otherwise
    path = tmp_path / "flip.parquet"
    path.write_bytes(bytes(data))
    batches = read_all([path], batch_rows=4096)
    quarantined = all_quarantined(batches)
    assert all_keys(batches) == []
    assert len(quarantined) == 100  # the row group's rows, each counted
    assert "cannot read row group 0 (rows 0-99)" in quarantined[0].reason
    assert "CRC checksum verification failed" in quarantined[0].reason
    assert main(["curate", str(path), "--out", str(tmp_path / "out"), "--strict"]) == 1
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["totals"]
    assert (stats["input_rows"], stats["kept"], stats["quarantined"]) == (100, 0, 100)
    assert main(["check", str(path), "--no-golden"]) == 1
    assert "CRC checksum verification failed" in capsys.readouterr().out
    # The undamaged file reads whole, checksums and all.
    assert len(all_keys(read_all([good], batch_rows=4096))) == 100


def _stops_the_decoder(data: bytes, gz: bool) -> bool:
    """Whether ``data`` stops its decoder on corrupt data (not a checksum failure)."""
    try:
        if gz:
            zlib.decompressobj(31).decompress(data)
        else:
            zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except (zlib.error, zstandard.ZstdError) as exc:
        return "check" not in str(exc) and "checksum" not in str(exc)
    return False


def _varied(n: int) -> bytes:
    """``n`` JSONL rows that compress badly (about 40 bytes a row packed)."""
    rng = random.Random(0)
    return b"".join(b'{"text": "%d %x"}\n' % (i, rng.getrandbits(256)) for i in range(n))


def _damaged(text: bytes, gz: bool, at: int) -> bytes:
    """``text`` packed, then 8 bytes from ``at`` on (the first place that does) made into
    damage that stops the decoder: corrupt data, not a failed checksum."""
    data = bytearray(gzip.compress(text) if gz else zstandard.ZstdCompressor().compress(text))
    while True:
        was = bytes(data[at : at + 8])
        data[at : at + 8] = b"\xff" * 8
        if _stops_the_decoder(bytes(data), gz):
            return bytes(data)
        data[at : at + 8] = was
        at += 1


def _bad_crc(text: bytes) -> bytes:
    """``text`` gzipped, its data intact and its CRC-32 trailer wrong."""
    data = bytearray(gzip.compress(text))
    data[-8] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("name", ["bad.jsonl.gz", "bad.jsonl.zst"])
def test_corrupt_data_inside_a_member_that_passed_rows_on_is_refused_whole(
    tmp_path: Path, name: str
) -> None:
    # Found by attack: one flipped bit in a .jsonl.gz decoded to made-up lines that parsed
    # and were kept, exit 0, before the decoder stopped on the damage (its CRC never reached).
    # As for a checksum failure, the member's decoded rows cannot be trusted: exit 2 once
    # some were passed on (here: batches of 100 rows, damage past the first 64 KiB).
    gz = name.endswith("gz")
    text = _varied(3000) if gz else b"".join(ROWS)
    path = tmp_path / name
    path.write_bytes(_damaged(text, gz, (96 << 10) if gz else 8000))
    unit = "gzip member" if gz else "zstd frame"
    with pytest.raises(InputError, match=rf"{name}: corrupt data inside a {unit} .* none is used"):
        read_all([path], batch_rows=100)
    config = tmp_path / "curate.yaml"
    config.write_text("batch_rows: 100\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["curate", str(path), "--out", str(out), "--config", str(config)]) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("small.jsonl.gz", lambda: _damaged(b"".join(ROWS[:10]), True, 30)),
        ("small.jsonl.zst", lambda: _damaged(b"".join(ROWS[:10]), False, 20)),
        # Past the first 64 KiB fed to the decoder (bytes of the member were handed on, but
        # no row): exit 2 before, as if rows had been used.
        ("past_64k.jsonl.gz", lambda: _damaged(_varied(3000), True, 96 << 10)),
        ("bad_crc.jsonl.gz", lambda: _bad_crc(b"".join(ROWS[:10]))),
        ("bad_crc_large.jsonl.gz", lambda: _bad_crc(_varied(3000))),
    ],
)
def test_damage_before_any_row_was_passed_on_is_one_quarantine_entry_for_the_file(
    tmp_path: Path, name: str, data: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Whether a row of the damaged member was passed on decides, not the file's size nor
    # where the decoder's blocks end: none was, so the file is unreadable (one quarantine
    # entry naming the error), and check, curate --strict and audit exit 1 on it.
    path = tmp_path / name
    path.write_bytes(data())
    rows, reason = _problem(path)  # the default batch: 65,536 rows
    assert rows == 0
    what = "a gzip member fails its checksum" if "crc" in name else "corrupt data: "
    assert reason.startswith(f"cannot read the file: {what}")
    assert reason.endswith("no row was read (re-create or re-download the file)")
    out = tmp_path / "out"
    assert main(["curate", str(path), "--out", str(out), "--strict"]) == 1
    totals = json.loads((out / "stats.json").read_text())["totals"]
    assert (totals["input_rows"], totals["kept"], totals["quarantined"]) == (1, 0, 1)
    capsys.readouterr()
    assert main(["check", str(path), "--no-golden"]) == 1
    assert capsys.readouterr().out.startswith(f"{path.as_posix()}: FMT010 cannot read the file: ")
    assert main(["audit", str(path), "--out", str(tmp_path / "audit")]) == 1


def test_a_damaged_second_member_drops_its_lines_and_keeps_the_first_members(
    tmp_path: Path,
) -> None:
    # The second member's bytes were handed on before the damage, but no row of them was
    # passed on: dropped, and the file reads as cut where that member begins.
    first = gzip.compress(b"".join(ROWS[:10]))
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(first + _damaged(_varied(3000), True, 96 << 10))
    rows, reason = _problem(path)
    assert rows == 10
    assert reason.startswith("cannot read the file after line 10: corrupt data: ")


def test_corrupt_data_before_a_member_passed_anything_on_is_reported_not_refused(
    tmp_path: Path,
) -> None:
    # Damage at the start of the second member: the rows handed out came from the first,
    # complete and checked by its CRC; the rest are lost, reported as before.
    second = bytearray(gzip.compress(b"".join(ROWS[10:20])))
    second[10] = 0xFF  # the first deflate block header: an invalid block type
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(ROWS[:10])) + bytes(second))
    rows, reason = _problem(path)
    assert rows == 10
    assert reason.startswith("cannot read the file after line 10: corrupt data: ")


@pytest.mark.parametrize("name", ["e.jsonl.gz", "e.jsonl.zst", "e.parquet"])
def test_a_zero_byte_compressed_or_parquet_file_is_a_failed_write(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: counted as an empty shard, curate --strict and check exit 0. A plain
    # .jsonl of 0 bytes stays an empty file (docs/formats.md).
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "row a"}\n', encoding="utf-8")
    (tmp_path / "in" / "b.jsonl").write_bytes(b"")
    path = tmp_path / "in" / name
    path.write_bytes(b"")
    rows, reason = _problem(path)
    assert rows == 0 and reason.startswith("the file is empty (0 bytes)")
    assert all_quarantined(read_all([tmp_path / "in" / "b.jsonl"])) == []
    out = tmp_path / "out"
    assert main(["curate", str(tmp_path / "in"), "--out", str(out), "--strict"]) == 1
    totals = json.loads((out / "stats.json").read_text())["totals"]
    assert (totals["input_rows"], totals["kept"], totals["quarantined"]) == (2, 1, 1)
    assert main(["check", str(tmp_path / "in" / "a.jsonl"), str(path), "--no-golden"]) == 1
    assert "the file is empty (0 bytes)" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["big.jsonl.gz", "big.jsonl.zst", "big_crc.jsonl.gz"])
def test_check_reports_damage_past_its_first_batch_as_it_does_within_it(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: check hands rows on in batches of 65,536, so the same damage was an
    # FMT010 finding (exit 1) in the first batch and exit 2 once a batch of the file had been
    # handed on. check writes nothing: it is a finding wherever it falls.
    text = _varied(100_000)  # damage past row 65,536
    gz = name.endswith("gz")
    if "crc" in name:
        data = _bad_crc(text)
    else:
        packed = gzip.compress(text) if gz else zstandard.ZstdCompressor().compress(text)
        data = _damaged(text, gz, len(packed) * 9 // 10)
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["check", str(path), "--no-golden"]) == 1
    out = capsys.readouterr().out
    # The damaged member starts at line 1, not where the first batch ended.
    assert f"{path.as_posix()}: FMT010 cannot read the file: the " in out
    assert "starting at line 1 is damaged (" in out
    assert "none of its rows (lines 1 to 65536 were read before the damage showed)" in out
    assert main(["check", str(path), "--no-golden", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [f["rule"] for f in found] == ["FMT010"]
    # A command that writes what it reads still refuses the file (exit 2).
    assert main(["curate", str(path), "--out", str(tmp_path / "out")]) == 2


def _flipped(text: bytes, at: float) -> bytes:
    """``text`` gzipped, one byte ``at`` (a fraction) into it flipped: damage that decodes
    as garbage until the member's CRC-32 fails at its end."""
    data = bytearray(gzip.compress(text, 6))
    data[int(len(data) * at)] ^= 0x55
    return bytes(data)


def _check_findings(path: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, int]]:
    assert main(["check", str(path), "--no-golden", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    return [(f["rule"], Path(f["file"]).name, f["line"]) for f in found]


@pytest.mark.slow
def test_check_reports_no_finding_on_the_rows_of_a_member_that_fails_its_checksum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: one byte flipped 10% into a 100K-row .jsonl.gz decodes as garbage
    # until the CRC fails at the end; check reported the garbage rows of its first batch
    # (55,437 findings, FMT001 malformed JSON to line 65,536) and an FMT010 "after line
    # 65536", where the same damage in a 50K-row file (caught within its first batch) was
    # one FMT010. No row of the member can be trusted: the two give the same findings.
    rows = b"".join(
        b'{"id": "r%d", "text": "row number %d says %d hello"}\n' % (i, i, i * 7919 % 100003)
        for i in range(100_000)
    )
    big, small = tmp_path / "big.jsonl.gz", tmp_path / "small.jsonl.gz"
    big.write_bytes(_flipped(rows, 0.1))
    small.write_bytes(_flipped(rows[: rows.index(b'{"id": "r50000"')], 0.1))
    assert _check_findings(big, capsys) == [("FMT010", "big.jsonl.gz", 0)]
    assert _check_findings(small, capsys) == [("FMT010", "small.jsonl.gz", 0)]
    assert main(["check", str(big), "--no-golden"]) == 1
    out = capsys.readouterr().out
    assert "the gzip member starting at line 1 is damaged (a gzip member fails its checksum" in out


@pytest.mark.slow
def test_check_keeps_the_findings_of_members_before_a_damaged_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The rows of the complete members before the damaged one are read and checked; the
    # damaged member's rows, handed on before its checksum failed, are not (its first line
    # is named, not where a batch ended).
    first = b'{"text": "a"}\n{"text": broken\n' + _varied(8)
    second = bytearray(gzip.compress(_varied(100_000)))
    second[-8] ^= 0xFF  # its CRC-32
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(first) + bytes(second))
    assert _check_findings(path, capsys) == [
        ("FMT010", "two.jsonl.gz", 0),
        ("FMT001", "two.jsonl.gz", 2),
    ]
    assert main(["check", str(path), "--no-golden"]) == 1
    out = capsys.readouterr().out
    assert "cannot read the file after line 10: the gzip member starting at line 11" in out


def _dup_heavy_then_damaged(path: Path) -> None:
    """A .jsonl.gz of two members: 100 rows, the last 10 repeating the first 10 (10%
    duplicates, DUP001's default error_above is 5%), then 70,000 rows whose CRC-32 fails:
    65,536 of them are handed on before the damage shows."""
    first = b"".join(b'{"text": "row %d"}\n' % (i % 90) for i in range(100))
    second = bytearray(gzip.compress(_varied(70_000)))
    second[-8] ^= 0xFF  # its CRC-32
    path.write_bytes(gzip.compress(first) + bytes(second))


@pytest.mark.slow
def test_the_rows_of_a_damaged_member_do_not_count_towards_a_rules_error_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by review: the damaged member's rows get no finding, but they counted among the
    # rows checked: 10 duplicates of 100 rows read as 10 of 65,637 (0.02%), a warning,
    # where the rows checked hold 10% of them, an error (DUP001: above 5%).
    path = tmp_path / "two.jsonl.gz"
    _dup_heavy_then_damaged(path)
    assert main(["check", str(path), "--no-golden", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [f["line"] for f in found if f["rule"] == "DUP001"] == list(range(91, 101))
    assert {f["level"] for f in found if f["rule"] == "DUP001"} == {"error"}
    fmt010 = [f for f in found if f["rule"] == "FMT010"]
    assert len(fmt010) == 1 and "starting at line 101 is damaged" in fmt010[0]["message"]


@pytest.mark.slow
def test_the_rows_of_a_damaged_member_of_a_context_file_do_not_count_either(
    tmp_path: Path,
) -> None:
    # The same file read as context (`check --staged-context`): its rows count as in one
    # run over both files, the damaged member's not; 11 repeats of 102 rows stay an error.
    context = tmp_path / "a.jsonl.gz"
    _dup_heavy_then_damaged(context)
    staged = tmp_path / "b.jsonl"
    staged.write_text('{"text": "row 1"}\n', encoding="utf-8")
    found = check([staged], leakage=False, context=[context, staged])
    assert [(f.rule.id, f.line, f.severity) for f in found] == [("DUP001", 1, Severity.ERROR)]


@pytest.mark.slow
def test_the_repeats_in_a_damaged_member_of_a_context_file_are_no_duplicates(
    tmp_path: Path,
) -> None:
    # ... nor do its rows that repeat an earlier one count as duplicates: 35,000 copies of
    # one row in it made the staged file's one duplicate of 102 rows an error.
    context = tmp_path / "a.jsonl.gz"
    first = b"".join(b'{"text": "row %d"}\n' % i for i in range(100))
    varied = _varied(35_000).splitlines(keepends=True)
    second = bytearray(gzip.compress(b"".join(b'{"text": "row 5"}\n' + v for v in varied)))
    second[-8] ^= 0xFF  # its CRC-32
    context.write_bytes(gzip.compress(first) + bytes(second))
    staged = tmp_path / "b.jsonl"
    staged.write_text('{"text": "row 1"}\n', encoding="utf-8")
    found = check([staged], leakage=False, context=[context, staged])
    assert [(f.rule.id, f.line, f.severity) for f in found] == [("DUP001", 1, Severity.WARNING)]
