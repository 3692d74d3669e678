"""Exact + near dedup step: the records still alive go to the Rust deduper;
a removed record points at the survivor of its cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.config import CurateConfig
from curagate.pipeline.dedup import STATUS_NAMES, DedupStep
from curagate.pipeline.step import BaseStep, Fates, Rows

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")


class DuplicatesStep(BaseStep):
    """``exact`` and ``near`` (one core pass finds both).

    ``core_stats`` given: the staged run clustered in its own stages and this
    step only reports those counters.
    """

    def __init__(self, cfg: CurateConfig, *, core_stats: Mapping[str, Any] | None = None) -> None:
        self.exact = cfg.exact.enabled
        self.near = cfg.near.enabled
        enabled = self.exact or self.near
        self._dedup = DedupStep(cfg) if enabled and core_stats is None else None
        self._core_stats: dict[str, Any] = dict(core_stats or {})
        self._alive: list[pa.Array] = []

    def scan(self, rows: Rows) -> pa.Array | None:
        if self._dedup is None:
            return None
        keys, priorities, media = rows.keys, rows.priorities, rows.batch.media
        if not pc.all(rows.alive).as_py():
            keys, priorities = keys.filter(rows.alive), priorities.filter(rows.alive)
            media = None if media is None else media.filter(rows.alive)
        self._alive.append(rows.alive)
        self._dedup.add(keys, priorities, media)
        return None

    def finish(self, fates: Fates, ids: pa.Array) -> Fates:
        if self._dedup is None:
            return fates
        outcome = self._dedup.finish()
        self._core_stats = dict(outcome.stats)
        seen = (
            pa.concat_arrays(self._alive) if self._alive else pa.array([], pa.bool_())
        )  # the records this step saw
        positions = pc.indices_nonzero(seen)
        # With exact disabled, exact copies are reported as the near copies they are (J = 1).
        table = STATUS_NAMES if self.exact else ("kept", "near", "near")
        names = pc.take(pa.array(table), outcome.status)
        survivors = pc.cast(pc.take(positions, outcome.kept_index), pa.int64())
        return Fates(
            reason=pc.replace_with_mask(fates.reason, seen, names),
            cluster_id=pc.replace_with_mask(fates.cluster_id, seen, survivors),
            kept_id=None
            if fates.kept_id is None
            else pc.replace_with_mask(fates.kept_id, seen, pc.take(ids, survivors)),
            similarity=pc.replace_with_mask(fates.similarity, seen, outcome.similarity),
            extra=fates.extra,
        )

    def runtime(self) -> dict[str, Any]:
        # The bytes spilled depend on memory_budget, which changes no output byte:
        # CurateResult.runtime and the summary, not stats.json (the staged run
        # spills in its own tasks and reports none).
        if self._dedup is None or not self.near:
            return {}
        return {"spilled_bytes": int(self._core_stats.get("spilled_bytes", 0))}

    def stats(self, removed: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        core = self._core_stats
        return {
            "exact": {"enabled": self.exact, "removed": removed.get("exact", 0)},
            "near": {
                "enabled": self.near,
                "removed": removed.get("near", 0),
                "clusters": core.get("near_clusters", 0),
                "candidate_pairs": core.get("candidate_pairs", 0),
                "verified_pairs": core.get("verified_pairs", 0),
                "rejected_pairs": core.get("rejected_pairs", 0),
                "bands": core.get("bands"),
                "rows": core.get("rows"),
                "empty_keys": core.get("empty_keys", 0),
            },
        }
