"""Exact + near dedup step over the Rust core.

Keys go to Rust as an Arrow string array through the PyCapsule interface (no
Python object per row, no copy); the core hashes, sketches and clusters with
the GIL released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from curagate import _core
from curagate._lazy import lazy_import
from curagate.config import CurateConfig
from curagate.errors import ConfigError, InputError
from curagate.records import Batch

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")

STATUS_NAMES = ("kept", "exact", "near")


def keep_priorities(batch: Batch, cfg: CurateConfig) -> pa.Array:
    """Survivor priority per row (higher wins; ties go to the earliest)."""
    n = batch.table.num_rows
    policy = cfg.keep.policy
    if policy == "first":
        return pa.repeat(pa.scalar(0.0, pa.float64()), n)
    if policy == "longest":
        return pc.cast(pc.utf8_length(batch.keys), pa.float64())
    column = cfg.keep.score_column
    if column is None:
        raise ConfigError(
            "keep.policy is 'score' but keep.score_column is not set; name the score column"
        )
    if column not in batch.table.column_names:
        raise InputError(
            f"{batch.source}: keep.score_column {column!r} is not a column "
            f"(columns: {', '.join(batch.table.column_names)})"
        )
    values = batch.table.column(column)
    if pa.types.is_dictionary(values.type):  # pandas' categoricals: compare the values
        values = values.cast(values.type.value_type)
    try:
        # Integers within ±2^53 are exact as doubles; Arrow's safe cast refuses int64 anyway.
        safe = not pa.types.is_integer(values.type)
        scores = pc.cast(values, pa.float64(), safe=safe)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(
            f"{batch.source}: keep.score_column {column!r} must be numeric (found {values.type})"
        ) from None
    if not pa.types.is_floating(values.type):
        # Scores are compared as doubles, exact for integers below 2^53 only: 2^53 and
        # 2^53 + 1 (int64, decimal, or text the reader kept exact) tied, the first kept.
        magnitude = pc.abs(pc.fill_null(scores, 0.0))
        far = pc.and_(pc.greater_equal(magnitude, float(_EXACT)), pc.is_finite(magnitude))
        if pc.any(far).as_py():
            first = values.filter(far)[0].as_py()
            raise InputError(
                f"{batch.source}: keep.score_column {column!r} holds {first}, at or past "
                "±2^53 (9,007,199,254,740,992), where scores no longer compare exactly as "
                "doubles; rescale them"
            )
    return pc.fill_null(scores, float("-inf")).combine_chunks()


_EXACT = 2**53


@dataclass(frozen=True)
class DedupOutcome:
    status: pa.Array  # uint8: 0 kept, 1 exact, 2 near
    kept_index: pa.Array  # uint64: global index of the cluster's survivor
    similarity: pa.Array  # float32
    stats: dict[str, int]


class DedupStep:
    """Feeds key batches to the core deduper and returns per-record outcomes."""

    def __init__(self, cfg: CurateConfig) -> None:
        near = cfg.near
        try:
            self._core = _core.Deduper(
                num_perm=near.num_perm,
                threshold=near.threshold,
                ngram=near.ngram,
                shingle=near.shingle,
                hash=near.hash,
                seed=near.seed,
                bands=near.bands,
                rows=near.rows,
                banding=near.banding,
                max_miss=near.max_miss,
                near=near.enabled,
                verify=near.verify,
                memory_budget=cfg.memory_budget,
                spill_dir=cfg.spill_dir,
                threads=cfg.threads,
                **cfg.normalize.model_dump(),
            )
        except _core.ParameterError as e:
            raise ConfigError(f"near: {e}") from None
        self.exact_enabled = cfg.exact.enabled

    @property
    def bands_rows(self) -> tuple[int, int]:
        return self._core.bands_rows

    def add(
        self,
        keys: pa.Array | pa.ChunkedArray,
        priorities: pa.Array,
        media: pa.Array | None = None,
    ) -> None:
        """One batch: string keys, float64 priorities (nulls lose, as -inf) and the rows'
        media identities (:attr:`curagate.records.Batch.media`; rows with other media are
        never copies)."""
        self._core.add(keys, priorities.cast(pa.float64()), media)

    def finish(self) -> DedupOutcome:
        out = self._core.finish()
        n = len(out.status)
        status = pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(out.status)])
        kept = pa.Array.from_buffers(pa.uint64(), n, [None, pa.py_buffer(out.kept_index)])
        sim = pa.Array.from_buffers(pa.float32(), n, [None, pa.py_buffer(out.similarity)])
        return DedupOutcome(status, kept, sim, out.stats.as_dict())
