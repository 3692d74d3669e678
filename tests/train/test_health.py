from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.train.config import HealthSettings
from curagate.train.health import HealthMonitor, TrainingDiverged


def _monitor(tmp_path: Path) -> HealthMonitor:
    return HealthMonitor(HealthSettings(), tmp_path / "metrics.jsonl")


def test_nan_loss_stops_with_a_clear_message(tmp_path: Path) -> None:
    m = _monitor(tmp_path)
    m.observe(1, 0.1, {"loss": 2.0, "grad_norm": 1.0})
    with pytest.raises(TrainingDiverged, match="diverged at step 2"):
        m.observe(2, 0.2, {"loss": float("nan"), "grad_norm": float("nan")})
    assert [f.id for f in m.findings] == ["TH001"]


def test_non_finite_values_are_written_as_strings(tmp_path: Path) -> None:
    m = _monitor(tmp_path)
    with pytest.raises(TrainingDiverged):
        m.observe(1, 0.1, {"loss": float("inf")})
    row = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert row["loss"] == "inf"


def test_loss_spike_is_reported(tmp_path: Path) -> None:
    m = _monitor(tmp_path)
    for step, loss in enumerate([2.0, 1.9, 1.8, 1.7, 9.0], start=1):
        m.observe(step, None, {"loss": loss})
    assert [(f.id, f.step) for f in m.findings] == [("TH002", 5)]


@pytest.mark.parametrize(("last", "found"), [(5.5, []), (5.6, [("TH002", 5)])])
def test_a_loss_spike_is_above_three_times_the_recent_median(
    tmp_path: Path, last: float, found: list[tuple[str, int]]
) -> None:
    # The documented default (docs/train.md: loss_spike_factor 3.0), worked by hand: the
    # median of 2.0, 1.9, 1.8, 1.7 is 1.85, so 5.55 is the line; 9.0 alone would pass
    # with any factor from 1.1 to 4.8.
    m = _monitor(tmp_path)
    for step, loss in enumerate([2.0, 1.9, 1.8, 1.7, last], start=1):
        m.observe(step, None, {"loss": loss})
    assert [(f.id, f.step) for f in m.findings] == found


@pytest.mark.parametrize(("last", "found"), [(9.9, []), (10.1, ["TH003"])])
def test_a_gradient_explosion_is_above_ten_times_the_recent_median(
    tmp_path: Path, last: float, found: list[str]
) -> None:
    # grad_norm_factor 10.0 (docs/train.md) over the median 1.0 of 1.0, 1.1, 0.9, 1.0.
    m = _monitor(tmp_path)
    for step, gn in enumerate([1.0, 1.1, 0.9, 1.0, last], start=1):
        m.observe(step, None, {"loss": 1.0, "grad_norm": gn})
    assert [f.id for f in m.findings] == found


def test_exploding_gradient_norm_is_reported(tmp_path: Path) -> None:
    m = _monitor(tmp_path)
    for step, gn in enumerate([1.0, 1.1, 0.9, 1.0, 50.0], start=1):
        m.observe(step, None, {"loss": 1.0, "grad_norm": gn})
    assert [f.id for f in m.findings] == ["TH003"]


def test_rising_validation_loss_with_falling_training_loss_is_overfitting(tmp_path: Path) -> None:
    m = _monitor(tmp_path)
    train = iter([2.0, 1.8, 1.6, 1.4, 1.2, 1.0])
    for step, val in [(1, 1.5), (2, 1.6), (3, 1.7)]:
        m.observe(step, None, {"loss": next(train)})
        m.observe(step, None, {"loss": next(train)})
        m.observe(step, None, {"eval_loss": val})
    assert [f.id for f in m.findings] == ["TH004"]


def test_overfitting_counts_the_step_0_baseline_evaluation(tmp_path: Path) -> None:
    # Found by attack: validation loss rose from the step-0 baseline (no training loss yet)
    # at two evaluations in a row while the training loss fell: no finding, since every
    # window holding the baseline needed a training loss at each of its evaluations.
    m = _monitor(tmp_path)
    m.observe(0, None, {"eval_loss": 5.65})
    for step, loss, val in [(4, 5.9, 5.7), (8, 5.5, 5.86)]:
        m.observe(step, None, {"loss": loss})
        m.observe(step, None, {"eval_loss": val})
    assert [(f.id, f.step) for f in m.findings] == [("TH004", 8)]
    # one evaluation after the baseline says nothing of a trend in the training loss
    one = HealthMonitor(HealthSettings(overfit_evals=1), tmp_path / "one.jsonl")
    one.observe(0, None, {"eval_loss": 5.65})
    one.observe(4, None, {"loss": 5.9})
    one.observe(4, None, {"eval_loss": 5.7})
    assert one.findings == []


def test_falling_validation_loss_is_healthy(tmp_path: Path) -> None:
    m = _monitor(tmp_path)
    for step, (loss, val) in enumerate([(2.0, 1.9), (1.8, 1.7), (1.6, 1.5)], start=1):
        m.observe(step, None, {"loss": loss})
        m.observe(step, None, {"eval_loss": val})
    assert m.findings == []
