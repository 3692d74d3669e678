"""Semantic dedup step: embedding near-duplicates among the records the other
steps kept (extra ``embed``); a removed record hands its cluster to its
representative."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.config import CurateConfig
from curagate.pipeline.step import BaseStep, Fates, Rows

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")


class SemanticStep(BaseStep):
    def __init__(self, cfg: CurateConfig) -> None:
        self.cfg = cfg
        self.enabled = cfg.semantic.enabled
        self._keys: list[pa.Array] = []
        self._priorities: list[pa.Array] = []
        self._media: list[pa.Array] = []
        self._stats: dict[str, Any] = {"enabled": False}
        self._runtime: dict[str, Any] = {}

    def scan(self, rows: Rows) -> pa.Array | None:
        if self.enabled:
            self._keys.append(rows.keys)
            self._priorities.append(rows.priorities)
            media = rows.batch.media
            self._media.append(
                pa.repeat(pa.scalar(0, pa.uint64()), len(rows.keys)) if media is None else media
            )
        return None

    def finish(self, fates: Fates, ids: pa.Array) -> Fates:
        if not self.enabled or not len(ids):
            return fates
        from curagate.semantic import (  # heavy: only when enabled
            default_cache_dir,
            model_identity,
            pair_similarities,
            semantic_clusters,
        )

        cfg, sem = self.cfg, self.cfg.semantic
        kept_pos = pc.indices_nonzero(fates.kept())
        keys = pc.take(pa.chunked_array(self._keys).combine_chunks(), kept_pos)
        policy = cfg.keep.policy
        scores = (
            pc.take(pa.chunked_array(self._priorities).combine_chunks(), kept_pos)
            if policy == "score"
            else None
        )
        # The cache split and leakage use (an empty XDG_CACHE_HOME was a cache in the
        # working folder here and ~/.cache there).
        cache_dir = sem.cache_dir or str(default_cache_dir())
        result = semantic_clusters(
            keys,
            model=sem.model,
            threshold=sem.threshold,
            cache_dir=cache_dir,
            batch_size=sem.batch_size,
            keep="max" if policy == "score" else policy,
            scores=scores,
            # A key that normalizes to nothing (emoji, punctuation only) has no words to
            # compare: semantic_clusters never groups it, here as in the exact and near
            # steps (and in split --semantic).
            normalize=cfg.normalize.model_dump(),
            # Rows with other media (two questions of two images) are never copies.
            media=pc.take(pa.chunked_array(self._media).combine_chunks(), kept_pos).to_pylist(),
        )
        removed = pa.array(~result.keep)
        everyone = pa.array(range(len(ids)), pa.int64())
        # Records removed here, in read order, and the kept record standing for each.
        gone = kept_pos.filter(removed)
        reps = pc.cast(
            pc.take(kept_pos, pa.array(result.representative)).filter(removed), pa.int64()
        )
        is_gone = pc.is_in(everyone, gone)
        # Final survivor of every record: one removed here hands its cluster (and
        # those of the records it had replaced) to its representative.
        survivor = pc.replace_with_mask(everyone, is_gone, reps)
        cluster_id = pc.take(survivor, fates.cluster_id)
        # Those (exact or near copies) whose survivor was removed here follow it: they are
        # removed as semantic copies of its representative (kept as "exact" with 1.0, they
        # read as copies of a text they are not), at their own similarity to it. Found by
        # attack: they carried their survivor's (0.9658 for a near copy at 0.80).
        gone_similarity = pc.replace_with_mask(
            pa.repeat(pa.scalar(1.0, pa.float32()), len(ids)),
            is_gone,
            pa.array(result.similarity[~result.keep], pa.float32()),
        )
        copies = pc.is_in(fates.reason, pa.array(["exact", "near"]))
        followed = pc.and_(pc.and_(copies, pc.is_in(fates.cluster_id, gone)), pc.invert(is_gone))
        moved = pc.or_(is_gone, followed)
        similarity = pc.if_else(is_gone, gone_similarity, fates.similarity)
        if pc.any(followed).as_py():
            who = pc.indices_nonzero(followed)
            every_key = pa.chunked_array(self._keys).combine_chunks()
            own = pair_similarities(
                pc.take(every_key, who).to_pylist(),
                pc.take(every_key, pc.take(cluster_id, who)).to_pylist(),
                model=sem.model,
                cache_dir=cache_dir,
                batch_size=sem.batch_size,
            )
            similarity = pc.replace_with_mask(
                pc.cast(similarity, pa.float32()), followed, pa.array(own, pa.float32())
            )
        self._stats = {
            "enabled": True,
            **model_identity(sem.model),  # name and digest: not where it is installed
            "threshold": result.threshold,
            "index": result.index,
            "clusters": result.n_clusters,
            # over 1% of its words [UNK] to the model: kept out of every cluster (see semantic_clusters)
            "unreadable_by_model": result.unreadable,
            # longer than the model reads at once: kept out of every cluster
            "longer_than_model_window": result.longer_than_window,
        }
        # Cache hits vary between reruns: CurateResult.runtime, not stats.json.
        self._runtime = {"encoded": result.encoded, "cached": result.cached}
        return Fates(
            reason=pc.if_else(moved, "semantic", fates.reason),
            cluster_id=cluster_id,
            kept_id=None,  # the id at cluster_id
            similarity=similarity,
            extra=fates.extra,
        )

    def stats(self, removed: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        return {"semantic": {**self._stats, "removed": removed.get("semantic", 0)}}

    def runtime(self) -> dict[str, Any]:
        return {"semantic": self._runtime}
