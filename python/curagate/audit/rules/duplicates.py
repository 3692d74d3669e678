"""DUP001: exact duplicates of the normalized dedup key.

Each shard keeps the first row of every fingerprint (``keys.py``, the same
hash as ``check`` and ``curate``); merging the shards finds the duplicates
across them (``partial.merge_all``), so the rule is decided at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curagate.audit.rules.base import DatasetView, register
from curagate.findings import Rule, Severity

if TYPE_CHECKING:
    from curagate.audit.partial import RuleHits

RULES = (
    Rule(
        "DUP001",
        "exact-duplicate",
        Severity.WARNING,
        "Records whose dedup key is identical after normalization (case, spacing, punctuation, "
        "Unicode form) to an earlier record with the same media (rows of other images are "
        "other records).",
        "Duplicates over-weight some examples, make the model memorise them and inflate "
        "validation scores when copies land on both sides of a split.",
        "Run `curagate curate` to remove them.",
        error_above=0.05,
    ),
)


def dataset(view: DatasetView) -> dict[str, RuleHits | tuple[str, float]]:
    """The duplicates the merge found (the first row of each key is not one)."""
    from curagate.audit.partial import RuleHits

    part = view.part
    return {"DUP001": RuleHits(count=part.dup_count, refs=[r for _, r in part.dup_refs])}


register(__name__, *RULES, dataset=dataset)
