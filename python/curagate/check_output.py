"""``curagate check`` output: text, GitHub workflow commands, SARIF 2.1.0, JSON.

Light on purpose (a commit hook imports it): the standard library and
curagate.findings (the rules' shape, itself standard library only); the
findings are :class:`curagate.check.CheckFinding` (file, line, rule at its
configured severity, message). Every
format is deterministic: the findings arrive sorted and are written in that
order, so two runs over the same files give the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote

from curagate.findings import Rule

if TYPE_CHECKING:
    from curagate.check import CheckFinding as Finding

OUTPUT_FORMATS = ("text", "github", "sarif", "json")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True, slots=True)
class Cut:
    """What ``--max-findings`` left out."""

    total: int
    shown: int
    by_rule: dict[str, int]

    @property
    def omitted(self) -> int:
        return self.total - self.shown

    def summary(self) -> str:
        rules = ", ".join(f"{r} {n}" for r, n in sorted(self.by_rule.items()))
        return (
            f"{self.omitted} more finding(s) not shown (--max-findings {self.shown}; "
            f"{self.total} in all): {rules}"
        )


def cut(findings: Sequence[Finding], max_findings: int | None) -> tuple[list[Finding], Cut | None]:
    """The findings to print and, when some are left out, what was cut."""
    if max_findings is None or len(findings) <= max_findings:
        return list(findings), None
    kept, rest = list(findings[:max_findings]), findings[max_findings:]
    return kept, Cut(len(findings), len(kept), dict(Counter(f.rule.id for f in rest)))


def _gh_escape(value: str, *, prop: bool) -> str:
    # The escapes of GitHub's workflow-command parser (toolkit's command.ts).
    out = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        out = out.replace(":", "%3A").replace(",", "%2C")
    return out


_GH_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render_text(findings: Sequence[Finding]) -> str:
    return "".join(f"{f}\n" for f in findings)


def render_github(findings: Sequence[Finding], cut_: Cut | None) -> str:
    """One ``::error file=...,line=...`` annotation per finding (GitHub Actions)."""
    lines = []
    for f in findings:
        props = [f"file={_gh_escape(f.file, prop=True)}"]
        if f.line > 0:
            props.append(f"line={f.line}")
        props.append(f"title={_gh_escape(f.rule.id + ' ' + f.rule.name, prop=True)}")
        command = _GH_COMMAND[f.severity.value]
        lines.append(f"::{command} {','.join(props)}::{_gh_escape(f.message, prop=False)}\n")
    if cut_ is not None:
        lines.append(f"::warning title=curagate check::{_gh_escape(cut_.summary(), prop=False)}\n")
    return "".join(lines)


def _uri(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute():
        return "file://" + quote(str(p))
    return quote(str(p))


def render_json(findings: Sequence[Finding], cut_: Cut | None) -> str:
    doc = {
        "version": 1,
        "findings": [f.to_dict() for f in findings],
        "total": cut_.total if cut_ else len(findings),
        "shown": len(findings),
        "omitted_by_rule": dict(sorted(cut_.by_rule.items())) if cut_ else {},
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render_sarif(
    findings: Sequence[Finding],
    rules: Mapping[str, Rule],
    cut_: Cut | None,
    version: str,
) -> str:
    """A SARIF 2.1.0 log with one run: every rule in the driver, one result per finding.

    GitHub code scanning reads ``ruleId``, ``level``, ``message`` and the
    physical location; a finding without a line (a whole Parquet file) has
    no region.
    """
    rule_ids = sorted(rules)
    index = {rid: i for i, rid in enumerate(rule_ids)}
    results = []
    for f in findings:
        location: dict[str, object] = {"artifactLocation": {"uri": _uri(f.file)}}
        if f.line > 0:
            location["region"] = {"startLine": f.line}
        results.append(
            {
                "ruleId": f.rule.id,
                "ruleIndex": index[f.rule.id],
                "level": _SARIF_LEVEL[f.severity.value],
                "message": {"text": f.message},
                "locations": [{"physicalLocation": location}],
            }
        )
    invocation: dict[str, object] = {"executionSuccessful": True}
    if cut_ is not None:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": cut_.summary()}}
        ]
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "curagate",
                "version": version,
                "rules": [
                    {
                        "id": rid,
                        "name": rules[rid].name,
                        "shortDescription": {"text": rules[rid].checks},
                        "help": {"text": rules[rid].fix},
                        "defaultConfiguration": {"level": _SARIF_LEVEL[rules[rid].severity.value]},
                    }
                    for rid in rule_ids
                ],
            }
        },
        "invocations": [invocation],
        "results": results,
    }
    if cut_ is not None:
        run["properties"] = {
            "total": cut_.total,
            "omittedByRule": dict(sorted(cut_.by_rule.items())),
        }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
