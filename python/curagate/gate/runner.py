"""`curagate gate`: evaluate candidate and base on locked golden sets and decide.

The flow: load and validate the gate file, verify every golden set against
its lock, resolve both models (hashing their weights), generate answers
(cached), score per item, compare with paired statistics, run the lm-eval
regression suite, check contamination against the candidate's training data,
and write the reports. The verdict is the worst check: pass, warn or fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeGuard

from curagate.artifacts import (
    GatePredicate,
    GateReportDoc,
    RunRecord,
    iso_utc,
    load_run,
    parse_artifact,
)
from curagate.digest import sha256_bytes
from curagate.errors import CheckFailed, ConfigError, CuragateError, InputError, MissingExtraError
from curagate.export.manifest import WEIGHT_SUFFIXES, loaded_weights, unevaluated_files
from curagate.findings import Severity, Verdict
from curagate.findings import exit_code as findings_exit_code
from curagate.gate.checks import (
    SLICE_THRESHOLD,
    Check,
    Scope,
    base_identity_check,
    capability_check,
    capability_not_run,
    contamination_check,
    contamination_not_checked,
    exported_gguf_check,
    judge_calibration_check,
    judge_independence_check,
    judge_length_bias_check,
    judge_position_check,
    metric_checks,
    model_generation_config_check,
    not_measured,
    overall,
    refusal_detector_check,
    set_size_check,
    threshold_check,
)
from curagate.gate.config import (
    JUDGE_METRICS,
    GateConfig,
    GoldenSetGate,
    JudgeSettings,
    Regression,
    SliceRule,
    load_gate,
)
from curagate.gate.decoding import generation_source, ignored_settings
from curagate.gate.evaluate import (
    SetSchema,
    SetScores,
    conversation,
    load_schema,
    references,
    score_set,
)
from curagate.gate.judge import (
    JudgeScores,
    calibrate,
    judge_pairs,
    judge_refusals,
    load_prompt,
    prompt_sha256,
    read_human_labels,
)
from curagate.gate.metrics import rnd
from curagate.gate.models import (
    GenerationCache,
    GenSettings,
    LoadedModels,
    Messages,
    ModelRef,
    folder_stop_tokens,
    generate_cached,
    is_endpoint,
    resolve_model,
    same_tensors,
)
from curagate.gate.report import json_text
from curagate.gate.stats import DeltaCI, PairMetric, mcnemar, paired_bootstrap
from curagate.golden import (
    HUMAN_LABELS,
    GoldenSet,
    draw_key,
    item_ids,
    jsonl_objects,
    jsonl_values,
    load_locked,
    read_items,
    snapshot,
)
from curagate.io.atomic import (
    Claim,
    private_dir,
    remove_private,
    write_bytes_atomic,
    write_text_atomic,
)
from curagate.io.outputs import (
    check_output,
    refuse_inside_output,
    refuse_overlap,
    report_folder,
)
from curagate.item_fields import ITEM_TEXT_FIELDS, item_text_field
from curagate.records import render_value
from curagate.signing import (
    ATTESTATION_NAME,
    cache_mac_key,
    key_fingerprint,
    load_private_key,
    load_public_key,
    sign_envelope,
    statement,
)

REPORT_SCHEMA_VERSION = 2
MAX_FAILING_EXAMPLES = 10
MAX_LEAKED_IDS = 50
ITEMS_NAME = "items.jsonl"


@dataclass
class GateOutcome:
    report: dict[str, Any]
    exit_code: int
    cache_hits: int
    cache_misses: int
    out_dir: Path
    # Requests and retries per http side (not in the report: a rerun served from the
    # cache sends none, and the report must not change with the network).
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Cache entries a signed run did not accept (no valid HMAC under its key): generated again.
    cache_rejected: int = 0


def _compared_metrics(scores: SetScores, idx: Sequence[int]) -> list[str]:
    """The metrics the default regression rule compares on ``idx``: those the set names,
    else every metric measured there (one named in ``regression`` is compared even when
    it cannot be measured, and fails so: metric_checks)."""
    spec = scores.spec
    # Judge metrics compare the two sides already; they never make a set "name" a metric
    # for the default regression rule.
    named = [m for m in dict.fromkeys([*spec.metrics, *spec.regression]) if m not in JUDGE_METRICS]
    computed = scores.metric_names()
    return [
        m
        for m in (named or computed)
        if m in computed and (m in spec.regression or scores.applicable(m, idx))
    ]


def _stats(
    scores: SetScores, metric: str, idx: Sequence[int], cfg: GateConfig
) -> dict[str, Any] | None:
    """The metric on ``idx`` for both sides with paired statistics, over the items it
    applies to (refusal_rate: the harmful ones); None when it applies to none of them."""
    idx = scores.applicable(metric, idx)
    if not idx:
        return None
    st = cfg.statistics
    ci = paired_bootstrap(
        lambda sample, swap: scores.pair(metric, [idx[i] for i in sample], swap),
        len(idx),
        resamples=st.bootstrap_resamples,
        confidence=st.confidence,
        seed=st.seed,
        # Drawn in the order of the items' ids (an id-less item's content hash): the
        # interval is the same for the same answers, however the set's lines are ordered.
        keys=[draw_key(scores.items[i]) for i in idx],
    )
    cand, base = scores.pair(metric, idx)
    out: dict[str, Any] = {"candidate": cand, "base": base, **ci.to_dict()}
    if scores.task.metric(metric).applies_to:
        out["items"] = len(idx)  # a rate measured on some items only says on how many
    significant = ci.significant(st.alpha)
    if metric == "accuracy":
        cc, bc = scores.correct("candidate"), scores.correct("base")
        mc = mcnemar([cc[i] for i in idx], [bc[i] for i in idx])
        out["mcnemar"] = mc.to_dict()
        # The test that decides is the p_value reported beside its verdict (as for an
        # lm-eval metric's, suite_significance), not the bootstrap's.
        out["p_value"] = mc.p_value
        significant = mc.p_value < st.alpha
    out["significant"] = significant
    out["within_noise"] = not significant
    return out


def _measured_on(scores: SetScores, metric: str, idx: Sequence[int]) -> tuple[int, str]:
    """How many of ``idx`` the metric is measured on, and why none when none (metric_checks)."""
    return len(scores.applicable(metric, idx)), scores.not_measured(metric)


def slice_value(value: Any) -> str:
    """A slice's name for an item's value: a string as it is, anything else as JSON."""
    return (
        value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    )


def _slice_groups(items: Sequence[dict[str, Any]], column: str, where: str) -> dict[str, list[int]]:
    """The items of each value of ``column`` (an item whose value is null or missing is in
    no slice of it). Values of one type only: grouped by their text, `1`, `"1"` and `true`
    were one slice, and a null was the slice "None"."""
    groups: dict[str, list[int]] = defaultdict(list)
    kinds: set[str] = set()
    for i, it in enumerate(items):
        value = it.get(column)
        if value is None:
            continue
        kinds.add(type(value).__name__)
        groups[slice_value(value)].append(i)
    if len(kinds) > 1:
        raise ConfigError(
            f"{where}: slice column {column!r} holds values of several types "
            f'({", ".join(sorted(kinds))}), which would be sliced by their text (1, "1" and '
            "true alike); give the column one type"
        )
    return groups


def _slices(
    cfg: GateConfig, spec: GoldenSetGate, items: Sequence[dict[str, Any]]
) -> list[tuple[SliceRule, dict[str, list[int]]]]:
    """Each slice rule of a set with its groups of items (:func:`_slice_groups`); a column
    of several types, or in no item, is a config error."""
    out = []
    for rule in spec.slices:
        groups = _slice_groups(items, rule.column, f"{cfg.path}: golden set {spec.name!r}")
        if not groups:
            raise ConfigError(
                f"{cfg.path}: golden set {spec.name!r}: slice column {rule.column!r} is in no item"
            )
        out.append((rule, groups))
    return out


def _slice_cell(scores: SetScores, metric: str, idx: Sequence[int]) -> dict[str, Any]:
    """One metric on one slice for the report: both sides and the delta, with the items
    it is measured on when not all of them (None values: none)."""
    on = scores.applicable(metric, idx)
    cell: dict[str, Any] = {"candidate": None, "base": None, "delta": None}
    if on:
        c, b = scores.pair(metric, on)
        cell = {"candidate": rnd(c), "base": rnd(b), "delta": rnd(c - b)}
    if scores.task.metric(metric).applies_to:
        cell["items"] = len(on)
    return cell


def _round_stats(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, float):
            out[k] = rnd(v)
        elif isinstance(v, dict):
            out[k] = _round_stats(v)
        else:
            out[k] = v
    return out


def _expected_text(ref: Any) -> str:
    return ref if isinstance(ref, str) else json.dumps(ref, ensure_ascii=False, sort_keys=True)


def _failing_examples(scores: SetScores, convs: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    cc, bc = scores.correct("candidate"), scores.correct("base")
    wrong = [i for i in range(len(cc)) if not cc[i]]
    wrong.sort(key=lambda i: (0 if bc[i] else 1, i))  # regressions (base was right) first
    out = []
    for i in wrong[:MAX_FAILING_EXAMPLES]:
        user = next((m["content"] for m in reversed(convs[i]) if m["role"] == "user"), "")
        out.append(
            {
                "id": str(scores.items[i]["id"]),
                "input": user[:1000],
                "expected": _expected_text(scores.references[i])[:1000],
                "candidate_output": scores.candidate.outputs[i][:1000],
                "base_output": scores.base.outputs[i][:1000],
                "base_correct": bool(bc[i]),
            }
        )
    return out


def _item_rows(
    spec: GoldenSetGate, scores: SetScores, convs: list[list[dict[str, str]]]
) -> list[dict[str, Any]]:
    """One row per golden item for ``items.jsonl``: what the release service compares."""
    cc, bc = scores.correct("candidate"), scores.correct("base")
    # Each item's score is the metric its correctness is read from, and says so (a
    # generation item read "correct: true, score: 0.0", ROUGE-L beside exact_match).
    score_metric: str | None = scores.task.correct_by(spec)[0]
    if score_metric not in scores.candidate.values:
        score_metric = next(iter(scores.candidate.values), None)
    rows = []
    for i, item in enumerate(scores.items):
        user = next((m["content"] for m in reversed(convs[i]) if m["role"] == "user"), "")
        row: dict[str, Any] = {
            "set": spec.name,
            "id": str(item["id"]),
            "prompt": user,
            "reference": scores.references[i],
            "slices": {
                r.column: slice_value(item[r.column])
                for r in spec.slices
                if item.get(r.column) is not None
            },
        }
        for side, s, correct in (("candidate", scores.candidate, cc), ("base", scores.base, bc)):
            row[f"{side}_output"] = s.outputs[i]
            row[f"{side}_answer"] = s.labels[i] if s.labels else None
            row[f"{side}_correct"] = bool(correct[i])
            row[f"{side}_score"] = (
                rnd(s.values[score_metric][i] or 0.0) if score_metric is not None else None
            )
        row["score_metric"] = score_metric
        rows.append(row)
    return rows


def write_items(rows: list[dict[str, Any]], path: Path) -> str:
    """Write ``items.jsonl`` (sorted keys, one item a line) and return its sha256."""
    data = "".join(
        json_text(r, path.name, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows
    ).encode()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def set_inputs(
    cfg: GateConfig, golden: GoldenSet
) -> tuple[GoldenSetGate, list[dict[str, Any]], list[Messages], GenSettings]:
    """What the gate feeds the models for one golden set: its gate entry, the items, the
    chats and the generation settings (shared with `curagate export`'s quick checks, so
    both generate exactly alike)."""
    spec = next(g for g in cfg.golden_sets if g.name == golden.name)
    if golden.task != spec.task:
        raise ConfigError(
            f"{cfg.path}: golden set {spec.name!r} is locked as task {golden.task!r} "
            f"but the gate says {spec.task!r}"
        )
    items = read_items(golden)
    if not items:
        raise InputError(f"golden set {golden.name!r} has no items")
    references(spec, items)  # a bad one is an error now, not after hours of generation
    convs = [conversation(it, spec, cfg.generation.system_prompt) for it in items]
    gen = cfg.generation
    settings = GenSettings(
        max_new_tokens=spec.max_new_tokens or gen.max_new_tokens,
        temperature=gen.temperature,
        batch_size=gen.batch_size,
        concurrency=gen.concurrency,
        request_timeout_s=gen.request_timeout_s,
        max_retries=gen.max_retries,
        retry_backoff_s=gen.retry_backoff_s,
        seed=cfg.statistics.seed,
    )
    return spec, items, convs, settings


def _question(conv: Messages) -> str:
    """What the judge is told was asked: the user turn, or the whole chat when longer."""
    turns = [m for m in conv if m["role"] != "system"]
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)


def _judge_settings(cfg: GateConfig, js: JudgeSettings) -> GenSettings:
    gen = cfg.generation
    return GenSettings(
        max_new_tokens=js.max_new_tokens,
        temperature=0.0,  # a verdict must not depend on sampling
        batch_size=gen.batch_size,
        concurrency=gen.concurrency,
        request_timeout_s=gen.request_timeout_s,
        max_retries=gen.max_retries,
        retry_backoff_s=gen.retry_backoff_s,
    )


def _judge_spec(cfg: GateConfig, js: JudgeSettings) -> str:
    """The judge's model spec: an endpoint, or a directory (relative to the gate file)."""
    return js.model if is_endpoint(js.model) else str(cfg.resolve(js.model))


def resolve_judge(cfg: GateConfig, js: JudgeSettings) -> ModelRef:
    """The judge as a model reference: a directory (relative to the gate file) or an endpoint."""
    ref = resolve_model(
        _judge_spec(cfg, js),
        http_model=js.endpoint_model,
        model_digest=js.digest,
        digest_flag="judge.digest",
    )
    if js.identity:
        ref.artifacts["stated_identity"] = js.identity
    if ref.kind == "http" and not js.identity and js.digest is None:
        raise ConfigError(
            f"{cfg.path}: judge {js.model}: an endpoint judge needs 'identity' (which model "
            "serves it, in words) or 'digest' (its weights' sha256), so the report can name it"
        )
    return ref


def _judge_set(
    cfg: GateConfig,
    golden: GoldenSet,
    spec: GoldenSetGate,
    template: str,
    convs: list[Messages],
    cand_out: list[str],
    base_out: list[str],
    judge: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
    keys: list[str],
) -> tuple[dict[str, Any], list[Check], list[dict[str, Any]]]:
    """Pairwise verdicts in both orders (``template``: the judge's prompt, read before any
    model ran), their metrics and the checks that say whether the judge may be believed
    (GATE008 position, GATE009 calibration, GATE010 length); ``keys``: the items' draw keys
    (:func:`curagate.golden.draw_key`)."""
    js = spec.judge
    assert js is not None
    settings = _judge_settings(cfg, js)
    questions = [_question(c) for c in convs]
    verdicts = judge_pairs(
        judge,
        models,
        cache,
        settings,
        template,
        questions,
        cand_out,
        base_out,
        f"{golden.name}: judge",
    )
    js_scores = JudgeScores.of(verdicts, cand_out, base_out)
    st = cfg.statistics
    metrics = {
        m: _round_stats(
            js_scores.stats(
                m,
                resamples=st.bootstrap_resamples,
                confidence=st.confidence,
                seed=st.seed,
                keys=keys,
            )
        )
        for m in (*JUDGE_METRICS, "candidate_longer_rate")
    }
    checks: list[Check] = []
    name = golden.name

    # Every verdict counts for it (a golden set is never empty): defined.
    pd = js_scores.value("position_disagreement", range(len(verdicts))) or 0.0
    checks.append(judge_position_check(name, pd, js))

    calibration: dict[str, Any] = {"labels": 0}
    if HUMAN_LABELS in golden.files:
        labels = read_human_labels(golden.root / HUMAN_LABELS)
        calibration = calibrate(
            labels, judge, models, cache, settings, template, f"{name}: calibrating judge"
        )
        checks.append(judge_calibration_check(name, calibration, len(labels), js))
        calibration["min_human_agreement"] = js.min_human_agreement
    else:
        checks.append(judge_calibration_check(name, None, 0, js))

    checks.append(
        judge_length_bias_check(
            name,
            js_scores.value("length_bias", range(len(verdicts))),
            js_scores.counted("length_bias"),
            js_scores.value("candidate_longer_rate", range(len(verdicts))),
            js,
        )
    )

    trusted = all(c.verdict == "pass" for c in checks[:2])  # GATE008 and GATE009
    untrusted_why = "; ".join(c.message.split(":")[0] for c in checks[:2] if c.verdict != "pass")
    everything = list(range(len(verdicts)))
    for metric, th in spec.metrics.items():
        # `metric: {}` sets no bound (as for the other metrics): a check of it would pass
        # having checked nothing, or fail on a value nothing bounded.
        if metric not in JUDGE_METRICS or (th.min is None and th.max is None):
            continue
        value = js_scores.value(metric, everything)
        if value is None:  # a bar nothing measured is not met (length_bias of no verdict)
            undefined = "undefined (no decisive verdict between answers of different length)"
            checks.append(not_measured(Scope(name, len(verdicts)), metric, "threshold", undefined))
            continue
        untrusted = metric in ("judge_win_rate", "judge_loss_rate") and not trusted
        checks.append(
            threshold_check(
                Scope(name, len(verdicts)),
                metric,
                th,
                value,
                stats={k: metrics[metric][k] for k in ("ci_low", "ci_high")},
                not_counted=f"{untrusted_why} (GATE008/GATE009)" if untrusted else None,
            )
        )
    result = {
        "judge": judge.describe(),
        "prompt_sha256": prompt_sha256(template),
        "trusted": trusted,
        "metrics": metrics,
        "counts": js_scores.counts(),
        "calibration": _round_stats(calibration),
    }
    return result, checks, [v.to_dict() for v in verdicts]


def _weights(ref: ModelRef) -> set[str]:
    """The weight digests a side is made of (a run: its base model too), or of an endpoint
    with a stated digest, that digest."""
    keys = ("sha256", "base_model_sha256", "stated_digest")
    return {str(ref.artifacts[k]) for k in keys if ref.artifacts.get(k)}


def _recorded_base(cand: ModelRef) -> str | None:
    """The weights digest of the base the candidate was trained from: a run's (hashed
    again now), or the one a bundle's lineage names."""
    if cand.kind == "run":
        return str(cand.artifacts.get("base_model_sha256") or "") or None
    base = (cand.lineage or {}).get("base_model")
    sha = base.get("sha256") if isinstance(base, dict) else None
    return sha if isinstance(sha, str) and sha else None


def _same_model(cand: ModelRef, base: ModelRef) -> bool:
    """Whether ``base`` is the candidate under another form: the same identity or artifact,
    the same weight files, or the training run the candidate was exported from."""
    if base.identity == cand.identity:
        return True
    artifact = base.artifacts.get("artifact_sha256")
    if artifact and artifact == cand.artifacts.get("artifact_sha256"):
        return True
    # A folder holding a PEFT adapter beside the weights is loaded as those weights plus
    # the adapter: another adapter (or none) is another model, whatever weights the two
    # share (found by attack: the base's files plus an adapter were "the candidate itself").
    if _loaded_adapter(cand) != _loaded_adapter(base):
        return False
    # The weight files' contents (WEIGHT_SUFFIXES: a folder holding the same such files is
    # the same model, whatever else it holds), whatever they are named (a shard renamed, an index or a
    # junk .bin added beside them): one side's weights all in the other is one model.
    ours, theirs = (
        {sha for rel, sha in ref.files.items() if rel.lower().endswith(WEIGHT_SUFFIXES)}
        for ref in (cand, base)
    )
    if ours and theirs and (ours <= theirs or theirs <= ours):
        return True
    # The same tensors saved again (other shards, other header metadata): the same weights.
    if all(r.model_dir is not None and r.adapter_dir is None for r in (cand, base)):
        assert cand.model_dir is not None and base.model_dir is not None
        if same_tensors(cand.model_dir, base.model_dir):
            return True
    # A bundle and the training run it was exported from, either way round.
    return any(
        one.kind == "run"
        and bool(_exported_from(other))
        and one.artifacts.get("run_json_sha256") == _exported_from(other)
        for one, other in ((base, cand), (cand, base))
    )


# The files transformers loads a PEFT adapter from, at the top of a model folder: its
# config, and its weights from the first of these that is there.
_ADAPTER_CONFIG = "adapter_config.json"
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def _loaded_adapter(ref: ModelRef) -> tuple[str, str | None] | None:
    """The PEFT adapter a model folder is loaded with, as (its config as canonical JSON,
    the sha256 of the weights file loaded), or None (no adapter config at its top). By
    what is loaded, not by the files: a spare adapter_model.bin beside the safetensors, or
    the config saved again in another layout, is the same adapter (found by re-attack: such
    a copy of the candidate passed GATE013 as another model)."""
    config_sha = ref.files.get(_ADAPTER_CONFIG)
    if config_sha is None:
        return None
    weights = next((ref.files[n] for n in _ADAPTER_WEIGHTS if n in ref.files), None)
    config = f"sha256:{config_sha}"
    if ref.model_dir is not None:
        with contextlib.suppress(OSError, ValueError, RecursionError):
            parsed = json.loads((ref.model_dir / _ADAPTER_CONFIG).read_text(encoding="utf-8"))
            config = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    return config, weights


def _exported_from(ref: ModelRef) -> str | None:
    """The run.json sha256 a bundle's lineage says it was exported from."""
    run = (ref.lineage or {}).get("run")
    sha = run.get("run_json_sha256") if isinstance(run, dict) else None
    return sha if isinstance(sha, str) and sha else None


def _base_check(cand: ModelRef, base: ModelRef) -> Check:
    """GATE013: a candidate gated against itself passes every regression check (all deltas
    0), as it does against any weaker model: found by attack, a bundle gated with itself as
    --base was signed "pass" and promoted."""
    if _same_model(cand, base):
        return base_identity_check(
            Verdict.FAIL,
            "--base is the candidate itself: every regression check compares the candidate "
            "with itself; gate with the base it was trained from",
        )
    recorded = _recorded_base(cand)
    given = (
        base.artifacts.get("stated_digest") if base.kind == "http" else base.artifacts.get("sha256")
    )
    if recorded is None and cand.kind in ("run", "bundle"):
        # Export writes it, train writes it: a lineage without one was made or edited by
        # hand, and a signed pass measured against any --base (re-attack).
        where = "run record" if cand.kind == "run" else "bundle's lineage"
        return base_identity_check(
            Verdict.WARN,
            f"the candidate's {where} names no base model, so --base cannot be checked "
            "against the model it was trained from: the regression checks may measure "
            "against another model",
        )
    if recorded is None:
        return base_identity_check(
            Verdict.PASS,
            "the candidate records no base model (not a run or bundle): not compared",
        )
    if not given:
        # A pass here let a signed gate measure against any model served over HTTP (a
        # weaker one, or the candidate itself), where a local weaker base warns.
        return base_identity_check(
            Verdict.WARN,
            f"the base is an endpoint with no stated weights digest, so it cannot be checked "
            f"against the base the candidate was trained from ({recorded[:12]}...): the "
            "regression checks may measure against another model; pass --base-digest",
        )
    if given != recorded:
        return base_identity_check(
            Verdict.WARN,
            f"--base ({str(given)[:12]}...) is not the model the candidate was trained from "
            f"({recorded[:12]}..., in its {'run record' if cand.kind == 'run' else 'lineage'}): "
            "the regression checks measure against another model",
        )
    return base_identity_check(
        Verdict.PASS, f"--base is the model the candidate was trained from ({recorded[:12]}...)"
    )


def _check_context(
    name: str,
    inputs: tuple[GoldenSetGate, list[dict[str, Any]], list[Messages], GenSettings],
    cand: ModelRef,
    base: ModelRef,
    models: LoadedModels,
) -> list[dict[str, Any]]:
    """The items whose prompt plus ``max_new_tokens`` may run past a local side's context
    (:func:`~curagate.gate.models.context_size`) on a model that computes its positions
    (RoPE, ALiBi), as (id, side, prompt_tokens, max_new_tokens, context): generated, on
    positions the model never trained on (a set's ``past_context``, a warning). An InputError, before any
    generation, for an item whose prompt fills the context, leaving no room to answer in
    (found by attack, it was scored silently, where a llama-server endpoint refuses it, exit
    2), and for one whose answer may run past a context of a table of positions (GPT-2's
    n_positions: generating past it fails)."""
    _, items, convs, settings = inputs
    limit_new = settings.max_new_tokens
    past: list[dict[str, Any]] = []
    for side, ref in (("candidate", cand), ("base", base)):
        context = None if ref.model_dir is None else models.context(ref)
        if context is None:
            continue
        counts = models.prompt_tokens(ref, convs)
        said = (
            f"the prompt is {{}} tokens as the {side} reads it (its chat template), and its "
            f"model's context is {context.tokens} tokens ({context.source} in config.json)"
        )
        for item, tokens in zip(items, counts, strict=True):
            if tokens >= context.tokens:
                raise InputError(
                    f"golden set {name!r}: item {item['id']!r}: {said.format(tokens)}: no room "
                    "is left for an answer; shorten the item, or gate a model whose context "
                    "holds it"
                )
        for item, tokens in zip(items, counts, strict=True):
            if tokens + limit_new <= context.tokens:
                continue
            if context.absolute:
                raise InputError(
                    f"golden set {name!r}: item {item['id']!r}: {said.format(tokens)}, a "
                    f"table of that many positions: with max_new_tokens {limit_new} its answer may "
                    f"run to {tokens + limit_new} tokens, and generating past the context "
                    f"fails; set max_new_tokens: {context.tokens - tokens} (or less) on "
                    f"golden set {name!r} in the gate file, or shorten the item"
                )
            past.append(
                {
                    "id": item["id"],
                    "side": side,
                    "prompt_tokens": tokens,
                    "max_new_tokens": limit_new,
                    "context": context.tokens,
                }
            )
    return past


def _generation_config(
    ref: ModelRef, temperature: float, models: LoadedModels
) -> tuple[dict[str, Any], list[int], str]:
    """What ``ref``'s generation settings ask for that the gate does not do ({}: nothing),
    the stop tokens the gate generates its answers with (config.json's, the tokenizer's as
    transformers loads it, the generation config's) and the file the settings are read
    from (generation_config.json, else config.json); a run's are its base model's (peft
    reads none from the adapter). The tokenizer is the one the gate generates with
    (:meth:`LoadedModels.tokenizer`, loaded once per run)."""
    assert ref.model_dir is not None
    stops, tokenizer_eos = folder_stop_tokens(ref.model_dir, tokenizer=models.tokenizer(ref))
    ignored = ignored_settings(ref.model_dir, tokenizer_eos, temperature) or {}
    return ignored, stops, generation_source(ref.model_dir)[0]


def _self_judging(judges: dict[str, ModelRef], cand: ModelRef, base: ModelRef) -> list[Check]:
    """GATE012: a judge made of the same weights as a side it judges prefers that side's
    style (self-preference); its verdict is then not independent evidence."""
    checks = []
    for name, judge in sorted(judges.items()):
        mine = _weights(judge)
        same = [
            side
            for side, ref in (("candidate", cand), ("base", base))
            if ref.identity == judge.identity or mine & _weights(ref)
        ]
        checks.append(judge_independence_check(name, same))
    return checks


def _judge_refusals(
    cfg: GateConfig,
    golden: GoldenSet,
    spec: GoldenSetGate,
    ids: list[str],
    convs: list[Messages],
    cand_out: list[str],
    base_out: list[str],
    judge: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
) -> tuple[tuple[list[bool], list[bool]], dict[str, Any], list[Check], list[dict[str, Any]]]:
    """The judge's "does this response refuse?" in place of the regex, and where they differ.

    An answer the judge did not give as YES or NO falls back to the regex verdict. The last
    value holds, per item and side, both detectors' verdicts (for items.jsonl).
    """
    from curagate.gate import metrics as gm

    assert spec.judge is not None
    settings = _judge_settings(cfg, spec.judge)
    questions = [_question(c) for c in convs]
    sides: list[list[bool]] = []
    differ: list[str] = []
    unparsed = 0
    total = 0
    per_item: list[dict[str, Any]] = [{} for _ in ids]
    for side, outs in (("candidate", cand_out), ("base", base_out)):
        said = judge_refusals(
            judge,
            models,
            cache,
            settings,
            questions,
            outs,
            f"{golden.name}: judging {side} refusals",
        )
        verdicts = []
        for i, (j, out) in enumerate(zip(said, outs, strict=True)):
            regex = gm.is_refusal(out)
            unparsed += j is None
            verdicts.append(regex if j is None else j)
            per_item[i][side] = {"judge": j, "regex": regex}
            total += 1
            if j is not None and j != regex:
                differ.append(f"{side}:{ids[i]}")
        sides.append(verdicts)
    detail = {
        "detector": "judge",
        "responses": total,
        "regex_disagreements": len(differ),
        "disagreeing": sorted(differ)[:50],
        "unparsed_fell_back_to_regex": unparsed,
    }
    check = refusal_detector_check(golden.name, len(differ), total)
    return (sides[0], sides[1]), detail, [check], per_item


def _evaluate_set(
    cfg: GateConfig,
    golden: GoldenSet,
    cand: ModelRef,
    base: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
    judge: ModelRef | None,
    schema: SetSchema | None,
    template: str | None,
    inputs: tuple[GoldenSetGate, list[dict[str, Any]], list[Messages], GenSettings],
) -> tuple[dict[str, Any], list[Check]]:
    spec, items, convs, settings = inputs
    cand_out = generate_cached(cand, models, convs, settings, cache, f"{golden.name}: candidate")
    base_out = generate_cached(base, models, convs, settings, cache, f"{golden.name}: base")
    checks: list[Check] = []
    refused: tuple[list[bool], list[bool]] | None = None
    detector: dict[str, Any] | None = None
    refusal_items: list[dict[str, Any]] = []
    set_ids = [str(it["id"]) for it in items]  # the ids the refusal judge names
    if (
        spec.judge is not None
        and judge is not None
        and spec.task_type.detects_refusals
        and spec.judge.refusal_detector == "judge"
    ):
        refused, detector, det_checks, refusal_items = _judge_refusals(
            cfg,
            golden,
            spec,
            set_ids,
            convs,
            cand_out,
            base_out,
            judge,
            models,
            cache,
        )
        checks += det_checks
    scores = score_set(spec, items, cand_out, base_out, schema, refused)
    everything = list(range(len(items)))
    judge_result: dict[str, Any] | None = None
    item_verdicts: list[dict[str, Any]] | None = None
    if spec.judge is not None and judge is not None and spec.judge.pairwise:
        assert template is not None
        judge_result, judge_checks, item_verdicts = _judge_set(
            cfg,
            golden,
            spec,
            template,
            convs,
            cand_out,
            base_out,
            judge,
            models,
            cache,
            [draw_key(it) for it in items],
        )
        checks += judge_checks
    if detector is not None:
        judge_result = judge_result or {"judge": judge.describe() if judge else None}
        judge_result["refusal_detector"] = detector

    size = set_size_check(golden.name, golden.size)
    if size is not None:
        checks.append(size)

    metric_results: dict[str, Any] = {}
    exact: dict[str, Any] = {}  # what the checks decide on: a drop computed from rounded
    not_measured: dict[str, str] = {}  # values (0.666667 - 0.333333) is not the drop
    task = spec.task_type
    for metric in scores.metric_names():
        found = _stats(scores, metric, everything, cfg)
        if found is None:
            not_measured[metric] = scores.not_measured(metric)
            continue
        exact[metric] = found
        metric_results[metric] = _round_stats(found)
    st = cfg.statistics
    # Judge metrics are checked with the judge's evidence above. Like a slice's, the set's
    # checks get the unrounded statistics (each check rounds what it compares and prints).
    checks += metric_checks(
        Scope(golden.name, len(items)),
        {m: th for m, th in spec.metrics.items() if m not in JUDGE_METRICS},
        {m: spec.regression.get(m, Regression()) for m in _compared_metrics(scores, everything)},
        values=lambda m: scores.pair(m, everything),
        stats=exact.__getitem__,
        measured_on=partial(_measured_on, scores, idx=everything),
        higher_is_better=lambda m: task.metric(m).higher_is_better,
        fail_only_if_significant=st.fail_only_if_significant,
    )

    slice_tables: list[dict[str, Any]] = []
    for rule_s, groups in _slices(cfg, spec, items):
        rows = []
        for group in sorted(groups):
            idx = groups[group]
            row: dict[str, Any] = {
                "value": group,
                "n": len(idx),
                "checked": len(idx) >= rule_s.min_items,
                "metrics": {},
            }
            for metric in scores.metric_names():
                row["metrics"][metric] = _slice_cell(scores, metric, idx)
            if row["checked"]:
                regression = rule_s.regression
                slice_checks = metric_checks(
                    Scope(golden.name, len(idx), f"{rule_s.column}={group}", rule_s.min_items),
                    rule_s.metrics,
                    {
                        m: regression
                        for m in (list(rule_s.metrics) or _compared_metrics(scores, idx))
                    }
                    if regression is not None
                    else {},
                    values=partial(scores.pair, idx=idx),
                    stats=partial(_stats, scores, idx=idx, cfg=cfg),
                    measured_on=partial(_measured_on, scores, idx=idx),
                    higher_is_better=lambda m: task.metric(m).higher_is_better,
                    fail_only_if_significant=st.fail_only_if_significant,
                )
                for chk in slice_checks:
                    if chk.rule is SLICE_THRESHOLD:
                        assert chk.metric is not None
                        row["metrics"][chk.metric]["verdict"] = chk.verdict.value
                checks += slice_checks
            rows.append(row)
        slice_tables.append({"column": rule_s.column, "min_items": rule_s.min_items, "rows": rows})

    result: dict[str, Any] = {
        "golden_set": golden.name,
        "task": spec.task,
        "items": len(items),
        "max_new_tokens": settings.max_new_tokens,
        "metrics": metric_results,
        "slices": slice_tables,
        "failing_examples": _failing_examples(scores, convs),
        # how many items the candidate got wrong, of which failing_examples keeps the first
        # MAX_FAILING_EXAMPLES (found by attack: 15 wrong read as the 10 listed)
        "failing_total": sum(1 for ok in scores.correct("candidate") if not ok),
        "_items": _item_rows(spec, scores, convs),
    }
    if not_measured:
        result["not_measured"] = not_measured
    if judge_result is not None:
        result["judge"] = judge_result
    if item_verdicts is not None:
        for row, v in zip(result["_items"], item_verdicts, strict=True):
            row["judge"] = v
    if refused is not None:
        for row, both in zip(result["_items"], refusal_items, strict=True):
            row["refusal_detector"] = both
    result.update(
        task.extra_results(
            spec,
            {"candidate": scores.candidate.labels, "base": scores.base.labels},
            scores.references,
        )
    )
    return result, checks


def _suite_set(cfg: GateConfig, golden_dir: Path, private: Path) -> tuple[GoldenSet, bool] | None:
    """The regression suite's golden set (read into ``private``, checked against its lock)
    and whether its metric is higher-is-better (:func:`check_metric`), before any model
    runs; None without a suite."""
    suite = cfg.regression_suite
    if suite is None:
        return None
    golden = snapshot(load_locked(golden_dir, suite.golden_set), private)
    if golden.task != "lm_eval":
        raise ConfigError(
            f"{cfg.path}: regression_suite.golden_set {golden.name!r} is a {golden.task!r} set; "
            "it must be locked with task: lm_eval"
        )
    from curagate.gate.regression import check_metric

    return golden, check_metric(suite, golden)


def _regression_suite(
    cfg: GateConfig,
    found: tuple[GoldenSet, bool] | None,
    cand: ModelRef,
    base: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
) -> tuple[dict[str, Any] | None, list[Check], GoldenSet | None]:
    suite = cfg.regression_suite
    if suite is None or found is None:
        return None, [], None
    golden, higher_is_better = found
    if "http" in (cand.kind, base.kind):
        check = capability_not_run(
            "not run: the lm-eval suite needs log-likelihoods, which the HTTP backend "
            "does not provide; run it against local weights"
        )
        return {"tasks": {}, "skipped": check.message}, [check], golden

    def scores(ref: ModelRef, side: str, *, cached: bool = True) -> dict[str, dict[str, Any]]:
        """Suite results for one side, from the cache when these weights already ran it
        (an entry of another shape, e.g. edited by hand, is a miss)."""
        key = hashlib.sha256(
            json.dumps(
                [ref.identity, golden.sha256, suite.model_dump(), cfg.statistics.seed],
                sort_keys=True,
            ).encode()
        ).hexdigest()
        entry = cache.get_json("lm_eval", key) if cached else None
        if _suite_result_ok(entry, suite.tasks):
            return entry
        from curagate.gate.regression import run_suite

        model, tok = models.hf(ref)
        res = run_suite(
            suite,
            golden,
            model,
            tok,
            device=models.resolved_device(),
            seed=cfg.statistics.seed,
            side=side,
        )
        cache.put_json("lm_eval", key, res)
        return res

    c_res = scores(cand, "candidate")
    # The same weights with the same settings give the same scores: do not evaluate twice.
    b_res = c_res if cand.identity == base.identity else scores(base, "base")
    if any(c_res[t]["keys"] != b_res[t]["keys"] for t in suite.tasks):
        # Both sides score the same documents: entries that disagree are not both real.
        c_res = scores(cand, "candidate", cached=False)
        b_res = c_res if cand.identity == base.identity else scores(base, "base", cached=False)
    checks: list[Check] = []
    tasks: dict[str, Any] = {}
    st = cfg.statistics
    for task in suite.tasks:
        cs, bs = c_res[task]["samples"], b_res[task]["samples"]
        ci = paired_bootstrap(
            _mean_pair(cs, bs),
            len(cs),
            resamples=st.bootstrap_resamples,
            confidence=st.confidence,
            seed=st.seed,
            # Drawn in the order of a hash of each document, not of its place in the
            # suite's data file: a shuffled file gives the same interval.
            keys=c_res[task]["keys"],
        )
        p_value, significant, test = suite_significance(cs, bs, ci, st.alpha)
        cand_v, base_v = c_res[task]["score"], b_res[task]["score"]
        tasks[task] = _round_stats(
            {
                "metric": suite.metric,
                "higher_is_better": higher_is_better,
                "candidate": cand_v,
                "base": base_v,
                "items": len(cs),
                **ci.to_dict(),
                **test,
                "p_value": p_value,  # the p of the test that decides (McNemar's for acc)
                "significant": significant,
                "within_noise": not significant,
            }
        )
        checks.append(
            capability_check(
                golden.name,
                task,
                suite,
                cand_v,
                base_v,
                {
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "p_value": p_value,
                    "significant": significant,
                },
                fail_only_if_significant=st.fail_only_if_significant,
                higher_is_better=higher_is_better,
            )
        )
    return {"tasks": tasks, "num_fewshot": suite.num_fewshot, "limit": suite.limit}, checks, golden


def _read_train_key(train_key: str | os.PathLike[str]) -> bytes:
    from curagate.io.outputs import read_regular
    from curagate.signing import MAX_KEY_BYTES

    try:
        return read_regular(Path(train_key), MAX_KEY_BYTES, follow_links=True)
    except OSError as e:
        raise InputError(f"--train-key {train_key}: cannot read it ({e.strerror or e})") from None


def _check_train_data(train_data: Sequence[str] | None) -> None:
    """Each --train-data file or folder that exists reads as training data (its type is
    one the reader takes, a folder holds such a file, each file's start can be read),
    else InputError (exit 2) now, not from the contamination scan after every answer was
    generated. One that does not exist (or a glob matching nothing) is left to the scan:
    it fails GATE005."""
    from curagate.io import expand_inputs

    for given in train_data or []:
        if Path(given).exists():
            for path in expand_inputs([given]):
                _check_readable(path)


def _check_readable(path: Path) -> None:
    """InputError when not one row of ``path`` can be read (a corrupt or truncated
    ``.jsonl.gz``, a file that is no Parquet), from its first few rows. Found by the
    re-attack: such a file was found out by the contamination scan, after generation, as
    "the training data holds no record". Anything else its first rows raise (what the scan,
    which reads larger chunks, might not) is left to the scan."""
    from curagate.io import read_batches

    batches = read_batches([path], batch_rows=256)
    try:
        first = next(batches, None)
    except InputError:
        return
    finally:
        close = getattr(batches, "close", None)  # a generator: its file closed now
        if close is not None:
            close()
    if first is None or len(first.keys):
        return
    whole = next((q for q in first.quarantined if q.row is None), None)
    if whole is not None:
        raise InputError(f"--train-data {path}: {whole.reason}")


def _check_run_signed(cand: ModelRef, train_key: str | os.PathLike[str]) -> None:
    """The run candidate's record is the one the trainer signed (else SignatureInvalid,
    exit 1); the report names the key (``candidate.run_signed_by``)."""
    from curagate.signing import verify_run_record

    if cand.kind != "run":
        raise InputError(
            f"--train-key: the candidate {cand.spec} is not a training run (a run folder with "
            "run.json); it checks a run's signed record"
        )
    pem = _read_train_key(train_key)
    keyid = verify_run_record(Path(cand.spec), cand.artifacts["run_json_sha256"], pem)
    cand.artifacts["run_signed_by"] = keyid


def _suite_result_ok(res: Any, tasks: Sequence[str]) -> TypeGuard[dict[str, dict[str, Any]]]:
    """``res`` has what the suite's checks read: per task a number and per-sample numbers."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    return isinstance(res, dict) and all(
        isinstance(r := res.get(t), dict)
        and number(r.get("score"))
        and isinstance(r.get("samples"), list)
        and len(r["samples"]) > 0
        and all(number(v) for v in r["samples"])
        # Each document's draw key (curagate.gate.regression.doc_key); an entry written
        # before there were keys is a miss.
        and isinstance(r.get("keys"), list)
        and len(r["keys"]) == len(r["samples"])
        and all(isinstance(k, str) for k in r["keys"])
        for t in tasks
    )


def suite_significance(
    cand: Sequence[float], base: Sequence[float], ci: DeltaCI, alpha: float
) -> tuple[float, bool, dict[str, Any]]:
    """(p, significant, extra report keys) of one lm-eval task's paired per-sample scores.

    McNemar when every sample is right or wrong (acc: 0 or 1); else (scores between 0 and
    1, a log-likelihood) the permutation test's p and the bootstrap interval: reading only the perfect
    samples as right would make a metric below 1 on every sample never significant."""
    if all(v in (0.0, 1.0) for v in (*cand, *base)):
        mc = mcnemar([v == 1.0 for v in cand], [v == 1.0 for v in base])
        return mc.p_value, mc.p_value < alpha, {"mcnemar": mc.to_dict()}
    return ci.p_value, ci.significant(alpha), {}


def _mean_pair(cand: list[float], base: list[float]) -> PairMetric:
    def metric(idx: Sequence[int], swap: Sequence[bool] | None) -> tuple[float, float]:
        n = max(len(idx), 1)
        if swap is None:
            return sum(cand[i] for i in idx) / n, sum(base[i] for i in idx) / n
        pairs = [
            (base[i], cand[i]) if w else (cand[i], base[i]) for i, w in zip(idx, swap, strict=True)
        ]
        return sum(c for c, _ in pairs) / n, sum(b for _, b in pairs) / n

    return metric


def _corpus_paths(cand: ModelRef, train_data: Sequence[str] | None) -> list[Path] | None:
    if train_data:
        return [Path(p) for p in train_data]
    if _dataset_manifest(cand) is None:
        return None
    return list(_manifest_files(cand))


def _dataset_manifest(cand: ModelRef) -> dict[str, Any] | None:
    """The training data a run's record, or a bundle's lineage, names: for a bundle it was
    not read (the gate scanned whatever --train-data held then, and the report called
    that the training data)."""
    for record in (cand.run, cand.lineage):
        manifest = (record or {}).get("dataset_manifest")
        if isinstance(manifest, dict) and manifest.get("files"):
            return manifest
    return None


def _validation_manifest(cand: ModelRef) -> dict[str, Any] | None:
    """The validation files the record next to the dataset manifest names, if any: they
    chose the checkpoint that ships, so a golden item there is a leak too."""
    for record in (cand.run, cand.lineage):
        if isinstance((record or {}).get("dataset_manifest"), dict):
            manifest = (record or {}).get("validation_manifest")
            return manifest if isinstance(manifest, dict) else None
    return None


def _manifest_files(cand: ModelRef) -> dict[Path, str]:
    """The run's training and validation files (resolved as the run dir names them) ->
    recorded sha256."""
    run_dir = Path(cand.spec)
    files: dict[Path, str] = {}
    entries = [
        *(_dataset_manifest(cand) or {}).get("files", []),
        *(_validation_manifest(cand) or {}).get("files", []),
    ]
    for f in entries:
        p = Path(str(f["path"]))
        if not p.is_absolute() and not p.exists() and (run_dir / p).exists():
            p = run_dir / p
        files[p] = str(f.get("sha256", ""))
    return files


def _trained_system_prompt(cand: ModelRef) -> str | None:
    """The ``data.system_prompt`` a run candidate's record says it trained with, if any."""
    config = (cand.run or {}).get("config") or (cand.lineage or {}).get("training_config")
    data = config.get("data") if isinstance(config, dict) else None
    prompt = data.get("system_prompt") if isinstance(data, dict) else None
    return prompt if isinstance(prompt, str) and prompt else None


def _changed_training_file(cand: ModelRef) -> str | None:
    """Why the run's training files are not the bytes it trained on, if they are not."""
    from curagate.digest import sha256_file

    for path, recorded in _manifest_files(cand).items():
        if not path.is_file():
            # A folder of clean data put where the run's file was: the hash check skipped
            # it and the scan read the folder (a contaminated run passed, signed).
            return (
                f"training data {path} is no longer the file the run read (its record names "
                "a file with its sha256): restore it (an unsigned gate may scan other files "
                "with --train-data)"
            )
        if sha256_file(path) != recorded:
            return (
                f"training data {path} changed since the run (its sha256 is not the "
                f"{recorded[:12]}... its record names): what it holds now is not what was "
                "trained on; restore it (an unsigned gate may scan other files with "
                "--train-data)"
            )
    return None


def _contamination(
    cfg: GateConfig,
    cand: ModelRef,
    goldens: list[GoldenSet],
    train_data: Sequence[str] | None,
) -> tuple[dict[str, Any], list[Check]]:
    pol = cfg.contamination
    if not pol.check:
        # A warning, as when there is nothing to scan: turned off, the check said nothing
        # at all, and a candidate trained on every golden item passed --strict.
        msg = "not checked: contamination.check is false in the gate file" + (
            " (the --train-data given was not scanned)" if train_data else ""
        )
        return {"checked": False, "reason": msg}, [contamination_not_checked(Verdict.WARN, msg)]
    corpus = _corpus_paths(cand, train_data)
    if corpus is None:
        msg = (
            "not checked: the candidate has no run.json dataset manifest; "
            "pass --train-data FILES to check its training data"
        )
        return {"checked": False, "reason": msg}, [contamination_not_checked(Verdict.WARN, msg)]
    # --train-data may name directories or globs; manifest entries are files, by name.
    missing = [
        str(p) for p in corpus if not (p.exists() or (train_data and any(p.parent.glob(p.name))))
    ]
    if missing:
        origin = "--train-data" if train_data else "the run manifest"
        msg = (
            f"training data from {origin} not found: {', '.join(missing[:3])}; "
            "restore it or pass --train-data"
        )
        return {"checked": False, "reason": msg}, [contamination_not_checked(Verdict.FAIL, msg)]
    changed = None if train_data else _changed_training_file(cand)
    if changed is not None:
        return {"checked": False, "reason": changed}, [
            contamination_not_checked(Verdict.FAIL, changed)
        ]
    try:
        from curagate.leakage import detect
    except ImportError:
        msg = (
            "not checked: curagate.leakage is not available in this build; "
            "install it or set contamination.check: false in the gate file"
        )
        return {"checked": False, "reason": msg}, [contamination_not_checked(Verdict.FAIL, msg)]
    per_set: dict[str, Any] = {}
    leaked = unreadable = short = quarantined = 0
    records: int | None = None  # corpus records scanned (the same for every set)
    unscanned: list[str] = []
    # The run's data.system_prompt is in every example it trained on: scanned as a
    # one-record file beside the data (it was not, and a golden item there passed).
    prompt = _trained_system_prompt(cand)
    prompt_dir = Path(tempfile.mkdtemp(prefix="curagate-prompt-")) if prompt else None
    # The scan's copies of golden files, in a folder of their own: written beside each file
    # in the set's copy, `<file>.read.jsonl` overwrote a set file of that name (found by
    # the re-attack: its items, copied into the training data, were never scanned).
    copies = Path(tempfile.mkdtemp(prefix="curagate-scan-"))
    try:
        scanned = list(corpus)
        if prompt_dir is not None:
            scanned.append(prompt_dir / "system_prompt.jsonl")
            scanned[-1].write_text(json.dumps({"text": prompt}) + "\n", encoding="utf-8")
        from curagate.io.readers import json_records

        places = (copies / str(k) for k in itertools.count())  # a folder per file copied
        # Per copy holding an item's views (its final user turn...) as rows of their own:
        # the row of the item each row is, by the copy's path.
        owners: dict[str, list[int]] = {}
        # Per such copy, the media identity of each row (its item's): its messages are gone
        media: dict[str, list[int]] = {}
        for g in goldens:
            files = [p for p in g.paths if p.suffix == ".jsonl" and p.name != HUMAN_LABELS]
            if g.task != "lm_eval":
                files = [_as_read(p, next(places), owners, g.task, media) for p in files]
            if g.task == "lm_eval":  # its .json files are the suite's data (others': schemas)
                files += [
                    _as_jsonl(p, next(places))
                    for p in g.paths
                    if p.suffix == ".json" and json_records(p)
                ]
            # Nothing here reads as items (a suite whose data is .csv, or keyed `sentence1`,
            # say): named in a warning, not "0 golden items found", nor a stop of the gate
            # (the reader's error named the gate's private copy and an option it lacks).
            result = None
            if files:
                try:
                    result = _detect_in(detect, files, scanned, pol, owners, media)
                except InputError as e:
                    if not any(why in str(e) for why in _UNSCANNABLE):
                        raise  # the training data, or golden rows that do not read: it stops
            if result is None:
                unscanned.append(g.name)
                per_set[g.name] = {"checked": False, "leaked_reference_items": 0}
                continue

            def item_of(file: str, row: int) -> tuple[str, int]:
                """The item (file, row) a scanned row is: itself, or the one it is a view of."""
                return (file, owners[file][row]) if file in owners else (file, row)

            # An item found by several of its views (its conversation, its last question) is
            # one item found, as a row found by its prompt and by its answer is.
            found = {item_of(leak.item.file, leak.item.row) for leak in result.leaks}
            leaked += len(found)
            items = [i for i in result.items if item_of(i.file, i.row) == (i.file, i.row)]
            # Under the span's words: found only whole (a prompt, a user turn, a record)
            # or by MinHash, never inside a longer text; said, not "0 found" alone.
            span = int(result.config.get("min_span_words") or 0)
            short += sum(1 for i in items if 0 < i.words < span)
            # The corpus is the same for every set: count its unreadable rows once.
            unreadable = len(result.unreadable)
            # Rows scanned: valid ones and those quarantined for their format, which are
            # scanned all the same (counted apart, a file of them read "nothing was scanned"
            # beside the leaks found in it).
            quarantined = int(result.quarantined_scanned)
            records = int(result.corpus_records) + quarantined - (prompt_dir is not None)
            summary = result.to_dict()["summary"]
            # Not counted here (docs/leakage.md, records with media): its files and ids
            # would be the set's copy in a temporary folder, not the set's.
            summary.pop("media_set_aside", None)
            summary["leaked_reference_items"] = len(found)
            summary["by_method"] = {
                method: len(
                    {
                        item_of(leak.item.file, leak.item.row)
                        for leak in result.leaks
                        if method in leak.methods
                    }
                )
                for method in summary["by_method"]
            }
            # Leaks by the set's item ids (items.jsonl's), not the reader's <path>:<row>.
            ids = {(str(p), r): i for p in files for r, i in enumerate(item_ids(p))}
            per_set[g.name] = {
                "reference_items": len(items),
                **summary,
                "leaked_ids": sorted(  # an item's prompt and answer: one id
                    {
                        ids.get((leak.item.file, leak.item.row), leak.item.id)
                        for leak in result.leaks
                    }
                )[:MAX_LEAKED_IDS],
            }
    finally:
        shutil.rmtree(copies, ignore_errors=True)
        if prompt_dir is not None:
            shutil.rmtree(prompt_dir, ignore_errors=True)
    changed = None if train_data else _changed_training_file(cand)
    if changed is not None:  # swapped while the scan read it: what was scanned is unknown
        return {"checked": False, "reason": changed}, [
            contamination_not_checked(Verdict.FAIL, changed)
        ]
    details: dict[str, Any] = {
        "checked": True,
        "ngram": pol.ngram,
        # How items were looked for (the report's sentence names these, not the n-gram alone).
        "methods": list(pol.methods),
        "min_span_words": pol.min_span_words,
        # Where the scanned files came from: the run record, or --train-data in its place.
        "corpus_from": (
            "--train-data"
            if train_data
            else "run.json dataset_manifest"
            if cand.run is not None
            else "bundle lineage.dataset_manifest"
        ),
        "replaced_run_record": bool(train_data) and _dataset_manifest(cand) is not None,
        "system_prompt_scanned": prompt is not None,
        "corpus": [str(p) for p in corpus],
        "leaked_reference_items": leaked,
        "short_items": short,
        "unreadable_corpus_rows": unreadable,
        "corpus_records": records,
        "corpus_quarantined_scanned": quarantined,
        "golden_sets": per_set,
        # The trainer's --allow-leakage, from a run's record or a bundle's lineage.
        "allow_leakage_at_training": any(
            (record or {}).get("allow_leakage") is True for record in (cand.run, cand.lineage)
        ),
    }
    where = ", ".join(
        f"{n}: {d['leaked_reference_items']}"
        for n, d in per_set.items()
        if d["leaked_reference_items"]
    )
    checks = [contamination_check(leaked, where, unreadable, pol, short)]
    if records == 0:  # empty files: "checked, 0 leaked" of nothing at all
        named = ", ".join(str(p) for p in corpus[:3])
        checks = [
            contamination_not_checked(
                Verdict.FAIL,
                # Unreadable (a corrupt .jsonl.gz or .parquet) is said as such: "holds no
                # record" sent its owner looking for an empty file.
                f"the training data could not be read ({named}: {unreadable} unreadable "
                "row(s) or file(s); curagate leakage lists them): nothing was scanned; "
                "re-create the files the candidate was trained on"
                if unreadable
                else f"the training data holds no record ({named}): nothing was scanned; "
                "give the files the candidate was trained on",
            )
        ]
    if unscanned:
        checks.append(
            contamination_not_checked(
                Verdict.WARN,
                f"golden set(s) {', '.join(unscanned)} not scanned: no file of theirs holds "
                "items as JSON lines (.jsonl) or JSON records (.json) with a field the scan "
                f"reads ({', '.join(ITEM_TEXT_FIELDS)})",
            )
        )
    return details, checks


# What the leakage reader says of reference items it cannot take the text of.
_UNSCANNABLE = ("cannot tell which field holds the reference items", "none holds any text")


def _detect_in(
    detect: Any,
    files: list[Path],
    corpus: list[Path],
    pol: Any,
    owners: dict[str, list[int]],
    media: dict[str, list[int]] | None = None,
) -> Any:
    """One set's items (``files``) looked for in the training data; the rows of a copy
    that are views of one conversation item (``owners``, :func:`_as_read`) are one item
    for the boilerplate limit, and each row of a copy is about its item's media
    (``media``, :func:`_as_read`)."""
    media = media or {}
    return detect(
        reference=[str(p) for p in files],
        corpus=[str(p) for p in corpus],
        ngram=pol.ngram,
        methods=pol.methods,
        min_shared_ngrams=pol.min_shared_ngrams,
        min_ratio=pol.min_ratio,
        min_span_words=pol.min_span_words,
        min_span_ratio=pol.min_span_ratio,
        # Each file by the field its own items hold (a set's files, or an lm_eval set's
        # suites, differ: the first file's field read the others by a note column, or
        # stopped the gate after the whole evaluation).
        reference_text_field={p.as_posix(): _text_field(p) for p in files},
        # ... and by every other text a model reads of each item (a SQuAD item's context
        # beside its question, a `text` note beside HellaSwag's ctx), row by row.
        reference_item_fields=True,
        reference_item_rows={str(p): owners[str(p)] for p in files if str(p) in owners},
        reference_item_media={str(p): media[str(p)] for p in files if str(p) in media},
    )


def _as_jsonl(path: Path, folder: Path) -> Path:
    """``path`` (JSON lines or an array of records) as a ``.jsonl`` file in ``folder`` (a
    new folder of the scan's own, never one of a set's files), for the leakage reader
    (which reads JSON lines)."""
    from curagate.io.readers import json_as_jsonl

    folder.mkdir()
    return json_as_jsonl(path, folder / (path.name + ".scan.jsonl"))


def _as_read(
    path: Path,
    folder: Path,
    owners: dict[str, list[int]],
    task: str | None = None,
    media: dict[str, list[int]] | None = None,
) -> Path:
    """A gate set's items with each one's text as the model reads it: its ``messages``
    when it has them (:func:`conversation`), else its ``prompt`` (for multiple choice,
    with its options: :func:`_choice_views`). A file with no item as a conversation or
    with options is scanned as it is; one with any is copied into ``folder`` (a new
    folder of the scan's own, never one of a set's files), each item's ``prompt``
    replaced by its first view (:func:`_views`), and ``owners`` told the item row of
    each row of the copy.

    The reader takes one field for a whole file, from its first line: a first item with
    only a prompt had every later item, sent to the model as its ``messages``, scanned by
    its ``prompt`` (a placeholder, say), and their conversations copied verbatim into the
    training data passed GATE005.

    ``media`` is told the media identity of each row of the copy: its item's, as the
    readers give the item's row (:func:`_item_media`), which the copy, its messages gone,
    no longer shows (found by attack: an item of trl's vision format with its image's URL
    in its messages and its file in ``images`` was no leak of its own copy in the
    training data, the copy's media being the file alone)."""
    rows = list(jsonl_objects(path))
    if not any(
        isinstance(row.get("messages"), list) or _choice_views(row, task) for _, row in rows
    ):
        return path
    ids = item_ids(path)
    lines: list[str] = []
    views: list[tuple[int, str, str]] = []  # (item row, id, text) of the rows added after
    for row_index, ((_, row), item_id) in enumerate(zip(rows, ids, strict=True)):
        read = dict(row, id=item_id)  # ids as the gate's items carry them
        messages = read.pop("messages", None)
        texts = _views(messages) if isinstance(messages, list) else _choice_views(row, task)
        if texts:
            read["prompt"], *more = texts
            views += [(row_index, item_id, text) for text in more]
        lines.append(json.dumps(read, ensure_ascii=False) + "\n")
    # Each view a row of its own after the items (whose rows stay the reader's rows), with
    # the item's id and no answer (the item's row holds it).
    lines += [
        json.dumps({"id": i, "prompt": text}, ensure_ascii=False) + "\n" for _, i, text in views
    ]
    folder.mkdir()
    copy = folder / (path.name + ".read.jsonl")
    copy.write_text("".join(lines), encoding="utf-8")
    owners[str(copy)] = [*range(len(rows)), *(r for r, _, _ in views)]
    if media is not None:
        of_item = [_item_media(row) for _, row in rows]
        media[str(copy)] = [of_item[r] for r in owners[str(copy)]]
    return copy


def _item_media(row: dict[str, Any]) -> int:
    """The media identity of a golden item's row as the readers give a row of its columns
    (:func:`curagate.records.media_ids`; 0: none, or a row whose columns Arrow cannot read
    alone: its item is then a leak of a row of any media, as a text-only item is)."""
    import pyarrow as pa

    from curagate.records import detect_format, media_ids

    try:
        table = pa.Table.from_pylist([row])
        ids = media_ids(table, detect_format(table.column_names))
    except (CuragateError, pa.ArrowException, TypeError, ValueError, OverflowError):
        return 0
    return 0 if ids is None else int(ids[0].as_py())


def _choice_views(row: dict[str, Any], task: str | None) -> list[str]:
    """The texts a multiple-choice set's item is looked for by, the first its own row
    (:func:`~curagate.gate.tasks.multiple_choice.choice_views`: its prompt with its
    lettered options, the user turn the gate sends, its bare prompt); none for another
    set's item or an item that is no prompt with choices."""
    from curagate.gate.tasks.multiple_choice import choice_views
    from curagate.golden import MULTIPLE_CHOICE

    return list(choice_views(row).values()) if task == MULTIPLE_CHOICE else []


def _views(messages: list[Any]) -> list[str]:
    """The texts a conversation item is looked for by, the first its own row.

    Found by the re-attack: a conversation was scanned only rendered ("user: Capital of
    France?"), which is no whole prompt, user turn or record of any training row, so an item
    under 8 words (no n-gram, no span) copied as a training prompt passed GATE005, as did a
    few-shot item's last question (under half of the conversation's words, no span). A
    conversation of one user turn is looked for by that turn's text; a longer one by its
    rendering ("role: content" lines), its last user turn and its user turns joined (each
    as the reader takes a training row's prompt or a conversation's user turns)."""
    turns = [m for m in messages if isinstance(m, dict)]
    user = [
        m["content"] for m in turns if m.get("role") == "user" and isinstance(m.get("content"), str)
    ]
    if len(turns) == 1 and len(user) == 1:
        return user
    texts = [render_value(messages), *user[-1:], *(["\n".join(user)] if len(user) > 1 else [])]
    return list(dict.fromkeys(texts))


def _text_field(path: Path) -> str | None:
    """The field holding what a model reads of ``path``'s items, by every item
    (:func:`~curagate.item_fields.item_text_field`, the rule the leakage reader of a reference
    set follows too): the prompt (gate sets) or the question (lm-eval), ``text`` only when
    no item holds another; None for items as conversations (``messages``), which the
    reader takes by their turns. Every other text an item holds is looked for too
    (``reference_item_fields``). Items are read as the readers read them (lines end at
    ``\\n`` only: a bare ``\\r`` hid every item of a set with a ``text`` column, found
    by attack); picked by the first item, a ``text`` note beside HellaSwag's ``ctx`` or
    PIQA's ``goal`` read a suite by its notes (found by re-attack)."""
    return item_text_field(jsonl_values(path))


def _read_folders(candidate: str, base: str, gdir: Path, cfg: GateConfig) -> list[tuple[str, Path]]:
    """The folders the gate reads, as (what, folder): the golden-set folder, each side and
    each set's judge that is a model or run folder, and a run's base model and adapter (a
    folder that is neither, or a run.json that does not read, is left to
    :func:`resolve_model` to report)."""
    folders = [("golden-set folder", gdir)]
    # Each set's own folder too: one linked in from elsewhere is not under gdir once
    # resolved (found by re-attack: an --out given inside it was written into the set).
    if gdir.is_dir():
        folders += [(f"golden set {e.name}", e) for e in sorted(gdir.iterdir()) if e.is_dir()]
    # A local judge too (found by re-attack: --out and --cache-dir inside it were accepted,
    # and an --out holding it was replaced, deleting the judge).
    judges = [
        (f"judge of set {g.name}", _judge_spec(cfg, g.judge)) for g in cfg.golden_sets if g.judge
    ]
    for side, spec in (("candidate", candidate), ("base", base), *judges):
        if is_endpoint(spec) or not any(
            (Path(spec) / f).is_file() for f in ("config.json", "run.json")
        ):
            continue  # no model: resolve_model refuses it
        folders.append((side, Path(spec)))
        if (Path(spec) / RunRecord.FILE).is_file():
            try:
                info = load_run(spec)
            except CuragateError:
                continue
            folders += [(f"{side} run's base model", info.base_dir)]
            folders += [(f"{side} run's adapter", info.adapter_dir)]
    return folders


def _refuse_writing_into(path: Path, option: str, folders: list[tuple[str, Path]]) -> None:
    """An InputError for ``path`` (--out, --cache-dir) in (or, but for --out, which
    check_output calls holding it, at) a folder the gate reads: found by attack, written
    there the gate changed its own inputs (the model folder's digest the report signed, the
    base a run was trained on: "base model files changed since training", a golden set
    that `leakage --reference` then read the reports of)."""
    target = path.resolve()
    around = [
        (len(root.parts), what, folder)
        for what, folder in folders
        if (root := folder.resolve()) in target.parents or (option != "--out" and target == root)
    ]
    if around:
        _, what, folder = max(around, key=lambda a: a[0])  # the nearest: a run's adapter
        raise InputError(
            f"{option} {path}: is inside the {what} {folder}, which the gate reads: writing "
            "there would change it (a model's digest, a run's base, a golden set); give "
            f"{option} a folder outside the gate's inputs"
        )


def run_gate(
    gate_file: str | os.PathLike[str],
    candidate: str,
    base: str,
    out_dir: str | os.PathLike[str],
    *,
    strict: bool = False,
    golden_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    candidate_model_name: str | None = None,
    base_model_name: str | None = None,
    candidate_digest: str | None = None,
    base_digest: str | None = None,
    train_data: Sequence[str] | None = None,
    fail_only_if_significant: bool | None = None,
    sign_key: str | os.PathLike[str] | None = None,
    train_key: str | os.PathLike[str] | None = None,
) -> GateOutcome:
    """Run the gate and write gate_report.json, report.md, report.html and junit.xml.

    With ``train_key`` (a public key, PEM), a run candidate's record must carry the
    trainer's signature (`curagate train --sign-key`): its training data, which the
    contamination check scans, is then the trainer's word, not anyone's edit.

    With ``sign_key``, also a signed attestation of the verdict for exactly the
    candidate's artifact digest (``gate_attestation.dsse.json``).
    """
    cfg = load_gate(gate_file)
    if fail_only_if_significant is not None:
        cfg.statistics.fail_only_if_significant = fail_only_if_significant
    gdir = Path(golden_dir) if golden_dir else cfg.resolve(cfg.golden_dir)
    # Before any model runs: an --out that cannot hold the reports was refused only
    # once every answer was generated (hours, on real models). The reports replace --out
    # as one folder, so it may hold none of what the gate reads.
    # Nor may --out or --cache-dir lie inside a folder it reads (a model, a run's base or
    # adapter, the golden sets): written there, they changed what they were read from.
    # Nor where the --train-data folders and globs reach, as the reader reaches them (found
    # by attack: the reports, golden items in items.jsonl, were scanned as training data).
    folders = _read_folders(candidate, base, gdir, cfg)
    _refuse_writing_into(Path(out_dir), "--out", folders)
    if cache_dir:
        _refuse_writing_into(Path(cache_dir), "--cache-dir", folders)
        refuse_overlap(Path(cache_dir), train_data or [], [], "--cache-dir")
        refuse_inside_output(Path(cache_dir), "--cache-dir")  # a bundle's, a run's, an output's
    reads = [("gate file", gate_file), *folders]
    sides = (("candidate", candidate), ("base", base))
    reads += [(what, p) for what, p in sides if not is_endpoint(p)]
    reads += [("--train-data", p) for p in train_data or []]
    reads += [("cache folder", cache_dir)] if cache_dir else []
    reads += [(what, p) for what, p in (("--sign-key", sign_key), ("--train-key", train_key)) if p]
    claim = check_output(Path(out_dir), "gate", train_data or [], [], keep=reads)
    # The keys before anything is read or run: a P-384 --sign-key crashed (exit 3) only
    # once the candidate was hashed, deriving the cache key from its scalar.
    if sign_key is not None:
        load_private_key(sign_key)
    if train_key is not None:
        load_public_key(_read_train_key(train_key), source=f"--train-key {train_key}")
    # Every set is read once, into a private folder, and checked there against its lock:
    # the items scored, the suite run and the contamination scan read those bytes. Read
    # from gdir three times, a set edited while the gate ran was scored under the
    # locked sha256 the report printed.
    # Mode 0700, held locked by this run: a killed gate's copy (held-out items) goes at
    # the next gate (private_dir).
    private = private_dir("curagate-golden-")
    try:
        return _run_gate_on(
            cfg, gdir, private, candidate, base, out_dir, gate_file, strict=strict,
            cache_dir=cache_dir, device=device, candidate_model_name=candidate_model_name,
            base_model_name=base_model_name, candidate_digest=candidate_digest,
            base_digest=base_digest, train_data=train_data, sign_key=sign_key,
            train_key=train_key, claim=claim,
        )  # fmt: skip
    finally:
        remove_private(private)


def _run_gate_on(
    cfg: GateConfig,
    gdir: Path,
    private: Path,
    candidate: str,
    base: str,
    out_dir: str | os.PathLike[str],
    gate_file_name: str | os.PathLike[str],
    *,
    strict: bool,
    cache_dir: str | os.PathLike[str] | None,
    device: str | None,
    candidate_model_name: str | None,
    base_model_name: str | None,
    candidate_digest: str | None,
    base_digest: str | None,
    train_data: Sequence[str] | None,
    sign_key: str | os.PathLike[str] | None,
    train_key: str | os.PathLike[str] | None = None,
    claim: Claim | None = None,
) -> GateOutcome:

    try:
        goldens = [snapshot(load_locked(gdir, g.name), private) for g in cfg.golden_sets]
    except CheckFailed as e:
        # A tampered golden set makes the gate unable to decide: an error, not a failed model.
        raise CuragateError(str(e)) from None
    # Each schema is read once, before any model runs: scored with and recorded as those bytes.
    schemas = {
        g.name: load_schema(spec, cfg.resolve, g)
        for g, spec in zip(goldens, cfg.golden_sets, strict=True)
    }
    # So is each judge's prompt (a bad file was exit 3, or a config error, after generation).
    prompts = {g.name: load_prompt(g.judge, cfg.resolve) for g in cfg.golden_sets if g.judge}
    cand = resolve_model(candidate, http_model=candidate_model_name, model_digest=candidate_digest)
    base_ref = resolve_model(
        base, http_model=base_model_name, model_digest=base_digest, digest_flag="--base-digest"
    )
    if train_key is not None:
        if train_data:
            # The contamination check would scan those files while the report named the
            # trainer's signature (a contaminated run passed, its attestation signed).
            raise InputError(
                "--train-data with --train-key: the contamination check would scan other "
                "data than the training files in the run record the key signed; drop "
                "--train-data (the gate scans the signed record's files)"
            )
        _check_run_signed(cand, train_key)
    if train_data and sign_key is not None and _dataset_manifest(cand) is not None:
        # A signed report backs production: it scans what the trainer recorded. Replacing
        # a bundle's lineage data with clean files passed a contaminated model, signed.
        raise InputError(
            "--train-data with --sign-key: the candidate's "
            f"{'run.json' if cand.run is not None else 'bundle lineage'} names its training "
            "data, and a signed report scans those files, not others in their place; drop "
            "--train-data (gate where the recorded files are)"
        )
    gguf = _unevaluated_weights(cand)
    keyid = _signing_keyid(sign_key, cand)
    judges = {g.name: resolve_judge(cfg, g.judge) for g in cfg.golden_sets if g.judge is not None}
    # A signed run reads only cache entries a signed run with this key wrote.
    cache = GenerationCache(
        Path(cache_dir) if cache_dir else None,
        mac_key=None if sign_key is None else cache_mac_key(sign_key),
    )
    for ref in (cand, base_ref, *judges.values()):
        ref.cache_off = cache.root is None

    # Every input the gate will read, checked before any model runs: each set's items,
    # references and slice columns, the suite's set and metric, the --train-data files.
    # Checked set by set as the sets were generated, a bad reference in the last set, a
    # typo'd regression_suite.metric or an unreadable --train-data stopped the gate once
    # every earlier set was generated (hours, on real models).
    inputs = {g.name: set_inputs(cfg, g) for g in goldens}
    for spec, items, _, _ in inputs.values():
        _slices(cfg, spec, items)
    try:
        suite_found = _suite_set(cfg, gdir, private)
    except CheckFailed as e:
        raise CuragateError(str(e)) from None
    if cfg.contamination.check:
        _check_train_data(train_data)
    checks: list[Check] = [_base_check(cand, base_ref), *_self_judging(judges, cand, base_ref)]
    results: list[dict[str, Any]] = []
    # A signed run loads local models from private copies checked against what it attests.
    with LoadedModels(device=device, snapshot=sign_key is not None) as models:
        # What each local side's generation settings ask for that the gate does not do: it
        # generates both sides with its own settings (curagate.gate.decoding); and the
        # tokens each side's answers stop at.
        local = {
            side: _generation_config(ref, cfg.generation.temperature, models)
            for side, ref in (("candidate", cand), ("base", base_ref))
            if ref.model_dir is not None
        }
        ignored = {side: got[0] for side, got in local.items()}
        past_context = {
            g.name: _check_context(g.name, inputs[g.name], cand, base_ref, models) for g in goldens
        }
        if local:
            checks.append(
                model_generation_config_check(
                    ignored,
                    {side: got[1] for side, got in local.items()},
                    {side: got[2] for side, got in local.items()},
                )
            )
        for golden in goldens:
            res, cks = _evaluate_set(
                cfg,
                golden,
                cand,
                base_ref,
                models,
                cache,
                judges.get(golden.name),
                schemas[golden.name],
                prompts.get(golden.name),
                inputs[golden.name],
            )
            if past_context[golden.name]:
                res["past_context"] = past_context[golden.name]
            results.append(res)
            checks += cks
        try:
            suite, suite_checks, suite_set = _regression_suite(
                cfg, suite_found, cand, base_ref, models, cache
            )
        except CheckFailed as e:
            raise CuragateError(str(e)) from None
        if gguf is not None:
            checks.append(_gguf_check(cfg, goldens, cand, gguf, models))
    checks += suite_checks
    all_sets = goldens + ([suite_set] if suite_set else [])
    contamination, cont_checks = _contamination(cfg, cand, all_sets, train_data)
    checks += cont_checks

    out = Path(out_dir)
    with report_folder(out, "gate", "gate_report.json", claim) as tmp:
        report = _write_outputs(
            tmp, results, checks, cfg, cand, base_ref, judges, all_sets, schemas, suite,
            contamination, strict=strict, gate_file_name=gate_file_name, keyid=keyid,
            sign_key=sign_key, ignored=ignored,
        )  # fmt: skip
    return GateOutcome(
        report,
        int(report["exit_code"]),
        cache.hits,
        cache.misses,
        out,
        _endpoints(cand, base_ref, judges),
        cache.rejected,
    )


def _unevaluated_weights(cand: ModelRef) -> str | None:
    """Refuse a bundle candidate holding weights the gate would not evaluate; the GGUF its
    export wrote, to re-check against the evaluated model (GATE014), or None.

    The gate loads a bundle with transformers (its safetensors) while its verdict, and a
    signed attestation, name the whole manifest: found by attack, random bytes added as
    ``model.Q8_0.gguf`` (manifest edited, signature dropped) were gated "pass", signed,
    registered and promoted to production, never having run."""
    if cand.kind != "bundle":
        return None
    assert cand.model_dir is not None
    extra = unevaluated_files(cand.model_dir, cand.manifest_files)
    name = cand.exported_gguf
    gguf = name if name in extra and "/" not in name and name.endswith(".gguf") else None
    others = [f for f in extra if f != gguf]
    if others:
        loaded = sorted(loaded_weights(cand.model_dir, cand.manifest_files))
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise InputError(
            f"{cand.spec}: {shown}: files the gate neither loads nor knows (it evaluates the "
            f"weights transformers loads: {', '.join(loaded) or 'nothing'}; besides them a "
            "bundle holds its config, tokenizer files and documentation), while a passing "
            "gate vouches for every file of the bundle; re-export the bundle without them "
            "(the only GGUF a gate re-checks is the one `curagate export --gguf` wrote), or "
            "ship them as a separate artifact and gate it as served"
        )
    if gguf is not None:
        try:
            import gguf as _  # noqa: F401

            from curagate.export.gguf_tokenizer import require_llama_cpp

            require_llama_cpp()
        except (ImportError, MissingExtraError):
            raise InputError(
                f"{cand.spec}: {gguf}: the gate vouches for a bundle's GGUF only after "
                "re-checking it against the model it evaluates, with llama.cpp, and "
                "llama-cpp-python or gguf is not installed here: pip install "
                "'curagate[gguf-verify]', or gate the GGUF as served (its endpoint), or ship it "
                "as a separate artifact (re-export without --gguf)"
            ) from None
    return gguf


def _gguf_check(
    cfg: GateConfig, goldens: list[GoldenSet], cand: ModelRef, name: str, models: LoadedModels
) -> Check:
    """GATE014: the bundle's GGUF against the safetensors the gate evaluated: its metadata
    and every tensor's bytes as export writes them from those safetensors, then checked as
    export checked it (llama.cpp's tokenization, dequantized logits), on export's fixed
    conversations and the first golden prompts; the files read are the ones loaded (a
    signed run's private copy)."""
    from curagate.export.bundle import FIXED_CONVERSATIONS, MAX_GOLDEN_PROMPTS
    from curagate.export.gguf_q8 import gguf_versions, recheck_gguf

    golden = [c for g in goldens for c in set_inputs(cfg, g)[2]][:MAX_GOLDEN_PROMPTS]
    folder = models.folder(cand)
    try:
        result = recheck_gguf(folder, name, FIXED_CONVERSATIONS + golden)
    except (CheckFailed, InputError) as e:
        shown = str(e).replace(str(folder), str(cand.model_dir))
        return exported_gguf_check(
            Verdict.FAIL, shown, {"file": name, "gguf_version": gguf_versions(folder)}
        )
    return exported_gguf_check(
        Verdict.PASS,
        f"{name} holds the metadata and tensor bytes export writes from the safetensors "
        "evaluated, tokenizes like the bundle's tokenizer (llama.cpp) and its dequantized "
        f"logits are within {result.max_abs_logit_diff:.3g} of them",
        {
            "file": name,
            "max_abs_logit_diff": result.max_abs_logit_diff,
            "gguf_version": gguf_versions(folder),
        },
    )


def _endpoints(cand: ModelRef, base: ModelRef, judges: dict[str, ModelRef]) -> dict[str, Any]:
    """What each endpoint side was asked and answered (``endpoint_log.json``)."""
    sides = [("candidate", cand), ("base", base)]
    sides += [(f"judge:{name}", ref) for name, ref in sorted(judges.items())]
    return {side: ref.stats.to_dict() for side, ref in sides if ref.kind == "http"}


def _write_outputs(
    out: Path,
    results: list[dict[str, Any]],
    checks: list[Check],
    cfg: GateConfig,
    cand: ModelRef,
    base_ref: ModelRef,
    judges: dict[str, ModelRef],
    all_sets: list[GoldenSet],
    schemas: dict[str, Any],
    suite: dict[str, Any] | None,
    contamination: dict[str, Any],
    *,
    strict: bool,
    gate_file_name: str | os.PathLike[str],
    keyid: str | None,
    sign_key: str | os.PathLike[str] | None,
    ignored: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Every file of the gate's --out into the (new, private) folder ``out``; the report."""
    from curagate.gate.report import write_reports

    item_rows = [row for res in results for row in res.pop("_items")]
    items_sha = write_items(item_rows, out / ITEMS_NAME)

    verdict = overall(checks)
    exit_code = findings_exit_code(checks, fail_on=Severity.WARNING if strict else Severity.ERROR)
    from curagate import __version__

    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": "curagate", "version": __version__},
        "gate": {
            "name": cfg.name,
            "file": str(Path(gate_file_name)),
            "sha256": cfg.sha256,
            "description": cfg.description,
        },
        "verdict": verdict,
        "strict": strict,
        "exit_code": exit_code,
        "candidate": cand.describe(),
        "base": base_ref.describe(),
        "judges": {name: ref.describe() for name, ref in sorted(judges.items())},
        "golden_sets": [
            {
                "name": g.name,
                "task": g.task,
                "version": g.version,
                "sha256": g.sha256,
                "size": g.size,
                "provenance": g.provenance,
                "license": g.license,
                **({"json_schema": sch.describe()} if (sch := schemas.get(g.name)) else {}),
            }
            for g in all_sets
        ],
        "settings": {
            "generation": cfg.generation.model_dump(),
            # Per side: what its generation_config.json asks for that the gate did not
            # apply (null: an endpoint, whose server's defaults the gate cannot see).
            "model_generation_config": {side: ignored.get(side) for side in ("candidate", "base")},
            "statistics": cfg.statistics.model_dump(),
            "contamination": cfg.contamination.model_dump(),
        },
        "results": results,
        "regression_suite": suite,
        "contamination": contamination,
        "checks": [c.to_dict() for c in checks],
        "summary": {v: sum(1 for c in checks if c.verdict == v) for v in ("pass", "warn", "fail")},
        "items": {"file": ITEMS_NAME, "sha256": items_sha, "count": len(item_rows)},
        "attestation": (
            {"signed": True, "keyid": keyid, "file": ATTESTATION_NAME}
            if keyid
            else {"signed": False, "keyid": None, "file": None}
        ),
    }
    report_bytes = write_reports(report, out)
    endpoints = _endpoints(cand, base_ref, judges)
    if endpoints:
        write_text_atomic(
            out / "endpoint_log.json", json_text(endpoints, "endpoint_log.json", indent=2) + "\n"
        )
    if sign_key is not None:
        write_attestation(
            out / "gate_report.json", sign_key, out / ATTESTATION_NAME, raw=report_bytes
        )
    return report


def _signing_keyid(sign_key: str | os.PathLike[str] | None, cand: ModelRef) -> str | None:
    """Check up front that a signed run can be signed: a key, and bytes to attest."""
    if sign_key is None:
        return None
    if not cand.artifacts.get("artifact_sha256"):
        raise InputError(
            f"--sign-key: the candidate {cand.spec} is an endpoint; an attestation names the "
            "artifact's bytes, so gate the exported bundle (or run directory) instead"
        )
    return key_fingerprint(load_private_key(sign_key).public_key())


def write_attestation(
    report_path: Path,
    sign_key: str | os.PathLike[str],
    dest: Path | None = None,
    *,
    raw: bytes | None = None,
    issued_at: str | None = None,
) -> Path:
    """Sign an in-toto statement over a report: ``raw``, the bytes the gate wrote to
    ``report_path`` (held in memory, so a file changed after it was written is never
    what gets signed), or else the file as read now.

    The subject is the candidate's artifact digest; the predicate pins the report's
    sha256 and the signing time, ``issued_at`` (default: now; see
    :class:`curagate.artifacts.GatePredicate`).
    """
    raw = report_path.read_bytes() if raw is None else raw
    doc = parse_artifact(GateReportDoc, raw, source=report_path)
    predicate = GatePredicate.of_report(doc, sha256_bytes(raw), issued_at or iso_utc())
    subject = predicate.candidate.artifact_sha256
    if subject is None:
        raise InputError(
            f"{report_path}: the candidate has no artifact digest (an endpoint); nothing to attest"
        )
    name = Path(predicate.candidate.spec).name or "candidate"
    stmt = statement(name, subject, predicate.model_dump(mode="json"))
    dest = dest or report_path.parent / ATTESTATION_NAME
    write_bytes_atomic(dest, sign_envelope(stmt, sign_key))
    return dest


__all__ = [
    "ITEMS_NAME",
    "GateOutcome",
    "run_gate",
    "set_inputs",
    "write_attestation",
    "write_items",
]
