"""The bundle's model card: Hugging Face YAML metadata plus a short, factual body.

Metadata follows the Hub's model card conventions: ``base_model`` with
``base_model_relation: finetune`` (a merged LoRA fine-tune of one base is a
fine-tune; "merge" means merging several models, "adapter" an unmerged
adapter), ``library_name: transformers`` and, when a gate report is given,
``model-index`` results taken from its checks.
"""

from __future__ import annotations

from typing import Any

import yaml

from curagate.artifacts import GateReportDoc, Loaded


def _results(report: Loaded[GateReportDoc], name: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for check in report.data.get("checks") or []:
        if not isinstance(check, dict):
            continue
        metric, golden, value = check.get("metric"), check.get("golden_set"), check.get("candidate")
        if not (
            isinstance(metric, str) and isinstance(golden, str) and isinstance(value, int | float)
        ):
            continue
        if check.get("slice"):
            continue
        results.append(
            {
                "task": {"type": "text-generation"},
                "dataset": {"name": golden, "type": golden},
                "metrics": [
                    {
                        "type": metric,
                        "value": value,
                        "name": f"{metric} (gate: {check.get('verdict', '?')})",
                        "verified": False,
                    }
                ],
            }
        )
    return [{"name": name, "results": results}] if results else []


def _quick_lines(record: dict[str, Any] | None) -> list[str]:
    if not record or "skipped" in record:
        return []
    sets = ", ".join(
        f"{s['name']} ({s['identical_predictions']}/{s['items']})" for s in record["golden_sets"]
    )
    return [
        f"Gate quick checks (gate `{record['gate']['name']}`, first {record['items_per_set']} "
        f"items of each golden set, greedy): same parsed predictions as base + adapter on {sets}.",
        "",
    ]


def model_card(
    *,
    run: dict[str, Any],
    name: str,
    base_model_id: str,
    license: str,
    datasets: list[str],
    report: Loaded[GateReportDoc] | None,
    export_info: dict[str, Any],
    verification: dict[str, Any],
) -> str:
    task = run.get("task") or "sft"
    meta: dict[str, Any] = {
        "base_model": base_model_id,
        "base_model_relation": "finetune",
        "library_name": "transformers",
        "license": license,
        "pipeline_tag": "text-generation",
        "tags": ["curagate", "lora", "merged", task],
    }
    if datasets:
        meta["datasets"] = datasets
    if report is not None:
        index = _results(report, name)
        if index:
            meta["model-index"] = index
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)

    lines = [
        f"---\n{front}---",
        "",
        f"# {name}",
        "",
        f"A LoRA fine-tune ({task.upper()}) of `{base_model_id}`, merged into the base weights "
        f"({export_info['dtype']}) by `curagate export` from training run `{run.get('name')}`.",
        "",
        "## Training data",
        "",
    ]
    manifest = run.get("dataset_manifest") or {}
    files = manifest.get("files") or []
    if files:
        lines += ["| file | rows | sha256 |", "|---|---:|---|"]
        lines += [
            f"| `{f.get('path')}` | {f.get('rows')} | `{str(f.get('sha256'))[:12]}` |"
            for f in files
        ]
        lines.append(f"\nTotal rows: {manifest.get('total_rows')}.")
    else:
        lines.append("Not recorded in the run.")
    lines += ["", "## Release gate", ""]
    if report is None:
        lines.append("No gate report was attached at export time.")
    else:
        lines.append(
            f"Verdict: **{report.doc.verdict}** (gate report sha256 `{report.sha256[:12]}`)."
        )
        checks = [c for c in report.data.get("checks") or [] if isinstance(c, dict)]
        if checks:
            lines += [
                "",
                "| check | golden set | metric | candidate | base | verdict |",
                "|---|---|---|---:|---:|---|",
            ]
            for c in checks:
                lines.append(
                    f"| {c.get('id', '')} | {c.get('golden_set') or ''} | {c.get('metric') or ''} | "
                    f"{'' if c.get('candidate') is None else c.get('candidate')} | "
                    f"{'' if c.get('base') is None else c.get('base')} | {c.get('verdict', '')} |"
                )
    lines += [
        "",
        "## Verification",
        "",
        f"Reloaded with plain transformers after writing: max |logit difference| against base + "
        f"adapter {verification['max_abs_logit_diff']:g} (accepted: {verification['rtol']:g} x the "
        f"largest |logit| {verification['max_abs_reference_logit']:g}) on "
        f"{verification['prompts']} prompts; weights bit-identical after reload; chat template "
        "identical to training "
        f"(sha256 `{str(run.get('chat_template_sha256'))[:12]}`).",
        "",
        *_quick_lines(verification.get("quick_checks")),
        "`MANIFEST.json` records the sha256 of every file and the full lineage (base model and "
        "adapter hashes, training config, dataset manifest, golden-set hashes, library versions). "
        "Check the bundle with `curagate verify <dir>`.",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'tok = AutoTokenizer.from_pretrained("path/to/bundle")',
        'model = AutoModelForCausalLM.from_pretrained("path/to/bundle")',
        'ids = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, return_tensors="pt")',
        "print(tok.decode(model.generate(ids, max_new_tokens=64)[0]))",
        "```",
        "",
    ]
    return "\n".join(lines)
