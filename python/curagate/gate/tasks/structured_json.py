"""structured_json: the output is a JSON value compared field by field with the reference."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from curagate.gate import metrics as gm
from curagate.gate.tasks.base import Answer, Metric, Scored, Task, register

if TYPE_CHECKING:
    from curagate.gate.config import GoldenSetGate


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
        ref = item["reference"]
        if isinstance(ref, str):
            ok, parsed = gm.parse_json(ref)
            return parsed if ok else ref
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
