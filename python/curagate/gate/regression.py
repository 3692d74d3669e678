"""General-capability regression suite through lm-evaluation-harness.

The suite's task YAMLs live in a locked golden set (``task: lm_eval``) with
their JSONL data beside them. lm-eval resolves ``data_files`` against the
working directory, so the YAMLs are copied to a temporary include folder with
absolute data paths; nothing is fetched from the Hub. Base and candidate run
with identical settings, and per-sample scores are kept for paired statistics.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from curagate.errors import ConfigError, MissingExtraError
from curagate.gate.config import RegressionSuite
from curagate.golden import GoldenSet


def prepare_include_dir(golden: GoldenSet, out_dir: Path) -> list[str]:
    """Copy the set's task YAMLs into ``out_dir`` with absolute data paths; return task names."""
    names: list[str] = []
    for path in golden.paths:
        if path.suffix not in (".yaml", ".yml"):
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "task" not in doc:
            raise ConfigError(f"{path}: an lm-eval task YAML needs a 'task' key")
        files = (doc.get("dataset_kwargs") or {}).get("data_files")
        if isinstance(files, dict):
            doc["dataset_kwargs"]["data_files"] = {
                split: str((path.parent / f).resolve()) for split, f in files.items()
            }
        elif isinstance(files, str):
            doc["dataset_kwargs"]["data_files"] = str((path.parent / files).resolve())
        (out_dir / path.name).write_text(yaml.safe_dump(doc, sort_keys=True), encoding="utf-8")
        names.append(str(doc["task"]))
    return names


def run_suite(
    suite: RegressionSuite,
    golden: GoldenSet,
    model: Any,
    tokenizer: Any,
    *,
    device: str,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``{task: {"score": float, "samples": [per-doc score in doc order]}}`` for one model."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise MissingExtraError("eval", e.name or "lm_eval") from None
    with tempfile.TemporaryDirectory(prefix="curagate-lmeval-") as tmp:
        available = prepare_include_dir(golden, Path(tmp))
        missing = sorted(set(suite.tasks) - set(available))
        if missing:
            raise ConfigError(
                f"regression_suite.tasks: {', '.join(missing)} not defined in golden set "
                f"{golden.name!r} (it defines: {', '.join(sorted(available))})"
            )
        tm = TaskManager(include_path=tmp, include_defaults=False)
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=suite.batch_size, device=device)
        res = simple_evaluate(
            model=lm,
            tasks=list(suite.tasks),
            num_fewshot=suite.num_fewshot,
            limit=suite.limit,
            task_manager=tm,
            log_samples=True,
            bootstrap_iters=0,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    assert res is not None
    out: dict[str, dict[str, Any]] = {}
    for task in suite.tasks:
        samples = sorted(res["samples"][task], key=lambda s: int(s["doc_id"]))
        per_doc = [float(s[suite.metric]) for s in samples]
        score = res["results"][task].get(f"{suite.metric},none")
        out[task] = {
            "score": float(score) if score is not None else sum(per_doc) / max(len(per_doc), 1),
            "samples": per_doc,
        }
    return out
