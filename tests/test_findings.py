"""One finding shape: severities order, verdicts follow them, and each stage keeps its JSON keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.audit.rules import RULES as AUDIT_RULES
from curagate.audit.rules import AuditFinding
from curagate.cli import main
from curagate.findings import Rule, Severity, Verdict, exit_code, overall, rule_table
from curagate.gate.checks import (
    RULES as GATE_RULES,
)
from curagate.gate.checks import Check, Scope, metric_checks
from curagate.gate.config import Regression, Threshold
from curagate.train.health import RULES as HEALTH_RULES
from curagate.train.health import HealthFinding


def _check(verdict: str) -> Check:
    return Check(rule=GATE_RULES["GATE006"], name="s.size", verdict=Verdict(verdict), message="m")


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], "pass"),
        (["pass", "pass"], "pass"),
        (["pass", "warn"], "warn"),
        (["warn", "fail", "pass"], "fail"),
    ],
)
def test_overall_is_the_worst_verdict(verdicts: list[str], expected: str) -> None:
    assert overall([_check(v) for v in verdicts]) == expected


def test_findings_of_every_stage_share_one_verdict() -> None:
    """An audit error, a training error and a failed gate check all fail a run; warnings warn."""
    audit = AuditFinding(
        rule=AUDIT_RULES["PII003"],
        severity=Severity.ERROR,
        message="m",
        count=1,
        share=0.5,
        rows=["a.jsonl:1"],
        rows_truncated=False,
    )
    health = HealthFinding(rule=HEALTH_RULES["TH002"], step=3, message="spike")
    assert overall([health]) == "warn"
    assert overall([health, audit]) == "fail"
    assert overall([health, _check("fail")]) == "fail"
    assert _check("pass").severity is Severity.INFO


def test_rule_ids_are_unique() -> None:
    r = Rule("X001", "x", Severity.INFO, "what", "why", "fix")
    with pytest.raises(ValueError, match="X001 is declared twice"):
        rule_table(r, r)
    assert not set(AUDIT_RULES) & set(GATE_RULES) and not set(GATE_RULES) & set(HEALTH_RULES)


def test_json_keys_stay_those_reports_have_always_had() -> None:
    assert list(_check("warn").to_dict()) == [
        "id",
        "rule",
        "name",
        "verdict",
        "message",
        "golden_set",
        "metric",
        "slice",
        "candidate",
        "base",
        "delta",
        "threshold",
        "stats",
    ]
    assert _check("warn").to_dict()["rule"] == "golden-set-size"
    health = HealthFinding(rule=HEALTH_RULES["TH001"], step=7, message="nan").to_dict()
    assert health == {
        "id": "TH001",
        "check": "non_finite",
        "severity": "error",
        "step": 7,
        "message": "nan",
    }
    audit = AuditFinding(
        rule=AUDIT_RULES["DUP001"],
        severity=Severity.WARNING,
        message="m",
        count=2,
        share=1 / 3,
        rows=["a:1", "a:2"],
        rows_truncated=False,
    ).to_dict()
    assert list(audit) == [
        "rule",
        "name",
        "severity",
        "message",
        "fix",
        "count",
        "share",
        "rows",
        "rows_truncated",
    ]
    assert (audit["name"], audit["share"]) == ("exact-duplicate", 0.333333)


def _metric_checks(scope: Scope, higher_is_better: bool) -> list[Check]:
    stats = {
        "candidate": 0.70,
        "base": 0.80,
        "delta": -0.10,
        "ci_low": -0.2,
        "ci_high": 0.0,
        "p_value": 0.01,
        "significant": True,
    }
    return metric_checks(
        scope,
        {"accuracy": Threshold(min=0.75)},
        {"accuracy": Regression()},
        values=lambda m: (0.70, 0.80),
        stats=lambda m: stats,
        higher_is_better=lambda m: higher_is_better,
        fail_only_if_significant=False,
        measured_on=lambda m: (scope.items, ""),  # accuracy: on every item
    )


def test_gate001_to_004_are_one_check_over_a_set_or_a_slice() -> None:
    whole = _metric_checks(Scope("qa", 40), higher_is_better=True)
    part = _metric_checks(Scope("qa", 12, "length=long"), higher_is_better=True)
    assert [(c.id, c.name, c.verdict) for c in whole] == [
        ("GATE001", "qa.accuracy.threshold", "fail"),
        ("GATE002", "qa.accuracy.regression", "fail"),
    ]
    assert [(c.id, c.name, c.slice) for c in part] == [
        ("GATE003", "qa.accuracy[length=long].threshold", "length=long"),
        ("GATE004", "qa.accuracy[length=long].regression", "length=long"),
    ]
    assert [c.message for c in part] == [f"{c.message} on 12 items" for c in whole]
    assert whole[0].message == "0.7000 < min 0.75"
    assert whole[1].message == "drop 0.1000 points > fail_drop 0.05"


def test_lower_is_better_turns_a_fall_into_a_gain() -> None:
    _, reg = _metric_checks(Scope("qa", 40), higher_is_better=False)
    assert (reg.verdict, reg.message) == ("pass", "gain 0.1000 points <= warn_drop 0.02")


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("planted", "levels", "audit_rc", "check_rc"),
    [
        # An empty completion (FMT005, an error) fails both.
        ({"prompt": "p 3", "completion": ""}, "", 1, 1),
        # A rare duplicate (DUP001, a warning) passes the audit; check fails on any finding.
        ({"prompt": "p 3", "completion": "cccc"}, "", 0, 1),
        # Re-levelled to an error by the config, the duplicate fails both.
        ({"prompt": "p 3", "completion": "cccc"}, "  DUP001: {severity: error}\n", 1, 1),
    ],
)
def test_check_and_audit_agree_on_what_an_error_means(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    planted: dict[str, str],
    levels: str,
    audit_rc: int,
    check_rc: int,
) -> None:
    # 40 clean rows: one duplicate stays under DUP001's error_above share (5%).
    rows = [{"prompt": f"p {i}", "completion": "c" * (i + 1)} for i in range(40)]
    data = _write(tmp_path / "train.jsonl", [*rows, planted])
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(f"rules:\n{levels}" if levels else "{}\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(["audit", str(data), "--out", str(out), "--config", str(cfg)]) == audit_rc
    report = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert report["summary"]["passed"] is (audit_rc == 0)
    capsys.readouterr()
    rc = main(["check", str(data), "--no-golden", "--config", str(cfg), "--format", "json"])
    assert rc == check_rc
    checked = json.loads(capsys.readouterr().out)["findings"]
    audited = {f["rule"]: f["severity"] for f in report["findings"]}
    # Every rule check reports, the audit reports at the same level.
    assert checked and all(audited[f["rule"]] == f["level"] for f in checked)


def test_one_exit_rule_for_every_stage() -> None:
    """Gate checks, audit and check findings go through `findings.exit_code`; only the
    threshold differs (the gate's --strict fails on warnings, check on anything)."""
    warn, fail = _check("warn"), _check("fail")
    assert (exit_code([warn]), exit_code([warn], fail_on=Severity.WARNING)) == (0, 1)
    assert exit_code([warn, fail]) == 1 and exit_code([]) == 0
    info = HealthFinding(rule=HEALTH_RULES["TH002"], step=1, message="m")
    info.severity = Severity.INFO
    assert (
        exit_code([info], fail_on=Severity.WARNING),
        exit_code([info], fail_on=Severity.INFO),
    ) == (0, 1)
