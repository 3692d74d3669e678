"""Bundles and gate reports as files on disk, laid out like `curagate export` and `curagate gate` write them."""

from __future__ import annotations

import json
from pathlib import Path

from curagate.export.manifest import (
    MANIFEST_NAME,
    artifact_digest,
    hash_bundle_files,
    manifest_bytes,
)


def write_bundle(path: Path, weights: bytes) -> str:
    """A bundle directory laid out like an export: files plus MANIFEST.json; returns its digest."""
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(weights)
    (path / "config.json").write_text('{"model_type": "llama"}\n')
    manifest = {
        "schema_version": 1,
        "files": hash_bundle_files(path),
        "lineage": {"adapter_sha256": "a" * 64, "run": "runs/demo"},
    }
    (path / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    return artifact_digest(path)


def write_gate_report(path: Path, digest: str, verdict: str = "pass") -> Path:
    report = {"schema_version": 1, "verdict": verdict, "candidate": {"artifact_sha256": digest}}
    path.write_text(json.dumps(report, sort_keys=True))
    return path
