"""The CLI's exit-code contract for failures nobody planned: a bug is exit 3, never 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from curagate.cli import main
from curagate.commands import verify


def test_a_bug_exits_3_with_the_traceback_in_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        return {}["missing"]  # type: ignore[no-any-return]  # a KeyError, as a bug would raise

    monkeypatch.setattr(verify, "run", broken)
    assert main(["verify", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "internal error (KeyError" in err and "Traceback" not in err
    log = Path(err.rsplit("traceback in ", 1)[1].strip())
    assert "KeyError" in log.read_text()
    log.unlink()


def test_an_error_the_rust_core_raises_on_bad_parameters_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate import _core

    def reaches_the_core(args: object) -> int:
        _core.Deduper(num_perm=0)  # the core refuses this (ParameterError)
        return 0

    monkeypatch.setattr(verify, "run", reaches_the_core)
    assert main(["verify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "num_perm" in err
