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


@pytest.mark.slow
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


def _big_jsonl(path: Path, rows: int) -> Path:
    with path.open("w") as f:
        for i in range(rows):
            f.write(json.dumps({"id": i, "text": f"row {i} " + "lorem ipsum dolor " * 4}) + "\n")
    return path


def _maps(pid: int, path: Path) -> bool:
    try:
        return str(path) in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_an_input_truncated_while_curate_reads_it_is_an_input_error_not_a_bus_error(
    tmp_path: Path,
) -> None:
    """A shard truncated by another process while it is mapped: the next read of its
    pages is a SIGBUS, which killed curate with no word (exit 135). The CLI makes it
    exit 2 with one line, and publishes nothing."""
    import os
    import subprocess
    import time

    src = _big_jsonl(tmp_path / "live.jsonl", 300_000)  # ~30 MB: ~0.5 s of reading
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "curagate", "curate", str(src), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _maps(proc.pid, src) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, "curate ended before it mapped the input"
    os.truncate(src, 1000)  # the mapped pages beyond 1000 bytes are gone
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert "input file was truncated or rewritten while it was being read" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["live.jsonl"]  # no temporary folder


@pytest.mark.parametrize("installed", [True, False])
def test_a_bus_error_on_a_truncated_map_exits_with_the_message_only_where_installed(
    tmp_path: Path, installed: bool
) -> None:
    """The mechanism, deterministically: the reader's map of a file, the file truncated,
    the next chunk read. With the CLI's exit installed: exit 2 and the message; without
    it (a host program calling curagate as a library keeps its own signal handling):
    killed by SIGBUS."""
    import signal
    import subprocess

    src = _big_jsonl(tmp_path / "live.jsonl", 20_000)
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from curagate import _core\n"
        "from curagate.io.readers import _jsonl_chunks\n"
        f"if {installed}:\n"
        "    _core.exit_on_bus_error('bus error seen\\n', 2)\n"
        "path = Path(sys.argv[1])\n"
        "with _jsonl_chunks(path, '.jsonl', 1_000) as chunks:\n"
        "    next(chunks)\n"
        "    os.truncate(path, 100)\n"
        "    next(chunks)\n"
        "print('read past the end')\n"
    )
    probe = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code, str(src)],
        capture_output=True,
        text=True,
    )
    if installed:
        assert (probe.returncode, probe.stderr) == (2, "bus error seen\n")
    else:
        assert probe.returncode == -signal.SIGBUS, probe.stderr
