"""One shape for every rule and finding: audit rules, training-health checks, gate checks.

A :class:`Rule` is a stable id with its documentation (what it checks, why it
matters, how to fix it) and a default :class:`Severity`, declared with the code
that decides it (ruff's model): gate/checks.py holds each gate rule and its
decision function, train/health.py the training-health rules and checks;
audit/rules/ the audit's, one module per rule family with its checks. The
docs (docs/audit.md, docs/train.md, docs/gate.md) repeat the same text, which
tests/test_rule_docs.py holds in step. A :class:`Finding` is one result of a rule: the rule, a severity
and a message. Each stage adds the fields its report has always carried (an
audit finding its rows, a training finding its step, a gate check its verdict
and numbers) and keeps its JSON keys, because reports, SARIF/GitHub outputs and
the signed gate report are read by other tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most severe, so ``sorted(key=rank)`` lists errors first."""
        return _RANK[self]


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class Verdict(StrEnum):
    """What a set of findings decides: an error fails, a warning warns, info passes."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def severity(self) -> Severity:
        return {Verdict.FAIL: Severity.ERROR, Verdict.WARN: Severity.WARNING}.get(
            self, Severity.INFO
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's id, name, default severity and documentation.

    Ids never change meaning once released; a retired rule keeps its id reserved.
    """

    id: str
    name: str
    severity: Severity  # default; the audit config may re-level it or switch it off
    checks: str  # what it checks
    why: str  # why it matters
    fix: str  # how to fix it
    # Share of rows above which the finding becomes an error (None: never escalated).
    # Only row-counting audit rules use it (``rules.<ID>.error_above`` overrides it).
    error_above: float | None = None
    # Never switched off nor re-levelled by a config (a file that cannot be read: FMT010).
    locked: bool = False
    # An audit rule decided on the whole dataset (a ``(message, metric)`` finding that counts
    # no rows: label balance, length bias, the conversation mix), so ``error_above`` has no
    # share of rows to compare and the config refuses it; ``limits`` names the settings that
    # are its thresholds instead.
    dataset_level: bool = False
    limits: tuple[str, ...] = ()


def rule_table(*rules: Rule) -> dict[str, Rule]:
    """Rules by id, refusing a reused id (two rules must never share one)."""
    out: dict[str, Rule] = {}
    for r in rules:
        if r.id in out:
            raise ValueError(f"rule id {r.id} is declared twice")
        out[r.id] = r
    return out


@dataclass(kw_only=True)
class Finding:
    """One result of a rule. Subclasses add their stage's fields and JSON keys."""

    rule: Rule
    severity: Severity
    message: str

    @property
    def id(self) -> str:
        return self.rule.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "name": self.rule.name,
            "severity": self.severity.value,
            "message": self.message,
        }


def overall(findings: Iterable[Finding]) -> Verdict:
    """The verdict of a run: fail on any error, warn on any warning, else pass."""
    worst = min((f.severity.rank for f in findings), default=_RANK[Severity.INFO])
    return {0: Verdict.FAIL, 1: Verdict.WARN}.get(worst, Verdict.PASS)


def failed(findings: Iterable[Finding], *, fail_on: Severity = Severity.ERROR) -> bool:
    """Whether a run fails: any finding at ``fail_on`` or worse.

    The one rule every command's exit code follows; only the threshold differs:
    the audit and the gate fail on an error (``gate --strict`` on a warning too),
    ``curagate check`` on any finding, because a commit hook has no report to
    warn in.
    """
    return any(f.severity.rank <= fail_on.rank for f in findings)


def exit_code(findings: Iterable[Finding], *, fail_on: Severity = Severity.ERROR) -> int:
    """1 when the run :func:`failed`, else 0 (the CLI's "check failed" code)."""
    return 1 if failed(findings, fail_on=fail_on) else 0
