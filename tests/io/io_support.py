"""Helpers shared by the io tests (a uniquely named module, not conftest)."""

from __future__ import annotations

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
