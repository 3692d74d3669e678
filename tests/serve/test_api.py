"""The release service's API and pages through FastAPI's test client, on real registries."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from curagate.cli import main
from curagate.digest import sha256_bytes
from curagate.gate.runner import write_attestation
from curagate.registry import Registry
from curagate.registry.store import ChainBroken, RegistryUnavailable, new_token, token_sha256
from curagate.serve.app import MAX_SESSIONS_PER_USER, SESSION_TTL_S, Sessions, create_app
from curagate.signing import actor_public_key, actor_seed
from tests.registry.registry_fixtures import report_doc, write_bundle

from .serve_fixtures import HOSTILE, World, admin, build_world, log_in


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.db), raise_server_exceptions=False) as c:
        yield c


def bearer(world: World, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def upload_body(gate_dir: Path, *, items: bool = True) -> dict[str, Any]:
    """An API upload of bot v2's signed gate report, as CI sends it."""
    body: dict[str, Any] = {
        "name": "bot",
        "version": 2,
        "report": (gate_dir / "gate_report.json").read_text(),
        "attestation": (gate_dir / "gate_attestation.dsse.json").read_text(),
    }
    if items:
        body["items"] = (gate_dir / "items.jsonl").read_text()
    return body


def reviewed(client: TestClient, world: World, version: int = 2) -> dict[str, Any]:
    """What a production request of bot ``version`` names, as a client reads it first: what
    backs it now, else the report that decides (a request the registry will refuse)."""
    v = client.get(f"/api/v1/models/bot/versions/{version}", headers=bearer(world, "vera")).json()
    if v["backing"] is not None:
        return {k: v["backing"][k] for k in ("report_sha256", "waiver_id")}
    return {"report_sha256": v["decision"]["report_sha256"], "waiver_id": None}


def upload_newer_warn(client: TestClient, world: World, tmp_path: Path) -> Any:
    """CI uploads a second signed warn for bot v2 (every item flipped): the newer verdict,
    which then decides; returns the upload's answer."""
    import time

    from curagate.digest import artifact_digest

    from .serve_fixtures import items_rows, write_gate_dir

    time.sleep(1.1)  # signed times have whole seconds: the new warn is the newer verdict
    newer = write_gate_dir(
        tmp_path / "g3",
        artifact_digest(world.db.parent.parent / "b2"),
        "warn",
        world.key,
        items_rows(30, flip_every=1),
    )
    up = client.post("/api/v1/reports", json=upload_body(newer.parent), headers=bearer(world, "ci"))
    assert up.status_code == 201 and up.json()["accepted"] is True
    return up


def login(client: TestClient, world: World, user: str) -> str:
    """Log in through the form; returns the session's CSRF token."""
    return log_in(client, world.tokens[user])


def test_two_login_tabs_share_one_nonce(client: TestClient, world: World) -> None:
    # Found by attack: each login page set a fresh nonce cookie, so opening a second tab
    # made the first tab's form a 403 ("missing or wrong CSRF token").
    def nonce() -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert m is not None
        return m.group(1)

    first, second = nonce(), nonce()
    assert first == second
    r = client.post(
        "/login", data={"token": world.tokens["vera"], "csrf": first}, follow_redirects=False
    )
    assert r.status_code == 303
    # A cookie the service did not make is not reused.
    client.cookies.clear()
    client.cookies.set("curagate_login", "chosen-by-someone")
    assert nonce() != "chosen-by-someone"


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/models/{name}/versions/{version}/promotions" in spec["paths"]
    assert "/api/v1/reports" in spec["paths"]


def test_models_lists_every_version(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/models", headers=bearer(world, "vera"))
    assert r.status_code == 200
    got = {(m["name"], m["version"]): m for m in r.json()}
    assert got[("bot", 1)]["stage"] == "production" and got[("bot", 1)]["verdict"] == "pass"
    assert got[("bot", 2)]["verdict"] == "warn" and got[("bot", 2)]["report_verified"] is True
    assert set(got[("bot", 1)]) >= {"name", "version", "stage", "digest", "verdict", "signed"}
    one = client.get("/api/v1/models/bot/versions/2", headers=bearer(world, "vera")).json()
    assert one["gate_reports"][0]["verdict"] == "warn" and one["log"][0]["action"] == "register"


def test_an_account_enrolled_with_a_swapped_key_is_told_so_at_login(
    client: TestClient, world: World
) -> None:
    # carol's enrollment code reached the admin with its key half changed: her token logs
    # in to nothing, and the page says why (she would otherwise never learn someone else
    # signs in her name).
    token = new_token()
    someone = actor_public_key(actor_seed(new_token()))
    with Registry(world.db) as reg:
        code = f"cge1_{token_sha256(token)}_{someone}"
        reg.user_add("dana", role="approver", enrollment=code, actor=admin(reg, world))
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert nonce is not None
    r = client.post("/login", data={"token": token, "csrf": nonce.group(1)}, follow_redirects=False)
    assert r.status_code == 401 and "not the one this token gives" in r.text
    api = client.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403 and "not the one this token gives" in api.json()["error"]


def test_no_token_bad_token_and_revoked_token_are_401(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/models").status_code == 401
    bad = client.get("/api/v1/models", headers={"Authorization": "Bearer cgt_nope"})
    assert bad.status_code == 401 and set(bad.json()) == {"error", "fix"}
    with Registry(world.db) as reg:
        reg.user_revoke("alice", actor=admin(reg, world))
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "staging"},
        headers=bearer(world, "alice"),
    )
    assert r.status_code == 401


def test_a_viewer_cannot_promote_waive_approve_roll_back_or_upload(
    client: TestClient, world: World
) -> None:
    h = bearer(world, "vera")
    assert (
        client.post(
            "/api/v1/models/bot/versions/2/promotions", json={"to": "staging"}, headers=h
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/models/bot/versions/2/waivers",
            json={"reason": "x", "expires": "1d", "report_sha256": world.warn_sha256},
            headers=h,
        ).status_code
        == 403
    )
    assert client.post("/api/v1/promotion-requests/1/approve", headers=h).status_code == 403
    assert (
        client.post(
            "/api/v1/models/bot/rollback",
            json={"reason": "x", "from_version": 1, "to_version": 1},
            headers=h,
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/reports", json={"name": "bot", "version": 2, "report": "{}"}, headers=h
        ).status_code
        == 403
    )


def test_ci_uploads_with_the_uploader_role_and_can_do_nothing_else(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # With an approver token, CI's account was one of the two people of an approval; the
    # uploader role can offer reports and is refused everything that moves a version.
    body = upload_body(tmp_path / "g2", items=False)
    h = bearer(world, "ci")
    r = client.post("/api/v1/reports", json=body, headers=h)
    assert r.status_code == 201 and r.json()["accepted"] is True
    moves = [
        ("/api/v1/models/bot/versions/2/promotions", {"to": "staging"}),
        ("/api/v1/models/bot/versions/2/promotions", {"to": "production", "reason": "x"}),
        (
            "/api/v1/models/bot/versions/2/waivers",
            {"reason": "x", "expires": "1d", "report_sha256": world.warn_sha256},
        ),
        ("/api/v1/models/bot/rollback", {"reason": "x", "from_version": 1, "to_version": 1}),
    ]
    for url, payload in moves:
        r = client.post(url, json=payload, headers=h)
        assert r.status_code == 403 and "uploader" in r.json()["error"], url
    # a request made by a person cannot be approved by CI's account either
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", "reason": "x", **reviewed(client, world)},
        headers=bearer(world, "alice"),
    )
    assert r.status_code in (201, 409), r.text
    assert client.post("/api/v1/promotion-requests/1/approve", headers=h).status_code == 403
    with Registry(world.db) as reg:
        assert reg.get("bot", 2).stage == "experiment"


def test_two_approvers_and_a_waiver_put_a_warn_version_in_production(
    client: TestClient, world: World
) -> None:
    a, b = bearer(world, "alice"), bearer(world, "bob")
    url = "/api/v1/models/bot/versions/2/promotions"
    ship = {"to": "production", "reason": "ship"}
    refused = client.post(url, json={**ship, **reviewed(client, world)}, headers=a)
    assert refused.status_code == 409 and "waiver" in refused.json()["error"]
    w = client.post(
        "/api/v1/models/bot/versions/2/waivers",
        json={"reason": "small golden set", "expires": "7d", "report_sha256": world.warn_sha256},
        headers=b,
    )
    assert w.status_code == 201 and w.json()["active"] is True
    r = client.post(url, json={**ship, **reviewed(client, world)}, headers=a)
    assert r.status_code == 201
    rid = r.json()["request_id"]
    own = client.post(f"/api/v1/promotion-requests/{rid}/approve", headers=a)
    assert own.status_code == 403 and "different" in own.json()["error"]
    ok = client.post(f"/api/v1/promotion-requests/{rid}/approve", json={"reason": "ok"}, headers=b)
    assert ok.status_code == 200 and ok.json()["stage"] == "production"
    # A second click (or a second approver a moment late) meets a decided request: a
    # conflict with the registry's state, not bad input.
    again = client.post(f"/api/v1/promotion-requests/{rid}/approve", headers=bearer(world, "carol"))
    assert again.status_code == 409 and "already approved by bob" in again.json()["error"]
    with Registry(world.db) as reg:
        assert reg.get("bot", 1).stage == "archived"
        assert [(r.action, r.signed) for r in reg.log("bot", 2)][-4:] == [
            ("waive", True),
            ("request", True),
            ("approve", True),
            ("promote", True),
        ]  # each with its approver's actor key, which only their token gives
        reg.check()
    back = client.post(
        "/api/v1/models/bot/rollback",
        json={"reason": "regression", "from_version": 2, "to_version": 1},
        headers=b,
    )
    assert back.status_code == 200 and back.json()["version"] == 1
    assert client.post(url, json={"to": "staging"}, headers=a).status_code == 400  # archived


def _v2_requested(client: TestClient, world: World) -> tuple[dict[str, str], dict[str, str], int]:
    """bob waives v2's warn and alice requests production for it: (alice's and bob's
    headers, the request's id)."""
    a, b = bearer(world, "alice"), bearer(world, "bob")
    waiver = {"reason": "small golden set", "expires": "7d", "report_sha256": world.warn_sha256}
    assert client.post("/api/v1/models/bot/versions/2/waivers", json=waiver, headers=b).is_success
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", **reviewed(client, world)},
        headers=a,
    )
    return a, b, int(r.json()["request_id"])


def test_a_request_that_can_no_longer_be_approved_is_listed_as_such_without_a_button(
    client: TestClient, world: World
) -> None:
    # The requester's access is revoked: the request is void, yet it was listed as
    # "pending" with an Approve button that could only fail.
    _, b, rid = _v2_requested(client, world)
    login(client, world, "bob")
    assert f'id="approve-{rid}"' in client.get("/").text
    with Registry(world.db) as reg:
        reg.user_revoke("alice", actor=admin(reg, world), reason="left")
    [listed] = client.get("/api/v1/promotion-requests", headers=b).json()
    assert (listed["status"], listed["why"]) == (
        "void",
        "alice's access was revoked since; an active approver must request it again",
    )
    assert f'id="approve-{rid}"' not in client.get("/").text
    version = client.get("/models/bot/versions/2").text
    assert "void <span" in version and 'class="approve"' not in version


def test_staging_is_done_at_once_with_200(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "staging", "reason": "try"},
        headers=bearer(world, "alice"),
    )
    assert r.status_code == 200 and r.json()["stage"] == "staging"


@pytest.mark.slow
def test_an_expired_waiver_backs_nothing(client: TestClient, world: World) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    with Registry(world.db) as reg:
        bob = reg.authenticate(world.tokens["bob"])
        assert bob is not None
        reg.waive(
            "bot", 2, user=bob, reason="brief", expires=datetime.now(UTC) + timedelta(seconds=1)
        )
    time.sleep(1.2)
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", **reviewed(client, world)},
        headers=bearer(world, "alice"),
    )
    assert r.status_code == 409 and "no unexpired waiver" in r.json()["error"]


def test_uploaded_reports_are_judged_and_recorded(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    body = upload_body(tmp_path / "g2")
    r = client.post("/api/v1/reports", json=body, headers=bearer(world, "carol"))
    assert (
        r.status_code == 201 and r.json()["accepted"] is True and r.json()["path"] == "api upload"
    )
    report = json.loads(body["report"])
    assert report["verdict"] == "warn"
    forged = dict(body, report=json.dumps({**report, "verdict": "pass"}, indent=2))
    r = client.post("/api/v1/reports", json=forged, headers=bearer(world, "carol"))
    assert r.status_code == 201 and r.json()["accepted"] is False
    assert "changed after the gate signed it" in r.json()["why"]
    assert (
        client.post(
            "/api/v1/reports", json=dict(body, version=9), headers=bearer(world, "carol")
        ).status_code
        == 404
    )


def test_uploaded_items_that_are_not_the_reports_are_refused_with_both_digests(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: items.jsonl sent with CRLF line ends (or garbage) was dropped without
    # a word (201, accepted), and the compare page then said to rerun the gate.
    body = upload_body(tmp_path / "g2")
    crlf = dict(body, items=body["items"].replace("\n", "\r\n"))
    r = client.post("/api/v1/reports", json=crlf, headers=bearer(world, "ci"))
    assert r.status_code == 400, r.text
    assert "are not the items.jsonl the report names" in r.json()["error"]
    assert "line-ending" in r.json()["error"]
    r = client.post("/api/v1/reports", json=body, headers=bearer(world, "ci"))
    assert r.status_code == 201 and r.json()["accepted"] is True


def test_items_beside_a_report_on_the_cli_that_are_not_the_reports_are_refused(
    client: TestClient,
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by attack: an items.jsonl beside the report that is not the one it names (CRLF)
    was dropped without a word by `registry promote --gate-report` and `registry report`
    (exit 0, "now in production"), and the compare API then said to rerun the gate."""
    from .serve_fixtures import items_rows, write_gate_dir

    monkeypatch.setenv("CURAGATE_TOKEN", world.tokens["alice"])  # an approver moves it
    db = str(world.db)
    digest = write_bundle(tmp_path / "b3", b"three" * 16)
    report = write_gate_dir(tmp_path / "g3", digest, "pass", world.key, items_rows(6))
    items = report.parent / "items.jsonl"
    good = items.read_bytes()
    items.write_bytes(good.replace(b"\n", b"\r\n"))
    assert main(["registry", "--db", db, "register", str(tmp_path / "b3"), "--name", "bot"]) == 0
    store = world.db.parent / "registry.db.store"
    with Registry(world.db) as reg:
        before = (len(reg.log()), sorted(store.rglob("*")))
    for argv in (
        ["promote", "bot", "3", "--to", "staging", "--gate-report", str(report)],
        ["report", "bot", "3", "--gate-report", str(report)],
    ):
        assert main(["registry", "--db", db, *argv]) == 2
        err = capsys.readouterr().err
        assert f"{items}: the items (sha256 {sha256_bytes(items.read_bytes())[:12]}…)" in err
        assert f"the items.jsonl the report names (sha256 {sha256_bytes(good)[:12]}…)" in err
        assert "restore the items.jsonl the gate wrote" in err
    with Registry(world.db) as reg:
        assert (len(reg.log()), sorted(store.rglob("*"))) == before
        assert reg.get("bot", 3).stage == "experiment"
    # Without the file the report is recorded, without items: the compare API says which
    # items the report names and how to store them, not to rerun the gate.
    items.unlink()
    assert main(["registry", "--db", db, "report", "bot", "3", "--gate-report", str(report)]) == 0
    with Registry(world.db) as reg:
        [first] = reg.gate_reports("bot", 3)
    r = client.get(f"/api/v1/compare?a={first.id}", headers=bearer(world, "vera"))
    assert r.status_code == 404, r.text
    assert f"names items.jsonl sha256 {sha256_bytes(good)[:12]}…" in r.json()["error"]
    assert "registry report bot 3 --gate-report" in r.json()["fix"]
    # Offered again with the items the gate wrote, the report that backs v3 (the first:
    # the same signed report ranks by when it was first recorded) is compared with them.
    items.write_bytes(good)
    assert main(["registry", "--db", db, "report", "bot", "3", "--gate-report", str(report)]) == 0
    with Registry(world.db) as reg:
        deciding = reg.deciding_report(reg.get("bot", 3))
        assert deciding is not None and deciding[0].id == first.id
        assert reg.report_items(first) == good
    r = client.get(f"/api/v1/compare?a={first.id}", headers=bearer(world, "vera"))
    assert r.status_code == 200, r.text
    assert main(["registry", "--db", db, "promote", "bot", "3", "--to", "staging"]) == 0


def test_an_attestation_with_more_signatures_than_a_gate_writes_is_refused_unread(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Every signature was tried against every trusted key, at every judgement (a version
    # page judges each recorded report): an uploader's few attestations of ~9,000
    # signatures each took the page from 0.04 s to 7 s. At most 8 are read.
    body = upload_body(tmp_path / "g2")
    envelope = json.loads(body["attestation"])
    genuine = envelope["signatures"][0]
    junk = {"keyid": "", "sig": base64.b64encode(bytes(70)).decode()}
    two = dict(body, attestation=json.dumps({**envelope, "signatures": [junk, genuine]}))
    r = client.post("/api/v1/reports", json=two, headers=bearer(world, "ci"))
    assert r.status_code == 201 and r.json()["accepted"] is True
    many = dict(body, attestation=json.dumps({**envelope, "signatures": [junk] * 8 + [genuine]}))
    r = client.post("/api/v1/reports", json=many, headers=bearer(world, "ci"))
    assert r.status_code == 201 and r.json()["accepted"] is False
    assert "9 signatures; curagate signs with one and reads at most 8" in r.json()["why"]


def test_an_uploaded_report_is_signed_by_the_uploader(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # The report row names the account whose token uploaded it, and proves it: it carries
    # ci's actor signature, which the replay checks (a row in ci's name written into the
    # database by hand has none, or one that fails).
    body = upload_body(tmp_path / "g2")
    r = client.post("/api/v1/reports", json=body, headers=bearer(world, "ci"))
    assert r.status_code == 201
    with Registry(world.db) as reg:
        row = reg.log("bot", 2)[-1]
        assert (row.action, row.actor, row.signed) == ("report", "ci", True)
        reg.check()
    shown = client.get("/api/v1/models/bot/versions/2", headers=bearer(world, "vera")).json()
    assert shown["log"][-1]["payload"]["actor_sig"] == row.data["actor_sig"]
    r = client.post("/api/v1/reports", json=body, headers=bearer(world, "vera"))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/..%2F..%2Fetc/versions/1",
        "/api/v1/models/bot%0Aevil/versions/1",
        "/api/v1/models/%3Cscript%3E/versions/1",
        "/api/v1/models/bot/versions/0",
        "/api/v1/models/bot/versions/abc",
        "/api/v1/models/bot/versions/99",
        "/api/v1/compare?a=..%2F..%2Fetc%2Fpasswd",
        "/api/v1/compare?a=999",
    ],
)
def test_path_traversal_and_bad_ids_get_json_errors_not_files(
    client: TestClient, world: World, url: str
) -> None:
    r = client.get(url, headers=bearer(world, "vera"))
    assert r.status_code in (400, 404, 422)
    assert set(r.json()) == {"error", "fix"} and "Traceback" not in r.text


def test_an_internal_error_is_json_without_a_stack_trace(client: TestClient, world: World) -> None:
    # a stored blob deleted behind the service's back: a ChainBroken-class error, not a 500 trace
    store = Path(f"{world.db}.store")
    for blob in store.rglob("*"):
        if blob.is_file():
            blob.unlink()
    r = client.get("/api/v1/compare?a=2", headers=bearer(world, "vera"))
    assert r.status_code >= 400 and set(r.json()) == {"error", "fix"} and "Traceback" not in r.text


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.inline_handlers = 0
        self.style_attrs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.inline_handlers += sum(1 for k, _ in attrs if k.startswith("on"))
        self.style_attrs += sum(1 for k, _ in attrs if k == "style") + (tag == "style")


def test_every_page_has_a_csp_no_script_and_hostile_text_is_inert(
    client: TestClient, world: World
) -> None:
    login(client, world, "alice")
    pages = [
        "/",
        "/models/bot/versions/2",
        "/models/bot/versions/1",
        "/audit",
        "/compare?a=2",
        "/compare?a=2&b=1&changed=1",
        "/login",
        "/nope",
    ]
    for url in pages:
        r = client.get(url)
        assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none'
        assert "default-src 'none'" in r.headers["content-security-policy"], url
        p = _Scripts()
        p.feed(r.text)
        assert (p.scripts, p.inline_handlers, p.style_attrs) == (0, 0, 0), url
        assert HOSTILE not in r.text, url
    version = client.get("/models/bot/versions/2").text
    assert "&lt;script&gt;alert(" in version  # the hostile reason, escaped
    compare = client.get("/compare?a=2").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in compare  # the hostile model output, escaped


def test_version_page_shows_the_newest_reports_checks_with_the_static_reports_partial(
    client: TestClient, world: World
) -> None:
    login(client, world, "vera")
    page = client.get("/models/bot/versions/2").text
    table = page.split('<table id="checks">', 1)[1].split("</table>", 1)[0]
    # failing first, as in report.html; the hostile message escaped
    assert table.index("support.size") < table.index("support.accuracy.threshold")
    assert '<span class="verdict-warn">WARN</span>' in table
    assert "&lt;script&gt;alert(" in table and "<script" not in table


def test_expired_sessions_are_dropped_at_the_next_login_and_their_number_is_bounded() -> None:
    # A session nobody opened again stayed in memory for the life of the service.
    now = [1_000_000.0]
    sessions = Sessions(limit=3, clock=lambda: now[0])
    sessions.new("t1")
    now[0] += SESSION_TTL_S + 1
    second, _ = sessions.new("t2")
    assert list(sessions.items) == [second]  # first expired: dropped without being opened
    later = []
    for i in range(4):
        now[0] += 1
        later.append(sessions.new(f"t{i + 3}")[0])
    assert list(sessions.items) == later[1:]  # at the limit, the ones expiring first go
    assert sessions.get(second) is None and sessions.get(later[-1]) is not None


def test_one_users_logins_replace_their_own_sessions_not_everyone_elses() -> None:
    # A viewer logging in 10,000 times pushed every other user's session out.
    sessions = Sessions(limit=100)
    bob, _ = sessions.new("bob-token")
    mine = [sessions.new("vera-token")[0] for _ in range(500)]
    assert sessions.get(bob) is not None
    assert [sid for sid in sessions.items if sid != bob] == mine[-MAX_SESSIONS_PER_USER:]


def test_a_stored_report_edited_after_it_was_shown_is_tampering_at_the_next_request(
    client: TestClient, world: World
) -> None:
    # The judgement of a stored report was cached by its address: after "warn" became
    # "pass" in the store, `/` and the API still said the report verified.
    login(client, world, "vera")
    assert client.get("/api/v1/models", headers=bearer(world, "vera")).status_code == 200
    sha = client.get("/api/v1/models/bot/versions/2", headers=bearer(world, "vera")).json()[
        "gate_reports"
    ][0]["report_sha256"]
    blob = Path(f"{world.db}.store") / sha[:2] / sha
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"warn"', b'"pass"', 1))
    r = client.get("/api/v1/models", headers=bearer(world, "vera"))
    assert r.status_code == 503 and "stored blob was changed" in r.json()["error"]
    audit = client.get("/audit").text
    assert "Hash chain broken" in audit or "stored blob was changed" in audit
    assert str(world.db.parent) not in audit  # the operator's path, not the caller's


def test_a_bundle_signed_by_a_key_revoked_since_is_not_shown_as_signed(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    from curagate.signing import sign_bundle
    from tests.registry.registry_fixtures import keypair, write_bundle

    private, public = keypair(tmp_path / "export-key")
    write_bundle(tmp_path / "b3", b"three" * 16)
    sign_bundle(tmp_path / "b3", private)
    with Registry(world.db) as reg:
        reg.trust_add(public, role="export", name="exporter", actor=admin(reg, world))
        reg.register(tmp_path / "b3", name="bot", actor="ci")
    signed = {
        m["version"]: m["signed"]
        for m in client.get("/api/v1/models", headers=bearer(world, "vera")).json()
    }
    assert signed[3] is True
    with Registry(world.db) as reg:
        reg.trust_revoke("exporter", actor=admin(reg, world), reason="leaked")
    signed = {
        m["version"]: m["signed"]
        for m in client.get("/api/v1/models", headers=bearer(world, "vera")).json()
    }
    assert signed[3] is False
    login(client, world, "vera")
    assert "revoked since" in client.get("/models/bot/versions/3").text


def test_a_trailing_slash_is_not_a_redirect_to_the_host_header(
    client: TestClient, world: World
) -> None:
    r = client.get("/login/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and "evil.example" not in r.headers.get("location", "")


def test_session_cookie_is_httponly_and_samesite_strict(client: TestClient, world: World) -> None:
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert nonce is not None
    r = client.post(
        "/login",
        data={"token": world.tokens["vera"], "csrf": nonce.group(1)},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"].lower()
    assert "curagate_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_a_form_post_without_the_csrf_token_is_refused(client: TestClient, world: World) -> None:
    csrf = login(client, world, "alice")
    url = "/ui/models/bot/versions/2/promote"
    r = client.post(url, data={"to": "staging"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(url, data={"to": "staging", "csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    with Registry(world.db) as reg:
        assert reg.get("bot", 2).stage == "experiment"
    r = client.post(url, data={"to": "staging", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with Registry(world.db) as reg:
        assert reg.get("bot", 2).stage == "staging"
    # a login form posted without its nonce cookie (a cross-site login) is refused too
    fresh = TestClient(client.app)
    assert (
        fresh.post("/login", data={"token": world.tokens["alice"], "csrf": "x"}).status_code == 403
    )


def test_an_actions_notice_is_shown_once_and_no_link_can_write_one(
    client: TestClient, world: World
) -> None:
    # The notice came from the URL (`?notice=`): any link put its own words, escaped but
    # believable ("approved: ... re-enter your token at ..."), in the status box.
    csrf = login(client, world, "alice")
    spoof = "approved: bot v2 is now in production. Re-enter your token at evil.example"
    for url in (f"/models/bot/versions/2?notice={spoof}", f"/?notice={spoof}"):
        assert "evil.example" not in client.get(url).text
    r = client.post(
        "/ui/models/bot/versions/2/promote",
        data={"to": "staging", "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/models/bot/versions/2"
    assert "bot v2 is now in staging" in client.get("/models/bot/versions/2").text
    assert "is now in staging" not in client.get("/models/bot/versions/2").text  # once


def test_pages_need_a_login_and_a_viewer_sees_no_promote_control(
    client: TestClient, world: World
) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    login(client, world, "vera")
    assert 'id="versions"' in client.get("/").text
    version = client.get("/models/bot/versions/2").text
    assert 'id="promote"' not in version and 'id="actions"' not in version
    login(client, world, "alice")
    assert 'id="promote"' in client.get("/models/bot/versions/2").text


def test_who_promoted_is_marked_unsigned_when_the_row_that_did_it_proves_no_one(
    client: TestClient, world: World
) -> None:
    # v1 went to production before the registry had users: its actor is free text (it
    # could as well read "alice + bob"), so the page must not show it as a two-person
    # approval. v2's promotion by two approvers through the API is signed.
    _, b, rid = _v2_requested(client, world)
    approved = client.post(
        f"/api/v1/promotion-requests/{rid}/approve", json={"reason": "ok"}, headers=b
    )
    assert approved.status_code == 200
    login(client, world, "vera")
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<tr class="stage-\w+">\s*<td>bot</td>\s*<td><a [^>]*>v(\d+)</a></td>.*?'
            r"<td>([^<]*(?:<span[^>]*>[^<]*</span>)?)</td>\s*</tr>",
            client.get("/").text,
            re.S,
        )
    }
    assert rows["1"].startswith("ci <span") and "(unsigned)" in rows["1"]
    assert rows["2"] == "alice + bob"  # signed with bob's actor key, alice's request too


@pytest.mark.slow
def test_compare_lists_flips_filters_and_pages(client: TestClient, world: World) -> None:
    login(client, world, "vera")
    page = client.get("/compare?a=2&changed=1").text
    # items_rows: candidate wrong on i % 3 == 0, base wrong on odd i; 30 items
    flips = sum(1 for i in range(30) if (i % 3 != 0) != (i % 2 == 0))
    assert f"{flips} item(s) match" in page
    assert page.count("right→wrong") >= 1 and page.count("wrong→right") >= 1
    only_long = client.get("/compare?a=2&changed=1&slice=length%3Dlong").text
    long_flips = sum(1 for i in range(30) if i % 5 == 0 and (i % 3 != 0) != (i % 2 == 0))
    assert f"{long_flips} item(s) match" in only_long
    with_prod = client.get("/compare?a=2&b=1").text
    assert "bot v1" in with_prod and "Correctness, paired" in with_prod
    api = client.get("/api/v1/compare?a=2&changed=1", headers=bearer(world, "vera")).json()
    assert api["total"] == flips and api["items"][0]["flip"] == "right→wrong"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/promotion-requests/100000000000000000000/approve",
        "/api/v1/compare?a=100000000000000000000",
    ],
)
def test_numbers_beyond_sqlite_are_a_400_not_a_500(
    client: TestClient, world: World, url: str
) -> None:
    method = client.post if "approve" in url else client.get
    r = method(url, headers=bearer(world, "bob"))
    assert r.status_code in (400, 404, 422), r.text
    assert "error" in r.json()


def test_an_upload_over_the_body_limit_is_refused_before_it_is_read(
    client: TestClient, world: World
) -> None:
    # 600 MiB: above twice the 8 MiB report + 256 MiB items (JSON-escaped) + 1 MiB an upload
    # may hold, written here so that a raised (or removed) limit fails instead of moving
    # with the test.
    headers = {**bearer(world, "bob"), "content-length": str(600 << 20)}
    r = client.post("/api/v1/reports", headers=headers, content=b"{}")
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("declared", "status"),
    [
        (b"0" * 4400 + b"10", 401),  # 10 bytes, written with 4,402 digits
        (b"0" * 4400 + b"9" * 12, 413),
        (b"9" * 5000, 413),
    ],
    ids=["leading-zeros", "leading-zeros-over", "5000-digits"],
)
def test_an_odd_content_length_is_no_500(client: TestClient, declared: bytes, status: int) -> None:
    # Found by attack: the guard ran int() on the header before any token check, so any
    # client got a 500 for more than 4,300 digits (httptools passes such a value on).
    r = client.post("/api/v1/reports", headers={"content-length": declared}, content=b"x" * 10)
    assert r.status_code == status, r.text
    assert "error" in r.json()


def test_the_upload_cap_holds_a_largest_report_and_items_however_json_escapes_them() -> None:
    # Found by attack: the cap was the fields' sizes plus 1 MiB, but a JSON string escapes
    # quotes, backslashes and line breaks (an items.jsonl is full of them): 256 MiB of
    # items could not be uploaded, though the documented limit.
    from curagate.registry.store import MAX_ITEMS_BYTES, MAX_REPORT_BYTES
    from curagate.serve.app import UPLOAD_PATH, body_cap

    worst = '"\\\n'  # every character escaped: two bytes each in the body
    escaped = len(json.dumps(worst)) - 2
    assert escaped == 2 * len(worst)
    body = json.dumps({"name": "x" * 128, "version": 2**31 - 1, "report": "", "items": ""})
    cap = body_cap({"method": "POST", "path": UPLOAD_PATH})
    assert cap >= escaped / len(worst) * (MAX_REPORT_BYTES + MAX_ITEMS_BYTES) + len(body)


def test_an_upload_field_is_capped_in_bytes_not_characters(
    client: TestClient, world: World
) -> None:
    # A length limit counts characters: 3 Mi euro signs are 9 MiB, past the 8 MiB a report
    # may be, and were recorded.
    body = {"name": "bot", "version": 1, "report": "\u20ac" * (3 << 20)}
    r = client.post("/api/v1/reports", json=body, headers=bearer(world, "ci"))
    assert r.status_code == 413, r.text
    assert r.json()["error"].startswith("report: 9437184 bytes, more than the 8388608")
    assert "registry promote --gate-report" in r.json()["fix"]


def test_compare_shows_the_judge_verdict_in_both_orders(client: TestClient, world: World) -> None:
    login(client, world, "vera")
    page = client.get("/compare?a=2&set=support").text
    assert "judge (vs its base): <strong>tie</strong>" in page
    assert "the two orders disagree: counted as a tie" in page
    assert "candidate shown first: candidate" in page and "base shown first: base" in page
    api = client.get("/api/v1/compare?a=2&set=support", headers=bearer(world, "vera")).json()
    judged = [r for r in api["items"] if r["judge"] is not None]
    assert [r["id"] for r in judged] == ["item-00001"]
    assert judged[0]["judge"]["base_first"] == {"verdict": "base", "raw": "A"}


def _truncate(db: Path) -> None:
    db.write_bytes(b"")


def _delete(db: Path) -> None:
    db.unlink()


def _garble(db: Path) -> None:
    db.write_bytes(b"not a database, just text long enough for a header" * 4)


def _newer_schema(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")


def _damaged_header(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # schema 3's tables, but the header says 2
        conn.execute("PRAGMA user_version = 2")


@pytest.mark.parametrize(
    "damage",
    [_truncate, _delete, _garble, _newer_schema, _damaged_header],
    ids=lambda f: f.__name__,
)
def test_a_database_damaged_while_serving_is_503_without_its_path_and_unhealthy(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture, damage: Any
) -> None:
    login(client, world, "vera")
    assert client.get("/healthz").status_code == 200
    damage(world.db)
    with caplog.at_level(logging.ERROR, logger="curagate.serve"):
        answers = [
            client.get("/healthz"),
            client.get("/api/v1/models", headers=bearer(world, "vera")),
            client.get("/"),
            client.get("/models/bot/versions/1"),
        ]
    for r in answers:
        assert r.status_code == 503, r.text
        assert str(world.db.parent) not in r.text and "Traceback" not in r.text
    if damage is _damaged_header:  # tampering (a version set back by hand), named as such
        assert "changed by hand" in answers[1].json()["error"]
    else:
        assert answers[1].json()["error"] == "the registry database cannot be used now"
        assert str(world.db) in caplog.text  # the operator's log has the path and why
    if world.db.exists() and damage is _truncate:  # never re-created by a read
        assert world.db.stat().st_size == 0


def test_an_older_copy_of_the_database_put_back_while_the_service_runs_is_refused(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # A backup restored under a running service is an internally valid, shorter chain: the
    # chain check alone accepted it, so a rollback of the registry (a revoked user alive
    # again, a promotion undone) went unnoticed.
    backup = tmp_path / "backup.db"
    with sqlite3.connect(world.db) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    alice = bearer(world, "alice")
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions", json={"to": "staging"}, headers=alice
    )
    assert r.status_code == 200 and client.get("/healthz").status_code == 200
    assert client.get("/api/v1/models", headers=alice).status_code == 200  # head seen
    with sqlite3.connect(backup) as copy, sqlite3.connect(world.db) as live:
        copy.backup(live)  # put the older copy back, through SQLite, while the service runs
    r = client.get("/api/v1/models", headers=alice)
    assert r.status_code == 503 and "older copy" in r.json()["error"], r.text
    assert str(world.db) not in r.text
    assert client.get("/healthz").status_code == 503
    # a service started on the restored file has seen nothing newer (`check --head` is
    # the check across restarts)
    with TestClient(create_app(world.db)) as fresh:
        assert fresh.get("/api/v1/models", headers=alice).status_code == 200


def test_an_index_page_written_over_by_hand_is_tampering_not_a_login(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The service finds a user by token through the index on users.token_sha256. A
    # copy of that index page where carol's entry holds a chosen token's hash, written
    # over the real one, left every table row, log row and the head unchanged: the
    # replay read tables whole, `registry check --head` was 0 and the token was carol.
    from curagate.registry.store import token_sha256

    with Registry(world.db) as reg:
        head = reg.head()
    with sqlite3.connect(world.db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        index = "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_users_2'"
        page = conn.execute(index).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    copy = tmp_path / "copy.db"
    copy.write_bytes(world.db.read_bytes())
    evil = "cgt_" + "x" * 43
    conn = sqlite3.connect(copy)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("DROP TRIGGER users_no_update")
    conn.execute("UPDATE users SET token_sha256 = ? WHERE name = 'carol'", (token_sha256(evil),))
    conn.commit()
    assert conn.execute(index).fetchone()[0] == page  # the same page in both files
    conn.close()
    forged = copy.read_bytes()[(page - 1) * size : page * size]
    with world.db.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(forged)
    with sqlite3.connect(world.db) as conn:  # every table row as it was
        rows = conn.execute("SELECT name, token_sha256 FROM users ORDER BY name").fetchall()
    assert ("carol", token_sha256(world.tokens["carol"])) in rows
    assert all(digest != token_sha256(evil) for _, digest in rows)
    with pytest.raises(ChainBroken, match="damaged or was edited by hand"):
        Registry(world.db)
    assert main(["registry", "check", "--db", str(world.db), "--head", f"{head[0]}:{head[1]}"]) == 1
    assert "damaged or was edited by hand" in capsys.readouterr().err
    with pytest.raises(ChainBroken):
        create_app(world.db)


def _head_file_and_backup(world: World, tmp_path: Path) -> tuple[Path, Path]:
    """A --head-file path (its folder made) and a copy of the registry as it is now."""
    head = tmp_path / "keep" / "head.txt"
    head.parent.mkdir()
    backup = tmp_path / "backup.db"
    with sqlite3.connect(world.db) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    return head, backup


def test_a_head_file_keeps_the_floor_across_restarts(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without --head-file a restarted service had seen nothing: the older copy put back
    # while it was down was served as current.
    head, backup = _head_file_and_backup(world, tmp_path)
    alice = bearer(world, "alice")
    with TestClient(create_app(world.db, head_file=head)) as first:
        r = first.post(
            "/api/v1/models/bot/versions/2/promotions", json={"to": "staging"}, headers=alice
        )
        assert r.status_code == 200, r.text
    with Registry(world.db) as reg:
        ident, digest = reg.head()
    assert head.read_text(encoding="utf-8") == f"{ident}:{digest}\n"  # after its own write
    with sqlite3.connect(backup) as copy, sqlite3.connect(world.db) as live:
        copy.backup(live)  # restored while the service was down
    with pytest.raises(ChainBroken, match=f"{head} records; an older copy"):
        create_app(world.db, head_file=head)
    assert main(["serve", "--db", str(world.db), "--head-file", str(head)]) == 1
    assert "an older copy of the database was put back" in capsys.readouterr().err
    head.write_text("not a head\n", encoding="utf-8")
    assert main(["serve", "--db", str(world.db), "--head-file", str(head)]) == 2
    assert "is not ID:HASH" in capsys.readouterr().err
    missing = tmp_path / "no_such_folder" / "head.txt"
    assert main(["serve", "--db", str(world.db), "--head-file", str(missing)]) == 2
    assert "does not exist or is not writable" in capsys.readouterr().err
    head.unlink()
    os.mkfifo(head)  # the service waited for a writer forever at start
    assert main(["serve", "--db", str(world.db), "--head-file", str(head)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_an_older_copy_put_back_is_a_503_that_names_no_head_file_and_is_logged(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by attack: /healthz, without a login, answered with the --head-file's absolute
    # path, and the server log had no line.
    head, backup = _head_file_and_backup(world, tmp_path)
    with TestClient(create_app(world.db, head_file=head)) as c:
        r = c.post(
            "/api/v1/models/bot/versions/2/promotions",
            json={"to": "staging"},
            headers=bearer(world, "alice"),
        )
        assert r.status_code == 200, r.text
        with sqlite3.connect(backup) as copy, sqlite3.connect(world.db) as live:
            copy.backup(live)
        with caplog.at_level(logging.ERROR, logger="curagate.serve"):
            got = c.get("/healthz")
    assert got.status_code == 503 and str(tmp_path) not in got.text
    assert "which the head file records; an older copy" in got.json()["error"]
    assert any(str(head) in r.getMessage() for r in caplog.records)


def test_a_short_head_file_name_is_scrubbed_as_a_path_not_inside_words(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack on the scrub: with `--head-file head` every "ahead" in an answer read
    # "athe head file" (the waiver expiry error: "at most 90 days athe head file").
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(world.db, head_file="head")) as c:
        r = c.post(
            "/api/v1/models/bot/versions/2/waivers",
            json={"reason": "x", "expires": "200d", "report_sha256": world.warn_sha256},
            headers=bearer(world, "bob"),
        )
    assert r.status_code == 400 and "at most 90 days ahead; renew it later" in r.json()["error"]


def test_a_body_that_is_not_json_is_told_to_send_json_not_to_check_the_url(
    client: TestClient, world: World
) -> None:
    def post(body: str | bytes) -> Any:
        return client.post(
            "/api/v1/models/bot/rollback",
            content=body,
            headers={**bearer(world, "alice"), "Content-Type": "application/json"},
        )

    # What the parser gives up on was FastAPI's own 400 "There was an error parsing the
    # body" (found by attack), while a syntax error is a 422: all four are a body that is
    # not JSON, a 422 saying why.
    deep = post("[" * 100_000)
    assert deep.status_code == 422, deep.text
    assert deep.json() == {
        "error": "body: not JSON this service reads: nested deeper than its parser goes",
        "fix": "send a JSON object, as UTF-8",
    }
    latin1 = post('{"reason": "caf\xe9"}'.encode("latin-1"))
    assert latin1.status_code == 422, latin1.text
    assert (
        latin1.json()["error"] == "body: not JSON: byte 15 is not UTF-8 (invalid continuation byte)"
    )
    long = post('{"reason": "x", "from_version": ' + "9" * 5000 + "}")
    assert long.status_code == 422, long.text
    assert long.json()["error"] == (
        "body: not JSON this service reads: a number of more than 4300 digits"
    )
    cut = post('{"reason": [')
    assert cut.status_code == 422 and "JSON decode error" in cut.json()["error"]
    assert client.get("/api/v1/nope", headers=bearer(world, "vera")).json()["fix"] == (
        "check the URL"
    )
    # JSON sent as text/plain (or curl's default form type): the fix names the header
    for kind in ("text/plain", "application/x-www-form-urlencoded"):
        plain = client.post(
            "/api/v1/models/bot/rollback",
            content='{"reason": "latency", "from_version": 2, "to_version": 1}',
            headers={**bearer(world, "alice"), "Content-Type": kind},
        )
        assert plain.status_code == 422
        assert plain.json()["fix"] == (
            f"send the body as JSON with Content-Type: application/json (it was {kind})"
        )


def test_a_json_body_not_in_utf8_is_refused_naming_the_encoding_and_a_nul_is_named(
    client: TestClient, world: World
) -> None:
    # Found by attack: FastAPI reads a JSON body with json.loads, which guesses UTF-16 and
    # UTF-32 from the NULs of its first bytes and drops a UTF-8 byte order mark: such an
    # upload was read as if it were UTF-8, and a NUL among the first bytes was "not UTF-8".
    # JSON over HTTP is UTF-8 without a byte order mark (RFC 8259, section 8.1).
    text = json.dumps(upload_body(world.db.parent.parent / "g2"))

    def post(raw: bytes) -> Any:
        return client.post(
            "/api/v1/reports",
            content=raw,
            headers={**bearer(world, "ci"), "Content-Type": "application/json"},
        )

    assert post(text.encode()).status_code != 422  # the same body as UTF-8 is read
    fix = "send the body encoded as UTF-8, without a byte order mark"
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
        r = post(text.encode(encoding))  # "utf-16" and "utf-32" write a byte order mark
        assert r.status_code == 422, (encoding, r.text)
        assert r.json()["fix"] == fix
        assert r.json()["error"].endswith("this service reads JSON as UTF-8 only (RFC 8259)")
    got = {
        label: post(raw).json()["error"]
        for label, raw in (
            ("utf-16 bom", b"\xfe\xff" + text.encode("utf-16-be")),
            ("utf-32be", text.encode("utf-32-be")),
            ("utf-16le", text.encode("utf-16-le")),
        )
    }
    assert got == {
        "utf-16 bom": "body: UTF-16BE text (it starts with a UTF-16BE byte order mark); "
        "this service reads JSON as UTF-8 only (RFC 8259)",
        "utf-32be": "body: UTF-32BE text (the NUL bytes of its first characters say so); "
        "this service reads JSON as UTF-8 only (RFC 8259)",
        "utf-16le": "body: UTF-16LE text (the NUL bytes of its first characters say so); "
        "this service reads JSON as UTF-8 only (RFC 8259)",
    }
    bom8 = post(b"\xef\xbb\xbf" + text.encode())
    assert bom8.status_code == 422 and bom8.json() == {
        "error": "body: starts with a UTF-8 byte order mark (EF BB BF), which JSON sent over "
        "HTTP does not carry (RFC 8259)",
        "fix": fix,
    }
    raw = text.encode()
    for nul in (b"\x00" + raw, b"\x00" + raw + b" ", raw[:1] + b"\x00" + raw[1:], raw + b"\x00"):
        at = nul.index(b"\x00")
        r = post(nul)
        assert r.status_code == 422, r.text
        assert r.json() == {
            "error": f"body: not JSON: a NUL byte at byte {at} (JSON text holds none; in a "
            "string it is written \\u0000)",
            "fix": "send a JSON object, as UTF-8",
        }


def test_an_encoded_surrogate_in_a_json_body_is_named_as_a_byte_that_is_not_utf8(
    client: TestClient, world: World
) -> None:
    # Found by attack: json.loads decodes bytes with "surrogatepass", so ED A0 80 (a UTF-16
    # surrogate encoded as if UTF-8: CESU-8, not UTF-8) became a character, and the answer
    # was the model's "unable to parse raw data as a unicode string", not the byte.
    text = json.dumps(upload_body(world.db.parent.parent / "g2"))
    at = text.index('"', text.index('"report"') + len('"report"') + 1) + 1
    raw = text[:at].encode() + b"\xed\xa0\x80" + text[at:].encode()
    r = client.post(
        "/api/v1/reports",
        content=raw,
        headers={**bearer(world, "ci"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json() == {
        "error": f"body: not JSON: byte {at} is not UTF-8 (invalid continuation byte)",
        "fix": "send a JSON object, as UTF-8",
    }
    reason = client.post(
        "/api/v1/models/bot/rollback",
        content=b'{"reason": "x\xed\xb2\x80", "from_version": 2, "to_version": 1}',
        headers={**bearer(world, "alice"), "Content-Type": "application/json"},
    )
    assert reason.status_code == 422, reason.text
    assert reason.json()["error"] == (
        "body: not JSON: byte 13 is not UTF-8 (invalid continuation byte)"
    )


def test_a_copy_taken_just_before_the_services_own_write_is_refused_when_put_back(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # The floor moved only when a request opened the registry, not after the service's own
    # write: a copy taken just before an approval, put back, undid the promotion unnoticed.
    alice, bob = bearer(world, "alice"), bearer(world, "bob")
    client.post(
        "/api/v1/models/bot/versions/2/waivers",
        json={"reason": "s", "expires": "7d", "report_sha256": world.warn_sha256},
        headers=alice,
    )
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", "reason": "go", **reviewed(client, world)},
        headers=alice,
    )
    backup = tmp_path / "backup.db"
    with sqlite3.connect(world.db) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    approved = client.post(
        f"/api/v1/promotion-requests/{r.json()['request_id']}/approve",
        json={"reason": "ok"},
        headers=bob,
    )
    assert approved.status_code == 200 and approved.json()["stage"] == "production"
    with sqlite3.connect(backup) as copy, sqlite3.connect(world.db) as live:
        copy.backup(live)
    assert client.get("/api/v1/models/bot/versions/2", headers=alice).status_code == 503
    assert client.get("/healthz").status_code == 503
    # extended past the floor's row count by another writer, it is still not that history
    with Registry(world.db) as reg:
        for name in ("dora", "eve", "finn", "gus"):
            reg.user_add(name, role="viewer", actor=admin(reg, world))
    assert client.get("/healthz").status_code == 503
    assert client.get("/api/v1/models", headers=alice).status_code == 503


def test_the_service_refuses_to_start_on_an_empty_database(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _truncate(world.db)
    with pytest.raises(RegistryUnavailable, match="truncated"):
        create_app(world.db)
    assert main(["serve", "--db", str(world.db), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "empty (no tables)" in err and f"{world.db}.store" in err
    assert world.db.stat().st_size == 0


def test_a_caller_without_a_valid_token_never_costs_a_replay(
    client: TestClient, world: World
) -> None:
    # A hand edit every replay reports (503): a request answered 401 never replayed.
    with sqlite3.connect(world.db) as conn:
        conn.execute("UPDATE model_versions SET stage = 'staging' WHERE version = 2")
    assert client.get("/api/v1/models").status_code == 401
    bad = {"Authorization": "Bearer cgt_" + "x" * 43}
    assert client.get("/api/v1/models", headers=bad).status_code == 401
    assert client.post("/api/v1/models/bot/rollback", json={}, headers=bad).status_code == 401
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/login"
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert nonce is not None
    r = client.post("/login", data={"token": bad["Authorization"][7:], "csrf": nonce.group(1)})
    assert r.status_code == 401 and "Unknown or revoked token" in r.text
    # a token an active user holds is checked on the verified registry, which is broken
    assert client.get("/api/v1/models", headers=bearer(world, "vera")).status_code == 503


def upload(client: TestClient, world: World, version: int, report: str, **more: str) -> int:
    body = {"name": "bot", "version": version, "report": report, **more}
    r = client.post("/api/v1/reports", json=body, headers=bearer(world, "alice"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def signed_upload(client: TestClient, world: World, tmp_path: Path, doc: dict[str, Any]) -> int:
    """``doc`` as bot v2's report, signed by the trusted gate key: accepted."""
    with Registry(world.db) as reg:
        doc = {**report_doc(reg.get("bot", 2).artifact_digest, "warn"), **doc}
    path = tmp_path / "signed" / "gate_report.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc))
    att = write_attestation(path, world.key)
    rid = upload(client, world, 2, path.read_text(), attestation=att.read_text())
    with Registry(world.db) as reg:
        assert reg.report_by_id(rid)[1].accepted
    return rid


MALFORMED = ["not json at all", "[1, 2, 3]", '{"checks": 5}', '{"checks": [1]}', "[" * 5000]


@pytest.mark.parametrize("report", MALFORMED, ids=["text", "list", "int", "list of int", "deep"])
def test_a_malformed_uploaded_report_never_breaks_a_version_page(
    client: TestClient, world: World, report: str
) -> None:
    login(client, world, "alice")
    rids = [upload(client, world, v, report) for v in (1, 2)]
    v1 = client.get("/models/bot/versions/1")
    # An approver's actions render (no Roll back: v1 was the only production version).
    assert v1.status_code == 200 and 'id="actions"' in v1.text
    v2 = client.get("/models/bot/versions/2")
    assert v2.status_code == 200 and "<h2>Checks of report #2</h2>" in v2.text
    assert f"Report #{rids[1]}: unsigned or not verified today" in v2.text
    compare = client.get(f"/compare?a={rids[1]}")
    assert compare.status_code == 404  # names no stored items: said so, not a 500
    r = client.get(f"/api/v1/compare?a={rids[1]}", headers=bearer(world, "vera"))
    assert r.status_code == 404 and "names no items.jsonl" in r.json()["error"]
    assert "rerun `curagate gate`" in r.json()["fix"]


def test_an_unsigned_reports_checks_are_not_shown(client: TestClient, world: World) -> None:
    with Registry(world.db) as reg:
        doc = report_doc(reg.get("bot", 2).artifact_digest, "pass")
    forged = {"id": "GATE001", "name": "x", "verdict": "pass", "message": "SIGNED OFF BY QA"}
    rid = upload(client, world, 2, json.dumps({**doc, "checks": [forged]}))
    login(client, world, "vera")
    page = client.get("/models/bot/versions/2").text
    assert "SIGNED OFF BY QA" not in page and "<h2>Checks of report #2</h2>" in page
    assert f"Report #{rid}: unsigned or not verified today, so its checks are not shown" in page


def test_a_signed_report_of_another_shape_is_shown_as_unreadable(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    items = (tmp_path / "g2" / "items.jsonl").read_text()
    doc = {"checks": [1], "results": [{"golden_set": "x", "metrics": {"acc": "high"}}, "str"]}
    doc["items"] = {"file": "items.jsonl", "sha256": sha256_bytes(items.encode()), "count": 30}
    rid = signed_upload(client, world, tmp_path, doc)
    login(client, world, "vera")
    page = client.get("/models/bot/versions/2")
    assert page.status_code == 200 and f"<h2>Checks of report #{rid}</h2>" in page.text
    assert 'id="checks-unreadable"' in page.text and '<table id="checks">' not in page.text
    del doc["checks"]
    with_items = upload(client, world, 2, json.dumps(doc), items=items)  # unsigned, with items
    for a in (rid, with_items):
        compare = client.get(f"/compare?a={a}")
        assert compare.status_code == 200 and 'id="gate-metrics-unreadable"' in compare.text
        api = client.get(f"/api/v1/compare?a={a}", headers=bearer(world, "vera"))
        assert api.status_code == 200 and api.json()["total"] == 30


def _listed(client: TestClient, world: World) -> dict[int, tuple[str | None, bool]]:
    models = client.get("/api/v1/models", headers=bearer(world, "vera")).json()
    return {m["version"]: (m["verdict"], m["report_verified"]) for m in models}


def test_verified_on_the_index_and_api_means_verified_with_todays_keys(
    client: TestClient, world: World
) -> None:
    login(client, world, "vera")
    assert _listed(client, world) == {1: ("pass", True), 2: ("warn", True)}
    assert client.get("/").text.count("signed, verified") == 2
    # a newer refused upload claiming pass is not what decides, nor what is shown
    with Registry(world.db) as reg:
        doc = report_doc(reg.get("bot", 2).artifact_digest, "pass")
    upload(client, world, 2, json.dumps(doc))
    assert _listed(client, world)[2] == ("warn", True)
    with Registry(world.db) as reg:
        reg.trust_revoke("ci", role="gate", actor=admin(reg, world), reason="leaked")
    assert _listed(client, world) == {1: ("pass", False), 2: ("warn", False)}
    index = client.get("/").text
    assert "signed, verified" not in index and index.count("not verified") == 2
    page = client.get("/models/bot/versions/1").text
    assert '<table id="checks">' not in page and "no report of this version verifies today" in page


@pytest.mark.parametrize("depth", [600, 1000])
def test_uploaded_items_nested_past_what_a_page_can_write_are_refused_not_a_500(
    client: TestClient, world: World, depth: int
) -> None:
    # orjson read 1,000 levels, json.dumps could not write them back: the compare page
    # and API answered 500 to every viewer of a report an uploader's token stored.
    deep = "[" * depth + "]" * depth
    items = f'{{"set": "s", "id": "1", "prompt": {deep}}}\n'
    report = json.dumps({"items": {"sha256": sha256_bytes(items.encode())}})
    up = client.post(
        "/api/v1/reports",
        json={"name": "bot", "version": 2, "report": report, "items": items},
        headers=bearer(world, "ci"),
    )
    assert up.status_code == 201
    got = client.get(f"/api/v1/compare?a={up.json()['id']}", headers=bearer(world, "vera"))
    assert got.status_code == 400, got.text
    assert "nested deeper than 512 levels" in got.json()["error"]


def test_error_answers_never_name_the_database_file(client: TestClient, world: World) -> None:
    # A 404 for a missing version or report and a 400 for a rollback with no production
    # named the registry's path on the server to every logged-in user.
    v = bearer(world, "vera")
    answers = [
        client.get("/api/v1/compare?a=99", headers=v),
        client.get("/api/v1/models/bot/versions/9", headers=v),
        client.post(
            "/api/v1/models/nosuch/rollback",
            json={"from_version": 1, "to_version": 1},
            headers=bearer(world, "alice"),
        ),
    ]
    for r in answers:
        assert r.status_code in (400, 404), r.text
        assert str(world.db.parent) not in r.text and "registry.db" not in r.text
        assert "the registry" in r.json()["error"]


def test_a_rollback_of_an_unknown_model_is_a_404(client: TestClient, world: World) -> None:
    # Found by attack: it was a 400 "model 'nosuch' has no production version"; the docs
    # promise 404 for an unknown name, as the waiver endpoint answers.
    alice = bearer(world, "alice")
    r = client.post(
        "/api/v1/models/nosuch/rollback",
        json={"reason": "x", "from_version": 1, "to_version": 1},
        headers=alice,
    )
    assert r.status_code == 404 and "'nosuch' is not in the registry" in r.json()["error"]
    csrf = login(client, world, "alice")
    page = client.post(
        "/ui/models/nosuch/rollback",
        data={"reason": "x", "from_version": "1", "to_version": "1", "csrf": csrf},
    )
    assert page.status_code == 404 and "is not in the registry" in page.text
    # A known model without a production version is still a bad request.
    write_bundle(world.db.parent.parent / "b3", b"three" * 16)
    with Registry(world.db) as reg:
        reg.register(world.db.parent.parent / "b3", name="other", actor=admin(reg, world))
    r = client.post(
        "/api/v1/models/other/rollback",
        json={"reason": "x", "from_version": 1, "to_version": 1},
        headers=alice,
    )
    assert r.status_code == 400 and "has no production version" in r.json()["error"], r.text


def _login_cookie(base: str, token: str, proto: str) -> str:
    """The Set-Cookie of a login through a proxy that says the request came over ``proto``."""
    import httpx

    with httpx.Client(base_url=base, timeout=20) as http:
        nonce = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
        assert nonce is not None
        r = http.post(
            "/login",
            data={"token": token, "csrf": nonce.group(1)},
            headers={"X-Forwarded-Proto": proto},
        )
        assert r.status_code == 303, r.text
        return next(v for v in r.headers.get_list("set-cookie") if "session" in v.lower())


@pytest.mark.parametrize(("proxy", "secure"), [("10.9.9.9", False), ("127.0.0.0/8", True)])
@pytest.mark.slow
def test_the_session_cookie_is_secure_behind_a_trusted_proxy_only(
    world: World, proxy: str, secure: bool
) -> None:
    """uvicorn believes X-Forwarded-Proto from 127.0.0.1 only, and `serve` had no way to
    name a proxy on another host: behind it the session cookie never got Secure."""
    import subprocess
    import sys
    import time

    import httpx

    from .serve_fixtures import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "curagate", "serve", "--db", str(world.db), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--trusted-proxy", proxy], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        cookie = _login_cookie(base, world.tokens["vera"], "https")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert ("; secure" in cookie.lower()) is secure, cookie


# ::ffff:0.0.0.0/96 and ::/16 hold every IPv4 client of a dual-stack server (as mapped
# addresses): accepted, every client's forwarded headers were believed.
@pytest.mark.parametrize(
    "proxy",
    ["*", "0.0.0.0/0", "::/0", "10.0.0.0/7", "proxy.local", "::ffff:0.0.0.0/96", "::/16"],
)
def test_a_trusted_proxy_must_be_an_address(capsys: pytest.CaptureFixture[str], proxy: str) -> None:
    with pytest.raises(SystemExit) as e:
        main(["serve", "--trusted-proxy", proxy])
    assert e.value.code == 2
    assert "would let every client claim https" in capsys.readouterr().err


@pytest.mark.slow
def test_the_with_production_link_compares_with_the_report_that_decides_for_production(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: the version page linked "with production" to production's last
    # recorded accepted report: an older pass offered again after a newer signed fail,
    # while the index showed production's verdict as that fail.
    import time

    from .serve_fixtures import items_rows, write_gate_dir

    with Registry(world.db) as reg:
        v1 = reg.get("bot", 1)
        time.sleep(1.1)  # signed times have whole seconds: the fail is the newer verdict
        failed = write_gate_dir(
            tmp_path / "g1f", v1.artifact_digest, "fail", world.key, items_rows(20)
        )
        fail = reg.add_gate_report("bot", 1, failed, actor="ci")
        [first, *_] = reg.gate_reports("bot", 1)
        again = reg.add_gate_report("bot", 1, first.path, actor="ci")  # the old pass again
        assert again.accepted and again.id > fail.id
    models = client.get("/api/v1/models", headers=bearer(world, "vera")).json()
    assert next(m for m in models if m["version"] == 1)["verdict"] == "fail"
    login(client, world, "vera")
    links = re.findall(
        r'href="(/compare[^"]*)"[^>]*>with production', client.get("/models/bot/versions/2").text
    )
    assert links and all(link.endswith(f"b={fail.id}") for link in links)


def test_compare_says_when_a_golden_set_differs_or_a_report_does_not_verify(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: items of an edited golden set were paired by id with the other
    # report's answers to the old questions, without a word; and an unsigned report's
    # numbers were headed "The gate's own metrics".
    body = upload_body(tmp_path / "g2")
    doc = json.loads(body["report"])
    doc["golden_sets"][0]["sha256"] = "f" * 64
    edited = dict(body, report=json.dumps(doc))
    up = client.post("/api/v1/reports", json=edited, headers=bearer(world, "ci"))
    assert up.status_code == 201 and up.json()["accepted"] is False
    new = up.json()["id"]
    got = client.get(f"/api/v1/compare?a={new}&b=1", headers=bearer(world, "vera"))
    assert got.status_code == 200 and got.json()["sets_differ"] == ["demo_set"]
    same = client.get("/api/v1/compare?a=2&b=1", headers=bearer(world, "vera"))
    assert same.json()["sets_differ"] == []
    login(client, world, "vera")
    page = client.get(f"/compare?a={new}&b=1").text
    assert 'id="sets-differ"' in page and 'id="unverified"' in page
    own = client.get(f"/compare?a={new}").text
    assert "Metrics A's report claims (NOT verified; candidate vs its base)" in own
    assert "The gate's own metrics" not in own
    assert 'id="unverified"' not in client.get("/compare?a=2").text
    assert "A's report does not verify today" in page
    # both unverified: both named (only A was)
    other = client.post("/api/v1/reports", json=edited, headers=bearer(world, "ci")).json()["id"]
    both = client.get(f"/compare?a={new}&b={other}").text
    assert "A's and B's reports do not verify today" in both


def test_compare_says_when_the_reports_read_a_set_by_different_metrics(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by review: items.jsonl's candidate_correct is read by its score_metric (ROUGE-L
    # in a report written before a gate on exact_match graded items by it); the page paired
    # one report's verdicts with the other's as if they were the same test.
    body = upload_body(tmp_path / "g2")
    lines = [json.loads(line) for line in body["items"].splitlines() if line.strip()]
    was = lines[0]["score_metric"]
    for line in lines:
        line["score_metric"] = "rougeL"
    items = "".join(json.dumps(line) + "\n" for line in lines)
    doc = json.loads(body["report"])
    doc["items"]["sha256"] = hashlib.sha256(items.encode()).hexdigest()
    up = client.post(
        "/api/v1/reports",
        json=dict(body, report=json.dumps(doc), items=items),
        headers=bearer(world, "ci"),
    )
    assert up.status_code == 201, up.text
    new = up.json()["id"]
    got = client.get(f"/api/v1/compare?a={new}&b=1", headers=bearer(world, "vera")).json()
    assert got["grading_differs"] == [
        {"set": name, "a": "rougeL", "b": was} for name in ("refusals", "support")
    ]
    # an item that names no metric (items.jsonl of an older gate) is not the same either
    for line in lines:
        del line["score_metric"]
    items = "".join(json.dumps(line) + "\n" for line in lines)
    doc["items"]["sha256"] = hashlib.sha256(items.encode()).hexdigest()
    old = client.post(
        "/api/v1/reports",
        json=dict(body, report=json.dumps(doc), items=items),
        headers=bearer(world, "ci"),
    ).json()["id"]
    got = client.get(f"/api/v1/compare?a=1&b={old}", headers=bearer(world, "vera")).json()
    assert got["grading_differs"] == [
        {"set": name, "a": was, "b": None} for name in ("refusals", "support")
    ]
    for same in ("a=2&b=1", f"a={new}"):  # one grading, or a report against its own base
        assert (
            client.get(f"/api/v1/compare?{same}", headers=bearer(world, "vera")).json()[
                "grading_differs"
            ]
            == []
        )
    login(client, world, "vera")
    page = client.get(f"/compare?a={new}&b=1").text
    assert 'id="grading-differs"' in page and f"A by rougeL, B by {was}" in page
    assert 'id="grading-differs"' not in client.get("/compare?a=2&b=1").text


def test_compare_says_when_the_reports_were_made_with_different_gate_files(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: another gate file (decoding, prompts, thresholds) changes which
    # answers count as right, and the page paired the two reports without a word.
    body = upload_body(tmp_path / "g2")
    doc = json.loads(body["report"])
    was = doc["gate"]["sha256"]
    doc["gate"]["sha256"] = "e" * 64
    up = client.post(
        "/api/v1/reports", json=dict(body, report=json.dumps(doc)), headers=bearer(world, "ci")
    )
    assert up.status_code == 201
    new = up.json()["id"]
    got = client.get(f"/api/v1/compare?a={new}&b=1", headers=bearer(world, "vera")).json()
    assert got["gate_differs"] == {"a": "e" * 64, "b": was}
    same = client.get("/api/v1/compare?a=2&b=1", headers=bearer(world, "vera")).json()
    assert same["gate_differs"] is None
    login(client, world, "vera")
    page = client.get(f"/compare?a={new}&b=1").text
    assert 'id="gate-differs"' in page and "e" * 64 in page
    assert 'id="gate-differs"' not in client.get("/compare?a=2&b=1").text


@pytest.mark.slow
def test_a_warn_a_newer_fail_replaced_is_not_offered_for_waiving_nor_its_waiver_active(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: after a newer signed fail decided for v2, the page still offered
    # "Waive the warn", the API granted the waiver (201, "active"), and the earlier
    # waivers stayed "active" though none could back anything.
    import time

    from .serve_fixtures import items_rows, write_gate_dir

    b = bearer(world, "bob")
    url = "/api/v1/models/bot/versions/2/waivers"
    first = client.post(
        url,
        json={"reason": "small set", "expires": "7d", "report_sha256": world.warn_sha256},
        headers=b,
    )
    assert first.status_code == 201 and first.json()["state"] == "active"
    login(client, world, "bob")
    assert 'id="waive"' in client.get("/models/bot/versions/2").text
    with Registry(world.db) as reg:
        time.sleep(1.1)  # signed times have whole seconds: the fail is the newer verdict
        failed = write_gate_dir(
            tmp_path / "g2f", reg.get("bot", 2).artifact_digest, "fail", world.key, items_rows(20)
        )
        reg.add_gate_report("bot", 2, failed, actor="ci")
    again = client.post(
        url, json={"reason": "x", "expires": "7d", "report_sha256": world.warn_sha256}, headers=b
    )
    assert again.status_code == 409 and "(verdict fail)" in again.json()["error"]
    [listed] = client.get("/api/v1/models/bot/versions/2", headers=b).json()["waivers"]
    assert (listed["active"], listed["state"]) == (False, "superseded: a newer report decides")
    page = client.get("/models/bot/versions/2").text
    assert 'id="waive"' not in page and "superseded: a newer report decides" in page


@pytest.mark.slow
def test_an_uploaded_fail_refused_then_decides_once_its_key_is_trusted(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: CI uploaded a newer fail signed with a new key before the owner
    # trusted it (201, accepted false); once trusted, the older warn still decided on the
    # pages and the API, and the approvers could waive it and ship v2.
    import time

    from tests.registry.registry_fixtures import keypair

    from .serve_fixtures import items_rows, write_gate_dir

    new_key, new_pub = keypair(tmp_path / "new-key")
    with Registry(world.db) as reg:
        digest = reg.get("bot", 2).artifact_digest
    time.sleep(1.1)  # signed times have whole seconds: the fail is the newer verdict
    failed = write_gate_dir(tmp_path / "g2f", digest, "fail", new_key, items_rows(20))
    up = client.post(
        "/api/v1/reports", json=upload_body(failed.parent), headers=bearer(world, "ci")
    )
    assert up.status_code == 201 and up.json()["accepted"] is False
    with Registry(world.db) as reg:
        reg.trust_add(new_pub, role="gate", name="ci-new", actor=admin(reg, world))
    models = client.get("/api/v1/models", headers=bearer(world, "vera")).json()
    [v2] = [m for m in models if m["version"] == 2]
    assert (v2["verdict"], v2["report_verified"]) == ("fail", True)
    b = bearer(world, "bob")
    waive = client.post(
        "/api/v1/models/bot/versions/2/waivers",
        json={"reason": "x", "expires": "7d", "report_sha256": world.warn_sha256},
        headers=b,
    )
    assert waive.status_code == 409 and "(verdict fail)" in waive.json()["error"]
    asked = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", **reviewed(client, world)},
        headers=b,
    )
    assert asked.status_code == 409 and f"report {up.json()['id']}: fail" in asked.json()["error"]
    login(client, world, "bob")
    page = client.get("/models/bot/versions/2").text
    assert f"Checks of report #{up.json()['id']}" in page and 'id="waive"' not in page


def test_the_version_api_says_whether_each_report_verifies_today(
    client: TestClient, world: World
) -> None:
    # Found by attack: after the only gate key was revoked, the version's API said
    # accepted true, "verified" (the flag stored when it was recorded) while the page,
    # /api/v1/models and `registry show --json` said it verifies no more.
    url, vera = "/api/v1/models/bot/versions/2", bearer(world, "vera")
    [before] = client.get(url, headers=vera).json()["gate_reports"]
    assert (before["accepted"], before["verified_now"]) == (True, True)
    with Registry(world.db) as reg:
        reg.trust_revoke("ci", role="gate", actor=admin(reg, world), reason="leaked")
    [after] = client.get(url, headers=vera).json()["gate_reports"]
    assert (after["accepted"], after["verified_now"]) == (True, False)
    assert after["why"].startswith("verified") and "trusted, unrevoked key" in after["why_now"]


def test_a_request_for_a_version_archived_since_is_stale_without_a_button(
    client: TestClient, world: World
) -> None:
    # Found by attack: v2 was archived after its promotion was requested; the request
    # stayed "pending" with an Approve button, and approving answered 400 about rollback.
    _, b, rid = _v2_requested(client, world)
    with Registry(world.db) as reg:
        bob = reg.authenticate(world.tokens["bob"])
        reg.promote("bot", 2, to="archived", user=bob, reason="withdrawn")
    [listed] = client.get("/api/v1/promotion-requests", headers=b).json()
    assert listed["status"] == "stale" and "bot v2 is in archived since" in listed["why"]
    login(client, world, "bob")
    assert f'id="approve-{rid}"' not in client.get("/").text
    version = client.get("/models/bot/versions/2").text
    assert "stale <span" in version and 'class="approve"' not in version
    approved = client.post(f"/api/v1/promotion-requests/{rid}/approve", headers=b)
    assert approved.status_code == 409 and "only by `registry rollback`" in approved.json()["error"]


def test_the_compare_api_filters_on_a_set_or_slice_as_the_page_does(
    client: TestClient, world: World
) -> None:
    # Found by attack: the API ignored set= and slice= (the page filters on them), so a
    # script asking for one slice's flips got every item's.
    vera = bearer(world, "vera")
    every = client.get("/api/v1/compare?a=2", headers=vera).json()
    # items_rows: set "refusals" on i % 4 == 0, slice length=long on i % 5 == 0; 30 items
    refusals = client.get("/api/v1/compare?a=2&set=refusals", headers=vera).json()
    assert every["total"] == 30 and refusals["total"] == sum(1 for i in range(30) if i % 4 == 0)
    assert {r["set"] for r in refusals["items"]} == {"refusals"}
    assert refusals["filters"]["set"] == "refusals"
    long = client.get("/api/v1/compare?a=2&slice=length%3Dlong", headers=vera).json()
    assert long["total"] == 6
    login(client, world, "vera")
    page = client.get("/compare?a=2&slice=length%3Dlong").text
    assert f"{long['total']} item(s) match" in page
    for param, listed in (
        ("set=refusal", "'refusals', 'support'"),
        ("slice=length%3Dmid", "'length=long'"),
    ):
        r = client.get(f"/api/v1/compare?a=2&{param}", headers=vera)
        assert r.status_code == 404 and listed in r.json()["fix"]


def test_the_compare_page_names_the_sets_and_slices_for_one_it_does_not_hold(
    client: TestClient, world: World
) -> None:
    # Found by attack: a mistyped set= or slice= showed "0 item(s) match" with the menu on
    # "all", as if nothing had changed there; the API answered 404 naming those it holds.
    login(client, world, "vera")
    for param, listed in (
        (
            "set=suport&changed=1",
            "the items hold golden sets &#39;refusals&#39;, &#39;support&#39;",
        ),
        (
            "slice=length%3Dmid",
            "the items hold slices &#39;length=long&#39;, &#39;length=short&#39;",
        ),
    ):
        r = client.get(f"/compare?a=2&{param}")
        assert r.status_code == 404 and listed in r.text, r.text[-800:]
        assert "no compared item is in it" in r.text and "item(s) match" not in r.text


def _v2_in_production(client: TestClient, world: World) -> None:
    """bob waives v2's warn, alice requests production, bob approves: v1 archived."""
    _, b, rid = _v2_requested(client, world)
    ok = client.post(f"/api/v1/promotion-requests/{rid}/approve", headers=b)
    assert ok.status_code == 200 and ok.json()["version"] == 2


def test_a_second_rollback_of_the_same_incident_is_a_409_not_a_swap_back(
    client: TestClient, world: World
) -> None:
    # Found by attack: a rollback named no version, so two approvers (or a double click, or
    # a client retrying the POST) each pressing Roll back on the bad v2 put v1 back, then
    # put the bad v2 back into production, both answered 200.
    _v2_in_production(client, world)
    url = "/api/v1/models/bot/rollback"
    first = client.post(
        url,
        json={"reason": "bad", "from_version": 2, "to_version": 1},
        headers=bearer(world, "alice"),
    )
    assert first.status_code == 200 and first.json()["version"] == 1
    second = client.post(
        url,
        json={"reason": "bad", "from_version": 2, "to_version": 1},
        headers=bearer(world, "bob"),
    )
    assert second.status_code == 409 and "production is v1, not v2" in second.json()["error"]
    # The page's form names the version it shows, the same rule.
    csrf = login(client, world, "bob")
    page = client.post(
        "/ui/models/bot/rollback",
        data={"reason": "bad", "from_version": "2", "to_version": "1", "csrf": csrf},
    )
    assert page.status_code == 409 and "production is v1, not v2" in page.text
    with Registry(world.db) as reg:
        assert (reg.get("bot", 1).stage, reg.get("bot", 2).stage) == ("production", "archived")
        assert [r.action for r in reg.log("bot")].count("rollback") == 2  # v2 out, v1 in
        reg.check()
    # Without the version it rolls back from, the API refuses the body (422), not guesses.
    bare = client.post(url, json={"reason": "bad"}, headers=bearer(world, "bob"))
    assert bare.status_code == 422


def test_the_version_pages_rollback_form_names_the_version_it_shows(
    client: TestClient, world: World
) -> None:
    csrf = login(client, world, "alice")
    # v1 was the only production version: nothing to roll back to, no button.
    assert 'id="rollback"' not in client.get("/models/bot/versions/1").text
    _v2_in_production(client, world)
    page = client.get("/models/bot/versions/2").text
    assert 'name="from_version" value="2"' in page and 'name="to_version" value="1"' in page
    assert "Roll back to v1" in page
    r = client.post(
        "/ui/models/bot/rollback",
        data={"reason": "pager", "from_version": "2", "to_version": "1", "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with Registry(world.db) as reg:
        assert reg.production("bot") is not None and reg.production("bot").version == 1


@pytest.mark.slow
def test_a_waiver_lands_only_on_the_report_its_approver_reviewed(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: a waiver named no report, so CI (uploader role) uploading a newer
    # signed warn between bob loading the page and clicking Waive had bob's waiver (and
    # its reason, about the older warn's checks) back the new report nobody reviewed.
    b = bearer(world, "bob")
    login(client, world, "bob")
    page = client.get("/models/bot/versions/2").text
    assert f'name="report_sha256" value="{world.warn_sha256}"' in page
    shown = client.get("/api/v1/models/bot/versions/2", headers=b).json()["decision"]
    assert shown["report_sha256"] == world.warn_sha256
    up = upload_newer_warn(client, world, tmp_path)
    waiver = {"reason": "only the small-set warning", "expires": "7d"}
    url = "/api/v1/models/bot/versions/2/waivers"
    stale = client.post(url, json={**waiver, "report_sha256": world.warn_sha256}, headers=b)
    assert stale.status_code == 409 and "does not decide for it" in stale.json()["error"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    form = client.post(
        "/ui/models/bot/versions/2/waive",
        data={**waiver, "report_sha256": world.warn_sha256, "csrf": csrf.group(1)},
    )
    assert form.status_code == 409 and "does not decide for it" in form.text
    with Registry(world.db) as reg:
        assert reg.waivers("bot", 2) == []
    # Naming the report now deciding (after reviewing it) grants the waiver of it.
    sha = up.json()["report_sha256"]
    ok = client.post(url, json={**waiver, "report_sha256": sha}, headers=b)
    assert ok.status_code == 201 and ok.json()["report_sha256"] == sha


def test_a_rollback_restores_only_the_version_it_was_shown_to_restore(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: a rollback pinned where it rolled back from, not what it restored.
    # bob opened v2's page (a rollback restored v1); v3 shipped over v2, went bad, and alice
    # rolled back from v3 (v2 in production again, "previous" now v3); bob's old tab then
    # rolled back "from v2" and put the pulled v3 back, 303.
    _v2_in_production(client, world)
    csrf = login(client, world, "bob")
    assert 'name="to_version" value="1"' in client.get("/models/bot/versions/2").text
    from .serve_fixtures import items_rows, write_gate_dir

    digest = write_bundle(tmp_path / "b3", b"three" * 16)
    g3 = write_gate_dir(tmp_path / "g3", digest, "pass", world.key, items_rows(20))
    with Registry(world.db) as reg:
        reg.register(tmp_path / "b3", name="bot", gate_report=g3, actor=admin(reg, world))
    a, b = bearer(world, "alice"), bearer(world, "bob")
    r = client.post(
        "/api/v1/models/bot/versions/3/promotions",
        json={"to": "production", **reviewed(client, world, 3)},
        headers=a,
    )
    assert r.status_code == 201, r.text
    assert client.post(
        f"/api/v1/promotion-requests/{r.json()['request_id']}/approve", headers=b
    ).is_success
    back = client.post(
        "/api/v1/models/bot/rollback",
        json={"reason": "v3 bad", "from_version": 3, "to_version": 2},
        headers=a,
    )
    assert back.status_code == 200 and back.json()["version"] == 2
    old_tab = client.post(
        "/ui/models/bot/rollback",
        data={"reason": "back to v1", "from_version": "2", "to_version": "1", "csrf": csrf},
    )
    assert old_tab.status_code == 409 and "restores v3, not v1" in old_tab.text
    with Registry(world.db) as reg:
        assert reg.production("bot").version == 2  # type: ignore[union-attr]
    # The page says what a rollback restores now.
    assert "Roll back to v3" in client.get("/models/bot/versions/2").text


@pytest.mark.slow
def test_a_production_request_is_made_only_on_what_its_requester_reviewed(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    # Found by attack: the Request form named nothing, so the request was made on whatever
    # backed the version at the click: alice reviewed report 2 under waiver 1; CI uploaded
    # warn report 3 and bob waived it (waiver 2); alice's click made a request on report 3
    # under waiver 2, which bob approved: a waived warn shipped on one person's review.
    a, b = bearer(world, "alice"), bearer(world, "bob")
    waiver = {"reason": "small set", "expires": "7d"}
    url = "/api/v1/models/bot/versions/2/waivers"
    first = client.post(url, json={**waiver, "report_sha256": world.warn_sha256}, headers=b)
    assert first.status_code == 201
    csrf = login(client, world, "alice")
    page = client.get("/models/bot/versions/2").text
    shown = reviewed(client, world)
    assert shown == {"report_sha256": world.warn_sha256, "waiver_id": first.json()["waiver_id"]}
    assert f'name="report_sha256" value="{world.warn_sha256}"' in page
    backing = client.get("/api/v1/models/bot/versions/2", headers=a).json()["backing"]
    assert f"production on report #{backing['report_id']} under waiver" in page
    up = upload_newer_warn(client, world, tmp_path)
    second = client.post(
        url, json={**waiver, "report_sha256": up.json()["report_sha256"]}, headers=b
    )
    assert second.status_code == 201
    form = client.post(
        "/ui/models/bot/versions/2/promote",
        data={"to": "production", "reason": "reviewed report 2", "csrf": csrf,
              "report_sha256": shown["report_sha256"], "waiver_id": str(shown["waiver_id"])},
    )  # fmt: skip
    assert form.status_code == 409 and "not by the report" in form.text
    api = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", "reason": "reviewed report 2", **shown},
        headers=a,
    )
    assert (
        api.status_code == 409
        and f"under waiver {second.json()['waiver_id']}" in api.json()["error"]
    )
    unnamed = client.post(
        "/api/v1/models/bot/versions/2/promotions", json={"to": "production"}, headers=a
    )
    assert unnamed.status_code == 400 and "report_sha256" in unnamed.json()["error"]
    # waiver_id left out (not null) is a bad request too: it was a 409 that said a waiver
    # was granted since (found by attack)
    no_waiver = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", "report_sha256": reviewed(client, world)["report_sha256"]},
        headers=a,
    )
    assert no_waiver.status_code == 400 and "waiver_id (null for a pass)" in no_waiver.text
    with Registry(world.db) as reg:
        assert reg.promotion_requests("bot") == []
    # Named as it is backed now (after reviewing report 3), the request is made, and the
    # home page's Approve row says what it was made on.
    ok = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "production", **reviewed(client, world)},
        headers=a,
    )
    assert ok.status_code == 201
    login(client, world, "bob")
    row = client.get("/").text.split('id="requests"')[1].split("</table>")[0]
    assert f"report {up.json()['id']} under waiver {second.json()['waiver_id']}" in row


@pytest.mark.parametrize("loose", [True, "2", 2.0, "02"])
def test_rollback_versions_are_json_integers_not_look_alikes(
    client: TestClient, world: World, loose: object
) -> None:
    _v2_in_production(client, world)
    body = {"reason": "x", "from_version": loose, "to_version": 1}
    r = client.post("/api/v1/models/bot/rollback", json=body, headers=bearer(world, "alice"))
    assert r.status_code == 422
