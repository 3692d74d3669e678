"""A cluster whose second node differs from the driver's machine: another curagate build,
another file system view of the inputs or the work folder. Each is refused in one line,
exit 2, naming the node, before anything is published (each was exit 0 with output
that mixed what the node saw into the driver's run, or exit 3 "this is a bug").

Every test starts its own two-node cluster whose head has no CPU: every task runs on
the second node."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curagate.curate import curate
from tests.ray.cluster import Cluster, output_files, start_cluster, t0_shards

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(cluster: Cluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`curagate ARGS` on ``cluster``'s Ray."""
    return subprocess.run(
        [sys.executable, "-m", "curagate", *args,
         "--executor", "ray", "--ray-address", cluster.address],
        env=cluster.env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _curate(cluster: Cluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return _run(cluster, "curate", *args, timeout=timeout)


def _one_line_exit_2(r: subprocess.CompletedProcess[str]) -> str:
    """The error of a refused run: exit 2, one line, no traceback."""
    assert r.returncode == 2, r.stderr[-3000:]
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def _refused_on_a_node(r: subprocess.CompletedProcess[str], says: str) -> str:
    """The error of a run one node refused: exit 2, one line, naming the node and ``says``."""
    err = _one_line_exit_2(r)
    assert re.search(r"node \S+ \(id \w+", err) and says in err, err
    return err


def _edited_copy(folder: Path, module: str, *edits: tuple[str, str]) -> Path:
    """A copy of this package under ``folder`` (for a node's PYTHONPATH) with ``edits``
    (old, new) made to its ``module`` (a path in the package): another build."""
    copy = folder / "python"
    shutil.copytree(
        ROOT / "python" / "curagate",
        copy / "curagate",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    path = copy / "curagate" / module
    code = path.read_text(encoding="utf-8")
    for before, after in edits:
        assert before in code, before
        code = code.replace(before, after)
    path.write_text(code, encoding="utf-8")
    return copy


def _old_build(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A build from before the node check: ``edits`` made to its executors/ray.py."""
    return _edited_copy(tmp_path / "old", "executors/ray.py", *edits)


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster whose worker node imports a real second copy of the package, its writer
    changed (as two builds of one version differ: a dev install, a rebuilt extension):
    it writes Snappy Parquet where this build writes Zstandard."""
    copy = _edited_copy(
        tmp_path_factory.mktemp("other"),
        "pipeline/write.py",
        ('compression="zstd"', 'compression="snappy"'),
    )
    c = start_cluster(str(ROOT / "python"), head_cpus=0, worker_pythonpath=str(copy))
    try:
        yield c
    finally:
        c.stop()


def test_a_node_running_another_curagate_build_is_refused(skewed: Cluster, tmp_path: Path) -> None:
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    r = _curate(skewed, str(inputs), "--out", str(tmp_path / "out"))
    err = _refused_on_a_node(r, "runs another curagate build")
    assert "(files " in err and "pyarrow" not in err, err  # the part that differs, named
    assert "install the same curagate build" in err, err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.curagate-work").exists()  # it was left, plan.json and all


def test_a_node_running_a_build_from_before_the_check_is_refused(tmp_path: Path) -> None:
    # A build without the check's function (the releases before it): the check task fails
    # to load there, and that is what the error says, in one line.
    copy = _old_build(tmp_path, ("def _node_facts(", "def _gone("))
    c = start_cluster(str(ROOT / "python"), head_cpus=0, worker_pythonpath=str(copy))
    try:
        inputs = t0_shards(tmp_path / "in", shards=1, limit=50)
        r = _curate(c, str(inputs), "--out", str(tmp_path / "out"))
    finally:
        c.stop()
    err = _one_line_exit_2(r)
    assert "ray::" not in err, err
    assert "cannot run this curagate build's check" in err, err
    assert "install the same curagate build on every node" in err, err
    assert not (tmp_path / "out").exists()


# The driver, its up-front node check skipped once: as if the node joined after it.
_LATE_JOIN = """
import sys
from curagate.executors import ray as r
checks = []
check = r.RayExecutor._check_nodes
def late(self):
    checks.append(1)
    if len(checks) > 1:
        check(self)
r.RayExecutor._check_nodes = late
from curagate.__main__ import run
sys.argv[0] = "curagate"
sys.exit(run())
"""


def test_a_node_of_a_build_from_before_the_check_joining_late_is_refused(tmp_path: Path) -> None:
    # It ran the tasks' code of its own build, which unpacks what this build sends in
    # another shape: exit 3 "this is a bug" with a ValueError traceback.
    copy = _old_build(
        tmp_path,
        ("def _node_facts(", "def _gone("),
        ("fn, folder, common, driver = shared", "fn, folder, common = shared"),
    )
    c = start_cluster(str(ROOT / "python"), head_cpus=0, worker_pythonpath=str(copy))
    try:
        inputs = t0_shards(tmp_path / "in", shards=1, limit=50)
        r = subprocess.run(
            [sys.executable, "-c", _LATE_JOIN, "curate", str(inputs), "--out",
             str(tmp_path / "out"), "--executor", "ray", "--ray-address", c.address],
            env=c.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        c.stop()
    err = _one_line_exit_2(r)
    assert "ValueError" not in err, err
    assert "cannot run this curagate build's check" in err, err
    assert not (tmp_path / "out").exists()


def test_without_an_address_a_private_instance_runs_not_the_one_ray_address_names(
    skewed: Cluster, tmp_path: Path
) -> None:
    # Ray's default joined the cluster RAY_ADDRESS (or the last `ray start --head`) names:
    # its nodes' other build wrote the output (Snappy), exit 0.
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    r = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(inputs), "--out", str(tmp_path / "ray"),
         "--executor", "ray"],
        env={**skewed.env, "RAY_ADDRESS": skewed.address}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    curate([inputs], tmp_path / "one", progress=False)
    assert output_files(tmp_path / "ray") == output_files(tmp_path / "one")


def test_a_temporary_folder_too_deep_for_rays_sockets_is_an_input_error(tmp_path: Path) -> None:
    # Found by the tests under pytest's own temporary folder: Ray makes its sockets below
    # $TMPDIR/ray/session_.../sockets, and past the 107 bytes a socket's path may be, a
    # private instance failed to start: internal error, exit 3.
    import os

    import psutil

    inputs = t0_shards(tmp_path / "in", shards=1, limit=20)
    deep = tmp_path / ("t" * 100)
    deep.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(inputs), "--out", str(tmp_path / "o"),
         "--executor", "ray"],
        env={**os.environ, "TMPDIR": str(deep)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr[-3000:]
    assert "too deep for a socket's path; set TMPDIR to a shorter folder" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(deep) in " ".join(p.info["cmdline"] or [])
    ]


@pytest.fixture(scope="module")
def other_view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    """``view/`` as the driver sees it, and another ``view/`` on the second node: its
    ``changed/`` holds the same shards with other text, its ``missing/`` nothing, and
    its ``work/`` is a folder of its own."""
    base = tmp_path_factory.mktemp("views")
    view, alt = base / "view", base / "alt"
    for name in ("changed", "missing"):
        t0_shards(view / name, shards=2, limit=200)
    (view / "work").mkdir()
    (alt / "missing").mkdir(parents=True)
    (alt / "work").mkdir()
    for shard in (view / "changed").iterdir():
        text = shard.read_text(encoding="utf-8").replace('"prompt": "', '"prompt": "other ')
        (alt / "changed").mkdir(exist_ok=True)
        (alt / "changed" / shard.name).write_text(text, encoding="utf-8")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to give a node its own mount namespace")
    try:
        c = start_cluster(str(ROOT / "python"), head_cpus=0, worker_binds=((alt, view),))
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot give a node its own mount namespace here: {e.stderr[-300:]!r}")
    try:
        yield c, view
    finally:
        c.stop()


def test_a_node_seeing_other_bytes_at_an_input_path_is_refused(
    other_view: tuple[Cluster, Path], tmp_path: Path
) -> None:
    cluster, view = other_view
    r = _curate(cluster, str(view / "changed"), "--out", str(tmp_path / "out"))
    err = _refused_on_a_node(r, "sees another file at")
    assert "every node sees" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["leakage", "audit"])
def test_leakage_and_audit_refuse_a_node_seeing_other_bytes(
    other_view: tuple[Cluster, Path], tmp_path: Path, command: str
) -> None:
    # Found by attack: leakage under-reported 4x (exit 0), audit reported other rows.
    cluster, view = other_view
    ref = tmp_path / "ref.jsonl"
    lines = (view / "changed" / "shard-001.jsonl").read_text(encoding="utf-8").splitlines()
    ref.write_text("\n".join(x for x in lines[:20] if x != "{not json") + "\n", encoding="utf-8")
    args = (
        ["leakage", "--reference", str(ref), "--corpus", str(view / "changed")]
        if command == "leakage"
        else ["audit", str(view / "changed")]
    )
    r = _run(cluster, *args, "--out", str(tmp_path / "out"))
    _refused_on_a_node(r, "sees another file at")


def test_an_input_missing_on_a_node_is_refused_naming_the_node(
    other_view: tuple[Cluster, Path], tmp_path: Path
) -> None:
    cluster, view = other_view
    r = _curate(cluster, str(view / "missing"), "--out", str(tmp_path / "out"))
    err = _refused_on_a_node(r, "cannot read it at")
    assert str(view / "missing" / "shard-000.jsonl") in err or "shard-001" in err, err


def test_a_work_dir_the_nodes_do_not_share_is_one_line_exit_2(
    other_view: tuple[Cluster, Path], tmp_path: Path
) -> None:
    cluster, view = other_view
    inputs = t0_shards(tmp_path / "in", shards=2, limit=200)
    r = _curate(cluster, str(inputs), "--out", str(tmp_path / "out"), "--work-dir",
                str(view / "work"))  # fmt: skip
    err = _one_line_exit_2(r)
    assert f"--work-dir {view / 'work'}" in err and "every node" in err, err


def test_a_cluster_with_no_cpu_is_one_line_exit_2_not_a_silent_wait(tmp_path: Path) -> None:
    # A head started with --num-cpus 0 and no worker joined yet: every task waited for a
    # CPU forever, without a word.
    c = start_cluster(str(ROOT / "python"), head_cpus=0, second_node=False)
    try:
        inputs = t0_shards(tmp_path / "in", shards=1, limit=50)
        r = _curate(c, str(inputs), "--out", str(tmp_path / "out"), timeout=120)
    finally:
        c.stop()
    err = _one_line_exit_2(r)
    assert "offers no CPU" in err and "--num-cpus" in err, err
    assert not (tmp_path / "out.curagate-work").exists()
