"""List, show, register, promote and roll back model versions.

The registry is a SQLite file (default .curagate/registry.db, or
$CURAGATE_REGISTRY, or --db). Promotion to production needs a passing gate
report for exactly the registered artifact; every transition is logged with
who, when (UTC) and why.

examples:
  curagate registry register exports/support-bot --name support-bot --reason "first cut"
  curagate registry promote support-bot 1 --to staging --reason "QA"
  curagate registry promote support-bot 1 --to production --gate-report gate/gate_report.json
  curagate registry rollback support-bot --reason "latency regression"
  curagate registry list
  curagate registry show support-bot 1 --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from curagate.registry import STAGES, Registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="registry database (default: $CURAGATE_REGISTRY or .curagate/registry.db)",
    )
    sub = parser.add_subparsers(dest="registry_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        # Also accepted after the action (`registry list --db X`); SUPPRESS keeps the parent's value.
        p.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="registry database")
        return p

    def who_why(p: argparse.ArgumentParser) -> None:
        p.add_argument("--actor", help="who makes the change (default: $USER)")
        p.add_argument("--reason", default="", help="why; recorded in the audit log")

    p = action("list", "list model versions and their stages")
    p.add_argument("name", nargs="?", help="only this model name")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = action("show", "show one version (or every version of a name) with gate reports and log")
    p.add_argument("name")
    p.add_argument("version", nargs="?", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = action("register", "register an exported bundle as the next version of NAME")
    p.add_argument("bundle", type=Path, help="directory written by `curagate export`")
    p.add_argument("--name", required=True)
    p.add_argument("--gate-report", type=Path, help="gate_report.json for this bundle")
    who_why(p)

    p = action("promote", "move a version forward: experiment → staging → production → archived")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--to", required=True, choices=STAGES[1:])
    p.add_argument(
        "--gate-report",
        type=Path,
        help="gate_report.json (required for production unless recorded before)",
    )
    who_why(p)

    p = action("rollback", "restore the previous production version of NAME")
    p.add_argument("name")
    who_why(p)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def run(args: argparse.Namespace) -> int:
    action = args.registry_command
    with Registry(args.db, create=action in ("register",)) as reg:
        if action == "list":
            versions = reg.list_versions(args.name)
            if args.json:
                print(json.dumps([v.to_dict() for v in versions], indent=2, sort_keys=True))
            elif versions:
                rows = [["NAME", "VERSION", "STAGE", "DIGEST", "CREATED"]]
                rows += [
                    [v.name, str(v.version), v.stage, v.artifact_digest[:12], v.created_at]
                    for v in versions
                ]
                print(_table(rows))
            else:
                print("no model versions registered")
            return 0
        if action == "show":
            versions = (
                [reg.get(args.name, args.version)] if args.version else reg.list_versions(args.name)
            )
            if not versions:
                reg.get(args.name, 1)  # raises the "unknown name" error
            out = []
            for v in versions:
                d = v.to_dict()
                d["gate_reports"] = [g.to_dict() for g in reg.gate_reports(v.name, v.version)]
                d["transitions"] = [t.to_dict() for t in reg.transitions(v.name, v.version)]
                out.append(d)
            if args.json:
                print(json.dumps(out[0] if args.version else out, indent=2, sort_keys=True))
                return 0
            for d in out:
                print(f"{d['name']} v{d['version']}  [{d['stage']}]")
                print(f"  artifact  {d['artifact_digest']}  {d['artifact_path']}")
                for g in d["gate_reports"]:
                    print(f"  gate      {g['verdict']:<5} {g['sha256'][:12]}  {g['path']}")
                for t in d["transitions"]:
                    frm = t["from_stage"] or "-"
                    print(
                        f"  {t['at']}  {t['action']:<8} {frm} → {t['to_stage']}  by {t['actor']}: {t['reason']}"
                    )
            return 0
        if action == "register":
            v = reg.register(
                args.bundle,
                name=args.name,
                actor=args.actor,
                reason=args.reason,
                gate_report=args.gate_report,
            )
            print(f"registered {v.ref} ({v.artifact_digest[:12]}) in {v.stage}")
            return 0
        if action == "promote":
            v = reg.promote(
                args.name,
                args.version,
                to=args.to,
                actor=args.actor,
                reason=args.reason,
                gate_report=args.gate_report,
            )
            print(f"{v.ref} is now in {v.stage}")
            return 0
        v = reg.rollback(args.name, actor=args.actor, reason=args.reason)
        print(f"rolled back: {v.ref} is in production again")
        return 0
