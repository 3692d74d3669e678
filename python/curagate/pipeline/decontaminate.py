"""Decontamination step: records containing a reference (golden/test) item, in
their key or any other string they hold (as ``curagate leakage`` scans them), are
removed with reason ``leakage`` before dedup sees them (see docs/leakage.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.config import CurateConfig
from curagate.pipeline.step import BaseStep, Fates, Rows

# The leakage scanner loads only when references are given (~7 ms of import otherwise
# spent by every curate run).
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

    from curagate.leakage import LeakageIndex
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")


class DecontaminateStep(BaseStep):
    """``decontaminate.reference`` set: scan every batch against the reference index."""

    def __init__(self, cfg: CurateConfig, *, build: bool = True) -> None:
        d = cfg.decontaminate
        self.reference = list(d.reference)
        self.text_field = cfg.text_field
        self.preference_key = cfg.preference_key
        self.index: LeakageIndex | None = None
        # (row, item) pairs found but of other media than the row's (no leaks:
        # LeakageIndex.media_kept); None where no reference item holds media (the staged
        # run: its sketch stages count, curagate.pipeline.distributed sets it)
        self.media_set_aside: int | None = None
        if d.reference and build:
            from curagate.leakage import LeakageIndex

            self.index = LeakageIndex.build(
                d.reference,
                ngram=d.ngram,
                methods=d.methods,
                min_ratio=d.min_ratio,
                min_span_words=d.min_span_words,
                min_span_ratio=d.min_span_ratio,
                threads=cfg.threads,
                answers=d.answers,
            )
            # A reference row that cannot be read would be an item never removed.
            self.index.refuse_unreadable()
            self.media_set_aside = 0 if self.index.holds_media else None
        self._leaked: list[pa.Array] = []
        self._ids: list[pa.Array] = []
        self._methods: list[pa.Array] = []

    def scan(self, rows: Rows) -> pa.Array | None:
        if self.index is None:
            return None
        from curagate.leakage import row_texts

        batch = rows.batch
        texts = row_texts(
            batch.table,
            batch.format,
            rows.keys,
            self.text_field,
            self.preference_key,
            media=batch.media,  # an item of other media than a row's is no leak of it
        )
        aside: set[tuple[int, int]] = set()
        leaks = self.index.scan_rows(texts, aside)
        if self.media_set_aside is not None:
            self.media_set_aside += len(aside)
        leaked, ids, methods = leaks.leaked, leaks.reference_ids, leaks.methods
        if not pc.all(rows.alive).as_py():
            # A record an earlier step removed keeps that reason.
            leaked = pc.and_(leaked, rows.alive)
            ids = pc.if_else(leaked, ids, pa.nulls(len(ids), pa.string()))
            methods = pc.if_else(leaked, methods, pa.nulls(len(methods), pa.string()))
        self._leaked.append(leaked)
        self._ids.append(ids)
        self._methods.append(methods)
        return leaked

    def finish(self, fates: Fates, ids: pa.Array) -> Fates:
        if self.index is None:
            return fates
        n = len(ids)
        if self._leaked:
            leaked = pa.concat_arrays(self._leaked)
            ref_ids = pa.concat_arrays(self._ids)
            methods = pa.concat_arrays(self._methods)
        else:
            leaked = pa.repeat(pa.scalar(False), n)
            ref_ids = methods = pa.nulls(n, pa.string())
        fates = fates.remove(leaked, "leakage")
        return Fates(
            fates.reason,
            fates.cluster_id,
            fates.kept_id,
            fates.similarity,
            {**fates.extra, "leaked_reference_id": ref_ids, "leak_method": methods},
        )

    def stats(self, removed: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        return {
            "decontaminate": {
                "enabled": bool(self.reference),
                "reference": self.reference,
                "removed": removed.get("leakage", 0),
                # where a reference item holds media (docs/leakage.md#what-is-compared)
                **(
                    {}
                    if self.media_set_aside is None
                    else {"media_set_aside": self.media_set_aside}
                ),
            }
        }
