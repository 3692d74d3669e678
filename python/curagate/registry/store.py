"""The model registry: versions, trusted keys, gate reports and a hash-chained log, in SQLite.

It verifies instead of trusting. A version reaches production only on a gate
attestation that verifies with a trusted, unrevoked gate key, names exactly this
version's artifact digest, pins the report's bytes and says ``pass``; and only
while its bundle on disk still matches (and, if it was registered signed, its
signature still verifies). Every report offered is kept, accepted or not, with why.
Every change is a row of the hash-chained log (:mod:`curagate.registry.chain`),
which is replayed and compared with the tables at every open and before every
write: a hand edit is reported, and no write proceeds on a broken chain.

Why SQLite: one file next to the project, no server, real transactions. Writes run
in ``BEGIN IMMEDIATE`` (the write lock is taken before anything is read), so two
processes promoting at once are serialized. Reads run in WAL snapshots and never
take the write lock. Reports and attestations are stored content-addressed in a
folder beside the database (``registry.db.store/``), so nothing depends on a user's
output folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import re
import secrets
import sqlite3
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from curagate.artifacts import (
    AttestationRefused,
    GateReportDoc,
    iso_utc,
    parse_artifact,
    parse_iso_utc,
    verify_gate_attestation,
)
from curagate.digest import files_digest, sha256_bytes
from curagate.errors import CheckFailed, ConfigError, InputError
from curagate.export.manifest import MANIFEST_NAME, VerifyResult, verify_bundle
from curagate.io.atomic import write_bytes_atomic
from curagate.io.outputs import read_regular
from curagate.registry.chain import (
    ACTOR_SIG,
    FILES_IDENTITY,
    GENESIS,
    LOG_COLS,
    ONE_PER_ARTIFACT,
    SIGNER_IN_LOCK,
    TIME_FORM,
    TIMES_ORDERED,
    VERDICTS_PER_ARTIFACT,
    ChainBroken,
    LogRow,
    State,
    actor_message,
    artifact_key,
    canonical,
    lineage_sha256,
    not_utf8,
    parse_json,
    replay,
    row_hash,
    same_person,
    verify,
)
from curagate.registry.schema import (
    APPROVER_ROLES,
    KEYS_TRIGGERS,
    ROLES,
    SCHEMA_V2,
    SCHEMA_V4_ADDITIONS,
    SCHEMA_VERSION,
    STAGES,
    USER_ROLES,
    USERS_TRIGGERS,
    keys_table,
    split_statements,
    users_table,
)
from curagate.signing import (
    ATTESTATION_NAME,
    BUNDLE_SIGNATURE_NAME,
    MAX_ATTESTATION_BYTES,
    SignatureInvalid,
    actor_key_problem,
    actor_public_key,
    actor_seed,
    actor_sign,
    key_fingerprint,
    load_public_key,
    other_curve,
    signed_digest,
    verify_bundle_signature,
)

DEFAULT_DB = Path(".curagate") / "registry.db"
ENV_DB = "CURAGATE_REGISTRY"
BUSY_TIMEOUT_S = 60.0
NAME_RULE = "1-128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
# Control, format (bidi), surrogate and line/paragraph separators: not plain one-line text.
_NOT_PLAIN = ("Cc", "Cf", "Cs", "Zl", "Zp")
# The longest name any registry table holds (schema 2 on: CHECK (length(name) BETWEEN 1 AND
# 128), in characters, as len counts them). A schema-1 name past it was let through as
# "at most 1024" and then failed the migration's insert, "not a usable SQLite database
# (CHECK constraint failed ...)", naming no model (found by attack).
MAX_LEGACY_NAME = 128
MAX_VERSION = 2**31 - 1
# How far ahead of this registry's clock an attestation's signed time may be (clock drift).
MAX_CLOCK_SKEW = timedelta(minutes=10)
ITEMS_NAME = "items.jsonl"
TOKEN_PREFIX = "cgt_"
ENROLLMENT_PREFIX = "cge1_"
MAX_WAIVER_DAYS = 90
# Row times are the writer's clock, held never to go back: a writer whose clock is behind the
# log's last row by at most this much (jitter between machines) writes its row at the last
# row's time; further behind, it is refused. `registry check` reports a row dated before its
# predecessor, or more than this ahead of the checker's clock.
CLOCK_TOLERANCE = timedelta(seconds=5)
# What can ship again once a version's export key is revoked or unusable. Found by
# re-attack: the remedies said to re-export and sign the bundle with a trusted key, but a
# re-export of the same run is the same files (model.sig is not one of them), which
# `register` refuses as already registered, and nothing re-signs a registered version.
RESIGN_REMEDY = (
    "nothing re-signs a registered version: a re-export of the same run signed with another "
    "key is the same bytes (model.sig is not one of them), which `register` refuses as "
    "already registered; roll back, or register and promote a new version whose files "
    "differ (another run's export), signed with a trusted P-256 key (`curagate export "
    "--sign-key`, `curagate keys generate`)"
)


class Forbidden(CheckFailed):
    """The user may not do this (wrong role, revoked, or approving their own request)."""


class RegistryUnavailable(InputError):
    """The database cannot be used as a registry now: missing, empty or truncated, not
    SQLite, of another schema version, or locked. Nothing a request can correct (the
    release service answers 503); the CLI exits 2 as for any input it cannot use."""


def token_sha256(token: str) -> str:
    return sha256_bytes(token.encode())


def new_token() -> str:
    """A fresh API token: 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def enrollment(token: str) -> str:
    """What a user hands the admin who adds them, so the admin never holds their token:
    the token's sha256 and the public half of the actor key it gives."""
    return f"{ENROLLMENT_PREFIX}{token_sha256(token)}_{actor_public_key(actor_seed(token))}"


def _parse_enrollment(code: str) -> tuple[str, str]:
    """(token sha256, public actor key) of an enrollment code."""
    m = re.fullmatch(ENROLLMENT_PREFIX + r"([0-9a-f]{64})_([0-9a-f]{64})", code.strip())
    problem = None if m is None else actor_key_problem(m.group(2))
    if m is None or problem is not None:
        raise InputError(
            f"--enrollment {code[:80]!r}: not an enrollment code"
            + (f" (its key is {problem})" if problem else "")
            + "; the user makes their token and prints its code with `curagate registry "
            "users token`"
        )
    return m.group(1), m.group(2)


def _token_shaped(token: str | None) -> TypeGuard[str]:
    # ASCII only, as every token is: bytes of $CURAGATE_TOKEN that are not UTF-8 arrive
    # as surrogates, which no hash can encode (that was exit 3).
    return (
        token is not None
        and token.startswith(TOKEN_PREFIX)
        and len(token) <= 128
        and token.isascii()
    )


def parse_expiry(value: str, start: datetime | None = None) -> datetime:
    """An ISO 8601 time (``2026-12-31T00:00:00Z``) or a duration in days (``7d``) counted
    from ``start`` (default: now; a waiver's, from its own row's time)."""
    text = value.strip()
    m = re.fullmatch(r"([0-9]{1,3})d", text)
    if m:
        return (start or datetime.now(UTC)) + timedelta(days=int(m.group(1)))
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        at = at.astimezone(UTC)  # out of range here (year 1 or 9999 with an offset) raises
    except (ValueError, OverflowError):
        raise InputError(
            f"expiry {value!r}: give an ISO 8601 time such as 2026-12-31T00:00:00Z, or days "
            "such as 7d"
        ) from None
    return at


_RANK = {stage: i for i, stage in enumerate(STAGES)}


def default_db_path() -> Path:
    env = os.environ.get(ENV_DB)
    return Path(env) if env else DEFAULT_DB


def default_actor() -> str:
    for var in ("USER", "LOGNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def check_name(name: str, what: str = "model name") -> str:
    """A name to create (register, a user, a key): today's rule."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{what} {name!r}: use {NAME_RULE}")
    return name


def legacy_name_problem(name: str) -> str | None:
    """Why a name curagate 0.1 (schema 1) registered cannot be kept, or None.

    0.1 took any name without surrounding spaces; `registry migrate` keeps those that are
    one line of plain text (a control or bidi character could forge lines of `list`)."""
    if not name or name.strip() != name:
        return "is empty or has surrounding spaces"
    if len(name) > MAX_LEGACY_NAME:
        return (
            f"is {len(name):,} characters long, more than the {MAX_LEGACY_NAME} a registry "
            "name may have"
        )
    bad = [c for c in name if unicodedata.category(c) in _NOT_PLAIN]
    return f"contains control or formatting character {bad[0]!r}" if bad else None


def check_known_name(name: str) -> str:
    """A model name to look up rather than create: today's rule, or a name a schema-1
    registry held that `registry migrate` kept (see :func:`legacy_name_problem`)."""
    if isinstance(name, str) and (_NAME.match(name) or legacy_name_problem(name) is None):
        return name
    return check_name(name)


def check_text(value: str, what: str) -> str:
    """Free text (actor, reason) on one line: no control or bidi characters that could
    forge or hide lines of `registry show`."""
    # Cs: a lone surrogate, what Python makes of bytes that are not UTF-8 in argv or the
    # environment ($USER, --reason): the row could not be encoded (exit 3).
    bad = [c for c in value if unicodedata.category(c) in _NOT_PLAIN]
    if bad:
        raise InputError(
            f"{what} {value!r}: contains control or formatting character {bad[0]!r}; "
            "use one line of plain text"
        )
    return value


def check_version(version: int) -> int:
    if not 1 <= version <= MAX_VERSION:
        raise InputError(f"version {version}: versions are numbered from 1 (at most {MAX_VERSION})")
    return version


def _now() -> str:
    return iso_utc()


def _statement_of(attestation: bytes | None) -> str | None:
    """The digest of the statement a DSSE envelope signs, whatever the envelope's formatting
    or its payload's base64 spelling (:func:`~curagate.signing.signed_digest`: by the
    payload text, ``QUJD==`` for ``QUJD`` was a first offer of a pass held to the clock);
    None for none, or an envelope that does not read as one."""
    return None if attestation is None else signed_digest(attestation)


def _parsed_at(at: object) -> datetime | None:
    """A log row's time as a UTC datetime; None when it is not one (schema-1 history)."""
    if not isinstance(at, str):
        return None
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _span(delta: timedelta) -> str:
    """A time difference as people read it: "24.0 s", "3.5 h", "365.0 days"."""
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class ClockBehind(InputError):
    """This machine's clock is behind the registry's last log row (exit 2)."""


def _clock_at(at: str | None) -> datetime:
    """The time an ISO UTC string of the registry's names (now when None or unreadable)."""
    if at is not None:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            if when.tzinfo is not None:
                return when
        except ValueError:
            pass
    return datetime.now(UTC)


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    version: int
    artifact_digest: str
    artifact_path: str
    lineage: dict[str, Any]
    signed_by: str | None
    stage: str
    created_at: str

    @property
    def ref(self) -> str:
        return f"{self.name} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "artifact_digest": self.artifact_digest,
            "artifact_path": self.artifact_path,
            "lineage": self.lineage,
            "signed_by": self.signed_by,
            "stage": self.stage,
            "created_at": self.created_at,
        }


_VERSION_COLS = (
    "id, name, version, artifact_digest, artifact_path, lineage, signed_by, stage, created_at"
)


def _version(row: tuple[Any, ...]) -> ModelVersion:
    try:  # the replay checked it (a row appended by hand since is read here first)
        lineage = parse_json(row[5])
    except (ValueError, TypeError) as e:
        raise ChainBroken(
            f"registry table model_versions row {row[0]}: its lineage is not JSON `registry "
            f"register` writes ({e}); the database was changed outside curagate (run "
            "`curagate registry check`)"
        ) from None
    return ModelVersion(
        id=row[0],
        name=row[1],
        version=row[2],
        artifact_digest=row[3],
        artifact_path=row[4],
        lineage=lineage,
        signed_by=row[6],
        stage=row[7],
        created_at=row[8],
    )


def signed_now(mv: ModelVersion, vouching: Collection[str]) -> bool:
    """Whether ``mv``'s bundle is signed by a trusted, unrevoked, usable export key today
    (``vouching``: :meth:`Registry.vouching_export_keys`). Only such a signature covers its
    MANIFEST.json, lineage included; a bundle signed by a key revoked since, or on a curve
    other than P-256, is not shown as signed anywhere (`registry list`, `show`, the
    service), as its promotion is refused."""
    return mv.signed_by is not None and mv.signed_by in vouching


def _same_folder(stored: str, here: os.stat_result) -> bool:
    """Whether the folder at ``stored`` (a version's artifact_path) is the one ``here``
    describes: the same (device, inode), however either path spells it."""
    try:
        st = Path(stored).stat()
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def _signer_revoked(mv: ModelVersion) -> str:
    assert mv.signed_by is not None
    return (
        f"{mv.ref}: registered signed by export key {mv.signed_by[:12]}, which is "
        f"revoked: its signature no longer vouches for these bytes (they are unchanged); "
        f"{RESIGN_REMEDY}"
    )


def _first_difference(bundle: Any, registered: Any, path: str) -> tuple[str, str, str] | None:
    """The first field (``lineage.run.signed_by``) where the bundle's value and the
    registered one differ, with each value as JSON (shortened); None when they are equal."""
    if canonical(bundle) == canonical(registered):
        return None
    if isinstance(bundle, dict) and isinstance(registered, dict):
        for key in sorted(bundle.keys() | registered.keys()):
            if key not in bundle or key not in registered:
                return (
                    f"{path}.{key}",
                    "absent" if key not in bundle else _shown(bundle[key]),
                    "absent" if key not in registered else _shown(registered[key]),
                )
            found = _first_difference(bundle[key], registered[key], f"{path}.{key}")
            if found is not None:
                return found
    if isinstance(bundle, list) and isinstance(registered, list) and len(bundle) == len(registered):
        for i, (a, b) in enumerate(zip(bundle, registered, strict=True)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
    return path, _shown(bundle), _shown(registered)


def _shown(value: Any) -> str:
    text = canonical(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def unsigned_run(mv: ModelVersion, train_keys: frozenset[str]) -> str | None:
    """Why ``mv`` may not reach production in a registry that trusts train keys (the active
    ones: ``train_keys``), or None: its bundle must be registered signed by a trusted export
    key, whose signature covers the lineage, and that lineage must name a trusted trainer as
    the signer of the run record export checked (``lineage.run.signed_by``, written by
    ``export --train-key``). A revoked train key still turns the rule on, and vouches for
    nothing."""
    run = mv.lineage.get("run") if isinstance(mv.lineage, dict) else None
    signer = run.get("signed_by") if isinstance(run, dict) else None
    fix = (
        "export the run with `curagate export --train-key PUB` (its run.json signed by "
        "`curagate train --sign-key`) and `--sign-key`, and register that bundle"
    )
    if mv.signed_by is None:
        return (
            f"{mv.ref}: this registry trusts train keys, so production needs a bundle signed by "
            f"a trusted export key (its lineage names who signed the training run); this one "
            f"was registered unsigned: {fix}"
        )
    if not isinstance(signer, str):
        return (
            f"{mv.ref}: this registry trusts train keys, so production needs a training run "
            f"signed by one; the bundle's lineage.run.signed_by is empty (exported without "
            f"--train-key): {fix}"
        )
    if signer not in train_keys:
        return (
            f"{mv.ref}: production needs a training run signed by a trusted train key; this "
            f"one was signed by key {signer[:12]}, which is not a trusted, unrevoked train key "
            "of this registry (`curagate registry trust list`; one on a curve other than P-256 "
            "is unusable)"
        )
    return None


@dataclass(frozen=True)
class RecordedGateReport:
    """A gate report as offered to the registry, and the registry's judgement of it."""

    id: int
    report_sha256: str
    attestation_sha256: str | None
    verdict: str | None
    accepted: bool
    why: str
    keyid: str | None
    path: str
    actor: str
    recorded_at: str

    @property
    def backs_production(self) -> bool:
        return self.accepted and self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "report_sha256": self.report_sha256,
            "attestation_sha256": self.attestation_sha256,
            "verdict": self.verdict,
            "accepted": self.accepted,
            "why": self.why,
            "keyid": self.keyid,
            "path": self.path,
            "actor": self.actor,
            "recorded_at": self.recorded_at,
        }


_REPORT_COLS = (
    "id, report_sha256, attestation_sha256, verdict, accepted, why, keyid, path, actor, recorded_at"
)


def _report(row: tuple[Any, ...]) -> RecordedGateReport:
    return RecordedGateReport(
        row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8], row[9]
    )


@dataclass(frozen=True)
class TrustedKey:
    id: int
    fingerprint: str
    name: str
    role: str
    public_pem: str
    added_by: str
    added_at: str
    revoked_at: str | None
    revoke_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def unusable(self) -> str | None:
        """Why this key can verify nothing, though trusted: one on a curve other than P-256,
        trusted before curagate took P-256 keys only (:func:`signing.other_curve`); else
        None."""
        curve = other_curve(self.public_pem.encode())
        return None if curve is None else f"{curve} is not P-256"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "role": self.role,
            "added_by": self.added_by,
            "added_at": self.added_at,
            "revoked_at": self.revoked_at,
            "revoke_reason": self.revoke_reason,
            "unusable": self.unusable,
        }


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    created_by: str
    created_at: str
    revoked_at: str | None
    # The seed of the user's actor key, derived from their token at login (see
    # :meth:`Registry.authenticate`): the rows they write are signed with it. Never stored.
    actor_seed: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_approve(self) -> bool:
        return self.active and self.role in APPROVER_ROLES

    @property
    def can_upload(self) -> bool:
        """May offer gate reports through the release service's API (CI's uploader role,
        or a person who may approve)."""
        return self.active and self.role in ("uploader", "approver", "admin")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


# Who writes a row: a user of the registry (their rows are signed when they have an actor
# key), or the free text of ``--actor`` / the login name before a registry has approvers.
Who = str | User


def _items_not_named(report_id: int, kept: str, declared: str | None) -> str:
    return (
        f"registry: the log says items {kept[:12]}… were stored with gate report {report_id}, "
        f"but the report names {declared[:12] + '…' if declared else 'no items'}: the row "
        "was written by hand"
    )


def _name(who: Who) -> str:
    return who if isinstance(who, str) else who.name


_USER_SQL = (
    "SELECT u.id, u.name, u.role, u.created_by, u.created_at, r.revoked_at FROM users u "
    "LEFT JOIN user_revocations r ON r.user_id = u.id"
)


@dataclass(frozen=True)
class PromotionRequest:
    id: int
    name: str
    version: int
    to_stage: str
    requested_by: str
    reason: str
    created_at: str
    approved_by: str | None
    approved_at: str | None
    # Why an unapproved request can no longer be approved ("void": its requester was
    # revoked; "stale": production changed since it was made), with the reason.
    blocked: tuple[str, str] | None = None
    # What a production request was made on (approved, it ships on exactly that).
    gate_report_id: int | None = None
    waiver_id: int | None = None

    @property
    def status(self) -> str:
        if self.approved_by is not None:
            return "approved"
        return "pending" if self.blocked is None else self.blocked[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.id,
            "name": self.name,
            "version": self.version,
            "to": self.to_stage,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "created_at": self.created_at,
            "status": self.status,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "why": None if self.blocked is None else self.blocked[1],
            "gate_report_id": self.gate_report_id,
            "waiver_id": self.waiver_id,
        }


def _backing_text(report_id: Any, waiver_id: Any = None) -> str:
    return f"report {report_id}" + (f" under waiver {waiver_id}" if waiver_id is not None else "")


_REQUEST_SQL = (
    "SELECT r.id, m.name, m.version, r.to_stage, r.requested_by, r.reason, r.created_at, "
    "a.approved_by, a.approved_at FROM promotion_requests r "
    "JOIN model_versions m ON m.id = r.model_version_id "
    "LEFT JOIN approvals a ON a.request_id = r.id"
)


@dataclass(frozen=True)
class Waiver:
    id: int
    name: str
    version: int
    report_sha256: str
    reason: str
    expires_at: str
    granted_by: str
    granted_at: str
    # The granter's access was revoked: the waiver is void (it backs nothing), as a
    # revoked key's signatures are; it was shown "active" while promotions refused it.
    granter_revoked: bool = False
    # Why the waived warn backs nothing now, whatever the expiry says: another report
    # decides for the version (a newer signed one), or the warn no longer verifies (its
    # key was revoked); None while it decides and verifies.
    backs_nothing: str | None = None

    def active(self, now: datetime | None = None) -> bool:
        # None: not in the form the commands write (the replay refuses such a row, so a
        # registry that opens never holds one; found by re-attack, "9999" raised here).
        at = parse_iso_utc(self.expires_at)
        now = now or datetime.now(UTC)
        return (
            at is not None
            and not self.granter_revoked
            and self.backs_nothing is None
            and not self.granted_ahead(now)
            and now < at
        )

    def granted_ahead(self, now: datetime | None = None) -> bool:
        """Dated further ahead of ``now`` than clock jitter: its granter's clock is ahead
        (found by attack: a "90d" waiver granted a year ahead showed "active" for 15
        months; `registry check` names its row)."""
        granted = _parsed_at(self.granted_at)
        return granted is not None and granted > (now or datetime.now(UTC)) + CLOCK_TOLERANCE

    def state(self) -> str:
        """What the waiver does now: "active", "void: granter revoked", "superseded: a
        newer report decides", "void: its report no longer verifies", "void: granted
        ahead of this clock" or "expired"."""
        if self.granter_revoked:
            return "void: granter revoked"
        if self.backs_nothing is not None:
            return self.backs_nothing
        if self.granted_ahead():
            return (
                f"void: granted at {self.granted_at}, ahead of this clock (the granter's clock "
                "was ahead; `curagate registry check` names its row)"
            )
        return "active" if self.active() else "expired"

    def to_dict(self) -> dict[str, Any]:
        return {
            "waiver_id": self.id,
            "name": self.name,
            "version": self.version,
            "report_sha256": self.report_sha256,
            "reason": self.reason,
            "expires_at": self.expires_at,
            "granted_by": self.granted_by,
            "granted_at": self.granted_at,
            "active": self.active(),
            "state": self.state(),
        }


def _check_rollback(
    current: ModelVersion,
    previous: ModelVersion,
    from_version: int | None,
    to_version: int | None,
) -> None:
    """A conflict (HTTP 409) when production, or what a rollback restores, moved since the
    caller looked (someone rolled back or promoted meanwhile)."""
    if from_version is not None and current.version != from_version:
        raise CheckFailed(
            f"{current.name}: production is v{current.version}, not v{from_version} that this "
            "rollback was asked for: someone rolled back or promoted since; see `curagate "
            f"registry show {current.name}` and roll back again from what is in production now "
            "if still wanted"
        )
    if to_version is not None and previous.version != to_version:
        raise CheckFailed(
            f"{current.name}: a rollback now restores v{previous.version}, not v{to_version} "
            "that this rollback was asked for: production changed hands since; see `curagate "
            f"registry show {current.name}` and roll back again if still wanted"
        )


def _backed_by(b: Backing) -> str:
    waiver = f" under waiver {b.waiver_id}" if b.waiver_id is not None else ""
    return f"report {b.report_id} ({b.report_sha256[:12]}){waiver}"


def _reviewed(report_sha256: str, waiver_id: int | None) -> str:
    if not report_sha256:  # the page showed nothing backing it
        return "nothing (no report backed it)"
    waiver = f" under waiver {waiver_id}" if waiver_id is not None else " with no waiver"
    return f"report {report_sha256[:12]}{waiver}"


def _waiver(row: Sequence[Any]) -> Waiver:
    wid, name, version, sha, reason, expires, by, at, revoked = row
    return Waiver(wid, name, version, sha, reason, expires, by, at, granter_revoked=bool(revoked))


# Each version's artifact key (chain.artifact_key): the files identity its register row
# carries, or (a row an older curagate wrote) its artifact digest.
_KEY_SQL = f"COALESCE(json_extract(l.payload, '$.{FILES_IDENTITY}'), m.artifact_digest)"
_KEY_JOIN = (
    "FROM model_versions m JOIN log l ON l.action = 'register' AND l.name = m.name "
    "AND l.version = m.version"
)


def files_identity(files: dict[str, str]) -> str:
    """An artifact's identity: the digest of its manifest's file list (every file's path
    and sha256), whatever MANIFEST.json's spelling (indentation, key order, lineage)."""
    return files_digest(files)


def _on_disk_identity(mv: ModelVersion) -> str | None:
    """The files identity of a version registered without one (an older curagate), from its
    MANIFEST.json on disk when that still hashes to the registered digest; None otherwise."""
    from curagate.export.manifest import _read_manifest

    try:
        raw, manifest = _read_manifest(mv.artifact_path)
    except (CheckFailed, InputError, OSError):
        return None
    return files_identity(manifest.files) if sha256_bytes(raw) == mv.artifact_digest else None


def _same_files_on_disk(db: sqlite3.Connection, mv: ModelVersion) -> list[ModelVersion]:
    """The versions holding ``mv``'s files that only a bundle on disk shows: where ``mv``'s
    register row or theirs carries no files identity (an older curagate's), the identity is
    read from the bundle's MANIFEST.json while it still hashes to the registered digest
    (:func:`_on_disk_identity`). Found by re-attack: two such rows were known by their
    digests only, so a re-indented copy of a version a signed fail held back shipped."""
    cols = ", ".join("m." + c for c in _VERSION_COLS.split(", "))
    rows = db.execute(
        f"SELECT {cols}, json_extract(l.payload, '$.{FILES_IDENTITY}') {_KEY_JOIN} ORDER BY m.id"
    ).fetchall()
    logged = {row[0]: row[-1] for row in rows}
    mine = logged.get(mv.id) or _on_disk_identity(mv)
    if mine is None:
        return []
    found = []
    for row in rows:
        other = _version(row[:-1])
        if other.id == mv.id or (row[-1] is not None and logged.get(mv.id) is not None):
            continue  # both logged: the query on the log's keys found it already
        if (row[-1] or _on_disk_identity(other)) == mine:
            found.append(other)
    return found


_WAIVER_SQL = (
    "SELECT w.id, m.name, m.version, w.report_sha256, w.reason, w.expires_at, w.granted_by, "
    "w.granted_at, EXISTS (SELECT 1 FROM users u JOIN user_revocations r ON r.user_id = u.id "
    "WHERE u.name = w.granted_by) FROM waivers w JOIN model_versions m ON m.id = w.model_version_id"
)


@dataclass(frozen=True)
class Offer:
    """A gate report (and its attestation and items, if any) as read from disk or received."""

    path: Path
    raw: bytes
    attestation: bytes | None
    items: bytes | None = None
    source: str | None = None  # shown instead of the resolved path (an API upload)

    @property
    def label(self) -> str:
        return self.source if self.source is not None else str(self.path.resolve())

    def declared_items_sha256(self) -> str | None:
        try:
            doc = json.loads(self.raw)
            sha = doc["items"]["sha256"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return None
        return sha if isinstance(sha, str) else None

    def items_mismatch(self) -> str | None:
        """Why the items offered are not the items.jsonl the report names (and so the
        attestation covers), or None: none offered, or the very file. Such items were
        dropped without a word and the report recorded as one without items."""
        if self.items is None:
            return None
        got = sha256_bytes(self.items)
        declared = self.declared_items_sha256()
        if declared == got:
            return None
        return f"the items (sha256 {got[:12]}…) are not " + (
            f"the items.jsonl the report names (sha256 {declared[:12]}…)"
            if declared is not None
            else "named by the report (it declares no items.jsonl)"
        )


@dataclass(frozen=True)
class Backing:
    """What backs a version's move into production now (:meth:`Registry.backing`): the
    deciding report and, for a warn, the waiver. A production request and the page's form
    name it, so a report or waiver that changed since the requester looked is refused."""

    report_id: int
    report_sha256: str
    waiver_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "report_sha256": self.report_sha256,
            "waiver_id": self.waiver_id,
        }


@dataclass(frozen=True)
class Judgement:
    verdict: str | None
    accepted: bool
    why: str
    keyid: str | None
    issued_at: str | None = None  # the attestation's signed time, when it has one


@dataclass(frozen=True)
class Decision:
    """What decides for a version's promotion today, by the rule every promotion, request,
    approval and rollback goes by (:meth:`Registry._backing_report` reads this, and so does
    every reader that states a verdict: `registry show`, `card`, `waivers`, the service's
    pages and API). ``ranked``: every report recorded for the version and for its twins (the
    same bytes registered as other versions by a curagate before one version per artifact),
    each judged against today's gate keys, the deciding one first; ``owners``: the version
    each report was recorded for, by report id."""

    version: ModelVersion
    ranked: tuple[tuple[RecordedGateReport, Judgement], ...]
    owners: dict[int, ModelVersion]
    twins: tuple[ModelVersion, ...]

    @property
    def report(self) -> RecordedGateReport | None:
        """The deciding report; when none verifies today, the newest accepted when recorded
        (else recorded), whose judgement says why; None when none is recorded."""
        return self.ranked[0][0] if self.ranked else None

    @property
    def judgement(self) -> Judgement | None:
        return self.ranked[0][1] if self.ranked else None

    @property
    def recorded_for(self) -> ModelVersion | None:
        """The version the deciding report was recorded for: a twin's report decides for
        this version too (it backs a move once recorded for this one as well)."""
        return None if self.report is None else self.owners[self.report.id]

    @property
    def twins_report(self) -> str | None:
        """``report 2 of bot v1`` when the deciding report was recorded for a twin, else None."""
        rec, holder = self.report, self.recorded_for
        return (
            None if rec is None or holder is None or holder.id == self.version.id else self.ref(rec)
        )

    @property
    def verified(self) -> list[RecordedGateReport]:
        """The reports on these bytes that verify today."""
        return [r for r, j in self.ranked if j.accepted]

    def ref(self, report: RecordedGateReport) -> str:
        """``report 3``, or ``report 2 of bot v1`` for a twin's report."""
        holder = self.owners[report.id]
        return f"report {report.id}" + ("" if holder.id == self.version.id else f" of {holder.ref}")

    def summary(self) -> str:
        """One line: the verdict that decides, the report it is from and whose; then the
        twins whose reports count (``fail: report 2 of bot v1, verified today; ...``)."""
        rec, j = self.report, self.judgement
        if rec is None or j is None:
            line = "none: no gate report recorded"
        elif j.accepted:
            line = f"{j.verdict}: {self.ref(rec)}, verified today"
            if j.verdict in ("pass", "warn") and self.owners[rec.id].id != self.version.id:
                # As promotion says: the log lets only a version's own record back its move.
                line += (
                    f" (it backs {self.version.ref} once recorded for it: `curagate registry "
                    f"report {self.version.name} {self.version.version} --gate-report FILE`)"
                )
            elif j.verdict in ("pass", "warn") and not rec.accepted:
                line += f" (refused when recorded: {rec.why}; offer it again to back a move)"
        else:
            line = f"none: no gate report verifies today (newest: {self.ref(rec)}: {j.why})"
        note = self.twins_note()
        return line + (f"; {note}" if note else "")

    def to_dict(self) -> dict[str, Any]:
        rec, j = self.report, self.judgement
        holder = self.recorded_for

        def ref(v: ModelVersion) -> dict[str, Any]:
            return {"name": v.name, "version": v.version}

        return {
            "report_id": None if rec is None else rec.id,
            # What a waiver of this report names (the API refuses one of another report).
            "report_sha256": None if rec is None else rec.report_sha256,
            "recorded_for": None if holder is None else ref(holder),
            "verdict": j.verdict if j is not None and j.accepted else None,
            "verified_now": j is not None and j.accepted,
            "why_now": None if j is None else j.why,
            "twins": [ref(t) for t in self.twins],
            "note": self.twins_note(),
        }

    def twins_note(self) -> str | None:
        """One sentence naming the twins whose reports the verdict counts (None without)."""
        if not self.twins:
            return None
        return (
            f"the verdict of {self.version.ref} counts the gate reports of "
            f"{', '.join(t.ref for t in self.twins)} too (the same bytes, registered again by "
            "a curagate before one version per artifact: every gate verdict on them counts "
            "together, as at promotion)"
        )


class SignerRevoked(CheckFailed):
    """A bundle's bytes are the registered ones, but the export key that signed them was
    revoked since: nothing vouches for them now."""


class RegistrationForged(CheckFailed):
    """A version's registration says of its bundle what the bundle's signed MANIFEST.json
    does not (exit 1): the register row was written by hand."""


class SignerUnusable(SignerRevoked):
    """A bundle's bytes are the registered ones, but the export key that signed them is on
    a curve curagate no longer verifies with (trusted before it took P-256 keys only): its
    signature cannot be checked, so nothing vouches for them now, as with a revoked key."""


# What a gate report, its attestation and its items.jsonl may weigh, offered on the command
# line or uploaded to the release service (the gate writes far less).
MAX_REPORT_BYTES = 8 << 20
MAX_ITEMS_BYTES = 256 << 20


def read_offer(report: str | os.PathLike[str], attestation: str | os.PathLike[str] | None) -> Offer:
    """Read a report and its attestation (default: the one beside it)."""
    p = Path(report)
    if p.is_dir():
        p = p / GateReportDoc.FILE
    # Regular files of bounded size only: /dev/zero was a MemoryError (exit 3), a FIFO
    # waited forever.
    try:
        raw = read_regular(p, MAX_REPORT_BYTES, follow_links=True)
    except OSError as e:
        raise InputError(f"{p}: cannot read the gate report ({e.strerror or e})") from None
    att_path = Path(attestation) if attestation is not None else p.parent / ATTESTATION_NAME
    try:
        att = read_regular(att_path, MAX_ATTESTATION_BYTES, follow_links=True)
    except FileNotFoundError:
        if attestation is not None:
            raise InputError(f"{att_path}: attestation not found") from None
        att = None
    except OSError as e:
        raise InputError(f"{att_path}: cannot read the attestation ({e.strerror or e})") from None
    try:
        items: bytes | None = read_regular(
            p.parent / ITEMS_NAME, MAX_ITEMS_BYTES, follow_links=True
        )
    except FileNotFoundError:
        items = None  # an older report, or items not kept: the report still counts
    except OSError as e:
        raise InputError(
            f"{p.parent / ITEMS_NAME}: cannot read the items beside the report "
            f"({e.strerror or e}); remove it, or offer the report without it"
        ) from None
    offer = Offer(p, raw, att, items)
    mismatch = offer.items_mismatch()
    if mismatch is not None and offer.declared_items_sha256() is not None:
        # Refused before anything is written, as an API upload is (400): the report was
        # recorded (and could back production) without them, and the compare page 404'd.
        # Beside a report naming none (report.md offered from a gate's folder) the file is
        # not this report's, and left alone as before.
        raise InputError(
            f"{p.parent / ITEMS_NAME}: {mismatch}; restore the items.jsonl the gate wrote "
            "beside the report, byte for byte (a line-ending conversion or any edit changes "
            "it), or move it away to record the report without items"
        )
    return offer


def store_dir_of(db: Path) -> Path:
    """The content store beside a registry database (``registry.db.store/``)."""
    return db.parent / (db.name + ".store")


def _missing(db: Path) -> str:
    return (
        f"{db}: no registry database here; register a bundle first "
        "(curagate registry register BUNDLE --name NAME) or pass --db"
    )


def _unusable(db: Path, e: sqlite3.Error) -> str:
    return f"{db}: not a usable SQLite database ({e})"


def _why_not_read_only(db: Path, e: sqlite3.Error) -> str | None:
    """Why SQLite cannot read ``db`` opened read-only (a command that only reads), with the
    fix, where it is one of the two cases SQLite names only as a write it may not do or a file
    it cannot open; None otherwise."""
    name = getattr(e, "sqlite_errorname", "")
    if name == "SQLITE_READONLY_ROLLBACK":
        # A writer stopped mid-transaction (killed, power lost) in rollback-journal mode:
        # the journal holds the pages as they were at the last commit, and any read-write
        # open puts them back before reading. A read must not write, so it says so.
        return (
            f"{db}: an interrupted write left a hot rollback journal, {db.name}-journal, "
            "which a command that only reads cannot roll back; run "
            f"`curagate registry migrate --db {db}` (it opens the registry read-write: SQLite "
            "restores the last committed state from the journal, and an older schema is "
            "upgraded), then try again"
        )
    if name == "SQLITE_CANTOPEN" and _wal_mode(db) and not db.with_name(f"{db.name}-shm").exists():
        parent = db.parent
        where = (
            f"its folder {parent} is read-only"
            if not os.access(parent, os.W_OK)
            else "SQLite cannot create it there"
        )
        return (
            f"{db}: a WAL-mode database, which SQLite reads only with {db.name}-shm beside "
            f"it, and there is none and {where}; copy the registry ({db.name}, and "
            f"{db.name}-wal if there is one: it may hold commits) to a writable folder and "
            "open the copy"
        )
    return None


def _wal_mode(db: Path) -> bool:
    """Whether the header of ``db`` says WAL mode (its read and write versions are 2)."""
    try:
        with db.open("rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head[:16] == b"SQLite format 3\x00" and head[18:20] == b"\x02\x02"


def _refuse_empty(conn: sqlite3.Connection, db: Path, *, create: bool) -> None:
    """A database without tables is new only to a command that creates a registry, and only
    while no content store beside it holds anything: otherwise it is a registry that was
    truncated or replaced, and a fresh schema written into it would hide that."""
    if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
        return  # tables without a schema version: the migration names what is wrong
    store = store_dir_of(db)
    stored = store.is_dir() and any(store.iterdir())
    if create and not stored:
        return
    if stored:
        raise RegistryUnavailable(
            f"{db}: the registry database is empty (no tables): it was truncated or replaced; "
            f"restore it from a backup (its content store {store} still holds the reports and "
            "attestations it recorded); curagate does not create a new registry over it"
        )
    raise RegistryUnavailable(
        f"{db}: the database is empty (no tables) and has no content store beside it "
        f"({store}); if it was truncated, restore it from a backup, or register a bundle to "
        "create a registry here (curagate registry register BUNDLE --name NAME)"
    )


# Tables that first appear in a schema: a database holding one under a lower
# PRAGMA user_version had its version set back by hand (to be migrated again, or rebuilt).
_FIRST_IN_SCHEMA = (("log", 2), ("users", 3))


def _check_version_not_set_back(conn: sqlite3.Connection, current: int) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    later = [t for t, since in _FIRST_IN_SCHEMA if current < since and t in tables]
    if current < 0 or later:
        what = f"holds table {later[-1]} of a later schema" if later else "is not a version"
        raise ChainBroken(
            f"registry: PRAGMA user_version says schema {current}, but that {what}: the "
            "version was changed by hand (run `curagate registry check` on a backup, or "
            "restore one)"
        )


def _check_schema_version(db: Path, current: int, *, migrate: bool) -> None:
    if current > SCHEMA_VERSION:
        raise RegistryUnavailable(
            f"{db}: registry schema version {current} is newer than this curagate "
            f"supports ({SCHEMA_VERSION}); upgrade curagate"
        )
    if current == 1 and not migrate:
        raise RegistryUnavailable(
            f"{db}: registry schema {current} (unsigned history); run `curagate "
            "registry migrate` once to rebuild it as a hash-chained registry (its "
            "production versions stay, unbacked by any signed report)"
        )


def _rebuild(db: sqlite3.Connection, table: str, schema: str, columns: str) -> None:
    """``table`` again as ``schema`` creates it (with its triggers), holding the same rows
    under the same ids, inside the caller's write transaction.

    SQLite cannot alter a CHECK, so a table whose CHECK a schema widens is rebuilt (schema
    4: the users' uploader role; 5: the keys' train role); the caller verifies the registry
    as the older schema first, so a hand-changed one is refused, not blessed by a rewrite.
    Revocations point at users and keys by id: their foreign keys are checked at commit
    (deferred), once every row is back."""
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute(f"CREATE TEMP TABLE {table}_old AS SELECT * FROM {table}")
    db.execute(f"DROP TABLE {table}")  # its triggers go with it
    for stmt in split_statements(schema):
        db.execute(stmt)
    db.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM temp.{table}_old ORDER BY id"
    )
    db.execute(f"DROP TABLE temp.{table}_old")


def _users_to_schema_4(db: sqlite3.Connection) -> None:
    """Schema 3 -> 4: the users table with the uploader role in its CHECK."""
    verify(db, schema=3)
    _rebuild(
        db,
        "users",
        users_table(USER_ROLES) + USERS_TRIGGERS,
        "id, name, role, token_sha256, created_by, created_at",
    )


def _keys_to_schema_5(db: sqlite3.Connection, current: int) -> None:
    """Schema 4 -> 5: the trusted_keys table with the train role in its CHECK (a schema-4
    registry verified as such first)."""
    if current == 4:
        verify(db, schema=4)
    _rebuild(
        db,
        "trusted_keys",
        keys_table(ROLES) + KEYS_TRIGGERS,
        "id, fingerprint, name, role, public_pem, added_by, added_at",
    )


@contextlib.contextmanager
def _peek(db: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only look at a registry that creates, migrates and replays nothing.

    What it reads is not verified against the log, so it may only refuse early or report
    health, never grant anything. Yields None for an older schema (a full open migrates
    it); raises :class:`RegistryUnavailable` when the database cannot be a registry."""
    if not db.is_file():
        raise RegistryUnavailable(_missing(db))
    try:
        conn = sqlite3.connect(
            f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0, check_same_thread=False
        )
    except sqlite3.Error as e:
        raise RegistryUnavailable(f"{db}: cannot open the registry database ({e})") from None
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current == 0:
            _refuse_empty(conn, db, create=False)
        _check_version_not_set_back(conn, current)
        _check_schema_version(db, current, migrate=False)
        yield conn if current == SCHEMA_VERSION else None
    except sqlite3.DatabaseError as e:
        raise RegistryUnavailable(_unusable(db, e)) from None
    finally:
        conn.close()


def peek_user(db: Path, token: str | None) -> User | bool:
    """The active user holding ``token`` as one indexed read finds them, instead of a replay
    of the log: False when none does (malformed, unknown or revoked), True when only a full
    open can tell (an older schema). Unverified, so it may only refuse early (a token no
    active user holds; a role that may not do what is asked): what a user found may do, only
    :meth:`Registry.authenticate` on a verified open decides."""
    if not _token_shaped(token):
        return False
    with _peek(db) as conn:
        if conn is None:
            return True
        row = conn.execute(
            _USER_SQL + " WHERE u.token_sha256 = ?", (token_sha256(token),)
        ).fetchone()
    user = User(*row) if row else None
    return user if user is not None and user.active else False


def peek_token(db: Path, token: str | None) -> bool:
    """False when no active user holds ``token`` (:func:`peek_user`); True when one may,
    and then only :meth:`Registry.authenticate` on a verified open decides."""
    return peek_user(db, token) is not False


def peek_head(db: Path, floor: HeadFloor | None = None) -> tuple[int, str] | None:
    """The newest log row's (id, hash), read without a replay: the release service's health
    check, which also checks ``floor`` (:meth:`HeadFloor.check`). None for an older schema
    (only a full open, which migrates it, can tell); :class:`RegistryUnavailable` when the
    database cannot be a registry."""
    with _peek(db) as conn:
        if conn is None:
            return None
        if floor is not None:
            floor.check(conn)
        row = conn.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


# Judgements of recorded reports for display (Registry._judge_kept), least recently used
# dropped first: a few hundred bytes each.
_JUDGED: OrderedDict[tuple[Any, ...], Judgement] = OrderedDict()
_JUDGED_SIZE = 16384
_JUDGED_LOCK = threading.Lock()
# Registry._offers and Registry._stored_statement, kept per process like _JUDGED.
_OFFERS: OrderedDict[tuple[str, str | None, str, int, int | None], dict[str, str]] = OrderedDict()
_OFFERS_SIZE = 4096
_STATEMENTS: OrderedDict[str, str | None] = OrderedDict()
_STATEMENTS_SIZE = 65536
_OFFERS_LOCK = threading.Lock()


class HeadFloor:
    """The newest log head that one long-running process (the release service) has seen.

    Each open checks that its log still holds that row with that hash before the floor
    moves up to the new head: an older copy of the database file put back while the
    process runs (a backup restored, a volume snapshot rolled back: the log is then a
    shorter, internally valid chain) or a rewritten history is refused, where the chain's
    own check cannot tell. With a ``path`` (``serve --head-file``) the floor outlives the
    process: it starts at the head recorded there and every move is written back
    (atomically), so a restarted service refuses a copy older than what it last saw.
    Without one it lives in memory, and across restarts `registry check --head` does
    the same against a head recorded elsewhere.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self.head_id = 0
        self.head_hash = GENESIS
        self.path = path
        if path is not None:
            # Written after every write of the service: a folder it cannot write would
            # fail there, after the commit.
            if not path.parent.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
                raise InputError(
                    f"--head-file {path}: its folder does not exist or is not writable; "
                    "create it or choose another path"
                )
            try:  # a regular file of one line: a FIFO waited forever at start
                text = read_regular(path, 1 << 16, follow_links=True).decode("utf-8").strip()
            except FileNotFoundError:
                return  # first start: written at the first open
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"--head-file {path}: cannot read it ({e})") from None
            ident, expected = _parse_head(text, what=f"--head-file {path}")
            self.head_id, self.head_hash = ident, expected

    def seen(self) -> tuple[int, str]:
        """The floor now: taken before a read snapshot begins, it is what :meth:`check` of
        that snapshot compares with (see there)."""
        with self._lock:
            return self.head_id, self.head_hash

    def check(self, db: sqlite3.Connection, seen: tuple[int, str] | None = None) -> None:
        """ChainBroken unless ``db``'s log still holds the newest row this process saw.

        ``seen``: the floor as :meth:`seen` read it before ``db``'s snapshot began; needed
        when the snapshot has already read something. Another thread's commit raises the
        floor past an older snapshot, which then lacks that row without anything having
        been put back (requests got a false 503). A row committed before the snapshot
        began is in it, unless the file was replaced. Without ``seen``, the floor is read
        now, which is right only before the snapshot's first read (or under the write
        lock, which sees the newest commit)."""
        head_id, head_hash = self.seen() if seen is None else seen
        if not head_id:
            return
        row = db.execute("SELECT hash FROM log WHERE id = ?", (head_id,)).fetchone()
        if row is None or row[0] != head_hash:
            saw = "this process saw" if self.path is None else f"{self.path} records"
            raise ChainBroken(
                f"registry log: it no longer holds row {head_id} ({head_hash[:12]}…), which "
                f"{saw}; an older copy of the database was put back or its history rewritten"
            )

    def advance(self, db: sqlite3.Connection, seen: tuple[int, str] | None = None) -> None:
        """:meth:`check`, then move the floor up to ``db``'s newest log row (never down:
        another thread may have raised it past this snapshot)."""
        self.check(db, seen)
        row = db.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
        with self._lock:
            if row is not None and int(row[0]) > self.head_id:
                self.head_id, self.head_hash = int(row[0]), str(row[1])
                if self.path is not None:
                    from curagate.io.atomic import write_bytes_atomic

                    write_bytes_atomic(self.path, f"{self.head_id}:{self.head_hash}\n".encode())


class Registry:
    """A handle on one registry database; use as a context manager."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        timeout: float = BUSY_TIMEOUT_S,
        migrate: bool = False,
        floor: HeadFloor | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._floor = floor
        self._read_only = read_only
        # The schema of the file itself: a read-only open of an older one upgrades a copy.
        self.file_schema_version = SCHEMA_VERSION
        if not self.path.exists():
            if not create or read_only:
                raise RegistryUnavailable(_missing(self.path))
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if read_only:
                self._conn = self._connect_read_only(timeout)
            else:
                # check_same_thread off: the release service opens one Registry per request
                # and FastAPI may run its dependency and its handler on different worker
                # threads; one request never uses it from two threads at once.
                self._conn = sqlite3.connect(
                    self.path, isolation_level=None, timeout=timeout, check_same_thread=False
                )
        except sqlite3.Error as e:
            why = _why_not_read_only(self.path, e) if read_only else None
            raise RegistryUnavailable(
                why or f"{self.path}: cannot open the registry database ({e})"
            ) from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._open(create=create, migrate=migrate)
        except sqlite3.OperationalError as e:
            self._conn.close()
            raise self._sql_error(e) from None
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise RegistryUnavailable(_unusable(self.path, e)) from None
        except BaseException:
            self._conn.close()
            raise

    def _connect_read_only(self, timeout: float) -> sqlite3.Connection:
        """The database opened read-only (``mode=ro``: nothing this handle does can change
        the file); an older schema is copied into memory first, so that the open's migration
        and the replay after it run on the copy and the file stays as it was, whatever the
        outcome (`registry check`, list, show and every other command that only reads)."""
        conn = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=timeout,
            check_same_thread=False,
        )
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if not 0 < version < SCHEMA_VERSION:
                return conn  # nothing to migrate (_open says what is wrong with any other)
            copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.backup(copy)
        except BaseException:
            conn.close()
            raise
        conn.close()
        self.file_schema_version = version
        return copy

    def _sql_error(self, e: sqlite3.OperationalError) -> RegistryUnavailable:
        if "locked" in str(e) or "busy" in str(e):
            return RegistryUnavailable(
                f"{self.path}: the registry is locked by another writer ({e}); retry when it is done"
            )
        return RegistryUnavailable(f"{self.path}: registry database error ({e})")

    def _open(self, *, create: bool, migrate: bool) -> None:
        """Create (under the write lock) only when new and ``create``; then verify, read-only.

        Schema 1 is migrated only when asked (`registry migrate`): that migration rebuilds
        the chain from unsigned history, so it is an owner's decision, never a side effect
        of a read. Later schemas only add tables and migrate on open.
        """
        current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if current == 0:
            _refuse_empty(self._conn, self.path, create=create)
        _check_version_not_set_back(self._conn, current)
        _check_schema_version(self.path, current, migrate=migrate)
        if current < SCHEMA_VERSION:
            # A read-only open migrates its copy in memory, which has no WAL (nor needs one).
            mode = (
                "wal"
                if self._read_only
                else self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            )
            if str(mode).lower() != "wal":
                raise ConfigError(
                    f"{self.path}: SQLite refused WAL mode (got {mode!r}); put the registry on a "
                    "local filesystem (network filesystems do not support WAL)"
                )
            with self._write(check=False) as db:
                self._migrate(db)
        # The floor as it was before the snapshot begins (verify reads it first): one
        # raised by another thread's commit since is not in this snapshot, nor missing.
        seen = self._floor.seen() if self._floor is not None else None
        with self._read() as db:
            verify(db)
            if self._floor is not None:
                self._floor.advance(db, seen)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self, *, check: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the write lock from its first statement.

        The chain is verified first: no write proceeds on a registry changed by hand.
        """
        if self._read_only and check:  # only its open migrates, on a copy in memory
            raise RegistryUnavailable(f"{self.path}: opened read-only; this command writes")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._sql_error(e) from None
        try:
            if check:
                verify(self._conn)
                if self._floor is not None:
                    self._floor.check(self._conn)
                self._clock(self._conn)  # a clock behind the log is refused before any work
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        if self._floor is not None:
            # This process's own writes raise the floor too: a copy of the database taken
            # just before one of them must not pass as current when put back.
            with self._read() as db:
                self._floor.advance(db)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read snapshot (WAL): consistent, and never waits for a writer."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("COMMIT")

    def _migrate(self, db: sqlite3.Connection) -> None:
        current = int(db.execute("PRAGMA user_version").fetchone()[0])
        if current == SCHEMA_VERSION:
            return  # another process migrated while this one waited for the lock
        if current < 2:
            v1 = _V1Data.take(db, self.path) if current == 1 else None
            for stmt in split_statements(SCHEMA_V2):
                db.execute(stmt)
            if v1 is not None:
                v1.replay_into(self, db)
        if current == 3:
            _users_to_schema_4(db)
        elif current < 3:
            for stmt in split_statements(SCHEMA_V4_ADDITIONS):
                db.execute(stmt)
        _keys_to_schema_5(db, current)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def store_dir(self) -> Path:
        """Content-addressed copies of every report and attestation recorded."""
        return store_dir_of(self.path)

    def _put_blob(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        dest = self.store_dir / sha[:2] / sha
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(dest, data)
        return sha

    def blob(self, sha: str) -> bytes:
        """A stored report or attestation, checked against its address."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise InputError(f"{sha!r}: not a sha256 (64 hex digits)")
        path = self.store_dir / sha[:2] / sha
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ChainBroken(f"{path}: stored blob missing ({e.strerror or e})") from None
        if sha256_bytes(data) != sha:
            raise ChainBroken(f"{path}: stored blob was changed (its sha256 no longer matches)")
        return data

    def _blob_state(self, sha: str | None) -> tuple[int, ...] | None:
        """A stored blob's inode, size and change times: any write to it changes them (its
        ctime even when its size and mtime are put back)."""
        if sha is None or not re.fullmatch(r"[0-9a-f]{64}", sha):
            return None
        try:
            st = (self.store_dir / sha[:2] / sha).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    # reading

    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        sql = f"SELECT {_VERSION_COLS} FROM model_versions"
        params: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (check_known_name(name),)
        with self._read() as db:
            return [_version(r) for r in db.execute(sql + " ORDER BY name, version", params)]

    def get(self, name: str, version: int) -> ModelVersion:
        return self._get(self._conn, name, version)

    def _get(self, db: sqlite3.Connection, name: str, version: int) -> ModelVersion:
        check_known_name(name)
        check_version(version)
        row = db.execute(
            f"SELECT {_VERSION_COLS} FROM model_versions WHERE name = ? AND version = ?",
            (name, version),
        ).fetchone()
        if row is None:
            known = [
                r[0]
                for r in db.execute(
                    "SELECT version FROM model_versions WHERE name = ? ORDER BY version", (name,)
                )
            ]
            hint = (
                f"known versions: {', '.join(map(str, known))}"
                if known
                else "no versions under this name"
            )
            raise InputError(f"{self.path}: model {name!r} has no version {version} ({hint})")
        return _version(row)

    def production(self, name: str) -> ModelVersion | None:
        return self._production(self._conn, name)

    @staticmethod
    def _production(db: sqlite3.Connection, name: str) -> ModelVersion | None:
        row = db.execute(
            f"SELECT {_VERSION_COLS} FROM model_versions WHERE name = ? AND stage = 'production'",
            (name,),
        ).fetchone()
        return _version(row) if row else None

    def log(self, name: str | None = None, version: int | None = None) -> list[LogRow]:
        sql = f"SELECT {LOG_COLS} FROM log"
        where: list[str] = []
        params: list[Any] = []
        if name is not None:
            where.append("name = ?")
            params.append(check_known_name(name))
        if version is not None:
            where.append("version = ?")
            params.append(check_version(version))
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as db:
            return [LogRow(*r) for r in db.execute(sql + " ORDER BY id", params)]

    def gate_reports(self, name: str, version: int) -> list[RecordedGateReport]:
        with self._read() as db:
            mv = self._get(db, name, version)
            rows = db.execute(
                f"SELECT {_REPORT_COLS} FROM gate_reports WHERE model_version_id = ? ORDER BY id",
                (mv.id,),
            )
            return [_report(r) for r in rows]

    def trusted_keys(self, role: str | None = None) -> list[TrustedKey]:
        with self._read() as db:
            return self._keys(db, role)

    @staticmethod
    def _keys(db: sqlite3.Connection, role: str | None) -> list[TrustedKey]:
        # A key revoked in one role is revoked in every role: its entries for other roles
        # show the first revocation of its fingerprint.
        sql = (
            "SELECT k.id, k.fingerprint, k.name, k.role, k.public_pem, k.added_by, k.added_at, "
            "COALESCE(r.revoked_at, f.revoked_at), COALESCE(r.reason, f.reason) "
            "FROM trusted_keys k LEFT JOIN key_revocations r ON r.key_id = k.id "
            "LEFT JOIN (SELECT k2.fingerprint, MIN(r2.revoked_at) AS revoked_at, "
            "'revoked as a ' || MIN(k2.role) || ' key: ' || MIN(r2.reason) AS reason "
            "FROM trusted_keys k2 JOIN key_revocations r2 ON r2.key_id = k2.id "
            "GROUP BY k2.fingerprint) f ON f.fingerprint = k.fingerprint"
        )
        params: tuple[Any, ...] = ()
        if role is not None:
            sql += " WHERE k.role = ?"
            params = (role,)
        return [TrustedKey(*r) for r in db.execute(sql + " ORDER BY k.id", params)]

    def check(self, *, head: str | None = None) -> State:
        """Everything :func:`verify` checks, every stored blob, every signature as of the
        log row that relied on it, row times, and optionally a recorded head. Past the
        replay, every check runs: :class:`ChainBroken` names every problem found (its
        ``problems``) and carries the replayed ``state``; notes that fail nothing (rows an
        older curagate dated backwards) are in ``state.notes``."""
        with self._read() as db:
            state = verify(db)
            pems = {k.fingerprint: k.public_pem.encode() for k in self._keys(db, "gate")}

            def keys(fingerprints: frozenset[str]) -> dict[str, bytes]:
                return {fp: pems[fp] for fp in fingerprints if fp in pems}

            rows = db.execute(
                f"SELECT g.{_REPORT_COLS.replace(', ', ', g.')}, m.name, m.version FROM gate_reports g "
                "JOIN model_versions m ON m.id = g.model_version_id ORDER BY g.id"
            ).fetchall()
            recorded: dict[tuple[str, int], list[RecordedGateReport]] = {}
            # Every problem, not the first only (found by re-attack: a backwards row time
            # hid a changed bundle in production): each check goes on after one fails.
            problems: list[str] = []
            for row in rows:
                try:
                    self._check_report_row(db, state, row, recorded, keys)
                except ChainBroken as e:
                    problems.extend(e.problems)
            head_id = _parse_head(head, what="--head")[0] if head is not None else None
            for (
                row_id,
                name,
                version,
                report_id,
                gate,
                train,
                per_artifact,
            ) in state.production_moves:
                # Held to every verdict on its bytes once a move was made so, and after the
                # recorded head (a move written by hand then cannot claim an older rule).
                across = per_artifact or (head_id is not None and row_id > head_id)
                try:
                    self._check_decision(
                        db, state, row_id, name, version, report_id, recorded, keys(gate), across
                    )
                except ChainBroken as e:
                    problems.extend(e.problems)
                why = (
                    unsigned_run(self._get(db, name, version), train) if train is not None else None
                )
                if why is not None:
                    problems.append(
                        f"registry log row {row_id}: moves {name} v{version} to production "
                        f"against the train-key rule in force at that row ({why})"
                    )
            if head is not None:
                try:
                    state.after_head = _check_head(db, head, state)
                except ChainBroken as e:
                    problems.extend(e.problems)
            failures, state.notes = _check_row_times(db)
            problems.extend(failures)
        if problems:
            raise ChainBroken(
                problems[0]
                if len(problems) == 1
                else f"{len(problems)} problems:\n" + "\n".join(f"- {p}" for p in problems),
                problems=problems,
                state=state,
            )
        return state

    def _check_report_row(
        self,
        db: sqlite3.Connection,
        state: State,
        row: Sequence[Any],
        recorded: dict[tuple[str, int], list[RecordedGateReport]],
        keys: Any,
    ) -> None:
        """`check` of one gate_reports row (ChainBroken when it does not agree)."""
        rec = _report(tuple(row[:10]))
        mv = self._get(db, row[10], row[11])
        # Every report is ranked for the moves after it, refused ones too (one signed by a
        # key trusted only later decides from then on).
        recorded.setdefault((mv.name, mv.version), []).append(rec)
        raw = self.blob(rec.report_sha256)
        att = self.blob(rec.attestation_sha256) if rec.attestation_sha256 else None
        logged = state.reports[rec.id]
        kept = logged.get("items_sha256")
        if kept:
            # The items the log says were kept: stored, and the ones the report names (the
            # only ones recording keeps; the signature covers that name).
            declared = Offer(Path(rec.path), raw, None).declared_items_sha256()
            if kept != declared:
                raise ChainBroken(_items_not_named(rec.id, kept, declared))
            self.blob(kept)
        if not rec.accepted:
            return
        # Accepted rightly only if a gate key trusted and unrevoked at its log row signed it
        # (a key revoked since does not undo that; one revoked before does).
        j = self._judge(
            db,
            mv,
            Offer(Path(rec.path), raw, att),
            keys(logged["_gate_keys"]),
            offered_at=self._first_offered(db, rec.report_sha256, att) or rec.recorded_at,
        )
        if not (j.accepted and j.verdict == rec.verdict):
            raise ChainBroken(
                f"registry table gate_reports row {rec.id}: recorded as accepted, but its "
                "stored attestation does not verify with the gate keys trusted when it was "
                f"recorded ({j.why})"
            )

    def _check_decision(
        self,
        db: sqlite3.Connection,
        state: State,
        row_id: int,
        name: str,
        version: int,
        report_id: int,
        recorded: dict[tuple[str, int], list[RecordedGateReport]],
        trusted: dict[str, bytes],
        across: bool = False,
    ) -> None:
        """Log row ``row_id`` moved a version to production on report ``report_id``: it
        must be what :meth:`_backing_report` picked then, the newest by signed time of the
        version's reports recorded before it that verify with the gate keys trusted at that
        row (also one refused when recorded, its key trusted only since). With ``across``,
        the reports of every version registered with the same bytes count too."""
        mv = self._get(db, name, version)
        holders = [(name, version)]
        if across:
            own = artifact_key(state.versions[(name, version)])
            holders = [
                k
                for k, v in state.versions.items()
                if v.get("artifact_digest") == mv.artifact_digest or artifact_key(v) == own
            ]
        before = sorted(
            (
                r
                for k in holders
                for r in recorded.get(k, [])
                if state.reports[r.id]["_row"] < row_id
            ),
            key=lambda r: r.id,
        )
        owners = {
            r.id: (state.reports[r.id]["name"], state.reports[r.id]["version"]) for r in before
        }
        ranked = self._ranked(
            db,
            mv,
            before,
            trusted=trusted,
            own={r.id for r in before if owners[r.id] == (name, version)},
        )
        cited = state.reports.get(report_id, {}).get("report_sha256")
        if ranked and ranked[0][1].accepted and ranked[0][0].report_sha256 == cited:
            return
        newest = "none"
        if ranked:
            top, j = ranked[0]
            twin = owners[top.id]
            of = f", recorded for {twin[0]} v{twin[1]} (the same bytes)"
            newest = f"report {top.id} ({j.verdict if j.accepted else j.why})"
            newest += of if twin != (name, version) else ""
        raise ChainBroken(
            f"registry log row {row_id}: moves {name} v{version} to production on report "
            f"{report_id}, but the report that decided then, the newest one that verifies "
            f"with the gate keys trusted at that row, is {newest}"
        )

    def check_bundles(
        self, stages: Sequence[str] = ("production", "staging")
    ) -> list[tuple[str, str]]:
        """Re-hash the bundle of every version in ``stages`` against its manifest, its
        registered digest and (when registered signed) its signature; returns one problem
        per version that no longer checks (empty: all intact), as (kind, message): kind
        ``"revoked"`` when its bytes are unchanged but its signer's key is revoked,
        ``"unusable"`` when they are unchanged but its signer's key is on a curve other than
        P-256 (trusted before curagate refused them), ``"forged"`` when its registered
        lineage is not its signed manifest's (the register row was written by hand), else
        ``"changed"``.

        The registry records a bundle's path and digest, not a copy of its bytes: a file
        changed after promotion is found here (or at the next promotion or rollback)."""
        problems = []
        for mv in self.list_versions():
            if mv.stage not in stages:
                continue
            try:
                self._verify_bytes(mv)
            except SignerUnusable as e:
                problems.append(("unusable", f"{mv.stage}: {e}"))
            except SignerRevoked as e:
                problems.append(("revoked", f"{mv.stage}: {e}{self._revoked_when(mv)}"))
            except RegistrationForged as e:
                problems.append(("forged", f"{mv.stage}: {e}"))
            except CheckFailed as e:
                problems.append(("changed", f"{mv.stage}: {e}"))
            else:
                why = self._held_by_twin_on_disk(mv)
                if why is not None:
                    problems.append(("twin", f"{mv.stage}: {why}"))
        return problems

    def _held_by_twin_on_disk(self, mv: ModelVersion) -> str | None:
        """Why ``mv`` would not ship today on a verified fail recorded for a version holding
        its files that only the bundles on disk show (a register row without a files
        identity, :func:`_same_files_on_disk`); None when there is none."""
        with self._read() as db:
            twins = _same_files_on_disk(db, mv)
            if not twins:
                return None
            decision = self._decision(db, mv)
        top, judged = decision.report, decision.judgement
        if top is None or judged is None or not judged.accepted or judged.verdict != "fail":
            return None
        owner = decision.owners[top.id]
        if owner.id not in {t.id for t in twins}:
            return None
        return (
            f"{mv.ref}: its files (every path and sha256) are those of {owner.ref}, with "
            "MANIFEST.json spelled otherwise (another digest), a register row without a files "
            "identity (an older curagate's) hiding it; the newest verified verdict on those "
            f"files is {decision.ref(top)}: fail; roll {mv.ref} back or archive it"
        )

    def _revoked_when(self, mv: ModelVersion) -> str:
        """Whether ``mv`` reached its stage before its export key's revocation (it shipped
        rightly; nothing vouches for it now) or after it (it shipped on a revoked key), with
        both log rows."""
        with self._read() as db:
            revoked = db.execute(
                "SELECT MIN(l.id) FROM log l JOIN trusted_keys k ON l.action = 'revoke' AND "
                "json_extract(l.payload, '$.key_id') = k.id WHERE k.fingerprint = ?",
                (mv.signed_by,),
            ).fetchone()[0]
            moved = db.execute(
                "SELECT MAX(id) FROM log WHERE name = ? AND version = ? AND to_stage = ?",
                (mv.name, mv.version, mv.stage),
            ).fetchone()[0]
        if revoked is None or moved is None:
            return ""
        if moved > revoked:
            return (
                f"; it moved to {mv.stage} at log row {moved}, AFTER the key's revocation at "
                f"log row {revoked}: it shipped on a revoked key"
            )
        return f" (revoked at log row {revoked}, after it moved to {mv.stage} at log row {moved})"

    def card(self, name: str, version: int) -> str:
        """The version's model card with the gate results that back it rendered in.

        The bundle's README.md stays as exported (it is hashed); the gate's results come
        from the report that decides the version's promotion (the newest by signed time,
        judged against today's keys, of the reports on its bytes: a twin's included, as
        promotion ranks them, and the card then names the twin), re-read from the registry's
        own store, so the card shows why it passed, what it was waived on, or why it failed.
        """
        from curagate.artifacts import Loaded
        from curagate.export.card import card_with_eval_results, eval_results

        mv = self.get(name, version)
        from curagate.io.outputs import read_regular

        checked = verify_bundle(mv.artifact_path, expected_digest=mv.artifact_digest)
        if "README.md" not in checked.manifest.files:
            # Verified, so no README.md is there at all: a missing input, not a check that
            # failed (it said "not covered by the bundle's manifest", exit 1).
            raise InputError(
                f"{mv.ref}: the bundle has no README.md (its manifest lists none), so there is "
                "no model card to render; `curagate export` writes one: re-export the run"
            )
        try:
            raw = read_regular(Path(mv.artifact_path) / "README.md", MAX_REPORT_BYTES)
            readme = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{mv.ref}: the bundle has no readable README.md ({e})") from None
        # The bytes printed are the bytes the manifest covers: verify_bundle read the file
        # before this read did, and a README swapped in between was printed as the card.
        if sha256_bytes(raw) != checked.manifest.files["README.md"]:
            raise CheckFailed(
                f"{mv.ref}: README.md changed after the bundle was verified; it does not match "
                "the manifest: re-export the bundle"
            )
        with self._read() as db:
            decision = self._decision(db, mv)
        ranked = decision.ranked
        if not any(r.accepted or j.accepted for r, j in ranked):
            raise InputError(
                f"{mv.ref}: no accepted gate report is recorded; the card would show no results "
                f"(record one with `curagate registry report {mv.name} {mv.version} "
                "--gate-report FILE`)"
            )
        # The report that decides promotion: the newest by signed time of those that
        # verify against today's keys; not the last one recorded (an older pass offered late).
        rec, judged = ranked[0]
        if not judged.accepted:
            raise CheckFailed(
                f"{mv.ref}: no gate report of it verifies today (the newest recorded, "
                f"{decision.ref(rec)}: {judged.why}); the card would show results nobody "
                "vouches for"
            )
        raw = self.blob(rec.report_sha256)
        report = Loaded(Path(rec.path), raw, parse_artifact(GateReportDoc, raw, source=rec.path))
        try:
            twins = decision.twins_note()
            note = f"Decided by {decision.ref(rec)}: {twins}." if twins else None
            return card_with_eval_results(readme, eval_results(report), note)
        except (ValueError, yaml.YAMLError) as e:
            # The card's front matter as the hub library reads it: unparsable YAML, a list,
            # a model-index that is not one (all exit 3 before).
            raise InputError(
                f"{mv.ref}: the bundle's README.md metadata cannot be read as a model card's "
                f"({str(e).splitlines()[0][:120]}); re-export the bundle"
            ) from None

    def head(self) -> tuple[int, str]:
        with self._read() as db:
            state = replay(db)
        return state.head_id, state.head_hash

    # writing

    @staticmethod
    def _last_row(db: sqlite3.Connection) -> tuple[int, str, str, str, datetime] | None:
        """The log's last row (id, at, actor, action, its time), if it has a readable time."""
        row = db.execute(
            "SELECT id, at, actor, action FROM log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        when = None if row is None else _parsed_at(row[1])
        return None if row is None or when is None else (*row, when)

    def _now_at_least_log(self, db: sqlite3.Connection) -> datetime:
        """max(this machine's clock, the log's last row time): what a waiver's expiry is
        judged against (found by attack: an approver whose clock was 30 s behind approved on
        a waiver that had expired by the log's own order of rows)."""
        mine = datetime.now(UTC)
        last = self._last_row(db)
        return mine if last is None or last[4] <= mine else last[4]

    def _clock(self, db: sqlite3.Connection) -> str:
        """The time of a row written now: this machine's clock, never before the log's last
        row. Within CLOCK_TOLERANCE behind it, the last row's time; further behind, refused
        (:class:`ClockBehind`, naming both times)."""
        own = _now()
        last = self._last_row(db)
        mine = _parsed_at(own)
        if last is None or mine is None or mine >= last[4]:
            return own
        row_id, at, actor, action, when = last
        if when - mine <= CLOCK_TOLERANCE:
            return iso_utc(when)
        raise ClockBehind(
            f"{self.path}: this machine's clock says {own}, {_span(when - mine)} before the "
            f"registry's last log row {row_id} ({action} by {actor}, dated {at}); a row is "
            "never dated before the row it follows (at most "
            f"{CLOCK_TOLERANCE.total_seconds():g} s behind is taken as jitter). If this "
            "clock is wrong, fix it (sync it with NTP) and run the command again; if it is "
            f"right, the clock of the machine that wrote row {row_id} is ahead: fix that one "
            "(`curagate registry check` names rows dated ahead of its clock; "
            'docs/registry.md, "Row times")'
        )

    def _log(
        self,
        db: sqlite3.Connection,
        action: str,
        *,
        actor: Who,
        reason: str,
        name: str | None = None,
        version: int | None = None,
        from_stage: str | None = None,
        to_stage: str | None = None,
        payload: dict[str, Any] | None = None,
        at: str | None = None,
    ) -> int:
        """Append a row. A row written by a :class:`User` who has an actor key is signed
        with it (see :func:`~curagate.registry.chain.actor_message`)."""
        last = db.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
        row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        head = (
            at or self._clock(db),
            _name(actor),
            action,
            name,
            version,
            from_stage,
            to_stage,
            reason,
        )
        # Dated by _clock (never before the last row): `check` holds every row from the
        # first carrying TIMES_ORDERED on to that rule. Schema-1 history keeps the times an
        # older curagate wrote, whatever their order: its rows do not carry it.
        data = payload or {}
        if data.get("migrated_from_schema") is None:
            data = {**data, TIMES_ORDERED: True}
        seed = None if isinstance(actor, str) else actor.actor_seed
        if seed is not None:
            message = actor_message(prev, row_id, (*head, canonical(data)))
            data = {**data, ACTOR_SIG: actor_sign(seed, message)}
        fields = (*head, canonical(data))
        db.execute(
            f"INSERT INTO log ({LOG_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row_id, *fields, prev, row_hash(prev, row_id, fields)),
        )
        return row_id

    def _set_stage(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        to: str,
        action: str,
        actor: Who,
        reason: str,
        report_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        db.execute("UPDATE model_versions SET stage = ? WHERE id = ?", (to, mv.id))
        payload = {"gate_report_id": report_id, **(extra or {})}
        if to == "production":  # decided on every verdict on its bytes (`check` holds it so)
            payload[VERDICTS_PER_ARTIFACT] = True
            payload[SIGNER_IN_LOCK] = True  # and on its export signer, looked up in the lock
        self._log(
            db,
            action,
            actor=actor,
            reason=reason,
            name=mv.name,
            version=mv.version,
            from_stage=mv.stage,
            to_stage=to,
            payload=payload,
        )

    def vouching_export_keys(self) -> frozenset[str]:
        """The fingerprints of the export keys trusted, not revoked and usable today: the
        bundles they signed are signed (:func:`signed_now`). A key on a curve other than
        P-256 (:attr:`TrustedKey.unusable`) vouches for nothing, as promotion refuses its
        bundles: found by re-attack, `list` and the service called them signed."""
        with self._read() as db:
            return frozenset(
                k.fingerprint for k in self._keys(db, "export") if k.active and k.unusable is None
            )

    def _trusted(self, db: sqlite3.Connection, role: str) -> dict[str, bytes]:
        return {k.fingerprint: k.public_pem.encode() for k in self._keys(db, role) if k.active}

    def _judge(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        offer: Offer,
        trusted: dict[str, bytes] | None = None,
        offered_at: str | None = None,
    ) -> Judgement:
        """Is this report authentic, about exactly this artifact, and unedited?

        ``trusted`` defaults to the gate keys trusted and unrevoked now. ``offered_at``: when
        a recorded report was offered (default now); its signed time is held to the clock
        then, so a report refused as signed "in the future" stays refused once that time
        has come (it would otherwise decide later, over verdicts signed since).
        """
        source = offer.source or str(offer.path)
        try:
            doc = parse_artifact(GateReportDoc, offer.raw, source=source)
        except InputError as e:
            return Judgement(None, False, str(e), None)
        if offer.attestation is None:
            return Judgement(
                doc.verdict,
                False,
                f"{source}: unsigned: no {ATTESTATION_NAME} beside it; rerun the gate with "
                "--sign-key (a report alone proves nothing: anyone can write one)",
                None,
            )
        try:
            pred, keyid = verify_gate_attestation(
                offer.attestation,
                self._trusted(db, "gate") if trusted is None else trusted,
                report_raw=offer.raw,
                verdict=doc.verdict,
                artifact_digest=mv.artifact_digest,
                source=source,
            )
        except AttestationRefused as e:
            why = str(e)
            if e.judged is not None:
                why = (
                    f"{source}: the attestation is for artifact {e.judged[:12]}…, not {mv.ref} "
                    f"({mv.artifact_digest[:12]}…); gate this version's bundle ({mv.artifact_path})"
                )
            return Judgement(doc.verdict, False, why, e.keyid)
        latest = iso_utc(_clock_at(offered_at) + MAX_CLOCK_SKEW)
        if pred.issued_at is not None and pred.issued_at > latest:
            # The newest signed verdict decides: one signed "in the future" would decide
            # until that date, over every verdict signed before it.
            return Judgement(
                doc.verdict,
                False,
                f"{source}: the attestation says it was signed at {pred.issued_at}, after this "
                f"registry's clock allows ({latest}); the signing machine's clock is wrong: "
                "fix it and gate again",
                keyid,
            )
        return Judgement(
            pred.verdict,
            True,
            f"verified: signed by gate key {keyid[:12]}, verdict {pred.verdict}",
            keyid,
            pred.issued_at,
        )

    def _record(
        self, db: sqlite3.Connection, mv: ModelVersion, offer: Offer, actor: Who
    ) -> RecordedGateReport:
        first = self._first_offered(db, sha256_bytes(offer.raw), offer.attestation)
        j = self._judge(db, mv, offer, offered_at=first)
        report_sha = self._put_blob(offer.raw)
        att_sha = self._put_blob(offer.attestation) if offer.attestation is not None else None
        items_sha = None
        if offer.items is not None and offer.items_mismatch() is None:
            # Stored only when it is the file the report names (and so the attestation
            # covers): read_offer and add_gate_report_bytes refuse any other.
            items_sha = self._put_blob(offer.items)
        path = offer.label
        at = self._clock(db)
        cur = db.execute(
            "INSERT INTO gate_reports (model_version_id, report_sha256, attestation_sha256, "
            "verdict, accepted, why, keyid, path, actor, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mv.id,
                report_sha,
                att_sha,
                j.verdict,
                int(j.accepted),
                j.why,
                j.keyid,
                path,
                _name(actor),
                at,
            ),
        )
        report_id = int(cur.lastrowid or 0)
        self._log(
            db,
            "report",
            actor=actor,
            reason=j.why,
            name=mv.name,
            version=mv.version,
            payload={
                "gate_report_id": report_id,
                "report_sha256": report_sha,
                "attestation_sha256": att_sha,
                "verdict": j.verdict,
                "accepted": j.accepted,
                "why": j.why,
                "keyid": j.keyid,
                "path": path,
                "items_sha256": items_sha,
            },
            at=at,
        )
        return _report(
            db.execute(
                f"SELECT {_REPORT_COLS} FROM gate_reports WHERE id = ?", (report_id,)
            ).fetchone()
        )

    def _verify_bytes(self, mv: ModelVersion) -> None:
        """The bundle on disk is still the registered one (and still signed, if it was)."""
        pem = None
        curve = None
        if mv.signed_by is not None:
            with self._read() as db:
                pem = self._trusted(db, "export").get(mv.signed_by)
            # A key on another curve (trusted, and the bundle registered, before curagate
            # took P-256 keys only) cannot check the signature: found by re-attack, the
            # loader's refusal was reported as changed bytes ("its bytes are not the
            # registered ones: public key: an EC key on curve secp384r1") of a bundle not a
            # byte of which had changed. Its bytes are checked without it.
            curve = other_curve(pem) if pem is not None else None
        try:
            # Its bytes first: a changed bundle whose signer is also revoked is changed.
            checked = verify_bundle(
                mv.artifact_path,
                public_key=pem if curve is None else None,
                expected_digest=mv.artifact_digest,
            )
        except (CheckFailed, InputError) as e:
            raise CheckFailed(f"{mv.ref}: its bytes are not the registered ones: {e}") from None
        sig = Path(mv.artifact_path) / BUNDLE_SIGNATURE_NAME
        if mv.signed_by is None and (sig.exists() or sig.is_symlink()):
            # Found by attack: a model.sig added to a bundle registered unsigned (5 MB of
            # anything: another weight file) rode into production and `check --bundles` said
            # intact, while `register` refuses a bundle whose model.sig no trusted key checks.
            raise CheckFailed(
                f"{mv.ref}: its bytes are not the registered ones: {sig} was added after it "
                f"was registered unsigned (registered bundles are verified as registered); "
                f"remove {BUNDLE_SIGNATURE_NAME}, or register the signed bundle as a new "
                "version (its key trusted with `curagate registry trust add --role export`)"
            )
        # The rules read the registered lineage (rule 6: lineage.run.signed_by); the signed
        # MANIFEST.json, whose sha256 is the registered digest, is what vouches for it. A
        # register row written by hand named a trusted trainer for a run nobody signed.
        with self._read() as db:
            logged = db.execute(
                f"SELECT json_extract(l.payload, '$.{FILES_IDENTITY}') {_KEY_JOIN} WHERE m.id = ?",
                (mv.id,),
            ).fetchone()
        listed = files_identity(checked.manifest.files)
        if logged is not None and logged[0] is not None and listed != logged[0]:
            raise RegistrationForged(
                f"{mv.ref}: its register row names files {str(logged[0])[:12]}…, but "
                f"{mv.artifact_path}/{MANIFEST_NAME}, whose sha256 is the registered "
                f"digest, lists files {listed[:12]}…: the "
                "row was not written by `curagate registry register`; restore the "
                "database from a backup made before that row"
            )
        differs = _first_difference(checked.manifest.lineage, mv.lineage, "lineage")
        if differs is not None:
            field_name, in_bundle, registered = differs
            raise RegistrationForged(
                f"{mv.ref}: {field_name} is {registered} in the registry but {in_bundle} in "
                f"{mv.artifact_path}/{MANIFEST_NAME}, whose sha256 is the registered digest: "
                "its register row was not written by `curagate registry register` (which "
                "copies the manifest's lineage), so nothing the registry says of this version "
                "vouches for it, and its bytes cannot be registered again while it holds them: "
                "restore the database from a backup made before that row"
            )
        if curve is not None:
            assert mv.signed_by is not None
            raise SignerUnusable(
                f"{mv.ref}: bytes unchanged; signer key unusable: export key "
                f"{mv.signed_by[:12]} is an EC key on curve {curve}, and {curve} is not P-256 "
                "(trusted before curagate took P-256 keys only), so its signature can no "
                f"longer be checked and vouches for nothing; {RESIGN_REMEDY}"
            )
        if mv.signed_by is not None and pem is None:
            raise SignerRevoked(_signer_revoked(mv))

    def _signer_still_trusted(self, db: sqlite3.Connection, mv: ModelVersion) -> str | None:
        """Inside the write lock: why ``mv``'s export signer no longer backs a move (None:
        unsigned, or its key is still trusted). :meth:`_verify_bytes` runs before the lock
        (hashing takes minutes for real weights) and looks the key up at its start: found
        by attack, a key revoked while it hashed let the move through afterwards."""
        if mv.signed_by is None or mv.signed_by in self._trusted(db, "export"):
            return None
        return _signer_revoked(mv)

    def register(
        self,
        bundle: str | os.PathLike[str],
        *,
        name: str,
        actor: Who | None = None,
        reason: str = "",
        gate_report: str | os.PathLike[str] | None = None,
        attestation: str | os.PathLike[str] | None = None,
    ) -> tuple[ModelVersion, RecordedGateReport | None]:
        """Add a verified bundle as the next version of ``name``, in stage experiment.

        A bundle carrying ``model.sig`` must verify with a trusted export key; it is then
        registered signed, and its signature is re-verified at every promotion. An
        authenticated :class:`User` (uploader or above) as ``actor`` signs the rows
        written (the register row, and the report's).
        """
        check_name(name)
        root = Path(bundle)
        try:  # the path the registry stores (a folder above may have a non-UTF-8 name)
            str(root.resolve()).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                f"{os.fsdecode(root.resolve())!r}: the bundle's path is not UTF-8, which the "
                "registry cannot store; move or rename the folder"
            ) from None
        checked = verify_bundle(root)
        lineage_json = canonical(checked.manifest.lineage)
        try:  # what the replay holds every registered lineage to
            parse_json(lineage_json)
        except ValueError as e:
            raise InputError(
                f"{root / MANIFEST_NAME}: its lineage cannot be registered ({e}); "
                "`curagate export` writes a lineage a few levels deep"
            ) from None
        offer = read_offer(gate_report, attestation) if gate_report is not None else None
        signed_by = self._signer(checked) if (root / BUNDLE_SIGNATURE_NAME).exists() else None
        check_text(reason, "reason")
        identity = files_identity(checked.manifest.files)
        with self._write() as db:
            who = self._writer(db, actor, "registering a version")
            # One version per artifact, whatever its name: the same bytes under a second
            # name shipped on an older pass where a newer signed fail held them back. The
            # same bytes are the same files (path and sha256 of each): found by attack, a
            # copy with MANIFEST.json re-indented was another digest, and registered.
            dup = db.execute(
                f"SELECT m.name, m.version {_KEY_JOIN} WHERE m.artifact_digest = ? "
                f"OR json_extract(l.payload, '$.{FILES_IDENTITY}') = ? ORDER BY m.id LIMIT 1",
                (checked.digest, identity),
            ).fetchone()
            if dup is None:
                # Versions an older curagate registered carry no files identity: read from
                # their manifests on disk (those still the registered bytes).
                for row in db.execute(
                    f"SELECT {', '.join('m.' + c for c in _VERSION_COLS.split(', '))} "
                    f"{_KEY_JOIN} WHERE json_extract(l.payload, '$.{FILES_IDENTITY}') IS NULL "
                    "ORDER BY m.id"
                ).fetchall():
                    old = _version(row)
                    if _on_disk_identity(old) == identity:
                        dup = (old.name, old.version)
                        break
            if dup is not None:
                owner = self._get(db, dup[0], int(dup[1]))
                void = (
                    f"; its export key {owner.signed_by[:12]} is revoked or unusable, and a "
                    f"copy signed again is still these bytes: {RESIGN_REMEDY}"
                    if owner.signed_by is not None
                    and not any(
                        k.fingerprint == owner.signed_by and k.active and k.unusable is None
                        for k in self._keys(db, "export")
                    )
                    else ""
                )
                raise InputError(
                    f"{bundle}: artifact {checked.digest[:12]}… is already registered as "
                    f"{dup[0]} v{dup[1]}; the same bytes are one version (the same files: "
                    "every file's path and sha256, however MANIFEST.json is spelled), so "
                    f"every gate verdict on them counts together: use {dup[0]} v{dup[1]}{void}"
                )
            path = str(root.resolve())
            # Found by attack: the nightly export into one folder replaced production's
            # bundle, and registering the new one there said nothing, while `list` and
            # `check` showed production healthy and a rollback to it failed: its bytes are
            # gone. A version still live at this path (or the one a rollback restores) is
            # not these bytes (the same bytes were refused above): its own were overwritten.
            # The same folder is also one reached by another path (found by re-attack: the
            # project moved behind a symlink, or a bind mount), so its identity counts too.
            here = root.stat()
            held, live = [], None
            for n, v, stage, stored in db.execute(
                "SELECT name, version, stage, artifact_path FROM model_versions ORDER BY id"
            ).fetchall():
                if stored != path and not _same_folder(stored, here):
                    continue
                if stage != "archived":
                    held.append(f"{n} v{v} ({stage})")
                    live = live or (n, v)
                    continue
                target = self._rollback_target(db, n)
                if target is not None and target.version == v:
                    held.append(f"{n} v{v} (archived, the version `rollback {n}` restores)")
            if held:
                archive = (
                    f", or archive it if it is no longer wanted (`curagate registry promote "
                    f"{live[0]} {live[1]} --to archived`)"
                    if live is not None
                    else ""
                )
                raise InputError(
                    f"{bundle}: this folder is the registered bundle of {', '.join(held)}, "
                    "whose bytes were overwritten (another bundle is there now); registering "
                    "it would leave that version without its bundle: export each version to "
                    "its own folder (`curagate export RUN --out exports/NAME-VERSION`) and "
                    f"restore the old bundle here{archive}"
                )
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?", (name,)
            ).fetchone()
            at = self._clock(db)
            cur = db.execute(
                "INSERT INTO model_versions (name, version, artifact_digest, artifact_path, "
                "lineage, signed_by, stage, created_at) VALUES (?, ?, ?, ?, ?, ?, 'experiment', ?)",
                (name, version, checked.digest, path, lineage_json, signed_by, at),
            )
            self._log(
                db,
                "register",
                actor=who,
                reason=reason,
                name=name,
                version=version,
                to_stage="experiment",
                payload={
                    "artifact_digest": checked.digest,
                    "artifact_path": path,
                    "lineage_sha256": lineage_sha256(lineage_json),
                    "signed_by": signed_by,
                    ONE_PER_ARTIFACT: True,
                    FILES_IDENTITY: identity,
                },
                at=at,
            )
            mv = _version(
                db.execute(
                    f"SELECT {_VERSION_COLS} FROM model_versions WHERE id = ?", (cur.lastrowid,)
                ).fetchone()
            )
            recorded = self._record(db, mv, offer, who) if offer is not None else None
            return mv, recorded

    def _signer(self, checked: VerifyResult) -> str:
        """The trusted export key whose model.sig signs the bundle's files as ``checked``
        hashed them."""
        bundle = checked.bundle
        with self._read() as db:
            # A key on another curve than P-256, trusted before curagate refused them, signs
            # nothing curagate accepts (signing.other_curve): left out, not an error.
            all_keys = [
                k for k in self._keys(db, "export") if not other_curve(k.public_pem.encode())
            ]
        keys = {k.fingerprint: k.public_pem.encode() for k in all_keys if k.active}
        for k in all_keys:
            if k.active:
                continue
            try:  # said first: "add the signer's key" cannot be done for a revoked one
                verify_bundle_signature(bundle, k.public_pem.encode(), checked.hashed())
            except SignatureInvalid:
                continue
            raise CheckFailed(
                f"{bundle}/{BUNDLE_SIGNATURE_NAME}: signed by export key {k.name!r} "
                f"({k.fingerprint[:12]}…), which was revoked at {k.revoked_at} "
                f"({k.revoke_reason}); re-export and sign the bundle with a trusted key"
            )
        if not keys:
            raise CheckFailed(
                f"{bundle}: it carries {BUNDLE_SIGNATURE_NAME} but the registry trusts no export "
                "key; add the signer's public key with `curagate registry trust add PUBKEY "
                "--role export --name NAME`"
            )
        for fp, pem in keys.items():
            try:
                verify_bundle_signature(bundle, pem, checked.hashed())
            except SignatureInvalid:
                continue
            return fp
        raise CheckFailed(
            f"{bundle}/{BUNDLE_SIGNATURE_NAME}: does not verify with any trusted, unrevoked export "
            "key; the bundle was changed after signing, or signed by a key this registry does not trust"
        )

    def add_gate_report(
        self,
        name: str,
        version: int,
        report_path: str | os.PathLike[str],
        *,
        attestation: str | os.PathLike[str] | None = None,
        actor: Who | None = None,
    ) -> RecordedGateReport:
        offer = read_offer(report_path, attestation)
        with self._write() as db:
            who = self._writer(db, actor, "recording a gate report")
            return self._record(db, self._get(db, name, version), offer, who)

    def add_gate_report_bytes(
        self,
        name: str,
        version: int,
        report: bytes,
        *,
        attestation: bytes | None = None,
        items: bytes | None = None,
        actor: Who | None = None,
        source: str = "api upload",
    ) -> RecordedGateReport:
        """Record a report received over the API (CI uploads), judged like one on disk.
        Items that are not the file the report names are refused: they were dropped without
        a word (201, accepted), and the compare page then said to rerun the gate."""
        offer = Offer(Path(GateReportDoc.FILE), report, attestation, items, source=source)
        mismatch = offer.items_mismatch()
        if mismatch is not None:
            raise InputError(
                f"{source}: {mismatch}; upload the exact items.jsonl the gate wrote beside "
                "it, byte for byte (a line-ending conversion changes it), or none"
            )
        with self._write() as db:
            who = self._writer(db, actor, "recording a gate report")
            return self._record(db, self._get(db, name, version), offer, who)

    def _writer(self, db: sqlite3.Connection, actor: Who | None, what: str) -> Who:
        """Who writes a register or report row: an authenticated user (uploader or above,
        re-read in this transaction; the row is signed with their actor key), else the
        free text of ``--actor`` or the login name, which the row names without proof."""
        if isinstance(actor, User):
            return self._uploader(db, actor, what)
        return check_text(actor or default_actor(), "actor")

    def _active_waiver(
        self, db: sqlite3.Connection, mv: ModelVersion, report_sha256: str
    ) -> int | None:
        """An unexpired waiver for exactly this report of this version (times are UTC ISO
        strings of one format, so they compare as text)."""
        # A waiver is void once its granter's access is revoked, as a revoked key's
        # signatures are.
        row = db.execute(
            "SELECT w.id FROM waivers w WHERE w.model_version_id = ? AND w.report_sha256 = ? "
            "AND w.expires_at > ? AND NOT EXISTS (SELECT 1 FROM users u JOIN user_revocations r "
            "ON r.user_id = u.id WHERE u.name = w.granted_by) ORDER BY w.id DESC LIMIT 1",
            (mv.id, report_sha256, iso_utc(self._now_at_least_log(db))),
        ).fetchone()
        return int(row[0]) if row else None

    def _judge_recorded(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        r: RecordedGateReport,
        trusted: dict[str, bytes] | None = None,
    ) -> Judgement:
        """A recorded report judged again, its bytes read back from the store and checked
        against their addresses; ``trusted`` defaults to the gate keys trusted now."""
        att = self.blob(r.attestation_sha256) if r.attestation_sha256 else None
        offer = Offer(Path(r.path), self.blob(r.report_sha256), att)
        first = self._first_offered(db, r.report_sha256, att) or r.recorded_at
        return self._judge(db, mv, offer, trusted, offered_at=first)

    def _first_offered(
        self, db: sqlite3.Connection, report_sha256: str, attestation: bytes | None
    ) -> str | None:
        """When this signed statement about a report was first offered to this registry
        (None: never, or unsigned). Its signed time is held to the clock then, whenever it
        is offered or judged again: refused as signed "in the future", the same statement
        offered again once that time had come was accepted, and outranked a fail the gate
        signed after it. By the statement the signature covers, not the envelope file's
        bytes (the same envelope indented anew was a first offer), nor the report's alone
        (a gate rerun with its clock fixed signs the same report anew: a new statement)."""
        statement = _statement_of(attestation)
        if statement is None:
            return None
        return self._offers(db, report_sha256).get(statement)

    def _offers(self, db: sqlite3.Connection, report_sha256: str) -> dict[str, str]:
        """When each signed statement about a report was first recorded: {statement digest:
        recorded_at}. Kept per database (its path and log head), report and attested rows
        (count and last id: rows are only added), and each stored envelope's statement per
        address: reading every
        envelope of a report again for each of its rows made a page of 100 re-uploads of
        one report (each padded to 400 KB) take 25 s."""
        count, last = db.execute(
            "SELECT COUNT(*), MAX(id) FROM gate_reports WHERE report_sha256 = ? "
            "AND attestation_sha256 IS NOT NULL",
            (report_sha256,),
        ).fetchone()
        # With the log's head: another copy of the database put back at this path may have
        # as many rows of the report (found by the re-attack: the first copy's offers, which
        # lacked a pass signed in the future, judged it in the second by today's clock).
        head = db.execute("SELECT hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
        key = (str(self.path), None if head is None else str(head[0]), report_sha256, count, last)
        with _OFFERS_LOCK:
            hit = _OFFERS.get(key)
            if hit is not None:
                _OFFERS.move_to_end(key)
                return hit
        offers: dict[str, str] = {}
        for at, att in db.execute(
            "SELECT recorded_at, attestation_sha256 FROM gate_reports WHERE report_sha256 = ? "
            "AND attestation_sha256 IS NOT NULL AND id <= ? ORDER BY id",
            (report_sha256, last),
        ):
            statement = self._stored_statement(str(att))
            if statement is not None and (statement not in offers or str(at) < offers[statement]):
                offers[statement] = str(at)
        with _OFFERS_LOCK:
            _OFFERS[key] = offers
            while len(_OFFERS) > _OFFERS_SIZE:
                _OFFERS.popitem(last=False)
        return offers

    def _stored_statement(self, attestation_sha256: str) -> str | None:
        """:func:`_statement_of` a stored envelope, kept by its address (read and checked
        against it once: the statement of an address never changes)."""
        with _OFFERS_LOCK:
            if attestation_sha256 in _STATEMENTS:
                _STATEMENTS.move_to_end(attestation_sha256)
                return _STATEMENTS[attestation_sha256]
        statement = _statement_of(self.blob(attestation_sha256))
        with _OFFERS_LOCK:
            _STATEMENTS[attestation_sha256] = statement
            while len(_STATEMENTS) > _STATEMENTS_SIZE:
                _STATEMENTS.popitem(last=False)
        return statement

    def _judge_kept(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        r: RecordedGateReport,
        keys: tuple[tuple[str, bytes], ...],
    ) -> Judgement:
        """:meth:`_judge_recorded` against ``keys`` (sorted (fingerprint, PEM) pairs), kept
        per (version, report and attestation addresses, key set, and the stored files as
        they are now): a judgement is a function of exactly these, so a key revoked or added
        makes a new set, judged afresh, and so does a stored file written since (its bytes
        are read and checked against its address again: a blob edited in the store is
        tampering, not a verified report). For display only; every decision judges the
        bytes read back from the store."""
        key = (
            mv.artifact_digest,
            mv.ref,
            mv.artifact_path,
            r.path,
            self._first_offered(
                db,
                r.report_sha256,
                self.blob(r.attestation_sha256) if r.attestation_sha256 else None,
            )
            or r.recorded_at,
            r.report_sha256,
            r.attestation_sha256,
            keys,
            self._blob_state(r.report_sha256),
            self._blob_state(r.attestation_sha256),
        )
        with _JUDGED_LOCK:
            hit = _JUDGED.get(key)
            if hit is not None:
                _JUDGED.move_to_end(key)
                return hit
        j = self._judge_recorded(db, mv, r, dict(keys))
        with _JUDGED_LOCK:
            _JUDGED[key] = j
            while len(_JUDGED) > _JUDGED_SIZE:
                _JUDGED.popitem(last=False)
        return j

    def _decision(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        kept_with: tuple[tuple[str, bytes], ...] | None = None,
        *,
        holders: dict[int, ModelVersion] | None = None,
        reports: list[tuple[int, RecordedGateReport]] | None = None,
    ) -> Decision:
        """What decides for ``mv`` today (:class:`Decision`): every report recorded for it
        and for every version registered with its bytes (one, but for twins an older
        curagate registered before one version per artifact), ranked by :meth:`_ranked`.
        The one rule promotion goes by; every reader that states a verdict reads it here.
        ``kept_with``: today's gate keys, for display (judgements kept, see
        :meth:`_judge_kept`). ``holders`` (the versions with ``mv``'s bytes, by id) and
        ``reports`` ((version id, report) of those versions, by report id) when the caller
        has read them already."""
        if holders is None:
            key = self._artifact_key(db, mv)
            holders = {
                v.id: v
                for v in (
                    _version(row)
                    for row in db.execute(
                        f"SELECT {', '.join('m.' + c for c in _VERSION_COLS.split(', '))} "
                        f"{_KEY_JOIN} WHERE m.artifact_digest = ? OR {_KEY_SQL} = ? "
                        "ORDER BY m.id",
                        (mv.artifact_digest, key),
                    )
                )
            }
            holders.update({v.id: v for v in _same_files_on_disk(db, mv)})
        holders = {**holders, mv.id: mv}
        if reports is None:
            reports = [
                (row[0], _report(row[1:]))
                for row in db.execute(
                    f"SELECT model_version_id, {_REPORT_COLS} FROM gate_reports WHERE "
                    f"model_version_id IN ({', '.join('?' * len(holders))}) ORDER BY id",
                    tuple(holders),
                )
            ]
        owners = {r.id: holders[vid] for vid, r in reports}
        own = {rid for rid, v in owners.items() if v.id == mv.id}
        ranked = self._ranked(db, mv, [r for _, r in reports], kept_with, own=own, owners=owners)
        twins = tuple(v for v in holders.values() if v.id != mv.id)
        return Decision(mv, tuple(ranked), owners, twins)

    @staticmethod
    def _artifact_key(db: sqlite3.Connection, mv: ModelVersion) -> str:
        """``mv``'s artifact key (:func:`~curagate.registry.chain.artifact_key`)."""
        row = db.execute(f"SELECT {_KEY_SQL} {_KEY_JOIN} WHERE m.id = ?", (mv.id,)).fetchone()
        return str(row[0]) if row else mv.artifact_digest

    def _ranked(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        reports: list[RecordedGateReport],
        kept_with: tuple[tuple[str, bytes], ...] | None = None,
        trusted: dict[str, bytes] | None = None,
        own: set[int] | None = None,
        owners: dict[int, ModelVersion] | None = None,
    ) -> list[tuple[RecordedGateReport, Judgement]]:
        """``reports`` (in recording order), each judged again: those that verify now
        first (whatever was judged when they were recorded), each group newest first.

        Newest by the time the gate signed (the attestation's ``issued_at``), not by when
        someone offered it: a report recorded again (or an older one offered late) keeps
        its place. An attestation without a signed time (signed before the gate wrote
        one) ranks below every report that has one, whenever it is offered: such a report
        kept back could otherwise be offered after a newer signed fail and pass for new.
        Among themselves those rank by when their report was first recorded for this
        version. With ``kept_with`` (today's gate keys), the judgements come from
        :meth:`_judge_kept` (display only); ``trusted``: judge against these keys instead
        of today's (`check` replaying a decision made earlier). ``own``: the ids of
        ``mv``'s own reports when ``reports`` holds those of its twins too (the same bytes
        under another version): of the records of one report, ``mv``'s rank first."""
        first: dict[str, tuple[str, int]] = {}
        judged = []
        for r in reports:
            first.setdefault(r.report_sha256, (r.recorded_at, r.id))
            # Each report against the version it was recorded for (``owners``): a twin whose
            # MANIFEST.json is spelled otherwise has another digest, which its reports name.
            of = (owners or {}).get(r.id, mv)
            if kept_with is None:
                judged.append((r, self._judge_recorded(db, of, r, trusted)))
            else:
                judged.append((r, self._judge_kept(db, of, r, kept_with)))

        def signed_time(
            item: tuple[RecordedGateReport, Judgement],
        ) -> tuple[bool, bool, bool, str, int, bool, bool]:
            r, j = item
            at, first_id = first[r.report_sha256]
            # When none verifies today, those accepted when recorded come first: the one
            # shown (and named in a refusal) is what decided until a key was revoked, not a
            # newer unsigned upload. Among records of one report, the version's own first,
            # then one accepted when recorded: only such a record can back a move of the
            # version (the log's rule).
            return (
                j.accepted,
                j.accepted or r.accepted,
                j.issued_at is not None,
                j.issued_at or at,
                first_id,
                own is None or r.id in own,
                r.accepted,
            )

        return sorted(judged, key=signed_time, reverse=True)

    def _backing_report(
        self, db: sqlite3.Connection, mv: ModelVersion, *, rollback: bool = False
    ) -> tuple[int | None, str, int | None]:
        """The deciding report: the newest by signed time of those that verify today (keys
        may have been revoked or trusted since it was recorded), if it says pass, or warn
        under an unexpired waiver. An older pass never outvotes a newer verdict on the same
        bytes, also one refused when recorded (its key trusted only since). Once the registry trusts a train
        key, nothing backs a bundle whose run no trusted trainer signed (:func:`unsigned_run`).
        Returns (report id, why, waiver id); ``rollback``: the why names a rollback's
        remedies (it takes no report)."""
        train = self._keys(db, "train")
        if train:
            # A train key on another curve than P-256 vouches for nothing, as a revoked one.
            usable = frozenset(k.fingerprint for k in train if k.active and k.unusable is None)
            why = unsigned_run(mv, usable)
            if why is not None:
                return None, why, None
        seen = []
        unwaived: str | None = None  # the sha256 of a warn no unexpired waiver waives
        decision = self._decision(db, mv)
        for r, j in decision.ranked:
            holder = decision.owners[r.id]
            if holder.id != mv.id:
                # Twins an older curagate registered: every verdict on the same bytes counts
                # together (an older pass of one shipped past the other's newer signed fail).
                if j.accepted and j.verdict in ("pass", "warn"):
                    seen.append(
                        f"report {r.id} of {holder.ref}, the same bytes: {j.verdict}, which "
                        f"backs {mv.ref} once recorded for it: offer it (`curagate registry "
                        f"report {mv.name} {mv.version} --gate-report FILE`, promote's "
                        "`--gate-report` or an upload), then move it"
                    )
                else:
                    seen.append(
                        f"report {r.id} of {holder.ref}, the same bytes: "
                        f"{j.verdict if j.accepted else j.why}"
                    )
                break
            if j.accepted and not r.accepted and j.verdict in ("pass", "warn"):
                # It decides, but the log lets only a report accepted when recorded back a
                # move: recording it again (now verified) makes one.
                seen.append(
                    f"report {r.id}: {j.verdict}, verified today but refused when recorded "
                    f"({r.why}); offer it again to record it as accepted (`curagate registry "
                    f"report {mv.name} {mv.version} --gate-report FILE`, promote's "
                    "`--gate-report` or an upload), then move it"
                )
                break
            if j.accepted and j.verdict == "pass":
                return r.id, j.why, None
            if j.accepted and j.verdict == "warn":
                waiver = self._active_waiver(db, mv, r.report_sha256)
                if waiver is not None:
                    return r.id, f"{j.why}; warn waived (waiver {waiver})", waiver
                seen.append(
                    f"report {r.id}: warn, no unexpired waiver (one whose granter was revoked "
                    "is void)"
                )
                unwaived = r.report_sha256
            else:
                seen.append(f"report {r.id}: {j.verdict if j.accepted else j.why}")
            break  # the newest verified report decides
        detail = f" (newest recorded: {'; '.join(seen)})" if seen else ""
        if decision.twins:
            detail += (
                f"; its bytes are also registered as {', '.join(t.ref for t in decision.twins)} (by a "
                "curagate before "
                "one version per artifact), and every gate verdict on them counts together"
            )
        remedy = (
            f"run `curagate gate` on {mv.artifact_path} with --sign-key and pass its "
            "gate_report.json with --gate-report"
        )
        if rollback:
            # Found by attack: a rollback refused over an expired waiver said to pass
            # --gate-report, which `rollback` does not take.
            remedy = (
                f"record a signed pass for it with `curagate registry report {mv.name} "
                f"{mv.version} --gate-report FILE` (`curagate gate` on {mv.artifact_path} "
                "with --sign-key writes one)"
            )
            if unwaived is not None:
                # Found by re-attack: "again" of a warn never waived, and a command that
                # fails as given ($CURAGATE_TOKEN missing) where the registry has no approver.
                again = db.execute(
                    "SELECT 1 FROM waivers WHERE model_version_id = ? AND report_sha256 = ?",
                    (mv.id, unwaived),
                ).fetchone()
                waive = (
                    f"with their token in CURAGATE_TOKEN: `curagate registry waive {mv.name} "
                    f"{mv.version} --reason WHY --expires 7d`"
                )
                remedy += (
                    ", or have an approver other than whoever rolls back waive its warn"
                    f"{' again' if again else ''} {waive}"
                    if self._has_approvers(db)
                    else ", or have an approver waive its warn: waiving needs an approver's "
                    "token and this registry has none yet: add one (`curagate registry users "
                    f"add NAME --role approver`, which prints the token) and waive it {waive}"
                )
            remedy += ", then roll back again"
        return (
            None,
            (
                f"{mv.ref}: promotion to production needs a signed gate attestation with verdict "
                f"pass (or warn with an unexpired waiver) for artifact {mv.artifact_digest[:12]}…"
                f"{detail}; {remedy}"
            ),
            None,
        )

    def _move(
        self,
        db: sqlite3.Connection,
        mv: ModelVersion,
        to: str,
        who: Who,
        reason: str,
        offer: Offer | None,
        extra: dict[str, Any],
        *,
        refused: str | None = None,
    ) -> str | None:
        """The verified path every promotion takes (CLI, approval, API); returns why it was
        refused, or None once the version is moved. A report offered is recorded either way,
        also when the move is already ``refused`` (e.g. its bytes changed)."""
        if _RANK[to] <= _RANK[mv.stage]:
            raise InputError(
                f"{mv.ref} is in {mv.stage}; promotion only moves forward "
                f"({' → '.join(STAGES)}); use `curagate registry rollback` to restore an "
                "earlier production version"
            )
        report_id = None
        waiver_id = None
        refusal = refused
        if refusal is None and to != "archived":  # staging ships too, as in promote
            refusal = self._signer_still_trusted(db, mv)
        if offer is not None:
            rec = self._record(db, mv, offer, who)
            report_id = rec.id
            if refusal is None and to == "production":
                if not rec.accepted:
                    refusal = rec.why
                elif rec.verdict == "warn":
                    waiver_id = self._active_waiver(db, mv, rec.report_sha256)
                    if waiver_id is None:
                        refusal = (
                            f"{mv.ref}: the gate's verdict is warn; production needs pass, or an "
                            "unexpired waiver from an approver (`curagate registry waive`)"
                        )
                elif rec.verdict != "pass":
                    refusal = (
                        f"{mv.ref}: the gate's verdict is {rec.verdict}; production needs pass"
                    )
        if refusal is None and to == "production":
            # The newest signed verdict decides, also when a report is offered: an older
            # pass offered (again) never outvotes a newer fail on the same bytes.
            report_id, why, waiver_id = self._backing_report(db, mv)
            if report_id is None:
                refusal = why
            else:
                self._check_items(db, report_id)
            if refusal is None:
                current = self._production(db, mv.name)
                if current is not None:
                    self._set_stage(
                        db,
                        current,
                        "archived",
                        "archive",
                        who,
                        f"replaced by v{mv.version}: {reason}".rstrip(": "),
                    )
        if refusal is None:
            if waiver_id is not None:
                extra = {**extra, "waiver_id": waiver_id}
            self._set_stage(
                db,
                mv,
                to,
                "archive" if to == "archived" else "promote",
                who,
                reason,
                report_id,
                extra,
            )
        return refusal

    @staticmethod
    def _has_approvers(db: sqlite3.Connection) -> bool:
        row = db.execute(
            "SELECT 1 FROM users u LEFT JOIN user_revocations r ON r.user_id = u.id "
            "WHERE r.id IS NULL AND u.role IN ('approver', 'admin') LIMIT 1"
        ).fetchone()
        return row is not None

    @staticmethod
    def _signing_admins(db: sqlite3.Connection) -> list[str]:
        """Active admins with an actor key (the replay's :meth:`State.signing_admins`)."""
        rows = db.execute(
            "SELECT u.name FROM users u LEFT JOIN user_revocations r ON r.user_id = u.id "
            "WHERE r.id IS NULL AND u.role = 'admin' AND EXISTS (SELECT 1 FROM log l "
            "WHERE l.action = 'user_add' AND json_extract(l.payload, '$.user_id') = u.id "
            "AND json_extract(l.payload, '$.actor_key') IS NOT NULL) ORDER BY u.name"
        )
        return [str(name) for (name,) in rows]

    def _admin(self, db: sqlite3.Connection, actor: Who | None, what: str) -> Who:
        """Who adds or revokes a user or key. Once the registry has an admin with an actor
        key, that admin's account (authenticated with their token, re-read here), whose
        row is signed: a writer of the database file without an admin's token cannot add
        an approver of their own. Before that, the owner of the file: the name given, the
        login name, or the name of the user given (their row is not signed)."""
        admins = self._signing_admins(db)
        if isinstance(actor, User) and not admins:
            now = self._user(db, actor.id)
            if not now.active:
                raise Forbidden(f"user {now.name!r} was revoked at {now.revoked_at}")
            return now.name
        if isinstance(actor, User):
            now = self._approver(db, actor, what)
            if now.name not in admins:
                raise Forbidden(
                    f"user {now.name!r} is not an admin with an actor key; {what} needs one "
                    f"({', '.join(admins)})"
                )
            return now
        if admins:
            raise Forbidden(
                f"{self.path}: this registry has admins ({', '.join(admins)}), so {what} "
                "needs one: set $CURAGATE_TOKEN to an admin's token"
            )
        return check_text(actor or default_actor(), "actor")

    def promote(
        self,
        name: str,
        version: int,
        *,
        to: str,
        actor: str | None = None,
        reason: str = "",
        gate_report: str | os.PathLike[str] | None = None,
        attestation: str | os.PathLike[str] | None = None,
        user: User | None = None,
    ) -> ModelVersion:
        """Move a version forward (experiment → staging → production → archived).

        Production needs a verified gate attestation with verdict pass (or warn under an
        unexpired waiver) for exactly this artifact, and intact bytes on disk; the version
        it replaces is archived in the same transaction. A report offered here is recorded
        even when it is refused. Once the registry has approvers (``users add --role
        approver``), production goes only through :meth:`request_promotion` and
        :meth:`approve`: two different people, and every other move needs ``user``, an
        approver (see :meth:`_who`).
        """
        if to not in STAGES:
            raise InputError(f"stage {to!r}: choose one of {', '.join(STAGES)}")
        check_text(actor or default_actor(), "actor")
        check_text(reason, "reason")
        offer = read_offer(gate_report, attestation) if gate_report is not None else None
        bytes_refusal: str | None = None
        if to != "archived":  # staging ships too (check --bundles says so): re-verified
            try:
                self._verify_bytes(self.get(name, version))
            except CheckFailed as e:
                bytes_refusal = str(e)  # still record the report offered with it
        return self._promote_verified(
            name, version, to, actor, reason, offer, user, bytes_refusal=bytes_refusal
        )

    def _promote_verified(
        self,
        name: str,
        version: int,
        to: str,
        actor: str | None,
        reason: str,
        offer: Offer | None,
        user: User | None,
        *,
        bytes_refusal: str | None,
    ) -> ModelVersion:
        """:meth:`promote`'s second half, once the bytes were hashed (minutes, outside the
        lock): a key revoked meanwhile is found inside it (:meth:`_move`)."""
        with self._write() as db:
            if to == "production" and self._has_approvers(db):
                raise Forbidden(
                    f"{self.path}: this registry has approvers, so production needs two of them: "
                    f"one runs `curagate registry request {name} {version} --to production`, "
                    "another `curagate registry approve ID` (or both use `curagate serve`)"
                )
            who = self._who(db, user, actor, f"moving a version to {to}")
            refusal = self._move(
                db, self._get(db, name, version), to, who, reason, offer, {}, refused=bytes_refusal
            )
        if refusal is not None:
            raise CheckFailed(refusal)
        return self.get(name, version)

    # people and the two-approver workflow

    def user_add(
        self,
        name: str,
        *,
        role: str,
        actor: Who | None = None,
        reason: str = "",
        enrollment: str | None = None,
    ) -> tuple[User, str | None]:
        """Create a user; returns the user and their API token (shown once, stored hashed).

        With an ``enrollment`` code (:func:`enrollment`, made by the user from a token only
        they hold) the token is theirs and None is returned: whoever adds them cannot act
        in their name.
        """
        check_name(name, "user name")
        if role not in USER_ROLES:
            raise InputError(f"--role {role!r}: choose one of {', '.join(USER_ROLES)}")
        token: str | None = None
        seed: bytes | None = None
        if enrollment is None:
            token = new_token()
            seed = actor_seed(token)
            digest, public = token_sha256(token), actor_public_key(seed)  # needs the sign extra
        else:
            digest, public = _parse_enrollment(enrollment)
        check_text(reason, "reason")
        with self._write() as db:
            who = self._admin(db, actor, "adding a user")
            same = db.execute(
                "SELECT name FROM users WHERE lower(name) = lower(?)", (name,)
            ).fetchone()
            if same is not None:
                # Names are ASCII: lower() compares them case-blind, so one person cannot hold
                # two accounts named alike (alice, Alice) and be both people of an approval.
                raise InputError(
                    f"user {name!r} already exists"
                    + (f" as {same[0]!r} (names differ only in case)" if same[0] != name else "")
                    + " (revoked users stay recorded; pick a new name)"
                )
            if db.execute("SELECT 1 FROM users WHERE token_sha256 = ?", (digest,)).fetchone():
                raise InputError(
                    f"--enrollment: that token already belongs to a user; {name} makes a new "
                    "one (`curagate registry users token`)"
                )
            holder = db.execute(
                "SELECT json_extract(payload, '$.name') FROM log WHERE action = 'user_add' "
                "AND json_extract(payload, '$.actor_key') = ?",
                (public,),
            ).fetchone()
            if holder is not None:
                # Every user's key is public in the log: a code carrying one (its key half
                # swapped on the way to the admin) would let that key sign as two people.
                raise InputError(
                    f"--enrollment: its actor key is {holder[0]!r}'s; one key cannot sign as "
                    f"two people: {name} makes a new code (`curagate registry users token`) "
                    "and hands it over in a way no one can change"
                )
            at = self._clock(db)
            cur = db.execute(
                "INSERT INTO users (name, role, token_sha256, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, role, digest, _name(who), at),
            )
            uid = int(cur.lastrowid or 0)
            self._log(
                db,
                "user_add",
                actor=who,
                reason=reason,
                payload={
                    "user_id": uid,
                    "name": name,
                    "role": role,
                    "token_sha256": digest,
                    "actor_key": public,
                },
                at=at,
            )
            return dataclasses.replace(self._user(db, uid), actor_seed=seed), token

    @staticmethod
    def _user(db: sqlite3.Connection, uid: int) -> User:
        return User(*db.execute(_USER_SQL + " WHERE u.id = ?", (uid,)).fetchone())

    def users(self) -> list[User]:
        with self._read() as db:
            return [User(*r) for r in db.execute(_USER_SQL + " ORDER BY u.id")]

    def signing_users(self) -> set[str]:
        """Names of the users whose rows are signed: an actor key was recorded when they
        were added (users added before actor keys have none)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT json_extract(payload, '$.name') FROM log WHERE action = 'user_add' "
                "AND json_extract(payload, '$.actor_key') IS NOT NULL"
            )
            return {str(name) for (name,) in rows}

    def user_revoke(self, name: str, *, actor: Who | None = None, reason: str = "") -> User:
        check_text(reason, "reason")
        with self._write() as db:
            who = self._admin(db, actor, "revoking a user")
            row = db.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise InputError(
                    f"user {name!r}: no such user (see `curagate registry users list`)"
                )
            user = self._user(db, int(row[0]))
            if not user.active:
                raise InputError(f"user {name!r} was already revoked at {user.revoked_at}")
            at = self._clock(db)
            db.execute(
                "INSERT INTO user_revocations (user_id, reason, revoked_by, revoked_at) "
                "VALUES (?, ?, ?, ?)",
                (user.id, reason, _name(who), at),
            )
            self._log(
                db,
                "user_revoke",
                actor=who,
                reason=reason,
                payload={"user_id": user.id, "name": name},
                at=at,
            )
            return self._user(db, user.id)

    def authenticate(self, token: str | None) -> User | None:
        """The active user holding this token, or None (unknown, malformed or revoked)."""
        if not _token_shaped(token):
            return None
        with self._read() as db:
            row = db.execute(
                _USER_SQL + " WHERE u.token_sha256 = ?", (token_sha256(token),)
            ).fetchone()
        user = User(*row) if row else None
        if user is None or not user.active:
            return None
        seed = actor_seed(token)
        with self._read() as db:
            recorded = self._actor_key(db, user.id)
        if recorded is not None and actor_public_key(seed) != recorded:
            # The enrollment code's key half was not this token's: whoever made that key
            # signs in this user's name, and this user cannot. Say so at the first login.
            raise Forbidden(
                f"user {user.name!r}: the actor key recorded for this account is not the one "
                "this token gives (its enrollment code was changed before it was added): an "
                "admin revokes the account and adds it again from a new `users token` code"
            )
        return dataclasses.replace(user, actor_seed=seed)

    def _who(self, db: sqlite3.Connection, user: User | None, actor: str | None, what: str) -> Who:
        """Who moves a version. Once the registry has approvers, an active approver's
        account (re-read in this transaction), never the free text of ``--actor``: otherwise
        anyone could roll production back in a name of their choosing. Before that, the
        actor given or the login name."""
        if user is not None:
            return self._approver(db, user, what)
        if self._has_approvers(db):
            raise Forbidden(
                f"{self.path}: this registry has approvers, so {what} needs one: set "
                "$CURAGATE_TOKEN to an approver's token (or use `curagate serve`)"
            )
        return check_text(actor or default_actor(), "actor")

    def _approver(self, db: sqlite3.Connection, user: User, what: str) -> User:
        """Re-read the user inside the transaction: a revocation since login counts."""
        return self._signing(db, user, what, approve=True)

    def _uploader(self, db: sqlite3.Connection, user: User, what: str) -> User:
        """:meth:`_approver` for the rows an uploader may write (a register, a report)."""
        return self._signing(db, user, what, approve=False)

    def _signing(self, db: sqlite3.Connection, user: User, what: str, *, approve: bool) -> User:
        now = self._user(db, user.id)
        if not now.active:
            raise Forbidden(f"user {now.name!r} was revoked at {now.revoked_at}")
        if not (now.can_approve if approve else now.can_upload):
            roles = "approver or admin" if approve else "uploader, approver or admin"
            raise Forbidden(
                f"user {now.name!r} has the {now.role} role; {what} needs the {roles} role"
            )
        # The rows written next are signed with the user's actor key, which only their
        # token gives: a User built without it (or with another user's) would write rows
        # the log's replay refuses.
        public = self._actor_key(db, now.id)
        if public is None:
            return now  # added before actor keys: their rows are not signed
        if user.actor_seed is None or actor_public_key(user.actor_seed) != public:
            raise Forbidden(
                f"user {now.name!r}: {what} is signed with the key their token gives; "
                "authenticate with their token ($CURAGATE_TOKEN, or log in to `curagate serve`)"
            )
        return dataclasses.replace(now, actor_seed=user.actor_seed)

    @staticmethod
    def _actor_key(db: sqlite3.Connection, user_id: int) -> str | None:
        """The public actor key the log recorded when the user was added, if any."""
        row = db.execute(
            "SELECT json_extract(payload, '$.actor_key') FROM log WHERE action = 'user_add' "
            "AND json_extract(payload, '$.user_id') = ?",
            (user_id,),
        ).fetchone()
        return row[0] if row is not None and isinstance(row[0], str) else None

    def _request(self, db: sqlite3.Connection, request_id: int) -> PromotionRequest:
        if not 1 <= request_id <= MAX_VERSION:
            raise InputError(f"promotion request {request_id}: no such request")
        row = db.execute(_REQUEST_SQL + " WHERE r.id = ?", (request_id,)).fetchone()
        if row is None:
            raise InputError(f"promotion request {request_id}: no such request")
        return self._with_status(db, PromotionRequest(*row))

    def _with_status(self, db: sqlite3.Connection, req: PromotionRequest) -> PromotionRequest:
        """``req`` with why it can no longer be approved, if it cannot (see :meth:`approve`).
        A request for a version moved to its stage or past it since (archived) is stale. A
        production request is for replacing the production of when it was made: once
        that changed, approving it would replace a version its requester never saw."""
        asked: tuple[Any, ...] = ()
        if req.to_stage == "production":
            asked = self._requested_backing(db, req.id)
            waiver = asked[1] if len(asked) > 1 else None
            req = dataclasses.replace(req, gate_report_id=asked[0], waiver_id=waiver)
        if req.approved_by is not None:
            return req
        if self._revoked_user(db, req.requested_by):
            why = f"{req.requested_by}'s access was revoked since; an active approver must request it again"
            return dataclasses.replace(req, blocked=("void", why))
        stage = self._get(db, req.name, req.version).stage
        if _RANK[stage] >= _RANK[req.to_stage]:
            # Moved there or past it since (archived, say): approving could only fail, yet it
            # was listed pending with an Approve button, and approving answered 400.
            why = f"{req.name} v{req.version} is in {stage} since it was requested" + (
                "; an archived version returns to production only by `registry rollback`"
                if stage == "archived"
                else ""
            )
            return dataclasses.replace(req, blocked=("stale", why))
        changed = (
            self._production_change_since(db, req.name, req.id)
            if req.to_stage == "production"
            else None
        )
        if changed is not None:
            move = {"promote": "promotion", "rollback": "rollback"}.get(changed[1], changed[1])
            why = (
                f"production of {req.name} changed since it was made ({move} of "
                f"v{changed[0]}): request the promotion again"
            )
            return dataclasses.replace(req, blocked=("stale", why))
        if req.to_stage == "production":
            # Approved, it ships on what backs the version then: that must be what its
            # requester saw (a newer report, or a waiver granted since, is a new request).
            report_id, now_why, waiver_id = self._backing_report(
                db, self._get(db, req.name, req.version)
            )
            now = (report_id, waiver_id)[: len(asked)]
            if now != asked:
                why = (
                    f"it was requested on {_backing_text(*asked)}; {req.name} v{req.version} "
                    f"is now backed by {_backing_text(*now) if report_id is not None else 'no report'}"
                    f"{'' if report_id is not None else f' ({now_why})'}: request the promotion again"
                )
                return dataclasses.replace(req, blocked=("stale", why))
        return req

    @staticmethod
    def _requested_backing(db: sqlite3.Connection, request_id: int) -> tuple[Any, ...]:
        """(report id, waiver id) a production request was made on, as its log row says;
        (report id,) for requests logged before requests named their waiver."""
        row = db.execute(
            "SELECT payload FROM log WHERE action = 'request' AND "
            "json_extract(payload, '$.request_id') = ?",
            (request_id,),
        ).fetchone()
        data = parse_json(row[0]) if row is not None else {}
        asked = (data.get("gate_report_id"), data.get("waiver_id"))
        return asked if "waiver_id" in data else asked[:1]

    @staticmethod
    def _revoked_user(db: sqlite3.Connection, name: str) -> bool:
        return (
            db.execute(
                "SELECT 1 FROM users u JOIN user_revocations r ON r.user_id = u.id "
                "WHERE u.name = ?",
                (name,),
            ).fetchone()
            is not None
        )

    def promotion_request(self, request_id: int) -> PromotionRequest:
        with self._read() as db:
            return self._request(db, request_id)

    def promotion_requests(self, name: str | None = None) -> list[PromotionRequest]:
        sql, params = _REQUEST_SQL, ()
        if name is not None:
            sql += " WHERE m.name = ?"
            params = (check_known_name(name),)  # type: ignore[assignment]
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY r.id", params).fetchall()
            return [self._with_status(db, PromotionRequest(*r)) for r in rows]

    def request_promotion(
        self,
        name: str,
        version: int,
        *,
        to: str,
        user: User,
        reason: str = "",
        report_sha256: str | None = None,
        waiver_id: int | None = None,
    ) -> PromotionRequest | ModelVersion:
        """First approver's step. Production: checked now (bytes, a backing report) and
        recorded as a request for a second approver. Staging: done at once. Archiving is not
        a request: one approver may archive any version, production's included, at once
        (taking a model out of service must not wait for a second person; nothing ships by
        it). :meth:`promote` does it, and :meth:`rollback` puts the previous one back.

        ``report_sha256`` (production): the report the requester reviewed, with
        ``waiver_id`` the waiver it was shown under (None: none, a pass). Once given, a
        request backed by anything else (a newer report uploaded, another waiver granted
        since the page loaded) is refused (CheckFailed): a waived warn ships on two people
        who each saw it, a pass on a report someone read."""
        if to not in ("staging", "production"):
            raise InputError(f"stage {to!r}: a request moves a version to staging or production")
        check_text(reason, "reason")
        self._verify_bytes(self.get(name, version))  # staging or production: both ship
        return self._request_verified(name, version, to, user, reason, report_sha256, waiver_id)

    def _request_verified(
        self,
        name: str,
        version: int,
        to: str,
        user: User,
        reason: str,
        report_sha256: str | None,
        waiver_id: int | None,
    ) -> PromotionRequest | ModelVersion:
        """:meth:`request_promotion`'s second half, once the bytes were hashed outside the
        lock: the signer's key is looked up again inside it."""
        with self._write() as db:
            u = self._approver(db, user, "requesting a promotion")
            mv = self._get(db, name, version)
            revoked = self._signer_still_trusted(db, mv)
            if revoked is not None:
                raise SignerRevoked(revoked)
            if to != "production":
                refusal = self._move(db, mv, to, u, reason, None, {})
                assert refusal is None  # only production can be refused
                return self._get(db, name, version)
            if _RANK[to] <= _RANK[mv.stage]:
                raise InputError(f"{mv.ref} is already in {mv.stage}")
            # A void or stale request is no obstacle: it can be made again.
            rows = db.execute(
                _REQUEST_SQL + " WHERE r.model_version_id = ? ORDER BY r.id", (mv.id,)
            )
            pending = [
                r.id
                for r in (self._with_status(db, PromotionRequest(*row)) for row in rows.fetchall())
                if r.status == "pending"
            ]
            if pending:
                raise InputError(
                    f"{mv.ref}: request {pending[0]} is already waiting for a second approver"
                )
            backing = self._backing(db, mv)
            if backing is None:
                raise CheckFailed(self._backing_report(db, mv)[1])
            self._check_items(db, backing.report_id)
            if (
                report_sha256 == backing.report_sha256
                and waiver_id is None
                and backing.waiver_id is not None
            ):  # nothing changed: the request left the waiver out
                raise CheckFailed(
                    f"{mv.ref}: it is backed by {_backed_by(backing)}; a request on a waived "
                    f"warn names the waiver it was reviewed under (--waiver-id "
                    f"{backing.waiver_id}; the API's waiver_id)"
                )
            if report_sha256 is not None and (report_sha256, waiver_id) != (
                backing.report_sha256,
                backing.waiver_id,
            ):
                raise CheckFailed(
                    f"{mv.ref}: it is backed now by {_backed_by(backing)}, not by the "
                    f"{_reviewed(report_sha256, waiver_id)} this request names: a report was "
                    "recorded or a waiver granted since; review what backs it now and request "
                    "again"
                )
            report_id, waiver_id = backing.report_id, backing.waiver_id
            at = self._clock(db)
            cur = db.execute(
                "INSERT INTO promotion_requests (model_version_id, to_stage, requested_by, "
                "reason, created_at) VALUES (?, ?, ?, ?, ?)",
                (mv.id, to, u.name, reason, at),
            )
            rid = int(cur.lastrowid or 0)
            self._log(
                db,
                "request",
                actor=u,
                reason=reason,
                name=mv.name,
                version=mv.version,
                from_stage=mv.stage,
                to_stage=to,
                payload={"request_id": rid, "gate_report_id": report_id, "waiver_id": waiver_id},
                at=at,
            )
            return self._request(db, rid)

    def approve(self, request_id: int, *, user: User, reason: str = "") -> ModelVersion:
        """Second approver's step: the promotion happens now, through the verified path
        (bytes re-verified, backing report re-judged); if that refuses, nothing is recorded."""
        check_text(reason, "reason")
        first = self.promotion_request(request_id)
        if first.to_stage != "archived":
            self._verify_bytes(self.get(first.name, first.version))
        return self._approve_verified(request_id, user, reason)

    def _approve_verified(self, request_id: int, user: User, reason: str) -> ModelVersion:
        """:meth:`approve`'s second half, once the bytes were hashed outside the lock: a
        key revoked meanwhile is found inside it (:meth:`_move`)."""
        with self._write() as db:
            u = self._approver(db, user, "approving a promotion")
            req = self._request(db, request_id)
            if req.approved_by is not None:  # a decided request: refused, as a conflict
                raise CheckFailed(
                    f"promotion request {request_id} was already approved by {req.approved_by}"
                )
            if same_person(req.requested_by, u.name):  # case twins made before names were
                # compared case-blind are one person too
                raise Forbidden(
                    f"promotion request {request_id} was made by {req.requested_by}; a second, different "
                    "approver must approve it"
                )
            if req.status == "void":
                raise Forbidden(
                    f"promotion request {request_id} was made by {req.requested_by}, whose access "
                    "was revoked since; an active approver must request it again"
                )
            if req.status == "stale":  # it would replace a version its requester did not see
                raise CheckFailed(
                    f"promotion request {request_id}: {req.blocked and req.blocked[1]}"
                )
            mv = self._get(db, req.name, req.version)
            at = self._clock(db)
            db.execute(
                "INSERT INTO approvals (request_id, approved_by, reason, approved_at) "
                "VALUES (?, ?, ?, ?)",
                (request_id, u.name, reason, at),
            )
            self._log(
                db,
                "approve",
                actor=u,
                reason=reason,
                name=mv.name,
                version=mv.version,
                from_stage=mv.stage,
                to_stage=req.to_stage,
                payload={"request_id": request_id},
                at=at,
            )
            refusal = self._move(
                db,
                mv,
                req.to_stage,
                u,
                reason or req.reason,
                None,
                {"request_id": request_id, "requested_by": req.requested_by},
            )
            if refusal is not None:
                raise CheckFailed(refusal)  # rolls back the approval with it
        return self.get(req.name, req.version)

    @staticmethod
    def _production_change_since(
        db: sqlite3.Connection, name: str, request_id: int
    ) -> tuple[int, str] | None:
        """The first change of ``name``'s production (version, action: a promotion, an
        archive, a rollback) logged after request ``request_id`` was made, if any; a move
        into production before an archive (a promotion logs the archive of the version it
        replaces first: "archive of v1" named the side effect, not the promotion)."""
        row = db.execute(
            "SELECT version, action FROM log WHERE name = ? AND action IN "
            "('promote', 'archive', 'rollback') AND (to_stage = 'production' OR "
            "from_stage = 'production') AND id > (SELECT id FROM log WHERE action = 'request' "
            "AND json_extract(payload, '$.request_id') = ?) "
            "ORDER BY to_stage IS NOT 'production', id LIMIT 1",
            (name, request_id),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def waive(
        self,
        name: str,
        version: int,
        *,
        user: User,
        reason: str,
        expires: str | datetime,
        report_sha256: str | None = None,
    ) -> Waiver:
        """Let a verified ``warn`` report back production until ``expires`` (at most
        MAX_WAIVER_DAYS after the waiver's own row time, from which a duration such as
        ``90d`` counts too). An expired waiver backs nothing."""
        if not reason.strip():
            raise InputError("a waiver needs a reason (--reason): it is what auditors read")
        check_text(reason, "reason")
        if isinstance(expires, str):
            parse_expiry(expires)  # a usage error before the lock
        with self._write() as db:
            at = self._clock(db)
            # Measured from the row's time, the one `check` holds the cap to: a duration
            # counted from this clock where the row took the last row's (jitter) would be
            # longer than it says.
            granted = _clock_at(at)
            at_dt = parse_expiry(expires, granted) if isinstance(expires, str) else expires
            if at_dt <= granted:
                raise InputError(
                    f"waiver expiry {iso_utc(at_dt)} is in the past (the waiver's time is "
                    f"{at}); give a future time"
                )
            if at_dt > granted + timedelta(days=MAX_WAIVER_DAYS):
                raise InputError(
                    f"waiver expiry {iso_utc(at_dt)} (the waiver's time is {at}): at most "
                    f"{MAX_WAIVER_DAYS} days ahead; renew it later"
                )
            u = self._approver(db, user, "granting a waiver")
            mv = self._get(db, name, version)
            # Only the report that decides for the version, of every report on its bytes as
            # promotion ranks them: a warn a newer signed report has replaced (a twin's
            # too) can back nothing, and a waiver of it was shown "active".
            decision = self._decision(db, mv)
            target, judged = decision.report, decision.judgement
            twins = decision.twins_note()
            twins = f" ({twins})" if twins else ""
            if (
                target is None
                or judged is None
                or not (judged.accepted and judged.verdict == "warn")
            ):
                deciding = (
                    f"the report that decides for it is {decision.ref(target)} (verdict "
                    f"{judged.verdict or 'none'}"
                    f"{'' if judged.accepted else ', not verified today'})"
                    if target is not None and judged is not None
                    else "it has no gate report"
                )
                raise CheckFailed(
                    f"{mv.ref}: {deciding}{twins}; only a verified warn that decides for the "
                    "version can be waived"
                )
            if decision.owners[target.id].id != mv.id:
                # A waiver backs a move of this version on its own record of the report only
                # (the log's rule), as promotion requires.
                raise CheckFailed(
                    f"{mv.ref}: the warn that decides for it is {decision.ref(target)}{twins}; "
                    f"record it for {mv.ref} first (`curagate registry report {mv.name} "
                    f"{mv.version} --gate-report FILE`, promote's `--gate-report` or an upload), "
                    "then waive it"
                )
            if report_sha256 not in (None, target.report_sha256):
                raise CheckFailed(
                    f"{mv.ref}: report sha256 {report_sha256[:12]} does not decide for it; "
                    f"report {target.id} ({target.report_sha256[:12]}) does: waive that one"
                )
            expires_at = iso_utc(at_dt)
            cur = db.execute(
                "INSERT INTO waivers (model_version_id, report_sha256, reason, expires_at, "
                "granted_by, granted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (mv.id, target.report_sha256, reason, expires_at, u.name, at),
            )
            wid = int(cur.lastrowid or 0)
            self._log(
                db,
                "waive",
                actor=u,
                reason=reason,
                name=mv.name,
                version=mv.version,
                payload={
                    "waiver_id": wid,
                    "report_sha256": target.report_sha256,
                    "gate_report_id": target.id,
                    "expires_at": expires_at,
                },
                at=at,
            )
            return _waiver(db.execute(_WAIVER_SQL + " WHERE w.id = ?", (wid,)).fetchone())

    def waivers(self, name: str | None = None, version: int | None = None) -> list[Waiver]:
        sql, params = _WAIVER_SQL, list[Any]()
        if name is not None:
            sql += " WHERE m.name = ?"
            params.append(check_known_name(name))
            if version is not None:
                sql += " AND m.version = ?"
                params.append(check_version(version))
        with self._read() as db:
            waivers = [_waiver(r) for r in db.execute(sql + " ORDER BY w.id", params)]
            # Per version, what decides as promotion ranks it: every report on its bytes, a
            # twin's too (its newer fail left a waiver of the version's older warn "active").
            decisions: dict[tuple[str, int], Decision] = {}
            for i, w in enumerate(waivers):
                at = (w.name, w.version)
                if at not in decisions:
                    decisions[at] = self._decision(db, self._get(db, *at))
                decision = decisions[at]
                verified = {r.report_sha256 for r in decision.verified}
                top = decision.report
                if w.report_sha256 not in verified:
                    why: str | None = "void: its report no longer verifies"
                elif top is None or top.report_sha256 != w.report_sha256:
                    why = "superseded: a newer report decides"
                    if top is not None and decision.owners[top.id].id != decision.version.id:
                        why += f" ({decision.ref(top)}, the same bytes)"
                else:
                    why = None
                waivers[i] = dataclasses.replace(w, backs_nothing=why)
            return waivers

    def report_by_id(self, report_id: int) -> tuple[ModelVersion, RecordedGateReport]:
        with self._read() as db:
            row = db.execute(
                f"SELECT model_version_id, {_REPORT_COLS} FROM gate_reports WHERE id = ?",
                (report_id,),
            ).fetchone()
            if row is None:
                raise InputError(f"gate report {report_id}: no such report in {self.path}")
            mv = _version(
                db.execute(
                    f"SELECT {_VERSION_COLS} FROM model_versions WHERE id = ?", (row[0],)
                ).fetchone()
            )
        return mv, _report(row[1:])

    def deciding_report(self, mv: ModelVersion) -> tuple[RecordedGateReport, Judgement] | None:
        """The report that decides for ``mv``: the newest by the gate's signed time of those
        that verify against the keys trusted now, whatever was judged when each was recorded
        (a fail refused then, its key trusted only since, decides over an older pass). When
        none verifies, the newest accepted when recorded (else recorded), with its
        judgement (not accepted); None when no report is recorded. Of the reports on its
        bytes, a twin's too, as promotion ranks them (:meth:`decision` says whose it is)."""
        with self._read() as db:
            decision = self._decision(db, mv)
        return decision.ranked[0] if decision.ranked else None

    def backing(self, mv: ModelVersion) -> Backing | None:
        """What would back ``mv``'s move into production now (None: nothing does)."""
        with self._read() as db:
            return self._backing(db, mv)

    def _backing(self, db: sqlite3.Connection, mv: ModelVersion) -> Backing | None:
        report_id, _, waiver_id = self._backing_report(db, mv)
        if report_id is None:
            return None
        (sha,) = db.execute(
            "SELECT report_sha256 FROM gate_reports WHERE id = ?", (report_id,)
        ).fetchone()
        return Backing(report_id, str(sha), waiver_id)

    def rollback_target(self, name: str) -> ModelVersion | None:
        """The version a rollback of ``name`` would put back now (None: none)."""
        with self._read() as db:
            return self._rollback_target(db, name)

    def decision(self, mv: ModelVersion) -> Decision:
        """What decides for ``mv`` today, by the rule promotion goes by (:class:`Decision`:
        the reports of its twins count too), judged against today's keys (judgements kept,
        for display)."""
        with self._read() as db:
            keys = tuple(sorted(self._trusted(db, "gate").items()))
            return self._decision(db, mv, keys)

    def judge_now(self, mv: ModelVersion, rec: RecordedGateReport) -> tuple[bool, str | None, str]:
        """Judge a recorded report again against the keys trusted now: (ok, verdict, why).
        For display (the version page, compare): kept per report, key set and stored
        files (:meth:`_judge_kept`), so a page with many recorded reports does not verify
        every one of them at every view; a key revoked or trusted since is a new key set."""
        with self._read() as db:
            keys = tuple(sorted(self._trusted(db, "gate").items()))
            j = self._judge_kept(db, mv, rec, keys)
        return j.accepted, j.verdict, j.why

    def overview(self) -> list[dict[str, Any]]:
        """Every version with the report that decides for it and who put it in production
        (one snapshot). The deciding report is the one a promotion goes by (see
        :meth:`deciding_report`), and ``verified`` is its judgement against the keys trusted
        now, not the flag stored when it was recorded; a version none of whose reports
        verifies today shows the newest accepted when recorded (else its newest recorded
        one), unverified. Every report on a version's bytes counts, a twin's too, as at
        promotion: ``decision`` is the :class:`Decision` (whose report it is, the twins)."""
        with self._read() as db:
            versions = [
                _version(r)
                for r in db.execute(
                    f"SELECT {_VERSION_COLS} FROM model_versions ORDER BY name, version"
                )
            ]
            latest: dict[int, tuple[int, str | None, bool]] = {}
            decisions: dict[int, Decision] = {}
            reports_on: dict[str, list[tuple[int, RecordedGateReport]]] = {}
            holders: dict[str, dict[int, ModelVersion]] = {}
            key_of = {
                int(vid): str(key)
                for vid, key in db.execute(f"SELECT m.id, {_KEY_SQL} {_KEY_JOIN}")
            }
            for mv in versions:
                key_of.setdefault(mv.id, mv.artifact_digest)
                holders.setdefault(key_of[mv.id], {})[mv.id] = mv
            digest_of = key_of
            for row in db.execute(
                f"SELECT model_version_id, {_REPORT_COLS} FROM gate_reports ORDER BY id"
            ):
                r = _report(row[1:])
                latest[row[0]] = (r.id, r.verdict, False)
                if row[0] in digest_of:
                    reports_on.setdefault(digest_of[row[0]], []).append((row[0], r))
            keys = tuple(sorted(self._trusted(db, "gate").items()))
            for mv in versions:
                # As promotion decides: of every report on its bytes, a twin's too.
                on = reports_on.get(key_of[mv.id], [])
                decision = self._decision(db, mv, keys, holders=holders[key_of[mv.id]], reports=on)
                decisions[mv.id] = decision
                if decision.ranked:
                    rec, j = decision.ranked[0]
                    if j.accepted or rec.accepted:
                        latest[mv.id] = (rec.id, j.verdict, j.accepted)
                    elif mv.id not in latest:  # only a twin's reports, none accepted
                        latest[mv.id] = (on[-1][1].id, on[-1][1].verdict, False)
            # Who put each version in production, and whether the row that did is signed:
            # an unsigned row's actor is free text (before a registry has approvers), which
            # may read "alice + bob" for one person nobody authenticated.
            promoted: dict[tuple[str, int], tuple[str, bool]] = {}
            for row in db.execute(
                f"SELECT {LOG_COLS} FROM log WHERE to_stage = 'production' "
                "AND action IN ('promote', 'rollback') ORDER BY id"
            ):
                entry = LogRow(*row)
                requester = entry.data.get("requested_by")
                who = f"{requester} + {entry.actor}" if requester else entry.actor
                promoted[(entry.name or "", entry.version or 0)] = (who, entry.signed)
        out = []
        for mv in versions:
            rid, verdict, accepted = latest.get(mv.id, (None, None, False))
            by, signed = promoted.get((mv.name, mv.version), (None, False))
            out.append(
                {
                    "version": mv,
                    "report_id": rid,
                    "verdict": verdict,
                    "verified": accepted,
                    "promoted_by": by,
                    "promotion_signed": signed,
                    "decision": decisions[mv.id],
                }
            )
        return out

    def report_items_sha256(self, rec: RecordedGateReport) -> str | None:
        """The sha256 of the items.jsonl the (verified) stored report names, if any.

        The release service keys its parsed copy of the items by it: the address is
        the content, so a copy checked once against it stays valid."""
        sha = Offer(Path(rec.path), self.blob(rec.report_sha256), None).declared_items_sha256()
        if sha is None or not re.fullmatch(r"[0-9a-f]{64}", sha):
            return None
        return sha

    def _kept_items_sha256(
        self, rec: RecordedGateReport, db: sqlite3.Connection | None = None
    ) -> str | None:
        """The sha256 of the items the log says were stored with this report, if any."""
        with contextlib.nullcontext(db) if db is not None else self._read() as conn:
            row = conn.execute(
                "SELECT json_extract(l.payload, '$.items_sha256') FROM gate_reports g "
                "JOIN model_versions m ON m.id = g.model_version_id "
                "JOIN log l ON l.name = m.name AND l.version = m.version "
                "AND l.action = 'report' AND json_extract(l.payload, '$.gate_report_id') = g.id "
                "WHERE g.id = ?",
                (rec.id,),
            ).fetchone()
        return row[0] if row and isinstance(row[0], str) else None

    def _items_address(
        self, rec: RecordedGateReport, db: sqlite3.Connection | None = None
    ) -> tuple[str | None, bool]:
        """The sha256 of the items the report names, and whether the log says they were
        stored with it (then missing or changed is tampering). Kept items other than the
        ones the report names are tampering at once: recording stores only those."""
        kept = self._kept_items_sha256(rec, db)
        sha = self.report_items_sha256(rec)
        if kept is not None and kept != sha:
            raise ChainBroken(_items_not_named(rec.id, kept, sha))
        return sha, kept is not None

    def _check_items(self, db: sqlite3.Connection, report_id: int) -> None:
        """The items stored with the report that backs a promotion, read back and checked
        (ChainBroken when missing or changed): the item-by-item evidence the approvers
        review is part of what ships a version (with it edited in the store, the compare
        page was 503 and the second approval still went through)."""
        row = db.execute(
            f"SELECT {_REPORT_COLS} FROM gate_reports WHERE id = ?", (report_id,)
        ).fetchone()
        sha, kept = self._items_address(_report(row), db)
        # as report_items reads them: kept with this report, or stored with a twin of it
        # (the same signed report recorded again with its items; found by re-attack)
        if sha is not None and (kept or (self.store_dir / sha[:2] / sha).is_file()):
            self.blob(sha)

    def has_items(self, rec: RecordedGateReport) -> bool:
        """Whether :meth:`report_items` finds items for the report, without reading them
        (a version page lists reports; the items are read, and checked, when shown)."""
        sha, kept = self._items_address(rec)
        stored = sha is not None and (self.store_dir / sha[:2] / sha).is_file()
        if kept and not stored:
            raise ChainBroken(f"{self.store_dir / str(sha)[:2] / str(sha)}: stored blob missing")
        return stored

    def report_items(self, rec: RecordedGateReport) -> bytes | None:
        """The stored items.jsonl the report names, or None when none was stored (an older
        report, or items not offered with it or any other report naming them). Items the
        log recorded as stored with this report are read back and checked like any blob:
        missing or changed, that is :class:`ChainBroken`, not a report without items."""
        sha, kept = self._items_address(rec)
        if sha is None or not (kept or (self.store_dir / sha[:2] / sha).is_file()):
            return None
        return self.blob(sha)

    def _previous_production(
        self, db: sqlite3.Connection, name: str
    ) -> tuple[ModelVersion, ModelVersion]:
        current = self._production(db, name)
        if current is None:
            raise InputError(f"{self.path}: model {name!r} has no production version to roll back")
        # Only moves that happened: a pending request also names production as its target.
        moved = "action IN ('promote', 'rollback') AND to_stage = 'production'"
        since = db.execute(
            f"SELECT MAX(id) FROM log WHERE name = ? AND version = ? AND {moved}",
            (name, current.version),
        ).fetchone()[0]
        row = db.execute(
            f"SELECT version FROM log WHERE name = ? AND {moved} AND id < ? "
            "AND version != ? ORDER BY id DESC LIMIT 1",
            (name, since, current.version),
        ).fetchone()
        if row is None:
            raise InputError(
                f"{current.ref} is the only version of {name!r} that was ever in production; "
                "nothing to roll back to"
            )
        return current, self._get(db, name, int(row[0]))

    def _rollback_target(self, db: sqlite3.Connection, name: str) -> ModelVersion | None:
        try:
            return self._previous_production(db, name)[1]
        except InputError:
            return None

    def rollback(
        self,
        name: str,
        *,
        actor: str | None = None,
        reason: str = "",
        user: User | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
    ) -> ModelVersion:
        """Put the previous production version back; the current one is archived.

        "Previous" is the version that was in production just before the current one
        took over, so two rollbacks in a row swap back (like ``cd -``). Its bytes are
        re-verified first: a rollback never restores a bundle changed since it shipped. Once
        the registry has approvers, ``user`` must be one (see :meth:`_who`).
        ``from_version``: the production version the caller saw and rolls back from;
        ``to_version``: the version the caller was shown it restores. A rollback is refused
        (CheckFailed) once either moved, so a second click, a retried request or a second
        approver does not swap the pulled one back, nor restore one nobody asked for.
        """
        check_known_name(name)
        check_text(actor or default_actor(), "actor")
        check_text(reason, "reason")
        with self._read() as db:
            current, previous = self._previous_production(db, name)
        _check_rollback(current, previous, from_version, to_version)
        self._verify_bytes(previous)
        return self._rollback_verified(
            name, previous, actor, reason, user, from_version, to_version
        )

    def _rollback_verified(
        self,
        name: str,
        previous: ModelVersion,
        actor: str | None,
        reason: str,
        user: User | None,
        from_version: int | None,
        to_version: int | None,
    ) -> ModelVersion:
        """:meth:`rollback`'s second half, once ``previous``'s bytes were hashed outside
        the lock: what let it ship, its signer's key included, is re-checked inside it."""
        with self._write() as db:
            current, again = self._previous_production(db, name)
            _check_rollback(current, again, from_version, to_version)
            if again.id != previous.id:
                raise CheckFailed(  # a conflict (HTTP 409), not a bad request
                    f"{name}: production changed during the rollback (another writer); see "
                    f"`curagate registry show {name}` and run it again if it is still wanted"
                )
            who = self._who(db, user, actor, "a rollback")
            # What let it ship must still hold today: a key revoked since backs nothing.
            revoked = self._signer_still_trusted(db, again)
            if revoked is not None:
                raise SignerRevoked(revoked)
            report_id, why, waiver_id = self._backing_report(db, again, rollback=True)
            if report_id is None:
                raise CheckFailed(f"rollback refused: {why}")
            self._check_items(db, report_id)
            if waiver_id is not None and waiver_id != self._shipped_waiver(db, again):
                # One approver rolls back: a warn waived since the version last shipped is a
                # new decision, which takes two people, the waiver's and the rollback's.
                (granted_by,) = db.execute(
                    "SELECT granted_by FROM waivers WHERE id = ?", (waiver_id,)
                ).fetchone()
                if same_person(granted_by, _name(who)):
                    raise CheckFailed(
                        f"rollback refused: {again.ref} is now backed by a warn under waiver "
                        f"{waiver_id}, which {granted_by} granted since it last shipped; a "
                        "waived warn ships on two people: another approver rolls back"
                    )
            self._set_stage(db, current, "archived", "rollback", who, reason)
            extra = {"waiver_id": waiver_id} if waiver_id is not None else None
            self._set_stage(db, again, "production", "rollback", who, reason, report_id, extra)
        return self.get(name, previous.version)

    @staticmethod
    def _shipped_waiver(db: sqlite3.Connection, mv: ModelVersion) -> int | None:
        """The waiver ``mv``'s last move into production was made on (None: a pass)."""
        row = db.execute(
            "SELECT json_extract(payload, '$.waiver_id') FROM log WHERE name = ? AND "
            "version = ? AND to_stage = 'production' ORDER BY id DESC LIMIT 1",
            (mv.name, mv.version),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def trust_add(
        self,
        public_key: str | os.PathLike[str],
        *,
        role: str,
        name: str,
        actor: Who | None = None,
        reason: str = "",
    ) -> TrustedKey:
        if role not in ROLES:
            raise InputError(f"--role {role!r}: choose one of {', '.join(ROLES)}")
        check_name(name, "key name")
        try:
            from curagate.config import MAX_CONFIG_BYTES

            pem = read_regular(Path(public_key), MAX_CONFIG_BYTES, follow_links=True)
        except OSError as e:
            raise InputError(
                f"{public_key}: cannot read the public key ({e.strerror or e})"
            ) from None
        fp = key_fingerprint(load_public_key(pem, source=str(public_key)))
        text = pem.decode("ascii", errors="replace")
        check_text(reason, "reason")
        with self._write() as db:
            who = self._admin(db, actor, "trusting a key")
            # Per role, a key revoked as a gate key (leaked) could be trusted again as an
            # export key, and signed bundles: revoked once is revoked for every role.
            revoked = db.execute(
                "SELECT k.role, r.revoked_at FROM trusted_keys k JOIN key_revocations r "
                "ON r.key_id = k.id WHERE k.fingerprint = ? ORDER BY r.revoked_at LIMIT 1",
                (fp,),
            ).fetchone()
            if revoked is not None:
                raise InputError(
                    f"this key ({fp[:16]}) was trusted ({revoked[0]} key) and revoked at "
                    f"{revoked[1]}; a revoked key is never trusted again, for any role: sign "
                    "with a new key and trust that"
                )
            clash = db.execute(
                "SELECT k.name, r.revoked_at FROM trusted_keys k LEFT JOIN key_revocations r "
                "ON r.key_id = k.id WHERE k.role = ? AND (k.fingerprint = ? OR k.name = ?)",
                (role, fp, name),
            ).fetchone()
            if clash is not None and clash[1] is not None:
                raise InputError(
                    f"a {role} key named {clash[0]!r} with this name or fingerprint was trusted "
                    f"and revoked at {clash[1]}; a revoked key is never trusted again: sign with "
                    "a new key (and a new name) and trust that"
                )
            if clash is not None:
                raise InputError(
                    f"a {role} key named {clash[0]!r} with this name or fingerprint is already "
                    "trusted"
                )
            at = self._clock(db)
            cur = db.execute(
                "INSERT INTO trusted_keys (fingerprint, name, role, public_pem, added_by, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (fp, name, role, text, _name(who), at),
            )
            kid = int(cur.lastrowid or 0)
            self._log(
                db,
                "trust",
                actor=who,
                reason=reason,
                payload={
                    "key_id": kid,
                    "fingerprint": fp,
                    "name": name,
                    "role": role,
                    "public_pem_sha256": sha256_bytes(text.encode()),
                },
                at=at,
            )
        return next(k for k in self.trusted_keys(role) if k.id == kid)

    def trust_revoke(
        self, key: str, *, role: str | None = None, actor: Who | None = None, reason: str = ""
    ) -> TrustedKey:
        """Revoke a key by name or fingerprint (a prefix of at least 12 hex digits)."""
        check_text(reason, "reason")
        with self._write() as db:
            who = self._admin(db, actor, "revoking a key")
            matches = [
                k
                for k in self._keys(db, role)
                if k.name == key or (len(key) >= 12 and k.fingerprint.startswith(key))
            ]
            if len(matches) != 1:
                raise InputError(
                    f"key {key!r}: {'no' if not matches else 'more than one'} trusted key matches; "
                    "give its name or fingerprint (see `curagate registry trust list`), and --role"
                )
            k = matches[0]
            if not k.active:
                raise InputError(f"key {k.name!r} ({k.role}) was already revoked at {k.revoked_at}")
            at = self._clock(db)
            db.execute(
                "INSERT INTO key_revocations (key_id, reason, revoked_by, revoked_at) VALUES (?, ?, ?, ?)",
                (k.id, reason, _name(who), at),
            )
            self._log(
                db,
                "revoke",
                actor=who,
                reason=reason,
                payload={"key_id": k.id, "fingerprint": k.fingerprint, "role": k.role},
                at=at,
            )
        return next(x for x in self.trusted_keys() if x.id == k.id)


def _check_row_times(db: sqlite3.Connection) -> tuple[list[str], list[str]]:
    """`registry check`: (failures, notes). Fails on every row dated before the row it
    follows (a writer whose clock was behind, or a row written by hand) from the first row a
    curagate wrote that never dates one so (:data:`TIMES_ORDERED`) on; on one further ahead
    of this clock than CLOCK_TOLERANCE (a writer whose clock is ahead); on a waiver longer
    than MAX_WAIVER_DAYS after its own row. A row dated backwards before that first row (an
    older curagate let NTP jitter through) is a note: found by re-attack, one such row
    failed `check` of the registry for ever. Rows of schema-1 history without a readable
    time are skipped. Not part of the replay every write runs: a log an older curagate wrote
    out of order is reported here, and still takes rows (in order from then on)."""
    now = datetime.now(UTC)
    failures: list[str] = []
    notes: list[str] = []
    before: tuple[int, str, datetime] | None = None
    ordered_from: int | None = None
    unreadable: list[int] = []
    for row_id, at, actor, action, payload in db.execute(
        "SELECT id, at, actor, action, payload FROM log ORDER BY id"
    ):
        try:
            data = parse_json(payload)
        except ValueError:
            data = None  # the replay judged the payload
        if not isinstance(data, dict):
            data = {}
        if ordered_from is None and data.get(TIMES_ORDERED) is True:
            ordered_from = row_id
        what = f"registry log row {row_id} ({action} by {actor})"
        migrated = data.get("migrated_from_schema") is not None
        # A time in the one form the commands write (the replay refuses any other on a
        # row not migrated); schema-1 history is read as it was written, when it is a time.
        when = _parsed_at(at) if migrated else parse_iso_utc(at)
        if when is None:
            if ordered_from is not None or not migrated:
                # Never skipped (found by re-attack: a row dated without a zone skipped
                # every time rule below and shipped a version on an expired waiver).
                failures.append(
                    f"{what} is dated {str(at)[:80]!r}, not a time in the form curagate "
                    f"writes ({TIME_FORM}): the row was written by hand; restore the "
                    f'database from a backup made before it (docs/registry.md, "Row times")'
                )
            else:
                unreadable.append(row_id)
            continue
        if before is not None and when < before[2]:
            if ordered_from is None:
                notes.append(
                    f"{what} is dated {at}, {_span(before[2] - when)} before row {before[0]} "
                    f"({before[1]}), which it follows; it was written before log row times "
                    "were kept in order (no row before it says so), as an older curagate let "
                    "a clock behind by NTP jitter through: what its writer judged by that "
                    "clock was judged that much early; review it if it is more than jitter "
                    '(docs/registry.md, "Row times")'
                )
            else:
                failures.append(
                    f"{what} is dated {at}, before row {before[0]} ({before[1]}), which it "
                    f"follows, after log row {ordered_from} from which curagate keeps row times "
                    "in order: its writer's clock was behind (or the row was written by "
                    "hand), so what was judged by that clock (a waiver's expiry, a signed "
                    f"time) was judged too early; review the rows from {row_id} on (`curagate "
                    "registry show NAME` shows a model's) and restore the database from a backup made before it if "
                    'a decision there was wrong (docs/registry.md, "Row times")'
                )
        if when > now + CLOCK_TOLERANCE:
            failures.append(
                f"{what} is dated {at}, {_span(when - now)} ahead of this machine's clock "
                f"({iso_utc(now)}): "
                f"the clock of the machine that wrote it is ahead (or the row was written by "
                "hand); writers with right clocks are refused until their clocks pass it "
                "(rollbacks and key revocations too), and a waiver it grants counts its days "
                "from it: fix that machine's clock and restore the database from a backup "
                f'made before row {row_id} (docs/registry.md, "Row times")'
            )
        if action == "waive":
            expires = parse_iso_utc(data.get("expires_at"))
            if expires is None:
                failures.append(
                    f"{what} grants a waiver until {str(data.get('expires_at'))[:80]!r}, not a "
                    f"time in the form curagate writes ({TIME_FORM}): the row was written by "
                    "hand"
                )
            elif expires > when + timedelta(days=MAX_WAIVER_DAYS):
                failures.append(
                    f"{what} grants a waiver until {iso_utc(expires)}, more than "
                    f"{MAX_WAIVER_DAYS} days after its own time {at}: `curagate registry waive` "
                    "never writes one; the row was written by hand"
                )
        if before is None or when >= before[2]:
            before = (row_id, at, when)
    if unreadable:
        shown = ", ".join(str(i) for i in unreadable[:10])
        more = f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
        notes.append(
            f"registry log row(s) {shown}{more}, migrated from a schema-1 registry, are dated "
            "with text that is not a time (as curagate 0.1 kept it): their order in time "
            'was not checked (docs/registry.md, "Row times")'
        )
    return failures, notes


def _parse_head(head: str, *, what: str) -> tuple[int, str]:
    """``ID:HASH`` as `curagate registry head` prints it."""
    ident, _, expected = head.partition(":")
    if not re.fullmatch(r"[0-9]{1,18}", ident) or not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise InputError(
            f"{what}: {head[:100]!r} is not ID:HASH as `curagate registry head` prints"
        )
    return int(ident), expected


def _check_head(db: sqlite3.Connection, head: str, state: State) -> list[LogRow]:
    """History up to the recorded head is unchanged, and nobody gained power after it;
    returns the rows after it.

    Rows after the head are chained but not covered by it: whoever can write the database
    file can append a `trust` row for their own key (then a report it signs and a
    promotion), a `user_add` of their own approver, or `user_revoke` rows that leave no
    approver. So every such change after the head fails the check until a person has
    reviewed it and recorded a new head; so does a row after it claiming to be migrated,
    and a `register` row naming bytes already registered (which the replay lets through
    only in a registry whose register rows an older curagate wrote).
    """
    ident, expected = _parse_head(head, what="--head")
    row = db.execute("SELECT hash FROM log WHERE id = ?", (ident,)).fetchone()
    if row is None:
        raise ChainBroken(f"registry log: row {ident} of the recorded head no longer exists")
    if row[0] != expected:
        raise ChainBroken(
            f"registry log row {ident}: hash {row[0][:12]}… is not the recorded head "
            f"{expected[:12]}…; history up to that row was rewritten"
        )
    after = [
        LogRow(*r)
        for r in db.execute(f"SELECT {LOG_COLS} FROM log WHERE id > ? ORDER BY id", (ident,))
    ]
    for row in after:
        # A migration writes all its rows in one transaction, before any head exists.
        if row.action == "migrate" or row.data.get("migrated_from_schema") is not None:
            raise ChainBroken(
                f"registry log row {row.id}: claims to be migrated from schema 1 after the "
                f"recorded head {ident}; a migration writes its rows at once, before any head"
            )
        first = state.digests.get(str(row.data.get("artifact_digest")))
        if first is None or first[2] == row.id:
            first = state.identities.get(str(row.data.get(FILES_IDENTITY)))
        if row.action == "register" and first is not None and first[2] != row.id:
            raise ChainBroken(
                f"registry log row {row.id}: registers {row.name} v{row.version} after the "
                f"recorded head {ident} with artifact "
                f"{str(row.data.get('artifact_digest'))[:12]}…, already registered as "
                f"{first[0]} v{first[1]} at log row {first[2]}; `registry register` refuses "
                "the same bytes a second time: this row was written by hand"
            )
    # Revoking a user changes who may approve too: with every approver revoked, one
    # person could promote alone.
    grants = [_grant(r) for r in after if r.action in ("trust", "user_add", "user_revoke")]
    if grants:
        raise CheckFailed(
            f"{len(grants)} log row(s) after the recorded head {ident} change who is trusted "
            "or may approve, which anyone who can write the database file can append: "
            + "; ".join(grants)
            + ". If each was meant, record a new head (`curagate registry head`); if not, "
            "restore the database from before them and replace the keys and tokens involved"
        )
    return after


def _grant(row: LogRow) -> str:
    """One line naming what a `trust`, `user_add` or `user_revoke` row changed, by whom and when."""
    data = row.data
    if row.action == "trust":
        what = (
            f"trusts {data.get('role')} key {data.get('name')!r} "
            f"({str(data.get('fingerprint'))[:16]}…)"
        )
    elif row.action == "user_revoke":
        what = f"revokes user {data.get('name', data.get('user_id'))!r}"
    else:
        what = f"adds {data.get('role')} {data.get('name')!r}"
    return f"row {row.id} {what} by {row.actor} at {row.at}"


@dataclass
class _V1Data:
    """A schema-1 registry's rows, replayed into the schema-2 log on migration.

    Schema 1 had no signatures: its reports are kept in the register entries'
    payloads (sha256, verdict, path) but none of them is an accepted report.
    """

    versions: list[tuple[Any, ...]]
    reports: list[tuple[Any, ...]]
    transitions: list[tuple[Any, ...]]

    @classmethod
    def take(cls, db: sqlite3.Connection, path: Path) -> _V1Data:
        try:
            return cls._take(db)
        except sqlite3.OperationalError as e:
            # Text that is not UTF-8 (a hand edit's CAST(X'ff' AS TEXT)): the row, not a
            # bare "Could not decode to UTF-8 column 'name'" as a database error.
            where = not_utf8(db, ("model_versions", "gate_reports", "transitions"))
            if "UTF-8" not in str(e) or where is None:
                raise
            raise InputError(
                f"{path}: schema-1 {where}: the row was edited by hand; restore the database "
                "from a backup (nothing was migrated)"
            ) from None

    @classmethod
    def _take(cls, db: sqlite3.Connection) -> _V1Data:
        data = cls(
            versions=db.execute(
                "SELECT id, name, version, artifact_digest, artifact_path, lineage, stage, "
                "created_at FROM model_versions ORDER BY id"
            ).fetchall(),
            reports=db.execute(
                "SELECT model_version_id, path, sha256, verdict FROM gate_reports ORDER BY id"
            ).fetchall(),
            transitions=db.execute(
                "SELECT t.model_version_id, t.action, t.from_stage, t.to_stage, t.actor, t.at, "
                "t.reason, g.sha256 FROM transitions t LEFT JOIN gate_reports g "
                "ON g.id = t.gate_report_id ORDER BY t.id"
            ).fetchall(),
        )
        for table in ("transitions", "gate_reports", "model_versions"):
            db.execute(f"DROP TABLE {table}")
        return data

    def replay_into(self, reg: Registry, db: sqlite3.Connection) -> None:
        by_id = {}
        created_at = {}
        for vid, name, version, digest, path, lineage, stage, created in self.versions:
            created_at[vid] = created
            why = legacy_name_problem(name) if isinstance(name, str) else "is not text"
            if why is not None and not (isinstance(name, str) and _NAME.match(name)):
                # Kept, it could forge lines of `registry list` and could not be looked up.
                raise InputError(
                    f"{reg.path}: schema-1 table model_versions row {vid}: model name "
                    f"{str(name)[:80]!r} {why}: rename the model in the schema-1 database "
                    "first (DROP TRIGGER model_versions_identity_is_immutable; UPDATE "
                    "model_versions SET name = ... WHERE id = ...) and migrate again "
                    "(nothing was migrated)"
                )
            if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                # The replay refuses any other form (it was a second key for the same bytes).
                raise InputError(
                    f"{reg.path}: schema-1 table model_versions row {vid} ({name} v{version}): "
                    f"artifact_digest {str(digest)[:80]!r} is not 64 lowercase hex characters, "
                    "as every curagate wrote it: the row was edited by hand; restore the "
                    "database from a backup (nothing was migrated)"
                )
            try:  # what the replay holds every registered lineage to
                value = parse_json(lineage)
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, TypeError) as e:
                raise InputError(
                    f"{reg.path}: schema-1 table model_versions row {vid} ({name} v{version}): "
                    f"its lineage is not JSON curagate wrote ({e}): the row was edited by "
                    "hand; restore the database from a backup (nothing was migrated)"
                ) from None
            lineage_json = canonical(value)
            db.execute(
                "INSERT INTO model_versions (id, name, version, artifact_digest, artifact_path, "
                "lineage, signed_by, stage, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (vid, name, version, digest, path, lineage_json, stage, created),
            )
            by_id[vid] = (name, version, digest, path, lineage_json)
        for vid, action, frm, to, actor, at, reason, report_sha in self.transitions:
            name, version, digest, path, lineage_json = by_id[vid]
            payload: dict[str, Any]
            if action == "register":
                payload = {
                    "artifact_digest": digest,
                    "artifact_path": path,
                    "lineage_sha256": lineage_sha256(lineage_json),
                    "signed_by": None,
                    "migrated_from_schema": 1,
                    "v1_gate_reports": [
                        {"sha256": r[2], "verdict": r[3], "path": r[1]}
                        for r in self.reports
                        if r[0] == vid
                    ],
                }
            else:
                payload = {"migrated_from_schema": 1, "gate_report_sha256": report_sha}
            reg._log(
                db,
                action,
                actor=actor,
                reason=reason,
                name=name,
                version=version,
                from_stage=frm,
                to_stage=to,
                payload=payload,
                at=created_at[vid] if action == "register" else at,
            )


__all__ = [
    "CLOCK_TOLERANCE",
    "DEFAULT_DB",
    "ENV_DB",
    "ITEMS_NAME",
    "NAME_RULE",
    "ClockBehind",
    "Forbidden",
    "ModelVersion",
    "PromotionRequest",
    "RecordedGateReport",
    "Registry",
    "TrustedKey",
    "User",
    "Waiver",
    "check_name",
    "check_version",
    "default_actor",
    "default_db_path",
    "files_identity",
    "parse_expiry",
    "read_offer",
]
