"""The registry's hash-chained log, and the check that every table agrees with it.

Each log row's ``hash`` is the sha256 of its own content and the previous row's
hash. Replaying the log from the first row gives the state of the registry: which
versions exist with which identity, their stage, every gate report offered and the
verdict on it, and which keys are trusted or revoked. :func:`verify` replays and
compares that state with the tables, so a hand ``UPDATE``, ``INSERT`` or ``DELETE``
anywhere, or a dropped trigger, is reported with the first row that disagrees.

What it cannot stop: someone who rewrites the log *and* recomputes every hash after
the change (the hash is unkeyed; the code is public). Against that, record the head
(``curagate registry head``) somewhere the attacker cannot write, or sign it, and
check it later with ``curagate registry check --head ID:HASH``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from curagate.digest import sha256_bytes, sha256_text
from curagate.errors import CheckFailed
from curagate.registry.schema import ACTIONS, EXPECTED_TRIGGERS, STAGES

GENESIS = "0" * 64
LOG_COLS = (
    "id, at, actor, action, name, version, from_stage, to_stage, reason, payload, prev_hash, hash"
)


class ChainBroken(CheckFailed):
    """The registry's tables or log were changed outside curagate (exit 1)."""


@dataclass(frozen=True)
class LogRow:
    id: int
    at: str
    actor: str
    action: str
    name: str | None
    version: int | None
    from_stage: str | None
    to_stage: str | None
    reason: str
    payload: str
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        value = json.loads(self.payload)
        return value if isinstance(value, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "name": self.name,
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "reason": self.reason,
            "payload": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row_id: int, fields: tuple[Any, ...]) -> str:
    """sha256 over the previous hash, the row id and every column of the row."""
    return sha256_bytes(canonical([prev_hash, row_id, *fields]).encode())


def lineage_sha256(lineage_json: str) -> str:
    return sha256_text(lineage_json)


@dataclass
class State:
    """The registry as the log says it is."""

    versions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    revoked: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    users_revoked: set[int] = field(default_factory=set)
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    approvals: dict[int, dict[str, Any]] = field(default_factory=dict)
    waivers: dict[int, dict[str, Any]] = field(default_factory=dict)
    head_id: int = 0
    head_hash: str = GENESIS
    rows: int = 0


def _apply(state: State, row: LogRow) -> str | None:
    """Apply one row to the state; return why it cannot follow the rows before it."""
    if row.action not in ACTIONS:
        return f"unknown action {row.action!r}"
    data = row.data
    key = (row.name or "", row.version or 0)
    if row.action == "register":
        if key in state.versions:
            return f"registers {row.name} v{row.version} a second time"
        state.versions[key] = {"stage": row.to_stage, **data}
    elif row.action in ("promote", "archive", "rollback", "migrate"):
        current = state.versions.get(key)
        if current is None:
            return f"moves {row.name} v{row.version}, which was never registered"
        if row.action != "migrate" and current["stage"] != row.from_stage:
            return (
                f"moves {row.name} v{row.version} from {row.from_stage}, but the log has it in "
                f"{current['stage']}"
            )
        if row.to_stage not in STAGES:
            return f"unknown stage {row.to_stage!r}"
        current["stage"] = row.to_stage
    elif row.action == "report":
        if key not in state.versions:
            return f"records a report for {row.name} v{row.version}, which was never registered"
        state.reports[int(data.get("gate_report_id", -1))] = {
            "name": row.name,
            "version": row.version,
            **data,
        }
    elif row.action == "trust":
        state.keys[int(data.get("key_id", -1))] = data
    elif row.action == "revoke":
        if int(data.get("key_id", -1)) not in state.keys:
            return "revokes a key that was never trusted"
        state.revoked[int(data.get("key_id", -1))] = data
    elif row.action == "user_add":
        state.users[int(data.get("user_id", -1))] = data
    elif row.action == "user_revoke":
        uid = int(data.get("user_id", -1))
        if uid not in state.users or uid in state.users_revoked:
            return "revokes a user that was never added, or twice"
        state.users_revoked.add(uid)
    elif row.action == "request":
        if key not in state.versions:
            return f"requests a promotion of {row.name} v{row.version}, which was never registered"
        state.requests[int(data.get("request_id", -1))] = {
            "name": row.name,
            "version": row.version,
            "to_stage": row.to_stage,
            "requested_by": row.actor,
            "reason": row.reason,
        }
    elif row.action == "approve":
        rid = int(data.get("request_id", -1))
        req = state.requests.get(rid)
        if req is None or rid in state.approvals:
            return f"approves request {rid}, which does not exist or was approved before"
        if req["requested_by"] == row.actor:
            return f"request {rid} is approved by its own requester"
        state.approvals[rid] = {"approved_by": row.actor, "reason": row.reason}
    elif row.action == "waive":
        if key not in state.versions:
            return f"waives a report of {row.name} v{row.version}, which was never registered"
        state.waivers[int(data.get("waiver_id", -1))] = {
            "name": row.name,
            "version": row.version,
            "report_sha256": data.get("report_sha256"),
            "expires_at": data.get("expires_at"),
            "reason": row.reason,
            "granted_by": row.actor,
        }
    return None


def replay(conn: sqlite3.Connection) -> State:
    """Recompute the chain from its first row; raise :class:`ChainBroken` at the first bad row."""
    state = State()
    prev = GENESIS
    expected_id = 1
    for r in conn.execute(f"SELECT {LOG_COLS} FROM log ORDER BY id"):
        row = LogRow(*r)
        if row.id != expected_id:
            raise ChainBroken(
                f"registry log: row {expected_id} is missing (next row is {row.id}); rows were "
                "deleted by hand"
            )
        if row.prev_hash != prev:
            raise ChainBroken(
                f"registry log row {row.id}: its prev_hash does not match row {row.id - 1}; "
                "rows were inserted, deleted or rewritten by hand"
            )
        fields = (
            row.at,
            row.actor,
            row.action,
            row.name,
            row.version,
            row.from_stage,
            row.to_stage,
            row.reason,
            row.payload,
        )
        if row_hash(prev, row.id, fields) != row.hash:
            raise ChainBroken(
                f"registry log row {row.id} ({row.action} {row.name or ''} "
                f"v{row.version or ''}): content does not match its hash; the row was edited by hand"
            )
        try:
            why = _apply(state, row)
        except (ValueError, TypeError) as e:
            why = f"payload is not valid ({e})"
        if why:
            raise ChainBroken(f"registry log row {row.id}: {why}")
        prev = row.hash
        state.head_id, state.head_hash = row.id, row.hash
        state.rows += 1
        expected_id += 1
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
    if seq is not None and int(seq[0]) != state.head_id:
        raise ChainBroken(
            f"registry log: {int(seq[0]) - state.head_id} row(s) after row {state.head_id} were "
            "deleted by hand (the log's sequence is ahead of its last row)"
        )
    return state


def _mismatch(table: str, row_id: Any, what: str) -> ChainBroken:
    return ChainBroken(
        f"registry table {table} row {row_id}: {what}; the database was changed outside "
        "curagate (run `curagate registry check`)"
    )


def verify(conn: sqlite3.Connection) -> State:
    """Replay the log and check every table and trigger against it."""
    present = {
        (r[0], r[1])
        for r in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'index')"
        )
    }
    expected = {("trigger", t) for t in EXPECTED_TRIGGERS} | {("index", "one_production_per_name")}
    missing = sorted(expected - present)
    if missing:
        kind, name = missing[0]
        raise ChainBroken(
            f"registry: {kind} {name} was dropped by hand; the registry's guarantees no longer hold"
        )
    state = replay(conn)

    seen: set[tuple[str, int]] = set()
    for vid, name, version, digest, path, lineage, signed_by, stage in conn.execute(
        "SELECT id, name, version, artifact_digest, artifact_path, lineage, signed_by, stage "
        "FROM model_versions ORDER BY id"
    ):
        logged = state.versions.get((name, version))
        if logged is None:
            raise _mismatch(
                "model_versions", vid, f"{name} v{version} has no register entry in the log"
            )
        registered = (
            logged.get("artifact_digest"),
            logged.get("artifact_path"),
            logged.get("lineage_sha256"),
            logged.get("signed_by"),
        )
        if registered != (digest, path, lineage_sha256(lineage), signed_by):
            raise _mismatch(
                "model_versions", vid, f"{name} v{version} differs from its registration"
            )
        if stage != logged["stage"]:
            raise _mismatch(
                "model_versions",
                vid,
                f"{name} v{version} is in {stage}, but the log puts it in {logged['stage']}",
            )
        seen.add((name, version))
    if len(seen) != len(state.versions):
        gone = sorted(set(state.versions) - seen)[0]
        raise _mismatch(
            "model_versions", "-", f"{gone[0]} v{gone[1]} is in the log but not in the table"
        )

    report_cols = (
        "report_sha256",
        "attestation_sha256",
        "verdict",
        "accepted",
        "why",
        "keyid",
        "path",
    )
    count = 0
    for row in conn.execute(
        "SELECT g.id, m.name, m.version, g.report_sha256, g.attestation_sha256, g.verdict, "
        "g.accepted, g.why, g.keyid, g.path FROM gate_reports g "
        "JOIN model_versions m ON m.id = g.model_version_id ORDER BY g.id"
    ):
        logged = state.reports.get(row[0])
        if logged is None:
            raise _mismatch(
                "gate_reports", row[0], "has no report entry in the log (inserted by hand)"
            )
        actual = dict(zip(("name", "version", *report_cols), row[1:], strict=True))
        actual["accepted"] = bool(actual["accepted"])
        if any(logged.get(k) != v for k, v in actual.items()):
            raise _mismatch("gate_reports", row[0], "differs from the report entry in the log")
        count += 1
    if count != len(state.reports):
        raise _mismatch("gate_reports", "-", "a report in the log is missing from the table")

    count = 0
    for kid, fp, name, role, pem in conn.execute(
        "SELECT id, fingerprint, name, role, public_pem FROM trusted_keys ORDER BY id"
    ):
        logged = state.keys.get(kid)
        if logged is None or (
            logged.get("fingerprint"),
            logged.get("name"),
            logged.get("role"),
            logged.get("public_pem_sha256"),
        ) != (fp, name, role, sha256_text(pem)):
            raise _mismatch("trusted_keys", kid, "does not match a trust entry in the log")
        count += 1
    if count != len(state.keys):
        raise _mismatch("trusted_keys", "-", "a trusted key in the log is missing from the table")
    revoked = {r[0] for r in conn.execute("SELECT key_id FROM key_revocations")}
    if revoked != set(state.revoked):
        raise _mismatch("key_revocations", "-", "revocations differ from the log")
    _verify_people(conn, state)
    return state


def _same_rows(
    table: str,
    rows: list[tuple[Any, ...]],
    logged: dict[int, dict[str, Any]],
    cols: tuple[str, ...],
) -> None:
    """Each row (id first, then ``cols``) equals the log's entry with that id, and none is missing."""
    for row in rows:
        entry = logged.get(row[0])
        if entry is None or tuple(entry.get(c) for c in cols) != tuple(row[1:]):
            raise _mismatch(table, row[0], "does not match its entry in the log")
    if len(rows) != len(logged):
        raise _mismatch(table, "-", "a row in the log is missing from the table")


def _verify_people(conn: sqlite3.Connection, state: State) -> None:
    """Schema 3: users, their revocations, promotion requests, approvals and waivers."""
    _same_rows(
        "users",
        conn.execute("SELECT id, name, role, token_sha256 FROM users ORDER BY id").fetchall(),
        state.users,
        ("name", "role", "token_sha256"),
    )
    revoked = {r[0] for r in conn.execute("SELECT user_id FROM user_revocations")}
    if revoked != state.users_revoked:
        raise _mismatch("user_revocations", "-", "revocations differ from the log")
    _same_rows(
        "promotion_requests",
        conn.execute(
            "SELECT r.id, m.name, m.version, r.to_stage, r.requested_by, r.reason "
            "FROM promotion_requests r JOIN model_versions m ON m.id = r.model_version_id "
            "ORDER BY r.id"
        ).fetchall(),
        state.requests,
        ("name", "version", "to_stage", "requested_by", "reason"),
    )
    _same_rows(
        "approvals",
        conn.execute(
            "SELECT request_id, approved_by, reason FROM approvals ORDER BY request_id"
        ).fetchall(),
        state.approvals,
        ("approved_by", "reason"),
    )
    _same_rows(
        "waivers",
        conn.execute(
            "SELECT w.id, m.name, m.version, w.report_sha256, w.expires_at, w.reason, w.granted_by "
            "FROM waivers w JOIN model_versions m ON m.id = w.model_version_id ORDER BY w.id"
        ).fetchall(),
        state.waivers,
        ("name", "version", "report_sha256", "expires_at", "reason", "granted_by"),
    )


__all__ = [
    "GENESIS",
    "LOG_COLS",
    "ChainBroken",
    "LogRow",
    "State",
    "canonical",
    "lineage_sha256",
    "replay",
    "row_hash",
    "verify",
]
