"""The release gate: decide whether a candidate model may ship.

See docs/gate.md. Heavy dependencies (torch, transformers, peft, lm-eval) are
imported only when a model is actually loaded.
"""

from __future__ import annotations

from curagate.gate.config import GateConfig, load_gate, parse_gate
from curagate.gate.runner import GateOutcome, run_gate

__all__ = ["GateConfig", "GateOutcome", "load_gate", "parse_gate", "run_gate"]
