"""Near dedup file to file, as users run it: one command per tool, JSONL in, kept set out.

Each row is one process started from the shell and timed by the driver from `exec` to exit:
interpreter start-up, imports, reading and parsing the JSONL, dedup, writing the kept rows.

    .venv/bin/python bench/file_to_file.py                   # the t0 corpus (16,562 docs)
    .venv/bin/python bench/file_to_file.py --sizes base,100k --repeat 3
    .venv/bin/python bench/file_to_file.py --tools floor,curagate --sizes base,100k  # vs floor
    .venv/bin/python bench/file_to_file.py --tools floor-1t,curagate-1t --sizes 55k  # on one core
    .venv/bin/python bench/file_to_file.py --tools curagate --sizes 100k,1m --repeat 1  # scaling

Rows:
- `curagate curate`: the CLI (`curagate curate IN --out DIR`: validation, exact + near dedup,
  kept/removed Parquet, quarantine, stats, manifest), at its default threads and at 1 thread.
- `<peer>` / `<peer>-best`: a small script per peer (bench/f2f_peer.py) that reads the JSONL with
  `json`, shingles (bench/shingles.py), runs the peer at the harness's shared setting or at its
  best one (32 x 4 bands + exact Jaccard verification of its candidates, see peers.py), and
  writes the kept lines. This is the least a user must write around a library that has no CLI.
- `floor`: read the file, parse it (pyarrow's multi-threaded JSON reader), normalize and hash
  every text once in the Rust core, write the hashes, on every core (as `curagate`). No dedup
  at all: the physical limit of any tool on this machine that must look at every text.
  `floor-1t` is the same on one core, the floor of `curagate-1t`.

Every process runs with a bytecode cache, as installed packages have one (a temporary
PYTHONPYCACHEPREFIX filled by one untimed warm-up run of each tool on the corpus's first
2,000 lines), whatever PYTHONDONTWRITEBYTECODE the calling shell sets.

Quality is scored against the exact ground truth of near_dedup.py (up to 200K docs; larger
sizes get time and memory only); peak RSS comes from `/usr/bin/time -f %M` (the process's own
high-water mark), peak anonymous memory from sampling its RssAnon every 20 ms. The end of the
table says whether issue #13's goals are met in this run: curagate within 2x of the floor, and
from 100K to the largest size, time <= 1.1x the docs ratio and peak RSS <= 2x. Best of `--repeat` runs by wall
time. The machine is shared: the load average at the start is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from near_dedup import GT_MAX, RESULTS, load_ground_truth, parse_size, score, versions
from shingles import THRESHOLD

ROOT = Path(__file__).resolve().parent.parent
PEERS = ("rensa", "rensa-best", "datasketch-best", "fastsketchlsh", "fastsketchlsh-best")
DEFAULT_TOOLS = ("floor", "floor-1t", "curagate", "curagate-1t", *PEERS)
# The rows that run on every core; every other row runs on one (RAYON_NUM_THREADS=1 for the
# Rust cores, OMP_NUM_THREADS=1 for Arrow's thread pool).
ALL_CORES = ("floor", "curagate")


def command(tool: str, src: Path, out: Path) -> list[str]:
    py = sys.executable
    if tool in ("curagate", "curagate-1t"):
        cli = [py, "-m", "curagate", "curate", str(src), "--out", str(out), "--quiet"]
        return cli + (["--threads", "1"] if tool == "curagate-1t" else [])
    return [py, str(ROOT / "bench" / "f2f_peer.py"), tool.removesuffix("-1t"), str(src), str(out)]


def removed_of(tool: str, out: Path, n: int) -> np.ndarray[Any, Any] | None:
    """Doc indices the tool removed, read back from what it wrote (not timed)."""
    if tool.startswith("floor"):
        return None
    if tool.startswith("curagate"):
        import pyarrow.parquet as pq

        status = pq.read_table(out / "clusters.parquet", columns=["status"]).column("status")
        return np.flatnonzero(np.asarray(status.to_pylist(), dtype=object) != "kept")
    kept = np.load(out.with_suffix(".kept.npy"))
    mask = np.ones(n, dtype=bool)
    mask[kept] = False
    return np.flatnonzero(mask)


def _child_pid(pid: int) -> int | None:
    """The process /usr/bin/time started (its only child)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def _anon_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# Every row runs with a bytecode cache, as an installed package does (pip writes .pyc files
# at install): in a temporary folder, filled by an untimed warm-up run of each tool (a dev
# shell's PYTHONDONTWRITEBYTECODE=1 would compile every module of every run from source).
PYC: dict[str, str] = {}


def warm_up(tools: list[str], src: Path, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-f2f-warm-") as tmp:
        head = Path(tmp) / "head.jsonl"
        with src.open("rb") as f, head.open("wb") as out:
            for _, line in zip(range(2000), f, strict=False):
                out.write(line)
        for tool in tools:
            run_once(tool, head, Path(tmp), timeout)


def run_once(tool: str, src: Path, tmp: Path, timeout: float) -> dict[str, Any]:
    out = tmp / ("out" if tool.startswith("curagate") else "kept.jsonl")
    if out.is_dir():
        shutil.rmtree(out)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **PYC)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if tool not in ALL_CORES:
        env.update(RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(tmp / "time.txt")]
    t0 = time.perf_counter()
    # Peak anonymous memory (RssAnon, sampled every 20 ms): peak RSS (from /usr/bin/time)
    # also counts mapped file pages the kernel can drop.
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cmd + command(tool, src, out), env=env, stdout=subprocess.DEVNULL, stderr=err, text=True
        )
        peak_anon, child = 0, None
        while proc.poll() is None:
            child = child or _child_pid(proc.pid)
            if child is not None:
                peak_anon = max(peak_anon, _anon_kib(child))
            if time.perf_counter() - t0 > timeout:
                proc.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        tail = (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {"error": tail[:300]}
    _, user, system, max_kib = (tmp / "time.txt").read_text().split()[-4:]
    return {
        "time_s": wall,
        "cpu_s": float(user) + float(system),
        "peak_rss_mib": int(max_kib) / 1024,
        "peak_anon_mib": peak_anon / 1024,
        "out": out,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="base", help="comma list: base (t0, 16,562 docs), 100k, ...")
    p.add_argument("--tools", default=",".join(DEFAULT_TOOLS))
    p.add_argument("--repeat", type=int, default=3, help="runs per tool; the best wall time wins")
    p.add_argument("--source", type=Path, default=corpus.DEFAULT_SOURCE, help="t0_templates folder")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(DEFAULT_TOOLS)
    if unknown:
        p.error(f"unknown tools: {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    pycache = tempfile.TemporaryDirectory(prefix="bench-f2f-pycache-")
    PYC["PYTHONPYCACHEPREFIX"] = pycache.name
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for size_arg in args.sizes.split(","):
        path = corpus.build(parse_size(size_arg), args.source)
        sha = corpus.sha256(path)
        n = corpus.count(path)
        gt = sets = None
        if n <= GT_MAX:  # beyond it: time and memory only (as near_dedup.py)
            texts = corpus.read(path)
            print(f"[{n:,} docs] exact ground truth ...", file=sys.stderr, flush=True)
            gt = load_ground_truth(path, sha, texts)
            sets = ground_truth.shingle_sets(texts)
            del texts
        if not rows:
            warm_up(tools, path, args.timeout)
        size_rows: list[dict[str, Any]] = []
        for tool in tools:
            best: dict[str, Any] | None = None
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory(prefix="bench-f2f-") as tmp:
                    res = run_once(tool, path, Path(tmp), args.timeout)
                    if "error" not in res:
                        removed = removed_of(tool, res.pop("out"), n)
                        if removed is not None:
                            res["removed_count"] = len(removed)
                            if gt is not None:
                                res["quality"] = score({"removed": removed}, gt, sets)
                if "error" in res or best is None or res["time_s"] < best["time_s"]:
                    best = res
                if "error" in res:
                    break
            assert best is not None
            row = {"docs": n, "tool": tool, "file_mib": path.stat().st_size / 2**20, **best}
            print("   ", tool, {k: v for k, v in row.items() if k != "docs"}, file=sys.stderr)
            size_rows.append(row)
        ref = {r["tool"]: r for r in size_rows if "error" not in r}
        for r in size_rows:
            if "error" in r:
                continue
            if "curagate" in ref:
                r["vs_curagate"] = r["time_s"] / ref["curagate"]["time_s"]
            floor = ref.get("floor-1t" if r["tool"].endswith("-1t") else "floor")
            if floor is not None:  # a one-core row against the one-core floor
                r["vs_floor"] = r["time_s"] / floor["time_s"]
        rows.extend(size_rows)
    table = markdown(rows) + "\n\n" + goals(rows)
    stem = "file_to_file-" + "-".join(str(r["docs"]) for r in rows if r["tool"] == tools[0])
    report = {"load_average": load, "versions": versions(), "threshold": THRESHOLD, "rows": rows}
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    print(
        f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(table)
    return 0


def goals(rows: list[dict[str, Any]]) -> str:
    """The targets of issue #13, from this run's rows: curagate within 2x of the
    floor at each size; from the smallest to the largest size >= 100K, time <= 11x
    (per 10x docs) and peak RSS <= 2x."""
    ok = [r for r in rows if "error" not in r]
    lines = []
    for r in ok:
        if r["tool"] in ("curagate", "curagate-1t") and "vs_floor" in r:
            floor = "floor-1t" if r["tool"].endswith("-1t") else "floor"
            lines.append(
                f"- {r['docs']:,} docs: {r['tool']} {r['time_s']:.2f} s vs {floor} "
                f"{r['time_s'] / r['vs_floor']:.2f} s = {r['vs_floor']:.2f}x (goal <= 2x: "
                f"{'met' if r['vs_floor'] <= 2 else 'NOT met'})"
            )
    cur = sorted(
        (r for r in ok if r["tool"] == "curagate" and r["docs"] >= 100_000), key=lambda r: r["docs"]
    )
    if len(cur) >= 2:
        a, b = cur[0], cur[-1]
        scale = b["docs"] / a["docs"]
        t, m = b["time_s"] / a["time_s"], b["peak_rss_mib"] / a["peak_rss_mib"]
        cpu = b["cpu_s"] / a["cpu_s"]
        anon = b["peak_anon_mib"] / max(a["peak_anon_mib"], 1e-9)
        lines.append(
            f"- {a['docs']:,} -> {b['docs']:,} docs ({scale:.0f}x): time {t:.2f}x "
            f"(CPU {cpu:.2f}x; goal <= {1.1 * scale:.0f}x: {'met' if t <= 1.1 * scale else 'NOT met'}), "
            f"peak RSS {a['peak_rss_mib']:,.0f} -> {b['peak_rss_mib']:,.0f} MiB = {m:.2f}x "
            f"(goal <= 2x: {'met' if m <= 2 else 'NOT met'}), peak anon {a['peak_anon_mib']:,.0f} "
            f"-> {b['peak_anon_mib']:,.0f} MiB = {anon:.2f}x"
        )
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| docs | tool | wall (s) | CPU (s) | peak RSS (MiB) | peak anon (MiB) | x curagate "
        "| x floor | removed | precision | recall |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['docs']:,} | {r['tool']} | {r['error']} |" + " |" * 8)
            continue
        q = r.get("quality", {})
        head = (
            f"| {r['docs']:,} | {r['tool']} | {r['time_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['peak_rss_mib']:,.0f} | {r['peak_anon_mib']:,.0f} "
            f"| {r.get('vs_curagate', 0):.2f}x | {r.get('vs_floor', 0):.2f}x "
        )
        removed = f"{r['removed_count']:,}" if "removed_count" in r else "n/a"
        lines.append(
            head + f"| {removed} | {q.get('precision', 0):.4f} | {q.get('recall', 0):.4f} |"
            if "quality" in r
            else head + f"| {removed} | n/a | n/a |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
