"""The staged curate (stages linked by files) on the local executor: the same
bytes as the one-process run, resumable, fsspec inputs and outputs.

The Ray executor runs the same stage functions: tests/ray/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from curagate.curate import curate
from curagate.errors import InputError
from tests.ray.cluster import free_port, output_files, t0_shards

pytestmark = (
    pytest.mark.slow
)  # the staged pipeline end to end, with killed processes (~18 s in all)

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "python")}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return t0_shards(tmp_path_factory.mktemp("t0") / "in", shards=5)


CONFIGS: list[dict[str, Any]] = [
    {},
    {"memory_budget": 300_000},  # both spill stores spill
    {"near__verify": "signature"},
    {"keep__policy": "longest"},
    {"exact__enabled": False},
    {"near__enabled": False},
    {"near__threshold": 0.5, "near__ngram": 3},
    {"near__hash": "datasketch", "near__shingle": "char"},
    {"split__enabled": True},  # OUT/splits/ from the kept rows, as in one process
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: ",".join(o) or "default")
def test_staged_run_is_byte_identical_to_the_one_process_run(
    shards: Path, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    # Both into the same folder: split_manifest.json names the files it read.
    out = tmp_path / "out"
    one = curate([shards], out, batch_rows=97, progress=False, **overrides)
    expected = output_files(out)
    staged = curate(
        [shards],
        out,
        batch_rows=97,
        progress=False,
        executor="local",
        work_dir=tmp_path / "work",
        **overrides,
    )
    assert staged.runtime["tasks"] > 0 and staged.runtime["resumed"] == 0
    assert output_files(out) == expected
    assert one.removed_total > 0 or overrides.get("near__enabled") is False
    if overrides.get("memory_budget"):
        assert one.runtime["spilled_bytes"] > 0


def test_a_bucket_task_over_its_budget_cuts_its_partition_and_changes_no_byte(
    shards: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    curate([shards], out, batch_rows=97, progress=False, memory_budget=0)
    expected = output_files(out)
    staged = curate(
        [shards], out, batch_rows=97, progress=False, memory_budget=0,
        executor="local", work_dir=tmp_path / "work",
    )  # fmt: skip
    # With no budget every partition is cut into key ranges that spill to disk.
    assert staged.runtime["stages"]["bucket"]["max_subpartitions"] > 1
    assert output_files(out) == expected
    roomy = curate(
        [shards], tmp_path / "roomy", batch_rows=97, progress=False,
        executor="local", work_dir=tmp_path / "work2",
    )  # fmt: skip
    assert roomy.runtime["stages"]["bucket"]["max_subpartitions"] == 1


def test_decontamination_staged_is_byte_identical(shards: Path, tmp_path: Path) -> None:
    # Reference: 40 records of the corpus itself, so leakage really removes rows.
    lines = (shards / "shard-001.jsonl").read_text(encoding="utf-8").splitlines()
    ref = tmp_path / "golden.jsonl"
    ref.write_text("\n".join(line for line in lines[:41] if line != "{not json") + "\n")
    kw: dict[str, Any] = {"decontaminate__reference": [str(ref)], "progress": False}
    one = curate([shards], tmp_path / "one", **kw)
    curate([shards], tmp_path / "staged", executor="local", work_dir=tmp_path / "w", **kw)
    assert one.removed["leakage"] >= 40
    assert output_files(tmp_path / "staged") == output_files(tmp_path / "one")


def test_rerun_after_completion_is_a_no_op_and_a_new_config_starts_afresh(
    shards: Path, tmp_path: Path
) -> None:
    kw: dict[str, Any] = {"executor": "local", "work_dir": tmp_path / "w", "progress": False}
    first = curate([shards], tmp_path / "out", **kw)
    before = output_files(tmp_path / "out")
    again = curate([shards], tmp_path / "out", **kw)
    assert again.runtime["tasks"] == 0 and again.stats == first.stats
    assert output_files(tmp_path / "out") == before
    other = curate([shards], tmp_path / "out", near__threshold=0.9, **kw)
    assert other.runtime["tasks"] > 0 and other.runtime["resumed"] == 0
    assert other.stats["config"]["near"]["threshold"] == 0.9


def test_an_input_rewritten_in_place_with_its_size_and_mtime_kept_starts_afresh(
    shards: Path, tmp_path: Path
) -> None:
    # Found by attack: a rewrite in place that kept the size and set the modification time
    # back (as `cp -p` onto the file does) resumed on the old bytes' work: the output held a
    # duplicate its own stats.json did not count.
    import shutil

    data = tmp_path / "in"
    shutil.copytree(shards, data)
    kw: dict[str, Any] = {"executor": "local", "work_dir": tmp_path / "w", "progress": False}
    curate([data], tmp_path / "out", **kw)
    first = sorted(data.iterdir())[0]
    lines = first.read_bytes().split(b"\n")
    twin = next(j for j in range(1, len(lines)) if 0 < len(lines[j]) < len(lines[0]))
    # The first record becomes a copy of another, padded with spaces to its own size.
    lines[0] = lines[twin].ljust(len(lines[0]))
    st = first.stat()
    first.write_bytes(b"\n".join(lines))
    os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (first.stat().st_size, first.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = curate([data], tmp_path / "out", **kw)
    assert again.runtime["resumed"] == 0 and again.runtime["tasks"] > 0
    fresh = curate([data], tmp_path / "fresh", progress=False)
    assert again.stats["totals"] == fresh.stats["totals"]


def test_a_no_op_rerun_prints_no_rate(
    shards: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed "0.00s (15,384,615 rows/s)" for a run that read nothing.
    from curagate.cli import main

    argv = ["curate", str(shards), "--out", str(tmp_path / "out"), "--quiet"]
    argv += ["--executor", "local", "--work-dir", str(tmp_path / "w")]
    assert main(argv) == 0
    assert "rows/s" in capsys.readouterr().out
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "nothing to do: this output is complete" in again and "rows/s" not in again


@pytest.mark.parametrize("how", ["replaced", "edited"])
def test_a_rerun_is_a_no_op_only_while_the_output_is_still_the_one_it_wrote(
    shards: Path, tmp_path: Path, how: str
) -> None:
    # The staged run's done.json said "nothing to do" whatever --out held since: another
    # run's output (a one-process run at another threshold), or its own with a part
    # deleted and stats.json edited (exit 0, `kept 999,999`).
    kw: dict[str, Any] = {"executor": "local", "work_dir": tmp_path / "w", "progress": False}
    out = tmp_path / "out"
    first = curate([shards], out, **kw)
    before = output_files(out)
    if how == "replaced":
        curate([shards], out, near__threshold=0.9, progress=False)
    else:
        next((out / "kept").iterdir()).unlink()
        stats = json.loads((out / "stats.json").read_text())
        stats["totals"]["kept"] = 999_999
        (out / "stats.json").write_text(json.dumps(stats))
    again = curate([shards], out, **kw)
    assert again.runtime["tasks"] > 0 and again.stats == first.stats
    assert output_files(out) == before
    assert curate([shards], out, **kw).runtime["tasks"] == 0  # now it is its output again


def test_a_work_folder_in_use_by_another_run_is_refused(shards: Path, tmp_path: Path) -> None:
    # A second run with another plan deleted the first's stage files under it (exit 3
    # there); a work folder that cannot be made was exit 3 too.
    import fcntl

    work = tmp_path / "w"
    work.mkdir()
    with (work / ".lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another curate run is using it"):
            curate([shards], tmp_path / "out", executor="local", work_dir=work, progress=False)
    with pytest.raises(InputError, match="cannot create or use it"):
        curate([shards], tmp_path / "o2", executor="local", work_dir="/proc/1/zz", progress=False)
    curate([shards], tmp_path / "out", executor="local", work_dir=work, progress=False)


def _killed_once(tmp_path: Path, marker: Path) -> tuple[Path, Path, Path, list[str]]:
    """A staged curate of 40 shards, SIGKILLed as soon as ``marker`` (under its work
    folder) exists; returns (inputs, work, out, the command to run it again)."""
    inputs = t0_shards(tmp_path / "in", shards=40)
    work, out = tmp_path / "work", tmp_path / "out"
    cmd = [
        sys.executable, "-m", "curagate", "curate", str(inputs), "--out", str(out),
        "--executor", "local", "--work-dir", str(work),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not (work / marker).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (work / marker).exists(), proc.stderr.read() if proc.stderr else ""
    assert not out.exists()
    return inputs, work, out, cmd


@pytest.mark.slow
def test_killed_driver_resumes_where_it_stopped(tmp_path: Path) -> None:
    """SIGKILL the driver once a few sketch tasks are done; the rerun reuses
    them and writes the same bytes as an uninterrupted one-process run."""
    inputs, work, out, cmd = _killed_once(tmp_path, Path("sketch", "00002", "done.json"))
    finished = {p.parent.name for p in (work / "sketch").glob("*/done.json")}
    assert 3 <= len(finished) < 40

    rerun = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} resumed from an earlier attempt" in rerun.stdout
    curate([inputs], tmp_path / "one", progress=False)
    assert output_files(out) == output_files(tmp_path / "one")
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert "nothing to do: this output is complete" in again.stdout


# Runs `curagate curate` with shutil.rmtree SIGKILLing the process at the first call on a
# stage folder: a kill -9 just after the output was published, before the work folder's
# cleanup (nothing of curagate's is replaced; the kill lands where the cleanup starts).
_KILL_AT_CLEANUP = """
import os, shutil, signal, sys
from pathlib import Path
real = shutil.rmtree
def rmtree(path, *args, **kwargs):
    if Path(path).name == "sketch":
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, *args, **kwargs)
shutil.rmtree = rmtree
from curagate.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_folders_of_task_attempts_killed_before_their_rename_are_removed(
    shards: Path, tmp_path: Path
) -> None:
    """A task writes into `.STAGE.<uuid>.tmp` and renames it: a kill in between left it in
    the work folder for good (it holds arrays as large as the data)."""
    work, out = tmp_path / "work", tmp_path / "out"
    args = dict(executor="local", work_dir=work, progress=False)
    curate([shards], out, **args)
    left = work / f".groups.{'ab' * 16}.tmp"
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "keys.bin").write_bytes(b"x" * 100)
    mine = work / ".groups.mine.tmp"  # not a task's name: left alone
    mine.mkdir()
    curate([shards], out, **args)  # nothing to do, but the leftovers go
    assert not left.exists() and mine.is_dir()


def test_an_output_published_before_a_kill_shares_no_bytes_with_the_work_folder(
    shards: Path, tmp_path: Path
) -> None:
    """The finish hard-linked the stage files into the output: a run killed before its
    cleanup left output files with two names (`verify` failed them until the next run
    cleaned up, and writing a stage file changed the output). They are moved now."""
    work, out = tmp_path / "work", tmp_path / "out"
    args = ["curate", str(shards), "--out", str(out), "--work-dir", str(work), "--quiet"]
    killed = subprocess.run([sys.executable, "-c", _KILL_AT_CLEANUP, *args], env=ENV)
    assert killed.returncode == -signal.SIGKILL
    assert (work / "sketch").is_dir() and (out / "manifest.json").is_file()
    assert all(p.stat().st_nlink == 1 for p in out.rglob("*") if p.is_file())
    check = subprocess.run(
        [sys.executable, "-m", "curagate", "verify", str(out)], env=ENV, capture_output=True
    )
    assert check.returncode == 0, check.stdout
    rerun = subprocess.run(
        [sys.executable, "-m", "curagate", *args], env=ENV, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert not (work / "sketch").exists()
    curate([shards], tmp_path / "one", progress=False)
    assert output_files(out) == output_files(tmp_path / "one")


@pytest.mark.slow
def test_stage_files_changed_after_a_kill_are_made_again_not_trusted(tmp_path: Path) -> None:
    """A rerun took the stage files of a killed run as they were: a kept part cut to
    10 rows and a line added to a quarantine went into an output that `verify` passed,
    with manifest counts the files did not hold. Damaged markers were exit 3."""
    import pyarrow.parquet as pq

    inputs, work, out, cmd = _killed_once(tmp_path, Path("filter", "00000", "done.json"))
    kept = work / "filter" / "00000" / "kept" / "part-00000.parquet"
    pq.write_table(pq.read_table(kept).slice(0, 10), kept)
    with (work / "sketch" / "00002" / "quarantine.jsonl").open("a") as q:
        q.write('{"file": "x", "line": 1, "reason": "added by hand"}\n')
    (work / "sketch" / "00003" / "done.json").write_text("{not json")

    rerun = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    curate([inputs], tmp_path / "one", progress=False)
    assert output_files(out) == output_files(tmp_path / "one")
    check = subprocess.run(
        [sys.executable, "-m", "curagate", "verify", str(out)], env=ENV, capture_output=True
    )
    assert check.returncode == 0, check.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit", ["kept", "reasons", "sketch_rows", "sketch_quarantined", "cluster_pairs"]
)
def test_counts_edited_in_a_task_record_are_made_again_not_trusted(
    tmp_path: Path, edit: str
) -> None:
    """A task counts as done when its files match the digests its done.json records; the
    counts beside them were trusted as written: stats.json said one more kept record than
    kept/ held, and manifest.json a row count the file did not have; on attack, removals
    moved from one reason to another (their sum held), a sketch task's input rows (exit 3
    on every rerun) and quarantined rows (1,000 with quarantine.jsonl empty), and the
    cluster task's pairs and clusters, which no file of the task holds."""
    inputs, work, out, cmd = _killed_once(tmp_path, Path("filter", "00001", "done.json"))
    stage = edit.split("_")[0] if "_" in edit else "filter"
    record = work / stage / ("" if stage == "cluster" else "00000") / "done.json"
    done = json.loads(record.read_text())
    if edit == "kept":
        part = next(rel for rel in done["rows"] if rel.startswith("kept/"))
        done["kept"] += 1
        done["rows"][part] += 1
    elif edit == "reasons":
        largest = max(done["removed"], key=done["removed"].get)
        other = "exact" if largest != "exact" else "near"
        done["removed"][largest] -= 1
        done["removed"][other] = done["removed"].get(other, 0) + 1
    elif edit == "sketch_rows":
        done["input_rows"] += 1000
    elif edit == "cluster_pairs":
        done["stats"]["candidate_pairs"] += 999
        done["stats"]["near_clusters"] += 7
    else:
        done["input_rows"] += 1000
        done["quarantined"] += 1000
    record.write_text(json.dumps(done))

    rerun = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    curate([inputs], tmp_path / "one", progress=False)
    assert output_files(out) == output_files(tmp_path / "one")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["filter", "sketch"])
def test_task_folders_swapped_by_hand_are_made_again_not_resumed(
    tmp_path: Path, stage: str
) -> None:
    """Two finished task folders swapped (mv 00000 x; mv 00001 00000; mv x 00001) were each
    sealed and intact, so each was resumed as the other shard's task: stats.json's
    per-input counts swapped, clusters.parquet not the one-process run's, verify ok. A
    done.json records its task (stage, index, plan, the input read and its file state)."""
    inputs, work, out, cmd = _killed_once(tmp_path, Path(stage, "00001", "done.json"))
    folder = work / stage
    (folder / "00000").rename(folder / "x")
    (folder / "00001").rename(folder / "00000")
    (folder / "x").rename(folder / "00001")

    rerun = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    curate([inputs], tmp_path / "one", progress=False)
    assert output_files(out) == output_files(tmp_path / "one")


def test_damaged_plan_and_done_markers_start_the_work_again(shards: Path, tmp_path: Path) -> None:
    # json.loads of either was exit 3.
    kw: dict[str, Any] = {"executor": "local", "work_dir": tmp_path / "w", "progress": False}
    first = curate([shards], tmp_path / "out", **kw)
    (tmp_path / "w" / "plan.json").write_text("\x00\x01")
    (tmp_path / "w" / "done.json").write_text("[")
    again = curate([shards], tmp_path / "out", **kw)
    assert again.runtime["tasks"] > 0 and again.stats == first.stats


def test_a_work_folder_inside_an_input_folder_or_holding_one_is_refused(tmp_path: Path) -> None:
    # Its stage files were read back as input shards by the next run (exit 2 with a
    # message about a stage file, after a first run that worked).
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    with pytest.raises(InputError, match=r"--work-dir .*is inside input folder"):
        curate([inputs], tmp_path / "out", executor="local", work_dir=inputs / "w")
    assert not (inputs / "w").exists()
    # The other way round: the run's cleanup deleted work/filter/, the input folder there.
    held = tmp_path / "work" / "filter"
    t0_shards(held, shards=2, limit=200)
    before = sorted(p.name for p in held.iterdir())
    with pytest.raises(InputError, match=r"--work-dir .*contains input"):
        curate([held], tmp_path / "out", executor="local", work_dir=tmp_path / "work")
    assert sorted(p.name for p in held.iterdir()) == before


def test_fsspec_memory_urls_in_and_out(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    local = t0_shards(tmp_path / "in", shards=3, limit=600)
    fs = fsspec.filesystem("memory")
    for p in sorted(local.iterdir()):
        fs.pipe(f"/corpus/{p.name}", p.read_bytes())
    try:
        result = curate(
            ["memory://corpus"], "memory://curated", work_dir=tmp_path / "w", progress=False
        )
        one = curate([local], tmp_path / "one", progress=False)
        assert (result.kept, result.removed, result.quarantined) == (
            one.kept,
            one.removed,
            one.quarantined,
        )
        names = [i["file"] for i in result.stats["inputs"]]
        assert names == [f"memory:///corpus/shard-{i:03d}.jsonl" for i in range(3)]
        # kept/ has the original columns only: the same bytes whatever the source names.
        for part in sorted((tmp_path / "one" / "kept").iterdir()):
            assert fs.cat(f"/curated/kept/{part.name}") == part.read_bytes()
        stats = json.loads(fs.cat("/curated/stats.json"))
        assert stats["totals"] == one.stats["totals"]
        # A rerun is a no-op: nothing listed is downloaded or computed again.
        again = curate(
            ["memory://corpus"], "memory://curated", work_dir=tmp_path / "w", progress=False
        )
        assert again.runtime["tasks"] == 0 and again.stats == result.stats
        assert not (tmp_path / "w" / "inputs").exists()  # the copies went with the stage files
        # A remote folder that is not a curate output is never replaced.
        fs.pipe("/precious/notes.txt", b"keep me")
        with pytest.raises(InputError, match="is not a curagate output"):
            curate(["memory://corpus"], "memory://precious", work_dir=tmp_path / "w2")
        assert fs.cat("/precious/notes.txt") == b"keep me"
    finally:
        for path in ("/corpus", "/curated", "/precious"):
            if fs.exists(path):
                fs.rm(path, recursive=True)


@pytest.fixture
def memfs(tmp_path: Path) -> Any:
    """fsspec's in-memory store, emptied after the test."""
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    yield fs
    for path in fs.ls("/", detail=False):
        fs.rm(path, recursive=True)


def _rows(n: int, answer: str) -> bytes:
    return "".join(
        json.dumps({"prompt": f"question {i:03d} about the weather today", "completion": answer})
        + "\n"
        for i in range(n)
    ).encode()


def test_a_remote_input_rewritten_with_its_size_is_read_again(memfs: Any, tmp_path: Path) -> None:
    # Only its size identified it: the rerun said "nothing to do" (and a resumed run used
    # the old copy), every label still the old one.
    import pyarrow.parquet as pq

    memfs.pipe("/in/a.jsonl", _rows(50, "yes"))
    kw: dict[str, Any] = {"work_dir": tmp_path / "w", "progress": False}
    curate(["memory://in"], tmp_path / "out", **kw)
    memfs.pipe("/in/a.jsonl", _rows(50, "no!"))
    again = curate(["memory://in"], tmp_path / "out", **kw)
    assert again.runtime["tasks"] > 0
    kept = pq.read_table(tmp_path / "out" / "kept").column("completion").to_pylist()
    assert set(kept) == {"no!"}


def test_a_remote_out_is_replaced_only_when_it_is_a_curate_output_and_nothing_more(
    memfs: Any, tmp_path: Path
) -> None:
    # A folder with any marker was deleted whole: a split output, a user's note put into
    # a previous curate output, the inputs inside it.
    memfs.pipe("/in/a.jsonl", _rows(30, "yes"))
    curate(["memory://in"], "memory://out", work_dir=tmp_path / "w1", progress=False)
    memfs.pipe("/out/NOTES.md", b"mine")
    with pytest.raises(InputError, match=r"holds NOTES\.md, which the previous curate output"):
        curate(["memory://in"], "memory://out", work_dir=tmp_path / "w2", progress=False)
    assert memfs.cat("/out/NOTES.md") == b"mine"
    memfs.rm("/out/NOTES.md")
    marker = json.loads(memfs.cat("/out/.curagate-output.json"))
    memfs.pipe("/out/.curagate-output.json", json.dumps({**marker, "command": "split"}).encode())
    with pytest.raises(InputError, match=r"is a curagate split output .*, which curate does not"):
        curate(["memory://in"], "memory://out", work_dir=tmp_path / "w3", progress=False)
    with pytest.raises(InputError, match=r"--out memory://in: contains input memory:///in/a"):
        curate(["memory://in"], "memory://in", work_dir=tmp_path / "w4", progress=False)
    assert memfs.exists("/in/a.jsonl")
    # Inside an input folder: the next run read the output back as input.
    with pytest.raises(InputError, match=r"--out memory://in/curated: is inside input folder"):
        curate(["memory://in"], "memory://in/curated", work_dir=tmp_path / "w5", progress=False)
    assert not memfs.exists("/in/curated")


def test_an_upload_cut_short_never_leaves_a_complete_looking_output(
    memfs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The marker went up first and manifest.json halfway: a run killed after it left a
    # "complete" output without stats.json, removed/ or splits/.
    memfs.pipe("/in/a.jsonl", _rows(30, "yes"))
    curate(["memory://in"], "memory://out", work_dir=tmp_path / "w", progress=False)
    memfs.pipe("/in/a.jsonl", _rows(40, "yes"))
    real = type(memfs).put_file

    def put_file(self: Any, lpath: str, rpath: str, *args: Any, **kwargs: Any) -> Any:
        if rpath.endswith("/manifest.json"):
            raise OSError("connection reset")
        return real(self, lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(type(memfs), "put_file", put_file)
    with pytest.raises(OSError, match="connection reset"):
        curate(["memory://in"], "memory://out", work_dir=tmp_path / "w", progress=False)
    assert memfs.exists("/out/stats.json") and not memfs.exists("/out/.curagate-output.json")
    # The rerun knows the folder for its own cut-short upload and replaces it (it was
    # "not a curagate output", to be deleted by hand).
    monkeypatch.setattr(type(memfs), "put_file", real)
    done = curate(["memory://in"], "memory://out", work_dir=tmp_path / "w", progress=False)
    assert done.kept == 40 and memfs.exists("/out/.curagate-output.json")
    assert not memfs.exists("/out/.curagate-upload.json")
    # A published file damaged since: the rerun builds it again (the marker's run id alone
    # said "nothing to do").
    memfs.pipe("/out/kept/part-00000.parquet", b"garbage")
    again = curate(["memory://in"], "memory://out", work_dir=tmp_path / "w", progress=False)
    assert again.runtime["tasks"] > 0
    assert memfs.cat("/out/kept/part-00000.parquet")[:4] == b"PAR1"
    # Killed while the previous output's files were deleted: the folder was refused by the
    # rerun ("not a curagate output") and had to be cleared by hand.
    memfs.pipe("/in/a.jsonl", _rows(35, "yes"))
    real_rm, calls = type(memfs).rm, []

    def rm(self: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("killed")
        return real_rm(self, path, *args, **kwargs)

    monkeypatch.setattr(type(memfs), "rm", rm)
    with pytest.raises(OSError, match="killed"):
        curate(["memory://in"], "memory://out", work_dir=tmp_path / "w", progress=False)
    monkeypatch.setattr(type(memfs), "rm", real_rm)
    assert not memfs.exists("/out/.curagate-output.json")
    last = curate(["memory://in"], "memory://out", work_dir=tmp_path / "w", progress=False)
    assert last.kept == 35 and memfs.exists("/out/.curagate-output.json")


def test_a_remote_folder_is_listed_as_a_local_one(memfs: Any, tmp_path: Path) -> None:
    # Hidden files were read, `.JSONL` skipped and `.ndjson` skipped without a word (the
    # local walk skips the first, reads the second, refuses the third).
    memfs.pipe("/in/a.jsonl", _rows(10, "a"))
    memfs.pipe("/in/.hidden/b.jsonl", _rows(20, "b"))
    memfs.pipe("/in/_c.jsonl", _rows(30, "c"))
    memfs.pipe("/in/sub/d.JSONL", _rows(5, "d"))
    result = curate(["memory://in"], tmp_path / "out", work_dir=tmp_path / "w", progress=False)
    names = [i["file"] for i in result.stats["inputs"]]
    assert names == ["memory:///in/a.jsonl", "memory:///in/sub/d.JSONL"]
    # A pattern matches no hidden name either (`**` matched `.hidden/b.jsonl`).
    globbed = curate(["memory://in/**/*.jsonl"], tmp_path / "g", work_dir=tmp_path / "wg")
    assert [i["file"] for i in globbed.stats["inputs"]] == ["memory:///in/a.jsonl"]
    # Records under a name no reader takes are refused, a .json file of JSON Lines too.
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": ["one record"]}), sink)
    memfs.pipe("/in/p.pq", sink.getvalue().to_pybytes())
    with pytest.raises(InputError, match=r"memory:///in/p.pq: records in a file that.*if Parquet"):
        curate(["memory://in"], tmp_path / "o2", work_dir=tmp_path / "w2", progress=False)
    memfs.rm("/in/p.pq")
    for name in ("e.ndjson", "hf.json", "f.jsonlines"):
        memfs.pipe(f"/in/{name}", _rows(5, "e"))
        with pytest.raises(InputError, match=rf"memory:///in/{name}: records in a file that"):
            curate(["memory://in"], tmp_path / "o2", work_dir=tmp_path / "w2", progress=False)
        memfs.rm(f"/in/{name}")
    # ... and so are a CSV table and JSON compressed with bz2 (found by attack, locally)
    import bz2

    for name, data in (
        ("t.csv", b"text,label\none record,1\n"),
        ("t.json.bz2", bz2.compress(_rows(5, "t"))),
    ):
        memfs.pipe(f"/in/{name}", data)
        with pytest.raises(InputError, match=rf"memory:///in/{name}: records in a file that"):
            curate(["memory://in"], tmp_path / "o2", work_dir=tmp_path / "w2", progress=False)
        memfs.rm(f"/in/{name}")
    memfs.pipe("/in/schema.json", b'{"type": "object"}')  # a document, not records: left
    memfs.pipe("/in/notes.csv", b"x\n")  # no table
    curate(["memory://in"], tmp_path / "o3", work_dir=tmp_path / "w3", progress=False)


def test_a_url_work_dir_is_refused_and_a_local_url_out_is_a_local_out(
    memfs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--work-dir memory://w` made a local folder "memory:/w"; `--out local://DIR` deleted
    # a user's file that the same folder given as a path keeps.
    monkeypatch.chdir(tmp_path)
    inputs = t0_shards(tmp_path / "in", shards=1, limit=50)
    with pytest.raises(InputError, match="--work-dir memory://w: a URL"):
        curate([inputs], tmp_path / "o", work_dir="memory://w", progress=False)
    assert not Path("memory:").exists()
    out = tmp_path / "out"
    curate([inputs], out, progress=False)
    (out / "NOTES.md").write_text("mine")
    with pytest.raises(InputError, match=r"holds NOTES\.md"):
        curate([inputs], f"local://{out}", work_dir=tmp_path / "w", progress=False)
    assert (out / "NOTES.md").read_text() == "mine"


@pytest.mark.slow
def test_missing_url_semantic_with_ray_and_a_dead_address_are_one_line_errors(
    tmp_path: Path,
) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", "memory://nowhere/x", "--out", str(tmp_path / "o")],
        env=ENV, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2
    assert "memory://nowhere/x: no such file or directory" in r.stderr
    assert "Traceback" not in r.stderr
    inputs = t0_shards(tmp_path / "in", shards=1, limit=20)
    r = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(inputs), "--out", str(tmp_path / "o"),
         "--executor", "ray", "--semantic"],
        env=ENV, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2
    assert "semantic dedup runs on one machine only" in r.stderr
    pytest.importorskip("ray")
    port = free_port()  # nothing listens there
    r = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(inputs), "--out", str(tmp_path / "a"),
         "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"],
        env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert f"--ray-address 127.0.0.1:{port}: nothing answers there" in r.stderr
    assert "Traceback" not in r.stderr
    # Refused before the work folder is made (it was left behind, no work done).
    assert not (tmp_path / "a.curagate-work").exists()


@pytest.mark.slow
@pytest.mark.parametrize("address", [":", "127.0.0.1:99999", "host-without-port"])
def test_a_ray_address_that_is_not_host_port_is_one_line_without_ray_s_traceback(
    tmp_path: Path, address: str
) -> None:
    # Found by attack: ":" printed Ray's logged traceback first; a port out of range was
    # reported as "Connection refused".
    pytest.importorskip("ray")
    inputs = t0_shards(tmp_path / "in", shards=1, limit=20)
    r = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(inputs), "--out", str(tmp_path / "o"),
         "--executor", "ray", "--ray-address", address],
        env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip()
    assert "\n" not in err and f"--ray-address {address}: not HOST:PORT" in err, err
    assert not (tmp_path / "o.curagate-work").exists()


@pytest.mark.slow
def test_a_ray_address_where_another_service_answers_is_exit_2_in_seconds(
    tmp_path: Path,
) -> None:
    # Found by attack: a web server at the address (or a stale RAY_ADDRESS) left Ray
    # retrying its GCS handshake for minutes, then SIGTERM was ignored for ~30 s.
    import http.server
    import threading

    pytest.importorskip("ray")
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    inputs = t0_shards(tmp_path / "in", shards=1, limit=20)
    try:
        started = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "curagate", "curate", str(inputs), "--out",
             str(tmp_path / "o"), "--executor", "ray", "--ray-address", "auto"],
            env={**ENV, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert r.returncode == 2, r.stderr
    assert time.monotonic() - started < 60
    err = r.stderr.strip()
    assert "\n" not in err and f"RAY_ADDRESS={address}): something answers there" in err, err
    assert "not a Ray cluster" in err


@pytest.mark.parametrize("rows", [10, 7])
def test_an_input_replaced_between_the_stages_is_an_input_error(tmp_path: Path, rows: int) -> None:
    """The sketch and the filter stages each read the inputs: a file renamed over an
    input in between was written under the sketch's dedup decisions (exit 0), or, with
    fewer rows, an internal error (exit 3)."""
    from curagate.executors.local import LocalExecutor

    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"text": "one same text"}) + "\n" for _ in range(10)))
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps({"text": f"unseen text {i}"}) + "\n" for i in range(rows)))

    class Swapping(LocalExecutor):
        """A real executor, with another process writing the input before the filter."""

        def map(self, fn: Any, common: Any, items: Any) -> list[Any]:
            if fn.__name__ == "filter_shard":
                new.replace(data)
            return super().map(fn, common, items)

    with pytest.raises(InputError, match=r"in\.jsonl: .*changed while curate ran"):
        curate([data], tmp_path / "out", executor=Swapping(), work_dir=tmp_path / "work")
    assert not new.exists() and not (tmp_path / "out").exists()


def test_an_input_copy_edited_between_the_stages_outside_the_sampled_bytes_is_refused(
    memfs: Any, tmp_path: Path
) -> None:
    """The filter applies the sketch's decisions to the rows it reads by position, and each
    checked only the size and the first, middle and last 64 KiB of the file it read: a
    node's copy edited in place (same length) elsewhere between the two stages kept and
    removed other rows under the sketch's ids, exit 0. Here the copy of a remote input in
    WORK/inputs/ (which the driver's check of the store does not see) is edited at a
    quarter of its size."""
    from curagate.executors.local import LocalExecutor

    rows = [
        json.dumps({"text": f"record {i:05d} tells of a cat and {'filler ' * 12}"}) + "\n"
        for i in range(3000)
    ]
    rows[1500] = rows[1499]  # one exact copy, so the sketch removes a record
    data = "".join(rows).encode()
    assert len(data) > 200 * 1024
    memfs.pipe("/in/a.jsonl", data)
    work = tmp_path / "w"
    quarter = len(data) // 4
    line = data.count(b"\n", 0, quarter)  # a record well outside the sampled windows

    class Editing(LocalExecutor):
        """A real executor, with another process editing the node's copy before the filter
        (`sed -i` on one record: same length, another word)."""

        def map(self, fn: Any, common: Any, items: Any) -> list[Any]:
            if fn.__name__ == "filter_shard":
                (copy,) = (work / "inputs").iterdir()
                lines = copy.read_bytes().split(b"\n")
                assert b" cat " in lines[line]
                lines[line] = lines[line].replace(b" cat ", b" dog ")
                copy.write_bytes(b"\n".join(lines))
            return super().map(fn, common, items)

    with pytest.raises(InputError) as raised:
        curate(["memory://in"], tmp_path / "out", executor=Editing(), work_dir=work)
    err = str(raised.value)
    assert "\n" not in err
    assert "memory:///in/a.jsonl: " in err and "reads other bytes at" in err, err
    assert re.search(r"whole-file digest [0-9a-f]{12}\) than the sketch stage read there "
                     r"\(digest [0-9a-f]{12}\)", err), err  # fmt: skip
    # The copy is not downloaded again by a rerun: the fix says what makes one (found by
    # re-attack: "run again once nothing writes to the inputs" failed on every rerun).
    assert f"the work folder's copy of it changed; delete {work / 'inputs'}" in err, err
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="the work folder's copy of it changed"):
        curate(["memory://in"], tmp_path / "out", executor=LocalExecutor(), work_dir=work)
    (copy,) = (work / "inputs").iterdir()
    copy.unlink()
    curate(["memory://in"], tmp_path / "out", executor=LocalExecutor(), work_dir=work)
    assert (tmp_path / "out" / "stats.json").is_file()


@pytest.mark.parametrize("where", ["out in work", "work in out", "same"])
def test_a_work_folder_and_an_out_inside_one_another_are_refused(
    tmp_path: Path, where: str
) -> None:
    """`--out W/output --work-dir W` said it succeeded and the cleanup deleted the output;
    a work folder inside --out went with the replaced output (exit 3)."""
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    work, out = {
        "out in work": (tmp_path / "w", tmp_path / "w" / "output"),
        "work in out": (tmp_path / "o" / "work", tmp_path / "o"),
        "same": (tmp_path / "x", tmp_path / "x"),
    }[where]
    with pytest.raises(InputError, match="one is inside the other"):
        curate([inputs], out, executor="local", work_dir=work, progress=False)
    assert not work.exists() and not out.exists()


@pytest.mark.slow
def test_stage_files_without_a_plan_are_not_resumed(tmp_path: Path) -> None:
    """Stage files of a killed run of another corpus, its plan.json gone, were resumed:
    the output carried that corpus's decisions and counts (exit 0). Without a plan the
    folder is not known to be curate's: refused, nothing deleted."""
    _, work, _, _ = _killed_once(tmp_path, Path("sketch", "00002", "done.json"))
    (work / "plan.json").unlink()
    other = t0_shards(tmp_path / "b", shards=40, limit=2000)
    kw: dict[str, Any] = {"executor": "local", "work_dir": work, "progress": False}
    with pytest.raises(InputError, match=r"no plan\.json"):
        curate([other], tmp_path / "out_b", **kw)
    assert (work / "sketch" / "00002" / "done.json").is_file()


def test_a_link_among_the_work_folders_stage_folders_is_refused(tmp_path: Path) -> None:
    # It was followed for writes (files landed outside the work folder), and rmtree of it
    # was exit 3.
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    precious = tmp_path / "precious"
    precious.mkdir()
    work = tmp_path / "w"
    work.mkdir()
    (work / "sketch").symlink_to(precious)
    with pytest.raises(InputError, match="sketch is a symbolic link"):
        curate([inputs], tmp_path / "out", executor="local", work_dir=work, progress=False)
    assert list(precious.iterdir()) == []


def test_a_work_folder_holding_files_curate_did_not_write_is_refused(tmp_path: Path) -> None:
    # Its output/, filter/ and inputs/ were deleted as stage leftovers (exit 0).
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    work = tmp_path / "proj"
    (work / "output").mkdir(parents=True)
    (work / "output" / "keep.txt").write_text("mine\n")
    with pytest.raises(InputError, match=r"holds output but no plan\.json"):
        curate([inputs], tmp_path / "out", executor="local", work_dir=work, progress=False)
    assert (work / "output" / "keep.txt").read_text() == "mine\n"


def test_a_stage_array_cut_short_by_a_full_disk_is_that_disk_error(tmp_path: Path) -> None:
    # Found by attack: numpy's short write ("174870 requested and 47072 written") has no
    # errno, so a full work disk in the bucket stage was exit 3 where others are exit 2.
    import errno

    import numpy as np

    from curagate.pipeline.stages import _save

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "none", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs CAP_SYS_ADMIN")
    try:
        with pytest.raises(OSError) as raised:
            _save(disk / "pairs.npy", np.zeros(100_000, dtype=np.uint64))
        assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(
            disk / "pairs.npy"
        )
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize(
    "refusal",
    ["the Ray cluster offers no CPU", "cannot connect to a Ray cluster", "runs another build"],
)
def test_an_executor_that_refuses_to_start_leaves_no_work_folder(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    # A build mismatch, a 0-CPU cluster, a failed connection, `auto` with no cluster:
    # each left OUT.curagate-work/ (plan.json, .lock) behind, no task run.
    import curagate.pipeline.distributed as distributed

    def refuse(name: str, *, address: str | None = None) -> Any:
        raise InputError(refusal)

    monkeypatch.setattr(distributed, "get_executor", refuse)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=refusal):
        curate([shards], out, executor="ray", progress=False)
    assert not out.exists()
    assert not (tmp_path / "out.curagate-work").exists()
