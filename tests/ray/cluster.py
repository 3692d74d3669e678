"""A real two-node Ray cluster on this machine, for the executor tests.

`ray start --head` plus a second node joining it, each with one CPU, under a
temp dir of their own. `ray stop` would stop every Ray process of the user on
the machine (other people's clusters too), so teardown kills only the
processes started here: those whose command line names our temp dir, and
their descendants (the workers).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    address: str
    temp_dir: Path
    env: dict[str, str]

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster (the workers are their descendants)."""
        roots = []
        for p in psutil.process_iter(["cmdline"]):
            try:
                if any(str(self.temp_dir) in part for part in p.info["cmdline"] or []):
                    roots.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        seen: dict[int, psutil.Process] = {}
        for r in roots:
            seen[r.pid] = r
            try:
                for c in r.children(recursive=True):
                    seen[c.pid] = c
            except psutil.NoSuchProcess:
                continue
        return list(seen.values())

    def task_workers(self, prefix: str = "ray::") -> list[psutil.Process]:
        """Worker processes now running a task (their title is ray::<task>)."""
        out = []
        for p in self.processes():
            try:
                cmd = " ".join(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if cmd.startswith(prefix) and "IDLE" not in cmd:
                out.append(p)
        return out

    def stop(self) -> None:
        procs = self.processes()
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(procs, timeout=20)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_cluster(
    pythonpath: str,
    *,
    head_cpus: int = 1,
    worker_pythonpath: str | None = None,
    worker_binds: tuple[tuple[Path, Path], ...] = (),
    second_node: bool = True,
) -> Cluster:
    """``head_cpus=0``: every task runs on the second node. ``worker_pythonpath``: the
    curagate the second node's workers import. ``worker_binds``: (source, target) folders
    bound over each other in the second node's own mount namespace (a node whose file
    system shows other files at a path). ``second_node=False``: the head alone."""
    # Short path: Ray's unix sockets live under it (108-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="cgray-", dir="/tmp"))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
    }
    common = ["--disable-usage-stats", "--object-store-memory", "80000000"]
    head = [
        str(RAY),
        "start",
        "--head",
        "--port",
        str(port),
        "--temp-dir",
        str(temp_dir),
        "--include-dashboard",
        "false",
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        str(head_cpus),
        *common,
    ]
    cluster = Cluster(f"127.0.0.1:{port}", temp_dir, env)
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=120)
        worker = [
            str(RAY),
            "start",
            "--address",
            cluster.address,
            "--temp-dir",
            str(temp_dir),
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "1",
            *common,
        ]
        worker_env = {**env, "PYTHONPATH": worker_pythonpath or pythonpath}
        if worker_binds:
            mounts = " && ".join(f"mount --bind {src} {dst}" for src, dst in worker_binds)
            worker = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                      f'{mounts} && exec "$@"', "sh", *worker]  # fmt: skip
        if second_node:
            subprocess.run(worker, env=worker_env, check=True, capture_output=True, timeout=120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import ray, sys; ray.init(address=sys.argv[1], "
                    "log_to_driver=False); print(len([n for n in ray.nodes() if n['Alive']]))",
                    cluster.address,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if probe.stdout.strip() == ("2" if second_node else "1"):
                return cluster
            time.sleep(1)
        raise RuntimeError(f"the 2-node Ray cluster did not come up: {probe.stderr[-2000:]}")
    except BaseException:
        cluster.stop()
        raise


DATA = Path(__file__).resolve().parents[1] / "data" / "t0_templates_sample.jsonl.gz"


def t0_shards(directory: Path, shards: int, limit: int | None = None) -> Path:
    """The vendored T0 template sample (real templated near-duplicates) as
    ``shards`` JSONL files, plus one unusable line per shard (quarantine)."""
    import gzip

    lines = gzip.decompress(DATA.read_bytes()).decode("utf-8").splitlines()[:limit]
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        part = lines[i::shards]
        text = "\n".join([*part[: len(part) // 2], "{not json", *part[len(part) // 2 :]]) + "\n"
        (directory / f"shard-{i:03d}.jsonl").write_text(text, encoding="utf-8")
    return directory


def output_files(out: Path) -> dict[str, bytes]:
    """Every output file's bytes, by relative path."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }
