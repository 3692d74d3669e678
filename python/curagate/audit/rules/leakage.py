"""LEAK001: training rows that contain a golden (evaluation) set item.

The golden index (``audit/leaks.py``, exact and n-gram) is built once per
audit from ``leakage.reference``; each batch's dedup keys are scanned against it.
"""

from __future__ import annotations

from curagate.audit.rules.base import BatchView, RowHit, register
from curagate.findings import Rule, Severity

RULES = (
    Rule(
        "LEAK001",
        "golden-set-leakage",
        Severity.ERROR,
        "Records containing a golden (evaluation) set item: exact match, a shared "
        "13-gram, or a run of >= 8 of the item's words covering >= half of it "
        "(curagate.leakage).",
        "Training on the test set makes every later evaluation and gate meaningless.",
        "Remove the leaking records: `curagate curate DATA --out DIR --decontaminate "
        "golden_sets/` drops them with reason `leakage` (`curagate leakage` lists them).",
    ),
)


def rows(view: BatchView) -> list[RowHit]:
    """Rows whose dedup key holds a golden item (exact or a shared n-gram)."""
    leaks = view.ctx.leaks
    if leaks is None:
        return []
    view.leaking = set(leaks.scan(view.keys, view.part.leaked_items))
    return [("LEAK001", k, "") for k in sorted(view.leaking)]


register(__name__, *RULES, rows=rows)
