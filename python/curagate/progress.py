"""Progress bars for long work (tqdm on stderr), off unless a person is watching.

Shown only when stderr is a terminal, never with ``--quiet``; stdout (where
``--json``, SARIF and reports go) never carries a bar. ``CURAGATE_PROGRESS=always``
forces them on (logs of a CI job that wants them, the tests); ``=never`` off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no bar for the rest of this process."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    if _quiet:
        return False
    forced = os.environ.get("CURAGATE_PROGRESS", "").lower()
    if forced in ("always", "1", "true"):
        return True
    if forced in ("never", "0", "false"):
        return False
    return sys.stderr.isatty()


class Bar:
    """A tqdm bar, or nothing when bars are off (same calls either way)."""

    def __init__(self, *, total: int | None, desc: str, unit: str) -> None:
        self._bar: Any = None
        if not enabled():
            return
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is a core dependency; a broken install only loses bars
            return
        self._bar = tqdm(
            total=total, desc=desc, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True
        )

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.refresh()  # the final count, even when the work took under one refresh
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def track(
    items: Iterable[T], *, desc: str, unit: str = "it", total: int | None = None
) -> Iterator[T]:
    """``items`` with a bar counting one per item."""
    with Bar(total=total, desc=desc, unit=unit) as bar:
        for item in items:
            yield item
            bar.update(1)
