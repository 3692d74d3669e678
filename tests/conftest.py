"""Fixtures for every test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _temp_dir_of_the_run() -> Iterator[None]:
    """The temporary files of the code under test (crash logs of the tests that provoke
    exit 3, spill and scratch folders) in a folder of the run's own, removed at its end, not
    in the machine's /tmp, where they stayed: in-process through `tempfile.tempdir`, in the
    CLIs the tests start through TMPDIR. Short and beside /tmp, not under pytest's folder:
    Ray makes its sockets below $TMPDIR, and a socket's path may be 107 bytes."""
    temp = tempfile.mkdtemp(prefix="cgt-")
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", temp)
    patch.setattr(tempfile, "tempdir", temp)
    try:
        yield
    finally:
        patch.undo()
        shutil.rmtree(temp, ignore_errors=True)
