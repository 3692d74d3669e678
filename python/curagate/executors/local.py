"""In-process executor: stage tasks one after the other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class LocalExecutor:
    name = "local"
    workers = 1

    def map(self, fn: Callable[[Any, T], Any], common: Any, items: Sequence[T]) -> list[Any]:
        return [fn(common, item) for item in items]

    def close(self) -> None:
        pass
