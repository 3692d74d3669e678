"""What the gate scores with is what it checked and what its report names; bad inputs
stop it before any model runs (found by attacking the gate, each a test that failed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gate_support import CannedServer, write_set

from curagate.gate import run_gate
from curagate.golden import lock

STRICT = {
    "type": "object",
    "properties": {"n": {"type": "integer", "maximum": 4}},
    "required": ["n"],
}
JSON_ITEMS = [
    {"id": f"j{i}", "prompt": f"Give JSON for {i}", "reference": {"n": i}} for i in range(10)
]


def json_gate(tmp_path: Path, root: Path, schema: Path) -> Path:
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: js\ngolden_dir: {root}\ngeneration: {{max_new_tokens: 16, concurrency: 1}}\n"
        "statistics: {bootstrap_resamples: 100}\ngolden_sets:\n  - name: js\n"
        f"    task: structured_json\n    json_schema: {schema}\n"
        "    metrics: {schema_compliance: {min: 0.9}}\ncontamination: {check: false}\n"
    )
    return gate


def echo_n(prompt: str) -> str:
    return json.dumps({"n": int(prompt.rsplit(" ", 1)[1])})


def test_a_locked_schema_edited_while_models_run_is_not_what_scores(tmp_path) -> None:
    """The schema was read again after generation, from the set folder: an edit made while
    the models ran ({} accepts anything) scored 1.0 under the locked sha256 (exit 0)."""
    root = tmp_path / "golden"
    d = write_set(root, "js", "structured_json", JSON_ITEMS)
    (d / "schema.json").write_text(json.dumps(STRICT))
    yaml = (d / "set.yaml").read_text().replace("[data.jsonl]", "[data.jsonl, schema.json]")
    (d / "set.yaml").write_text(yaml)
    lock(root)
    locked = hashlib.sha256((d / "schema.json").read_bytes()).hexdigest()

    def edit_then_answer(prompt: str) -> str:
        (d / "schema.json").write_text("{}")
        return echo_n(prompt)

    srv = CannedServer(edit_then_answer)
    try:
        out = run_gate(
            json_gate(tmp_path, root, d / "schema.json"), srv.url, srv.url, tmp_path / "o"
        )
    finally:
        srv.close()
    assert (d / "schema.json").read_text() == "{}"  # the edit happened
    assert out.report["results"][0]["metrics"]["schema_compliance"]["candidate"] == 0.5
    assert out.report["verdict"] == "fail" and out.exit_code == 1
    [entry] = out.report["golden_sets"]
    assert entry["json_schema"] == {"file": str(d / "schema.json"), "sha256": locked}


def test_the_report_names_the_bytes_of_an_unlocked_schema(tmp_path) -> None:
    """A schema outside the set (no lock covers it) was not in the report: two runs with the
    same gate and golden sha256 failed and passed on two schemas, indistinguishably."""
    root = tmp_path / "golden"
    write_set(root, "js", "structured_json", JSON_ITEMS)
    lock(root)
    schema = tmp_path / "schema.json"
    srv = CannedServer(echo_n)
    try:
        reports = []
        for k, doc in enumerate((STRICT, {})):
            schema.write_text(json.dumps(doc))
            gate = json_gate(tmp_path, root, schema)
            reports.append(run_gate(gate, srv.url, srv.url, tmp_path / f"o{k}").report)
    finally:
        srv.close()
    assert [r["verdict"] for r in reports] == ["fail", "warn"]
    shas = [r["golden_sets"][0]["json_schema"]["sha256"] for r in reports]
    assert shas == [hashlib.sha256(json.dumps(d).encode()).hexdigest() for d in (STRICT, {})]
    # the signed predicate pins gate_report.json, which now differs in what decided
    assert reports[0]["gate"]["sha256"] == reports[1]["gate"]["sha256"]
