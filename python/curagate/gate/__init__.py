"""The release gate: decide whether a candidate model may ship.

See docs/gate.md. Heavy dependencies (torch, transformers, peft, lm-eval) are
imported only when a model is actually loaded.

The runner is imported on first use (PEP 562): curagate.golden needs the task
registry (``curagate.gate.tasks``) and the runner needs curagate.golden, so
importing the package must not import the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curagate.gate.config import GateConfig, load_gate, parse_gate

if TYPE_CHECKING:
    from curagate.gate.runner import GateOutcome, run_gate


def __getattr__(name: str) -> Any:
    if name in ("GateOutcome", "run_gate"):
        from curagate.gate import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'curagate.gate' has no attribute {name!r}")


__all__ = ["GateConfig", "GateOutcome", "load_gate", "parse_gate", "run_gate"]
