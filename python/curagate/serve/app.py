"""`curagate serve`: the release service over one registry database.

Every request that carries a token an active user may hold opens the registry afresh,
which replays and checks the hash-chained log (so a hand-edited database is refused, not
shown); one without is refused before that, and before its body is read
(:class:`RequestGuard`). Every action goes through
the registry's verified path (signed attestation for exactly these bytes, bundle
re-verified). The browser logs in with an API token and gets a server-side session
(HttpOnly, SameSite=Strict cookie); every form POST carries the session's CSRF token;
the Content-Security-Policy allows no script at all (the pages need none) and no
inline style; Jinja2 escapes everything. The JSON API takes the same token as a
bearer token. Sessions live in this process's memory: a restart logs everyone out.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import math
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, unquote, urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from curagate.errors import CheckFailed, CuragateError, InputError, MissingExtraError
from curagate.registry import (
    ChainBroken,
    Forbidden,
    ModelVersion,
    PromotionRequest,
    Registry,
    User,
)
from curagate.registry.chain import State, same_person
from curagate.registry.store import (
    MAX_ITEMS_BYTES,
    MAX_REPORT_BYTES,
    HeadFloor,
    RecordedGateReport,
    RegistryUnavailable,
    check_known_name,
    check_version,
    peek_head,
    peek_token,
    peek_user,
    signed_now,
    store_dir_of,
)
from curagate.reports import environment, render, stylesheet
from curagate.serve import compare as cmp
from curagate.serve import stored
from curagate.serve.webhooks import Webhooks
from curagate.signing import MAX_ATTESTATION_BYTES, _crypto

SESSION_COOKIE = "curagate_session"
LOGIN_COOKIE = "curagate_login"
LOGIN_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def _set_cookie(resp: Response, request: Request, name: str, value: str, *, max_age: int) -> None:
    """A cookie scripts cannot read, never sent by another site's request, and only over
    HTTPS when the service is reached over HTTPS."""
    resp.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max_age,
    )


SESSION_TTL_S = 8 * 3600
# Browser sessions held at once; past it the ones that expire first are logged out.
MAX_SESSIONS = 10_000
# Sessions one user (one token) keeps at once: a browser per device, a few tabs logged in anew.
MAX_SESSIONS_PER_USER = 16
PAGE_SIZE = 50
# Slices and sets listed on a compare page (each also an option of its filter).
MAX_SLICES = 200
MAX_BLOB_STATES = 4096


def _file_state(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is replaced or written (None: there is no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


PAGE_TEMPLATES = (
    "login.html",
    "index.html",
    "version.html",
    "audit.html",
    "compare.html",
    "error.html",
)
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
T = TypeVar("T")
log = logging.getLogger("curagate.serve")


def harden(headers: MutableHeaders) -> None:
    """The security headers every response carries."""
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")


class SecurityHeaders:
    """Pure ASGI (no task group around the body, unlike ``@app.middleware``): adds the
    security headers to every response that passes through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                harden(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, hardened if scope["type"] == "http" else send)


class ApiError(Exception):
    """An error with an HTTP status, shown as JSON on the API and as a page in the browser."""

    def __init__(self, status: int, error: str, fix: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.fix = status, error, fix


@dataclass
class Session:
    token: str
    csrf: str
    expires: float
    # What the last action did, shown once by the next page: kept here, never in a URL,
    # where any link could put words of its own in the service's status box.
    notice: str | None = None


@dataclass
class Sessions:
    """In-memory browser sessions; the token is re-checked on every request, so a
    revoked user is logged out at their next click."""

    items: dict[str, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    limit: int = MAX_SESSIONS
    clock: Callable[[], float] = time.time

    def new(self, token: str) -> tuple[str, Session]:
        """A session for a token that was just checked. Expired sessions are dropped here
        (a session nobody opens again was never removed), and past MAX_SESSIONS the ones
        that expire first go, so repeated logins cannot grow the service's memory."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        s = Session(token, secrets.token_urlsafe(32), now + SESSION_TTL_S)
        with self.lock:
            for old in [k for k, v in self.items.items() if v.expires < now]:
                del self.items[old]
            # One user's logins replace their own oldest sessions: logging in thousands of
            # times pushed everyone else's sessions out (any viewer could log out all).
            own = sorted((k for k, v in self.items.items() if v.token == token), key=self._ends)
            for old in own[: max(0, len(own) - MAX_SESSIONS_PER_USER + 1)]:
                del self.items[old]
            if len(self.items) >= self.limit:
                oldest = sorted(self.items, key=lambda k: self.items[k].expires)
                for old in oldest[: len(self.items) - self.limit + 1]:
                    del self.items[old]
            self.items[sid] = s
        return sid, s

    def _ends(self, sid: str) -> float:
        return self.items[sid].expires

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self.lock:
            s = self.items.get(sid)
            if s is not None and s.expires < self.clock():
                del self.items[sid]
                s = None
        return s

    def drop(self, sid: str | None) -> None:
        with self.lock:
            self.items.pop(sid or "", None)


SHA256_PATTERN = "^[0-9a-f]{64}$"


class PromotionBody(BaseModel):
    to: Literal["staging", "production"]
    reason: str = Field(default="", max_length=2000)
    # Production: what the requester reviewed (the version's `backing`): a request backed by
    # another report or waiver by the time it arrives is a 409, not a request on it.
    report_sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    waiver_id: int | None = Field(default=None, strict=True, ge=1)


class ReasonBody(BaseModel):
    reason: str = Field(default="", max_length=2000)


class WaiverBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    expires: str = Field(description="ISO 8601 time or days such as 7d", max_length=64)
    # What the approver reviewed: a newer report deciding by the time the waiver arrives
    # (CI uploads one in between) is a 409, not a waiver of a warn nobody read.
    report_sha256: str = Field(
        pattern=SHA256_PATTERN, description="sha256 of the warn report reviewed and waived"
    )


class RollbackBody(ReasonBody):
    # What the caller saw: a second click, a retried request or a second approver's rollback
    # of the same incident is a 409, not a swap back to the pulled version, and so is one
    # that would now restore another version than the one shown.
    from_version: int = Field(
        strict=True, ge=1, le=2**31 - 1, description="the production version rolled back from"
    )
    to_version: int = Field(
        strict=True, ge=1, le=2**31 - 1, description="the version the rollback restores"
    )


# Upload limits: a gate report is KBs, an attestation less; items.jsonl of 100,000 items
# with long outputs stays well under the items cap. Every other request (forms, JSON of
# a reason) is small.
# (the caps of registry.store and signing, as for a report offered on the command line).
# The body holds them as JSON strings, which escape quotes, backslashes and line breaks
# (doubling a file of nothing else): 265 MiB refused items.jsonl files well under their
# 256 MiB once escaped. Their own sizes are checked as bytes once decoded.
MAX_BODY_BYTES = 2 * (MAX_REPORT_BYTES + MAX_ITEMS_BYTES) + (1 << 20)
MAX_SMALL_BODY_BYTES = 1 << 20
UPLOAD_PATH = "/api/v1/reports"


class ReportUpload(BaseModel):
    name: str = Field(max_length=128)
    version: int = Field(ge=1, le=2**31 - 1)
    report: str = Field(max_length=MAX_REPORT_BYTES, description="gate_report.json, as text")
    attestation: str | None = Field(
        default=None, max_length=MAX_ATTESTATION_BYTES, description="gate_attestation.dsse.json"
    )
    items: str | None = Field(default=None, max_length=MAX_ITEMS_BYTES, description="items.jsonl")


def _field_bytes(field: str, text: str, cap: int) -> bytes:
    """An upload field as the UTF-8 bytes the gate wrote, within its cap (a length limit
    counts characters: 256 Mi of them could be 1 GiB of bytes)."""
    raw = text.encode()
    if len(raw) > cap:
        raise ApiError(
            413,
            f"{field}: {len(raw)} bytes, more than the {cap} bytes a gate report's {field} may be",
            "offer it on the command line (`curagate registry promote --gate-report`), "
            "which reads the same caps from disk",
        )
    return raw


def _status_of(e: CuragateError) -> int:
    if isinstance(e, Forbidden):
        return 403
    if isinstance(e, ChainBroken):
        return 503
    if isinstance(e, CheckFailed):
        return 409
    return 400


def _fix_of(e: CuragateError) -> str:
    if isinstance(e, Forbidden):
        return "ask an approver who did not make the request, or an admin for the role"
    if isinstance(e, ChainBroken):
        return "the registry was changed outside curagate: run `curagate registry check`"
    if isinstance(e, CheckFailed):
        return "see the error: the registry refused the action; nothing was promoted"
    return "correct the request as the error says"


# JSON over HTTP is UTF-8 without a byte order mark (RFC 8259, section 8.1). json.loads,
# which FastAPI reads a body with, guesses UTF-16 and UTF-32 from the NULs of the first bytes
# and drops a UTF-8 byte order mark: such a body was read as if UTF-8, and a NUL among the
# first bytes was called "not UTF-8". The service names what it found instead.
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32LE"),  # before UTF-16LE's, which it starts with
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe", "UTF-16LE"),
    (b"\xfe\xff", "UTF-16BE"),
)
# JSON text starts with an ASCII character (RFC 4627, section 3): where the NULs of the
# first four bytes are says which wider encoding it is in (True: a NUL byte).
_WIDE_NULS: dict[tuple[bool, ...], str] = {
    (True, True, True, False): "UTF-32BE",
    (False, True, True, True): "UTF-32LE",
    (True, False, True, False): "UTF-16BE",
    (False, True, False, True): "UTF-16LE",
}
NOT_UTF8_FIX = "send the body encoded as UTF-8, without a byte order mark"


def body_encoding_problem(raw: bytes) -> ApiError | None:
    """Why a JSON request body is not UTF-8 JSON text this service reads as such: a UTF-16
    or UTF-32 body (with or without a byte order mark), a UTF-8 byte order mark, a NUL
    byte; bytes that are not UTF-8 (the first one named); or None. The parser would read
    an encoded surrogate (ED A0 80, CESU-8) as a character and the model then refuses it
    only as "unable to parse raw data as a unicode string"."""
    only = "this service reads JSON as UTF-8 only (RFC 8259)"
    for bom, name in _WIDE_BOMS:
        if raw.startswith(bom):
            return ApiError(
                422,
                f"body: {name} text (it starts with a {name} byte order mark); {only}",
                NOT_UTF8_FIX,
            )
    wide = _WIDE_NULS.get(tuple(b == 0 for b in raw[:4]))  # a shorter body: no key
    if wide is not None:
        return ApiError(
            422,
            f"body: {wide} text (the NUL bytes of its first characters say so); {only}",
            NOT_UTF8_FIX,
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        return ApiError(
            422,
            "body: starts with a UTF-8 byte order mark (EF BB BF), which JSON sent over HTTP "
            "does not carry (RFC 8259)",
            NOT_UTF8_FIX,
        )
    at = raw.find(b"\x00")
    if at >= 0:
        return ApiError(
            422,
            f"body: not JSON: a NUL byte at byte {at} (JSON text holds none; in a string it "
            "is written \\u0000)",
            "send a JSON object, as UTF-8",
        )
    try:
        raw.decode("utf-8")  # strict: no surrogates, no overlong forms
    except UnicodeDecodeError as e:
        return ApiError(422, unreadable_body(e), "send a JSON object, as UTF-8")
    return None


def _json_body(content_type: str | None) -> bool:
    """Whether FastAPI reads a body sent with ``content_type`` as JSON (none given: it may)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return (
        not kind
        or kind == "application/json"
        or (kind.startswith("application/") and kind.endswith("+json"))
    )


class Utf8JsonRoute(APIRoute):
    """A route whose JSON body is refused (422, naming what it found) unless it is UTF-8
    text without a byte order mark or a NUL, before FastAPI's parser reads it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def utf8_only(request: Request) -> Response:
            if _json_body(request.headers.get("content-type")):
                problem = body_encoding_problem(await request.body())  # kept for the parser
                if problem is not None:
                    raise problem
            return await handler(request)

        return utf8_only


def unreadable_body(cause: BaseException) -> str:
    """Why the JSON parser could not read a request body (``cause``: what it raised)."""
    if isinstance(cause, UnicodeDecodeError):
        return f"body: not JSON: byte {cause.start} is not UTF-8 ({cause.reason})"
    if isinstance(cause, RecursionError):
        return "body: not JSON this service reads: nested deeper than its parser goes"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return (
            "body: not JSON this service reads: a number of more than "
            f"{sys.get_int_max_str_digits()} digits"
        )
    return f"body: not JSON ({type(cause).__name__})"


def no_token() -> ApiError:
    return ApiError(
        401, "no bearer token", "send Authorization: Bearer TOKEN (curagate registry users add)"
    )


def bad_token() -> ApiError:
    return ApiError(401, "unknown or revoked token", "ask an admin for a new token")


def bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_upload(scope: Scope) -> bool:
    method: str = scope["method"]
    return method == "POST" and scope["path"] == UPLOAD_PATH


def body_cap(scope: Scope) -> int:
    return MAX_BODY_BYTES if is_upload(scope) else MAX_SMALL_BODY_BYTES


def not_uploader(user: User) -> ApiError | None:
    """Why ``user`` may not upload a gate report, or None when they may: the request guard
    asks it of the user it peeked at (before the body is read), the handler again of the
    user authenticated on the verified registry."""
    if user.can_upload:
        return None
    return ApiError(
        403,
        f"user {user.name!r} has the {user.role} role; uploading a report needs the uploader, "
        "approver or admin role",
        "ask an admin for an uploader account for CI "
        "(`curagate registry users add ci --role uploader`)",
    )


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body too large: at most {cap} bytes here")
        self.cap = cap


class RequestGuard:
    """Pure ASGI, before anything reads the body: bounds what a caller can make it do.

    An ``/api/`` request without a token that an active user could hold is answered 401
    before its body is read and before the registry's log is replayed (one indexed read,
    :func:`peek_user`), and an upload from a user whose role may not upload is answered 403
    (:func:`not_uploader`), so the upload's cap is read for uploaders alone; so is a page's
    form POST (but the login form's) without a live session (``page_session``), which a page
    answers by sending it to log in. Every body is counted as it arrives, chunked ones too
    (they declare no length), and the request is answered 413 once it passes its path's cap.
    ``respond`` turns an :class:`ApiError` or :class:`CuragateError` into the response."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        db: Path,
        respond: Callable[[Request, Exception], Response],
        page_session: Callable[[Request], object | None],
    ) -> None:
        self.app, self.db, self.respond, self.page_session = app, db, respond, page_session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = await self._refusal(request)
        if refusal is not None:
            await self.respond(request, refusal)(scope, receive, send)
            return
        cap, received, started = body_cap(scope), 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as e:  # FastAPI's handler answers it, unless read outside it
            if started:
                raise
            await self.respond(request, e)(scope, receive, send)

    async def _refusal(self, request: Request) -> Exception | None:
        cap = body_cap(request.scope)
        if _declared_over(request.headers.get("content-length", ""), cap):
            return BodyTooLarge(cap)
        if not request.scope["path"].startswith("/api/"):
            if request.method != "POST" or request.scope["path"] == "/login":
                return None
            session = await run_in_threadpool(self.page_session, request)
            return None if session is not None else ApiError(401, "log in first", "")
        token = bearer_token(request.headers)
        if token is None:
            return no_token()
        try:
            peeked = await run_in_threadpool(peek_user, self.db, token)
        except (RegistryUnavailable, ChainBroken) as e:  # answered as every request's
            return e
        if peeked is False:
            return bad_token()
        if isinstance(peeked, User) and is_upload(request.scope):
            return not_uploader(peeked)
        return None


def _declared_over(declared: str, cap: int) -> bool:
    """Whether a Content-Length header declares more than ``cap`` bytes. Compared by its
    digits: found by attack, a value of 4,400 zeros then `10` (which httptools passes on)
    made int() raise, and any client got a 500 (a Latin-1 digit such as `²`, which
    str.isdigit() takes, would too). A value that is not ASCII digits is left to the server."""
    if not (declared.isascii() and declared.isdigit()):
        return False
    digits = declared.lstrip("0")
    return len(digits) > len(str(cap)) or int(digits or "0") > cap


def unverified_lineage(mv: ModelVersion) -> str:
    """Why a version's lineage is its bundle's unverified claims (see :func:`signed_now`)."""
    why = (
        "the bundle is unsigned"
        if mv.signed_by is None
        else f"its export key {mv.signed_by[:12]} is not a trusted, unrevoked, usable (P-256) export key today"
    )
    return (
        f"{why}: the lineage is what the bundle's MANIFEST.json claims, verified by no one "
        "(its `verified`, `verdict` and `signed_by` fields too); the gate verdict is the "
        "registry's"
    )


# Names a browser (any WHATWG URL parser) removes from a path as dot segments, percent-encoded
# (%2E, %2e%2E) or not: a schema-1 registry may hold models named so.
DOT_SEGMENTS = (".", "..")


def model_url(name: str, version: int | None = None, action: str = "", *, ui: bool = False) -> str:
    """The page (``ui``: the form action) of model ``name`` (of its ``version``; ``action``
    such as ``/promote``): the name is one path segment, every character but letters,
    digits and ``_.-~`` percent-encoded (``team%2Fbot`` is ``team%252Fbot``), which the
    service decodes once. The names ``.`` and ``..`` go in the query instead
    (``/model/versions/1?name=..``): in a path a browser drops them."""
    tail = (f"/versions/{version}" if version is not None else "") + action
    prefix = "/ui" if ui else ""
    if name in DOT_SEGMENTS:
        return f"{prefix}/model{tail}?{urlencode({'name': name})}"
    return f"{prefix}/models/{quote(name, safe='')}{tail}"


def exact_name(request: Request, name: str) -> str:
    """The model name of a request, decoded once: from the query (``?name=``), or from the
    path segment as the client sent it. Starlette's ``{name:path}`` is the path as the
    server decoded it, which may be decoded again on the way (Starlette's TestClient does:
    ``team%252Fbot`` reached ``team/bot``, another model); read from the raw path, a
    ``%25`` is a ``%`` of the name and ``%2F`` a ``/`` of it, whatever the server did."""
    if "name" not in request.path_params:
        return name  # the query form: Starlette decodes a query once
    raw = request.scope.get("raw_path")
    route = request.scope.get("route")
    regex = getattr(route, "path_regex", None)
    if not isinstance(raw, bytes) or regex is None:
        return name  # a server that passes no raw path: the path it decoded
    root = quote(request.scope.get("root_path", "")).encode()
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    try:
        match = regex.match(raw.decode("ascii"))
    except UnicodeDecodeError:
        match = None  # a request target is ASCII; a server passed other bytes on
    if match is None:
        raise ApiError(
            404,
            "the path does not name a model and version as this route does",
            "percent-encode the model name as one path segment (`/` as %2F, `%` as %25)",
        )
    return unquote(match["name"])


def create_app(
    db: str | Path, *, webhooks: Webhooks | None = None, head_file: str | Path | None = None
) -> FastAPI:
    """The service over the registry at ``db``; ``webhooks`` hears of every transition.
    ``head_file`` keeps the newest log head seen across restarts (``--head-file``)."""
    db_path = Path(db)
    # Every open checks that the log still holds the newest head this process (or, with
    # a head file, any earlier run of it) has seen: an older copy of the database put
    # back is refused (503; at start: the service does not start).
    floor = HeadFloor(Path(head_file) if head_file is not None else None)

    def open_registry() -> Registry:
        return Registry(db_path, create=False, floor=floor)

    open_registry().close()  # fail at start on a missing or broken registry
    sessions = Sessions()
    hooks = webhooks or Webhooks([])

    def notify(event: str, mv: ModelVersion, actor: str, reason: str, **more: Any) -> None:
        """Tell the webhooks (after the registry committed the change; never blocks)."""
        hooks.emit(
            event,
            name=mv.name,
            version=mv.version,
            stage=mv.stage,
            digest=mv.artifact_digest,
            actor=actor,
            reason=reason,
            **more,
        )

    # One-time costs paid at start rather than by the first visitor (~100 ms of a first
    # compare page): compiling the page templates and importing the signature library.
    for template in PAGE_TEMPLATES:
        environment().get_template(template)
    with contextlib.suppress(MissingExtraError):  # without it each judgement says so
        _crypto()
    app = FastAPI(
        title="curagate release service",
        version="1",
        description=(
            "Compare, approve and roll back model versions in a curagate registry. "
            "Bearer-token auth (tokens from `curagate registry users add`)."
        ),
        docs_url=None,  # Swagger UI and ReDoc load script from a CDN: offline and CSP forbid it
        redoc_url=None,
        # Starlette answers `/login/` with a redirect to the Host header's host: a client (or a
        # proxy passing Host through) chose where it sends people. A trailing slash is a 404.
        redirect_slashes=False,
    )
    app.router.route_class = Utf8JsonRoute  # every route added below

    def registry() -> Iterator[Registry]:
        with open_registry() as reg:  # replays and verifies the log
            yield reg

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    # The registry's messages name its file (the CLI's user wants to know which); a
    # caller of the service gets "the registry" instead: the path is the operator's.
    # Its blob store's paths too, said as such ("the registry.store/ec/..." read wrong).
    store = store_dir_of(db_path)
    names = {str(p): "the registry" for p in (db_path, db_path.absolute(), db_path.resolve())}
    names |= {
        str(p): "the registry's blob store" for p in (store, store.absolute(), store.resolve())
    }
    if head_file is not None:  # named in the /audit page's "the log does not verify"
        hf = Path(head_file)
        names |= {str(p): "the head file" for p in (hf, hf.absolute(), hf.resolve())}
    # Whole paths only (a --head-file `head` made "ahead" "athe head file"), the longest
    # first: one may hold another.
    db_names = re.compile(
        r"(?<![\w.~/-])("
        + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        + r")(?![\w-])"
    )

    def scrub(text: str) -> str:
        return db_names.sub(lambda m: names[m[1]], text)

    def error_response(request: Request, status: int, error: str, fix: str) -> Response:
        error, fix = scrub(error), scrub(fix)
        resp: Response
        if is_api(request) or request.url.path == "/healthz":
            resp = JSONResponse({"error": error, "fix": fix}, status_code=status)
        elif status == 401:
            resp = RedirectResponse("/login", status_code=303)
        else:
            html = render("error.html", user=None, csrf="", status=status, error=error, fix=fix)
            resp = HTMLResponse(html, status_code=status)
        harden(resp.headers)  # here too: a 500 is answered outside SecurityHeaders
        return resp

    def respond(request: Request, e: Exception) -> Response:
        """The error response for ``e``; the database's own problems go to the server log,
        not to the caller (who may not be logged in): its path is the operator's business."""
        if isinstance(e, ApiError):
            return error_response(request, e.status, e.error, e.fix)
        if isinstance(e, BodyTooLarge):
            return error_response(
                request, 413, str(e.detail), f"send at most {e.cap} bytes to {request.url.path}"
            )
        if isinstance(e, RegistryUnavailable):
            log.error("registry unavailable: %s", e)
            return error_response(
                request,
                503,
                "the registry database cannot be used now",
                "an operator: the server log says why; run `curagate registry check`",
            )
        if isinstance(e, ChainBroken):  # the answer says what (its paths scrubbed), the log where
            log.error("registry changed outside curagate: %s", e)
        if isinstance(e, CuragateError):
            return error_response(request, _status_of(e), str(e), _fix_of(e))
        raise TypeError(f"no response for {type(e).__name__}")  # pragma: no cover

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, e: ApiError) -> Response:
        return respond(request, e)

    @app.exception_handler(CuragateError)
    async def on_curagate_error(request: Request, e: CuragateError) -> Response:
        return respond(request, e)

    @app.exception_handler(BodyTooLarge)
    async def on_too_large(request: Request, e: BodyTooLarge) -> Response:
        return respond(request, e)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        fix = "see the OpenAPI description at /openapi.json"
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if first.get("loc") == ("body",) and kind != "application/json":
            # FastAPI reads a body as JSON only when it says so: JSON sent as text/plain or
            # curl's default form type was "Input should be a valid dictionary", no more
            fix = (
                f"send the body as JSON with Content-Type: application/json (it was "
                f"{kind or 'not given'})"
            )
        return error_response(request, 422, f"{where}: {first.get('msg', 'invalid request')}", fix)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, e: StarletteHTTPException) -> Response:
        # FastAPI answers a body its JSON parser gave up on (not UTF-8, nested too deep, a
        # number of too many digits) with a 400 of its own, "There was an error parsing the
        # body"; a JSON syntax error is a 422. Both are a body that is not JSON: a 422 that
        # says why.
        if e.detail == "There was an error parsing the body" and e.__cause__ is not None:
            return error_response(
                request, 422, unreadable_body(e.__cause__), "send a JSON object, as UTF-8"
            )
        body = e.status_code == 400 and request.method in ("POST", "PUT", "PATCH")
        fix = "send a JSON object as the request body" if body else "check the URL"
        return error_response(request, e.status_code, str(e.detail), fix)

    @app.exception_handler(OverflowError)
    async def on_overflow(request: Request, e: OverflowError) -> Response:
        # A number beyond SQLite's 64-bit integers: a bad id, not a bug.
        return error_response(
            request, 400, "a number in the request is out of range", "check the URL"
        )

    @app.exception_handler(UnicodeEncodeError)
    async def on_surrogates(request: Request, e: UnicodeEncodeError) -> Response:
        return error_response(
            request, 400, "the request holds text that is not valid Unicode", "send UTF-8"
        )

    app.add_middleware(
        RequestGuard, db=db_path, respond=respond, page_session=lambda r: session_of(r)
    )
    app.add_middleware(SecurityHeaders)  # added last: outermost

    @app.exception_handler(Exception)
    async def on_bug(request: Request, e: Exception) -> Response:
        return error_response(
            request, 500, "internal error", "this is a bug in curagate; the server log has it"
        )

    # who is asking

    def api_user(request: Request, reg: Registry = Depends(registry)) -> User:
        """The token's user on the verified registry (the request guard refused the
        requests whose token no active user holds before anything else ran)."""
        token = bearer_token(request.headers)
        if token is None:
            raise no_token()
        user = reg.authenticate(token)
        if user is None:
            raise bad_token()
        return user

    def approver(user: User) -> User:
        if not user.can_approve:
            raise ApiError(
                403,
                f"user {user.name!r} has the {user.role} role; this needs the approver or admin role",
                "ask an admin for the approver role",
            )
        return user

    def uploader(user: User) -> User:
        refusal = not_uploader(user)
        if refusal is not None:
            raise refusal
        return user

    @dataclass
    class Browser:
        user: User
        session: Session

    def logged_out(request: Request) -> ApiError:
        sessions.drop(request.cookies.get(SESSION_COOKIE))
        return ApiError(401, "log in first", "")

    def session_of(request: Request) -> Session | None:
        """The request's session, if an active user may hold its token: one indexed read,
        before the registry dependency replays the log, so a visitor without one costs
        no replay."""
        session = sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None or not peek_token(db_path, session.token):
            return None
        return session

    def live_session(request: Request) -> Session:
        session = session_of(request)
        if session is None:
            raise logged_out(request)
        return session

    def browser(
        request: Request,
        session: Session = Depends(live_session),
        reg: Registry = Depends(registry),
    ) -> Browser:
        user = reg.authenticate(session.token)
        if user is None:
            raise logged_out(request)
        return Browser(user, session)

    def check_csrf(b: Browser, token: str) -> None:
        if not hmac.compare_digest(b.session.csrf.encode(), token.encode()):
            raise ApiError(403, "missing or wrong CSRF token", "reload the page and submit again")

    def found(call: Callable[[], T]) -> T:
        """Turn 'no such version/report/request' into a 404."""
        try:
            return call()
        except InputError as e:
            raise ApiError(404, str(e), "check the name, version or id") from None

    def known_model(reg: Registry, name: str) -> None:
        """A 404 for a name with no version, as for any unknown name (a rollback of one was
        a 400 "has no production version", the answer of a known model without one)."""
        if not reg.list_versions(name):
            raise ApiError(
                404, f"model {name!r} is not in the registry", "check the name: GET /api/v1/models"
            )

    def version_url(mv: ModelVersion) -> str:
        return model_url(mv.name, mv.version)

    # health and static

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        """ok while the database opens as a registry (a read of its log's head, no replay:
        /audit verifies the chain); 503 otherwise."""
        if peek_head(db_path, floor) is None:  # an older schema: the full open migrates it
            open_registry().close()
        return "ok"

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in the browser console

    @app.get("/static/style.css", include_in_schema=False)
    def css() -> Response:
        return Response(stylesheet(), media_type="text/css")

    # browser: login

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        # A second login tab keeps the first one's nonce (one cookie for both): a fresh one
        # made the first tab's form a 403. The cookie is SameSite=Strict, so another site's
        # form never carries it, whatever its value.
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not LOGIN_NONCE.fullmatch(nonce):
            nonce = secrets.token_urlsafe(32)
        html = render("login.html", user=None, csrf=nonce, error=None)
        resp = HTMLResponse(html)
        _set_cookie(resp, request, LOGIN_COOKIE, nonce, max_age=600)
        return resp

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(nonce.encode(), csrf.encode()):
            raise ApiError(403, "missing or wrong CSRF token", "reload the login page")
        user, error = None, "Unknown or revoked token."
        if peek_token(db_path, token.strip()):  # only a token that may be active costs a replay
            with open_registry() as reg:
                try:
                    user = reg.authenticate(token.strip())
                except Forbidden as e:  # an account whose actor key is not its token's
                    error = str(e)
        if user is None:
            html = render("login.html", user=None, csrf=nonce, error=error)
            return HTMLResponse(html, status_code=401)
        sid, _ = sessions.new(token.strip())
        resp = RedirectResponse("/", status_code=303)
        _set_cookie(resp, request, SESSION_COOKIE, sid, max_age=SESSION_TTL_S)
        resp.delete_cookie(LOGIN_COOKIE)
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: str = Form(""), b: Browser = Depends(browser)) -> Response:
        check_csrf(b, csrf)
        sessions.drop(request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    # browser: pages

    def page(who: Browser, template: str, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(
            render(
                template,
                user=who.user,
                csrf=who.session.csrf,
                can_approve=who.user.can_approve,
                model_url=model_url,
                **ctx,
            )
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(
        b: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> HTMLResponse:
        rows = []
        production = []
        vouching = reg.vouching_export_keys()
        for o in reg.overview():
            mv: ModelVersion = o["version"]
            row = {
                "name": mv.name,
                "version": mv.version,
                "url": version_url(mv),
                "stage": mv.stage,
                "verdict": o["verdict"],
                "report_id": o["report_id"],
                "verified": o["verified"],
                "signed": signed_now(mv, vouching),
                "digest": mv.artifact_digest,
                "created_at": mv.created_at,
                "promoted_by": o["promoted_by"],
                "promotion_signed": o["promotion_signed"],
                # The verdict counts a twin's reports too (the same bytes under another
                # version), as promotion does: say whose report it is and name the twins.
                "twins_report": o["decision"].twins_report,
                "twins_note": o["decision"].twins_note(),
                "twins": ", ".join(t.ref for t in o["decision"].twins),
            }
            rows.append(row)
            if mv.stage == "production":
                production.append(row)
        pending = [r for r in reg.promotion_requests() if r.status == "pending"]
        return page(
            b,
            "index.html",
            rows=rows,
            production=production,
            requests=pending,
            own_requests=own_requests(b, pending),
            notice=shown_notice(b),
        )

    def own_requests(who: Browser, requests: list[PromotionRequest]) -> set[int]:
        """The requests ``who`` made, by the rule approval goes by (case twins an older
        curagate added, alice and Alice, are one person): no Approve button for them (it
        was shown to Alice on alice's request, and refused when pressed)."""
        return {r.id for r in requests if same_person(r.requested_by, who.user.name)}

    @app.get(
        "/models/{name:path}/versions/{version}",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    @app.get("/model/versions/{version}", response_class=HTMLResponse, include_in_schema=False)
    def version_page(
        request: Request,
        name: str,
        version: int,
        b: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> HTMLResponse:
        name = exact_name(request, name)
        mv = found(lambda: reg.get(name, version))
        reports = []
        not_ok = []
        for rec in reg.gate_reports(name, version):
            ok, _, why = reg.judge_now(mv, rec)
            if not ok:
                not_ok.append(rec.id)
            reports.append(
                {
                    "rec": rec,
                    "now_ok": ok,
                    "now_why": why,
                    "has_items": reg.has_items(rec),
                }
            )
        # The deciding report's checks (the same partial as the static report.html), only
        # while it verifies: an unsigned or refused report's checks are anyone's words.
        # As promotion decides: of every report on its bytes, a twin's too (a twin's newer
        # fail decides for this version while its own reports list a pass).
        decision = reg.decision(mv)
        judged = decision.judgement
        shown = decision.report if judged is not None and judged.accepted else None
        # Only the deciding report can be waived (a warn a newer fail replaced backs nothing),
        # and only once recorded for this version (`waive` refuses a twin's record).
        # The form carries the sha256 of the warn shown: a newer report deciding by the time
        # the click arrives is refused, not waived unseen.
        warn_report = (
            shown.report_sha256
            if shown is not None
            and judged is not None
            and judged.verdict == "warn"
            and decision.owners[shown.id].id == mv.id
            else None
        )
        checks = stored.checks(reg.blob(shown.report_sha256)) if shown is not None else []
        unverified = [rid for rid in not_ok if rid > (shown.id if shown is not None else 0)]
        requests = [r for r in reg.promotion_requests(name) if r.version == version]
        prod = reg.production(name)
        prod_report = None
        if prod is not None and prod.id != mv.id:
            # Production's deciding report (as the index shows it), not its last recorded
            # accepted one: an older pass offered again after a newer fail is not it.
            deciding = reg.deciding_report(prod)
            prod_report = deciding[0].id if deciding is not None and deciding[1].accepted else None
        vouching = reg.vouching_export_keys()
        return page(
            b,
            "version.html",
            mv=mv,
            # What the forms name: a request on what backs it as shown, a rollback from this
            # version to the one named (a change by the click is a 409).
            backing=reg.backing(mv) if mv.stage in ("experiment", "staging") else None,
            rollback_to=reg.rollback_target(name) if mv.stage == "production" else None,
            signature_revoked=mv.signed_by is not None and not signed_now(mv, vouching),
            lineage_verified=signed_now(mv, vouching),
            lineage_note=unverified_lineage(mv),
            reports=reports,
            checks=checks,
            checks_report=shown.id if shown is not None else None,
            decision=decision,
            verdict=decision.summary(),
            unverified=unverified,
            warn_report=warn_report,
            prod_report=prod_report,
            waivers=reg.waivers(name, version),
            requests=requests,
            own_requests=own_requests(b, requests),
            log=reg.log(name, version),
            notice=shown_notice(b),
        )

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit(b: Browser = Depends(browser), reg: Registry = Depends(registry)) -> HTMLResponse:
        # Each problem and each note on its own line, with the rows and head when the chain
        # itself replayed (found by re-attack: a row dated backwards showed as "Hash chain
        # broken", its counts dropped, every problem run into one paragraph, no notes).
        problems: list[str] = []
        try:
            state: State | None = reg.check()
        except ChainBroken as e:
            state = e.state if isinstance(e.state, State) else None
            problems = [scrub(p) for p in e.problems] or [scrub(str(e))]
        return page(
            b,
            "audit.html",
            chain_ok=not problems,
            chain_intact=state is not None,
            problems=problems,
            notes=[scrub(n) for n in state.notes] if state else [],
            rows=state.rows if state else 0,
            head_id=state.head_id if state else 0,
            head_hash=state.head_hash if state else "",
            log=reg.log(),
        )

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(
        a: int = Query(..., ge=1),
        b_report: int | None = Query(None, alias="b", ge=1),
        changed: bool = Query(False),
        # A bounded label (compare.MAX_LABEL_CHARS and its digest), or a slice's two.
        set_name: str | None = Query(None, alias="set", max_length=cmp.MAX_LABEL_PARAM),
        slice_key: str | None = Query(None, alias="slice", max_length=cmp.MAX_SLICE_PARAM),
        page_no: int = Query(1, alias="page", ge=1),
        br: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> HTMLResponse:
        ctx = comparison(
            reg, a, b_report, changed, set_name or None, slice_key or None, page_no, form=True
        )
        known_filters(ctx)
        return page(br, "compare.html", **ctx)

    def known_filters(ctx: dict[str, Any]) -> None:
        """A 404 naming the sets or slices the items hold, for a ``set=`` or ``slice=`` they
        do not (page and API alike: the page answered "0 item(s) match" with its menu on
        "all", as if nothing had changed in a set whose name was mistyped)."""
        filters = ctx["filters"]
        for known, what, value, listed, more in (
            (ctx["set_known"], "golden set", filters["set"], ctx["sets"], ctx["sets_not_listed"]),
            (
                ctx["slice_known"],
                "slice",
                filters["slice"],
                ctx["slice_keys"],
                ctx["slices_not_listed"],
            ),
        ):
            if not known:
                names = ", ".join(map(repr, listed)) + (f" and {more} more" if more else "")
                raise ApiError(
                    404,
                    f"{what} {value!r}: no compared item is in it",
                    f"the items hold {what}s {names}" if listed else f"the items hold no {what}s",
                )

    def no_items(report_id: int, mv: ModelVersion, sha: str | None = None) -> ApiError:
        if sha is None:  # the report names none: a gate before items.jsonl, or no gate's
            return ApiError(
                404,
                f"gate report {report_id} of {mv.ref} names no items.jsonl",
                "rerun `curagate gate` (it writes items.jsonl) and record the new report",
            )
        return ApiError(  # named, but never offered with this report or another naming it
            404,
            f"gate report {report_id} of {mv.ref} names items.jsonl sha256 {sha[:12]}…, "
            "which was not stored with it",
            "record the same report again with the items.jsonl the gate wrote beside it "
            f"(`curagate registry report {mv.name} {mv.version} --gate-report FILE`, or "
            "an upload with `items`): the compare page then reads them for this report too",
        )

    blob_states: dict[str, tuple[int, ...] | None] = {}  # items blob -> its file when parsed

    def side(reg: Registry, report_id: int) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        mv, rec = found(lambda: reg.report_by_id(report_id))
        ok, _, why = reg.judge_now(mv, rec)  # every request: keys may have been revoked
        sha = reg.report_items_sha256(rec)
        if sha is None:
            raise no_items(report_id, mv)
        # Parsed once per content address: bytes that hashed to this sha256 once are
        # these bytes forever, and the report just judged records (and signs) it.
        items = cmp.cached_items(sha)
        if items is not None:
            # Checked on every request, as a read is: a stored blob deleted since it was
            # parsed is tampering (ChainBroken); one changed since (its file's state) is
            # read again, and checked against its sha256. The cache hid both.
            if not reg.has_items(rec):
                raise no_items(report_id, mv, sha)
            if blob_states.get(sha) != _file_state(reg.store_dir / sha[:2] / sha):
                items = None
        if items is None:
            state = _file_state(reg.store_dir / sha[:2] / sha)  # before the read: a change
            with cmp.parsing(state[1] if state else 0):  # after it shows at the next request
                items = cmp.cached_items(sha) if blob_states.get(sha) == state else None
                if items is None:  # not parsed by another request while this one waited
                    raw = reg.report_items(rec)
                    if raw is None:
                        raise no_items(report_id, mv, sha)
                    items = cmp.parse_items(sha, raw)
            if len(blob_states) >= MAX_BLOB_STATES:
                blob_states.clear()
            blob_states[sha] = state
        info = {
            "report_id": rec.id,
            "label": mv.ref,
            "verdict": rec.verdict or "-",
            "trust": "signature verified" if ok else f"NOT verified: {why}",
            "verified": ok,
            "report_sha256": rec.report_sha256,
        }
        return info, sha, items

    def comparison(
        reg: Registry,
        a_id: int,
        b_id: int | None,
        changed: bool,
        set_name: str | None,
        slice_key: str | None,
        page_no: int,
        form: bool = False,
    ) -> dict[str, Any]:
        """The compare page's (and API's) data. ``form``: the filters may come from the
        page's menus, which a browser's form submits changed (see :func:`cmp.as_label`)."""
        a_info, a_key, a_items = side(reg, a_id)
        b_key: str | None = None
        b_items: list[dict[str, Any]] | None = None
        if b_id is None:
            b_info = {**a_info, "label": f"{a_info['label']}'s base", "report_id": a_id}
        else:
            b_info, b_key, b_items = side(reg, b_id)
        paired = cmp.pairing(a_key, a_items, b_key, b_items)
        if form:
            # As the page's own menus submit a label with a line break or NUL (changed by
            # the browser's form: CRLF, U+FFFD), read back as the label it stands for; one
            # that stands for several is refused (the API takes labels as they are).
            for what, value, labels in (
                ("golden set", set_name, paired.sets),
                ("slice", slice_key, [s["key"] for s in paired.slice_stats]),
            ):
                found = cmp.as_label(value, labels)
                if isinstance(found, list):
                    names = ", ".join(map(repr, found))
                    raise ApiError(
                        404,
                        f"{what} {value!r}: as a browser's form sends it (line breaks as CRLF, "
                        f"NUL as U+FFFD) it names {len(found)} {what}s, {names}",
                        "ask the API (/api/v1/compare), which takes the label as it is",
                    )
                if what == "golden set":
                    set_name = found
                else:
                    slice_key = found
        chosen = paired.select(changed=changed, set_name=set_name, slice_key=slice_key)
        pages = max(1, math.ceil(len(chosen) / PAGE_SIZE))
        page_no = min(page_no, pages)
        base_q: dict[str, Any] = {"a": a_id}
        if b_id is not None:
            base_q["b"] = b_id
        filt = dict(base_q)
        if changed:
            filt["changed"] = 1
        if set_name:
            filt["set"] = set_name
        if slice_key:
            filt["slice"] = slice_key

        def url(**more: Any) -> str:
            return "/compare?" + urlencode({**filt, **more})

        gate_metrics: list[dict[str, Any]] | None = []
        _, a_rec = reg.report_by_id(a_id)
        differ: list[str] = []
        gate_differs: dict[str, str | None] | None = None
        if b_id is None:
            gate_metrics = stored.gate_metrics(reg.blob(a_rec.report_sha256))
        else:
            # Items are matched by (set, id): a set edited between the two reports paired
            # each new question with the other's answer to an old one, without a word.
            _, b_rec = reg.report_by_id(b_id)
            a_sets = stored.golden_set_digests(reg.blob(a_rec.report_sha256))
            b_sets = stored.golden_set_digests(reg.blob(b_rec.report_sha256))
            differ = sorted(n for n in a_sets.keys() & b_sets.keys() if a_sets[n] != b_sets[n])
            # Another gate file may decode, prompt or score differently (and hold other
            # thresholds): the same answer can be right in one report and wrong in the other.
            a_gate = stored.gate_digest(reg.blob(a_rec.report_sha256))
            b_gate = stored.gate_digest(reg.blob(b_rec.report_sha256))
            if a_gate != b_gate:
                gate_differs = {"a": a_gate, "b": b_gate}
        # Copies: the cached pairing's statistics are shared by every request. At most
        # MAX_SLICES listed (a report with a slice value per item made a page of 100,000
        # rows and options); the others are still counted, and a `slice=` URL selects one.
        slices = [
            {**s, "url": "/compare?" + urlencode({**base_q, "slice": s["key"], "changed": 1})}
            for s in paired.slice_stats[:MAX_SLICES]
        ]
        shown = chosen[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
        per_set = [m for m in paired.metrics if not m["overall"]]
        overall = [m for m in paired.metrics if m["overall"]]
        return {
            "a": a_info,
            "b": b_info,
            "b_param": b_id,
            "matched": paired.matched,
            "unmatched": paired.unmatched,
            # At most MAX_SLICES golden sets too (50,000 sets made a page of 13 MB), and
            # the row of all of them.
            "metrics": [dict(m) for m in per_set[:MAX_SLICES] + overall],
            "sets_not_listed": max(0, len(per_set) - MAX_SLICES),
            "gate_metrics": gate_metrics,
            "sets_differ": differ[:MAX_SLICES],
            "gate_differs": gate_differs,
            "grading_differs": paired.grading_differs[:MAX_SLICES],
            "slices": slices,
            "slices_not_listed": max(0, len(paired.slice_stats) - MAX_SLICES),
            "sets": sorted(set(paired.sets))[:MAX_SLICES],
            "slice_keys": [s["key"] for s in slices],
            "filters": {"changed": changed, "set": set_name or "", "slice": slice_key or ""},
            # Whether the filters name a set and a slice the items hold: the API refuses one
            # that does not (a typo answered "0 items" as if none had changed).
            "set_known": not set_name or set_name in set(paired.sets),
            "slice_known": not slice_key or any(s["key"] == slice_key for s in paired.slice_stats),
            "total": len(chosen),
            "page": page_no,
            "pages": pages,
            "items": [paired.row(k) for k in shown],
            "prev_url": url(page=page_no - 1) if page_no > 1 else None,
            "next_url": url(page=page_no + 1) if page_no < pages else None,
        }

    # browser: actions (each a form POST with the session's CSRF token)

    def back(b: Browser, mv: ModelVersion | None, notice: str) -> RedirectResponse:
        """To the version's page (or the index), which shows ``notice`` once."""
        b.session.notice = notice
        return RedirectResponse(version_url(mv) if mv is not None else "/", status_code=303)

    def shown_notice(b: Browser) -> str | None:
        notice, b.session.notice = b.session.notice, None
        return notice

    @app.post("/ui/models/{name:path}/versions/{version}/promote", include_in_schema=False)
    @app.post("/ui/model/versions/{version}/promote", include_in_schema=False)
    def ui_promote(
        request: Request,
        name: str,
        version: int,
        to: Literal["staging", "production"] = Form(...),
        reason: str = Form("", max_length=2000),
        report_sha256: str = Form("", pattern="^([0-9a-f]{64})?$"),
        waiver_id: int | None = Form(None, ge=1),
        csrf: str = Form(""),
        b: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> Response:
        name = exact_name(request, name)
        check_csrf(b, csrf)
        mv = found(lambda: reg.get(name, version))
        # The form names what backed the version when the page was shown ("": nothing).
        out = reg.request_promotion(
            name,
            version,
            to=to,
            user=approver(b.user),
            reason=reason,
            report_sha256=report_sha256 if to == "production" else None,
            waiver_id=waiver_id,
        )
        if isinstance(out, ModelVersion):
            notify("promoted", out, b.user.name, reason)
            return back(b, mv, f"{out.ref} is now in {out.stage}")
        notify("promotion_requested", mv, b.user.name, reason, to=to, request_id=out.id)
        return back(b, mv, f"request {out.id} created: a second approver must approve it")

    @app.post("/ui/requests/{request_id}/approve", include_in_schema=False)
    def ui_approve(
        request_id: int,
        reason: str = Form("", max_length=2000),
        csrf: str = Form(""),
        b: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> Response:
        check_csrf(b, csrf)
        found(lambda: reg.promotion_request(request_id))
        mv = reg.approve(request_id, user=approver(b.user), reason=reason)
        notify("promoted", mv, b.user.name, reason, request_id=request_id)
        return back(b, mv, f"approved: {mv.ref} is now in {mv.stage}")

    @app.post("/ui/models/{name:path}/versions/{version}/waive", include_in_schema=False)
    @app.post("/ui/model/versions/{version}/waive", include_in_schema=False)
    def ui_waive(
        request: Request,
        name: str,
        version: int,
        reason: str = Form("", max_length=2000),
        expires: str = Form("7d", max_length=64),
        report_sha256: str = Form(..., pattern=SHA256_PATTERN),
        csrf: str = Form(""),
        b: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> Response:
        name = exact_name(request, name)
        check_csrf(b, csrf)
        mv = found(lambda: reg.get(name, version))
        w = reg.waive(
            name,
            version,
            user=approver(b.user),
            reason=reason,
            expires=expires,
            report_sha256=report_sha256,
        )
        notify("waiver", mv, b.user.name, reason, waiver_id=w.id, expires_at=w.expires_at)
        return back(b, mv, f"waiver {w.id} granted until {w.expires_at}")

    @app.post("/ui/models/{name:path}/rollback", include_in_schema=False)
    @app.post("/ui/model/rollback", include_in_schema=False)
    def ui_rollback(
        request: Request,
        name: str,
        from_version: int = Form(..., ge=1, le=2**31 - 1),
        to_version: int = Form(..., ge=1, le=2**31 - 1),
        reason: str = Form("", max_length=2000),
        csrf: str = Form(""),
        b: Browser = Depends(browser),
        reg: Registry = Depends(registry),
    ) -> Response:
        name = exact_name(request, name)
        check_csrf(b, csrf)
        check_known_name(name)
        known_model(reg, name)
        mv = reg.rollback(
            name,
            user=approver(b.user),
            reason=reason,
            from_version=from_version,
            to_version=to_version,
        )
        notify("rollback", mv, b.user.name, reason)
        return back(b, mv, f"rolled back: {mv.ref} is in production again")

    # JSON API

    def model_json(o: dict[str, Any], vouching: frozenset[str]) -> dict[str, Any]:
        mv: ModelVersion = o["version"]
        decision = o["decision"].to_dict()
        return {
            "name": mv.name,
            "version": mv.version,
            "stage": mv.stage,
            "digest": mv.artifact_digest,
            "verdict": o["verdict"],
            "signed": signed_now(mv, vouching),
            "report_verified": o["verified"],
            # The verdict counts a twin's reports too (the same bytes under another version),
            # as promotion does: whose report decides, and the twins.
            "report_id": o["report_id"],
            "verdict_recorded_for": decision["recorded_for"],
            "twins": decision["twins"],
            "twins_note": decision["note"],
        }

    @app.get("/api/v1/models", tags=["models"])
    def api_models(
        user: User = Depends(api_user), reg: Registry = Depends(registry)
    ) -> list[dict[str, Any]]:
        """Every version: name, version, stage, digest, newest gate verdict, signed bundle."""
        vouching = reg.vouching_export_keys()
        return [model_json(o, vouching) for o in reg.overview()]

    @app.get("/api/v1/models/{name:path}/versions/{version}", tags=["models"])
    @app.get("/api/v1/model/versions/{version}", tags=["models"])
    def api_version(
        request: Request,
        name: str,
        version: int,
        user: User = Depends(api_user),
        reg: Registry = Depends(registry),
    ) -> dict[str, Any]:
        """One version with lineage, gate reports, waivers, requests and its audit log."""
        name = exact_name(request, name)
        check_known_name(name)
        check_version(version)
        mv = found(lambda: reg.get(name, version))

        def report(r: RecordedGateReport) -> dict[str, Any]:
            # ``accepted`` and ``why`` are the judgement when it was recorded; a key revoked
            # (or trusted) since changes what it is worth today, as the page and `registry
            # show --json` say: the API said "verified" of a report nothing vouches for.
            ok, _, why = reg.judge_now(mv, r)
            # has_items as on the page (a blob the log says was stored and is gone is 503)
            return {
                **r.to_dict(),
                "verified_now": ok,
                "why_now": why,
                "has_items": reg.has_items(r),
            }

        vouched = signed_now(mv, reg.vouching_export_keys())
        return {
            **mv.to_dict(),
            # The lineage is MANIFEST.json's: the bundle's own claims unless a trusted export
            # key signed it (an unsigned bundle's said `"verified": true` of a pass nobody
            # signed, and the API passed it on as it was).
            "lineage_verified": vouched,
            "lineage_note": None if vouched else unverified_lineage(mv),
            # The verdict that decides, by promotion's rule: a twin's reports count too.
            "decision": reg.decision(mv).to_dict(),
            # What a production request of it names (null: nothing backs it now).
            "backing": None if (backing := reg.backing(mv)) is None else backing.to_dict(),
            "gate_reports": [report(r) for r in reg.gate_reports(name, version)],
            "waivers": [w.to_dict() for w in reg.waivers(name, version)],
            "promotion_requests": [
                r.to_dict() for r in reg.promotion_requests(name) if r.version == version
            ],
            "log": [row.to_dict() for row in reg.log(name, version)],
        }

    @app.post(
        "/api/v1/models/{name:path}/versions/{version}/promotions",
        tags=["workflow"],
        responses={201: {"description": "a second approver must approve the request"}},
    )
    @app.post(
        "/api/v1/model/versions/{version}/promotions",
        tags=["workflow"],
        responses={201: {"description": "a second approver must approve the request"}},
    )
    def api_promote(
        request: Request,
        name: str,
        version: int,
        body: PromotionBody,
        user: User = Depends(api_user),
        reg: Registry = Depends(registry),
    ) -> JSONResponse:
        """Staging: done at once (200). Production: a request for a second approver (201)."""
        name = exact_name(request, name)
        approver(user)
        check_known_name(name)
        found(lambda: reg.get(name, version))
        if body.to == "production" and (
            body.report_sha256 is None or "waiver_id" not in body.model_fields_set
        ):  # waiver_id left out is not null: a 409 said a waiver was granted since
            raise InputError(
                "a production request names what backs it, as reviewed: report_sha256 and "
                "waiver_id (null for a pass), the version's `backing` (GET "
                f"/api/v1{model_url(name, version)})"
            )
        out = reg.request_promotion(
            name,
            version,
            to=body.to,
            user=user,
            reason=body.reason,
            report_sha256=body.report_sha256 if body.to == "production" else None,
            waiver_id=body.waiver_id,
        )
        if isinstance(out, ModelVersion):
            notify("promoted", out, user.name, body.reason)
            return JSONResponse({"status": "done", "stage": out.stage}, status_code=200)
        mv = reg.get(name, version)
        notify("promotion_requested", mv, user.name, body.reason, to=body.to, request_id=out.id)
        return JSONResponse({"request_id": out.id, "status": out.status}, status_code=201)

    @app.get("/api/v1/promotion-requests", tags=["workflow"])
    def api_requests(
        user: User = Depends(api_user), reg: Registry = Depends(registry)
    ) -> list[dict[str, Any]]:
        return [r.to_dict() for r in reg.promotion_requests()]

    @app.post("/api/v1/promotion-requests/{request_id}/approve", tags=["workflow"])
    def api_approve(
        request_id: int,
        body: ReasonBody | None = None,
        user: User = Depends(api_user),
        reg: Registry = Depends(registry),
    ) -> dict[str, Any]:
        """The second approval: the promotion happens now, through the verified path."""
        approver(user)
        found(lambda: reg.promotion_request(request_id))
        reason = body.reason if body else ""
        mv = reg.approve(request_id, user=user, reason=reason)
        notify("promoted", mv, user.name, reason, request_id=request_id)
        return {"status": "done", "name": mv.name, "version": mv.version, "stage": mv.stage}

    @app.post("/api/v1/models/{name:path}/versions/{version}/waivers", tags=["workflow"])
    @app.post("/api/v1/model/versions/{version}/waivers", tags=["workflow"])
    def api_waive(
        request: Request,
        name: str,
        version: int,
        body: WaiverBody,
        user: User = Depends(api_user),
        reg: Registry = Depends(registry),
    ) -> JSONResponse:
        """Let this version's verified warn report back production until ``expires``."""
        name = exact_name(request, name)
        approver(user)
        check_known_name(name)
        found(lambda: reg.get(name, version))
        w = reg.waive(
            name,
            version,
            user=user,
            reason=body.reason,
            expires=body.expires,
            report_sha256=body.report_sha256,
        )
        mv = reg.get(name, version)
        notify("waiver", mv, user.name, body.reason, waiver_id=w.id, expires_at=w.expires_at)
        return JSONResponse(w.to_dict(), status_code=201)

    @app.post("/api/v1/models/{name:path}/rollback", tags=["workflow"])
    @app.post("/api/v1/model/rollback", tags=["workflow"])
    def api_rollback(
        request: Request,
        name: str,
        body: RollbackBody,
        user: User = Depends(api_user),
        reg: Registry = Depends(registry),
    ) -> dict[str, Any]:
        """Put the previous production version back (its bytes re-verified first), if
        production is still ``from_version`` and the previous one ``to_version``."""
        name = exact_name(request, name)
        approver(user)
        check_known_name(name)
        known_model(reg, name)
        mv = reg.rollback(
            name,
            user=user,
            reason=body.reason,
            from_version=body.from_version,
            to_version=body.to_version,
        )
        notify("rollback", mv, user.name, body.reason)
        return {"status": "done", "name": mv.name, "version": mv.version, "stage": mv.stage}

    @app.post("/api/v1/reports", tags=["reports"], status_code=201)
    def api_upload(
        body: ReportUpload, user: User = Depends(api_user), reg: Registry = Depends(registry)
    ) -> dict[str, Any]:
        """CI uploads a gate report (+ attestation + items) for a registered version; it
        is judged and recorded like one offered on the CLI, accepted or not. CI's account
        should hold the uploader role: it can do this and nothing else."""
        uploader(user)
        check_known_name(body.name)
        check_version(body.version)
        found(lambda: reg.get(body.name, body.version))
        report = _field_bytes("report", body.report, MAX_REPORT_BYTES)
        items = None if body.items is None else _field_bytes("items", body.items, MAX_ITEMS_BYTES)
        rec = reg.add_gate_report_bytes(
            body.name,
            body.version,
            report,
            attestation=body.attestation.encode() if body.attestation is not None else None,
            items=items,
            actor=user,  # the row is signed with the uploader's actor key
        )
        return rec.to_dict()

    @app.get("/api/v1/compare", tags=["reports"])
    def api_compare(
        a: int = Query(..., ge=1),
        b: int | None = Query(None, ge=1),
        changed: bool = Query(False),
        # As the page takes them (it filtered on them; the API ignored them).
        set_name: str | None = Query(None, alias="set", max_length=cmp.MAX_LABEL_PARAM),
        slice_key: str | None = Query(None, alias="slice", max_length=cmp.MAX_SLICE_PARAM),
        page: int = Query(1, ge=1),
        user: User = Depends(api_user),
        reg: Registry = Depends(registry),
    ) -> dict[str, Any]:
        """The compare page as JSON: paired metrics, slices and one page of items, of one
        golden set (``set=``) or slice (``slice=column=value``) when given."""
        ctx = comparison(reg, a, b, changed, set_name or None, slice_key or None, page)
        known_filters(ctx)
        return {
            "filters": ctx["filters"],
            "a": ctx["a"],
            "b": ctx["b"],
            "metrics": ctx["metrics"],
            "sets_not_listed": ctx["sets_not_listed"],
            "sets_differ": ctx["sets_differ"],
            "gate_differs": ctx["gate_differs"],
            "grading_differs": ctx["grading_differs"],
            "slices": [{k: v for k, v in s.items() if k != "url"} for s in ctx["slices"]],
            "slices_not_listed": ctx["slices_not_listed"],
            "total": ctx["total"],
            "page": ctx["page"],
            "pages": ctx["pages"],
            "items": [r.to_dict() for r in ctx["items"]],
        }

    return app


__all__ = ["create_app"]
