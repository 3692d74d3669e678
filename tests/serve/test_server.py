"""The release service behind a real uvicorn: how much of a request body it reads.

Bodies go out chunked (no Content-Length to refuse them by), and the bytes uvicorn hands
the service are counted at the ASGI boundary, so the tests assert what was read, not how
long it took.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from curagate.registry import Registry
from curagate.serve.app import create_app

from .serve_fixtures import World, admin, build_world, running_server

MIB = 1 << 20
SMALL_CAP = MIB  # every body but an upload's; written here so a changed limit fails a test


class BodyCounter:
    """ASGI wrapper: the request-body bytes the service asked uvicorn for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.read = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[tuple[str, BodyCounter]]:
    counter = BodyCounter(create_app(world.db))
    with running_server(counter) as url:
        yield url, counter


def post_chunked(base: str, path: str, headers: dict[str, str], body: Iterable[bytes]) -> int:
    """POST ``body`` with Transfer-Encoding: chunked, stopping as soon as the server
    answers (it need not read what it refuses); returns the status code."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(head.encode() + b"\r\n")
        try:
            for piece in body:
                if select.select([s], [], [], 0)[0]:
                    break  # answered already
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: its answer is waiting
        answer = s.recv(65536)
    return int(answer.split()[1])


def post_declared(base: str, path: str, headers: dict[str, str], length: int) -> int | None:
    """Declare a ``length``-byte body, send only its first bytes and wait: the status the
    server answers without the rest, or None when it waits for the body."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(head.encode() + b'\r\n{"name": "bot", "version": 2, "report": "')
        try:
            answer = s.recv(65536)
        except TimeoutError:
            return None
    return int(answer.split()[1])


def junk(mib: int) -> Iterator[bytes]:
    return itertools.repeat(b"A" * (64 << 10), mib * 16)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer cgt_unknown"}, {"Authorization": "Basic x"}],
    ids=["no token", "unknown token", "not bearer"],
)
def test_an_api_post_without_a_valid_token_is_401_before_its_body_is_read(
    served: tuple[str, BodyCounter], headers: dict[str, str]
) -> None:
    url, counter = served
    before = counter.read
    status = post_chunked(url, "/api/v1/reports", headers, junk(64))
    assert status == 401
    assert counter.read == before  # not one byte of the 64 MiB


@pytest.mark.parametrize(
    "cookie", [None, "curagate_session=not-a-session"], ids=["no cookie", "unknown session"]
)
@pytest.mark.parametrize("path", ["/ui/models/bot/rollback", "/ui/requests/1/approve", "/logout"])
def test_a_page_post_without_a_live_session_is_sent_to_log_in_before_its_body_is_read(
    served: tuple[str, BodyCounter], path: str, cookie: str | None
) -> None:
    # FastAPI parsed the form fields (up to the 1 MiB cap) before the session check.
    url, counter = served
    before = counter.read
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie is not None:
        headers["Cookie"] = cookie
    assert post_chunked(url, path, headers, junk(1)) == 303
    assert counter.read == before


def test_a_revoked_token_is_401_before_the_body_is_read(
    served: tuple[str, BodyCounter], world: World
) -> None:
    with Registry(world.db) as reg:
        _, token = reg.user_add("gone", role="approver", actor=admin(reg, world))
        reg.user_revoke("gone", actor=admin(reg, world))
    url, counter = served
    before = counter.read
    status = post_chunked(url, "/api/v1/reports", {"Authorization": f"Bearer {token}"}, junk(16))
    assert status == 401 and counter.read == before


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_a_caller_who_may_not_upload_is_refused_before_the_upload_body_is_read(
    served: tuple[str, BodyCounter], world: World, declared: bool
) -> None:
    # Found by attack: every active token got the 529 MiB upload cap, and a viewer's body
    # was read and parsed (~1.4 GB of memory a request) before her role was checked.
    url, counter = served
    before = counter.read
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {world.tokens['vera']}",
    }
    if declared:  # answered at once, not after the 300 MB the server would wait for
        status = post_declared(url, "/api/v1/reports", headers, 300_000_000)
    else:
        status = post_chunked(url, "/api/v1/reports", headers, junk(64))
    assert status == 403
    assert counter.read == before  # not one byte of the body


def test_the_upload_refusal_names_the_role_as_the_handler_does(world: World) -> None:
    with running_server(create_app(world.db)) as url:
        got = httpx.post(
            f"{url}/api/v1/reports",
            json={"name": "bot", "version": 2, "report": "{}"},
            headers={"Authorization": f"Bearer {world.tokens['vera']}"},
        )
    assert got.status_code == 403
    assert "has the viewer role; uploading a report needs the uploader" in got.json()["error"]


def test_an_uploader_revoked_while_the_body_arrives_is_refused_by_the_handler(
    served: tuple[str, BodyCounter], world: World
) -> None:
    # The guard's look at the users table is not the last word: the handler authenticates
    # the token again on the verified registry once the body is in.
    with Registry(world.db) as reg:
        _, token = reg.user_add("ci-late", role="uploader", actor=admin(reg, world))

    def body() -> Iterator[bytes]:
        yield b'{"name": "bot", "version": 2, '
        with Registry(world.db) as reg:  # the guard let the request in: revoke now
            reg.user_revoke("ci-late", actor=admin(reg, world))
        yield b'"report": "{}"}'

    url, _ = served
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    assert post_chunked(url, "/api/v1/reports", headers, body()) == 401


@pytest.mark.parametrize(
    ("path", "user"),
    [("/api/v1/models/bot/rollback", "alice"), ("/login", None)],
    ids=["api json", "login form"],
)
def test_a_chunked_body_past_its_cap_is_413_after_reading_about_the_cap(
    served: tuple[str, BodyCounter], world: World, path: str, user: str | None
) -> None:
    url, counter = served
    before = counter.read
    headers = {"Content-Type": "application/json" if user else "application/x-www-form-urlencoded"}
    if user:
        headers["Authorization"] = f"Bearer {world.tokens[user]}"
    status = post_chunked(url, path, headers, junk(32))
    assert status == 413
    assert SMALL_CAP < counter.read - before <= SMALL_CAP + MIB


def test_a_chunked_upload_within_its_cap_is_read_and_recorded(
    served: tuple[str, BodyCounter], world: World
) -> None:
    g2 = Path(world.db).parent.parent / "g2"
    body = json.dumps(
        {
            "name": "bot",
            "version": 2,
            "report": (g2 / "gate_report.json").read_text(),
            "attestation": (g2 / "gate_attestation.dsse.json").read_text(),
            "items": (g2 / "items.jsonl").read_text(),
        }
    ).encode()
    pieces = (body[i : i + 1000] for i in range(0, len(body), 1000))
    url, _ = served
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {world.tokens['bob']}"}
    assert post_chunked(url, "/api/v1/reports", headers, pieces) == 201


@pytest.mark.slow  # about a minute of requests on two cores
def test_reads_while_reports_are_recorded_are_never_taken_for_a_database_put_back(
    tmp_path: Path,
) -> None:
    # Found by attack: a request's snapshot began, another thread committed a report and
    # raised the head the service had seen, and the older snapshot, lacking that row, was
    # answered 503 "an older copy of the database was put back" (1-4 per run of this).
    import threading

    import httpx

    world = build_world(tmp_path)
    g2 = tmp_path / "g2"
    body = {
        "name": "bot",
        "version": 2,
        "report": (g2 / "gate_report.json").read_text(),
        "attestation": (g2 / "gate_attestation.dsse.json").read_text(),
    }
    codes: list[int] = []

    def read(base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            auth = {"Authorization": f"Bearer {world.tokens['vera']}"}
            codes.extend(c.get("/api/v1/models", headers=auth).status_code for _ in range(100))

    def upload(base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            auth = {"Authorization": f"Bearer {world.tokens['ci']}"}
            codes.extend(
                c.post("/api/v1/reports", json=body, headers=auth).status_code for _ in range(30)
            )

    with running_server(create_app(world.db)) as base:
        threads = [threading.Thread(target=read, args=(base,)) for _ in range(12)]
        threads.append(threading.Thread(target=upload, args=(base,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(set(codes)) == [200, 201] and len(codes) == 12 * 100 + 30
    assert codes.count(201) == 30
