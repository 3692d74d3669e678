"""`curagate export` reruns the gate's quick checks on the bundle it wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.errors import InputError
from curagate.export import export_run, load_manifest
from curagate.export.quick import quick_check

from .export_fixtures import QUESTIONS, build_gate, build_run

pytestmark = pytest.mark.slow  # exports and generates with a tiny model (~a second each)


def quick_record(bundle: Path) -> dict[str, Any]:
    record: dict[str, Any] = load_manifest(bundle).verification["quick_checks"]
    return record


def test_a_correct_export_passes_the_quick_checks_on_the_first_items(gated_bundle: Path) -> None:
    (colors,) = quick_record(gated_bundle)["golden_sets"]
    assert colors["name"] == "colors"
    assert colors["item_ids"] == [f"c{i:02d}" for i in range(16)]  # the first 16 of 20
    assert colors["identical_predictions"] == colors["items"] == 16


def test_the_manifest_records_the_gate_and_both_sides_metrics(
    gated_bundle: Path, tiny_gate: Path
) -> None:
    record = quick_record(gated_bundle)
    assert record["gate"]["name"] == "tiny-colors"
    assert record["gate"]["file"] == str(tiny_gate)
    rouge = record["golden_sets"][0]["metrics"]["rouge_l"]
    assert rouge["threshold"] == {"min": 0.0}
    assert rouge["exported"] == rouge["base_plus_adapter"]
    assert "Gate quick checks (gate `tiny-colors`" in (gated_bundle / "README.md").read_text()


def test_without_a_gate_the_manifest_says_why_no_quick_check_ran(tiny_bundle: Path) -> None:
    assert quick_record(tiny_bundle) == {
        "skipped": "no gate given (--gate, or a --gate-report naming its gate file)"
    }


def corrupt_the_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """peft's merge returns a model whose output layer is damaged."""
    import torch
    from peft.tuners.lora import LoraModel
    from peft.tuners.tuners_utils import BaseTuner

    def merge_and_unload(self: Any, *args: Any, **kwargs: Any) -> Any:
        merged = BaseTuner.merge_and_unload(self, *args, **kwargs)
        weight = merged.lm_head.weight.data
        noise = torch.randn(weight.shape, generator=torch.Generator().manual_seed(0))
        weight += 0.4 * float(weight.std()) * noise
        return merged

    monkeypatch.setattr(LoraModel, "merge_and_unload", merge_and_unload)


def test_a_corrupted_merge_that_a_loose_rtol_lets_through_fails_export(
    tiny_run: Path,
    tiny_gate: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupt_the_merge(monkeypatch)
    out = tmp_path / "out"
    args = ["export", str(tiny_run), "--out", str(out), "--gate", str(tiny_gate), "--rtol", "0.5"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "gate quick checks failed" in err
    assert "golden set 'colors', item 'c" in err
    assert 'input:          "what color is the' in err
    assert "base + adapter: " in err and "exported:       " in err
    assert not out.exists()


def test_quick_check_names_the_item_and_both_outputs_for_a_bundle_of_another_adapter(
    tiny_run: Path, tiny_bundle: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    other = build_run(tmp_path / "other", tiny_run.parent / "base", seed=2)
    result = quick_check(other, tiny_bundle, tiny_gate)
    assert not result.passed
    first = result.mismatches[0]
    assert first.golden_set == "colors"
    assert first.input == QUESTIONS[int(first.item_id[1:]) % len(QUESTIONS)][0]
    assert first.reference_output != first.exported_output
    message = result.failure_message("bundle")
    assert f"item {first.item_id!r}" in message
    assert json.dumps(first.exported_output[:400], ensure_ascii=False) in message


def gate_report(run: Path, path: Path, gate: Path, gate_sha256: str) -> Path:
    """The fields of a `curagate gate --candidate RUN` report that export reads."""
    from curagate.gate.models import resolve_model

    digest = resolve_model(str(run)).artifacts["artifact_sha256"]
    report = {
        "schema_version": 2,
        "verdict": "pass",
        "candidate": {
            "kind": "run",
            "spec": str(run),
            "identity": digest,
            "artifact_sha256": digest,
        },
        "base": {"kind": "model_dir", "spec": "base", "identity": "b" * 64},
        "gate": {"name": "tiny-colors", "file": str(gate), "sha256": gate_sha256},
        "checks": [],
    }
    path.write_text(json.dumps(report))
    return path


def test_the_gate_of_a_gate_report_is_used_when_no_gate_is_given(
    tiny_run: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    from curagate.gate import load_gate

    report = gate_report(
        tiny_run, tmp_path / "gate_report.json", tiny_gate, load_gate(tiny_gate).sha256
    )
    result = export_run(tiny_run, tmp_path / "out", gate_report=report)
    assert quick_record(result.out)["gate"]["file"] == str(tiny_gate)


def test_a_gate_changed_since_the_report_is_refused_before_merging(
    tiny_run: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    report = gate_report(tiny_run, tmp_path / "gate_report.json", tiny_gate, "0" * 64)
    with pytest.raises(InputError, match="changed since the report was written"):
        export_run(tiny_run, tmp_path / "out", gate_report=report)


def test_a_report_naming_a_gate_file_that_is_not_utf8_is_an_input_error(
    tiny_run: Path, tmp_path: Path
) -> None:
    # Read as text from the report's `gate.file`: UnicodeDecodeError, exit 3 (the same
    # file given as --gate was exit 2).
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe" + bytes(range(100)))
    report = gate_report(tiny_run, tmp_path / "gate_report.json", binary, "0" * 64)
    with pytest.raises(InputError, match=r"binary\.yaml is not UTF-8 text \(byte 0\)"):
        export_run(tiny_run, tmp_path / "out", gate_report=report)


def test_an_out_that_is_a_symlink_loop_is_an_input_error(tiny_run: Path, tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match=r"--out .*loop: cannot be resolved"):
        export_run(tiny_run, loop)


def test_a_golden_set_changed_since_its_lock_is_an_input_error(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = build_gate(tmp_path / "g")
    data = tmp_path / "g" / "golden" / "colors" / "data.jsonl"
    data.write_text(data.read_text().replace("red", "pink"))
    out = tmp_path / "out"
    assert main(["export", str(tiny_run), "--out", str(out), "--gate", str(gate)]) == 2
    assert "golden set 'colors'" in capsys.readouterr().err
    assert not out.exists()


def test_quick_items_zero_skips_the_quick_checks(
    tiny_run: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    result = export_run(tiny_run, tmp_path / "out", gate=tiny_gate, quick_items=0)
    assert quick_record(result.out) == {"skipped": "--quick-items 0"}


def test_cli_export_prints_the_quick_check_summary(
    tiny_run: Path, tiny_gate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", str(tiny_run), "--out", str(tmp_path / "out"), "--gate", str(tiny_gate)]
    assert main([*args, "--quick-items", "3"]) == 0
    assert "colors: 3/3 predictions identical" in capsys.readouterr().out


def test_an_explicit_gate_wins_over_the_gate_report(
    tiny_run: Path, tiny_gate: Path, tmp_path: Path
) -> None:
    other_gate = tmp_path / "gate.yaml"
    shutil.copy(tiny_gate, other_gate)
    shutil.copytree(tiny_gate.parent / "golden", tmp_path / "golden")
    report = gate_report(tiny_run, tmp_path / "gate_report.json", tiny_gate, "0" * 64)
    result = export_run(tiny_run, tmp_path / "out", gate_report=report, gate=other_gate)
    assert quick_record(result.out)["gate"]["file"] == str(other_gate)


def test_a_gate_without_golden_sets_records_why_no_quick_check_ran(
    tiny_run: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text("schema_version: 1\nname: suite-only\nregression_suite: {tasks: [t]}\n")
    result = export_run(tiny_run, tmp_path / "out", gate=gate)
    assert quick_record(result.out) == {
        "skipped": "gate 'suite-only' has no golden sets (only a regression suite)"
    }
