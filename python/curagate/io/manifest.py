"""Dataset manifests: which files, their sha256 and row counts.

Every stage boundary (curated shards, a training run's dataset) is pinned by
one, so a later stage can prove it read exactly what an earlier one wrote.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curagate.errors import InputError
from curagate.io.readers import count_records, expand_inputs

_HASH_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{Path(path).as_posix()}: cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def build_manifest(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
) -> dict[str, Any]:
    """``{"files": [{"path", "sha256", "rows"}], "total_rows"}`` for the given shards.

    ``paths`` may name files, directories or globs (expanded and sorted as by
    :func:`curagate.io.expand_inputs`); each path is written as given, in
    POSIX form. ``rows`` counts records as the readers do: non-blank JSONL
    lines, Parquet rows.
    """
    files = []
    total = 0
    for path in expand_inputs(paths):
        rows = count_records(path)
        files.append({"path": path.as_posix(), "sha256": sha256_file(path), "rows": rows})
        total += rows
    return {"files": files, "total_rows": total}


__all__ = ["build_manifest", "sha256_file"]
