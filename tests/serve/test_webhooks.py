"""Webhooks against a real local HTTP server: every transition is posted as signed JSON,
a failing receiver is retried, and an unreachable one is logged without failing the action."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from curagate.cli import main
from curagate.errors import InputError
from curagate.serve.app import create_app
from curagate.serve.webhooks import SIGNATURE_HEADER, Webhooks, check_url, origin, sign

from .serve_fixtures import World, build_world

SECRET = b"hook-secret"


class Receiver:
    """Records every POST; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), body))
                code = 500 if len(receiver.posts) <= receiver.fail_first else 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)
    yield r
    r.close()


def bearer(world: World, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def stage_v2(client: TestClient, world: World) -> None:
    """alice moves bot v2 to staging: one transition, one event."""
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={"to": "staging", "reason": "try it"},
        headers=bearer(world, "alice"),
    )
    assert r.status_code == 200 and r.json()["stage"] == "staging"


def test_each_transition_is_posted_signed_and_a_500_is_retried(
    tmp_path: Path, receiver: Receiver
) -> None:
    world = build_world(tmp_path)
    hooks = Webhooks([receiver.url], SECRET, backoff_s=0.01)
    client = TestClient(create_app(world.db, webhooks=hooks))
    alice, bob = bearer(world, "alice"), bearer(world, "bob")
    assert (
        client.post(
            "/api/v1/models/bot/versions/2/waivers",
            json={
                "reason": "size warning understood",
                "expires": "7d",
                "report_sha256": world.warn_sha256,
            },
            headers=alice,
        ).status_code
        == 201
    )
    r = client.post(
        "/api/v1/models/bot/versions/2/promotions",
        json={
            "to": "production",
            "reason": "better",
            **client.get("/api/v1/models/bot/versions/2", headers=alice).json()["backing"],
        },
        headers=alice,
    )
    assert r.status_code == 201
    request_id = r.json()["request_id"]
    approved = client.post(f"/api/v1/promotion-requests/{request_id}/approve", headers=bob)
    assert approved.status_code == 200
    back = client.post(
        "/api/v1/models/bot/rollback",
        json={"reason": "pager", "from_version": 2, "to_version": 1},
        headers=bob,
    )
    assert back.status_code == 200
    assert hooks.drain(30)

    # The first POST got a 500 and was sent again, byte for byte.
    assert receiver.posts[0][1] == receiver.posts[1][1]
    delivered = receiver.posts[1:]
    events = [json.loads(body) for _, body in delivered]
    assert [e["event"] for e in events] == ["waiver", "promotion_requested", "promoted", "rollback"]
    assert events[1]["request_id"] == request_id and events[1]["to"] == "production"
    assert events[2]["stage"] == "production" and events[2]["actor"] == "bob"
    assert (events[3]["version"], events[3]["stage"], events[3]["reason"]) == (
        1,
        "production",
        "pager",
    )
    assert len({e["delivery"] for e in events}) == 4
    for headers, body in delivered:
        assert headers["X-Curagate-Event"] == json.loads(body)["event"]
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], sign(SECRET, body))
        assert not hmac.compare_digest(headers[SIGNATURE_HEADER], sign(b"other", body))


def test_an_unreachable_receiver_is_logged_and_the_action_still_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = build_world(tmp_path)
    dead = Receiver()
    url = dead.url.replace("/hook", "/hooks/T0001/PATHSECRET")
    dead.close()  # nothing listens there any more
    hooks = Webhooks([url], None, attempts=2, backoff_s=0.01, timeout_s=2)
    client = TestClient(create_app(world.db, webhooks=hooks))
    with caplog.at_level(logging.WARNING, logger="curagate.serve.webhooks"):
        stage_v2(client, world)  # the action succeeds
        assert hooks.drain(30)
    lines = [rec.getMessage() for rec in caplog.records]
    assert len(lines) == 1 and "event promoted not delivered after 2 attempt(s)" in lines[0]
    # only scheme://host:port: the path and the query string may hold a secret
    assert f"webhook {origin(url)}: event promoted" in lines[0]
    assert "token=abc" not in lines[0] and "PATHSECRET" not in lines[0]


@pytest.mark.parametrize("flood", [False, True], ids=["dripped-headers", "endless-body"])
def test_a_receiver_that_drips_or_floods_cannot_hold_the_delivery_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, flood: bool
) -> None:
    # Each socket read came within timeout_s, so a receiver dripping its headers a byte at
    # a time held the one delivery thread (every later event waited) for as long as it
    # liked; an endless body was read into memory to the end.
    class Slow(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                if flood:
                    self.wfile.write(b"Content-Length: 100000000000\r\n\r\n")
                for _ in range(100 if not flood else 10**6):
                    self.wfile.write(b"x" * (65536 if flood else 1))
                    self.wfile.flush()
                    if not flood:
                        time.sleep(0.1)

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Slow)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    world = build_world(tmp_path)
    url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    hooks = Webhooks([url], None, attempts=1, timeout_s=0.5)
    client = TestClient(create_app(world.db, webhooks=hooks))
    start = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="curagate.serve.webhooks"):
            stage_v2(client, world)
            assert hooks.drain(30)
    finally:
        srv.shutdown()
        srv.server_close()
    assert time.monotonic() - start < 5.0  # not the 10 s drip, not 100 GB
    lines = [rec.getMessage() for rec in caplog.records]
    if flood:  # a 200 is a delivery; what follows it is not read past a small cap
        assert lines == []
    else:
        (line,) = lines
        assert "event promoted not delivered after 1 attempt(s) (TimeoutError" in line, line


def test_a_webhook_must_be_an_http_url() -> None:
    with pytest.raises(InputError, match="not an http"):
        Webhooks(["file:///etc/passwd"])


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://ci.example:99999/hook",
        "http://ci.example:abc/hook",
        "https://ci:s3cret@ci.example/hook",
        "https://s3cret@ci.example/hook",
        # Never deliverable: each event was only logged as not delivered.
        "http://127.0.0.1:0/hook",
        "http://exa mple.com/hook",
        "http://ci.example/hook\r\nX-Evil: 1",
        "http://ci.example/ho ok",
        "http://ci.example/hook\x00",
    ],
)
def test_a_webhook_url_with_credentials_or_a_bad_port_is_refused_without_echoing_it(
    url: str,
) -> None:
    with pytest.raises(InputError, match="--webhook") as e:
        check_url(url)
    assert url not in str(e.value) and "s3cret" not in str(e.value)


def test_serve_with_a_malformed_webhook_url_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    assert main(["serve", "--db", str(world.db), "--webhook", "http://[::1"]) == 2
    err = capsys.readouterr().err
    assert "not a valid URL" in err and "Traceback" not in err


def test_non_utf8_bytes_in_the_secret_or_a_token_are_no_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bytes of an environment variable that are not UTF-8 reach Python as surrogates:
    # encoding the webhook secret, or hashing the token, was exit 3. The secret is the
    # variable's bytes; such a token is one nobody holds.
    import socket

    world = build_world(tmp_path)
    monkeypatch.setenv("CURAGATE_WEBHOOK_SECRET", "s\udcffcret")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        serve = ["serve", "--db", str(world.db), "--host", "127.0.0.1", "--port", port]
        assert main([*serve, "--webhook", "http://127.0.0.1:9/hook"]) == 2
    assert "cannot listen there" in capsys.readouterr().err
    monkeypatch.setenv("CURAGATE_TOKEN", "cgt_\udcff")
    assert main(["registry", "--db", str(world.db), "approve", "1"]) == 1  # refused
    err = capsys.readouterr().err
    assert "missing, unknown or revoked token" in err and "Traceback" not in err


def test_the_log_names_a_webhook_by_its_origin() -> None:
    assert origin("https://ci.example/hooks/T1/SECRET?token=x") == "https://ci.example"
    assert origin("http://[::1]:8080/h") == "http://[::1]:8080"


@pytest.mark.slow
def test_a_redirect_is_not_followed_and_not_a_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # urllib followed a 302 from the receiver: the event went as a GET, with its
    # headers, to the address the receiver named (an internal one here), and counted
    # as delivered.
    inside = Receiver()
    hits: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", inside.url.replace("/hook", "/admin"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Inside(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

    inside.server.RequestHandlerClass = Inside
    outside = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=outside.serve_forever, daemon=True).start()
    try:
        world = build_world(tmp_path)
        url = f"http://127.0.0.1:{outside.server_address[1]}/hook"
        hooks = Webhooks([url], SECRET, attempts=2, backoff_s=0.01, timeout_s=5)
        client = TestClient(create_app(world.db, webhooks=hooks))
        with caplog.at_level(logging.WARNING, logger="curagate.serve.webhooks"):
            stage_v2(client, world)
            assert hooks.drain(30)
        assert hits == []
        assert any("not delivered" in rec.getMessage() for rec in caplog.records)
    finally:
        outside.shutdown()
        outside.server_close()
        inside.close()
