"""Time `curagate split` on a corpus and count the near copies it leaves across splits.

    python bench/split_bench.py /work/shared/data/t0_templates              # this tree
    python bench/split_bench.py CORPUS --pythonpath /tmp/base/python --label before
    python bench/split_bench.py CORPUS --label join -- --shared-passages join

Each run is `python -m curagate split CORPUS --out DIR` in a subprocess (best wall time of
--repeat runs; reading, assignment, the check and the writes all count). Then the ground
truth: exact Jaccard of word 5-gram sets over the normalized text (curate's normalization),
for every pair, by an inverted index over the shingles; a pair "straddles" when its two
records landed in different splits. Results go to bench/results/split-<label>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

SPLITS = ("train", "val", "test")
ROOT = Path(__file__).resolve().parent.parent


def shingles(text: str, normalize: Any, n: int = 5) -> set[tuple[str, ...]]:
    w = normalize(text).split()
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def straddling(out: Path, thresholds: list[float]) -> dict[str, dict[str, int]]:
    sys.path.insert(0, str(ROOT / "python"))
    from curagate._core import normalize

    texts: list[str] = []
    where: list[str] = []
    for name in SPLITS:
        table = pq.read_table(out / f"{name}.parquet")
        for r in table.to_pylist():
            texts.append(f"{r['prompt']}\n{r['completion']}" if "prompt" in r else r["text"])
            where.append(name)
    sets = [shingles(t, normalize) for t in texts]
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            postings[g].append(i)
    result = {f"{t:g}": {"pairs": 0, "straddling": 0} for t in thresholds}
    for i, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for g in s:
            shared.update(j for j in postings[g] if j > i)
        for j, inter in shared.items():
            jaccard = inter / (len(s) + len(sets[j]) - inter)
            for t in thresholds:
                if jaccard >= t:
                    result[f"{t:g}"]["pairs"] += 1
                    result[f"{t:g}"]["straddling"] += where[i] != where[j]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--pythonpath", help="PYTHONPATH of the curagate to time (default: this tree)")
    ap.add_argument("--label", default="current")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--thresholds", default="0.7,0.8")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    a = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    a.args = extra
    env = dict(os.environ)
    env["PYTHONPATH"] = a.pythonpath or str(ROOT / "python")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        for _ in range(a.repeat):
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "curagate", "split", a.corpus, "--out", str(out), *a.args],
                env=env,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - start)
            if run.returncode not in (0, 1):
                sys.exit(run.stderr)
        manifest = json.loads((out / "split_manifest.json").read_text())
        truth = straddling(out, [float(t) for t in a.thresholds.split(",")])
    result = {
        "label": a.label,
        "corpus": a.corpus,
        "rows": manifest["inputs"]["total_rows"],
        "options": a.args,
        "wall_s": [round(t, 2) for t in times],
        "best_s": round(min(times), 2),
        "ground_truth": truth,
        "units": manifest["units"],
        "repair": manifest.get("repair"),
        "leaks_total": manifest["verification"]["leaks_total"],
        "cpus": os.cpu_count(),
    }
    path = Path(__file__).parent / "results" / f"split-{a.label}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
