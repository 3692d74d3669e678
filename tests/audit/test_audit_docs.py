"""docs/audit.md documents every rule; the shipped examples stay valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from curagate.audit import RULES, load_config
from curagate.audit.rules import rules_markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_is_documented_what_why_fix(rule: str) -> None:
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    r = RULES[rule]
    heading = f"### {r.id} `{r.name}`"
    assert heading in doc
    section = doc.split(heading, 1)[1].split("\n### ", 1)[0]
    assert f"**What it checks.** {r.checks}" in section
    assert f"**Why it matters.** {r.why}" in section
    assert f"**How to fix.** {r.fix}" in section
    assert f"Default severity: **{r.severity.value}**" in section


def test_rules_section_is_the_registry_rendered() -> None:
    """Every registered rule, in registry order, and nothing else (both directions):
    regenerate with ``scripts/audit_rules_doc.py``."""
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    assert doc.split("\n## Rules\n\n", 1)[1] == rules_markdown()


def test_example_audit_config_is_valid() -> None:
    cfg = load_config(ROOT / "examples" / "audit.yaml")
    assert cfg.rules["PII004"].severity == "off"
    assert cfg.leakage.reference == [ROOT / "examples" / ".." / "golden_sets"]


def test_example_ci_workflow_runs_check_and_audit() -> None:
    wf = yaml.safe_load(
        (ROOT / "examples" / "ci" / "curagate-data.yml").read_text(encoding="utf-8")
    )
    runs = [s.get("run", "") for s in wf["jobs"]["check"]["steps"]]
    assert any(r.startswith("curagate check ") for r in runs)
    assert any(r.startswith("curagate audit ") for r in runs)
