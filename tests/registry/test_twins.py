"""Twins: the same bytes registered as two versions, which a registry migrated from schema
1 (or written before one version per artifact) may hold and keeps working. Every gate
verdict on the same bytes counts together: the newest signed one decides for each twin.

Found by re-attack, with honest commands only: bot v1 had a signed pass, then a newer signed
fail; `report bot2 1` recorded the older pass for its twin, and `promote bot2 1 --to
production` shipped the held-back bytes (exit 0)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.errors import CheckFailed
from curagate.registry import Registry
from curagate.registry.chain import VERDICTS_PER_ARTIFACT, canonical

from .registry_fixtures import keypair, write_bundle, write_gate_report, write_v1_registry
from .test_forged_log_rows import Forger

LINEAGE = canonical({"adapter_sha256": "a" * 64, "run": "runs/demo"})  # write_bundle's


def migrated_twins(tmp_path: Path, *, fail: bool = True) -> tuple[Path, Path, Path, str]:
    """A schema-1 registry, migrated, with bot v1 (production) and bot2 v1 (staging) holding
    the same bytes, a trusted gate key, and bot v1's signed pass then (with ``fail``) a newer
    signed fail, recorded for bot v1 only. Returns the database, the pass and the fail
    (gate_report.json paths) and the head recorded then."""
    digest = write_bundle(tmp_path / "b1", b"twin weights")
    db = tmp_path / "old.db"
    write_v1_registry(
        db,
        [
            ("bot", digest, tmp_path / "b1", LINEAGE, "production"),
            ("bot2", digest, tmp_path / "b1", LINEAGE, "staging"),
        ],
    )
    assert main(["registry", "--db", str(db), "migrate"]) == 0
    ci = keypair(tmp_path / "ci")
    passed = write_gate_report(tmp_path / "pass", digest, sign_key=ci[0])
    time.sleep(1.1)  # signed times have whole seconds
    failed = write_gate_report(tmp_path / "fail", digest, "fail", sign_key=ci[0])
    with Registry(db) as reg:
        reg.trust_add(ci[1], role="gate", name="ci", actor="owner")
        reg.add_gate_report("bot", 1, passed, actor="ci")
        if fail:
            reg.add_gate_report("bot", 1, failed, actor="ci")
        head = ":".join(map(str, reg.head()))
    return db, passed, failed, head


def registry(db: Path, *args: str) -> int:
    return main(["registry", "--db", str(db), *args])


def test_a_twins_older_pass_never_ships_its_bytes_past_the_other_twins_newer_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, passed, _, _ = migrated_twins(tmp_path)
    # Recording the older pass for the twin is allowed (it is a true, signed statement)...
    assert registry(db, "report", "bot2", "1", "--gate-report", str(passed)) == 0
    capsys.readouterr()
    # ...but it never decides: bot v1's newer signed fail is on the same bytes.
    assert registry(db, "promote", "bot2", "1", "--to", "production") == 1
    err = capsys.readouterr().err
    assert "bot2 v1: promotion to production needs" in err
    assert "newest recorded: report 2 of bot v1, the same bytes: fail" in err
    assert "its bytes are also registered as bot v1" in err
    assert "every gate verdict on them counts together" in err
    # offered with the promotion, too
    assert (
        registry(db, "promote", "bot2", "1", "--to", "production", "--gate-report", str(passed))
        == 1
    )
    assert "report 2 of bot v1, the same bytes: fail" in capsys.readouterr().err
    with Registry(db) as reg:
        assert reg.get("bot2", 1).stage == "staging"
        reg.check()


def test_a_request_and_its_approval_go_by_every_verdict_on_the_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, passed, failed, _ = migrated_twins(tmp_path, fail=False)
    with Registry(db) as reg:
        reg.add_gate_report("bot2", 1, passed, actor="ci")
        tokens = {n: reg.user_add(n, role="approver", actor="owner")[1] for n in ("alice", "bob")}
        alice, bob = (reg.authenticate(tokens[n]) for n in ("alice", "bob"))
        assert alice is not None and bob is not None
        request = reg.request_promotion("bot2", 1, to="production", user=alice)
        # The newer fail reaches bot v1 after the request: the approval ships nothing.
        reg.add_gate_report("bot", 1, failed, actor="ci")
        with pytest.raises(CheckFailed, match="report 3 of bot v1, the same bytes: fail"):
            reg.approve(request.id, user=bob)
        with pytest.raises(CheckFailed, match="report 3 of bot v1, the same bytes: fail"):
            reg.request_promotion("bot2", 1, to="production", user=bob)
        assert reg.get("bot2", 1).stage == "staging"
        reg.check()


def test_a_rollback_never_restores_a_twin_the_other_twins_newer_fail_holds_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, failed, _ = migrated_twins(tmp_path, fail=False)
    digest = write_bundle(tmp_path / "b2", b"new weights")
    with Registry(db) as reg:
        # bot v2 replaces bot v1 in production; then bot v1's bytes get a newer signed
        # fail, recorded for its twin bot2 v1.
        report = write_gate_report(
            tmp_path / "g2", digest, sign_key=tmp_path / "ci" / "signing_key.pem"
        )
        reg.register(tmp_path / "b2", name="bot", actor="ci", gate_report=report)
        reg.promote("bot", 2, to="production", actor="ci")
        reg.add_gate_report("bot2", 1, failed, actor="ci")
        with pytest.raises(
            CheckFailed,
            match=r"rollback refused: bot v1: .*report 3 of bot2 v1, the same bytes: fail",
        ):
            reg.rollback("bot", actor="ci")
        assert reg.get("bot", 2).stage == "production"
        reg.check()


def test_a_twins_newer_pass_backs_the_other_once_recorded_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, passed, _, _ = migrated_twins(tmp_path, fail=False)
    capsys.readouterr()
    assert registry(db, "promote", "bot2", "1", "--to", "production") == 1
    err = capsys.readouterr().err
    assert "report 1 of bot v1, the same bytes: pass, which backs bot2 v1 once recorded" in err
    assert "`curagate registry report bot2 1 --gate-report FILE`" in err
    assert (
        registry(db, "promote", "bot2", "1", "--to", "production", "--gate-report", str(passed))
        == 0
    )
    with Registry(db) as reg:
        assert reg.get("bot2", 1).stage == "production"
        move = [r for r in reg.log("bot2", 1) if r.to_stage == "production"][-1]
        assert move.data[VERDICTS_PER_ARTIFACT] is True
        reg.check()


@pytest.mark.parametrize("flagged", [False, True])
def test_check_holds_a_move_written_by_hand_to_every_verdict_on_its_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flagged: bool
) -> None:
    # A promotion of bot2 v1 on its older pass, past bot v1's newer fail, appended by hand.
    # `check --head` refuses it. Without a head, one as an older curagate wrote it (no
    # `verdicts_per_artifact`) stays; once a move decided on every verdict is in the log,
    # every later one is held to it.
    db, passed, _, head = migrated_twins(tmp_path)
    with Registry(db) as reg:
        report = reg.add_gate_report("bot2", 1, passed, actor="ci")
    forger = Forger(db)
    forger.c.execute("UPDATE model_versions SET stage = 'production' WHERE name = 'bot2'")
    payload = {"gate_report_id": report.id, **({VERDICTS_PER_ARTIFACT: True} if flagged else {})}
    forger.log("promote", 1, "staging", "production", payload, "ci", "bot2")
    forger.c.commit()
    capsys.readouterr()
    why = (
        "moves bot2 v1 to production on report 3, but the report that decided then, the "
        "newest one that verifies with the gate keys trusted at that row, is report 2 (fail), "
        "recorded for bot v1 (the same bytes)"
    )
    if flagged:
        assert registry(db, "check") == 1
        assert why in capsys.readouterr().err
    else:
        assert registry(db, "check") == 0
    assert why in forger.check(head, capsys)
