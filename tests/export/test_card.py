"""The model card as huggingface_hub reads it: metadata, relative paths, a real title, and
gate results from the eval_results.json sidecar (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curagate.artifacts import GateReportDoc, Loaded, parse_artifact
from curagate.export.card import (
    card_with_eval_results,
    eval_results,
    eval_results_json,
    model_card,
)

hub = pytest.importorskip("huggingface_hub")

RUN: dict[str, Any] = {
    "name": "smollm2-polarity",
    "task": "sft",
    "chat_template_sha256": "c" * 64,
    "dataset_manifest": {
        "total_rows": 30,
        "files": [
            {
                "path": "/home/me/project/out/curated/kept/part-0.jsonl",
                "rows": 20,
                "sha256": "a" * 64,
            },
            {"path": "data/../data/val.jsonl", "rows": 10, "sha256": "b" * 64},
        ],
    },
}
VERIFICATION = {
    "max_abs_logit_diff": 1e-5,
    "rtol": 1e-3,
    "max_abs_reference_logit": 20.0,
    "prompts": 4,
}
CHECKS = [
    {"id": "GATE001", "name": "sentiment.accuracy.threshold", "golden_set": "sentiment", "metric": "accuracy", "slice": None, "candidate": 0.85, "base": 0.59, "delta": 0.26, "verdict": "pass"},
    {"id": "GATE003", "name": "sentiment.accuracy.length=short", "golden_set": "sentiment", "metric": "accuracy", "slice": "length=short", "candidate": 0.8, "base": 0.6, "delta": 0.2, "verdict": "pass"},
    {"id": "GATE006", "name": "sentiment.size", "golden_set": "sentiment", "metric": None, "slice": None, "candidate": None, "base": None, "delta": None, "verdict": "warn"},
]  # fmt: skip


def report(checks: list[dict[str, Any]] = CHECKS, verdict: str = "warn") -> Loaded[GateReportDoc]:
    side = {
        "kind": "bundle",
        "spec": "exports/x",
        "identity": "d" * 64,
        "artifact_sha256": "d" * 64,
    }
    data = {
        "schema_version": GateReportDoc.SCHEMA_VERSION,
        "verdict": verdict,
        "candidate": side,
        "base": {**side, "kind": "model_dir"},
        "gate": {"name": "sentiment", "file": "gates/sentiment.yaml", "sha256": "e" * 64},
        "checks": checks,
    }
    raw = json.dumps(data).encode()
    path = Path("gate_report.json")
    return Loaded(path, raw, parse_artifact(GateReportDoc, raw, source=path))


def card(**overrides: Any) -> str:
    kwargs: dict[str, Any] = {
        "run": RUN,
        "name": "export",
        "base_model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "license": "apache-2.0",
        "datasets": ["amazon_polarity"],
        "report": None,
        "unverified": None,
        "export_info": {"dtype": "float32"},
        "verification": VERIFICATION,
    }
    kwargs.update(overrides)
    return model_card(**kwargs)


def test_card_metadata_parses_and_round_trips_with_huggingface_hub() -> None:
    text = card()
    parsed = hub.ModelCard(text)
    meta = parsed.data.to_dict()
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert meta["base_model_relation"] == "finetune"
    assert (meta["license"], meta["library_name"], meta["pipeline_tag"]) == (
        "apache-2.0",
        "transformers",
        "text-generation",
    )
    assert meta["datasets"] == ["amazon_polarity"]
    assert meta["tags"] == ["curagate", "lora", "merged", "sft"]
    assert str(hub.ModelCard(str(parsed))) == str(parsed) == text  # stable round trip


def test_title_is_the_run_name_and_paths_are_relative() -> None:
    text = card()
    body = hub.ModelCard(text).text
    assert "\n# smollm2-polarity\n" in "\n" + body
    assert "# export" not in body
    assert "/home/me" not in text
    assert "| `part-0.jsonl` | 20 |" in body
    assert "| `data/data/val.jsonl` | 10 |" in body
    assert "[HuggingFaceTB/SmolLM2-135M-Instruct](https://huggingface.co/HuggingFaceTB/" in body


@pytest.mark.parametrize(
    ("given", "license", "name"),
    [
        ("other", "other", "unknown"),
        ("My Corp EULA v2", "other", "my-corp-eula-v2"),
        ("MIT", "mit", None),
    ],
)
def test_license_other_always_has_a_license_name(
    given: str, license: str, name: str | None
) -> None:
    meta = hub.ModelCard(card(license=given)).data.to_dict()
    assert meta["license"] == license
    assert meta.get("license_name") == name


def test_a_local_base_model_is_named_as_such() -> None:
    text = card(base_model_id="smollm2-135m-instruct")
    assert hub.ModelCard(text).data.base_model == "smollm2-135m-instruct"
    assert "a local model; no Hub id was recorded" in text


def test_gate_report_at_export_fills_model_index_and_the_gate_section() -> None:
    parsed = hub.ModelCard(card(report=report()))
    [result] = parsed.data.eval_results  # the slice and the size check stay in the body
    assert (result.metric_type, result.metric_value, result.dataset_name) == (
        "accuracy",
        0.85,
        "sentiment",
    )
    assert parsed.data.model_name == "smollm2-polarity"
    assert "Verdict: **warn**" in parsed.text
    assert "| GATE003 | sentiment | accuracy (length=short) | 0.8 | 0.6 | pass |" in parsed.text


def test_model_index_has_one_result_per_golden_set_metric_with_its_worst_verdict() -> None:
    # A threshold and a regression check of one metric were two model-index entries of
    # one number (`registry card` listed accuracy 0.85 twice).
    regression = {**CHECKS[0], "id": "GATE002", "name": "sentiment.accuracy.regression"}
    parsed = hub.ModelCard(card(report=report([*CHECKS, {**regression, "verdict": "warn"}])))
    [result] = parsed.data.eval_results
    assert (result.metric_type, result.metric_value) == ("accuracy", 0.85)
    assert result.metric_name == "accuracy (gate: warn)"


def test_model_index_names_a_worse_report_verdict_beside_a_passing_number() -> None:
    # A second metric the gate could not measure fails the report but has no number, so no
    # entry: model-index showed only "accuracy (gate: pass)" for a failed report.
    unmeasured = {**CHECKS[0], "id": "GATE001", "name": "sentiment.f1.threshold"}
    unmeasured |= {"metric": "f1", "candidate": None, "base": None, "verdict": "fail"}
    parsed = hub.ModelCard(card(report=report([CHECKS[0], unmeasured], verdict="fail")))
    [result] = parsed.data.eval_results
    assert (result.metric_type, result.metric_value) == ("accuracy", 0.85)
    assert result.metric_name == "accuracy (check: pass; gate: fail)"
    assert "Verdict: **fail**" in parsed.text


def test_sidecar_renders_gate_results_into_a_card_exported_without_them(tmp_path: Path) -> None:
    bundle_card = card()
    assert "No gate report was attached at export time" in bundle_card
    sidecar = tmp_path / "eval_results.json"
    sidecar.write_text(eval_results_json(report()))
    results = json.loads(sidecar.read_text())
    assert results["schema"] == "curagate-eval-results/1"  # docs/export.md
    assert results == eval_results(report())
    published = card_with_eval_results(bundle_card, results)
    parsed = hub.ModelCard(published)
    assert [r.metric_value for r in parsed.data.eval_results] == [0.85]
    assert "No gate report was attached" not in parsed.text
    assert "Verdict: **warn**" in parsed.text
    assert "## Verification" in parsed.text  # the sections after the gate's are kept
    assert parsed.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert card_with_eval_results(bundle_card, results) == published  # deterministic


def test_a_report_with_no_number_clears_the_bundles_model_index() -> None:
    # export wrote the run's passing accuracy into model-index; the report that decides
    # failed it unmeasured (no number): `registry card` kept "accuracy 0.85 (gate: pass)"
    # above "Verdict: fail" (found by attack).
    exported = card(report=report())
    assert hub.ModelCard(exported).data.eval_results
    unmeasured = {**CHECKS[0], "candidate": None, "base": None, "verdict": "fail"}
    published = card_with_eval_results(exported, eval_results(report([unmeasured])))
    parsed = hub.ModelCard(published)
    assert not parsed.data.eval_results and parsed.data.model_name is None
    assert "model-index" not in published


def test_sidecar_of_another_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        card_with_eval_results(card(), {"schema": "something-else"})


def test_an_unverified_gate_report_is_shown_as_claims_and_kept_out_of_model_index() -> None:
    parsed = hub.ModelCard(card(report=report(), unverified="unsigned: no attestation"))
    assert not parsed.data.eval_results
    assert "Verdict: **warn**" not in parsed.text
    assert "Gate report **not verified** (unsigned: no attestation)" in parsed.text
