"""A plain JSONL input is memory-mapped; the pages of the chunks already parsed are
unmapped from the process, so reading a big file does not keep it all in RSS
(a 1 GB input kept 1 GB of RSS before: bench/README.md, "Scaling")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from curagate.io import read_batches

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/smaps")


def _mapped_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (0: not mapped)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def test_parsed_chunks_are_unmapped_while_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    record = {"text": "word " * 200}
    with path.open("w") as f:
        for i in range(20_000):  # ~20 MB in chunks of 2,000 records (~2 MB)
            f.write(json.dumps({**record, "n": i}) + "\n")
    size_kib = path.stat().st_size >> 10
    resident = []
    rows = 0
    for batch in read_batches([path], batch_rows=2_000):
        rows += batch.table.num_rows
        resident.append(_mapped_kib(path))
    assert rows == 20_000
    # While batch k is handed out, at most the pages of about one chunk are mapped
    # (its parse is done): not the ~20 MB read so far.
    assert max(resident) < size_kib // 4, (resident, size_kib)


def test_a_chunk_read_again_after_its_pages_were_dropped_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    lines = [json.dumps({"text": f"record {i} " + "x" * 5_000}) for i in range(3_000)]
    path.write_text("\n".join(lines) + "\n")
    first = [b.table for b in read_batches([path], batch_rows=500)]
    again = [b.table for b in read_batches([path], batch_rows=500)]
    assert [t.column("text").to_pylist() for t in first] == [
        t.column("text").to_pylist() for t in again
    ]
    assert sum(t.num_rows for t in first) == 3_000
