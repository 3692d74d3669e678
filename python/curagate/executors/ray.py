"""Ray executor: every stage task is a Ray task (Ray Core).

The plan is put in the object store once and shared by every task. Tasks are
retried when a worker dies (``max_retries``); a retried task redoes only its
own work, and a finished one is skipped thanks to its ``done.json`` marker.
Workers import curagate (and its Rust extension) themselves: curagate must be
installed on every node, and the work directory must be a path that every
node sees (one machine, or a shared file system).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from curagate.errors import CuragateError, InputError, MissingExtraError

T = TypeVar("T")

MAX_RETRIES = 3
# How long a failed map waits for its other tasks before reporting the failure.
SETTLE_S = 30.0


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise MissingExtraError("ray", "ray") from None
        self._ray = ray
        self._owned = False
        try:
            os.getcwd()  # noqa: PTH109  (the check itself: Path.cwd() raises the same)
        except FileNotFoundError:
            # Ray reads it to start (exit 3 inside ray.init), and every task runs there.
            raise InputError(
                "the working folder of this command no longer exists (deleted after the "
                "shell entered it); cd to an existing folder and run again"
            ) from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
            if address:
                _probe(address)
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError) as e:
                # ValueError: an address Ray cannot parse ("Invalid address format").
                raise InputError(
                    f"--ray-address {address}: cannot connect to a Ray cluster ({e}); give "
                    "HOST:PORT of one started with `ray start --head`, `auto`, or omit "
                    "--ray-address for a local one"
                ) from None
            self._owned = True
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.workers = max(1, int(resources.get("CPU", 1)))

    def map(self, fn: Callable[[Any, T], Any], common: Any, items: Sequence[T]) -> list[Any]:
        if not items:
            return []
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(
            _in_folder
        ).options(name=getattr(fn, "__name__", "task"))  # its worker's title: ray::<stage>
        shared = ray.put((fn, str(Path.cwd()), common))
        refs = [remote.remote(shared, item) for item in items]
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayTaskError as e:
            # Let the other tasks settle first: shutting Ray down while a failing one
            # pushes its error to this driver prints a line of Ray's own on stderr.
            ray.wait(refs, num_returns=len(refs), timeout=SETTLE_S)
            # A user error inside a task (a bad column, an unreadable file, a full disk)
            # is reported as it would be locally: one line, exit 2, no worker traceback
            # (an OSError was exit 3, Ray's coloured traceback of the worker).
            if isinstance(e.cause, CuragateError | OSError):
                raise e.cause from None
            raise

    def close(self) -> None:
        if self._owned and os.environ.get("CURAGATE_RAY_KEEP") != "1":
            self._ray.shutdown()


def _in_folder(shared: tuple[Callable[[Any, T], Any], str, Any], item: T) -> Any:
    """``fn(common, item)`` in the driver's working folder: a path given relative to it
    (an audit's inputs, leakage's corpus, a config's references) is read as the user
    meant on a cluster started from another folder (found by attack: "shards/shard-000.jsonl:
    no such file"). A node without that folder keeps its own (absolute paths still read,
    on one machine or a shared file system)."""
    fn, folder, common = shared
    with contextlib.suppress(OSError):
        os.chdir(folder)
    return fn(common, item)


def _probe(address: str) -> None:
    """Fail in seconds, in one line, when HOST:PORT does not answer: Ray itself
    would retry the connection for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray://...: Ray resolves those itself
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except OSError as e:
        raise InputError(
            f"--ray-address {address}: nothing answers there ({e.strerror or e}); "
            "start a cluster with `ray start --head --port PORT` or use --ray-address auto"
        ) from None
