"""A static gate report opened from disk in Debian's Chromium (Playwright): it renders with
its inlined stylesheet, shows the verdict, logs no console error, requests nothing over
the network and runs none of the hostile strings. A missing browser is a failure, not a
skip (as in tests/serve/test_browser.py). The screenshot goes to $CURAGATE_ARTIFACTS
(default: the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, expect, sync_playwright

from curagate.gate import run_gate


@pytest.mark.slow
def test_static_gate_report_in_chromium(tmp_path: Path, gate_setup: dict[str, Any]) -> None:
    g = gate_setup
    run_gate(g["gate"], g["candidate"], g["base"], tmp_path / "out")
    report = tmp_path / "out" / "report.html"
    verdict = json.loads((tmp_path / "out" / "gate_report.json").read_text())["verdict"]
    chromium = shutil.which("chromium")
    assert chromium is not None, (
        "Debian's chromium is not installed: run `apt-get install -y chromium` (scripts/setup.sh "
        "does); the browser tests fail rather than skip without it"
    )
    artifacts = Path(os.environ.get("CURAGATE_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))

            def on_dialog(d: Dialog) -> None:
                dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", on_dialog)
            page.goto(report.as_uri())
            badge = page.locator("h1 .badge")
            expect(badge).to_have_text(verdict.upper())
            # the inlined stylesheet applied: the failing badge has its red background
            colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == {"fail": "rgb(207, 34, 46)", "warn": "rgb(154, 103, 0)"}.get(
                verdict, "rgb(26, 127, 55)"
            )
            expect(page.locator("#checks")).to_contain_text("gsm.exact_match.regression")
            expect(page.locator("svg").first).to_be_visible()
            # the hostile output is shown as text
            expect(page.locator("table.examples")).to_contain_text("<script>alert(1)</script>")
            page.screenshot(path=str(artifacts / "gate-report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert dialogs == []  # no alert() ran
    assert requests == [report.as_uri()]  # the page itself, nothing else
