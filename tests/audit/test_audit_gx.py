"""`--gx`: the column-level rules as a Great Expectations suite, validated by GX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_support import write_records

from curagate.audit import AuditConfig, audit

pytest.importorskip("great_expectations")
pytestmark = pytest.mark.slow

SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def gx_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("gx")
    recs: list[dict[str, Any]] = [
        {
            "prompt": f"please answer question number {i:03d} now",
            "completion": "c" * (i + 2),
            "label": "a",
        }
        for i in range(20)
    ]
    recs += [recs[3], {"prompt": f"my key is {SECRET} ok", "completion": "ok", "label": None}]
    data = write_records(tmp / "train.jsonl", recs)
    audit([data], config=AuditConfig(labels={"field": "label"}), out=tmp / "out", gx=True)  # type: ignore[arg-type]
    return tmp / "out" / "gx"


def load(p: Path) -> dict[str, Any]:
    return json.loads(p.read_text(encoding="utf-8"))


def test_suite_tags_each_expectation_with_its_rule(gx_out: Path) -> None:
    suite = load(gx_out / "expectation_suite.json")
    rules = {e["meta"]["rule"] for e in suite["expectations"]}
    assert {"FMT002", "DUP001", "SEC001", "PII001", "LBL002"} <= rules


def test_suite_carries_curagate_severities(gx_out: Path) -> None:
    suite = load(gx_out / "expectation_suite.json")
    by_rule = {e["meta"]["rule"]: e["severity"] for e in suite["expectations"]}
    assert by_rule["SEC001"] == "critical" and by_rule["DUP001"] == "warning"


def test_gx_result_fails_the_broken_rules_with_row_refs(
    gx_out: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    res = load(gx_out / "validation_result.json")
    assert res["success"] is False
    failed = {
        r["expectation_config"]["meta"]["rule"]: r for r in res["results"] if not r["success"]
    }
    assert set(failed) == {"DUP001", "SEC001", "LBL002"}
    refs = [x["ref"] for x in failed["SEC001"]["result"]["partial_unexpected_index_list"]]
    assert len(refs) == 1 and refs[0].endswith("train.jsonl:22")


def test_gx_artifacts_never_contain_the_secret(gx_out: Path) -> None:
    artifacts = sorted(gx_out.iterdir())
    # Not vacuous: the loop below must see at least the suite and the results.
    assert {"expectation_suite.json", "validation_result.json"} <= {p.name for p in artifacts}
    for p in artifacts:
        assert SECRET not in p.read_text(encoding="utf-8")


def test_severities_and_counts_follow_the_config(tmp_path: Path) -> None:
    # Every PII/SEC expectation was "critical" (PII001 is a warning), meta.severity the
    # default whatever the config said, FMT004 switched off still counted in
    # format_violations, and FMT002 off dropped FMT003-FMT007's expectation.
    recs = [
        {"messages": [{"role": "user", "content": "a@acme-corp.com"}, {"role": "assistant", "content": "x"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "y"}, {"role": "user", "content": "z"}]},
    ]  # fmt: skip
    data = write_records(tmp_path / "g.jsonl", recs)
    rules = {"FMT004": {"severity": "off"}, "FMT002": {"severity": "off"}}
    cfg = AuditConfig.model_validate({"rules": {**rules, "PII004": {"severity": "error"}}})
    audit([data], config=cfg, out=tmp_path / "out", gx=True)
    res = load(tmp_path / "out" / "gx" / "validation_result.json")
    by_rule = {r["expectation_config"]["meta"]["rule"]: r for r in res["results"]}
    assert by_rule["PII001"]["expectation_config"]["severity"] == "warning"
    assert by_rule["PII004"]["expectation_config"]["meta"]["severity"] == "error"
    assert by_rule["PII004"]["expectation_config"]["severity"] == "critical"
    fmt = by_rule["FMT003"]
    assert "FMT004" not in fmt["expectation_config"]["meta"]["covers"]
    assert fmt["success"] is True  # the one violation is FMT004's, switched off


def test_a_record_the_chat_template_rejects_fails_the_format_expectation(tmp_path: Path) -> None:
    # Its FMT003 failed the audit while format_violations said 0 (the expectation passed).
    from test_audit_tokens import NO_SYSTEM, conv, conv_with_system, make_tokenizer

    tok = make_tokenizer(tmp_path / "tok", NO_SYSTEM)
    recs = [conv(2), conv_with_system(2)]
    data = write_records(tmp_path / "c.jsonl", recs)
    cfg = AuditConfig.model_validate({"tokens": {"tokenizer": str(tok), "max_seq_len": 16}})
    report = audit([data], config=cfg, out=tmp_path / "out", gx=True)
    assert "FMT003" in {f["rule"] for f in report["findings"]}
    res = load(tmp_path / "out" / "gx" / "validation_result.json")
    fmt = next(r for r in res["results"] if "covers" in r["expectation_config"]["meta"])
    assert fmt["success"] is False


def test_a_rule_raised_by_its_error_above_is_critical(tmp_path: Path) -> None:
    # 1 repeat in 8 rows is over DUP001's 5%: an error in audit.json, "warning" in GX.
    recs = [{"prompt": f"question number {i} here", "completion": "c"} for i in range(7)]
    data = write_records(tmp_path / "d.jsonl", [*recs, recs[0]])
    report = audit([data], out=tmp_path / "out", gx=True)
    assert {f["rule"]: f["severity"] for f in report["findings"]}["DUP001"] == "error"
    suite = load(tmp_path / "out" / "gx" / "expectation_suite.json")
    dup = next(e for e in suite["expectations"] if e["meta"]["rule"] == "DUP001")
    assert dup["severity"] == "critical" and dup["meta"]["severity"] == "error"


@pytest.mark.parametrize("shown", [False, True])
def test_gx_draws_its_metrics_bar_only_where_progress_is_shown(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    shown: bool,
) -> None:
    # Found by attack: `audit --gx --quiet` (and off a terminal) printed GX's tqdm
    # "Calculating Metrics" bars to stderr, into CI logs.
    monkeypatch.setenv("CURAGATE_PROGRESS", "always" if shown else "never")
    recs = [{"prompt": f"question number {i} here", "completion": "c"} for i in range(7)]
    data = write_records(tmp_path / "d.jsonl", recs)
    capfd.readouterr()
    audit([data], out=tmp_path / "out", gx=True)
    assert ("Calculating Metrics" in capfd.readouterr().err) is shown


def test_suite_is_the_same_bytes_every_run_and_the_result_differs_only_in_time(
    tmp_path: Path,
) -> None:
    # GX gave the suite and each expectation a fresh uuid4 every run (by attack): a suite
    # committed to see whether the rules changed differed on every audit.
    import great_expectations as gx

    recs = [{"prompt": f"q {i}", "completion": "c" * (i + 2), "label": "a"} for i in range(9)]
    data = write_records(tmp_path / "train.jsonl", recs)
    for out in ("a", "b"):
        audit([data], config=AuditConfig(labels={"field": "label"}), out=tmp_path / out, gx=True)  # type: ignore[arg-type]
    a, b = tmp_path / "a" / "gx", tmp_path / "b" / "gx"
    suite = (a / "expectation_suite.json").read_bytes()
    assert suite == (b / "expectation_suite.json").read_bytes()

    def timeless(p: Path) -> dict[str, Any]:
        res = load(p)
        del res["meta"]["run_id"]["run_time"], res["meta"]["validation_time"]
        del res["meta"]["batch_markers"]["ge_load_time"]
        return res

    assert timeless(a / "validation_result.json") == timeless(b / "validation_result.json")
    back = gx.ExpectationSuite(**json.loads(suite))  # GX reads the ids back
    assert str(back.id) == json.loads(suite)["id"]


def test_audits_with_other_suites_have_other_validation_ids(tmp_path: Path) -> None:
    # By re-attack: the validation definition's id was derived from the suite's name alone,
    # so every audit, whatever its rules, named the same validation.
    recs = [{"prompt": f"q {i}", "completion": "c" * (i + 2), "label": "a"} for i in range(9)]
    data = write_records(tmp_path / "train.jsonl", recs)
    configs = {"labels": AuditConfig(labels={"field": "label"}), "plain": AuditConfig()}
    ids = {}
    for name, cfg in [*configs.items(), ("again", configs["labels"])]:
        audit([data], config=cfg, out=tmp_path / name, gx=True)  # type: ignore[arg-type]
        res = load(tmp_path / name / "gx" / "validation_result.json")
        suite = load(tmp_path / name / "gx" / "expectation_suite.json")
        ids[name] = (res["meta"]["validation_id"], suite["id"])
    assert ids["labels"][1] != ids["plain"][1]  # other rules, another suite
    assert ids["labels"][0] != ids["plain"][0]
    assert ids["labels"] == ids["again"]  # and the same rules the same ids
