"""Progress of the lm-eval regression suite: curagate's bars (side, request type, total) on
stderr when a person watches, none with --quiet, lm-eval's own bars never, and the
machine outputs (gate_report.json, the summary on stdout) free of any bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_support import GATE, SUITE, make_run_dir, write_mini_suite

from curagate import progress
from curagate.cli import main

pytestmark = pytest.mark.slow  # torch + lm-eval imports and two tiny-model suite runs

BAR_MARKS = ("lm-eval", "req/s", "s/req", "Running loglikelihood", "|")


@pytest.fixture
def gate_args(tmp_path: Path, golden_dir: Path, tiny_model_dir: Path) -> list[str]:
    rows = [
        {"question": f"Review {i}: great product", "choices": ["Positive", "Negative"], "label": 0}
        for i in range(12)
    ]
    write_mini_suite(golden_dir, rows)
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"prompt": "Review: fine", "completion": "Positive"}) + "\n")
    run = make_run_dir(tmp_path / "run", tiny_model_dir, zero_adapter=True, train_files=[train])
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE.format(golden=golden_dir, suite=SUITE))
    return ["gate", str(gate), "--candidate", str(run), "--base", str(tiny_model_dir)]


def test_lm_eval_bars_count_requests_with_totals_and_stay_out_of_machine_outputs(
    gate_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("CURAGATE_PROGRESS", "always")
    out = tmp_path / "out"
    code = main([*gate_args, "--out", str(out), "--no-cache", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # 12 two-choice questions: 24 log-likelihood requests per side, counted to the end.
    for side in ("candidate", "base"):
        assert f"lm-eval {side} loglikelihood" in captured.err
    assert captured.err.count("24/24") >= 2
    assert "Running loglikelihood requests" not in captured.err  # lm-eval's own bar: off
    report = (out / "gate_report.json").read_text()
    assert json.loads(report)["regression_suite"]["tasks"]["tiny_mc"]["items"] == 12
    for mark in BAR_MARKS[:4]:
        assert mark not in report and mark not in captured.out
    assert "\r" not in report and "\r" not in captured.out

    try:
        quiet = main([*gate_args, "--out", str(tmp_path / "q"), "--no-cache", "--quiet"])
    finally:
        progress.set_quiet(False)
    captured = capsys.readouterr()
    assert quiet == 0, captured.err
    assert "lm-eval candidate" not in captured.err and "Running loglikelihood" not in captured.err
