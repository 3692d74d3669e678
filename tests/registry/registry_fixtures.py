"""Bundles, keys, gate reports and attestations as files on disk, laid out as
`curagate export`, `curagate keys generate` and `curagate gate --sign-key` write them."""

from __future__ import annotations

import json
from pathlib import Path

from curagate.artifacts import BundleManifest
from curagate.digest import artifact_digest
from curagate.export.manifest import MANIFEST_NAME, hash_bundle_files, manifest_bytes
from curagate.gate.runner import REPORT_SCHEMA_VERSION, write_attestation
from curagate.signing import generate_keypair


def write_bundle(path: Path, weights: bytes, readme: str | None = None) -> str:
    """A bundle directory laid out like an export: files plus MANIFEST.json; returns its digest."""
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(weights)
    (path / "config.json").write_text('{"model_type": "llama"}\n')
    if readme is not None:
        (path / "README.md").write_text(readme)
    manifest = BundleManifest(
        schema_version=1,
        files=hash_bundle_files(path),
        lineage={"adapter_sha256": "a" * 64, "run": "runs/demo"},
    )
    (path / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    return artifact_digest(path)


def keypair(directory: Path) -> tuple[Path, Path]:
    """(private, public) PEM paths of a fresh EC P-256 key pair."""
    return generate_keypair(directory)


def keypair_on(directory: Path, curve: str) -> tuple[Path, Path]:
    """(private, public) PEM paths (PKCS8, SubjectPublicKeyInfo) of a fresh EC key pair on
    ``curve`` (a name in cryptography's ``ec``: ``SECP384R1``), which curagate refuses."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(getattr(ec, curve)())
    private, public = directory / f"{curve}.pem", directory / f"{curve}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def report_doc(digest: str | None, verdict: str = "pass") -> dict[str, object]:
    """A gate_report.json with the fields the gate writes that trust depends on."""
    side = {"kind": "bundle", "spec": "exports/bot", "identity": "c" * 64, "sha256": "c" * 64}
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": "curagate", "version": "test"},
        "verdict": verdict,
        "strict": False,
        "candidate": {**side, "artifact_sha256": digest},
        "base": {
            "kind": "model_dir",
            "spec": "models/base",
            "identity": "b" * 64,
            "sha256": "b" * 64,
        },
        "gate": {"name": "demo", "file": "gates/demo.yaml", "sha256": "d" * 64},
        "golden_sets": [{"name": "demo_set", "version": "1", "sha256": "e" * 64}],
        "summary": {"pass": 3, "warn": 0, "fail": 0 if verdict == "pass" else 1},
        "attestation": {"signed": True, "keyid": None, "file": "gate_attestation.dsse.json"},
    }


def write_gate_report(
    directory: Path, digest: str | None, verdict: str = "pass", sign_key: Path | None = None
) -> Path:
    """gate_report.json in its own directory, signed (attestation beside it) when a key is given."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "gate_report.json"
    path.write_text(json.dumps(report_doc(digest, verdict), indent=2, sort_keys=True) + "\n")
    if sign_key is not None:
        write_attestation(path, sign_key)
    return path


def write_v1_registry(db: Path, versions: list[tuple[str, str, Path, str, str]]) -> None:
    """A schema-1 registry (curagate 0.1) holding ``versions``, each (name, artifact
    digest, bundle, lineage JSON, stage): version 1 of its name, registered and then moved
    straight to its stage. Schema 1 allowed the same bytes under two names."""
    import sqlite3

    from curagate.registry.schema import SCHEMA_V1

    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA_V1)
    transition = 0
    for vid, (name, digest, bundle, lineage, stage) in enumerate(versions, start=1):
        conn.execute(
            "INSERT INTO model_versions VALUES (?, ?, 1, ?, ?, ?, ?, ?, 't0')",
            (vid, name, digest, "f" * 64, str(bundle), lineage, stage),
        )
        moves = [("register", None, "experiment")]
        if stage != "experiment":
            moves.append(("promote", "experiment", stage))
        for action, frm, to in moves:
            transition += 1
            conn.execute(
                "INSERT INTO transitions VALUES (?, ?, ?, ?, ?, 'owner', ?, '', NULL)",
                (transition, vid, action, frm, to, f"t{transition}"),
            )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
