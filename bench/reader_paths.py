"""Which reader path each JSONL file takes: the native (Rust) reader or the general one.

For every file, reads it with ``read_batches`` (format auto-detected) while counting calls
of the reader's and the validator's functions, and prints per file:

- ``table``: ``native`` when every chunk was parsed by the Rust reader, ``general`` when
  every chunk went through Arrow's JSON reader (or slices, or line by line), ``mixed``;
- ``keys``: ``native`` when the dedup keys were made in Rust, ``python`` when by
  ``build_keys`` (Arrow kernels, or Python per row);
- ``per-row Python``: the row-by-row Python steps that ran (implicit prompts, steps,
  messages that are not plain {role, content} strings, ids re-read as exact strings,
  the line-by-line parse), ``-`` when none did.

    python bench/reader_paths.py                 # tests/data, examples, the TRL fixtures
    python bench/reader_paths.py FILE [FILE...]
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curagate import records
from curagate.errors import InputError
from curagate.io import read_batches, readers

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GLOBS = ("tests/data/**/*.jsonl", "tests/data/**/*.jsonl.gz", "examples/**/*.jsonl")

# (module, function, label) counted while a file is read.
_TABLE = [(readers, "_flat_table", "native"), (readers, "_arrow_read", "arrow")]
_SLOW = [(readers, "_parse_slowly", "line by line")]
_PER_ROW = [
    (records, "_check_implicit_prompts", "implicit-prompt check"),
    (records, "_implicit_prompts", "implicit-prompt keys"),
    (records, "_check_steps", "steps check"),
    (records, "_check_step_labels", "step labels check"),
    (records, "message_problem", "message check"),
    (records, "render_value", "render"),
    (readers, "_exact_ids", "exact ids"),
]
_KEYS = [(readers, "_flat_keys", "flat keys")]


def _counting(calls: Counter[str], label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        # _flat_keys returns None when the keys need Python; _exact_ids returns its
        # input table when no id needed a re-read, and re-reads no line when given
        # the native columns; _check_implicit_prompts is given the blank prompts
        # when they were found natively.
        given_native = len(args) > 2 and args[2] is not None
        if label == "flat keys" and result is None:
            calls["flat keys declined"] += 1
        skipped = (label == "exact ids" and (result is args[0] or given_native)) or (
            label == "implicit-prompt check" and given_native
        )
        if not skipped:
            calls[label] += 1
        return result

    return wrapper


def paths_of(path: Path) -> dict[str, str]:
    """The paths one file's records took (see the module docstring)."""
    calls: Counter[str] = Counter()
    saved = []
    for module, name, label in _TABLE + _SLOW + _PER_ROW + _KEYS:
        fn = getattr(module, name)
        saved.append((module, name, fn))
        setattr(module, name, _counting(calls, label, fn))
    try:
        try:
            batches = list(read_batches([path]))
        except InputError as exc:
            return {"table": "-", "keys": "-", "per-row Python": f"input error: {exc}"}
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)
    rows = sum(b.table.num_rows for b in batches)
    native = calls["native"]
    general = calls["arrow"] + calls["line by line"]
    table = "native" if native and not general else "general" if general and not native else "mixed"
    if not rows and not native and not general:
        table = "-"
    keys = "native" if calls["flat keys"] > calls["flat keys declined"] else "python"
    per_row = sorted(label for _m, _n, label in _PER_ROW + _SLOW if calls[label])
    return {"table": table, "keys": keys, "per-row Python": ", ".join(per_row) or "-"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    files = args.files or sorted({p for g in DEFAULT_GLOBS for p in ROOT.glob(g)})
    width = max(len(_name(p)) for p in files)
    print(f"{'file':<{width}}  {'table':<7}  {'keys':<6}  per-row Python")
    for path in files:
        found = paths_of(path)
        print(
            f"{_name(path):<{width}}  {found['table']:<7}  {found['keys']:<6}  "
            f"{found['per-row Python']}"
        )
    return 0


def _name(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


if __name__ == "__main__":
    sys.exit(main())
