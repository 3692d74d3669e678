"""Atomic outputs: write under a temporary name, then rename.

An interrupted run never leaves a file or directory that looks complete:
readers see either the previous version or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from curagate.errors import CuragateError


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str],
    *,
    replaceable: Callable[[Path], None] | None = None,
    claim: Claim | None = None,
    placed: Callable[[Path, bool], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it over ``path``.

    Works for files and directories alike (whatever the body creates at the
    yielded path). On error the temporary is removed and ``path`` untouched.
    ``replaceable(path)``, when given, runs again just before something at ``path`` is
    replaced, and raises to refuse: a folder of the user's that appeared there while
    the body ran (the command checked ``path`` before it) is never deleted.
    ``claim`` (:func:`claim_output` of ``path``, taken as the command began, before its
    work): refuse (:class:`InputError`) when another run put something at ``path`` since
    (two exports or curates of one ``--out`` at once: both said "done", the first's numbers
    described an output the second had replaced); the look and the rename hold a lock on
    the parent folder, so of runs that overlap exactly one puts its output in place.
    Without it the last run to rename wins, whole. With it, the output goes to the folder
    ``path`` named when the claim was taken (links on its way resolved then), whatever
    they lead to since.
    ``placed(path, previous)``, when given, runs once the output is in place, before what
    was there is discarded (``previous``: something was), and raises to refuse it: the
    output is removed and what was at ``path`` put back, as it was (nothing, if nothing
    was); the error is raised on. What was there is kept aside as
    ``.NAME.PID.HOST.DEV-INO.curagate.held`` meanwhile (DEV-INO: the output put in its place):
    a run killed before ``placed`` returned gets it back at the next run at ``path``
    (:func:`remove_stale`), its own output removed, while that output is still there.
    """
    given = Path(path)
    check_parent(given)
    # Every rename below goes through one folder, named once: `ts/../ts`'s parent `ts/..`
    # went away with the previous output the swap moved aside (ENOENT, retried 20 times,
    # the previous output never put back), and `nd/../nd` made an empty `nd` as "parent".
    # With a claim, named as the command began, where its checks looked: a link on the way
    # switched during the work (a rotated `current -> ...`) sent the output to the folder it
    # led to then, which no check had looked at (inside an input, read back by the rerun).
    target = stable_path(given) if claim is None else claim.path
    if target != stable_path(given):
        given = target  # the path as given leads elsewhere now: what is written is named
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        # Absolute: what the body writes here may go through pyarrow, which expands a
        # leading "~" of a relative path (a folder literally named "~") to the home folder.
        folder, lock = temporary_beside(target.absolute())
    except OSError as e:
        raise _cannot_write(given, target, e) from None
    # The body creates a file or a directory here, inside the folder this run holds locked
    # (see temporary_beside): the next run tells a killed run's from a live one's by it.
    tmp = folder / _INNER
    # Named by this process: a killed run's is told from a live one's, and ours from any
    # ".NAME.old" or ".NAME.20240501.old" of the user's own.
    old = target.with_name(
        f".{target.name}.{run_tag()}{_ASIDE_SUFFIX if placed is None else _HELD_SUFFIX}"
    )
    if placed is not None:
        check = placed

        def placed(path: Path, previous: bool) -> None:
            folder.rmdir()  # emptied by the rename: not left behind if the check is killed
            check(path, previous)

    try:
        yield tmp
        for attempt in range(_SWAP_TRIES):
            try:
                with _parent_locked(target.parent) if claim else contextlib.nullcontext():
                    if placed is not None:
                        # A run killed while it checked its output here: its held one
                        # back before anything is compared (a run started while that one
                        # ran took its unaccepted output for the previous one).
                        _restore_held(target)
                    # Something else than what the run began with (deleted since: no matter).
                    if claim and _identity(target) not in (None, claim.identity):
                        from curagate.errors import InputError

                        if replaceable is not None:  # a folder of the user's: said as such
                            replaceable(given)
                        raise InputError(
                            f"{given}: another run wrote it while this one ran (what is there "
                            "is that run's, whole); this run's output was not put in its place: "
                            "run again once the other has finished, or write to another path"
                        )
                    _swap(
                        tmp,
                        target,
                        old,
                        None if replaceable is None else lambda _: replaceable(given),
                        placed,
                    )
                break
            except OSError as e:
                # Another run writing the same output renamed ``target`` between our look
                # and our rename: look again (the last run to rename wins, whole). Not once
                # the output went in (an OSError of ``placed``): nothing is left to rename.
                placed_in = placed is not None and not (tmp.exists() or tmp.is_symlink())
                if e.errno not in _RACED or placed_in:
                    raise
                if attempt == _SWAP_TRIES - 1:
                    from curagate.errors import InputError

                    raise InputError(
                        f"{given}: other runs kept replacing it while this one did "
                        f"({_SWAP_TRIES} tries); run one writer at a time"
                    ) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # empty once the output is in place
        release(lock)


def stable_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with its folder named by its real path (links and `..` resolved as the
    system resolves them), its own name kept: what the renames of an output go through,
    which a parent such as `out/..` or a link inside the output would not stay."""
    target = Path(path)
    return Path(os.path.realpath(target.parent)) / target.name


class OutputAside(CuragateError):
    """A previous output moved aside that could not be put back (exit 3): where it is."""

    exit_code = 3


class Claim(NamedTuple):
    """What was at an output path as its command began (see :func:`atomic_path`)."""

    path: Path
    identity: tuple[int, int, int] | None


def claim_output(path: str | os.PathLike[str]) -> Claim:
    """What is at ``path`` now, for the :func:`atomic_path` that will replace it after
    the command's work (a previous output a killed run moved aside is put back first:
    it was there before this run)."""
    target = stable_path(path)
    if _is_mount_point(target):
        from curagate.errors import InputError

        # Said before the work: the rename that puts the output in place cannot move a
        # mount point (EBUSY, exit 3 once everything was done; `docker -v host:/out`).
        raise InputError(
            f"{path}: a mount point; the output is put in place by renaming a finished "
            f"folder onto it, which a mount point cannot be: give a folder inside it "
            f"(--out {(Path(path) / 'run').as_posix()})"
        )
    _probe_temporary(Path(path), target)
    remove_stale(target)
    return Claim(target, _identity(target))


def _probe_temporary(given: Path, target: Path) -> None:
    """An InputError, before the work, when :func:`atomic_path` could not make its
    temporary beside ``target``: a name too long for it (``.NAME.PID.HOST.XXXXXXXX.curagate.tmp``
    is ~37 bytes longer than NAME), a folder that cannot be written. It was said after
    all the work (split: 4.8 s, then "File name too long")."""
    from curagate.errors import InputError

    try:
        folder = _nearest_folder(target.parent)
        _check_path_length(given, target, folder)
        if _temporary_bytes(target.name) > os.pathconf(folder, "PC_NAME_MAX"):
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        if folder == target.parent:
            # What atomic_path makes, made and removed (a killed run's is a stale temporary).
            prefix = f".{target.name}.{run_tag()}."
            _remove_tree(Path(tempfile.mkdtemp(prefix=prefix, suffix=TMP_SUFFIX, dir=folder)))
            return
        # atomic_path makes the folders below ``folder``: one made and removed there says it
        # can (`--out /proc/new/o` did split's whole work first, then exit 2).
        Path(tempfile.mkdtemp(prefix=f".probe.{run_tag()}.", suffix=TMP_SUFFIX, dir=folder)).rmdir()
        limit = os.pathconf(folder, "PC_NAME_MAX")
        for part in target.parent.relative_to(folder).parts:
            if len(os.fsencode(part)) > limit:
                raise InputError(
                    f"{given}: cannot write there: its folder name {part[:40]}... is longer "
                    f"than the {limit} bytes a name may be here; choose a shorter path"
                )
    except OSError as e:
        raise _cannot_write(given, target, e) from None


# How far below its temporary folder an output's files lie, at most, with their own
# temporaries (curate --split: `.splits.PID.HOST.XXXXXXXX.curagate.tmp/.stats.json.PID...tmp`).
OUTPUT_DEPTH_BYTES = 192


def _check_path_length(given: Path, target: Path, folder: Path) -> None:
    """An InputError when the files an output holds would have paths longer than the
    system takes: an --out 4,001 bytes deep passed the temporary's probe, then failed after
    the work ("give --out a name of at most 217 bytes", of a 6-byte name)."""
    from curagate.errors import InputError

    if any(part.endswith(TMP_SUFFIX) for part in target.parent.parts):
        return  # an output inside another's temporary (curate --split): that one counted it
    try:
        limit = os.pathconf(folder, "PC_PATH_MAX") - 1  # the count includes the final NUL
    except (OSError, ValueError):
        return
    tmp = target.parent.absolute() / f".{target.name}.{run_tag()}.XXXXXXXX{TMP_SUFFIX}"
    deepest = len(os.fsencode(str(tmp / _INNER))) + 1 + OUTPUT_DEPTH_BYTES
    if deepest > limit:
        raise InputError(
            f"{given}: cannot write there: its path is {len(os.fsencode(str(target)))} bytes, and "
            f"the output's files lie up to {deepest - len(os.fsencode(str(target)))} bytes below "
            f"it (its temporary folder, the files in it), past the {limit} bytes a path may be "
            f"here; choose an --out at most {max(limit - deepest + len(os.fsencode(str(target))), 1)}"
            " bytes long"
        )


def _temporary_bytes(name: str) -> int:
    """The length in bytes of the longest name :func:`atomic_path` gives a sibling of output
    ``name``: its temporary (``.NAME.PID.HOST.XXXXXXXX.curagate.tmp``) or, checked in place,
    the previous output held aside (``.NAME.PID.HOST.DEV-INO.curagate.held``, device and
    inode in hex, up to 16 digits each; found by re-attack: a re-export to a name the check
    passed failed after all the work, "File name too long", every time)."""
    held = f".{name}.{run_tag()}.{'f' * 16}-{'f' * 16}{_HELD_SUFFIX}"
    return max(
        len(os.fsencode(f".{name}.{run_tag()}.XXXXXXXX{TMP_SUFFIX}")), len(os.fsencode(held))
    )


def _cannot_write(given: Path, target: Path, e: OSError) -> CuragateError:
    from curagate.errors import InputError

    if e.errno == errno.ENAMETOOLONG and _name_fits(target):
        # The name fits, the whole path does not (a file written below a deep --out).
        return InputError(
            f"{given}: cannot write there ({e.strerror}): its path, "
            f"{len(os.fsencode(str(target.absolute())))} bytes, or that of its temporary "
            "sibling is longer than the system takes; choose a shorter --out path"
        )
    if e.errno == errno.ENAMETOOLONG:
        try:
            limit = os.pathconf(_nearest_folder(target.parent), "PC_NAME_MAX")
        except OSError:
            limit = 255
        extra = _temporary_bytes(target.name) - len(os.fsencode(target.name))
        return InputError(
            f"{given}: cannot write there ({e.strerror}): the output is written beside it "
            f"as .NAME.{run_tag()}.XXXXXXXX{TMP_SUFFIX} and renamed into place (a previous "
            f"one checked in place is held beside it as .NAME.{run_tag()}.DEV-INO"
            f"{_HELD_SUFFIX}), up to {extra} bytes more than its name, and a name here may be "
            f"{limit} bytes: give --out a name of at most {max(limit - extra, 1)} bytes"
        )
    return InputError(
        f"{given}: cannot write there ({e.strerror or e}); choose an output path in a "
        "folder you can write"
    )


def _name_fits(target: Path) -> bool:
    """Whether the temporary name :func:`atomic_path` gives ``target`` fits its folder's
    limit on a name (so a "File name too long" is about the whole path)."""
    try:
        limit = os.pathconf(_nearest_folder(target.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        return False
    return _temporary_bytes(target.name) <= limit


def _nearest_folder(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def _is_mount_point(target: Path) -> bool:
    """Whether ``target`` is mounted on: ``os.path.ismount`` compares devices, so a bind
    mount from the same filesystem (`docker -v /h/data:/data -v /h/data/out:/data/out`)
    is found in the kernel's list of this process's mounts instead (Linux)."""
    if os.path.ismount(target):
        return True
    if target.is_symlink() or not target.is_dir():
        return False
    try:
        with Path("/proc/self/mountinfo").open(encoding="utf-8", errors="surrogateescape") as f:
            points = {line.split(" ")[4] for line in f if line.count(" ") >= 4}
    except OSError:
        return False
    # Spaces, tabs, newlines and backslashes in a mount point are octal escapes there.
    shown = re.sub(r"[ \t\n\\]", lambda m: f"\\{ord(m[0]):03o}", os.path.realpath(target))
    return shown in points


def _identity(target: Path) -> tuple[int, int, int] | None:
    """What is at ``target`` now (None: nothing): a rename into place is another inode and
    a new change time (the inode alone repeats: ext4 gave a freed number back to the next
    run's output, and a run begun first replaced it, both exit 0)."""
    try:
        st = target.lstat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


@contextlib.contextmanager
def _parent_locked(parent: Path) -> Iterator[None]:
    """An exclusive flock on the folder ``parent`` (advisory: among curagate's runs; a
    filesystem without locks goes unlocked)."""
    import fcntl

    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# A rename that meets another run's rename of the same output: ``target`` gone (moved
# aside by it), or there again (put there by it) as a non-empty folder.
_RACED = frozenset({errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST})
_SWAP_TRIES = 20


def _swap(
    tmp: Path,
    target: Path,
    old: Path,
    replaceable: Callable[[Path], None] | None,
    placed: Callable[[Path, bool], None] | None = None,
) -> None:
    """Put ``tmp`` in ``target``'s place; a folder there is moved aside to ``old`` and
    removed once ``tmp`` is in, or put back if ``tmp`` could not get in. With ``placed``,
    whatever is there is moved aside, and put back if ``placed`` refuses the output."""
    previous = target.exists() or target.is_symlink()
    if replaceable is not None and previous:
        replaceable(target)
    if placed is not None:
        _swap_held(tmp, target, old, placed, previous)
        return
    if not target.is_dir() or target.is_symlink():
        tmp.replace(target)
        return
    # os.replace cannot overwrite a non-empty directory: move the old one aside first so
    # the swap is still a pair of renames.
    shutil.rmtree(old, ignore_errors=True)
    lock = hold(target, wait=False)  # before it is moved aside: the lock goes with it
    try:
        target.rename(old)
        _swap_aside(tmp, target, old)
    finally:
        release(lock)


def _swap_aside(tmp: Path, target: Path, old: Path) -> None:
    """The second rename of :func:`_swap`, ``target`` moved aside to ``old``."""
    try:
        tmp.rename(target)
    except BaseException as e:
        if not target.exists() and not target.is_symlink():
            try:
                old.rename(target)  # the new one never got in place: the previous one back
            except OSError as lost:
                if target.exists() or not old.exists():
                    # Another writer put its output in place since, or (a thread of this
                    # process, whose aside has this name) moved ours: a race, looked at again.
                    raise e from None
                # Never taken for another run's rename (retried, then "other runs kept
                # replacing it", the previous output left aside without a word).
                raise OutputAside(
                    f"{target}: this run's output could not be put in place "
                    f"({getattr(e, 'strerror', None) or e}), nor the previous output put back "
                    f"({lost.strerror or lost}): it is in {old}; rename it back to "
                    f"{target.name} (the next run at this path also puts it back)"
                ) from e
        raise
    shutil.rmtree(old, ignore_errors=True)


def _swap_held(
    tmp: Path, target: Path, held: Path, placed: Callable[[Path, bool], None], previous: bool
) -> None:
    """:func:`_swap` with ``placed``: what is at ``target`` (a folder, a file or a link)
    is held aside until ``placed`` accepts ``tmp`` in its place. Each step is one rename, and
    a run killed at any of them leaves what :func:`remove_stale` undoes: the held one, with
    ``target`` missing or holding this run's output, is put back."""
    # Held locked from before it is moved aside until it is back or discarded (a link
    # cannot be locked: its run is judged by its process id).
    lock = hold(target, wait=False) if previous else None
    try:
        if previous:
            held = _held_for(held, tmp)
            _remove_tree(held)
            target.rename(held)
            try:
                tmp.rename(target)
            except BaseException as e:
                _put_back(held, target, e)
                raise
        else:
            tmp.rename(target)
        try:
            placed(target, previous)
        except BaseException as e:
            # Out of the way in one rename (a temporary's name: a killed run's is removed by
            # the next), then what was there back in its place.
            _discard(target, target.name)
            if previous:
                _put_back(held, target, e)
            raise
        if previous:
            _discard(held, target.name)
    finally:
        release(lock)


def _held_for(held: Path, output: Path) -> Path:
    """``held``'s name with the identity (device, inode) of ``output``, the output put in
    its place: the next run gives the held one back only while that output (never
    accepted) is still there, or nothing is (found by re-attack: a held copy trusted by its
    run's process id alone was put back over a bundle accepted since, once that id's new
    process ended, and over a bundle a user renamed into place)."""
    st = output.lstat()
    stem = held.name.removesuffix(_HELD_SUFFIX)
    return held.with_name(f"{stem}.{st.st_dev:x}-{st.st_ino:x}{_HELD_SUFFIX}")


def _put_back(held: Path, target: Path, e: BaseException) -> None:
    """Rename ``held`` back to ``target`` (free again), or say where it is (exit 3)."""
    if target.exists() or target.is_symlink():
        return  # another writer's output is in place since: a race, looked at again
    try:
        held.rename(target)
    except OSError as lost:
        if target.exists() or not held.exists():
            raise e from None  # as _swap: another writer's rename since, looked at again
        raise OutputAside(
            f"{target}: this run's output could not be put in place, or was refused there "
            f"({getattr(e, 'strerror', None) or e}), and the previous output could not be put "
            f"back ({lost.strerror or lost}): it is in {held}; rename it back to "
            f"{target.name} (the next run at this path also puts it back)"
        ) from e


def _discard(path: Path, name: str) -> None:
    """Remove ``path``, beside output ``name``: first renamed, whole, to a temporary's name
    of that output (removed by the next run if this one is killed while it deletes)."""
    gone = path.with_name(f".{name}.{run_tag()}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    path.rename(gone)
    _remove_tree(gone)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# What names this module's temporaries (.NAME.PID.HOST.XXXXXXXX.curagate.tmp, XXXXXXXX
# being mkdtemp's eight random characters) and previous outputs moved aside
# (.NAME.PID.HOST.curagate.old; .NAME.PID.HOST.DEV-INO.curagate.held while the new output is
# checked in place, see atomic_path's ``placed``): nothing a user names by chance. HOST tags the machine (or
# container) that wrote it: only this host's are judged (another node on shared storage may
# hold no lock this one sees), by the lock their run holds on them (hold, _gone).
TMP_SUFFIX = ".curagate.tmp"
_ASIDE_SUFFIX = ".curagate.old"
_HELD_SUFFIX = ".curagate.held"
HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_OURS = re.compile(
    r"\.(?P<name>.+)\.(?P<pid>[0-9]+)\.(?P<host>[0-9a-f]{8})"
    r"(?:\.(?P<rand>[a-z0-9_]{8})\.curagate\.tmp|\.curagate\.(?P<aside>old)"
    r"|\.(?P<dev>[0-9a-f]+)-(?P<ino>[0-9a-f]+)\.curagate\.(?P<held>held))\Z",
    re.DOTALL,
)


# The name of the output inside its temporary folder (``.NAME.PID.HOST.XXXXXXXX.curagate.tmp/o``).
_INNER = "o"


def temporary_beside(target: Path) -> tuple[Path, int | None]:
    """A new temporary folder ``.NAME.PID.HOST.XXXXXXXX.curagate.tmp`` beside ``target``, and
    the lock its run holds on it (:func:`hold`; give it back with :func:`release` once the
    folder is gone or in place)."""
    return _new_held(
        lambda: tempfile.mkdtemp(
            prefix=f".{target.name}.{run_tag()}.", suffix=TMP_SUFFIX, dir=target.parent
        )
    )


def _new_held(make: Callable[[], str]) -> tuple[Path, int | None]:
    """A folder ``make`` creates, held locked: one a cleaner removed between its creation
    and our lock (empty, unlocked for that moment) is made again."""
    while True:
        path = Path(make())
        lock = hold(path)
        if lock is not None or path.is_dir():
            return path, lock  # (no lock: a filesystem without them)


def hold(path: Path, *, wait: bool = True) -> int | None:
    """An open descriptor of ``path`` holding an exclusive advisory lock (flock) on it,
    which its run keeps for as long as the folder or file is its: the kernel drops it when
    the run ends, killed or not, whatever PID namespace either run is in, so a cleaner that
    can take the lock knows the run gone (:func:`_gone`). The lock follows the inode through
    renames. None: ``path`` is a link, or locks fail here (judged by the process id), or
    (``wait=False``) another process holds a lock on it: a user's previous output, which a
    job may lock (`flock OUT cmd`, a reader's `flock -s OUT`) is not waited for (found by
    re-attack: the run hung after its work, and every run writing into the same folder
    with it); held so, it reads as a live run's to a cleaner anyway."""
    import fcntl

    mode = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
    for _ in range(_SWAP_TRIES):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            fcntl.flock(fd, mode)
            st, now = os.fstat(fd), path.lstat()
        except OSError:
            os.close(fd)
            return None
        if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
            return fd
        os.close(fd)  # renamed while we waited for its lock (a cleaner put another back)
    return None


def release(lock: int | None) -> None:
    """Give back a lock of :func:`hold` (closing its descriptor)."""
    if lock is not None:
        os.close(lock)


@contextlib.contextmanager
def _gone(path: Path, pid: int) -> Iterator[bool]:
    """Whether the run that made ``path`` (process ``pid`` of this host) is gone, its lock
    (:func:`hold`) held meanwhile, so that nothing takes the path back while it is dealt
    with. Gone when the lock can be taken: the run that held it ended. A live run's
    process id says nothing across PID namespaces (a container's PID 1, the id of the run
    now looking): it is read only where ``path`` cannot be locked (a link, a filesystem
    without locks, a folder of another account's)."""
    import fcntl

    fd = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        gone = True
    except FileNotFoundError:
        gone = False  # dealt with by another run meanwhile
    except BlockingIOError:
        gone = False  # its run holds it
    except OSError:
        gone = pid <= _pid_max() and not pid_alive(pid)
    try:
        yield gone
    finally:
        release(fd)


def run_tag() -> str:
    """This process's part of the names of what it writes beside an output: PID.HOST."""
    return f"{os.getpid()}.{HOST_TAG}"


def _pid_max() -> int:
    """The largest process id this system hands out (a larger number names no process)."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 4_194_304  # Linux's limit on 64-bit systems


def check_parent(target: Path) -> None:
    """An InputError when ``target`` cannot be written: it is named `.` or `..`, or its
    folder cannot exist (the nearest existing path above it is a file, or anything but a
    folder). Commands call it before their work."""
    from curagate.errors import InputError

    if target.name in ("", ".."):  # `.`, `/`, `x/..`: the rename needs the folder's name
        raise InputError(
            f"{target}: name the output itself, not `.` or `..` (it is written beside its "
            f"place and renamed into it); e.g. {target.resolve()}"
        )
    parent = target.absolute().parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(
            f"{target}: cannot be written: {parent} is not a folder; choose an output path "
            "in a folder"
        )


# The locks (:func:`hold`) of this process's private folders, by folder.
_PRIVATE: dict[Path, int | None] = {}


def private_dir(prefix: str) -> Path:
    """A new private (0700) temporary folder named ``PREFIX<pid>-...``, held locked by this
    run until :func:`remove_private`, once the folders of that prefix whose run is gone
    are removed (:func:`remove_dead`)."""
    remove_dead(prefix)
    path, lock = _new_held(lambda: tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    _PRIVATE[path] = lock
    return path


def remove_private(path: Path) -> None:
    """Remove a folder of :func:`private_dir`, and give back its lock."""
    shutil.rmtree(path, ignore_errors=True)
    release(_PRIVATE.pop(path, None))


def remove_dead(prefix: str) -> None:
    """Remove the temporary folders ``PREFIX<pid>-...`` whose run is gone (:func:`_gone`:
    its lock free): a run killed by a signal that left it no time to clean up (SIGKILL;
    SIGTERM outside the CLI) left a copy of a whole model there, which no later run
    removed. A live run's is left alone, seen from another PID namespace too."""
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = path.name.removeprefix(prefix).split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir() or path.is_symlink():
            continue
        with _gone(path, int(pid)) as gone:
            if gone:
                shutil.rmtree(path, ignore_errors=True)


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

    Temporaries are named ``.NAME.PID.HOST.XXXXXXXX.curagate.tmp``: one of this host
    whose run is gone (:func:`_gone`: the lock its run held on it is free) is removed (a
    live one belongs to a concurrent run and is left alone, and so is another host's). A
    ``.NAME.PID.HOST.curagate.old`` folder is the previous output a run moved aside; when
    that run died between the two renames ``target`` is missing and it is moved back.
    A ``.NAME.PID.HOST.DEV-INO.curagate.held`` one (a folder, a file or a link) is what was
    at ``target`` while a run checked its output (device DEV, inode INO) in place
    (:func:`atomic_path`'s ``placed``); that run died before its output was accepted, so
    while that output (or nothing) is at ``target`` it is removed and the held one put
    back; anything else there (accepted by a later run, put there by hand) stays, and the
    held one is removed (under the parent folder's lock, which a live run holds while it
    checks). Nothing else is touched: a user's ``.NAME.old`` or
    ``.NAME.20240501.old`` included, and a PID above the system's largest names no run.
    """
    removed: list[Path] = []
    parent, name = target.parent, target.name
    try:
        siblings = sorted(parent.iterdir())
    except OSError:
        return removed
    if _dead_held(target, siblings):
        with _parent_locked(parent):
            _restore_held(target)
    pid_max = _pid_max()
    for sib in siblings:
        # Parsed from the end, where the form is fixed: ".exp.9.<pid>.<random>.curagate.tmp"
        # belongs to "exp.9", never to "exp".
        m = _OURS.match(sib.name)
        if m is None or m.group("name") != name or m.group("host") != HOST_TAG:
            continue
        pid, aside = int(m.group("pid")), m.group("rand") is None
        if pid > pid_max or m.group("held"):
            continue  # held: above, under the lock a live run checks its output under
        is_dir = sib.is_dir() and not sib.is_symlink()
        if aside and not is_dir:
            continue  # only folders are ever moved aside
        with _gone(sib, pid) as gone:
            if not gone:
                continue
            if aside and not target.exists() and not target.is_symlink():
                sib.rename(target)  # the run died between its two renames: put it back
                continue
            _remove_tree(sib)
        removed.append(sib)
    return removed


def _dead_held(target: Path, siblings: list[Path]) -> list[Path]:
    """The ``.NAME.PID.HOST.DEV-INO.curagate.held`` of ``target`` among ``siblings`` whose run
    (of this host) is gone."""
    pid_max = _pid_max()
    held = []
    for sib in siblings:
        m = _OURS.match(sib.name)
        if m is None or m.group("name") != target.name or m.group("host") != HOST_TAG:
            continue
        pid = int(m.group("pid"))
        if m.group("held") and pid <= pid_max:
            with _gone(sib, pid) as gone:
                if gone:
                    held.append(sib)
    return held


def _restore_held(target: Path) -> None:
    """Put back what a run killed while it checked its output in place held aside, its
    output removed: it was never accepted. Called with the parent folder locked, as a run
    checks its output (another run's accepted output is never taken for the dead one's,
    once that run has put the held one back itself)."""
    try:
        siblings = sorted(target.parent.iterdir())
    except OSError:
        return
    for sib in _dead_held(target, siblings):
        m = _OURS.match(sib.name)
        assert m is not None  # _dead_held matched it
        try:
            st = target.lstat()
        except FileNotFoundError:
            sib.rename(target)  # killed between its renames: nothing else was put there
            continue
        if (st.st_dev, st.st_ino) == (int(m["dev"], 16), int(m["ino"], 16)):
            _discard(target, target.name)  # the dead run's output, never accepted in place
            sib.rename(target)
        else:
            # Another output is there since (accepted by a later run, or put there by a
            # user or another writer): the held one is stale, never put back over it.
            _discard(sib, target.name)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
