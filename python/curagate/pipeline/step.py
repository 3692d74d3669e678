"""The one shape of a curate step, and the registry of quality filters.

``curate()`` folds over a list of steps (datatrove's ``PipelineStep`` is the
model): pass 1 shows every step each batch of valid records (``scan``); after
the pass each step in turn may change what happens to the records
(``finish``); once the outputs are written each step may add files to the
output folder (``seal``); ``stats()`` gives its counters for ``stats.json``.
Steps know nothing of executors or files: the one-process run and the staged
run (:mod:`curagate.pipeline.distributed`) use the same objects.

A record removed by a step's ``scan`` is never shown to a later step, so a
filtered or contaminated record cannot survive a dedup cluster in place of a
clean one. Steps run in the order :func:`curagate.pipeline.build.build_steps`
gives: decontamination, quality filters, exact+near dedup, semantic dedup, split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from curagate._lazy import lazy_import
from curagate.records import Batch

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")


@dataclass(frozen=True)
class Rows:
    """One batch of valid records as the steps see it, in read order."""

    batch: Batch
    keys: pa.Array  # the record's text as dedup and leakage take it (normalized in the core)
    priorities: pa.Array  # float64 survivor priority (keep.policy)
    alive: pa.Array  # bool: not removed by an earlier step's scan


@dataclass(frozen=True)
class Fates:
    """What happens to every valid record, in read order."""

    reason: pa.Array  # "kept" or the reason it was removed ("exact", "leakage", ...)
    cluster_id: pa.Array  # int64: read-order index of the record kept for it (null: none)
    # id of the record kept in this one's place; None: the id at cluster_id, which
    # is what every built-in step sets (computed per batch as removed/ is written,
    # not held for every record: :meth:`kept_ids`).
    kept_id: pa.Array | None
    similarity: pa.Array  # float32, to that record
    # Extra columns of removed/ (name -> array), in step order: e.g. leakage's
    # leaked_reference_id and leak_method.
    extra: dict[str, pa.Array] = field(default_factory=dict)

    @classmethod
    def everyone_kept(cls, ids: pa.Array) -> Fates:
        n = len(ids)
        return cls(
            reason=pa.repeat(pa.scalar("kept"), n),
            cluster_id=pa.array(range(n), pa.int64()),
            kept_id=None,
            similarity=pa.repeat(pa.scalar(1.0, pa.float32()), n),
        )

    def remove(self, mask: pa.Array, reason: str) -> Fates:
        """``mask`` rows removed with ``reason`` and no record standing for them."""
        n = len(self.reason)
        none = pc.invert(mask)
        return replace(
            self,
            reason=pc.replace_with_mask(self.reason, mask, pa.repeat(pa.scalar(reason), n)),
            cluster_id=pc.if_else(none, self.cluster_id, pa.nulls(n, pa.int64())),
            kept_id=None
            if self.kept_id is None
            else pc.if_else(none, self.kept_id, pa.nulls(n, pa.string())),
            similarity=pc.if_else(none, self.similarity, pa.nulls(n, pa.float32())),
        )

    def kept_ids(self, ids: pa.Array, start: int, n: int) -> pa.Array:
        """``kept_id`` of records ``start .. start + n`` (``ids``: every record's)."""
        if self.kept_id is not None:
            return self.kept_id.slice(start, n)
        return pc.take(ids, self.cluster_id.slice(start, n))

    def kept(self) -> pa.Array:
        return pc.equal(self.reason, "kept")


class Step(Protocol):
    """A curate stage. Counters it reports go to ``stats.json`` under ``steps``."""

    def scan(self, rows: Rows) -> pa.Array | None:
        """See one batch; return a bool mask of the rows removed now (or None)."""
        ...

    def finish(self, fates: Fates, ids: pa.Array) -> Fates:
        """After pass 1: the fates of all valid records, changed by this step."""
        ...

    def seal(self, tmp: Path, out: Path, stats: dict[str, Any]) -> Any:
        """Add to the output folder ``tmp`` (renamed to ``out`` afterwards); its
        result goes to :class:`curagate.curate.CurateResult` (None: nothing)."""
        ...

    def stats(self, removed: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        """``stats.json`` entries (step name -> counters); ``removed``: the run's
        removed counts per reason."""
        ...

    def runtime(self) -> dict[str, Any]:
        """Facts that may differ between reruns (kept out of stats.json)."""
        ...


class BaseStep:
    """Do-nothing defaults, so a step writes only the methods it needs."""

    def scan(self, rows: Rows) -> pa.Array | None:
        return None

    def finish(self, fates: Fates, ids: pa.Array) -> Fates:
        return fates

    def seal(self, tmp: Path, out: Path, stats: dict[str, Any]) -> Any:
        return None

    def stats(self, removed: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        return {}

    def runtime(self) -> dict[str, Any]:
        return {}


class FilterParams(BaseModel):
    """Base of a quality filter's parameters (the keys under its config entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)


class Filter(BaseStep):
    """A quality filter: removes the records :meth:`keep` rejects, with reason ``name``.

    Subclass it in one file under ``curagate/pipeline/filters/`` (or anywhere,
    registered with :func:`register_filter`) and name it in the config:
    ``filters: [{NAME: {param: value}}]``. See ``filters/length.py``.
    """

    name: ClassVar[str]
    Params: ClassVar[type[FilterParams]] = FilterParams

    def __init__(self, params: FilterParams) -> None:
        self.params = params
        self._removed: list[pa.Array] = []

    def keep(self, rows: Rows) -> pa.Array:
        """Bool mask of the records that pass (nulls count as passing)."""
        raise NotImplementedError

    def scan(self, rows: Rows) -> pa.Array | None:
        passed = pc.fill_null(self.keep(rows), True)
        removed = pc.and_(rows.alive, pc.invert(passed))
        self._removed.append(removed)
        return removed

    def finish(self, fates: Fates, ids: pa.Array) -> Fates:
        if not self._removed:
            return fates
        return fates.remove(pa.concat_arrays(self._removed), self.name)

    def stats(self, removed: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        return {
            self.name: {
                "enabled": True,
                **self.params.model_dump(mode="json"),
                "removed": removed.get(self.name, 0),
            }
        }


FILTERS: dict[str, type[Filter]] = {}
# Reasons the built-in steps use: a filter may not take one of them.
RESERVED = frozenset(
    {"kept", "exact", "near", "leakage", "semantic", "read", "decontaminate", "split"}
)

F = TypeVar("F", bound=type[Filter])


def register_filter(name: str) -> Callable[[F], F]:
    """Class decorator: make a :class:`Filter` available as ``filters: [{name: ...}]``."""

    def add(cls: F) -> F:
        if name in RESERVED:
            raise ValueError(f"filter name {name!r} is a built-in step or reason")
        if name in FILTERS and FILTERS[name] is not cls:
            raise ValueError(f"filter {name!r} is already registered ({FILTERS[name]!r})")
        cls.name = name
        FILTERS[name] = cls
        return cls

    return add
