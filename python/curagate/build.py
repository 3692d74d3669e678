"""Which curagate build this process runs, where it runs, and whether it sees the
driver's files.

A cluster's workers import curagate themselves: a node with another build
(an older release, a dev install, a rebuilt ``_core``) computes other bytes,
and its files were published beside the driver's as one run (exit 0). The
build id names the version, the Python (implementation and major.minor: another
minor has other Unicode tables), the libraries whose bytes reach the outputs
(:data:`LIBRARIES`: pyarrow's version is in every Parquet footer) and a digest
of the package's files (:func:`curagate.digest.package_files`: the Python
modules, the native ``_core`` library, the data files the code reads), computed
once per process: two installs of the same files under the same Python and
libraries have the same id, any change to one of them gives another, and a
refusal names the parts that differ.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import sys
from pathlib import Path
from typing import Any

from curagate.digest import package_digest, sample_identity
from curagate.errors import InputError

_BUILD: str | None = None

# The libraries whose releases change the bytes a run writes: pyarrow (Parquet, whose
# footer names its version), polars (the audit's statistics), numpy and zstandard.
LIBRARIES = ("pyarrow", "polars", "numpy", "zstandard")


def build_parts() -> dict[str, str]:
    """What :func:`build_id` is made of, by name (``none``: a library not installed)."""
    from curagate import __version__

    parts = {
        "curagate": __version__,
        "python": f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}",
    }
    for lib in LIBRARIES:
        try:
            parts[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            parts[lib] = "none"
    parts["files"] = package_digest(Path(__file__).resolve().parent)[:16]
    return parts


def build_id() -> str:
    """This process's curagate build, ``name=value`` of each of :func:`build_parts`
    (cached: ~50 ms the first time)."""
    global _BUILD
    if _BUILD is None:
        _BUILD = " ".join(f"{k}={v}" for k, v in build_parts().items())
    return _BUILD


def where() -> str:
    """This process's place, for an error message: a Ray worker's node (its IP and id),
    else this machine."""
    host = socket.gethostname()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            ip = ray.util.get_node_ip_address()
            node = ray.get_runtime_context().get_node_id()
        except Exception:  # a label only: never fail for it
            return f"host {host} (pid {os.getpid()})"
        return f"node {ip} (id {str(node)[:12]}, host {host}, pid {os.getpid()})"
    return f"host {host}"


def require_same_file(name: str, path: str, expected: Any) -> None:
    """The file at ``path`` is the one the driver listed as ``expected``
    (:func:`curagate.digest.sample_identity`; None: not checked): a node whose file system
    shows other bytes there (an unshared or stale mount) put rows the driver never had
    into the output, exit 0; one that shows no file failed, or not, by scheduling."""
    if expected is None:
        return
    seen = sample_identity(path)
    if seen is not None and seen == list(expected):
        return
    remote = _on_a_ray_worker()
    if seen is None:
        cause = "removed or made unreadable while curate ran" + (
            ", or this node does not see it" if remote else ""
        )
        raise InputError(f"{name}: {where()} cannot read it at {path} ({cause}){_fix(remote)}")
    raise InputError(
        f"{name}: {where()} sees another file at {path} ({seen[0]} bytes, digest "
        f"{str(seen[1])[:12]}) than the driver listed ({expected[0]} bytes, digest "
        f"{str(expected[1])[:12]}): {_changed(remote)}{_fix(remote)}"
    )


def require_same_bytes(
    name: str, path: str, seen: str | None, expected: str | None, *, copy: bool = False
) -> None:
    """The bytes at ``path`` (``seen``: :func:`curagate.digest.whole_digest` of the file as
    this task reads it) are those an earlier task read there (``expected``): two stages of
    one run that each read an input and match their results by row position applied one
    file's decisions to another file's rows when the two differed where
    :func:`require_same_file` does not sample (a same-length edit in place, a node's stale
    copy), exit 0. ``copy``: ``path`` is the work folder's download of the remote
    input ``name``, which a rerun does not download again (found by re-attack: the fix
    "run again" could never work there)."""
    if seen is not None and seen == expected:
        return
    remote = _on_a_ray_worker()
    now = "unreadable" if seen is None else seen[:12]
    then = "none recorded" if expected is None else expected[:12]
    raise InputError(
        f"{name}: {where()} reads other bytes at {path} (whole-file digest {now}) than the "
        f"sketch stage read there (digest {then}), though size and sampled bytes agree: "
        + (
            f"the work folder's copy of it changed; delete {path} (or the work folder) and "
            "run again to download it again"
            if copy
            else f"{_changed(remote)}{_fix(remote)}"
        )
    )


def _changed(remote: bool) -> str:
    # In one process the only cause is a writer; on a cluster's node it may also be that
    # node's own file system (found by re-attack: a file appended to during a Ray run was
    # blamed on the node's mount alone).
    return "it changed while curate ran" + (
        ", or this node's file system shows other bytes there" if remote else ""
    )


def _fix(remote: bool) -> str:
    return (
        "; inputs must be on a file system every node sees at the same path, with the same "
        "bytes, and nothing may write to them while curate runs"
        if remote
        else "; run again once nothing writes to the inputs"
    )


def _on_a_ray_worker() -> bool:
    """Whether this process is part of a Ray run (as :func:`where` names it)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


class BuildMismatch(InputError):
    """A worker runs another curagate build than the driver."""


def mismatch(node: str, worker: str, driver: str) -> BuildMismatch:
    return BuildMismatch(
        f"{node} runs another curagate build than this driver ({differences(worker, driver)}): "
        "its results would differ from this build's; install the same curagate build, "
        "Python and libraries on every node (and the driver), then run again"
    )


def differences(worker: str, driver: str) -> str:
    """Which parts of two :func:`build_id` differ, ``name X there, Y here``; both ids
    whole when one is not of this form (a build from before the parts)."""
    there, here = _parts(worker), _parts(driver)
    if there is None or here is None:
        return f"curagate build {worker} there, {driver} here"
    names = list(here) + [k for k in there if k not in here]
    return ", ".join(
        f"{k} {there.get(k, 'none')} there, {here.get(k, 'none')} here"
        for k in names
        if there.get(k) != here.get(k)
    )


def _parts(build: str) -> dict[str, str] | None:
    pairs = [p.partition("=") for p in str(build).split()]
    if not pairs or any(not sep for _, sep, _ in pairs):
        return None
    return {k: v for k, _, v in pairs}
