from __future__ import annotations

import pytest

from curagate.errors import ConfigError
from curagate.gate.config import parse_gate
from curagate.gate.stats import mcnemar, paired_bootstrap


def _mean_pair(cand: list[float], base: list[float]):
    def metric(idx):
        idx = list(idx)
        return sum(cand[i] for i in idx) / len(idx), sum(base[i] for i in idx) / len(idx)

    return metric


def test_bootstrap_is_seeded() -> None:
    cand = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0] * 10
    base = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0] * 10
    a = paired_bootstrap(_mean_pair(cand, base), 60, resamples=200, seed=7)
    b = paired_bootstrap(_mean_pair(cand, base), 60, resamples=200, seed=7)
    assert a == b


def test_identical_models_give_a_zero_width_interval_within_noise() -> None:
    vals = [1.0, 0.0, 1.0] * 20
    ci = paired_bootstrap(_mean_pair(vals, vals), 60, resamples=200)
    assert (ci.delta, ci.low, ci.high) == (0.0, 0.0, 0.0)
    assert not ci.significant


def test_clear_improvement_is_significant() -> None:
    cand = [1.0] * 90 + [0.0] * 10
    base = [0.0] * 60 + [1.0] * 30 + [0.0] * 10
    ci = paired_bootstrap(_mean_pair(cand, base), 100, resamples=500)
    assert ci.delta == pytest.approx(0.6)
    assert ci.low > 0.4 and ci.significant


def test_no_resamples_is_never_significant() -> None:
    cand, base = [1.0] * 39 + [0.0], [1.0] * 40
    ci = paired_bootstrap(_mean_pair(cand, base), 40, resamples=0)
    assert ci.low == ci.high == ci.delta == pytest.approx(-0.025)
    assert (ci.p_value, ci.significant) == (1.0, False)


@pytest.mark.parametrize("resamples", [0, 1, 99])
def test_a_gate_needs_100_bootstrap_resamples(resamples: int) -> None:
    text = f"name: g\nstatistics:\n  bootstrap_resamples: {resamples}\n"
    text += "golden_sets:\n  - {name: s, task: generation}\n"
    with pytest.raises(ConfigError, match=r"g\.yaml:3: key 'statistics\.bootstrap_resamples'.*100"):
        parse_gate(text, "g.yaml")
    assert parse_gate(text.replace(f": {resamples}", ": 100"), "g.yaml")


def test_mcnemar_exact_matches_binomial() -> None:
    # 1 vs 6 discordant pairs: p = 2 * P(X <= 1), X ~ Bin(7, .5) = 2 * 8/128
    cand = [True] * 6 + [False] + [True] * 10
    base = [False] * 6 + [True] + [True] * 10
    r = mcnemar(cand, base)
    assert (r.base_only, r.candidate_only, r.method) == (1, 6, "exact")
    assert r.p_value == pytest.approx(16 / 128)
    from scipy.stats import binomtest

    assert r.p_value == pytest.approx(binomtest(1, 7, 0.5).pvalue)  # the same, from scipy


def test_mcnemar_chi2_with_continuity_correction() -> None:
    cand = [True] * 40 + [False] * 10
    base = [False] * 40 + [True] * 10
    r = mcnemar(cand, base)
    assert r.method == "chi2"
    assert r.statistic == pytest.approx((30 - 1) ** 2 / 50)
    # The reference is scipy's chi-squared survival function with 1 degree of freedom, on
    # the hand-computed statistic (was erfc(sqrt(stat / 2)): the code's own formula, fed
    # the code's own statistic).
    from scipy.stats import chi2

    assert r.p_value == pytest.approx(chi2.sf(29**2 / 50, df=1), rel=1e-9)
    assert r.p_value == pytest.approx(4.1098e-05, rel=1e-4)  # 16.82 on 1 df


def test_mcnemar_without_discordant_pairs_is_not_significant() -> None:
    assert mcnemar([True, False], [True, False]).p_value == 1.0
