"""LBL001-LBL002: the label column's balance and gaps (``labels.field`` in the config).

The smallest complete example of an audit rule module: the rules, a row check
(LBL002, per batch) and a dataset check (LBL001, on the merged label counts
the single pass collects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curagate.audit.rules.base import BatchView, DatasetView, RowHit, register
from curagate.findings import Rule, Severity
from curagate.text import exact_percent, percent

if TYPE_CHECKING:
    from curagate.audit.partial import RuleHits

RULES = (
    Rule(
        "LBL001",
        "label-imbalance",
        Severity.WARNING,
        "A class of the label column holds more than labels.max_share (default 0.9) or less "
        "than labels.min_share (default 0.01) of the rows.",
        "The model learns the prior: it predicts the majority class and never sees enough of "
        "the rare one.",
        "Rebalance (down-sample the majority, add rare examples) or weight the loss.",
        dataset_level=True,
        limits=("labels.max_share", "labels.min_share"),
    ),
    Rule(
        "LBL002",
        "label-missing",
        Severity.ERROR,
        "A row has no value (absent or null) in the configured label column.",
        "Rows without a label cannot be counted for balance and usually mean a join failed.",
        "Fill in the label or remove the row; check labels.field names the right column.",
    ),
)


def shown_classes(
    counts: dict[str, int], secrets: tuple[float, int] = (4.5, 24)
) -> list[tuple[str, int]]:
    """The label classes as reports show them, most rows first: each scanned for PII and
    secrets and redacted as the sample is (a key used as a label value was copied into
    audit.json, audit.md and report.html), with the config's thresholds (``secrets``); two
    classes redacted alike stay two."""
    from curagate.audit.pii import shown as redacted

    shown: list[tuple[str, int]] = []
    seen: set[str] = set()
    for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        name = redacted(k, *secrets)
        if name != k or name in seen:
            base, i = name, 2
            while name in seen or (name != k and name in counts):
                name, i = f"{base} ({i})", i + 1
        seen.add(name)
        shown.append((name, v))
    return shown


def rows(view: BatchView) -> list[RowHit]:
    """LBL002: rows with no value in the label column (absent or null)."""
    name = view.cfg.labels.field
    if name is None:
        return []
    if name not in view.table.schema.names:
        return [("LBL002", r, "") for r in range(view.num_rows)]
    column = view.table.column(name)
    if not column.null_count:
        return []
    import pyarrow.compute as pc

    nulls = pc.indices_nonzero(pc.is_null(column)).to_pylist()
    return [("LBL002", r, "") for r in nulls]


def dataset(view: DatasetView) -> dict[str, RuleHits | tuple[str, float]]:
    """LBL001: a class above labels.max_share or below labels.min_share, or only one."""
    cfg = view.cfg.labels
    if cfg.field is None:
        return {}
    sec = view.cfg.secrets
    dist = shown_classes(view.part.labels, (sec.entropy_threshold, sec.min_length))
    n = sum(v for _, v in dist)
    if not n:
        return {}
    if len(dist) == 1:
        return {"LBL001": (f"only one class ({dist[0][0]!r}) in {cfg.field!r}", 1.0)}
    over = [(k, v / n) for k, v in dist if v / n > cfg.max_share]
    under = [(k, v / n) for k, v in dist if v / n < cfg.min_share]
    if not (over or under):
        return {}
    parts = [
        f"class {k!r} holds {percent(s, 1, limit=cfg.max_share)} (above "
        f"{exact_percent(cfg.max_share)})"
        for k, s in over
    ]
    parts += [
        f"class {k!r} holds {percent(s, 2, limit=cfg.min_share)} (below "
        f"{exact_percent(cfg.min_share)})"
        for k, s in under
    ]
    # The share that broke a threshold: the largest class above max_share, else the
    # smallest below min_share (reported as 1 - share, 0.995 for a class holding 0.5%).
    broke = max(s for _, s in over) if over else min(s for _, s in under)
    return {"LBL001": ("; ".join(parts), broke)}


register(__name__, *RULES, rows=rows, dataset=dataset)
