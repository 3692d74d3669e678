"""Every rule id in code is documented in docs (what / why / fix), and every id in docs is in code.

The rules of the audit (docs/audit.md), of training health (docs/train.md) and of the gate
(docs/gate.md) are declared in code beside their checks (curagate.findings.Rule); the docs
repeat the same text. This test reads the docs independently of how the code formats them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from curagate.audit.rules import RULES as AUDIT_RULES
from curagate.findings import Rule
from curagate.gate.checks import RULES as GATE_RULES
from curagate.gate.tasks import get_task, task_names
from curagate.train.health import RULES as HEALTH_RULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _section(doc: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next ``## ``."""
    return doc.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _gate_table() -> dict[str, list[str]]:
    """docs/gate.md's "Checks" table: id -> [name, what, why, fix]."""
    rows = {}
    for line in _section((DOCS / "gate.md").read_text(encoding="utf-8"), "Checks").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if re.fullmatch(r"GATE\d{3}", cells[0]):
            rows[cells[0]] = cells[1:]
    return rows


def _health_sections() -> dict[str, tuple[str, str, dict[str, str]]]:
    """docs/train.md's "### THnnn name (severity)" sections: id -> (name, severity, bullets)."""
    doc = _section((DOCS / "train.md").read_text(encoding="utf-8"), "Training-health findings")
    out = {}
    for part in doc.split("\n### ")[1:]:
        head, _, body = part.partition("\n")
        m = re.fullmatch(r"(TH\d{3}) (\S+) \((\w+)\)", head.strip())
        assert m, f"docs/train.md: heading {head!r} is not 'THnnn name (severity)'"
        bullets: dict[str, str] = {}
        for item in re.split(r"\n- ", "\n" + body.strip())[1:]:
            key, _, text = item.partition(":** ")
            bullets[key.removeprefix("**")] = " ".join(text.split())
        out[m.group(1)] = (m.group(2), m.group(3), bullets)
    return out


def _audit_ids() -> set[str]:
    doc = _section((DOCS / "audit.md").read_text(encoding="utf-8"), "Rules")
    return set(re.findall(r"^### ([A-Z]+\d{3}) ", doc, flags=re.MULTILINE))


def test_every_documented_rule_id_exists_in_code() -> None:
    assert set(_gate_table()) == set(GATE_RULES)
    assert set(_health_sections()) == set(HEALTH_RULES)
    assert _audit_ids() == set(AUDIT_RULES)


@pytest.mark.parametrize(
    "rule", sorted(GATE_RULES.values(), key=lambda r: r.id), ids=lambda r: r.id
)
def test_gate_rule_documented_what_why_fix(rule: Rule) -> None:
    assert _gate_table()[rule.id] == [rule.name, rule.checks, rule.why, rule.fix]


@pytest.mark.parametrize(
    "rule", sorted(HEALTH_RULES.values(), key=lambda r: r.id), ids=lambda r: r.id
)
def test_health_rule_documented_what_why_fix(rule: Rule) -> None:
    name, severity, bullets = _health_sections()[rule.id]
    assert (name, severity) == (rule.name, rule.severity.value)
    # The docs write sentences ("- **What:** the ..."); code keeps them lower case.
    assert bullets == {"What": rule.checks, "Why": rule.why, "Fix": rule.fix}


def test_gate_metrics_table_lists_every_task_and_its_metrics() -> None:
    """docs/gate.md's "Metrics" table names each registered task type and each metric it computes."""
    table = _section((DOCS / "gate.md").read_text(encoding="utf-8"), "Metrics")
    documented: dict[str, set[str]] = {}
    for line in table.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("task", "---") or cells[0].startswith("any set"):
            continue
        metrics = set(re.findall(r"`(\w+)`", cells[1].split(";")[0]))
        for task in cells[0].split(", "):
            documented[task] = metrics
    assert set(documented) == set(task_names())
    for name in task_names():
        assert documented[name] == {m.name for m in get_task(name).metrics}, name


def test_the_documented_local_hook_selects_what_the_shipped_hook_selects() -> None:
    # Found by attack: the offline `repo: local` snippet in docs/audit.md had no `types`,
    # so pre-commit's default ([file]) left staged symbolic links out and a link to a
    # golden set was committed unchecked; the shipped manifest had the fix.
    import yaml

    doc = (DOCS / "audit.md").read_text(encoding="utf-8")
    [snippet] = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", doc, re.S)
        if "repo: local" in block and "curagate check" in block
    ]
    [local] = yaml.safe_load(snippet)["repos"][0]["hooks"]
    [shipped] = yaml.safe_load((DOCS.parent / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    for key in ("entry", "args", "files", "exclude", "types", "types_or", "require_serial"):
        assert local.get(key) == shipped.get(key), key
