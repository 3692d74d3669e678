"""The audit rule registry: each rule's id, documentation and check, in one place.

A rule (or a family of closely related rules, such as the PII scanners) is
one module under ``curagate/audit/rules/`` that calls :func:`register` with
its :class:`~curagate.findings.Rule` objects (stable id, name, default
severity, what it checks / why it matters / how to fix it, ruff style) and
its check functions:

- ``rows(view: BatchView)`` runs on every batch of valid rows during the
  audit's single pass and yields ``(rule id, row in the batch, detail)`` for
  each row that breaks a rule, each rule's rows in row order. Its hits merge
  across shards like the built-in rules' (``--executor ray`` included);
- ``dataset(view: DatasetView)`` runs once on the merged statistics and
  returns, per rule id, either a ``(message, metric)`` pair (a dataset-level
  finding: length bias, label imbalance) or the :class:`RuleHits` of rows
  judged only at the end (length outliers, duplicates).

Ids never change meaning once released; a retired rule keeps its id
reserved. ``docs/audit.md`` documents every registered rule with the same
text (tests/audit/test_audit_docs.py). This module is light on purpose:
``curagate check`` imports the registry, so checks import polars lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curagate.findings import Finding, Rule, Severity

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from curagate.audit.config import AuditConfig
    from curagate.audit.partial import AuditPartial, RuleHits
    from curagate.audit.pii import Hit
    from curagate.audit.shard import AuditContext
    from curagate.records import RecordFormat

RowHit = tuple[str, int, str]  # (rule id, row index in the batch, detail; "" for none)


@dataclass(slots=True)
class BatchView:
    """What a row check sees of one batch of valid rows (and what checks leave for --gx)."""

    ctx: AuditContext
    part: AuditPartial  # the shard's partial (for state a rule keeps across batches)
    format: RecordFormat
    source: str  # the file, POSIX
    table: pa.Table  # the batch's original columns, valid rows only
    keys: pa.Array  # each row's dedup key text (its fields joined), never null
    # each row's media identity (Batch.media; 0: none), None when no row holds media
    media: pa.Array | None = None
    # The plain string columns the columnar path reads, or None when the batch takes the
    # per-record path (nested values, structured-output schemas, a tokenizer).
    fields: list[str] | None = None
    turns: pl.DataFrame | None = None  # chat turns, one row each (columnar chat batches)
    rendered: list[int | None] | None = None  # tokens of each rendered record (LEN003)
    template_errors: list[tuple[int, str]] = field(default_factory=list)  # (row, why)
    # Left by the built-in checks for the --gx table: format violations per row,
    # PII/secret hits per row, rows that leak a golden item.
    violations: dict[int, int] = field(default_factory=dict)
    pii: dict[int, list[Hit]] = field(default_factory=dict)
    leaking: set[int] = field(default_factory=set)
    _records: list[dict[str, Any]] | None = None
    _frame: pl.DataFrame | None = None

    @property
    def cfg(self) -> AuditConfig:
        return self.ctx.cfg

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def records(self) -> list[dict[str, Any]]:
        """The rows as Python dicts (converted once per batch, on first use)."""
        if self._records is None:
            self._records = self.table.to_pylist()
        return self._records

    def frame(self) -> pl.DataFrame:
        """The text columns of :attr:`fields` as polars, nulls as "" (columnar batches)."""
        if self._frame is None:
            import polars as pl

            assert self.fields is not None, "frame() is for columnar batches"
            df = pl.from_arrow(self.table.select(self.fields))
            assert isinstance(df, pl.DataFrame)
            self._frame = df.with_columns(pl.all().fill_null(""))
        return self._frame


@dataclass(slots=True)
class DatasetView:
    """What a dataset check sees: the merged partial and the report's statistics."""

    cfg: AuditConfig
    part: AuditPartial
    stats: dict[str, Any]  # audit.json's "stats", complete
    hits: dict[str, RuleHits]  # the row hits of every rule so far


RowCheck = Callable[[BatchView], Iterable[RowHit]]
DatasetCheck = Callable[[DatasetView], "dict[str, RuleHits | tuple[str, float]]"]


@dataclass(frozen=True, slots=True)
class Checks:
    """One registered module: its rules and the functions that decide them."""

    name: str
    rules: tuple[Rule, ...]
    rows: RowCheck | None = None
    dataset: DatasetCheck | None = None


RULES: dict[str, Rule] = {}  # every registered rule by id, in registration order
CHECKS: dict[str, Checks] = {}  # by module name, in registration order


def register(
    name: str,
    *rules: Rule,
    rows: RowCheck | None = None,
    dataset: DatasetCheck | None = None,
) -> Checks:
    """Register ``rules`` with the functions that decide them (the call each rule module
    makes). ``name`` is the module's (``__name__`` is fine); ids must be new."""
    if name in CHECKS:
        raise ValueError(f"audit rules {name!r} are registered twice")
    if not rules:
        raise ValueError(f"audit rules {name!r}: register at least one rule")
    ids = [r.id for r in rules]
    for r in rules:
        if r.id in RULES or ids.count(r.id) > 1:
            raise ValueError(f"rule id {r.id} is declared twice")
        if not (r.id[:-3].isalpha() and r.id[:-3].isupper() and r.id[-3:].isdigit()):
            raise ValueError(f"rule id {r.id!r}: use upper-case letters then 3 digits (FMT001)")
    checks = Checks(name=name, rules=tuple(rules), rows=rows, dataset=dataset)
    CHECKS[name] = checks
    for r in rules:
        RULES[r.id] = r
    return checks


def unregister(name: str) -> None:
    """Remove a module's rules (for tests that register rules of their own)."""
    checks = CHECKS.pop(name, None)
    for r in checks.rules if checks is not None else ():
        RULES.pop(r.id, None)


def rules_markdown() -> str:
    """docs/audit.md's rule sections, from the registry (``scripts/audit_rules_doc.py``
    writes them; tests/audit/test_audit_docs.py holds the doc equal to this)."""
    out = []
    for r in RULES.values():
        escalates = (
            f" Becomes an error when more than {r.error_above:.0%} of the rows are affected."
            if r.error_above is not None
            else ""
        )
        if r.locked:
            escalates += " Cannot be switched off or re-levelled by `rules.<ID>`."
        if r.dataset_level:
            escalates += (
                " Decided on the whole dataset (its finding counts no rows): no `error_above`."
            )
        out.append(
            f"### {r.id} `{r.name}`\n\nDefault severity: **{r.severity.value}**.{escalates}\n\n"
            f"**What it checks.** {r.checks}\n\n**Why it matters.** {r.why}\n\n"
            f"**How to fix.** {r.fix}\n"
        )
    return "\n".join(out)


@dataclass(kw_only=True)
class AuditFinding(Finding):
    """Rows that broke one rule (or the dataset-level metric that did), as audit.json lists it."""

    count: int  # rows affected (0 for dataset-level findings)
    share: float  # count / rows, or the dataset-level metric that broke the threshold
    rows: list[str]  # "file:line" references, the first max_row_refs
    rows_truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **Finding.to_dict(self),
            "fix": self.rule.fix,
            "count": self.count,
            "share": round(self.share, 6),
            "rows": self.rows,
            "rows_truncated": self.rows_truncated,
        }


__all__ = [
    "CHECKS",
    "RULES",
    "AuditFinding",
    "BatchView",
    "Checks",
    "DatasetView",
    "RowHit",
    "Rule",
    "Severity",
    "register",
    "rules_markdown",
    "unregister",
]
