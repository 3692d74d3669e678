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
check it later with ``curagate registry check --head ID:HASH``, which also fails on
every key trusted and user added or revoked after that head. Rows after it are held to
the rules the commands follow (see :func:`_apply`), and ``check`` re-judges every
signature with the keys trusted at the row that relied on it.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from curagate.artifacts import load_json, parse_iso_utc
from curagate.digest import sha256_bytes, sha256_text
from curagate.errors import CheckFailed
from curagate.records import json_depth
from curagate.registry.schema import (
    ACTIONS,
    ADMIN_ACTIONS,
    APPROVER_ROLES,
    PEOPLE_ACTIONS,
    SCHEMA_V3,
    SCHEMA_V4,
    SCHEMA_V5,
    SCHEMA_VERSION,
    STAGES,
    split_statements,
)

GENESIS = "0" * 64
# The field every `register` row written under the rule "one version per artifact" carries
# (true). From the first such row on, the replay refuses a register row naming bytes already
# registered; twins an older curagate registered before it stay as they were.
ONE_PER_ARTIFACT = "one_version_per_artifact"
# The artifact's identity, which every `register` row this curagate writes carries: the
# digest of the manifest's file list (each file's path and sha256, :func:`files_digest`),
# not of MANIFEST.json's bytes. Found by attack: a copy of a registered bundle with its
# MANIFEST.json re-indented (the same weights, another digest) was registered under a
# second name, and the twin rule missed it. Rows without it (an older curagate's) are
# known by their artifact digest.
FILES_IDENTITY = "files_sha256"
# The field every move into production carries (true) that was decided on the newest signed
# verdict on its bytes across every version holding them (twins such a registry keeps). From
# the first such row on, `registry check` holds every move into production to that rule;
# moves an older curagate made on the version's own reports stay as they were.
VERDICTS_PER_ARTIFACT = "verdicts_per_artifact"
# The field every move into production carries (true) whose export signer was looked up
# again inside the write lock (a key revoked while the bytes hashed refuses the move). From
# the first such row on, the replay refuses a move into production of a version whose
# export key an earlier row revoked; such moves an older curagate made (it let a revocation
# during the hashing through, and before 4aa3733 any revoked export key) stay as they were:
# found by re-attack, holding them too left those registries unable to open at all.
SIGNER_IN_LOCK = "signer_checked_in_lock"
# The field every row carries (true) that a curagate wrote which never dates a row before
# the row it follows (a writer's clock behind within CLOCK_TOLERANCE takes the last row's
# time; further behind, it is refused). `registry check` fails on a row dated backwards from
# the first such row on; one before it (an older curagate's, NTP jitter) is a note. A row
# forged to look old (without the field) after that first row fails all the same.
TIMES_ORDERED = "row_times_ordered"
# An artifact digest as `registry register` writes it (the sha256 of MANIFEST.json).
_DIGEST = re.compile(r"[0-9a-f]{64}")
# The payload field holding the acting user's signature of their row (see actor_message).
ACTOR_SIG = "actor_sig"
# The deepest JSON the registry keeps (a payload, a registered lineage): what the commands
# write is a few levels deep. Held explicitly, not by the interpreter's stack, which a
# value 990 deep passed in the replay and overflowed in `list`, deeper in the stack.
MAX_JSON_DEPTH = 128
LOG_COLS = (
    "id, at, actor, action, name, version, from_stage, to_stage, reason, payload, prev_hash, hash"
)


class ChainBroken(CheckFailed):
    """The registry's tables or log were changed outside curagate (exit 1). From
    `Registry.check`: ``problems`` holds every problem found (the message joins them) and
    ``state`` the replayed log, so that the caller can go on checking (bundles)."""

    def __init__(self, message: str, *, problems: list[str] | None = None, state: Any = None):
        super().__init__(message)
        self.problems = problems if problems is not None else [message]
        self.state = state


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
        """The payload (ValueError when it is not JSON the commands write: the replay
        refuses such a row, so a registry that opens holds none)."""
        value = parse_json(self.payload)
        return value if isinstance(value, dict) else {}

    @property
    def signed(self) -> bool:
        """Whether the row carries its actor's signature: the replay verifies every one
        (whatever the action), so in a registry that opens, a signed row is one its actor
        wrote with their token."""
        return ACTOR_SIG in self.data

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


def parse_json(text: str) -> Any:
    """JSON text the registry stored, read with the limits curagate reads its artifacts
    with (:func:`~curagate.artifacts.load_json`: no NaN, no integer of more than 4300
    digits, no lone surrogate) and nested at most :data:`MAX_JSON_DEPTH` levels; ValueError
    saying why otherwise."""
    try:
        value = load_json(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeEncodeError:
        raise ValueError("holds a string that is no text (a lone surrogate escape)") from None
    except ValueError as e:
        if "integer string conversion" in str(e):  # not a limit to lift: no writer needs it
            raise ValueError("an integer of more than 4300 digits") from None
        raise ValueError(str(e)[:200]) from None
    if json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row_id: int, fields: tuple[Any, ...]) -> str:
    """sha256 over the previous hash, the row id and every column of the row."""
    return sha256_bytes(canonical([prev_hash, row_id, *fields]).encode())


def row_fields(row: LogRow, payload: str | None = None) -> tuple[Any, ...]:
    """The columns a row's hash covers, in order (``payload`` in place of the stored one)."""
    return (
        row.at,
        row.actor,
        row.action,
        row.name,
        row.version,
        row.from_stage,
        row.to_stage,
        row.reason,
        row.payload if payload is None else payload,
    )


def actor_message(prev_hash: str, row_id: int, fields: tuple[Any, ...]) -> bytes:
    """What a user signs with their actor key: everything the row's hash covers (the
    payload without the signature), under a label of its own. The previous row's hash
    binds it to its place in the log, so a signature cannot be replayed elsewhere."""
    return canonical(["curagate actor row v1", prev_hash, row_id, *fields]).encode()


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
    users_revoked: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    approvals: dict[int, dict[str, Any]] = field(default_factory=dict)
    waivers: dict[int, dict[str, Any]] = field(default_factory=dict)
    head_id: int = 0
    head_hash: str = GENESIS
    rows: int = 0
    native: bool = False  # a row written by schema 2 was seen (migrated rows come first)
    # Every artifact digest registered, with the version and log row that registered it
    # first; and whether a register row written under "one version per artifact" was seen.
    digests: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    # The same by files identity (:data:`FILES_IDENTITY`), for the rows that carry one.
    identities: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    one_per_artifact: bool = False
    # The first register row carrying a files identity (0: none yet): every register row
    # after it must carry one too (see _apply).
    identity_from: int = 0
    # Whether a move into production decided on every verdict on its bytes was seen.
    verdicts_per_artifact: bool = False
    signer_in_lock: bool = False  # a move carried SIGNER_IN_LOCK (see there)
    # The rows after the head `registry check --head` was given (None without one).
    after_head: list[LogRow] | None = None
    # What `registry check` noted without failing (rows an older curagate dated backwards).
    notes: list[str] = field(default_factory=list)
    used_requests: set[int] = field(default_factory=set)  # requests a promotion carried out
    # Per model name: the versions moved into production, in log order (what a rollback
    # restores is computed from it, as the command does), how many times its production
    # changed (a request made before a change is stale), and the version a rollback that
    # just archived production must restore.
    into_production: dict[str, list[int]] = field(default_factory=dict)
    production_changes: dict[str, int] = field(default_factory=dict)
    rollback_to: dict[str, int] = field(default_factory=dict)
    # Every move to production: (log row, name, version, gate report id, the gate keys
    # trusted at that row, the train keys then or None before any, whether it is held to
    # the newest verdict on its bytes across twins). `Registry.check` re-judges each
    # against those keys.
    production_moves: list[
        tuple[int, str, int, int, frozenset[str], frozenset[str] | None, bool]
    ] = field(default_factory=list)

    def gate_keys(self) -> frozenset[str]:
        """Fingerprints of the gate keys trusted and not revoked at this point of the log."""
        return self._active("gate")

    def train_keys(self) -> frozenset[str] | None:
        """The train keys trusted and not revoked at this point of the log; None while none
        was ever trusted (the promotion rule asks for a signed run from the first on)."""
        if not any(k.get("role") == "train" for k in self.keys.values()):
            return None
        return self._active("train")

    def _active(self, role: str) -> frozenset[str]:
        """A key revoked in one role is revoked in every role (the same key trusted as a
        gate and an export key, revoked as a leaked gate key, still signed bundles)."""
        revoked = {str(self.keys[kid].get("fingerprint")) for kid in self.revoked}
        return frozenset(
            str(k.get("fingerprint"))
            for k in self.keys.values()
            if k.get("role") == role and str(k.get("fingerprint")) not in revoked
        )

    def revocation_row(self, fingerprint: object) -> int | None:
        """The log row that first revoked the key ``fingerprint`` (in any role), or None."""
        rows = [
            int(r["_row"])
            for kid, r in self.revoked.items()
            if str(self.keys[kid].get("fingerprint")) == fingerprint
        ]
        return min(rows, default=None)

    def approver(self, name: str | None) -> bool:
        """Whether ``name`` is an active user with the approver or admin role here."""
        return any(
            u.get("name") == name
            and u.get("role") in APPROVER_ROLES
            and uid not in self.users_revoked
            for uid, u in self.users.items()
        )

    def actor_key(self, name: str) -> str | None:
        """The public actor key recorded when the active user ``name`` was added (None for
        users added before actor keys, whose rows are not signed)."""
        for uid, u in self.users.items():
            if u.get("name") == name and uid not in self.users_revoked:
                key = u.get("actor_key")
                return key if isinstance(key, str) else None
        return None

    def signing_admins(self) -> list[str]:
        """Active admins with an actor key: once there is one, only they manage users and
        keys (:data:`ADMIN_ACTIONS`), and their rows are signed."""
        return [
            str(u.get("name"))
            for uid, u in self.users.items()
            if u.get("role") == "admin"
            and uid not in self.users_revoked
            and isinstance(u.get("actor_key"), str)
        ]

    def unsigned_approvers(self) -> list[str]:
        """Active approvers and admins without an actor key: their rows are not signed."""
        return [
            str(u.get("name"))
            for uid, u in self.users.items()
            if u.get("role") in APPROVER_ROLES
            and uid not in self.users_revoked
            and not isinstance(u.get("actor_key"), str)
        ]

    def has_approvers(self) -> bool:
        return any(
            u.get("role") in APPROVER_ROLES and uid not in self.users_revoked
            for uid, u in self.users.items()
        )


def _unbacked(state: State, key: tuple[str, int], data: dict[str, Any], at: str) -> str | None:
    """Why a move to production is not backed by what the log recorded before it."""
    backing = state.reports.get(int(data.get("gate_report_id") or -1))
    if (
        backing is None
        or (backing["name"], backing["version"]) != key
        or not backing.get("accepted")
    ):
        return "without an accepted gate report of that version recorded before it"
    if backing.get("verdict") == "pass":
        return None
    waiver = state.waivers.get(int(data.get("waiver_id") or -1))
    if (
        backing.get("verdict") == "warn"
        and waiver is not None
        and (waiver["name"], waiver["version"]) == key
        and waiver.get("report_sha256") == backing.get("report_sha256")
        and str(waiver.get("expires_at")) > at
        and (not state.users or state.approver(waiver.get("granted_by")))
    ):
        return None
    return f"on a {backing.get('verdict')} verdict without a waiver in force"


# The payload id each action creates, and the state it is kept in: every id is new.
_IDS = {
    "report": ("gate_report_id", "reports"),
    "trust": ("key_id", "keys"),
    "user_add": ("user_id", "users"),
    "request": ("request_id", "requests"),
    "waive": ("waiver_id", "waivers"),
}


def _production_move(state: State, row: LogRow) -> str | None:
    """Track production history for rollbacks and stale requests; why a rollback into
    production is not the one the command makes (the previous production version)."""
    name = row.name or ""
    history = state.into_production.setdefault(name, [])
    if row.from_stage == "production" or row.to_stage == "production":
        state.production_changes[name] = state.production_changes.get(name, 0) + 1
    if row.action == "rollback" and row.from_stage == "production":
        # The command archives production, then restores the version that was in
        # production just before the current one last took over.
        version = row.version or 0
        since = max((i for i, v in enumerate(history) if v == version), default=-1)
        previous = next((v for v in reversed(history[:since]) if v != version), None)
        if previous is None:
            return f"rolls {name} v{version} back with no earlier production version"
        state.rollback_to[name] = previous
    elif row.action == "rollback" and row.to_stage == "production":
        expected = state.rollback_to.pop(name, None)
        if expected != row.version:
            return (
                f"rolls {name} back to v{row.version}; the command restores the previous "
                f"production version ({'none' if expected is None else f'v{expected}'})"
            )
    if row.to_stage == "production" and row.action in ("promote", "rollback"):
        history.append(row.version or 0)
    return None


# Stages in the order promotion moves a version through them.
_RANK = {stage: i for i, stage in enumerate(STAGES)}


def _not_a_command_move(row: LogRow, stage: str) -> str | None:
    """Why a move is not one the commands make: a promotion goes forward only and never
    to archived (that is an ``archive`` row), an archive row archives, and a rollback
    archives production or restores an archived version into it."""
    to = str(row.to_stage)
    if row.action == "promote" and (to == "archived" or _RANK[to] <= _RANK.get(stage, 0)):
        return f"from {stage} to {to}: a promotion goes forward, and not to archived"
    if row.action == "archive" and to != "archived":
        return f"to {to} with an archive row, which only archives"
    if row.action == "rollback" and (stage, to) not in (
        ("production", "archived"),
        ("archived", "production"),
    ):
        return f"from {stage} to {to} with a rollback row, which archives production or restores it"
    return None


def _unapproved(state: State, key: tuple[str, int], data: dict[str, Any]) -> str | None:
    """Why a promotion to production is not the one an approved request asked for."""
    rid = int(data.get("request_id") or -1)
    req = state.requests.get(rid)
    if req is None or (req["name"], req["version"]) != key or req["to_stage"] != "production":
        return "without a promotion request of that version to production"
    if rid not in state.approvals:
        return f"on request {rid}, which was not approved before it"
    if rid in state.used_requests:
        return f"on request {rid}, which an earlier promotion carried out"
    backing: tuple[Any, ...] = (data.get("gate_report_id"), data.get("waiver_id"))
    asked: tuple[Any, ...] = (req["gate_report_id"], req["waiver_id"])
    # Requests logged before a request was bound to its backing (they name no waiver_id)
    # were carried out on whatever backed the version at approval: replayed so.
    if "waiver_id" in req["_recorded"] and backing != asked:
        return (
            f"on request {rid} but on report {backing[0]}"
            f"{f' (waiver {backing[1]})' if backing[1] is not None else ''}, "
            f"not the report {asked[0]} it was requested on"
            f"{f' (waiver {asked[1]})' if asked[1] is not None else ''}"
        )
    state.used_requests.add(rid)
    return None


def _unsigned(state: State, row: LogRow, data: dict[str, Any]) -> str | None:
    """Why a row that only an approver may write is not signed by the approver it names.

    The commands sign such rows with the key derived from the acting user's token; a
    writer of the database file who holds no approver's token cannot, so cannot make a
    request, an approval, a waiver or a move in a real approver's name."""
    public = state.actor_key(row.actor)
    if public is None:
        return None
    from curagate.signing import actor_signature_valid

    signature = data.get(ACTOR_SIG)
    unsigned = canonical({k: v for k, v in data.items() if k != ACTOR_SIG})
    message = actor_message(row.prev_hash, row.id, row_fields(row, unsigned))
    if isinstance(signature, str) and actor_signature_valid(public, message, signature):
        return None
    return (
        f"{row.action} in the name of {row.actor!r} is not signed with {row.actor}'s actor key "
        "(rows an approver writes carry their signature; this one was written by hand)"
    )


def _not_by_an_admin(state: State, row: LogRow, data: dict[str, Any]) -> str | None:
    """Why a user or key change is not made by an admin who signs it, once the registry
    has such an admin (before, the owner of the database file makes them unsigned)."""
    admins = state.signing_admins()
    if not admins:
        return None
    if row.actor not in admins:
        return (
            f"{row.action} by {row.actor!r}, who is not an active admin with an actor key, "
            f"while the registry has one ({', '.join(sorted(admins))}): only they add and "
            "revoke users and keys"
        )
    return _unsigned(state, row, data)


def same_person(a: object, b: object) -> bool:
    """Whether two user names are one person's: names are ASCII and compared case-blind,
    so case twins an older curagate added (alice and Alice; `users add` refuses the second
    today) count as one person wherever two people are needed. The one comparison the
    replay, the commands and the release service's pages use."""
    return str(a).lower() == str(b).lower()


def artifact_key(data: dict[str, Any]) -> str:
    """What a register row's version is known by as an artifact: its files identity, or
    for a row an older curagate wrote, its artifact digest."""
    return str(data.get(FILES_IDENTITY) or data.get("artifact_digest"))


def _twin(state: State, row: LogRow, data: dict[str, Any], migrated: bool) -> str | None:
    """Why a register row names bytes already registered, as the command refuses (one
    version per artifact: under a second name the same bytes shipped on an older pass while
    a newer signed fail held the first back). The same bytes: the same artifact digest, or
    the same files identity (:data:`FILES_IDENTITY`: a copy with MANIFEST.json spelled
    otherwise). Held from the first register row the rule wrote on
    (:data:`ONE_PER_ARTIFACT`): a registry an older curagate wrote may hold twins, which
    stay as they were (`check --head` refuses one after the recorded head)."""
    digest = str(data.get("artifact_digest"))
    first = state.digests.setdefault(digest, (row.name or "", row.version or 0, row.id))
    what = f"artifact {digest[:12]}…"
    files = data.get(FILES_IDENTITY)
    if files is not None:
        same = state.identities.setdefault(str(files), (row.name or "", row.version or 0, row.id))
        if first[2] == row.id and same[2] != row.id:
            first, what = same, f"files {str(files)[:12]}… (its manifest's file list)"
    if migrated:
        return None
    state.one_per_artifact = state.one_per_artifact or data.get(ONE_PER_ARTIFACT) is True
    if first[2] == row.id or not state.one_per_artifact:
        return None
    return (
        f"registers {row.name} v{row.version} with {what}, already registered "
        f"as {first[0]} v{first[1]} at log row {first[2]}; `registry register` refuses the same "
        "bytes a second time (one version per artifact, so a newer signed fail on them holds "
        "every name back): this row was written by hand"
    )


TIME_FORM = "YYYY-MM-DDTHH:MM:SS.ffffffZ, in UTC"


def _not_canonical_time(what: str, value: object) -> str | None:
    """Why ``value`` is not a time in the one form curagate writes (parse_iso_utc)."""
    if parse_iso_utc(value) is not None:
        return None
    shown = repr(value[:80]) if isinstance(value, str) else repr(value)[:80]
    return (
        f"{what} {shown} is not a time in the form every curagate command writes "
        f"({TIME_FORM}): the row was written by hand"
    )


def _apply(state: State, row: LogRow) -> str | None:
    """Apply one row to the state; return why it cannot follow the rows before it."""
    if row.action not in ACTIONS:
        return f"unknown action {row.action!r}"
    data = row.data
    key = (row.name or "", row.version or 0)
    # Who and when are part of what the tables must agree with.
    meta = {"_at": row.at, "_actor": row.actor, "_reason": row.reason}
    migrated = data.get("migrated_from_schema") is not None
    if migrated and state.native:
        return "claims to be migrated from schema 1 after schema-2 rows"
    if row.action == "migrate" and not migrated:
        return "a migrate row that is not part of a schema-1 migration"
    state.native = state.native or not migrated
    if not migrated:
        # Every time the commands write is in one form (iso_utc), so that the replay's text
        # comparisons (a waiver's expiry against a move's time) are time order: any other
        # form was written by hand. Schema-1 history keeps the times curagate 0.1 wrote.
        why = _not_canonical_time(f"{row.action} by {row.actor!r}: its time", row.at)
        if why is None and row.action == "waive":
            why = _not_canonical_time(
                f"waive by {row.actor!r}: its expires_at", data.get("expires_at")
            )
        if why is not None:
            return why
    ident = _IDS.get(row.action)
    if ident is not None and int(data.get(ident[0], -1)) in getattr(state, ident[1]):
        return f"{row.action} reuses {ident[0]} {data.get(ident[0])}"
    if not migrated and row.action in PEOPLE_ACTIONS and not state.approver(row.actor):
        return (
            f"{row.action} by {row.actor!r}, who is not an active user with the approver or "
            "admin role there"
        )
    if not migrated and row.action in PEOPLE_ACTIONS:
        why = _unsigned(state, row, data)
        if why:
            return why
    if not migrated and row.action in ADMIN_ACTIONS:
        why = _not_by_an_admin(state, row, data)
        if why:
            return why
    if ACTOR_SIG in data:
        # Whatever the action: `registry show` and the service mark a row with a signature
        # as signed by its actor, so one that nobody could check is not let through.
        why = _unsigned(state, row, data) if state.actor_key(row.actor) else "no actor key"
        if why:
            return (
                f"{row.action} carries a signature that is not {row.actor!r}'s ({why}); the "
                "row was written by hand"
            )
    if row.action == "register":
        if key in state.versions:
            return f"registers {row.name} v{row.version} a second time"
        digest = data.get("artifact_digest")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            # Upper case was another key for the same bytes: a twin that escaped one
            # version per artifact and `check --head` (compared as text), while every
            # bundle check lower-cases.
            return (
                f"registers {row.name} v{row.version} with artifact digest "
                f"{str(digest)[:80]!r}, not 64 lowercase hex characters as `registry register` "
                "writes: the row was written by hand"
            )
        if row.to_stage != "experiment" and not migrated:
            return f"registers {row.name} v{row.version} into {row.to_stage}, not experiment"
        files = data.get(FILES_IDENTITY)
        if files is not None and (not isinstance(files, str) or not _DIGEST.fullmatch(files)):
            return (
                f"registers {row.name} v{row.version} with files identity {str(files)[:80]!r}, "
                "not 64 lowercase hex characters as `registry register` writes: the row was "
                "written by hand"
            )
        if files is None and state.identity_from and not migrated:
            # Found by re-attack: a register row without files_sha256 (as an older curagate
            # wrote them) appended by hand was known by its digest only, so a re-indented
            # copy of a version a signed fail holds back registered and shipped.
            return (
                f"registers {row.name} v{row.version} without a files identity "
                f"({FILES_IDENTITY}), while log row {state.identity_from} and every register "
                "row since carry one (`registry register` writes it since it knows artifacts "
                "by their files): the row was written by hand"
            )
        if files is not None and not state.identity_from:
            state.identity_from = row.id
        why = _twin(state, row, data, migrated)
        if why:
            return why
        fields = {k: v for k, v in data.items() if k not in ("stage", "was_production")}
        state.versions[key] = {**fields, **meta, "stage": row.to_stage, "_row": row.id}
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
        why = None if migrated else _not_a_command_move(row, current["stage"])
        if why:
            return f"moves {row.name} v{row.version} {why}"
        if not migrated and row.action != "migrate" and state.has_approvers():
            # Once there are approvers every move is made by one (the CLI needs a token),
            # and production by promotion only through an approved request of two people.
            if not state.approver(row.actor):
                return (
                    f"moves {row.name} v{row.version} by {row.actor!r}, who is not an active "
                    "approver, while the registry has approvers"
                )
            why = _unsigned(state, row, data)
            if why:
                return why
            if row.to_stage == "production" and row.action == "promote":
                why = _unapproved(state, key, data)
                if why:
                    return f"moves {row.name} v{row.version} to production {why}"
        if row.to_stage == "production" and not migrated:
            why = _unbacked(state, key, data, row.at)
            if why:
                return f"moves {row.name} v{row.version} to production {why}"
            state.signer_in_lock = state.signer_in_lock or data.get(SIGNER_IN_LOCK) is True
            signer = current.get("signed_by")
            revoked_at = state.revocation_row(signer) if isinstance(signer, str) else None
            if state.signer_in_lock and isinstance(signer, str) and revoked_at is not None:
                # A revoked key stops backing promotions at once: found by attack, a move
                # whose bytes were hashed while the key was revoked went through after it.
                return (
                    f"moves {row.name} v{row.version} to production, registered signed by "
                    f"export key {signer[:12]}, which log row {revoked_at} revoked before it: a "
                    "revoked key backs no move into production"
                )
            if row.action == "rollback" and not current.get("was_production"):
                return f"rolls {row.name} v{row.version} back into production, where it never was"
            waiver = data.get("waiver_id")
            if (
                row.action == "rollback"
                and waiver is not None
                and waiver != current.get("waiver")
                and same_person(state.waivers.get(int(waiver), {}).get("granted_by"), row.actor)
            ):
                # One approver rolls back; a warn waived since the version last shipped is a
                # new decision, which takes two people, the waiver's and the rollback's.
                return (
                    f"rolls {row.name} v{row.version} back into production on waiver {waiver}, "
                    "granted since it last shipped by the approver who rolls back"
                )
            current["waiver"] = waiver
            state.verdicts_per_artifact = (
                state.verdicts_per_artifact or data.get(VERDICTS_PER_ARTIFACT) is True
            )
            state.production_moves.append(
                (
                    row.id,
                    key[0],
                    key[1],
                    int(data.get("gate_report_id") or -1),
                    state.gate_keys(),
                    state.train_keys(),
                    state.verdicts_per_artifact,
                )
            )
        if not migrated:
            why = _production_move(state, row)
            if why:
                return why
        elif row.to_stage == "production" and row.action in ("promote", "rollback"):
            state.into_production.setdefault(key[0], []).append(key[1])
        if row.to_stage == "production":
            current["was_production"] = True
        current["stage"] = row.to_stage
    elif row.action == "report":
        if key not in state.versions:
            return f"records a report for {row.name} v{row.version}, which was never registered"
        state.reports[int(data.get("gate_report_id", -1))] = {
            "name": row.name,
            "version": row.version,
            **data,
            **meta,
            "_row": row.id,
            "_gate_keys": state.gate_keys(),  # what `check` re-judges an accepted one with
        }
    elif row.action == "trust":
        state.keys[int(data.get("key_id", -1))] = {**data, **meta}
    elif row.action == "revoke":
        if int(data.get("key_id", -1)) not in state.keys:
            return "revokes a key that was never trusted"
        state.revoked[int(data.get("key_id", -1))] = {**data, **meta, "_row": row.id}
    elif row.action == "user_add":
        public = data.get("actor_key")
        holder = next((u for u in state.users.values() if u.get("actor_key") == public), None)
        if public is not None and holder is not None:
            return (
                f"adds {data.get('name')!r} with the actor key of {holder.get('name')!r}: one "
                "key would sign as two people"
            )
        state.users[int(data.get("user_id", -1))] = {**data, **meta}
    elif row.action == "user_revoke":
        uid = int(data.get("user_id", -1))
        if uid not in state.users or uid in state.users_revoked:
            return "revokes a user that was never added, or twice"
        state.users_revoked[uid] = meta
    elif row.action == "request":
        if key not in state.versions:
            return f"requests a promotion of {row.name} v{row.version}, which was never registered"
        state.requests[int(data.get("request_id", -1))] = {
            "name": row.name,
            "version": row.version,
            "to_stage": row.to_stage,
            "requested_by": row.actor,
            "reason": row.reason,
            # What the request rests on: its promotion must rest on the same (approve).
            "gate_report_id": data.get("gate_report_id"),
            "waiver_id": data.get("waiver_id"),
            "_recorded": sorted(data),
            **meta,
            "_epoch": state.production_changes.get(row.name or "", 0),
        }
    elif row.action == "approve":
        rid = int(data.get("request_id", -1))
        req = state.requests.get(rid)
        if req is None or rid in state.approvals:
            return f"approves request {rid}, which does not exist or was approved before"
        if same_person(req["requested_by"], row.actor):
            return f"request {rid} is approved by its own requester"
        if not state.approver(req["requested_by"]):
            return f"approves request {rid}, whose requester's access was revoked since"
        if req["to_stage"] == "production" and req["_epoch"] != state.production_changes.get(
            str(req["name"]), 0
        ):
            return f"approves request {rid}, made before production of {req['name']} changed"
        state.approvals[rid] = {"approved_by": row.actor, "reason": row.reason, **meta}
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
            **meta,
        }
    return None


def replay(conn: sqlite3.Connection) -> State:
    """Recompute the chain from its first row; raise :class:`ChainBroken` at the first bad row."""
    state = State()
    prev = GENESIS
    expected_id = 1
    for r in _log_rows(conn):
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
        if row_hash(prev, row.id, row_fields(row)) != row.hash:
            raise ChainBroken(
                f"registry log row {row.id} ({row.action} {row.name or ''} "
                f"v{row.version or ''}): content does not match its hash; the row was edited by hand"
            )
        try:
            why = _apply(state, row)
        # OverflowError: an id of 1e999; RecursionError: a payload nested a thousand deep
        except (ValueError, TypeError, OverflowError, RecursionError) as e:
            why = f"payload is not valid ({type(e).__name__}: {str(e)[:200]})"
        if why:
            raise ChainBroken(f"registry log row {row.id}: {why}")
        prev = row.hash
        state.head_id, state.head_hash = row.id, row.hash
        state.rows += 1
        expected_id += 1
    # The value only when it is an integer: found by attack, a hand-edited NULL, text or
    # BLOB here was exit 3 (int() of it) and text not UTF-8 "database error", no tampering.
    seq = conn.execute(
        "SELECT typeof(seq), CASE WHEN typeof(seq) = 'integer' THEN seq END "
        "FROM sqlite_sequence WHERE name = 'log'"
    ).fetchone()
    if seq is None:
        return state
    kind, value = seq
    if value is None:
        raise ChainBroken(
            f"registry table sqlite_sequence row 'log': its seq holds {kind}, not the log's "
            "last row id: edited by hand"
        )
    if value > state.head_id:
        raise ChainBroken(
            f"registry log: {value - state.head_id} row(s) after row {state.head_id} were "
            "deleted by hand (the log's sequence is ahead of its last row)"
        )
    if value < state.head_id:
        raise ChainBroken(
            f"registry table sqlite_sequence row 'log': its seq {value} is behind the log's "
            f"last row {state.head_id}: edited by hand"
        )
    return state


# The Python type each log column must hold (SQLite stores any value in any column).
_LOG_TYPES = (
    ("id", (int,)),
    ("at", (str,)),
    ("actor", (str,)),
    ("action", (str,)),
    ("name", (str, type(None))),
    ("version", (int, type(None))),
    ("from_stage", (str, type(None))),
    ("to_stage", (str, type(None))),
    ("reason", (str,)),
    ("payload", (str,)),
    ("prev_hash", (str,)),
    ("hash", (str,)),
)


def _log_rows(conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """The log's rows in order, each column of the type the commands write: a value of
    another type (a BLOB reason) or text that is not UTF-8 was written by hand."""
    cursor = conn.execute(f"SELECT {LOG_COLS} FROM log ORDER BY id")
    last = 0
    while True:
        try:
            r = cursor.fetchone()
        except sqlite3.OperationalError as e:  # "Could not decode to UTF-8 column ..."
            raise ChainBroken(
                f"registry log: the row after row {last} holds text that is not UTF-8 ({e}); "
                "the row was written by hand"
            ) from None
        if r is None:
            return
        for value, (column, types) in zip(r, _LOG_TYPES, strict=True):
            if not isinstance(value, types):
                raise ChainBroken(
                    f"registry log row {r[0] if isinstance(r[0], int) else f'after {last}'}: "
                    f"column {column} holds a {type(value).__name__}, not "
                    f"{' or '.join('null' if t is type(None) else t.__name__ for t in types)}; "
                    "the row was written by hand"
                )
        last = r[0]
        yield r


def _mismatch(table: str, row_id: Any, what: str) -> ChainBroken:
    return ChainBroken(
        f"registry table {table} row {row_id}: {what}; the database was changed outside "
        "curagate (run `curagate registry check`)"
    )


@functools.cache
def _expected_objects(version: int) -> frozenset[tuple[str, str, str]]:
    """(type, name, sql) of every table, index and trigger schema ``version`` (3 to 5) creates."""
    mem = sqlite3.connect(":memory:")
    try:
        for stmt in split_statements({3: SCHEMA_V3, 4: SCHEMA_V4}.get(version, SCHEMA_V5)):
            mem.execute(stmt)
        return _objects(mem)
    finally:
        mem.close()


# SQLite's own tables (AUTOINCREMENT's counters, ANALYZE's statistics): the only objects
# with SQL that no schema statement creates. Every other one is compared, whatever its
# name: `NOT LIKE 'sqlite_%'` let a trigger named sqliteXa (LIKE's `_` is any character)
# silently drop every revocation, with `registry check --head` ok.
_SQLITE_TABLES = ("sqlite_sequence", "sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4")


def _objects(conn: sqlite3.Connection) -> frozenset[tuple[str, str, str]]:
    return frozenset(
        (t, n, " ".join(str(sql).split()))
        for t, n, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            f"AND NOT (type = 'table' AND name IN ({', '.join('?' * len(_SQLITE_TABLES))}))",
            _SQLITE_TABLES,
        )
    )


def _check_schema(conn: sqlite3.Connection, version: int) -> None:
    """Every table, index and trigger exactly as the schema creates them.

    Names are not enough: a trigger can be replaced by a no-op of the same name, an
    index made non-unique, a NOT NULL dropped by recreating a table.
    """
    expected, actual = _expected_objects(version), _objects(conn)
    if expected == actual:
        return
    changed = sorted(expected - actual) or sorted(actual - expected)
    kind, name, _ = changed[0]
    how = "dropped or altered" if (kind, name) not in {(t, n) for t, n, _ in actual} else "altered"
    if changed[0] in actual and (kind, name) not in {(t, n) for t, n, _ in expected}:
        how = "added"
    raise ChainBroken(
        f"registry: {kind} {name} was {how} by hand; the registry's guarantees no longer hold"
    )


# The tables the commands write besides the log (which :func:`_log_rows` reads itself).
_TABLES = (
    "model_versions",
    "gate_reports",
    "trusted_keys",
    "key_revocations",
    "users",
    "user_revocations",
    "promotion_requests",
    "approvals",
    "waivers",
)


def not_utf8(conn: sqlite3.Connection, tables: Sequence[str] = _TABLES) -> str | None:
    """Where the first text value that is not UTF-8 is ("table model_versions row 1:
    column name holds ..."), or None. SQLite stores whatever bytes a hand edit casts to
    text (``CAST(X'ff' AS TEXT)``), and Python's sqlite3 cannot read them back: it raises
    a bare "Could not decode to UTF-8 column 'name'", naming neither table nor row."""
    for table in tables:
        columns = [str(c[1]) for c in conn.execute(f"PRAGMA table_info({table})")]
        if not columns:
            continue  # not in this schema
        raw = ", ".join(
            f"CASE WHEN typeof({c}) = 'text' THEN CAST({c} AS BLOB) END" for c in columns
        )
        for row in conn.execute(f"SELECT id, {raw} FROM {table} ORDER BY id"):
            for column, value in zip(columns, row[1:], strict=True):
                if value is None:
                    continue
                try:
                    bytes(value).decode("utf-8")
                except UnicodeDecodeError as e:
                    shown = bytes(value)[:40]
                    return (
                        f"table {table} row {row[0]}: column {column} holds text that is not "
                        f"UTF-8 ({shown!r}{'…' if len(value) > 40 else ''}: {e.reason} at "
                        f"byte {e.start})"
                    )
    return None


def verify(conn: sqlite3.Connection, *, schema: int = SCHEMA_VERSION) -> State:
    """Replay the log and check every table, column and schema object against it (the
    objects of ``schema``: 5, or 3 or 4 for a registry about to be migrated)."""
    try:
        return _verify(conn, schema)
    except sqlite3.OperationalError as e:
        if "decode" not in str(e) or "UTF-8" not in str(e):
            raise
        where = not_utf8(conn)
        if where is None:
            raise
        # Tampering, as any other value the commands never write (exit 1), not a database
        # that cannot be used (exit 2 "registry database error", naming no row).
        raise ChainBroken(
            f"registry {where}; every curagate command writes UTF-8: the database was changed "
            "outside curagate (restore it from a backup)"
        ) from None


def _verify(conn: sqlite3.Connection, schema: int) -> State:
    _check_schema(conn, schema)
    # The service finds a user by token through the index on users.token_sha256: an
    # index page written over by hand (every row and the log untouched) let a chosen
    # token log in as anyone. The replay reads tables whole, so check that every index
    # agrees with its table.
    problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise ChainBroken(
            f"registry: the database file is damaged or was edited by hand ({problems[0]}); "
            "the registry's guarantees no longer hold"
        )
    state = replay(conn)

    seen: set[tuple[str, int]] = set()
    for vid, name, version, digest, path, lineage, signed_by, stage, created in conn.execute(
        "SELECT id, name, version, artifact_digest, artifact_path, lineage, signed_by, stage, "
        "created_at FROM model_versions ORDER BY id"
    ):
        logged = state.versions.get((name, version))
        if logged is None:
            raise _mismatch(
                "model_versions", vid, f"{name} v{version} has no register entry in the log"
            )
        if not isinstance(lineage, str):  # a BLOB: sha256_text crashed on it (exit 3)
            raise _mismatch(
                "model_versions",
                vid,
                f"{name} v{version}'s lineage is a {type(lineage).__name__}, not text",
            )
        registered = (
            logged.get("artifact_digest"),
            logged.get("artifact_path"),
            logged.get("lineage_sha256"),
            logged.get("signed_by"),
            logged.get("_at"),
        )
        if registered != (digest, path, lineage_sha256(lineage), signed_by, created):
            raise _mismatch(
                "model_versions", vid, f"{name} v{version} differs from its registration"
            )
        try:
            # Every command reads it (`list`, `show`, every promotion): JSON SQLite takes
            # but Python cannot parse (nested a thousand deep, an integer of 5000 digits)
            # made each exit 3, while `check --head` said ok.
            if not isinstance(parse_json(lineage), dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            raise ChainBroken(
                f"registry log row {logged['_row']}: registers {name} v{version} (table "
                f"model_versions row {vid}) with a lineage that is not JSON `registry register` "
                f"writes ({e}); it copies the bundle's MANIFEST.json, read with these limits: "
                "the row was written by hand"
            ) from None
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
        "name",
        "version",
        "report_sha256",
        "attestation_sha256",
        "verdict",
        "accepted",
        "why",
        "keyid",
        "path",
        "_actor",
        "_at",
    )
    count = 0
    for row in conn.execute(
        "SELECT g.id, m.name, m.version, g.report_sha256, g.attestation_sha256, g.verdict, "
        "g.accepted, g.why, g.keyid, g.path, g.actor, g.recorded_at FROM gate_reports g "
        "LEFT JOIN model_versions m ON m.id = g.model_version_id ORDER BY g.id"
    ):
        logged = state.reports.get(row[0])
        if logged is None:
            raise _mismatch(
                "gate_reports", row[0], "has no report entry in the log (inserted by hand)"
            )
        actual = dict(zip(report_cols, row[1:], strict=True))
        if actual["accepted"] not in (0, 1):
            raise _mismatch("gate_reports", row[0], "accepted is neither 0 nor 1")
        actual["accepted"] = bool(actual["accepted"])
        if any(logged.get(k) != v for k, v in actual.items()):
            raise _mismatch("gate_reports", row[0], "differs from the report entry in the log")
        count += 1
    if count != len(state.reports):
        raise _mismatch("gate_reports", "-", "a report in the log is missing from the table")

    count = 0
    for kid, fp, name, role, pem, added_by, added_at in conn.execute(
        "SELECT id, fingerprint, name, role, public_pem, added_by, added_at FROM trusted_keys "
        "ORDER BY id"
    ):
        logged = state.keys.get(kid)
        if not isinstance(pem, str):  # a BLOB: sha256_text crashed on it (exit 3)
            raise _mismatch("trusted_keys", kid, f"public_pem is a {type(pem).__name__}, not text")
        if logged is None or (
            logged.get("fingerprint"),
            logged.get("name"),
            logged.get("role"),
            logged.get("public_pem_sha256"),
            logged.get("_actor"),
            logged.get("_at"),
        ) != (fp, name, role, sha256_text(pem), added_by, added_at):
            raise _mismatch("trusted_keys", kid, "does not match a trust entry in the log")
        count += 1
    if count != len(state.keys):
        raise _mismatch("trusted_keys", "-", "a trusted key in the log is missing from the table")
    revocations = {
        kid: (reason, by, at)
        for kid, reason, by, at in conn.execute(
            "SELECT key_id, reason, revoked_by, revoked_at FROM key_revocations"
        )
    }
    logged_revocations = {
        kid: (r["_reason"], r["_actor"], r["_at"]) for kid, r in state.revoked.items()
    }
    if revocations != logged_revocations:
        raise _mismatch("key_revocations", "-", "revocations differ from the log")
    _numbered_as_written(
        "key_revocations",
        "trusted key id",
        conn.execute("SELECT id, key_id FROM key_revocations ORDER BY id").fetchall(),
        state.revoked,
    )
    _verify_people(conn, state)
    return state


def _numbered_as_written(
    table: str, of: str, rows: list[tuple[Any, ...]], logged: Iterable[int]
) -> None:
    """``rows`` (id, the key, user or request it is of, ``of`` naming which; by id) of an
    append-only table whose ids the log does not carry: SQLite numbers its rows 1, 2, … as
    they are written, so they are numbered in the order of the log rows that wrote them
    (``logged``, the keys in that order). Found by attack: an id changed by hand (the
    trigger dropped and put back) went unnoticed, as the other columns are compared with
    the log by the key."""
    for n, (row, key) in enumerate(zip(rows, logged, strict=True), start=1):
        if row[0] != n:
            raise _mismatch(table, row[0], f"is numbered {row[0]}, but the log wrote it as row {n}")
        if row[1] != key:  # two rows' ids swapped: each numbered as a row the log wrote
            raise _mismatch(
                table, n, f"is of {of} {row[1]}, but the log wrote row {n} of {of} {key}"
            )


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
        conn.execute(
            "SELECT id, name, role, token_sha256, created_by, created_at FROM users ORDER BY id"
        ).fetchall(),
        state.users,
        ("name", "role", "token_sha256", "_actor", "_at"),
    )
    revoked = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT user_id, reason, revoked_by, revoked_at FROM user_revocations"
        )
    }
    logged = {u: (m["_reason"], m["_actor"], m["_at"]) for u, m in state.users_revoked.items()}
    if revoked != logged:
        raise _mismatch("user_revocations", "-", "revocations differ from the log")
    _numbered_as_written(
        "user_revocations",
        "user id",
        conn.execute("SELECT id, user_id FROM user_revocations ORDER BY id").fetchall(),
        state.users_revoked,
    )
    _same_rows(
        "promotion_requests",
        conn.execute(
            "SELECT r.id, m.name, m.version, r.to_stage, r.requested_by, r.reason, r.created_at "
            "FROM promotion_requests r LEFT JOIN model_versions m ON m.id = r.model_version_id "
            "ORDER BY r.id"
        ).fetchall(),
        state.requests,
        ("name", "version", "to_stage", "requested_by", "reason", "_at"),
    )
    _same_rows(
        "approvals",
        conn.execute(
            "SELECT request_id, approved_by, reason, approved_at FROM approvals ORDER BY request_id"
        ).fetchall(),
        state.approvals,
        ("approved_by", "reason", "_at"),
    )
    _numbered_as_written(
        "approvals",
        "request",
        conn.execute("SELECT id, request_id FROM approvals ORDER BY id").fetchall(),
        state.approvals,
    )
    _same_rows(
        "waivers",
        conn.execute(
            "SELECT w.id, m.name, m.version, w.report_sha256, w.expires_at, w.reason, w.granted_by, "
            "w.granted_at "
            "FROM waivers w LEFT JOIN model_versions m ON m.id = w.model_version_id ORDER BY w.id"
        ).fetchall(),
        state.waivers,
        ("name", "version", "report_sha256", "expires_at", "reason", "granted_by", "_at"),
    )


__all__ = [
    "ACTOR_SIG",
    "FILES_IDENTITY",
    "GENESIS",
    "LOG_COLS",
    "MAX_JSON_DEPTH",
    "ONE_PER_ARTIFACT",
    "SIGNER_IN_LOCK",
    "TIMES_ORDERED",
    "TIME_FORM",
    "VERDICTS_PER_ARTIFACT",
    "ChainBroken",
    "LogRow",
    "State",
    "actor_message",
    "artifact_key",
    "canonical",
    "lineage_sha256",
    "not_utf8",
    "parse_json",
    "replay",
    "row_fields",
    "row_hash",
    "same_person",
    "verify",
]
