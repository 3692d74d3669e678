"""Fixtures that write real shard files (plain, gz, zst, Parquet) into tmp_path."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

Line = str | bytes | dict[str, Any]


def _encode(line: Line) -> bytes:
    if isinstance(line, dict):
        return json.dumps(line, ensure_ascii=False).encode("utf-8")
    if isinstance(line, str):
        return line.encode("utf-8")
    return line


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """``write_jsonl(name, lines)``: dicts become JSON, str/bytes are written as is."""

    def write(name: str, lines: Sequence[Line], *, newline_at_end: bool = True) -> Path:
        data = b"\n".join(_encode(line) for line in lines)
        if newline_at_end and lines:
            data += b"\n"
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".gz"):
            data = gzip.compress(data)
        elif name.endswith(".zst"):
            data = zstandard.ZstdCompressor().compress(data)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[..., Path]:
    """``write_parquet(name, rows, row_group_size=...)`` from a list of dicts."""

    def write(name: str, rows: list[dict[str, Any]], *, row_group_size: int | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
        return path

    return write
