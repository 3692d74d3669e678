"""Real processes writing the same registry at the same moment."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import curagate
from curagate.registry import Registry

from .registry_fixtures import keypair, write_bundle, write_gate_report

WORKER = """
import sys, time
from pathlib import Path
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
from curagate.cli import main
ready.touch()
while not go.exists():
    time.sleep(0.005)
sys.exit(main(sys.argv[3:]))
"""


def run_at_once(tmp_path: Path, commands: list[list[str]]) -> list[int]:
    """Start one process per command, release them together, return their exit codes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(curagate.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    go = tmp_path / "go"
    procs, ready = [], []
    for i, cmd in enumerate(commands):
        ready.append(tmp_path / f"ready-{i}")
        procs.append(
            subprocess.Popen([sys.executable, "-c", WORKER, str(ready[-1]), str(go), *cmd], env=env)
        )
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    return [p.wait(timeout=120) for p in procs]


N = 16


@pytest.mark.slow  # 16 interpreters: ~7 s of the fast tier's three minutes
def test_sixteen_processes_register_then_promote_and_the_chain_replays(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    private, public = keypair(tmp_path / "key")
    with Registry(db) as reg:
        reg.trust_add(public, role="gate", name="ci")
    bundles = [tmp_path / f"b{i}" for i in range(N)]
    reports = []
    for i, b in enumerate(bundles):
        digest = write_bundle(b, bytes([i]) * 64)
        reports.append(write_gate_report(tmp_path / f"gate{i}", digest, sign_key=private))
    codes = run_at_once(
        tmp_path,
        [
            [
                "registry",
                "--db",
                str(db),
                "register",
                str(b),
                "--name",
                "bot",
                "--gate-report",
                str(r),
            ]
            for b, r in zip(bundles, reports, strict=True)
        ],
    )
    assert codes == [0] * N
    with Registry(db) as reg:
        versions = reg.list_versions("bot")
        assert sorted(v.version for v in versions) == list(range(1, N + 1))
        assert len({v.artifact_digest for v in versions}) == N
    codes = run_at_once(
        tmp_path,
        [
            [
                "registry",
                "--db",
                str(db),
                "promote",
                "bot",
                str(i + 1),
                "--to",
                "production",
                "--actor",
                f"p{i}",
            ]
            for i in range(N)
        ],
    )
    assert codes == [0] * N
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Registry(db) as reg:
        state = reg.check()  # the chain replays, and every table agrees with it
        stages = {(name, v): s["stage"] for (name, v), s in state.versions.items()}
        assert stages == {("bot", v.version): v.stage for v in reg.list_versions("bot")}
        assert list(stages.values()).count("production") == 1
        log = [t for t in reg.log("bot") if t.action in ("promote", "archive")]
        promotes = [t for t in log if t.action == "promote"]
        archives = [t for t in log if t.action == "archive"]
        assert sorted(t.actor for t in promotes) == sorted(f"p{i}" for i in range(N))
        assert len(archives) == N - 1
        # Serialized: each promotion archives exactly the version promoted just before it.
        for earlier, later in itertools.pairwise(promotes):
            assert any(
                a.version == earlier.version and earlier.id < a.id < later.id for a in archives
            )
        assert reg.production("bot").version == promotes[-1].version  # type: ignore[union-attr]
