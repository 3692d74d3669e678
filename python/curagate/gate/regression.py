"""General-capability regression suite through lm-evaluation-harness.

The suite's task YAMLs live in a locked golden set (``task: lm_eval``) with
their JSONL data beside them. lm-eval resolves ``data_files`` against the
working directory, so the YAMLs are copied to a temporary include folder with
absolute data paths; nothing is fetched from the Hub. Base and candidate run
with identical settings, and per-sample scores are kept for paired statistics.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from curagate.errors import ConfigError, MissingExtraError
from curagate.gate.config import RegressionSuite
from curagate.golden import GoldenSet
from curagate.progress import Bar
from curagate.yamlio import read_yaml_file


def prepare_include_dir(golden: GoldenSet, out_dir: Path) -> list[str]:
    """Copy the set's task YAMLs into ``out_dir`` with absolute data paths; return task names."""
    names: list[str] = []
    for path in golden.paths:
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            doc, _ = read_yaml_file(path)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
        if not isinstance(doc, dict) or "task" not in doc:
            raise ConfigError(f"{path}: an lm-eval task YAML needs a 'task' key")
        files = (doc.get("dataset_kwargs") or {}).get("data_files")
        if files is not None:
            # A string, a list, or split -> string or list (golden.suite_data_files):
            # every one absolute, or lm-eval reads them from the working directory.
            doc["dataset_kwargs"]["data_files"] = _absolute(files, path.parent)
        # A name taken already is numbered, until one is free: a/task.yaml and b/task.yaml
        # were one file here, and the first task unknown to lm-eval (exit 3 after the
        # models loaded); then the numbered name (0002-task.yaml) could be another file's
        # own, overwritten. Each copy ends in .yaml: lm-eval 0.4 indexes no *.yml, and a
        # task given so was unknown to it (exit 3).
        copy = out_dir / f"{path.stem}.yaml"
        n = 0
        while copy.exists():
            n += 1
            copy = out_dir / f"{path.stem}-{n}.yaml"
        copy.write_text(yaml.safe_dump(doc, sort_keys=True), encoding="utf-8")
        names.append(str(doc["task"]))
    return names


def _absolute(files: Any, folder: Path) -> Any:
    if isinstance(files, dict):
        return {split: _absolute(f, folder) for split, f in files.items()}
    if isinstance(files, list):
        return [_absolute(f, folder) for f in files]
    return str((folder / str(files)).resolve())


def check_metric(suite: RegressionSuite, golden: GoldenSet) -> bool:
    """Refuse, before any model runs, a ``regression_suite.metric`` that a task's YAML
    does not list in its ``metric_list``, or whose task score is not the mean of its
    per-document scores; returns whether higher is better. What a ``metric_list`` entry
    leaves out comes from lm-eval's registry, as lm-eval itself takes it (``brier_score``:
    its own aggregation, lower is better); every task must say the same."""
    directions: dict[str, bool] = {}
    for path in golden.paths:
        if path.suffix not in (".yaml", ".yml"):
            continue
        doc, _ = read_yaml_file(path)
        if not isinstance(doc, dict) or doc.get("task") not in suite.tasks:
            continue
        task = str(doc["task"])
        entries = [m for m in doc.get("metric_list") or [] if isinstance(m, dict)]
        listed = [m.get("metric") for m in entries]
        if listed and suite.metric not in listed:
            raise ConfigError(
                f"regression_suite.metric {suite.metric!r}: task {task!r} ({path.name}) "
                f"lists {', '.join(map(str, listed))} in its metric_list; use one of those"
            )
        entry = next((m for m in entries if m.get("metric") == suite.metric), {})
        # lm-eval is needed only for what the entry leaves out (a suite that an HTTP
        # backend skips, with every entry complete, needs no eval extra).
        aggregation = (
            entry["aggregation"] if "aggregation" in entry else _lm_eval_defaults(suite.metric)[0]
        )
        if aggregation != "mean":
            why = (
                f"task {task!r} aggregates it with {aggregation!r}"
                if aggregation is not None
                else f"lm-eval knows no aggregation for it; declare `aggregation: mean` in "
                f"task {task!r}'s metric_list"
            )
            raise ConfigError(_not_a_mean(suite.metric, why))
        if "higher_is_better" in entry:
            higher = entry["higher_is_better"]
        else:
            registered, higher = _lm_eval_defaults(suite.metric)
            if higher is False and registered not in (None, aggregation):
                # lm-eval's lower-is-better is for its own aggregation: `perplexity`
                # averaged by mean is a log-likelihood, higher better, and a worse one
                # passed as a gain (higher-is-better scores, f1's or bleu's, stay so)
                raise ConfigError(
                    f"{path.name}: metric_list {suite.metric!r}: lm-eval has it lower-is-better "
                    f"as it aggregates it ({registered!r}), which may not hold for "
                    f"aggregation {aggregation!r}; declare higher_is_better in task "
                    f"{task!r}'s metric_list"
                )
        if not isinstance(higher, bool):
            raise ConfigError(
                f"{path.name}: metric_list {suite.metric!r} higher_is_better {higher!r}: "
                "declare true or false"
            )
        directions[task] = higher
    if len(set(directions.values())) > 1:
        raise ConfigError(
            f"regression_suite.metric {suite.metric!r}: higher is better in some tasks and "
            f"lower in others ({', '.join(f'{t}: {h}' for t, h in sorted(directions.items()))}); "
            "give them one direction"
        )
    return next(iter(directions.values()), True)


@functools.cache
def _lm_eval_defaults(metric: str) -> tuple[str | None, bool | None]:
    """(aggregation name, higher is better) lm-eval registers for ``metric``, None where it
    registers none (a metric of the task's own)."""
    import logging

    try:
        import lm_eval.api.metrics  # noqa: F401  (registers lm-eval's metrics)
        from lm_eval.api.registry import get_metric_aggregation, is_higher_better
    except ImportError as e:
        raise MissingExtraError("eval", e.name or "lm_eval") from None
    logger = logging.getLogger("lm_eval")  # an unknown metric is a warning there
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        aggregation = get_metric_aggregation(metric)
        higher = is_higher_better(metric)
    except (KeyError, ValueError):
        aggregation, higher = None, None
    finally:
        logger.setLevel(level)
    name = getattr(aggregation, "__name__", None) if aggregation is not None else None
    return name, higher if isinstance(higher, bool) else None


def _not_a_mean(metric: str, why: str) -> str:
    return (
        f"regression_suite.metric {metric!r}: {why}; the gate compares the mean of "
        "per-document scores, paired (bootstrap, McNemar), so the suite metric must be one "
        "lm-eval averages over documents (acc, acc_norm, exact_match, a custom metric with "
        "aggregation: mean)"
    )


def _real(value: Any) -> bool:
    """A number (numpy's included; acc comes as 0/1 or True/False), not a (gold, pred) pair."""
    import numbers

    return isinstance(value, numbers.Real)


def _tracked(hflm: type[Any], cache_hook: type[Any], side: str) -> type[Any]:
    """``HFLM`` with curagate's progress bars instead of lm-eval's own.

    lm-eval sends every request of one type (all tasks together) in one call, and reports
    each answer through the model's cache hook: the bar gets that call's total and counts
    the hook's calls. lm-eval's own bars are turned off (``disable_tqdm``): they ignore
    ``--quiet`` and are drawn even when no terminal is watching.
    """

    class CountingHook(cache_hook):  # type: ignore[misc]
        def __init__(self, bar: Bar, inner: Any) -> None:
            super().__init__(None)
            self.bar, self.inner = bar, inner

        def add_partial(self, attr: str, req: Any, res: Any) -> None:
            self.inner.add_partial(attr, req, res)
            self.bar.update(1)

    class Tracked(hflm):  # type: ignore[misc]
        def _counted(self, kind: str, requests: list[Any], call: Any) -> Any:
            with Bar(total=len(requests), desc=f"lm-eval {side} {kind}", unit="req") as bar:
                inner = self.cache_hook
                self.set_cache_hook(CountingHook(bar, inner))
                try:
                    return call(requests, disable_tqdm=True)
                finally:
                    self.set_cache_hook(inner)

        def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> Any:
            return self._counted("loglikelihood", requests, super().loglikelihood)

        def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> Any:
            return self._counted("rolling", requests, super().loglikelihood_rolling)

        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> Any:
            return self._counted("generation", requests, super().generate_until)

    return Tracked


def run_suite(
    suite: RegressionSuite,
    golden: GoldenSet,
    model: Any,
    tokenizer: Any,
    *,
    device: str,
    seed: int = 0,
    side: str = "model",
) -> dict[str, dict[str, Any]]:
    """``{task: {"score": float, "samples": [per-doc score in doc order], "keys": [each
    doc's :func:`doc_key`]}}`` for one model (``side`` names it on the progress bars)."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.api.model import CacheHook
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
        lm = _tracked(HFLM, CacheHook, side)(
            pretrained=model, tokenizer=tokenizer, batch_size=suite.batch_size, device=device
        )
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
        if samples and suite.metric not in samples[0]:
            # A typo (acc_nrom) was a KeyError, exit 3, once both models had run the suite.
            known = sorted(k for k, v in samples[0].items() if isinstance(v, (int, float)))
            raise ConfigError(
                f"regression_suite.metric {suite.metric!r}: task {task!r} reports no such "
                f"metric; it reports {', '.join(known) or 'none'}: use one of those"
            )
        values = [s[suite.metric] for s in samples]
        odd = next((v for v in values if not _real(v)), None)
        if odd is not None:
            raise ConfigError(
                f"regression_suite.metric {suite.metric!r}: task {task!r} gives "
                f"{type(odd).__name__} per document, not a number: "
                + _not_a_mean(suite.metric, "it is not a mean of per-document scores")
            )
        per_doc = [float(v) for v in values]
        # The mean of the per-document scores: the quantity the delta and its interval
        # are about (lm-eval's score for a metric with aggregation: mean).
        out[task] = {
            "score": sum(per_doc) / max(len(per_doc), 1),
            "samples": per_doc,
            "keys": [doc_key(s) for s in samples],
        }
    return out


def doc_key(sample: dict[str, Any]) -> str:
    """What the gate's statistics order a suite document by: a hash of the document
    (lm-eval's ``doc_hash``), not its ``doc_id``, its place in the data file. Found by
    attack: the suite's data file shuffled gave another interval for the same scores."""
    if isinstance(sample.get("doc_hash"), str):
        return str(sample["doc_hash"])
    body = json.dumps(sample.get("doc"), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
