"""Model names a schema-1 registry held and `registry migrate` kept (`team/bot`, `team%2Fbot`,
`..`, `.`): each page link, form and API route reaches its own model. Found by attack: the
link of `team%2Fbot` (`/models/team%252Fbot/versions/1`) opened `team/bot`, another model
with other bytes, as did the API; the links of `..` and `.` were dropped by the browser
(dot segments, percent-encoded or not, are removed from a path by every WHATWG URL parser)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from curagate.cli import main
from curagate.registry import Registry
from curagate.registry.chain import canonical
from curagate.serve.app import create_app
from tests.registry.registry_fixtures import write_bundle, write_v1_registry

from .serve_fixtures import log_in

NAMES = ["team/bot", "team%2Fbot", "..", ".", "%2E%2E"]
LINEAGE = canonical({"adapter_sha256": "a" * 64, "run": "runs/demo"})
SINGLE_DOT = {".", "%2e"}
DOUBLE_DOT = {"..", ".%2e", "%2e.", "%2e%2e"}
# Each name's path segment, percent-encoded once; `.` and `..` go in the query instead.
SEGMENT = {"team/bot": "team%2Fbot", "team%2Fbot": "team%252Fbot", "%2E%2E": "%252E%252E"}


def model_url(name: str, version: int | None = None, action: str = "", *, ui: bool = False) -> str:
    """The URL the service links ``name``'s page (or form action) by."""
    tail = (f"/versions/{version}" if version is not None else "") + action
    prefix = "/ui" if ui else ""
    if name in SEGMENT:
        return f"{prefix}/models/{SEGMENT[name]}{tail}"
    return f"{prefix}/model{tail}?name={name}"


def browser_path(href: str) -> str:
    """The path and query a browser requests for ``href`` on this site: the WHATWG URL
    parser removes `.` and `..` segments, also written %2E (any case), from the path."""
    parts = urlsplit(href)
    out: list[str] = []
    segments = parts.path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg.lower() in DOUBLE_DOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif seg.lower() in SINGLE_DOT:
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out) + (f"?{parts.query}" if parts.query else "")


def test_the_browser_path_helper_removes_dot_segments_as_a_browser_does() -> None:
    assert browser_path("/models/../versions/1") == "/versions/1"
    assert browser_path("/models/%2E%2E/versions/1") == "/versions/1"
    assert browser_path("/models/%2e/versions/1") == "/models/versions/1"
    assert browser_path("/model/versions/1?name=..") == "/model/versions/1?name=.."


Legacy = tuple[Path, dict[str, str], dict[str, str]]


@pytest.fixture
def legacy(tmp_path: Path) -> Legacy:
    return make_legacy(tmp_path)


def make_legacy(root: Path) -> Legacy:
    """A migrated schema-1 registry holding NAMES, each v1 in experiment with its own bytes;
    returns the database, each name's digest and the tokens of vera (viewer) and alice."""
    db = root / "old.db"
    versions, digests = [], {}
    for i, name in enumerate(NAMES):
        digests[name] = write_bundle(root / f"b{i}", f"weights of {i}".encode() * 4)
        versions.append((name, digests[name], root / f"b{i}", LINEAGE, "experiment"))
    write_v1_registry(db, versions)
    assert main(["registry", "--db", str(db), "migrate"]) == 0
    with Registry(db) as reg:
        assert sorted(v.name for v in reg.list_versions()) == sorted(NAMES)
        tokens = {
            u: reg.user_add(u, role=role, actor="owner")[1]
            for u, role in (("vera", "viewer"), ("alice", "approver"))
        }
    return db, digests, tokens


@pytest.fixture
def client(legacy: Legacy) -> Iterator[TestClient]:
    with TestClient(create_app(legacy[0]), raise_server_exceptions=False) as c:
        yield c


def title(page: str) -> str:
    m = re.search(r"<h1>(.*?) v(\d+) <span", page, re.S)
    assert m is not None, page[:300]
    return html.unescape(m.group(1))


def test_the_api_reaches_each_legacy_name_and_no_other(client: TestClient, legacy: Legacy) -> None:
    _, digests, tokens = legacy
    auth = {"Authorization": f"Bearer {tokens['vera']}"}
    # The path form, a segment percent-encoded once (a client that keeps dot segments)
    for path, name in (
        ("team%252Fbot", "team%2Fbot"),
        ("team%2Fbot", "team/bot"),
        ("team/bot", "team/bot"),
        ("%2E%2E", ".."),
        ("%2e", "."),
        ("%252E%252E", "%2E%2E"),
    ):
        r = client.get(f"/api/v1/models/{path}/versions/1", headers=auth)
        assert r.status_code == 200, (path, r.text)
        assert (r.json()["name"], r.json()["artifact_digest"]) == (name, digests[name]), path
    for name in NAMES:
        for url in (
            "/api/v1" + model_url(name, 1),  # the query form for `.` and `..`
            f"/api/v1/model/versions/1?name={name.replace('%', '%25').replace('/', '%2F')}",
        ):
            r = client.get(url, headers=auth)
            assert r.status_code == 200, (url, r.text)
            assert (r.json()["name"], r.json()["artifact_digest"]) == (name, digests[name]), url


def test_every_link_of_the_home_page_opens_its_own_model_in_a_browser(
    client: TestClient, legacy: Legacy
) -> None:
    _, digests, tokens = legacy
    log_in(client, tokens["vera"])
    index = client.get("/").text
    hrefs = [html.unescape(h) for h in re.findall(r'href="(/models?[/?][^"]*)"', index)]
    reached = {}
    for href in hrefs:
        page = client.get(browser_path(href))
        assert page.status_code == 200, (href, browser_path(href))
        reached[href] = title(page.text)
        assert digests[reached[href]] in page.text
    assert sorted(reached.values()) == sorted(NAMES)  # each name once, none twice
    for name in NAMES:
        assert f'href="{html.escape(model_url(name, 1))}"' in index


def test_the_forms_of_each_legacy_name_act_on_that_model(
    client: TestClient, legacy: Legacy
) -> None:
    db, _, tokens = legacy
    csrf = log_in(client, tokens["alice"])
    for name in NAMES:
        page = client.get(browser_path(model_url(name, 1)))
        assert title(page.text) == name
        actions = [html.unescape(a) for a in re.findall(r'<form[^>]*action="([^"]+)"', page.text)]
        promote = [a for a in actions if "/promote" in a]
        assert promote == [model_url(name, 1, "/promote", ui=True)]
        r = client.post(
            browser_path(promote[0]),
            data={"csrf": csrf, "to": "staging", "reason": "try"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == model_url(name, 1)
        with Registry(db) as reg:
            staged = sorted(v.name for v in reg.list_versions() if v.stage == "staging")
        done = NAMES[: NAMES.index(name) + 1]
        assert staged == sorted(done), name  # this model moved, and no other
        # The waive and roll-back actions reach the model too (it has nothing to waive, and
        # no earlier production version): refused naming it, not another, nor a 404.
        for action, data in (
            ("/waive", {"report_sha256": "a" * 64, "reason": "r", "expires": "1d"}),
            ("/rollback", {"from_version": "1", "to_version": "1", "reason": "r"}),
        ):
            url = (
                model_url(name, 1, action, ui=True)
                if action == "/waive"
                else model_url(name, action=action, ui=True)
            )
            r = client.post(browser_path(url), data={"csrf": csrf, **data})
            assert r.status_code in (400, 409), (name, action, r.status_code, r.text[:300])
            error = re.search(r'<p class="notice error">(.*?)</p>', r.text, re.S)
            said = html.unescape(error.group(1)) if error is not None else r.text
            assert said.startswith(f"{name} v1: ") or f"model {name!r} " in said, (name, said)


@pytest.mark.slow
def test_in_a_real_browser_each_link_and_promote_form_reaches_its_own_model(
    legacy: Legacy,
) -> None:
    """Chromium against uvicorn: the links of `/` and each version page's promote form."""
    import shutil

    from playwright.sync_api import expect, sync_playwright

    from .serve_fixtures import running_server

    db, _, tokens = legacy
    chromium = shutil.which("chromium")
    assert chromium is not None, "Debian's chromium is not installed (scripts/setup.sh)"
    with running_server(create_app(db)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{server}/login")
        page.fill("#token", tokens["alice"])
        page.click("#login")
        expect(page.locator("#versions")).to_be_visible()
        for i, name in enumerate(NAMES):
            page.goto(f"{server}/")
            row = page.locator("#versions tr").filter(has=page.locator(f"td >> text='{name}'"))
            row.first.locator("a").first.click()
            expect(page.locator("h1")).to_contain_text(f"{name} v1")
            assert title(page.content()) == name
            page.fill("#promote-reason", "to staging")
            page.click("#promote")  # staging: done at once, back on the version's page
            expect(page.locator(".notice")).to_contain_text("is now in staging")
            expect(page.locator("#stage")).to_have_text("staging")
            assert title(page.content()) == name
            with Registry(db) as reg:
                staged = sorted(v.name for v in reg.list_versions() if v.stage == "staging")
            assert staged == sorted(NAMES[: i + 1]), (name, staged)
        browser.close()
