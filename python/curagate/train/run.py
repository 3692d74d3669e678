"""`curagate train sft|dpo`: a LoRA adapter plus the record of how it was made.

The run is built in a hidden sibling directory and renamed to
``<output_dir>/<name>/`` only when it succeeded, so a directory with that
name always holds a complete run (see docs/train.md for its layout). A run
stopped by the health monitor is kept as ``<name>.failed/`` for diagnosis.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml
from pydantic import ValidationError

from curagate.artifacts import RunRecord, read_artifact
from curagate.config import error_lines
from curagate.digest import file_state, hash_tree, require_unchanged, sha256_file, sha256_text
from curagate.errors import CheckFailed, ConfigError, CuragateError, InputError, MissingExtraError
from curagate.hf import library_deprecations_quiet
from curagate.io.atomic import (
    atomic_path,
    release,
    remove_stale,
    temporary_beside,
    write_bytes_atomic,
    write_text_atomic,
)
from curagate.io.outputs import has_magic, read_regular, refuse_inside_output
from curagate.progress import enabled as progress_enabled
from curagate.train import data as tdata
from curagate.train.config import TrainConfig, load_config
from curagate.train.health import (
    ADAPTER_UNCHANGED,
    END_OF_TURN_TRUNCATED,
    GENERATION_DOES_NOT_STOP,
    NON_FINITE,
    PAIR_SAME_AFTER_TRUNCATION,
    SPECIAL_TOKEN_IN_TEXT,
    TURN_ORDER,
    AdapterUnchanged,
    HealthFinding,
    HealthMonitor,
    TrainingDiverged,
    TrainingFailed,
    make_callback,
)
from curagate.train.provenance import (
    git_commit,
    hardware,
    library_versions,
)

Task = Literal["sft", "dpo"]
SCHEMA_VERSION = RunRecord.SCHEMA_VERSION
REPORT_TO_MODULES = {
    "mlflow": "mlflow",
    "wandb": "wandb",
    "tensorboard": "tensorboard",
    "comet_ml": "comet_ml",
    "trackio": "trackio",
}


@dataclass
class TrainResult:
    run_dir: Path
    task: str
    global_step: int
    summary: dict[str, Any]
    findings: list[HealthFinding] = field(default_factory=list)


def _require_train_extra() -> None:
    for module in ("torch", "transformers", "peft", "trl", "datasets"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("train", module)


def _check_base_model(path: str) -> Path:
    base = Path(path)
    if not (base / "config.json").is_file():
        raise ConfigError(
            f"base_model: {base} is not a local Hugging Face model directory (no config.json); "
            "point it at a saved model, e.g. one made by `curagate model import-gguf FILE --out DIR`"
        )
    return base


def _golden_files(cfg: TrainConfig) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for name, spec in sorted(cfg.leakage_reference.items()):
        paths = [spec] if isinstance(spec, str) else spec
        _refuse_json_records(name, paths)  # first: its message says what to do here
        files = tdata.expand_paths(paths)
        if not files:
            raise InputError(f"leakage_reference.{name}: no files found at {', '.join(paths)}")
        out[name] = files
    return out


def _refuse_json_records(name: str, paths: list[str]) -> None:
    """A golden set may hold items as a JSON array (`.json`, as lm-eval suites and many
    exports do), which the data readers skip in a folder or a glob: the guard said
    "checked, 0 leaked" of items it never read. The gate reads them; here they are
    refused, however the paths reach them (folders, links to folders, globs; any case of
    the suffix, compressed, with a byte-order mark). A JSON object document (a
    dataset_info.json) is no records."""
    from curagate.io.readers import JSON_SUFFIXES, files_reached, json_array_of_records

    reached = [f for spec in paths for f in files_reached(spec)]
    found = sorted(
        p for p in reached if p.name.lower().endswith(JSON_SUFFIXES) and json_array_of_records(p)
    )
    if found:
        raise InputError(
            f"leakage_reference.{name}: {found[0]} holds records as a JSON array"
            f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''}, which the guard "
            "does not read; convert them to JSON Lines (.jsonl) or name only the files to check"
        )


def _umask_modes(root: Path) -> None:
    """The modes a plain mkdir and open give under the umask, for ``root`` and all in it.

    Gate and export read a run, maybe as another account (a CI user); mkdtemp made the
    folder 0700, and safetensors writes its files 0600."""
    umask = os.umask(0)
    os.umask(umask)
    root.chmod(0o777 & ~umask)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _refuse_changed(read_state: dict[Path, Any], when: str) -> None:
    """InputError naming the first file whose state is no longer the one recorded."""
    require_unchanged(
        list(read_state),
        list(read_state.values()),
        while_=when,
        so="run.json would name bytes it was not trained on (or checked against)",
        again="train again once nothing writes to the data, the base model and the golden sets",
    )


def _golden_hashes(golden: dict[str, list[Path]]) -> dict[str, str]:
    out = {}
    for name, files in golden.items():
        if len(files) == 1:
            out[name] = sha256_file(files[0])
        else:
            out[name] = sha256_text("".join(f"{sha256_file(f)}  {f.name}\n" for f in files))
    return out


NO_LEAKAGE_REFERENCE = (
    "no leakage_reference in the train config: the data was not checked for golden-set "
    "items (the gate's contamination check still is)"
)


def leakage_guard(
    golden: dict[str, list[Path]],
    train_files: list[Path],
    allow_leakage: bool,
    system_prompt: str | None = None,
) -> dict[str, Any]:
    """Refuse training data that contains golden-set items (unless explicitly allowed).
    ``data.system_prompt`` is trained on in every example: it is scanned too. Without a
    ``leakage_reference`` nothing is checked, and the record says so."""
    if not golden:
        return {"checked": False, "reason": NO_LEAKAGE_REFERENCE}
    from curagate.leakage import detect

    reference = [f for files in golden.values() for f in files]
    result = detect(reference=reference, corpus=train_files)
    report = result.to_dict()
    leaked = int(result.leaked_reference_items)
    in_prompt = _system_prompt_leaks(reference, system_prompt)
    if in_prompt and not allow_leakage:
        raise CheckFailed(
            f"data.system_prompt contains {len(in_prompt)} golden-set item(s) ("
            + "; ".join(f"{file} row {row}" for file, row in in_prompt[:10])
            + "), and it is trained on in every example; refusing to train on it. Remove "
            "them from the prompt or pass --allow-leakage to train anyway (recorded in run.json)"
        )
    if leaked and not allow_leakage:
        shown = []
        for leak in result.leaks[:10]:
            ref = leak.item
            hits = ", ".join(f"{m.file}:{m.line or m.row}" for m in leak.matches[:3])
            shown.append(f"{ref.file} row {ref.row} (found in {hits}; {'/'.join(leak.methods)})")
        more = (
            f" (and {len(result.leaks) - len(shown)} more)"
            if len(result.leaks) > len(shown)
            else ""
        )
        raise CheckFailed(
            f"the training data (data.train and data.validation) contains {leaked} golden-set "
            "item(s); refusing to train on data that leaks the evaluation set. Remove them (curagate leakage / curagate split) or "
            "pass --allow-leakage to train anyway (recorded in run.json). Leaks: "
            + "; ".join(shown)
            + more
        )
    found = {(leak.item.file, leak.item.row) for leak in result.leaks} | set(in_prompt)
    return {
        "checked": True,
        "leaked_reference_items": len(found),
        "leaked_in_system_prompt": len(in_prompt),
        "report": report,
    }


def _system_prompt_leaks(reference: list[Path], system_prompt: str | None) -> list[tuple[str, int]]:
    """The golden items (file, row) found in ``system_prompt``, read as a one-record corpus."""
    if not system_prompt:
        return []
    import tempfile

    from curagate.leakage import detect

    with tempfile.TemporaryDirectory(prefix="curagate-prompt-") as tmp:
        prompt = Path(tmp) / "system_prompt.jsonl"
        prompt.write_text(json.dumps({"text": system_prompt}) + "\n", encoding="utf-8")
        result = detect(reference=reference, corpus=[prompt])
        return sorted({(leak.item.file, leak.item.row) for leak in result.leaks})


def _manifest(files: list[Path]) -> dict[str, Any]:
    from curagate.io.manifest import build_manifest

    return dict(build_manifest(files))


def _pick_device(cfg: TrainConfig) -> str:
    import torch

    want = cfg.training.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device: cuda was asked for but no CUDA device is available")
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.training.threads is not None:
        torch.set_num_threads(cfg.training.threads)
    if cfg.lora.qlora:
        if want != "cuda":
            raise ConfigError(
                "lora.qlora: QLoRA (4-bit NF4) needs a CUDA GPU and none is available here; "
                "set lora.qlora: false to train a LoRA on the full-precision base"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(
                "lora.qlora: QLoRA needs the bitsandbytes package; pip install bitsandbytes, "
                "or set lora.qlora: false"
            )
    return want


def _check_report_to(cfg: TrainConfig) -> None:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    for target in cfg.training.report_to:
        module = REPORT_TO_MODULES.get(target, target)
        if target not in INTEGRATION_TO_CALLBACK and importlib.util.find_spec(module) is not None:
            # An installed module that is no tracker (`os`) passed, and transformers
            # refused it (ValueError, exit 3) once the trainer was built.
            raise ConfigError(
                f"training.report_to: {target!r} is not a tracker transformers reports to; "
                f"use one of {', '.join(sorted(INTEGRATION_TO_CALLBACK))}, or leave it empty"
            )
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"training.report_to: {target} is not installed; pip install {module} or remove it"
            )


def _no_library_bars() -> None:
    """Under --quiet, or off a terminal, the libraries draw no bars either (they wrote
    "Loading weights", "Map ... examples/s" and "Writing model shards" into CI logs)."""
    import datasets

    from curagate.hf import no_library_bars

    no_library_bars()
    datasets.disable_progress_bars()


def _load_model(cfg: TrainConfig, base: Path, device: str) -> Any:
    import torch

    if not progress_enabled():
        _no_library_bars()

    kwargs: dict[str, Any] = {"local_files_only": True}
    if cfg.lora.qlora:
        import peft
        import transformers

        bnb: Any = transformers.BitsAndBytesConfig
        prepare: Any = peft.prepare_model_for_kbit_training

        kwargs["quantization_config"] = bnb(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["dtype"] = torch.bfloat16
        model = _from_pretrained(base, kwargs)
        return prepare(model, use_gradient_checkpointing=cfg.training.gradient_checkpointing)
    kwargs["dtype"] = torch.float32 if device == "cpu" else torch.bfloat16
    model = _from_pretrained(base, kwargs)
    _check_target_modules(cfg, model, base)
    return model


def _from_pretrained(base: Path, kwargs: dict[str, Any]) -> Any:
    """The base model, loaded; ConfigError (exit 2) when transformers cannot load it or
    does not load the model its files hold (a weight it initializes at random, another one
    each load, or an output layer config.json says is not: found by attack, a base whose
    config.json says tie_word_embeddings: false and whose weights hold no lm_head.weight
    trained on a random output layer no export or gate could load again)."""
    from transformers import AutoModelForCausalLM

    from curagate.hf import config_problem, loaded_weights_problem

    try:
        pair: Any = AutoModelForCausalLM.from_pretrained(base, output_loading_info=True, **kwargs)
    except Exception as e:
        # Whatever the folder's files make transformers raise (a truncated safetensors
        # file, a config that disagrees with the weights, a quantization_config asking
        # for a library that is not installed): the input's fault, named, not a crash.
        problem = config_problem(e, base)
        raise ConfigError(
            f"base_model: {problem}"
            if problem is not None
            else f"base_model: cannot load a causal LM from {base} ({type(e).__name__}: {e})"
        ) from None
    model, info = pair
    problem = loaded_weights_problem(model, info, base)
    if problem is not None:
        raise ConfigError(f"base_model: {problem}")
    return model


def _sort_target_modules(path: Path) -> None:
    """peft writes ``target_modules`` from a set, in an order that changes with Python's
    hash seed: two runs of one training gave two adapter digests. Sorted, as peft's
    own writer formats the file (``indent=2, sort_keys=True``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data.get("target_modules"), list):
        data["target_modules"] = sorted(data["target_modules"])
        write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def _check_target_modules(cfg: TrainConfig, model: Any, base: Path) -> None:
    """Every module name in ``lora.target_modules`` names a module of the base model
    (peft would stop with an error of its own once training was set up)."""
    targets = cfg.lora.target_modules
    if targets == "all-linear":
        return
    modules = dict(model.named_modules())

    def is_layer(m: Any) -> bool:  # a leaf: peft adapts layers (Linear, Conv1D, Embedding)
        return next(iter(m.children()), None) is None

    layers = sorted(
        {
            n.rsplit(".", 1)[-1]
            for n, m in modules.items()
            if is_layer(m) and type(m).__name__ in ("Linear", "Conv1D")
        }
        - {"lm_head"}
    )

    def matched(t: str) -> list[Any]:
        # peft's rule for a list: a module's full name, or a suffix of it after a dot
        return [m for n, m in modules.items() if n and (n == t or n.endswith("." + t))]

    missing = [t for t in targets if not t or not matched(t)]
    # peft adapts layers, not containers (`model`), and trl refuses lm_head.
    unfit = [
        t
        for t in targets
        if t and t not in missing and (t == "lm_head" or not all(map(is_layer, matched(t))))
    ]
    if missing or unfit:
        what = (
            f"{', '.join(repr(t) for t in missing)} is no module of {base}"
            if missing
            else f"{', '.join(unfit)} is not a layer LoRA can adapt here"
        )
        raise ConfigError(
            f"lora.target_modules: {what}; its linear layers are {', '.join(layers)} "
            "(or use all-linear)"
        )
    if getattr(getattr(model, "config", None), "tie_word_embeddings", False):
        embed = model.get_input_embeddings()
        tied = [t for t in targets if any(m is embed for m in matched(t))]
        if tied:
            # Trained fine; merged, the change reaches lm_head through the tied weight,
            # so every export failed its base + adapter comparison.
            raise ConfigError(
                f"lora.target_modules: {', '.join(tied)} is the input embedding, which {base} "
                "ties to its output layer (tie_word_embeddings): merged, the adapter would "
                "change both and no export could match base + adapter; adapt the linear "
                f"layers ({', '.join(layers)})"
            )


def _load_tokenizer(base: Path) -> Any:
    from transformers import AutoTokenizer

    from curagate.hf import config_problem

    try:
        tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    except Exception as e:  # e.g. a tokenizer_config.json that is a list
        problem = config_problem(e, base)
        raise ConfigError(
            f"base_model: {problem}"
            if problem is not None
            else f"base_model: cannot load the tokenizer from {base} ({type(e).__name__}: {e})"
        ) from None
    if not getattr(tok, "is_fast", False):
        raise ConfigError(
            f"base_model: {base} has only a slow tokenizer; curagate needs tokenizer.json "
            "(a fast tokenizer) to locate assistant turns"
        )
    if tok.pad_token is None:
        if tok.eos_token is None:
            # trl refused it (ValueError, exit 3) once the trainer was built.
            raise ConfigError(
                f"base_model: the tokenizer in {base} has neither a pad nor an eos token; set "
                "eos_token (and pad_token) in its tokenizer_config.json"
            )
        tok.pad_token = tok.eos_token
    return tok


def _lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    lora = cfg.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        use_dora=lora.use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )


def _checkpointing_arg() -> str:
    """TrainingArguments' name for gradient checkpointing: transformers 5 renamed it
    activation_checkpointing (the old name warned on every run, --quiet or not)."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )


def _common_args(cfg: TrainConfig, out: Path, device: str, has_eval: bool) -> dict[str, Any]:
    t = cfg.training
    eval_on = has_eval
    return {
        "output_dir": str(out),
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "full_determinism": device == "cpu",
        "use_cpu": device == "cpu",
        "bf16": device == "cuda",
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps or -1,
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": t.lr_scheduler,
        "warmup_steps": t.warmup_ratio,
        "max_grad_norm": t.max_grad_norm,
        "weight_decay": t.weight_decay,
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.eval_batch_size or t.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        _checkpointing_arg(): t.gradient_checkpointing,
        "logging_steps": t.logging_steps,
        "logging_first_step": True,
        "logging_nan_inf_filter": False,
        "eval_strategy": "steps" if eval_on else "no",
        "eval_steps": t.eval_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps or t.eval_steps,
        "save_total_limit": t.save_total_limit,
        "load_best_model_at_end": eval_on,
        "metric_for_best_model": "eval_loss" if eval_on else None,
        "greater_is_better": False if eval_on else None,
        "report_to": t.report_to or "none",
        # The Trainer's bars follow --quiet and the TTY test, as every curagate bar does.
        "disable_tqdm": not progress_enabled(),
        "dataloader_num_workers": 0,
        "remove_unused_columns": True,
        "max_length": cfg.data.max_length,
    }


def _plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [
            (int(r["step"]), float(r[key]))
            for r in rows
            if key in r and isinstance(r[key], int | float)
        ]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    xs, ys = series("loss")
    if xs:
        ax.plot(xs, ys, label="train loss", linewidth=1)
    xs, ys = series("eval_loss")
    if xs:
        ax.plot(xs, ys, "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _summary(rows: list[dict[str, Any]], state: Any, run_tmp: Path) -> dict[str, Any]:
    # Trainers log the loss every `logging_steps`: the last logged is not the last step's.
    losses = [(r.get("step"), r["loss"]) for r in rows if isinstance(r.get("loss"), int | float)]
    evals = [
        (r["step"], r["eval_loss"]) for r in rows if isinstance(r.get("eval_loss"), int | float)
    ]
    best = state.best_model_checkpoint
    return {
        "global_step": int(state.global_step),
        "planned_steps": int(state.max_steps),
        "stopped_early": int(state.global_step) < int(state.max_steps),
        "first_train_loss": losses[0][1] if losses else None,
        "first_train_loss_step": losses[0][0] if losses else None,
        "last_train_loss": losses[-1][1] if losses else None,
        "last_train_loss_step": losses[-1][0] if losses else None,
        "first_eval_loss": evals[0][1] if evals else None,
        "last_eval_loss": evals[-1][1] if evals else None,
        "best_eval_loss": state.best_metric,
        "best_checkpoint": Path(best).relative_to(run_tmp).as_posix() if best else None,
    }


def train(
    task: Task,
    config: str | os.PathLike[str],
    *,
    name: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    allow_leakage: bool = False,
    overwrite: bool = False,
    sign_key: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a LoRA adapter (SFT or DPO) as ``config`` says; returns where the run landed.

    With ``sign_key`` (an EC private key, PEM), the run record is signed too
    (``run_attestation.dsse.json``): `curagate gate --train-key` then knows run.json,
    its training data included, is the trainer's."""
    if sign_key is not None:
        from curagate.signing import load_private_key

        load_private_key(sign_key)  # a bad key fails now, not after the training
    cfg = load_config(config, task)
    updates: dict[str, Any] = {}
    if name is not None:
        updates["name"] = name
    if output_dir is not None:
        updates["output_dir"] = Path(output_dir).resolve().as_posix()
    if updates:
        try:
            cfg = TrainConfig.model_validate({**cfg.model_dump(), **updates})
        except ValidationError as e:
            lines = error_lines(e, None, "--name/--output-dir", docs="docs/train.md")
            raise ConfigError("; ".join(lines)) from None
    base = _check_base_model(cfg.base_model)
    run_dir = Path(cfg.output_dir) / cfg.name
    if run_dir.exists() and not overwrite:
        raise InputError(f"{run_dir} already exists; choose another name or pass --overwrite")
    _check_run_dir_holds_no_input(run_dir, base, cfg, config)  # the more precise reason first
    not_a_run = _not_a_run(run_dir)
    if not_a_run is not None:
        raise InputError(not_a_run)
    # Inside what another command wrote and checks as a whole, its files would make that
    # fail its check from then on (and train itself then refuse its data).
    refuse_inside_output(run_dir, "the run folder (output_dir)")
    made = _make_output_dir(run_dir.parent)
    try:
        with _run_lock(run_dir):
            return _train_locked(
                task,
                config,
                cfg,
                base,
                run_dir,
                allow_leakage=allow_leakage,
                overwrite=overwrite,
                sign_key=sign_key,
            )
    except BaseException:
        for folder in reversed(made):  # a refused run leaves no folder of its own behind
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<output_dir>/.NAME.lock`` (flock) while a run of ``run_dir`` works: two
    trains of one name at once (``--overwrite`` both) each replaced the other's run, exit
    0 twice. The second is refused at once; the lock goes with its process, so a killed
    run leaves nothing that blocks the next. The file is removed at the end; a lock taken
    on a file removed meanwhile is taken again on the path's new file."""
    import fcntl

    path = run_dir.with_name(f".{run_dir.name}.lock")
    flags = os.O_CLOEXEC | os.O_NOFOLLOW
    while True:
        try:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o666)
            except PermissionError:
                # Another account's lock file (0644, left by a killed run): flock needs
                # no write access, so a dead run's lock blocks nothing (it did: EACCES).
                fd = os.open(path, os.O_RDONLY | flags)
        except OSError as e:  # a folder that takes no file (/proc), a link, no access
            raise InputError(
                f"cannot open the run's lock file {path} ({e.strerror or e}); choose an "
                "output_dir where you can create files"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(
                f"another run is writing {run_dir} (it holds {path}); wait for it to finish, "
                "or train under another name or output_dir"
            ) from None
        try:
            mine, there = os.fstat(fd), path.stat()
            same = (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed it as it finished: lock the path's file now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _train_locked(
    task: Task,
    config: str | os.PathLike[str],
    cfg: TrainConfig,
    base: Path,
    run_dir: Path,
    *,
    allow_leakage: bool,
    overwrite: bool,
    sign_key: str | os.PathLike[str] | None,
) -> TrainResult:
    """The run, once the checks on its config and its folder passed and its lock is held."""
    # Cheap checks first: data, guard, environment, before loading any model.
    train_records = tdata.read_records(cfg.data.train, cfg.data.format, allow_leakage=allow_leakage)
    val_records = (
        tdata.read_records(
            cfg.data.validation, cfg.data.format, "validation", allow_leakage=allow_leakage
        )
        if cfg.data.validation
        else None
    )
    # Splits that failed their leak check, trained on with --allow-leakage: said and kept.
    failed_split_checks = list(
        dict.fromkeys(
            [*train_records.failed_checks, *(val_records.failed_checks if val_records else [])]
        )
    )
    # What the run records is what it read: digests now, and the files' state to check
    # they are still those bytes once training is done (hashing after would record
    # whatever sat there at the end).
    dataset_manifest = _manifest(train_records.files)
    validation_manifest = _manifest(val_records.files) if val_records else None
    # By content: a link, a hard link or a copy of a training file is that file too.
    trained = {f["sha256"]: f["path"] for f in dataset_manifest["files"]}
    shared = [
        (f["path"], trained[f["sha256"]])
        for f in (validation_manifest or {"files": []})["files"]
        if f["sha256"] in trained
    ]
    if shared:
        raise ConfigError(
            f"data.validation {shared[0][0]} holds the same bytes as data.train {shared[0][1]}: "
            "the checkpoint that ships (and early stopping) would be chosen on rows it trained "
            "on; give validation rows of their own (curagate split)"
        )
    # The rows as they train (cheap, and their errors before any model loads): what the
    # validation rows are compared with, and what is tokenized below.
    sp = cfg.data.system_prompt
    train_convs: list[tdata.Conversation] = []
    val_convs: list[tdata.Conversation] | None = None
    train_pairs: list[dict[str, list[tdata.Message]]] = []
    val_pairs: list[dict[str, list[tdata.Message]]] | None = None
    if task == "sft":
        train_convs = tdata.to_conversations(train_records, sp)
        val_convs = tdata.to_conversations(val_records, sp) if val_records else None
        # The turns as the template renders them, whatever the format they were written in
        # (trained_from, which differs between a chat row and the prompt/completion row of
        # the same turns, let a chat copy of the training rows validate unnoticed).
        examples: list[Any] = [c.messages for c in train_convs]
        val_examples: list[Any] | None = (
            [c.messages for c in val_convs] if val_convs is not None else None
        )
    else:
        train_pairs = tdata.to_preferences(train_records, sp)
        val_pairs = tdata.to_preferences(val_records, sp) if val_records else None
        examples, val_examples = list(train_pairs), val_pairs
    # By row too: a reordered copy or a subset of the training file is other bytes.
    repeated = _validation_rows_in_train(examples, val_examples)
    if val_records is not None and repeated and len(repeated) == len(val_records.rows):
        raise ConfigError(
            f"data.validation: all {len(repeated):,} of its rows are data.train rows (first: "
            f"{val_records.where(repeated[0])}): the checkpoint that ships (and early "
            "stopping) would be chosen on rows it trained on; give validation rows of their "
            "own (curagate split)"
        )
    from curagate.export.manifest import refuse_unhashed_loads

    refuse_unhashed_loads(base, "the base model")  # before its files are recorded
    base_files = hash_tree(base)
    # The data's state from before it was read (a file swapped between reading and
    # hashing was recorded with the new bytes' sha256), the base model's and the golden
    # sets' from before they were hashed.
    read_state = {**train_records.states, **(val_records.states if val_records else {})}
    golden = _golden_files(cfg)
    golden_files = [f for files in golden.values() for f in files]
    read_state |= {p: file_state(p) for p in [*(base / rel for rel in base_files), *golden_files]}
    golden_hashes = _golden_hashes(golden)  # what the guard is about to read
    _refuse_changed(read_state, "curagate read it")
    # Validation rows pick the checkpoint that ships (and stop training): golden items
    # there select the model on the gate's own items, so they are scanned as training data.
    leakage = leakage_guard(
        golden,
        [*train_records.files, *(val_records.files if val_records else [])],
        allow_leakage,
        cfg.data.system_prompt,
    )
    _require_train_extra()
    _check_report_to(cfg)
    device = _pick_device(cfg)

    import datasets
    from transformers import EarlyStoppingCallback, set_seed

    tok = _load_tokenizer(base)
    template = tdata.require_chat_template(tok, str(base))
    eot_token, eot_id = tdata.end_of_turn_token(tok)

    run_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(run_dir)  # what killed runs of this name left (their checkpoints)
    # Held locked while it is this run's: the next run tells a killed run's from it.
    tmp, lock = temporary_beside(run_dir)
    monitor = HealthMonitor(cfg.health, tmp / "metrics.jsonl")
    data_stats: dict[str, Any] = {"format": train_records.format, "end_of_turn_token": eot_token}
    try:
        if task == "sft":
            n_out_of_order, first = tdata.turn_order_problems(train_records)
            if n_out_of_order:
                monitor.add(
                    HealthFinding(
                        rule=TURN_ORDER,
                        step=None,
                        message=f"{n_out_of_order} training conversation(s) have turns "
                        f"`curagate check` flags (first: {first})",
                    )
                )
            contents = [m["content"] for conv in train_convs for m in conv.messages]
            train_tok = tdata.tokenize_sft(tok, train_convs, cfg.data.max_length, eot_id)
            if not train_tok.examples:
                raise InputError("no training example has a trained token left after truncation")
            val_tok = (
                tdata.tokenize_sft(
                    tok,
                    val_convs,
                    cfg.data.max_length,
                    eot_id,
                )
                if val_convs is not None
                else None
            )
            if val_tok is not None and not val_tok.examples:
                raise InputError(
                    "no validation example has a trained token left after truncation; raise "
                    "data.max_length or shorten the validation rows"
                )
            if val_tok is not None and val_records is not None:
                repeated = _evaluated_rows_in_train(
                    set(train_tok.rendered),
                    dict(zip(val_tok.kept, val_tok.rendered, strict=True)),
                    len(val_examples or []),
                    val_records,
                )
            if train_tok.trained_end_of_turn == 0:
                raise ConfigError(
                    f"the end-of-turn token {eot_token!r} is never inside the trained labels "
                    "(every example is truncated before it); raise data.max_length"
                )
            if train_tok.truncated_before_end_of_turn:
                monitor.add(
                    HealthFinding(
                        rule=END_OF_TURN_TRUNCATED,
                        step=None,
                        message=f"{train_tok.truncated_before_end_of_turn} training example(s) are cut by "
                        f"data.max_length={cfg.data.max_length} before an end-of-turn token "
                        f"{eot_token!r}; raise max_length so the model learns to stop",
                    )
                )
            data_stats.update(
                train_examples=len(train_tok.examples),
                train_tokens=sum(len(e["input_ids"]) for e in train_tok.examples),
                trained_tokens=sum(
                    sum(1 for x in e["labels"] if x != tdata.IGNORE_INDEX)
                    for e in train_tok.examples
                ),
                dropped_no_trained_tokens=train_tok.dropped_no_trained_tokens,
                assistant_turns=train_tok.assistant_turns,
                trained_end_of_turn=train_tok.trained_end_of_turn,
                validation_examples=len(val_tok.examples) if val_tok else 0,
                # Validation rows cut to no trained token are left out too: counted, as the
                # training rows are (they vanished from the record).
                validation_dropped_no_trained_tokens=(
                    val_tok.dropped_no_trained_tokens if val_tok else 0
                ),
            )
            train_ds = datasets.Dataset.from_list(train_tok.examples)
            eval_ds = datasets.Dataset.from_list(val_tok.examples) if val_tok else None
        else:
            # Each pair rendered once (prompt, prompt + chosen, prompt + rejected) for every
            # check below: the end-of-turn, truncation and overlap checks rendered them again.
            rendered = _rendered_pairs(tok, train_pairs, train_records)
            _check_dpo_end_of_turn(tok, rendered, train_records, eot_id, eot_token)
            val_rendered = None
            if val_pairs is not None and val_records is not None:
                val_rendered = _rendered_pairs(tok, val_pairs, val_records)
                _check_dpo_end_of_turn(tok, val_rendered, val_records, eot_id, eot_token)
            no_answer, val_no_answer = _check_dpo_lengths(
                tok,
                rendered,
                val_rendered,
                cfg.data.max_length,
                (eot_token, eot_id),
                monitor,
                (train_records, val_records),
            )
            dropped, val_dropped = len(no_answer), len(val_no_answer)
            if val_pairs is not None and val_rendered is not None and val_records is not None:
                repeated = _evaluated_rows_in_train(
                    {r for i, r in enumerate(rendered) if i not in no_answer},
                    {i: r for i, r in enumerate(val_rendered) if i not in val_no_answer},
                    len(val_pairs),
                    val_records,
                )
            contents = [
                m["content"] for pair in train_pairs for part in pair.values() for m in part
            ]
            data_stats.update(
                train_examples=len(train_pairs) - dropped,
                dropped_no_trained_tokens=dropped,
                # trl leaves out the validation pairs left no answer token, as the training ones.
                validation_examples=len(val_pairs or []) - val_dropped,
                validation_dropped_no_trained_tokens=val_dropped,
            )
            train_ds = _as_dataset(train_pairs)
            eval_ds = _as_dataset(val_pairs) if val_pairs else None

        n_special, example = tdata.special_token_text(tok, contents)
        if n_special:
            monitor.add(
                HealthFinding(
                    rule=SPECIAL_TOKEN_IN_TEXT,
                    step=None,
                    message=f"{n_special} message(s) spell out a special token as text (e.g. {example!r}); "
                    "the tokenizer turns it into the control token, so the model learns to emit "
                    "it mid-answer. Strip it from the data",
                )
            )
        model = _load_model(cfg, base, device)
        _check_generation_stops(model, tok, eot_id, eot_token, monitor)
        args = _common_args(cfg, tmp / "checkpoints", device, eval_ds is not None)
        callbacks: list[Any] = [make_callback(monitor)]
        if eval_ds is not None and cfg.training.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(cfg.training.early_stopping_patience))
        set_seed(cfg.seed, deterministic=device == "cpu")
        with library_deprecations_quiet():
            if task == "sft":
                from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

                trainer: Any = SFTTrainer(
                    model=model,
                    args=SFTConfig(**args, completion_only_loss=False, packing=False),
                    train_dataset=train_ds,
                    eval_dataset=eval_ds,
                    processing_class=tok,
                    peft_config=_lora_config(cfg),
                    callbacks=callbacks,
                )
            else:
                from trl import DPOConfig, DPOTrainer  # type: ignore[attr-defined]

                trainer = DPOTrainer(
                    model=model,
                    ref_model=None,  # with a peft_config: the base with the adapter disabled
                    args=DPOConfig(**args, beta=cfg.dpo.beta),
                    train_dataset=train_ds,
                    eval_dataset=eval_ds,
                    processing_class=tok,
                    peft_config=_lora_config(cfg),
                    callbacks=callbacks,
                )
            initial = _trainable_state(trainer.model)
            if eval_ds is not None:
                trainer.evaluate()  # step-0 baseline on the validation split
            trainer.train()
        _check_finite_adapter(trainer.model, monitor)
        _check_adapter_changed(trainer, initial, cfg, tmp, monitor)
    except TrainingFailed as e:
        failed = _failed_folder(run_dir, base, cfg, config)
        _write_json(tmp / "summary.json", {"status": "failed", "findings": _findings(monitor)})
        rows = _read_metrics(tmp / "metrics.jsonl")
        if rows:
            _plot(rows, tmp / "loss_curve.png", f"{cfg.name} ({task}, failed)")
        shutil.rmtree(failed, ignore_errors=True)
        tmp.rename(failed)
        raise type(e)(f"{e} (metrics kept in {failed})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    try:
        adapter_dir = tmp / "adapter"
        trainer.model.save_pretrained(adapter_dir)
        _sort_target_modules(adapter_dir / "adapter_config.json")
        tok.save_pretrained(adapter_dir)
        rows = _read_metrics(tmp / "metrics.jsonl")
        _plot(rows, tmp / "loss_curve.png", f"{cfg.name} ({task})")
        summary = _summary(rows, trainer.state, tmp)
        summary["validation_rows_in_train"] = len(repeated)
        if failed_split_checks:
            summary["failed_split_checks"] = failed_split_checks
        summary.update(
            status="ok",
            data=data_stats,
            findings=_findings(monitor),
            leakage=leakage,
            loss_curve="loss_curve.png",
        )
        # What the run used: no DPO section for sft, no early stopping without validation.
        resolved = cfg.model_dump(mode="json", exclude={"dpo"} if task == "sft" else None)
        if eval_ds is None:
            resolved["training"]["early_stopping_patience"] = 0
        write_text_atomic(tmp / "config.yaml", yaml.safe_dump(resolved, sort_keys=True))
        run = {
            "schema_version": SCHEMA_VERSION,
            "name": cfg.name,
            "task": task,
            "base_model": {"path": base.resolve().as_posix(), "files": base_files},
            "adapter_dir": "adapter",
            "adapter_files": hash_tree(adapter_dir),
            "dataset_manifest": dataset_manifest,
            "validation_manifest": validation_manifest,
            "golden_sets": golden_hashes,
            "allow_leakage": allow_leakage,
            "config": resolved,
            "seed": cfg.seed,
            "git_commit": git_commit(Path(config).resolve().parent),
            "versions": library_versions(),
            "hardware": hardware(device),
            "chat_template_sha256": sha256_text(template),
            "metrics_file": "metrics.jsonl",
            "summary": summary,
        }
        # Through the contract its readers use: a field they need cannot be left out.
        record = RunRecord.model_validate(json.loads(json.dumps(run, default=str)))
        record_bytes = record.to_json_bytes()
        write_bytes_atomic(tmp / RunRecord.FILE, record_bytes)
        if sign_key is not None:
            from curagate.signing import RUN_ATTESTATION_NAME, sign_run_record

            signed = sign_run_record(record_bytes, cfg.name, sign_key)
            write_bytes_atomic(tmp / RUN_ATTESTATION_NAME, signed)
        _refuse_changed(read_state, "the run trained")
        _umask_modes(tmp)
        if overwrite:

            def replaceable(path: Path) -> None:
                # Again at the swap: what appeared there while the run trained (hours)
                # is replaced only when it is a run; else this run is kept beside it.
                why = _not_a_run(path)
                if why is not None:
                    _keep_beside(final, run_dir, f"{why} (it appeared while this run trained)")

            with atomic_path(run_dir, replaceable=replaceable) as final:
                tmp.rename(final)
        else:
            _publish_new(tmp, run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        release(lock)
    return TrainResult(run_dir, task, summary["global_step"], summary, list(monitor.findings))


def _as_dataset(pairs: list[dict[str, list[tdata.Message]]]) -> Any:
    """Preference pairs as trl reads them, each turn exactly as in the data: as Arrow
    structs, rows of one schema, every tool call's ``arguments`` took the keys of every
    other row's as nulls, and the chat template rendered them (the chosen answer trained
    was ``f({"animal": "cat", "color": null})`` for ``f({"animal": "cat"})``)."""
    import datasets

    json_columns = datasets.Features({key: datasets.Json() for key in pairs[0]})
    return datasets.Dataset.from_list(pairs, features=json_columns)


def _inputs(
    base: Path, cfg: TrainConfig, config_path: str | os.PathLike[str]
) -> list[tuple[str, Path]]:
    """What a run reads, by kind: the base model, the data, the leakage references (a
    golden set kept in a previous run's folder was deleted by --overwrite while run.json
    went on naming it), as named and as their globs expand (runs/*/golden.jsonl lies in
    a run folder though its pattern does not), and the train config itself."""
    inputs = [("base_model", base), *(("data", Path(p)) for p in cfg.data.train)]
    inputs += [("data", Path(p)) for p in cfg.data.validation]
    for name, spec in sorted(cfg.leakage_reference.items()):
        paths = [spec] if isinstance(spec, str) else spec
        inputs += [(f"leakage_reference.{name}", Path(p)) for p in paths]
    for what, path in list(inputs):
        if what != "base_model":
            with contextlib.suppress(InputError):  # not found: said when it is read
                inputs += [(what, p) for p in tdata.expand_paths([str(path)])]
    return [*inputs, ("train config", Path(config_path))]


def _failed_folder(
    run_dir: Path, base: Path, cfg: TrainConfig, config_path: str | os.PathLike[str]
) -> Path:
    """Where a diverged run's metrics go: ``NAME.failed``, replacing a previous diverged
    run's only (its summary says so, it holds no input of this run); else
    ``NAME.PID.failed``, so nothing else is deleted (a user's folder of that name, the
    run's own data in it, a finished run so named)."""
    failed = run_dir.with_name(f"{run_dir.name}.failed")
    if failed.exists() or failed.is_symlink():
        target = failed.resolve()
        holds_input = any(
            p.resolve() == target or target in p.resolve().parents
            for _, p in _inputs(base, cfg, config_path)
        )
        if failed.is_symlink() or holds_input or not _is_failed_run(failed):
            failed = run_dir.with_name(f"{run_dir.name}.{os.getpid()}.failed")
    return failed


def _is_failed_run(folder: Path) -> bool:
    """Whether ``folder`` is what a diverged run leaves: a summary.json saying "failed",
    and no run record."""
    summary = folder / "summary.json"
    if not folder.is_dir() or (folder / RunRecord.FILE).exists() or summary.is_symlink():
        return False
    try:
        data = json.loads(read_regular(summary, 1 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("status") == "failed"


def _reaches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether a glob's parts match ``parts`` or a folder above them (a folder a pattern
    matches is read whole: `data/*` matched `data/runs`, and the next run read its own
    metrics.jsonl as training data)."""
    from fnmatch import fnmatchcase

    return len(pattern) <= len(parts) and all(
        fnmatchcase(part, p) for part, p in zip(parts, pattern, strict=False)
    )


def _validation_rows_in_train(trained: list[Any], validated: list[Any] | None) -> list[int]:
    """The validation examples (their indices) that are also training examples, compared
    as they train: the turns the chat template is given (text parts joined, nulls and the
    fields training drops left out), a prompt string as the user turn it becomes. The raw
    rows were compared: the reader turned every row's content into text parts once one
    row of its file had parts, and a row's `id` or a message's `meta` (dropped by
    training) made a training row another row (exit 0, validation_rows_in_train 0)."""
    if validated is None:
        return []

    def key(example: Any) -> int:  # a hash, not the text: the rows are in memory already
        return hash(json.dumps(example, sort_keys=True, default=str))

    seen = {key(e) for e in trained}
    return [i for i, e in enumerate(validated) if key(e) in seen]


def _rendered_pairs(
    tok: Any, pairs: list[dict[str, Any]], records: tdata.Records
) -> list[tuple[str, str, str]]:
    """Each pair's prompt (with the generation prompt), prompt + chosen and prompt +
    rejected as the chat template renders them, once, for every DPO check; an assistant
    turn whose tool calls the template leaves out is refused first
    (:func:`tdata.check_tool_calls_rendered`)."""
    out = []
    for i, pair in enumerate(pairs):
        prompt = pair["prompt"]
        for side in ("chosen", "rejected"):
            tdata.check_tool_calls_rendered(tok, prompt + pair[side], records.where(i))
        out.append(
            (
                tdata.render(tok, prompt, gen_prompt=True),
                tdata.render(tok, prompt + pair["chosen"]),
                tdata.render(tok, prompt + pair["rejected"]),
            )
        )
    return out


def _evaluated_rows_in_train(
    trained: set[Any],
    evaluated: dict[int, Any],
    n_validation: int,
    val_records: tdata.Records,
) -> list[int]:
    """The validation rows the run evaluates (``evaluated``: those left a trained token,
    by index) that are rows it trains on (``trained``), compared as the chat template
    renders them (a chat row's turns; a pair's prompt, prompt + chosen and prompt +
    rejected): what the template does not render (an empty `tool_calls`, a turn's `name`
    in most templates) made a training row another row. Refused when every row evaluated
    is one: the rows counted before truncation let a file of training rows and rows
    then dropped train."""
    repeated = [i for i, text in evaluated.items() if text in trained]
    if repeated and len(repeated) == len(evaluated):
        left_out = n_validation - len(evaluated)
        which = (
            f" that keep a trained token after data.max_length ({left_out:,} more are dropped)"
            if left_out
            else ""
        )
        raise ConfigError(
            f"data.validation: all {len(repeated):,} of its rows{which} are data.train rows "
            f"as the chat template renders them (first: {val_records.where(repeated[0])}): the "
            "checkpoint that ships (and early stopping) would be chosen on rows it trained "
            "on; give validation rows of their own (curagate split)"
        )
    return repeated


def _check_run_dir_holds_no_input(
    run_dir: Path, base: Path, cfg: TrainConfig, config_path: str | os.PathLike[str]
) -> None:
    """The run folder is replaced as a whole (``--overwrite``): it must not be, or hold,
    the base model or the data the run reads, nor lie inside the base model or a folder
    of data (its metrics.jsonl was read as training data by the next run)."""
    target = run_dir.resolve()
    for what, path in _inputs(base, cfg, config_path):
        resolved = path.resolve()
        if resolved == target or target in resolved.parents:
            raise ConfigError(
                f"the run folder {run_dir} is or holds the {what} {path}; --overwrite would "
                "delete it: choose another name or output_dir"
            )
        if what != "base_model" and has_magic(str(path)):
            # A glob reaches the run's files (runs/NAME/metrics.jsonl) under its fixed
            # folder when it recurses (**) or has as many parts as their path there.
            i = next(i for i, part in enumerate(path.parts) if has_magic(part))
            fixed = (Path(*path.parts[:i]) if i else Path()).resolve()
            rest = path.parts[i:]
            if fixed in target.parents and (
                any("**" in part for part in rest)
                or _reaches(rest, (target / "metrics.jsonl").relative_to(fixed).parts)
            ):
                raise ConfigError(
                    f"the run folder {run_dir} is under the {what} pattern {path}, which would "
                    f"read its files as {what} in the next run; choose an output_dir outside it"
                )
        elif what != "base_model" and resolved.is_dir() and resolved in target.parents:
            raise ConfigError(
                f"the run folder {run_dir} is inside the {what} folder {path}: its files "
                f"would be read as {what} by the next run; choose an output_dir outside it"
            )
    if base.resolve() in target.parents:
        # Its files would be files added to the base: export and gate refuse such a base.
        raise ConfigError(
            f"the run folder {run_dir} is inside the base model folder {base}; the run's "
            "files would change the base it records: choose an output_dir outside it"
        )


def _make_output_dir(folder: Path) -> list[Path]:
    """Create ``output_dir`` now, before any work, and return the folders made (outermost
    first): one that cannot be made (under /proc, a read-only disk, no permission) was
    found once the tokenizer had loaded, as an internal error (ENOENT, exit 3)."""
    made = []
    missing = folder
    while not missing.exists() and not missing.is_symlink() and missing != missing.parent:
        made.append(missing)
        missing = missing.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return made[::-1]
    except OSError as e:
        raise ConfigError(
            f"output_dir: cannot create {e.filename or folder}: {e.strerror or e}; choose an "
            "output_dir (or --output-dir) in a folder this user can write"
        ) from None


def _is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run record (a regular run.json that reads as one)."""
    record = folder / RunRecord.FILE
    if record.is_symlink() or not record.is_file():
        return False
    try:
        read_artifact(RunRecord, record)
    except CuragateError:
        return False
    return True


def _not_a_run(run_dir: Path) -> str | None:
    """Why ``--overwrite`` may not replace what is at ``run_dir`` (None: nothing, an empty
    folder or a previous run): it replaced any folder there (a user's own files, a bundle)
    with the run, and a link or file was found only once the run was trained."""
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        return (
            f"{run_dir}: is a symbolic link or a file, not a run folder; --overwrite replaces "
            "a run folder: remove it or choose another name"
        )
    if run_dir.is_dir() and any(run_dir.iterdir()) and not _is_run(run_dir):
        return (
            f"{run_dir}: holds no {RunRecord.FILE} of a run, so it is not a previous run; "
            "--overwrite replaces a run only: move the folder or choose another name"
        )
    return None


def _keep_beside(tmp: Path, run_dir: Path, why: str) -> NoReturn:
    """Keep the finished run ``tmp`` as ``NAME.PID.conflict`` beside ``run_dir`` and raise
    ``why``, saying where it is: a trained run is never thrown away."""
    for k in itertools.count(1):  # a free name: an earlier run of this process kept one
        kept = run_dir.with_name(f"{run_dir.name}.{os.getpid()}{f'.{k}' if k > 1 else ''}.conflict")
        try:
            tmp.rename(kept)
            break
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
    raise InputError(
        f"{why}; this run is kept in {kept} (rename it, or train again with another name "
        "or --overwrite)"
    )


def _publish_new(tmp: Path, run_dir: Path) -> None:
    """Rename the finished run into place unless something was put there meanwhile (two
    trains of one name at once, a user's file): renaming onto a folder that is not empty
    or onto a file fails, so nothing is replaced; this run is kept beside it."""
    try:
        tmp.rename(run_dir)
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            _keep_beside(tmp, run_dir, f"{run_dir} became a file or a link while this run trained")
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        _keep_beside(tmp, run_dir, f"{run_dir} was written by another run while this one trained")


def _check_finite_adapter(model: Any, monitor: HealthMonitor) -> None:
    """Every trained weight finite: a NaN between logging steps reaches no log line, and
    the adapter saved would be NaN with status ok."""
    bad = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and not bool(p.detach().isfinite().all())
    ]
    if bad:
        msg = (
            f"training diverged: {len(bad)} adapter weight tensor(s) hold NaN or infinity "
            f"(e.g. {bad[0]}) after the last step; lower training.learning_rate, keep "
            "training.max_grad_norm set, and log more often (training.logging_steps)"
        )
        monitor.add(HealthFinding(rule=NON_FINITE, step=None, message=msg))
        raise TrainingDiverged(msg)


def _trainable_state(model: Any) -> dict[str, Any]:
    """A copy of the weights training will change (the adapter's), as initialized."""
    return {
        name: p.detach().to("cpu", copy=True)
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def _check_adapter_changed(
    trainer: Any, initial: dict[str, Any], cfg: TrainConfig, run_tmp: Path, monitor: HealthMonitor
) -> None:
    """The adapter that ships (the best checkpoint's, loaded at the end, with validation)
    differs from its initialization: a run whose every step ran at learning rate 0 (warmup
    over a one-step run) saved the initial adapter, the base's weights, with status ok."""
    import torch

    trained = [(name, p) for name, p in trainer.model.named_parameters() if p.requires_grad]
    changed = any(
        name not in initial or not torch.equal(p.detach().cpu(), initial[name])
        for name, p in trained
    )
    # LoRA's B starts at 0: while every B is still 0 the adapter adds nothing, whatever
    # else moved (weight decay alone moved A: found by re-attack)
    b = [p for name, p in trained if ".lora_B." in name or ".lora_embedding_B." in name]
    if changed and not (b and all(not torch.any(p.detach()) for p in b)):
        return
    state = trainer.state
    best = state.best_model_checkpoint
    shipped = int(state.global_step)
    where = (
        f"after {shipped} step(s) every LoRA B matrix is still 0, so it adds nothing"
        if changed
        else f"after {shipped} step(s) its trained weights are exactly those it was initialized with"
    )
    if best:
        best_name = Path(best).name
        shipped = (
            int(best_name.rpartition("-")[2]) if best_name.startswith("checkpoint-") else shipped
        )
        where = (
            f"the best checkpoint ({Path(best).relative_to(run_tmp).as_posix()}, validation loss "
            f"{state.best_metric:.4g}, step {shipped} of {int(state.global_step)}), the one that "
            "would ship, holds exactly the weights it was initialized with"
        )
    lrs = [
        r["learning_rate"]
        for r in _read_metrics(run_tmp / "metrics.jsonl")
        if "loss" in r
        and isinstance(r.get("learning_rate"), int | float)
        and isinstance(r.get("step"), int)
        and r["step"] <= shipped
    ]
    if lrs and all(lr == 0 for lr in lrs):
        every = "every step" if cfg.training.logging_steps == 1 else "every logged step"
        if best:
            every += " up to it"
        why = (
            f"the learning rate was 0 at {every}: warmup (training.warmup_ratio "
            f"{cfg.training.warmup_ratio:g}) over a run of {int(state.max_steps)} step(s) "
            "leaves the first step at learning rate 0"
        )
    else:
        why = (
            "no update reached the B matrices (gradients clipped to nothing, or a learning "
            "rate too small)"
            if changed
            else "no step changed them (every update was zero)"
        )
    if best:
        why += ", and no later checkpoint had a lower validation loss"
    msg = (
        f"the adapter never changed: {where}, "
        f"so it would ship the base model unchanged; {why}. Give more data, epochs or "
        "training.max_steps, or set training.warmup_ratio: 0"
    )
    monitor.add(HealthFinding(rule=ADAPTER_UNCHANGED, step=None, message=msg))
    raise AdapterUnchanged(msg)


def _findings(monitor: HealthMonitor) -> list[dict[str, Any]]:
    return [f.to_dict() for f in monitor.findings]


def _write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _check_dpo_end_of_turn(
    tok: Any, rendered: list[tuple[str, str, str]], records: tdata.Records, eot_id: int, eot: str
) -> None:
    """trl trains the tokens after the rendered prompt: each pair's prompt must render as
    the start of prompt + answer, and each answer's end-of-turn must be among them (only
    the first pair was looked at: a later one trained on a garbled completion). And the
    two answers must be two as trained: the token ids of what the template renders.
    ``rendered``: the pairs as :func:`_rendered_pairs` renders them."""
    for i, (prompt, *fulls) in enumerate(rendered):
        answers = []
        for side, full in zip(("chosen", "rejected"), fulls, strict=True):
            if not full.startswith(prompt):
                raise ConfigError(
                    f"{records.where(i)}: the chat template renders the prompt differently "
                    f"with and without '{side}', so DPO cannot locate the answer; check the "
                    "row's turns, or use a prefix-preserving template"
                )
            completion_ids = tok(full[len(prompt) :], add_special_tokens=False)["input_ids"]
            if side == "chosen" and eot_id not in completion_ids:
                raise ConfigError(
                    f"{records.where(i)}: the end-of-turn token {eot!r} is not part of the DPO "
                    "completion; the model would not learn to stop"
                )
            answers.append(completion_ids)
        if answers[0] == answers[1]:
            # What the template does not render (a tool call's id, a turn's name, a field
            # it leaves out) made two answers of one: the pair trained to nothing, its loss
            # log 2 from the first step to the last, exit 0.
            raise InputError(
                f"{records.where(i)}: 'chosen' and 'rejected' are the same answer as trained: "
                "the chat template renders both alike (they differ only in what it does not "
                "render), so the pair teaches nothing; fix or remove the row"
            )


def _dpo_truncation(
    tok: Any, rendered: list[tuple[str, str, str]], max_length: int, eot_id: int
) -> tuple[set[int], int, list[int]]:
    """What trl's DPO truncation (the rendered prompt + answer cut to ``max_length``,
    keeping the start) leaves of the pairs (``rendered``: as :func:`_rendered_pairs` renders
    them): (the pairs with no answer token left, their indices; how many pairs' chosen
    answer loses its first end-of-turn token; the pairs left an answer token whose chosen
    and rejected are the same tokens once cut, their indices)."""
    n_pairs = len(rendered)
    enc = tok(
        [text for k in range(3) for text in (r[k] for r in rendered)], add_special_tokens=False
    )["input_ids"]
    no_answer: set[int] = set()
    same: list[int] = []
    cut = 0
    for n, (prompt_ids, full_ids, rejected_ids) in enumerate(
        zip(enc[:n_pairs], enc[n_pairs : 2 * n_pairs], enc[2 * n_pairs :], strict=True)
    ):
        start = len(prompt_ids)
        if start >= max_length:
            no_answer.add(n)
            continue
        # Answers that differ only past the cut: trl trains the pair on two copies of one
        # answer, a signal of zero (the pair's loss stays log 2), exit 0 without a word.
        if full_ids[:max_length] == rejected_ids[:max_length]:
            same.append(n)
        # Only where the end-of-turn token sits matters (a newline after it may be cut).
        eot_at = next((i for i in range(start, len(full_ids)) if full_ids[i] == eot_id), None)
        if eot_at is not None and eot_at >= max_length:
            cut += 1
    return no_answer, cut, same


def _check_dpo_lengths(
    tok: Any,
    pairs: list[tuple[str, str, str]],
    val_pairs: list[tuple[str, str, str]] | None,
    max_length: int,
    eot: tuple[str, int],
    monitor: HealthMonitor,
    records: tuple[tdata.Records, tdata.Records | None],
) -> tuple[set[int], set[int]]:
    """Refuse what trl would train on nothing (every pair, or every validation pair,
    left no answer token: a crash inside trl), report chosen answers cut before their end-of-turn (TH005, as for SFT) and
    pairs whose answers differ only past the cut (TH009, naming their rows); returns the
    training and validation pairs left no answer (trl leaves them out), their indices.
    ``records``: where the training and validation pairs were read."""
    no_answer, cut, same = _dpo_truncation(tok, pairs, max_length, eot[1])
    val_no_answer: set[int] = set()
    val_same: list[int] = []
    if val_pairs:
        val_no_answer, _, val_same = _dpo_truncation(tok, val_pairs, max_length, eot[1])
    if len(no_answer) == len(pairs):
        raise InputError(
            f"no preference pair has an answer token left: every rendered prompt is at least "
            f"data.max_length={max_length} tokens; raise data.max_length"
        )
    if val_pairs and len(val_no_answer) == len(val_pairs):
        raise InputError(
            "no validation pair has an answer token left after truncation; raise "
            "data.max_length or shorten the validation prompts"
        )
    if cut + len(no_answer) == len(pairs):
        raise ConfigError(
            f"the end-of-turn token {eot[0]!r} is never inside a trained answer (every chosen "
            f"answer is cut by data.max_length={max_length}); raise data.max_length"
        )
    if same or val_same:
        val_records = records[1]
        places = [records[0].where(i) for i in same[:3]]
        if val_records is not None:
            places += [val_records.where(i) for i in val_same[: max(0, 3 - len(places))]]
        counts = f"{len(same)} training" + (f" and {len(val_same)} validation" if val_pairs else "")
        monitor.add(
            HealthFinding(
                rule=PAIR_SAME_AFTER_TRUNCATION,
                step=None,
                message=f"{counts} preference pair(s) have the same chosen and rejected answer "
                f"once cut to data.max_length={max_length} tokens (they differ only past it; "
                f"{', '.join(places)}{', ...' if len(same) + len(val_same) > len(places) else ''}"
                "), so they teach nothing; raise data.max_length past where the answers differ",
            )
        )
    if cut:
        monitor.add(
            HealthFinding(
                rule=END_OF_TURN_TRUNCATED,
                step=None,
                message=f"{cut} preference pair(s) are cut by data.max_length={max_length} "
                f"before the chosen answer's end-of-turn token {eot[0]!r}; raise max_length so "
                "the model learns to stop",
            )
        )
    return no_answer, val_no_answer


def _check_generation_stops(
    model: Any, tok: Any, eot_id: int, eot: str, monitor: HealthMonitor
) -> None:
    """TH006: generation stops at the end-of-turn token. transformers' ``generate()``
    stops at the model's ``generation_config.eos_token_id`` (generation_config.json, else
    config.json): when that names tokens, the end of turn must be one of them (the
    tokenizer's eos does not count there: found by attack, a generation_config.json
    stopping at another token passed because the tokenizer's eos was <|im_end|>); when it
    names none, the tokenizer's eos must be it."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    given = [e for e in (eos if isinstance(eos, list) else [eos]) if e is not None]
    listed = {e for e in given if isinstance(e, int) and not isinstance(e, bool)}
    if any(isinstance(e, bool) or not isinstance(e, int) for e in given):
        # a nested list ([[2, 5]]) crashed the run, exit 3 (found by re-attack)
        message = (
            f"the base model's generation_config.eos_token_id ({eos}) holds something that is "
            "not a token id, which generate() cannot stop at; write the end-of-turn token "
            f"{eot!r} (id {eot_id}) there as an id or a list of ids"
        )
    elif listed:
        if eot_id in listed:
            return
        message = (
            f"the end-of-turn token {eot!r} (id {eot_id}) is not in the base model's "
            f"generation_config.eos_token_id ({eos}), which generate() stops at (the "
            "tokenizer's eos token does not count there); generation will run past the "
            "answer. Add it to eos_token_id in generation_config.json"
        )
    elif eot_id == tok.eos_token_id:
        return
    else:
        message = (
            f"the end-of-turn token {eot!r} is neither the tokenizer's eos token nor in the "
            "model's generation_config.eos_token_id; generation will run past the answer. "
            "Add it to generation_config.json"
        )
    monitor.add(HealthFinding(rule=GENERATION_DOES_NOT_STOP, step=None, message=message))
