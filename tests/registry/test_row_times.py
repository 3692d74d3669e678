"""A log row's time is its writer's clock, and never goes before the previous row's: a
writer whose clock is behind the log is refused (or, within clock jitter, dated at the last
row's time), and `registry check` reports a row dated before its predecessor or ahead of the
checker's clock. Found by attack: an approver whose clock was 30 s behind approved on a
waiver that had expired by the log's own order of rows, and a granter whose clock was a year
ahead wrote a "90d" waiver that lasted 15 months; `check` passed both.

Rows at other clocks' times come from a schema-1 registry (its history keeps the times an
older curagate wrote, whatever they were) migrated through `registry migrate`."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from curagate.artifacts import iso_utc
from curagate.cli import main
from curagate.registry import Registry
from curagate.registry.schema import SCHEMA_V1
from curagate.registry.store import CLOCK_TOLERANCE, MAX_WAIVER_DAYS, Waiver

from .registry_fixtures import keypair, write_bundle, write_gate_report
from .test_forged_log_rows import Forger


def v1_registry(tmp_path: Path, times: list[datetime]) -> Path:
    """A schema-1 registry migrated to the current schema: bot v1 registered at
    ``times[0]``, then promoted to staging and production at the next two times (log rows
    1-3 carry these times as written)."""
    bundle = tmp_path / "b1"
    digest = write_bundle(bundle, b"one" * 16)
    db = tmp_path / "reg" / "registry.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA_V1)
    at = [iso_utc(t) for t in times]
    conn.execute(
        "INSERT INTO model_versions VALUES (1, 'bot', 1, ?, ?, ?, '{\"run\": \"r\"}', "
        "'production', ?)",
        (digest, "f" * 64, str(bundle), at[0]),
    )
    moves = [("register", None, "experiment"), ("promote", "experiment", "staging")]
    moves.append(("promote", "staging", "production"))
    for i, (action, frm, to) in enumerate(moves, start=1):
        conn.execute(
            "INSERT INTO transitions VALUES (?, 1, ?, ?, ?, 'owner', ?, 'r', NULL)",
            (i, action, frm, to, at[i - 1]),
        )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    assert main(["registry", "--db", str(db), "migrate"]) == 0
    return db


def test_a_row_an_older_curagate_dated_backwards_is_a_note_and_one_after_the_rule_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An older curagate wrote the promotion to production with a clock 30 s behind the
    # promotion to staging before it: found by re-attack, `check` then failed for ever on
    # every such registry (1 ms of NTP jitter did it). Rows written before the first row a
    # curagate that keeps row times in order wrote (it says so in the row) are a note.
    now = datetime.now(UTC) - timedelta(hours=1)
    db = v1_registry(tmp_path, [now, now + timedelta(seconds=40), now + timedelta(seconds=10)])
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 0
    out = capsys.readouterr().out
    assert "note: registry log row 3 (promote by owner) is dated " in out
    assert f"30.0 s before row 2 ({iso_utc(now + timedelta(seconds=40))})" in out
    assert "written before log row times were kept in order" in out
    with Registry(db) as reg:
        reg.trust_add(keypair(tmp_path / "keys")[1], role="gate", name="ci", actor="owner")
        reg.check()
        assert reg.log()[-1].data["row_times_ordered"] is True  # TIMES_ORDERED
    # After that row, a row dated backwards fails, marked as an older curagate's or not
    # (what a forger would write to pass for one).
    forger = Forger(db)
    forger.minute = iso_utc(now)[:16]
    forger.log("archive", 1, "production", "archived", {}, actor="owner")
    forger.stage(1, "archived")
    forger.c.commit()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    out, err = capsys.readouterr()
    assert "registry log row 5 (archive by owner) is dated " in err
    assert "after log row 4 from which curagate keeps row times in order" in err
    assert "note: registry log row 3 (promote by owner)" in out and "Traceback" not in err


def test_check_reports_every_problem_and_still_checks_the_bundles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: the first row dated backwards stopped `check`, so a production
    # bundle changed since was never reported, nor any later bad row.
    db = v1_registry(tmp_path, [datetime.now(UTC) - timedelta(hours=1)] * 3)
    with Registry(db) as reg:
        for n in (2, 3):
            write_bundle(tmp_path / f"b{n}", bytes([n]) * 16)
            reg.register(tmp_path / f"b{n}", name="bot", actor="ci")
    forger = Forger(db)
    for n, minutes in ((2, 50), (3, 55)):  # each dated before the row it follows
        forger.minute = iso_utc(datetime.now(UTC) - timedelta(minutes=minutes))[:16]
        forger.log("archive", n, "experiment", "archived", {}, actor="owner")
        forger.stage(n, "archived")
    forger.c.commit()
    (tmp_path / "b1" / "model.safetensors").write_bytes(b"EVIL" * 16)
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check", "--bundles"]) == 1
    out, err = capsys.readouterr()
    assert "FAILED registry log row 6 (archive by owner) is dated " in out
    assert "FAILED registry log row 7 (archive by owner) is dated " in out
    assert "CHANGED production: bot v1: its bytes are not the registered ones" in out
    assert "2 problems in the log and tables, each on its FAILED line above" in err
    assert "1 shipped bundle(s) are not the bytes that were registered" in err
    assert "Traceback" not in err


def test_a_row_dated_ahead_of_the_clock_fails_check_and_refuses_writers_behind_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The last row was written by a machine whose clock is a year ahead: every writer with
    # a right clock is behind it, and is refused, naming both times and which clock to fix.
    ahead = datetime.now(UTC) + timedelta(days=365)
    earlier = datetime.now(UTC) - timedelta(hours=1)
    db = v1_registry(tmp_path, [earlier, earlier, ahead])
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 1
    err = capsys.readouterr().err
    assert f"registry log row 3 (promote by owner) is dated {iso_utc(ahead)}" in err
    assert "ahead of this machine's clock" in err and "days" in err
    _, pub = keypair(tmp_path / "keys")
    argv = ["registry", "--db", str(db), "trust", "add", str(pub), "--role", "gate"]
    assert main([*argv, "--name", "ci"]) == 2
    err = capsys.readouterr().err
    assert "before the registry's last log row 3 (promote by owner, dated " in err
    assert iso_utc(ahead) in err and "this machine's clock says" in err
    assert "If this clock is wrong, fix it" in err and "row 3 is ahead" in err
    assert "Traceback" not in err
    with Registry(db) as reg:
        assert len(reg.log()) == 3 and reg.trusted_keys() == []  # nothing written


def test_a_writer_within_clock_jitter_behind_the_log_writes_at_the_last_rows_time(
    tmp_path: Path,
) -> None:
    # The last row is a little ahead of this clock (another machine's jitter): the next row
    # takes its time, never an earlier one; a waiver's days count from the row's time.
    ahead = datetime.now(UTC) + CLOCK_TOLERANCE - timedelta(seconds=1)
    db = v1_registry(tmp_path, [ahead, ahead, ahead])
    priv, pub = keypair(tmp_path / "keys")
    with Registry(db) as reg:
        reg.trust_add(pub, role="gate", name="ci", actor="owner")
        rows = reg.log()
        assert rows[-1].at >= rows[-2].at == iso_utc(ahead)
        bob = reg.user_add("bob", role="approver", actor="owner")[0]
        digest = write_bundle(tmp_path / "b2", b"two" * 16)
        warn = write_gate_report(tmp_path / "g2", digest, "warn", sign_key=priv)
        reg.register(tmp_path / "b2", name="bot", gate_report=warn, actor="ci")
        waiver = reg.waive("bot", 2, user=bob, reason="small set", expires=f"{MAX_WAIVER_DAYS}d")
        assert reg.log()[-1].at == waiver.granted_at
        granted = datetime.fromisoformat(waiver.granted_at)
        assert datetime.fromisoformat(waiver.expires_at) - granted == timedelta(days=90)
        times = [r.at for r in reg.log()]
        assert times == sorted(times)
        reg.check()


def test_a_waiver_dated_ahead_of_this_clock_is_shown_void_not_active() -> None:
    # The page showed a "90d" waiver granted a year ahead "active" until its expiry.
    now = datetime.now(UTC)
    ahead = Waiver(
        id=1,
        name="bot",
        version=2,
        report_sha256="a" * 64,
        reason="small set",
        expires_at=iso_utc(now + timedelta(days=455)),
        granted_by="alice",
        granted_at=iso_utc(now + timedelta(days=365)),
    )
    assert not ahead.active() and ahead.state().startswith("void: granted at ")
    assert "ahead of this clock" in ahead.state() and not ahead.to_dict()["active"]
    honest = dataclasses.replace(ahead, granted_at=iso_utc(now))
    assert honest.active() and honest.state() == "active"


def _waiver_shipped(tmp_path: Path, at: str) -> Path:
    """bob (an approver, his own token, write access to the file) approves, archives v1 and
    promotes bot v2 on a warn under alice's waiver, writing the rows by hand dated ``at``
    (what r6 of the re-attack did on a waiver that had expired). Returns the database."""
    from .test_forged_log_rows import owner, warned_v2

    db, ci, _, tokens = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        warn = warned_v2(reg, tmp_path, ci[0])
        alice = reg.authenticate(tokens["alice"])
        waiver = reg.waive("bot", 2, user=alice, reason="small set", expires="1d")
        request = reg.request_promotion("bot", 2, to="production", user=alice).id
    forger = Forger(db, tokens)
    forger.at = at
    forger.approve(request, "bob")
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {}, "bob")
    forger.stage(2, "production")
    payload = {
        "gate_report_id": warn.id,
        "waiver_id": waiver.id,
        "request_id": request,
        "requested_by": "alice",
    }
    forger.log("promote", 2, "experiment", "production", payload, "bob")
    forger.c.commit()
    return db


@pytest.mark.parametrize(
    "form",
    ["no zone", "-10:00", "not a time", "month 13", "no microseconds", "lower-case z"],
)
def test_a_row_time_in_any_other_form_than_the_commands_write_is_refused_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    # Found by re-attack: the replay compared a waiver's expiry with a move's time as text
    # and `check` skipped every time rule on a time it could not read, so rows dated
    # without a zone (or the true time at -10:00, which sorts before an expiry in Z)
    # shipped a version on an expired waiver with `check --bundles` exit 0.
    now = datetime.now(UTC)
    at = {
        "no zone": iso_utc(now)[:-1],
        "-10:00": now.astimezone(timezone(timedelta(hours=-10))).isoformat(timespec="microseconds"),
        "not a time": "not a time",
        "month 13": "2026-13-01T00:00:00.000000Z",
        "no microseconds": iso_utc(now)[:19] + "Z",
        "lower-case z": iso_utc(now)[:-1] + "z",
    }[form]
    db = _waiver_shipped(tmp_path, at)
    for command in (["check", "--bundles"], ["list"], ["show", "bot"]):
        capsys.readouterr()
        assert main(["registry", "--db", str(db), *command]) == 1
        err = capsys.readouterr().err
        assert f"registry log row 12: approve by 'bob': its time {at!r} is not a time" in err
        assert "(YYYY-MM-DDTHH:MM:SS.ffffffZ, in UTC): the row was written by hand" in err
        assert "Traceback" not in err


def test_a_waiver_whose_expiry_is_not_a_time_is_refused_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: a waive row written by hand with expires_at "9999" never expired
    # (text compared in the replay and the waivers query), skipped the 90-day cap (not
    # readable) and shipped through the normal CLI; Waiver.active raised on it (500s).
    from .test_forged_log_rows import owner, warned_v2

    db, ci, _, tokens = owner(tmp_path, approvers=True)
    with Registry(db) as reg:
        warn = warned_v2(reg, tmp_path, ci[0])
        version_id = reg.get("bot", 2).id
    forger = Forger(db, tokens)
    forger.reason = "small set"
    payload = {
        "waiver_id": 1,
        "report_sha256": warn.report_sha256,
        "gate_report_id": warn.id,
        "expires_at": "9999",
    }
    at = forger.log("waive", 2, None, None, payload, "alice")
    forger.c.execute(
        "INSERT INTO waivers (model_version_id, report_sha256, reason, expires_at, "
        "granted_by, granted_at) VALUES (?, ?, 'small set', '9999', 'alice', ?)",
        (version_id, warn.report_sha256, at),
    )
    forger.c.commit()
    for command in (["check"], ["list"], ["request", "bot", "2", "--to", "production"]):
        capsys.readouterr()
        assert main(["registry", "--db", str(db), *command]) == 1
        err = capsys.readouterr().err
        assert "registry log row 10: waive by 'alice': its expires_at '9999' is not a time" in err
        assert "the row was written by hand" in err
    # A Waiver holding one (as no registry that opens does) is not active, not an error.
    waiver = Waiver(1, "bot", 2, "0" * 64, "", "9999", "alice", at)
    assert not waiver.active()
    assert waiver.state() == "expired"


def test_a_migrated_schema_1_time_that_is_not_a_time_is_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # curagate 0.1 kept whatever text it was given as a time: its history is read as it
    # was written (a note, not a failure), and the registry takes rows after it.
    from .registry_fixtures import write_v1_registry

    digest = write_bundle(tmp_path / "b1", b"one" * 16)
    db = tmp_path / "reg" / "registry.db"
    db.parent.mkdir()
    write_v1_registry(db, [("bot", digest, tmp_path / "b1", "{}", "production")])
    assert main(["registry", "--db", str(db), "migrate"]) == 0
    with Registry(db) as reg:
        write_bundle(tmp_path / "b2", b"two" * 16)
        reg.register(tmp_path / "b2", name="bot", actor="ci")
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 0
    out = capsys.readouterr().out
    assert "note: registry log row(s) 1, 2, migrated from a schema-1 registry, are dated " in out
