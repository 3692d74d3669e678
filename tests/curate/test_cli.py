"""The curate command as a user runs it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.curate.conftest import EXAMPLE, ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curagate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_curate_example_exits_0_and_prints_a_summary(tmp_path: Path) -> None:
    p = run("curate", str(EXAMPLE), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    assert "removed near" in p.stdout and "kept" in p.stdout
    assert (tmp_path / "out" / "stats.json").exists()


def test_json_flag_prints_the_stats(tmp_path: Path) -> None:
    p = run("curate", str(EXAMPLE), "--out", str(tmp_path / "out"), "--json")
    stats = json.loads(p.stdout)
    assert stats == json.loads((tmp_path / "out" / "stats.json").read_text())


def test_strict_turns_quarantine_into_exit_1(tmp_path: Path) -> None:
    p = run("curate", str(EXAMPLE), "--out", str(tmp_path / "out"), "--strict")
    assert p.returncode == 1
    assert (tmp_path / "out" / "quarantine.jsonl").stat().st_size > 0
    # The failure is said, with the count and the fix (exit 1 beside a summary and a
    # warning alone read as a run that passed: found by attack).
    quarantined = json.loads((tmp_path / "out" / "stats.json").read_text())["totals"]["quarantined"]
    assert f"curagate curate: error: --strict: {quarantined:,} row(s) quarantined" in p.stderr
    assert "drop --strict" in p.stderr and "Traceback" not in p.stderr


def test_a_slow_rate_is_not_printed_as_0_rows_a_second() -> None:
    from curagate.commands.curate import _rate

    assert [_rate(x) for x in (0.374, 3.74, 9.6, 37_607.2)] == ["0.37", "3.7", "9.6", "37,607"]


def test_missing_input_is_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    p = run("curate", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out"))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "nope.jsonl" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_empty_input_is_exit_2(tmp_path: Path, write_jsonl: Callable) -> None:
    path = write_jsonl("empty.jsonl", [])
    p = run("curate", str(path), "--out", str(tmp_path / "out"))
    assert p.returncode == 2 and "no records" in p.stderr and "Traceback" not in p.stderr


def test_a_config_that_is_a_folder_is_named_so(tmp_path: Path) -> None:
    # "not a regular file (a link or special file)" for a folder (found by attack).
    p = run("curate", str(EXAMPLE), "--out", str(tmp_path / "out"), "--config", str(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{tmp_path}: cannot read config: a folder, not a file" in p.stderr


def test_bad_config_is_exit_2_naming_file_line_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("near:\n  num_perm: lots\n")
    p = run("curate", str(EXAMPLE), "--out", str(tmp_path / "out"), "--config", str(cfg))
    assert (
        p.returncode == 2 and "c.yaml:2: near.num_perm" in p.stderr and "Traceback" not in p.stderr
    )


def test_bad_option_is_exit_2(tmp_path: Path) -> None:
    p = run("curate", str(EXAMPLE), "--out", str(tmp_path / "o"), "--threshold", "2")
    assert p.returncode == 2 and "near.threshold" in p.stderr


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("curagate ")
    help_text = run("curate", "--help").stdout
    assert "examples:" in help_text and "--threshold" in help_text


@pytest.mark.slow
def test_curate_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from curagate.cli import main; "
        f"rc = main(['curate', {str(EXAMPLE)!r}, '--out', {str(tmp_path / 'o')!r}]); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'polars' not in sys.modules, 'polars imported'; sys.exit(rc)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert p.returncode == 0, p.stderr


def test_corrupt_parquet_is_quarantined_and_the_run_continues(
    tmp_path: Path, write_jsonl: Callable
) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    good = write_jsonl("good.jsonl", [{"text": "a fine record with several words in it"}])
    p = run("curate", str(bad), str(good), "--out", str(tmp_path / "out"), "--json")
    assert p.returncode == 0, p.stderr
    q = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").open()]
    assert any(r["file"].endswith("broken.parquet") for r in q)
    assert json.loads(p.stdout)["totals"]["kept"] == 1


# Holes found by attacking curate's data path; each is a test now.


def test_the_summary_says_near_dedup_is_disabled_not_lsh_none(
    tmp_path: Path, write_jsonl: Callable
) -> None:
    path = write_jsonl("d.jsonl", [{"text": "one two three four"}] * 2)
    config = tmp_path / "c.yaml"
    config.write_text("near: {enabled: false}\n")
    p = run("curate", str(path), "--out", str(tmp_path / "out"), "--config", str(config))
    assert p.returncode == 0, p.stderr
    assert "None" not in p.stdout
    assert "(near dedup disabled)" in p.stdout


@pytest.mark.slow
def test_a_split_error_names_config_keys_and_no_removed_temporary_folder(
    tmp_path: Path, write_jsonl: Callable
) -> None:
    # Found by attack: `split: {time: user}` in a curate config named the deleted temporary
    # folder (`.../.x.PID.HOST.abc.curagate.tmp/kept/part-00000.parquet row 0`) and
    # `--time`, an option curate does not have; `split: {group: nope}` named `--group`.
    rows = [
        {"prompt": f"question {i} about {i * 7}", "completion": "a", "user": f"u{i}"}
        for i in range(12)
    ]
    data = write_jsonl("a.jsonl", rows)
    for setting, said in (
        (
            "time: user",
            f"{data.as_posix()}:1: split.time column 'user' has "
            "'u0', which is no time curagate reads",
        ),
        ("group: nope", "split.group 'nope': no such column"),
        ("mode: time", "split.mode time needs split.time COLUMN"),
        # found by attack: a label from the config was named as the command line's
        ("label: nope", "split.label (--label) 'nope': no such column"),
        ("mode: stratified", "split.mode stratified needs split.label (--label) COLUMN"),
    ):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"split:\n  enabled: true\n  {setting}\n")
        p = run("curate", str(data), "--out", str(tmp_path / "o"), "--config", str(cfg))
        assert p.returncode == 2 and said in p.stderr, p.stderr
        assert "curagate.tmp" not in p.stderr and "--time" not in p.stderr, p.stderr
        # the failed run leaves no kept/ to look in: the input's row is named
        assert setting != "time: user" or "kept/part" not in p.stderr, p.stderr
