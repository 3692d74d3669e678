"""curagate._kernels: pyarrow.compute's kernels called by name give its results exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curagate import _kernels as ak

TEXT = pa.array(["a", "", " \u3000", None, "b"])
MASK = pa.array([True, None, False, True, False])
MESSAGES = pa.array(
    [[{"role": "user", "content": "x"}], [], None, [{"role": None, "content": " "}, None]]
)

CASES: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = [
    ("is_null", lambda k: k.is_null(TEXT), lambda _: TEXT.is_null()),
    (
        "is_null chunked",
        lambda k: k.is_null(pa.chunked_array([TEXT, TEXT])),
        lambda _: pa.chunked_array([TEXT, TEXT]).is_null(),
    ),
    ("is_valid", lambda k: k.is_valid(TEXT), lambda _: TEXT.is_valid()),
    ("fill_null", lambda k: k.fill_null(MASK, False), lambda _: pc.fill_null(MASK, False)),
    ("filter", lambda k: k.filter(TEXT, MASK), lambda _: TEXT.filter(MASK)),
    (
        "filter table",
        lambda k: k.filter(pa.table({"t": TEXT}), MASK),
        lambda _: pa.table({"t": TEXT}).filter(MASK),
    ),
    ("take", lambda k: k.take(TEXT, pa.array([4, 0])), lambda _: TEXT.take(pa.array([4, 0]))),
    (
        "cast",
        lambda k: k.cast(pa.array([1, 2], pa.uint64()), pa.int64()),
        lambda _: pa.array([1, 2], pa.uint64()).cast(pa.int64()),
    ),
    ("list_flatten", lambda k: k.list_flatten(MESSAGES), lambda _: MESSAGES.flatten()),
    ("struct_field", lambda k: k.struct_field(MESSAGES.flatten(), "role"), None),
    ("is_in", lambda k: k.is_in(pa.array([1, 2, None]), pa.array([2, None])), None),
    (
        "blank",
        lambda k: k.or_(k.equal(k.binary_length(TEXT), 0), k.utf8_is_space(TEXT)),
        None,
    ),
    (
        "match_substring_regex",
        lambda k: k.match_substring_regex(TEXT, "^[\\x{20}\\x{3000}]*$"),
        None,
    ),
    ("replace_substring_regex", lambda k: k.replace_substring_regex(TEXT, "[a-c]", " "), None),
    ("if_else", lambda k: k.if_else(MASK, TEXT, pa.scalar("", TEXT.type)), None),
    ("indices_nonzero", lambda k: k.indices_nonzero(MASK), None),
    ("add", lambda k: k.add(k.indices_nonzero(MASK), 7), None),
    ("join", lambda k: k.binary_join_element_wise(TEXT, TEXT, ":"), None),
    ("sum (not defined here)", lambda k: k.sum(pa.array([1, 2])), None),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_same_result_as_pyarrow_compute(
    name: str, ours: Callable[[Any], Any], theirs: Callable[[Any], Any] | None
) -> None:
    got = ours(ak)
    want = (theirs or ours)(pc)
    assert type(got) is type(want)
    assert got.equals(want), (got, want)
    if hasattr(want, "type"):
        assert got.type == want.type
