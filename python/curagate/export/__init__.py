"""Ship-ready model bundles: merge, write, verify.

Importing this package does not import torch; :func:`export_run` does, when
called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curagate.export.manifest import (
    MANIFEST_NAME,
    VerifyResult,
    artifact_digest,
    check_bundle,
    load_manifest,
    verify_bundle,
)

if TYPE_CHECKING:
    from curagate.export.bundle import ExportResult

__all__ = [
    "MANIFEST_NAME",
    "ExportResult",
    "VerifyResult",
    "artifact_digest",
    "check_bundle",
    "export_run",
    "load_manifest",
    "verify_bundle",
]


def __getattr__(name: str) -> Any:
    if name in ("export_run", "ExportResult"):
        from curagate.export import bundle

        return getattr(bundle, name)
    raise AttributeError(name)
