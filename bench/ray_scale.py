"""curate on one process vs the staged pipeline on the local and Ray executors.

The corpus is bench/corpus.py's scale generator (real t0 templates + perturbed variants),
cut into --shards contiguous JSONL shards. Three runs on the same shards, each timed:

* ``one-process``: ``curagate curate`` as it always ran (streaming Deduper);
* ``staged-local``: the staged pipeline (sketch, groups, bucket, cluster, filter) with
  ``--executor local``;
* ``ray``: the same stages as Ray tasks on a local Ray instance with ``--ray-cpus`` CPUs,
  started before the timer (``--executor ray --ray-address auto`` against a running
  cluster); its start-up time is reported apart.

Every output file is compared byte for byte with the one-process run. Per stage the JSON has
wall time, summed task time, the largest worker peak RSS and the bytes of stage files
(what crosses between stages: the "shuffle"), which docs/scale.md extrapolates.

    .venv/bin/python bench/ray_scale.py --docs 1m --shards 16
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from curagate.curate import curate
from near_dedup import parse_size

RESULTS = corpus.BENCH_DIR / "results"


def shard(path: Path, shards: int, into: Path) -> Path:
    """Contiguous JSONL shards of ``path`` (cached)."""
    if into.is_dir() and len(list(into.glob("*.jsonl"))) == shards:
        return into
    shutil.rmtree(into, ignore_errors=True)
    tmp = into.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    total = corpus.count(path)
    per = -(-total // shards)
    with path.open("rb") as src:
        for i in range(shards):
            with (tmp / f"shard-{i:04d}.jsonl").open("wb") as dst:
                for _ in range(per):
                    line = src.readline()
                    if not line:
                        break
                    dst.write(line)
    tmp.rename(into)
    return into


def files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--docs", default="1m", help="corpus size: 100k, 1m, ... (scale generator)")
    p.add_argument("--shards", type=int, default=16)
    p.add_argument("--ray-cpus", type=int, default=2)
    p.add_argument("--skip", default="", help="comma list of runs to skip: staged-local, ray")
    args = p.parse_args(argv)
    size = parse_size(args.docs)
    src = corpus.build(size)
    n = corpus.count(src)
    base = RESULTS / "ray_scale"
    inputs = shard(src, args.shards, base / f"shards-{n}-{args.shards}")
    skip = set(filter(None, args.skip.split(",")))
    report: dict[str, Any] = {
        "docs": n,
        "shards": args.shards,
        "input_bytes": sum(f.stat().st_size for f in inputs.glob("*.jsonl")),
        "runs": {},
    }

    def run(name: str, **kw: Any) -> Path:
        out = base / f"out-{name}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(base / f"work-{name}", ignore_errors=True)
        if name != "one-process":
            kw["work_dir"] = base / f"work-{name}"
        t0, c0 = time.perf_counter(), time.process_time()
        result = curate([inputs], out, progress=False, **kw)
        wall = time.perf_counter() - t0
        report["runs"][name] = {
            "wall_s": round(wall, 2),
            "driver_cpu_s": round(time.process_time() - c0, 2),
            "docs_per_s": round(n / wall),
            "removed": result.removed,
            "kept": result.kept,
            "runtime": result.runtime,
        }
        print(f"{name:>12}: {wall:8.1f} s  kept {result.kept:,}  removed {result.removed}")
        return out

    one = run("one-process")
    report["runs"]["one-process"]["peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    reference = files(one)
    if "staged-local" not in skip:
        out = run("staged-local", executor="local")
        report["runs"]["staged-local"]["identical"] = files(out) == reference
    if "ray" not in skip:
        import ray

        t0 = time.perf_counter()
        ray.init(
            num_cpus=args.ray_cpus,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=512 << 20,
        )
        report["ray_start_s"] = round(time.perf_counter() - t0, 2)
        try:
            out = run("ray", executor="ray")
        finally:
            ray.shutdown()
        report["runs"]["ray"]["identical"] = files(out) == reference
    one_s = report["runs"]["one-process"]["wall_s"]
    for r in report["runs"].values():
        r["vs_one_process"] = round(r["wall_s"] / one_s, 2)
    path = RESULTS / f"ray_scale-{n}-{args.shards}.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    for name, r in report["runs"].items():
        print(name, r["wall_s"], "s", f"x{r['vs_one_process']}", "identical:", r.get("identical"))
        for stage, t in r["runtime"].get("stages", {}).items():
            print(f"    {stage:>8}: {t}")
    print(f"-> {path}")
    ok = all(r.get("identical", True) for r in report["runs"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
