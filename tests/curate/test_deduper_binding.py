"""The core Deduper's two ways in: Arrow buffers (what curate uses) and Python strings
(``add_texts``, for callers that hold a list) must give the same outcome."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from curagate import _core
from curagate.pipeline.dedup import text_buffers
from tests.curate.conftest import t0_records


def _texts() -> list[str]:
    rows = t0_records(3000)
    # Non-ASCII and an exact copy exercise NFKC and the exact step on both paths.
    return [r["prompt"] + " " + r["completion"] for r in rows] + [
        "\uff23afé déjà vu",
        "Café déjà vu",
    ]


def _via_arrow(texts: list[str], prio: pa.Array, **kw: Any) -> dict[str, Any]:
    d = _core.Deduper(**kw)
    # Two batches, the second a slice: offsets into shared buffers are honoured.
    keys = pa.array(texts, pa.large_string())
    half = len(texts) // 2
    for part, p in ((keys[:half], prio[:half]), (keys[half:], prio[half:])):
        d.add(*text_buffers(part), p.buffers()[1], p.offset)
    return d.finish()


def _via_strs(texts: list[str], prio: pa.Array, **kw: Any) -> dict[str, Any]:
    d = _core.Deduper(**kw)
    half = len(texts) // 2
    d.add_texts(texts[:half], prio.buffers()[1], 0)
    d.add_texts(texts[half:], prio.buffers()[1], half)
    return d.finish()


@pytest.mark.parametrize("budget", [1 << 30, 1 << 20])
def test_add_texts_matches_arrow_buffers(budget: int) -> None:
    texts = _texts()
    prio = pa.array([float(len(t) % 7) for t in texts], pa.float64())
    a = _via_arrow(texts, prio, memory_budget=budget, threads=2)
    b = _via_strs(texts, prio, memory_budget=budget, threads=2)
    assert a["stats"]["near_removed"] > 0 and a["stats"]["exact_removed"] > 0
    assert (a["status"], a["kept_index"], a["similarity"]) == (
        b["status"],
        b["kept_index"],
        b["similarity"],
    )
    assert a["stats"] == b["stats"]


def test_add_texts_without_priorities_keeps_the_first() -> None:
    d = _core.Deduper()
    d.add_texts(["the same words here again", "the same words here again"])
    out = d.finish()
    assert out["status"] == bytes([0, 1])


def test_add_texts_names_a_non_string() -> None:
    d = _core.Deduper()
    with pytest.raises(TypeError, match=r"texts\[1\] is int, not str"):
        d.add_texts(["a", 3])  # type: ignore[list-item]


def test_add_texts_does_not_trust_a_claimed_length() -> None:
    # range(2**40) claims 10^12 items: the first non-str is reported, nothing is reserved for the rest.
    d = _core.Deduper()
    with pytest.raises(TypeError, match=r"texts\[0\] is int, not str"):
        d.add_texts(range(2**40))  # type: ignore[arg-type]
