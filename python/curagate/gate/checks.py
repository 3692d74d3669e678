"""Gate checks: each rule (a stable id with what / why / fix) and the function deciding it.

Every check has an id (``GATE0NN``) declared here with its documentation, which
docs/gate.md repeats in its "Checks" table (tests/test_rule_docs.py keeps the
two in step), and a function here turns the numbers the runner gathers into
its verdict and message. The metric checks GATE001-004 are one function over a
:class:`Scope`: the whole golden set (GATE001, GATE002) or one slice of it
(GATE003, GATE004).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from curagate.findings import Finding, Rule, Severity, Verdict, rule_table
from curagate.findings import overall as _overall
from curagate.gate.config import (
    Contamination,
    JudgeSettings,
    Regression,
    RegressionSuite,
    Threshold,
)
from curagate.gate.judge import MIN_HUMAN_LABELS
from curagate.gate.metrics import num, pct
from curagate.gate.metrics import rnd as rnd  # re-exported: reports round with it
from curagate.golden import HUMAN_LABELS, SMALL_SET_ITEMS

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
    "the share of items whose judge verdict flips when the answers swap places (or is "
    "unparsed in either order), against "
    "`judge.max_position_disagreement` (default 0.10); fails",
    "a judge that prefers a position says nothing about the answers",
    "a stronger judge, a better prompt",
)
JUDGE_CALIBRATION = Rule(
    "GATE009",
    "judge-calibration",
    Severity.ERROR,
    "the judge's agreement with the set's locked human labels against "
    "`judge.min_human_agreement` (default 0.80); fails below, warns without 50 distinct labelled pairs",
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

BASE_IDENTITY = Rule(
    "GATE013",
    "base-identity",
    Severity.ERROR,
    "whether `--base` is the model the candidate was trained from (the base its run record or "
    "bundle lineage names); fails when it is the candidate itself, warns when it is another "
    "model or an endpoint without `--base-digest` for a candidate that records its base",
    "a regression check against the candidate itself, or a weaker model, measures nothing",
    "gate with the base the candidate was trained from (or waive, naming the model compared)",
)

EXPORTED_GGUF = Rule(
    "GATE014",
    "exported-gguf",
    Severity.ERROR,
    "a bundle's GGUF (written by `curagate export --gguf`) against the safetensors the gate "
    "evaluated: its config.json one llama.cpp can honour (SiLU, no biases, default RoPE and "
    "`head_dim`) and agreeing with the safetensors on the output layer (`tie_word_embeddings` "
    "and `lm_head.weight`), its metadata keys/values and tensor names, shapes, types and data (quantized "
    "again, byte for byte) must be the ones export writes for them (`general.name` aside), "
    "and the file must hold no other byte than GGUFWriter's zero padding (nothing appended, "
    "tensors where the writer puts them), llama.cpp must tokenize like the bundle's tokenizer "
    "and the dequantized logits stay within 0.1 x the largest absolute logit",
    "the gate evaluates the safetensors; a GGUF beside them was promoted with the bundle "
    "without the gate ever running it",
    "re-export the bundle; gate a GGUF you serve through its endpoint, as its own artifact",
)

MODEL_GENERATION_CONFIG = Rule(
    "GATE015",
    "model-generation-config",
    Severity.WARNING,
    "the decoding settings a local side's `generation_config.json` (for a folder without "
    "one, its `config.json`'s generation settings) asks for that the gate did not apply (it "
    "generates both sides with its own `generation` settings; "
    "`settings.model_generation_config` lists them; it does stop at the file's "
    "`eos_token_id`); warns when the candidate's and the base's differ, or when the two "
    "sides stop at different tokens (config.json's and generation_config.json's "
    "`eos_token_id`, the tokenizer's eos token as transformers loads it, from "
    "tokenizer_config.json or special_tokens_map.json; the check's `stop_tokens`)",
    "transformers applies a model folder's generation_config.json (else config.json's "
    "generation settings) to every answer: a bias, penalty or temperature in the "
    "candidate's alone changes its answers in production, not the model the gate measured",
    "drop the settings the base lacks from the candidate's generation_config.json (or "
    "config.json), or evaluate them on purpose (the gate file's `generation`)",
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
    BASE_IDENTITY,
    EXPORTED_GGUF,
    MODEL_GENERATION_CONFIG,
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


# Every check compares values as the report prints them (rounded by ``rnd``), so 0.85 vs
# 0.9 is a drop of 0.05 (not 0.05000000000000004) and a value equal to a limit at report
# precision is on its passing side. NaN (no value) is past every limit: fail closed.


def above(value: float, limit: float) -> bool:
    """``value > limit`` at report precision; True when either is NaN."""
    return math.isnan(value) or math.isnan(limit) or rnd(value) > rnd(limit)


def below(value: float, limit: float) -> bool:
    """``value < limit`` at report precision; True when either is NaN."""
    return math.isnan(value) or math.isnan(limit) or rnd(value) < rnd(limit)


def absolute_verdict(value: float, th: Threshold) -> tuple[Verdict, str]:
    if th.min is not None and below(value, th.min):
        return Verdict.FAIL, f"{num(value)} < min {th.min}"
    if th.max is not None and above(value, th.max):
        return Verdict.FAIL, f"{num(value)} > max {th.max}"
    bounds = " and ".join(
        s
        for s in (
            f">= {th.min}" if th.min is not None else "",
            f"<= {th.max}" if th.max is not None else "",
        )
        if s
    )
    return Verdict.PASS, f"{num(value)} {bounds}".strip()


def drop_of(candidate: float, base: float, rule: Regression, *, higher_is_better: bool) -> float:
    """How much worse the candidate is (positive = worse), in points or relative to base
    (its size: a drop below a negative base, a log-likelihood's, divided by the base itself
    read as a gain)."""
    drop = base - candidate if higher_is_better else candidate - base
    if rule.relative:
        return drop / abs(base) if base else (0.0 if drop <= 0 else float("inf"))
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
    if rule.fail_drop is not None and above(drop, rule.fail_drop):
        if fail_only_if_significant and not significant:
            return Verdict.WARN, f"drop {num(drop)} {unit} > {rule.fail_drop} but not significant"
        return Verdict.FAIL, f"drop {num(drop)} {unit} > fail_drop {rule.fail_drop}{noise}"
    if above(drop, rule.warn_drop):
        return Verdict.WARN, f"drop {num(drop)} {unit} > warn_drop {rule.warn_drop}{noise}"
    change = "gain" if below(drop, 0.0) else "drop"
    return Verdict.PASS, f"{change} {num(abs(drop))} {unit} <= warn_drop {rule.warn_drop}{noise}"


@dataclass(frozen=True)
class Scope:
    """Where GATE001-004 look: a whole golden set, or one slice of it (``column=value``)."""

    golden_set: str
    items: int
    slice: str | None = None
    # A metric measured on fewer items here (refusal_rate on a slice with few harmful
    # items) is not checked in a slice; in a whole set, measured on none, it fails.
    min_items: int = 1

    def name(self, metric: str, kind: str) -> str:
        where = f"[{self.slice}]" if self.slice is not None else ""
        return f"{self.golden_set}.{metric}{where}.{kind}"

    def message(self, msg: str, items: int | None = None) -> str:
        """``msg``, in a slice with the items the metric was measured on (``items``; the
        slice's own count when it is every one: a refusal rate is measured on the slice's
        harmful items only, and the message gave the slice's size); in a whole set only
        when they are not all of it (false_refusal_rate on its 7 benign items of 10 said
        nothing of the 7)."""
        n = self.items if items is None else items
        if self.slice is None and n == self.items:
            return msg
        return f"{msg} on {n} item{'' if n == 1 else 's'}"


# The paired statistics GATE002/GATE004 read for a metric: candidate, base, delta,
# ci_low, ci_high, p_value and significant (see curagate.gate.stats).
PairedStats = Mapping[str, Any]


def not_measured(scope: Scope, metric: str, kind: str, why: str) -> Check:
    """GATE001/GATE002 failed: ``metric`` measured on no item of a whole set (``why``), so
    its ``kind`` ("threshold" or "regression") is not met; its value is not 0."""
    return Check(
        rule=THRESHOLD if kind == "threshold" else REGRESSION,
        name=scope.name(metric, kind),
        verdict=Verdict.FAIL,
        message=f"not measured: {metric} is {why} in this set; add such items to the set "
        f"or remove the {kind} on {metric}",
        golden_set=scope.golden_set,
        metric=metric,
    )


def threshold_check(
    scope: Scope,
    metric: str,
    th: Threshold,
    candidate: float,
    base: float | None = None,
    *,
    stats: dict[str, Any] | None = None,
    not_counted: str | None = None,
    items: int | None = None,
) -> Check:
    """GATE001 (a set) or GATE003 (a slice): the candidate's value against ``min``/``max``.

    ``not_counted`` gives the reason a result must not decide (an untrusted judge's
    metric): the check then warns whatever the value. ``items``: those the metric was
    measured on (default: the scope's).
    """
    verdict, msg = absolute_verdict(candidate, th)
    if not_counted is not None:
        verdict, msg = Verdict.WARN, f"not counted ({msg}): {not_counted}"
    return Check(
        rule=THRESHOLD if scope.slice is None else SLICE_THRESHOLD,
        name=scope.name(metric, "threshold"),
        verdict=verdict,
        message=scope.message(msg, items),
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
    stats: Callable[[str], PairedStats | None],
    higher_is_better: Callable[[str], bool],
    fail_only_if_significant: bool,
    measured_on: Callable[[str], tuple[int, str]],
) -> list[Check]:
    """GATE001/GATE003 (absolute thresholds) then GATE002/GATE004 (regression vs base).

    ``values(metric)`` is the (candidate, base) value on the scope's items; ``stats(metric)``
    their paired statistics; ``regressions`` maps each compared metric to its rule;
    ``measured_on(metric)`` the number of the scope's items it applies to and, for none,
    why. A metric measured on no item of a whole set fails its checks (a bar nothing
    measured is not met; its value is not 0); in a slice, on fewer than ``min_items``
    items, it is not checked.
    """
    whole = scope.slice is None
    checks: list[Check] = []

    def measurable(metric: str, kind: str) -> bool:
        n, why = measured_on(metric)
        if n >= scope.min_items:
            return True
        if whole:
            checks.append(not_measured(scope, metric, kind, why))
        return False

    for metric, th in thresholds.items():
        # `metric: {}` names a metric to compare (the regression default) and sets no
        # bound: a threshold check of it would pass having checked nothing.
        if th.min is None and th.max is None:
            continue
        if measurable(metric, "threshold"):
            cand, base = values(metric)
            checks.append(
                threshold_check(scope, metric, th, cand, base, items=measured_on(metric)[0])
            )
    for metric, rule in regressions.items():
        s = stats(metric) if measurable(metric, "regression") else None
        if s is None:
            continue
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
                message=scope.message(msg, measured_on(metric)[0]),
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


# The other checks: each rule's decision, from the numbers the runner gathers.


def contamination_not_checked(verdict: Verdict, reason: str) -> Check:
    """GATE005 when the training data could not be scanned (why, in ``reason``)."""
    return Check(rule=CONTAMINATION, name="contamination", verdict=verdict, message=reason)


def contamination_check(
    leaked: int, where: str, unreadable: int, policy: Contamination, short: int = 0
) -> Check:
    """GATE005: golden items found in the training data (``where``: per set), against policy;
    ``short``: items too short for the span criterion, found only whole (said)."""
    verdict: Verdict
    if leaked <= policy.max_leaked_items:
        verdict = Verdict.PASS
        msg = f"{leaked} golden items found in the training data (max {policy.max_leaked_items})"
    else:
        verdict = {"fail": Verdict.FAIL, "warn": Verdict.WARN, "ignore": Verdict.PASS}[
            policy.on_leak
        ]
        msg = (
            f"{leaked} golden items found in the training data ({where}; max "
            f"{policy.max_leaked_items}); scores on leaked items overstate the model: remove them "
            "from the training data (curagate leakage) and retrain"
        )
    if short:
        msg += (
            f"; {short} golden item(s) under {policy.min_span_words} words were looked for only "
            "as a whole prompt, "
            "user turn or record and by MinHash: inside a longer text they go unseen"
        )
    if unreadable:
        # Fail closed: rows that could not be parsed cannot be shown clean.
        verdict = Verdict.FAIL
        msg += (
            f"; {unreadable} training row(s) could not be read, so the data cannot be shown "
            "free of golden items: fix them (curagate leakage lists them) and rerun"
        )
    return Check(
        rule=CONTAMINATION,
        name="contamination",
        verdict=verdict,
        message=msg,
        candidate=float(leaked),
        threshold={"max_leaked_items": policy.max_leaked_items, "on_leak": policy.on_leak},
    )


def set_size_check(golden_set: str, size: int) -> Check | None:
    """GATE006: a warning for a set too small to resolve a few points (None: large enough)."""
    if size >= SMALL_SET_ITEMS:
        return None
    return Check(
        rule=SET_SIZE,
        name=f"{golden_set}.size",
        verdict=Verdict.WARN,
        message=f"{size} items < {SMALL_SET_ITEMS}: differences of a few points are noise; "
        "grow the set",
        golden_set=golden_set,
    )


def capability_not_run(reason: str) -> Check:
    """GATE007 when the lm-eval suite cannot run against these models."""
    return Check(rule=CAPABILITY, name="regression_suite", verdict=Verdict.WARN, message=reason)


def capability_check(
    golden_set: str,
    task: str,
    suite: RegressionSuite,
    candidate: float,
    base: float,
    stats: PairedStats,
    *,
    fail_only_if_significant: bool,
    higher_is_better: bool = True,
) -> Check:
    """GATE007: one lm-eval task's score against the base, in the metric's direction (the
    task's ``metric_list`` ``higher_is_better``; lm-eval's default: higher)."""
    verdict, msg = regression_verdict(
        candidate,
        base,
        suite.regression,
        higher_is_better=higher_is_better,
        significant=stats["significant"],
        fail_only_if_significant=fail_only_if_significant,
    )
    return Check(
        rule=CAPABILITY,
        name=f"regression_suite.{task}.{suite.metric}",
        verdict=verdict,
        message=msg,
        golden_set=golden_set,
        metric=suite.metric,
        candidate=candidate,
        base=base,
        delta=candidate - base,
        threshold=suite.regression.model_dump(),
        stats={k: stats[k] for k in ("ci_low", "ci_high", "p_value", "significant")},
    )


def judge_position_check(golden_set: str, disagreement: float, js: JudgeSettings) -> Check:
    """GATE008: how often the judge's verdict flips when the two answers swap places (or
    is unparsed in either order)."""
    consistent = not above(disagreement, js.max_position_disagreement)
    return Check(
        rule=JUDGE_POSITION,
        name=f"{golden_set}.judge.position",
        verdict=Verdict.PASS if consistent else Verdict.FAIL,
        message=(
            "the judge's verdict flips with the order of the answers (or is unparsed) on "
            f"{pct(disagreement)} of items (max {pct(js.max_position_disagreement)})"
            + (
                ""
                if consistent
                else "; a position-biased judge, or one that gives no verdict, must not "
                "decide: use a stronger judge or a better prompt (items.jsonl has its raw "
                "answers)"
            )
        ),
        golden_set=golden_set,
        metric="position_disagreement",
        candidate=disagreement,
        threshold={"max": js.max_position_disagreement},
    )


def judge_calibration_check(
    golden_set: str, calibration: Mapping[str, Any] | None, labels: int, js: JudgeSettings
) -> Check:
    """GATE009: the judge's agreement with the set's human labels (``calibration`` is
    curagate.gate.judge.calibrate's result over ``labels`` labels; None: the set has none)."""
    agreement: float | None = None
    verdict: Verdict
    if calibration is None:
        verdict = Verdict.WARN
        msg = (
            f"the judge is not calibrated: golden set {golden_set!r} locks no {HUMAN_LABELS}; "
            f"label {MIN_HUMAN_LABELS}-100 items with `curagate golden label {golden_set}` and "
            "re-lock the set"
        )
    else:
        agreement = calibration["agreement"]
        decisive = calibration["decisive_labels"]
        pairs = calibration["decisive_pairs"]
        if pairs < MIN_HUMAN_LABELS:
            verdict = Verdict.WARN
            msg = (
                f"only {pairs} distinct pairs labelled with a side ({decisive} such labels, "
                f"{labels} in all; need {MIN_HUMAN_LABELS} pairs): the judge is not "
                f"calibrated; label more items with `curagate golden label {golden_set}`"
            )
        elif agreement is not None and below(agreement, js.min_human_agreement):
            verdict = Verdict.FAIL
            msg = (
                f"the judge agrees with people on {pct(agreement)} of {pairs} distinct pairs "
                f"labelled with a side ({decisive} labels; each pair weighs once; kappa "
                f"{calibration['cohen_kappa']:.2f}) < min_human_agreement "
                f"{pct(js.min_human_agreement)}: its verdicts are not used; use a stronger judge "
                "or a better prompt, then recheck"
            )
        else:
            verdict = Verdict.PASS
            msg = (
                f"the judge agrees with people on {pct(agreement)} of {pairs} distinct pairs "
                f"labelled with a side ({decisive} labels; each pair weighs once; kappa "
                f"{calibration['cohen_kappa']:.2f}) >= {pct(js.min_human_agreement)}"
            )
    return Check(
        rule=JUDGE_CALIBRATION,
        name=f"{golden_set}.judge.calibration",
        verdict=verdict,
        message=msg,
        golden_set=golden_set,
        metric="human_agreement",
        candidate=agreement,
        threshold={"min": js.min_human_agreement, "min_labels": MIN_HUMAN_LABELS},
    )


def judge_length_bias_check(
    golden_set: str,
    bias: float | None,
    decisive: int,
    candidate_longer: float | None,
    js: JudgeSettings,
) -> Check:
    """GATE010: how often the longer answer wins a decisive verdict (``bias`` None: no
    decisive verdict between answers of different length, nothing to measure)."""
    biased = (
        bias is not None
        and decisive >= js.min_decisive_for_length_bias
        and above(bias, js.max_length_bias)
    )
    longer = (
        "none of the items (no answers of different length)"
        if candidate_longer is None
        else f"{pct(candidate_longer)} of items"
    )
    won = (
        "not measured: no decisive verdict between answers of different length"
        if bias is None
        else f"the longer answer won {pct(bias)} of {decisive} decisive verdicts"
    )
    return Check(
        rule=JUDGE_LENGTH_BIAS,
        name=f"{golden_set}.judge.length_bias",
        verdict=Verdict.WARN if biased else Verdict.PASS,
        message=f"{won} (the candidate's answer is the longer on {longer}; max "
        f"{pct(js.max_length_bias)})"
        + ("; check whether the judge rewards length, not quality" if biased else ""),
        golden_set=golden_set,
        metric="length_bias",
        candidate=bias,
        threshold={"max": js.max_length_bias, "min_decisive": js.min_decisive_for_length_bias},
    )


def refusal_detector_check(golden_set: str, differ: int, total: int) -> Check:
    """GATE011: responses on which the judge and the regex refusal detector disagree."""
    return Check(
        rule=REFUSAL_DETECTOR,
        name=f"{golden_set}.refusal_detector",
        verdict=Verdict.PASS if not differ else Verdict.WARN,
        message=f"the judge and the regex refusal detector differ on {differ} of {total} "
        "responses"
        + ("; read them in items.jsonl and widen the regex or fix the judge" if differ else ""),
        golden_set=golden_set,
        candidate=float(differ),
    )


def judge_independence_check(golden_set: str, shares_weights_with: list[str]) -> Check:
    """GATE012: whether the judge is made of the weights of a side it judges."""
    same = shares_weights_with
    return Check(
        rule=JUDGE_INDEPENDENCE,
        name=f"{golden_set}.judge.independence",
        verdict=Verdict.WARN if same else Verdict.PASS,
        message=(
            f"the judge shares weights with the {' and the '.join(same)}: it tends to prefer "
            "its own style (self-preference); use a judge from another model family"
            if same
            else "the judge's weights are not the candidate's or the base's (as far as their "
            "digests show)"
        ),
        golden_set=golden_set,
    )


def base_identity_check(verdict: Verdict, message: str) -> Check:
    """GATE013: whether the base compared with is the one the candidate was trained from."""
    return Check(rule=BASE_IDENTITY, name="base.identity", verdict=verdict, message=message)


def exported_gguf_check(verdict: Verdict, message: str, stats: dict[str, Any]) -> Check:
    """GATE014: whether a bundle's GGUF is the model the gate evaluated."""
    return Check(
        rule=EXPORTED_GGUF, name="bundle.gguf", verdict=verdict, message=message, stats=stats
    )


def _asked(settings: Mapping[str, Any]) -> str:
    """``key value, ...``, each value as JSON of at most 60 characters."""
    shown = []
    for key, value in sorted(settings.items()):
        text = json.dumps(value)
        shown.append(f"{key} {text if len(text) <= 60 else text[:57] + '...'}")
    return ", ".join(shown)


def model_generation_config_check(
    ignored: Mapping[str, Mapping[str, Any] | None],
    stops: Mapping[str, Sequence[int]] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Check:
    """GATE015: what each local side's generation settings ask for that the gate did not do
    (``ignored``: side -> settings, {} for a folder asking nothing; endpoints left out;
    ``sources``: side -> the file they are read from, generation_config.json unless said,
    config.json for a folder without one); warns when the sides' differ, or when one side
    is an endpoint and the other's file asks for something; and when the two local sides
    stop at different tokens (``stops``: side -> the token ids the gate stopped its answers
    at, as transformers loads the files naming them: a candidate's config.json stopping at a
    common token cut its answers short, found by re-attack)."""
    asking = {side: dict(v) for side, v in ignored.items() if v}
    sources = sources or {}
    # With one local side, the endpoint's server may or may not decode alike.
    both = len(ignored) == 2
    differ = ignored.get("candidate") != ignored.get("base") if both else bool(asking)
    stops = stops or {}
    stops_differ = len(stops) == 2 and sorted(stops["candidate"]) != sorted(stops["base"])
    if not asking:
        message = (
            "no local side's generation_config.json (or config.json, for a folder without "
            "one) asks for decoding settings the gate did not apply"
        )
    else:
        parts = [
            f"the {side}'s {sources.get(side, 'generation_config.json')} asks for {_asked(v)}"
            for side, v in sorted(asking.items())
        ]
        message = (
            f"{'; '.join(parts)}: the gate generated both sides with its own settings (but "
            "for a file's stop tokens, eos_token_id, which it stops at); "
            + (
                "the sides' files differ, so wherever they are applied (transformers, a server "
                "reading them) the two models decode differently, as the gate measured neither"
                if differ
                else "both sides ask for the same, and answers decoded that way were not evaluated"
            )
        )
    if stops_differ:
        message += (
            f"; the sides stop their answers at different tokens (candidate "
            f"{sorted(stops['candidate'])}, base {sorted(stops['base'])}: config.json's and "
            "generation_config.json's eos_token_id and the tokenizer's eos token, as "
            "transformers loads them), so an answer may end earlier or later on one side for "
            "that reason alone"
        )
    return Check(
        rule=MODEL_GENERATION_CONFIG,
        name="models.generation_config",
        verdict=Verdict.WARN if differ or stops_differ else Verdict.PASS,
        message=message,
        stats={
            "ignored": {side: ignored[side] for side in sorted(ignored)},
            "stop_tokens": {side: sorted(stops[side]) for side in sorted(stops)},
            "sources": {side: sources[side] for side in sorted(sources)},
        },
    )
