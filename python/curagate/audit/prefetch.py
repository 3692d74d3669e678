"""Reading ahead: the next batch is parsed while the audit works on this one.

Parsing a JSONL chunk runs in the Rust core with the GIL released, so a
thread that reads batches overlaps with the audit's own work (polars, the
rule checks) and, at the start of ``curagate audit``, with importing the
engine (polars among it): :func:`~curagate.audit.audit` starts reading before
that import. The batches are the same objects in the same order, an error is
raised at the batch it stopped at, and at most ``ahead`` batches wait besides
the one being audited, so memory stays bounded. No polars here.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from curagate.audit.config import AuditConfig
    from curagate.records import Batch

T = TypeVar("T")

_END = object()


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate ``items`` in a daemon thread, at most ``ahead`` items before the consumer.

    Use as a context manager (or call :meth:`close`) so that a consumer that
    stops early also stops the thread and closes ``items``.
    """

    def __init__(self, items: Iterator[T], *, ahead: int = 1, name: str = "curagate-read") -> None:
        if ahead < 1:
            raise ValueError("ahead must be at least 1")
        self._items = items
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._room = threading.Semaphore(ahead)  # taken per item read, given back per item used
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        items = self._items
        try:
            while True:
                self._room.acquire()
                if self._stop.is_set():
                    return
                try:
                    item = next(items)
                except StopIteration:
                    self._queue.put(_END)
                    return
                self._queue.put(item)
        except BaseException as e:  # handed to the consumer, raised where it would have been
            self._queue.put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        self._room.release()
        if item is _END:
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Raised):
            self._done = True
            self._thread.join()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop reading (the thread ends after the item it is reading, if any)."""
        if self._done:
            return
        self._done = True
        self._stop.set()
        self._room.release()  # wake the thread if it waits for room
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_ahead(paths: Sequence[str | Path], cfg: AuditConfig, **read: Any) -> ReadAhead[Batch]:
    """The batches of ``paths`` (as :func:`~curagate.io.expand_inputs` lists them) for
    the audit ``cfg``, read one batch ahead in a thread. Bad reading options raise
    here; a file's problems when the batches reach them, as without reading ahead."""
    from curagate.io import read_batches

    batches = read_batches(
        paths,
        format=cfg.format,
        text_field=cfg.text_field,
        preference_key=cfg.preference_key,
        **read,
    )
    return ReadAhead(batches)
