"""Users, tokens, two-approver promotions and waivers (registry schemas 3 and 4)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sqlite3
import string
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from curagate.artifacts import iso_utc
from curagate.cli import main
from curagate.digest import sha256_bytes
from curagate.errors import CheckFailed, InputError
from curagate.registry import ChainBroken, Forbidden, Registry, User
from curagate.registry.chain import ACTOR_SIG, canonical, row_hash
from curagate.registry.schema import (
    APPEND_ONLY_V3,
    KEY_ROLES_V2,
    KEYS_TRIGGERS,
    SCHEMA_VERSION,
    USER_ROLES_V3,
    USERS_TRIGGERS,
    keys_table,
    split_statements,
    users_table,
)
from curagate.registry.store import new_token, token_sha256
from curagate.signing import actor_public_key, actor_seed, actor_signature_valid

from .registry_fixtures import keypair, report_doc, write_bundle, write_gate_report


@pytest.fixture(scope="module")
def ci_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return keypair(tmp_path_factory.mktemp("ci-key"))


@pytest.fixture
def setup(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> tuple[Registry, dict[str, tuple[User, str]], str]:
    """A registry with a gate key, bot v1 registered with a signed pass report, and
    users alice and bob (approvers), vera (viewer)."""
    reg = Registry(tmp_path / "reg" / "registry.db")
    reg.trust_add(ci_key[1], role="gate", name="ci", actor="admin")
    digest = write_bundle(tmp_path / "b1", b"one" * 16)
    report = write_gate_report(tmp_path / "g1", digest, "pass", sign_key=ci_key[0])
    reg.register(tmp_path / "b1", name="bot", gate_report=report, actor="ci")
    users = {
        n: reg.user_add(n, role=r, actor="admin")
        for n, r in (("alice", "approver"), ("bob", "approver"), ("vera", "viewer"))
    }
    return reg, users, digest


def test_a_token_is_printed_once_stored_hashed_and_stops_working_when_revoked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.db"
    assert main(["registry", "users", "add", "alice", "--role", "approver", "--db", str(db)]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    raw = db.read_bytes() + (Path(f"{db}-wal").read_bytes() if Path(f"{db}-wal").exists() else b"")
    assert token.encode() not in raw and sha256_bytes(token.encode()).encode() in raw
    with Registry(db) as reg:
        user = reg.authenticate(token)
        assert user is not None and user.name == "alice" and user.can_approve
        assert reg.authenticate(token + "x") is None and reg.authenticate("") is None
    assert main(["registry", "users", "revoke", "alice", "--db", str(db)]) == 0
    with Registry(db) as reg:
        assert reg.authenticate(token) is None
    assert main(["registry", "users", "list", "--json", "--db", str(db)]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert listed[0]["name"] == "alice" and listed[0]["revoked_at"]


def test_names_that_differ_only_in_case_are_one_user(setup) -> None:
    # One person with accounts alice and Alice would be two approvers.
    reg, _, _ = setup
    for name in ("Alice", "ALICE", "bOb"):
        with pytest.raises(InputError, match="names differ only in case"):
            reg.user_add(name, role="approver", actor="admin")
    with pytest.raises(InputError, match="user 'alice' already exists \\(revoked"):
        reg.user_add("alice", role="approver", actor="admin")
    reg.close()


def test_production_needs_two_different_approvers(setup) -> None:
    reg, users, _ = setup
    alice, bob, vera = users["alice"][0], users["bob"][0], users["vera"][0]
    with pytest.raises(Forbidden, match="two of them"):
        reg.promote("bot", 1, to="production", actor="alice")
    with pytest.raises(Forbidden, match="viewer"):
        reg.request_promotion("bot", 1, to="production", user=vera)
    req = reg.request_promotion("bot", 1, to="production", user=alice, reason="ready")
    assert reg.get("bot", 1).stage == "experiment"
    with pytest.raises(Forbidden, match="different approver"):
        reg.approve(req.id, user=alice)
    with pytest.raises(Forbidden, match="viewer"):
        reg.approve(req.id, user=vera)
    assert reg.approve(req.id, user=bob, reason="agreed").stage == "production"
    actions = [(r.action, r.actor) for r in reg.log("bot", 1)]
    assert actions[-3:] == [("request", "alice"), ("approve", "bob"), ("promote", "bob")]
    promote = reg.log("bot", 1)[-1].data
    assert promote["request_id"] == req.id and promote["requested_by"] == "alice"
    with pytest.raises(CheckFailed, match="already approved"):
        reg.approve(req.id, user=bob)
    reg.check()
    reg.close()


def test_rows_in_an_approvers_name_are_written_only_with_their_token(
    setup, capsys: pytest.CaptureFixture[str]
) -> None:
    # An approver's request, approval and move are signed with the key their token
    # gives (docs/registry.md, "Who wrote a row"): a User read from the registry, or one
    # holding another user's token, cannot write one.
    reg, users, _ = setup
    listed = next(u for u in reg.users() if u.name == "alice")
    with pytest.raises(Forbidden, match="authenticate with their token"):
        reg.request_promotion("bot", 1, to="production", user=listed)
    borrowed = dataclasses.replace(listed, actor_seed=actor_seed(users["bob"][1]))
    with pytest.raises(Forbidden, match="authenticate with their token"):
        reg.request_promotion("bot", 1, to="production", user=borrowed)
    alice, bob = reg.authenticate(users["alice"][1]), reg.authenticate(users["bob"][1])
    assert alice is not None and bob is not None
    req = reg.request_promotion("bot", 1, to="production", user=alice)
    reg.approve(req.id, user=bob)
    signed = {r.action: r.data for r in reg.log("bot", 1)[-3:]}
    assert set(signed) == {"request", "approve", "promote"}
    assert all(len(base64.b64decode(d[ACTOR_SIG])) == 64 for d in signed.values())
    reg.check()
    reg.close()
    capsys.readouterr()
    assert main(["registry", "--db", str(reg.path), "show", "bot", "1"]) == 0
    shown = capsys.readouterr().out
    assert "request  experiment → production  signed by alice: " in shown
    assert "approve  experiment → production  signed by bob: " in shown


def test_a_register_with_a_token_is_signed_by_its_user(
    setup,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `register` with $CURAGATE_TOKEN writes its rows (the register and its report) in
    # the token's user's name, signed with their actor key; without a token the row names
    # --actor without proof, as before. A viewer's token registers nothing.
    reg, users, _ = setup
    _, ci_token = reg.user_add("ci", role="uploader", actor="admin")
    db = str(reg.path)
    reg.close()
    digest = write_bundle(tmp_path / "b2", b"two" * 16)
    report = write_gate_report(tmp_path / "g2", digest, "pass", sign_key=ci_key[0])
    register = ["registry", "--db", db, "register", str(tmp_path / "b2"), "--name", "bot"]
    monkeypatch.setenv("CURAGATE_TOKEN", users["vera"][1])
    assert main([*register, "--gate-report", str(report)]) == 1
    assert "has the viewer role; registering a version needs" in capsys.readouterr().err
    monkeypatch.setenv("CURAGATE_TOKEN", ci_token)
    assert main([*register, "--actor", "alice"]) == 2
    assert main([*register, "--gate-report", str(report)]) == 0
    monkeypatch.delenv("CURAGATE_TOKEN")
    write_bundle(tmp_path / "b3", b"three" * 16)
    assert main(["registry", "--db", db, "register", str(tmp_path / "b3"), "--name", "bot"]) == 0
    with Registry(db) as again:
        rows = [(r.action, r.version, r.actor, r.signed) for r in again.log("bot")[-3:]]
        assert rows == [
            ("register", 2, "ci", True),
            ("report", 2, "ci", True),
            ("register", 3, rows[2][2], False),
        ]
        again.check()
    capsys.readouterr()
    assert main(["registry", "--db", db, "show", "bot", "2"]) == 0
    shown = capsys.readouterr().out
    assert "#8 register - → experiment  signed by ci: " in shown
    assert "#9 report     signed by ci: verified" in shown


def test_a_user_enrolled_with_their_own_token_is_added_without_anyone_else_seeing_it(
    setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # `users add` prints the token it makes, so the admin could act as that user; with
    # `users token` the user makes it and hands over only its sha256 and public key.
    reg, users, _ = setup
    absent = tmp_path / "none" / "registry.db"
    assert main(["registry", "--db", str(absent), "users", "token"]) == 0
    assert not absent.parent.exists()  # made where its user is, with no registry
    out = capsys.readouterr().out
    token, code = (line.split(": ", 1)[1] for line in out.splitlines())
    assert token.startswith("cgt_") and code.startswith("cge1_") and token not in code
    db = str(reg.path)
    reg.close()
    args = ["registry", "--db", db, "users", "add", "carol", "--role", "approver"]
    assert main([*args, "--enrollment", code]) == 0
    out = capsys.readouterr().out
    assert "cgt_" not in out and "with the token of their enrollment code" in out
    assert main([*args[:5], "dave", "--role", "approver", "--enrollment", code]) == 2
    assert "that token already belongs to a user" in capsys.readouterr().err
    assert main([*args[:5], "erin", "--role", "approver", "--enrollment", code[:-1]]) == 2
    assert "not an enrollment code" in capsys.readouterr().err
    # The identity point (a key of small order): one signature, (identity, 0), verifies
    # every message with it, so whoever knew that could write rows in the user's name.
    small = code[:-64] + "01" + "00" * 31
    assert main([*args[:5], "frank", "--role", "approver", "--enrollment", small]) == 2
    assert "its key is a point of small order" in capsys.readouterr().err
    forged = base64.b64encode(bytes.fromhex("01" + "00" * 31) + bytes(32)).decode()
    assert not actor_signature_valid("01" + "00" * 31, b"any row", forged)
    with Registry(db) as again:
        carol = again.authenticate(token)
        assert carol is not None and carol.name == "carol"
        req = again.request_promotion("bot", 1, to="production", user=carol)
        assert again.approve(req.id, user=users["alice"][0]).stage == "production"
        assert ACTOR_SIG in again.log("bot", 1)[-3].data  # carol's signed request
        again.check()


def test_once_there_is_an_admin_only_they_change_users_and_keys_and_they_sign_it(
    setup, ci_key: tuple[Path, Path], tmp_path: Path
) -> None:
    # Before an admin, the owner of the database file adds users and trusts keys (setup
    # did, as free text). From the first admin with an actor key on, an owner's name, an
    # approver's account or an admin's account without the admin's token could add an
    # approver of their own; only the admin, authenticated, may, and their row is signed.
    reg, users, _ = setup
    _, token = reg.user_add("carol", role="admin", actor="owner")
    assert token is not None and ACTOR_SIG not in reg.log()[-1].data  # the owner's row
    other = keypair(tmp_path / "other")[1]
    listed = next(u for u in reg.users() if u.name == "carol")  # no seed: not her token
    changes = {
        "user_add": lambda who: reg.user_add("mallory", role="approver", actor=who),
        "user_revoke": lambda who: reg.user_revoke("bob", actor=who),
        "trust": lambda who: reg.trust_add(other, role="gate", name="other", actor=who),
        "revoke": lambda who: reg.trust_revoke("ci", actor=who),
    }
    for change in changes.values():
        with pytest.raises(Forbidden, match=r"has admins \(carol\), so .* needs one"):
            change("owner")
        with pytest.raises(Forbidden, match="'alice' is not an admin with an actor key"):
            change(users["alice"][0])
        with pytest.raises(Forbidden, match="authenticate with their token"):
            change(listed)
    carol = reg.authenticate(token)
    assert carol is not None
    before = len(reg.log())
    for change in changes.values():
        change(carol)
    rows = reg.log()[before:]
    assert [r.action for r in rows] == list(changes)
    assert all(r.actor == "carol" and ACTOR_SIG in r.data for r in rows)
    assert {u.name: u.active for u in reg.users()}["bob"] is False
    reg.check()
    # The last admin revoking herself gives users and keys back to the owner.
    reg.user_revoke("carol", actor=carol)
    reg.user_add("dave", role="approver", actor="owner")
    reg.check()


def test_cli_users_and_keys_are_changed_with_the_admins_token_once_there_is_one(
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = str(tmp_path / "registry.db")
    add = ["registry", "--db", db, "users", "add"]
    assert main([*add, "bob", "--role", "approver"]) == 0
    capsys.readouterr()
    assert main(["registry", "--db", db, "check"]) == 0
    assert "note: no admin with an actor key" in capsys.readouterr().out
    assert main([*add, "carol", "--role", "admin"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["registry", "--db", db, "check"]) == 0
    assert "note" not in capsys.readouterr().out
    assert main([*add, "alice", "--role", "approver"]) == 1
    err = capsys.readouterr().err
    assert "this registry has admins (carol)" in err and "$CURAGATE_TOKEN" in err
    trust = ["registry", "--db", db, "trust", "add", str(ci_key[1]), "--role", "gate"]
    assert main([*trust, "--name", "ci"]) == 1
    monkeypatch.setenv("CURAGATE_TOKEN", token)
    assert main([*add, "alice", "--role", "approver", "--actor", "mallory"]) == 2
    assert "is 'carol''s token; drop --actor" in capsys.readouterr().err
    assert main([*add, "alice", "--role", "approver"]) == 0
    assert main([*trust, "--name", "ci"]) == 0
    assert main(["registry", "--db", db, "users", "revoke", "alice"]) == 0
    assert main(["registry", "--db", db, "trust", "revoke", "ci"]) == 0
    assert main(["registry", "--db", db, "check"]) == 0
    with Registry(db) as reg:
        assert [(r.action, r.actor, ACTOR_SIG in r.data) for r in reg.log()[2:]] == [
            ("user_add", "carol", True),
            ("trust", "carol", True),
            ("user_revoke", "carol", True),
            ("revoke", "carol", True),
        ]


def test_an_enrollment_code_with_a_key_that_is_not_its_tokens_is_caught(
    setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whoever carries carol's code to the admin swaps its key half: for bob's own key (then
    # bob signs as bob and as carol), or for a fresh key of theirs. The first is refused at
    # `users add` (every user's key is in the log); the second at carol's first login,
    # which the docs tell her to try before relying on the account.
    reg, users, _ = setup
    bob_key = actor_public_key(actor_seed(users["bob"][1]))
    token = new_token()
    with pytest.raises(InputError, match="its actor key is 'bob''s; one key cannot sign as two"):
        reg.user_add("carol", role="approver", enrollment=f"cge1_{token_sha256(token)}_{bob_key}")
    theirs = actor_public_key(actor_seed(new_token()))
    reg.user_add("carol", role="approver", enrollment=f"cge1_{token_sha256(token)}_{theirs}")
    with pytest.raises(Forbidden, match="the actor key recorded for this account is not the one"):
        reg.authenticate(token)
    db = str(reg.path)
    reg.close()
    monkeypatch.setenv("CURAGATE_TOKEN", token)
    assert main(["registry", "--db", db, "request", "bot", "1", "--to", "staging"]) == 1
    assert "its enrollment code was changed before it was added" in capsys.readouterr().err


def _legacy_user(db: Path, name: str, role: str) -> str:
    """A user as curagate wrote them before actor keys (no ``actor_key`` recorded); their
    token."""
    token = "cgt_" + name * 8
    c = sqlite3.connect(db)
    at = iso_utc()  # now: after the rows before it, as curagate dated its rows
    uid = c.execute(
        "INSERT INTO users (name, role, token_sha256, created_by, created_at) "
        "VALUES (?, ?, ?, 'admin', ?)",
        (name, role, sha256_bytes(token.encode()), at),
    ).lastrowid
    payload = {
        "user_id": uid,
        "name": name,
        "role": role,
        "token_sha256": sha256_bytes(token.encode()),
    }
    rid, prev = c.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
    f = (at, "admin", "user_add", None, None, None, None, "", canonical(payload))
    c.execute(
        "INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (rid + 1, *f, prev, row_hash(prev, rid + 1, f)),
    )
    c.commit()
    c.close()
    return token


def test_users_added_before_actor_keys_still_request_and_approve(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Their rows cannot be signed (the registry never recorded a key for them) and are
    # accepted unsigned; users added since sign theirs.
    db = tmp_path / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci", actor="admin")
        digest = write_bundle(tmp_path / "b1", b"one" * 16)
        report = write_gate_report(tmp_path / "g1", digest, "pass", sign_key=ci_key[0])
        reg.register(tmp_path / "b1", name="bot", gate_report=report, actor="ci")
    tokens = {n: _legacy_user(db, n, "approver") for n in ("alice", "bob")}
    with Registry(db) as reg:
        alice, bob = (reg.authenticate(tokens[n]) for n in ("alice", "bob"))
        assert alice is not None and bob is not None
        req = reg.request_promotion("bot", 1, to="production", user=alice)
        assert reg.approve(req.id, user=bob).stage == "production"
        assert not any(ACTOR_SIG in r.data for r in reg.log("bot", 1))
        reg.check()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 0
    assert "are not signed: alice, bob; add each again" in capsys.readouterr().out
    with Registry(db) as reg:
        reg.user_add("carol", role="approver", actor="admin")
    assert main(["registry", "--db", str(db), "users", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(u["name"], u["signs_rows"]) for u in listed] == [
        ("alice", False),
        ("bob", False),
        ("carol", True),
    ]


def test_a_revoked_approver_can_no_longer_approve(setup) -> None:
    reg, users, _ = setup
    req = reg.request_promotion("bot", 1, to="production", user=users["alice"][0])
    reg.user_revoke("bob", actor="admin", reason="left")
    with pytest.raises(Forbidden, match="revoked"):
        reg.approve(req.id, user=users["bob"][0])
    reg.close()


@pytest.mark.slow
def test_a_warn_backs_production_only_under_an_unexpired_waiver(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    reg, users, _ = setup
    alice, bob = users["alice"][0], users["bob"][0]
    digest = write_bundle(tmp_path / "b2", b"two" * 16)
    report = write_gate_report(tmp_path / "g2", digest, "warn", sign_key=ci_key[0])
    reg.register(tmp_path / "b2", name="bot", gate_report=report, actor="ci")
    with pytest.raises(CheckFailed, match="warn, no unexpired waiver"):
        reg.request_promotion("bot", 2, to="production", user=alice)
    with pytest.raises(InputError, match="in the past"):
        reg.waive("bot", 2, user=bob, reason="x", expires="2001-01-01T00:00:00Z")
    with pytest.raises(Forbidden, match="viewer"):
        reg.waive("bot", 2, user=users["vera"][0], reason="x", expires="1d")
    with pytest.raises(CheckFailed, match="only a verified warn"):
        reg.waive("bot", 1, user=bob, reason="v1 passed", expires="1d")  # nothing to waive
    # expires in a second: requested in time, approved after it expired
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    reg.waive("bot", 2, user=bob, reason="size warning: small set", expires=soon)
    req = reg.request_promotion("bot", 2, to="production", user=alice)
    time.sleep(1.6)
    before = len(reg.log())
    with pytest.raises(CheckFailed, match="warn, no unexpired waiver"):
        reg.approve(req.id, user=bob)
    assert len(reg.log()) == before and reg.promotion_request(req.id).status == "stale"
    # a fresh waiver is not the one the request was made on: it is requested again, then
    # the approval goes through, and the log names the waiver
    w = reg.waive("bot", 2, user=bob, reason="size warning: small set", expires="7d")
    with pytest.raises(CheckFailed, match=f"requested on report .* under waiver {w.id - 1};"):
        reg.approve(req.id, user=bob)
    req = reg.request_promotion("bot", 2, to="production", user=alice)
    assert req.waiver_id == w.id and req.gate_report_id is not None
    assert reg.approve(req.id, user=bob).stage == "production"
    assert reg.log("bot", 2)[-1].data["waiver_id"] == w.id
    assert [x.active() for x in reg.waivers("bot", 2)] == [False, True]
    reg.check()
    reg.close()


@pytest.mark.slow
def test_a_rollback_refused_over_an_expired_waiver_names_remedies_rollback_takes(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    # Found by attack: the refusal said to pass a report "with --gate-report", which
    # `rollback` does not take.
    import re
    import shlex

    from curagate.cli import build_parser

    reg, users, _ = setup
    alice, bob = users["alice"][0], users["bob"][0]
    digest = write_bundle(tmp_path / "b2", b"two" * 16)
    report = write_gate_report(tmp_path / "g2", digest, "warn", sign_key=ci_key[0])
    reg.register(tmp_path / "b2", name="bot", gate_report=report, actor="ci")
    reg.waive(
        "bot", 2, user=bob, reason="small set", expires=datetime.now(UTC) + timedelta(1.5 / 86400)
    )
    reg.approve(reg.request_promotion("bot", 2, to="production", user=alice).id, user=bob)
    digest = write_bundle(tmp_path / "b3", b"three" * 16)
    report = write_gate_report(tmp_path / "g3", digest, "pass", sign_key=ci_key[0])
    reg.register(tmp_path / "b3", name="bot", gate_report=report, actor="ci")
    reg.approve(reg.request_promotion("bot", 3, to="production", user=alice).id, user=bob)
    time.sleep(1.6)
    with pytest.raises(CheckFailed, match=r"rollback refused: bot v2: .*no unexpired waiver") as e:
        reg.rollback("bot", user=alice)
    why = str(e.value)
    assert "--gate-report FILE" in why and "pass its gate_report.json" not in why
    assert "waive its warn again with their token in CURAGATE_TOKEN: `curagate" in why
    commands = re.findall(r"`curagate (registry [^`]*)`", why)
    assert [c.split()[1] for c in commands] == ["report", "waive"]
    for command in commands:  # each remedy is a command that exists, as written
        build_parser("registry").parse_args(shlex.split(command))
    reg.waive("bot", 2, user=bob, reason="small set, again", expires="7d")
    assert reg.rollback("bot", user=alice).version == 2
    reg.close()


@pytest.mark.slow
def test_only_the_deciding_warn_can_be_waived_and_a_replaced_ones_waiver_is_superseded(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    # Found by attack: after a newer signed fail replaced v2's warn, a waiver of the warn
    # was granted and listed "active" (page and API) though it could back nothing.
    reg, users, _ = setup
    bob = users["bob"][0]
    digest = write_bundle(tmp_path / "b2", b"two" * 16)
    warn = write_gate_report(tmp_path / "g2", digest, "warn", sign_key=ci_key[0])
    reg.register(tmp_path / "b2", name="bot", gate_report=warn, actor="ci")
    before = reg.waive("bot", 2, user=bob, reason="small set", expires="7d")
    assert before.active() and before.state() == "active"
    time.sleep(1.1)  # signed times have whole seconds: the fail is the newer verdict
    fail = write_gate_report(tmp_path / "g2f", digest, "fail", sign_key=ci_key[0])
    reg.add_gate_report("bot", 2, fail, actor="ci")
    with pytest.raises(CheckFailed, match=r"decides for it is report \d+ \(verdict fail\)"):
        reg.waive("bot", 2, user=bob, reason="x", expires="7d")
    with pytest.raises(CheckFailed, match=r"decides for it is report \d+ \(verdict fail\)"):
        reg.waive("bot", 2, user=bob, reason="x", expires="7d", report_sha256=before.report_sha256)
    [listed] = reg.waivers("bot", 2)
    assert listed.id == before.id and not listed.active()
    assert listed.to_dict()["state"] == "superseded: a newer report decides"
    # a waiver of the version's own deciding warn names it, another sha is refused
    digest3 = write_bundle(tmp_path / "b3", b"three" * 16)
    warn3 = write_gate_report(tmp_path / "g3", digest3, "warn", sign_key=ci_key[0])
    reg.register(tmp_path / "b3", name="bot", gate_report=warn3, actor="ci")
    with pytest.raises(CheckFailed, match="does not decide for it"):
        reg.waive("bot", 3, user=bob, reason="x", expires="7d", report_sha256=before.report_sha256)
    assert reg.waive("bot", 3, user=bob, reason="x", expires="7d").active()
    # found by the re-attack: a waiver of a warn whose key was revoked since still said active
    reg.trust_revoke("ci", actor="admin", reason="leaked")
    assert [w.state() for w in reg.waivers("bot", 3)] == ["void: its report no longer verifies"]
    assert not any(w.active() for w in reg.waivers())
    reg.close()


@pytest.mark.slow
def test_one_approver_cannot_roll_back_onto_a_warn_they_waived_since_it_shipped(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    # Found by attack: v1 shipped on a pass and was replaced by v2; a newer signed warn for
    # v1 arrived, alice alone waived it and rolled back: v1 was in production on a warn
    # only she had accepted (a rollback takes one approver, a waived warn two).
    reg, users, _ = setup
    alice, bob = users["alice"][0], users["bob"][0]
    _v1_then_v2_in_production(tmp_path, reg, users, ci_key)
    time.sleep(1.1)  # signed times have whole seconds: the warn is the newer verdict
    v1 = reg.get("bot", 1)
    warn = write_gate_report(tmp_path / "g1w", v1.artifact_digest, "warn", sign_key=ci_key[0])
    reg.add_gate_report("bot", 1, warn, actor=alice)
    w = reg.waive("bot", 1, user=alice, reason="mine", expires="90d")
    before = len(reg.log())
    with pytest.raises(CheckFailed, match=f"waiver {w.id}, which alice granted since it last"):
        reg.rollback("bot", user=alice)
    assert reg.production("bot").version == 2 and len(reg.log()) == before  # type: ignore[union-attr]
    # two people: alice's waiver, bob's rollback
    assert reg.rollback("bot", user=bob).stage == "production"
    assert reg.log("bot")[-1].data["waiver_id"] == w.id
    reg.check()
    reg.close()


def test_staging_needs_one_approver(setup) -> None:
    reg, users, _ = setup
    out = reg.request_promotion("bot", 1, to="staging", user=users["alice"][0])
    assert getattr(out, "stage", None) == "staging"
    reg.close()


def test_cli_request_and_approve_with_tokens_from_the_environment(
    setup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, users, _ = setup
    db = str(reg.path)
    reg.close()
    monkeypatch.delenv("CURAGATE_TOKEN", raising=False)
    # Refused (exit 1, as registry.md says and a promote without a token is), was exit 2.
    assert main(["registry", "request", "bot", "1", "--to", "production", "--db", db]) == 1
    monkeypatch.setenv("CURAGATE_TOKEN", "cgt_" + "0" * 43)  # a token nobody holds
    waive = ["registry", "waive", "bot", "1", "--reason", "r", "--expires", "7d", "--db", db]
    assert main(waive) == 1
    assert "missing, unknown or revoked token" in capsys.readouterr().err
    monkeypatch.setenv("CURAGATE_TOKEN", users["alice"][1])
    assert main(["registry", "request", "bot", "1", "--to", "production", "--db", db]) == 0
    assert main(["registry", "approve", "1", "--db", db]) == 1  # alice's own request
    monkeypatch.setenv("CURAGATE_TOKEN", users["bob"][1])
    assert main(["registry", "approve", "1", "--db", db]) == 0
    assert "bot v1 is now in production" in capsys.readouterr().out


def test_once_there_are_approvers_rollback_and_staging_name_an_approver_not_free_text(
    setup, tmp_path: Path, ci_key: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--actor` was free text: anyone who could run the CLI rolled production back, or put
    # a version in staging, in the name of their choosing (alice's, say).
    reg, users, _ = setup
    vera = users["vera"][0]
    _v1_then_v2_in_production(tmp_path, reg, users, ci_key)
    for act in (
        lambda: reg.rollback("bot", actor="alice"),
        lambda: reg.promote("bot", 1, to="staging", actor="alice"),
        lambda: reg.rollback("bot", user=vera),
    ):
        with pytest.raises(Forbidden, match="approver"):
            act()
    assert reg.production("bot").version == 2  # type: ignore[union-attr]
    db = str(reg.path)
    reg.close()

    monkeypatch.delenv("CURAGATE_TOKEN", raising=False)
    assert main(["registry", "rollback", "bot", "--actor", "alice", "--db", db]) == 1
    monkeypatch.setenv("CURAGATE_TOKEN", users["bob"][1])
    assert main(["registry", "rollback", "bot", "--actor", "alice", "--db", db]) == 2
    assert main(["registry", "rollback", "bot", "--reason", "latency", "--db", db]) == 0
    with Registry(db) as reg:
        assert reg.production("bot").version == 1  # type: ignore[union-attr]
        last = reg.log("bot")[-1]
        assert (last.action, last.actor, last.reason) == ("rollback", "bob", "latency")
        reg.check()


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            [
                "INSERT INTO users (name, role, token_sha256, created_by, created_at) "
                f"VALUES ('mallory', 'admin', '{'f' * 64}', 'me', 'now')"
            ],
            "table users row 4",
        ),
        (
            ["DROP TRIGGER users_no_update", "UPDATE users SET role = 'admin' WHERE name = 'vera'"],
            "trigger users_no_update was dropped or altered",
        ),
        (
            [
                "DROP TRIGGER users_no_update",
                "UPDATE users SET role = 'admin' WHERE name = 'vera'",
                "CREATE TRIGGER users_no_update BEFORE UPDATE ON users\n"
                "BEGIN SELECT RAISE(ABORT, 'users is append-only'); END",
            ],
            "table users row 3",
        ),
        (
            [
                "INSERT INTO approvals (request_id, approved_by, reason, approved_at) "
                "VALUES (1, 'bob', '', 'now')"
            ],
            "table approvals",
        ),
        (
            [
                "INSERT INTO waivers (model_version_id, report_sha256, reason, expires_at, "
                f"granted_by, granted_at) VALUES (1, '{'a' * 64}', 'x', '2999', 'bob', 'now')"
            ],
            "table waivers",
        ),
        (
            [
                "DROP TRIGGER user_revocations_no_delete",
                "DELETE FROM user_revocations",
                "CREATE TRIGGER user_revocations_no_delete BEFORE DELETE ON user_revocations\n"
                "BEGIN SELECT RAISE(ABORT, 'user_revocations is append-only'); END",
            ],
            "user_revocations",
        ),
    ],
    ids=[
        "forged-user",
        "dropped-trigger",
        "role-raised",
        "forged-approval",
        "forged-waiver",
        "unrevoked",
    ],
)
def test_hand_edits_of_people_tables_are_detected(
    setup, statements: list[str], message: str
) -> None:
    reg, users, _ = setup
    reg.request_promotion("bot", 1, to="production", user=users["alice"][0])
    reg.user_revoke("vera", actor="admin")
    db = reg.path
    reg.close()
    conn = sqlite3.connect(db)
    for stmt in statements:
        conn.execute(stmt)
    conn.commit()
    conn.close()
    with pytest.raises(ChainBroken, match=message):
        Registry(db)


def test_every_people_table_is_append_only(setup) -> None:
    reg, _, _ = setup
    db = reg.path
    reg.close()
    conn = sqlite3.connect(db)
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    # The people tables schema 3 adds (docs/registry.md), listed by hand: a table left out
    # of the schema's own APPEND_ONLY_V3 tuple would otherwise go unnoticed here.
    for table in ("users", "user_revocations", "promotion_requests", "approvals", "waivers"):
        assert {f"{table}_no_update", f"{table}_no_delete"} <= triggers, table
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM users")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE users SET role = 'admin'")
    conn.close()


def test_a_schema_2_registry_migrates_to_the_current_schema_and_keeps_its_history(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    db = tmp_path / "r.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        digest = write_bundle(tmp_path / "b1", b"one" * 16)
        reg.register(tmp_path / "b1", name="bot")
        head = reg.head()
    _as_schema_2(db)
    with Registry(db) as reg:
        assert reg.schema_version == SCHEMA_VERSION and reg.head() == head
        assert reg.get("bot", 1).artifact_digest == digest
        reg.user_add("alice", role="approver")
        reg.user_add("ci", role="uploader")
        reg.check()


@pytest.mark.parametrize("version", [-1, 0, 1, 2, 3, 4])
def test_a_schema_version_set_back_by_hand_is_tampering_not_a_database_error(
    tmp_path: Path, version: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was exit 2, "registry database error (table users already exists)": the migration
    # tried to create what was there.
    db = tmp_path / "r.db"
    with Registry(db) as reg:
        reg.user_add("alice", role="approver")
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {version}")
    with pytest.raises(ChainBroken):
        Registry(db)
    assert main(["registry", "list", "--db", str(db)]) == 1
    # schema 3 and 4 are verified as such before a table is rebuilt: trusted_keys differs
    expected = "table trusted_keys was altered" if version in (3, 4) else "changed by hand"
    assert expected in capsys.readouterr().err


def _as_older(db: Path, table: str, schema: str, version: int) -> None:
    """``table`` rebuilt as an older schema creates it (same rows), ``user_version`` set."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN")
    conn.execute(f"CREATE TEMP TABLE old AS SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    for stmt in split_statements(schema):
        conn.execute(stmt)
    conn.execute(f"INSERT INTO {table} SELECT * FROM temp.old")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("COMMIT")
    conn.close()


def as_schema_4(db: Path) -> None:
    """Turn a schema-5 registry into the schema-4 database an older curagate wrote: the
    trusted_keys table without the train role in its CHECK, the same rows."""
    _as_older(db, "trusted_keys", keys_table(KEY_ROLES_V2) + KEYS_TRIGGERS, 4)


def as_schema_3(db: Path) -> None:
    """Turn a schema-5 registry into the schema-3 database an older curagate wrote: the
    users table without the uploader role in its CHECK, the same rows."""
    as_schema_4(db)
    _as_older(db, "users", users_table(USER_ROLES_V3) + USERS_TRIGGERS, 3)


def users_sql(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]


def test_a_schema_3_registry_migrates_to_the_current_schema_with_its_users_and_revocations(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    db = tmp_path / "r.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        write_bundle(tmp_path / "b1", b"one" * 16)
        reg.register(tmp_path / "b1", name="bot")
        _, alice_token = reg.user_add("alice", role="approver")
        reg.user_add("bob", role="viewer")
        reg.user_revoke("bob", reason="left")
        before = [u.to_dict() for u in reg.users()]
        head = reg.head()
    as_schema_3(db)
    assert "uploader" not in users_sql(db)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"), sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO users VALUES (9, 'x', 'uploader', ?, 'a', 'b')", ("0" * 64,))

    with Registry(db) as reg:
        assert reg.schema_version == SCHEMA_VERSION and reg.head() == head
        assert [u.to_dict() for u in reg.users()] == before
        assert reg.authenticate(alice_token).name == "alice"
        ci, _ = reg.user_add("ci", role="uploader")
        assert ci.role == "uploader" and not ci.can_approve and ci.can_upload
        reg.check()
    assert "'uploader'" in users_sql(db)
    with sqlite3.connect(db) as conn:
        # the rebuilt table is as append-only as before
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE users SET role = 'admin' WHERE name = 'ci'")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def keys_sql(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sql FROM sqlite_master WHERE name = 'trusted_keys'").fetchone()[
            0
        ]


def test_a_schema_4_registry_migrates_to_5_with_its_keys_and_revocations(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    db = tmp_path / "r.db"
    old = keypair(tmp_path / "old")
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        reg.trust_add(old[1], role="export", name="old")
        reg.trust_revoke("old", reason="rotated")
        before = [k.to_dict() for k in reg.trusted_keys()]
        head = reg.head()
    as_schema_4(db)
    assert "'train'" not in keys_sql(db)
    with Registry(db) as reg:
        assert reg.schema_version == 5 and reg.head() == head
        assert [k.to_dict() for k in reg.trusted_keys()] == before
        trainer = keypair(tmp_path / "trainer")
        assert reg.trust_add(trainer[1], role="train", name="trainer").role == "train"
        reg.check()
    assert "'train'" in keys_sql(db)
    with sqlite3.connect(db) as conn:
        # the rebuilt table is as append-only as before, its revocations still point at it
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE trusted_keys SET role = 'gate' WHERE name = 'trainer'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM trusted_keys")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize(
    ("version", "table", "edit"),
    [
        (3, "users", "UPDATE users SET role = 'admin' WHERE name = 'mallory'"),
        (4, "trusted_keys", "UPDATE trusted_keys SET role = 'gate' WHERE name = 'ci'"),
    ],
)
def test_a_hand_changed_older_registry_is_refused_not_rewritten_into_the_current_schema(
    tmp_path: Path, ci_key: tuple[Path, Path], version: int, table: str, edit: str
) -> None:
    # A migration rebuilds a table (users at 3 -> 4, trusted_keys at 4 -> 5); rebuilding one
    # someone changed by hand would bless the change under fresh triggers, so the older
    # schema is verified first.
    db = tmp_path / "r.db"
    with Registry(db) as reg:
        reg.user_add("mallory", role="viewer")
        reg.trust_add(ci_key[1], role="export", name="ci")
    (as_schema_3 if version == 3 else as_schema_4)(db)
    triggers = USERS_TRIGGERS if table == "users" else KEYS_TRIGGERS
    conn = sqlite3.connect(db)
    conn.execute(f"DROP TRIGGER {table}_no_update")
    conn.execute(edit)
    conn.execute(next(s for s in split_statements(triggers) if f"{table}_no_update" in s))
    conn.commit()
    conn.close()
    with pytest.raises(ChainBroken, match=table):
        Registry(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    assert "'train'" not in keys_sql(db)
    assert version == 4 or "uploader" not in users_sql(db)


@pytest.mark.parametrize("table", ["approvals", "key_revocations", "user_revocations"])
def test_an_id_the_log_does_not_carry_edited_by_hand_is_found(
    tmp_path: Path, setup, ci_key: tuple[Path, Path], table: str
) -> None:
    # Found by attack: these tables' rows are compared with the log by the request, key or
    # user they are of; their own id, edited with the trigger dropped and put back, was not.
    from curagate.registry.schema import SCHEMA_V5

    reg, users, _ = setup
    request = reg.request_promotion("bot", 1, to="production", user=users["alice"][0])
    reg.approve(request.id, user=users["bob"][0])
    reg.user_revoke("vera", actor="admin", reason="left")
    reg.trust_revoke("ci", actor="admin", reason="rotated")
    reg.close()
    Registry(reg.path).close()  # intact
    trigger = next(s for s in split_statements(SCHEMA_V5) if f"TRIGGER {table}_no_update " in s)
    conn = sqlite3.connect(reg.path)
    conn.execute(f"DROP TRIGGER {table}_no_update")
    conn.execute(f"UPDATE {table} SET id = 7")
    conn.execute(trigger)
    conn.commit()
    conn.close()
    with pytest.raises(ChainBroken, match=f"table {table} row 7: is numbered 7, but the log"):
        Registry(reg.path)
    assert main(["registry", "--db", str(reg.path), "check"]) == 1


def test_two_rows_whose_ids_were_swapped_by_hand_are_named_by_what_they_are_of(
    tmp_path: Path, setup
) -> None:
    # Found by re-attack: the message said "row 1: is numbered 1, but the log wrote it as
    # row 1" of two user revocations whose ids were swapped.
    from curagate.registry.schema import SCHEMA_V5

    reg, users, _ = setup
    reg.user_revoke("vera", actor="admin", reason="left")
    reg.user_revoke("alice", actor="admin", reason="left")
    reg.close()
    vera, alice = users["vera"][0].id, users["alice"][0].id
    trigger = next(
        s for s in split_statements(SCHEMA_V5) if "TRIGGER user_revocations_no_update " in s
    )
    conn = sqlite3.connect(reg.path)
    conn.execute("DROP TRIGGER user_revocations_no_update")
    for old, new in ((1, 99), (2, 1), (99, 2)):
        conn.execute("UPDATE user_revocations SET id = ? WHERE id = ?", (new, old))
    conn.execute(trigger)
    conn.commit()
    conn.close()
    with pytest.raises(ChainBroken) as e:
        Registry(reg.path)
    assert (
        f"table user_revocations row 1: is of user id {alice}, but the log wrote row 1 of "
        f"user id {vera}"
    ) in str(e.value)


def test_items_beside_a_report_are_stored_when_the_report_names_them(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    reg, _, _ = setup
    items = b'{"id":"1","set":"s"}\n'
    digest = write_bundle(tmp_path / "b3", b"three" * 16)
    for label, declared in (("named", sha256_bytes(items)), ("other", "0" * 64)):
        d = tmp_path / f"g3-{label}"
        d.mkdir()
        doc = report_doc(digest)
        doc["items"] = {"file": "items.jsonl", "sha256": declared, "count": 1}
        (d / "gate_report.json").write_text(json.dumps(doc))
        (d / "items.jsonl").write_bytes(items)
    reg.register(tmp_path / "b3", name="bot", gate_report=tmp_path / "g3-named")
    # Items that are not the ones the report names are refused, nothing recorded: they
    # were dropped without a word, the report recorded as one without items.
    with pytest.raises(InputError, match=r"g3-other/items.jsonl: the items .* are not the"):
        reg.add_gate_report("bot", 2, tmp_path / "g3-other")
    [named] = reg.gate_reports("bot", 2)
    assert reg.report_items(named) == items
    reg.close()


# Holes found by attacking the release service; each is a test now.


def _v1_then_v2_in_production(
    tmp_path: Path, reg: Registry, users: dict[str, tuple[User, str]], ci_key: tuple[Path, Path]
) -> None:
    """bot v1 into production, then v2 (a signed pass) in its place: each requested by
    alice and approved by bob."""
    alice, bob = users["alice"][0], users["bob"][0]
    reg.approve(reg.request_promotion("bot", 1, to="production", user=alice).id, user=bob)
    _second_version(tmp_path, reg, ci_key, "pass")
    reg.approve(reg.request_promotion("bot", 2, to="production", user=alice).id, user=bob)


def _second_version(tmp_path: Path, reg: Registry, ci_key: tuple[Path, Path], verdict: str) -> str:
    digest = write_bundle(tmp_path / f"b2-{verdict}", f"two-{verdict}".encode() * 16)
    report = write_gate_report(tmp_path / f"g2-{verdict}", digest, verdict, sign_key=ci_key[0])
    reg.register(tmp_path / f"b2-{verdict}", name="bot", gate_report=report, actor="ci")
    return digest


def test_a_pending_request_is_not_a_production_history_for_rollback(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    reg, users, _ = setup
    alice, bob = users["alice"][0], users["bob"][0]
    reg.approve(reg.request_promotion("bot", 1, to="production", user=alice).id, user=bob)
    _second_version(tmp_path, reg, ci_key, "warn")
    reg.waive("bot", 2, user=alice, reason="size only", expires="7d")
    reg.request_promotion("bot", 2, to="production", user=alice)  # never approved
    with pytest.raises(InputError, match="nothing to roll back to"):
        reg.rollback("bot", actor="alice")
    assert reg.production("bot").version == 1  # type: ignore[union-attr]
    reg.check()
    reg.close()


def test_a_newer_signed_fail_outvotes_an_older_pass(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    reg, users, digest = setup
    req = reg.request_promotion("bot", 1, to="production", user=users["alice"][0])
    fail = write_gate_report(tmp_path / "g1-fail", digest, "fail", sign_key=ci_key[0])
    reg.add_gate_report("bot", 1, fail)
    with pytest.raises(CheckFailed, match="newest recorded: report 2: fail"):
        reg.approve(req.id, user=users["bob"][0])
    assert reg.get("bot", 1).stage == "experiment"
    reg.close()


@pytest.mark.slow
def test_the_card_shows_the_verdict_that_decides_not_the_last_pass(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Registered with a newer signed fail, then an older pass recorded: production is
    # refused (the fail decides), but the card rendered the pass and its checks.
    reg = Registry(tmp_path / "reg.db")
    reg.trust_add(ci_key[1], role="gate", name="ci", actor="admin")
    digest = write_bundle(tmp_path / "b", b"w" * 64, readme="# bot\n")
    old_pass = write_gate_report(tmp_path / "g-pass", digest, "pass", sign_key=ci_key[0])
    time.sleep(1.1)  # signed a second later: newer
    fail = write_gate_report(tmp_path / "g-fail", digest, "fail", sign_key=ci_key[0])
    reg.register(tmp_path / "b", name="bot", gate_report=fail, actor="ci")
    reg.add_gate_report("bot", 1, old_pass)
    card = reg.card("bot", 1)
    assert "**fail**" in card and "**pass**" not in card
    reg.close()


def test_an_older_pass_offered_again_never_outvotes_a_newer_fail(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    # The pass bot v1 was registered with is recorded again after a signed fail (through
    # the CLI's and the API's upload paths): it keeps the time it was signed, and the
    # newer fail still decides, for an approval and for an offer at promotion time.
    reg, users, digest = setup
    alice, bob = users["alice"][0], users["bob"][0]
    req = reg.request_promotion("bot", 1, to="production", user=alice)
    fail = write_gate_report(tmp_path / "g1-fail", digest, "fail", sign_key=ci_key[0])
    reg.add_gate_report("bot", 1, fail)
    old_pass = tmp_path / "g1" / "gate_report.json"
    reg.add_gate_report("bot", 1, old_pass)
    reg.add_gate_report_bytes(
        "bot",
        1,
        old_pass.read_bytes(),
        attestation=(tmp_path / "g1" / "gate_attestation.dsse.json").read_bytes(),
    )
    with pytest.raises(CheckFailed, match="newest recorded: report 2: fail"):
        reg.approve(req.id, user=bob)
    assert reg.get("bot", 1).stage == "experiment"
    reg.close()


def _one_person_registry(tmp_path: Path, ci_key: tuple[Path, Path]) -> tuple[Registry, str]:
    """A registry without approvers (one person promotes) with bot v1 registered, unjudged."""
    reg = Registry(tmp_path / "solo" / "registry.db")
    reg.trust_add(ci_key[1], role="gate", name="ci", actor="admin")
    digest = write_bundle(tmp_path / "solo-b1", b"solo" * 16)
    reg.register(tmp_path / "solo-b1", name="bot", actor="ci")
    return reg, digest


def test_a_pass_signed_before_a_fail_backs_nothing_when_offered_after_it(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # A pass kept back, then offered once the newer fail is recorded: the order is the
    # order the gate signed them in, not the order someone offers them in.
    reg, digest = _one_person_registry(tmp_path, ci_key)
    early_pass = write_gate_report(tmp_path / "early", digest, "pass", sign_key=ci_key[0])
    fail = write_gate_report(tmp_path / "late", digest, "fail", sign_key=ci_key[0])
    reg.add_gate_report("bot", 1, fail)
    with pytest.raises(CheckFailed, match="newest recorded: report 1: fail"):
        reg.promote("bot", 1, to="production", actor="ci", gate_report=early_pass)
    assert reg.get("bot", 1).stage == "experiment"
    # A pass signed after the fail decides, offered or recorded.
    late_pass = write_gate_report(tmp_path / "later", digest, "pass", sign_key=ci_key[0])
    assert reg.promote("bot", 1, to="production", actor="ci", gate_report=late_pass).stage == (
        "production"
    )
    reg.close()


def _legacy_attestation(report: Path, sign_key: Path) -> None:
    """An attestation as the gate signed it before predicates carried ``issued_at``."""
    from curagate.artifacts import GatePredicate, GateReportDoc, read_artifact
    from curagate.signing import ATTESTATION_NAME, sign_envelope, statement

    loaded = read_artifact(GateReportDoc, report)
    predicate = GatePredicate.of_report(loaded.doc, loaded.sha256).model_dump(mode="json")
    del predicate["issued_at"]
    stmt = statement("bot", str(loaded.doc.candidate.artifact_sha256), predicate)
    (report.parent / ATTESTATION_NAME).write_bytes(sign_envelope(stmt, sign_key))


def test_attestations_without_a_signed_time_count_from_their_first_recording(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    reg, digest = _one_person_registry(tmp_path, ci_key)
    old_pass = write_gate_report(tmp_path / "p", digest, "pass")
    fail = write_gate_report(tmp_path / "f", digest, "fail")
    for report in (old_pass, fail):
        _legacy_attestation(report, ci_key[0])
    reg.add_gate_report("bot", 1, old_pass)
    reg.add_gate_report("bot", 1, fail)
    with pytest.raises(CheckFailed, match="newest recorded: report 2: fail"):
        reg.promote("bot", 1, to="production", actor="ci", gate_report=old_pass)
    reg.close()


def test_a_request_production_changed_under_is_stale_and_can_be_made_again(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    # alice asks for v2 to replace v1; meanwhile v3 is requested and shipped. Approving
    # alice's old request would replace v3 with v2, which nobody asked for.
    reg, users, _ = setup
    alice, bob = users["alice"][0], users["bob"][0]
    reg.approve(reg.request_promotion("bot", 1, to="production", user=alice).id, user=bob)
    _second_version(tmp_path, reg, ci_key, "pass")
    old = reg.request_promotion("bot", 2, to="production", user=alice, reason="v2 over v1")
    digest3 = write_bundle(tmp_path / "b3", b"three" * 16)
    report3 = write_gate_report(tmp_path / "g3", digest3, "pass", sign_key=ci_key[0])
    reg.register(tmp_path / "b3", name="bot", gate_report=report3, actor="ci")
    reg.approve(reg.request_promotion("bot", 3, to="production", user=bob).id, user=alice)
    with pytest.raises(CheckFailed, match=f"promotion request {old.id}: production of bot changed"):
        reg.approve(old.id, user=bob)
    assert reg.production("bot").version == 3  # type: ignore[union-attr]
    # Listed as what it is, not "pending" (the home page offered it for approval).
    [listed] = [r for r in reg.promotion_requests() if r.id == old.id]
    assert listed.status == "stale" and reg.promotion_request(old.id).status == "stale"
    # Named by the move that changed it (it said "archive of v1": the promotion of v3
    # archives v1 first).
    assert listed.to_dict()["why"].startswith(
        "production of bot changed since it was made (promotion of v3): "
    )
    # The stale request blocks nothing: v2 can be requested again, against v3 this time.
    again = reg.request_promotion("bot", 2, to="production", user=alice, reason="v2 over v3")
    assert reg.approve(again.id, user=bob).stage == "production"
    reg.check()
    reg.close()


def test_a_pass_signed_without_a_time_never_outvotes_a_fail_signed_with_one(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # A pass signed before the gate wrote issued_at, kept back and offered after a newer
    # signed fail, would rank at its recording time (now) and decide: it ranks below.
    reg, digest = _one_person_registry(tmp_path, ci_key)
    old_pass = write_gate_report(tmp_path / "p", digest, "pass")
    _legacy_attestation(old_pass, ci_key[0])
    fail = write_gate_report(tmp_path / "f", digest, "fail", sign_key=ci_key[0])
    reg.add_gate_report("bot", 1, fail)
    with pytest.raises(CheckFailed, match="newest recorded: report 1: fail"):
        reg.promote("bot", 1, to="production", actor="ci", gate_report=old_pass)
    assert reg.get("bot", 1).stage == "experiment"
    reg.close()


def test_an_attestation_signed_in_the_future_is_refused(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Signed "in 2031" (a runner with a wrong clock), it would outrank every verdict
    # signed until then.
    from curagate.gate.runner import write_attestation

    reg, digest = _one_person_registry(tmp_path, ci_key)
    future = write_gate_report(tmp_path / "future", digest, "pass")
    write_attestation(future, ci_key[0], issued_at="2031-01-01T00:00:00.000000Z")
    rec = reg.add_gate_report("bot", 1, future)
    assert not rec.accepted and "the signing machine's clock is wrong" in rec.why
    with pytest.raises(CheckFailed, match="clock is wrong"):
        reg.promote("bot", 1, to="production", actor="ci", gate_report=future)
    reg.close()


def test_a_revoked_users_request_and_waiver_back_nothing(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    reg, users, _ = setup
    alice, bob = users["alice"][0], users["bob"][0]
    _second_version(tmp_path, reg, ci_key, "warn")
    reg.waive("bot", 2, user=alice, reason="size only", expires="7d")
    req = reg.request_promotion("bot", 2, to="production", user=alice)
    reg.user_revoke("alice", actor="admin", reason="left")
    with pytest.raises(Forbidden, match="whose access was revoked"):
        reg.approve(req.id, user=bob)
    assert reg.promotion_request(req.id).status == "void"
    assert "alice's access was revoked" in str(reg.promotion_request(req.id).to_dict()["why"])
    carol, _ = reg.user_add("carol", role="approver", actor="admin")
    req2_refused = pytest.raises(CheckFailed, match="no unexpired waiver")
    with req2_refused:  # alice's waiver died with her access: bob must waive anew
        reg.request_promotion("bot", 2, to="production", user=carol)
    # Found by attack: the waiver was still listed as active (API and version page) while
    # every promotion refused it.
    [waiver] = reg.waivers("bot", 2)
    assert not waiver.active() and waiver.state() == "void: granter revoked"
    assert waiver.to_dict()["active"] is False
    reg.close()


@pytest.mark.parametrize(
    "reason", ["ok\n#99 approve by bob: verified", "nul\x00", "\x1b[2Kansi", "bidi\u202egnorw"]
)
def test_reasons_given_through_the_service_paths_are_one_plain_line(setup, reason: str) -> None:
    reg, users, _ = setup
    alice = users["alice"][0]
    with pytest.raises(InputError, match="control or formatting character"):
        reg.request_promotion("bot", 1, to="production", user=alice, reason=reason)
    with pytest.raises(InputError, match="control or formatting character"):
        reg.user_add("mallory", role="viewer", actor="admin", reason=reason)
    reg.close()


def test_one_approver_cannot_archive_production_by_request(setup) -> None:
    reg, users, _ = setup
    reg.approve(
        reg.request_promotion("bot", 1, to="production", user=users["alice"][0]).id,
        user=users["bob"][0],
    )
    with pytest.raises(InputError, match="staging or production"):
        reg.request_promotion("bot", 1, to="archived", user=users["alice"][0])
    assert reg.get("bot", 1).stage == "production"
    reg.close()


@pytest.mark.parametrize(
    "expiry", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "\u0667d"]
)
def test_odd_waiver_expiries_are_input_errors(setup, expiry: str) -> None:
    reg, users, _ = setup
    with pytest.raises(InputError, match="expiry"):
        reg.waive("bot", 1, user=users["alice"][0], reason="x", expires=expiry)
    reg.close()


def _registry_with_items(tmp_path: Path, ci_key: tuple[Path, Path], items: bytes) -> Registry:
    """bot v1 registered with a signed report whose items.jsonl (``items``) was kept."""
    from curagate.gate.runner import write_attestation

    reg = Registry(tmp_path / "reg" / "registry.db")
    reg.trust_add(ci_key[1], role="gate", name="ci")
    digest = write_bundle(tmp_path / "b", b"x" * 16)
    doc = report_doc(digest)
    doc["items"] = {"file": "items.jsonl", "sha256": sha256_bytes(items), "count": 1}
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "gate_report.json").write_text(json.dumps(doc))
    (tmp_path / "g" / "items.jsonl").write_bytes(items)
    write_attestation(tmp_path / "g" / "gate_report.json", ci_key[0])
    reg.register(tmp_path / "b", name="bot", gate_report=tmp_path / "g" / "gate_report.json")
    reg.check()
    return reg


def test_a_report_row_naming_items_its_report_does_not_is_tampering(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    """A writer of the database file (no token, no key) appended a report row, chained
    right, that reused the genuine signed report but named forged items put in the store:
    `check` passed, and the service showed the forged outputs under the report's
    signature (and, through its cache, under the genuine report too)."""
    reg = _registry_with_items(tmp_path, ci_key, b'{"golden_set": "s", "item_id": "1"}\n')
    forged = b'{"golden_set": "s", "item_id": "1", "candidate_output": "FORGED"}\n'
    sha = sha256_bytes(forged)
    (reg.store_dir / sha[:2]).mkdir(parents=True, exist_ok=True)
    (reg.store_dir / sha[:2] / sha).write_bytes(forged)
    genuine = reg.gate_reports("bot", 1)[0]
    with sqlite3.connect(reg.path) as db:
        cols = "model_version_id, report_sha256, attestation_sha256, verdict, accepted, why, keyid, path, actor, recorded_at"
        rid = db.execute(
            f"INSERT INTO gate_reports ({cols}) SELECT {cols} FROM gate_reports WHERE id = ?",
            (genuine.id,),
        ).lastrowid
        row = db.execute(
            "SELECT at, actor, action, name, version, from_stage, to_stage, reason, payload "
            "FROM log WHERE action = 'report' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        last_id, prev = db.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
        payload = {**json.loads(row[-1]), "gate_report_id": rid, "items_sha256": sha}
        fields = (*row[:-1], canonical(payload))
        db.execute(
            "INSERT INTO log (id, at, actor, action, name, version, from_stage, to_stage, "
            "reason, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (last_id + 1, *fields, prev, row_hash(prev, last_id + 1, fields)),
        )
    with pytest.raises(
        ChainBroken, match=r"but the report names [0-9a-f]{12}…: the row was written by hand"
    ):
        reg.check()
    hand_made = next(r for r in reg.gate_reports("bot", 1) if r.id == rid)
    with pytest.raises(ChainBroken, match="written by hand"):
        reg.report_items(hand_made)
    assert b"FORGED" not in (reg.report_items(genuine) or b"")
    reg.close()


def test_check_verifies_the_stored_items_a_report_kept(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    from curagate.digest import sha256_bytes as sha

    items = b'{"golden_set": "s", "item_id": "1"}\n'
    reg = _registry_with_items(tmp_path, ci_key, items)
    (reg.store_dir / sha(items)[:2] / sha(items)).unlink()
    with pytest.raises(ChainBroken, match="stored blob missing"):
        reg.check()
    reg.close()


@pytest.mark.parametrize("edit", ["changed", "deleted"])
@pytest.mark.parametrize("when", ["before the request", "before the approval"])
def test_production_is_refused_while_the_backing_reports_stored_items_are_tampered(
    tmp_path: Path, ci_key: tuple[Path, Path], edit: str, when: str
) -> None:
    """The items stored with the report were edited in the store after alice's request:
    the compare page was 503 and `check` failed, but bob's approval shipped the version
    (found by attack)."""
    from curagate.digest import sha256_bytes as sha

    items = b'{"golden_set": "s", "item_id": "1"}\n'
    reg = _registry_with_items(tmp_path, ci_key, items)
    alice, bob = (reg.user_add(n, role="approver", actor="admin")[0] for n in ("alice", "bob"))
    blob = reg.store_dir / sha(items)[:2] / sha(items)

    def tamper() -> None:
        blob.chmod(0o644)
        if edit == "changed":
            blob.write_bytes(b'{"golden_set": "s", "item_id": "1", "candidate_correct": 1}\n')
        else:
            blob.unlink()

    if when == "before the request":
        tamper()
        with pytest.raises(ChainBroken, match="stored blob"):
            reg.request_promotion("bot", 1, to="production", user=alice)
        assert reg.promotion_requests("bot") == []
    else:
        req = reg.request_promotion("bot", 1, to="production", user=alice)
        tamper()
        with pytest.raises(ChainBroken, match="stored blob"):
            reg.approve(req.id, user=bob)
        assert reg.promotion_request(req.id).approved_by is None
    assert reg.get("bot", 1).stage != "production"
    reg.close()


def test_production_is_refused_while_a_twin_reports_stored_items_are_tampered(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    """The signed report was recorded first without its items (it backs the version), then
    again with them: the items read on the compare page are the twin's, and with them edited
    in the store a promotion still went through (found by re-attack)."""
    import shutil

    from curagate.gate.runner import write_attestation

    items = b'{"golden_set": "s", "item_id": "1"}\n'
    reg = Registry(tmp_path / "reg" / "registry.db")
    reg.trust_add(ci_key[1], role="gate", name="ci")
    digest = write_bundle(tmp_path / "b", b"x" * 16)
    doc = report_doc(digest)
    doc["items"] = {"file": "items.jsonl", "sha256": sha256_bytes(items), "count": 1}
    with_items, without = tmp_path / "g", tmp_path / "g2"
    with_items.mkdir()
    without.mkdir()
    (with_items / "gate_report.json").write_text(json.dumps(doc))
    (with_items / "items.jsonl").write_bytes(items)
    write_attestation(with_items / "gate_report.json", ci_key[0])
    for f in with_items.iterdir():
        if f.name != "items.jsonl":
            shutil.copy(f, without / f.name)
    reg.register(tmp_path / "b", name="bot", gate_report=without / "gate_report.json")
    reg.add_gate_report("bot", 1, with_items / "gate_report.json")
    blob = reg.store_dir / sha256_bytes(items)[:2] / sha256_bytes(items)
    blob.chmod(0o644)
    blob.write_bytes(b'{"golden_set": "s", "item_id": "1", "candidate_correct": 1}\n')
    with pytest.raises(ChainBroken, match="stored blob was changed"):
        reg.promote("bot", 1, to="production", actor="ci")
    assert reg.get("bot", 1).stage != "production"
    reg.close()


@pytest.mark.slow
def test_an_approval_ships_on_the_report_its_request_was_made_on(
    tmp_path: Path, setup, ci_key: tuple[Path, Path]
) -> None:
    """alice requested v1 on its signed pass; a newer signed warn came and alice waived it
    herself: bob's approval shipped v1 on the warn and her waiver, which he never saw."""
    reg, users, digest = setup
    alice, bob = users["alice"][0], users["bob"][0]
    req = reg.request_promotion("bot", 1, to="production", user=alice)
    [passed] = reg.gate_reports("bot", 1)
    assert (req.gate_report_id, req.waiver_id) == (passed.id, None)
    assert req.to_dict()["gate_report_id"] == passed.id
    time.sleep(1.1)  # signed times have whole seconds
    warn = write_gate_report(tmp_path / "g1w", digest, "warn", sign_key=ci_key[0])
    newer = reg.add_gate_report("bot", 1, warn, actor="ci")
    w = reg.waive("bot", 1, user=alice, reason="mine", expires="1d")
    before = len(reg.log())
    with pytest.raises(
        CheckFailed,
        match=rf"requested on report {passed.id}; bot v1 is now backed by report {newer.id} "
        rf"under waiver {w.id}: request the promotion again",
    ):
        reg.approve(req.id, user=bob)
    assert len(reg.log()) == before and reg.get("bot", 1).stage == "experiment"
    assert reg.promotion_request(req.id).status == "stale"
    # requested again on what backs it now, it is approved and ships on exactly that
    again = reg.request_promotion("bot", 1, to="production", user=alice)
    assert (again.gate_report_id, again.waiver_id) == (newer.id, w.id)
    reg.approve(again.id, user=bob)
    assert reg.log("bot", 1)[-1].data["gate_report_id"] == newer.id
    reg.check()
    reg.close()


@pytest.mark.slow
def test_a_registry_with_a_request_approved_before_requests_were_bound_still_opens(
    tmp_path: Path, setup, ci_key: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before requests named their report and waiver, an approval shipped on what backed
    the version then (here a newer signed pass). The replay held such rows to the new
    binding: every command, opening the registry included, failed on an untampered log."""
    reg, users, digest = setup
    real_log = Registry._log

    def as_before(self: Registry, db: Any, action: str, **kw: Any) -> int:
        if action == "request":  # what requests logged then
            kw["payload"] = {k: v for k, v in kw["payload"].items() if k != "waiver_id"}
        return real_log(self, db, action, **kw)

    monkeypatch.setattr(Registry, "_log", as_before)
    # ... and approvals shipped on what backed the version at approval
    monkeypatch.setattr(
        reg,
        "_requested_backing",
        lambda db, rid: (reg._backing_report(db, reg._get(db, "bot", 1))[0],),
    )
    req = reg.request_promotion("bot", 1, to="production", user=users["alice"][0])
    time.sleep(1.1)  # signed times have whole seconds
    newer = reg.add_gate_report(
        "bot",
        1,
        write_gate_report(tmp_path / "g1b", digest, "pass", sign_key=ci_key[0]),
        actor="ci",
    )
    assert reg.approve(req.id, user=users["bob"][0]).stage == "production"
    assert reg.log("bot", 1)[-1].data["gate_report_id"] == newer.id
    monkeypatch.undo()
    reg.check()
    path = reg.path
    reg.close()
    with Registry(path) as again:
        assert again.get("bot", 1).stage == "production"


@pytest.mark.slow
def test_a_fail_refused_when_recorded_decides_once_its_key_is_trusted(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: CI signed a newer fail with a new key before the owner trusted it.
    # Recorded as refused, it was never ranked again once the key was trusted: the older
    # pass still decided, `promote --to production` shipped it and `check` passed.
    reg, digest = _one_person_registry(tmp_path, ci_key)
    new_key = keypair(tmp_path / "new-key")
    old_pass = write_gate_report(tmp_path / "p", digest, "pass", sign_key=ci_key[0])
    assert reg.add_gate_report("bot", 1, old_pass).accepted
    time.sleep(1.1)  # signed times have whole seconds: the fail is the newer verdict
    fail = write_gate_report(tmp_path / "f", digest, "fail", sign_key=new_key[0])
    refused = reg.add_gate_report("bot", 1, fail)
    assert not refused.accepted and "trusted, unrevoked key" in refused.why
    reg.trust_add(new_key[1], role="gate", name="ci-new", actor="owner")
    decider = reg.deciding_report(reg.get("bot", 1))
    assert decider is not None and decider[0].id == refused.id and decider[1].verdict == "fail"
    for offered in (None, old_pass):
        with pytest.raises(CheckFailed, match=f"newest recorded: report {refused.id}: fail"):
            reg.promote("bot", 1, to="production", actor="owner", gate_report=offered)
    db = str(reg.path)
    reg.close()
    capsys.readouterr()
    assert main(["registry", "promote", "bot", "1", "--to", "production", "--db", db]) == 1
    assert main(["registry", "check", "--db", db]) == 0
    capsys.readouterr()
    assert main(["registry", "show", "bot", "1", "--json", "--db", db]) == 0
    shown = {g["id"]: g for g in json.loads(capsys.readouterr().out)["gate_reports"]}
    assert shown[refused.id]["accepted"] is False and shown[refused.id]["verified_now"] is True
    with Registry(db) as again:
        assert again.get("bot", 1).stage == "experiment"


def test_a_pass_refused_when_recorded_backs_production_once_offered_again(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # A pass signed by a key trusted only since decides, but the log lets only a report
    # accepted when recorded back a move: offered again, it is one.
    reg, digest = _one_person_registry(tmp_path, ci_key)
    new_key = keypair(tmp_path / "new-key")
    new_pass = write_gate_report(tmp_path / "p", digest, "pass", sign_key=new_key[0])
    assert not reg.add_gate_report("bot", 1, new_pass).accepted
    reg.trust_add(new_key[1], role="gate", name="ci-new", actor="owner")
    with pytest.raises(CheckFailed, match=r"verified today but refused when recorded.*offer it"):
        reg.promote("bot", 1, to="production", actor="owner")
    mv = reg.promote("bot", 1, to="production", actor="owner", gate_report=new_pass)
    assert mv.stage == "production"
    assert [
        json.loads(r.payload)["gate_report_id"]
        for r in reg.log("bot", 1)
        if r.to_stage == "production"
    ] == [2]
    reg.check()
    reg.close()


def test_a_rollback_blocked_by_a_pass_its_key_trusted_since_goes_once_it_is_reported_again(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by the re-attack: the refusal said "offer it again (--gate-report or an upload)",
    # but rollback has no --gate-report and promote refuses an archived version before it
    # records anything: from the CLI the old production version could not come back.
    reg, digest = _one_person_registry(tmp_path, ci_key)
    new_key = keypair(tmp_path / "new-key")
    first = write_gate_report(tmp_path / "p1", digest, "pass", sign_key=ci_key[0])
    assert reg.add_gate_report("bot", 1, first).accepted
    newer = write_gate_report(tmp_path / "p2", digest, "pass", sign_key=new_key[0])
    assert not reg.add_gate_report("bot", 1, newer).accepted  # its key not yet trusted
    reg.promote("bot", 1, to="production", actor="ci")
    d2 = write_bundle(tmp_path / "solo-b2", b"two" * 16)
    reg.register(tmp_path / "solo-b2", name="bot", actor="ci")
    v2 = write_gate_report(tmp_path / "p3", d2, "pass", sign_key=ci_key[0])
    reg.promote("bot", 2, to="production", actor="ci", gate_report=v2)
    reg.trust_add(new_key[1], role="gate", name="ci-new", actor="owner")
    db = str(tmp_path / "solo" / "registry.db")
    reg.close()
    assert main(["registry", "rollback", "bot", "--db", db, "--actor", "ops"]) == 1
    assert "`curagate registry report bot 1 --gate-report FILE`" in capsys.readouterr().err
    argv = ["registry", "report", "bot", "1", "--gate-report", str(newer), "--db", db]
    assert main([*argv, "--actor", "ops"]) == 0
    assert "accepted" in capsys.readouterr().out
    assert main(["registry", "rollback", "bot", "--db", db, "--actor", "ops"]) == 0
    assert main(["registry", "check", "--db", db]) == 0
    # a report that does not verify is recorded all the same, and exits 1
    unsigned = write_gate_report(tmp_path / "p4", digest, "fail")
    assert main(["registry", "report", "bot", "1", "--gate-report", str(unsigned), "--db", db]) == 1


def _signed_ahead_of_the_clock(folder: Path, digest: str, verdict: str, key: Path) -> Path:
    """A gate report whose attestation was signed 2 s past the clock skew the registry allows."""
    from curagate.artifacts import GatePredicate, GateReportDoc, iso_utc, read_artifact
    from curagate.registry.store import MAX_CLOCK_SKEW
    from curagate.signing import ATTESTATION_NAME, sign_envelope, statement

    report = write_gate_report(folder, digest, verdict)
    loaded = read_artifact(GateReportDoc, report)
    predicate = GatePredicate.of_report(loaded.doc, loaded.sha256).model_dump(mode="json")
    predicate["issued_at"] = iso_utc(datetime.now(UTC) + MAX_CLOCK_SKEW + timedelta(seconds=2))
    envelope = sign_envelope(statement("bot", digest, predicate), key)
    (report.parent / ATTESTATION_NAME).write_bytes(envelope)
    return report


@pytest.mark.slow
def test_a_report_signed_ahead_of_the_clock_stays_refused_once_that_time_has_come(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Every recorded report is judged again today, refused ones included: one refused as
    # signed "in the future" would otherwise decide from that time on, over verdicts
    # signed since. Its signed time is held to the registry's clock when it was offered.
    reg, digest = _one_person_registry(tmp_path, ci_key)
    passed = write_gate_report(tmp_path / "p", digest, "pass", sign_key=ci_key[0])
    assert reg.add_gate_report("bot", 1, passed).accepted
    fail = _signed_ahead_of_the_clock(tmp_path / "f", digest, "fail", ci_key[0])
    refused = reg.add_gate_report("bot", 1, fail)
    assert not refused.accepted and "after this registry's clock allows" in refused.why
    time.sleep(3)  # its signed time is now within what the clock allows
    decider = reg.deciding_report(reg.get("bot", 1))
    assert decider is not None and decider[1].verdict == "pass"
    # Found by the re-attack: offered again now, the same attestation was accepted (held to
    # the clock of its own new record), and it outranked the verdicts signed after it.
    again = reg.add_gate_report("bot", 1, fail)
    assert not again.accepted and "after this registry's clock allows" in again.why
    assert reg.promote("bot", 1, to="production", actor="ci").stage == "production"
    reg.check()
    reg.close()


def test_a_report_signed_anew_after_a_clock_fix_is_a_first_offer_of_its_own(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Found by the re-attack: first offers were found by the report's bytes, which a gate
    # rerun with its clock fixed writes again (reports are deterministic): the honest new
    # attestation was held to the first offer's clock, a day before, and refused for ever.
    from curagate.digest import sha256_bytes
    from curagate.gate.runner import write_attestation
    from curagate.signing import ATTESTATION_NAME

    reg, digest = _one_person_registry(tmp_path, ci_key)
    report = _signed_ahead_of_the_clock(tmp_path / "p", digest, "pass", ci_key[0])
    assert not reg.add_gate_report("bot", 1, report).accepted
    write_attestation(report, ci_key[0])  # the same report, signed now
    with reg._read() as db:
        fresh = (report.parent / ATTESTATION_NAME).read_bytes()
        assert reg._first_offered(db, sha256_bytes(report.read_bytes()), fresh) is None
    assert reg.add_gate_report("bot", 1, report).accepted
    reg.check()
    reg.close()


@pytest.mark.slow
def test_a_pass_signed_ahead_of_the_clock_offered_again_does_not_outrank_a_newer_fail(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    from curagate.signing import ATTESTATION_NAME

    reg, digest = _one_person_registry(tmp_path, ci_key)
    ahead = _signed_ahead_of_the_clock(tmp_path / "p", digest, "pass", ci_key[0])
    assert not reg.add_gate_report("bot", 1, ahead).accepted
    fail = write_gate_report(tmp_path / "f", digest, "fail", sign_key=ci_key[0])
    assert reg.add_gate_report("bot", 1, fail).accepted
    time.sleep(3)
    with pytest.raises(CheckFailed):
        reg.promote("bot", 1, to="production", actor="ci", gate_report=ahead)
    # The same envelope indented anew (its signature covers the payload, not the file's
    # bytes) was a first offer, judged by today's clock: it shipped.
    envelope = ahead.parent / ATTESTATION_NAME
    original = json.loads(envelope.read_bytes())
    envelope.write_text(json.dumps(original, indent=3))
    assert not reg.add_gate_report("bot", 1, ahead).accepted
    with pytest.raises(CheckFailed):
        reg.promote("bot", 1, to="production", actor="ci", gate_report=ahead)
    # Found by attack: so was its payload's base64 spelled another way (other unused low
    # bits in its last character, or an unpadded one padded: the same bytes decoded).
    payload = original["payload"]
    assert payload.endswith("=")  # padded: the last character has unused low bits
    bare = payload.rstrip("=")
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    flipped = bare[:-1] + alphabet[alphabet.index(bare[-1]) ^ 1] + payload[len(bare) :]
    for spelling in (flipped,):
        assert base64.b64decode(spelling, validate=True) == base64.b64decode(payload)
        envelope.write_text(json.dumps({**original, "payload": spelling}))
        assert not reg.add_gate_report("bot", 1, ahead).accepted
        with pytest.raises(CheckFailed):
            reg.promote("bot", 1, to="production", actor="ci", gate_report=ahead)
    assert reg.get("bot", 1).stage != "production"
    reg.check()
    reg.close()


def test_many_offers_of_one_report_are_read_once(
    tmp_path: Path, ci_key: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: each record's judgement read and parsed the stored envelope of every
    # record of the same report (quadratic: 100 re-uploads padded to 400 KB each made the
    # index page take 25 s). Each stored envelope is now read once.
    from curagate.registry.store import Registry
    from curagate.signing import ATTESTATION_NAME

    reg, digest = _one_person_registry(tmp_path, ci_key)
    report = write_gate_report(tmp_path / "p", digest, "pass", sign_key=ci_key[0])
    envelope = json.loads((report.parent / ATTESTATION_NAME).read_bytes())
    for i in range(30):
        reg.add_gate_report_bytes(
            "bot", 1, report.read_bytes(), attestation=(json.dumps(envelope) + " " * i).encode()
        )
    reads: list[str] = []
    blob = Registry.blob

    def counted(self: Registry, sha: str) -> bytes:
        reads.append(sha)
        return blob(self, sha)

    monkeypatch.setattr(Registry, "blob", counted)
    mv = reg.get("bot", 1)
    decider = reg.deciding_report(mv)
    assert decider is not None and decider[1].verdict == "pass"
    with reg._read() as db:
        envelopes = {r[0] for r in db.execute("SELECT attestation_sha256 FROM gate_reports")}
    assert len(envelopes) == 30
    assert max(reads.count(sha) for sha in envelopes) <= 2  # its own judgement, its statement
    reg.close()


def test_one_statement_has_one_digest_however_its_envelope_is_spelled(
    ci_key: tuple[Path, Path],
) -> None:
    from curagate.signing import sign_envelope, signed_digest, statement

    envelope = json.loads(sign_envelope(statement("bot", "a" * 64, {"v": 1}), ci_key[0]))
    digest = signed_digest(json.dumps(envelope).encode())
    assert digest is not None
    decoded = base64.b64decode(envelope["payload"])
    unpadded = base64.b64encode(decoded + b" " * (-len(decoded) % 3 or 3)).decode()  # 3k bytes
    assert not unpadded.endswith("=")
    other = {**envelope, "payload": unpadded}
    assert signed_digest(json.dumps(other).encode()) != digest  # another statement
    padded = {**envelope, "payload": unpadded + "="}  # the same bytes, one "=" more
    assert signed_digest(json.dumps(padded).encode()) == signed_digest(json.dumps(other).encode())
    typed = {**envelope, "payloadType": "application/other"}  # the type is signed too
    assert signed_digest(json.dumps(typed).encode()) != digest
    assert signed_digest(json.dumps(envelope, indent=2).encode()) == digest
    for broken in (b"not json", b"[]", json.dumps({**envelope, "payload": "%%"}).encode()):
        assert signed_digest(broken) is None


@pytest.mark.slow
def test_a_copy_of_the_database_put_back_is_not_read_with_the_other_copys_first_offers(
    tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Found by the re-attack: first offers were kept per path, report and row count: a
    # process that had read one copy judged a pass signed in the future, refused in the
    # other copy put back at the same path, by today's clock once its time came; it shipped.
    import shutil

    from curagate.artifacts import GatePredicate, GateReportDoc, iso_utc, read_artifact
    from curagate.signing import ATTESTATION_NAME, sign_envelope, statement

    reg, digest = _one_person_registry(tmp_path, ci_key)
    db, folder = reg.path, reg.path.parent
    reg.close()
    shutil.copytree(folder, tmp_path / "backup")
    ahead = _signed_ahead_of_the_clock(tmp_path / "p", digest, "pass", ci_key[0])
    assert (ahead.parent / ATTESTATION_NAME).is_file()
    loaded = read_artifact(GateReportDoc, ahead)
    predicate = GatePredicate.of_report(loaded.doc, loaded.sha256).model_dump(mode="json")
    predicate["issued_at"] = iso_utc(datetime.now(UTC))
    honest = sign_envelope(statement("bot", digest, predicate), ci_key[0])
    first = Registry(db)
    for _ in range(2):  # the same report signed now, twice: two rows in this copy
        assert first.add_gate_report_bytes(
            "bot", 1, ahead.read_bytes(), attestation=honest
        ).accepted
        first.deciding_report(first.get("bot", 1))
    first.close()
    shutil.rmtree(folder)
    shutil.copytree(tmp_path / "backup", folder)
    second = Registry(db)
    assert not second.add_gate_report("bot", 1, ahead).accepted
    time.sleep(3)  # its signed time has come
    with pytest.raises(CheckFailed):
        second.promote("bot", 1, to="production", actor="ci", gate_report=ahead)
    assert second.get("bot", 1).stage != "production"
    second.check()
    second.close()


def test_rollback_from_version_and_waive_report_sha256_refuse_what_moved_since(
    setup,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The CLI's twins of the release service's rule (found by attack on the service): a
    # rollback names the production version it rolls back from, a waiver the report read.
    reg, users, _ = setup
    _v1_then_v2_in_production(tmp_path, reg, users, ci_key)
    db = str(reg.path)
    reg.close()
    monkeypatch.setenv("CURAGATE_TOKEN", users["bob"][1])
    rollback = ["registry", "rollback", "bot", "--from-version", "2", "--db", db]
    assert main([*rollback, "--to-version", "3", "--reason", "latency"]) == 1  # restores v1
    assert main([*rollback, "--to-version", "1", "--reason", "latency"]) == 0
    assert main([*rollback, "--reason", "latency, again"]) == 1  # production is v1 now
    with Registry(db) as reg:
        assert reg.production("bot").version == 1  # type: ignore[union-attr]
        _second_version(tmp_path, reg, ci_key, "warn")  # bot v3, a signed warn
        deciding = reg.deciding_report(reg.get("bot", 3))
        assert deciding is not None
        sha = deciding[0].report_sha256
    waive = ["registry", "waive", "bot", "3", "--reason", "size", "--expires", "7d", "--db", db]
    assert main([*waive, "--report-sha256", "0" * 64]) == 1
    with Registry(db) as reg:
        assert reg.waivers("bot", 3) == []
    assert main([*waive, "--report-sha256", sha]) == 0
    with Registry(db) as reg:
        [w] = reg.waivers("bot", 3)
        assert w.report_sha256 == sha
    capsys.readouterr()
    assert main(["registry", "show", "bot", "3", "--db", db]) == 0
    assert f"backing   report {deciding[0].id} {sha} under waiver {w.id}" in capsys.readouterr().out
    request = ["registry", "request", "bot", "3", "--to", "production", "--db", db]
    monkeypatch.setenv("CURAGATE_TOKEN", users["alice"][1])
    capsys.readouterr()
    assert main([*request, "--report-sha256", sha]) == 1  # reviewed with no waiver: not so
    # and it says so, not that "a waiver was granted since" (found by attack)
    assert f"names the waiver it was reviewed under (--waiver-id {w.id}" in capsys.readouterr().err
    assert main([*request, "--waiver-id", str(w.id)]) == 2  # a waiver of which report?
    assert main([*request, "--report-sha256", sha, "--waiver-id", str(w.id)]) == 0
    with Registry(db) as reg:
        assert [r.version for r in reg.promotion_requests("bot") if r.status == "pending"] == [3]
        reg.check()


def _as_schema_2(db: Path) -> None:
    """Make ``db`` a schema-2 database: the schema-3 tables and their triggers did not exist."""
    conn = sqlite3.connect(db)
    for table in APPEND_ONLY_V3:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()


def _file_state(db: Path) -> tuple[bytes, int, int]:
    """The database's bytes and mtime, and the size of its -wal (where a migration's pages
    would go first; a read-only reader of a WAL database may leave it there empty)."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes(), db.stat().st_mtime_ns, wal.stat().st_size if wal.exists() else 0


@pytest.mark.parametrize("version", [2, 3, 4])
@pytest.mark.parametrize("tampered", [False, True])
def test_check_of_an_older_schema_never_changes_the_file_whatever_the_outcome(
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    version: int,
    tampered: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `registry check` migrated an older registry in place before replaying it, and the
    # upgrade stayed when the replay then failed: a check must not write. It checks the
    # upgraded schema on a copy in memory; a command that writes upgrades the file.
    db = tmp_path / "reg" / "r.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        write_bundle(tmp_path / "b1", b"one" * 16)
        reg.register(tmp_path / "b1", name="bot")
        if version > 2:
            reg.user_add("alice", role="approver")
        head = reg.head()
    {2: _as_schema_2, 3: as_schema_3, 4: as_schema_4}[version](db)
    if tampered:
        conn = sqlite3.connect(db)
        conn.execute("DROP TRIGGER gate_reports_no_delete")
        conn.commit()
        conn.close()
    before = _file_state(db)
    time.sleep(0.01)  # an mtime written now would differ
    assert main(["registry", "check", "--db", str(db)]) == (1 if tampered else 0)
    out, err = capsys.readouterr()
    if tampered:
        assert "trigger gate_reports_no_delete was dropped" in err
    else:
        assert f"note: the database is schema {version}" in out and "file is unchanged" in out
        # Found by attack: `show` and `list` upgraded it too, so a backup looked into after a
        # check changed; they only read now, and leave it as it is.
        assert (
            "(list, show and the other commands that only read leave it so; the next command "
            "that writes upgrades it in place)"
        ) in out
    assert _file_state(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    if tampered:
        return
    with Registry(db) as reg:  # a command that writes upgrades it as before
        reg.user_add("ci", role="uploader")
        assert reg.head()[0] == head[0] + 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert main(["registry", "check", "--db", str(db)]) == 0


def _small_registry(tmp_path: Path, ci_key: tuple[Path, Path]) -> Path:
    db = tmp_path / "reg" / "r.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        write_bundle(tmp_path / "b1", b"one" * 16)
        reg.register(tmp_path / "b1", name="bot")
    return db


def test_check_names_a_hot_rollback_journal_and_the_command_that_rolls_it_back(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a registry in rollback-journal mode (as VACUUM INTO, SQLite's online
    # backup, writes it) whose writer was killed mid-write has a hot r.db-journal; a
    # read-only check cannot roll it back and said only "cannot open the registry database
    # (attempt to write a readonly database)", exit 2, like a damaged file.
    src = _small_registry(tmp_path, ci_key)
    with sqlite3.connect(src) as conn:
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    writer = sqlite3.connect(src, isolation_level=None)
    writer.execute("PRAGMA cache_size = 1")  # the change spills into the file mid-write
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE junk(x)")
    for _ in range(300):
        writer.execute("INSERT INTO junk VALUES (randomblob(500))")
    # What a crash leaves: the file half written and the journal, with no lock held.
    for name in ("r.db", "r.db-journal"):
        (crashed / name).write_bytes((src.parent / name).read_bytes())
    writer.execute("ROLLBACK")
    writer.close()
    db = crashed / "r.db"
    before = db.read_bytes()
    assert main(["registry", "check", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "an interrupted write left a hot rollback journal, r.db-journal" in err
    assert f"run `curagate registry migrate --db {db}`" in err
    assert db.read_bytes() == before and (crashed / "r.db-journal").exists()
    # `head` only reads, as `check` does: it cannot roll the journal back either.
    assert main(["registry", "head", "--db", str(db)]) == 2
    assert "hot rollback journal" in capsys.readouterr().err
    assert db.read_bytes() == before and (crashed / "r.db-journal").exists()
    assert main(["registry", "migrate", "--db", str(db)]) == 0  # rolls the journal back
    assert main(["registry", "check", "--db", str(db)]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'junk'").fetchone() is None


@pytest.mark.parametrize("read_only_folder", [False, True])
def test_check_says_why_it_cannot_read_a_wal_database_without_its_shm(
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    read_only_folder: bool,
) -> None:
    # Found by attack: a WAL registry in a read-only folder (a backup on read-only media,
    # a snapshot mount) without its -shm cannot be read even read-only, as SQLite must
    # create -shm; check said only "unable to open database file". (A -shm that cannot be
    # created stands in for the read-only folder, which root could write to anyway.)
    db = _small_registry(tmp_path, ci_key)
    (tmp_path / "reg" / "r.db-shm").symlink_to(tmp_path / "no such folder" / "shm")
    if read_only_folder:
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: False if Path(p) == db.parent else real(p, mode)
        )
    assert main(["registry", "check", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    where = (
        f"its folder {db.parent} is read-only"
        if read_only_folder
        else "SQLite cannot create it there"
    )
    assert (
        f"{db}: a WAL-mode database, which SQLite reads only with r.db-shm beside it, and "
        f"there is none and {where}; copy the registry (r.db, and r.db-wal if there is "
        "one: it may hold commits) to a writable folder and open the copy"
    ) in err


# Each command that only reads, with what its output must hold for _read_registry's registry.
READS: dict[str, tuple[list[str], str]] = {
    "list": (["list"], "bot   1        experiment"),
    "show": (["show", "bot", "1"], "bot v1  [experiment]"),
    "head": (["head"], "{head}"),
    "card": (["card", "bot", "1"], "A support bot."),
    "requests": (["requests", "--json"], "[]"),
    "trust list": (["trust", "list"], "ci    gate"),
    "users list": (["users", "list"], "alice  approver"),
}


def _read_registry(tmp_path: Path, ci_key: tuple[Path, Path], version: int) -> tuple[Path, str]:
    """An older-schema (``version``) registry: a gate key, bot v1 backed by a signed pass
    report (its bundle has a model card), and, schema 3 on, approver alice; and its head."""
    db = tmp_path / "reg" / "r.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        digest = write_bundle(tmp_path / "b1", b"one" * 16, readme="# bot\n\nA support bot.\n")
        report = write_gate_report(tmp_path / "g1", digest, "pass", sign_key=ci_key[0])
        reg.register(tmp_path / "b1", name="bot", gate_report=report)
        if version > 2:
            reg.user_add("alice", role="approver")
        head_id, head_hash = reg.head()
    {2: _as_schema_2, 3: as_schema_3, 4: as_schema_4}[version](db)
    return db, f"{head_id}:{head_hash}"


def _read_state(db: Path) -> tuple[tuple[bytes, int, int], bool]:
    """:func:`_file_state`, and whether a rollback journal is beside it (a read-only reader
    of a WAL database may leave an empty -wal and a -shm, as SQLite does; none writes one)."""
    return _file_state(db), db.with_name(db.name + "-journal").exists()


def _expect_read(
    db: Path, head: str, read: str, version: int, capsys: pytest.CaptureFixture[str]
) -> None:
    command, expected = READS[read]
    if read == "users list" and version == 2:
        expected = "no users"  # schema 2 had no users
    assert main(["registry", *command, "--db", str(db)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert expected.format(head=head) in out, out


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("version", [2, 4])
def test_a_command_that_only_reads_never_changes_an_older_schema_registry(
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    version: int,
    read: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Only `check` opened the registry read-only: list, show, head, card, requests, trust
    # list and users list upgraded an older schema in place, so a backup looked into (a
    # hash-chained audit database) was rewritten by a read, and an older curagate then
    # refused it as newer. They read it upgraded on a copy in memory, as check does.
    db, head = _read_registry(tmp_path, ci_key, version)
    before = _read_state(db)
    time.sleep(0.01)  # an mtime written now would differ
    _expect_read(db, head, read, version, capsys)
    assert _read_state(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes files whatever their mode"
)
@pytest.mark.parametrize("read", sorted(READS))
def test_a_command_that_only_reads_reads_a_registry_it_cannot_write(
    tmp_path: Path, ci_key: tuple[Path, Path], read: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A registry on a read-only mount or a file made read-only (chmod 444) could not even be
    # listed: every command but check opened it read-write and upgraded an older schema in
    # place, exit 2 "attempt to write a readonly database". (Rollback-journal mode, as a
    # backup made with VACUUM INTO is: SQLite reads a WAL database in a read-only folder only
    # with its -shm beside it, which `check` already explains.)
    db, head = _read_registry(tmp_path, ci_key, 4)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    before = _read_state(db)
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        _expect_read(db, head, read, 4, capsys)
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)
    assert _read_state(db) == before
