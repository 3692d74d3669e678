"""Near dedup file to file, as users run it: one command per tool, JSONL in, kept set out.

Each row is one process started from the shell and timed by the driver from `exec` to exit:
interpreter start-up, imports, reading and parsing the JSONL, dedup, writing the kept rows.

    .venv/bin/python bench/file_to_file.py                   # the t0 corpus (16,562 docs)
    .venv/bin/python bench/file_to_file.py --sizes base,100k --repeat 3

Rows:
- `curagate curate`: the CLI (`curagate curate IN --out DIR`: validation, exact + near dedup,
  kept/removed Parquet, quarantine, stats, manifest), at its default threads and at 1 thread.
- `<peer>` / `<peer>-best`: a small script per peer (bench/f2f_peer.py) that reads the JSONL with
  `json`, shingles (bench/shingles.py), runs the peer at the harness's shared setting or at its
  best one (32 x 4 bands + exact Jaccard verification of its candidates, see peers.py), and
  writes the kept lines. This is the least a user must write around a library that has no CLI.
- `floor`: read the file, parse it (pyarrow's multi-threaded JSON reader), normalize and hash
  every text once in the Rust core, write the hashes. No dedup at all: the physical limit of
  any tool on this machine that must look at every text.

Quality is scored against the exact ground truth of near_dedup.py; peak RSS comes from
`/usr/bin/time -f %M` (the process's own high-water mark). Best of `--repeat` runs by wall
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
from near_dedup import RESULTS, load_ground_truth, parse_size, score, versions
from shingles import THRESHOLD

ROOT = Path(__file__).resolve().parent.parent
PEERS = ("rensa", "rensa-best", "datasketch-best", "fastsketchlsh", "fastsketchlsh-best")
DEFAULT_TOOLS = ("floor", "curagate", "curagate-1t", *PEERS)


def command(tool: str, src: Path, out: Path) -> list[str]:
    py = sys.executable
    if tool in ("curagate", "curagate-1t"):
        cli = [py, "-m", "curagate", "curate", str(src), "--out", str(out), "--quiet"]
        return cli + (["--threads", "1"] if tool == "curagate-1t" else [])
    return [py, str(ROOT / "bench" / "f2f_peer.py"), tool, str(src), str(out)]


def removed_of(tool: str, out: Path, n: int) -> np.ndarray[Any, Any] | None:
    """Doc indices the tool removed, read back from what it wrote (not timed)."""
    if tool == "floor":
        return None
    if tool.startswith("curagate"):
        import pyarrow.parquet as pq

        status = pq.read_table(out / "clusters.parquet", columns=["status"]).column("status")
        return np.flatnonzero(np.asarray(status.to_pylist(), dtype=object) != "kept")
    kept = np.load(out.with_suffix(".kept.npy"))
    mask = np.ones(n, dtype=bool)
    mask[kept] = False
    return np.flatnonzero(mask)


def run_once(tool: str, src: Path, tmp: Path, timeout: float) -> dict[str, Any]:
    out = tmp / ("out" if tool.startswith("curagate") else "kept.jsonl")
    if out.is_dir():
        shutil.rmtree(out)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if tool != "curagate":  # every other row runs on one thread
        env.update(RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(tmp / "time.txt")]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd + command(tool, src, out), env=env, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {"error": tail[:300]}
    _, user, system, max_kib = (tmp / "time.txt").read_text().split()[-4:]
    return {
        "time_s": wall,
        "cpu_s": float(user) + float(system),
        "peak_rss_mib": int(max_kib) / 1024,
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
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for size_arg in args.sizes.split(","):
        path = corpus.build(parse_size(size_arg), args.source)
        sha = corpus.sha256(path)
        texts = corpus.read(path)
        n = len(texts)
        print(f"[{n:,} docs] exact ground truth ...", file=sys.stderr, flush=True)
        gt = load_ground_truth(path, sha, texts)
        sets = ground_truth.shingle_sets(texts)
        del texts
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
            if "floor" in ref:
                r["vs_floor"] = r["time_s"] / ref["floor"]["time_s"]
        rows.extend(size_rows)
    table = markdown(rows)
    stem = "file_to_file-" + "-".join(str(r["docs"]) for r in rows if r["tool"] == tools[0])
    report = {"load_average": load, "versions": versions(), "threshold": THRESHOLD, "rows": rows}
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    print(
        f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(table)
    return 0


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| docs | tool | wall (s) | CPU (s) | peak RSS (MiB) | x curagate | x floor "
        "| removed | precision | recall |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['docs']:,} | {r['tool']} | {r['error']} |" + " |" * 7)
            continue
        q = r.get("quality", {})
        lines.append(
            f"| {r['docs']:,} | {r['tool']} | {r['time_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['peak_rss_mib']:,.0f} | {r.get('vs_curagate', 0):.2f}x "
            f"| {r.get('vs_floor', 0):.2f}x "
            f"| {r['removed_count']:,} | {q.get('precision', 0):.4f} | {q.get('recall', 0):.4f} |"
            if "quality" in r
            else f"| {r['docs']:,} | {r['tool']} | {r['time_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['peak_rss_mib']:,.0f} | {r.get('vs_curagate', 0):.2f}x "
            f"| {r.get('vs_floor', 0):.2f}x | n/a | n/a | n/a |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
