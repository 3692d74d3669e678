"""The service's /audit page: each problem `registry check` finds and each note on its own
line, the rows and head kept when the chain itself replays. Found by re-attack: a row dated
backwards (the chain intact) showed as "Hash chain broken", the row and head counts were
dropped, several problems ran together in one paragraph and the notes never showed."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from curagate.artifacts import iso_utc
from curagate.registry import Registry
from curagate.serve.app import create_app
from tests.registry.registry_fixtures import write_bundle
from tests.registry.test_forged_log_rows import Forger
from tests.registry.test_row_times import v1_registry
from tests.serve.serve_fixtures import log_in


def _items(page: str, list_id: str) -> list[str]:
    m = re.search(rf'<ul class="[^"]*" id="{list_id}">(.*?)</ul>', page, re.S)
    if m is None:
        return []
    return [
        html.unescape(re.sub("<[^>]+>", "", li)) for li in re.findall(r"<li.*?</li>", m[1], re.S)
    ]


def _chain(page: str) -> str:
    m = re.search(r'<p class="notice[^"]*" id="chain">(.*?)</p>', page, re.S)
    assert m is not None
    return html.unescape(re.sub("<[^>]+>", "", m[1]))


def test_audit_lists_each_time_problem_and_note_with_the_chain_verified(tmp_path: Path) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    # An older curagate dated row 3 30 s before row 2: a note.
    db = v1_registry(tmp_path, [now, now + timedelta(seconds=40), now + timedelta(seconds=10)])
    with Registry(db) as reg:
        token = reg.user_add("vera", role="viewer", actor="owner")[1]
        for n in (2, 3):
            write_bundle(tmp_path / f"b{n}", bytes([n]) * 16)
            reg.register(tmp_path / f"b{n}", name="bot", actor="ci")
    with TestClient(create_app(db)) as client:
        log_in(client, token)
        page = client.get("/audit").text
        assert _chain(page).startswith("Hash chain verified: 6 rows chain to head 6:")
        assert _items(page, "problems") == []
        notes = _items(page, "notes")
        assert len(notes) == 1 and notes[0].startswith("note: registry log row 3 (promote by")
    # Two rows dated backwards after the rule: two problems, the chain itself intact.
    forger = Forger(db)
    for n, minutes in ((2, 50), (3, 55)):
        forger.minute = iso_utc(datetime.now(UTC) - timedelta(minutes=minutes))[:16]
        forger.log("archive", n, "experiment", "archived", {}, actor="owner")
        forger.stage(n, "archived")
    forger.c.commit()
    forger.c.close()
    with TestClient(create_app(db)) as client:
        log_in(client, token)
        page = client.get("/audit").text
        chain = _chain(page)
        assert chain.startswith("Hash chain verified: 8 rows chain to head 8:")
        assert chain.endswith("with 2 problems:")
        assert "broken" not in chain
        problems = _items(page, "problems")
        assert len(problems) == 2
        assert problems[0].startswith("registry log row 7 (archive by owner) is dated ")
        assert problems[1].startswith("registry log row 8 (archive by owner) is dated ")
        assert len(_items(page, "notes")) == 1
