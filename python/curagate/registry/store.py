"""The model registry: versions, their gate reports and an audit log, in SQLite.

Why SQLite: one file next to the project, no server, and real transactions.
Every write runs in ``BEGIN IMMEDIATE`` (the write lock is taken before
anything is read), so two processes promoting at once are serialized: the
second waits (``busy_timeout``) and then sees the first one's result instead
of acting on a stale view. WAL mode lets readers run while a writer works.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curagate.errors import CheckFailed, ConfigError, InputError
from curagate.export.manifest import load_manifest, tree_digest, verify_bundle
from curagate.registry.gate_report import GateReport, read_gate_report
from curagate.registry.schema import MIGRATIONS, SCHEMA_VERSION, STAGES

DEFAULT_DB = Path(".curagate") / "registry.db"
ENV_DB = "CURAGATE_REGISTRY"
BUSY_TIMEOUT_MS = 60_000
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    version: int
    artifact_digest: str
    tree_digest: str
    artifact_path: str
    lineage: dict[str, Any]
    stage: str
    created_at: str

    def judged_by(self, candidate_digest: str) -> bool:
        """Whether a gate report's candidate digest names exactly this artifact."""
        return candidate_digest in (self.artifact_digest, self.tree_digest)

    @property
    def ref(self) -> str:
        return f"{self.name} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "artifact_digest": self.artifact_digest,
            "tree_digest": self.tree_digest,
            "artifact_path": self.artifact_path,
            "lineage": self.lineage,
            "stage": self.stage,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Transition:
    id: int
    name: str
    version: int
    action: str
    from_stage: str | None
    to_stage: str
    actor: str
    at: str
    reason: str
    gate_report_sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "action": self.action,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "gate_report_sha256": self.gate_report_sha256,
        }


@dataclass(frozen=True)
class RecordedGateReport:
    id: int
    path: str
    sha256: str
    verdict: str
    candidate_digest: str
    recorded_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "verdict": self.verdict,
            "candidate_digest": self.candidate_digest,
            "recorded_at": self.recorded_at,
        }


def _statements(script: str) -> Iterator[str]:
    """Split a schema script into statements (triggers contain ';' inside BEGIN/END)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


_VERSION_COLS = (
    "id, name, version, artifact_digest, tree_digest, artifact_path, lineage, stage, created_at"
)


def _version(row: sqlite3.Row | tuple[Any, ...]) -> ModelVersion:
    return ModelVersion(
        id=row[0],
        name=row[1],
        version=row[2],
        artifact_digest=row[3],
        tree_digest=row[4],
        artifact_path=row[5],
        lineage=json.loads(row[6]),
        stage=row[7],
        created_at=row[8],
    )


class Registry:
    """A handle on one registry database; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if not self.path.exists():
            if not create:
                raise InputError(
                    f"{self.path}: no registry database here; register a bundle first "
                    "(curagate registry register BUNDLE --name NAME) or pass --db"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as e:
            raise InputError(f"{self.path}: cannot open the registry database ({e})") from e
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise InputError(f"{self.path}: not a usable SQLite database ({e})") from e
        try:
            if str(mode).lower() != "wal":
                raise ConfigError(
                    f"{self.path}: SQLite refused WAL mode (got {mode!r}); put the registry on a "
                    "local filesystem (network filesystems do not support WAL)"
                )
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the database write lock from its first statement."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path}: registry schema version {current} is newer than this curagate "
                    f"supports ({SCHEMA_VERSION}); upgrade curagate"
                )
            for target in range(current + 1, SCHEMA_VERSION + 1):
                for stmt in _statements(MIGRATIONS[target]):
                    db.execute(stmt)
                db.execute(f"PRAGMA user_version = {target}")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # reading

    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        sql = f"SELECT {_VERSION_COLS} FROM model_versions"
        params: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        return [_version(r) for r in self._conn.execute(sql + " ORDER BY name, version", params)]

    def get(self, name: str, version: int) -> ModelVersion:
        row = self._conn.execute(
            f"SELECT {_VERSION_COLS} FROM model_versions WHERE name = ? AND version = ?",
            (name, version),
        ).fetchone()
        if row is None:
            known = [v.version for v in self.list_versions(name)]
            hint = (
                f"known versions: {', '.join(map(str, known))}"
                if known
                else "no versions under this name"
            )
            raise InputError(f"{self.path}: model {name!r} has no version {version} ({hint})")
        return _version(row)

    def production(self, name: str) -> ModelVersion | None:
        row = self._conn.execute(
            f"SELECT {_VERSION_COLS} FROM model_versions WHERE name = ? AND stage = 'production'",
            (name,),
        ).fetchone()
        return _version(row) if row else None

    def transitions(self, name: str | None = None, version: int | None = None) -> list[Transition]:
        sql = (
            "SELECT t.id, m.name, m.version, t.action, t.from_stage, t.to_stage, t.actor, t.at, "
            "t.reason, g.sha256 FROM transitions t JOIN model_versions m ON m.id = t.model_version_id "
            "LEFT JOIN gate_reports g ON g.id = t.gate_report_id"
        )
        where: list[str] = []
        params: list[Any] = []
        if name is not None:
            where.append("m.name = ?")
            params.append(name)
        if version is not None:
            where.append("m.version = ?")
            params.append(version)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Transition(*r) for r in self._conn.execute(sql + " ORDER BY t.id", params)]

    def gate_reports(self, name: str, version: int) -> list[RecordedGateReport]:
        mv = self.get(name, version)
        rows = self._conn.execute(
            "SELECT id, path, sha256, verdict, candidate_digest, recorded_at FROM gate_reports "
            "WHERE model_version_id = ? ORDER BY id",
            (mv.id,),
        )
        return [RecordedGateReport(*r) for r in rows]

    # writing

    def _log(
        self,
        db: sqlite3.Connection,
        mv_id: int,
        action: str,
        from_stage: str | None,
        to_stage: str,
        actor: str,
        reason: str,
        gate_report_id: int | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO transitions (model_version_id, action, from_stage, to_stage, actor, at, "
            "reason, gate_report_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (mv_id, action, from_stage, to_stage, actor, _now(), reason, gate_report_id),
        )

    def _set_stage(self, db: sqlite3.Connection, mv_id: int, stage: str) -> None:
        db.execute("UPDATE model_versions SET stage = ? WHERE id = ?", (stage, mv_id))

    @staticmethod
    @staticmethod
    def _check_report_matches(report: GateReport, mv: ModelVersion) -> None:
        if not mv.judged_by(report.candidate_digest):
            raise CheckFailed(
                f"{report.path}: this gate report judged artifact {report.candidate_digest[:12]}…, "
                f"but {mv.ref} is artifact {mv.artifact_digest[:12]}… (directory digest "
                f"{mv.tree_digest[:12]}…); run the gate on this bundle ({mv.artifact_path}) and "
                "pass that report"
            )

    def _record_report(self, db: sqlite3.Connection, mv: ModelVersion, report: GateReport) -> int:
        self._check_report_matches(report, mv)
        db.execute(
            "INSERT OR IGNORE INTO gate_reports (model_version_id, path, sha256, verdict, "
            "candidate_digest, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                mv.id,
                str(report.path.resolve()),
                report.sha256,
                report.verdict,
                report.candidate_digest,
                _now(),
            ),
        )
        row = db.execute(
            "SELECT id FROM gate_reports WHERE model_version_id = ? AND sha256 = ?",
            (mv.id, report.sha256),
        ).fetchone()
        return int(row[0])

    def _fresh(self, db: sqlite3.Connection, mv_id: int) -> ModelVersion:
        row = db.execute(
            f"SELECT {_VERSION_COLS} FROM model_versions WHERE id = ?", (mv_id,)
        ).fetchone()
        return _version(row)

    def register(
        self,
        bundle: str | os.PathLike[str],
        *,
        name: str,
        actor: str | None = None,
        reason: str = "",
        gate_report: str | os.PathLike[str] | None = None,
    ) -> ModelVersion:
        """Add a verified bundle as the next version of ``name``, in stage experiment."""
        if not name or name.strip() != name:
            raise InputError(
                f"model name {name!r}: use a non-empty name without surrounding spaces"
            )
        checked = verify_bundle(bundle)
        manifest = load_manifest(bundle)
        lineage = manifest.get("lineage", {})
        tree = tree_digest(manifest, checked.digest)
        report = read_gate_report(gate_report) if gate_report is not None else None
        who = actor or default_actor()
        with self._write() as db:
            dup = db.execute(
                "SELECT version FROM model_versions WHERE name = ? AND artifact_digest = ?",
                (name, checked.digest),
            ).fetchone()
            if dup is not None:
                raise InputError(
                    f"{bundle}: artifact {checked.digest[:12]}… is already registered as {name} v{dup[0]}"
                )
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?", (name,)
            ).fetchone()
            cur = db.execute(
                "INSERT INTO model_versions (name, version, artifact_digest, tree_digest, "
                "artifact_path, lineage, stage, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'experiment', ?)",
                (
                    name,
                    version,
                    checked.digest,
                    tree,
                    str(Path(bundle).resolve()),
                    json.dumps(lineage, sort_keys=True),
                    _now(),
                ),
            )
            mv_id = int(cur.lastrowid or 0)
            mv = self._fresh(db, mv_id)
            report_id = self._record_report(db, mv, report) if report is not None else None
            self._log(db, mv_id, "register", None, "experiment", who, reason, report_id)
            return mv

    def add_gate_report(
        self, name: str, version: int, report_path: str | os.PathLike[str]
    ) -> RecordedGateReport:
        report = read_gate_report(report_path)
        with self._write() as db:
            mv = self.get(name, version)
            report_id = self._record_report(db, mv, report)
            row = db.execute(
                "SELECT id, path, sha256, verdict, candidate_digest, recorded_at FROM gate_reports "
                "WHERE id = ?",
                (report_id,),
            ).fetchone()
            return RecordedGateReport(*row)

    def _passing_report(self, db: sqlite3.Connection, mv: ModelVersion) -> int:
        row = db.execute(
            "SELECT id FROM gate_reports WHERE model_version_id = ? AND verdict = 'pass' "
            "AND candidate_digest IN (?, ?) ORDER BY id DESC LIMIT 1",
            (mv.id, mv.artifact_digest, mv.tree_digest),
        ).fetchone()
        if row is None:
            verdicts = [
                r[0]
                for r in db.execute(
                    "SELECT verdict FROM gate_reports WHERE model_version_id = ? ORDER BY id",
                    (mv.id,),
                )
            ]
            seen = f" (recorded verdicts: {', '.join(verdicts)})" if verdicts else ""
            raise CheckFailed(
                f"{mv.ref}: promotion to production needs a passing gate report for artifact "
                f"{mv.artifact_digest[:12]}…{seen}; run `curagate gate` on {mv.artifact_path} and pass "
                "its gate_report.json with --gate-report"
            )
        return int(row[0])

    def promote(
        self,
        name: str,
        version: int,
        *,
        to: str,
        actor: str | None = None,
        reason: str = "",
        gate_report: str | os.PathLike[str] | None = None,
    ) -> ModelVersion:
        """Move a version forward (experiment → staging → production → archived).

        Production needs a passing gate report for exactly this artifact and an
        intact bundle on disk; the version it replaces is archived in the same
        transaction.
        """
        if to not in STAGES:
            raise InputError(f"stage {to!r}: choose one of {', '.join(STAGES)}")
        who = actor or default_actor()
        report = read_gate_report(gate_report) if gate_report is not None else None
        if to == "production":
            mv = self.get(name, version)
            checked = verify_bundle(mv.artifact_path)
            if checked.digest != mv.artifact_digest:
                raise CheckFailed(
                    f"{mv.artifact_path}: its MANIFEST.json digest {checked.digest[:12]}… differs from "
                    f"the registered {mv.artifact_digest[:12]}…; the bundle was replaced after registration"
                )
        with self._write() as db:
            mv = self.get(name, version)
            if _RANK[to] <= _RANK[mv.stage]:
                raise InputError(
                    f"{mv.ref} is in {mv.stage}; promotion only moves forward "
                    f"({' → '.join(STAGES)}); use `curagate registry rollback` to restore an "
                    "earlier production version"
                )
            report_id = self._record_report(db, mv, report) if report is not None else None
            if to == "production":
                report_id = self._passing_report(db, mv)
                current = self.production(name)
                if current is not None:
                    self._set_stage(db, current.id, "archived")
                    self._log(
                        db,
                        current.id,
                        "archive",
                        "production",
                        "archived",
                        who,
                        f"replaced by v{mv.version}: {reason}".rstrip(": "),
                    )
            self._set_stage(db, mv.id, to)
            self._log(
                db,
                mv.id,
                "archive" if to == "archived" else "promote",
                mv.stage,
                to,
                who,
                reason,
                report_id,
            )
            return self._fresh(db, mv.id)

    def rollback(self, name: str, *, actor: str | None = None, reason: str = "") -> ModelVersion:
        """Put the previous production version back; the current one is archived.

        "Previous" is the version that was in production just before the current
        one took over, so two rollbacks in a row swap back (like ``cd -``).
        """
        who = actor or default_actor()
        with self._write() as db:
            current = self.production(name)
            if current is None:
                raise InputError(
                    f"{self.path}: model {name!r} has no production version to roll back"
                )
            since = db.execute(
                "SELECT MAX(id) FROM transitions WHERE model_version_id = ? AND to_stage = 'production'",
                (current.id,),
            ).fetchone()[0]
            row = db.execute(
                "SELECT t.model_version_id, t.gate_report_id FROM transitions t "
                "JOIN model_versions m ON m.id = t.model_version_id "
                "WHERE m.name = ? AND t.to_stage = 'production' AND t.id < ? AND t.model_version_id != ? "
                "ORDER BY t.id DESC LIMIT 1",
                (name, since, current.id),
            ).fetchone()
            if row is None:
                raise InputError(
                    f"{current.ref} is the only version of {name!r} that was ever in production; "
                    "nothing to roll back to"
                )
            previous = self._fresh(db, int(row[0]))
            self._set_stage(db, current.id, "archived")
            self._log(db, current.id, "rollback", "production", "archived", who, reason)
            self._set_stage(db, previous.id, "production")
            self._log(
                db, previous.id, "rollback", previous.stage, "production", who, reason, row[1]
            )
            return self._fresh(db, previous.id)
