"""Training-health checks, run as a transformers callback on every log.

Each finding has a stable id (documented in docs/train.md):

* ``TH001`` non-finite loss or gradient norm: the run stops (exit 1).
* ``TH002`` loss spike: a logged loss far above the recent median.
* ``TH003`` exploding gradient norm: far above the recent median.
* ``TH004`` overfitting: validation loss rising while training loss falls.
* ``TH005`` end-of-turn token not trained for some examples (truncated).
* ``TH006`` generation would not stop at the end-of-turn token.
* ``TH007`` message text spells out a special token (e.g. "<|endoftext|>").

The callback also writes every log line to ``metrics.jsonl`` as it arrives,
so a run that dies still leaves its curve behind.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from curagate.errors import CheckFailed
from curagate.train.config import HealthSettings


@dataclass(frozen=True)
class Finding:
    id: str
    check: str
    severity: str  # "error" stops the run; "warning" is reported
    step: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainingDiverged(CheckFailed):
    """The loss or gradient went non-finite; training cannot recover from that."""


def _json_safe(v: Any) -> Any:
    """NaN/inf are not JSON: write them as the strings "nan", "inf", "-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class HealthMonitor:
    """Framework-free state machine over logged metrics (the callback feeds it)."""

    def __init__(self, settings: HealthSettings, metrics_path: Path) -> None:
        self.settings = settings
        self.metrics_path = metrics_path
        self.findings: list[Finding] = []
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.evals: list[tuple[int, float, float | None]] = []  # (step, eval_loss, train loss EMA)
        self._train_ema: float | None = None
        self._overfit_reported = False
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text("", encoding="utf-8")

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def observe(self, step: int, epoch: float | None, logs: dict[str, Any]) -> None:
        row = {k: _json_safe(v) for k, v in {"step": step, "epoch": epoch, **logs}.items()}
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        if "loss" in logs:
            self._train(step, float(logs["loss"]), logs.get("grad_norm"))
        if "eval_loss" in logs:
            self._eval(step, float(logs["eval_loss"]))

    def _train(self, step: int, loss: float, grad_norm: Any) -> None:
        s = self.settings
        gn = None if grad_norm is None else float(grad_norm)
        if not math.isfinite(loss) or (gn is not None and not math.isfinite(gn)):
            what = f"loss={loss}" + ("" if gn is None else f", grad_norm={gn}")
            msg = (
                f"training diverged at step {step} ({what}); the run was stopped. "
                "Lower training.learning_rate, keep training.max_grad_norm set, and check the "
                "data for empty or extreme examples"
            )
            self.add(Finding("TH001", "non_finite", "error", step, msg))
            raise TrainingDiverged(msg)
        recent = self.losses[-s.window :]
        if len(recent) >= 3:
            med = statistics.median(recent)
            if med > 0 and loss > s.loss_spike_factor * med:
                self.add(
                    Finding(
                        "TH002",
                        "loss_spike",
                        "warning",
                        step,
                        f"loss {loss:.4g} at step {step} is {loss / med:.1f}x the recent median "
                        f"{med:.4g}; look for outlier examples or lower the learning rate",
                    )
                )
        self.losses.append(loss)
        if gn is not None:
            recent_g = self.grad_norms[-s.window :]
            if len(recent_g) >= 3:
                med_g = statistics.median(recent_g)
                if med_g > 0 and gn > s.grad_norm_factor * med_g:
                    self.add(
                        Finding(
                            "TH003",
                            "grad_norm_explosion",
                            "warning",
                            step,
                            f"gradient norm {gn:.4g} at step {step} is {gn / med_g:.1f}x the recent "
                            f"median {med_g:.4g}; lower the learning rate or max_grad_norm",
                        )
                    )
            self.grad_norms.append(gn)
        self._train_ema = loss if self._train_ema is None else 0.7 * self._train_ema + 0.3 * loss

    def _eval(self, step: int, eval_loss: float) -> None:
        if not math.isfinite(eval_loss):
            msg = f"validation loss is {eval_loss} at step {step}; the run was stopped"
            self.add(Finding("TH001", "non_finite", "error", step, msg))
            raise TrainingDiverged(msg)
        self.evals.append((step, eval_loss, self._train_ema))
        n = self.settings.overfit_evals
        if self._overfit_reported or len(self.evals) < n + 1:
            return
        window = self.evals[-(n + 1) :]
        val_rising = all(b[1] > a[1] for a, b in pairwise(window))
        trains = [w[2] for w in window]
        train_falling = all(t is not None for t in trains) and all(
            b < a for a, b in pairwise(trains) if a is not None and b is not None
        )
        if val_rising and train_falling:
            self._overfit_reported = True
            self.add(
                Finding(
                    "TH004",
                    "overfitting",
                    "warning",
                    step,
                    f"validation loss rose for {n} evaluations in a row (to {eval_loss:.4g} at step "
                    f"{step}) while training loss fell; the best checkpoint (lowest validation loss) "
                    "is the one kept as the adapter",
                )
            )


def make_callback(monitor: HealthMonitor) -> Any:
    """A transformers TrainerCallback feeding ``monitor`` (built lazily: no torch import at module load)."""
    from transformers import TrainerCallback

    class HealthCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs:
                monitor.observe(int(state.global_step), state.epoch, dict(logs))

    return HealthCallback()
