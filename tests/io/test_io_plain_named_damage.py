"""A plain ``.jsonl`` file that is damaged compressed data, or that ends in zeros (a download
stopped into a pre-allocated file), is a file that cannot be read (FMT010), as the same
damage in a ``.jsonl.gz`` is: not lines of binary, each a row (FMT001), which passed
``check`` and ``audit`` once FMT001 was switched off."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import zstandard
from io_support import all_keys, all_quarantined, read_all

from curagate.cli import main

ROWS = b"".join(b'{"text": "row %d with a few words here %d"}\n' % (i, i * 7) for i in range(400))


def _gz_damaged() -> bytes:
    data = bytearray(gzip.compress(ROWS))
    for at in range(12, len(data) - 8, 9):  # deflate garbled all through: nothing decodes
        data[at] ^= 0x5A
    return bytes(data)


def _gz_cut() -> bytes:
    return gzip.compress(ROWS)[:40]  # a few bytes of deflate: not one line decodes


def _zst_damaged() -> bytes:
    data = bytearray(zstandard.ZstdCompressor().compress(ROWS))
    for at in range(8, len(data), 5):  # its blocks garbled all through: nothing decodes
        data[at] ^= 0x5A
    return bytes(data)


def _fmt001_off(tmp_path: Path) -> Path:
    cfg = tmp_path / "audit.yaml"
    cfg.write_text("rules:\n  FMT001: {severity: off}\n", encoding="utf-8")
    return cfg


@pytest.mark.parametrize(
    ("make", "what", "name"),
    [
        (_gz_damaged, "gzip", ".jsonl.gz"),
        (_gz_cut, "gzip", ".jsonl.gz"),
        (_zst_damaged, "zstd", ".jsonl.zst"),
    ],
)
def test_damaged_compressed_data_named_jsonl_is_a_file_problem(
    tmp_path: Path, make: object, what: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert callable(make)
    path = tmp_path / "data.jsonl"
    path.write_bytes(make())
    batches = read_all([path])
    [q] = all_quarantined(batches)
    assert q.read_failure and q.line is None
    assert f"the file is {what}-compressed data" in q.reason
    assert f"rename it to end in {name}" in q.reason
    assert all_keys(batches) == []
    cfg = _fmt001_off(tmp_path)
    capsys.readouterr()
    assert main(["check", str(path), "--no-golden", "--config", str(cfg)]) == 1
    assert "FMT010" in capsys.readouterr().out
    out = tmp_path / "audit"
    assert main(["audit", str(path), "--config", str(cfg), "--out", str(out), "--quiet"]) == 1


@pytest.mark.parametrize("partial", [b"", b'{"text": "cut he'])
def test_a_plain_file_ending_in_zeros_is_a_file_problem(
    tmp_path: Path, partial: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(ROWS[:2000].rsplit(b"\n", 1)[0] + b"\n" + partial + b"\0" * 70000)
    whole = ROWS[:2000].count(b"\n")
    batches = read_all([path])
    [q] = all_quarantined(batches)
    assert q.read_failure
    assert q.reason.startswith(f"cannot read the file after line {whole}: the file ends in ")
    assert "70,000 zero bytes" in q.reason
    # every row before the zeros is kept; the line they cut is part of the loss
    assert len(all_keys(batches)) == whole
    cfg = _fmt001_off(tmp_path)
    capsys.readouterr()
    assert main(["check", str(path), "--no-golden", "--config", str(cfg)]) == 1
    assert "FMT010" in capsys.readouterr().out
    # the same in a .jsonl.gz says the same
    packed = tmp_path / "data2.jsonl.gz"
    packed.write_bytes(gzip.compress(ROWS[:2000].rsplit(b"\n", 1)[0] + b"\n") + b"\0" * 70000)
    [qz] = all_quarantined(read_all([packed]))
    assert qz.reason.startswith(f"cannot read the file after line {whole}: ")


def test_zeros_only_and_wide_text_ending_in_nuls(tmp_path: Path) -> None:
    path = tmp_path / "zeros.jsonl"
    path.write_bytes(b"\0" * 5000)
    [q] = all_quarantined(read_all([path]))
    assert q.reason.startswith("cannot read the file: the file ends in 5,000 zero bytes")
    # UTF-16LE text ends in a NUL (its last character's high byte): told as UTF-16, as before
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(json.dumps({"text": "hi"}).encode("utf-16-le"))
    [q] = all_quarantined(read_all([wide]))
    assert "UTF-16LE text, not UTF-8" in q.reason
    # one trailing NUL line among the rows is still a row (not a tail of zeros)
    mid = tmp_path / "mid.jsonl"
    mid.write_bytes(b'{"text": "a"}\n\0\0\0\n{"text": "b"}\n')
    batches = read_all([mid])
    assert len(all_keys(batches)) == 2
    [q] = all_quarantined(batches)
    assert q.line == 2 and not q.read_failure
