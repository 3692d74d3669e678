"""Near-dedup benchmark: curagate vs datasketch, rensa and FastSketchLSH, in one run.

Same corpus, same parameters (word 5-grams over normalized text, 128 permutations, Jaccard
threshold 0.7), text in -> removed set out. Each tool runs in its own subprocess (its peak RSS
is its own); removed sets are scored against an exact-Jaccard ground truth. See
bench/README.md for the definitions.

    .venv/bin/python bench/near_dedup.py                 # 16.5K + 100K docs (default)
    .venv/bin/python bench/near_dedup.py --sizes 1000000 # scaling: time + memory only
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
import ground_truth
from shingles import NGRAM, NUM_PERM, THRESHOLD

RESULTS = corpus.BENCH_DIR / "results"
CURAGATE_TOOLS = ("curagate", "curagate-curate")
PEER_TOOLS = (
    "datasketch",
    "datasketch-best",
    "rensa",
    "rensa-best",
    "rensa-rho",
    "fastsketchlsh",
    "fastsketchlsh-best",
    "fastsketchlsh-flags",
)
DEFAULT_TOOLS = CURAGATE_TOOLS + PEER_TOOLS
GT_MAX = 200_000  # beyond this the exact join is not run (time + memory only)


# --------------------------------------------------------------------------- worker side


def run_curagate(texts: list[str], threads: int) -> dict[str, Any]:
    """curagate's native near dedup (`curagate._core.Deduper`) fed the Python strings.

    Text in -> removed set out, like the peers: the pipeline's exact + near dedup, survivor
    policy `first` (all priorities equal: the earliest doc is kept). `add_texts` reads each
    str's UTF-8 bytes in place (no Arrow copy; curate itself passes Arrow buffers).
    """
    from curagate import _core
    from peers import Clock

    clk = Clock()
    dedup = _core.Deduper(num_perm=NUM_PERM, threshold=THRESHOLD, ngram=NGRAM, threads=threads)
    chunk = 65_536
    for lo in range(0, len(texts), chunk):
        dedup.add_texts(texts[lo : lo + chunk])
    out = dedup.finish()
    clk.lap("dedup_s")
    status = np.frombuffer(out.status, dtype=np.uint8)
    kept_index = np.frombuffer(out.kept_index, dtype="<u8").astype(np.int64)
    removed = np.flatnonzero(status != 0)
    return {
        "removed": removed,
        "keeper": kept_index[removed],
        "phases": clk.phases,
        "params": {"bands_rows": list(dedup.bands_rows), "hash": "fast"},
        "stats": out.stats.as_dict(),
    }


def run_curagate_curate(texts: list[str], threads: int, corpus_file: Path) -> dict[str, Any]:
    """The whole `curagate.curate` pipeline, files in -> files out (reads the JSONL itself,
    writes kept/removed Parquet); the removed set is read back from `clusters.parquet`."""
    import pyarrow.parquet as pq

    from curagate.curate import curate
    from peers import Clock

    clk = Clock()
    with tempfile.TemporaryDirectory(prefix="bench-curate-") as tmp:
        out = Path(tmp) / "out"
        result = curate([corpus_file], out, threads=threads, progress=False)
        clk.lap("curate_s")
        # clusters.parquet lists every valid record in input order with its status.
        status = pq.read_table(out / "clusters.parquet", columns=["status"]).column("status")
        removed = np.flatnonzero(np.asarray(status.to_pylist(), dtype=object) != "kept")
        if len(removed) != result.removed_total:
            raise SystemExit(
                f"bench: clusters.parquet has {len(removed)} removed, stats say {result.removed_total}"
            )
    return {"removed": removed, "phases": clk.phases, "params": {"io": "jsonl in, parquet out"}}


def proc_status_kib(field: str) -> int:
    """VmRSS / VmHWM of this process image. Not ru_maxrss: Linux carries the parent's
    high-water mark across fork + exec into it, so every child would report at least the
    driver's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"bench: /proc/self/status has no {field} (Linux only)")


def reset_peak_rss() -> None:
    """Start the high-water mark from now, so loading the corpus does not count (Linux >= 4.0)."""
    import gc

    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def worker(tool: str, corpus_file: Path, threads: int, out_file: Path) -> None:
    # The curate pipeline reads the file itself: holding the texts would only inflate its RSS.
    texts = [] if tool == "curagate-curate" else corpus.read(corpus_file)
    import scipy.sparse.csgraph  # noqa: F401  (the peers' shared glue; not the tools' cost)

    reset_peak_rss()
    base_kib = proc_status_kib("VmRSS")
    cpu0 = time.process_time()
    if tool == "curagate":
        res = run_curagate(texts, threads)
    elif tool == "curagate-curate":
        res = run_curagate_curate(texts, threads, corpus_file)
    else:
        from peers import TOOLS

        res = TOOLS[tool](texts, threads)
    arrays = {
        k: np.asarray(res.pop(k), dtype=np.int64)
        for k in ("removed", "keeper", "flagged")
        if res.get(k) is not None
    }
    for k in ("removed", "keeper", "flagged"):
        res.pop(k, None)
    res["cpu_s"] = time.process_time() - cpu0
    res["baseline_rss_kib"] = base_kib
    res["peak_rss_kib"] = proc_status_kib("VmHWM")
    np.savez(out_file.with_suffix(".npz"), **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as bool
    out_file.write_text(json.dumps(res, default=float))


# --------------------------------------------------------------------------- driver side


def spawn(tool: str, corpus_file: Path, threads: int, timeout: float) -> dict[str, Any]:
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        RAYON_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "res.json"
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            tool,
            "--corpus",
            str(corpus_file),
            "--threads",
            str(threads),
            "--worker-out",
            str(out),
        ]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"error": f"timed out after {timeout:.0f}s"}
        if proc.returncode != 0 or not out.exists():
            tail = stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            return {"error": tail[0][:300]}
        res: dict[str, Any] = json.loads(out.read_text())
        with np.load(out.with_suffix(".npz")) as z:
            for k in z.files:
                res[k] = z[k]
        res["peak_rss_mib"] = res["peak_rss_kib"] / 1024
        res["work_rss_mib"] = (res["peak_rss_kib"] - res["baseline_rss_kib"]) / 1024
        return res


def load_ground_truth(corpus_file: Path, sha: str, texts: list[str]) -> dict[str, Any]:
    # Keyed by the corpus and by the shingle definition and algorithm (their source): a
    # change of either computes the truth again instead of scoring against a stale one.
    here = Path(__file__).resolve().parent
    definition = hashlib.sha256(
        b"".join((here / f).read_bytes() for f in ("shingles.py", "ground_truth.py"))
    ).hexdigest()
    cache = RESULTS / f"gt_{corpus_file.stem}_{sha[:12]}_{definition[:8]}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    gt, _ = ground_truth.compute(texts, THRESHOLD)
    data = {
        "removed": gt.removed,
        "label": gt.label,
        "stats": np.array([gt.candidates, gt.verified, gt.edges, time.perf_counter() - t0]),
    }
    np.savez(cache, **data)  # type: ignore[arg-type]  # numpy stubs type **kwds as bool
    return data


def score(
    res: dict[str, Any], gt: dict[str, Any], sets: ground_truth.ShingleSets | None
) -> dict[str, Any]:
    n = len(gt["label"])
    truth = np.zeros(n, dtype=bool)
    truth[gt["removed"]] = True
    out: dict[str, Any] = {}
    if "removed" in res:
        got = np.zeros(n, dtype=bool)
        got[res["removed"]] = True
        tp = int((got & truth).sum())
        out["precision"] = tp / max(int(got.sum()), 1)
        out["recall"] = tp / max(int(truth.sum()), 1)
        if "keeper" in res and sets is not None and len(res["removed"]):
            a, b = res["removed"], res["keeper"]
            ok, _ = ground_truth.jaccard_at_least(sets, a, b, THRESHOLD)
            out["pair_precision"] = float(ok.mean())
            out["same_component"] = float((gt["label"][a] == gt["label"][b]).mean())
    if "flagged" in res:
        # Flag-only paths mark every member of a group: score against "has a near duplicate".
        sizes = np.bincount(gt["label"], minlength=n)
        has_dup = sizes[gt["label"]] > 1
        got = np.zeros(n, dtype=bool)
        got[res["flagged"]] = True
        tp = int((got & has_dup).sum())
        out["flag_precision"] = tp / max(int(got.sum()), 1)
        out["flag_recall"] = tp / max(int(has_dup.sum()), 1)
    return out


def native_seconds(phases: dict[str, float], total: float) -> float:
    """Time in the tool's own code: the peers' sketch + LSH phases (not the Python shingling
    nor the shared verify/union glue), curagate's Deduper calls (not the Arrow conversion)."""
    if "sketch_s" in phases:
        return phases["sketch_s"] + phases.get("lsh_s", 0.0)
    return phases.get("dedup_s", total)


def fmt_rate(x: float) -> str:
    return f"{x / 1e3:,.1f}K" if x < 1e6 else f"{x / 1e6:,.2f}M"


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| docs | tool | time (s) | CPU (s) | docs/s | curagate speedup | native (s) "
        "| native speedup | peak RSS (MiB) | work RSS (MiB) | removed | precision | recall "
        "| pair precision |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['docs']:,} | {r['tool']} | {r['error']} |" + " |" * 11)
            continue
        q = r.get("quality", {})

        def f(key: str, q: dict[str, float] = q) -> str:
            return f"{q[key]:.4f}" if key in q else "n/a"

        prec, rec = f("precision"), f("recall")
        removed = f"{r['removed_count']:,}" if r.get("removed_count") is not None else "n/a"
        if "flag_precision" in q:
            prec, rec = f"{q['flag_precision']:.4f}*", f"{q['flag_recall']:.4f}*"
            removed = f"{r['flagged_count']:,} flagged*"
        speed = f"{r['speedup']:.1f}x" if r.get("speedup") is not None else "n/a"
        nspeed = f"{r['native_speedup']:.1f}x" if r.get("native_speedup") is not None else "n/a"
        lines.append(
            f"| {r['docs']:,} | {r['tool']} | {r['time_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {fmt_rate(r['docs_per_s'])} | {speed} | {r['native_s']:.2f} | {nspeed} "
            f"| {r['peak_rss_mib']:,.0f} | {r['work_rss_mib']:,.0f} | {removed} | {prec} | {rec} "
            f"| {f('pair_precision')} |"
        )
    return "\n".join(lines)


def parse_size(s: str) -> int | None:
    s = s.strip().lower()
    if s in ("base", "t0"):
        return None
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s.rstrip("km")) * mult)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes",
        default="base,100k",
        help="comma list: 'base' = the t0 corpus as is (16,562 docs), or N (100k, 1m, 10m)",
    )
    p.add_argument(
        "--tools",
        default=",".join(DEFAULT_TOOLS),
        help=f"comma list from {', '.join(CURAGATE_TOOLS + PEER_TOOLS)}",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="threads for every tool (default 1: fair, quiet)"
    )
    p.add_argument("--source", type=Path, default=corpus.DEFAULT_SOURCE, help="t0_templates folder")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per tool run")
    p.add_argument(
        "--gt-max", type=int, default=GT_MAX, help="largest size with exact ground truth"
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.corpus, args.threads, args.worker_out)
        return 0

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(CURAGATE_TOOLS + PEER_TOOLS)
    if unknown:
        p.error(f"unknown tools: {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {
        "params": {
            "ngram": NGRAM,
            "num_perm": NUM_PERM,
            "threshold": THRESHOLD,
            "normalize": "nfkc+lowercase+strip_punctuation+collapse_whitespace",
            "threads": args.threads,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "versions": versions(),
        "corpora": {},
        "ground_truth": {},
    }
    for size_arg in args.sizes.split(","):
        path = corpus.build(parse_size(size_arg), args.source)
        sha = corpus.sha256(path)
        n = corpus.count(path)
        texts = corpus.read(path) if n <= args.gt_max else []
        meta["corpora"][str(n)] = {
            "path": str(path.relative_to(corpus.BENCH_DIR.parent)),
            "sha256": sha,
        }
        gt: dict[str, Any] | None = None
        sets = None
        if n <= args.gt_max:
            print(f"[{n:,} docs] exact ground truth ...", file=sys.stderr, flush=True)
            gt = load_ground_truth(path, sha, texts)
            sets = ground_truth.shingle_sets(texts)
            cand, ver, edges, secs = gt["stats"].tolist()
            meta["ground_truth"][str(n)] = {
                "removed": len(gt["removed"]),
                "candidates": int(cand),
                "verified": int(ver),
                "edges_found": int(edges),
                "seconds": round(secs, 1),
            }
        del texts
        size_rows = []
        for tool in tools:
            print(f"[{n:,} docs] {tool} ...", file=sys.stderr, flush=True)
            res = spawn(tool, path, args.threads, args.timeout)
            row: dict[str, Any] = {"docs": n, "tool": tool}
            if "error" in res:
                row["error"] = res["error"]
            else:
                total = float(sum(res["phases"].values()))
                row.update(
                    time_s=total,
                    native_s=native_seconds(res["phases"], total),
                    docs_per_s=n / total,
                    phases=res["phases"],
                    peak_rss_mib=res["peak_rss_mib"],
                    work_rss_mib=res["work_rss_mib"],
                    cpu_s=res["cpu_s"],
                    params=res.get("params", {}),
                    removed_count=len(res["removed"]) if "removed" in res else None,
                    flagged_count=len(res["flagged"]) if "flagged" in res else None,
                )
                for k in ("candidates", "accepted", "stats"):
                    if k in res:
                        row[k] = res[k]
                if gt is not None:
                    row["quality"] = score(res, gt, sets)
            print(
                "   ",
                {
                    k: v
                    for k, v in row.items()
                    if k in ("time_s", "peak_rss_mib", "removed_count", "quality", "error")
                },
                file=sys.stderr,
                flush=True,
            )
            size_rows.append(row)
        ref = next((r for r in size_rows if r["tool"] == "curagate" and "error" not in r), None)
        for r in size_rows:
            if ref is not None and "error" not in r:
                r["speedup"] = r["time_s"] / ref["time_s"]
                r["native_speedup"] = r["native_s"] / ref["native_s"]
        rows.extend(size_rows)
    report = {**meta, "rows": rows}
    # One file pair per set of sizes, so a scaling run does not overwrite the default one.
    stem = "near_dedup-" + "-".join(sorted(meta["corpora"], key=int))
    (RESULTS / f"{stem}.json").write_text(
        json.dumps(report, indent=1, sort_keys=True, default=float) + "\n"
    )
    table = markdown(rows)
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    print(table)
    print(
        "\n`*` flag-only path (keepers flagged too): scored against docs that have a near duplicate."
        f"\nresults: {RESULTS / stem}.json"
    )
    return 0


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("curagate", "datasketch", "rensa", "fastsketchlsh", "numpy", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


if __name__ == "__main__":
    raise SystemExit(main())
