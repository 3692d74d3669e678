"""Near dedup at sizes whose texts do not fit in memory: curagate's Deduper fed a stream.

The 10M-doc corpus is built on the fly from the cached 3M-doc corpus of bench/corpus.py
(`near_dedup.py --sizes 3m` writes it): copy k of that corpus has every word tagged with
`c<k>x` (copy 0 is the corpus itself), so the copies share no shingles while each keeps
nearly the 3M corpus's near-duplicate structure (a word made only of punctuation, which
normalization drops, becomes the bare tag); the stream stops at --docs. The JSONL is read by
curate's own reader (`curagate.io.read_batches`, batches of 64K rows) and every batch goes to
`Deduper.add` as Arrow buffers, as in `curagate curate`: no list of texts is held, so peak RSS
is the dedup's own state plus a batch.

Reports wall and CPU time of the whole stream (reading + tagging + dedup) and of the dedup
calls alone, docs/s, peak RSS and peak anonymous memory, bytes spilled, and the removed count per copy. One tool only:
the peers hold every text and sketch as Python objects (3.5 GB at 1M docs).

    .venv/bin/python bench/stream_scale.py --docs 10m
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from curagate import _core
from curagate.io import read_batches
from near_dedup import parse_size, proc_status_kib
from shingles import NGRAM, NUM_PERM, THRESHOLD

BATCH_ROWS = 1 << 16


def tagged(texts: pa.Array, copy: int) -> pa.Array:
    """Every whitespace-separated word prefixed with the copy's tag (copy 0 unchanged)."""
    if copy == 0:
        return texts
    tag = f"c{copy}x"
    for sep in (" ", "\n"):
        texts = pc.replace_substring(texts, sep, sep + tag)
    return pc.binary_join_element_wise(pa.scalar(tag, texts.type), texts, pa.scalar("", texts.type))


def blocks(path: Path) -> Iterator[pa.Array]:
    """The dedup keys of the file, streamed by curate's own JSONL reader."""
    for batch in read_batches(path, batch_rows=BATCH_ROWS):
        yield batch.keys


class AnonPeak:
    """Peak anonymous memory (RssAnon), sampled every 20 ms. VmHWM also counts the pages of
    the memory-mapped input file that the reader has touched (file-backed, reclaimable)."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kib = max(self.peak_kib, proc_status_kib("RssAnon"))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak_kib, proc_status_kib("RssAnon")) >> 10


def run(source: Path, docs: int, threads: int, budget: int) -> dict[str, Any]:
    dedup = _core.Deduper(
        num_perm=NUM_PERM, threshold=THRESHOLD, ngram=NGRAM, threads=threads, memory_budget=budget
    )
    zeros = pa.array(np.zeros(BATCH_ROWS))
    fed, copy, dedup_s = 0, 0, 0.0
    copy_bounds = [0]
    anon = AnonPeak()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while fed < docs:
        for texts in blocks(source):
            texts = tagged(texts[: docs - fed], copy)
            t = time.perf_counter()
            for lo in range(0, len(texts), len(zeros)):
                part = texts[lo : lo + len(zeros)]
                dedup.add(part, zeros[: len(part)])
            dedup_s += time.perf_counter() - t
            fed += len(texts)
            if fed >= docs:
                break
        copy += 1
        copy_bounds.append(fed)
    t = time.perf_counter()
    out = dedup.finish()
    dedup_s += time.perf_counter() - t
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_anon_mib = anon.stop()
    status = np.frombuffer(out.status, dtype=np.uint8)
    removed_per_copy = [
        int(np.count_nonzero(status[a:b])) for a, b in itertools.pairwise(copy_bounds)
    ]
    stats = out.stats.as_dict()
    return {
        "docs": fed,
        "threads": threads,
        "memory_budget_mib": budget >> 20,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "dedup_s": round(dedup_s, 2),
        "docs_per_s": round(fed / wall),
        "dedup_docs_per_s": round(fed / dedup_s),
        "peak_rss_mib": proc_status_kib("VmHWM") >> 10,
        "peak_anon_mib": peak_anon_mib,
        "removed": int(np.count_nonzero(status)),
        "removed_per_copy": removed_per_copy,
        "bands_rows": list(dedup.bands_rows),
        "stats": stats,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--docs", default="10m", help="how many docs to stream (e.g. 3m, 10m)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--memory-budget-mib", type=int, default=1024)
    p.add_argument("--source", type=Path, default=corpus.CORPORA_DIR / "t0_3000000.jsonl")
    args = p.parse_args()
    if not args.source.exists():
        raise SystemExit(f"bench: {args.source} is missing; run bench/near_dedup.py --sizes 3m")
    docs = parse_size(args.docs)
    if docs is None:
        raise SystemExit(f"bench: --docs {args.docs!r} is not a size")
    res = run(args.source, docs, args.threads, args.memory_budget_mib << 20)
    out = corpus.CORPORA_DIR.parent / f"stream_scale-{docs}.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
