"""The bundled structured-JSON golden set (golden_sets/ag_news_json) through the gate.

Canned OpenAI-compatible endpoints stand in for models, so these tests check the set itself
(locked data + schema, references the metrics can score) and what each JSON metric catches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_support import CannedServer

from curagate import golden
from curagate.gate import GateOutcome, run_gate

# Seconds each (registries, gates or splits built end to end): the full suite's tier.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "golden_sets"
SET = GOLDEN / "ag_news_json"

GATE = """\
name: news-json
golden_dir: {golden}
generation: {{max_new_tokens: 96}}
golden_sets:
  - name: ag_news_json
    task: structured_json
    json_schema: {schema}
    metrics:
      json_valid_rate: {{min: 0.99}}
      schema_compliance: {{min: 0.99}}
      field_f1: {{min: 0.9}}
    slices:
      - column: agency
        min_items: 20
        metrics: {{field_f1: {{min: 0.8}}}}
contamination: {{check: false}}
"""


def _references() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (SET / "data.jsonl").read_text().splitlines()]
    return {r["prompt"]: r["reference"] for r in rows}


REFS = _references()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[dict[str, Any]], str]], str]]:
    """Start an endpoint answering each item from its reference; returns its URL."""
    started: list[CannedServer] = []

    def start(answer: Callable[[dict[str, Any]], str]) -> str:
        server = CannedServer(lambda prompt: answer(REFS[prompt]))
        started.append(server)
        return server.url

    yield start
    for s in started:
        s.close()


def _gate(tmp_path: Path, candidate: str, base: str) -> GateOutcome:
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE.format(golden=GOLDEN, schema=SET / "schema.json"))
    return run_gate(gate, candidate, base, tmp_path / "out", cache_dir=tmp_path / "cache")


def _fenced(ref: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(ref) + "\n```"


def _prose(ref: dict[str, Any]) -> str:
    return f"The article is about {ref['topic']}, reported by {ref['source']}."


def test_the_set_is_locked_with_its_schema_and_provenance() -> None:
    s = golden.load_locked(GOLDEN, "ag_news_json")
    assert (s.task, s.size) == ("structured_json", 96)
    assert set(s.files) == {"data.jsonl", "schema.json"}
    assert "ag_news_classify_with_choices.jsonl" in s.provenance
    assert s.license_file == "LICENSE" and (SET / "LICENSE").is_file()


def test_every_reference_satisfies_the_schema() -> None:
    # Checked with jsonschema itself, not with the gate's schema_valid metric under test.
    import jsonschema

    schema = json.loads((SET / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for ref in REFS.values():
        validator.validate(ref)
    # The schema really constrains: the capitalized topic of the test below is refused.
    ref = next(iter(REFS.values()))
    assert not validator.is_valid({**ref, "topic": ref["topic"].capitalize()})


def test_reference_answers_pass_and_beat_a_prose_base(tmp_path: Path, serve: Any) -> None:
    out = _gate(tmp_path, serve(_fenced), serve(_prose))
    metrics = out.report["results"][0]["metrics"]
    for name in ("json_valid_rate", "schema_compliance", "field_f1", "exact_match"):
        assert metrics[name]["candidate"] == 1.0 and metrics[name]["base"] == 0.0
        assert metrics[name]["significant"]
    # a small set; the contamination check turned off in the gate file (a warning)
    assert [c["id"] for c in out.report["checks"] if c["verdict"] != "pass"] == [
        "GATE006",
        "GATE005",
    ]
    assert (out.report["verdict"], out.exit_code) == ("warn", 0)  # 96 items < 200


def test_schema_compliance_fails_what_field_f1_forgives(tmp_path: Path, serve: Any) -> None:
    # "Business" instead of "business": field F1 normalizes case, the schema's enum does not.
    def capitalized(ref: dict[str, Any]) -> str:
        return json.dumps({**ref, "topic": ref["topic"].capitalize()})

    out = _gate(tmp_path, serve(capitalized), serve(_fenced))
    metrics = out.report["results"][0]["metrics"]
    assert metrics["json_valid_rate"]["candidate"] == 1.0
    assert metrics["field_f1"]["candidate"] == 1.0
    assert metrics["schema_compliance"]["candidate"] == 0.0
    failed = [(c["id"], c["metric"]) for c in out.report["checks"] if c["verdict"] == "fail"]
    assert failed == [("GATE001", "schema_compliance"), ("GATE002", "schema_compliance")]
    assert out.exit_code == 1


def test_truncated_json_fails_validity_and_the_slices(tmp_path: Path, serve: Any) -> None:
    out = _gate(tmp_path, serve(lambda ref: json.dumps(ref)[:-1]), serve(_fenced))
    r = out.report
    assert r["results"][0]["metrics"]["json_valid_rate"]["candidate"] == 0.0
    failed = {(c["id"], c["metric"]) for c in r["checks"] if c["verdict"] == "fail"}
    assert ("GATE001", "json_valid_rate") in failed
    slices = [c["slice"] for c in r["checks"] if c["id"] == "GATE003" and c["verdict"] == "fail"]
    assert slices == ["agency=AP", "agency=Reuters", "agency=other"]
    assert (r["verdict"], out.exit_code) == ("fail", 1)
