"""Gate checks: stable ids, verdicts, and the regression rule.

Every check has an id (``GATE00N``) documented in docs/gate.md in the same
form as lint rules: what it checks, why it matters, how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from curagate.gate.config import LOWER_IS_BETTER, Regression, Threshold

# id -> short name; the docs explain each one.
CHECK_IDS: dict[str, str] = {
    "GATE001": "metric-threshold",
    "GATE002": "regression-vs-base",
    "GATE003": "slice-threshold",
    "GATE004": "slice-regression",
    "GATE005": "contamination",
    "GATE006": "golden-set-size",
    "GATE007": "capability-regression",
    "GATE008": "judge-position-consistency",
    "GATE009": "judge-calibration",
    "GATE010": "judge-length-bias",
    "GATE011": "refusal-detector-agreement",
    "GATE012": "judge-independence",
}

VERDICT_ORDER = {"pass": 0, "warn": 1, "fail": 2}


@dataclass
class Check:
    id: str
    name: str
    verdict: str  # pass | warn | fail
    message: str
    golden_set: str | None = None
    metric: str | None = None
    slice: str | None = None
    candidate: float | None = None
    base: float | None = None
    delta: float | None = None
    threshold: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": CHECK_IDS[self.id],
            "name": self.name,
            "verdict": self.verdict,
            "message": self.message,
            "golden_set": self.golden_set,
            "metric": self.metric,
            "slice": self.slice,
            "candidate": rnd(self.candidate),
            "base": rnd(self.base),
            "delta": rnd(self.delta),
            "threshold": self.threshold,
            "stats": {k: rnd(v) if isinstance(v, float) else v for k, v in self.stats.items()},
        }


def rnd(x: float | None) -> float | None:
    """Round for reports: stable text across platforms, precise enough for any threshold."""
    return None if x is None else round(float(x), 6)


def absolute_verdict(value: float, th: Threshold) -> tuple[str, str]:
    if th.min is not None and value < th.min:
        return "fail", f"{value:.4f} < min {th.min}"
    if th.max is not None and value > th.max:
        return "fail", f"{value:.4f} > max {th.max}"
    bounds = " and ".join(
        s
        for s in (
            f">= {th.min}" if th.min is not None else "",
            f"<= {th.max}" if th.max is not None else "",
        )
        if s
    )
    return "pass", f"{value:.4f} {bounds}".strip()


def drop_of(metric: str, candidate: float, base: float, rule: Regression) -> float:
    """How much worse the candidate is (positive = worse), in points or relative to base."""
    drop = candidate - base if metric in LOWER_IS_BETTER else base - candidate
    if rule.relative:
        return drop / base if base else (0.0 if drop <= 0 else float("inf"))
    return drop


def regression_verdict(
    metric: str,
    candidate: float,
    base: float,
    rule: Regression,
    *,
    significant: bool,
    fail_only_if_significant: bool,
) -> tuple[str, str]:
    drop = drop_of(metric, candidate, base, rule)
    unit = "of base" if rule.relative else "points"
    noise = "" if significant else " (within noise)"
    if drop > rule.fail_drop:
        if fail_only_if_significant and not significant:
            return "warn", f"drop {drop:.4f} {unit} > {rule.fail_drop} but not significant"
        return "fail", f"drop {drop:.4f} {unit} > fail_drop {rule.fail_drop}{noise}"
    if drop > rule.warn_drop:
        return "warn", f"drop {drop:.4f} {unit} > warn_drop {rule.warn_drop}{noise}"
    change = "gain" if drop < 0 else "drop"
    return "pass", f"{change} {abs(drop):.4f} {unit} <= warn_drop {rule.warn_drop}{noise}"


def overall(checks: list[Check]) -> str:
    worst = max((VERDICT_ORDER[c.verdict] for c in checks), default=0)
    return {v: k for k, v in VERDICT_ORDER.items()}[worst]
