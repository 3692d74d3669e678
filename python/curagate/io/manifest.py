"""Dataset manifests: which files, their sha256 and row counts.

Every stage boundary (curated shards, a training run's dataset) is pinned by
one, so a later stage can prove it read exactly what an earlier one wrote.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from curagate.digest import sha256_file
from curagate.io.readers import count_records, expand_inputs


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
