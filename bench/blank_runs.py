"""Reading a long run of blank lines: plain, gzip and zstd JSON Lines.

Writes two records with ``--lines`` blank lines between them as ``.jsonl``,
``.jsonl.gz`` and ``.jsonl.zst`` (no input data needed) and reads each with
``read_batches`` in a fresh interpreter, printing its wall time and peak RSS. The
compressed streams held and shifted the newline positions of a whole decompressed
block per chunk (quadratic: 20M blank lines in a .jsonl.gz took 266 s and 1.4 GB);
all three should now take about the same time and memory.

    python bench/blank_runs.py --lines 20000000
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zstandard

_READ = """
import resource, sys
from curagate.io import read_batches
rows = sum(b.input_rows for b in read_batches([sys.argv[1]]))
print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    args = parser.parse_args(argv)
    data = b'{"text": "real row one two"}\n' + b"\n" * args.lines
    data += b'{"text": "real row three four"}\n'
    python = Path(__file__).resolve().parents[1] / "python"
    env = {**os.environ, "PYTHONPATH": str(python)}
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            ".jsonl": data,
            ".jsonl.gz": gzip.compress(data, compresslevel=1),
            ".jsonl.zst": zstandard.ZstdCompressor(level=1).compress(data),
        }
        print(f"2 records, {args.lines:,} blank lines between them")
        for suffix, content in files.items():
            path = Path(tmp) / f"blank{suffix}"
            path.write_bytes(content)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", _READ, str(path)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            wall = time.perf_counter() - start
            rows, rss = done.stdout.split()
            print(
                f"  {suffix:<11} {len(content) / 2**20:8.2f} MiB  {wall:7.2f} s  "
                f"peak RSS {int(rss) / 1024:6.0f} MiB  ({rows} rows)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
