"""structured_json: the output is a JSON value compared field by field with the reference."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from curagate.errors import InputError
from curagate.gate import metrics as gm
from curagate.gate.tasks.base import Answer, Metric, Scored, Task, register

if TYPE_CHECKING:
    from curagate.gate.config import GoldenSetGate

# A reference string meant as an object or array (in a code fence or not).
_OBJECT_OR_ARRAY = re.compile(r"\s*(?:```(?:json)?\s*)?[\[{]")


@register
class StructuredJson(Task):
    name = "structured_json"
    metrics = (
        Metric("json_valid_rate"),
        Metric("schema_compliance", requires="json_schema", hint=" (a path to a JSON schema)"),
        Metric("field_f1"),
        Metric("exact_match"),
    )
    judged = True
    correct_metric = "exact_match"

    def reference(self, item: dict[str, Any], spec: GoldenSetGate) -> Any:
        """The reference as a JSON value: a string holding JSON is parsed; any other
        string is itself the expected JSON string. A string meant as an object or array
        (it starts with ``{`` or ``[``) that is not strict JSON is an error: kept as a
        string, no answer could ever match it."""
        ref = item["reference"]
        if not isinstance(ref, str):
            return ref
        ok, parsed, why = gm.read_json_answer(ref)
        if ok:
            return parsed
        if _OBJECT_OR_ARRAY.match(ref):
            raise InputError(
                f"golden set {spec.name!r}: item {item['id']!r}: 'reference' is not strict "
                f"JSON ({why}); fix it, or write the reference as a JSON value, not a string"
            )
        return ref

    def parse(self, item: dict[str, Any], spec: GoldenSetGate, output: str) -> str | None:
        """The canonical JSON text (sorted keys); None when the output is not JSON."""
        ok, parsed = gm.parse_json(output)
        return json.dumps(parsed, sort_keys=True, ensure_ascii=False) if ok else None

    def score(self, answer: Answer) -> Scored:
        item, spec, output = answer.item, answer.spec, answer.output
        ref = self.reference(item, spec)
        ok, parsed = gm.parse_json(output)
        values: dict[str, float | None] = {"json_valid_rate": float(ok)}
        if answer.schema is not None:
            values["schema_compliance"] = gm.schema_valid(parsed, answer.schema) if ok else 0.0
        values["field_f1"] = gm.field_f1(parsed, ref) if ok else 0.0
        values["exact_match"] = float(ok and gm.json_equal(parsed, ref))
        return Scored(values)
