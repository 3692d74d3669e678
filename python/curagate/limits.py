"""Upper bounds of numeric settings (config keys and flags), checked before a run starts.

A value past one of these used to reach the Rust core or Arrow and crash there
(exit 3: an int too big for u64, a compute kernel refusing a 77-bit scalar), or
to be obeyed at a cost nobody meant (5000 threads for 81 records: 16 s). Also the
checks of options against each other (:func:`refuse_idle`: an option given for a step
that is off). Light on purpose: the CLI's argument parser imports it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

# Worker threads (curate `threads`, `--threads`): a fixed bound, not a multiple
# of this machine's cores, so a config valid on one machine is valid on every
# other. Threads beyond the cores only cost time (each pool starts them all).
MAX_THREADS = 1024
# Records per read batch (`batch_rows`) and character counts (quality filters):
# Arrow's 32-bit lengths.
MAX_BATCH_ROWS = 2**31 - 1
MAX_CHARS = 2**31 - 1
# Bytes (`memory_budget`): the core's u64.
MAX_BYTES = 2**64 - 1
# Seeds (audit `sample.seed`, split and label `--seed`): a u64. Python's random takes a
# negative seed as its absolute value, so -1 would repeat seed 1.
MAX_SEED = 2**64 - 1
# LSH bands or rows per band (`near.bands`, `near.rows`): at most num_perm's maximum.
MAX_PERM = 4096


def check_int(value: int, lo: int, hi: int, unit: str = "") -> int:
    """``value`` if ``lo <= value <= hi``, else a ValueError naming the range."""
    if not lo <= value <= hi:
        raise ValueError(f"must be in {lo}..{hi}{' ' + unit if unit else ''}, got {value}")
    return value


def int_arg(lo: int, hi: int) -> Callable[[str], int]:
    """argparse ``type=`` for an integer flag in ``lo..hi`` (an error names the flag)."""

    def parse(text: str) -> int:
        try:
            value: int | None = int(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in {lo}..{hi}, got {text}")
        return value

    return parse


def float_arg(lo: float, hi: float) -> Callable[[str], float]:
    """argparse ``type=`` for a finite number in ``[lo, hi]``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"must be a number in [{lo:g}, {hi:g}], got {text!r}")
        return value

    return parse


def refuse_idle(given: dict[str, object], off: bool, fix: str) -> None:
    """Exit 2 (a usage error) naming the options in ``given`` (flag -> value, None when not
    given) that were given for a step that is ``off``: they were silently unused."""
    idle = [flag for flag, value in given.items() if value is not None]
    if idle and off:
        from curagate.errors import ConfigError

        raise ConfigError(
            f"{' and '.join(idle)} given, but {fix} or drop {'it' if len(idle) == 1 else 'them'}"
        )


def given(**options: Any) -> dict[str, Any]:
    """The options that were given (not None), as keyword arguments: the callee's own
    defaults stand for the rest (an option checked for being given defaults to None)."""
    return {k: v for k, v in options.items() if v is not None}
