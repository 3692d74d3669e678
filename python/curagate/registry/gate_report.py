"""Reading the few fields of a ``gate_report.json`` that promotion depends on.

The gate writes ``verdict`` ("pass" | "warn" | "fail") and, under
``candidate``, the judged artifact's digest: ``artifact_sha256`` (for an
exported bundle: the sha256 of its MANIFEST.json, see
:func:`curagate.export.artifact_digest`), else ``sha256``. The registry keeps the report's
own sha256 so a report edited after the fact no longer matches what was
recorded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.errors import InputError
from curagate.export.manifest import sha256_bytes


@dataclass(frozen=True)
class GateReport:
    path: Path
    sha256: str
    verdict: str
    candidate_digest: str
    data: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def _candidate_digest(data: dict[str, Any]) -> str | None:
    candidate = data.get("candidate")
    if isinstance(candidate, dict):
        for key in ("artifact_sha256", "sha256"):
            value = candidate.get(key)
            if isinstance(value, str):
                return value
    value = data.get("candidate_digest")
    return value if isinstance(value, str) else None


def read_gate_report(path: str | os.PathLike[str]) -> GateReport:
    p = Path(path)
    if p.is_dir():
        p = p / "gate_report.json"
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read the gate report ({e.strerror})") from e
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(
            f"{p}: not valid JSON ({e}); pass the gate_report.json written by `curagate gate`"
        ) from e
    if not isinstance(data, dict):
        raise InputError(f"{p}: a gate report is a JSON object")
    verdict = data.get("verdict")
    if not isinstance(verdict, str):
        raise InputError(
            f"{p}: field 'verdict' is missing; pass the gate_report.json written by `curagate gate`"
        )
    digest = _candidate_digest(data)
    if digest is None:
        raise InputError(
            f"{p}: field 'candidate.artifact_sha256' is missing; the report does not say which "
            "artifact it judged, so it cannot back a promotion"
        )
    return GateReport(
        path=p, sha256=sha256_bytes(raw), verdict=verdict, candidate_digest=digest, data=data
    )
