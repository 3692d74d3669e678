"""One peer as a user would script it around the library: JSONL in, kept JSONL out.

    python bench/f2f_peer.py TOOL IN.jsonl OUT.jsonl

TOOL is a peers.py tool (`rensa`, `rensa-best`, ...) or `floor`. The kept lines are copied
byte for byte (OUT, written to a temp name and renamed); their indices go to OUT.kept.npy
so the driver can score the removed set. `floor` only reads, parses, normalizes and hashes
every text (pyarrow's JSON reader + the Rust core) and writes the 16-byte hashes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def floor(src: Path, out: Path) -> None:
    import pyarrow.json as pj

    from curagate.audit.keys import fingerprint_bytes

    column = pj.read_json(src).column("text").combine_chunks()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(fingerprint_bytes(column))
    tmp.replace(out)


def peer(tool: str, src: Path, out: Path) -> None:
    import numpy as np

    from peers import TOOLS

    lines = src.read_bytes().splitlines(keepends=True)
    texts = [json.loads(line)["text"] for line in lines]
    removed = TOOLS[tool](texts, 1)["removed"]
    keep = np.ones(len(lines), dtype=bool)
    keep[removed] = False
    kept = np.flatnonzero(keep)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.writelines(lines[i] for i in kept.tolist())
    tmp.replace(out)
    np.save(out.with_suffix(".kept.npy"), kept)


if __name__ == "__main__":
    tool, src, dst = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    floor(src, dst) if tool == "floor" else peer(tool, src, dst)
