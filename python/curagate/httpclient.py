"""HTTP requests with a deadline for the whole exchange, for servers we do not trust.

A socket timeout bounds each wait for bytes only: a server that drips its status line, its
headers or its body a byte at a time never lets one wait run out, and holds the request (a
gate's thread, a webhook's delivery) for as long as it likes. :func:`open_by` starts a
watchdog with the request; at the deadline it shuts the connection's socket down, so the
read blocked in it returns at once, and the error that follows is a :class:`TimeoutError`.
:func:`read_by` reads a body up to a byte limit.

Used by the gate's OpenAI-compatible client and the release service's webhooks (urllib, so
proxies from the environment and HTTPS work as with ``urllib.request.urlopen``).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

_WATCHDOG = "curagate_watchdog"


class ReplyTooLarge(ValueError):
    """A response body past the reader's byte limit."""


class _Watchdog:
    """Shuts down every socket of one request once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            if self.fired:  # connected after the deadline: cut it at once
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shutdown(sock)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched(http_class: Callable[..., http.client.HTTPConnection], req: Any) -> Callable[..., Any]:
    """``http_class`` whose connections hand their socket to the request's watchdog."""
    dog: _Watchdog | None = getattr(req, _WATCHDOG, None)
    if dog is None:
        return http_class

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = http_class(host, **kwargs)
        connect = conn.connect

        def connect_and_watch() -> None:
            connect()
            dog.attach(conn.sock)

        conn.connect = connect_and_watch  # type: ignore[method-assign]
        return conn

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_watched(http_class, req), req, **kwargs)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_watched(http_class, req), req, **kwargs)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is the answer, an HTTPError like any other: urllib would follow it (a POST
    turned into a GET to wherever ``Location`` says, an internal address included, with
    our headers), and a webhook would count as delivered to a receiver that never took it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler, _NoRedirects)


@contextlib.contextmanager
def open_by(
    req: urllib.request.Request, timeout_s: float
) -> Iterator[tuple[http.client.HTTPResponse, float]]:
    """``urlopen(req)`` whose connect, status line, headers and body (read inside the
    ``with``) all end within ``timeout_s``; yields the response and its deadline (a
    :func:`time.monotonic` value). Past the deadline whatever was blocked raises
    :class:`TimeoutError`; an HTTP error status is still :class:`urllib.error.HTTPError`."""
    deadline = time.monotonic() + timeout_s
    setattr(req, _WATCHDOG, _Watchdog(timeout_s))
    dog: _Watchdog = getattr(req, _WATCHDOG)
    try:
        with dog, _OPENER.open(req, timeout=timeout_s) as resp:
            yield resp, deadline
    except urllib.error.HTTPError:
        raise
    except (OSError, http.client.HTTPException):
        # Whatever a shut-down socket made of it (a reset, a short read, no status line)
        if dog.fired:
            raise TimeoutError(f"the response was still arriving after {timeout_s:g} s") from None
        raise
    finally:
        delattr(req, _WATCHDOG)


def read_by(resp: http.client.HTTPResponse, deadline: float, limit: int) -> bytes:
    """The response body, read until ``deadline`` (TimeoutError after it) and up to
    ``limit`` bytes (:class:`ReplyTooLarge` beyond it: not what was asked for)."""
    chunks: list[bytes] = []
    size = 0
    while not resp.isclosed():  # closed once Content-Length bytes were read
        if time.monotonic() > deadline:
            raise TimeoutError("the response was still arriving at its deadline")
        chunk = resp.read1(65536)
        if not chunk:
            if time.monotonic() >= deadline:  # the watchdog shut the socket down
                raise TimeoutError("the response was still arriving at its deadline")
            if resp.length:  # Content-Length promised more: a cut reply, not a short one
                raise http.client.IncompleteRead(b"".join(chunks), resp.length)
            break
        size += len(chunk)
        if size > limit:
            raise ReplyTooLarge(f"the response is larger than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
