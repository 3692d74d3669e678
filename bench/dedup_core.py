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
from curagate.pipeline.dedup import DedupOutcome, DedupStep, keep_priorities

CORPUS = "/work/main/bench/results/corpora/t0_100000.jsonl"
GOAL = 0.7  # each of add and finish: at most 70% of the CPU before (issue #13, s7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=CORPUS)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--add-only",
        action="store_true",
        help="skip finish (for `perf stat` of add alone: subtract a --repeat 1 run)",
    )
    args = ap.parse_args()
    cfg = resolve_config(None, threads=args.threads)
    batches = [
        (b.keys, keep_priorities(b, cfg))
        for b in read_batches([args.corpus], batch_rows=cfg.batch_rows)
        if b.table.num_rows
    ]
    best: dict[str, list[float]] = {"add": [1e9, 1e9], "finish": [1e9, 1e9]}
    out: DedupOutcome | None = None
    digest = ""
    for _ in range(args.repeat):
        step = DedupStep(cfg)
        w0, c0 = time.perf_counter(), time.process_time()
        for keys, priorities in batches:
            step.add(keys, priorities)
        w1, c1 = time.perf_counter(), time.process_time()
        if args.add_only:
            best["add"] = [min(best["add"][0], w1 - w0), min(best["add"][1], c1 - c0)]
            continue
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
        if name == "finish" and out is None:
            continue
        print(f"{name:7s} best of {args.repeat}: wall {wall:.3f} s  cpu {cpu:.3f} s")
    if out is not None:
        print(f"outcome digest {digest}  stats {dict(sorted(out.stats.items()))}")
    print(f"load average (1 min) {load:.2f}; goal: add and finish CPU each <= {GOAL:.0%} of before")


if __name__ == "__main__":
    main()
