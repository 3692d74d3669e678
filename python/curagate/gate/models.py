"""Model references and generation backends for the gate.

A side of the comparison is one of:

* a training run directory (``run.json`` + PEFT adapter on a base model),
* a model directory (a merged or base Hugging Face checkpoint),
* an OpenAI-compatible HTTP endpoint (``http://host:port/v1`` + model name,
  e.g. vLLM), reached with urllib so no client library is needed.

Every backend has an ``identity`` (a hash of its weights, or of its endpoint
and model name), which keys the on-disk generation cache: a rerun only
generates what changed. torch/transformers/peft are imported lazily so the
light commands never load them.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from curagate.artifacts import RunRecord, check_base_unchanged, load_run, run_digests
from curagate.digest import MANIFEST_NAME, tree_digest
from curagate.errors import InputError, MissingExtraError
from curagate.io.atomic import write_text_atomic

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 64
    temperature: float = 0.0
    batch_size: int = 8

    def key(self) -> dict[str, Any]:
        # batch_size changes padding, not greedy outputs of a correct model: not in the key.
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}


@dataclass
class ModelRef:
    """What the user named as candidate or base, resolved but not loaded."""

    kind: str  # "run" | "model_dir" | "bundle" | "http"
    spec: str
    model_dir: Path | None = None  # the weights to load (the base model for a run)
    adapter_dir: Path | None = None
    run: dict[str, Any] | None = None
    url: str | None = None
    model_name: str | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)
    identity: str = ""

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "spec": self.spec, "identity": self.identity}
        d.update(self.artifacts)
        return d


def resolve_model(spec: str, *, http_model: str | None = None) -> ModelRef:
    """Turn a candidate/base argument into a :class:`ModelRef` with artifact hashes."""
    if spec.startswith(("http://", "https://")):
        name = http_model or "default"
        ident = hashlib.sha256(f"http\0{spec.rstrip('/')}\0{name}".encode()).hexdigest()
        return ModelRef(
            kind="http",
            spec=spec,
            url=spec.rstrip("/"),
            model_name=name,
            artifacts={"endpoint": spec, "model": name, "sha256": None, "artifact_sha256": None},
            identity=ident,
        )
    path = Path(spec)
    if not path.is_dir():
        raise InputError(f"{spec}: not a run directory, model directory or http(s) endpoint")
    if (path / RunRecord.FILE).is_file():
        info = load_run(path)
        check_base_unchanged(info)
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
            },
            identity=d.digest,
        )
    if not (path / "config.json").is_file():
        raise InputError(
            f"{spec}: neither run.json (a training run) nor config.json (a model directory) found"
        )
    sha = tree_digest(path)
    if (path / MANIFEST_NAME).exists():
        # An exported bundle: judged only when it matches its manifest, and named by the
        # digest the registry knows it by.
        from curagate.export.manifest import verify_bundle

        checked = verify_bundle(path)
        return ModelRef(
            kind="bundle",
            spec=spec,
            model_dir=path.resolve(),
            artifacts={"sha256": sha, "artifact_sha256": checked.digest},
            identity=sha,
        )
    return ModelRef(
        kind="model_dir",
        spec=spec,
        model_dir=path.resolve(),
        artifacts={"sha256": sha, "artifact_sha256": sha},
        identity=sha,
    )


class Generator(Protocol):
    def generate(self, conversations: Sequence[Messages], settings: GenSettings) -> list[str]: ...


class GenerationCache:
    """On-disk cache: one JSON file per (model identity, conversation, settings)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(identity: str, conv: Messages, settings: GenSettings) -> str:
        blob = json.dumps([identity, conv, settings.key()], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        if self.root is None:
            return None
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            return str(json.loads(p.read_text(encoding="utf-8"))["output"])
        except (json.JSONDecodeError, KeyError):
            return None

    def put(self, key: str, output: str) -> None:
        if self.root is not None:
            write_text_atomic(self._path(key), json.dumps({"output": output}, ensure_ascii=False))

    def get_json(self, kind: str, key: str) -> Any:
        """A cached result of another kind (e.g. lm-eval suite scores), or None."""
        if self.root is None:
            return None
        p = self.root / kind / f"{key}.json"
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put_json(self, kind: str, key: str, value: Any) -> None:
        if self.root is not None:
            write_text_atomic(self.root / kind / f"{key}.json", json.dumps(value, sort_keys=True))


def generate_cached(
    ref: ModelRef,
    loader: LoadedModels,
    conversations: Sequence[Messages],
    settings: GenSettings,
    cache: GenerationCache,
) -> list[str]:
    """Answers for every conversation; only cache misses reach the model."""
    keys = [GenerationCache.key(ref.identity, c, settings) for c in conversations]
    outputs: list[str | None] = [cache.get(k) for k in keys]
    todo = [i for i, o in enumerate(outputs) if o is None]
    cache.hits += len(conversations) - len(todo)
    cache.misses += len(todo)
    if todo:
        gen = loader.generator(ref)
        todo.sort(key=lambda i: sum(len(m["content"]) for m in conversations[i]))
        # Chunks of a few batches: an interrupted run keeps what it already generated.
        step = settings.batch_size * 4
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            fresh = gen.generate([conversations[i] for i in chunk], settings)
            for i, out in zip(chunk, fresh, strict=True):
                outputs[i] = out
                cache.put(keys[i], out)
    return [o or "" for o in outputs]


class HttpGenerator:
    """OpenAI-compatible ``/chat/completions`` client over urllib, one request per item."""

    def __init__(self, url: str, model: str, *, api_key: str | None = None, timeout: float = 120):
        self.url = url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def generate(self, conversations: Sequence[Messages], settings: GenSettings) -> list[str]:
        return [self._one(c, settings) for c in conversations]

    def _one(self, conv: Messages, settings: GenSettings) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "messages": conv,
                "max_tokens": settings.max_new_tokens,
                "temperature": settings.temperature,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            f"{self.url}/chat/completions", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise InputError(
                f"{self.url}: HTTP {e.code} from chat/completions: {e.reason}"
            ) from None
        except (urllib.error.URLError, TimeoutError) as e:
            raise InputError(f"{self.url}: endpoint not reachable: {e}") from None
        except json.JSONDecodeError:
            raise InputError(f"{self.url}: chat/completions did not return JSON") from None
        try:
            return str(data["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise InputError(
                f"{self.url}: unexpected chat/completions response (no choices[0].message.content)"
            ) from None


class HFGenerator:
    """Batched greedy generation with transformers and the model's own chat template."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    def render(self, conv: Messages) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return str(tok.apply_chat_template(conv, add_generation_prompt=True, tokenize=False))
        return "\n\n".join(m["content"] for m in conv) + "\n"

    def generate(self, conversations: Sequence[Messages], settings: GenSettings) -> list[str]:
        import torch

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        texts = [self.render(c) for c in conversations]
        # Sort by length so batches pad little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        outputs: dict[int, str] = {}
        device = next(self.model.parameters()).device
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            enc = tok(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            kwargs: dict[str, Any] = {
                "max_new_tokens": settings.max_new_tokens,
                "pad_token_id": tok.pad_token_id,
            }
            if settings.temperature > 0:
                kwargs.update(do_sample=True, temperature=settings.temperature)
            else:
                kwargs.update(do_sample=False)
            with torch.no_grad():
                out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1] :]
            for i, row in zip(idx, new, strict=True):
                outputs[i] = tok.decode(row, skip_special_tokens=True).strip()
        return [outputs[i] for i in range(len(texts))]


class LoadedModels:
    """Loads each model at most once per gate run (generation and lm-eval share it)."""

    def __init__(self, device: str | None = None, api_key: str | None = None) -> None:
        self.device = device
        self.api_key = api_key or os.environ.get("CURAGATE_API_KEY")
        self._hf: dict[str, tuple[Any, Any]] = {}

    def resolved_device(self) -> str:
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def hf(self, ref: ModelRef) -> tuple[Any, Any]:
        """(model, tokenizer) for a run or model directory, in eval mode."""
        if ref.identity in self._hf:
            return self._hf[ref.identity]
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise MissingExtraError("train", e.name or "transformers") from None
        assert ref.model_dir is not None
        device = self.resolved_device()
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(str(ref.model_dir), dtype=dtype)
        tok_dir = ref.model_dir
        if ref.adapter_dir is not None:
            try:
                from peft import PeftModel
            except ImportError:
                raise MissingExtraError("train", "peft") from None
            model = PeftModel.from_pretrained(model, str(ref.adapter_dir))
            if (ref.adapter_dir / "tokenizer_config.json").is_file():
                tok_dir = ref.adapter_dir
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        model.to(device)
        model.eval()
        self._hf[ref.identity] = (model, tokenizer)
        return model, tokenizer

    def generator(self, ref: ModelRef) -> Generator:
        if ref.kind == "http":
            assert ref.url is not None and ref.model_name is not None
            return HttpGenerator(ref.url, ref.model_name, api_key=self.api_key)
        model, tok = self.hf(ref)
        return HFGenerator(model, tok)
