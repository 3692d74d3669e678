"""Peak memory of one bucket task (stage 3 of the staged curate) at two corpus sizes.

For each ``--docs`` size the scale generator's corpus (bench/corpus.py) is cut into
``--shards`` shards, sketched and grouped once (stages 1-2, executor local); then the
bucket task of each of the first ``--partitions`` band partitions runs in a *fresh* process
per (size, budget), so its peak RSS (``ru_maxrss``) is that task's alone, not a long-lived
worker's. Reported per run: peak RSS, RSS after the imports (the interpreter, numpy,
pyarrow, the Rust extension), their difference (peak = VmHWM reset after the imports), the band entries of the partition and the
key ranges (sub-partitions) it was cut into to fit ``memory_budget``, and the peak of
anonymous memory (RssAnon, sampled every 2 ms): VmHWM also counts the pages of the
memory-mapped verification data that the task touched, which are reclaimable page cache.

    .venv/bin/python bench/bucket_memory.py --docs 100k,400k --budgets 1g,4m
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from near_dedup import parse_size
from ray_scale import RESULTS, shard


def _bytes(text: str) -> int:
    """1g, 4m, 512k (binary units) or plain bytes."""
    text = text.strip().lower()
    unit = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1], 1)
    return int(float(text.rstrip("kmg")) * unit)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _bucket_child(plan: Any, partition: int, queue: Any) -> None:
    """One bucket task in a fresh process. Its peak is VmHWM, reset after the
    imports (``ru_maxrss`` would carry the parent's peak across fork and exec)."""
    from curagate.pipeline import stages

    base = _status_kib("VmRSS")
    base_anon = _status_kib("RssAnon")
    peak_anon = [base_anon]
    done = threading.Event()

    def sample() -> None:
        # The kernel keeps no peak of anonymous memory alone: sample it.
        while not done.is_set():
            peak_anon[0] = max(peak_anon[0], _status_kib("RssAnon"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    sampler.start()
    result = stages._task(
        Path(plan.work) / "bench-bucket" / f"{partition:02d}",
        lambda tmp: stages._bucket(plan, partition, tmp),
    )
    done.set()
    sampler.join()
    queue.put(
        {
            "base_kib": base,
            "base_anon_kib": base_anon,
            **result,
            "peak_rss_kib": _status_kib("VmHWM"),
            "peak_anon_kib": max(peak_anon[0], _status_kib("RssAnon")),
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--docs", default="100k,400k")
    p.add_argument("--budgets", default="1g,4m", help="memory_budget values to compare")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--partitions", type=int, default=3)
    args = p.parse_args(argv)

    from curagate.config import CurateConfig
    from curagate.pipeline import stages
    from curagate.pipeline.distributed import resolve_shards

    ctx = mp.get_context("spawn")
    report: dict[str, Any] = {"runs": []}
    for size_text in args.docs.split(","):
        src = corpus.build(parse_size(size_text))
        n = corpus.count(src)
        inputs = shard(src, args.shards, RESULTS / "ray_scale" / f"shards-{n}-{args.shards}")
        work = RESULTS / "bucket_memory" / f"work-{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        shards, _ = resolve_shards([inputs], work)
        cfg = CurateConfig()
        plan = stages.Plan(cfg, shards, str(work), None, 1)
        for s in shards:
            stages.sketch(plan, s)
        stages.groups(plan)
        for budget_text in args.budgets.split(","):
            budget = _bytes(budget_text)
            bplan = stages.Plan(
                cfg.model_copy(update={"memory_budget": budget}), shards, str(work), None, 1
            )
            for part in range(args.partitions):
                shutil.rmtree(work / "bench-bucket", ignore_errors=True)
                queue = ctx.Queue()
                child = ctx.Process(target=_bucket_child, args=(bplan, part, queue))
                child.start()
                r = queue.get()
                child.join()
                run = {
                    "docs": n,
                    "memory_budget": budget,
                    "partition": part,
                    "entries": r["entries"],
                    "candidates": r["candidates"],
                    "subpartitions": r["subpartitions"],
                    "peak_rss_mib": round(r["peak_rss_kib"] / 1024, 1),
                    "after_imports_mib": round(r["base_kib"] / 1024, 1),
                    "task_mib": round((r["peak_rss_kib"] - r["base_kib"]) / 1024, 1),
                    # Anonymous memory only (the task's own arrays, not the pages of
                    # memory-mapped stage files, which the kernel can drop).
                    "task_anon_mib": round((r["peak_anon_kib"] - r["base_anon_kib"]) / 1024, 1),
                    "verification_data_mib": round(
                        sum(
                            (work / "sketch" / f"{s.index:05d}" / "data.bin").stat().st_size
                            for s in shards
                        )
                        / 2**20,
                        1,
                    ),
                    "seconds": r["seconds"],
                }
                report["runs"].append(run)
                print(json.dumps(run), flush=True)
        shutil.rmtree(work, ignore_errors=True)
    out = RESULTS / "bucket_memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
