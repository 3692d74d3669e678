"""The gate's quick checks, rerun at export time: does the bundle answer like base + adapter?

The logit comparison proves the merged weights compute the same function on a
few prompts. It does not exercise what the gate (and a serving stack) actually
does with a model: render each golden item with the model's own chat template,
generate greedily with the bundle's generation config, decode, and parse the
answer. This module runs exactly that, with the gate's own code
(:func:`curagate.gate.runner.set_inputs`, :class:`curagate.gate.models.LoadedModels`,
:func:`curagate.gate.evaluate.parse_prediction` and ``score_set``), on the first N
items of every golden set of a gate, once for base + adapter and once for the
written bundle, and requires the same parsed prediction and the same per-item
metric values on every item.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate.errors import CheckFailed, CuragateError, InputError

if TYPE_CHECKING:
    from curagate.gate.config import GateConfig, GoldenSetGate
    from curagate.gate.evaluate import SetSchema
    from curagate.gate.models import GenSettings, Messages
    from curagate.golden import GoldenSet

DEFAULT_QUICK_ITEMS = 16
# The device both sides generate on: the export merges and compares on the CPU in
# float32, so the quick checks do too (the gate would use bfloat16 on a GPU, which
# rounds base + adapter and the merged weights differently).
QUICK_DEVICE = "cpu"
MAX_SHOWN_MISMATCHES = 5
_SHOWN_CHARS = 400

COMPARED = (
    "greedy generations of base + adapter and of the reloaded bundle on the first "
    "items_per_set items of each golden set, with the gate's chat rendering, "
    "max_new_tokens, decoding and answer parsing; every item must give the same parsed "
    "prediction and the same per-item metric values"
)


@dataclass(frozen=True)
class Mismatch:
    golden_set: str
    item_id: str
    input: str
    reference_output: str
    exported_output: str
    reference_prediction: Any
    exported_prediction: Any


@dataclass(frozen=True)
class _SetPlan:
    golden: GoldenSet
    spec: GoldenSetGate
    items: list[dict[str, Any]]
    conversations: list[Messages]
    settings: GenSettings
    schema: SetSchema | None


@dataclass
class QuickCheckResult:
    """``record`` goes into MANIFEST.json (verification.quick_checks); ``mismatches``
    lists every item whose prediction differs (empty when the check passed)."""

    record: dict[str, Any]
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def failure_message(self, where: str) -> str:
        sets = sorted({m.golden_set for m in self.mismatches})
        lines = [
            f"{where}: gate quick checks failed: {len(self.mismatches)} item(s) of golden set(s) "
            f"{', '.join(repr(s) for s in sets)} (gate {self.record['gate']['name']!r}) are "
            "answered differently by the exported model than by base + adapter: the merge or "
            "the written bundle changed the model's behaviour"
        ]
        for m in self.mismatches[:MAX_SHOWN_MISMATCHES]:
            lines += [
                f"  golden set {m.golden_set!r}, item {m.item_id!r}:",
                f"    input:          {_show(m.input)}",
                f"    base + adapter: {_show(m.reference_output)}"
                f"{_prediction(m.reference_prediction, m.reference_output)}",
                f"    exported:       {_show(m.exported_output)}"
                f"{_prediction(m.exported_prediction, m.exported_output)}",
            ]
        if len(self.mismatches) > MAX_SHOWN_MISMATCHES:
            lines.append(f"  ... and {len(self.mismatches) - MAX_SHOWN_MISMATCHES} more")
        lines.append(
            "fix: export with --dtype float32 and the default --rtol, check that the run's base "
            "model and adapter are the ones trained, and rerun `curagate export`"
        )
        return "\n".join(lines)


def _prediction(prediction: Any, output: str) -> str:
    """The parsed prediction, when it is not simply the whole output."""
    if prediction == output:
        return ""
    return f" -> prediction {json.dumps(prediction, ensure_ascii=False)}"


def _show(text: str) -> str:
    """JSON-quoted so whitespace and newlines are visible; long texts are cut."""
    cut = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
    return json.dumps(cut, ensure_ascii=False)


@dataclass(frozen=True)
class QuickCheckPlan:
    """A validated gate and its quick items, prepared before any model is loaded so a
    bad gate file or a changed golden set fails the export before the merge."""

    gate: GateConfig
    gate_file: str
    items_per_set: int
    sets: list[_SetPlan]

    def run(
        self,
        base_dir: str | os.PathLike[str],
        adapter_dir: str | os.PathLike[str],
        model_dir: str | os.PathLike[str],
    ) -> QuickCheckResult:
        """Generate with base + adapter, then with the model directory, and compare."""
        from curagate.gate.checks import rnd
        from curagate.gate.evaluate import parse_prediction, score_set
        from curagate.gate.models import ModelRef

        reference = ModelRef(
            kind="run",
            spec="base + adapter",
            model_dir=Path(base_dir),
            adapter_dir=Path(adapter_dir),
            identity="base+adapter",
        )
        exported = ModelRef(
            kind="model_dir", spec=str(model_dir), model_dir=Path(model_dir), identity="exported"
        )
        ref_outputs = self._generate(reference)
        exp_outputs = self._generate(exported)

        mismatches: list[Mismatch] = []
        records: list[dict[str, Any]] = []
        for plan, ref_out, exp_out in zip(self.sets, ref_outputs, exp_outputs, strict=True):
            spec, items = plan.spec, plan.items
            # candidate = the exported model, base = base + adapter (the reference).
            scores = score_set(spec, items, exp_out, ref_out, plan.schema)
            same_predictions = 0
            for i, item in enumerate(items):
                ref_pred = parse_prediction(spec, item, ref_out[i])
                exp_pred = parse_prediction(spec, item, exp_out[i])
                same_values = all(
                    scores.candidate.values[m][i] == scores.base.values[m][i]
                    for m in scores.candidate.values
                )
                if ref_pred == exp_pred and same_values:
                    same_predictions += 1
                    continue
                user = next(
                    (m["content"] for m in reversed(plan.conversations[i]) if m["role"] == "user"),
                    "",
                )
                mismatches.append(
                    Mismatch(
                        golden_set=spec.name,
                        item_id=str(item["id"]),
                        input=user,
                        reference_output=ref_out[i],
                        exported_output=exp_out[i],
                        reference_prediction=ref_pred,
                        exported_prediction=exp_pred,
                    )
                )
            everything = list(range(len(items)))
            metrics: dict[str, Any] = {}
            for metric in scores.metric_names():
                entry: dict[str, Any] = {
                    "base_plus_adapter": rnd(scores.value(metric, "base", everything)),
                    "exported": rnd(scores.value(metric, "candidate", everything)),
                }
                if metric in spec.metrics:
                    entry["threshold"] = spec.metrics[metric].model_dump(exclude_none=True)
                metrics[metric] = entry
            records.append(
                {
                    "name": spec.name,
                    "task": spec.task,
                    "version": plan.golden.version,
                    "sha256": plan.golden.sha256,
                    "items": len(items),
                    "item_ids": [str(it["id"]) for it in items],
                    "max_new_tokens": plan.settings.max_new_tokens,
                    "identical_predictions": same_predictions,
                    "identical_outputs": sum(a == b for a, b in zip(ref_out, exp_out, strict=True)),
                    "metrics": metrics,
                }
            )
        record = {
            "gate": {
                "name": self.gate.name,
                "file": self.gate_file,
                "sha256": self.gate.sha256,
            },
            "items_per_set": self.items_per_set,
            "device": QUICK_DEVICE,
            "decoding": "greedy",
            "compared": COMPARED,
            "golden_sets": records,
        }
        return QuickCheckResult(record=record, mismatches=mismatches)

    def _generate(self, ref: Any) -> list[list[str]]:
        """One side's outputs for every set; its model is freed before the other side loads."""
        from curagate.gate.models import GenerationCache, LoadedModels, generate_cached

        models = LoadedModels(device=QUICK_DEVICE)
        no_cache = GenerationCache(None)
        outputs = [
            generate_cached(ref, models, plan.conversations, plan.settings, no_cache)
            for plan in self.sets
        ]
        del models
        return outputs


def summary(record: dict[str, Any] | None) -> str:
    """The export summary's lines for a quick-check record (as stored in MANIFEST.json)."""
    if not record or "skipped" in record:
        why = (record or {}).get("skipped") or "no gate given"
        return f"gate quick checks not run: {why}"
    lines = [
        f"gate quick checks (gate {record['gate']['name']}, first {record['items_per_set']} items "
        "of each golden set, greedy): the bundle answers like base + adapter"
    ]
    for s in record["golden_sets"]:
        metrics = "; ".join(
            f"{name} {m['exported']:.4g}"
            + (f" (gate threshold {_bounds(m['threshold'])})" if "threshold" in m else "")
            for name, m in s["metrics"].items()
        )
        lines.append(
            f"  {s['name']}: {s['identical_predictions']}/{s['items']} predictions identical "
            f"({s['identical_outputs']}/{s['items']} raw outputs); on these {s['items']} items: "
            f"{metrics or 'no metrics'}"
        )
    return "\n".join(lines)


def _bounds(threshold: dict[str, float]) -> str:
    parts = []
    if "min" in threshold:
        parts.append(f">= {threshold['min']}")
    if "max" in threshold:
        parts.append(f"<= {threshold['max']}")
    return " and ".join(parts)


def plan_quick_checks(
    gate_file: str | os.PathLike[str], items: int = DEFAULT_QUICK_ITEMS
) -> QuickCheckPlan:
    """Load the gate and the first ``items`` items of each of its golden sets (lock checked)."""
    from curagate.gate.config import load_gate
    from curagate.gate.evaluate import load_schema
    from curagate.gate.runner import set_inputs
    from curagate.golden import load_locked

    if items < 1:
        raise InputError(f"--quick-items {items}: must be at least 1 (0 skips the quick checks)")
    cfg = load_gate(gate_file)
    golden_dir = cfg.resolve(cfg.golden_dir)
    sets: list[_SetPlan] = []
    for entry in cfg.golden_sets:
        try:
            golden = load_locked(golden_dir, entry.name)
        except CheckFailed as e:
            # A golden set that changed is an error in the inputs, not a failed export.
            raise CuragateError(str(e)) from None
        spec, all_items, convs, settings = set_inputs(cfg, golden)
        # Greedy whatever the gate says: two equal models only agree when decoding is greedy.
        settings = dataclasses.replace(settings, temperature=0.0)
        sets.append(
            _SetPlan(
                golden=golden,
                spec=spec,
                items=all_items[:items],
                conversations=convs[:items],
                settings=settings,
                schema=load_schema(spec, cfg.resolve),
            )
        )
    return QuickCheckPlan(gate=cfg, gate_file=str(gate_file), items_per_set=items, sets=sets)


def quick_check(
    run_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    gate_file: str | os.PathLike[str],
    *,
    items: int = DEFAULT_QUICK_ITEMS,
) -> QuickCheckResult:
    """Compare a model directory with a training run's base + adapter on a gate's quick items.

    ``curagate export`` runs this on the bundle it wrote; it also checks a bundle
    made elsewhere against the run it claims to come from.
    """
    from curagate.artifacts import load_run

    info = load_run(run_dir)
    return plan_quick_checks(gate_file, items).run(info.base_dir, info.adapter_dir, model_dir)
