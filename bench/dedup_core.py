"""CPU and wall of the Rust dedup core alone: ``DedupStep.add`` over every batch, then ``finish``.

Reads the corpus once with curagate's reader (outside the timing), then runs a fresh
deduper N times and prints the best wall and best CPU (user+sys of this process, all
threads, via ``time.process_time``) of add and finish, plus a digest of the outcome so
two builds can be compared for identical results. Measure before/after alternating, with
``uptime`` beside the numbers (bench/README.md).

    PYTHONPATH=python .venv/bin/python bench/dedup_core.py [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time

from curagate.curate import resolve_config
from curagate.io import read_batches
from curagate.pipeline.dedup import DedupStep, keep_priorities

CORPUS = "/work/main/bench/results/corpora/t0_100000.jsonl"
GOAL = 0.7  # each of add and finish: at most 70% of the CPU before (issue #13, s7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=CORPUS)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    cfg = resolve_config(None, threads=args.threads)
    batches = [
        (b.keys, keep_priorities(b, cfg))
        for b in read_batches([args.corpus], batch_rows=cfg.batch_rows)
        if b.table.num_rows
    ]
    best: dict[str, list[float]] = {"add": [1e9, 1e9], "finish": [1e9, 1e9]}
    digest = ""
    for _ in range(args.repeat):
        step = DedupStep(cfg)
        w0, c0 = time.perf_counter(), time.process_time()
        for keys, priorities in batches:
            step.add(keys, priorities)
        w1, c1 = time.perf_counter(), time.process_time()
        out = step.finish()
        w2, c2 = time.perf_counter(), time.process_time()
        for name, wall, cpu in (("add", w1 - w0, c1 - c0), ("finish", w2 - w1, c2 - c1)):
            best[name][0] = min(best[name][0], wall)
            best[name][1] = min(best[name][1], cpu)
        h = hashlib.sha256()
        for arr in (out.status, out.kept_index, out.similarity):
            h.update(arr.buffers()[1].to_pybytes())
        h.update(repr(sorted(out.stats.items())).encode())
        digest = h.hexdigest()[:16]
    load = os.getloadavg()[0]
    for name, (wall, cpu) in best.items():
        print(f"{name:7s} best of {args.repeat}: wall {wall:.3f} s  cpu {cpu:.3f} s")
    print(f"outcome digest {digest}  stats {dict(sorted(out.stats.items()))}")
    print(f"load average (1 min) {load:.2f}; goal: add and finish CPU each <= {GOAL:.0%} of before")


if __name__ == "__main__":
    main()
