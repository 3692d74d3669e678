"""A local model registry that verifies what it promotes.

See docs/registry.md. SQLite (standard library) for the state, a hash-chained log
for its history, and signatures (the ``sign`` extra) for what backs a promotion.
"""

from __future__ import annotations

from curagate.registry.chain import ACTOR_SIG, ChainBroken, LogRow
from curagate.registry.schema import ROLES, SCHEMA_VERSION, STAGES, USER_ROLES
from curagate.registry.store import (
    DEFAULT_DB,
    ENV_DB,
    NAME_RULE,
    ClockBehind,
    Forbidden,
    ModelVersion,
    PromotionRequest,
    RecordedGateReport,
    Registry,
    TrustedKey,
    User,
    Waiver,
    default_actor,
    default_db_path,
    enrollment,
    new_token,
)

__all__ = [
    "ACTOR_SIG",
    "DEFAULT_DB",
    "ENV_DB",
    "NAME_RULE",
    "ROLES",
    "SCHEMA_VERSION",
    "STAGES",
    "USER_ROLES",
    "ChainBroken",
    "ClockBehind",
    "Forbidden",
    "LogRow",
    "ModelVersion",
    "PromotionRequest",
    "RecordedGateReport",
    "Registry",
    "TrustedKey",
    "User",
    "Waiver",
    "default_actor",
    "default_db_path",
    "enrollment",
    "new_token",
]
