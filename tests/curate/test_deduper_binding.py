"""The core Deduper's two ways in: Arrow arrays through the PyCapsule interface (what
curate uses) and Python strings (``add_texts``, for callers that hold a list) must
give the same outcome, whatever the Arrow string type, chunking or slicing."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from curagate import _core
from tests.curate.conftest import t0_records


def _texts() -> list[str]:
    rows = t0_records(3000)
    # Non-ASCII and an exact copy exercise NFKC and the exact step on both paths.
    return [r["prompt"] + " " + r["completion"] for r in rows] + [
        "\uff23afé déjà vu",
        "Café déjà vu",
    ]


def _via_arrow(
    texts: list[str], prio: pa.Array, kind: pa.DataType | None = None, **kw: Any
) -> _core.DedupResult:
    d = _core.Deduper(**kw)
    # Two batches, the second a slice: offsets into shared buffers are honoured.
    keys = pa.array(texts, kind or pa.large_string())
    half = len(texts) // 2
    for part, p in ((keys[:half], prio[:half]), (keys[half:], prio[half:])):
        d.add(part, p)
    return d.finish()


def _via_strs(texts: list[str], prio: pa.Array, **kw: Any) -> _core.DedupResult:
    d = _core.Deduper(**kw)
    half = len(texts) // 2
    d.add_texts(texts[:half], prio[:half])
    d.add_texts(texts[half:], prio[half:])
    return d.finish()


def _outcome(r: _core.DedupResult) -> tuple[bytes, bytes, bytes, dict[str, int]]:
    return (r.status, r.kept_index, r.similarity, r.stats.as_dict())


@pytest.mark.parametrize("budget", [1 << 30, 1 << 20])
def test_add_texts_matches_arrow_buffers(budget: int) -> None:
    texts = _texts()
    prio = pa.array([float(len(t) % 7) for t in texts], pa.float64())
    a = _via_arrow(texts, prio, memory_budget=budget, threads=2)
    b = _via_strs(texts, prio, memory_budget=budget, threads=2)
    assert a.stats.near_removed > 0 and a.stats.exact_removed > 0
    assert _outcome(a) == _outcome(b)
    assert a.stats == b.stats


def test_add_texts_without_priorities_keeps_the_first() -> None:
    d = _core.Deduper()
    d.add_texts(["the same words here again", "the same words here again"])
    out = d.finish()
    assert out.status == bytes([0, 1])


def test_add_texts_names_a_non_string() -> None:
    d = _core.Deduper()
    with pytest.raises(TypeError, match=r"texts\[1\] is int, not str"):
        d.add_texts(["a", 3])  # type: ignore[list-item]


def test_add_texts_does_not_trust_a_claimed_length() -> None:
    # range(2**40) claims 10^12 items: the first non-str is reported, nothing is reserved for the rest.
    d = _core.Deduper()
    with pytest.raises(TypeError, match=r"texts\[0\] is int, not str"):
        d.add_texts(range(2**40))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [pa.string(), pa.string_view()])
def test_every_arrow_string_type_gives_the_large_string_outcome(kind: pa.DataType) -> None:
    texts = _texts()
    # A long non-ASCII string exercises string_view's out-of-line buffers.
    texts.append("Ünïcödé " * 40)
    prio = pa.array([float(len(t) % 5) for t in texts], pa.float64())
    expected = _outcome(_via_arrow(texts, prio, threads=2))
    assert _outcome(_via_arrow(texts, prio, kind, threads=2)) == expected


def test_a_chunked_array_crosses_as_one_column() -> None:
    texts = _texts()
    prio = pa.array([0.0] * len(texts), pa.float64())
    one = _core.Deduper(threads=1)
    one.add(pa.array(texts, pa.large_string()), prio)
    chunked = _core.Deduper(threads=1)
    chunks = [texts[:7], texts[7:1000], [], texts[1000:]]
    chunked.add(
        pa.chunked_array(chunks, pa.large_string()),
        pa.chunked_array([prio[:10], prio[10:]]),
    )
    assert _outcome(one.finish()) == _outcome(chunked.finish())


def test_null_keys_read_as_empty_and_null_priorities_lose() -> None:
    same = "the very same words in both of these records"
    d = _core.Deduper()
    # Row 1 has the higher priority but row 2's null means -inf, so row 1 survives
    # over row 2; the null key is empty, like the "" in row 3 (an exact copy of it).
    d.add(
        pa.array([None, same, same, ""], pa.string()),
        pa.array([0.0, 1.0, None, 0.0], pa.float64()),
    )
    out = d.finish()
    assert out.status == bytes([0, 0, 1, 1])
    assert out.kept_index[16:24] == (1).to_bytes(8, "little")
    assert out.kept_index[24:32] == (0).to_bytes(8, "little")


def test_a_non_arrow_argument_is_a_type_error_naming_it() -> None:
    d = _core.Deduper()
    with pytest.raises(TypeError, match=r"keys must be an Arrow array .* not list"):
        d.add(["a"], pa.array([0.0]))


def test_a_non_string_column_is_an_input_error_naming_the_type() -> None:
    d = _core.Deduper()
    with pytest.raises(_core.InputDataError, match=r"keys has Arrow type \"l\", not text"):
        d.add(pa.array([1, 2]), pa.array([0.0, 0.0]))
    with pytest.raises(_core.InputDataError, match=r"priorities has 1 values for 2 texts"):
        d.add(pa.array(["a", "b"]), pa.array([0.0]))
    with pytest.raises(_core.InputDataError, match=r"priorities has Arrow type \"l\""):
        d.add(pa.array(["a", "b"]), pa.array([1, 2]))


def test_invalid_utf8_names_the_row_across_chunks() -> None:
    bad = pa.Array.from_buffers(
        pa.string(), 2, [None, pa.array([0, 1, 2], pa.int32()).buffers()[1], pa.py_buffer(b"a\xff")]
    )
    d = _core.Deduper()
    keys = pa.chunked_array([pa.array(["x", "y", "z"]), bad])
    with pytest.raises(_core.InputDataError, match=r"row 4 is not valid UTF-8"):
        d.add(keys, pa.array([0.0] * 5))
