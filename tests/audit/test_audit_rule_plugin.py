"""An audit rule defined outside the package runs through `curagate audit` as a built-in does.

The rules here are registered by this test module (not by curagate), with a
row check and a dataset check; the audit must count, reference, re-level and
merge their findings exactly like the bundled rules'.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from curagate.audit.partial import RuleHits
from curagate.audit.rules import (
    RULES,
    BatchView,
    DatasetView,
    RowHit,
    Rule,
    Severity,
    register,
    unregister,
)
from curagate.cli import main

SHOUTING = Rule(
    "TST001",
    "shouting",
    Severity.WARNING,
    "A prompt written in capitals only.",
    "Shouted prompts teach the model that capitals are normal input.",
    "Rewrite the prompt in sentence case.",
)
TOO_FEW = Rule(
    "TST002",
    "too-few-rows",
    Severity.INFO,
    "Fewer than 10 valid rows.",
    "A handful of examples cannot teach a task.",
    "Collect more examples.",
    dataset_level=True,  # a (message, metric) finding: it counts no rows
)


def shouting(view: BatchView) -> Iterator[RowHit]:
    prompts = pc.fill_null(view.table.column("prompt"), "")
    for row in pc.indices_nonzero(pc.utf8_is_upper(prompts)).to_pylist():
        yield ("TST001", row, "all capitals")


def too_few(view: DatasetView) -> dict[str, RuleHits | tuple[str, float]]:
    valid = view.part.valid
    return {"TST002": (f"only {valid} valid rows", float(valid))} if valid < 10 else {}


def _audit_one_row(tmp_path: Path, module: str, rule: Rule, **checks: Any) -> int:
    """The exit code of one audit of ``tmp_path/a.jsonl`` (one row) with ``rule`` registered."""
    register(module, rule, **checks)
    try:
        data = _write(tmp_path / "a.jsonl", [_pc("a prompt")])
        return main(["audit", str(data), "--out", str(tmp_path / "out")])
    finally:
        unregister(module)


@pytest.fixture
def plugin_rules() -> Iterator[None]:
    register("tests.shouting", SHOUTING, TOO_FEW, rows=shouting, dataset=too_few)
    try:
        yield
    finally:
        unregister("tests.shouting")


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pc(prompt: str, completion: str = "An answer.") -> str:
    return json.dumps({"prompt": prompt, "completion": completion})


def test_a_rule_defined_outside_the_package_runs_through_the_cli(
    plugin_rules: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(
        tmp_path / "data" / "a.jsonl",
        [
            _pc("What is the capital of France?"),
            _pc("WHAT IS THE CAPITAL OF SPAIN?"),  # line 2
            "{not json",  # quarantined: not a row the rule sees
            _pc("Name a prime number."),
            _pc("TELL ME A JOKE"),  # line 5
        ],
    )
    config = tmp_path / "audit.yaml"
    config.write_text("rules:\n  TST001: {severity: error}\n", encoding="utf-8")
    out = tmp_path / "out"

    code = main(["audit", str(data), "--config", str(config), "--out", str(out)])

    assert code == 1  # TST001 re-levelled to error by the config
    report = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    found = {f["rule"]: f for f in report["findings"]}
    ref = data.as_posix()
    assert found["TST001"]["severity"] == "error"
    assert found["TST001"]["count"] == 2
    assert found["TST001"]["rows"] == [f"{ref}:2", f"{ref}:5"]
    assert found["TST001"]["message"].startswith("2 rows (40.00%): a prompt written in capitals")
    assert "First kind: all capitals (2 rows)." in found["TST001"]["message"]
    assert found["TST002"]["severity"] == "info"
    assert found["TST002"]["message"].startswith("only 4 valid rows.")
    assert found["FMT001"]["rows"] == [f"{ref}:3"]
    md = (out / "audit.md").read_text(encoding="utf-8")
    assert "TST001" in md and "shouting" in md
    assert "TST001" in (out / "report.html").read_text(encoding="utf-8")

    # Switched off by the config like any rule; an unknown id is still refused.
    config.write_text("rules:\n  TST001: {severity: 'off'}\n", encoding="utf-8")
    assert main(["audit", str(data), "--config", str(config), "--out", str(out)]) == 1  # FMT001
    report = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert [f["rule"] for f in report["findings"]] == ["FMT001", "TST002"]
    capsys.readouterr()
    config.write_text("rules:\n  TST009: {severity: 'off'}\n", encoding="utf-8")
    assert main(["audit", str(data), "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rules.TST009: unknown rule id; known: " in err[0]
    assert "TST001" in err[0]


def test_a_plugin_rule_merges_across_shards(plugin_rules: None, tmp_path: Path) -> None:
    """Its hits travel in the mergeable partials: one task per file gives the same report."""
    a = _write(tmp_path / "d" / "a.jsonl", [_pc("LOUD ONE"), _pc("quiet one")])
    b = _write(tmp_path / "d" / "b.jsonl", [_pc("quiet two"), _pc("LOUD TWO"), _pc("LOUD 3")])
    one = tmp_path / "one"
    per_file = tmp_path / "per_file"
    assert main(["audit", str(a), str(b), "--out", str(one)]) == 0
    assert main(["audit", str(a), str(b), "--out", str(per_file), "--executor", "local"]) == 0
    report = (one / "audit.json").read_text(encoding="utf-8")
    assert report == (per_file / "audit.json").read_text(encoding="utf-8")
    found = {f["rule"]: f for f in json.loads(report)["findings"]}
    assert found["TST001"]["rows"] == [
        f"{a.as_posix()}:1",
        f"{b.as_posix()}:2",
        f"{b.as_posix()}:3",
    ]


def test_registration_refuses_a_taken_id_and_checks_may_only_report_their_rules(
    plugin_rules: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="FMT001 is declared twice"):
        register("tests.clash", RULES["FMT001"])
    assert "tests.clash" not in RULES

    def wrong(view: BatchView) -> list[RowHit]:
        return [("FMT002", 0, "")]

    code = _audit_one_row(
        tmp_path, "tests.wrong", Rule("TST003", "wrong", Severity.INFO, "-", "-", "-"), rows=wrong
    )
    assert code == 3  # a bug in the rule module, not the user's data
    assert "'tests.wrong' reported FMT002, which they do not declare" in capsys.readouterr().err
    assert "TST003" not in RULES


def test_a_check_decides_its_rule_the_way_the_rule_is_declared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The config refuses error_above for a dataset-level rule from the declaration, so a
    # (message, metric) finding of an undeclared rule (or row hits of a declared one) is
    # the rule module's bug.
    undeclared = Rule("TST006", "metric", Severity.INFO, "-", "-", "-")
    code = _audit_one_row(
        tmp_path, "tests.metric", undeclared, dataset=lambda v: {"TST006": ("one row", 1.0)}
    )
    assert code == 3
    assert "'tests.metric' decided TST006 as a (message, metric) pair: declare it" in (
        capsys.readouterr().err
    )
    declared = Rule("TST007", "rows", Severity.INFO, "-", "-", "-", dataset_level=True)
    code = _audit_one_row(tmp_path, "tests.rows", declared, rows=lambda v: [("TST007", 0, "")])
    assert code == 3
    assert "'tests.rows' reported a row of TST007, which is declared dataset_level" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("row", [-1, 1, 0.0])
def test_a_row_outside_the_batch_is_the_rule_modules_bug_not_another_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: object
) -> None:
    """-1 once named the batch's last line (exit 0, a wrong reference); 1 past a one-row
    batch was a bare IndexError."""

    def off_the_end(view: BatchView) -> list[RowHit]:
        return [("TST004", row, "")]  # type: ignore[list-item]

    code = _audit_one_row(
        tmp_path, "tests.off", Rule("TST004", "off", Severity.INFO, "-", "-", "-"), rows=off_the_end
    )
    assert code == 3
    assert f"'tests.off' reported TST004 at row {row!r}, not a row of the batch (0..0)" in (
        capsys.readouterr().err
    )


def test_one_registration_may_not_declare_an_id_twice() -> None:
    rule = Rule("TST005", "twice", Severity.INFO, "-", "-", "-")
    with pytest.raises(ValueError, match="TST005 is declared twice"):
        register("tests.twice", rule, rule)
    assert "TST005" not in RULES


def test_a_failing_rule_module_is_named_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error once read only "internal error (RuntimeError: boom)", naming no module."""

    def broken(view: BatchView) -> list[RowHit]:
        raise RuntimeError("boom")

    code = _audit_one_row(
        tmp_path,
        "tests.broken",
        Rule("TST006", "broken", Severity.INFO, "-", "-", "-"),
        rows=broken,
    )
    assert code == 3
    err = capsys.readouterr().err
    assert (
        f"audit rules 'tests.broken' failed on {(tmp_path / 'a.jsonl').as_posix()}: RuntimeError: boom"
        in err
    )


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        # NaN once reached audit.json as a bare NaN (invalid JSON), exit 0.
        ({"TST007": ("odd", float("nan"))}, "ValueError: metric nan is not a finite number"),
        (None, "AttributeError: 'NoneType' object has no attribute 'items'"),
    ],
)
def test_a_failing_dataset_check_is_named_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outcome: object, why: str
) -> None:
    def decide(view: DatasetView) -> dict[str, RuleHits | tuple[str, float]]:
        return outcome  # type: ignore[return-value]

    code = _audit_one_row(
        tmp_path,
        "tests.decide",
        Rule("TST007", "odd", Severity.INFO, "-", "-", "-"),
        dataset=decide,
    )
    assert code == 3
    assert f"audit rules 'tests.decide' failed on the dataset: {why}" in capsys.readouterr().err
