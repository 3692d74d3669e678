"""The list of curate steps a config asks for, in the order they run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

import curagate.pipeline.filters  # noqa: F401  (registers the built-in filters)
from curagate.config import CurateConfig
from curagate.errors import ConfigError
from curagate.pipeline.decontaminate import DecontaminateStep
from curagate.pipeline.duplicates import DuplicatesStep
from curagate.pipeline.semantic import SemanticStep
from curagate.pipeline.step import FILTERS, Filter, Step


def build_steps(
    cfg: CurateConfig,
    *,
    source: str = "config",
    stats_only: bool = False,
    core_stats: Mapping[str, Any] | None = None,
) -> list[Step]:
    """Decontamination, the configured quality filters, exact+near dedup,
    semantic dedup, split. Filters come before dedup so a record they remove
    never stands for a cluster; decontamination first so a leaked record is
    reported as leakage whatever else is wrong with it.

    ``source`` (the config file) starts the errors about ``filters:`` entries.
    ``stats_only``: the staged run did the scanning in its own stages
    (``core_stats``: its dedup counters); these steps only report and seal.
    """
    steps: list[Step] = [DecontaminateStep(cfg, build=not stats_only)]
    steps += filters(cfg, source)
    steps += [
        DuplicatesStep(cfg, core_stats=(core_stats or {}) if stats_only else None),
        SemanticStep(cfg),
    ]
    if cfg.split.enabled:
        # curagate.split and pyarrow.compute load only for a split (~20 ms of import
        # every other run spent; a split step that is off does nothing).
        from curagate.pipeline.split_step import SplitStep

        steps.append(SplitStep(cfg))
    return steps


def filters(cfg: CurateConfig, source: str = "config") -> list[Filter]:
    out: list[Filter] = []
    for i, entry in enumerate(cfg.filters):
        ((name, params),) = entry.items()
        cls = FILTERS.get(name)
        if cls is None:
            known = ", ".join(sorted(FILTERS)) or "none"
            raise ConfigError(f"{source}: filters[{i}]: unknown filter {name!r} (known: {known})")
        try:
            out.append(cls(cls.Params.model_validate(params or {})))
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ConfigError(
                f"{source}: filters[{i}].{name}{'.' + where if where else ''}: {err['msg']}"
            ) from None
    return out
