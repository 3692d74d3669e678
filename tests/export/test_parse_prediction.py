"""The gate's prediction parser, which export's quick checks compare item by item."""

from __future__ import annotations

from typing import Any

import pytest

from curagate.gate.config import GoldenSetGate
from curagate.gate.evaluate import parse_prediction


@pytest.mark.parametrize(
    ("spec", "item", "output", "prediction"),
    [
        (
            {"task": "classification", "labels": ["Positive", "Negative"]},
            {},
            "Negative.",
            "Negative",
        ),
        ({"task": "multiple_choice"}, {"choices": ["x", "y"]}, "(B) y", "B"),
        ({"task": "generation", "answer_regex": r"#### (\d+)"}, {}, "so #### 42", "42"),
        ({"task": "structured_json"}, {}, '```json\n{"b": 1, "a": 2}\n```', '{"a": 2, "b": 1}'),
        ({"task": "structured_json"}, {}, "not json", None),
        ({"task": "refusal"}, {}, "I can't help with that.", "refuse"),
    ],
)
def test_parse_prediction_reads_what_the_gate_scores(
    spec: dict[str, Any], item: dict[str, Any], output: str, prediction: Any
) -> None:
    gate_spec = GoldenSetGate.model_validate({"name": "s", **spec})
    assert parse_prediction(gate_spec, {"id": "i", **item}, output) == prediction
