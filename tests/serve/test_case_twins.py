"""Case twins: users whose names differ only in case (alice and Alice), added by a curagate
before `users add` refused the second. Approval counts them as one person (the commands and
the replay); the service's pages go by the same rule."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from curagate.registry import Registry
from curagate.registry.store import new_token, token_sha256
from curagate.serve.app import create_app
from curagate.signing import actor_public_key, actor_seed
from tests.registry.test_forged_log_rows import Forger, alice_requests_v2

from .serve_fixtures import log_in


def add_case_twin(db: Path, name: str) -> str:
    """``name`` added as an approver the way an older curagate wrote it (a user_add row and
    its table row, no case-blind check); returns the token."""
    token = new_token()
    with Registry(db) as reg:
        uid = max(u.id for u in reg.users()) + 1
    forger = Forger(db)
    payload = {
        "user_id": uid,
        "name": name,
        "role": "approver",
        "token_sha256": token_sha256(token),
        "actor_key": actor_public_key(actor_seed(token)),
    }
    at = forger.log("user_add", None, None, None, payload, actor="owner", name=None)
    forger.c.execute(
        "INSERT INTO users (id, name, role, token_sha256, created_by, created_at) "
        "VALUES (?, ?, 'approver', ?, 'owner', ?)",
        (uid, name, token_sha256(token), at),
    )
    forger.c.commit()
    forger.c.close()
    with Registry(db) as reg:
        reg.check()
    return token


def test_a_case_twin_of_the_requester_is_shown_no_approve_button(tmp_path: Path) -> None:
    # Found by review: the pages compared names exactly, so Alice was offered the Approve
    # button on alice's request; pressing it was refused (403: the same person).
    db, tokens, request, _ = alice_requests_v2(tmp_path)
    twin = add_case_twin(db, "Alice")
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        csrf = log_in(client, twin)
        home = client.get("/").text
        assert f'id="approve-{request}"' not in home
        assert "your request: another approver must approve it" in home
        assert 'class="approve"' not in client.get("/models/bot/versions/2").text
        r = client.post(f"/ui/requests/{request}/approve", data={"csrf": csrf})
        assert r.status_code == 403 and "a second, different approver" in r.text
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        log_in(client, tokens["bob"])
        assert f'id="approve-{request}"' in client.get("/").text
        assert 'class="approve"' in client.get("/models/bot/versions/2").text
