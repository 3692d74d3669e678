"""Export checks its bundle once in place, before the previous one is discarded: a run
killed at any step of that leaves what the next run at --out undoes (the previous bundle
back), and a failed check leaves --out as it was (tests/export/test_signature_race.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from curagate.io.atomic import HOST_TAG, hold, release, remove_stale

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "python")}

# A run whose check in place is killed (SIGKILL, no cleanup) once the new output is in place.
KILLED_WHILE_CHECKING = """
import os, signal, sys
from pathlib import Path
from curagate.io.atomic import atomic_path

with atomic_path(sys.argv[1], placed=lambda t, was: os.kill(os.getpid(), signal.SIGKILL)) as tmp:
    tmp.mkdir()
    (tmp / "weights").write_text("new, never accepted in place")
"""


def _kill_while_checking(out: Path) -> None:
    """Run :data:`KILLED_WHILE_CHECKING` at ``out``; it dies by SIGKILL."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_CHECKING, str(out)],
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


def _beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _held(out: Path, pid: int, instead: Path | None = None) -> Path:
    """The name a run (``pid``) holds ``out``'s previous output under while ``instead``, its
    own output, is in place (any device and inode when there is none)."""
    dev, ino = (1, 1) if instead is None else (instead.lstat().st_dev, instead.lstat().st_ino)
    return out.with_name(f".{out.name}.{pid}.{HOST_TAG}.{dev:x}-{ino:x}.curagate.held")


def _previous(out: Path) -> dict[str, bytes]:
    out.mkdir()
    (out / "weights").write_text("previous, good")
    (out / "MANIFEST.json").write_text("{}\n")
    return _snapshot(out)


def test_kill_9_while_the_bundle_is_checked_in_place_gives_the_previous_back(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bundle"
    before = _previous(out)
    _kill_while_checking(out)
    # Killed with its output in place, unchecked, and the previous one held aside ...
    (held,) = _beside(out)
    assert held == _held(out, int(held.split(".")[2]), out).name
    assert _snapshot(tmp_path / held) == before
    # ... which the cleanup every run at --out starts with puts back, the other removed.
    remove_stale(out)
    assert _snapshot(out) == before
    assert _beside(out) == []


def test_kill_9_while_checking_with_nothing_at_out_leaves_the_output_unaccepted(
    tmp_path: Path,
) -> None:
    """Nothing was there to keep: the killed run's output stays, as before this check
    existed (checked and signed in its temporary folder, not yet in place); docs/export.md
    says to verify it or export again."""
    out = tmp_path / "bundle"
    _kill_while_checking(out)
    assert _beside(out) == []
    remove_stale(out)
    assert (out / "weights").read_text() == "new, never accepted in place"


def test_a_run_killed_while_putting_the_previous_bundle_back_gets_it_back(
    tmp_path: Path,
) -> None:
    """Killed between the two renames of a put-back: the rejected output already renamed
    to a temporary's name, --out missing, the previous one still held."""
    out, pid = tmp_path / "bundle", _dead_pid()
    held = _held(out, pid)
    before = _previous(held)
    rejected = tmp_path / f".bundle.{pid}.{HOST_TAG}.abcd1234.curagate.tmp"
    rejected.mkdir()
    (rejected / "weights").write_text("rejected")
    remove_stale(out)
    assert _snapshot(out) == before
    assert _beside(out) == []


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_held_file_or_link_is_put_back_too(tmp_path: Path, kind: str) -> None:
    out, pid = tmp_path / "bundle", _dead_pid()
    out.mkdir()  # the killed run's output, never accepted
    held = _held(out, pid, out)
    if kind == "file":
        held.write_text("previous")
    else:
        held.symlink_to("elsewhere")
    remove_stale(out)
    assert (
        (out.read_text() == "previous") if kind == "file" else out.readlink() == Path("elsewhere")
    )
    assert _beside(out) == []


def test_a_live_runs_held_output_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    held = _held(out, os.getpid())
    before = _previous(held)
    (out / "weights").parent.mkdir()
    (out / "weights").write_text("being checked by a live run")
    lock = hold(held)  # as its run holds it
    try:
        assert remove_stale(out) == []
    finally:
        release(lock)
    assert _snapshot(held) == before and (out / "weights").exists()


def test_a_run_begun_before_another_was_killed_while_checking_never_keeps_its_output(
    tmp_path: Path,
) -> None:
    """A run that took the killed run's unaccepted output for the previous one (it began
    while that one checked) puts the held one back before it compares, and refuses: the
    next run must not put an older output back over an accepted one."""
    from curagate.errors import InputError
    from curagate.io.atomic import Claim, _identity, atomic_path

    out = tmp_path / "bundle"
    before = _previous(out)
    _kill_while_checking(out)
    claim = Claim(out, _identity(out))  # taken while the killed run's output was in place
    with (
        pytest.raises(InputError, match=r"another run wrote it while this one ran"),
        atomic_path(out, claim=claim, placed=lambda t, was: None) as tmp,
    ):
        tmp.mkdir()
        (tmp / "weights").write_text("this run's")
    assert _snapshot(out) == before
    assert _beside(out) == []


@pytest.mark.parametrize("how", ["accepted since", "renamed in by hand"])
def test_a_dead_runs_held_output_is_never_put_back_over_another_output(
    tmp_path: Path, how: str
) -> None:
    """Found by re-attack: a held copy trusted by its run's process id alone was put back
    over a bundle a later run accepted (once that id's next process ended), and over one a
    user renamed into place (deleted, the only copy). Only the dead run's own output, or
    nothing, is ever replaced by it."""
    out = tmp_path / "bundle"
    _previous(out)
    _kill_while_checking(out)
    assert len(_beside(out)) == 1  # the previous one, held
    # Another output takes --out's place: a later accepted run's, or a user's own.
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "weights").write_text(how)
    out.rename(tmp_path / "unaccepted")
    newer.rename(out)
    remove_stale(out)
    assert (out / "weights").read_text() == how
    assert _beside(out) == []  # the stale held copy is gone, not put back


def test_the_longest_out_the_check_passes_is_replaced_in_place_again(tmp_path: Path) -> None:
    # Found by re-attack: the name check counted the temporary's name only, and a previous
    # output checked in place is held aside under a longer one (.NAME.PID.HOST.DEV-INO
    # .curagate.held): a re-export to a name the check passed failed after all the work,
    # "File name too long", every time.
    from curagate.errors import InputError
    from curagate.io.atomic import atomic_path, claim_output

    n = os.pathconf(tmp_path, "PC_NAME_MAX")
    while True:
        try:
            claim_output(tmp_path / ("m" * n))
            break
        except InputError:
            n -= 1
    out = tmp_path / ("m" * n)
    for run in ("first", "second", "third"):
        claim = claim_output(out)
        with atomic_path(out, claim=claim, placed=lambda t, was: None) as tmp:
            tmp.mkdir()
            (tmp / "run").write_text(run)
    assert (out / "run").read_text() == "third"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
