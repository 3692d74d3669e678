"""Progress bars: on stderr with totals when forced (or on a TTY), off with --quiet and when
stderr is not a terminal, never in stdout (machine outputs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, progress: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("CURAGATE_PROGRESS", None)
    if progress is not None:
        env["CURAGATE_PROGRESS"] = progress
    return subprocess.run(
        [sys.executable, "-m", "curagate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "d.jsonl"
    rows = [{"text": f"record number {i} with some words"} for i in range(50)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_curate_shows_rows_with_the_total_on_the_writing_pass(data: Path, tmp_path: Path) -> None:
    p = _run(["curate", str(data), "--out", str(tmp_path / "o"), "--json"], tmp_path, "always")
    assert p.returncode == 0, p.stderr
    assert "reading" in p.stderr and "writing" in p.stderr
    assert "/50 [" in p.stderr and "rows" in p.stderr  # the writing pass knows the total
    json.loads(p.stdout)  # stdout stays pure JSON


def test_quiet_turns_bars_off_even_when_forced(data: Path, tmp_path: Path) -> None:
    p = _run(
        ["curate", str(data), "--out", str(tmp_path / "o"), "--json", "--quiet"], tmp_path, "always"
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_no_bar_when_stderr_is_not_a_terminal(data: Path, tmp_path: Path) -> None:
    p = _run(["curate", str(data), "--out", str(tmp_path / "o"), "--json"], tmp_path, None)
    assert p.returncode == 0 and p.stderr == ""


@pytest.mark.slow
def test_audit_counts_rows(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("jsonschema")
    p = _run(["audit", str(data), "--out", str(tmp_path / "a")], tmp_path, "always")
    assert "audit" in p.stderr and "50" in p.stderr and "rows" in p.stderr


@pytest.mark.slow
def test_leakage_scan_counts_rows(data: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "r1", "text": "an unrelated golden item text"}) + "\n")
    args = ["leakage", "--reference", str(ref), "--corpus", str(data), "--out", str(tmp_path / "l")]
    p = _run(args, tmp_path, "always")
    assert p.returncode == 0, p.stderr
    assert "leakage scan" in p.stderr and "50" in p.stderr and "rows" in p.stderr


def test_check_sarif_stdout_has_no_bar(data: Path, tmp_path: Path) -> None:
    p = _run(["check", str(data), "--no-golden", "--format", "sarif"], tmp_path, "always")
    assert p.returncode == 0
    json.loads(p.stdout)
