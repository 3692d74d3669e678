"""Training-health checks, run as a transformers callback on every log.

Each finding has a stable id, declared below with what it checks, why it
matters and how to fix it (docs/train.md repeats the same text; a test keeps
them in step). TH001-TH004 are checked here on every log line; TH005-TH009 on
the data and the model before training starts, TH010 on the adapter after it
(curagate.train.run).

The callback also writes every log line to ``metrics.jsonl`` as it arrives,
so a run that dies still leaves its curve behind.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from curagate.errors import CheckFailed
from curagate.findings import Finding, Rule, Severity, rule_table
from curagate.train.config import HealthSettings

NON_FINITE = Rule(
    "TH001",
    "non_finite",
    Severity.ERROR,
    "the training loss, gradient norm or validation loss is NaN or infinite, or a trained "
    "adapter weight is after the last step (a NaN between two log lines reaches no log line).",
    "training cannot recover; every later step is wasted.",
    "lower `training.learning_rate`, keep `max_grad_norm` set, look for empty or extreme "
    "examples. The run stops with exit 1; its metrics stay in `runs/<name>.failed/`.",
)
LOSS_SPIKE = Rule(
    "TH002",
    "loss_spike",
    Severity.WARNING,
    "a logged loss above `health.loss_spike_factor` x the median of the recent window.",
    "spikes come from outlier batches or a too-high learning rate, and can precede divergence.",
    "inspect the examples of that step; lower the learning rate or add warmup.",
)
GRAD_NORM_EXPLOSION = Rule(
    "TH003",
    "grad_norm_explosion",
    Severity.WARNING,
    "a gradient norm above `health.grad_norm_factor` x the recent median.",
    "exploding gradients make updates erratic even when clipped.",
    "lower the learning rate or `max_grad_norm`.",
)
OVERFITTING = Rule(
    "TH004",
    "overfitting",
    Severity.WARNING,
    "validation loss rose for `health.overfit_evals` evaluations in a row while the training "
    "loss fell.",
    "the adapter is memorizing the training set.",
    "fewer epochs, more data, lower rank; the kept adapter is already the best checkpoint.",
)
END_OF_TURN_TRUNCATED = Rule(
    "TH005",
    "end_of_turn_truncated",
    Severity.WARNING,
    "examples cut by `data.max_length` before an assistant turn's end-of-turn token (for DPO: "
    "the chosen answer's, as trl cuts the rendered prompt and answer keeping the start).",
    "those examples teach the model to keep going instead of stopping.",
    "raise `data.max_length`, or drop the longest examples. (If no example keeps its "
    "end-of-turn token the run is refused; a DPO pair whose prompt fills `max_length` has no "
    "answer token left and is counted under `dropped_no_trained_tokens`, and if every pair "
    "is, or every validation pair, the run is refused with exit 2; a pair counts as cut only "
    "when its end-of-turn token is past `max_length`, not a newline after it.)",
)
GENERATION_DOES_NOT_STOP = Rule(
    "TH006",
    "generation_does_not_stop",
    Severity.WARNING,
    "the end-of-turn token is not in `generation_config.eos_token_id` (what transformers' "
    "`generate()` stops at: `generation_config.json`, else `config.json`), or, where that "
    "names no token, is not the tokenizer's eos token.",
    "the trained model would learn to stop, but generation would not stop there.",
    "add the token id to `eos_token_id` in the base model's `generation_config.json` (a list "
    "may hold several).",
)
SPECIAL_TOKEN_IN_TEXT = Rule(
    "TH007",
    "special_token_in_text",
    Severity.WARNING,
    "message text spells out a special token, e.g. a literal `<|endoftext|>` at the end of a "
    "completion.",
    "the tokenizer turns it into the control token, so the model learns to emit it mid-answer.",
    "strip it from the data (a curate rule), then retrain.",
)

TURN_ORDER = Rule(
    "TH008",
    "turn_order",
    Severity.WARNING,
    "training conversations whose turns `curagate check` flags: turns that do not alternate "
    "(FMT003) or a last turn that is not the assistant's (FMT004).",
    "two user turns in a row teach the model to ignore one, a trailing user turn is context "
    "with no answer, and many chat templates render such turns other than meant.",
    "merge or drop the turns as `curagate check` says, then retrain.",
)

PAIR_SAME_AFTER_TRUNCATION = Rule(
    "TH009",
    "pair_same_after_truncation",
    Severity.WARNING,
    "DPO pairs whose chosen and rejected answers differ only past `data.max_length`: trl cuts "
    "the rendered prompt and each answer keeping the start, so the two it trains on are the "
    "same tokens (the finding names the first rows, file and line).",
    "such a pair gives a training signal of zero (its loss stays log 2): the preference it "
    "was written for is never taught.",
    "raise `data.max_length` past where the answers differ, or shorten their shared start.",
)

ADAPTER_UNCHANGED = Rule(
    "TH010",
    "adapter_unchanged",
    Severity.ERROR,
    "after training, the adapter that would ship (the best checkpoint's, with "
    "`data.validation`) holds exactly the weights it was initialized with, or adds nothing "
    "(every LoRA B matrix still 0).",
    "it would ship the base model unchanged, with status ok: most often the learning rate "
    "was 0 at every step, as warmup (`training.warmup_ratio`) spans the whole of a run of "
    "one step (or its first, when that checkpoint is the best).",
    "give more data, epochs or `training.max_steps` (more steps), or set "
    "`training.warmup_ratio: 0`. The run stops with exit 1; its metrics stay in "
    "`runs/<name>.failed/`.",
)

RULES: dict[str, Rule] = rule_table(
    NON_FINITE,
    LOSS_SPIKE,
    GRAD_NORM_EXPLOSION,
    OVERFITTING,
    END_OF_TURN_TRUNCATED,
    GENERATION_DOES_NOT_STOP,
    SPECIAL_TOKEN_IN_TEXT,
    TURN_ORDER,
    PAIR_SAME_AFTER_TRUNCATION,
    ADAPTER_UNCHANGED,
)


@dataclass(kw_only=True)
class HealthFinding(Finding):
    """A training-health finding at a step (None: found before training).

    Its severity is its rule's: an error stops the run, a warning is reported.
    """

    severity: Severity = field(init=False)
    step: int | None

    def __post_init__(self) -> None:
        self.severity = self.rule.severity

    @property
    def check(self) -> str:
        return self.rule.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule.id,
            "check": self.rule.name,
            "severity": self.severity.value,
            "step": self.step,
            "message": self.message,
        }


class TrainingFailed(CheckFailed):
    """A training-health error stopped the run; its metrics are kept in ``NAME.failed``."""


class TrainingDiverged(TrainingFailed):
    """The loss or gradient went non-finite; training cannot recover from that."""


class AdapterUnchanged(TrainingFailed):
    """The adapter that would ship equals its initialization: training changed nothing."""


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
        self.findings: list[HealthFinding] = []
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.evals: list[tuple[int, float, float | None]] = []  # (step, eval_loss, train loss EMA)
        self._train_ema: float | None = None
        self._overfit_reported = False
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text("", encoding="utf-8")

    def add(self, finding: HealthFinding) -> None:
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
            self.add(HealthFinding(rule=NON_FINITE, step=step, message=msg))
            raise TrainingDiverged(msg)
        recent = self.losses[-s.window :]
        if len(recent) >= 3:
            med = statistics.median(recent)
            if med > 0 and loss > s.loss_spike_factor * med:
                self.add(
                    HealthFinding(
                        rule=LOSS_SPIKE,
                        step=step,
                        message=f"loss {loss:.4g} at step {step} is {loss / med:.1f}x the recent median "
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
                        HealthFinding(
                            rule=GRAD_NORM_EXPLOSION,
                            step=step,
                            message=f"gradient norm {gn:.4g} at step {step} is {gn / med_g:.1f}x the recent "
                            f"median {med_g:.4g}; lower the learning rate or max_grad_norm",
                        )
                    )
            self.grad_norms.append(gn)
        self._train_ema = loss if self._train_ema is None else 0.7 * self._train_ema + 0.3 * loss

    def _eval(self, step: int, eval_loss: float) -> None:
        if not math.isfinite(eval_loss):
            msg = f"validation loss is {eval_loss} at step {step}; the run was stopped"
            self.add(HealthFinding(rule=NON_FINITE, step=step, message=msg))
            raise TrainingDiverged(msg)
        self.evals.append((step, eval_loss, self._train_ema))
        n = self.settings.overfit_evals
        if self._overfit_reported or len(self.evals) < n + 1:
            return
        window = self.evals[-(n + 1) :]
        val_rising = all(b[1] > a[1] for a, b in pairwise(window))
        # The step-0 baseline has no training loss yet: the trend is over the evaluations
        # that have one (a window starting at the baseline never counted).
        trains = [w[2] for w in window if w[2] is not None]
        train_falling = len(trains) >= 2 and all(b < a for a, b in pairwise(trains))
        if val_rising and train_falling:
            self._overfit_reported = True
            self.add(
                HealthFinding(
                    rule=OVERFITTING,
                    step=step,
                    message=f"validation loss rose for {n} evaluations in a row (to {eval_loss:.4g} at step "
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
