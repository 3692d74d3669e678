"""Start-up cost: imports, `curagate --help`, and `curagate check` on 5,000 records.

Every measurement is a fresh interpreter (``sys.executable``, with this
process's environment, so ``PYTHONPATH`` selects the tree). Reports, per
row, the best and the median wall time of ``--repeat`` runs, the least CPU
time (user + sys of the child: less sensitive to other jobs on a shared
machine), and for the import rows the import time of the module itself (``-X importtime``,
cumulative, best run): the interpreter's own start-up is the ``python -c
pass`` row. The check file is the T0 sample of ``tests/data`` (2,240
prompt/completion records) cycled to ``--records``, copies after the first
with `` (variant k)`` appended to the prompt; it is checked with
``--no-golden``, and again with golden sets as the pre-commit hook checks a data repository
that has them: the repository's own sets that are not drawn from the T0 templates
(:data:`GOLDEN`, 692 items; the others hold items of the sample, and their leak reports
would be timed too), twice: with the golden-set index loaded from the cache its warm-up run
saved (a hook's later commits), and with the cache off (``CURAGATE_NO_CACHE=1``: the
first run after the golden sets change).
Bytecode is cached (in the temporary folder) as an installed package's is;
``--no-pyc`` compiles every module on every run instead.

    python bench/startup.py --repeat 9

The last lines compare with the goals of issue #13: ``import curagate.curate``
and ``import curagate.check`` at most 80 ms of import time each, and
``curagate check`` on 5,000 records at most 0.3 s of wall time (best run),
start-up included.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# row -> (column, goal in ms): issue #13's targets.
GOALS = {
    "import curagate.curate": ("import time best", 80.0),
    "import curagate.check": ("import time best", 80.0),
    "curagate check (5,000 records)": ("wall best", 300.0),
    "curagate check (5,000 records, golden sets)": ("wall best", 300.0),
    "curagate check (5,000 records, golden sets, index built)": ("wall best", 300.0),
}

# The repository's golden sets that share no item with the T0 sample.
GOLDEN = (
    "amazon_sentiment",
    "gsm8k_math",
    "safety_jailbreak",
    "safety_pii",
    "safety_refusal",
    "user_oriented",
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "t0_templates_sample.jsonl.gz"


def write_records(path: Path, n: int) -> None:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            r = recs[i % len(recs)]
            k = i // len(recs)
            prompt = r["prompt"] + (f" (variant {k})" if k else "")
            out.write(json.dumps({"prompt": prompt, "completion": r["completion"]}) + "\n")


ENV = dict(os.environ)


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run of ``argv`` (``env``: more variables)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, check=False
    )
    elapsed = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # check exits 1 on findings: still a full run
        raise SystemExit(f"bench: {argv} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return elapsed, cpu


def import_ms(module: str, cwd: Path) -> float:
    """The module's cumulative import time in ms, as ``-X importtime`` reports it."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise SystemExit(f"bench: no import time for {module}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="runs per row (default 7)")
    p.add_argument("--records", type=int, default=5000, help="records in the check file")
    p.add_argument(
        "--no-pyc",
        action="store_true",
        help="compile every module from source on each run (PYTHONDONTWRITEBYTECODE=1, "
        "as in this project's dev shell) instead of using a bytecode cache as an install does",
    )
    args = p.parse_args()
    py = sys.executable
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="curagate-startup-") as tmp:
        cwd = Path(tmp)
        if args.no_pyc:
            ENV["PYTHONDONTWRITEBYTECODE"] = "1"
        else:  # .pyc files in the temporary folder, written by each row's warm-up run
            ENV.pop("PYTHONDONTWRITEBYTECODE", None)
            ENV["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
        data = cwd / "records.jsonl"
        write_records(data, args.records)
        golden = cwd / "golden"
        for name in GOLDEN:
            shutil.copytree(ROOT / "golden_sets" / name, golden / name)
        # The golden-set index cache (curagate.leakage.cache) in the temporary folder: the
        # golden row loads the index its warm-up run saved, as a hook's second commit does;
        # the "index built" row has it off, as the first run after the golden sets change.
        ENV["XDG_CACHE_HOME"] = str(cwd / "cache")
        golden_argv = [py, "-m", "curagate", "check", str(data), "--golden", str(golden)]
        rows: list[tuple[str, list[str], str | None, dict[str, str] | None]] = [
            ("python -c pass", [py, "-c", "pass"], None, None),
            ("import curagate", [py, "-c", "import curagate"], "curagate", None),
            (
                "import curagate.curate",
                [py, "-c", "import curagate.curate"],
                "curagate.curate",
                None,
            ),
            ("import curagate.check", [py, "-c", "import curagate.check"], "curagate.check", None),
            ("curagate --help", [py, "-m", "curagate", "--help"], None, None),
            (
                f"curagate check ({args.records:,} records)",
                [py, "-m", "curagate", "check", str(data), "--no-golden"],
                None,
                None,
            ),
            (f"curagate check ({args.records:,} records, golden sets)", golden_argv, None, None),
            (
                f"curagate check ({args.records:,} records, golden sets, index built)",
                golden_argv,
                None,
                {"CURAGATE_NO_CACHE": "1"},
            ),
        ]
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(
            f"best and median of {args.repeat} fresh processes; python {sys.version.split()[0]}; "
            + ("no bytecode cache" if args.no_pyc else "bytecode cache warm")
        )
        print()
        print(
            "| what | wall best (ms) | wall median (ms) | CPU best (ms) | import time best (ms) |"
        )
        print("|---|---:|---:|---:|---:|")
        measured: dict[str, dict[str, float]] = {}
        for name, argv, module, env in rows:
            timed(argv, cwd, env)  # warm the disk cache and the .pyc files
            runs = [timed(argv, cwd, env) for _ in range(args.repeat)]
            times = [w for w, _ in runs]
            cpu = min(c for _, c in runs)
            best_import = (
                min(import_ms(module, cwd) for _ in range(args.repeat)) if module else None
            )
            imp = f"{best_import:.0f}" if best_import is not None else ""
            measured[name] = {"wall best": min(times) * 1000}
            if best_import is not None:
                measured[name]["import time best"] = best_import
            print(
                f"| {name} | {min(times) * 1000:.0f} | {statistics.median(times) * 1000:.0f} "
                f"| {cpu * 1000:.0f} | {imp} |",
                flush=True,
            )
        end = os.getloadavg()
        print(f"\nload average at end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
        print()
        for name, (column, goal) in GOALS.items():
            value = measured.get(name, {}).get(column)
            if value is None:  # another --records count: the 5,000-record goal does not apply
                continue
            verdict = "met" if value <= goal else "NOT met"
            print(f"goal: {name}: {column} {value:.0f} ms <= {goal:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
