"""Gate checks: their rules (stable ids with what / why / fix), verdicts and GATE001-004.

Every check has an id (``GATE00N``) declared here with its documentation, which
docs/gate.md repeats in its "Checks" table (tests/test_rule_docs.py keeps the
two in step). The metric checks GATE001-004 are one function over a
:class:`Scope`: the whole golden set (GATE001, GATE002) or one slice of it
(GATE003, GATE004).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from curagate.findings import Finding, Rule, Severity, Verdict, rule_table
from curagate.findings import overall as _overall
from curagate.gate.config import Regression, Threshold
from curagate.gate.metrics import rnd as rnd  # re-exported: reports round with it

THRESHOLD = Rule(
    "GATE001",
    "metric-threshold",
    Severity.ERROR,
    "the candidate's metric against `min`/`max`",
    "the absolute bar the product needs",
    "improve the model or data; lower the bar only with a reason",
)
REGRESSION = Rule(
    "GATE002",
    "regression-vs-base",
    Severity.ERROR,
    "the drop from base to candidate",
    "fine-tuning must not make the task worse",
    'inspect failing examples marked "regression"',
)
SLICE_THRESHOLD = Rule(
    "GATE003",
    "slice-threshold",
    Severity.ERROR,
    "the metric on each slice with at least `min_items` items",
    "an average can hide a broken category",
    "add training data for the slice",
)
SLICE_REGRESSION = Rule(
    "GATE004",
    "slice-regression",
    Severity.ERROR,
    "the drop on each slice",
    "a regression confined to one slice",
    "add training data for the slice",
)
CONTAMINATION = Rule(
    "GATE005",
    "contamination",
    Severity.ERROR,
    "golden items found in the training data",
    "scores on leaked items overstate the model",
    "remove them (`curagate leakage`), retrain",
)
SET_SIZE = Rule(
    "GATE006",
    "golden-set-size",
    Severity.WARNING,
    "sets under 200 items (warning)",
    "small sets cannot resolve a few points",
    "grow the set",
)
CAPABILITY = Rule(
    "GATE007",
    "capability-regression",
    Severity.ERROR,
    "lm-eval suite scores vs base",
    "fine-tuning can erode general capability",
    "lower the learning rate / rank, mix in general data",
)
JUDGE_POSITION = Rule(
    "GATE008",
    "judge-position-consistency",
    Severity.ERROR,
    "the share of items whose judge verdict flips when the answers swap places, against "
    "`judge.max_position_disagreement` (default 0.10); fails",
    "a judge that prefers a position says nothing about the answers",
    "a stronger judge, a better prompt",
)
JUDGE_CALIBRATION = Rule(
    "GATE009",
    "judge-calibration",
    Severity.ERROR,
    "the judge's agreement with the set's locked human labels against "
    "`judge.min_human_agreement` (default 0.80); fails below, warns without 50 labels",
    "a judge nobody checked against people may be wrong in a systematic way",
    "label with `curagate golden label`, then a better judge or prompt if it disagrees",
)
JUDGE_LENGTH_BIAS = Rule(
    "GATE010",
    "judge-length-bias",
    Severity.WARNING,
    "how often the longer answer wins a decisive verdict, against `judge.max_length_bias` "
    "(default 0.80); warns",
    "judges tend to reward length",
    "read the items; tell the judge to ignore length; compare `candidate_longer_rate`",
)
REFUSAL_DETECTOR = Rule(
    "GATE011",
    "refusal-detector-agreement",
    Severity.WARNING,
    "responses where the judge and the regex refusal detector disagree (with "
    "`refusal_detector: judge`); warns",
    "each detector misses some refusals",
    "read the listed items; widen the regex or fix the judge",
)
JUDGE_INDEPENDENCE = Rule(
    "GATE012",
    "judge-independence",
    Severity.WARNING,
    "whether the judge is made of the candidate's or the base's weights (same identity, or a "
    "shared weights digest: a run's base model counts); warns",
    "a model judging its own answers prefers its own style (self-preference)",
    "use a judge from another model family",
)

RULES: dict[str, Rule] = rule_table(
    THRESHOLD,
    REGRESSION,
    SLICE_THRESHOLD,
    SLICE_REGRESSION,
    CONTAMINATION,
    SET_SIZE,
    CAPABILITY,
    JUDGE_POSITION,
    JUDGE_CALIBRATION,
    JUDGE_LENGTH_BIAS,
    REFUSAL_DETECTOR,
    JUDGE_INDEPENDENCE,
)


@dataclass(kw_only=True)
class Check(Finding):
    """One decided check: a finding with a verdict (passing checks are reported too).

    The severity follows the verdict (fail: error, warn: warning, pass: info).
    """

    severity: Severity = field(init=False)
    name: str  # this instance, e.g. "sentiment.accuracy[length=long].threshold"
    verdict: Verdict
    golden_set: str | None = None
    metric: str | None = None
    slice: str | None = None
    candidate: float | None = None
    base: float | None = None
    delta: float | None = None
    threshold: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)
        self.severity = self.verdict.severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule.id,
            "rule": self.rule.name,
            "name": self.name,
            "verdict": self.verdict.value,
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


def overall(checks: Iterable[Check]) -> str:
    """The gate's verdict: the worst check's."""
    return _overall(checks).value


def absolute_verdict(value: float, th: Threshold) -> tuple[Verdict, str]:
    if th.min is not None and value < th.min:
        return Verdict.FAIL, f"{value:.4f} < min {th.min}"
    if th.max is not None and value > th.max:
        return Verdict.FAIL, f"{value:.4f} > max {th.max}"
    bounds = " and ".join(
        s
        for s in (
            f">= {th.min}" if th.min is not None else "",
            f"<= {th.max}" if th.max is not None else "",
        )
        if s
    )
    return Verdict.PASS, f"{value:.4f} {bounds}".strip()


def drop_of(candidate: float, base: float, rule: Regression, *, higher_is_better: bool) -> float:
    """How much worse the candidate is (positive = worse), in points or relative to base."""
    drop = base - candidate if higher_is_better else candidate - base
    if rule.relative:
        return drop / base if base else (0.0 if drop <= 0 else float("inf"))
    return drop


def regression_verdict(
    candidate: float,
    base: float,
    rule: Regression,
    *,
    higher_is_better: bool,
    significant: bool,
    fail_only_if_significant: bool,
) -> tuple[Verdict, str]:
    drop = drop_of(candidate, base, rule, higher_is_better=higher_is_better)
    unit = "of base" if rule.relative else "points"
    noise = "" if significant else " (within noise)"
    if drop > rule.fail_drop:
        if fail_only_if_significant and not significant:
            return Verdict.WARN, f"drop {drop:.4f} {unit} > {rule.fail_drop} but not significant"
        return Verdict.FAIL, f"drop {drop:.4f} {unit} > fail_drop {rule.fail_drop}{noise}"
    if drop > rule.warn_drop:
        return Verdict.WARN, f"drop {drop:.4f} {unit} > warn_drop {rule.warn_drop}{noise}"
    change = "gain" if drop < 0 else "drop"
    return Verdict.PASS, f"{change} {abs(drop):.4f} {unit} <= warn_drop {rule.warn_drop}{noise}"


@dataclass(frozen=True)
class Scope:
    """Where GATE001-004 look: a whole golden set, or one slice of it (``column=value``)."""

    golden_set: str
    items: int
    slice: str | None = None

    def name(self, metric: str, kind: str) -> str:
        where = f"[{self.slice}]" if self.slice is not None else ""
        return f"{self.golden_set}.{metric}{where}.{kind}"

    def message(self, msg: str) -> str:
        return msg if self.slice is None else f"{msg} on {self.items} items"


# The paired statistics GATE002/GATE004 read for a metric: candidate, base, delta,
# ci_low, ci_high, p_value and significant (see curagate.gate.stats).
PairedStats = Mapping[str, Any]


def threshold_check(
    scope: Scope,
    metric: str,
    th: Threshold,
    candidate: float,
    base: float | None = None,
    *,
    stats: dict[str, Any] | None = None,
    not_counted: str | None = None,
) -> Check:
    """GATE001 (a set) or GATE003 (a slice): the candidate's value against ``min``/``max``.

    ``not_counted`` gives the reason a result must not decide (an untrusted judge's
    metric): the check then warns whatever the value.
    """
    verdict, msg = absolute_verdict(candidate, th)
    if not_counted is not None:
        verdict, msg = Verdict.WARN, f"not counted ({msg}): {not_counted}"
    return Check(
        rule=THRESHOLD if scope.slice is None else SLICE_THRESHOLD,
        name=scope.name(metric, "threshold"),
        verdict=verdict,
        message=scope.message(msg),
        golden_set=scope.golden_set,
        metric=metric,
        slice=scope.slice,
        candidate=candidate,
        base=base,
        threshold=th.model_dump(exclude_none=True),
        stats=stats or {},
    )


def metric_checks(
    scope: Scope,
    thresholds: Mapping[str, Threshold],
    regressions: Mapping[str, Regression],
    *,
    values: Callable[[str], tuple[float, float]],
    stats: Callable[[str], PairedStats],
    higher_is_better: Callable[[str], bool],
    fail_only_if_significant: bool,
) -> list[Check]:
    """GATE001/GATE003 (absolute thresholds) then GATE002/GATE004 (regression vs base).

    ``values(metric)`` is the (candidate, base) value on the scope's items; ``stats(metric)``
    their paired statistics; ``regressions`` maps each compared metric to its rule.
    """
    whole = scope.slice is None
    checks: list[Check] = []
    for metric, th in thresholds.items():
        cand, base = values(metric)
        checks.append(threshold_check(scope, metric, th, cand, base))
    for metric, rule in regressions.items():
        s = stats(metric)
        verdict, msg = regression_verdict(
            s["candidate"],
            s["base"],
            rule,
            higher_is_better=higher_is_better(metric),
            significant=s["significant"],
            fail_only_if_significant=fail_only_if_significant,
        )
        checks.append(
            Check(
                rule=REGRESSION if whole else SLICE_REGRESSION,
                name=scope.name(metric, "regression"),
                verdict=verdict,
                message=scope.message(msg),
                golden_set=scope.golden_set,
                metric=metric,
                slice=scope.slice,
                candidate=s["candidate"],
                base=s["base"],
                delta=s["delta"],
                threshold=rule.model_dump(),
                stats={k: s[k] for k in ("ci_low", "ci_high", "p_value", "significant")},
            )
        )
    return checks
