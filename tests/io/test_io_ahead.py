"""Reading ahead (io/ahead.py): the same items in the same order, errors where they
happened, bounded, stoppable."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from curagate.io.ahead import ReadAhead


def _counting(n: int, made: list[int], fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise KeyError(f"item {i}")
        made.append(i)
        yield i


def test_items_come_in_order_and_end_once() -> None:
    made: list[int] = []
    with ReadAhead(_counting(50, made)) as items:
        assert list(items) == list(range(50))
        assert next(items, "end") == "end"


def test_the_reader_stays_at_most_ahead_items_ahead() -> None:
    made: list[int] = []
    items = ReadAhead(_counting(20, made), ahead=2)
    for used in range(20):
        assert next(items) == used
        # What the consumer holds, plus at most two read ahead.
        assert len(made) <= used + 1 + 2
    assert list(items) == []


def test_an_error_is_raised_after_the_items_before_it() -> None:
    made: list[int] = []
    items = ReadAhead(_counting(10, made, fail_at=4))
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(KeyError, match="item 4"):
        next(items)
    assert next(items, "end") == "end"


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.set()

    items = ReadAhead(source())
    assert next(items) == 0
    items.close()
    assert closed.is_set()
    assert not items._thread.is_alive()
    assert next(items, "end") == "end"
    items.close()  # twice is fine


def test_ahead_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ahead"):
        ReadAhead(iter([1]), ahead=0)
