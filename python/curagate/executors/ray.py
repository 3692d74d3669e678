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
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from curagate.build import BuildMismatch, build_id, mismatch, where
from curagate.errors import CuragateError, InputError, MissingExtraError

T = TypeVar("T")

MAX_RETRIES = 3
# How long a failed map waits for its other tasks before reporting the failure.
SETTLE_S = 30.0
# How long each node has to start a worker for the build check.
NODE_CHECK_S = 120.0


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
                check_address(address)
                kwargs["address"] = address
            else:
                # A private instance for this run: Ray's default joins a cluster it finds
                # (RAY_ADDRESS, the last `ray start --head` of this machine), whose nodes may
                # run other code; `--ray-address auto` joins one on purpose.
                kwargs["address"] = "local"
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError) as e:
                # ValueError: an address Ray cannot parse ("Invalid address format").
                raise InputError(
                    f"--ray-address {address}: cannot connect to a Ray cluster ({e}); give "
                    "HOST:PORT of one started with `ray start --head`, `auto`, or omit "
                    "--ray-address for a local one"
                ) from None
            except OSError as e:
                if "AF_UNIX path length" not in str(e):
                    raise
                # Found by the tests under a long TMPDIR: Ray makes its sockets below
                # $TMPDIR/ray/session_.../sockets, and a socket's path may be 107 bytes.
                raise InputError(
                    f"Ray cannot start a local instance here ({e}): its socket paths lie "
                    f"below the temporary folder {tempfile.gettempdir()}, too deep for a "
                    "socket's path; set TMPDIR to a shorter folder (e.g. /tmp), or start a "
                    "cluster with `ray start --head` and give --ray-address"
                ) from None
            self._owned = True
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        cpus = int(resources.get("CPU", 0))
        if cpus < 1:
            self.close()
            # Every task asks for one CPU: it waited for one forever, without a word.
            raise InputError(
                f"the Ray cluster{f' at {address}' if address else ''} offers no CPU to run "
                "tasks on; join worker nodes to it (`ray start --address HEAD:PORT`) or start "
                "its head with --num-cpus N"
            )
        self.workers = cpus
        self.build = build_id()
        try:
            self._check_nodes()
        except BaseException:
            self.close()
            raise

    def _check_nodes(self) -> None:
        """Every node that runs tasks runs this curagate build: a task on one running
        another wrote other bytes into the output, exit 0. A build from before this check
        cannot run it (no such function there), and is told apart by that."""
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [
            n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1
        ]
        probe = ray.remote(num_cpus=0, max_retries=0)(_node_facts)
        refs = [
            probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                name="curagate_build_check",
            ).remote()
            for n in nodes
        ]
        for node, ref in zip(nodes, refs, strict=True):
            label = f"node {_ip(node)} (id {str(node['NodeID'])[:12]})"
            try:
                build, place = ray.get(ref, timeout=NODE_CHECK_S)
            except ray.exceptions.GetTimeoutError:
                raise InputError(
                    f"{label} did not start a curagate worker within {NODE_CHECK_S:.0f} s; "
                    "check that curagate is installed there and the node is healthy"
                ) from None
            except ray.exceptions.RayError as e:
                # The worker's own error (Ray's wraps it in its coloured task header).
                cause = getattr(e, "cause", None) or e
                said = _first_line(cause).split(". ")[0][:200]
                raise BuildMismatch(
                    f"{label} cannot run this curagate build's check "
                    f"({type(cause).__name__}: {said}): it runs another "
                    "curagate build (or none); install the same curagate build on every "
                    "node, then run again"
                ) from None
            if build != self.build:
                raise mismatch(place, build, self.build)

    def map(self, fn: Callable[[Any, T], Any], common: Any, items: Sequence[T]) -> list[Any]:
        if not items:
            return []
        ray = self._ray
        stage = getattr(fn, "__name__", "task")
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(
            _in_folder
        ).options(name=stage)  # its worker's title: ray::<stage>
        shared = ray.put((fn, str(Path.cwd()), common, self.build))
        refs = [remote.remote(shared, item) for item in items]
        try:
            results = list(ray.get(refs))
        except ray.exceptions.RayError as e:
            # Let the other tasks settle first: shutting Ray down while a failing one
            # pushes its error to this driver prints a line of Ray's own on stderr.
            ray.wait(refs, num_returns=len(refs), timeout=SETTLE_S)
            # A user error inside a task (a bad column, an unreadable file, a full disk)
            # is reported as it would be locally: one line, exit 2, no worker traceback
            # (an OSError was exit 3, Ray's coloured traceback of the worker).
            cause = getattr(e, "cause", None)
            if isinstance(e, ray.exceptions.RayTaskError):
                if isinstance(cause, CuragateError | OSError):
                    raise cause from None
                if not isinstance(cause, MemoryError):
                    # A node that joined after the check, of a build from before it, fails
                    # in its own task code (a ValueError unpacking what this build sends):
                    # checked again, it is the build mismatch, not a bug of this build.
                    self._check_nodes()
                    raise
            raise _lost(stage, _failed_item(ray, refs, items), e) from None
        return [self._checked(r) for r in results]

    def _checked(self, result: Any) -> Any:
        """A task's result, once its worker's build is known to be this driver's."""
        if not (isinstance(result, tuple) and len(result) == 3):
            raise BuildMismatch(
                "a worker runs a curagate build from before build checks (it reported no "
                f"build), this driver runs {self.build}; install the same curagate build on "
                "every node, then run again"
            )
        build, place, value = result
        if build != self.build:
            raise mismatch(place, build, self.build)
        return value

    def close(self) -> None:
        if self._owned and os.environ.get("CURAGATE_RAY_KEEP") != "1":
            self._ray.shutdown()


def _in_folder(shared: tuple[Callable[[Any, T], Any], str, Any, str], item: T) -> Any:
    """``fn(common, item)`` in the driver's working folder, with this worker's build and
    place: ``(build, where, result)``. A worker of another build than the driver's refuses
    before doing any work.

    The folder: a path given relative to it (an audit's inputs, leakage's corpus, a
    config's references) is read as the user meant on a cluster started from another
    folder (found by attack: "shards/shard-000.jsonl: no such file"). A node without that
    folder keeps its own (absolute paths still read, on one machine or a shared file
    system)."""
    fn, folder, common, driver = shared
    build = build_id()
    if build != driver:
        raise mismatch(where(), build, driver)
    with contextlib.suppress(OSError):
        os.chdir(folder)
    return build, where(), fn(common, item)


def _node_facts() -> tuple[str, str]:
    """This node's curagate build and place (:meth:`RayExecutor._check_nodes`)."""
    return build_id(), where()


def _ip(node: dict[str, Any]) -> str:
    return str(node.get("NodeManagerAddress", "?"))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _failed_item(ray: Any, refs: list[Any], items: Sequence[Any]) -> Any:
    for ref, item in zip(refs, items, strict=True):
        try:
            ray.get(ref, timeout=0)
        except ray.exceptions.GetTimeoutError:
            continue
        except ray.exceptions.RayError:
            return item
    return None


def _lost(stage: str, item: Any, e: BaseException) -> InputError:
    """A task Ray gave up on: its worker killed (out of memory, a signal), its node lost,
    its result lost. Not a curagate bug, and the finished tasks are resumed by a rerun."""
    what = "" if item is None else f" of {getattr(item, 'name', item)}"
    kind = {
        "OutOfMemoryError": "killed for lack of memory",
        "NodeDiedError": "its node died",
        "ObjectLostError": "its result was lost with its node",
        "TaskUnschedulableError": "no node can run it",
        "WorkerCrashedError": "its worker died (killed by a signal, out of memory?)",
        "RayTaskError": "out of memory inside the task",
    }.get(type(e).__name__, f"Ray gave up on it ({type(e).__name__})")
    return InputError(
        f"the {stage} task{what} failed on the Ray cluster: {kind}, after {MAX_RETRIES} "
        "retries; see the Ray logs of the node, give the nodes more memory (or lower "
        "batch_rows / memory_budget), and run again: the finished tasks are resumed"
    )


def check_address(address: str) -> None:
    """Fail in seconds, in one line, when HOST:PORT is no Ray cluster: Ray itself would
    retry the connection for minutes (and log its own traceback for an address it cannot
    parse). ``auto`` is checked as the address ``RAY_ADDRESS`` gives, when it gives one."""
    given = address
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            return  # the last `ray start` of this machine: Ray finds it, or says none runs
        given = f"auto (RAY_ADDRESS={address})"
    if "://" in address:
        return  # ray://...: Ray Client resolves it itself
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1]:6379, as Ray writes an IPv6 node's address
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(
            f"--ray-address {given}: not HOST:PORT (a host name, an IPv4 address or an "
            "IPv6 one in brackets, [::1]:6379, and a port 1-65535); give the address "
            "`ray start --head` printed, `auto`, or omit --ray-address for a private Ray "
            "instance"
        )
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
    except OSError as e:
        raise InputError(
            f"--ray-address {given}: nothing answers there ({e.strerror or e}); "
            "start a cluster with `ray start --head --port PORT` or use --ray-address auto"
        ) from None
    # The cluster's GCS speaks gRPC (HTTP/2): it answers the HTTP/2 preface with its
    # SETTINGS frame. Anything else (a web server, a port that accepts and says nothing)
    # left Ray retrying for minutes.
    with s:
        try:
            s.sendall(_H2_PREFACE)
            head = _read_exactly(s, 9)
        except OSError:
            head = b""
    if len(head) < 9 or head[3] != 0x04:
        raise InputError(
            f"--ray-address {given}: something answers there, but not a Ray cluster (no gRPC "
            "server); give the address `ray start --head` printed (its GCS port, 6379 by "
            "default)"
        )


# The HTTP/2 client preface and an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _read_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data
