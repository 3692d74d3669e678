"""An export key revoked while a move hashes the bundle (outside the write lock: minutes for
real weights) stops the move once it takes the lock, and a log that shows a move into
production after its signer's revocation fails `registry check`.

Found by attack: promote, rollback, request and approve looked the export key up when they
began hashing; `trust revoke` during the hashing let the move through afterwards (exit 0,
and `registry check` said ok). Each test drives the two real halves of the call: the
hashing (:meth:`Registry._verify_bytes`), then the revocation through the public API, then
the half that runs in the write lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from curagate.artifacts import iso_utc
from curagate.cli import main
from curagate.errors import CheckFailed
from curagate.registry import Registry
from curagate.registry.chain import (
    SIGNER_IN_LOCK,
    VERDICTS_PER_ARTIFACT,
    canonical,
    row_hash,
)
from curagate.signing import sign_bundle

from .registry_fixtures import keypair, write_bundle, write_gate_report

REVOKED = "which is revoked: its signature no longer vouches for these bytes"


def setup(tmp_path: Path) -> tuple[Path, str, str]:
    """A registry trusting gate key "ci" and export keys "exp" (signs bot v1) and "exp2"
    (signs bot v2); both registered with a signed pass. Returns the db and the digests."""
    db = tmp_path / "reg" / "registry.db"
    gate, exp, exp2 = (keypair(tmp_path / k) for k in ("ci", "exp", "exp2"))
    digests = []
    with Registry(db) as reg:
        reg.trust_add(gate[1], role="gate", name="ci", actor="owner")
        reg.trust_add(exp[1], role="export", name="exp", actor="owner")
        reg.trust_add(exp2[1], role="export", name="exp2", actor="owner")
        for label, key in (("b1", exp), ("b2", exp2)):
            digest = write_bundle(tmp_path / label, f"{label} weights".encode())
            sign_bundle(tmp_path / label, key[0])
            report = write_gate_report(tmp_path / f"g-{label}", digest, sign_key=gate[0])
            reg.register(tmp_path / label, name="bot", actor="ci", gate_report=report)
            digests.append(digest)
    return db, digests[0], digests[1]


def test_promote_refuses_a_version_whose_export_key_was_revoked_while_it_hashed(
    tmp_path: Path,
) -> None:
    db, _, _ = setup(tmp_path)
    with Registry(db) as reg:
        reg._verify_bytes(reg.get("bot", 1))  # the first half: passes, the key trusted
        reg.trust_revoke("exp", role="export", actor="owner", reason="leaked")
        rows = reg.head()[0]
        for to in ("production", "staging"):
            with pytest.raises(CheckFailed, match=REVOKED):
                reg._promote_verified("bot", 1, to, "ci", "go", None, None, bytes_refusal=None)
        assert reg.get("bot", 1).stage == "experiment"
        assert reg.head()[0] == rows  # nothing logged
        # The same refusal as when the revocation came first.
        with pytest.raises(CheckFailed, match=REVOKED):
            reg.promote("bot", 1, to="production", actor="ci")


def test_rollback_refuses_a_version_whose_export_key_was_revoked_while_it_hashed(
    tmp_path: Path,
) -> None:
    db, _, _ = setup(tmp_path)
    with Registry(db) as reg:
        reg.promote("bot", 1, to="production", actor="ci")
        reg.promote("bot", 2, to="production", actor="ci")
        previous = reg.rollback_target("bot")
        assert previous is not None and previous.version == 1
        reg._verify_bytes(previous)
        reg.trust_revoke("exp", role="export", actor="owner", reason="leaked")
        with pytest.raises(CheckFailed, match=REVOKED):
            reg._rollback_verified("bot", previous, "ci", "incident", None, None, None)
        assert reg.get("bot", 2).stage == "production"
        assert reg.get("bot", 1).stage == "archived"
    assert main(["registry", "--db", str(db), "check"]) == 0


def test_request_and_approve_refuse_a_version_whose_export_key_was_revoked_meanwhile(
    tmp_path: Path,
) -> None:
    db, _, _ = setup(tmp_path)
    with Registry(db) as reg:
        tokens = {n: reg.user_add(n, role="approver", actor="owner")[1] for n in ("al", "bo")}
        al, bo = (reg.authenticate(tokens[n]) for n in ("al", "bo"))
        assert al is not None and bo is not None
        # request: hashed, then revoked, then the locked half
        reg._verify_bytes(reg.get("bot", 2))
        reg.trust_revoke("exp2", role="export", actor="owner", reason="leaked")
        for to in ("production", "staging"):
            with pytest.raises(CheckFailed, match=REVOKED):
                reg._request_verified("bot", 2, to, al, "", None, None)
        assert reg.promotion_requests("bot") == []
        # approve: requested while trusted, hashed, then revoked, then the locked half
        request = reg.request_promotion("bot", 1, to="production", user=al)
        reg._verify_bytes(reg.get("bot", 1))
        reg.trust_revoke("exp", role="export", actor="owner", reason="leaked")
        with pytest.raises(CheckFailed, match=REVOKED):
            reg._approve_verified(request.id, bo, "")
        assert reg.get("bot", 1).stage == "experiment"
        assert reg.promotion_request(request.id).approved_by is None


def forged_promote_after_revoke(
    tmp_path: Path, to: str = "production", *, marked: bool = True, shipped_before: bool = False
) -> tuple[Path, int, int]:
    """bot v1 (signed by "exp") moved to ``to`` by a log row appended after the row that
    revoked "exp", as the race wrote it: ``marked``, with the fields this curagate writes
    on a move into production; else as an older curagate wrote it. ``shipped_before``: bot
    v2 went to production (through this curagate) and out again before the revocation. Returns the db
    and both row ids."""
    db, _, _ = setup(tmp_path)
    with Registry(db) as reg:
        if shipped_before:
            reg.promote("bot", 2, to="production", actor="ci")
            reg.promote("bot", 2, to="archived", actor="ci")
        reg.trust_revoke("exp", role="export", actor="owner", reason="leaked")
        revoke_row = reg.head()[0]
        (report,) = reg.gate_reports("bot", 1)
    c = sqlite3.connect(db)
    rid, prev = c.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
    fields: dict[str, object] = {"gate_report_id": report.id}
    if marked and to == "production":
        fields |= {VERDICTS_PER_ARTIFACT: True, SIGNER_IN_LOCK: True}
    payload = canonical(fields)
    # Dated now, after the rows before it, as an older curagate dated its rows.
    f = (iso_utc(), "ci", "promote", "bot", 1, "experiment", to)
    f = (*f, "", payload)
    c.execute(
        "INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (rid + 1, *f, prev, row_hash(prev, rid + 1, f)),
    )
    c.execute("UPDATE model_versions SET stage = ? WHERE name = 'bot' AND version = 1", (to,))
    c.commit()
    c.close()
    return db, revoke_row, rid + 1


def test_a_move_into_production_after_its_signers_revocation_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, revoke_row, move_row = forged_promote_after_revoke(tmp_path)
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    err = capsys.readouterr().err
    assert f"registry log row {move_row}: moves bot v1 to production" in err
    assert f"which log row {revoke_row} revoked before it" in err
    assert "Traceback" not in err


def test_such_a_move_an_older_curagate_wrote_stays_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by re-attack: held to the rule, a registry where an older curagate let the
    race through (or, before 4aa3733, any revoked export key) could not be opened at all,
    not even to archive or roll back the version. The rule holds from the first move that
    this curagate wrote on (it carries SIGNER_IN_LOCK)."""
    db, _, _ = forged_promote_after_revoke(tmp_path, marked=False)
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 0
    with Registry(db) as reg:
        assert reg.get("bot", 1).stage == "production"
        # and `check --bundles` still names it, shipped after the revocation
        [(kind, problem)] = reg.check_bundles()
        assert kind == "revoked" and "AFTER the key's revocation" in problem
    # After a move this curagate wrote, a row without the field is held all the same.
    db2, revoke_row, move_row = forged_promote_after_revoke(
        tmp_path / "later", marked=False, shipped_before=True
    )
    capsys.readouterr()
    assert main(["registry", "--db", str(db2), "check"]) == 1
    err = capsys.readouterr().err
    assert f"registry log row {move_row}: moves bot v1 to production" in err
    assert f"which log row {revoke_row} revoked before it" in err


def test_check_bundles_tells_a_version_shipped_after_the_revocation_from_one_before(
    tmp_path: Path,
) -> None:
    db, _, _ = setup(tmp_path)
    with Registry(db) as reg:
        reg.promote("bot", 1, to="production", actor="ci")
        reg._verify_bytes(reg.get("bot", 2))
        reg.trust_revoke("exp", role="export", actor="owner", reason="leaked")
        revoke_row = reg.head()[0]
        [(kind, problem)] = reg.check_bundles()
        assert kind == "revoked" and f"revoked at log row {revoke_row}, after it moved" in problem
    # Into production the replay refuses it (above); staging, which ships too, is found here.
    db2, revoke_row2, move_row = forged_promote_after_revoke(tmp_path / "forged", "staging")
    with Registry(db2) as reg:
        problems = reg.check_bundles()
    assert [k for k, _ in problems] == ["revoked"]
    assert (
        f"moved to staging at log row {move_row}, AFTER the key's revocation at log row "
        f"{revoke_row2}: it shipped on a revoked key"
    ) in problems[0][1]
