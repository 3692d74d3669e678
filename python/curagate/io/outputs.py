"""Output folders that never destroy: what may be replaced, and where outputs may go.

A folder is replaced as a whole only when it holds curagate's own marker
file (written last, inside the temporary folder, just before the rename), so
a user's folder that merely contains a ``manifest.json`` is never deleted.
The marker's run id is a hash of the run's ``stats.json`` and
``manifest.json``: it names the run while keeping reruns byte-identical.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from curagate.errors import InputError

MARKER_NAME = ".curagate-output.json"
# A marker is ~100 bytes; a manifest or stats.json of a million files ~200 MB.
MAX_MARKER_BYTES = 1 << 20
MAX_MANIFEST_BYTES = 1 << 30


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (one name, at most ``limit`` bytes), never
    following a link or waiting on a FIFO; OSError naming the file otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a link or special file)", str(path))
        if st.st_nlink > 1:
            raise OSError(errno.EINVAL, f"a hard link ({st.st_nlink} names)", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return data
    finally:
        os.close(fd)


def write_marker(folder: Path, command: str, identity: Sequence[Path]) -> str:
    """Write the marker into ``folder``; returns the run id."""
    digest = hashlib.sha256()
    for path in identity:
        digest.update(path.read_bytes())
    run_id = digest.hexdigest()[:16]
    marker = {"tool": "curagate", "command": command, "run_id": run_id, "complete": True}
    (folder / MARKER_NAME).write_text(json.dumps(marker, sort_keys=True) + "\n", encoding="utf-8")
    return run_id


def read_marker(folder: Path) -> dict[str, object] | None:
    """The marker of a complete curagate output, or None."""
    try:
        marker = json.loads(read_regular(folder / MARKER_NAME, MAX_MARKER_BYTES))
    except (OSError, ValueError, RecursionError):  # nested past the limit: not a marker
        return None
    if (
        isinstance(marker, dict)
        and marker.get("tool") == "curagate"
        and isinstance(marker.get("run_id"), str)
        and marker.get("complete") is True
    ):
        return marker
    return None


def check_output(
    out: Path, command: str, inputs: Sequence[str | os.PathLike[str]], files: Sequence[Path]
) -> None:
    """The checks of a command that replaces its ``--out`` folder as a whole
    (curate, split): no overlap with an input, and only its own previous output
    is replaced."""
    refuse_overlap(out, inputs, files)
    check_replaceable(out, command)


def require_directory(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not a directory (e.g. an input file)."""
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise InputError(
            f"--out {out}: exists and is not a directory; give a directory for the outputs "
            "(a new one, or a previous output of the same command)"
        )


def check_replaceable(out: Path, command: str) -> None:
    """Refuse an ``--out`` that exists and is not a complete previous ``command`` output,
    and one that is a symbolic link (the output replaces ``--out`` by a rename, which
    would replace the link, not the folder it points to)."""
    if out.is_symlink():
        raise InputError(
            f"--out {out}: is a symbolic link (to {out.readlink()}); the output is written "
            "beside --out and renamed into its place, so give the real folder instead"
        )
    require_directory(out)
    if not out.exists():
        return
    if not any(out.iterdir()):
        return
    marker = read_marker(out)
    if marker is None or marker.get("command") != command:
        raise InputError(
            f"--out {out}: directory exists and is not a curagate output (no complete "
            f"{command} marker {MARKER_NAME}); choose a new or empty directory ({command} "
            "replaces its output folder as a whole)"
        )


def refuse_overlap(
    out: Path, inputs: Sequence[str | os.PathLike[str]], files: Sequence[Path]
) -> None:
    """An output inside an input folder would be read back by the next run; an
    output folder holding an input would delete it when replaced."""
    target = out.resolve()
    for item in inputs:
        given = Path(item)
        if not given.is_dir():
            continue
        root = given.resolve()
        if target == root or root in target.parents:
            raise InputError(
                f"--out {out}: is inside input folder {given}; the next run would read its "
                "outputs back: write outputs elsewhere"
            )
    for path in files:
        resolved = path.resolve()
        if target == resolved:
            raise InputError(
                f"--out {out}: is the input file {path}; give a new directory for the outputs"
            )
        if target in resolved.parents:
            raise InputError(f"--out {out}: contains input {path}; write outputs elsewhere")
