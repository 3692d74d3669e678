"""The release service's pages and API on twins (the same bytes registered as two versions
by a curagate before one version per artifact): the verdict they state is the one
promotion goes by, every report on the bytes counted, and they name the twin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from curagate.registry import Registry
from curagate.serve.app import create_app
from tests.registry.test_twins import migrated_twins, registry

# Seconds each (registries, gates or splits built end to end): the full suite's tier.
pytestmark = pytest.mark.slow


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """bot v1 with a signed pass then a newer signed fail; bot2 v1, its twin, with the
    older pass recorded for it too; vera, a viewer. Yields a client and vera's token."""
    db, passed, _, _ = migrated_twins(tmp_path)
    assert registry(db, "report", "bot2", "1", "--gate-report", str(passed)) == 0
    with Registry(db) as reg:
        token = reg.user_add("vera", role="viewer", actor="owner")[1]
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        yield client, token


def test_the_api_states_the_verdict_promotion_goes_by_and_names_the_twin(
    twins: tuple[TestClient, str],
) -> None:
    client, token = twins
    auth = {"Authorization": f"Bearer {token}"}
    models = {
        (m["name"], m["version"]): m for m in client.get("/api/v1/models", headers=auth).json()
    }
    two = models[("bot2", 1)]
    assert (two["verdict"], two["report_verified"]) == ("fail", True)  # was its own pass
    assert two["report_id"] == 2
    assert two["verdict_recorded_for"] == {"name": "bot", "version": 1}
    assert two["twins"] == [{"name": "bot", "version": 1}]
    assert "counts the gate reports of bot v1 too" in two["twins_note"]
    one = client.get("/api/v1/models/bot2/versions/1", headers=auth).json()
    assert one["decision"]["report_id"] == 2 and one["decision"]["verdict"] == "fail"
    assert one["decision"]["recorded_for"] == {"name": "bot", "version": 1}
    # Its own report (the older pass) is listed as recorded, and verifies; it decides nothing.
    assert [(r["id"], r["verdict"], r["verified_now"]) for r in one["gate_reports"]] == [
        (3, "pass", True)
    ]


def test_the_pages_state_the_verdict_promotion_goes_by_and_name_the_twin(
    twins: tuple[TestClient, str],
) -> None:
    client, token = twins
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert nonce is not None
    r = client.post("/login", data={"token": token, "csrf": nonce.group(1)}, follow_redirects=False)
    assert r.status_code == 303
    index = client.get("/").text
    row = re.search(r'<tr class="stage-staging">(.*?)</tr>', index, re.S)
    assert row is not None and "bot2" in row.group(1)
    assert 'class="verdict-fail"' in row.group(1)
    assert "report 2 of bot v1; counts the reports of bot v1 too (the same bytes)" in row.group(1)
    page = client.get("/models/bot2/versions/1").text
    verdict = re.search(r'<td id="verdict">(.*?)</td>', page, re.S)
    assert verdict is not None
    assert verdict.group(1).startswith("fail: report 2 of bot v1, verified today; the verdict ")
    assert "counts the gate reports of bot v1 too" in verdict.group(1)
    assert "Checks of report #2 of bot v1" in page
