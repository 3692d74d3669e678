"""Twins: the same bytes registered as two versions, which a registry migrated from schema
1 (or written before one version per artifact) may hold and keeps working. Every gate
verdict on the same bytes counts together: the newest signed one decides for each twin.

Found by re-attack, with honest commands only: bot v1 had a signed pass, then a newer signed
fail; `report bot2 1` recorded the older pass for its twin, and `promote bot2 1 --to
production` shipped the held-back bytes (exit 0)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.errors import CheckFailed
from curagate.registry import Registry
from curagate.registry.chain import VERDICTS_PER_ARTIFACT, canonical

from .registry_fixtures import keypair, write_bundle, write_gate_report, write_v1_registry
from .test_forged_log_rows import Forger

# Seconds each (registries, gates or splits built end to end): the full suite's tier.
pytestmark = pytest.mark.slow

LINEAGE = canonical({"adapter_sha256": "a" * 64, "run": "runs/demo"})  # write_bundle's


def migrated_twins(
    tmp_path: Path, *, fail: bool = True, readme: str | None = None
) -> tuple[Path, Path, Path, str]:
    """A schema-1 registry, migrated, with bot v1 (production) and bot2 v1 (staging) holding
    the same bytes (with ``readme``, a README.md among them), a trusted gate key, and bot
    v1's signed pass then (with ``fail``) a newer signed fail, recorded for bot v1 only.
    Returns the database, the pass and the fail (gate_report.json paths) and the head
    recorded then."""
    digest = write_bundle(tmp_path / "b1", b"twin weights", readme)
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


def test_show_card_and_the_overview_state_the_verdict_promotion_goes_by(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by review: promotion ranked every report on the bytes, but `show`, the model
    # card and the overview (the service's pages and API) each went by the version's own
    # reports: bot2 v1 listed its older pass as what decides while promote refused it.
    db, passed, _, _ = migrated_twins(tmp_path, readme="# bot\n\nA support bot.\n")
    assert registry(db, "report", "bot2", "1", "--gate-report", str(passed)) == 0
    capsys.readouterr()
    with Registry(db) as reg:
        listed = {o["version"].ref: (o["report_id"], o["verdict"]) for o in reg.overview()}
        assert listed == {"bot v1": (2, "fail"), "bot2 v1": (2, "fail")}
        decider = reg.deciding_report(reg.get("bot2", 1))
        assert decider is not None and decider[0].id == 2 and decider[1].verdict == "fail"
    assert registry(db, "card", "bot2", "1") == 0
    card = capsys.readouterr().out
    assert "Verdict: **fail**" in card
    assert "Decided by report 2 of bot v1: the verdict of bot2 v1 counts the gate" in card
    assert registry(db, "show", "bot2", "1") == 0
    out = capsys.readouterr().out
    assert (
        "  verdict   fail: report 2 of bot v1, verified today; the verdict of bot2 v1 counts "
        "the gate reports of bot v1 too (the same bytes, registered again by a curagate "
        "before one version per artifact" in out
    )
    assert registry(db, "show", "bot2", "1", "--json") == 0
    decision = json.loads(capsys.readouterr().out)["decision"]
    assert decision["report_id"] == 2 and decision["verdict"] == "fail"
    assert decision["verified_now"] is True
    assert decision["recorded_for"] == {"name": "bot", "version": 1}
    assert decision["twins"] == [{"name": "bot", "version": 1}]
    # The other twin counts bot2 v1's reports too, and says so.
    assert registry(db, "show", "bot", "1") == 0
    out = capsys.readouterr().out
    assert "  verdict   fail: report 2, verified today; the verdict of bot v1 counts the " in out
    assert "gate reports of bot2 v1 too" in out
    assert registry(db, "promote", "bot2", "1", "--to", "production") == 1


def test_a_twins_pass_not_yet_recorded_for_the_version_is_shown_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _, _ = migrated_twins(tmp_path, fail=False)
    capsys.readouterr()
    assert registry(db, "show", "bot2", "1") == 0
    out = capsys.readouterr().out
    assert (
        "  verdict   pass: report 1 of bot v1, verified today (it backs bot2 v1 once "
        "recorded for it: `curagate registry report bot2 1 --gate-report FILE`)" in out
    )
    assert registry(db, "promote", "bot2", "1", "--to", "production") == 1


def test_a_waiver_goes_by_every_verdict_on_the_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # bot2 v1's own warn, waived; then bot v1's newer signed fail on the same bytes: the
    # waiver backs nothing (it was listed "active" while promotion refused), and the warn
    # can no longer be waived.
    db, _, _, _ = migrated_twins(tmp_path, fail=False)
    key = tmp_path / "ci" / "signing_key.pem"
    with Registry(db) as reg:
        digest = reg.get("bot2", 1).artifact_digest
    time.sleep(1.1)  # signed times have whole seconds
    warn = write_gate_report(tmp_path / "warn", digest, "warn", sign_key=key)
    time.sleep(1.1)
    failed = write_gate_report(tmp_path / "fail2", digest, "fail", sign_key=key)
    with Registry(db) as reg:
        assert reg.add_gate_report("bot2", 1, warn, actor="ci").accepted
        tokens = {n: reg.user_add(n, role="approver", actor="owner")[1] for n in ("alice", "bob")}
        alice = reg.authenticate(tokens["alice"])
        assert alice is not None
        reg.waive("bot2", 1, user=alice, reason="known flake", expires="7d")
        assert [w.state() for w in reg.waivers("bot2", 1)] == ["active"]
        fail = reg.add_gate_report("bot", 1, failed, actor="ci")
        [waiver] = reg.waivers("bot2", 1)
        assert not waiver.active()
        assert waiver.state() == (
            f"superseded: a newer report decides (report {fail.id} of bot v1, the same bytes)"
        )
        with pytest.raises(
            CheckFailed,
            match=rf"the report that decides for it is report {fail.id} of bot v1 \(verdict "
            r"fail\) \(the verdict of bot2 v1 counts the gate reports of bot v1 too",
        ):
            reg.waive("bot2", 1, user=alice, reason="again", expires="7d")


def test_a_twins_warn_is_waived_once_recorded_for_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _, _ = migrated_twins(tmp_path, fail=False)
    with Registry(db) as reg:
        digest = reg.get("bot2", 1).artifact_digest
    time.sleep(1.1)  # signed times have whole seconds
    warn = write_gate_report(
        tmp_path / "warn", digest, "warn", sign_key=tmp_path / "ci" / "signing_key.pem"
    )
    with Registry(db) as reg:
        report = reg.add_gate_report("bot", 1, warn, actor="ci")
        token = reg.user_add("alice", role="approver", actor="owner")[1]
        alice = reg.authenticate(token)
        assert alice is not None
        with pytest.raises(
            CheckFailed,
            match=rf"the warn that decides for it is report {report.id} of bot v1 .*; record it "
            "for bot2 v1 first",
        ):
            reg.waive("bot2", 1, user=alice, reason="known flake", expires="7d")
        reg.add_gate_report("bot2", 1, warn, actor="ci")
        assert reg.waive("bot2", 1, user=alice, reason="known flake", expires="7d").active()
