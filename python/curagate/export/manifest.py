"""Bundle manifests: the sha256 of every file, and the bundle's digest.

A bundle's identity (its *artifact digest*) is the sha256 of its
``MANIFEST.json`` bytes. The manifest lists the sha256 of every other file, so
this one hash pins every byte of the bundle: the gate reports it as the
candidate's ``artifact_sha256`` and the registry refuses to promote a bundle
whose digest differs from the one that passed the gate.

Pure Python (no torch): the gate, the registry and ``curagate verify`` use it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curagate.errors import CheckFailed, InputError

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_SCHEMA_VERSION = 1
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_files(bundle: str | os.PathLike[str]) -> list[str]:
    """Relative POSIX paths of every regular file in the bundle but the manifest, sorted."""
    root = Path(bundle)
    out = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            rel = p.relative_to(root).as_posix()
            if rel != MANIFEST_NAME:
                out.append(rel)
    return sorted(out)


def hash_bundle_files(bundle: str | os.PathLike[str]) -> dict[str, str]:
    root = Path(bundle)
    return {rel: sha256_file(root / rel) for rel in bundle_files(root)}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, fixed indent): same content, same digest."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def artifact_digest(bundle: str | os.PathLike[str]) -> str:
    """The digest that names a bundle: sha256 of its MANIFEST.json bytes."""
    path = Path(bundle) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(
            f"{bundle}: no {MANIFEST_NAME}; this is not an exported curagate bundle "
            "(create one with: curagate export RUN --out DIR)"
        )
    return sha256_file(path)


def files_digest(files: dict[str, str]) -> str:
    """One digest for a ``{relpath: sha256}`` mapping, computed as `curagate gate` does.

    sha256 over sorted ``"{relpath}\\0{sha256}\\n"`` lines, hidden files skipped: the
    gate reports base models, adapters and model directories with this digest.
    """
    h = hashlib.sha256()
    for rel in sorted(files):
        if not any(part.startswith(".") for part in rel.split("/")):
            h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


def tree_digest(manifest: dict[str, Any], manifest_digest: str) -> str:
    """The digest `curagate gate` reports for a bundle directory, from its manifest.

    The gate hashes every non-hidden file of a directory, MANIFEST.json included
    (see :func:`files_digest`). A bundle that matches its manifest therefore has
    this digest without rehashing its weights, so a gate report on the bundle can
    be matched either way.
    """
    return files_digest({**manifest["files"], MANIFEST_NAME: manifest_digest})


def load_manifest(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(bundle) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(
            f"{bundle}: no {MANIFEST_NAME}; this is not an exported curagate bundle "
            "(create one with: curagate export RUN --out DIR)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckFailed(f"{path}: not valid JSON ({e}); the manifest was damaged") from e
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise CheckFailed(f"{path}: missing the 'files' mapping {{relpath: sha256}}")
    return data


@dataclass
class VerifyResult:
    bundle: Path
    digest: str
    checked: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.unexpected)

    def problems(self) -> list[str]:
        return (
            [f"{p}: sha256 differs from {MANIFEST_NAME}" for p in self.mismatched]
            + [f"{p}: listed in {MANIFEST_NAME} but missing" for p in self.missing]
            + [f"{p}: present but not listed in {MANIFEST_NAME}" for p in self.unexpected]
        )


def check_bundle(bundle: str | os.PathLike[str]) -> VerifyResult:
    """Compare every file of the bundle with the hashes its manifest recorded."""
    root = Path(bundle)
    if not root.is_dir():
        raise InputError(f"{bundle}: not a directory")
    manifest = load_manifest(root)
    result = VerifyResult(bundle=root, digest=artifact_digest(root))
    listed: dict[str, str] = manifest["files"]
    present = set(bundle_files(root))
    for rel, expected in sorted(listed.items()):
        if rel not in present:
            result.missing.append(rel)
            continue
        result.checked += 1
        if sha256_file(root / rel) != expected:
            result.mismatched.append(rel)
    result.unexpected = sorted(present - set(listed))
    return result


def verify_bundle(bundle: str | os.PathLike[str]) -> VerifyResult:
    """Like :func:`check_bundle`, but a mismatch raises :class:`CheckFailed` (exit 1)."""
    result = check_bundle(bundle)
    if not result.ok:
        lines = "\n  ".join(result.problems())
        raise CheckFailed(
            f"{bundle}: bundle does not match its manifest ({len(result.problems())} problem(s)); "
            f"it was modified after export, re-export it:\n  {lines}"
        )
    return result
