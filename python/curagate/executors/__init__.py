"""Who runs the stages of :mod:`curagate.pipeline.stages`.

An executor maps a stage function over items (shards, band partitions);
stages never know who runs them. ``local`` runs them in this process, one
after the other (each stage is parallel inside, in the Rust core); ``ray``
runs each as a Ray task, retried on worker failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from curagate.errors import ConfigError

T = TypeVar("T")

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs ``fn(common, item)`` for every item; results in item order."""

    name: str
    workers: int

    def map(self, fn: Callable[[Any, T], Any], common: Any, items: Sequence[T]) -> list[Any]: ...

    def close(self) -> None: ...


def get_executor(name: str, *, address: str | None = None) -> Executor:
    if name == "local":
        from curagate.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from curagate.executors.ray import RayExecutor

        return RayExecutor(address)
    raise ConfigError(f"--executor {name!r}: unknown; use one of {', '.join(EXECUTORS)}")
