"""Score one golden set for candidate and base, item by item.

Per-item scores are kept (not only aggregates) so every metric can be
recomputed on any subset of items: slices, bootstrap resamples, McNemar.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate.errors import ConfigError, InputError
from curagate.gate import metrics as gm
from curagate.gate.config import GoldenSetGate, read_json_schema_file
from curagate.gate.models import Messages
from curagate.gate.tasks import Answer, Task, get_task

if TYPE_CHECKING:
    from curagate.golden import GoldenSet


def conversation(item: dict[str, Any], spec: GoldenSetGate, system: str | None) -> Messages:
    """The chat a model sees for an item: ``messages`` as given, else one user turn."""
    where = f"golden set {spec.name!r}: item {item['id']!r}"
    if "messages" in item and item["messages"] is not None:
        if not isinstance(item["messages"], list):
            raise InputError(
                f"{where}: 'messages' must be a list of turns, not {_shown(item['messages'])}"
            )
        conv: Messages = [_message(item, spec, i, m) for i, m in enumerate(item["messages"])]
        if not conv:
            raise InputError(f"{where}: 'messages' is empty")
    else:
        if "prompt" not in item:
            raise InputError(f"{where} has no 'prompt' or 'messages'")
        if not isinstance(item["prompt"], str):
            # It was sent as Python's str() of it: 'None', "['a', 'b']", "{'text': ...}".
            raise InputError(
                f"{where}: 'prompt' must be a string, not {_shown(item['prompt'])}; write the "
                "text the model should read"
            )
        conv = [{"role": "user", "content": get_task(spec.task).prompt(item, spec)}]
    sys_prompt = spec.system_prompt or system
    if sys_prompt and conv[0]["role"] != "system":
        conv = [{"role": "system", "content": sys_prompt}, *conv]
    return conv


def _message(item: dict[str, Any], spec: GoldenSetGate, i: int, m: Any) -> dict[str, str]:
    """One turn of an item's ``messages``: an object with string ``role`` and ``content``."""
    where = f"golden set {spec.name!r}: item {item['id']!r}: messages[{i}]"
    if not isinstance(m, dict):
        raise InputError(
            f'{where} must be an object {{"role": ..., "content": ...}}, not {_shown(m)}'
        )
    for key in ("role", "content"):
        if not isinstance(m.get(key), str):
            got = f"not {_shown(m[key])}" if key in m else "it is missing"
            raise InputError(f"{where}: '{key}' must be a string; {got}")
    return {"role": m["role"], "content": m["content"]}


def _shown(value: Any) -> str:
    """A value from a golden file in an error line: JSON, escaped, at most 40 characters."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_prediction(spec: GoldenSetGate, item: dict[str, Any], output: str) -> Any:
    """What the gate reads from one raw output, as a JSON-ready value: the label
    (classification), the option letter (multiple choice), the extracted answer
    (generation, extraction), the canonical JSON (structured_json; None when not
    JSON) or "refuse"/"answer" (refusal); each task type says (curagate.gate.tasks).
    Two outputs with the same prediction score alike, except ``format_compliance``,
    which reads the raw output."""
    return get_task(spec.task).parse(item, spec, output)


@dataclass
class SideScores:
    """One model's outputs on a set and the per-item values of each metric.

    ``None`` in a metric's list means the metric does not apply to that item
    (e.g. refusal rate on an item that should be answered).
    """

    outputs: list[str]
    values: dict[str, list[float | None]] = field(default_factory=dict)
    labels: list[str | None] = field(default_factory=list)  # when the task predicts labels


@dataclass
class SetScores:
    spec: GoldenSetGate
    items: list[dict[str, Any]]
    references: list[Any]
    candidate: SideScores
    base: SideScores

    @property
    def task(self) -> Task:
        return get_task(self.spec.task)

    def metric_names(self) -> list[str]:
        """Per-item metrics in the order they were scored, then the set-level ones."""
        return list(self.candidate.values) + [m.name for m in self.task.metrics if not m.per_item]

    def applicable(self, metric: str, idx: Sequence[int]) -> list[int]:
        """The items of ``idx`` the metric is measured on (a metric scored ``None`` on an
        item does not apply to it; both sides score the same items)."""
        if not self.task.metric(metric).per_item:
            return list(idx)
        values = self.candidate.values[metric]
        return [i for i in idx if values[i] is not None]

    def not_measured(self, metric: str) -> str:
        """Why a metric has no value on a set or slice without items it applies to."""
        return f"measured on {self.task.metric(metric).applies_to}; there are none"

    def value(self, metric: str, side: str, idx: Sequence[int]) -> float:
        s = self.candidate if side == "candidate" else self.base
        return self._value(metric, [(s, i) for i in idx])

    def _value(self, metric: str, rows: Sequence[tuple[SideScores, int]]) -> float:
        """The metric over ``rows``: each an item and the side whose answer counts."""
        if not self.task.metric(metric).per_item:
            return self.task.aggregate(
                metric,
                self.spec,
                [s.labels[i] for s, i in rows],
                [self.references[i] for _, i in rows],
            )
        vals = [v for v in (s.values[metric][i] for s, i in rows) if v is not None]
        return gm.mean(vals)

    def pair(
        self, metric: str, idx: Sequence[int], swap: Sequence[bool] | None = None
    ) -> tuple[float, float]:
        """(candidate, base) on ``idx``; with ``swap``, the items at its true positions
        count with their two answers exchanged (the permutation test's draws)."""
        if swap is None:
            return self.value(metric, "candidate", idx), self.value(metric, "base", idx)
        c, b = self.candidate, self.base
        sides = list(zip(idx, swap, strict=True))
        return (
            self._value(metric, [(b if w else c, i) for i, w in sides]),
            self._value(metric, [(c if w else b, i) for i, w in sides]),
        )

    def correct(self, side: str) -> list[float]:
        """Per-item correctness (for McNemar on accuracy, and to pick failing examples)."""
        s = self.candidate if side == "candidate" else self.base
        metric, at = self.task.correct_by(self.spec)
        return [1.0 if v is not None and v >= at else 0.0 for v in s.values[metric]]


def references(spec: GoldenSetGate, items: list[dict[str, Any]]) -> list[Any]:
    """Each item's expected answer as the task reads it; an item without one, or with one
    the task cannot use, is an InputError naming it."""
    task = get_task(spec.task)
    refs = []
    for item in items:
        if task.needs_reference and "reference" not in item:
            raise InputError(f"golden set {spec.name!r}: item {item['id']!r} has no 'reference'")
        refs.append(task.reference(item, spec))
    return refs


def score_side(
    spec: GoldenSetGate,
    items: list[dict[str, Any]],
    outputs: list[str],
    schema: dict[str, Any] | None,
    refused: Sequence[bool] | None = None,
) -> tuple[list[Any], SideScores]:
    """Per-item metric values for one side. ``refused`` replaces the regex refusal
    detector with another verdict per item (the judge's, on refusal sets)."""
    task = get_task(spec.task)
    declared = {m.name for m in task.metrics if m.per_item}
    side = SideScores(outputs=outputs)
    vals: dict[str, list[float | None]] = {}
    refs = references(spec, items)
    for n, (item, out) in enumerate(zip(items, outputs, strict=True)):
        verdict = refused[n] if refused is not None else None
        scored = task.score(Answer(item, spec, out, schema, verdict))
        for metric, v in scored.values.items():
            if metric not in declared:
                # A task module's bug, not the user's: say which file to fix.
                raise TypeError(
                    f"gate task type {task.name!r} ({type(task).__module__}) scored metric "
                    f"{metric!r}, which it does not declare in its 'metrics'"
                )
            vals.setdefault(metric, []).append(v)
        if task.predicts_labels:
            side.labels.append(scored.label)
    side.values = vals
    return refs, side


@dataclass(frozen=True)
class SetSchema:
    """A golden set's JSON schema as the gate scores with it, read once."""

    doc: dict[str, Any]
    file: str  # as the gate file names it
    sha256: str  # of the bytes read: the report records it

    def describe(self) -> dict[str, str]:
        return {"file": self.file, "sha256": self.sha256}


def load_schema(
    spec: GoldenSetGate, resolve: Any, golden: GoldenSet | None = None
) -> SetSchema | None:
    """The set's JSON schema (checked when the gate file was loaded), read once. A schema
    that is one of ``golden``'s locked files is read from its snapshot (bytes the lock
    vouches for), never again from the set folder, which may change while models run."""
    if not spec.json_schema:
        return None
    path = resolve(spec.json_schema)
    if golden is not None and golden.origin is not None:
        try:
            rel = Path(path).resolve().relative_to(golden.origin.resolve()).as_posix()
        except ValueError:
            rel = None
        if rel in golden.files:
            path = golden.root / rel
    try:
        doc, sha = read_json_schema_file(path)
    except ConfigError as e:
        raise ConfigError(f"golden set {spec.name!r}: json_schema: {e}") from None
    return SetSchema(doc=doc, file=spec.json_schema, sha256=sha)


def score_set(
    spec: GoldenSetGate,
    items: list[dict[str, Any]],
    cand_out: list[str],
    base_out: list[str],
    schema: SetSchema | None,
    refused: tuple[Sequence[bool], Sequence[bool]] | None = None,
) -> SetScores:
    doc = schema.doc if schema is not None else None
    refs, cand = score_side(spec, items, cand_out, doc, refused[0] if refused else None)
    _, base = score_side(spec, items, base_out, doc, refused[1] if refused else None)
    return SetScores(spec=spec, items=items, references=refs, candidate=cand, base=base)
