"""List, show, register, promote and roll back model versions; trust keys; check the log.

The registry is a SQLite file (default .curagate/registry.db, or $CURAGATE_REGISTRY,
or --db). Promotion to production needs a gate attestation signed by a trusted,
unrevoked gate key, for exactly the registered artifact, with verdict pass; every
report offered is recorded, accepted or not. Every change is a row of a
hash-chained log that `registry check` replays.

examples:
  curagate registry trust add keys/signing_key.pub --role gate --name ci
  curagate registry trust add keys/signing_key.pub --role export --name ci
  curagate registry register exports/support-bot --name support-bot --reason "first cut"
  curagate registry promote support-bot 1 --to production --gate-report gate/gate_report.json
  curagate registry rollback support-bot --reason "latency regression"
  curagate registry list
  curagate registry show support-bot 1 --json
  curagate registry check --head "$(cat registry-head.txt)"
  curagate registry users add alice --role approver     # prints alice's token, last line
  curagate registry users token                         # bob, on his machine: his token + a code
  curagate registry users add bob --role approver --enrollment cge1_...  # bob's token stays his
  curagate registry users add ci --role uploader        # CI: uploads reports through serve, nothing else
  CURAGATE_TOKEN=... curagate registry request support-bot 2 --to production --reason "ok"
  CURAGATE_TOKEN=... curagate registry approve 1        # a second approver
  CURAGATE_TOKEN=... curagate registry waive support-bot 2 --reason "small set" --expires 7d

exit codes: 0 ok, 1 refused or tampering found, 2 usage or input error
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from curagate.errors import CheckFailed, CuragateError, InputError
from curagate.io.atomic import write_text_atomic
from curagate.registry import (
    ACTOR_SIG,
    ROLES,
    STAGES,
    USER_ROLES,
    ChainBroken,
    LogRow,
    ModelVersion,
    Registry,
    User,
    enrollment,
    new_token,
)
from curagate.registry.store import RESIGN_REMEDY, signed_now
from curagate.text import one_line

TOKEN_ENV = "CURAGATE_TOKEN"


def _token_user(reg: Registry) -> User:
    """The user whose token is in $CURAGATE_TOKEN (an environment variable, not an
    argument, so the token stays out of shell history and `ps`)."""
    user = reg.authenticate(os.environ.get(TOKEN_ENV))
    if user is None:
        # Refused (exit 1), as a promote without a token is: no usage error to fix.
        raise CheckFailed(
            f"${TOKEN_ENV}: missing, unknown or revoked token; set it to the token printed by "
            "`curagate registry users add NAME --role approver`"
        )
    return user


def _acting_user(reg: Registry, args: argparse.Namespace) -> User | None:
    """register, promote / rollback, users and trust changes: the user whose token is in
    $CURAGATE_TOKEN, when it is set (the registry demands an approver's once it has
    approvers, an admin's for users and keys once it has an admin with an actor key; a
    register is signed by whoever sets one); `--actor` cannot name someone else."""
    if not os.environ.get(TOKEN_ENV):
        return None
    user = _token_user(reg)
    if args.actor is not None and args.actor != user.name:
        raise InputError(
            f"--actor {args.actor!r}: ${TOKEN_ENV} is {user.name!r}'s token; drop --actor "
            "(the token names who acts)"
        )
    return user


def _new_token() -> int:
    """`users token`: a token made where its user is; only its enrollment code leaves."""
    token = new_token()
    code = enrollment(token)
    print(
        "Keep the token (your login and $CURAGATE_TOKEN; no one else needs it). Give the "
        "admin who adds you the enrollment code: `curagate registry users add NAME --role "
        "ROLE --enrollment CODE`.",
        file=sys.stderr,
    )
    _say(f"token: {token}")
    _say(f"enrollment: {code}")
    return 0


def _users(reg: Registry, args: argparse.Namespace) -> int:
    if args.users_command == "add":
        user, token = reg.user_add(
            args.user,
            role=args.role,
            actor=_acting_user(reg, args) or args.actor,
            reason=args.reason,
            enrollment=args.enrollment,
        )
        if token is None:
            _say(f"added {user.role} {user.name} with the token of their enrollment code")
            return 0
        _say(f"added {user.role} {user.name}; their API token (shown once, stored hashed):")
        print(token)
        return 0
    if args.users_command == "revoke":
        user = reg.user_revoke(
            args.user, actor=_acting_user(reg, args) or args.actor, reason=args.reason
        )
        _say(f"revoked {user.role} {user.name} at {user.revoked_at}")
        return 0
    users, signing = reg.users(), reg.signing_users()
    if args.json:
        listed = [{**u.to_dict(), "signs_rows": u.name in signing} for u in users]
        print(json.dumps(listed, indent=2, sort_keys=True))
    elif users:
        rows = [["NAME", "ROLE", "CREATED", "REVOKED", "SIGNS ROWS"]]
        rows += [
            [
                u.name,
                u.role,
                u.created_at,
                u.revoked_at or "-",
                "yes" if u.name in signing else "no",
            ]
            for u in users
        ]
        print(_table(rows))
    else:
        _say("no users")
    return 0


def _workflow(reg: Registry, args: argparse.Namespace) -> int:
    action = args.registry_command
    if action == "requests":
        reqs = reg.promotion_requests()
        if args.json:
            print(json.dumps([r.to_dict() for r in reqs], indent=2, sort_keys=True))
        for r in [] if args.json else reqs:
            _say(
                f"#{r.id} {r.name} v{r.version} → {r.to_stage}  {r.status}  by {r.requested_by}"
                + (f", approved by {r.approved_by}" if r.approved_by else "")
                + (f" ({r.blocked[1]})" if r.blocked else "")
            )
        return 0
    user = _token_user(reg)
    if action == "request":
        if args.waiver_id is not None and args.report_sha256 is None:
            raise InputError("--waiver-id needs --report-sha256 (the report it waives)")
        out = reg.request_promotion(
            args.name,
            args.version,
            to=args.to,
            user=user,
            reason=args.reason,
            report_sha256=args.report_sha256,
            waiver_id=args.waiver_id,
        )
        if isinstance(out, ModelVersion):
            _say(f"{out.ref} is now in {out.stage}")
        else:
            _say(
                f"request {out.id}: {out.name} v{out.version} → {out.to_stage}, waiting for a "
                f"second approver (`curagate registry approve {out.id}`)"
            )
        return 0
    if action == "approve":
        v = reg.approve(args.request_id, user=user, reason=args.reason)
        _say(f"approved request {args.request_id}: {v.ref} is now in {v.stage}")
        return 0
    w = reg.waive(
        args.name,
        args.version,
        user=user,
        reason=args.reason,
        expires=args.expires,
        report_sha256=args.report_sha256,
    )
    _say(
        f"waiver {w.id}: {w.name} v{w.version}'s warn report {w.report_sha256[:12]} may back "
        f"production until {w.expires_at}"
    )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="registry database (default: $CURAGATE_REGISTRY or .curagate/registry.db)",
    )
    sub = parser.add_subparsers(dest="registry_command", metavar="ACTION", required=True)

    def action(
        name: str,
        help_text: str,
        into: argparse._SubParsersAction[argparse.ArgumentParser] = sub,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = into.add_parser(name, help=help_text)
        # Also accepted after the action (`registry list --db X`); SUPPRESS keeps the parent's value.
        p.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="registry database")
        return p

    def who_why(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--actor",
            help="who makes the change (default: $USER; with $CURAGATE_TOKEN set, the token's "
            "user, and the row is signed)",
        )
        p.add_argument("--reason", default="", help="why; recorded in the audit log")

    def report_args(p: argparse.ArgumentParser, help_text: str) -> None:
        p.add_argument("--gate-report", type=Path, help=help_text)
        p.add_argument(
            "--attestation",
            type=Path,
            help="signed gate attestation (default: gate_attestation.dsse.json beside the report)",
        )

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
    report_args(p, "gate_report.json for this bundle (recorded, accepted or not)")
    who_why(p)

    p = action("promote", "move a version forward: experiment → staging → production → archived")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--to", required=True, choices=STAGES[1:])
    report_args(p, "gate_report.json (with its attestation) backing this promotion")
    who_why(p)

    p = action(
        "report",
        "record a gate report for a version without moving it (the newest that verifies "
        "decides for the version)",
    )
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--gate-report", type=Path, required=True, help="gate_report.json")
    p.add_argument(
        "--attestation",
        type=Path,
        help="signed gate attestation (default: gate_attestation.dsse.json beside the report)",
    )
    p.add_argument(
        "--actor",
        help="who records it (default: $USER; with $CURAGATE_TOKEN set, the token's user)",
    )

    p = action("rollback", "restore the previous production version of NAME (bytes re-verified)")
    p.add_argument("name")
    p.add_argument(
        "--from-version",
        type=int,
        metavar="N",
        help="the production version you roll back from: refused (exit 1) if production is "
        "another version by then (someone rolled back or promoted since)",
    )
    p.add_argument(
        "--to-version",
        type=int,
        metavar="N",
        help="the version you expect it to restore: refused (exit 1) if a rollback would "
        "restore another one by then",
    )
    who_why(p)

    p = action("check", "replay the hash-chained log and check every table and stored report")
    p.add_argument(
        "--head",
        help="ID:HASH recorded earlier by `registry head`: history up to it must be unchanged, "
        "and no key may be trusted and no user added after it (review them, then record a new head); "
        "says which rows after it are signed and that no bundle was read (--bundles reads them)",
    )
    p.add_argument(
        "--bundles",
        action="store_true",
        help="also re-hash the bundles in production and staging (manifest, registered digest, "
        "signature): exit 1 if any changed since registration",
    )

    action("head", "print the log's head (ID:HASH), to keep or sign outside the registry")

    p = action("card", "the version's model card with the gate results that back it")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--out", type=Path, help="write the card here (default: print it)")

    action("migrate", "rebuild a schema-1 registry as a hash-chained one (once, by its owner)")

    users = action("users", "manage the people who use `curagate serve` and their API tokens")
    usub = users.add_subparsers(dest="users_command", metavar="USERS_ACTION", required=True)
    p = action("add", "add a user; prints their API token once, as the last line", usub)
    p.add_argument("user")
    p.add_argument("--role", required=True, choices=USER_ROLES)
    p.add_argument(
        "--enrollment",
        metavar="CODE",
        help="the code the user printed with `users token`: their token stays theirs alone "
        "(no token is printed)",
    )
    who_why(p)
    action(
        "token",
        "make your own API token and the enrollment code to give whoever adds you",
        usub,
    )
    p = action("list", "list users and their roles", usub)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = action("revoke", "revoke a user's token (recorded, never deleted)", usub)
    p.add_argument("user")
    who_why(p)

    p = action(
        "request",
        "first approver: request a promotion (production waits for a second approver); "
        "token from $CURAGATE_TOKEN",
    )
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--to", required=True, choices=("staging", "production"))
    p.add_argument("--reason", default="", help="why; recorded in the audit log")
    p.add_argument(
        "--report-sha256",
        metavar="SHA256",
        help="production: the report you reviewed (`registry show` names what backs it): "
        "refused (exit 1) if another report or waiver backs it by then",
    )
    p.add_argument(
        "--waiver-id",
        type=int,
        metavar="N",
        help="with --report-sha256: the waiver it was backed under (none for a pass)",
    )
    p = action("approve", "second approver: approve a request; the promotion happens now")
    p.add_argument("request_id", type=int)
    p.add_argument("--reason", default="", help="why; recorded in the audit log")
    p = action("waive", "let a verified warn verdict back production until an expiry")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--reason", required=True, help="why the warning is acceptable")
    p.add_argument(
        "--expires", required=True, help="ISO 8601 time (2026-12-31T00:00:00Z) or days (7d)"
    )
    p.add_argument(
        "--report-sha256",
        metavar="SHA256",
        help="the warn report you reviewed (`registry show` lists each report's sha256): "
        "refused (exit 1) if another report decides for the version by then",
    )
    p = action("requests", "list promotion requests")
    p.add_argument("--json", action="store_true", help="print JSON")

    trust = action("trust", "manage the public keys whose signatures the registry accepts")
    tsub = trust.add_subparsers(dest="trust_command", metavar="TRUST_ACTION", required=True)
    p = action("add", "trust a public key for a role", tsub)
    p.add_argument("public_key", type=Path, help="PEM public key (signing_key.pub)")
    p.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="gate: attestations; export: bundles; train: signed run records (once one is "
        "trusted, production needs a bundle exported with --train-key from a trusted trainer)",
    )
    p.add_argument("--name", required=True, help="a name for the key, e.g. ci")
    who_why(p)
    p = action("list", "list trusted and revoked keys", tsub)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = action("revoke", "revoke a key (recorded, never deleted)", tsub)
    p.add_argument("key", help="key name or fingerprint (at least 12 hex digits)")
    p.add_argument("--role", choices=ROLES)
    who_why(p)


def _say(line: str) -> None:
    """Print one line: control characters of names, paths, reasons and actors (free text,
    or a hand-edited database's) are shown escaped, so none starts a line that reads as
    another report or log row, or reaches the terminal as an escape sequence."""
    print(one_line(line))


def _after_head_note(rows: list[LogRow], *, bundles: bool) -> str:
    """What `check --head` verified of the rows after the head, and what it did not."""

    def counts(signed: bool) -> str:
        actions = sorted({r.action for r in rows if r.signed == signed})
        return ", ".join(
            f"{a} {sum(r.action == a and r.signed == signed for r in rows)}" for a in actions
        )

    parts = [f"note: {len(rows)} log row(s) after the recorded head"]
    if any(r.signed for r in rows):
        parts.append(f"signed with their actor's key: {counts(True)}")
    if not all(r.signed for r in rows):
        parts.append(f"unsigned, their actor not proven: {counts(False)}")
    read = (
        "read below for production and staging only"
        if bundles
        else "not read (`--bundles` reads those in production and staging)"
    )
    return (
        "; ".join(parts)
        + ". Each was replayed against the rules and the keys and users of its row; the "
        f"bundles that register rows name were {read}, and every promotion, request, "
        "approval and rollback re-reads its own"
    )


def _table(rows: list[list[str]]) -> str:
    rows = [[one_line(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _signed(v: ModelVersion, vouching: frozenset[str], unusable: frozenset[str]) -> str:
    """Whether ``v`` is signed, as the service says it: found by attack, `list` and `show`
    called a bundle signed by an export key revoked since (or, found by re-attack, one on
    a curve other than P-256: ``unusable``, the fingerprints of such keys) signed."""
    if signed_now(v, vouching):
        return "yes"
    if v.signed_by is None:
        return "no"
    return "unusable" if v.signed_by in unusable else "revoked"


def _unusable_export_keys(reg: Registry) -> frozenset[str]:
    return frozenset(k.fingerprint for k in reg.trusted_keys("export") if k.unusable)


def _show(reg: Registry, name: str, version: int | None, as_json: bool) -> int:
    versions = [reg.get(name, version)] if version is not None else reg.list_versions(name)
    if not versions:
        reg.get(name, 1)  # raises the "unknown name" error
    vouching, unusable_keys = reg.vouching_export_keys(), _unusable_export_keys(reg)
    out = []
    for v in versions:
        d = v.to_dict()
        d["gate_reports"] = []
        for g in reg.gate_reports(v.name, v.version):
            # As recorded, and judged again against the keys trusted now: a report whose
            # signer was revoked since backs nothing (promotion and `card` refuse it), and
            # one refused then whose key was trusted since counts (its fail decides).
            ok, _, why = reg.judge_now(v, g)
            d["gate_reports"].append({**g.to_dict(), "verified_now": ok, "why_now": why})
        d["log"] = [t.to_dict() for t in reg.log(v.name, v.version)]
        # The verdict that decides, by the rule promotion goes by: a twin's reports (the
        # same bytes under another version) count too, so a twin's newer fail is the
        # verdict even when this version's own reports list a pass.
        decision = reg.decision(v)
        d["decision"] = decision.to_dict()
        # What a production request names (`request --report-sha256 --waiver-id`).
        backing = reg.backing(v)
        d["backing"] = None if backing is None else backing.to_dict()
        d["_summary"] = decision.summary()
        out.append(d)
    summaries = [d.pop("_summary") for d in out]
    if as_json:
        print(json.dumps(out[0] if version is not None else out, indent=2, sort_keys=True))
        return 0
    for v, d, summary in zip(versions, out, summaries, strict=True):
        _say(f"{d['name']} v{d['version']}  [{d['stage']}]")
        key = (v.signed_by or "")[:12]
        signed = {
            "yes": f"signed by {key}",
            "no": "unsigned",
            "revoked": f"NOT signed: export key {key} revoked since",
            "unusable": f"NOT signed: export key {key} unusable (a curve other than P-256)",
        }[_signed(v, vouching, unusable_keys)]
        _say(f"  artifact  {d['artifact_digest']}  {signed}  {d['artifact_path']}")
        _say(f"  verdict   {summary}")
        if d["backing"] is not None:
            b = d["backing"]
            waiver = f" under waiver {b['waiver_id']}" if b["waiver_id"] is not None else ""
            _say(f"  backing   report {b['report_id']} {b['report_sha256']}{waiver}")
        for g in d["gate_reports"]:
            mark = "accepted" if g["accepted"] else "REFUSED"
            why = g["why"]
            if g["accepted"] and not g["verified_now"]:
                mark, why = "VOID", f"accepted when recorded; now NOT verified: {g['why_now']}"
            elif not g["accepted"] and g["verified_now"]:
                mark, why = "VERIFIED", f"refused when recorded ({why}); now {g['why_now']}"
            _say(
                f"  report    {g['id']:>3} {mark:<8} {g['verdict'] or '-':<5} {g['report_sha256'][:12]}  {why}"
            )
        for t in d["log"]:
            move = f"{t['from_stage'] or '-'} → {t['to_stage']}" if t["to_stage"] else ""
            # The mark comes before the actor, which is free text: `--actor "bob (signed)"`
            # cannot make an unsigned row look signed.
            signed = "signed " if ACTOR_SIG in t["payload"] else ""
            _say(
                f"  {t['at']}  #{t['id']} {t['action']:<8} {move}  {signed}by {t['actor']}: "
                f"{t['reason']}"
            )
    return 0


def _trust(reg: Registry, args: argparse.Namespace) -> int:
    if args.trust_command == "add":
        k = reg.trust_add(
            args.public_key,
            role=args.role,
            name=args.name,
            actor=_acting_user(reg, args) or args.actor,
            reason=args.reason,
        )
        _say(f"trusted {k.role} key {k.name} ({k.fingerprint[:16]})")
        return 0
    if args.trust_command == "revoke":
        k = reg.trust_revoke(
            args.key,
            role=args.role,
            actor=_acting_user(reg, args) or args.actor,
            reason=args.reason,
        )
        _say(f"revoked {k.role} key {k.name} ({k.fingerprint[:16]}) at {k.revoked_at}")
        return 0
    keys = reg.trusted_keys()
    if args.json:
        print(json.dumps([k.to_dict() for k in keys], indent=2, sort_keys=True))
    elif keys:
        rows = [["NAME", "ROLE", "FINGERPRINT", "ADDED", "REVOKED", "UNUSABLE"]]
        rows += [
            [k.name, k.role, k.fingerprint[:16], k.added_at, k.revoked_at or "-", k.unusable or "-"]
            for k in keys
        ]
        print(_table(rows))
        if any(k.unusable and k.active for k in keys):
            _say(
                "note: keys marked unusable are on a curve other than P-256 (trusted before "
                "curagate took P-256 keys only) and verify nothing; trust a P-256 key "
                "(`curagate keys generate`) for what is exported next (what they signed "
                "stays unsigned: a re-export of the same run is the same bytes, which "
                "`register` refuses as already registered)"
            )
    else:
        _say("no trusted keys")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except CuragateError as e:
        # One line whatever a stored path or name holds: a bundle path with a newline
        # printed a line of its own after "error:".
        e.args = (one_line(str(e)),)
        raise


# Actions that only read the registry (and `trust list`, `users list`): they open it read-only.
READ_ACTIONS = ("list", "show", "head", "card", "requests", "check")


def _only_reads(args: argparse.Namespace) -> bool:
    """Whether the command only reads the registry, so opens it read-only: an older schema is
    upgraded on a copy in memory and the file keeps its bytes, and a registry on a read-only
    mount or in a read-only file can be read."""
    if args.registry_command == "trust":
        return bool(args.trust_command == "list")
    if args.registry_command == "users":
        return bool(args.users_command == "list")
    return args.registry_command in READ_ACTIONS


def _run(args: argparse.Namespace) -> int:
    action = args.registry_command
    create = action in ("register", "trust", "users") and (
        getattr(args, "trust_command", "add") == "add"
        and getattr(args, "users_command", "add") == "add"
    )
    if action == "users" and args.users_command == "token":
        return _new_token()  # needs no registry: it is made where its user is
    # A command that only reads (check, list, show, head, card, requests, trust list, users
    # list) never writes: it opens the file read-only, and an older schema is upgraded on a
    # copy in memory and read there; only a command that writes upgrades the file.
    with Registry(
        args.db, create=create, migrate=action == "migrate", read_only=_only_reads(args)
    ) as reg:
        if action == "migrate":
            versions = reg.list_versions()
            _say(f"{reg.path}: schema {reg.schema_version}, {len(versions)} versions")
            for v in versions:
                if v.stage != "production":
                    continue
                # The move that put it there: migrated from schema 1 (unsigned history),
                # or one this registry's rules allowed (said of every version, it misled).
                moves = [r for r in reg.log(v.name, v.version) if r.to_stage == "production"]
                if moves and moves[-1].data.get("migrated_from_schema") is not None:
                    _say(f"  {v.ref} is in production on unsigned (schema 1) history")
            return 0
        if action == "list":
            versions = reg.list_versions(args.name)
            if args.json:
                print(json.dumps([v.to_dict() for v in versions], indent=2, sort_keys=True))
            elif versions:
                vouching, unusable_keys = reg.vouching_export_keys(), _unusable_export_keys(reg)
                rows = [["NAME", "VERSION", "STAGE", "DIGEST", "SIGNED", "CREATED"]]
                rows += [
                    [
                        v.name,
                        str(v.version),
                        v.stage,
                        v.artifact_digest[:12],
                        _signed(v, vouching, unusable_keys),
                        v.created_at,
                    ]
                    for v in versions
                ]
                print(_table(rows))
            else:
                _say("no model versions registered")
            return 0
        if action == "show":
            return _show(reg, args.name, args.version, args.json)
        if action == "trust":
            return _trust(reg, args)
        if action == "users":
            return _users(reg, args)
        if action in ("request", "approve", "waive", "requests"):
            return _workflow(reg, args)
        if action == "check":
            # Every check runs and every problem is reported (found by re-attack: one row
            # dated backwards stopped `check` before a changed production bundle was seen).
            broken: ChainBroken | None = None
            try:
                state = reg.check(head=args.head)
            except ChainBroken as e:
                if e.state is None:
                    raise
                broken, state = e, e.state
            for problem in broken.problems if broken is not None else []:
                _say(f"FAILED {problem}")
            if broken is None:
                _say(
                    f"{reg.path}: ok, {state.rows} log rows chain to head "
                    f"{state.head_id}:{state.head_hash}; {len(state.versions)} versions, "
                    f"{len(state.reports)} reports and {len(state.keys)} keys agree with the log"
                )
            for note in state.notes:
                _say(f"note: {note}")
            if reg.file_schema_version < reg.schema_version:
                _say(
                    f"note: the database is schema {reg.file_schema_version}; it was checked "
                    f"as upgraded to schema {reg.schema_version} on a copy in memory and the "
                    "file is unchanged (list, show and the other commands that only read "
                    "leave it so; the next command that writes upgrades it in place)"
                )
            if state.unsigned_approvers():
                _say(
                    "note: approvers added before curagate signed approvers' rows, whose "
                    f"requests and approvals are not signed: {', '.join(state.unsigned_approvers())}"
                    "; add each again under a new name and revoke the old account "
                    '(docs/registry.md, "Who wrote a row")'
                )
            if state.has_approvers() and not state.signing_admins():
                _say(
                    "note: no admin with an actor key, so whoever can write the database "
                    "file adds users and trusts keys; add one (`users add NAME --role admin "
                    "--enrollment CODE`): from then on only an admin's token changes them "
                    '(docs/registry.md, "Admins")'
                )
            if state.after_head:
                _say(_after_head_note(state.after_head, bundles=args.bundles))
            failed = []
            if broken is not None and len(broken.problems) == 1:
                failed.append(broken.problems[0])
            elif broken is not None:
                failed.append(
                    f"{len(broken.problems)} problems in the log and tables, each on its FAILED "
                    f"line above; the first: {broken.problems[0]}"
                )
            if not args.bundles:
                if failed:
                    raise CheckFailed(failed[0])
                return 0
            problems = reg.check_bundles()
            for kind, problem in problems:
                _say(f"{kind.upper()} {problem}")
            changed = sum(1 for kind, _ in problems if kind == "changed")
            unusable = sum(1 for kind, _ in problems if kind == "unusable")
            forged = sum(1 for kind, _ in problems if kind == "forged")
            twin = sum(1 for kind, _ in problems if kind == "twin")
            revoked = len(problems) - changed - unusable - forged - twin
            notes = failed
            if twin:
                notes.append(
                    f"{twin} shipped version(s) hold the files of a version a verified fail "
                    "holds back (registered again with MANIFEST.json spelled otherwise, before "
                    "register rows named their files); roll them back or archive them"
                )
            if forged:
                notes.append(
                    f"{forged} shipped version(s) were registered with a lineage their signed "
                    "MANIFEST.json does not hold (a register row written by hand); roll back "
                    "or archive them and restore the database from a backup made before that row"
                )
            if changed:
                notes.append(
                    f"{changed} shipped bundle(s) are not the bytes that were registered; roll "
                    "back (`curagate registry rollback`) or restore the files"
                )
            if revoked:
                notes.append(
                    f"{revoked} shipped bundle(s) were signed by an export key since revoked; "
                    f"{RESIGN_REMEDY}"
                )
            if unusable:
                notes.append(
                    f"{unusable} shipped bundle(s) were signed by an export key on a curve other "
                    "than P-256, which curagate no longer verifies (their bytes are unchanged); "
                    f"{RESIGN_REMEDY}"
                )
            if notes:
                raise CheckFailed("; ".join(notes))
            _say("bundles in production and staging: intact")
            return 0
        if action == "card":
            text = reg.card(args.name, args.version)
            if args.out is None:
                print(text, end="")
            else:
                write_text_atomic(args.out, text)
                _say(f"wrote {args.out}")
            return 0
        if action == "head":
            head_id, head_hash = reg.head()
            _say(f"{head_id}:{head_hash}")
            return 0
        if action == "register":
            v, rec = reg.register(
                args.bundle,
                name=args.name,
                actor=_acting_user(reg, args) or args.actor,
                reason=args.reason,
                gate_report=args.gate_report,
                attestation=args.attestation,
            )
            signed = f"signed by {v.signed_by[:12]}" if v.signed_by else "unsigned"
            _say(f"registered {v.ref} ({v.artifact_digest[:12]}, {signed}) in {v.stage}")
            if rec is not None:
                _say(f"  gate report {'accepted' if rec.accepted else 'REFUSED'}: {rec.why}")
            return 0
        if action == "report":
            rec = reg.add_gate_report(
                args.name,
                args.version,
                args.gate_report,
                attestation=args.attestation,
                actor=_acting_user(reg, args) or args.actor,
            )
            _say(
                f"gate report {rec.id} of {args.name} v{args.version}: "
                f"{'accepted' if rec.accepted else 'REFUSED'}: {rec.why}"
            )
            return 0 if rec.accepted else 1
        if action == "promote":
            v = reg.promote(
                args.name,
                args.version,
                to=args.to,
                actor=args.actor,
                reason=args.reason,
                gate_report=args.gate_report,
                attestation=args.attestation,
                user=_acting_user(reg, args),
            )
            _say(f"{v.ref} is now in {v.stage}")
            return 0
        v = reg.rollback(
            args.name,
            actor=args.actor,
            reason=args.reason,
            user=_acting_user(reg, args),
            from_version=args.from_version,
            to_version=args.to_version,
        )
        _say(f"rolled back: {v.ref} is in production again (bytes re-verified)")
        return 0
