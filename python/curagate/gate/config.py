"""Gate definitions (``gates/*.yaml``): typed, validated, with file:line errors.

A gate names the golden sets to run, their task type, absolute metric
thresholds, regression thresholds relative to the base, per-slice thresholds
and the contamination policy. Unknown keys are errors: a typo must never turn
a check off silently.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from curagate.config import MAX_CONFIG_BYTES, check_span_words, parse_yaml
from curagate.errors import ConfigError, MissingExtraError
from curagate.gate.metrics import check_labels
from curagate.gate.tasks import Task, get_task, task_names
from curagate.io.outputs import read_regular
from curagate.yamlio import decode_utf8

LeakMethod = Literal["exact", "ngram", "minhash"]
LEAK_METHODS: tuple[LeakMethod, ...] = ("exact", "ngram", "minhash")

# What a pairwise judge adds to a set with a ``judge`` block (absolute thresholds only:
# each already compares the candidate with the base).
JUDGE_METRICS: tuple[str, ...] = (
    "judge_win_rate",
    "judge_loss_rate",
    "position_disagreement",
    "length_bias",
)


class _Strict(BaseModel):
    # No NaN or infinity in any float setting: NaN compares false with everything.
    # strict: a value of another type is an error (`bootstrap_resamples: "1000"`,
    # `check: "false"`), not converted.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


def _finite_number(value: Any) -> Any:
    """A threshold is a plain finite number: NaN compares false with everything (a NaN
    bound passed every value), an infinite one is no bound, and YAML's ``yes`` or a
    quoted ``"0.8"`` is not a number a reader of the gate file would see."""
    if isinstance(value, bool):
        raise ValueError(
            f"must be a number such as 0.8, not the boolean {value!r} (YAML reads yes/no/on/off "
            "as booleans)"
        )
    if not isinstance(value, (int, float)):
        raise ValueError(f"must be a number such as 0.8, not {value!r}")
    if isinstance(value, int) and abs(value) > 2**53:
        # Past a float's exact range (a 400-digit one overflowed: exit 3): no real bound.
        raise ValueError("must be a number such as 0.8; this one is too large to be a bound")
    if not math.isfinite(value):
        raise ValueError(
            f"must be a finite number such as 0.8, not {value!r} (NaN or infinity would pass "
            "or fail every value); leave the key out for no bound"
        )
    if round(value, 6) != value:
        # Checks compare at the 6 decimals reports print (curagate.gate.checks): a limit
        # of 0.8000004 would read as 0.8 and pass a value of 0.8 that is under it.
        raise ValueError(
            f"{value!r} has more than 6 decimals; reports and checks compare values at 6 "
            "decimals: round the limit"
        )
    return float(value)


# A bound in a gate file: a finite int or float (not a bool, a string, NaN or infinity).
FiniteNumber = Annotated[float, BeforeValidator(_finite_number)]


class Threshold(_Strict):
    """Absolute bounds on a metric (candidate value)."""

    min: FiniteNumber | None = None
    max: FiniteNumber | None = None

    @model_validator(mode="after")
    def _order(self) -> Threshold:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}: no value could pass")
        return self


class Regression(_Strict):
    """Allowed drop versus the base, in metric points (0.02 = 2 points on a 0..1 metric).

    The guide's defaults: under 2% passes, 2-5% warns, over 5% fails.
    ``relative: true`` measures the drop as a fraction of the base value.
    ``fail_drop: null`` warns and never fails (a warn-only policy; ``fail_drop: 1`` on a
    share was one until a limit no drop can pass was refused as a mistake).
    """

    warn_drop: Annotated[FiniteNumber, Field(ge=0)] = 0.02
    fail_drop: Annotated[FiniteNumber, Field(ge=0)] | None = 0.05
    relative: bool = False

    @model_validator(mode="after")
    def _order(self) -> Regression:
        if self.fail_drop is not None and self.warn_drop > self.fail_drop:
            raise ValueError("warn_drop must not exceed fail_drop")
        return self


class SliceRule(_Strict):
    column: str
    metrics: dict[str, Threshold] = Field(default_factory=dict)
    regression: Regression | None = None
    min_items: Annotated[int, Field(ge=1)] = 10


class GenerationSettings(_Strict):
    max_new_tokens: Annotated[int, Field(ge=1)] = 64
    batch_size: Annotated[int, Field(ge=1)] = 8
    temperature: Annotated[float, Field(ge=0)] = 0.0
    system_prompt: str | None = None
    # HTTP endpoints: requests in flight at once, per-request timeout, retries on
    # 429/5xx/reset/timeout with exponential backoff starting at retry_backoff_s.
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    # At most a day: a larger deadline is no deadline, and one past what a socket's
    # timeout can hold (1e10) crashed every request's thread.
    request_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 120.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 4
    retry_backoff_s: Annotated[float, Field(ge=0, le=30)] = 0.5


class JudgeSettings(_Strict):
    """A pairwise LLM judge for one golden set (docs/gate.md, "LLM judge").

    ``model`` is a model directory or an ``http(s)://.../v1`` endpoint; an endpoint
    names the served model (``endpoint_model``) and states which weights serve it
    (``digest``), or its verdicts are neither cached nor attested by weights.
    """

    model: str
    endpoint_model: str | None = None
    digest: str | None = None
    identity: str | None = None  # stated in words, e.g. "Qwen2.5-72B-Instruct AWQ on vLLM"
    # Path (relative to the gate file) of a prompt template with {question}, {answer_a},
    # {answer_b}; the built-in pairwise prompt when unset.
    prompt: str | None = None
    max_new_tokens: Annotated[int, Field(ge=1)] = 16
    max_position_disagreement: Annotated[FiniteNumber, Field(ge=0, le=1)] = 0.10
    min_human_agreement: Annotated[FiniteNumber, Field(ge=0, le=1)] = 0.80
    # Items whose decisive verdicts are mostly won by the longer answer warn (GATE010).
    max_length_bias: Annotated[FiniteNumber, Field(ge=0.5, le=1)] = 0.80
    min_decisive_for_length_bias: Annotated[int, Field(ge=1)] = 10
    # refusal sets: "judge" asks the judge whether each response refuses (instead of
    # the regex detector) and reports where the two disagree.
    refusal_detector: Literal["regex", "judge"] = "regex"
    # false: use the judge only as the refusal detector (no pairwise verdicts, no judge_*).
    pairwise: bool = True


class GoldenSetGate(_Strict):
    name: str
    task: str  # a registered task type (curagate.gate.tasks)
    labels: list[str] | None = None
    answer_regex: str | None = None
    format_regex: str | None = None
    json_schema: str | None = None
    max_new_tokens: Annotated[int | None, Field(ge=1)] = None
    system_prompt: str | None = None
    metrics: dict[str, Threshold] = Field(default_factory=dict)
    regression: dict[str, Regression] = Field(default_factory=dict)
    slices: list[SliceRule] = Field(default_factory=list)
    judge: JudgeSettings | None = None

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, labels: list[str] | None) -> list[str] | None:
        if labels is not None:
            check_labels(labels)
        return labels

    @field_validator("answer_regex", "format_regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        """Checked here, not when the first output is scored (after both models generated)."""
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"not a valid Python regular expression: {e.msg} at position {e.pos} "
                    f"of {pattern!r}"
                ) from None
        return pattern

    @field_validator("task", mode="before")
    @classmethod
    def _known_task(cls, task: Any) -> Any:
        names = task_names()
        if not isinstance(task, str) or task not in names:
            allowed = ", ".join(f"{n!r}" for n in names[:-1]) + f" or {names[-1]!r}"
            raise ValueError(f"Input should be {allowed}")
        return task

    @property
    def task_type(self) -> Task:
        return get_task(self.task)

    @model_validator(mode="after")
    def _known_metrics(self) -> GoldenSetGate:
        task = self.task_type
        allowed = tuple(m.name for m in task.metrics)
        if self.judge is not None:
            if not task.judged:
                judged = sorted(n for n in task_names() if get_task(n).judged)
                raise ValueError(
                    f"a judge compares free-form answers; task {self.task!r} has exact answers "
                    f"(use one of {', '.join(judged)})"
                )
            if not self.judge.pairwise and self.judge.refusal_detector != "judge":
                raise ValueError(
                    "judge.pairwise is false and judge.refusal_detector is not 'judge': "
                    "the judge would do nothing; remove the judge block or set one of them"
                )
            if self.judge.refusal_detector == "judge" and not task.detects_refusals:
                refusing = [n for n in task_names() if get_task(n).detects_refusals]
                raise ValueError(
                    "judge.refusal_detector: judge applies to task "
                    f"{' or '.join(repr(n) for n in refusing)} only"
                )
            if self.judge.pairwise:
                allowed = allowed + JUDGE_METRICS
            for m in self.regression:
                if m in JUDGE_METRICS:
                    raise ValueError(
                        f"metric {m!r} already compares candidate and base; give it an absolute "
                        "threshold under 'metrics' instead of 'regression'"
                    )
        columns = [s.column for s in self.slices]
        dup = sorted({c for c in columns if columns.count(c) > 1})
        if dup:  # its checks would be listed twice under one name
            raise ValueError(f"slice column listed twice: {', '.join(dup)}; give each once")
        named = list(self.metrics) + list(self.regression)
        for s in self.slices:
            named += list(s.metrics)
            if set(s.metrics) & set(JUDGE_METRICS):
                raise ValueError(
                    f"slice {s.column!r}: judge metrics are set-level only (a slice has too few "
                    "verdicts to resolve them)"
                )
        for m in named:
            if m not in allowed:
                raise ValueError(
                    f"metric {m!r} is not computed for task {self.task!r}; use one of {', '.join(allowed)}"
                )
        task.check_config(self)
        shares = {m.name: m.higher_is_better for m in task.metrics if m.share}
        _check_ranges(self, shares, shares | dict.fromkeys(JUDGE_METRICS, True))
        for metric in task.metrics:
            if metric.requires and metric.name in named and not getattr(self, metric.requires):
                raise ValueError(f"metric {metric.name!r} needs {metric.requires!r}{metric.hint}")
        return self


def _check_ranges(
    spec: GoldenSetGate, task_shares: dict[str, bool], shares: dict[str, bool]
) -> None:
    """Bounds on the metrics that are shares from 0 to 1 (``shares``: name -> higher is
    better; every built-in task and judge metric; ``task_shares``: the task's): a bound
    outside that range, or a drop limit of 1 or more, can never be crossed, and the check it writes passes whatever
    the model does (found by attack: `min: -5`, `max: 100` and `fail_drop: 5`, points
    written as percents, passed a candidate wrong on all 200 items, --strict included)."""
    bounds = [("metrics", spec.metrics)]
    bounds += [(f"slices[{s.column}].metrics", s.metrics) for s in spec.slices]
    for where, thresholds in bounds:
        for metric, th in thresholds.items():
            if metric not in shares:
                continue
            for name, value in (("min", th.min), ("max", th.max)):
                if value is not None and not 0 <= value <= 1:
                    raise ValueError(
                        f"{where}.{metric}.{name} {value}: {metric} is a share from 0 to 1, so "
                        "this bound is never crossed; write it as a fraction (0.8, not 80)"
                    )
    rules = [(f"regression.{m}", r, m) for m, r in spec.regression.items() if m in shares]
    # A slice's rule applies to each metric it covers: its own, else those the set names,
    # else every metric of the task (runner._compared_metrics). Each is checked here:
    # found by attack, a relative drop above 1 was accepted as soon as one of them was
    # lower-is-better, and the rule's checks of refusal_rate, which can never drop by
    # more than all of its base value, passed whatever the candidate did.
    set_named = [
        m for m in dict.fromkeys([*spec.metrics, *spec.regression]) if m not in JUDGE_METRICS
    ]
    for s in spec.slices:
        if s.regression is None:
            continue
        covered = list(s.metrics) or set_named or list(task_shares)
        rules += [
            (f"slices[{s.column}].regression", s.regression, m) for m in covered if m in shares
        ]
    for where, rule, metric in rules:
        # A relative drop of a lower-is-better rate may exceed 1 (0.01 -> 0.05 is +400%).
        if rule.relative and not shares[metric]:
            continue
        for name, value in (("warn_drop", rule.warn_drop), ("fail_drop", rule.fail_drop)):
            # 1 too (found by the re-attack): a check triggers on a drop above its limit,
            # and a share's drop is at most 1, so `fail_drop: 1` never failed anything.
            # (A warn-only rule says so: `fail_drop: null`.)
            if value is None or value < 1:
                continue
            if where.startswith("slices"):
                raise ValueError(
                    f"golden set {spec.name!r}: {where}.{name} {value}: the rule applies to "
                    f"{metric}, a share from 0 to 1 whose drop is at most 1 "
                    f"({'of the base value' if rule.relative else 'point'}), and a check "
                    "triggers only on a drop above its limit, so it never triggers; write it "
                    "as a fraction below 1 (0.05 for 5 points), or fail_drop: null for a rule "
                    "that only warns"
                    + (
                        ", or name the lower-is-better metrics the slice compares under its "
                        "'metrics'"
                        if rule.relative
                        else ""
                    )
                )
            raise ValueError(
                f"{where}.{name} {value}: a drop of a share from 0 to 1 is at most 1 "
                f"({'of the base value' if rule.relative else 'point'}), and a check "
                "triggers only on a drop above its limit, so this never triggers; write it "
                "as a fraction below 1 (0.05 for 5 points), or fail_drop: null for a rule "
                "that only warns"
            )


# lm-eval metrics scored 0 or 1 per document and averaged: shares from 0 to 1.
SUITE_SHARES = frozenset({"acc", "acc_norm", "acc_mutual_info", "exact_match"})


class RegressionSuite(_Strict):
    """lm-evaluation-harness local tasks compared between base and candidate."""

    golden_set: str = "regression"
    # At least one (none was a crash after both models loaded), each once (twice wrote
    # two checks of one name).
    tasks: Annotated[list[str], Field(min_length=1)]
    metric: str = "acc"
    num_fewshot: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int | None, Field(ge=1)] = None
    batch_size: Annotated[int, Field(ge=1)] = 8
    regression: Regression = Field(default_factory=lambda: Regression())

    @field_validator("tasks")
    @classmethod
    def _distinct_tasks(cls, tasks: list[str]) -> list[str]:
        dup = sorted({t for t in tasks if tasks.count(t) > 1})
        if dup:
            raise ValueError(f"task listed twice: {', '.join(dup)}; give each once")
        return tasks

    @model_validator(mode="after")
    def _drops_a_share_can_make(self) -> RegressionSuite:
        # Found by attack: `fail_drop: 5` (points written as percents) on acc passed any
        # drop, as it did on a golden set's share before _check_ranges. The metric is known
        # here by its name alone: lm-eval's per-document 0/1 scores, higher is better, so a
        # drop (absolute, or relative to the base) is at most 1. A metric of a task's own
        # is not checked: its range is the task's.
        if self.metric not in SUITE_SHARES:
            return self
        for name, value in (
            ("warn_drop", self.regression.warn_drop),
            ("fail_drop", self.regression.fail_drop),
        ):
            if value is not None and value >= 1:  # 1 too: only a drop above a limit triggers
                raise ValueError(
                    f"regression.{name} {value}: {self.metric} is a share from 0 to 1 whose drop "
                    f"is at most 1 ({'of the base value' if self.regression.relative else 'point'}), "
                    "and a check triggers only on a drop above its limit, so this never "
                    "triggers; write it as a fraction below 1 (0.05 for 5 points), or "
                    "fail_drop: null for a rule that only warns"
                )
        return self


class Contamination(_Strict):
    """Passed to curagate.leakage.detect; see docs/leakage.md for the methods.

    ``min_ratio`` (shared distinct n-grams over the item's) keeps a prompt template shared by
    every item from flagging them all: templated sets want e.g. 0.1.
    """

    check: bool = True
    # The leakage index's own ranges, checked here so that a bad value fails at load,
    # not after every golden set was generated on both models.
    ngram: Annotated[int, Field(ge=8, le=50)] = 13
    min_shared_ngrams: Annotated[int, Field(ge=1)] = 1
    min_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    # A contiguous run of >= min_span_words of an item covering >= min_span_ratio of it
    # also flags (short items, short truncations); 0 words: off.
    min_span_words: Annotated[int, Field(ge=0, le=50)] = 8
    min_span_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5
    methods: Annotated[list[LeakMethod], Field(min_length=1)] = Field(
        default_factory=lambda: list(LEAK_METHODS)
    )
    on_leak: Literal["fail", "warn", "ignore"] = "fail"
    max_leaked_items: Annotated[int, Field(ge=0)] = 0

    @field_validator("min_span_words")
    @classmethod
    def _span_words(cls, v: int) -> int:
        return check_span_words(v)


class Statistics(_Strict):
    # At least 100: about 2.5 resampled deltas beyond each end of a 95% interval, so both
    # ends are read off resamples, and the permutation p-value moves in steps of 1/101.
    # At most a million: ten thousand already puts each end of a 95% interval on 250
    # resamples, and a hostile 1e10 ran for hours.
    bootstrap_resamples: Annotated[int, Field(ge=100, le=1_000_000)] = 1000
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # numpy's legacy seed (lm-eval's numpy_random_seed) is 32-bit; a negative seed
    # would be refused there, deep in a run, or (Python's random) taken as its absolute value.
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    fail_only_if_significant: bool = False


class GateConfig(_Strict):
    schema_version: Literal[1] = 1
    name: str
    description: str = ""
    golden_dir: str = "../golden_sets"
    generation: GenerationSettings = Field(default_factory=lambda: GenerationSettings())
    statistics: Statistics = Field(default_factory=lambda: Statistics())
    golden_sets: list[GoldenSetGate] = Field(default_factory=list)
    regression_suite: RegressionSuite | None = None
    contamination: Contamination = Field(default_factory=lambda: Contamination())

    # Set by load_gate; not part of the YAML.
    path: Annotated[Path | None, Field(exclude=True)] = None
    sha256: Annotated[str, Field(exclude=True)] = ""

    @model_validator(mode="after")
    def _unique_sets(self) -> GateConfig:
        names = [g.name for g in self.golden_sets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"golden set listed twice: {', '.join(dup)}")
        if not self.golden_sets and self.regression_suite is None:
            raise ValueError("a gate needs at least one of 'golden_sets' or 'regression_suite'")
        return self

    def resolve(self, rel: str) -> Path:
        """A path from the gate file, relative to the gate file's folder."""
        base = self.path.parent if self.path else Path.cwd()
        p = Path(rel)
        return p if p.is_absolute() else (base / p)


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Record the 1-based line of every key/item so errors can point at it."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[(*path, key)] = k.start_mark.line + 1
            _line_index(v, (*path, key), out)
            out[(*path, key)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, (*path, i), out)


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def unresolved_ref(schema: dict[str, Any], *, own_dialect: bool = False) -> str | None:
    """The first ``$ref`` (or, from draft 2020-12, ``$dynamicRef``) of a JSON Schema
    that does not resolve within it, or None (remote schemas are never fetched; the
    validator stopped on such a ref, an internal error, when it met it). Resolved by
    draft 2020-12's rules (the gate validates with them), or with ``own_dialect`` by
    those of the draft its ``$schema`` names (2020-12 when it names none). The walk follows the refs
    it resolves too: a schema reached only through a pointer into a keyword the draft
    does not know is validated when a ref leads there."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012, specification_with

    dialect = schema.get("$schema") if own_dialect else None
    spec = specification_with(dialect, DRAFT202012) if isinstance(dialect, str) else DRAFT202012
    keywords = ("$ref", "$dynamicRef") if spec is DRAFT202012 else ("$ref",)
    root = spec.create_resource(schema)
    registry = Registry().with_resource(root.id() or "", root).crawl()
    pending = [(root, registry.resolver(base_uri=root.id() or ""))]
    seen: set[int] = set()
    while pending:
        resource, resolver = pending.pop()
        contents = resource.contents
        if not isinstance(contents, dict) or id(contents) in seen:
            continue
        seen.add(id(contents))
        for keyword in keywords:
            ref = contents.get(keyword)
            if not isinstance(ref, str):
                continue
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                return ref
            target = spec.create_resource(resolved.contents)
            pending.append((target, resolved.resolver.in_subresource(target)))
        pending += [(sub, resolver.in_subresource(sub)) for sub in resource.subresources()]
    return None


def read_json_schema(path: Path) -> dict[str, Any]:
    """A golden set's ``json_schema`` file: a valid JSON Schema (draft 2020-12, as
    ``schema_compliance`` validates with) whose every ``$ref`` resolves within it."""
    return read_json_schema_file(path)[0]


def read_json_schema_file(path: Path) -> tuple[dict[str, Any], str]:
    """:func:`read_json_schema` and the sha256 of the bytes it was read from (one read)."""
    raw = b""
    try:
        raw = read_regular(path, MAX_CONFIG_BYTES, follow_links=True)
        schema = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:  # a FIFO or /dev/zero never ends; a link is read where it lies
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}: not valid JSON: {e.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read as a JSON schema") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{path}: a JSON schema must be an object")
    try:
        import jsonschema
    except ImportError as e:
        raise MissingExtraError("eval", "jsonschema") from e
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise ConfigError(
            f"{path}: not a valid JSON Schema (draft 2020-12) at {e.json_path}: {e.message}"
        ) from None
    bad = unresolved_ref(schema)
    if bad is not None:
        raise ConfigError(
            f"{path}: $ref {bad!r} does not resolve within the schema (remote "
            "schemas are not fetched: copy the definition under '$defs')"
        )
    return schema, hashlib.sha256(raw).hexdigest()


def _schema_errors(cfg: GateConfig, src: str, lines: dict[tuple[Any, ...], int]) -> list[str]:
    """The golden sets whose ``json_schema`` cannot be used, as parse errors."""
    msgs = []
    for i, spec in enumerate(cfg.golden_sets):
        if spec.json_schema:
            try:
                read_json_schema(cfg.resolve(spec.json_schema))
            except ConfigError as e:
                loc = ("golden_sets", i, "json_schema")
                msgs.append(f"{src}:{_nearest_line(lines, loc)}: key '{_format_loc(loc)}': {e}")
    return msgs


def parse_gate(
    text: str, path: str | os.PathLike[str] = "<gate>", *, raw: bytes | None = None
) -> GateConfig:
    """Validate gate YAML text; errors name the file, the line and the key. ``raw``: the
    file's bytes, whose sha256 the report records (default: ``text`` as UTF-8)."""
    src = str(path)
    data, node = parse_yaml(text, src, keys_hint="name, golden_sets, ...")
    lines: dict[tuple[Any, ...], int] = {}
    _line_index(node, (), lines)
    try:
        cfg = GateConfig.model_validate(data)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            named = re.match(r"metric '([^']+)'", msg)
            if named:
                # Point at the offending metric key, not at the start of its golden set.
                hits = [p for p in lines if p[: len(loc)] == loc and p[-1:] == (named.group(1),)]
                loc = min(hits, key=lambda p: lines[p]) if hits else loc
            line = _nearest_line(lines, loc)
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see docs/gate.md)"
            msgs.append(f"{src}:{line}: key '{_format_loc(loc)}': {msg}")
        raise ConfigError.of_lines(msgs) from None
    cfg.path = Path(path).resolve() if src != "<gate>" else None
    cfg.sha256 = hashlib.sha256(text.encode("utf-8") if raw is None else raw).hexdigest()
    msgs = _schema_errors(cfg, src, lines)
    if msgs:
        raise ConfigError.of_lines(msgs)
    return cfg


def load_gate(path: str | os.PathLike[str]) -> GateConfig:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: gate file not found")
    try:
        raw = read_regular(p, MAX_CONFIG_BYTES, follow_links=True)
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the gate file ({e.strerror or e})") from None
    # Bytes, not read_text: the report records the sha256 of the file as it is (read_text
    # turns CRLF into LF), and text that is not UTF-8 is an error naming the byte.
    return parse_gate(decode_utf8(raw, str(p)), p, raw=raw)
