"""Webhooks: a signed JSON POST to each configured URL after a registry transition.

Events (``event`` in the body and the ``X-Curagate-Event`` header): ``waiver``,
``promotion_requested``, ``promoted`` (staging at once, or production once approved) and
``rollback``. Each body is one JSON object (sorted keys) with a unique ``delivery`` id and
the time it was sent. With a secret, ``X-Curagate-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the exact body bytes under that secret, so a receiver can reject forgeries
(compare with ``hmac.compare_digest``).

Delivery never holds up or fails the action that caused it: events go to one background
thread, which retries connection errors, timeouts, 408, 429 and 5xx with exponential
backoff and logs (``curagate.serve.webhooks``, a warning) the event it gave up on. The
registry's hash-chained log, not the webhook, is the record of what happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from curagate.errors import InputError
from curagate.httpclient import ReplyTooLarge, open_by, read_by

log = logging.getLogger("curagate.serve.webhooks")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
SIGNATURE_HEADER = "X-Curagate-Signature"
# The receiver's answer is not used; read at most this much of it.
REPLY_CAP = 64 << 10


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a checked URL: what the log names. Its path and query
    may hold a secret (``/hooks/T0001/B0002/TOKEN``, ``?token=``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host, a valid port and no credentials; the
    messages name the URL only by its origin (it may hold a secret)."""
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # raises ValueError for a port out of range or not a number
            raise ValueError("port 0")
        # http.client refuses such URLs at every delivery (an event only logged as not
        # delivered): refuse them at start.
        bad = next((c for c in url if c.isspace() or not c.isprintable()), None)
        if bad is not None:
            raise ValueError(f"it holds the character {bad!r}; percent-encode it")
    except ValueError as e:
        raise InputError(
            f"--webhook: not a valid URL ({e}); e.g. https://ci.example/hook"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"--webhook {origin(url)}: not an http(s) URL with a host (e.g. "
            "https://ci.example/hook)"
        )
    if parts.username is not None or parts.password is not None:
        raise InputError(
            f"--webhook {origin(url)}: the URL holds credentials (user:password@), which would "
            "be logged and sent unencrypted over http; drop them and let the receiver check "
            "the X-Curagate-Signature header (set $CURAGATE_WEBHOOK_SECRET)"
        )
    return url


class Webhooks:
    """Posts events to ``urls`` from a background thread (see the module docstring)."""

    def __init__(
        self,
        urls: Sequence[str],
        secret: bytes | None = None,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
    ) -> None:
        self.urls = [check_url(u) for u in urls]
        self.secret = secret
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        """Queue ``event`` for every URL; returns at once."""
        if not self.urls:
            return
        doc = {
            **fields,
            "event": event,
            "delivery": uuid.uuid4().hex,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        body = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="curagate-webhooks", daemon=True
                )
                self._thread.start()
        for url in self.urls:
            self._queue.put((url, body))

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued delivery is done or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(*item)
            except Exception as e:  # a bug here must not kill the thread for later events
                log.warning("webhook delivery crashed: %s: %s", type(e).__name__, e)
            finally:
                self._queue.task_done()

    def _deliver(self, url: str, body: bytes) -> None:
        event = json.loads(body)["event"]
        headers = {"Content-Type": "application/json", "X-Curagate-Event": event}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        why = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                # A deadline for the whole exchange, and the receiver's answer read only up
                # to a small cap: a receiver that drips or floods cannot hold the thread.
                # (A 2xx is a delivery, whatever follows it.)
                with (
                    open_by(req, self.timeout_s) as (resp, deadline),
                    contextlib.suppress(ReplyTooLarge),
                ):
                    read_by(resp, deadline, REPLY_CAP)
                return
            except urllib.error.HTTPError as e:
                why = f"HTTP {e.code}"
                if e.code not in RETRY_STATUS:
                    break
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                why = f"{type(reason).__name__}: {reason}"
        log.warning(
            "webhook %s: event %s not delivered after %d attempt(s) (%s)",
            origin(url),  # the path and query may hold a token
            event,
            attempt + 1,
            why,
        )


__all__ = ["SIGNATURE_HEADER", "Webhooks", "check_url", "origin", "sign"]
