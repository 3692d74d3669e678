"""Session fixtures: one tiny run and one bundle shared by the export tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .export_fixtures import build_base, build_gate, build_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only run shared by the tests; tests that alter a run copy it first."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    root = tmp_path_factory.mktemp("export")
    base = build_base(root / "base")
    return build_run(root / "run", base)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curagate.export import export_run

    out = tmp_path_factory.mktemp("bundle") / "tiny-bot"
    export_run(tiny_run, out)
    return out


@pytest.fixture(scope="session")
def tiny_gate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gate file with one locked golden set (read-only: tests that alter it build their own)."""
    return build_gate(tmp_path_factory.mktemp("gate"))


@pytest.fixture(scope="session")
def gated_bundle(tiny_run: Path, tiny_gate: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle exported with the gate's quick checks."""
    from curagate.export import export_run

    out = tmp_path_factory.mktemp("gated") / "tiny-bot"
    export_run(tiny_run, out, gate=tiny_gate)
    return out
