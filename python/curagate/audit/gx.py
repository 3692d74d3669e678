"""The audit's column-level rules as a Great Expectations suite (``--gx``).

GX validates a derived per-row table (one row per valid record: its
``file:line`` reference, lengths, format-violation count, dedup
fingerprint, per-rule PII/secret hit counts, label, leakage flag), never the
raw text, so GX's result (which lists unexpected values) cannot leak the
PII and secrets it counts. Each expectation carries its curagate rule id in
``meta.rule``. Dataset-level rules with no GX counterpart (length bias,
conversation mix, label imbalance) stay in audit.json only.

Writes ``gx/expectation_suite.json`` and ``gx/validation_result.json`` (GX's
own JSON). GX gives the suite, each expectation and the validation a fresh
random id every run; they are replaced by ids derived from what they name
(uuid5), so the suite is the same bytes for the same rules and only the
result's run time (``run_id.run_time``, ``validation_time``, ``ge_load_time``)
differs from run to run.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from curagate import progress
from curagate.audit.config import AuditConfig
from curagate.audit.engine import AuditResult
from curagate.audit.rules import RULES
from curagate.errors import CuragateError, MissingExtraError
from curagate.io.atomic import write_text_atomic

SUITE_NAME = "curagate-audit"
_GX_SEVERITY = {"error": "critical", "warning": "warning", "info": "info"}


def build_expectations(result: AuditResult, cfg: AuditConfig) -> list[Any]:
    """One GX expectation per column-level rule that applies to this data."""
    import great_expectations as gx

    e: Any = gx.expectations  # GX does not re-export its expectation classes to type checkers
    table = result.table or {}
    stats = result.report["stats"]
    out: list[Any] = []

    found = {f["rule"]: f["severity"] for f in result.report.get("findings", [])}

    def level(rule: str) -> str:
        """The rule's severity in this audit: as its finding says (``error_above`` raises
        a warning to an error), else as ``rules.<ID>`` re-levels it."""
        if rule in found:
            return str(found[rule])
        rc = cfg.rules.get(rule)
        return rc.severity if rc is not None and rc.severity else RULES[rule].severity.value

    def severity(rule: str) -> str:
        return _GX_SEVERITY[level(rule)]

    def meta(rule: str, **extra: Any) -> dict[str, Any]:
        return {"rule": rule, "name": RULES[rule].name, "severity": level(rule), **extra}

    # Every structural format rule switched on, counted per row (the table counts only
    # those): FMT002 off dropped the others' expectation, FMT004 off was still counted.
    covers = [
        r for r in ("FMT002", "FMT003", "FMT004", "FMT005", "FMT006", "FMT007") if cfg.enabled(r)
    ]
    if covers:
        worst = min((level(r) for r in covers), key=["error", "warning", "info"].index)
        out.append(
            e.ExpectColumnValuesToBeBetween(
                column="format_violations",
                min_value=0,
                max_value=0,
                severity=_GX_SEVERITY[worst],
                meta={**meta(covers[0], covers=covers), "severity": worst},
            )
        )
    chars = stats["lengths"]["chars"]
    if cfg.enabled("LEN001"):
        for series, column in (("input", "input_chars"), ("output", "output_chars")):
            thr = chars.get(series, {}).get("outlier_threshold")
            if thr is not None:
                out.append(
                    e.ExpectColumnValuesToBeBetween(
                        column=column,
                        max_value=thr,
                        severity=severity("LEN001"),
                        meta=meta("LEN001", series=series),
                    )
                )
    if "rendered_tokens" in table and cfg.enabled("LEN003"):
        out.append(
            e.ExpectColumnValuesToBeBetween(
                column="rendered_tokens",
                max_value=cfg.tokens.max_seq_len,
                severity=severity("LEN003"),
                meta=meta("LEN003"),
            )
        )
    if "label" in table and cfg.enabled("LBL002"):
        out.append(
            e.ExpectColumnValuesToNotBeNull(
                column="label", severity=severity("LBL002"), meta=meta("LBL002")
            )
        )
    for rid in ("PII001", "PII002", "PII003", "PII004", "PII005", "SEC001", "SEC002"):
        if cfg.enabled(rid):
            out.append(
                e.ExpectColumnValuesToBeBetween(
                    column=rid, min_value=0, max_value=0, severity=severity(rid), meta=meta(rid)
                )
            )
    if cfg.enabled("DUP001"):
        out.append(
            e.ExpectColumnValuesToBeUnique(
                column="dedup_key", severity=severity("DUP001"), meta=meta("DUP001")
            )
        )
    if cfg.leakage.reference and cfg.enabled("LEAK001"):
        out.append(
            e.ExpectColumnValuesToBeInSet(
                column="leaked",
                value_set=[False],
                severity=severity("LEAK001"),
                meta=meta("LEAK001"),
            )
        )
    return out


def validate(result: AuditResult, cfg: AuditConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the suite on the derived table; returns (suite JSON, validation result JSON)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    try:
        import great_expectations as gx
        import pandas as pd
    except ImportError as e:
        raise MissingExtraError("audit", e.name or "great_expectations") from e
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    if not result.table or not result.table.get("ref"):
        raise CuragateError("--gx: no valid record to validate (every row was unreadable)")
    df = pd.DataFrame(result.table)
    context = gx.get_context(mode="ephemeral")
    if not progress.enabled():
        # Under --quiet, or off a terminal, no library bar (as every curagate bar): GX's
        # tqdm "Calculating Metrics" bars went to stderr, into CI logs.
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name="curagate")
    asset = source.add_dataframe_asset(name="audit")
    batch_def = asset.add_batch_definition_whole_dataframe("all rows")
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    for exp in build_expectations(result, cfg):
        suite.add_expectation(exp)
    vd = context.validation_definitions.add(
        gx.ValidationDefinition(name="curagate-audit-validation", data=batch_def, suite=suite)
    )
    res: Any = vd.run(
        batch_parameters={"dataframe": df},
        result_format={
            "result_format": "SUMMARY",
            "unexpected_index_column_names": ["ref"],
            "partial_unexpected_count": cfg.max_row_refs,
        },
    )
    return _stable_ids(suite.to_json_dict(), res.to_json_dict(), str(vd.id) if vd.id else None)


# The namespace of the ids that replace GX's random ones (a fixed, arbitrary uuid).
_ID_SPACE = uuid.UUID("6f1c2a1e-3b5d-4c47-9a0e-5d2b7c8e9f10")


def _stable_ids(
    suite: dict[str, Any], res: dict[str, Any], validation_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The suite and result with GX's random uuid4s (suite, expectations, validation)
    replaced everywhere by uuid5s of what each names: the suite file of the same rules
    was different bytes on every run (by attack)."""
    name = str(suite.get("name", ""))
    ids: dict[str, str] = {}
    for i, exp in enumerate(suite.get("expectations", [])):
        content = json.dumps(
            {k: v for k, v in exp.items() if k != "id"}, sort_keys=True, default=str
        )
        if exp.get("id"):
            ids[str(exp["id"])] = str(uuid.uuid5(_ID_SPACE, f"{name}\x1f{i}\x1f{content}"))
    if suite.get("id"):
        ids[str(suite["id"])] = str(
            uuid.uuid5(_ID_SPACE, f"suite\x1f{name}\x1f" + "\x1f".join(ids.values()))
        )
    if validation_id:
        # The validation definition's id: it names the suite it runs, so two audits with
        # other suites have other ids (with the suite's name alone, every audit had the same
        # one: by re-attack).
        suite_id = ids.get(str(suite.get("id")), "")
        ids[validation_id] = str(uuid.uuid5(_ID_SPACE, f"validation\x1f{name}\x1f{suite_id}"))
    return _replace_ids(suite, ids), _replace_ids(res, ids)


def _replace_ids(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_ids(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def write_gx(result: AuditResult, cfg: AuditConfig, out: Path) -> dict[str, Path]:
    suite, res = validate(result, cfg)
    paths = {
        "suite": out / "gx" / "expectation_suite.json",
        "result": out / "gx" / "validation_result.json",
    }
    write_text_atomic(
        paths["suite"], json.dumps(suite, indent=2, sort_keys=True, default=str) + "\n"
    )
    write_text_atomic(
        paths["result"], json.dumps(res, indent=2, sort_keys=True, default=str) + "\n"
    )
    return paths
