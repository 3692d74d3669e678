"""The audit rules: one module per rule or family of rules, registered on import.

Each module here declares its rules (id, severity, documentation) and the
check functions that decide them, and calls
:func:`~curagate.audit.rules.base.register`; see ``base.py`` for the two kinds
of check and ``labels.py`` for a small example. Every module of this package is
imported here, so a new file is all a new rule needs (plus, if it has
parameters, a config key in ``audit/config.py``). A rule registered from
outside the package (``register`` before the audit runs) runs the same way.
"""

from __future__ import annotations

import importlib
import pkgutil

from curagate.audit.rules.base import (
    CHECKS,
    RULES,
    AuditFinding,
    BatchView,
    Checks,
    DatasetView,
    RowHit,
    Rule,
    Severity,
    register,
    rules_markdown,
    unregister,
)

# The released rules keep the order audit.json, SARIF and the docs have always listed
# them in; any other module registers after them, in name order.
_FIRST = ("formats", "lengths", "labels", "mix", "pii", "duplicates", "leakage")
for _module in sorted(
    (m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"),
    key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), n),
):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "CHECKS",
    "RULES",
    "AuditFinding",
    "BatchView",
    "Checks",
    "DatasetView",
    "RowHit",
    "Rule",
    "Severity",
    "register",
    "rules_markdown",
    "unregister",
]
