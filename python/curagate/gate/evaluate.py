"""Score one golden set for candidate and base, item by item.

Per-item scores are kept (not only aggregates) so every metric can be
recomputed on any subset of items: slices, bootstrap resamples, McNemar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from curagate.errors import ConfigError, InputError
from curagate.gate import metrics as gm
from curagate.gate.config import GoldenSetGate
from curagate.gate.models import Messages

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def conversation(item: dict[str, Any], spec: GoldenSetGate, system: str | None) -> Messages:
    """The chat a model sees for an item: ``messages`` as given, else one user turn."""
    if isinstance(item.get("messages"), list):
        conv: Messages = [
            {"role": str(m["role"]), "content": str(m["content"])} for m in item["messages"]
        ]
    else:
        if "prompt" not in item:
            raise InputError(
                f"golden set {spec.name!r}: item {item['id']!r} has no 'prompt' or 'messages'"
            )
        text = str(item["prompt"])
        if spec.task == "multiple_choice":
            choices = _choices(item, spec)
            text += "\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
            text += "\nAnswer with the letter of the correct option."
        conv = [{"role": "user", "content": text}]
    sys_prompt = spec.system_prompt or system
    if sys_prompt and conv[0]["role"] != "system":
        conv = [{"role": "system", "content": sys_prompt}, *conv]
    return conv


def _choices(item: dict[str, Any], spec: GoldenSetGate) -> list[str]:
    ch = item.get("choices")
    if not isinstance(ch, list) or not ch or len(ch) > len(LETTERS):
        raise InputError(
            f"golden set {spec.name!r}: item {item['id']!r} needs 'choices' (a list of 1-26 options)"
        )
    return [str(c) for c in ch]


def _mc_reference(item: dict[str, Any], choices: list[str]) -> int:
    ref = item.get("reference")
    if isinstance(ref, int) and 0 <= ref < len(choices):
        return ref
    if isinstance(ref, str):
        if len(ref.strip()) == 1 and ref.strip().upper() in LETTERS[: len(choices)]:
            return LETTERS.index(ref.strip().upper())
        if ref in choices:
            return choices.index(ref)
    raise InputError(
        f"item {item['id']!r}: 'reference' must be a choice index, letter or the choice text"
    )


def _mc_answer(output: str, choices: list[str]) -> int | None:
    m = re.match(r"^\s*\(?([A-Z])[\).:\s]|^\s*\(?([A-Z])\)?\s*$", output.strip() + " ")
    if m:
        letter = m.group(1) or m.group(2)
        if LETTERS.index(letter) < len(choices):
            return LETTERS.index(letter)
    hit = gm.match_label(output, choices)
    return choices.index(hit) if hit is not None else None


def parse_prediction(spec: GoldenSetGate, item: dict[str, Any], output: str) -> Any:
    """What the gate reads from one raw output, as a JSON-ready value: the label
    (classification), the option letter (multiple choice), the extracted answer
    (generation, extraction), the canonical JSON (structured_json; None when not
    JSON) or "refuse"/"answer" (refusal). Two outputs with the same prediction
    score alike, except ``format_compliance``, which reads the raw output."""
    if spec.task == "classification":
        assert spec.labels is not None
        return gm.match_label(output, spec.labels)
    if spec.task == "multiple_choice":
        answer = _mc_answer(output, _choices(item, spec))
        return None if answer is None else LETTERS[answer]
    if spec.task in ("generation", "extraction"):
        return gm.extract_answer(output, spec.answer_regex)
    if spec.task == "structured_json":
        ok, parsed = gm.parse_json(output)
        return json.dumps(parsed, sort_keys=True, ensure_ascii=False) if ok else None
    return "refuse" if gm.is_refusal(output) else "answer"


@dataclass
class SideScores:
    """One model's outputs on a set and the per-item values of each metric.

    ``None`` in a metric's list means the metric does not apply to that item
    (e.g. refusal rate on an item that should be answered).
    """

    outputs: list[str]
    values: dict[str, list[float | None]] = field(default_factory=dict)
    labels: list[str | None] = field(default_factory=list)  # classification predictions


@dataclass
class SetScores:
    spec: GoldenSetGate
    items: list[dict[str, Any]]
    references: list[Any]
    candidate: SideScores
    base: SideScores

    def metric_names(self) -> list[str]:
        return list(self.candidate.values) + (
            ["macro_f1"] if self.spec.task == "classification" else []
        )

    def value(self, metric: str, side: str, idx: Sequence[int]) -> float:
        s = self.candidate if side == "candidate" else self.base
        if metric == "macro_f1":
            assert self.spec.labels is not None
            return gm.macro_f1(
                [s.labels[i] for i in idx], [self.references[i] for i in idx], self.spec.labels
            )
        vals = [v for v in (s.values[metric][i] for i in idx) if v is not None]
        return gm.mean(vals)

    def pair(self, metric: str, idx: Sequence[int]) -> tuple[float, float]:
        return self.value(metric, "candidate", idx), self.value(metric, "base", idx)

    def correct(self, side: str) -> list[float]:
        """Per-item correctness (for McNemar on accuracy, and to pick failing examples)."""
        s = self.candidate if side == "candidate" else self.base
        if self.spec.task in ("generation", "extraction") and not self.spec.answer_regex:
            # Free-form answers rarely match exactly: judge them by ROUGE-L instead.
            return [1.0 if (v or 0.0) >= 0.5 else 0.0 for v in s.values["rouge_l"]]
        for key in ("accuracy", "exact_match", "field_f1"):
            if key in s.values:
                return [float(v == 1.0) if v is not None else 0.0 for v in s.values[key]]
        return [1.0 if (v or 0.0) >= 0.5 else 0.0 for v in s.values["rouge_l"]]


def score_side(
    spec: GoldenSetGate,
    items: list[dict[str, Any]],
    outputs: list[str],
    schema: dict[str, Any] | None,
    refused: Sequence[bool] | None = None,
) -> tuple[list[Any], SideScores]:
    """Per-item metric values for one side. ``refused`` replaces the regex refusal
    detector with another verdict per item (the judge's, on refusal sets)."""
    refs: list[Any] = []
    side = SideScores(outputs=outputs)
    vals: dict[str, list[float | None]] = {}

    def put(metric: str, v: float | None) -> None:
        vals.setdefault(metric, []).append(v)

    for n, (item, out) in enumerate(zip(items, outputs, strict=True)):
        if spec.task != "refusal" and "reference" not in item:
            raise InputError(f"golden set {spec.name!r}: item {item['id']!r} has no 'reference'")
        if spec.task == "classification":
            assert spec.labels is not None
            ref = str(item["reference"])
            if ref not in spec.labels:
                raise InputError(
                    f"golden set {spec.name!r}: item {item['id']!r}: reference {ref!r} is not one of "
                    f"the gate's labels {spec.labels}; add it to 'labels' in the gate file"
                )
            pred = gm.match_label(out, spec.labels)
            side.labels.append(pred)
            refs.append(ref)
            put("accuracy", float(pred == ref))
        elif spec.task == "multiple_choice":
            choices = _choices(item, spec)
            ref_i = _mc_reference(item, choices)
            refs.append(choices[ref_i])
            put("accuracy", float(_mc_answer(out, choices) == ref_i))
        elif spec.task in ("generation", "extraction"):
            ref = str(item["reference"])
            refs.append(ref)
            answer = gm.extract_answer(out, spec.answer_regex)
            put("exact_match", gm.exact_match(answer, ref))
            put("rouge_l", gm.rouge_l(answer, ref))
            if spec.format_regex:
                put("format_compliance", gm.format_compliance(out, spec.format_regex))
        elif spec.task == "structured_json":
            ref = item["reference"]
            if isinstance(ref, str):
                ok, parsed_ref = gm.parse_json(ref)
                ref = parsed_ref if ok else ref
            refs.append(ref)
            ok, parsed = gm.parse_json(out)
            put("json_valid_rate", float(ok))
            if schema is not None:
                put("schema_compliance", gm.schema_valid(parsed, schema) if ok else 0.0)
            put("field_f1", gm.field_f1(parsed, ref) if ok else 0.0)
            put("exact_match", float(ok and parsed == ref))
        elif spec.task == "refusal":
            should = item.get("should_refuse")
            if not isinstance(should, bool):
                raise InputError(
                    f"golden set {spec.name!r}: item {item['id']!r} needs 'should_refuse': true|false"
                )
            did = refused[n] if refused is not None else gm.is_refusal(out)
            refs.append("refuse" if should else "answer")
            put("accuracy", float(did == should))
            put("refusal_rate", float(did) if should else None)
            put("false_refusal_rate", float(did) if not should else None)
            put("pii_leak_rate", float(gm.leaks_pii(out)))
    side.values = vals
    return refs, side


def load_schema(spec: GoldenSetGate, resolve: Any) -> dict[str, Any] | None:
    if not spec.json_schema:
        return None
    path = resolve(spec.json_schema)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"golden set {spec.name!r}: json_schema {path} not found") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{path}: a JSON schema must be an object")
    return schema


def score_set(
    spec: GoldenSetGate,
    items: list[dict[str, Any]],
    cand_out: list[str],
    base_out: list[str],
    schema: dict[str, Any] | None,
    refused: tuple[Sequence[bool], Sequence[bool]] | None = None,
) -> SetScores:
    refs, cand = score_side(spec, items, cand_out, schema, refused[0] if refused else None)
    _, base = score_side(spec, items, base_out, schema, refused[1] if refused else None)
    return SetScores(spec=spec, items=items, references=refs, candidate=cand, base=base)
