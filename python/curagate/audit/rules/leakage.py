"""LEAK001: training rows that contain a golden (evaluation) set item.

The golden index (``audit/leaks.py``, exact and n-gram) is built once per
audit from ``leakage.reference``; each batch is scanned against it as
``curagate leakage`` scans it: each row's dedup key and every other string it
holds (a preference pair's responses, a message's other fields, extra columns).
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
    """Rows holding a golden item (exact, a shared n-gram or a long run of its words)
    in their key or any other string."""
    leaks = view.ctx.leaks
    if leaks is None:
        return []
    from curagate.leakage.texts import row_texts

    cfg = view.cfg
    texts = row_texts(
        view.table, view.format, view.keys, cfg.text_field, cfg.preference_key, media=view.media
    )
    view.leaking = set(leaks.scan(texts, view.part.leaked_items))
    return [("LEAK001", k, "") for k in sorted(view.leaking)]


register(__name__, *RULES, rows=rows)
