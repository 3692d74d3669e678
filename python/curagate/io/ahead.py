"""Reading ahead: the next batch is parsed while the caller works on this one.

Parsing a JSONL chunk runs in the Rust core with the GIL released, and so do the
dedup core's sketching and Arrow's kernels, so a thread that reads batches
overlaps with the caller's own work: ``curagate curate`` reads batch k+1 while
the core sketches batch k, ``curagate audit`` while polars and the rules check
it (and, at its start, while the engine is imported). The batches are the same
objects in the same order, an error is raised at the batch it stopped at, and
at most ``ahead`` batches wait besides the one in use, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

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
