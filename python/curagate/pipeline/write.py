"""Writers for curate's output directory.

Layout (every file deterministic for the same input and config)::

    OUT/kept/part-NNNNN.parquet      kept rows of input file NNNNN, original columns
    OUT/removed/part-NNNNN.parquet   removed rows + reason, cluster_id, kept_id, similarity, ...
    OUT/clusters.parquet             every valid record: id, source, row, status, cluster_id
    OUT/quarantine.jsonl             unusable rows: file, line, row, reason, raw
    OUT/stats.json                   counters per step and per input file, warnings
    OUT/manifest.json                every file with sha256 and row count
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.artifacts import DatasetManifest, validated, write_artifact
from curagate.io.manifest import sha256_file
from curagate.records import Quarantined

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:
    pa = lazy_import("pyarrow")
    pq = lazy_import("pyarrow.parquet")


def no_clusters() -> pa.Table:
    """clusters.parquet of a run with no valid record: its columns, no rows (a lone
    ``record_id`` column broke code reading several runs' files as one dataset)."""
    return pa.schema(
        [
            ("record_id", pa.string()),
            ("source_file", pa.string()),
            ("source_row", pa.int64()),
            ("status", pa.string()),
            ("cluster_id", pa.int64()),
        ]
    ).empty_table()


def meta_name(name: str, existing: list[str]) -> str:
    """Our column name, prefixed with `curagate_` as often as it takes to be none of
    ``existing`` (the columns the table already has: `reason` and `curagate_reason` of
    the input make ours `curagate_curagate_reason`)."""
    while name in existing:
        name = f"curagate_{name}"
    return name


@contextlib.contextmanager
def write_pool() -> Iterator[pa.MemoryPool]:
    """Make jemalloc pyarrow's default pool while pass 2 runs, where pyarrow has it.

    Pass 2 copies every kept and removed row (the filter: ~100 MB of text at 100K
    records) into fresh buffers. mimalloc, pyarrow's default, asks for transparent
    huge pages, and on our 2-core VM zeroing a fresh 2 MiB page costs far more than
    the same bytes in 4 KiB pages: the filter of one 65K-row batch took 0.13 s of
    CPU with mimalloc against 0.03 s with jemalloc (which does not ask for huge
    pages). pyarrow's default is what its compute kernels (the filter) and the
    Parquet writer's Arrow side allocate from; the Parquet encoders keep the C++
    default (their page buffers are reused). Buffers remember their pool, so those
    made here may outlive the switch back.
    """
    previous = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc (Windows wheels)
        yield previous
        return
    pa.set_memory_pool(pool)
    try:
        yield pool
    finally:
        pa.set_memory_pool(previous)


class ShardWriter:
    """One Parquet file per input file, opened lazily, one row group per batch.

    Arrow infers JSON types per chunk, so a later batch of the same file can
    have another schema (a column all-null in one chunk, a number in one and a
    string in another). It is cast to the open file's schema only where its
    columns are all-null (nothing to convert); otherwise the file continues in
    a new part (``part-NNNNN_0001.parquet``), so every value keeps the type it was
    read with (an int id is never written as the string of its digits) and
    nothing is dropped. A part's name sorts after its file's earlier parts (``-1`` sorted
    before them), so ``kept/`` read in name order, as the split reads it, is in input order.

    At most :data:`MAX_OPEN` files are open at once (inputs arrive one after the other, so
    the least recently written is done): a folder of 1,100 one-row files opened a file per
    input and died at the process's 1,024 descriptors. Were rows of a closed file's input to
    come again, they would go to its next part, never over the closed one.
    """

    MAX_OPEN = 64

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._writers: dict[int, tuple[pq.ParquetWriter, Path, int]] = {}  # least recent first
        self._closed: dict[int, int] = {}  # source index -> the last part of a closed file
        self.rows: dict[Path, int] = {}

    def write(self, source_index: int, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        entry = self._writers.pop(source_index, None)
        if entry is not None:
            self._writers[source_index] = entry  # now the most recent
        if entry is not None and not table.schema.equals(entry[0].schema):
            cast = _null_filled(table, entry[0].schema)
            if cast is None:
                entry[0].close()
                entry = self._open(source_index, table.schema, part=entry[2] + 1)
            else:
                table = cast
        if entry is None:
            closed = self._closed.pop(source_index, None)
            entry = self._open(source_index, table.schema, part=0 if closed is None else closed + 1)
        writer, path, _ = entry
        writer.write_table(table)
        self.rows[path] = self.rows.get(path, 0) + table.num_rows

    def _open(
        self, source_index: int, schema: pa.Schema, part: int
    ) -> tuple[pq.ParquetWriter, Path, int]:
        self.directory.mkdir(parents=True, exist_ok=True)
        while len(self._writers) >= self.MAX_OPEN and source_index not in self._writers:
            oldest = next(iter(self._writers))
            writer, _, last = self._writers.pop(oldest)
            writer.close()
            self._closed[oldest] = last
        suffix = f"_{_sortable(part, 4)}" if part else ""
        path = self.directory / f"part-{_sortable(source_index, 5)}{suffix}.parquet"
        entry = (pq.ParquetWriter(path, schema, compression="zstd"), path, part)
        self._writers[source_index] = entry
        return entry

    def close(self) -> None:
        for writer, _, _ in self._writers.values():
            writer.close()
        self._writers.clear()


def _sortable(n: int, width: int) -> str:
    """``n`` zero-padded to ``width`` digits, with a "z" per digit past it, so names sort
    in number order however many there are (``9999``, ``z10000``, ``zz100000``): kept/
    read in name order is in input order (``_10000`` sorted before ``_9999``)."""
    digits = f"{n:0{width}d}"
    return "z" * (len(digits) - width) + digits


def _null_filled(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` as ``schema`` when they differ only where ``table`` has all-null
    columns or fields (typed ``null`` by Arrow, also inside lists and structs: no
    value changes); else None."""
    if table.schema.names != schema.names or not all(
        _only_nulls_differ(have.type, want.type)
        for have, want in zip(table.schema, schema, strict=True)
    ):
        return None
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _only_nulls_differ(have: pa.DataType, want: pa.DataType) -> bool:
    if have == want or pa.types.is_null(have):
        return True
    if pa.types.is_list(have) and pa.types.is_list(want):
        return _only_nulls_differ(have.value_type, want.value_type)
    if pa.types.is_struct(have) and pa.types.is_struct(want):
        return [f.name for f in have] == [f.name for f in want] and all(
            _only_nulls_differ(a.type, b.type) for a, b in zip(have, want, strict=True)
        )
    return False


def write_quarantine(path: Path, rows: list[Quarantined]) -> int:
    with path.open("w", encoding="utf-8") as f:
        f.writelines(q.to_jsonl() for q in rows)
    return len(rows)


def write_json(path: Path, data: Any) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def write_manifest(
    root: Path, row_counts: dict[Path, int], digests: Mapping[Path, str] | None = None
) -> dict[str, Any]:
    """sha256 and rows of every file under ``root`` (paths relative, sorted).

    ``digests``: sha256 of files the writer hashed itself once they were closed (curate
    hashes each Parquet file in its writer thread while the other still works); every
    other file is read and hashed here."""
    known = digests or {}
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(root).as_posix()
        sha = known.get(path) or sha256_file(path)
        files.append({"path": rel, "sha256": sha, "rows": row_counts.get(path)})
    manifest = {"schema_version": DatasetManifest.SCHEMA_VERSION, "files": files}
    write_artifact(
        validated(DatasetManifest, manifest, what="manifest.json"), root / "manifest.json"
    )
    return manifest
