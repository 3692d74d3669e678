"""Long core calls release the GIL (through the bindings' one `enter` helper): while a
worker thread is inside one, the main thread keeps running Python."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pyarrow as pa

from curagate import _core
from tests.curate.conftest import t0_records


def _texts() -> pa.Array:
    rows = t0_records(2240)
    # Distinct variants of real records: enough work for a call of a second or so.
    texts = [f"{r['prompt']} {r['completion']} variant {k}" for k in range(12) for r in rows]
    return pa.array(texts, pa.large_string())


def _longest_pause(call: Callable[[], object]) -> tuple[float, float]:
    """(longest gap between main-thread steps while `call` ran in a thread, its duration)."""
    started, box = threading.Event(), {}

    def work() -> None:
        started.set()
        t = time.perf_counter()
        call()
        box["took"] = time.perf_counter() - t

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    gap, last = 0.0, time.perf_counter()
    while worker.is_alive():
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    worker.join()
    return gap, box["took"]


def _leakage_scan(texts: pa.Array) -> Callable[[], object]:
    index = _core.ReferenceIndex(threads=1)
    index.add(texts[:2000])
    index.bands_rows()  # freeze now, so that the timed call is the scan alone
    return lambda: index.scan(texts)


def test_the_main_thread_runs_during_a_long_core_call() -> None:
    # Verified to fail with the GIL held in `enter`. (A Deduper.add did not stall
    # the main thread even then, for a reason not yet understood: not used here.)
    call = _leakage_scan(_texts())
    gap, took = _longest_pause(call)
    assert took > 0.2, f"the call took {took:.3f}s: too short to tell"
    # Holding the GIL would stall the main thread for about the whole call.
    assert gap < took / 2, f"main thread stalled {gap:.3f}s of a {took:.3f}s call"
