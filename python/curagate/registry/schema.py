"""The registry's SQLite schema, versioned with ``PRAGMA user_version``.

Integrity rules live in the database itself (CHECK constraints, a partial unique
index, append-only triggers), so a second process cannot break them by accident.
They do not stop someone with ``sqlite3`` and write access, who can drop a trigger:
that is what the hash-chained ``log`` is for (see :mod:`curagate.registry.chain`).
Every row of every other table is matched against the log at each open, and the
triggers' presence is part of that check.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

SCHEMA_VERSION = 5

STAGES = ("experiment", "staging", "production", "archived")
# train (schema 5): the trainers whose signed run records (`train --sign-key`) production
# bundles must come from, once a registry trusts one (see the promotion rule).
ROLES = ("gate", "export", "train")
KEY_ROLES_V2 = ("gate", "export")
# uploader (schema 4): CI uploads gate reports and can do nothing else, so its account never
# counts as one of the two people of a production approval.
USER_ROLES = ("viewer", "uploader", "approver", "admin")
# The roles that request, approve, waive and (once a registry has one) move versions, and
# the log actions only they make.
APPROVER_ROLES = ("approver", "admin")
PEOPLE_ACTIONS = ("request", "approve", "waive")
# The log actions that change who may act and which keys are trusted. Once a registry has
# an admin with an actor key, only such an admin makes them, signed (before that, whoever
# can write the database file does: the registry's owner).
ADMIN_ACTIONS = ("user_add", "user_revoke", "trust", "revoke")
ACTIONS = (
    "register",
    "report",
    "promote",
    "archive",
    "rollback",
    "trust",
    "revoke",
    "migrate",
    "user_add",
    "user_revoke",
    "request",
    "approve",
    "waive",
)
APPEND_ONLY_V2 = ("gate_reports", "trusted_keys", "key_revocations", "log")
APPEND_ONLY_V3 = ("users", "user_revocations", "promotion_requests", "approvals", "waivers")
APPEND_ONLY = APPEND_ONLY_V2 + APPEND_ONLY_V3


def _no_change(tables: tuple[str, ...]) -> str:
    return "".join(
        f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
"""
        for table in tables
    )


def _allowed(roles: tuple[str, ...]) -> str:
    return ", ".join(f"'{r}'" for r in roles)


def keys_table(roles: tuple[str, ...]) -> str:
    """The trusted_keys table with its role CHECK: the one thing schema 5 changed in schema 4."""
    return f"""
CREATE TABLE trusted_keys (
    id          INTEGER PRIMARY KEY,
    fingerprint TEXT    NOT NULL CHECK (length(fingerprint) = 64),
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ({_allowed(roles)})),
    public_pem  TEXT    NOT NULL,
    added_by    TEXT    NOT NULL,
    added_at    TEXT    NOT NULL,
    UNIQUE (fingerprint, role),
    UNIQUE (name, role)
);
"""


SCHEMA_V2 = (
    """
CREATE TABLE model_versions (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    version         INTEGER NOT NULL CHECK (version >= 1),
    artifact_digest TEXT    NOT NULL CHECK (length(artifact_digest) = 64),
    artifact_path   TEXT    NOT NULL,
    lineage         TEXT    NOT NULL CHECK (json_valid(lineage)),
    signed_by       TEXT,
    stage           TEXT    NOT NULL
        CHECK (stage IN ('experiment', 'staging', 'production', 'archived')),
    created_at      TEXT    NOT NULL,
    UNIQUE (name, version),
    UNIQUE (name, artifact_digest)
);

CREATE UNIQUE INDEX one_production_per_name
    ON model_versions (name) WHERE stage = 'production';

CREATE TRIGGER model_versions_identity_is_immutable
BEFORE UPDATE OF id, name, version, artifact_digest, artifact_path, lineage, signed_by, created_at
ON model_versions
BEGIN
    SELECT RAISE(ABORT, 'model_versions: only the stage of a registered version may change');
END;

CREATE TRIGGER model_versions_no_delete
BEFORE DELETE ON model_versions
BEGIN
    SELECT RAISE(ABORT, 'model_versions: registered versions are never deleted (archive them)');
END;

-- Every gate report offered to the registry, accepted or not, and why.
CREATE TABLE gate_reports (
    id                 INTEGER PRIMARY KEY,
    model_version_id   INTEGER NOT NULL REFERENCES model_versions (id),
    report_sha256      TEXT    NOT NULL CHECK (length(report_sha256) = 64),
    attestation_sha256 TEXT    CHECK (attestation_sha256 IS NULL OR length(attestation_sha256) = 64),
    verdict            TEXT,
    accepted           INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    why                TEXT    NOT NULL,
    keyid              TEXT,
    path               TEXT    NOT NULL,
    actor              TEXT    NOT NULL,
    recorded_at        TEXT    NOT NULL
);
"""
    + keys_table(KEY_ROLES_V2)
    + """
CREATE TABLE key_revocations (
    id         INTEGER PRIMARY KEY,
    key_id     INTEGER NOT NULL UNIQUE REFERENCES trusted_keys (id),
    reason     TEXT    NOT NULL,
    revoked_by TEXT    NOT NULL,
    revoked_at TEXT    NOT NULL
);

-- The audit log: a hash chain. Each row's hash covers its content and the previous
-- row's hash, so an edited, inserted or deleted row breaks every hash after it.
CREATE TABLE log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    name       TEXT,
    version    INTEGER,
    from_stage TEXT,
    to_stage   TEXT,
    reason     TEXT    NOT NULL,
    payload    TEXT    NOT NULL CHECK (json_valid(payload)),
    prev_hash  TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash       TEXT    NOT NULL CHECK (length(hash) = 64)
);

CREATE INDEX log_by_version ON log (name, version, id);
"""
    + _no_change(APPEND_ONLY_V2)
)

# Schema 3 adds people and the two-approver workflow; all of it append-only and logged.
# Tokens are 256-bit random strings, so a plain sha256 suffices to store them (a slow
# password hash guards low-entropy secrets; it would also make lookup by hash impossible).
PEOPLE_TABLES = """

CREATE TABLE user_revocations (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL UNIQUE REFERENCES users (id),
    reason     TEXT    NOT NULL,
    revoked_by TEXT    NOT NULL,
    revoked_at TEXT    NOT NULL
);

-- A request to move a version to a stage, waiting for a second approver.
CREATE TABLE promotion_requests (
    id               INTEGER PRIMARY KEY,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id),
    to_stage         TEXT    NOT NULL CHECK (to_stage IN ('staging', 'production', 'archived')),
    requested_by     TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    created_at       TEXT    NOT NULL
);

CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL UNIQUE REFERENCES promotion_requests (id),
    approved_by TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    approved_at TEXT    NOT NULL
);

-- A time-limited acceptance of a warn verdict: report_sha256 names the exact report.
CREATE TABLE waivers (
    id               INTEGER PRIMARY KEY,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id),
    report_sha256    TEXT    NOT NULL CHECK (length(report_sha256) = 64),
    reason           TEXT    NOT NULL CHECK (length(reason) > 0),
    expires_at       TEXT    NOT NULL,
    granted_by       TEXT    NOT NULL,
    granted_at       TEXT    NOT NULL
);
"""


def users_table(roles: tuple[str, ...]) -> str:
    """The users table with its role CHECK: the one thing schema 4 changed in schema 3."""
    return f"""
CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    role         TEXT    NOT NULL CHECK (role IN ({_allowed(roles)})),
    token_sha256 TEXT    NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_by   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);
"""


USER_ROLES_V3 = ("viewer", "approver", "admin")
USERS_TRIGGERS = _no_change(("users",))
SCHEMA_V3_ADDITIONS = users_table(USER_ROLES_V3) + PEOPLE_TABLES + _no_change(APPEND_ONLY_V3)
# Schema 4 = schema 3 with the uploader role; a schema-3 registry's users table is rebuilt
# with the same rows (Registry._migrate), every other table stays as it is.
SCHEMA_V4_ADDITIONS = users_table(USER_ROLES) + PEOPLE_TABLES + _no_change(APPEND_ONLY_V3)

SCHEMA_V3 = SCHEMA_V2 + SCHEMA_V3_ADDITIONS
SCHEMA_V4 = SCHEMA_V2 + SCHEMA_V4_ADDITIONS
# Schema 5 = schema 4 with the train key role; the trusted_keys table is rebuilt likewise.
KEYS_TRIGGERS = _no_change(("trusted_keys",))
SCHEMA_V5 = SCHEMA_V4.replace(keys_table(KEY_ROLES_V2), keys_table(ROLES))


def split_statements(script: str) -> Iterator[str]:
    """Split a schema script into statements (triggers contain ';' inside BEGIN/END)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


# Schema 1 (curagate 0.1), kept to migrate its databases and to test that migration.
SCHEMA_V1 = """
CREATE TABLE model_versions (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL CHECK (length(name) > 0),
    version         INTEGER NOT NULL CHECK (version >= 1),
    artifact_digest TEXT    NOT NULL CHECK (length(artifact_digest) = 64),
    tree_digest     TEXT    NOT NULL CHECK (length(tree_digest) = 64),
    artifact_path   TEXT    NOT NULL,
    lineage         TEXT    NOT NULL CHECK (json_valid(lineage)),
    stage           TEXT    NOT NULL
        CHECK (stage IN ('experiment', 'staging', 'production', 'archived')),
    created_at      TEXT    NOT NULL,
    UNIQUE (name, version),
    UNIQUE (name, artifact_digest)
);

CREATE UNIQUE INDEX one_production_per_name
    ON model_versions (name) WHERE stage = 'production';

CREATE TRIGGER model_versions_identity_is_immutable
BEFORE UPDATE OF id, name, version, artifact_digest, tree_digest, artifact_path, lineage,
    created_at
ON model_versions
BEGIN
    SELECT RAISE(ABORT, 'model_versions: only the stage of a registered version may change');
END;

CREATE TRIGGER model_versions_no_delete
BEFORE DELETE ON model_versions
BEGIN
    SELECT RAISE(ABORT, 'model_versions: registered versions are never deleted (archive them)');
END;

CREATE TABLE gate_reports (
    id               INTEGER PRIMARY KEY,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id),
    path             TEXT    NOT NULL,
    sha256           TEXT    NOT NULL CHECK (length(sha256) = 64),
    verdict          TEXT    NOT NULL,
    candidate_digest TEXT    NOT NULL,
    recorded_at      TEXT    NOT NULL,
    UNIQUE (model_version_id, sha256)
);

CREATE TRIGGER gate_reports_no_update
BEFORE UPDATE ON gate_reports
BEGIN
    SELECT RAISE(ABORT, 'gate_reports is append-only');
END;

CREATE TRIGGER gate_reports_no_delete
BEFORE DELETE ON gate_reports
BEGIN
    SELECT RAISE(ABORT, 'gate_reports is append-only');
END;

CREATE TABLE transitions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model_version_id INTEGER NOT NULL REFERENCES model_versions (id),
    action           TEXT    NOT NULL
        CHECK (action IN ('register', 'promote', 'archive', 'rollback')),
    from_stage       TEXT,
    to_stage         TEXT    NOT NULL
        CHECK (to_stage IN ('experiment', 'staging', 'production', 'archived')),
    actor            TEXT    NOT NULL,
    at               TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    gate_report_id   INTEGER REFERENCES gate_reports (id)
);

CREATE INDEX transitions_by_version ON transitions (model_version_id, id);

CREATE TRIGGER transitions_no_update
BEFORE UPDATE ON transitions
BEGIN
    SELECT RAISE(ABORT, 'transitions is an append-only audit log');
END;

CREATE TRIGGER transitions_no_delete
BEFORE DELETE ON transitions
BEGIN
    SELECT RAISE(ABORT, 'transitions is an append-only audit log');
END;
"""
