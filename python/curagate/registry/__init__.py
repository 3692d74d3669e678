"""A local model registry that verifies what it promotes.

See docs/registry.md. SQLite (standard library) for the state, a hash-chained log
for its history, and signatures (the ``sign`` extra) for what backs a promotion.
"""

from __future__ import annotations

from curagate.registry.chain import ChainBroken, LogRow
from curagate.registry.schema import ROLES, SCHEMA_VERSION, STAGES
from curagate.registry.store import (
    DEFAULT_DB,
    ENV_DB,
    NAME_RULE,
    ModelVersion,
    RecordedGateReport,
    Registry,
    TrustedKey,
    default_actor,
    default_db_path,
)

__all__ = [
    "DEFAULT_DB",
    "ENV_DB",
    "NAME_RULE",
    "ROLES",
    "SCHEMA_VERSION",
    "STAGES",
    "ChainBroken",
    "LogRow",
    "ModelVersion",
    "RecordedGateReport",
    "Registry",
    "TrustedKey",
    "default_actor",
    "default_db_path",
]
