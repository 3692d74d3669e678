"""The audit's per-shard state: partial aggregates that merge exactly.

One shard (a run of batches: a file, part of a file, several files) is
audited into an :class:`AuditPartial`; :func:`merge` folds the partials of
consecutive shards, in input order, into the partial of their concatenation.
Everything here is exact and order-aware, so ``merge(audit(A), audit(B))``
equals ``audit(A + B)`` field for field and the report built from it is the
same bytes:

- counts and sums add; labels, formats, PII counts are counters;
- lengths are exact integer histograms (value -> rows), so every percentile
  of the merged histogram is the nearest-rank percentile of all rows;
- rule hits keep the first ``max_row_refs`` references in row order, and
  every detail's count (a later shard's references go after an earlier one's);
- duplicates keep, per distinct fingerprint, its first row: a row of a later
  shard whose key an earlier shard holds becomes a duplicate on merge;
- the sample is a bottom-k on a seeded hash of each row's line number in its
  file and its dedup key, ties broken by input position, so the merged bottom-k
  is the bottom-k of all rows and does not depend on the file names;
- LEN001 (length outliers) needs each row's lengths against thresholds that
  only the merged histograms give, so the per-row lengths (a few integers a
  row) travel with the partial and are judged at the end.

polars holds the per-row columns; it is imported only here and in the
engine, never by ``check`` or ``curate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from curagate.audit.stats import add_counts

SERIES = ("chars.input", "chars.output", "tokens.input", "tokens.output", "tokens.rendered")

# The per-row columns LEN001 needs: where the row is and its lengths.
ROW_SCHEMA: dict[str, Any] = {
    "file": pl.UInt32,
    "line": pl.Int64,
    "in_chars": pl.Int64,
    "out_chars": pl.Int64,
    "tok_in": pl.Int64,
    "tok_out": pl.Int64,
}
# One row per distinct dedup key: the fingerprint and its first row.
UNIQUE_SCHEMA: dict[str, Any] = {
    "fp": pl.Binary,
    "pos": pl.Int64,
    "file": pl.UInt32,
    "line": pl.Int64,
}


@dataclass(slots=True)
class RuleHits:
    """Rows that broke one rule: the total, the first references, every detail."""

    count: int = 0
    refs: list[str] = field(default_factory=list)
    details: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class SampleRow:
    key: bytes  # seeded hash of the row's line and content: the bottom ``n`` keys are the sample
    pos: int  # valid-row position in input order: breaks ties (same line and key, two files)
    ref: str
    record: dict[str, Any]


@dataclass(slots=True)
class AuditPartial:
    """Everything the report needs from one shard, mergeable with the next shard's."""

    max_row_refs: int
    sample_n: int
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, rows read)
    total: int = 0
    valid: int = 0
    quarantined: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    non_text: Counter[str] = field(default_factory=Counter)
    hits: dict[str, RuleHits] = field(default_factory=dict)
    hist: dict[str, dict[int, int]] = field(default_factory=lambda: {s: {} for s in SERIES})
    rows: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ROW_SCHEMA))
    unique: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=UNIQUE_SCHEMA))
    dup_count: int = 0
    dup_refs: list[tuple[int, str]] = field(default_factory=list)  # (valid-row pos, ref)
    labels: Counter[str] = field(default_factory=Counter)
    multi: int = 0
    single: int = 0
    with_system: int = 0
    pii_counts: Counter[str] = field(default_factory=Counter)
    leaked_items: set[int] = field(default_factory=set)
    sample: list[SampleRow] = field(default_factory=list)
    table: dict[str, list[Any]] | None = None
    _file_index: dict[str, int] = field(default_factory=dict)  # path -> index in files

    def rule(self, rid: str) -> RuleHits:
        h = self.hits.get(rid)
        if h is None:
            h = self.hits[rid] = RuleHits()
        return h

    def hit(self, rid: str, ref: str, detail: str = "") -> None:
        h = self.rule(rid)
        h.count += 1
        if len(h.refs) < self.max_row_refs:
            h.refs.append(ref)
        if detail:
            h.details[detail] += 1

    def file_id(self, path: str) -> int:
        """The index of ``path`` in :attr:`files` (added with 0 rows if new)."""
        i = self._file_index.get(path)
        if i is None:
            i = self._file_index[path] = len(self.files)
            self.files.append((path, 0))
        return i

    def ref(self, file: int, line: int) -> str:
        return f"{self.files[file][0]}:{line}"

    def keep_sample(self, rows: list[SampleRow]) -> None:
        """Keep the ``sample_n`` smallest keys (ties: the earliest row in input order)."""
        if not self.sample_n:
            return
        merged = sorted([*self.sample, *rows], key=lambda r: (r.key, r.pos))
        self.sample = merged[: self.sample_n]


def _remap_files(frame: pl.DataFrame, ids: list[int]) -> pl.DataFrame:
    """Replace a partial's file ids by the merged partial's."""
    if frame.is_empty():
        return frame
    lookup = pl.Series("file", ids, dtype=pl.UInt32)
    return frame.with_columns(lookup.gather(frame["file"]).alias("file"))


def merge(a: AuditPartial, b: AuditPartial) -> AuditPartial:
    """The partial of shard ``a`` followed by shard ``b`` (``a`` is updated and returned)."""
    return merge_all([a, b])


def merge_all(parts: Sequence[AuditPartial]) -> AuditPartial:
    """The partial of consecutive shards ``parts``, in input order (the first is updated
    and returned). Duplicates across shards are found in one pass over every shard's
    distinct keys, so merging k shards costs one hash of the keys, not k."""
    if not parts:
        raise ValueError("merge_all needs at least one partial")
    a = parts[0]
    uniques = [a.unique]
    within = list(a.dup_refs)
    dup_count = a.dup_count
    for b in parts[1:]:
        offset, ids = _merge_counts(a, b)
        uniques.append(_remap_files(b.unique, ids).with_columns(pl.col("pos") + offset))
        within.extend((pos + offset, ref) for pos, ref in b.dup_refs)
        dup_count += b.dup_count
    if len(uniques) > 1:
        keys = pl.concat(uniques, how="vertical")
        # A shard's keys are distinct, so a key seen again was first held by an earlier shard.
        first = keys.get_column("fp").is_first_distinct()
        crossed = keys.filter(~first)
        cross = [
            (pos, a.ref(f, line))
            for pos, f, line in crossed.select("pos", "file", "line")
            .head(a.max_row_refs)
            .iter_rows()
        ]
        # Positions are global and each list is in row order: the first max_row_refs of
        # the union are the first of all duplicates.
        a.dup_refs = sorted(cross + within)[: a.max_row_refs]
        a.dup_count = dup_count + crossed.height
        a.unique = keys.filter(first)
    return a


def _merge_counts(a: AuditPartial, b: AuditPartial) -> tuple[int, list[int]]:
    """Everything but duplicates of ``b`` into ``a``; returns b's row offset and file ids."""
    ids = [a.file_id(p) for p, _ in b.files]
    for (_, rows), i in zip(b.files, ids, strict=True):
        a.files[i] = (a.files[i][0], a.files[i][1] + rows)
    offset = a.valid
    a.total += b.total
    a.valid += b.valid
    a.quarantined += b.quarantined
    a.formats.update(b.formats)
    a.non_text.update(b.non_text)
    for rid, h in b.hits.items():
        ah = a.rule(rid)
        ah.count += h.count
        ah.refs.extend(h.refs[: max(0, a.max_row_refs - len(ah.refs))])
        ah.details.update(h.details)
    for s in SERIES:
        add_counts(a.hist[s], b.hist[s])
    a.rows = pl.concat([a.rows, _remap_files(b.rows, ids)], how="vertical")
    a.labels.update(b.labels)
    a.multi += b.multi
    a.single += b.single
    a.with_system += b.with_system
    a.pii_counts.update(b.pii_counts)
    a.leaked_items |= b.leaked_items
    a.keep_sample([replace(r, pos=r.pos + offset) for r in b.sample])
    if a.table is not None and b.table is not None:
        for k, v in b.table.items():
            a.table.setdefault(k, []).extend(v)
    return offset, ids
