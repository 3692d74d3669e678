"""Gate check decisions at their limits: values compare as the report prints them."""

from __future__ import annotations

import pytest

from curagate.findings import Verdict
from curagate.gate import checks
from curagate.gate.checks import (
    Scope,
    judge_calibration_check,
    judge_position_check,
    metric_checks,
)
from curagate.gate.config import JudgeSettings, Regression, Threshold

ROUGE_3_OF_4 = 2 * (3 / 5) * 1.0 / (3 / 5 + 1.0)  # 0.7499999999999999, printed 0.75


def _checks(cand: float, base: float, th: Threshold, rule: Regression, slice_: str | None = None):
    stats = {"candidate": cand, "base": base, "delta": cand - base, "ci_low": -1.0}
    stats |= {"ci_high": 1.0, "p_value": 1.0, "significant": False}
    return metric_checks(
        Scope("s", 20, slice_),
        {"m": th},
        {"m": rule},
        values=lambda m: (cand, base),
        stats=lambda m: stats,
        higher_is_better=lambda m: True,
        fail_only_if_significant=False,
        measured_on=lambda m: (20, ""),
    )


@pytest.mark.parametrize("slice_", [None, "length=long"])
def test_a_value_equal_to_a_limit_at_report_precision_passes(slice_: str | None) -> None:
    def verdicts(cand: float, base: float, th: Threshold, rule: Regression) -> list[Verdict]:
        return [c.verdict for c in _checks(cand, base, th, rule, slice_)]

    # ROUGE-L 3/4 (0.7499999999999999) is not under min 0.75.
    th, _ = _checks(ROUGE_3_OF_4, 0.8, Threshold(min=0.75), Regression(), slice_)
    assert (th.verdict, th.message.split(" on ")[0]) == (Verdict.PASS, "0.7500 >= 0.75")
    # 17/20 vs 18/20: a drop of 0.05 (0.05000000000000004 in floats) is not over 0.05.
    # (a Threshold() without a bound writes no threshold check: the regression is all)
    [reg] = _checks(17 / 20, 18 / 20, Threshold(), Regression(warn_drop=0.05), slice_)
    assert reg.verdict == Verdict.PASS
    assert reg.message.startswith("drop 0.0500 points <= warn_drop 0.05 (within noise)")
    assert verdicts(17 / 20, 18 / 20, Threshold(), Regression()) == [Verdict.WARN]
    relative = Regression(warn_drop=0.05, fail_drop=0.05, relative=True)
    assert verdicts(0.855, 0.9, Threshold(), relative) == [Verdict.PASS]  # 0.045 / 0.9
    # 0.3 - 0.1 is 0.19999999999999998: not over max 0.2.
    assert verdicts(0.3 - 0.1, 0.2, Threshold(max=0.2), Regression())[0] == Verdict.PASS


def test_a_value_past_a_limit_by_less_than_4_decimals_fails_and_says_so() -> None:
    th, reg = _checks(0.74996, 0.80, Threshold(min=0.75), Regression(fail_drop=0.05))
    assert (th.verdict, th.message) == (Verdict.FAIL, "0.74996 < min 0.75")
    assert (reg.verdict, reg.message) == (
        Verdict.FAIL,
        "drop 0.05004 points > fail_drop 0.05 (within noise)",
    )


def test_a_nan_value_fails_closed() -> None:
    th, reg = _checks(float("nan"), 0.8, Threshold(min=0.5), Regression())
    assert (th.verdict, reg.verdict) == (Verdict.FAIL, Verdict.FAIL)


def test_judge_limits_compare_at_report_precision() -> None:
    js = JudgeSettings(model="m", max_position_disagreement=0.3, max_length_bias=0.7)
    assert checks.judge_position_check("s", 0.1 + 0.2, js).verdict == Verdict.PASS
    assert checks.judge_position_check("s", 0.300001, js).verdict == Verdict.FAIL
    assert checks.judge_length_bias_check("s", 0.1 * 7, 20, 0.5, js).verdict == Verdict.PASS
    calibration = {
        "agreement": 0.1 * 7,
        "decisive_labels": 50,
        "decisive_pairs": 50,
        "cohen_kappa": 0.5,
    }
    js = JudgeSettings(model="m", min_human_agreement=0.7)
    assert checks.judge_calibration_check("s", calibration, 50, js).verdict == Verdict.PASS


@pytest.mark.parametrize("kind", ["threshold", "regression"])
def test_a_metric_measured_on_no_item_fails_a_set_and_is_skipped_in_a_slice(kind: str) -> None:
    # refusal_rate on a set with no harmful item was reported as 0.0 and decided checks.
    def run(scope: Scope) -> list:
        return metric_checks(
            scope,
            {"m": Threshold(max=0.5)} if kind == "threshold" else {},
            {"m": Regression()} if kind == "regression" else {},
            values=lambda m: pytest.fail("no value is read for an unmeasured metric"),
            stats=lambda m: pytest.fail("no statistics are read for an unmeasured metric"),
            higher_is_better=lambda m: False,
            fail_only_if_significant=False,
            measured_on=lambda m: (0, "measured on items with should_refuse: true; there are none"),
        )

    (only,) = run(Scope("s", 20))
    assert only.verdict is Verdict.FAIL and only.candidate is None
    assert only.message.startswith("not measured: m is measured on items with should_refuse: true")
    assert run(Scope("s", 12, "topic=benign", 10)) == []


def test_a_slice_check_names_the_items_its_metric_was_measured_on() -> None:
    # refusal_rate in a slice of 4 items, 1 of them harmful: the messages said "on 4 items"
    # while the report's slice table said the rate was measured on 1.
    checks_ = metric_checks(
        Scope("s", 4, "cat=x"),
        {"refusal_rate": Threshold(min=0.5)},
        {"refusal_rate": Regression()},
        values=lambda m: (0.0, 1.0),
        stats=lambda m: (
            {"candidate": 0.0, "base": 1.0, "delta": -1.0, "ci_low": -1.0}
            | {"ci_high": 0.0, "p_value": 1.0, "significant": False}
        ),
        higher_is_better=lambda m: True,
        fail_only_if_significant=False,
        measured_on=lambda m: (1, ""),
    )
    assert [c.message.rsplit(" on ", 1)[1] for c in checks_] == ["1 item", "1 item"]
    th, _ = _checks(0.9, 0.9, Threshold(min=0.5), Regression(), "length=long")
    assert th.message.endswith(" on 20 items")


def test_reports_print_a_failing_value_as_the_check_compared_it() -> None:
    # 0.74996 fails min 0.75; the tables printed it as 0.7500 (and charts as 0.750).
    from curagate.gate.metrics import num, pct
    from curagate.gate.report import _fmt, _signed
    from curagate.reports.charts import _value

    assert _fmt(0.74996) == num(0.74996) == "0.74996"
    assert _value(0.74996) == "0.74996"
    assert _signed(-0.00004) == "-0.00004"
    assert _signed(0.25) == "+0.2500"
    # The judge's shares: 79.996% is under a bar of 80%, and a bar of 10.5% is not 10%.
    assert pct(0.79996) == "79.996%"
    assert pct(0.105) == "10.5%"
    assert pct(0.8) == "80.0%"


def test_judge_messages_do_not_contradict_their_verdict() -> None:
    js = JudgeSettings(model="m", max_position_disagreement=0.105, min_human_agreement=0.8)
    c = judge_position_check("s", 0.1051, js)
    assert c.verdict is Verdict.FAIL and "10.51% of items (max 10.5%)" in c.message
    cal = {"agreement": 0.79996, "decisive_labels": 50, "decisive_pairs": 50, "cohen_kappa": 0.5}
    c = judge_calibration_check("s", cal, 50, js)
    assert c.verdict is Verdict.FAIL and "79.996%" in c.message and "80.0%" in c.message


def test_report_tables_print_the_leaked_item_count_as_a_count() -> None:
    # Found by attack: report.md's checks table printed GATE005's count as "2.0000".
    from curagate.gate.checks import contamination_check
    from curagate.gate.config import Contamination
    from curagate.gate.report import _check_value, check_rows

    check = contamination_check(2, "s: 2", 0, Contamination()).to_dict()
    assert check["candidate"] == 2.0  # report.json keeps the number as it was
    assert [row["candidate"] for row in check_rows({"checks": [check]})] == ["2"]
    assert _check_value(check) == "2"  # report.md's checks table


def test_a_relative_drop_below_a_negative_base_is_a_drop() -> None:
    # A suite's mean log-likelihood is negative: the drop was divided by the base itself,
    # so -7.14 against -6.10 read "gain 0.1712 of base" (pass, exit 0) and a gain failed.
    from curagate.gate.checks import regression_verdict

    rule = Regression(warn_drop=0.02, fail_drop=0.05, relative=True)
    kw = {"higher_is_better": True, "significant": True, "fail_only_if_significant": False}
    verdict, message = regression_verdict(-7.140207, -6.096624, rule, **kw)
    assert (verdict, message.split(" > ")[0]) == (Verdict.FAIL, "drop 0.171174 of base")
    verdict, message = regression_verdict(-6.096624, -7.140207, rule, **kw)
    assert (verdict, message.split(" <= ")[0]) == (Verdict.PASS, "gain 0.146156 of base")
