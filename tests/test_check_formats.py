"""`curagate check --format text|github|sarif|json` and `--max-findings`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main

SCHEMA = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json"


def write(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    """Three duplicates (DUP001, warning: 3 of 108 rows, under its 5% error bar), one
    unreadable row and one empty text (errors)."""
    rows: list[Any] = [{"text": f"record number {i}"} for i in range(3)]
    rows += [{"text": "record number 0"}] * 3
    rows += ['{"text": broken', {"text": "   "}]
    rows += [{"text": f"another record {i}"} for i in range(100)]
    # A comma and a colon in the file name exercise GitHub's property escapes.
    return write(tmp_path / "a,b:c.jsonl", rows)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(["check", *argv, "--no-golden"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_text_is_the_default_and_unchanged(dirty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run([str(dirty)], capsys)
    assert rc == 1
    lines = out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(f"{dirty.as_posix()}:4: DUP001 exact duplicate of ")
    assert [ln.split(": ")[1].split()[0] for ln in lines] == [
        "DUP001",
        "DUP001",
        "DUP001",
        "FMT001",
        "FMT005",
    ]
    assert "5 violation(s) in 1 file(s)" in err


def test_max_findings_cuts_and_says_what_was_cut(
    dirty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run([str(dirty), "--max-findings", "2"], capsys)
    assert rc == 1  # cutting the output never hides the failure
    assert len(out.splitlines()) == 2
    assert (
        "3 more finding(s) not shown (--max-findings 2; 5 in all): DUP001 1, FMT001 1, FMT005 1"
        in err
    )


def test_negative_max_findings_is_a_usage_error(
    dirty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run([str(dirty), "--max-findings", "-1"], capsys)
    assert (rc, out) == (2, "")
    assert "--max-findings -1: must be 0 or more" in err


def test_github_annotations_escape_and_carry_level(
    dirty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run([str(dirty), "--format", "github", "--max-findings", "4"], capsys)
    assert rc == 1
    lines = out.splitlines()
    path = dirty.as_posix().replace(":", "%3A").replace(",", "%2C")
    assert lines[0].startswith(
        f"::warning file={path},line=4,title=DUP001 exact-duplicate::exact duplicate of "
    )
    assert lines[3].startswith(f"::error file={path},line=7,title=FMT001 unreadable-record::")
    assert lines[4] == (
        "::warning title=curagate check::1 more finding(s) not shown "
        "(--max-findings 4; 5 in all): FMT005 1"
    )


def test_json_lists_findings_and_the_cut(dirty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run([str(dirty), "--format", "json", "--max-findings", "3"], capsys)
    doc = json.loads(out)
    assert rc == 1
    assert (doc["total"], doc["shown"], doc["omitted_by_rule"]) == (
        5,
        3,
        {"FMT001": 1, "FMT005": 1},
    )
    assert doc["findings"][0] == {
        "file": dirty.as_posix(),
        "line": 4,
        "rule": "DUP001",
        "name": "exact-duplicate",
        "level": "warning",
        "message": doc["findings"][0]["message"],
    }


def test_sarif_validates_against_the_2_1_0_schema(
    dirty: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    rc, out, _ = run([str(dirty), "--format", "sarif", "--max-findings", "4"], capsys)
    assert rc == 1
    doc = json.loads(out)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(doc)
    [sarif_run] = doc["runs"]
    results = sarif_run["results"]
    assert [r["ruleId"] for r in results] == ["DUP001", "DUP001", "DUP001", "FMT001"]
    assert results[3]["level"] == "error"
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    rules = sarif_run["tool"]["driver"]["rules"]
    assert rules[results[3]["ruleIndex"]]["id"] == "FMT001"
    [note] = sarif_run["invocations"][0]["toolExecutionNotifications"]
    assert "1 more finding(s) not shown" in note["message"]["text"]


def test_sarif_of_a_clean_run_is_valid_and_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    clean = write(tmp_path / "clean.jsonl", [{"text": "one"}, {"text": "two"}])
    rc, out, _ = run([str(clean), "--format", "sarif"], capsys)
    assert rc == 0
    doc = json.loads(out)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(doc)
    assert doc["runs"][0]["results"] == []


def test_rule_switched_off_in_config_is_not_in_the_sarif_driver(
    dirty: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "audit.yaml"
    cfg.write_text("rules:\n  DUP001: {severity: 'off'}\n  FMT005: {severity: info}\n")
    rc, out, _ = run([str(dirty), "--format", "sarif", "--config", str(cfg)], capsys)
    run_ = json.loads(out)["runs"][0]
    ids = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert "DUP001" not in ids
    assert [(r["ruleId"], r["level"]) for r in run_["results"]] == [
        ("FMT001", "error"),
        ("FMT005", "note"),
    ]
    assert rc == 1


@pytest.mark.parametrize("fmt", ["text", "github", "sarif", "json"])
def test_every_format_is_byte_identical_on_rerun(
    fmt: str, dirty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run([str(dirty), "--format", fmt], capsys)
    assert run([str(dirty), "--format", fmt], capsys) == first
