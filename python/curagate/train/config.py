"""The training config (``train.yaml``): typed, validated, with errors that point at a line.

Relative paths in the file resolve against the file's own directory, so a config
and the data it names can move together. Defaults follow common LoRA
fine-tuning practice (r=16, alpha=32, dropout 0.05 on the attention
projections, lr 2e-4 with cosine decay and 3% warmup, grad clip 1.0, weight
decay 0.01); DPO uses beta 0.1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curagate.config import error_lines, line_of, read_yaml, refuse_renamed
from curagate.errors import ConfigError
from curagate.limits import MAX_THREADS

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


class _Strict(BaseModel):
    # Every float finite: NaN passes no bound check and infinity overflows the trainer's
    # step arithmetic (exit 3 after loading the model).
    # strict: a value of another type is an error (`lora: {r: "16"}`, `bf16: "no"`),
    # not converted.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class DataConfig(_Strict):
    train: list[str] = Field(min_length=1)
    validation: list[str] = Field(default_factory=list)
    # None: detect from the columns (chat, prompt_completion, preference).
    format: Literal["chat", "prompt_completion", "preference"] | None = None
    max_length: int = Field(default=1024, gt=8)
    # Prepended to every conversation that has no system turn; None keeps the
    # template's own behaviour.
    system_prompt: str | None = None

    @field_validator("train", "validation", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("system_prompt")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        from curagate.records import is_blank

        if v is not None and is_blank(v):
            raise ValueError(
                "the prompt is blank (empty, or only whitespace, invisible or control characters): "
                "it would add an empty system turn to every conversation without one (a data row "
                "with an empty turn is refused); write the prompt, or remove the key"
            )
        return v


class LoraSettings(_Strict):
    # At most 4096: past any model's hidden size, and r = 1e9 asked for 256 GB at once.
    r: int = Field(default=16, gt=0, le=4096)
    alpha: int = Field(default=32, gt=0, le=1_000_000)  # peft divides it by r (10**400: exit 3)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    # A list of module names, or "all-linear" (every linear layer but the LM head).
    target_modules: Annotated[list[str], Field(min_length=1)] | Literal["all-linear"] = list(
        ATTENTION_PROJECTIONS
    )
    use_dora: bool = False
    # 4-bit NF4 base, double quantization, bf16 compute: needs CUDA and bitsandbytes.
    qlora: bool = False


# Far past any real run, well inside what trl and torch index with.
MAX_STEPS = 10**9
MAX_BATCH = 1 << 20


class TrainingSettings(_Strict):
    # A fraction trains part of an epoch (at least one optimizer step); the upper bound
    # keeps the trainer's step arithmetic finite. A huge but finite learning rate is left
    # to the health monitor, which stops the diverging run (exit 1).
    epochs: float = Field(default=1.0, gt=0, le=10_000)
    # Bounded like epochs: 2^63 steps trained forever, and a batch past sys.maxsize was an
    # internal error (islice) once the model had loaded.
    max_steps: int | None = Field(default=None, gt=0, le=MAX_STEPS)
    learning_rate: float = Field(default=2e-4, gt=0)
    lr_scheduler: Literal[
        "cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts"
    ] = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    batch_size: int = Field(default=4, gt=0, le=MAX_BATCH)
    eval_batch_size: int | None = Field(default=None, gt=0, le=MAX_BATCH)
    gradient_accumulation_steps: int = Field(default=1, gt=0, le=MAX_BATCH)
    logging_steps: int = Field(default=1, gt=0)
    eval_steps: int = Field(default=50, gt=0)
    # Default: eval_steps. With data.validation it must be eval_steps: the checkpoint that
    # ships is the best *saved* one, so an evaluation between saves could be recorded as
    # best while another checkpoint shipped.
    save_steps: int | None = Field(default=None, gt=0)
    # Checkpoints kept in all (transformers' save_total_limit), not N plus the best: the
    # newest ones, the best among them (never deleted, nor the newest; with 1, both stay
    # while training and the last goes at the end unless it is the best).
    save_total_limit: int = Field(default=3, gt=0)
    # Evaluations without improvement of the validation loss before stopping; 0 disables.
    early_stopping_patience: int = Field(default=3, ge=0)
    gradient_checkpointing: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # CPU threads for torch; None keeps torch's default (all cores). Fewer threads
    # can be much faster on a busy machine and change float summation order.
    threads: int | None = Field(default=None, gt=0, le=MAX_THREADS)
    # Passed through to transformers (mlflow, wandb, tensorboard, ...).
    report_to: list[str] = Field(default_factory=list)

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to_list(cls, v: Any) -> Any:
        if v is None or v == "none":
            return []
        return [v] if isinstance(v, str) else v


class DpoSettings(_Strict):
    beta: float = Field(default=0.1, gt=0)


class HealthSettings(_Strict):
    # A logged loss above factor x the median of the recent window is a spike.
    loss_spike_factor: float = Field(default=3.0, gt=1.0)
    # A gradient norm above factor x the recent median is an explosion.
    grad_norm_factor: float = Field(default=10.0, gt=1.0)
    window: int = Field(default=20, ge=3)
    # Consecutive evaluations with rising validation loss while training loss falls.
    overfit_evals: int = Field(default=2, ge=1)


class TrainConfig(_Strict):
    # Not ending like the folders train keeps beside a run (NAME.failed, NAME.PID.conflict):
    # a diverging run of NAME replaced a finished run named NAME.failed.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base_model: str
    output_dir: str = "runs"
    seed: int = Field(default=42, ge=0, le=2**32 - 1)  # what torch and numpy seed with
    data: DataConfig
    # The golden sets the leakage guard keeps out of the training data, as audit's
    # leakage.reference and curate's decontaminate.reference: name -> file, folder or
    # list (run.json records each name's sha256 under `golden_sets`).
    leakage_reference: dict[str, str | list[str]] = Field(default_factory=dict)
    lora: LoraSettings = LoraSettings()
    training: TrainingSettings = TrainingSettings()
    dpo: DpoSettings = DpoSettings()
    health: HealthSettings = HealthSettings()

    @field_validator("name")
    @classmethod
    def _not_a_kept_folder(cls, name: str) -> str:
        if name.endswith((".failed", ".conflict")):
            raise ValueError(
                f"{name!r} ends like the folders train keeps beside a run (NAME.failed, "
                "NAME.PID.conflict); choose a name without that ending"
            )
        return name

    def save_steps_problem(self) -> str | None:
        """Why ``training.save_steps`` cannot be trained with (None: it can). With
        validation data the adapter that ships is the best *saved* checkpoint: an
        evaluation between saves (eval_steps 1, save_steps 2: step 3) was recorded as the
        best validation loss while checkpoint-2 shipped. transformers asks only for a
        multiple; every evaluation needs its checkpoint."""
        t = self.training
        if self.data.validation and t.save_steps is not None and t.save_steps != t.eval_steps:
            return (
                f"save_steps ({t.save_steps}) must equal eval_steps ({t.eval_steps}) when "
                "data.validation is set: the adapter that ships is the best saved checkpoint, "
                "so an evaluation between saves could be recorded as best while another "
                "checkpoint ships; leave save_steps out or set it to eval_steps"
            )
        return None

    def resolved_paths(self, base_dir: Path) -> TrainConfig:
        """Return a copy whose relative paths are made absolute against ``base_dir``."""

        def fix(p: str) -> str:
            q = Path(p).expanduser()
            return (q if q.is_absolute() else base_dir / q).resolve().as_posix()

        data = self.data.model_copy(
            update={
                "train": [fix(p) for p in self.data.train],
                "validation": [fix(p) for p in self.data.validation],
            }
        )
        golden: dict[str, str | list[str]] = {
            k: fix(v) if isinstance(v, str) else [fix(p) for p in v]
            for k, v in self.leakage_reference.items()
        }
        return self.model_copy(
            update={
                "base_model": fix(self.base_model),
                "output_dir": fix(self.output_dir),
                "data": data,
                "leakage_reference": golden,
            }
        )


def load_config(path: str | os.PathLike[str], task: str | None = None) -> TrainConfig:
    """Read and validate ``train.yaml``; paths come back absolute. With ``task`` (sft or
    dpo), a section the other task's training alone reads is refused: a `dpo:` section in
    a config trained with `train sft` was ignored without a word.

    Raises ConfigError naming the file, the line and the key.
    """
    cfg_path = Path(path)
    data, root = read_yaml(cfg_path, keys_hint="name, base_model, data, ...")
    refuse_renamed(data, root, str(cfg_path), {"golden_sets": "leakage_reference"})
    if "sft" in data:
        raise ConfigError(
            f"{cfg_path}:{line_of(root, ('sft',))}: sft: no such section (see docs/train.md): "
            "SFT and DPO both read data, lora and training, and only DPO has settings of its "
            "own (dpo); move these keys into those sections"
        )
    if task == "sft" and "dpo" in data:
        raise ConfigError(
            f"{cfg_path}:{line_of(root, ('dpo',))}: dpo: this section is for `curagate train "
            "dpo`, and `curagate train sft` would not use it; remove it, or train with "
            "`curagate train dpo`"
        )
    try:
        cfg = TrainConfig.model_validate(data)
    except ValidationError as e:
        lines = error_lines(e, root, str(cfg_path), docs="docs/train.md")
        raise ConfigError("; ".join(lines)) from None
    problem = cfg.save_steps_problem()
    if problem is not None:
        line = line_of(root, ("training", "save_steps"))
        raise ConfigError(f"{cfg_path}:{line}: training.save_steps: {problem}")
    return cfg.resolved_paths(cfg_path.resolve().parent)
