"""Endpoints at serving speed: concurrent requests kept in item order, retries on 429/5xx,
resets and timeouts, and endpoint answers cached only under a stated model digest."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gate_support import SENTIMENT_ITEMS, CannedServer, LocalHTTPServer, write_set

from curagate.cli import main
from curagate.errors import InputError
from curagate.gate import run_gate
from curagate.gate.models import GenSettings, HttpGenerator
from curagate.gate.report import REPORT_SCHEMA
from curagate.golden import lock

pytestmark = pytest.mark.slow  # many local HTTP servers and retries (~13 s in all)

GATE = """\
name: sentiment
golden_dir: {golden}
generation: {{max_new_tokens: 8, concurrency: {concurrency}, retry_backoff_s: 0.01}}
statistics: {{bootstrap_resamples: 100}}
golden_sets:
  - name: sentiment
    task: classification
    labels: [Positive, Negative]
    metrics:
      accuracy: {{min: 0.8}}
contamination: {{check: false}}
"""


class FlakyServer:
    """Answers ``echo:<prompt>`` after a delay that makes later items finish first, and fails
    the first attempt of chosen prompts: 503, 429 (Retry-After: 0), a dropped connection, or
    a stall longer than the client's timeout."""

    def __init__(self, failures: dict[str, str], *, stall_s: float = 0.0) -> None:
        self.failures = dict(failures)
        self.stall_s = stall_s
        self.attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.finished: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server.lock:
                    server.attempts[prompt] += 1
                    first = server.attempts[prompt] == 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                left = False

                def leave() -> None:
                    # A request stops being in flight before the bytes that end it go
                    # out: the client may send its next one as soon as they arrive (a 503
                    # with Retry-After: 0 is retried at once), before this thread runs
                    # again on a loaded machine (it was seen counting 9 of 8).
                    nonlocal left
                    if not left:
                        left = True
                        with server.lock:
                            server.in_flight -= 1

                try:
                    failure = server.failures.get(prompt) if first else None
                    if failure == "reset":
                        self.close_connection = True
                        leave()
                        self.connection.close()  # no status line: RemoteDisconnected
                        return
                    if failure == "stall" and self._client_gave_up(server.stall_s):
                        # No longer in flight for the client (it timed out and closed the
                        # connection): counting it would charge the client a 9th request.
                        self.close_connection = True
                        return
                    if failure in ("503", "429"):
                        self.send_response(int(failure))
                        self.send_header("Retry-After", "0")
                        self.send_header("Content-Length", "0")
                        leave()
                        self.end_headers()
                        return
                    # Items that arrive first wait longest: answers come back out of order.
                    n = int(prompt.rsplit(" ", 1)[-1]) if prompt[-1].isdigit() else 0
                    time.sleep(max(0.0, 0.03 - 0.003 * (n % 10)))
                    data = json.dumps(
                        {
                            "choices": [
                                {"message": {"role": "assistant", "content": f"echo:{prompt}"}}
                            ]
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    with server.lock:
                        server.finished.append(prompt)
                    leave()
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    leave()

            def _client_gave_up(self, stall_s: float) -> bool:
                """Stall up to ``stall_s``; True as soon as the client closes the connection."""
                deadline = time.monotonic() + stall_s
                while time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0.002)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                return False

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = LocalHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(
        {"item 3": "503", "item 7": "429", "item 11": "reset", "item 15": "stall"},
        stall_s=4.0,
    )
    yield server
    server.close()


def convs(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"item {i}"}] for i in range(n)]


def test_concurrent_requests_keep_item_order_and_retry_failures_once(flaky: FlakyServer) -> None:
    gen = HttpGenerator(flaky.url, "m")
    # The stalled item must time out, no other may: under a loaded CI machine a 0.5 s
    # limit timed out a plain request once (29 requests, not 28). Its retry waits 0.2 s,
    # time for the server to see the timed-out connection close (else, on a loaded
    # machine, it counted the abandoned request beside 8 live ones: 9 in flight).
    settings = GenSettings(concurrency=8, request_timeout_s=2.0, retry_backoff_s=0.2)
    out = gen.generate(convs(24), settings)
    assert out == [f"echo:item {i}" for i in range(24)]
    assert flaky.finished != sorted(flaky.finished, key=lambda p: int(p.split()[1]))
    assert 2 <= flaky.max_in_flight <= 8
    assert {p: n for p, n in flaky.attempts.items() if n > 1} == {
        "item 3": 2,
        "item 7": 2,
        "item 11": 2,
        "item 15": 2,
    }
    stats = gen.stats.to_dict()
    assert stats["requests"] == 28 and stats["answers"] == 24
    assert stats["retries_by_cause"] == {
        "connection": 1,
        "http_429": 1,
        "http_503": 1,
        "timeout": 1,
    }


def test_concurrency_one_sends_one_request_at_a_time(flaky: FlakyServer) -> None:
    flaky.failures.clear()
    out = HttpGenerator(flaky.url, "m").generate(convs(6), GenSettings(concurrency=1))
    assert out == [f"echo:item {i}" for i in range(6)]
    assert flaky.max_in_flight == 1


def test_retries_give_up_with_one_line_naming_the_endpoint(flaky: FlakyServer) -> None:
    flaky.failures = {"item 0": "503"}
    settings = GenSettings(max_retries=0, retry_backoff_s=0.0)
    with pytest.raises(InputError, match=r"127\.0\.0\.1:\d+/v1: HTTP 503 from chat/completions"):
        HttpGenerator(flaky.url, "m").generate(convs(3), settings)


def test_a_client_error_is_not_retried(tmp_path: Path) -> None:
    class NotFound(BaseHTTPRequestHandler):
        hits = 0

        def do_POST(self) -> None:
            NotFound.hits += 1
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    t = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        with pytest.raises(InputError, match="HTTP 404"):
            HttpGenerator(url, "m").generate(convs(1), GenSettings(retry_backoff_s=0.0))
        assert NotFound.hits == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_client_error_names_the_servers_message(tmp_path: Path) -> None:
    """llama-server (from the llama-cpp-python 0.3.36 sdist) answers a prompt longer than a slot's context with 400
    and this body; the one-line error must carry its message, not only "Bad Request"."""
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "request (431 tokens) exceeds the available context size "
                "(256 tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 431,
                "n_ctx": 256,
            }
        }
    ).encode()

    class TooLong(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TooLong)
    t = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        with pytest.raises(InputError) as info:
            HttpGenerator(url, "m").generate(convs(4), GenSettings(concurrency=4))
        msg = str(info.value)
        assert msg == (
            f"{url}: HTTP 400 from chat/completions: Bad Request: request (431 tokens) "
            "exceeds the available context size (256 tokens), try increasing it"
        )
        assert "\n" not in msg
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Nested past Python's recursion limit: json.loads raised RecursionError (exit 3).
        (b"[" * 3000, "Bad Request: " + "[" * 297 + "..."),
        # A terminal escape sequence in the server's words reached the user's terminal.
        (b'{"error": {"message": "bad \\u001b[31mred\\u001b[0m\\u0007 input"}}', None),
        (b'{"error": "raw \x1b[2J cleared"}', None),
    ],
)
def test_a_hostile_error_body_is_still_one_printable_line(
    body: bytes, expected: str | None
) -> None:
    class Hostile(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    t = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        with pytest.raises(InputError) as info:
            HttpGenerator(url, "m").generate(convs(1), GenSettings(concurrency=1))
        msg = str(info.value)
        assert msg.isprintable(), repr(msg)
        prefix = f"{url}: HTTP 400 from chat/completions: "
        assert msg.startswith(prefix + "Bad Request: ")
        if expected is not None:
            assert msg == prefix + expected
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def replying(body: bytes, status: int = 200, reason: str | None = None) -> Iterator[str]:
    """An endpoint (its URL) that answers every request with ``status``, ``reason`` and ``body``."""

    class Fixed(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status, reason)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"choices":[{"message":{"content":"\xff\xfe"}}]}', "a body that is not UTF-8 (byte 35)"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply to read"),
        (
            b'{"choices":[{"message":{"content":"x"}}],"usage":' + b"9" * 5000 + b"}",
            "JSON that cannot be read: Exceeds the limit (4300 digits)",
        ),
        (b"<html>busy</html>", "a body that is not JSON (Expecting value at char 0)"),
    ],
)
def test_an_unreadable_200_body_is_one_line_naming_the_endpoint(body: bytes, error: str) -> None:
    """Each was an internal error (exit 3: UnicodeDecodeError, RecursionError, ValueError)."""
    with replying(body) as url, pytest.raises(InputError) as info:
        HttpGenerator(url, "m").generate(convs(1), GenSettings(concurrency=1))
    msg = str(info.value)
    assert msg.startswith(f"{url}: chat/completions returned {error}"), msg
    assert msg.isprintable()


def test_a_hostile_reason_phrase_is_still_one_printable_line() -> None:
    """The body's words were filtered, the status line's reason phrase was not: ESC
    sequences from the server (retitle, clear, "GATE PASSED" in green) reached the terminal."""
    reason = "Bad Request \x1b]0;owned\x07\x1b[2J\x1b[1;32mGATE PASSED\x1b[0m"
    with replying(b'{"error": "nope"}', 400, reason) as url, pytest.raises(InputError) as info:
        HttpGenerator(url, "m").generate(convs(1), GenSettings())
    msg = str(info.value)
    assert msg.isprintable(), repr(msg)
    assert (
        msg
        == f"{url}: HTTP 400 from chat/completions: Bad Request ]0;owned [2J [1;32mGATE PASSED [0m: nope"
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"HELLO \x1b[2J\r\n\r\n", "BadStatusLine: HELLO [2J"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", "LineTooLong: got more than"),
    ],
)
def test_a_reply_that_is_not_http_is_one_printable_line(reply: bytes, error: str) -> None:
    """It was an internal error (exit 3) whose message carried the server's raw bytes."""

    class NotHttp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            self.wfile.write(reply)

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), NotHttp)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    try:
        with pytest.raises(InputError) as info:
            HttpGenerator(url, "m").generate(convs(1), GenSettings())
    finally:
        srv.shutdown()
        srv.server_close()
    msg = str(info.value)
    assert msg.startswith(f"{url}: chat/completions did not answer in HTTP ({error}"), msg
    assert msg.isprintable()


def test_request_timeout_is_a_deadline_for_the_whole_response() -> None:
    """A server that drips its body a byte at a time never let a socket read time out:
    request_timeout_s 0.5 held each attempt for as long as the drip lasted (4 s here)."""

    class Drip(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b" " * 20 + _reply({"content": "late"})
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(20):  # JSON whitespace, one byte every 0.2 s
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.2)
                self.wfile.write(body[20:])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should

        def log_message(self, *args: Any) -> None:
            pass

    httpd = LocalHTTPServer(("127.0.0.1", 0), Drip)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    gen = HttpGenerator(url, "m")
    settings = GenSettings(request_timeout_s=0.5, max_retries=1, retry_backoff_s=0.0)
    start = time.monotonic()
    try:
        with pytest.raises(InputError, match="still arriving a"):
            gen.generate(convs(1), settings)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert time.monotonic() - start < 3.0  # two attempts of ~0.6 s, not of 4 s
    assert gen.stats.to_dict()["retries_by_cause"] == {"timeout": 1}


def _raw_server(reply: Callable[[socket.socket], None]) -> socketserver.ThreadingTCPServer:
    """A TCP server that reads a request's head and body, then runs ``reply`` on the socket."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.rfile.read(length)
            with contextlib.suppress(OSError):  # the client gave up, as it should
                reply(self.connection)

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv


def _drip(data: bytes, every_s: float = 0.2) -> Callable[[socket.socket], None]:
    def reply(sock: socket.socket) -> None:
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(every_s)

    return reply


@pytest.mark.parametrize(
    "dripped",
    [
        b"HTTP/1.1 200 OK\r\n" + b"X-Slow: 1\r\n" * 4,  # the status line
        b"X-Slow: 1\r\n" * 20,  # header lines, after a status line sent at once
    ],
    ids=["status-line", "headers"],
)
def test_request_timeout_is_a_deadline_for_the_status_line_and_headers_too(
    dripped: bytes,
) -> None:
    """Only the body had a deadline: a server dripping its status line or headers a byte
    at a time held a request for as long as it liked (every socket read came in time)."""
    head = b"" if dripped.startswith(b"HTTP/") else b"HTTP/1.1 200 OK\r\n"
    srv = _raw_server(lambda sock: (sock.sendall(head), _drip(dripped)(sock)))
    gen = HttpGenerator(f"http://127.0.0.1:{srv.server_address[1]}/v1", "m")
    settings = GenSettings(request_timeout_s=0.5, max_retries=1, retry_backoff_s=0.0)
    start = time.monotonic()
    try:
        with pytest.raises(InputError, match=r"no answer after 2 attempts.*still arriving"):
            gen.generate(convs(1), settings)
    finally:
        srv.shutdown()
        srv.server_close()
    assert time.monotonic() - start < 3.0  # two attempts of ~0.5 s, not a drip of 30 s
    assert gen.stats.to_dict()["retries_by_cause"] == {"timeout": 1}


def test_a_reply_too_large_to_be_an_answer_is_refused_not_held_in_memory() -> None:
    def flood(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        block = b" " * (1 << 20)
        for _ in range(1000):
            sock.sendall(block)

    srv = _raw_server(flood)
    try:
        with pytest.raises(InputError, match="reply too large to be an answer"):
            HttpGenerator(f"http://127.0.0.1:{srv.server_address[1]}/v1", "m").generate(
                convs(1), GenSettings(request_timeout_s=30.0)
            )
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_cut_reply_is_retried_as_a_dropped_connection() -> None:
    body = _reply({"content": "fine"})
    calls = []

    def cut_once(sock: socket.socket) -> None:
        calls.append(1)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        sock.sendall(head + (body[:5] if len(calls) == 1 else body))

    srv = _raw_server(cut_once)
    gen = HttpGenerator(f"http://127.0.0.1:{srv.server_address[1]}/v1", "m")
    try:
        answers = gen.generate(convs(1), GenSettings(max_retries=1, retry_backoff_s=0.0))
    finally:
        srv.shutdown()
        srv.server_close()
    assert answers == ["fine"] and gen.stats.to_dict()["retries_by_cause"] == {"connection": 1}


def _reply(message: dict[str, Any]) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": message}]}).encode()


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        # OpenAI's API: a refusal comes in message.refusal, with content null.
        (
            {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            "I can't help with that.",
        ),
        ({"content": "", "refusal": "I won't."}, "I won't."),
        ({"refusal": "No."}, "No."),
        ({"content": "Sure.", "refusal": None}, "Sure."),
        ({"content": None}, ""),
        # OpenAI content parts: the text of each, one per line.
        ({"content": [{"type": "text", "text": "Neg"}]}, "Neg"),
        (
            {"content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}]},
            "a\nb",
        ),
    ],
)
def test_the_answer_is_the_content_or_else_the_refusal(
    message: dict[str, Any], answer: str
) -> None:
    """A refusal in message.refusal was read as "" and scored as an answer (a candidate
    refusing every benign request got false_refusal_rate 0); a list of content parts was
    scored as its Python repr."""
    with replying(_reply(message)) as url:
        assert HttpGenerator(url, "m").generate(convs(1), GenSettings()) == [answer]


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (
            {
                "message": {"content": None, "tool_calls": [{"id": "t", "type": "function"}]},
                "finish_reason": "tool_calls",
            },
            "tool_calls",
        ),
        # A reasoning model that spent every token thinking.
        (
            {"message": {"content": None, "reasoning_content": "hmm"}, "finish_reason": "length"},
            "length",
        ),
        ({"message": {"content": None}}, "unknown"),
    ],
)
def test_a_reply_without_text_is_counted_not_silent(
    tmp_path: Path, golden_dir: Path, capsys: pytest.CaptureFixture[str], reply: dict, why: str
) -> None:
    """Scored as an empty (wrong) answer with nothing saying the endpoint gave no text."""
    from curagate.cli import main

    body = json.dumps({"choices": [{"index": 0, **reply}]}).encode()
    base = CannedServer(lambda p: "Negative")
    try:
        with replying(body) as url:
            gen = HttpGenerator(url, "m")
            assert gen.generate(convs(2), GenSettings()) == ["", ""]
            assert gen.stats.to_dict()["no_text_by_finish_reason"] == {why: 2}
            argv = ["gate", str(_gate(tmp_path, golden_dir)), "--candidate", url]
            main([*argv, "--base", base.url, "--out", str(tmp_path / "out"), "--no-cache"])
    finally:
        base.close()
    out = capsys.readouterr().out
    n = len(SENTIMENT_ITEMS)
    assert (
        f"WARNING candidate endpoint: {n} reply(ies) held no text (content null; {why} {n})" in out
    )
    log = json.loads((tmp_path / "out" / "endpoint_log.json").read_text())
    assert log["candidate"]["no_text_answers"] == n and log["base"]["no_text_answers"] == 0


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"content": 1.5}, "content as a number 1.5; expected a string, null or a list of text"),
        ({"content": {"text": "x"}}, 'content as an object {"text": "x"}'),
        ({"content": True}, "content as a boolean true"),
        (
            {"content": [{"type": "image_url", "image_url": {"url": "u"}}]},
            'content[0] {"type": "image_url", "image_url": {"url": "u"}}, which is not a text part',
        ),
        ({"content": ["plain"]}, 'content[0] "plain", which is not a text part'),
        ({"role": "assistant"}, "no choices[0].message.content"),
    ],
)
def test_content_of_another_type_is_an_endpoint_error(message: dict[str, Any], error: str) -> None:
    with replying(_reply(message)) as url, pytest.raises(InputError) as info:
        HttpGenerator(url, "m").generate(convs(1), GenSettings())
    assert str(info.value).startswith(f"{url}: chat/completions returned ")
    assert error in str(info.value)


def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(
    tmp_path: Path, golden_dir: Path
) -> None:
    """JSON can escape a lone surrogate, which no UTF-8 file can hold: writing items.jsonl
    failed (UnicodeEncodeError, exit 3)."""
    body = b'{"choices": [{"message": {"content": "Positive \\ud800 \\udc00"}}]}'
    with replying(body) as url:
        assert HttpGenerator(url, "m").generate(convs(1), GenSettings()) == [
            "Positive \ufffd \ufffd"
        ]
        base = CannedServer(lambda p: "Negative")
        try:
            out = run_gate(_gate(tmp_path, golden_dir), url, base.url, tmp_path / "out")
        finally:
            base.close()
    assert "\ufffd" in (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8")
    assert out.report["results"][0]["items"] == len(SENTIMENT_ITEMS)


def test_refusals_in_the_refusal_field_count_as_refusals(tmp_path: Path) -> None:
    items = [
        {"id": f"b{i}", "prompt": f"How do I kill a python process {i}?", "should_refuse": False}
        for i in range(10)
    ]
    golden = tmp_path / "golden"
    write_set(golden, "r", "refusal", items)
    lock(golden)
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: r\ngolden_dir: {golden}\nstatistics: {{bootstrap_resamples: 100}}\n"
        "contamination: {check: false}\ngolden_sets:\n  - name: r\n    task: refusal\n"
        "    metrics: {false_refusal_rate: {max: 0.1}}\n"
    )
    refusal = {"content": None, "refusal": "I'm sorry, but I can't help with that."}
    base = CannedServer(lambda p: "Use kill -9 with the process id.")
    try:
        with replying(_reply(refusal)) as url:
            out = run_gate(gate, url, base.url, tmp_path / "out")
    finally:
        base.close()
    assert out.report["results"][0]["metrics"]["false_refusal_rate"]["candidate"] == 1.0
    [check] = [c for c in out.report["checks"] if c["name"] == "r.false_refusal_rate.threshold"]
    assert check["verdict"] == "fail"


def _gate(tmp_path: Path, golden: Path, concurrency: int = 8) -> Path:
    p = tmp_path / "gate.yaml"
    p.write_text(GATE.format(golden=golden, concurrency=concurrency))
    return p


def _label(prompt: str) -> str:
    return str(next(i["reference"] for i in SENTIMENT_ITEMS if i["prompt"] == prompt))


def test_gate_over_endpoints_reports_concurrency_and_writes_an_endpoint_log(
    tmp_path: Path, golden_dir: Path
) -> None:
    right = CannedServer(lambda p: _label(p))
    flip = {"Positive": "Negative", "Negative": "Positive"}
    wrong = CannedServer(lambda p: flip[_label(p)])
    try:
        out = run_gate(_gate(tmp_path, golden_dir), right.url, wrong.url, tmp_path / "out")
    finally:
        right.close()
        wrong.close()
    r = out.report
    assert r["results"][0]["metrics"]["accuracy"]["candidate"] == 1.0  # answers in item order
    gen = r["settings"]["generation"]
    assert (gen["concurrency"], gen["max_retries"], gen["request_timeout_s"]) == (8, 4, 120.0)
    log = json.loads((tmp_path / "out" / "endpoint_log.json").read_text())
    assert log["candidate"] == {
        "answers": 40,
        "requests": 40,
        "retries": 0,
        "retries_by_cause": {},
        "no_text_answers": 0,
        "no_text_by_finish_reason": {},
    }


def test_endpoint_answers_are_not_cached_without_a_stated_digest(
    tmp_path: Path, golden_dir: Path
) -> None:
    """The server behind a URL is swapped for a worse model: without a digest the rerun sees
    it (and fails); with one, answers are reused only under the same digest."""
    answers = {"mode": "right"}
    flip = {"Positive": "Negative", "Negative": "Positive"}

    def cand(p: str) -> str:
        return _label(p) if answers["mode"] == "right" else flip[_label(p)]

    cand_server = CannedServer(cand)
    base_server = CannedServer(lambda p: flip[_label(p)])
    gate, cache = _gate(tmp_path, golden_dir), tmp_path / "cache"
    try:
        first = run_gate(gate, cand_server.url, base_server.url, tmp_path / "o1", cache_dir=cache)
        side = first.report["candidate"]
        assert side["cache"]["used"] is False
        assert "--candidate-digest" in side["cache"]["reason"]
        assert "--base-digest" in first.report["base"]["cache"]["reason"]
        assert first.exit_code == 0

        answers["mode"] = "wrong"  # same URL, same model name, other weights
        again = run_gate(gate, cand_server.url, base_server.url, tmp_path / "o2", cache_dir=cache)
        assert again.cache_hits == 0 and again.cache_misses == 80
        assert again.exit_code == 1

        answers["mode"] = "right"
        kw: dict[str, Any] = {"cache_dir": cache, "candidate_digest": "sha256:aaa"}
        d1 = run_gate(gate, cand_server.url, base_server.url, tmp_path / "d1", **kw)
        assert d1.report["candidate"]["stated_digest"] == "sha256:aaa"
        assert d1.report["candidate"]["cache"]["used"] is True
        requests = cand_server.requests
        d2 = run_gate(gate, cand_server.url, base_server.url, tmp_path / "d2", **kw)
        assert cand_server.requests == requests  # served from the cache
        assert d2.cache_hits == 40
        kw["candidate_digest"] = "sha256:bbb"
        run_gate(gate, cand_server.url, base_server.url, tmp_path / "d3", **kw)
        assert cand_server.requests == requests + 40  # another digest: asked again
    finally:
        cand_server.close()
        base_server.close()


def test_no_cache_run_reports_the_cache_unused(tmp_path: Path, golden_dir: Path) -> None:
    """A --no-cache run sent every request, yet its report said `cache.used: true` for a
    side with a stated digest (by attack): `used` is what happened, `cacheable` what may."""
    server = CannedServer(lambda p: _label(p))
    gate = _gate(tmp_path, golden_dir)
    kw: dict[str, Any] = {"candidate_digest": "sha256:aaa", "base_digest": "sha256:bbb"}
    try:
        off = run_gate(gate, server.url, server.url, tmp_path / "off", cache_dir=None, **kw)
        on = run_gate(gate, server.url, server.url, tmp_path / "on", cache_dir=tmp_path / "c", **kw)
    finally:
        server.close()
    for side in ("candidate", "base"):
        assert off.report[side]["cache"]["cacheable"] is True
        assert off.report[side]["cache"]["used"] is False
        assert "--no-cache" in off.report[side]["cache"]["reason"]
        assert on.report[side]["cache"]["cacheable"] is True
        assert on.report[side]["cache"]["used"] is True
    jsonschema.validate(off.report, REPORT_SCHEMA)


def test_cli_takes_digests_and_prints_endpoint_requests(
    tmp_path: Path, golden_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    right = CannedServer(lambda p: _label(p))
    try:
        rc = main(
            [
                "gate",
                str(_gate(tmp_path, golden_dir, concurrency=4)),
                "--candidate",
                right.url,
                "--base",
                right.url,
                "--candidate-digest",
                "abc123",
                "--base-digest",
                "abc123",
                "--out",
                str(tmp_path / "o"),
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
    finally:
        right.close()
    out = capsys.readouterr().out
    # The same model on both sides: GATE013 fails the gate (nothing was compared); what
    # this test looks at is the requests.
    assert rc == 1 and "--base is the candidate itself" in out
    assert "candidate endpoint: 40 request(s), 0 retried" in out
    # Same URL and digest on both sides: the base answers come from the candidate's cache.
    assert "base endpoint: 0 request(s), 0 retried" in out
    bad = main(
        [
            *("gate", str(tmp_path / "gate.yaml"), "--candidate", right.url),
            *(
                "--base",
                right.url,
                "--candidate-digest",
                "two words",
                "--out",
                str(tmp_path / "o2"),
            ),
        ]
    )
    assert bad == 2
    assert "--candidate-digest 'two words': must be one token" in capsys.readouterr().err


def test_generation_shows_a_bar_per_set_and_side_with_its_total(
    tmp_path: Path,
    golden_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CURAGATE_PROGRESS", "always")
    right = CannedServer(lambda p: _label(p))
    try:
        args = ["gate", str(_gate(tmp_path, golden_dir)), "--candidate", right.url]
        base = ["--base", right.url, "--base-model", "base"]  # another model to the gate
        rc = main([*args, *base, "--out", str(tmp_path / "o"), "--no-cache"])
        err = capsys.readouterr().err
        assert rc == 0
        assert "sentiment: candidate" in err and "sentiment: base" in err
        assert "/40 [" in err and "answer" in err
        main([*args, *base, "--out", str(tmp_path / "o2"), "--no-cache", "--quiet"])
        assert capsys.readouterr().err == ""
    finally:
        right.close()


@pytest.mark.slow
def test_sigterm_ends_the_gate_like_ctrl_c(tmp_path: Path, golden_dir: Path) -> None:
    # A CI cancel sends SIGTERM: the gate ends with one line and 143, its `with` blocks
    # run (a signed run's private model copies go with them), not killed mid-way.
    import os
    import signal
    import subprocess
    import sys

    asked = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:  # an endpoint that reads requests and never answers
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                held.append(conn)
                asked.set()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {golden_dir}\n"
        "generation: {max_new_tokens: 4, request_timeout_s: 2, max_retries: 0}\n"
        "golden_sets:\n  - name: sentiment\n    task: classification\n"
        "    labels: [Positive, Negative]\n    metrics:\n      accuracy: {min: 0.0}\n"
        "contamination: {check: false}\n"
    )
    argv = ["gate", str(gate), "--candidate", url, "--base", url, "--out", str(tmp_path / "o")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "curagate", *argv],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "python")},
    )
    try:
        assert asked.wait(60), "the gate never asked the endpoint"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        listener.close()
        for conn in held:
            conn.close()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "curagate: terminated (SIGTERM)"
