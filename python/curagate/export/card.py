"""The bundle's model card, built with ``huggingface_hub.ModelCard``/``ModelCardData``.

Metadata follows the Hub's model card conventions: ``base_model`` (the Hub id
when the import or the base model's card names one) with
``base_model_relation: finetune`` (a merged LoRA fine-tune of one base is a
fine-tune; "merge" means merging several models, "adapter" an unmerged
adapter), ``license`` (``other`` always with a ``license_name``),
``datasets``, ``library_name``, ``pipeline_tag``, tags, and ``model-index``
results when a gate report is given whose attestation verified. The body names files by relative path
only (a card is published; local directories mean nothing elsewhere).

Gate results usually arrive after export, and the card is inside the hashed
bundle, so they live in a sidecar, ``eval_results.json`` (:func:`eval_results`),
that is not part of the bundle's hashes; :func:`card_with_eval_results` renders
a card with them for publishing.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from curagate.artifacts import GateReportDoc, Loaded
from curagate.reports.markdown import md_cell, md_code

EVAL_RESULTS_FILE = "eval_results.json"
EVAL_RESULTS_SCHEMA = "curagate-eval-results/1"

# Licence ids the Hub accepts in `license:`; anything else is `other` plus `license_name`.
HUB_LICENSES = frozenset(
    {
        "apache-2.0",
        "mit",
        "openrail",
        "bigscience-openrail-m",
        "creativeml-openrail-m",
        "bigscience-bloom-rail-1.0",
        "bigcode-openrail-m",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "c-uda",
        "cc",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "wtfpl",
        "ecl-2.0",
        "epl-1.0",
        "epl-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "agpl-3.0",
        "gfdl",
        "gpl",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "lppl-1.3c",
        "ms-pl",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "openrail++",
        "osl-3.0",
        "postgresql",
        "ofl-1.1",
        "ncsa",
        "unlicense",
        "zlib",
        "pddl",
        "lgpl-lr",
        "deepfloyd-if-license",
        "llama2",
        "llama3",
        "llama3.1",
        "llama3.2",
        "llama3.3",
        "gemma",
        "unknown",
        "other",
    }
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _license_fields(license: str) -> dict[str, str]:
    """``license`` (+ ``license_name``): the Hub requires a name with ``other``."""
    value = license.strip()
    if value.lower() in HUB_LICENSES and value.lower() != "other":
        return {"license": value.lower()}
    if value.lower() in ("", "other"):
        return {"license": "other", "license_name": "unknown"}
    slug = re.sub(r"[^a-z0-9.]+", "-", value.lower()).strip("-") or "unknown"
    return {"license": "other", "license_name": slug}


def _relative(path: str) -> str:
    """A path as a published card may show it: relative, POSIX; an absolute path
    (a local directory nobody else has) is reduced to its file name."""
    for flavour in (PureWindowsPath, PurePosixPath):
        p: PurePath = flavour(path)
        if p.is_absolute() or p.drive:
            return p.name
    parts = [x for x in PurePosixPath(path.replace("\\", "/")).parts if x not in ("..", ".")]
    return "/".join(parts) or PurePosixPath(path).name


def _title(run: dict[str, Any], name: str) -> str:
    """The run's name (what the user called the model), not the export directory's."""
    run_name = run.get("name")
    return str(run_name) if isinstance(run_name, str) and run_name.strip() else name


def _base_ref(base_model_id: str) -> str:
    return (
        f"[{base_model_id}](https://huggingface.co/{base_model_id})"
        if _HUB_ID.match(base_model_id)
        else f"`{base_model_id}` (a local model; no Hub id was recorded)"
    )


def eval_results(report: Loaded[GateReportDoc]) -> dict[str, Any]:
    """The gate-results sidecar (``eval_results.json``) for a bundle, from its gate report.

    Deterministic: the report's checks in report order; values as the report rounded them.
    """
    results = []
    for check in report.data.get("checks") or []:
        if not isinstance(check, dict):
            continue
        results.append(
            {
                "check": check.get("id"),
                "name": check.get("name"),
                "golden_set": check.get("golden_set"),
                "metric": check.get("metric"),
                "slice": check.get("slice"),
                "candidate": check.get("candidate"),
                "base": check.get("base"),
                "delta": check.get("delta"),
                "verdict": check.get("verdict"),
            }
        )
    gate = report.data.get("gate") if isinstance(report.data.get("gate"), dict) else {}
    return {
        "schema": EVAL_RESULTS_SCHEMA,
        "gate": (gate or {}).get("name"),
        "gate_report_sha256": report.sha256,
        "candidate_digest": report.doc.candidate.artifact_sha256,
        "verdict": report.doc.verdict,
        "results": results,
    }


def eval_results_json(report: Loaded[GateReportDoc]) -> str:
    return json.dumps(eval_results(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_VERDICT_RANK = {"pass": 0, "warn": 1, "fail": 2}


def _hub_results(results: dict[str, Any]) -> list[Any]:
    """model-index entries: one per golden set and metric a whole-set check tests (slices
    stay in the body), in report order, named with the worst verdict of its checks (a
    threshold and a regression check of one metric were two entries of one number), and
    with the report's verdict where that is worse: a check the gate could not measure has
    no number and so no entry, and "accuracy (gate: pass)" alone read as a pass on a
    failed report."""
    from huggingface_hub import EvalResult

    overall = str(results.get("verdict", "?"))

    found: dict[tuple[str, str], tuple[float, str]] = {}
    for r in results.get("results") or []:
        metric, golden, value = r.get("metric"), r.get("golden_set"), r.get("candidate")
        if not (isinstance(metric, str) and isinstance(golden, str)):
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or r.get("slice"):
            continue
        verdict = str(r.get("verdict", "?"))
        seen = found.setdefault((golden, metric), (value, verdict))
        if _VERDICT_RANK.get(verdict, 3) > _VERDICT_RANK.get(seen[1], 3):
            found[golden, metric] = (seen[0], verdict)
    return [
        EvalResult(
            task_type="text-generation",
            dataset_type=golden,
            dataset_name=golden,
            metric_type=metric,
            metric_value=value,
            metric_name=f"{metric} (gate: {verdict})"
            if _VERDICT_RANK.get(overall, 3) <= _VERDICT_RANK.get(verdict, 3)
            else f"{metric} (check: {verdict}; gate: {overall})",
            verified=False,
        )
        for (golden, metric), (value, verdict) in found.items()
    ]


def _gate_lines(
    results: dict[str, Any] | None, unverified: str | None = None, note: str | None = None
) -> list[str]:
    """The release-gate section; ``unverified``: why the report's attestation was not
    verified (its verdict and numbers are then shown as claims only); ``note``: a sentence
    the registry adds after the verdict (whose report decides, for twins)."""
    if results is None:
        return [
            "No gate report was attached at export time. The registry renders the gate "
            "results that back a version into its card: `curagate registry card NAME VERSION`.",
        ]
    where = (
        f"(gate {md_code(results.get('gate'), table=False)}, report sha256 "
        f"{md_code(str(results.get('gate_report_sha256'))[:12], table=False)})"
    )
    if unverified is not None:
        lines = [
            f"Gate report **not verified** ({md_cell(unverified)}): it claims verdict "
            f"{md_code(results.get('verdict'), table=False)} {where}. Anyone can write a report; "
            "the numbers below are its claims, unchecked, and `model-index` carries none of them.",
        ]
    else:
        lines = [f"Verdict: **{md_cell(results.get('verdict'))}** {where}."]
    if note:
        lines += ["", md_cell(note)]
    rows = results.get("results") or []
    if rows:
        lines += [
            "",
            "| check | golden set | metric | candidate | base | verdict |",
            "|---|---|---|---:|---:|---|",
        ]
        for r in rows:
            cand = "" if r.get("candidate") is None else r.get("candidate")
            base = "" if r.get("base") is None else r.get("base")
            metric = r.get("metric") or ""
            if r.get("slice"):  # a slice's number beside the whole set's, named
                metric = f"{metric} ({r['slice']})"
            lines.append(
                f"| {md_cell(r.get('check') or '')} | {md_cell(r.get('golden_set') or '')} | "
                f"{md_cell(metric)} | {md_cell(cand)} | {md_cell(base)} | "
                f"{md_cell(r.get('verdict') or '')} |"
            )
    return lines


def _quick_lines(record: dict[str, Any] | None) -> list[str]:
    if not record or "skipped" in record:
        return []
    sets = ", ".join(
        f"{md_cell(s['name'])} ({s['identical_predictions']}/{s['items']})"
        for s in record["golden_sets"]
    )
    return [
        f"Gate quick checks (gate {md_code(record['gate']['name'], table=False)}, first {record['items_per_set']} "
        f"items of each golden set, greedy): same parsed predictions as base + adapter on {sets}.",
        "",
    ]


_GATE_HEADING = "## Release gate"


def model_card(
    *,
    run: dict[str, Any],
    name: str,
    base_model_id: str,
    license: str,
    datasets: list[str],
    report: Loaded[GateReportDoc] | None,
    unverified: str | None,
    export_info: dict[str, Any],
    verification: dict[str, Any],
) -> str:
    """README.md of an export bundle (YAML metadata + body), as ``ModelCard`` renders it.

    ``unverified``: why ``report``'s attestation was not verified, or None when it was
    (or there is no report). An unverified report's numbers stay out of ``model-index``.
    """
    from huggingface_hub import ModelCard, ModelCardData

    task = run.get("task") or "sft"
    title = _title(run, name)
    results = eval_results(report) if report is not None else None
    hub_results = _hub_results(results) if results is not None and unverified is None else []
    lic: dict[str, Any] = _license_fields(license)
    data = ModelCardData(
        base_model=base_model_id,
        datasets=list(datasets) or None,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["curagate", "lora", "merged", task],
        model_name=title if hub_results else None,
        eval_results=hub_results or None,
        base_model_relation="finetune",
        **lic,
    )
    lines = [
        f"# {title}",
        "",
        f"A LoRA fine-tune ({task.upper()}) of {_base_ref(base_model_id)}, merged into the base "
        f"weights ({export_info['dtype']}) by `curagate export` from training run "
        f"`{run.get('name')}`.",
        "",
    ]
    if data.license == "other":
        lines += [
            f"License: `{data.license_name}`"
            + (
                " (the base model's card names none: check its terms before publishing)."
                if data.license_name == "unknown"
                else "."
            ),
            "",
        ]
    lines += ["## Training data", ""]
    manifest = run.get("dataset_manifest") or {}
    files = manifest.get("files") or []
    if files:
        lines += ["| file | rows | sha256 |", "|---|---:|---|"]
        lines += [
            f"| {md_code(_relative(str(f.get('path'))))} | {f.get('rows')} | "
            f"{md_code(str(f.get('sha256'))[:12])} |"
            for f in files
        ]
        lines.append(f"\nTotal rows: {manifest.get('total_rows')}.")
    else:
        lines.append("Not recorded in the run.")
    lines += ["", _GATE_HEADING, "", *_gate_lines(results, unverified)]
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
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
    return str(card)


class _NoMetadataNote(logging.Filter):
    """Drops huggingface_hub's "Repo card metadata block was not found" warning: a README
    without front matter is a card with no metadata, which the card then gets (found by
    re-attack: `registry card` printed it on stderr)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "metadata block was not found" not in record.getMessage()


def card_with_eval_results(card_text: str, results: dict[str, Any], note: str | None = None) -> str:
    """The card with a gate-results sidecar rendered in: ``model-index`` and the
    release-gate section (``note``: a sentence after its verdict). What a registry
    publishes for a promoted version; the bundle's own README.md (hashed) is never
    rewritten."""
    from huggingface_hub import ModelCard

    if results.get("schema") != EVAL_RESULTS_SCHEMA:
        raise ValueError(
            f"{EVAL_RESULTS_FILE}: schema {results.get('schema')!r}, expected "
            f"{EVAL_RESULTS_SCHEMA!r}"
        )
    repocard_log = logging.getLogger("huggingface_hub.repocard")
    quiet = _NoMetadataNote()
    repocard_log.addFilter(quiet)
    try:
        card = ModelCard(card_text)
    finally:
        repocard_log.removeFilter(quiet)
    data: Any = card.data  # a ModelCardData: ModelCard parses model metadata
    hub_results = _hub_results(results)
    # model-index is the report's, whatever the bundle's README held: a report with no
    # number for it (a metric not measured fails with none) left export's passing numbers
    # beside a fail (found by attack).
    heading = card.text.lstrip().splitlines()[0] if card.text.strip() else ""
    data.model_name = (
        (data.model_name or heading.removeprefix("# ").strip() or None) if hub_results else None
    )
    data.eval_results = hub_results or None
    text = card.text
    start = text.find(_GATE_HEADING)
    if start >= 0:
        end = text.find("\n## ", start + len(_GATE_HEADING))
        section = "\n".join([_GATE_HEADING, "", *_gate_lines(results, note=note), ""])
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    else:
        text = (
            text.rstrip("\n")
            + "\n\n"
            + "\n".join([_GATE_HEADING, "", *_gate_lines(results, note=note)])
        )
    if not text.endswith("\n"):  # a text file's last line ends (`registry card` printed none)
        text += "\n"
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{text}"))
