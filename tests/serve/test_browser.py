"""Real-browser tests: Playwright drives Debian's Chromium against a real uvicorn server.

A missing browser is a failure, not a skip (install it with scripts/setup.sh, or
`apt-get install chromium`). Screenshots go to $CURAGATE_ARTIFACTS (default: the
test's tmp folder); the README's docs/img/serve.png comes from here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from curagate.serve.app import create_app

from .serve_fixtures import World, build_world, running_server


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"), n_items=120)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    with running_server(create_app(world.db)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium is not None, (
        "Debian's chromium is not installed: run `apt-get install -y chromium` (scripts/setup.sh "
        "does); the browser tests fail rather than skip without it"
    )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    d = Path(os.environ.get("CURAGATE_ARTIFACTS", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_in(browser: Browser, server: str, token: str) -> Page:
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/login")
    page.fill("#token", token)
    page.click("#login")
    expect(page.locator("#versions")).to_be_visible()
    page.set_extra_http_headers({})
    page.errors = errors  # type: ignore[attr-defined]
    return page


@pytest.mark.slow
def test_a_viewer_sees_the_table_but_no_promote_control(
    browser: Browser, server: str, world: World
) -> None:
    page = log_in(browser, server, world.tokens["vera"])
    expect(page.locator("#versions tr")).to_have_count(3)  # header + bot v1, v2
    expect(page.locator("#production")).to_contain_text("bot")
    page.click("text=v2")
    expect(page.locator("h1")).to_contain_text("bot v2")
    expect(page.locator("#promote")).to_have_count(0)
    expect(page.locator("#actions")).to_have_count(0)
    # the hostile registration reason is shown as text, not run (CSP and escaping)
    expect(page.locator("table.log")).to_contain_text("<script>")
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.slow
def test_compare_lists_the_flipped_items(
    browser: Browser, server: str, world: World, artifacts: Path
) -> None:
    page = log_in(browser, server, world.tokens["vera"])
    page.goto(f"{server}/compare?a=2")
    expect(page.locator("#metrics")).to_contain_text("support")
    page.check("input[name=changed]")
    page.click("#filter")
    flips = sum(1 for i in range(120) if (i % 3 != 0) != (i % 2 == 0))
    expect(page.locator("#shown")).to_contain_text(f"{flips} item(s) match")
    expect(page.locator("#items td.flip").first).to_have_text("right→wrong")
    expect(page.locator("#items tr")).to_have_count(51)  # header + one page of 50
    page.click("#next")
    expect(page.locator("#shown")).to_contain_text("page 2 of 2")
    page.goto(f"{server}/compare?a=2&changed=1")
    page.screenshot(path=str(artifacts / "serve-compare.png"), full_page=False)
    assert (artifacts / "serve-compare.png").stat().st_size > 10_000


@pytest.mark.slow
def test_two_approvers_promote_a_waived_warn_to_production(
    browser: Browser, server: str, world: World, artifacts: Path
) -> None:
    alice = log_in(browser, server, world.tokens["alice"])
    alice.goto(f"{server}/models/bot/versions/2")
    alice.fill("#waive-reason", "size warning: the golden set is small")
    alice.click("#waive")
    expect(alice.locator(".notice")).to_contain_text("waiver 1 granted")
    alice.select_option("select[name=to]", "production")
    alice.fill("#promote-reason", "ship it")
    alice.click("#promote")
    expect(alice.locator(".notice")).to_contain_text("a second approver must approve it")
    expect(alice.locator("#stage")).to_have_text("experiment")
    # alice cannot approve her own request: no button, and a forged POST is refused
    alice.goto(f"{server}/")
    expect(alice.locator("#requests")).to_contain_text("your request")
    expect(alice.locator("#requests button.approve")).to_have_count(0)
    csrf = alice.locator("input[name=csrf]").first.get_attribute("value")
    forged = alice.request.post(
        f"{server}/ui/requests/1/approve", form={"csrf": csrf or "", "reason": ""}
    )
    assert forged.status == 403

    bob = log_in(browser, server, world.tokens["bob"])
    bob.click("#approve-1")
    expect(bob.locator("#stage")).to_have_text("production")
    bob.goto(f"{server}/")
    expect(bob.locator("#production")).to_contain_text("v2")
    expect(bob.locator("#production")).to_contain_text("alice + bob")
    bob.screenshot(path=str(artifacts / "serve-models.png"))
    bob.goto(f"{server}/audit")
    expect(bob.locator("#chain")).to_contain_text("Hash chain verified")
    # the web approval is a row signed with bob's actor key, as the CLI's is
    approval = bob.locator("table.log tr", has_text="approve")
    expect(approval.locator("td").nth(2)).to_have_text("bob")
    expect(approval.locator("td").nth(3)).to_have_text("signed")
