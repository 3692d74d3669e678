"""Write docs/audit.md's "Rules" section from the audit rule registry.

    PYTHONPATH=python python scripts/audit_rules_doc.py          # rewrite the section
    PYTHONPATH=python python scripts/audit_rules_doc.py --check  # exit 1 if it is stale

The section is everything after the ``## Rules`` heading (the last section of
the page); tests/audit/test_audit_docs.py fails when it differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from curagate.audit.rules import rules_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "audit.md"
HEADING = "\n## Rules\n\n"


def render(doc: str) -> str:
    head = doc.split(HEADING, 1)[0]
    return head + HEADING + rules_markdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report whether it is stale")
    args = ap.parse_args()
    doc = DOC.read_text(encoding="utf-8")
    new = render(doc)
    if args.check:
        if new != doc:
            print(
                f"{DOC}: the Rules section is stale; run scripts/audit_rules_doc.py",
                file=sys.stderr,
            )
            return 1
        return 0
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(DOC)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
