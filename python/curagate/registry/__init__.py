"""A local model registry that only promotes what passed its gate.

See docs/registry.md. Pure Python over the standard library's sqlite3.
"""

from __future__ import annotations

from curagate.registry.gate_report import GateReport, read_gate_report
from curagate.registry.schema import SCHEMA_VERSION, STAGES
from curagate.registry.store import (
    DEFAULT_DB,
    ENV_DB,
    ModelVersion,
    RecordedGateReport,
    Registry,
    Transition,
    default_actor,
    default_db_path,
)

__all__ = [
    "DEFAULT_DB",
    "ENV_DB",
    "SCHEMA_VERSION",
    "STAGES",
    "GateReport",
    "ModelVersion",
    "RecordedGateReport",
    "Registry",
    "Transition",
    "default_actor",
    "default_db_path",
    "read_gate_report",
]
