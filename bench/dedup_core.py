"""CPU and wall of the Rust dedup core alone: ``DedupStep.add`` over every batch, then ``finish``.

Reads the corpus once with curagate's reader (outside the timing), then runs a fresh
deduper N times and prints the best wall and best CPU (user+sys of this process, all
threads, via ``time.process_time``) of add and finish, plus a digest of the outcome so
two builds can be compared for identical results. ``--builds a.so,b.so`` loads each build
of ``curagate._core`` and alternates them run by run (load noise then hits both alike).
Quote ``uptime`` beside the numbers (bench/README.md).

    PYTHONPATH=python .venv/bin/python bench/dedup_core.py [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import curagate.pipeline.dedup as dedup_step
from curagate import _core
from curagate.curate import resolve_config
from curagate.io import read_batches
from curagate.pipeline.dedup import DedupOutcome, DedupStep, keep_priorities

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # bench/corpus.py

# The 100K T0 corpus of file_to_file.py (built once from ../shared/data/t0_templates).
CORPUS = str(corpus.corpus_path(100_000))
GOAL = 0.7  # each of add and finish: at most 70% of the CPU before (issue #13, s7)


def load_build(path: str) -> ModuleType:
    """One build of the extension, as its own module object."""
    spec = importlib.util.spec_from_file_location("curagate._core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=CORPUS)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--add-only",
        action="store_true",
        help="skip finish (add alone, e.g. under a profiler)",
    )
    ap.add_argument(
        "--builds",
        default=None,
        help="comma-separated copies of _core.abi3.so to alternate (default: the installed one)",
    )
    args = ap.parse_args()
    builds = args.builds.split(",") if args.builds else ["installed"]
    modules = [_core if b == "installed" else load_build(b) for b in builds]
    cfg = resolve_config(None, threads=args.threads)
    batches = [
        (b.keys, keep_priorities(b, cfg))
        for b in read_batches([args.corpus], batch_rows=cfg.batch_rows)
        if b.table.num_rows
    ]
    best = [{"add": [1e9, 1e9], "finish": [1e9, 1e9]} for _ in builds]
    digests = [""] * len(builds)
    stats: dict[str, int] = {}
    for _ in range(args.repeat):
        for i, module in enumerate(modules):
            dedup_step._core = module  # type: ignore[attr-defined]  # DedupStep's build
            step = DedupStep(cfg)
            w0, c0 = time.perf_counter(), time.process_time()
            for keys, priorities in batches:
                step.add(keys, priorities)
            w1, c1 = time.perf_counter(), time.process_time()
            phases = [("add", w1 - w0, c1 - c0)]
            if not args.add_only:
                out: DedupOutcome = step.finish()
                w2, c2 = time.perf_counter(), time.process_time()
                phases.append(("finish", w2 - w1, c2 - c1))
                h = hashlib.sha256()
                for arr in (out.status, out.kept_index, out.similarity):
                    h.update(arr.buffers()[1].to_pybytes())
                h.update(repr(sorted(out.stats.items())).encode())
                digests[i] = h.hexdigest()[:16]
                stats = out.stats
            del step
            for name, wall, cpu in phases:
                best[i][name][0] = min(best[i][name][0], wall)
                best[i][name][1] = min(best[i][name][1], cpu)
    load = os.getloadavg()[0]
    for build, b, digest in zip(builds, best, digests, strict=True):
        print(Path(build).name)
        for name, (wall, cpu) in b.items():
            if name == "add" or not args.add_only:
                print(f"  {name:7s} best of {args.repeat}: wall {wall:.3f} s  cpu {cpu:.3f} s")
        if digest:
            print(f"  outcome digest {digest}")
    if stats:
        print(f"stats {dict(sorted(stats.items()))}")
    print(f"load average (1 min) {load:.2f}; goal: add and finish CPU each <= {GOAL:.0%} of before")


if __name__ == "__main__":
    main()
