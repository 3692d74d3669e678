"""Fixtures for every test."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _temp_dir_of_the_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The temporary files of the code under test (crash logs of the tests that provoke
    exit 3, spill and scratch folders) under pytest's own temporary folder, which pytest
    prunes, and not in the machine's /tmp, where they stayed: in-process through
    `tempfile.tempdir`, in the CLIs the tests start through TMPDIR."""
    temp = tmp_path_factory.mktemp("tmp")
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(temp))
    patch.setattr(tempfile, "tempdir", str(temp))
    yield
    patch.undo()
