"""curate replaces its output atomically: a run that fails or is killed while it
writes the new output, or while it swaps it for the previous one, leaves the
previous output byte for byte, and nothing half-written under the output's name.

The failures are injected into the standard library (``os.replace``,
``os.rename``), not into curagate, so the real writers run up to that point.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from curagate.curate import curate
from curagate.io.atomic import HOST_TAG, remove_stale
from curagate.io.outputs import read_marker
from tests import kill_support


def write_corpus(path: Path, version: int, n: int = 60) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"text": f"version {version} record {i} " + "word " * (i % 7)}))
            f.write("\n")
        f.write(json.dumps({"text": f"version {version} record 0 "}) + "\n")  # an exact copy
        f.write("{broken\n")  # quarantined
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def temporaries(out: Path) -> list[Path]:
    """What runs were writing at ``out``: each in its temporary folder, held by its run
    (``.NAME.PID.HOST.XXXXXXXX.curagate.tmp/o``)."""
    return [p / "o" for p in sorted(out.parent.glob(f".{out.name}.*.tmp"))]


def asides(out: Path) -> list[Path]:
    """Previous outputs moved aside during a swap (``.NAME.PID.HOST.curagate.old``)."""
    return sorted(out.parent.glob(f".{out.name}.*.curagate.old"))


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A finished output of corpus version 1, and corpus version 2 to replace it with."""
    out = tmp_path / "out"
    curate([write_corpus(tmp_path / "v1.jsonl", 1)], out)
    new = write_corpus(tmp_path / "v2.jsonl", 2)
    before = snapshot(out)
    assert "kept/part-00000.parquet" in before and "stats.json" in before
    return out, new, before


def test_failure_while_writing_the_outputs_keeps_the_previous_output(
    previous: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, new, before = previous
    real_replace = os.replace
    seen: list[dict[str, bytes]] = []

    def full_disk(src: Any, dst: Any, **kwargs: Any) -> None:
        # stats.json goes in after kept/, removed/, clusters and quarantine.
        tmps = temporaries(out)
        if tmps and (tmps[0] / "kept").is_dir():
            seen.append(snapshot(tmps[0]))
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        curate([new], out)
    monkeypatch.undo()

    # The failure struck mid-write: new data files were there, no stats yet.
    assert seen and "kept/part-00000.parquet" in seen[0] and "stats.json" not in seen[0]
    assert seen[0]["kept/part-00000.parquet"] != before["kept/part-00000.parquet"]
    assert snapshot(out) == before
    assert temporaries(out) == []


def test_failure_while_swapping_in_the_new_output_keeps_the_previous_output(
    previous: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, new, before = previous
    real_rename = os.rename
    calls: list[tuple[str, str]] = []

    def failing_swap(src: Any, dst: Any, **kwargs: Any) -> None:
        calls.append((os.fspath(src), os.fspath(dst)))
        if Path(dst) == out and len(calls) == 2:
            # The new output's rename, after the old one moved aside (a second
            # rename to out, putting the old one back, is let through).
            raise OSError(errno.EIO, "Input/output error")
        real_rename(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", failing_swap)
    with pytest.raises(OSError, match="Input/output error"):
        curate([new], out)
    monkeypatch.undo()

    assert [Path(d).name for _, d in calls][:2] == [
        f".out.{os.getpid()}.{HOST_TAG}.curagate.old",
        "out",
    ]  # mid-swap
    assert snapshot(out) == before
    assert temporaries(out) == [] and asides(out) == []


def test_writers_racing_for_one_output_each_put_theirs_in_place_whole(tmp_path: Path) -> None:
    """Runs writing one output at once: a run that found the output moved aside by another
    renamed its own into the place a third had just filled (ENOTEMPTY, exit 3). Each swap
    now looks again; the output is always one writer's, complete."""
    import threading

    from curagate.io.atomic import atomic_path

    target = tmp_path / "out"
    errors: list[BaseException] = []

    def write(i: int, together: threading.Barrier) -> None:
        try:
            with atomic_path(target) as tmp:
                tmp.mkdir()
                (tmp / "a").write_text(str(i))
                (tmp / "b").write_text(str(i))
                together.wait()  # every writer swaps at the same moment
        except BaseException as e:
            errors.append(e)

    for _ in range(60):
        together = threading.Barrier(6)
        writers = [threading.Thread(target=write, args=(i, together)) for i in range(6)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        assert errors == []
        assert sorted(p.name for p in target.iterdir()) == ["a", "b"]
        assert (target / "a").read_text() == (target / "b").read_text()
    assert temporaries(target) == [] and asides(target) == []


def test_claimed_outputs_of_overlapping_runs_put_exactly_one_in_place(tmp_path: Path) -> None:
    """Found by attack: two exports into one --out at once both exited 0 and printed their
    digests; the folder held one of them. A command claims its output as it begins
    (curate, split, export, reports); the run that finds another's output put in place
    since refuses."""
    import threading

    from curagate.errors import InputError
    from curagate.io.atomic import atomic_path, claim_output

    target = tmp_path / "out"
    for rounds in range(20):
        errors: list[BaseException] = []
        done: list[int] = []
        together = threading.Barrier(4)

        def write(
            i: int,
            together: threading.Barrier = together,
            done: list[int] = done,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                claim = claim_output(target)
                with atomic_path(target, claim=claim) as tmp:
                    tmp.mkdir()
                    (tmp / "a").write_text(str(i))
                    (tmp / "b").write_text(str(i))
                    together.wait()  # every writer began before any swaps
                done.append(i)
            except BaseException as failed:
                errors.append(failed)

        writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        assert len(done) == 1 and len(errors) == 3, (rounds, errors)
        assert all(isinstance(e, InputError) and "another run wrote it" in str(e) for e in errors)
        assert (target / "a").read_text() == (target / "b").read_text() == str(done[0])
        assert temporaries(target) == [] and asides(target) == []
    # an output put in place before the claim is replaced; one deleted since is no conflict
    claim = claim_output(target)
    with atomic_path(target, claim=claim) as tmp:
        tmp.write_text("file")
        shutil.rmtree(target)
    assert target.read_text() == "file"


@pytest.mark.slow  # a 115 MB input
@pytest.mark.parametrize("staged", [False, True])
def test_a_curate_that_began_first_and_ends_last_does_not_replace_the_others_output(
    tmp_path: Path, staged: bool
) -> None:
    """Found by attack on the first fix: the claim was taken as the output was written,
    after the read and the dedup, so a long run begun first replaced a short one's output
    begun after it, both exit 0; and staged runs (--work-dir) were not exclusive at all."""
    import json
    import subprocess
    import sys
    import time

    def write(path: Path, n: int) -> Path:
        # ~115 MB at 400K rows: the long run reads for a second or two after the short ends
        with path.open("w") as f:
            for i in range(n):
                numbers = " ".join(str(i * j * 2654435761 % 99991) for j in range(40))
                f.write(json.dumps({"prompt": f"question {i} here", "completion": numbers}) + "\n")
        return path

    big, small = write(tmp_path / "big.jsonl", 400_000), write(tmp_path / "small.jsonl", 50)
    out = tmp_path / "same"

    def start(data: Path, work: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "curagate", "curate", str(data), "--out", str(out)]
        cmd += ["--work-dir", str(tmp_path / work)] if staged else []
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = start(big, "wa")
    time.sleep(0.5)  # the long run has begun (and claimed --out)
    second = start(small, "wb")
    _, b_err = second.communicate(timeout=300)
    _, a_err = first.communicate(timeout=300)
    assert second.returncode == 0, b_err
    assert first.returncode == 2 and "another run wrote it while this one ran" in a_err, a_err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["input_rows"] == 50  # the output is the run that said so


@pytest.mark.parametrize("command", ["curate", "split"])
@pytest.mark.parametrize("mode", ["exclusive", "shared"])
def test_a_previous_output_a_job_holds_locked_is_replaced_without_waiting(
    tmp_path: Path, command: str, mode: str
) -> None:
    """Found by re-attack: a run locked its previous output before moving it aside and
    waited for the lock, so under `flock OUT curagate ...` (or a reader's `flock -s OUT`)
    it hung after its work, and so did every run writing into the same folder."""
    import fcntl

    data = write_corpus(tmp_path / "data.jsonl", 1, n=40)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "curagate", *_command(command, data, str(out))]
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
    write_corpus(data, 2, n=40)
    before = snapshot(out)
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    assert snapshot(out) != before  # the new output is in place
    assert not temporaries(out) and not asides(out)


@pytest.mark.parametrize("out", [".", "prev/kept/..", "prev/new/.."])
def test_an_out_named_dot_or_dot_dot_is_refused_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    out: str,
) -> None:
    # The run did all its work, then failed to rename (exit 3), and `prev/new/..` made
    # `prev/new/` inside a complete output, which `verify` then failed.
    from curagate.cli import main

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "one record"}\n')
    assert main(["curate", str(data), "--out", str(tmp_path / "prev"), "--quiet"]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty if out == "." else tmp_path)
    before = snapshot(tmp_path / "prev")
    capsys.readouterr()
    assert main(["curate", str(data), "--out", out]) == 2
    assert "name the output itself, not `.` or `..`" in capsys.readouterr().err
    assert snapshot(tmp_path / "prev") == before and list(empty.iterdir()) == []
    assert main(["verify", str(tmp_path / "prev")]) == 0


# curate is killed once its temporary output holds kept/ (it is writing), or at the swap.
WRITING = "any(p.is_dir() for p in out.parent.glob(f'.{out.name}.*.tmp/o/kept'))"


def run_killed(out: Path, mode: str, *inputs: Path) -> subprocess.CompletedProcess[str]:
    return kill_support.run_killed("curate", out, mode, *map(str, inputs), writing=WRITING)


@pytest.mark.slow
def test_kill_9_while_writing_leaves_the_previous_output(
    previous: tuple[Path, Path, dict[str, bytes]],
) -> None:
    out, new, before = previous
    done = run_killed(out, "write", new)
    assert done.returncode == -signal.SIGKILL, done.stderr

    assert snapshot(out) == before
    (left,) = temporaries(out)  # the killed run's half-written output ...
    assert (left / "kept").is_dir() and read_marker(left) is None  # ... does not look complete

    curate([new], out)  # the next run removes it and replaces the output
    assert temporaries(out) == []
    assert snapshot(out) != before and read_marker(out) is not None


@pytest.mark.slow
def test_kill_9_between_the_two_renames_gives_the_previous_output_back(
    previous: tuple[Path, Path, dict[str, bytes]],
) -> None:
    out, new, before = previous
    done = run_killed(out, "swap", new)
    assert done.returncode == -signal.SIGKILL, done.stderr

    # Killed with the old output moved aside and the new one not yet in place:
    # nothing under the output's name looks complete ...
    assert not out.exists()
    (aside,) = asides(out)  # named by the killed run's process id
    assert snapshot(aside) == before
    # ... and the cleanup every run starts with puts the previous output back.
    remove_stale(out)
    assert snapshot(out) == before
    assert temporaries(out) == [] and asides(out) == []


@pytest.mark.parametrize("command", ["curate", "split"])
def test_a_users_folder_that_appears_at_out_during_the_run_is_never_replaced(
    tmp_path: Path, command: str
) -> None:
    # --out was checked before the work, then replaced whatever was there at the end:
    # a folder of the user's made meanwhile was moved aside and deleted (export did it
    # to a user's notes). The command's own check runs again just before the swap.
    from curagate.errors import InputError
    from curagate.io.atomic import atomic_path
    from curagate.io.outputs import check_replaceable

    out = tmp_path / "out"
    check_replaceable(out, command)  # nothing there yet: fine
    with (
        pytest.raises(InputError, match="is not a curagate output"),
        atomic_path(out, replaceable=lambda t: check_replaceable(t, command)) as tmp,
    ):
        tmp.mkdir()
        (tmp / "kept.txt").write_text("the run's output")
        out.mkdir()  # the user, meanwhile
        (out / "my_notes.txt").write_text("precious")
    assert [p.name for p in out.iterdir()] == ["my_notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the temporary is gone


def test_a_claim_knows_the_output_changed_in_place_not_only_its_inode(tmp_path: Path) -> None:
    """Found by attack: the claim was the inode alone, and ext4 gave a freed inode number
    back to the next run's output: a run begun first replaced it, both exit 0. A rename
    into place changes the change time too; so does any change to the folder itself."""
    from curagate.errors import InputError
    from curagate.io.atomic import atomic_path, claim_output

    target = tmp_path / "out"
    target.mkdir()
    claim = claim_output(target)
    time.sleep(0.01)
    target.chmod(0o700)  # same inode, another change time
    with (
        pytest.raises(InputError, match="another run wrote it"),
        atomic_path(target, claim=claim) as tmp,
    ):
        tmp.mkdir()


@pytest.mark.parametrize("command", ["curate", "split", "audit"])
def test_an_out_that_is_a_mount_point_is_refused_before_the_work(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `--out /out` of `docker -v host:/out` ran all the work, then the
    # rename that puts the output in place could not move the mount point (EBUSY): exit 3.
    from curagate.cli import main

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # A tmpfs, and a bind mount of a folder of the same filesystem (the re-attack: the
    # device numbers os.path.ismount compares are the same, and it was exit 3 again).
    (tmp_path / "src").mkdir()
    how = ["-t", "tmpfs", "none"] if command != "split" else ["--bind", str(tmp_path / "src")]
    if subprocess.run(["mount", *how, str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting needs CAP_SYS_ADMIN")
    try:
        data = write_corpus(tmp_path / "in.jsonl", 1)
        assert main([command, str(data), "--out", str(mnt)]) == 2
        err = capsys.readouterr().err
        assert f"{mnt}: a mount point" in err and f"--out {mnt}/run" in err
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _command(command: str, data: Path, out: str) -> list[str]:
    if command == "leakage":
        return ["leakage", "--reference", str(data), "--corpus", str(data), "--out", out]
    return [command, str(data), "--out", out, "--quiet"][: 5 if command == "curate" else 4]


@pytest.mark.parametrize("command", ["curate", "split", "audit", "leakage"])
@pytest.mark.parametrize("exists", [True, False])
def test_an_out_named_through_dot_dot_is_replaced_as_the_folder_it_names(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    exists: bool,
) -> None:
    # `--out ts/../ts`: the swap moved `ts` aside, then renamed into `ts/..`, gone with it
    # (ENOENT, taken for another run's rename: 20 tries, exit 2), and the previous output was
    # left aside as `.ts.PID.HOST.curagate.old`; a new `nd/../nd` was made empty, exit 2.
    from curagate.cli import main

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(json.dumps({"text": f"record number {i} " + "word " * i}) + "\n" for i in range(9))
    )
    if exists:
        assert main(_command(command, data, "ts")) in (0, 1)
        before = snapshot(tmp_path / "ts")
    capsys.readouterr()
    assert main(_command(command, data, "ts/../ts")) in (0, 1), capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "ts"]
    assert read_marker(tmp_path / "ts") is not None
    if exists:
        assert snapshot(tmp_path / "ts") == before  # the same run again: the same bytes


def test_a_previous_output_that_cannot_be_put_back_is_named_never_taken_for_a_race(
    previous: tuple[Path, Path, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A failed restore raised ENOENT, which the swap took for another run's rename: it
    # tried again, said "other runs kept replacing it", and the previous output stayed
    # aside without a word.
    from curagate.cli import main

    out, new, before = previous
    real_rename = os.rename
    calls: list[str] = []

    def failing_swap(src: Any, dst: Any, **kwargs: Any) -> None:
        calls.append(os.fspath(dst))
        if Path(dst) == out and len(calls) >= 2:
            raise OSError(errno.ENOENT, "No such file or directory")
        real_rename(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", failing_swap)
    assert main(["curate", str(new), "--out", str(out), "--quiet"]) == 3
    monkeypatch.undo()
    err = capsys.readouterr().err
    (aside,) = asides(out)
    assert "nor the previous output put back" in err and str(aside) in err, err
    assert "other runs kept replacing it" not in err and "Traceback" not in err
    assert len(calls) == 3  # moved aside, the new one's rename, the restore: no retry
    assert not out.exists() and snapshot(aside) == before and temporaries(out) == []


@pytest.mark.parametrize("command", ["curate", "split", "audit", "leakage"])
@pytest.mark.parametrize("under", ["", "new/"])
def test_an_out_whose_temporary_name_is_too_long_is_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, under: str
) -> None:
    # Found by attack: a 240-byte --out name is a valid name, its temporary sibling
    # (`.NAME.PID.HOST.XXXXXXXX.curagate.tmp`) is not: split did all its work (4.8 s), then
    # exit 2 "File name too long". An empty input shows the order: its error is the work's.
    from curagate.cli import main

    data = tmp_path / "empty.jsonl"
    data.write_text("")
    out = tmp_path / f"{under}{'x' * 240}"
    assert main(_command(command, data, str(out))) == 2
    err = capsys.readouterr().err
    assert "File name too long" in err and "give --out a name of at most" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.jsonl"]


@pytest.mark.parametrize("kind", ["file", "report"])
def test_an_output_goes_where_its_claim_named_it_though_a_link_on_the_way_switched(
    tmp_path: Path, kind: str
) -> None:
    # Found by attack: --out's folder was resolved as the command began (its checks) and
    # again after the work, so a link on its way switched meanwhile (a rotated `current ->`)
    # sent the output where no check had looked (inside an input: the rerun read it back).
    from curagate.io.atomic import atomic_path, claim_output
    from curagate.io.outputs import check_output, report_folder

    data = write_corpus(tmp_path / "d.jsonl", 1)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    current = tmp_path / "current"
    current.symlink_to("a")
    out = current / "o"
    claim = check_output(out, "leakage", [data], [data]) if kind == "report" else claim_output(out)
    current.unlink()
    current.symlink_to("b")  # rotated while the command works
    if kind == "report":
        with report_folder(out, "leakage", "leakage.json", claim) as tmp:
            (tmp / "leakage.json").write_text("{}")
    else:
        with atomic_path(out, claim=claim) as tmp:
            tmp.write_text("done")
    assert not (tmp_path / "b" / "o").exists()
    if kind == "report":
        assert read_marker(tmp_path / "a" / "o") is not None
    else:
        assert (tmp_path / "a" / "o").read_text() == "done"


@pytest.mark.parametrize("command", ["curate", "split", "audit", "leakage"])
def test_an_out_whose_folders_cannot_be_made_is_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: `--out /proc/new/o` probed only the names of the folders to make,
    # so split did all its work (5 s) before exit 2. The folder that must hold them is
    # probed by making one there. An empty input shows the order: its error is the work's.
    from curagate.cli import main

    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc (Linux), where no folder can be made")
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    assert main(_command(command, data, "/proc/curagate-no-such/o")) == 2
    err = capsys.readouterr().err
    assert "/proc/curagate-no-such/o: cannot write there" in err, err
    assert "choose an output path in a folder you can write" in err, err


@pytest.mark.parametrize("command", ["curate", "split", "audit", "leakage"])
def test_an_out_too_deep_for_its_files_is_refused_before_the_work_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: an --out 4,001 bytes deep passed the temporary's probe, then split
    # failed after its work with "give --out a name of at most 217 bytes" (a 6-byte name):
    # the output's files are deeper than PATH_MAX. The path's length is checked first.
    from curagate.cli import main

    data = tmp_path / "empty.jsonl"
    data.write_text("")
    deep = tmp_path
    while len(os.fsencode(str(deep))) < 3800:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    out = deep / "osplit"
    assert main(_command(command, data, str(out))) == 2
    err = capsys.readouterr().err
    assert f"{out}: cannot write there: its path is {len(os.fsencode(str(out)))} bytes" in err
    assert "choose an --out at most" in err and "a name of at most" not in err, err
    assert list(deep.iterdir()) == []


def test_an_out_just_short_enough_for_its_files_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The longest --out the message allows is one a curate --split output (the deepest: its
    # splits are an output inside curate's temporary folder) is written at, rerun included.
    import re

    from curagate.cli import main

    data = write_corpus(tmp_path / "d.jsonl", 1)
    deep = tmp_path
    while len(os.fsencode(str(deep))) < 3600:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    assert main(["split", str(data), "--out", str(deep / ("x" * 250) / "o")]) == 2
    found = re.search(r"choose an --out at most (\d+) bytes", capsys.readouterr().err)
    assert found is not None
    allowed = int(found.group(1))
    if (pad := allowed - len(os.fsencode(str(deep))) - 1 - 100) > 0:  # a name short enough
        deep = deep / ("p" * pad)
        deep.mkdir()
    room = allowed - len(os.fsencode(str(deep))) - 1
    out = deep / ("o" * room)
    args = ["curate", str(data), "--out", str(out), "--split", "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    assert main(args) == 0, capsys.readouterr().err
    assert read_marker(out / "splits") is not None
    assert main(["curate", str(data), "--out", f"{out}o", "--split", "--quiet"]) == 2


# A killed run's leftovers are told from a live run's by the lock its run held on them
# (io/atomic.py: hold), not by the process id in their names: in a container the killed
# run was PID 1 (alive here: init), or had the id of the run now looking.


def _unshare_pid() -> tuple[str, ...]:
    """How to start a process as PID 1 of a PID namespace of its own; skips without one."""
    prefix = ("unshare", "-pf", "--mount-proc")
    try:
        done = subprocess.run([*prefix, "true"], capture_output=True, check=False, timeout=30)
    except OSError as e:
        pytest.skip(f"unshare: {e}")
    if done.returncode != 0:
        pytest.skip(f"no PID namespace here: {done.stderr.decode(errors='replace').strip()}")
    return prefix


@pytest.mark.parametrize("pid", ["init's", "this run's"])
def test_a_killed_runs_leftovers_are_removed_whatever_process_id_they_name(
    tmp_path: Path, pid: str
) -> None:
    """Names of a process alive here (PID 1; this process's own id, as a restarted
    container's run has) of runs that ended: their temporary was never removed, the
    previous output they moved aside never put back."""
    n = 1 if pid == "init's" else os.getpid()
    out = tmp_path / "out"
    left = tmp_path / f".out.{n}.{HOST_TAG}.abcd1234.curagate.tmp"
    (left / "o" / "kept").mkdir(parents=True)
    aside = tmp_path / f".out.{n}.{HOST_TAG}.curagate.old"
    aside.mkdir()
    (aside / "stats.json").write_text("{}")
    assert remove_stale(out) == [left]
    assert not left.exists() and not aside.exists()
    assert (out / "stats.json").read_text() == "{}"  # put back


def test_a_run_killed_as_pid_1_of_a_container_is_cleaned_up_by_the_next(
    previous: tuple[Path, Path, dict[str, bytes]],
) -> None:
    out, new, before = previous
    prefix = _unshare_pid()
    for _ in range(2):
        done = kill_support.run_killed(
            "curate", out, "write", str(new), writing=WRITING, prefix=prefix
        )
        assert done.returncode == -signal.SIGKILL, done.stderr
    left = sorted(out.parent.glob(f".{out.name}.*.tmp"))
    # PID 1 in its namespace; the second run removed the first's (before: both stayed)
    assert [p.name.split(".")[2] for p in left] == ["1"]
    done = kill_support.run_killed("curate", out, "swap", str(new), writing="", prefix=prefix)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not out.exists() and [p.name.split(".")[2] for p in asides(out)] == ["1"]
    remove_stale(out)  # here, where PID 1 is alive (init)
    assert snapshot(out) == before
    assert [p.name for p in out.parent.glob(f".{out.name}.*")] == []


# A live run: holds a temporary output and a private folder until its stdin closes.
_LIVE = """
import sys
from curagate.io.atomic import atomic_path, private_dir, remove_private
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    private = private_dir("curagate-export-")
    print(private, flush=True)
    sys.stdin.read()
    remove_private(private)
"""


def test_a_live_runs_folders_are_left_alone_from_another_pid_namespace(
    tmp_path: Path,
) -> None:
    """A run of another PID namespace sharing the folders (and TMPDIR) finds no process
    of the live run's id: it deleted the live run's temporary and private copy."""
    prefix = _unshare_pid()
    out, temp = tmp_path / "out", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(kill_support.REPO / "python"), "TMPDIR": str(temp)}
    live = subprocess.Popen(
        [sys.executable, "-c", _LIVE, str(out)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdin is not None
        private = Path(live.stdout.readline().strip())
        (tmp,) = sorted(tmp_path.glob(".out.*.tmp"))
        clean = (
            "import sys; from pathlib import Path\n"
            "from curagate.io.atomic import remove_dead, remove_stale\n"
            "assert remove_stale(Path(sys.argv[1])) == []\n"
            "remove_dead('curagate-export-')\n"
        )
        done = subprocess.run(
            [*prefix, sys.executable, "-c", clean, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (tmp / "o").is_dir() and private.is_dir()
        live.stdin.close()
        assert live.wait(timeout=60) == 0
    finally:
        live.kill()
        live.wait()
    assert not private.exists() and sorted(tmp_path.glob(".out.*.tmp")) == []


def test_a_killed_runs_private_folder_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from curagate.io.atomic import private_dir, remove_private

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    env = {**os.environ, "PYTHONPATH": str(kill_support.REPO / "python"), "TMPDIR": str(temp)}
    code = (
        "import os, signal\nfrom curagate.io.atomic import private_dir\n"
        "(private_dir('curagate-export-') / 'weights').write_text('copy')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert done.returncode == -signal.SIGKILL
    (killed,) = temp.glob("curagate-export-*")
    # Its name given this process's id (a restarted container's run can have it).
    named_ours = killed.rename(temp / f"curagate-export-{os.getpid()}-{killed.name[-8:]}")
    ours = private_dir("curagate-export-")
    remove_private(ours)
    assert not named_ours.exists() and list(temp.iterdir()) == []


def test_many_runs_in_one_process_keep_no_descriptor_open(tmp_path: Path) -> None:
    from curagate.io.atomic import atomic_path, private_dir, remove_private, write_text_atomic

    def open_fds() -> int:
        return len(list(Path("/proc/self/fd").iterdir()))

    write_text_atomic(tmp_path / "f", "0")
    before = open_fds()
    for i in range(50):
        write_text_atomic(tmp_path / "f", str(i))
        with atomic_path(tmp_path / "d") as tmp:  # a previous output moved aside from 2nd on
            tmp.mkdir()
        with atomic_path(tmp_path / "h", placed=lambda t, was: None) as tmp:
            tmp.mkdir()
        remove_private(private_dir("curagate-test-"))
    assert open_fds() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f", "h"]
