"""`curagate audit --executor ray` on a real two-node Ray cluster (`ray start --head`
+ a second node, one CPU each, on this machine): every input file is a task, the
driver merges their partial statistics, and the outputs are the one-process run's
bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ray.cluster import Cluster, output_files, t0_shards

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def test_audit_on_the_cluster_matches_the_local_run(cluster: Cluster, tmp_path: Path) -> None:
    corpus = t0_shards(tmp_path / "in", shards=5)
    lines = (corpus / "shard-001.jsonl").read_text(encoding="utf-8").splitlines()
    golden = tmp_path / "golden" / "ref.jsonl"
    golden.parent.mkdir()
    golden.write_text("\n".join(ln for ln in lines[:20] if ln != "{not json") + "\n")
    config = tmp_path / "audit.yaml"
    config.write_text(
        f"leakage: {{reference: [{golden.parent}]}}\nmax_row_refs: 5\nsample: {{n: 7, seed: 1}}\n",
        encoding="utf-8",
    )

    def audit(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "curagate", "audit", str(corpus), "--config", str(config)]
        return subprocess.run(
            [*cmd, "--out", str(out), *extra],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    one = audit(tmp_path / "one")
    ray = audit(tmp_path / "ray", "--executor", "ray", "--ray-address", cluster.address)
    assert one.returncode == ray.returncode, ray.stderr[-3000:]
    assert "LEAK001" in one.stdout and "DUP001" in one.stdout
    assert one.stdout.replace(str(tmp_path / "one"), "OUT") == ray.stdout.replace(
        str(tmp_path / "ray"), "OUT"
    )
    assert output_files(tmp_path / "one") == output_files(tmp_path / "ray")


def test_relative_paths_are_read_from_the_drivers_folder(cluster: Cluster, tmp_path: Path) -> None:
    # Found by attack: the cluster's workers run in a folder of their own (here: where the
    # tests started it), and audit's and leakage's relative paths were read against it
    # ("shards/shard-000.jsonl: no such file", exit 2).
    t0_shards(tmp_path / "in", shards=2)
    (tmp_path / "ref.jsonl").write_text('{"text": "a golden item of a few words here"}\n')
    on_ray = ["--executor", "ray", "--ray-address", cluster.address]
    for argv in (
        ["audit", "in", "--out", "a"],
        ["leakage", "--reference", "ref.jsonl", "--corpus", "in", "--out", "l"],
    ):
        outs = []
        for n, extra in enumerate(([], on_ray)):
            out = f"{argv[-1]}{n}"
            done = subprocess.run(
                [sys.executable, "-m", "curagate", *argv[:-1], out, *extra],
                env=cluster.env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode in (0, 1), done.stderr[-3000:]
            outs.append(output_files(tmp_path / out))
        assert outs[0] == outs[1], argv
