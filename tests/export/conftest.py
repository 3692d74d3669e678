"""Session fixtures: one tiny run and one bundle shared by the export tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .export_fixtures import build_base, build_run


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
