"""A registry as the release service sees it: signed reports with items.jsonl, users.

Written with the same code paths the CLI uses (bundles laid out like an export,
attestations signed by `write_attestation`)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.digest import sha256_bytes
from curagate.gate.runner import write_attestation
from curagate.registry import Registry, User
from tests.registry.registry_fixtures import keypair, report_doc, write_bundle

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def items_rows(n: int, *, flip_every: int = 3, hostile: bool = False) -> list[dict[str, object]]:
    """n items; the candidate is right everywhere except every flip_every-th item, the
    base wrong on every second item; so both kinds of flip occur."""
    rows = []
    for i in range(n):
        cand_ok = i % flip_every != 0
        base_ok = i % 2 == 0
        rows.append(
            {
                "set": "support" if i % 4 else "refusals",
                "id": f"item-{i:05d}",
                "prompt": f"question {i}",
                "reference": "yes",
                "slices": {"length": "short" if i % 5 else "long"},
                "candidate_output": (HOSTILE if hostile and i == 0 else f"candidate answer {i}"),
                "base_output": f"base answer {i}",
                "candidate_answer": "yes" if cand_ok else "no",
                "base_answer": "yes" if base_ok else "no",
                "candidate_correct": cand_ok,
                "base_correct": base_ok,
                "candidate_score": 1.0 if cand_ok else 0.0,
                "base_score": 1.0 if base_ok else 0.0,
                "score_metric": "exact_match",
            }
        )
        if i == 1:  # an LLM judge's verdict in both orders, as the gate writes it
            rows[-1]["judge"] = {
                "verdict": "tie",
                "position_disagreement": True,
                "candidate_first": {"verdict": "candidate", "raw": "A"},
                "base_first": {"verdict": "base", "raw": "A"},
            }
    return rows


def write_gate_dir(
    directory: Path, digest: str, verdict: str, key: Path, rows: list[dict[str, object]]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    items = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    (directory / "items.jsonl").write_bytes(items)
    doc = report_doc(digest, verdict)
    doc["items"] = {"file": "items.jsonl", "sha256": sha256_bytes(items), "count": len(rows)}
    doc["results"] = [
        {
            "golden_set": "support",
            "metrics": {
                "accuracy": {
                    "candidate": 0.66,
                    "base": 0.5,
                    "delta": 0.16,
                    "ci_low": 0.05,
                    "ci_high": 0.27,
                    "p_value": 0.01,
                    "significant": True,
                }
            },
        }
    ]
    doc["checks"] = [
        {
            "id": "GATE001",
            "name": "support.accuracy.threshold",
            "verdict": "pass",
            "candidate": 0.66,
            "base": 0.5,
            "delta": None,
            "message": "0.6600 >= 0.6",
        },
        {
            "id": "GATE006",
            "name": "support.size",
            "verdict": verdict,
            "candidate": None,
            "base": None,
            "delta": None,
            "message": f"{len(rows)} items < 200 {HOSTILE}",
        },
    ]
    path = directory / "gate_report.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    write_attestation(path, key)
    return path


@dataclass
class World:
    db: Path
    tokens: dict[str, str]
    key: Path
    warn_sha256: str  # v2's warn report: what a waiver of it names


def build_world(root: Path, *, n_items: int = 30, hostile: bool = True) -> World:
    """bot v1 in production (pass), bot v2 with a warn report (registered, experiment);
    users alice and bob (approvers), vera (viewer), carol (admin), ci (uploader)."""
    private, public = keypair(root / "keys")
    db = root / "reg" / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(public, role="gate", name="ci", actor="admin")
        d1 = write_bundle(root / "b1", b"one" * 16)
        g1 = write_gate_dir(root / "g1", d1, "pass", private, items_rows(n_items, flip_every=2))
        reg.register(root / "b1", name="bot", gate_report=g1, actor="ci")
        reg.promote("bot", 1, to="production", actor="ci", reason="first")
        d2 = write_bundle(root / "b2", b"two" * 16)
        g2 = write_gate_dir(root / "g2", d2, "warn", private, items_rows(n_items, hostile=hostile))
        reg.register(root / "b2", name="bot", gate_report=g2, actor="ci", reason=HOSTILE)
        deciding = reg.deciding_report(reg.get("bot", 2))
        assert deciding is not None
        warn_sha256 = deciding[0].report_sha256
        tokens = {
            n: reg.user_add(n, role=r, actor="admin")[1]
            for n, r in (
                ("alice", "approver"),
                ("bob", "approver"),
                ("vera", "viewer"),
                ("ci", "uploader"),
                ("carol", "admin"),  # last: from here on, users and keys are carol's to change
            )
        }
    return World(db, tokens, private, warn_sha256)


def admin(reg: Registry, world: World) -> User:
    """carol, the admin, as the commands act for her: authenticated with her token (only she
    adds and revokes users and keys once she exists)."""
    user = reg.authenticate(world.tokens["carol"])
    assert user is not None
    return user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(app: Any) -> Iterator[str]:
    """``app`` served by a real uvicorn on a free local port; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def log_in(client: Any, token: str) -> str:
    """Log in through the form (a TestClient); returns the session's CSRF token."""
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert nonce is not None
    r = client.post("/login", data={"token": token, "csrf": nonce.group(1)}, follow_redirects=False)
    assert r.status_code == 303
    m = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert m is not None
    return m.group(1)
