"""Reading speed of the native (Rust) JSONL reader against the general path.

Generates a preference corpus (seeded, no input data needed) and reads it with
``read_batches`` (records parsed, validated, keyed) with the native reader on
and off (``readers._NATIVE_SHAPES``), alternating, best of ``--repeat``. Prints
wall and CPU time (user + sys of this process, all threads) per path, the
load average before the runs, and checks that both paths gave the same
batches (tables, keys, ids, quarantine).

Shapes: ``implicit`` (chosen/rejected strings sharing the prompt, TRL's implicit
prompt), ``implicit-chat`` (the same as message lists), ``explicit``
(prompt/chosen/rejected strings); each record also has an integer ``id`` and a
float ``score``, and every 500th pair shares no prompt (quarantined).

    python bench/reader_bench.py --rows 100000 --shape implicit --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from curagate.io import read_batches, readers

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "you",
    "that",
    "he",
    "was",
    "for",
    "on",
    "are",
    "with",
    "as",
    "his",
    "they",
    "be",
    "at",
    "one",
    "have",
    "this",
    "from",
    "or",
    "had",
    "by",
    "hot",
    "word",
    "but",
    "what",
    "some",
    "we",
    "can",
    "out",
    "other",
    "were",
    "all",
    "there",
    "when",
    "up",
    "use",
    "your",
    "how",
    "said",
    "an",
    "each",
    "she",
    "which",
    "do",
    "their",
    "time",
    "if",
    "will",
    "way",
    "about",
    "many",
    "then",
    "them",
    "write",
    "would",
    "like",
    "so",
    "these",
    "her",
    "long",
    "make",
    "thing",
    "see",
    "him",
    "two",
    "has",
    "look",
    "more",
    "day",
    "could",
    "go",
    "come",
    "did",
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def build(path: Path, rows: int, shape: str, seed: int = 7, numbers: bool = True) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            prompt = f"Q{i}: " + _sentence(rng, rng.randrange(8, 40)) + "?"
            good = _sentence(rng, rng.randrange(10, 60)) + "."
            bad = "No. " + _sentence(rng, rng.randrange(5, 30)) + "."
            if i % 500 == 499:
                prompt = ""  # nothing shared: quarantined as an empty implicit prompt
            score = round(rng.random() * 10, 3)
            rec: dict[str, Any] = {"id": i, "score": score} if numbers else {}
            if shape == "explicit":
                rec.update(prompt=prompt or "?", chosen=good, rejected=bad)
            elif shape == "implicit":
                rec.update(chosen=f"{prompt} {good}".strip(), rejected=f"{prompt} {bad}".strip())
            else:
                turn = [{"role": "user", "content": prompt}] if prompt else []
                rec.update(
                    chosen=[*turn, {"role": "assistant", "content": good}],
                    rejected=[*turn, {"role": "assistant", "content": bad}],
                )
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read(path: Path, native: bool) -> tuple[float, float, list[Any]]:
    readers._NATIVE_SHAPES = native
    t0, c0 = time.perf_counter(), _cpu()
    batches = list(read_batches([path]))
    return time.perf_counter() - t0, _cpu() - c0, batches


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        x.table.equals(y.table)
        and x.keys.equals(y.keys)
        and x.ids.equals(y.ids)
        and x.quarantined == y.quarantined
        for x, y in zip(a, b, strict=True)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--shape", choices=["implicit", "implicit-chat", "explicit"], default="implicit"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-numbers", action="store_true", help="records without the id and score fields"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.shape}.jsonl"
        build(path, args.rows, args.shape, numbers=not args.no_numbers)
        size = path.stat().st_size
        load = os.getloadavg()
        read(path, True)  # warm: imports, page cache
        best: dict[bool, tuple[float, float]] = {}
        outputs: dict[bool, list[Any]] = {}
        for _ in range(args.repeat):
            for native in (True, False):
                wall, cpu, batches = read(path, native)
                outputs[native] = batches
                old = best.get(native)
                best[native] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
        same = _same(outputs[True], outputs[False])
        rows = sum(b.table.num_rows for b in outputs[True])
        quarantined = sum(len(b.quarantined) for b in outputs[True])
    print(
        f"{args.rows:,} {args.shape} preference records, {size / 2**20:.1f} MiB "
        f"({rows:,} kept, {quarantined:,} quarantined); load average before "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; best of {args.repeat}"
    )
    for native, label in ((True, "native reader"), (False, "general path")):
        wall, cpu = best[native]
        print(f"  {label:<14} wall {wall:6.3f} s   CPU {cpu:6.3f} s")
    print(
        f"  speedup: wall {best[False][0] / best[True][0]:.2f}x, "
        f"CPU {best[False][1] / best[True][1]:.2f}x; same batches: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
