"""Golden-set leakage for audit and check: one reference index, scanned per batch.

Golden set files are whatever the golden sets hold: records of a known
format, or items with their text in ``prompt``/``question``/``input``/...
(``golden_sets/*/data.jsonl``). The index comes from
:class:`curagate.leakage.LeakageIndex`, so matches mean the same as in
``curagate leakage``; scanning happens inside the caller's single pass over
the data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from curagate.errors import InputError

if TYPE_CHECKING:
    from curagate.leakage import LeakageIndex

GOLDEN_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
# Where golden items keep their text when the file is not a known record format.
TEXT_FIELDS = ("prompt", "question", "input", "instruction", "text", "query")
CHECK_METHODS = ("exact", "ngram")


def golden_files(paths: Sequence[str | Path]) -> list[Path]:
    """Data files of the golden sets: files as given, directories searched recursively."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                f for f in sorted(p.rglob("*")) if f.is_file() and f.name.endswith(GOLDEN_SUFFIXES)
            )
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"golden set {p}: no such file or directory")
    return out


def _text_field(path: Path) -> str | None:
    """The first known text field of the file's first JSONL record."""
    if not path.name.endswith(".jsonl"):
        return None
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return None
                if isinstance(first, dict):
                    return next((f for f in TEXT_FIELDS if isinstance(first.get(f), str)), None)
                return None
    return None


def build_index(paths: Sequence[str | Path], *, ngram: int = 13) -> LeakScan | None:
    """An exact + n-gram index over every golden item; None when there is none."""
    from curagate.io import read_batches
    from curagate.leakage import LeakageIndex

    files = golden_files(paths)
    if not files:
        return None
    index = LeakageIndex(ngram=ngram, methods=CHECK_METHODS)
    ids: list[str] = []  # the golden items' own ids (their `id` column, else file:row)
    for f in files:
        try:
            batches = list(read_batches([f]))
        except InputError:
            field = _text_field(f)
            if field is None:
                raise InputError(
                    f"golden set file {f.as_posix()}: no known record format and none of the "
                    f"text fields {', '.join(TEXT_FIELDS)}; store items as JSONL records"
                ) from None
            batches = list(read_batches([f], format="text", text_field=field))
        for b in batches:
            if len(b.keys):
                index.add_texts(b.keys.to_pylist(), source=b.source)
                ids.extend(b.ids.to_pylist())
    return LeakScan(index, ids) if index.items else None


@dataclass(slots=True)
class LeakScan:
    """Leaks found while streaming the data through a golden index."""

    index: LeakageIndex
    ids: list[str]
    items_hit: set[int] = field(default_factory=set)

    def scan(self, keys: pa.Array) -> dict[int, str]:
        """Leaking rows of one batch: {row in batch: what leaked (item id, methods)}."""
        from curagate.leakage import METHODS

        found: dict[int, str] = {}
        for record, item, exact, ngram, minhash, *_ in self.index.scan(keys):
            self.items_hit.add(item)
            if record not in found:
                how = "+".join(
                    m for m, on in zip(METHODS, (exact, ngram, minhash), strict=True) if on
                )
                found[record] = f"golden item {self.ids[item]} ({how})"
        return found
