"""audit.yaml: validation errors name key, file and line; rules switch off and re-level."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audit_support import finding, rules_found

from curagate.audit import load_config
from curagate.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "audit.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_unknown_key_names_key_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "sample:\n  n: 5\nlabels:\n  feild: label\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert f"{p}:4: labels.feild: unknown key" in str(e.value)


def test_old_golden_sets_key_names_its_new_place(tmp_path: Path) -> None:
    p = write(tmp_path, "sample: {n: 5}\ngolden_sets: [golden]\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}:2: golden_sets: renamed to leakage.reference; move the value there"


def test_bad_value_names_key_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "lengths:\n  bins: 20\n  outlier_iqr: -1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert f"{p}:3: lengths.outlier_iqr" in str(e.value)


def test_a_leakage_ngram_the_index_refuses_names_key_and_line(tmp_path: Path) -> None:
    """`ngram: 5` once passed here and failed as the index was built, with no file or line."""
    p = write(tmp_path, "leakage:\n  reference: []\n  ngram: 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert f"{p}:3: leakage.ngram" in str(e.value)


def test_unknown_rule_id_is_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "rules:\n  FMT999: {severity: off}\n")
    with pytest.raises(ConfigError, match=r"audit.yaml:2: rules.FMT999: unknown rule id"):
        load_config(p)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "sample:\n  n: [1, 2\n")
    with pytest.raises(ConfigError, match=r"audit.yaml:\d+: invalid YAML"):
        load_config(p)


def test_max_seq_len_needs_a_tokenizer(tmp_path: Path) -> None:
    p = write(tmp_path, "tokens:\n  max_seq_len: 512\n")
    with pytest.raises(ConfigError, match=r"tokens\.max_seq_len needs tokens\.tokenizer"):
        load_config(p)


def test_relative_paths_resolve_against_the_config_dir(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "s.json").write_text('{"type": "object"}', encoding="utf-8")
    p = write(
        tmp_path,
        "leakage: {reference: [golden]}\nstructured_outputs:\n  - {field: out, schema_file: schemas/s.json}\n",
    )
    cfg = load_config(p)
    assert cfg.leakage.reference == [tmp_path / "golden"]
    assert cfg.structured_outputs[0].json_schema == {"type": "object"}


def test_a_schema_file_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("[" * 100_000, encoding="utf-8")  # was exit 3
    p = write(tmp_path, "structured_outputs:\n  - {field: out, schema_file: s.json}\n")
    with pytest.raises(ConfigError, match=r"schema_file .*s\.json .*\(nested too deeply\)"):
        load_config(p)


def dup_records() -> list[dict[str, Any]]:
    base = [{"prompt": f"p {i}", "completion": "c" * (i + 3)} for i in range(20)]
    return [*base, base[0]]


def test_rule_can_be_switched_off(run_audit: Callable[..., dict[str, Any]]) -> None:
    report = run_audit(dup_records(), {"rules": {"DUP001": {"severity": "off"}}})
    assert "DUP001" not in rules_found(report)


def test_rule_can_be_relevelled(run_audit: Callable[..., dict[str, Any]]) -> None:
    report = run_audit(dup_records(), {"rules": {"DUP001": {"severity": "error"}}})
    assert finding(report, "DUP001")["severity"] == "error"
    assert report["summary"]["passed"] is False


def test_share_threshold_decides_warning_or_error(run_audit: Callable[..., dict[str, Any]]) -> None:
    low = run_audit(dup_records(), {"rules": {"DUP001": {"error_above": 0.5}}})
    high = run_audit(dup_records(), {"rules": {"DUP001": {"error_above": 0.01}}})
    assert finding(low, "DUP001")["severity"] == "warning"
    assert finding(high, "DUP001")["severity"] == "error"


def test_error_above_on_a_dataset_level_rule_is_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `LBL001: {error_above: 0.97}` was accepted and ignored (engine
    # escalates only findings that count rows), so a 99% class stayed a warning, exit 0.
    from curagate.audit import RULES
    from curagate.cli import main

    dataset_level = sorted(r for r, rule in RULES.items() if rule.dataset_level)
    assert dataset_level == ["LBL001", "LEN002", "MIX001", "MIX002"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    assert "Dataset-level\nrules (LBL001, LEN002, MIX001, MIX002:" in doc
    for rid in dataset_level:
        p = write(
            tmp_path, f"rules:\n  DUP001: {{error_above: 0.5}}\n  {rid}: {{error_above: 0.9}}\n"
        )
        with pytest.raises(ConfigError) as e:
            load_config(p)
        msg = str(e.value)
        assert msg.startswith(f"{p}:3: rules.{rid}.error_above: {rid} ({RULES[rid].name}) is ")
        assert "set `severity: error` instead" in msg
    p = write(tmp_path, "rules: {LBL001: {severity: warning, error_above: 0.97}}\n")
    with pytest.raises(ConfigError, match=r"or change its own limit \(labels\.max_share, "):
        load_config(p)
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "completion": "c", "label": "a"}\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", str(data), "--config", str(p), "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    # A severity alone still levels it.
    p = write(tmp_path, "rules: {LBL001: {severity: error}, DUP001: {error_above: 0.5}}\n")
    assert load_config(p).rules["LBL001"].severity == "error"


def test_default_threshold_escalates_many_duplicates(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    recs = [{"prompt": "same", "completion": "same"}] * 5 + [
        {"prompt": f"p {i}", "completion": "c" * (i + 3)} for i in range(10)
    ]
    assert finding(run_audit(recs), "DUP001")["severity"] == "error"  # 4/15 > 5%


def test_label_thresholds_come_from_config(run_audit: Callable[..., dict[str, Any]]) -> None:
    recs = [
        {"prompt": f"p {i}", "completion": "c" * (i + 1), "label": "a" if i < 16 else "b"}
        for i in range(20)
    ]
    assert "LBL001" not in rules_found(run_audit(recs, {"labels": {"field": "label"}}))
    assert "LBL001" in rules_found(
        run_audit(recs, {"labels": {"field": "label", "max_share": 0.75}})
    )


def test_bare_yaml_off_switches_a_rule_off(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "rules:\n  PII004: {severity: off}\n"))
    assert cfg.rules["PII004"].severity == "off"


@pytest.mark.parametrize(
    "doc",
    [
        "labels: {min_share: 0.5, max_share: 0.4}\n",  # accepted: every class a finding
        "mix: {multi_turn_min: 0.5, multi_turn_max: 0.4}\n",
    ],
)
def test_a_minimum_above_its_maximum_is_refused(tmp_path: Path, doc: str) -> None:
    with pytest.raises(ConfigError, match="must not exceed"):
        load_config(write(tmp_path, doc))


# Attack round 3: audit config numbers are bounded; each is a test now.


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("sample: {n: 99999999999999999999999999999}\n", "sample.n: must be in 0..2147483647"),
        ("max_row_refs: 99999999999999999999999999999\n", "max_row_refs: must be in 1..2147483647"),
        (
            "secrets: {min_length: 99999999999999999999999999999}\n",
            "secrets.min_length: must be in 8..2147483647",
        ),
        ("sample: {seed: -5}\n", "sample.seed: must be in 0..18446744073709551615, got -5"),
        ("sample: {seed: 1e29}\n", "sample.seed: "),
        ("tokens: {tokenizer: t, max_seq_len: 9999999999999}\n", "tokens.max_seq_len: must be in"),
        ("lengths: {outlier_iqr: .inf}\n", "lengths.outlier_iqr: Input should be a finite number"),
        ("rules: {DUP001: {error_above: .nan}}\n", "rules.DUP001.error_above: Input should be a"),
    ],
)
def test_audit_numbers_are_bounded(tmp_path: Path, doc: str, message: str) -> None:
    p = write(tmp_path, doc)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert f"{p}:1: {message}" in str(e.value)


def test_an_unbounded_audit_number_is_exit_2_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "hello world"}\n')
    p = write(tmp_path, "sample: {n: 99999999999999999999999999999}\n")
    args = ["audit", str(data), "--config", str(p), "--out", str(tmp_path / "ao")]
    r = subprocess.run(
        [sys.executable, "-m", "curagate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "sample.n: must be in 0..2147483647" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("#/nope", "$ref '#/nope' does not resolve within the schema"),
        ("http://127.0.0.1:9/x.json", "does not resolve within the schema (remote"),
        ("#", "refers to itself without end"),
    ],
)
def test_a_structured_output_schema_whose_ref_cannot_be_followed_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str, says: str
) -> None:
    # PointerToNowhere, Unresolvable and RecursionError at the first record: exit 3.
    from curagate.cli import main

    data = tmp_path / "so.jsonl"
    data.write_text('{"text": "x", "out": "{\\"a\\": 1}"}\n')
    p = write(tmp_path, f'structured_outputs:\n  - field: out\n    schema: {{"$ref": "{ref}"}}\n')
    assert main(["audit", str(data), "--config", str(p), "--out", str(tmp_path / "a")]) == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ('{"$dynamicRef": "#nope"}', "$ref '#nope' does not resolve"),
        ('{"$ref": "#/foo/x", "foo": {"x": {"$ref": "#/no"}}}', "$ref '#/no' does not resolve"),
        # Valid draft-07 (an anchor as a "$id"), refused as dangling by 2020-12's rules.
        (
            '{"$schema": "http://json-schema.org/draft-07/schema#", '
            '"definitions": {"a": {"$id": "#a", "type": "object"}}, "$ref": "#a"}',
            None,
        ),
    ],
    ids=["dynamic-ref", "ref-through-unknown-keyword", "draft-07-anchor"],
)
def test_structured_output_refs_are_walked_as_the_validator_follows_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: str, says: str | None
) -> None:
    from curagate.cli import main

    data = tmp_path / "so.jsonl"
    data.write_text('{"text": "x", "out": "{\\"a\\": 1}"}\n')
    p = write(tmp_path, f"structured_outputs:\n  - field: out\n    schema: {schema}\n")
    code = main(["audit", str(data), "--config", str(p), "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    if says is None:
        assert code == 0, err
    else:
        assert code == 2 and says in err, err
