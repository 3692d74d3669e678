"""The registry's SQLite schema, versioned with ``PRAGMA user_version``.

Integrity rules live in the database itself (CHECK constraints, a partial
unique index and triggers), so a second process or a hand-run ``sqlite3``
session cannot break them either: at most one production version per model
name, identity columns that never change after registration, and gate reports
and transitions that are append-only.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

STAGES = ("experiment", "staging", "production", "archived")

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

MIGRATIONS: dict[int, str] = {1: SCHEMA_V1}
