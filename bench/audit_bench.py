"""`curagate audit` wall time on a generated corpus: the CLI as a user runs it.

The corpus is the T0 templates (real prompt/completion records) cycled to
``--rows`` records, each copy after the first with a seeded number appended to
the prompt (so duplicates stay a small share); ``--format chat`` writes the
same texts as conversations (a system prompt on every 4th, a second exchange
on every 3rd). Reports the best of ``--repeat`` runs, CPU time (user + sys of
the child, less sensitive to other jobs on a shared machine) and the load
average before the runs.

    python bench/audit_bench.py --rows 100000 --format pc --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpus import DEFAULT_SOURCE

# Issue #13: the 100K-row corpus in <= 1.5 s wall on the 2-core dev box, start-up included.
GOAL_WALL_S_PER_100K = 1.5


def _texts(source: Path) -> list[tuple[str, str]]:
    rows = []
    for p in sorted(source.glob("*.jsonl")):
        with p.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    rows.append((r["prompt"], r["completion"]))
    if not rows:
        raise SystemExit(f"bench: no *.jsonl under {source}; pass --source DIR")
    return rows


def build(path: Path, rows: int, fmt: str, source: Path) -> None:
    base = _texts(source)
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            p, c = base[i % len(base)]
            if i >= len(base):
                p = f"{p} {rng.randrange(10**6)}"
            if fmt == "pc":
                rec: dict[str, object] = {"prompt": p, "completion": c}
            else:
                msgs = [{"role": "system", "content": "You are helpful."}] if i % 4 == 0 else []
                msgs += [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                if i % 3 == 0:
                    msgs += [
                        {"role": "user", "content": "Why?"},
                        {"role": "assistant", "content": "Because " + c},
                    ]
                rec = {"messages": msgs}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--format", choices=["pc", "chat"], default="pc")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--corpus", type=Path, help="reuse (or write) the corpus at this path")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    data = args.corpus or tmp / f"{args.format}{args.rows}.jsonl"
    if not data.exists():
        build(data, args.rows, args.format, args.source)
    load = os.getloadavg()
    walls, cpus = [], []
    for i in range(args.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "curagate", "audit", str(data), "--out", str(tmp / f"o{i}")]
        subprocess.run(cmd, check=False, capture_output=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    audit = json.loads((tmp / "o0" / "audit.json").read_text(encoding="utf-8"))
    best = min(walls)
    rows = audit["inputs"]["total_rows"]
    goal = GOAL_WALL_S_PER_100K * rows / 100_000
    print(
        json.dumps(
            {
                "format": args.format,
                "rows": audit["inputs"]["total_rows"],
                "bytes": data.stat().st_size,
                "wall_s": [round(w, 2) for w in walls],
                "best_wall_s": round(best, 2),
                "rows_per_s": round(rows / best),
                "goal_wall_s": round(goal, 2),
                "goal_met": best <= goal,
                "cpu_s": [round(c, 2) for c in cpus],
                "load_avg_before": [round(x, 2) for x in load],
                "findings": [f["rule"] for f in audit["findings"]],
            }
        )
    )


if __name__ == "__main__":
    main()
