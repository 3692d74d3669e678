"""The real two-node Ray cluster each Ray test module runs on (started per module: some
tests kill its workers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ray.cluster import Cluster, start_cluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = start_cluster(str(ROOT / "python"))
    try:
        yield c
    finally:
        c.stop()
    assert not c.processes()
