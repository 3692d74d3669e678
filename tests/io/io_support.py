"""Helpers shared by the io tests (a uniquely named module, not conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curagate.io import read_batches
from curagate.records import Batch, Quarantined


def read_all(paths: Sequence[Path] | str, **kwargs: Any) -> list[Batch]:
    return list(read_batches(paths, **kwargs))


def all_quarantined(batches: list[Batch]) -> list[Quarantined]:
    return [q for batch in batches for q in batch.quarantined]


def all_rows(batches: list[Batch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.table.to_pylist()]


def all_keys(batches: list[Batch]) -> list[str]:
    return [key for batch in batches for key in batch.keys.to_pylist()]


REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``curagate ARGS`` in a fresh interpreter on this checkout: a segfault fails the test
    instead of killing the run, and no module the test run imported (pandas) is loaded."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    return subprocess.run(
        [sys.executable, "-m", "curagate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
