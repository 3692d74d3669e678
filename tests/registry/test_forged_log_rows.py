"""Rows appended by whoever can write the database file, chained like the registry's own
(the hash is unkeyed), with the tables edited to match: `registry check --head` with the
head the owner recorded before them must fail. Each case was a working attack. Where the
forger is given approvers' tokens (an insider writing by hand), their rows are signed
as the commands sign them, so the rule under test, not the signature, refuses them."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from curagate.artifacts import BundleManifest, iso_utc
from curagate.cli import main
from curagate.digest import sha256_bytes
from curagate.errors import InputError
from curagate.export.manifest import (
    MANIFEST_NAME,
    hash_bundle_files,
    load_manifest,
    manifest_bytes,
)
from curagate.registry import ChainBroken, Registry
from curagate.registry.chain import (
    ACTOR_SIG,
    FILES_IDENTITY,
    actor_message,
    canonical,
    lineage_sha256,
    row_hash,
)
from curagate.registry.store import RecordedGateReport, files_identity
from curagate.signing import PRIVATE_KEY_NAME, actor_public_key, actor_seed, actor_sign

from .registry_fixtures import keypair, write_bundle, write_gate_report, write_v1_registry

LINEAGE = canonical({"adapter_sha256": "a" * 64, "run": "runs/demo"})


def _files_of(bundle: Path, files: bool) -> dict[str, str]:
    """The files identity field of ``bundle``'s register row, as `registry register` writes
    it (every register row after one carrying it must), when ``files`` and it has a
    readable MANIFEST.json."""
    if not files:
        return {}
    try:
        return {FILES_IDENTITY: files_identity(load_manifest(bundle).files)}
    except Exception:  # a bundle the test breaks on purpose
        return {}


class Forger:
    """Appends correctly chained log rows and edits the tables to agree with them."""

    def __init__(self, db: Path, tokens: dict[str, str] | None = None) -> None:
        self.db = db
        self.c = sqlite3.connect(db)
        self.t = 0
        self.tokens = tokens or {}  # the users whose tokens the forger holds
        # The rows' times: this minute, second 1, 2, ...; None: now, never before the last
        # row (as the commands date rows, so that `check` finds the rule under test, not
        # a row dated in the future).
        self.minute: str | None = None
        self.at: str | None = None  # set: every row's time, written as it is
        self.reason = ""  # every row's reason

    def log(
        self,
        action: str,
        version: int | None,
        frm: str | None,
        to: str | None,
        payload: dict[str, Any] | str,
        actor: str = "mallory",
        name: str = "bot",
    ) -> str:
        """Append a row; a str ``payload`` is written as it is."""
        self.t += 1
        rid, prev, last = self.c.execute(
            "SELECT id, hash, at FROM log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if self.at is not None:
            at = self.at
        elif self.minute is not None:
            at = f"{self.minute}:{self.t:02d}.000000Z"
        else:
            at = iso_utc(max(datetime.now(UTC), datetime.fromisoformat(last)))
        text = payload if isinstance(payload, str) else canonical(payload)
        f = (at, actor, action, name, version, frm, to, self.reason, text)
        if actor in self.tokens and isinstance(payload, dict):
            sig = actor_sign(actor_seed(self.tokens[actor]), actor_message(prev, rid + 1, f))
            f = (*f[:-1], canonical({**payload, ACTOR_SIG: sig}))
        self.c.execute(
            "INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (rid + 1, *f, prev, row_hash(prev, rid + 1, f)),
        )
        return at

    def stage(self, version: int, stage: str) -> None:
        self.c.execute(
            "UPDATE model_versions SET stage = ? WHERE name = 'bot' AND version = ?",
            (stage, version),
        )

    def approve(self, request_id: int, approver: str) -> None:
        """``approver`` approves request ``request_id`` (of bot v2 to production)."""
        at = self.log(
            "approve", 2, "experiment", "production", {"request_id": request_id}, approver
        )
        self.c.execute(
            "INSERT INTO approvals (request_id, approved_by, reason, approved_at) "
            "VALUES (?, ?, '', ?)",
            (request_id, approver, at),
        )

    def register(self, bundle: Path, digest: str, stage: str) -> int:
        at = self.log(
            "register",
            2,
            None,
            stage,
            {
                "artifact_digest": digest,
                "artifact_path": str(bundle),
                "lineage_sha256": lineage_sha256(LINEAGE),
                "signed_by": None,
                **_files_of(bundle, True),
            },
        )
        return int(
            self.c.execute(
                "INSERT INTO model_versions (name, version, artifact_digest, artifact_path, "
                "lineage, signed_by, stage, created_at) VALUES ('bot', 2, ?, ?, ?, NULL, ?, ?)",
                (digest, str(bundle), LINEAGE, stage, at),
            ).lastrowid
            or 0
        )

    def register_as(
        self,
        name: str,
        version: int,
        bundle: Path,
        digest: str,
        *,
        lineage: str = LINEAGE,
        signed_by: str | None = None,
        extra: dict[str, Any] | None = None,
        files: bool = True,
    ) -> int:
        """A register row (and its table row) saying what the forger wants of ``bundle``:
        ``lineage`` and ``signed_by`` whatever its MANIFEST.json and model.sig say;
        ``extra`` payload fields; with ``files``, the files identity of its MANIFEST.json
        (without, as an older curagate wrote them). Returns the model_versions id."""
        payload = {
            "artifact_digest": digest,
            "artifact_path": str(bundle),
            "lineage_sha256": lineage_sha256(lineage),
            "signed_by": signed_by,
            **_files_of(bundle, files),
            **(extra or {}),
        }
        at = self.log("register", version, None, "experiment", payload, actor="ci", name=name)
        return int(
            self.c.execute(
                "INSERT INTO model_versions (name, version, artifact_digest, artifact_path, "
                "lineage, signed_by, stage, created_at) VALUES (?, ?, ?, ?, ?, ?, 'experiment', ?)",
                (name, version, digest, str(bundle), lineage, signed_by, at),
            ).lastrowid
            or 0
        )

    def check(self, head: str, capsys: pytest.CaptureFixture[str]) -> str:
        """Commit, run `registry check --head`; its one-line error (exit 1 asserted)."""
        self.c.commit()
        self.c.close()
        capsys.readouterr()
        assert main(["registry", "--db", str(self.db), "check", "--head", head]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err


def owner(
    tmp_path: Path, *, approvers: bool
) -> tuple[Path, tuple[Path, Path], str, dict[str, str]]:
    """bot v1 in production on a signed pass (key `ci`); with ``approvers``, alice and
    bob (approvers) and vic (viewer). Returns the database, ci's key pair, the head and
    the users' tokens."""
    tokens: dict[str, str] = {}
    db = tmp_path / "reg" / "registry.db"
    ci = keypair(tmp_path / "ci")
    with Registry(db) as reg:
        reg.trust_add(ci[1], role="gate", name="ci", actor="owner")
        digest = write_bundle(tmp_path / "b1", b"good weights")
        reg.register(tmp_path / "b1", name="bot", actor="ci")
        report = write_gate_report(tmp_path / "g1", digest, sign_key=ci[0])
        reg.promote("bot", 1, to="production", actor="ci", gate_report=report)
        if approvers:
            for name, role in (("alice", "approver"), ("bob", "approver"), ("vic", "viewer")):
                tokens[name] = reg.user_add(name, role=role, actor="owner")[1]
        head_id, head_hash = reg.head()
    return db, ci, f"{head_id}:{head_hash}", tokens


def signed_v2(reg: Registry, tmp_path: Path, key: Path) -> None:
    """bot v2 registered with a pass signed by ``key``."""
    digest = write_bundle(tmp_path / "b2", b"v2 weights")
    report = write_gate_report(tmp_path / "g2", digest, sign_key=key)
    reg.register(tmp_path / "b2", name="bot", actor="ci", gate_report=report)


def warned_v2(reg: Registry, tmp_path: Path, key: Path) -> RecordedGateReport:
    """bot v2 registered, then a warn signed by ``key`` recorded for it; returns the warn."""
    digest = write_bundle(tmp_path / "b2", b"v2 weights")
    reg.register(tmp_path / "b2", name="bot", actor="ci")
    report = write_gate_report(tmp_path / "w", digest, "warn", sign_key=key)
    return reg.add_gate_report("bot", 2, report, actor="ci")


def alice_requests_v2(
    tmp_path: Path, *, then_revoke_alice: bool = False
) -> tuple[Path, dict[str, str], int, str]:
    """The owner's registry with approvers; bot v2 with a signed pass, whose promotion to
    production alice requested. Returns the database, the tokens, the request id and
    the head recorded then."""
    db, ci, _, tokens = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        signed_v2(reg, tmp_path, ci[0])
        alice = reg.authenticate(tokens["alice"])
        request = reg.request_promotion("bot", 2, to="production", user=alice)
        if then_revoke_alice:
            reg.user_revoke("alice", actor="owner", reason="left")
        return db, tokens, request.id, ":".join(map(str, reg.head()))


def pass_then_fail(
    tmp_path: Path, fail_key: tuple[Path, Path] | None = None
) -> tuple[Path, RecordedGateReport, RecordedGateReport, str]:
    """bot v2 with a signed pass, then a newer signed fail (the registry refuses to promote
    it), signed by ``fail_key`` when given (refused when recorded, the key trusted right
    after); returns the database, both reports and the head."""
    db, ci, _, _ = owner(tmp_path, approvers=False)
    with Registry(db) as reg:
        digest = write_bundle(tmp_path / "b2", b"v2 weights")
        reg.register(tmp_path / "b2", name="bot", actor="ci")
        passed = reg.add_gate_report(
            "bot", 2, write_gate_report(tmp_path / "p", digest, sign_key=ci[0]), actor="ci"
        )
        time.sleep(1.1)  # signed times have whole seconds
        signer = (fail_key or ci)[0]
        fail = write_gate_report(tmp_path / "f", digest, "fail", sign_key=signer)
        failed = reg.add_gate_report("bot", 2, fail, actor="ci")
        if fail_key is not None:
            assert not failed.accepted
            reg.trust_add(fail_key[1], role="gate", name="ci-new", actor="owner")
        return db, passed, failed, ":".join(map(str, reg.head()))


@pytest.mark.parametrize("how", ["to_stage", "payload"])
def test_a_version_registered_straight_into_production_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    # Never gated, never signed: the register row put it in production (its to_stage, or
    # a "stage" in its payload, which replay let override the row's).
    db, _, head, _ = owner(tmp_path, approvers=False)
    digest = write_bundle(tmp_path / "evil", b"EVIL weights")
    forger = Forger(db)
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {})
    if how == "to_stage":
        forger.register(tmp_path / "evil", digest, "production")
        expected = "registers bot v2 into production, not experiment"
    else:
        at = forger.log(
            "register",
            2,
            None,
            "experiment",
            {
                "artifact_digest": digest,
                "artifact_path": str(tmp_path / "evil"),
                "lineage_sha256": lineage_sha256(LINEAGE),
                "signed_by": None,
                "stage": "production",
                "was_production": True,
                # Every register row after one carrying it must (the replay's rule).
                FILES_IDENTITY: files_identity(load_manifest(tmp_path / "evil").files),
            },
        )
        forger.c.execute(
            "INSERT INTO model_versions (name, version, artifact_digest, artifact_path, lineage, "
            "signed_by, stage, created_at) VALUES ('bot', 2, ?, ?, ?, NULL, 'production', ?)",
            (digest, str(tmp_path / "evil"), LINEAGE, at),
        )
        expected = "bot v2 is in production, but the log puts it in experiment"
    assert expected in forger.check(head, capsys)


def test_the_same_bytes_registered_again_under_another_name_fails_check_and_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `register` refuses bytes already registered, the replay did not. A
    # second version of bot v1's bytes is judged on its own reports, so bot v1's older pass
    # shipped it as bot2 v1 while a newer signed fail held bot v1 back.
    db, _, head, _ = owner(tmp_path, approvers=False)
    forger = Forger(db)
    (digest,) = forger.c.execute("SELECT artifact_digest FROM model_versions").fetchone()
    forger.register_as("bot2", 1, tmp_path / "b1", digest)
    forger.c.commit()
    with pytest.raises(ChainBroken, match="already registered as bot v1 at log row 2"):
        Registry(db)
    err = forger.check(head, capsys)
    assert "log row 5: registers bot2 v1 with artifact" in err
    assert "already registered as bot v1 at log row 2" in err
    pass_report = tmp_path / "g1" / "gate_report.json"
    assert (
        main(
            ["registry", "--db", str(db), "report", "bot2", "1", "--gate-report", str(pass_report)]
        )
        == 1
    )
    assert "already registered as bot v1" in capsys.readouterr().err


def test_twins_an_older_curagate_registered_stay_but_none_after_the_recorded_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An older curagate registered the same bytes twice, without the field the rule's
    # register rows carry: such a registry still opens. `check --head` refuses a twin after
    # the recorded head, and from the first register row written under the rule on, the
    # replay refuses every twin.
    db = tmp_path / "reg" / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(keypair(tmp_path / "ci")[1], role="gate", name="ci", actor="owner")
        head = ":".join(map(str, reg.head()))
    digest = write_bundle(tmp_path / "b1", b"old weights")
    forger = Forger(db)
    forger.register_as("bot", 1, tmp_path / "b1", digest, files=False)
    forger.register_as("bot2", 1, tmp_path / "b1", digest, files=False)
    forger.c.commit()
    with Registry(db) as reg:
        reg.check()
        assert reg.get("bot2", 1).artifact_digest == digest
        later = ":".join(map(str, reg.head()))
    err = forger.check(head, capsys)
    assert "log row 3: registers bot2 v1 after the recorded head 1" in err
    assert "already registered as bot v1 at log row 2" in err
    assert main(["registry", "--db", str(db), "check", "--head", later]) == 0
    with Registry(db) as reg:
        with pytest.raises(InputError, match="already registered as bot v1"):
            reg.register(tmp_path / "b1", name="bot3", actor="ci")
        write_bundle(tmp_path / "b2", b"new weights")
        reg.register(tmp_path / "b2", name="new", actor="ci")
    forger = Forger(db)
    forger.register_as("bot3", 1, tmp_path / "b1", digest)
    forger.c.commit()
    with pytest.raises(ChainBroken, match="log row 5: registers bot3 v1 with artifact"):
        Registry(db)


@pytest.mark.parametrize("spelling", ["upper", "mixed", "sha256-prefixed"])
def test_a_register_row_whose_digest_is_not_lowercase_hex_fails_check_and_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    # Found by re-attack: the digest in upper (or mixed) case was another key for bot v1's
    # bytes: the one-version-per-artifact rule and `check --head` compared it as text, so
    # the twin passed both (and was promoted to staging), while every bundle check
    # lower-cases it.
    db, _, head, _ = owner(tmp_path, approvers=False)
    forger = Forger(db)
    (digest,) = forger.c.execute("SELECT artifact_digest FROM model_versions").fetchone()
    other = {
        "upper": digest.upper(),
        "mixed": digest[:10].upper() + digest[10:],
        "sha256-prefixed": f"sha256:{digest}"[:64],
    }[spelling]
    forger.register_as("bot2", 1, tmp_path / "b1", other)
    forger.c.commit()
    with pytest.raises(ChainBroken, match="not 64 lowercase hex characters"):
        Registry(db)
    err = forger.check(head, capsys)
    assert f"log row 5: registers bot2 v1 with artifact digest {other!r}" in err
    assert "the row was written by hand" in err
    assert main(["registry", "--db", str(db), "promote", "bot2", "1", "--to", "staging"]) == 1
    assert "not 64 lowercase hex characters" in capsys.readouterr().err


def test_a_schema_1_digest_that_is_not_lowercase_hex_is_refused_before_migrating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The replay refuses such a register row, so migrating it would leave a registry
    # that no command opens: the migration refuses it and changes nothing.
    digest = write_bundle(tmp_path / "b1", b"old weights")
    db = tmp_path / "old.db"
    write_v1_registry(db, [("bot", digest.upper(), tmp_path / "b1", LINEAGE, "production")])
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "migrate"]) == 2
    err = capsys.readouterr().err
    assert "schema-1 table model_versions row 1 (bot v1): artifact_digest" in err
    assert "is not 64 lowercase hex characters" in err and "nothing was migrated" in err
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA user_version").fetchone() == (1,)
    assert c.execute("SELECT artifact_digest FROM model_versions").fetchone() == (digest.upper(),)
    c.close()


def test_a_report_signed_by_a_key_revoked_before_it_was_recorded_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The owner revoked the leaked ci key; its holder signs a pass for their bundle and
    # records it as accepted (check re-verified against every key ever trusted).
    db, ci, _, _ = owner(tmp_path, approvers=False)
    with Registry(db) as reg:
        reg.trust_revoke("ci", actor="owner", reason="leaked")
        keyid = reg.trusted_keys("gate")[0].fingerprint
        head = ":".join(map(str, reg.head()))
    digest = write_bundle(tmp_path / "evil", b"EVIL weights")
    report = write_gate_report(tmp_path / "g2", digest, sign_key=ci[0])
    blobs = []
    for raw in (report.read_bytes(), (report.parent / "gate_attestation.dsse.json").read_bytes()):
        sha = sha256_bytes(raw)
        (db.parent / "registry.db.store" / sha[:2]).mkdir(parents=True, exist_ok=True)
        (db.parent / "registry.db.store" / sha[:2] / sha).write_bytes(raw)
        blobs.append(sha)
    forger = Forger(db)
    mvid = forger.register(tmp_path / "evil", digest, "experiment")
    at = forger.log(
        "report",
        2,
        None,
        None,
        {
            "gate_report_id": 2,
            "report_sha256": blobs[0],
            "attestation_sha256": blobs[1],
            "verdict": "pass",
            "accepted": True,
            "why": "verified",
            "keyid": keyid,
            "path": str(report),
            "items_sha256": None,
        },
        actor="ci",
    )
    forger.c.execute(
        "INSERT INTO gate_reports (id, model_version_id, report_sha256, attestation_sha256, "
        "verdict, accepted, why, keyid, path, actor, recorded_at) "
        "VALUES (2, ?, ?, ?, 'pass', 1, 'verified', ?, ?, 'ci', ?)",
        (mvid, blobs[0], blobs[1], keyid, str(report), at),
    )
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {})
    forger.stage(2, "production")
    forger.log("promote", 2, "experiment", "production", {"gate_report_id": 2})
    err = forger.check(head, capsys)
    assert "gate_reports row 2: recorded as accepted, but its stored attestation does not " in err
    assert "verify with the gate keys trusted when it was recorded" in err


def test_a_revoked_key_trusted_again_by_hand_for_another_role_trusts_nothing(
    tmp_path: Path,
) -> None:
    # A key revoked in one role is revoked in every role: a trust row added by hand (or
    # by an older curagate) for another role leaves it untrusted, replay and store alike.
    db, ci, _, _ = owner(tmp_path, approvers=False)
    with Registry(db) as reg:
        reg.trust_revoke("ci", role="gate", actor="owner", reason="leaked")
        [key] = reg.trusted_keys("gate")
    forger = Forger(db)
    pem = ci[1].read_text()
    at = forger.log(
        "trust",
        None,
        None,
        None,
        {
            "key_id": key.id + 1,
            "fingerprint": key.fingerprint,
            "name": "ci-export",
            "role": "export",
            "public_pem_sha256": sha256_bytes(pem.encode()),
        },
    )
    forger.c.execute(
        "INSERT INTO trusted_keys (id, fingerprint, name, role, public_pem, added_by, added_at) "
        "VALUES (?, ?, 'ci-export', 'export', ?, 'mallory', ?)",
        (key.id + 1, key.fingerprint, pem, at),
    )
    forger.c.commit()
    forger.c.close()
    with Registry(db) as reg:
        state = reg.check()
        [export] = reg.trusted_keys("export")
    assert not export.active and "revoked as a gate key: leaked" in str(export.revoke_reason)
    assert state.gate_keys() == frozenset() and key.fingerprint not in state._active("export")


@pytest.mark.parametrize(
    ("approver", "expected"),
    [
        ("vic", "approve by 'vic', who is not an active user with the approver or admin role"),
        ("ghost", "approve by 'ghost', who is not an active user"),
        ("alice", "is approved by its own requester"),
    ],
)
def test_an_approval_by_someone_who_cannot_approve_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approver: str, expected: str
) -> None:
    # Replay checked only that the approver was not the requester.
    db, tokens, request, head = alice_requests_v2(tmp_path)
    forger = Forger(db, tokens)
    forger.approve(request, approver)
    assert expected in forger.check(head, capsys)


@pytest.mark.parametrize(
    ("action", "why"),
    [
        ("promote", "moves bot v2 to production without a promotion request of that version"),
        # Only `promote` rows were held to the two-person rule: an `archive` row into
        # production passed check --head.
        ("archive", "moves bot v2 to production with an archive row, which only archives"),
    ],
)
def test_production_without_an_approved_request_fails_check_once_there_are_approvers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str, why: str
) -> None:
    # One approver (alice, holding only her own token) moves v2 to production alone: no
    # request, no second person.
    db, ci, _, tokens = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        signed_v2(reg, tmp_path, ci[0])
        [rec] = reg.gate_reports("bot", 2)
        head = ":".join(map(str, reg.head()))
    forger = Forger(db, {"alice": tokens["alice"]})
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {}, actor="alice")
    forger.stage(2, "production")
    forger.log(action, 2, "experiment", "production", {"gate_report_id": rec.id}, "alice")
    assert why in forger.check(head, capsys)


@pytest.mark.slow
def test_an_older_pass_cited_after_a_newer_signed_fail_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The registry refuses the promotion (the newest signed verdict decides); a row
    # written by hand cited the older pass and check passed.
    db, passed, _, head = pass_then_fail(tmp_path)
    forger = Forger(db)
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {}, actor="ci")
    forger.stage(2, "production")
    forger.log("promote", 2, "experiment", "production", {"gate_report_id": passed.id}, "ci")
    err = forger.check(head, capsys)
    assert f"moves bot v2 to production on report {passed.id}, but the report that decided" in err
    assert "is report 3 (fail)" in err


@pytest.mark.slow
def test_a_report_row_that_reuses_an_id_cannot_hide_a_newer_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A second `report` row with the id of the newer signed fail, now "not accepted",
    # replaced it in the replay, so the older pass decided again.
    db, _, failed, head = pass_then_fail(tmp_path)
    forger = Forger(db)
    forger.log("report", 2, None, None, {"gate_report_id": failed.id, "accepted": False}, "ci")
    assert f"report reuses gate_report_id {failed.id}" in forger.check(head, capsys)


def test_a_migrate_row_after_the_migration_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `migrate` rows skipped every rule of a move (no command writes one after migrating).
    db, ci, _, _ = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        signed_v2(reg, tmp_path, ci[0])
        head = ":".join(map(str, reg.head()))
    forger = Forger(db)
    forger.stage(1, "archived")
    forger.log("migrate", 1, "production", "archived", {})
    assert "a migrate row that is not part of a schema-1 migration" in forger.check(head, capsys)


def test_a_row_claiming_migration_after_the_head_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, head, _ = owner(tmp_path, approvers=False)
    forger = Forger(db)
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {"migrated_from_schema": 1})
    assert "claims to be migrated from schema 1 after" in forger.check(head, capsys)


def test_a_rollback_to_a_version_other_than_the_previous_production_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # v1 -> v2 -> v3 in production: `registry rollback` restores v2; rows restored v1.
    db, ci, _, _ = owner(tmp_path, approvers=False)
    with Registry(db) as reg:
        for version in (2, 3):
            digest = write_bundle(tmp_path / f"b{version}", b"v%d" % version)
            reg.register(tmp_path / f"b{version}", name="bot", actor="ci")
            report = write_gate_report(tmp_path / f"g{version}", digest, sign_key=ci[0])
            reg.promote("bot", version, to="production", actor="ci", gate_report=report)
        head = ":".join(map(str, reg.head()))
    forger = Forger(db)
    forger.stage(3, "archived")
    forger.log("rollback", 3, "production", "archived", {}, "ci")
    forger.stage(1, "production")
    forger.log("rollback", 1, "archived", "production", {"gate_report_id": 1}, "ci")
    err = forger.check(head, capsys)
    assert "rolls bot back to v1; the command restores the previous production version (v2)" in err


def test_approving_the_request_of_a_revoked_requester_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, tokens, request, head = alice_requests_v2(tmp_path, then_revoke_alice=True)
    forger = Forger(db, tokens)
    forger.approve(request, "bob")
    err = forger.check(head, capsys)
    assert f"approves request {request}, whose requester's access was revoked since" in err


def test_revoking_a_user_after_the_head_fails_check_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With every approver revoked the registry is back to one person promoting alone.
    db, _, _, _ = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        head = ":".join(map(str, reg.head()))
        reg.user_revoke("alice", actor="mallory")
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check", "--head", head]) == 1
    assert "revokes user 'alice' by mallory" in capsys.readouterr().err


@pytest.mark.parametrize("as_who", ["carol", "owner", "alice"])
def test_an_approver_added_by_hand_beside_an_admin_breaks_the_chain_without_a_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_who: str
) -> None:
    # With an admin (carol) in the registry, a writer of the file who holds no admin's
    # token adds an approver of their own (mallory, with a key they made), in carol's
    # name, in a name of their choosing, or as alice (an approver whose token they hold):
    # mallory and alice would then be the two people of an approval. Refused by the replay
    # itself, so at every open, not only by `check --head`.
    db, _, _, tokens = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        reg.user_add("carol", role="admin", actor="owner")
    mallory = "cgt_" + "m" * 43
    forger = Forger(db, {"alice": tokens["alice"]})
    digest = sha256_bytes(mallory.encode())
    at = forger.log(
        "user_add",
        None,
        None,
        None,
        {
            "user_id": 5,
            "name": "mallory",
            "role": "approver",
            "token_sha256": digest,
            "actor_key": actor_public_key(actor_seed(mallory)),
        },
        as_who,
    )
    forger.c.execute(
        "INSERT INTO users (id, name, role, token_sha256, created_by, created_at) "
        "VALUES (5, 'mallory', 'approver', ?, ?, ?)",
        (digest, as_who, at),
    )
    forger.c.commit()
    forger.c.close()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    err = capsys.readouterr().err
    if as_who == "carol":
        assert "user_add in the name of 'carol' is not signed with carol's actor key" in err
    else:
        assert f"user_add by {as_who!r}, who is not an active admin with an actor key" in err
    with pytest.raises(ChainBroken):
        Registry(db).authenticate(mallory)


def test_a_user_added_by_hand_with_another_users_actor_key_breaks_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # bob's key is public in his user_add row: an account with it (and any token) would let
    # bob sign as two people.
    db, _, _, tokens = owner(tmp_path, approvers=True)
    bob_key = actor_public_key(actor_seed(tokens["bob"]))
    forger = Forger(db)
    payload = {"user_id": 4, "name": "carl", "role": "approver", "actor_key": bob_key}
    forger.log("user_add", None, None, None, {**payload, "token_sha256": "c" * 64}, "owner")
    forger.c.execute(
        "INSERT INTO users (id, name, role, token_sha256, created_by, created_at) "
        "VALUES (4, 'carl', 'approver', ?, 'owner', 'x')",
        ("c" * 64,),
    )
    forger.c.commit()
    forger.c.close()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    assert "adds 'carl' with the actor key of 'bob': one key would sign as two people" in (
        capsys.readouterr().err
    )


def test_a_signature_on_a_row_nobody_checked_is_refused_not_shown_as_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `show` and the service mark a row carrying actor_sig as signed by its actor: a
    # register row in bob's name with a made-up signature must not get that mark.
    db, _, _, _ = owner(tmp_path, approvers=True)
    forger = Forger(db)
    payload = {
        "artifact_digest": "d" * 64,
        "artifact_path": str(tmp_path / "b2"),
        "lineage_sha256": lineage_sha256(LINEAGE),
        "signed_by": None,
        ACTOR_SIG: "Zm9yZ2Vk",
    }
    at = forger.log("register", 2, None, "experiment", payload, "bob")
    forger.c.execute(
        "INSERT INTO model_versions (name, version, artifact_digest, artifact_path, lineage, "
        "signed_by, stage, created_at) VALUES ('bot', 2, ?, ?, ?, NULL, 'experiment', ?)",
        ("d" * 64, str(tmp_path / "b2"), LINEAGE, at),
    )
    forger.c.commit()
    forger.c.close()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    assert "register carries a signature that is not 'bob''s" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("reason", b"x", "column reason holds a bytes, not str"),
        ("version", "two", "column version holds a str, not int or null"),
        ("payload", "[" * 995 + "]" * 995, "payload is not valid (ValueError: nested deeper"),
        # 200 deep parsed where the replay runs and overflowed deeper in the stack
        ("payload", '{"a":' * 200 + "1" + "}" * 200, "(ValueError: nested deeper than 128"),
        ("reason", "ff", "holds text that is not UTF-8"),
    ],
)
def test_a_log_row_of_the_wrong_type_or_nesting_is_tampering_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, value: Any, expected: str
) -> None:
    # Each was exit 3 (a TypeError in the hash, a RecursionError in the payload) or exit 2
    # ("registry database error"), at every command and at `serve`'s start.
    db, _, _, _ = owner(tmp_path, approvers=False)
    c = sqlite3.connect(db)
    rid, prev = c.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
    row = {
        "at": "2030-01-01T00:00:00.000000Z",
        "actor": "mallory",
        "action": "archive",
        "name": "bot",
        "version": 1,
        "from_stage": "production",
        "to_stage": "archived",
        "reason": "",
        "payload": "{}",
    }
    row[column] = value
    # chained as the commands chain (where the row can be hashed), so the replay gets past
    # the hash to the payload
    hashed = "0" * 64 if column == "reason" else row_hash(prev, rid + 1, tuple(row.values()))
    cols = ", ".join(row)
    marks = ", ".join("CAST(x'ff' AS TEXT)" if v == "ff" else "?" for v in row.values())
    c.execute(
        f"INSERT INTO log (id, {cols}, prev_hash, hash) VALUES (?, {marks}, ?, ?)",
        (rid + 1, *(v for v in row.values() if v != "ff"), prev, hashed),
    )
    c.commit()
    c.close()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("lineage", "why"),
    [
        ('{"a":' * 990 + "1" + "}" * 990, "nested deeper than 128 levels"),
        ('{"a":' * 200 + "1" + "}" * 200, "nested deeper than 128 levels"),
        ('{"a":' + "1" * 5000 + "}", "an integer of more than 4300 digits"),
        ('{"a":1e999}', "1e999 overflows a double"),
        ('{"a":1,"a":2}', "an object repeats the key 'a'"),
        ('{"a":"\\ud800"}', "a string that is no text"),
        ("[1]", "not a JSON object"),
    ],
)
def test_a_registered_lineage_python_cannot_read_is_tampering_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lineage: str, why: str
) -> None:
    # Found by re-attack: a register row (chained right) whose table lineage SQLite takes
    # as JSON but Python cannot parse made every command that reads versions exit 3
    # (RecursionError, ValueError), while `check --head` said ok.
    db, _, head, _ = owner(tmp_path, approvers=False)
    digest = write_bundle(tmp_path / "b2", b"v2 weights")
    forger = Forger(db)
    forger.register_as("bot", 2, tmp_path / "b2", digest, lineage=lineage)
    forger.c.commit()
    with pytest.raises(ChainBroken, match="log row 5: registers bot v2"):
        Registry(db)
    err = forger.check(head, capsys)
    assert "log row 5: registers bot v2 (table model_versions row 2) with a lineage" in err
    assert why in err and "the row was written by hand" in err
    for command in (["list"], ["show", "bot", "2"], ["promote", "bot", "2", "--to", "staging"]):
        assert main(["registry", "--db", str(db), *command]) == 1, command
        err = capsys.readouterr().err
        assert why in err and "Traceback" not in err


def test_register_and_migrate_never_write_a_lineage_the_replay_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A MANIFEST.json whose lineage is nested 200 deep verifies; registered, it would be
    # a registry no command opens. So would a schema-1 lineage holding a 5000-digit integer.
    deep: dict[str, Any] = {"run": "runs/demo"}
    for _ in range(200):
        deep = {"a": deep}
    bundle = tmp_path / "deep"
    bundle.mkdir()
    (bundle / "model.safetensors").write_bytes(b"w")
    (bundle / "config.json").write_text('{"model_type": "llama"}\n')
    manifest = BundleManifest(schema_version=1, files=hash_bundle_files(bundle), lineage=deep)
    (bundle / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    db = tmp_path / "reg" / "registry.db"
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "register", str(bundle), "--name", "bot"]) == 2
    err = capsys.readouterr().err
    assert "MANIFEST.json: its lineage cannot be registered (nested deeper than 128" in err

    digest = write_bundle(tmp_path / "b1", b"old weights")
    old = tmp_path / "old.db"
    write_v1_registry(
        old, [("bot", digest, tmp_path / "b1", '{"a":' + "1" * 5000 + "}", "staging")]
    )
    assert main(["registry", "--db", str(old), "migrate"]) == 2
    err = capsys.readouterr().err
    assert "schema-1 table model_versions row 1 (bot v1): its lineage is not JSON" in err
    assert "an integer of more than 4300 digits" in err and "nothing was migrated" in err
    c = sqlite3.connect(old)
    assert c.execute("PRAGMA user_version").fetchone() == (1,)
    c.close()


@pytest.mark.parametrize("table", ["model_versions", "trusted_keys"])
def test_a_blob_where_the_tables_hold_text_is_tampering_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str
) -> None:
    # A lineage or public key stored as a BLOB (SQLite keeps any value in any column):
    # hashing it to compare with the log raised AttributeError, exit 3 at every command.
    db, _, _, _ = owner(tmp_path, approvers=False)
    forger = Forger(db)
    if table == "model_versions":
        digest = write_bundle(tmp_path / "b2", b"v2 weights")
        forger.register_as("bot", 2, tmp_path / "b2", digest)
        trigger, column = "model_versions_identity_is_immutable", "lineage"
        expected = "model_versions row 2: bot v2's lineage is a bytes, not text"
    else:
        trigger, column = "trusted_keys_no_update", "public_pem"
        expected = "trusted_keys row 1: public_pem is a bytes, not text"
    # the trigger that forbids the edit put back as it was, so the schema is the schema's
    (sql,) = forger.c.execute("SELECT sql FROM sqlite_master WHERE name = ?", (trigger,)).fetchone()
    forger.c.execute(f"DROP TRIGGER {trigger}")
    forger.c.execute(
        f"UPDATE {table} SET {column} = CAST({column} AS BLOB) WHERE id = 1 + ?",
        (table == "model_versions",),
    )
    forger.c.execute(sql)
    forger.c.commit()
    forger.c.close()
    for command in (["list"], ["check"]):
        capsys.readouterr()
        assert main(["registry", "--db", str(db), *command]) == 1, command
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [
        ("model_versions", "name", 1),
        ("model_versions", "artifact_path", 1),
        ("gate_reports", "why", 1),
        ("users", "name", 2),
    ],
)
def test_text_that_is_not_utf8_in_a_table_is_tampering_naming_table_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, column: str, row: int
) -> None:
    # `UPDATE model_versions SET name = CAST(X'ff' AS TEXT)`: SQLite keeps the bytes and
    # Python's sqlite3 cannot read them back. Every command answered exit 2 "registry
    # database error (Could not decode to UTF-8 column 'name' ...)", naming neither table
    # nor row, as for a database that cannot be opened; the service likewise.
    from curagate.serve.app import create_app

    db, *_ = owner(tmp_path, approvers=True)
    c = sqlite3.connect(db)
    triggers = c.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    ).fetchall()
    for name, _ in triggers:
        c.execute(f"DROP TRIGGER {name}")
    c.execute(f"UPDATE {table} SET {column} = CAST(X'626fff' AS TEXT) WHERE id = ?", (row,))
    for _, sql in triggers:  # put back as they were, so the schema is the schema's
        c.execute(sql)
    c.commit()
    c.close()
    expected = (
        f"registry table {table} row {row}: column {column} holds text that is not UTF-8 "
        "(b'bo\\xff': invalid start byte at byte 2)"
    )
    for command in (["list"], ["show", "bot", "1"], ["check"], ["users", "list"]):
        capsys.readouterr()
        assert main(["registry", "--db", str(db), *command]) == 1, command
        err = capsys.readouterr().err
        assert expected in err and "the database was changed outside curagate" in err, err
        assert "database error" not in err and "Traceback" not in err
    with pytest.raises(ChainBroken, match=re.escape(expected)):
        Registry(db)
    # The release service: refused at start, as for any other tampering.
    with pytest.raises(ChainBroken, match=re.escape(expected)):
        create_app(db)


def test_a_schema1_registry_with_text_that_is_not_utf8_is_refused_naming_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = write_bundle(tmp_path / "b1", b"old weights")
    old = tmp_path / "old.db"
    write_v1_registry(old, [("bot", digest, tmp_path / "b1", "{}", "staging")])
    c = sqlite3.connect(old)
    (sql,) = c.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'model_versions_identity_is_immutable'"
    ).fetchone()
    c.execute("DROP TRIGGER model_versions_identity_is_immutable")
    c.execute("UPDATE model_versions SET name = CAST(X'ff' AS TEXT)")
    c.execute(sql)
    c.commit()
    c.close()
    assert main(["registry", "--db", str(old), "migrate"]) == 2
    err = capsys.readouterr().err
    assert "schema-1 table model_versions row 1: column name holds text that is not UTF-8" in err
    assert "nothing was migrated" in err and "database error" not in err
    c = sqlite3.connect(old)
    assert c.execute("PRAGMA user_version").fetchone() == (1,)
    c.close()


def test_an_approval_in_a_real_approvers_name_without_their_token_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The log named the actor without authenticating them: a writer of the file (here
    # alice herself, holding only her own token) wrote bob's approval and the promotion.
    db, tokens, request, head = alice_requests_v2(tmp_path)
    forger = Forger(db, {"alice": tokens["alice"]})
    forger.approve(request, "bob")
    err = forger.check(head, capsys)
    assert "approve in the name of 'bob' is not signed with bob's actor key" in err


def test_a_signature_copied_from_an_approvers_real_row_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # bob's signature covers his row and its place in the log: pasted into an approval
    # of another request it proves nothing.
    db, ci, _, tokens = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        signed_v2(reg, tmp_path, ci[0])
        alice, bob = reg.authenticate(tokens["alice"]), reg.authenticate(tokens["bob"])
        first = reg.request_promotion("bot", 2, to="production", user=alice)
        reg.approve(first.id, user=bob)
        real = next(r for r in reg.log("bot", 2) if r.action == "approve").data[ACTOR_SIG]
        digest = write_bundle(tmp_path / "b3", b"v3 weights")
        report = write_gate_report(tmp_path / "g3", digest, sign_key=ci[0])
        reg.register(tmp_path / "b3", name="bot", actor="ci", gate_report=report)
        second = reg.request_promotion("bot", 3, to="production", user=alice)
        head = ":".join(map(str, reg.head()))
    forger = Forger(db)
    forger.log(
        "approve", 3, "experiment", "production", {"request_id": second.id, ACTOR_SIG: real}, "bob"
    )
    err = forger.check(head, capsys)
    assert "approve in the name of 'bob' is not signed with bob's actor key" in err


@pytest.mark.parametrize(
    ("action", "frm", "to", "why"),
    [
        ("promote", "experiment", "archived", "a promotion goes forward, and not to archived"),
        ("rollback", "experiment", "staging", "with a rollback row, which archives production"),
    ],
)
def test_a_move_no_command_makes_fails_check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    action: str,
    frm: str,
    to: str,
    why: str,
) -> None:
    db, ci, head, _ = owner(tmp_path, approvers=False)
    with Registry(db) as reg:
        signed_v2(reg, tmp_path, ci[0])
    forger = Forger(db)
    forger.stage(2, to)
    forger.log(action, 2, frm, to, {})
    assert why in forger.check(head, capsys)


def test_a_payload_number_no_integer_holds_is_tampering_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # {"key_id": 1e999} is infinity in Python: int() raised OverflowError, exit 3 for
    # `check` and every command (and the service's start).
    db, _, head, _ = owner(tmp_path, approvers=False)
    forger = Forger(db)
    forger.log("revoke", None, None, None, '{"key_id":1e999}')
    assert "payload is not valid" in forger.check(head, capsys)


@pytest.mark.slow
def test_a_promotion_on_another_report_than_its_request_was_made_on_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # alice requested v2 on its signed pass; a newer signed warn came, alice waived it, and
    # bob's approval shipped v2 on the warn and alice's waiver: check passed.
    db, tokens, request, _ = alice_requests_v2(tmp_path)
    with Registry(db) as reg:
        [passed] = reg.gate_reports("bot", 2)
        digest = reg.get("bot", 2).artifact_digest
        time.sleep(1.1)  # signed times have whole seconds
        ci_key = tmp_path / "ci" / PRIVATE_KEY_NAME
        warn = reg.add_gate_report(
            "bot", 2, write_gate_report(tmp_path / "w", digest, "warn", sign_key=ci_key), actor="ci"
        )
        alice = reg.authenticate(tokens["alice"])
        waiver = reg.waive("bot", 2, user=alice, reason="mine", expires="1d")
        assert reg.promotion_request(request).status == "stale"
        head = ":".join(map(str, reg.head()))
    forger = Forger(db, {"bob": tokens["bob"]})
    forger.approve(request, "bob")
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {}, actor="bob")
    forger.stage(2, "production")
    moved = {"gate_report_id": warn.id, "waiver_id": waiver.id, "request_id": request}
    forger.log("promote", 2, "experiment", "production", {**moved, "requested_by": "alice"}, "bob")
    err = forger.check(head, capsys)
    assert (
        f"on request {request} but on report {warn.id} (waiver {waiver.id}), not the report "
        f"{passed.id} it was requested on" in err
    )


@pytest.mark.slow
def test_a_rollback_onto_a_warn_its_own_approver_waived_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command refuses it (a waived warn ships on two people); rows written by hand with
    # alice's token put v1 back on her own waiver.
    db, tokens, request, _ = alice_requests_v2(tmp_path)
    with Registry(db) as reg:
        reg.approve(request, user=reg.authenticate(tokens["bob"]))  # v2 in production
        digest = reg.get("bot", 1).artifact_digest
        time.sleep(1.1)  # signed times have whole seconds: the warn is v1's newest verdict
        ci_key = tmp_path / "ci" / PRIVATE_KEY_NAME
        warn = reg.add_gate_report(
            "bot", 1, write_gate_report(tmp_path / "w", digest, "warn", sign_key=ci_key), actor="ci"
        )
        alice = reg.authenticate(tokens["alice"])
        waiver = reg.waive("bot", 1, user=alice, reason="mine", expires="1d")
        head = ":".join(map(str, reg.head()))
    forger = Forger(db, tokens)
    forger.minute = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    forger.stage(2, "archived")
    forger.log("rollback", 2, "production", "archived", {}, "alice")
    forger.stage(1, "production")
    moved = {"gate_report_id": warn.id, "waiver_id": waiver.id}
    forger.log("rollback", 1, "archived", "production", moved, "alice")
    err = forger.check(head, capsys)
    assert (
        f"rolls bot v1 back into production on waiver {waiver.id}, granted since it last "
        "shipped by the approver who rolls back" in err
    )


@pytest.mark.slow
def test_an_older_pass_cited_after_a_fail_whose_key_was_trusted_since_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The newer fail was signed by a key trusted only after it was recorded (refused
    # then): from the trust row on it decides, and a promotion on the older pass, which
    # the registry refuses, passed `check` when written by hand.
    db, passed, failed, head = pass_then_fail(tmp_path, keypair(tmp_path / "new-key"))
    forger = Forger(db)
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {}, actor="ci")
    forger.stage(2, "production")
    forger.log("promote", 2, "experiment", "production", {"gate_report_id": passed.id}, "ci")
    err = forger.check(head, capsys)
    assert f"on report {passed.id}, but the report that decided then" in err
    assert f"is report {failed.id} (fail)" in err


def test_check_head_says_what_it_verified_of_the_rows_after_the_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rows after the head pass `check --head` when they follow the rules; it says which
    # were signed by their actor, which name an actor they do not prove, and that the
    # bundles register rows name were not read (a lineage written by hand is found by
    # `--bundles` and by every promotion).
    db, _, _, _ = alice_requests_v2(tmp_path)
    with Registry(db) as reg:
        head = [r for r in reg.log() if r.action == "user_add"][-1]
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check", "--head", f"{head.id}:{head.hash}"]) == 0
    out = capsys.readouterr().out
    assert (
        "note: 3 log row(s) after the recorded head; signed with their actor's key: request 1; "
        "unsigned, their actor not proven: register 1, report 1. Each was replayed" in out
    )
    assert "bundles that register rows name were not read (`--bundles`" in out
    assert main(["registry", "--db", str(db), "check"]) == 0
    assert "after the recorded head" not in capsys.readouterr().out
