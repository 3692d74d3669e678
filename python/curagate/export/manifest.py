"""Bundle manifests and bundle verification.

A bundle's identity (its *artifact digest*, :func:`curagate.digest.artifact_digest`)
is the sha256 of its ``MANIFEST.json`` bytes; the manifest lists the sha256 of every
other file. Verification refuses anything a loader could be tricked through: a file
the manifest does not list, a symlink or special file anywhere, a missing or changed
file. The one file outside the manifest is ``model.sig``, the signature over all of
them (and over MANIFEST.json itself, which is how an edit to the lineage is caught).

Pure Python (no torch): the gate, the registry and ``curagate verify`` use it.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curagate.artifacts import BundleManifest, parse_artifact
from curagate.digest import (
    MANIFEST_NAME,
    artifact_digest,
    manifest_path,
    sha256_bytes,
    sha256_file,
    walk_strict,
)
from curagate.errors import CheckFailed, InputError
from curagate.signing import BUNDLE_SIGNATURE_NAME, verify_bundle_signature
from curagate.text import one_line

MANIFEST_SCHEMA_VERSION = BundleManifest.SCHEMA_VERSION
_NOT_LISTED = {MANIFEST_NAME, BUNDLE_SIGNATURE_NAME}


def bundle_files(bundle: str | os.PathLike[str]) -> list[str]:
    """Relative POSIX paths of the files a manifest lists (all but MANIFEST.json and
    model.sig); refuses links and special files."""
    files, problems = walk_strict(bundle)
    if problems:
        raise InputError(f"{bundle}: {problems[0]}")
    return [f for f in files if f not in _NOT_LISTED]


def hash_bundle_files(bundle: str | os.PathLike[str]) -> dict[str, str]:
    root = Path(bundle)
    return {rel: sha256_file(root / rel) for rel in bundle_files(root)}


def manifest_bytes(manifest: BundleManifest) -> bytes:
    return manifest.to_json_bytes()


def _read_manifest(bundle: str | os.PathLike[str]) -> tuple[bytes, BundleManifest]:
    """The manifest's bytes and their parse: the digest and the content come from one read."""
    from curagate.artifacts import MAX_ARTIFACT_BYTES
    from curagate.io.outputs import read_regular

    path = manifest_path(bundle)
    try:
        # Bounded: a sparse 2 GB manifest was read whole (4 GB of memory) by verify and
        # every registry command.
        raw = read_regular(path, MAX_ARTIFACT_BYTES, follow_links=True)
    except OSError as e:
        if e.errno == errno.EFBIG:
            raise CheckFailed(
                f"{path}: {e.strerror}; no manifest is that large: the bundle was modified "
                "after export, re-export it"
            ) from None
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return raw, parse_artifact(BundleManifest, raw, source=path)
    except InputError as e:
        raise CheckFailed(f"{e}; the manifest was damaged: re-export the bundle") from None


def load_manifest(bundle: str | os.PathLike[str]) -> BundleManifest:
    return _read_manifest(bundle)[1]


# Files that make a loader open other files, and the keys that name them.
_INDEX_SUFFIX = ".index.json"


# Keys of tokenizer_config.json naming a file the tokenizer loads: transformers resolves
# fast_tokenizer_files' names with cached_file(folder, name) (an absolute name or ../
# leaves the folder), and before 5.x opened a vocab-file argument the config names verbatim
# (older save_pretrained wrote the absolute path of the file it read: stale on any other
# machine, and ignored by transformers 5).
_FOLLOWED_KEYS = ("fast_tokenizer_files",)
_VOCAB_FILE_KEYS = ("tokenizer_file", "vocab_file", "merges_file")


def _loader_references(root: Path, listed: dict[str, str]) -> list[str]:
    """Problems with files a loader would follow out of the manifest's view.

    ``from_pretrained`` opens the shards a ``*.index.json`` names and the tokenizer
    files ``tokenizer_config.json`` names (:func:`files_outside`), runs the code
    ``auto_map`` names (with trust_remote_code), and an ``adapter_config.json`` makes
    PEFT load a base model from wherever it says. A merged bundle needs none of that
    outside itself.
    """
    problems: list[str] = []
    for rel in sorted(listed):
        name = rel.rsplit("/", 1)[-1]
        if name == "adapter_config.json":
            problems.append(
                f"{rel}: a merged bundle holds no adapter (PEFT would load a base from elsewhere)"
            )
        if name not in ("config.json", "tokenizer_config.json"):
            continue
        data = _json_object(root / rel)
        if data is None:
            problems.append(f"{rel}: not readable JSON")
        elif "auto_map" in data:
            problems.append(
                f"{rel}: names remote code (auto_map); a bundle's model must load without it"
            )
    return problems + files_outside(root, listed, "the bundle")


def _json_object(path: Path) -> dict[str, Any] | None:
    """A JSON file's object ({} for other JSON values); None when it is not JSON."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else {}


def files_outside(
    root: Path,
    listed: Collection[str],
    what: str,
    *,
    stale_paths: bool = False,
    vocab_files: bool = True,
) -> list[str]:
    """For a model folder whose files are ``listed``: every file a loader would open
    that is not one of them (so loading would read bytes nobody hashed): the shards a
    ``*.index.json`` names, the tokenizer files ``tokenizer_config.json`` names.

    ``stale_paths``: a vocab-file key (``tokenizer_file``, ...) naming a path that does
    not exist is no problem (a model folder saved by an older transformers on another
    machine; no loader can read it). A bundle is checked without: nothing it names may
    lie outside it, on this machine or the one that will load it. Without ``vocab_files``
    those keys are not looked at (transformers 5 ignores them)."""
    problems: list[str] = []
    for rel in sorted(listed):
        name = rel.rsplit("/", 1)[-1]
        if not (name.endswith(_INDEX_SUFFIX) or name == "tokenizer_config.json"):
            continue
        data = _json_object(root / rel)
        if data is None:
            if name.endswith(_INDEX_SUFFIX):  # a bundle's configs are reported once
                problems.append(f"{rel}: not readable JSON")
            continue
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        if name.endswith(_INDEX_SUFFIX):
            weight_map = data.get("weight_map")
            names = {"weight_map": weight_map.values() if isinstance(weight_map, dict) else []}
        else:
            keys = (*_FOLLOWED_KEYS, *(_VOCAB_FILE_KEYS if vocab_files else ()))
            names = {key: _names(data.get(key)) for key in keys}
        for key, values in names.items():
            problems += [
                f"{rel}: {'names shard' if key == 'weight_map' else key + ' names'} {v!r}, "
                f"which is not a file of {what}"
                for v in sorted({str(v) for v in values})
                if f"{folder}{v}" not in listed
                and not (
                    stale_paths and key in _VOCAB_FILE_KEYS and not (root / folder / v).exists()
                )
            ]
    return problems


# What a file of weights is named: what transformers, PEFT, torch, llama.cpp, ONNX Runtime,
# Keras, Flax and TensorRT load a model from (the gate's GATE013 compares these too).
WEIGHT_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".onnx_data",
    ".h5", ".keras", ".msgpack", ".npz", ".pkl", ".pickle", ".tflite", ".engine", ".plan",
    ".llamafile",
)  # fmt: skip
_SAFE_WEIGHTS, _BIN_WEIGHTS = "model.safetensors", "pytorch_model.bin"


def loaded_weights(root: Path, listed: Collection[str]) -> set[str]:
    """The weight files of a model folder ``AutoModelForCausalLM.from_pretrained`` reads,
    in its order: ``model.safetensors``, else the shards ``model.safetensors.index.json``
    names, else ``pytorch_model.bin``, else the shards of its index (none when the index
    is unreadable: every weight file is then one it does not load)."""
    for single, index in ((_SAFE_WEIGHTS, _SAFE_WEIGHTS + _INDEX_SUFFIX),
                          (_BIN_WEIGHTS, _BIN_WEIGHTS + _INDEX_SUFFIX)):  # fmt: skip
        if single in listed:
            return {single}
        if index in listed:
            data = _json_object(root / index) or {}
            weight_map = data.get("weight_map")
            return {str(v) for v in weight_map.values()} if isinstance(weight_map, dict) else set()
    return set()


# The files of a model folder besides its weights that loading it reads (the model's
# config, the tokenizer's files by the names transformers 5's tokenizers of causal language
# models give them, the chat template) or that only document it: a bundle's file of any
# other name is none a gate evaluated.
MODEL_FOLDER_FILES = frozenset(
    {
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt",
        "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
        "sentencepiece.model", "emoji.json", "prophetnet.tokenizer", "word_shape.json",
        "word_pronunciation.json", "normalizer.json", "preprocessor_config.json",
        "chat_template.jinja", "chat_template.json", "README.md", "LICENSE", "LICENSE.md",
        "LICENSE.txt", "NOTICE", "NOTICE.md", "NOTICE.txt", "USE_POLICY.md",
    }
)  # fmt: skip


def unevaluated_files(root: Path, listed: Collection[str]) -> list[str]:
    """The files of ``listed`` that loading the folder with transformers does not read,
    nor are one of :data:`MODEL_FOLDER_FILES`: a GGUF, an ONNX file, a shard no index
    names, a ``.bin`` beside ``model.safetensors``, and any file of another name or in a
    subfolder. A gate that loads the folder so never evaluated them, whatever its verdict
    says of the folder. Known names, not weight suffixes: found by the re-attack, a
    ``model.Q4_K_M.gguf.zst``, ``model.safetensors.1`` or a folder named ``model.gguf``
    was none of the suffixes, and passed the gate."""
    loaded = loaded_weights(root, listed)
    indexes = {name + _INDEX_SUFFIX for name in (_SAFE_WEIGHTS, _BIN_WEIGHTS)}
    return sorted(
        rel
        for rel in listed
        if rel not in loaded and rel not in indexes and rel not in MODEL_FOLDER_FILES
    )


def refuse_unhashed_loads(folder: Path, what: str) -> None:
    """InputError (exit 2) when loading the model, adapter or tokenizer folder ``folder``
    would read a file its hash (:func:`curagate.digest.hash_tree`) leaves out: a shard an
    index names, or a tokenizer file ``tokenizer_config.json`` names, in a hidden folder or
    a dot-file, or outside the folder. Found by attack: a base whose index named
    ``.shards/model-00002-of-00002.safetensors`` was loaded by transformers and recorded
    by train without it, so export merged onto a changed base under the same sha256."""
    from curagate.digest import tree_paths

    # The vocab-file keys are left out: transformers 5, which train, gate and export load
    # with, ignores them (an older save's absolute path there is no file it reads).
    outside = files_outside(
        folder, tree_paths(folder), f"{what} that curagate hashes", vocab_files=False
    )
    if outside:
        raise InputError(
            f"{folder}: {outside[0]}; curagate hashes a model folder's files but not hidden ones "
            "(a name starting with '.') or files outside it, so the recorded digest would not "
            "cover bytes the loader reads: move the file into the folder under a visible name "
            "and fix the reference"
        )


def _names(value: Any) -> list[Any]:
    """The file names one tokenizer_config.json key holds (null: none)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


@dataclass
class VerifyResult:
    bundle: Path
    digest: str
    manifest: BundleManifest
    checked: int = 0
    signed_by: str | None = None
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.unexpected or self.unsafe)

    def hashed(self) -> dict[str, str]:
        """sha256 of every file of a bundle that is :attr:`ok`, as this check read it: the
        files its manifest lists (each hashed to its listed value) and the manifest."""
        assert self.ok
        return {**self.manifest.files, MANIFEST_NAME: self.digest}

    def problems(self) -> list[str]:
        """One line each: a file name's control characters are shown escaped (a name
        holding a newline printed a second line, "bundle ok" if it said so)."""
        lines = (
            self.unsafe
            + [f"{p}: sha256 differs from {MANIFEST_NAME}" for p in self.mismatched]
            + [f"{p}: listed in {MANIFEST_NAME} but missing" for p in self.missing]
            + [f"{p}: present but not listed in {MANIFEST_NAME}" for p in self.unexpected]
        )
        return [one_line(line) for line in lines]


def check_bundle(bundle: str | os.PathLike[str]) -> VerifyResult:
    """Compare every file of the bundle with the hashes its manifest recorded."""
    root = Path(bundle)
    if not root.exists() and not root.is_symlink():
        raise InputError(f"{bundle}: no such folder (moved or deleted?)")
    if root.is_symlink() or not root.is_dir():
        raise InputError(f"{bundle}: not a directory (a bundle is a real directory, not a link)")
    raw, manifest = _read_manifest(root)
    if not manifest.files:
        # Found by attack: `{"files": {}}` by hand verified "ok, 0 files" and registered.
        raise CheckFailed(
            f"{manifest_path(root)}: lists no file, where an export lists every file of the "
            "model; the manifest was replaced or damaged: re-export the bundle"
        )
    result = VerifyResult(bundle=root, digest=sha256_bytes(raw), manifest=manifest)
    files, result.unsafe = walk_strict(root)
    present = {f for f in files if f not in _NOT_LISTED}
    for rel, expected in sorted(manifest.files.items()):
        if rel not in present:
            result.missing.append(rel)
            continue
        result.checked += 1
        if sha256_file(root / rel) != expected:
            result.mismatched.append(rel)
    # A folder no listed file is in (an empty one included) is not what was exported
    # either: a loader may look for a name that is now a folder.
    implied = {parent.as_posix() for rel in manifest.files for parent in Path(rel).parents}
    result.unexpected = sorted(
        [*(present - set(manifest.files)), *(f"{d}/" for d in _folders(root) - implied)]
    )
    if not (result.missing or result.mismatched):
        result.unsafe += _loader_references(root, manifest.files)
    return result


def _folders(root: Path) -> set[str]:
    """Relative POSIX paths of the real folders under ``root`` (links are not followed;
    :func:`walk_strict` reports them)."""
    return {
        (Path(dirpath) / name).relative_to(root).as_posix()
        for dirpath, dirnames, _ in os.walk(root, followlinks=False)
        for name in dirnames
        if not (Path(dirpath) / name).is_symlink()
    }


_HEX64 = re.compile(r"[0-9a-f]{64}")


def normalize_digest(given: str, *, what: str) -> str:
    """A sha256 as 64 lowercase hex digits: case and a ``sha256:`` prefix are forgiven,
    anything else is a usage error (exit 2), not a bundle that differs."""
    value = given.strip().lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(value):
        raise InputError(
            f"{what} {given!r}: not a sha256 digest; give the 64 hex digits `curagate export` "
            "or `curagate verify` printed (optionally as sha256:...)"
        )
    return value


def verify_bundle(
    bundle: str | os.PathLike[str],
    *,
    public_key: bytes | None = None,
    expected_digest: str | None = None,
) -> VerifyResult:
    """Like :func:`check_bundle`, but any problem raises :class:`CheckFailed` (exit 1).

    With ``public_key`` (PEM) the bundle's ``model.sig`` must verify with it; with
    ``expected_digest`` the manifest's own bytes must hash to it. Either catches an
    edit of MANIFEST.json itself, which the file hashes alone cannot.
    """
    if expected_digest is not None:
        expected_digest = normalize_digest(expected_digest, what="--digest")
    result = check_bundle(bundle)
    if not result.ok:
        problems = result.problems()
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise CheckFailed(
            f"{bundle}: bundle does not match its manifest: {'; '.join(problems[:3])}{more}; "
            "it was modified after export: re-export it"
        )
    if expected_digest is not None and result.digest != expected_digest:
        raise CheckFailed(
            f"{bundle}: artifact digest {result.digest[:12]}… differs from the expected "
            f"{expected_digest[:12]}…; {MANIFEST_NAME} was changed or this is another bundle"
        )
    if public_key is not None:
        from curagate.signing import key_fingerprint, load_public_key

        verify_bundle_signature(bundle, public_key, result.hashed())
        result.signed_by = key_fingerprint(load_public_key(public_key, source="public key"))
    return result


__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "MODEL_FOLDER_FILES",
    "WEIGHT_SUFFIXES",
    "VerifyResult",
    "artifact_digest",
    "bundle_files",
    "check_bundle",
    "hash_bundle_files",
    "load_manifest",
    "loaded_weights",
    "manifest_bytes",
    "refuse_unhashed_loads",
    "unevaluated_files",
    "verify_bundle",
]
