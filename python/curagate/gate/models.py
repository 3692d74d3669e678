"""Model references and generation backends for the gate.

A side of the comparison is one of:

* a training run directory (``run.json`` + PEFT adapter on a base model),
* a model directory (a merged or base Hugging Face checkpoint),
* an OpenAI-compatible HTTP endpoint (``http://host:port/v1`` + model name,
  e.g. vLLM), reached with urllib so no client library is needed; up to
  ``generation.concurrency`` requests are in flight at once (serving engines
  batch them), with retries on 429/5xx, resets and timeouts.

Every backend has an ``identity`` (a hash of its weights, or of its endpoint,
model name and the digest the user states for it), which keys the on-disk
generation cache: a rerun only generates what changed. An endpoint's answers
are cached only when the user states which model serves it: a URL and a name
say nothing about the weights behind them, which can be swapped. torch,
transformers and peft are imported lazily so the light commands never load
them.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from curagate.artifacts import (
    RunRecord,
    check_adapter_unchanged,
    check_base_unchanged,
    load_run,
    run_digests,
)
from curagate.digest import MANIFEST_NAME, copy_hashed, files_digest, hash_tree
from curagate.errors import InputError, MissingExtraError
from curagate.gate.decoding import gate_decoding, item_seed, stop_ids
from curagate.hf import load_causal_lm, loading
from curagate.httpclient import ReplyTooLarge, open_by, read_by
from curagate.io.atomic import private_dir, remove_dead, remove_private, write_text_atomic
from curagate.progress import Bar
from curagate.text import LONE_SURROGATE, printable

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 64
    temperature: float = 0.0
    batch_size: int = 8
    concurrency: int = 8  # endpoint requests in flight at once
    request_timeout_s: float = 120.0
    max_retries: int = 4
    retry_backoff_s: float = 0.5
    # Sampled answers (temperature > 0) are drawn with a per-item seed derived from this
    # (curagate.gate.decoding.item_seed): the gate's statistics.seed.
    seed: int = 0

    def key(self) -> dict[str, Any]:
        # batch_size changes padding and concurrency the order requests reach a server,
        # not greedy outputs of a correct model: neither is in the key. The seed draws
        # sampled answers only.
        key: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }
        if self.temperature > 0:
            key["seed"] = self.seed
        return key


class EndpointStats:
    """What talking to an endpoint took: requests sent, retries by cause (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.answers = 0
        self.retries: Counter[str] = Counter()
        # Replies whose message held no text (content null, no refusal), by why: scored
        # as empty answers, and said so (a reasoning model out of tokens, a tool call).
        self.no_text: Counter[str] = Counter()

    def sent(self) -> None:
        with self._lock:
            self.requests += 1

    def answered(self) -> None:
        with self._lock:
            self.answers += 1

    def retried(self, cause: str) -> None:
        with self._lock:
            self.retries[cause] += 1

    def textless(self, why: str) -> None:
        with self._lock:
            self.no_text[why] += 1

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "answers": self.answers,
                "retries": sum(self.retries.values()),
                "retries_by_cause": dict(sorted(self.retries.items())),
                "no_text_answers": sum(self.no_text.values()),
                "no_text_by_finish_reason": dict(sorted(self.no_text.items())),
            }


@dataclass
class ModelRef:
    """What the user named as candidate or base, resolved but not loaded."""

    kind: str  # "run" | "model_dir" | "bundle" | "http"
    spec: str
    model_dir: Path | None = None  # the weights to load (the base model for a run)
    adapter_dir: Path | None = None
    run: dict[str, Any] | None = None
    # A bundle's lineage (its manifest's): the run's dataset manifest among it.
    lineage: dict[str, Any] | None = None
    url: str | None = None
    model_name: str | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)
    identity: str = ""
    # A local model folder's files -> sha256 (as its identity hashed them), for telling two
    # folders of the same weights apart from two models (the gate's GATE013).
    files: dict[str, str] = field(default_factory=dict)
    # A bundle's: the files its manifest lists, and the GGUF its export section names.
    manifest_files: dict[str, str] = field(default_factory=dict)
    exported_gguf: str | None = None
    cacheable: bool = True  # False: an endpoint whose model nobody vouched for
    cache_reason: str = "keyed by the sha256 of the weights"
    cache_off: bool = False  # this run has no cache (--no-cache), cacheable or not
    stats: EndpointStats = field(default_factory=EndpointStats)

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "spec": self.spec, "identity": self.identity}
        d.update(self.artifacts)
        # `cacheable`: its answers may be cached (its identity is known); `used`: this run
        # read and wrote the cache for it. A --no-cache run said `used: true` (by attack).
        used = self.cacheable and not self.cache_off
        reason = self.cache_reason
        if self.cacheable and self.cache_off:
            reason = f"not cached: --no-cache (cacheable: {reason})"
        d["cache"] = {"cacheable": self.cacheable, "used": used, "reason": reason}
        return d


def is_endpoint(spec: str) -> bool:
    """Whether a model spec (--candidate, --base, a judge's ``model``) is an OpenAI-compatible
    endpoint: an ``http://`` or ``https://`` URL. Any other spec is a folder, ``file://...``
    or ``x://...`` too (as a path: ``x:/...``), loaded and checked as one: the one rule of
    :func:`resolve_model`, the judge's and the checks of what the gate reads (a spec
    holding ``://`` was once no folder to those checks, while it was loaded as one). The
    scheme in any case (``HTTP://``), as URLs have it and the client reads it (found by
    re-attack: it was "not a run directory, model directory or http(s) endpoint")."""
    return spec[:8].lower().startswith(("http://", "https://"))


def resolve_model(
    spec: str,
    *,
    http_model: str | None = None,
    model_digest: str | None = None,
    digest_flag: str = "--candidate-digest",
) -> ModelRef:
    """Turn a candidate/base argument into a :class:`ModelRef` with artifact hashes.

    ``model_digest`` is the user's statement of which model an endpoint serves (the
    sha256 of its weights, an image digest): only then are its answers cached.
    """
    if is_endpoint(spec):
        name = http_model or "default"
        url = spec.rstrip("/")
        if model_digest is not None and (
            not model_digest.strip() or any(c.isspace() for c in model_digest)
        ):
            raise InputError(
                f"{digest_flag} {model_digest!r}: must be one token naming the served weights "
                "(e.g. their sha256)"
            )
        ident = hashlib.sha256(f"http\0{url}\0{name}\0{model_digest or ''}".encode()).hexdigest()
        if model_digest is None:
            reason = (
                f"not cached: nothing states which model serves {url} (model {name!r}), and "
                "the server behind a URL can change; answers are regenerated every run. Pass "
                f"{digest_flag} with the served weights' sha256 to cache them"
            )
        else:
            reason = f"keyed by the stated model digest {model_digest} ({digest_flag})"
        artifacts: dict[str, Any] = {
            "endpoint": spec,
            "model": name,
            "sha256": None,
            "artifact_sha256": None,
        }
        if model_digest is not None:
            artifacts["stated_digest"] = model_digest
        return ModelRef(
            kind="http",
            spec=spec,
            url=url,
            model_name=name,
            artifacts=artifacts,
            identity=ident,
            cacheable=model_digest is not None,
            cache_reason=reason,
        )
    path = Path(spec)
    if not path.is_dir():
        raise InputError(f"{spec}: not a run directory, model directory or http(s) endpoint")
    if (path / RunRecord.FILE).is_file():
        info = load_run(path)
        check_base_unchanged(info)
        check_adapter_unchanged(info)
        d = run_digests(info)
        return ModelRef(
            kind="run",
            spec=spec,
            model_dir=info.base_dir,
            adapter_dir=info.adapter_dir,
            run=info.record.model_dump(mode="json"),
            artifacts={
                "sha256": d.digest,
                "artifact_sha256": d.digest,
                "base_model_sha256": d.base,
                "adapter_sha256": d.adapter,
                "base_model_path": str(info.base_dir),
                # The run record the gate read (its training data is what the contamination
                # check scanned): export holds the run to it, so an edit after gating (the
                # data a bundle's lineage names) is caught.
                "run_json_sha256": info.run_sha256,
            },
            identity=d.digest,
        )
    if not (path / "config.json").is_file():
        raise InputError(
            f"{spec}: neither run.json (a training run) nor config.json (a model directory) found"
        )
    if not (path / MANIFEST_NAME).exists():  # a bundle's manifest lists hidden files too
        from curagate.export.manifest import refuse_unhashed_loads

        refuse_unhashed_loads(path, "the model")
    files = hash_tree(path)
    sha = files_digest(files)
    if (path / MANIFEST_NAME).exists():
        # An exported bundle: judged only when it matches its manifest, and named by the
        # digest the registry knows it by.
        from curagate.export.manifest import verify_bundle

        checked = verify_bundle(path)
        lineage = checked.manifest.lineage
        return ModelRef(
            kind="bundle",
            spec=spec,
            model_dir=path.resolve(),
            lineage=dict(lineage) if isinstance(lineage, dict) else None,
            artifacts={"sha256": sha, "artifact_sha256": checked.digest},
            identity=sha,
            files=files,
            manifest_files=dict(checked.manifest.files),
            exported_gguf=(
                gguf if isinstance(gguf := checked.manifest.export.get("gguf"), str) else None
            ),
        )
    return ModelRef(
        kind="model_dir",
        spec=spec,
        model_dir=path.resolve(),
        artifacts={"sha256": sha, "artifact_sha256": sha},
        identity=sha,
        files=files,
    )


# A safetensors header is a few KB per thousand tensors; past this it is no model's.
_MAX_HEADER = 100 << 20


def _tensor_table(folder: Path) -> dict[str, tuple[Path, str, tuple[int, ...], int, int]] | None:
    """Every tensor of the safetensors files at the top of ``folder``, the ones transformers
    loads (whatever else lies beside them: a checkpoint's `training_args.bin` or
    `optimizer.pt`, an `original/consolidated.00.pth`, which made a re-saved base "another
    model"): name -> (file, dtype, shape, start and end of its bytes in the file); None
    when there is none, or one is not well-formed (a bad header, a name twice)."""
    table: dict[str, tuple[Path, str, tuple[int, ...], int, int]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with path.open("rb") as f:
                length = os.fstat(f.fileno()).st_size
                size = int.from_bytes(f.read(8), "little")
                if not 0 < size <= min(_MAX_HEADER, length - 8):
                    return None
                header = json.loads(f.read(size))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(header, dict):
            return None
        for name, info in header.items():
            if name == "__metadata__":
                continue
            try:
                begin, stop = info["data_offsets"]
                shape = tuple(int(d) for d in info["shape"])
                entry = (
                    path,
                    str(info["dtype"]),
                    shape,
                    8 + size + int(begin),
                    8 + size + int(stop),
                )
            except (KeyError, TypeError, ValueError, OverflowError):  # inf, NaN, a bad shape
                return None
            # Inside the file's data, in order: a header may say anything (a tensor past the
            # end read as empty bytes on both sides, equal, for ever).
            if name in table or not 8 + size <= entry[3] <= entry[4] <= length:
                return None
            table[name] = entry
    return table or None


def same_tensors(a: Path, b: Path) -> bool:
    """Whether two model folders hold the same tensors (names, dtypes, shapes and bytes) in
    safetensors files, however they are sharded and whatever their headers' metadata say:
    the base's weights saved again were another model to the file digests (the gate's
    GATE013 compared the candidate with itself and passed). Stops at the first difference
    (a fine-tuned model differs early); reads both sides whole when they are the same."""
    ta, tb = _tensor_table(a), _tensor_table(b)
    if ta is None or tb is None or ta.keys() != tb.keys():
        return False
    if any(ta[n][1:3] != tb[n][1:3] or ta[n][4] - ta[n][3] != tb[n][4] - tb[n][3] for n in ta):
        return False
    for name in sorted(ta):
        (fa, _, _, sa, ea), (fb, _, _, sb, _) = ta[name], tb[name]
        with fa.open("rb") as x, fb.open("rb") as y:
            x.seek(sa)
            y.seek(sb)
            left = ea - sa
            while left:
                n = min(left, 1 << 20)
                block = x.read(n)
                if len(block) != n or block != y.read(n):  # short: changed meanwhile
                    return False
                left -= n
    return True


# How a local model's answers are decoded, in its cache key: 2, with the gate's own settings
# only (curagate.gate.decoding); before, transformers also applied generation_config.json.
LOCAL_DECODING = 2


class Generator(Protocol):
    def generate(self, conversations: Sequence[Messages], settings: GenSettings) -> list[str]: ...


class GenerationCache:
    """On-disk cache: one JSON file per (model identity, conversation, settings).

    With ``mac_key`` (a signed run: :func:`curagate.signing.cache_mac_key`) every entry
    written carries an HMAC-SHA256 of its key and value, and only entries whose HMAC
    checks are read: answers planted in the folder, or cached by an unsigned run, are
    generated again (``rejected`` counts them), so a signed attestation covers only
    answers this key's runs produced. Without it, entries are read whatever they carry.
    """

    def __init__(self, root: Path | None, mac_key: bytes | None = None) -> None:
        self.root = root
        self.mac_key = mac_key
        self.hits = 0
        self.misses = 0
        self.rejected = 0

    @staticmethod
    def key(identity: str, conv: Messages, settings: GenSettings, *, local: bool = False) -> str:
        parts: list[Any] = [identity, conv, settings.key()]
        if local:
            # A local model's answers as the gate decodes them now (its own settings, not
            # the folder's generation_config.json, curagate.gate.decoding): answers cached
            # before were decoded with the file's settings, and are not read.
            parts.append({"decoding": LOCAL_DECODING})
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def _mac(self, *parts: Any) -> str | None:
        if self.mac_key is None:
            return None
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hmac.new(self.mac_key, blob, hashlib.sha256).hexdigest()

    def _authentic(self, entry: dict[str, Any], *parts: Any) -> bool:
        want = self._mac(*parts)
        if want is None:
            return True
        mac = entry.get("mac")
        if isinstance(mac, str) and hmac.compare_digest(mac, want):
            return True
        self.rejected += 1
        return False

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return None  # missing or unreadable: generated again
        return entry if isinstance(entry, dict) else None

    def get(self, key: str) -> str | None:
        if self.root is None:
            return None
        entry = self._read(self._path(key))
        if entry is None or not isinstance(entry.get("output"), str):
            return None
        output: str = entry["output"]
        return output if self._authentic(entry, key, output) else None

    def put(self, key: str, output: str) -> None:
        if self.root is not None:
            entry = {"output": output, "mac": self._mac(key, output)}
            write_text_atomic(self._path(key), json.dumps(entry, ensure_ascii=False))

    def get_json(self, kind: str, key: str) -> Any:
        """A cached result of another kind (e.g. lm-eval suite scores), or None."""
        if self.root is None:
            return None
        entry = self._read(self.root / kind / f"{key}.json")
        if entry is None or "value" not in entry:
            return None
        return entry["value"] if self._authentic(entry, kind, key, entry["value"]) else None

    def put_json(self, kind: str, key: str, value: Any) -> None:
        if self.root is not None:
            entry = {"value": value, "mac": self._mac(kind, key, value)}
            write_text_atomic(self.root / kind / f"{key}.json", json.dumps(entry, sort_keys=True))


def generate_cached(
    ref: ModelRef,
    loader: LoadedModels,
    conversations: Sequence[Messages],
    settings: GenSettings,
    cache: GenerationCache,
    desc: str = "generating",
) -> list[str]:
    """Answers for every conversation; only cache misses reach the model (with a
    progress bar over them, see curagate.progress).

    An endpoint nobody vouched for (``ref.cacheable`` false) neither reads
    nor writes the cache.
    """
    local = ref.kind != "http"
    keys = [GenerationCache.key(ref.identity, c, settings, local=local) for c in conversations]
    outputs: list[str | None] = [cache.get(k) if ref.cacheable else None for k in keys]
    todo = [i for i, o in enumerate(outputs) if o is None]
    cache.hits += len(conversations) - len(todo)
    cache.misses += len(todo)
    if todo:
        if local:
            _refuse_past_positions(ref, loader, [conversations[i] for i in todo], settings, desc)
        gen = loader.generator(ref)
        todo.sort(key=lambda i: sum(len(m["content"]) for m in conversations[i]))
        # Chunks of a few batches: an interrupted run keeps what it already generated.
        step = settings.batch_size * 4
        with Bar(total=len(todo), desc=desc, unit="answer") as bar:
            for start in range(0, len(todo), step):
                chunk = todo[start : start + step]
                fresh = gen.generate([conversations[i] for i in chunk], settings)
                for i, out in zip(chunk, fresh, strict=True):
                    outputs[i] = out
                    if ref.cacheable:
                        cache.put(keys[i], out)
                bar.update(len(chunk))
    return [o or "" for o in outputs]


def _refuse_past_positions(
    ref: ModelRef,
    loader: LoadedModels,
    conversations: Sequence[Messages],
    settings: GenSettings,
    desc: str,
) -> None:
    """An InputError, before generating, for a prompt whose answer may run past a local
    model's context of a table of positions (:data:`ABSOLUTE_POSITIONS`), where generating
    fails. The gate checks the golden sets' prompts before any model runs; a judge's are
    known only once the answers are (found by re-attack: a GPT-2 judge of a long answer
    crashed, IndexError, exit 3)."""
    context = loader.context(ref)
    if context is None or not context.absolute:
        return
    counts = loader.prompt_tokens(ref, conversations)
    worst = max(counts, default=0)
    if worst + settings.max_new_tokens > context.tokens:
        raise InputError(
            f"{desc}: a prompt is {worst} tokens as {ref.spec} reads it (its chat template), "
            f"and with max_new_tokens {settings.max_new_tokens} its answer may run to "
            f"{worst + settings.max_new_tokens} tokens, past its model's context of "
            f"{context.tokens} tokens ({context.source} in config.json), a table of that "
            "many positions: generating past it fails; lower max_new_tokens, shorten what "
            "it reads, or use a model of a longer context"
        )


# Answers worth asking again: rate limits, overload, a gateway between restarts.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
# One chat completion is a few KB; a reply past this is a broken or hostile server.
MAX_REPLY_BYTES = 64 << 20


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    value = err.headers.get("Retry-After") if err.headers else None
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _error_detail(err: urllib.error.HTTPError) -> str:
    """The server's own words for a failed request, on one line.

    OpenAI-compatible servers say what went wrong in the body (llama-server with parallel
    slots: ``request (431 tokens) exceeds the available context size (256 tokens)``, since
    each slot gets only its share of ``-c``); the status reason alone (``Bad Request``) does
    not tell the user what to change.
    """
    try:
        raw = err.read(4096)
    except (OSError, http.client.HTTPException):
        raw = b""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's recursion limit
        body = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(msg, str) and msg.strip():
            text = msg
    text = _printable(text)
    if len(text) > 300:
        text = text[:297] + "..."
    reason = _printable(str(err.reason or ""))[:100]
    return f"{reason}: {text}" if text and reason else text or reason


def _printable(text: str) -> str:
    """``text`` from a server on one line: control characters (a terminal's escape
    sequences) become spaces, so they never reach the user's terminal or CI log."""
    return " ".join(printable(text).split())


class HttpGenerator:
    """OpenAI-compatible ``/chat/completions`` client over urllib.

    Sends up to ``settings.concurrency`` requests at once from a thread pool
    (serving engines batch concurrent requests; one at a time leaves them
    idle) and returns the answers in item order. A 429/5xx, a reset
    connection or a timeout is retried up to ``settings.max_retries`` times
    with exponential backoff (``Retry-After`` when the server sends one);
    any other error stops the run with one line naming the endpoint.
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        stats: EndpointStats | None = None,
    ):
        self.url = url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.stats = stats or EndpointStats()

    def generate(self, conversations: Sequence[Messages], settings: GenSettings) -> list[str]:
        workers = min(settings.concurrency, len(conversations))
        if workers <= 1:
            return [self._one(c, settings) for c in conversations]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="curagate-http")
        try:
            futures: list[Future[str]] = [
                pool.submit(self._one, c, settings) for c in conversations
            ]
            return [f.result() for f in futures]
        finally:
            # On the first error, drop the requests not yet sent rather than wait for them.
            pool.shutdown(wait=True, cancel_futures=True)

    def _request(self, conv: Messages, settings: GenSettings) -> urllib.request.Request:
        fields: dict[str, Any] = {
            "model": self.model,
            "messages": conv,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
        }
        if settings.temperature > 0:
            # OpenAI's API, vLLM, TGI and llama.cpp's server take a seed: a sampled answer
            # is then reproducible as far as the server makes it so.
            fields["seed"] = item_seed(settings.seed, conv)
        body = json.dumps(fields).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(
            f"{self.url}/chat/completions", data=body, headers=headers, method="POST"
        )

    def _one(self, conv: Messages, settings: GenSettings) -> str:
        req = self._request(conv, settings)
        attempts = settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            wait: float | None = None
            try:
                self.stats.sent()
                # The timeout is a deadline for the whole exchange: a server dripping its
                # status line, headers or body a byte at a time is cut off at it.
                with open_by(req, settings.request_timeout_s) as (resp, deadline):
                    raw = read_by(resp, deadline, MAX_REPLY_BYTES)
                break
            except urllib.error.HTTPError as e:
                if e.code not in RETRY_STATUS or last:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise InputError(
                        f"{self.url}: HTTP {e.code} from chat/completions{tries}: "
                        f"{_error_detail(e)}"
                    ) from None
                cause, wait = f"http_{e.code}", _retry_after(e)
            except (
                TimeoutError,
                ConnectionResetError,
                ConnectionAbortedError,
                BrokenPipeError,
                http.client.RemoteDisconnected,
                http.client.IncompleteRead,
            ) as e:
                if last:
                    raise InputError(
                        f"{self.url}: no answer after {attempts} attempts (last: "
                        f"{type(e).__name__}: {e}); check the server, or raise "
                        "generation.request_timeout_s / max_retries"
                    ) from None
                cause = "timeout" if isinstance(e, TimeoutError) else "connection"
            except ReplyTooLarge as e:
                raise InputError(
                    f"{self.url}: chat/completions sent a reply too large to be an answer ({e})"
                ) from None
            except http.client.HTTPException as e:  # a status line or header that is not HTTP
                raise InputError(
                    f"{self.url}: chat/completions did not answer in HTTP ({type(e).__name__}: "
                    f"{_printable(str(e))[:200]})"
                ) from None
            except urllib.error.URLError as e:
                transient = isinstance(e.reason, TimeoutError | ConnectionResetError)
                if not transient or last:
                    raise InputError(f"{self.url}: endpoint not reachable: {e.reason}") from None
                cause = "timeout" if isinstance(e.reason, TimeoutError) else "connection"
            self.stats.retried(cause)
            if wait is None:
                # Jitter spreads the retries of concurrent requests apart.
                wait = settings.retry_backoff_s * (2**attempt) * random.uniform(0.5, 1.0)
            time.sleep(min(wait, MAX_BACKOFF_S))
        # JSON may escape a lone surrogate ("\\ud800"), which no UTF-8 file can hold: the
        # cache, items.jsonl and the reports would fail to write it.
        answer = LONE_SURROGATE.sub("\ufffd", self._answer(self._json(raw)))
        self.stats.answered()
        return answer

    def _json(self, raw: bytes) -> Any:
        """A 200 body as JSON; a body no JSON reader accepts is the endpoint's error."""
        what = f"{self.url}: chat/completions returned"
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise InputError(f"{what} a body that is not UTF-8 (byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{what} a body that is not JSON ({e.msg} at char {e.pos})") from None
        except RecursionError:
            raise InputError(f"{what} JSON nested too deeply to read") from None
        except ValueError as e:  # e.g. an integer past Python's 4300-digit limit
            raise InputError(
                f"{what} JSON that cannot be read: {_printable(str(e))[:200]}"
            ) from None

    def _answer(self, data: Any) -> str:
        """The text of ``choices[0].message``: its ``content`` (a string, or the text of a
        list of content parts); when that is null or empty, its ``refusal`` (OpenAI's API
        puts a refusal there, and the refusal detector must see it). Content of any other
        type is the endpoint's error, never scored as its repr."""
        what = f"{self.url}: chat/completions returned"
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            message = None
        if not isinstance(message, dict) or (
            "content" not in message and not isinstance(message.get("refusal"), str)
        ):
            raise InputError(f"{what} no choices[0].message.content (unexpected response)")
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(_part_text(part, i, what) for i, part in enumerate(content))
        if content in (None, "") and isinstance(message.get("refusal"), str):
            return str(message["refusal"])
        if content is None:
            self.stats.textless(_no_text_reason(data, message))
            return ""
        if isinstance(content, str):
            return content
        raise InputError(
            f"{what} choices[0].message.content as {_json_kind(content)} {_shown(content)}; "
            "expected a string, null or a list of text parts"
        )


def _no_text_reason(data: Any, message: dict[str, Any]) -> str:
    """Why a reply held no text: a tool call, else the choice's finish_reason."""
    if message.get("tool_calls"):
        return "tool_calls"
    reason = data["choices"][0].get("finish_reason") if isinstance(data, dict) else None
    return reason if isinstance(reason, str) and reason.isidentifier() else "unknown"


def _part_text(part: Any, i: int, what: str) -> str:
    """The text of one OpenAI content part: ``{"type": "text", "text": ...}`` or
    ``{"type": "refusal", "refusal": ...}``."""
    kind = part.get("type") if isinstance(part, dict) else None
    text = part.get(kind) if kind in ("text", "refusal") else None
    if not isinstance(text, str):
        raise InputError(
            f"{what} choices[0].message.content[{i}] {_shown(part)}, which is not a text part "
            '({"type": "text", "text": "..."})'
        )
    return text


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _shown(value: Any) -> str:
    """A value from a server in an error line: JSON (control characters escaped), short."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def render_chat(tok: Any, conv: Messages) -> str:
    """The text a local model reads for ``conv``: its own chat template, generation prompt
    added (else the turns' contents, a blank line apart)."""
    if getattr(tok, "chat_template", None):
        return str(tok.apply_chat_template(conv, add_generation_prompt=True, tokenize=False))
    return "\n\n".join(m["content"] for m in conv) + "\n"


class Context(NamedTuple):
    """A local model's context as its ``config.json`` states it: ``tokens`` positions,
    ``source`` the keys that say so (in words), ``absolute``: positions from a table of that
    size, learned or computed once (:data:`ABSOLUTE_POSITIONS`), none past it; else rotary (RoPE), computed
    for any position, past the context as for one the model never trained on."""

    tokens: int
    source: str
    absolute: bool


# The model types transformers gives a table of positions the size of the context, learned
# (GPT-2's wpe of n_positions, OPT's and BioGPT's of max_position_embeddings + 2, the
# decoders of BART and BERT kin) or computed once for that size (CTRL's sinusoids, CodeGen's
# and GPT-J's rotary sin/cos of n_positions, Marian's and Pegasus' sinusoids, MPT's ALiBi
# biases of max_seq_len): a position past it is an error (on CPU; a device assert on CUDA),
# no answer. Found by re-attack (each built small and run one token past its context):
# CTRL, CodeGen, GPT-J and MPT were taken as RoPE models and crashed past the context.
ABSOLUTE_POSITIONS = frozenset(
    {
        "gpt2", "gpt_bigcode", "gpt_neo", "openai-gpt", "opt", "biogpt",
        "ctrl", "codegen", "gptj", "mpt",
        "bart", "bigbird_pegasus", "blenderbot", "blenderbot-small", "marian", "mbart", "mvp",
        "pegasus", "plbart", "trocr",
        "bert", "electra", "git", "megatron-bert", "rembert", "xlm",
    }
)  # fmt: skip

# RoPE types whose factor stretches the context (transformers' modeling_rope_utils: "a
# factor of x will enable the model to handle sequences of length x * original maximum
# pre-trained length"), to factor x original_max_position_embeddings (else
# max_position_embeddings, as transformers defaults it; linear scaling reads no other).
_STRETCHED_ROPE = frozenset({"linear", "yarn", "longrope", "llama3"})


def _positive(value: Any) -> bool:
    """A positive finite number: json reads ``Infinity`` (and ``1e400``) as a float, whose
    product is no length (found by re-attack: int() of it crashed the gate, exit 3)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def context_size(model_dir: Path) -> Context | None:
    """The context a model folder's ``config.json`` states (``max_position_embeddings``,
    GPT-2's ``n_positions``, stretched by RoPE scaling), or None when it names none, when
    it is unbounded (``dynamic`` RoPE scaling: transformers recomputes the frequencies for
    any length past max_position_embeddings) or a config.json that does not read (the
    loader's to report).

    ``rope_parameters`` (transformers 5) or ``rope_scaling`` (before), by ``rope_type`` or
    ``type``, one for the model or one per layer type (the largest context): for
    ``linear``, ``yarn``, ``longrope`` and ``llama3`` the context is the larger of
    max_position_embeddings and factor x original_max_position_embeddings (the config's
    own, then the scaling's, else max_position_embeddings, as transformers reads them):
    found by attack, a model built to extend past max_position_embeddings was refused
    there. Any other type leaves max_position_embeddings."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(config, dict):
        return None
    # max_seq_len: DBRX's (transformers reads it as max_position_embeddings) and MPT's.
    names = ("max_position_embeddings", "n_positions", "max_seq_len")
    within = ""
    if isinstance(config.get("text_config"), dict) and not any(k in config for k in names):
        # A multimodal model's language model states it (Gemma 3, Llama 4, Mllama: their
        # text_config, transformers' get_text_config): found by re-attack, the check was
        # skipped for them.
        config, within = config["text_config"], "text_config's "
    key = next((k for k in names if isinstance(config.get(k), int) and _positive(config[k])), None)
    if key is None:
        return None
    context = Context(config[key], within + key, config.get("model_type") in ABSOLUTE_POSITIONS)
    rope_key = next((k for k in ("rope_parameters", "rope_scaling") if config.get(k)), None)
    rope = config.get(rope_key) if rope_key else None
    if not isinstance(rope, dict):
        return context
    per_layer = [v for v in rope.values() if isinstance(v, dict)]
    for params in per_layer if per_layer and len(per_layer) == len(rope) else [rope]:
        kind = params.get("rope_type", params.get("type"))
        if kind == "dynamic":
            return None
        factor = params.get("factor")
        if kind not in _STRETCHED_ROPE or not _positive(factor):
            continue
        original, named = config[key], key
        for where, holder in (("", config), (f"{rope_key}'s ", params)):
            if kind != "linear" and _positive(holder.get("original_max_position_embeddings")):
                original = holder["original_max_position_embeddings"]
                named = f"{where}original_max_position_embeddings"
                break
        stretched = int(factor * original)
        if stretched > context.tokens:
            source = f"{within}{rope_key} {kind} factor {factor} x {named} {original}"
            context = context._replace(tokens=stretched, source=source)
    return context


class HFGenerator:
    """Batched generation with transformers and the model's own chat template, decoded
    with the gate's settings only (:mod:`curagate.gate.decoding`): greedy, or sampled at
    ``settings.temperature`` (one item at a time, each from its own seed), never with what
    the model folder's generation_config.json asks for."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    def render(self, conv: Messages) -> str:
        return render_chat(self.tokenizer, conv)

    def config(self, settings: GenSettings) -> Any:
        """The ``GenerationConfig`` of every call: the gate's settings and the model's stop
        and padding tokens, nothing else."""
        from transformers import GenerationConfig

        return GenerationConfig(  # type: ignore[no-untyped-call]
            **gate_token_ids(self.model, self.tokenizer),
            max_new_tokens=settings.max_new_tokens,
            **gate_decoding(settings.temperature),
        )

    def generate(self, conversations: Sequence[Messages], settings: GenSettings) -> list[str]:
        import torch

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        config = self.config(settings)
        texts = [self.render(c) for c in conversations]
        # Sort by length so batches pad little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        outputs: dict[int, str] = {}
        device = next(self.model.parameters()).device
        # Sampled: one item at a time, each drawn from its own seed, so an answer depends on
        # neither the item order, the batch it would share nor the other items.
        step = 1 if settings.temperature > 0 else settings.batch_size
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            enc = tok(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            if settings.temperature > 0:
                torch.manual_seed(item_seed(settings.seed, conversations[idx[0]]))
            with torch.no_grad():
                out = self.model.generate(**enc, generation_config=config)
            new = out[:, enc["input_ids"].shape[1] :]
            for i, row in zip(idx, new, strict=True):
                outputs[i] = tok.decode(row, skip_special_tokens=True).strip()
        return [outputs[i] for i in range(len(texts))]


def gate_token_ids(model: Any, tokenizer: Any) -> dict[str, Any]:
    """The stop and padding tokens the gate generates with: ``config.json``'s, the
    tokenizer's and generation_config.json's end-of-sequence tokens
    (:func:`curagate.gate.decoding.stop_ids`), the tokenizer's padding token (else the
    first stop token). Called before the folder's generation config is replaced."""
    config = getattr(model, "config", None)
    folder = getattr(model, "generation_config", None)
    eos = stop_ids(
        getattr(config, "eos_token_id", None),
        tokenizer.eos_token_id,
        getattr(folder, "eos_token_id", None),
    )
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = getattr(config, "pad_token_id", None)
    if pad is None and eos:
        pad = eos[0]
    return {"eos_token_id": eos or None, "pad_token_id": pad}


def folder_stop_tokens(
    model_dir: Path,
    tokenizer_dir: Path | None = None,
    named: Path | None = None,
    named_tokenizer: Path | None = None,
    *,
    tokenizer: Any = None,
) -> tuple[list[int], int | None]:
    """(the stop tokens the gate generates ``model_dir``'s answers with, the tokenizer's
    end-of-sequence id), as :func:`gate_token_ids` finds them on the loaded model, from the
    files as transformers loads them, without the weights: config.json (``AutoConfig``),
    the generation config ``from_pretrained`` attaches (generation_config.json, else one
    made from config.json) and the tokenizer (``AutoTokenizer``: its eos may be set in
    special_tokens_map.json as well as tokenizer_config.json; found by attack: GATE015
    read only the latter, named the same stop tokens for both sides and passed while a
    candidate's special_tokens_map.json stopped every answer at "%"). ``named``,
    ``named_tokenizer``: the folders errors name; ``tokenizer``: the tokenizer already
    loaded (:meth:`LoadedModels.tokenizer`; the gate loads each once), else it is loaded
    from ``tokenizer_dir``."""
    try:
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig
    except ImportError as e:
        raise MissingExtraError("train", e.name or "transformers") from None
    with loading(named or model_dir, "the model"):
        config = AutoConfig.from_pretrained(str(model_dir))
        try:
            generation: Any = GenerationConfig.from_pretrained(str(model_dir))
        except OSError:  # none, or not JSON: transformers' from_pretrained falls back so
            generation = GenerationConfig.from_pretrained(
                str(model_dir), config_file_name="config.json", _from_model_config=True
            )
    if tokenizer is None:
        assert tokenizer_dir is not None
        with loading(named_tokenizer or tokenizer_dir, "the tokenizer"):
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    eos = stop_ids(
        getattr(config, "eos_token_id", None),
        tokenizer.eos_token_id,
        getattr(generation, "eos_token_id", None),
    )
    return eos, tokenizer.eos_token_id


def set_gate_generation_config(model: Any, tokenizer: Any) -> None:
    """Replace the model's ``generation_config`` (its folder's generation_config.json) with
    one holding only its stop and padding tokens: transformers fills any setting a
    ``generate`` call leaves unset from it, for the gate's answers and lm-eval's alike."""
    from transformers import GenerationConfig

    config = gate_token_ids(model, tokenizer)
    model.generation_config = GenerationConfig(**config)  # type: ignore[no-untyped-call]


# Private model copies of signed runs: <tmp>/curagate-gate-model-<pid>-<random>.
_COPY_PREFIX = "curagate-gate-model-"


class LoadedModels:
    """Loads each model at most once per gate run (generation and lm-eval share it).

    With ``snapshot`` (a signed run), each local model is loaded from a private copy
    made for the run, hashed as it is copied and checked against the digests the run
    resolved (and attests): the files are read once, so a bundle rewritten between
    the check and the load, or in place while its memory-mapped weights are in use,
    is never what the attestation names. :meth:`close` removes the copies.
    """

    def __init__(
        self, device: str | None = None, api_key: str | None = None, *, snapshot: bool = False
    ) -> None:
        self.device = device
        self.api_key = api_key or os.environ.get("CURAGATE_API_KEY")
        self.snapshot = snapshot
        self._hf: dict[str, tuple[Any, Any]] = {}
        self._tokenizers: dict[str, Any] = {}
        self._sources: dict[str, tuple[Path, Path | None]] = {}
        self._dirs: dict[str, Path] = {}
        self._copies: list[Path] = []
        if snapshot:
            remove_dead(_COPY_PREFIX)

    def close(self) -> None:
        self._hf.clear()
        self._tokenizers.clear()
        self._sources.clear()
        while self._copies:
            remove_private(self._copies.pop())

    def __enter__(self) -> LoadedModels:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _private_copy(self, ref: ModelRef) -> tuple[Path, Path | None]:
        """(model dir, adapter dir) of a private copy of ``ref``'s files, checked against
        the digests resolved for it; a file changed since is an input error."""
        from curagate.export.manifest import files_outside, verify_bundle

        assert ref.model_dir is not None
        root = private_dir(_COPY_PREFIX)  # mode 0700
        self._copies.append(root)

        model_dir = root / "model"
        copied = copy_hashed(ref.model_dir, model_dir)
        # Shards an index names, tokenizer files tokenizer_config.json names, outside the
        # folder would be read from there, unhashed.
        outside = files_outside(model_dir, copied, f"{ref.model_dir}", stale_paths=True)
        if outside:
            raise InputError(
                f"{ref.model_dir}: {outside[0]}; a signed gate run loads only files whose bytes "
                "it hashed: put every file the model loads in its folder"
            )
        got = files_digest(copied)
        want = ref.artifacts.get("base_model_sha256") if ref.adapter_dir else ref.identity
        changed = [str(ref.model_dir)] if got != want else []
        # A bundle's attested digest is its manifest's: the copy must match it too.
        bundle_changed = ref.kind == "bundle" and not changed
        if bundle_changed and verify_bundle(model_dir).digest != ref.artifacts["artifact_sha256"]:
            changed.append(str(ref.model_dir))
        adapter_dir = None
        if ref.adapter_dir is not None:
            adapter_dir = root / "adapter"
            got = files_digest(copy_hashed(ref.adapter_dir, adapter_dir))
            if got != ref.artifacts.get("adapter_sha256"):
                changed.append(str(ref.adapter_dir))
        if changed:
            raise InputError(
                f"{' and '.join(changed)}: changed while the gate ran (the files no longer have "
                f"the digest checked when {ref.spec} was resolved); nothing was attested; gate a "
                "copy nothing writes to"
            )
        return model_dir, adapter_dir

    def resolved_device(self) -> str:
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def source(self, ref: ModelRef) -> tuple[Path, Path | None]:
        """(model dir, adapter dir) ``ref``'s files are loaded from: its own, or a signed
        run's private copy (made once, :meth:`_private_copy`)."""
        if ref.identity not in self._sources:
            assert ref.model_dir is not None
            self._sources[ref.identity] = (
                self._private_copy(ref) if self.snapshot else (ref.model_dir, ref.adapter_dir)
            )
        return self._sources[ref.identity]

    def tokenizer(self, ref: ModelRef) -> Any:
        """``ref``'s tokenizer (the adapter's when the adapter folder holds one), loaded
        once per gate run: GATE015's stop tokens and the generation share it. Found by
        attack: each local tokenizer was loaded twice, once for each."""
        if ref.identity in self._tokenizers:
            return self._tokenizers[ref.identity]
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise MissingExtraError("train", e.name or "transformers") from None
        model_dir, adapter_dir = self.source(ref)
        tok_dir, tok_named = model_dir, ref.model_dir or model_dir
        if adapter_dir is not None and (adapter_dir / "tokenizer_config.json").is_file():
            tok_dir, tok_named = adapter_dir, ref.adapter_dir or adapter_dir
        with loading(tok_named, "the tokenizer"):
            tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        self._tokenizers[ref.identity] = tokenizer
        return tokenizer

    def context(self, ref: ModelRef) -> Context | None:
        """``ref``'s model's context (:func:`context_size`, of the files it is loaded from)."""
        return context_size(self.source(ref)[0])

    def prompt_tokens(self, ref: ModelRef, conversations: Sequence[Messages]) -> list[int]:
        """The tokens of each of ``conversations``' prompt as ``ref``'s tokenizer renders
        (:func:`render_chat`) and counts it for generation."""
        tok = self.tokenizer(ref)
        return [
            len(tok(render_chat(tok, conv), add_special_tokens=False)["input_ids"])
            for conv in conversations
        ]

    def hf(self, ref: ModelRef) -> tuple[Any, Any]:
        """(model, tokenizer) for a run or model directory, in eval mode."""
        if ref.identity in self._hf:
            return self._hf[ref.identity]
        try:
            import torch
        except ImportError as e:
            raise MissingExtraError("train", e.name or "torch") from None
        model_dir, adapter_dir = self.source(ref)
        device = self.resolved_device()
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        # Errors on the files are named with the folder the user gave, not the private copy.
        # Refused when transformers does not load the model the files hold (a weight it
        # initializes at random on each load, an output layer config.json says is not).
        model: Any = load_causal_lm(str(model_dir), named=ref.model_dir, dtype=dtype)
        if adapter_dir is not None:
            try:
                from peft import PeftModel
            except ImportError:
                raise MissingExtraError("train", "peft") from None
            with loading(ref.adapter_dir or adapter_dir, "the adapter"):
                model = PeftModel.from_pretrained(model, str(adapter_dir))
        tokenizer = self.tokenizer(ref)
        model.to(device)
        model.eval()
        set_gate_generation_config(model, tokenizer)
        self._hf[ref.identity] = (model, tokenizer)
        self._dirs[ref.identity] = model_dir
        return model, tokenizer

    def folder(self, ref: ModelRef) -> Path:
        """The folder ``ref``'s model was loaded from (a signed run's private copy, checked
        against the attested digest): other checks of its files read those bytes."""
        self.hf(ref)
        return self._dirs[ref.identity]

    def generator(self, ref: ModelRef) -> Generator:
        if ref.kind == "http":
            assert ref.url is not None and ref.model_name is not None
            return HttpGenerator(ref.url, ref.model_name, api_key=self.api_key, stats=ref.stats)
        model, tok = self.hf(ref)
        return HFGenerator(model, tok)
