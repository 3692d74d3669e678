"""Atomic outputs: write under a temporary name, then rename.

An interrupted run never leaves a file or directory that looks complete:
readers see either the previous version or the new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it over ``path``.

    Works for files and directories alike (whatever the body creates at the
    yielded path). On error the temporary is removed and ``path`` untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    )
    tmp.rmdir()  # the body creates a file or a directory here
    old = target.with_name(f".{target.name}.old")
    moved_aside = False
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            # os.replace cannot overwrite a non-empty directory: move the old
            # one aside first so the swap is still a pair of renames.
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            moved_aside = True
            tmp.rename(target)
            moved_aside = False
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(target)
    except BaseException:
        if moved_aside and not target.exists() and not target.is_symlink():
            # The new one never got in place: put the previous one back.
            old.rename(target)
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a temporary named by it belongs to a live run)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale(target: Path) -> list[Path]:
    """Remove what killed runs left next to ``target``; returns what was removed.

    Temporaries are named ``.NAME.PID.XXXX.tmp``: one whose process is gone
    is removed (a live one belongs to a concurrent run and is left alone). A
    ``.NAME.old`` is the previous output moved aside; when the run died
    between the two renames ``target`` is missing and it is moved back.
    """
    removed: list[Path] = []
    parent, name = target.parent, target.name
    try:
        siblings = list(parent.iterdir())
    except OSError:
        return removed
    prefix = f".{name}."
    for sib in siblings:
        rest = sib.name[len(prefix) :] if sib.name.startswith(prefix) else ""
        pid, _, tail = rest.partition(".")
        if not (pid.isdigit() and tail.endswith(".tmp")) or pid_alive(int(pid)):
            continue
        if sib.is_dir() and not sib.is_symlink():
            shutil.rmtree(sib, ignore_errors=True)
        else:
            sib.unlink(missing_ok=True)
        removed.append(sib)
    old = parent / f".{name}.old"
    if old.is_dir() and not old.is_symlink():
        if not target.exists() and not target.is_symlink():
            old.rename(target)
        else:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
