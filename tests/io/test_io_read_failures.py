"""A file the reader cannot read at all is FMT010, which no config switches off: with
``rules: {FMT001: {severity: off}}`` (row-level format findings), an unreadable file passed
``check`` and ``audit`` with exit 0 (found by attack)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.audit import load_config
from curagate.cli import main
from curagate.errors import ConfigError

ROWS = b"".join(b'{"text": "row %d of the data"}\n' % i for i in range(50))


def _parquet(**kwargs: object) -> bytes:
    sink = io.BytesIO()
    texts = [f"review number {i} of the hotel" for i in range(100)]
    pq.write_table(pa.table({"text": texts}), sink, **kwargs)  # type: ignore[arg-type]
    return sink.getvalue()


def _flipped_page() -> bytes:
    # A valid footer; one bit of the only row group's page fails its CRC.
    data = bytearray(_parquet(write_page_checksum=True, compression="none", use_dictionary=False))
    data[data.find(b"review number 20 ") + 15] ^= 0x01
    return bytes(data)


UNREADABLE = {
    "not_gzip.jsonl.gz": b"this is not gzip data\n",
    "cut.jsonl.gz": gzip.compress(ROWS)[:40],
    "empty.jsonl.gz": b"",
    "gzip_named.jsonl": gzip.compress(ROWS),
    "utf16.jsonl": ROWS.decode().encode("utf-16-le"),
    "cut.parquet": _parquet()[:-30],
    "flipped_page.parquet": _flipped_page(),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unreadable_file_fails_check_and_audit_with_fmt001_off(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(UNREADABLE[name])
    config = tmp_path / "audit.yaml"
    config.write_text("rules:\n  FMT001: {severity: off}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["check", str(path), "--no-golden", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"{path.as_posix()}" in out and " FMT010 " in out and "FMT001" not in out
    assert main(["audit", str(path), "--config", str(config), "--out", str(tmp_path / "a")]) == 1
    report = json.loads((tmp_path / "a" / "audit.json").read_text(encoding="utf-8"))
    [found] = report["findings"]
    assert (found["rule"], found["severity"]) == ("FMT010", "error")
    assert all(r.startswith(path.as_posix()) for r in found["rows"])


def test_a_row_level_format_finding_is_still_fmt001_and_can_be_switched_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{not json\n')
    config = tmp_path / "audit.yaml"
    config.write_text("rules:\n  FMT001: {severity: off}\n", encoding="utf-8")
    assert main(["check", str(path), "--no-golden"]) == 1
    assert f"{path.as_posix()}:2: FMT001 " in capsys.readouterr().out
    assert main(["check", str(path), "--no-golden", "--config", str(config)]) == 0


@pytest.mark.parametrize(
    "setting", ["{severity: off}", "{severity: warning}", "{severity: info}", "{error_above: 0.5}"]
)
def test_fmt010_cannot_be_switched_off_or_re_levelled(tmp_path: Path, setting: str) -> None:
    config = tmp_path / "audit.yaml"
    # FMT010 under another rule: the error names FMT010's own line, not `rules:`'s.
    config.write_text(
        f"rules:\n  FMT001: {{severity: off}}\n  FMT010: {setting}\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError, match=r"audit\.yaml:3: rules\.FMT010: FMT010 \(unreadable-file\) "
    ):
        load_config(config)
    # Naming its own severity is allowed (it changes nothing).
    config.write_text("rules:\n  FMT010: {severity: error}\n", encoding="utf-8")
    assert load_config(config).rules["FMT010"].severity == "error"


def test_check_reports_a_lost_row_group_once_not_once_a_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One flipped bit in a row group of 43,781 rows printed 43,781 FMT010 lines in a hook.
    data = bytearray(_parquet(write_page_checksum=True, compression="none", use_dictionary=False))
    data[data.find(b"review number 20 ") + 15] ^= 0x01
    sink = io.BytesIO()
    schema = pa.schema([("text", pa.string())])
    with pq.ParquetWriter(sink, schema, write_page_checksum=True) as w:
        for group in range(2):  # two row groups, both fine
            w.write_table(pa.table({"text": [f"group {group} row {i}" for i in range(30)]}))
    path = tmp_path / "flipped.parquet"
    path.write_bytes(bytes(data))
    fine = tmp_path / "fine.parquet"
    fine.write_bytes(sink.getvalue())
    capsys.readouterr()
    assert main(["check", str(path), str(fine), "--no-golden"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 2)[:2] for line in out] == [[f"{path.as_posix()}:1:", "FMT010"]]
    assert "cannot read row group 0 (rows 0-99)" in out[0]
