"""Exact-duplicate fingerprints of dedup keys, shared by audit and check.

The Rust core's ``hash_column`` (normalize + XXH3-128, straight from the
Arrow buffers) when the extension is built, so audit, check and curate agree
on what a duplicate is; otherwise the same normalization (NFKC, lowercase,
drop punctuation, collapse whitespace) in Python and BLAKE2b-128. One run
uses one of the two throughout, so fingerprints are always comparable.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pyarrow as pa

_PUNCT = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(_PUNCT.sub("", text.lower()).split())


def _python(keys: pa.Array) -> list[bytes]:
    return [
        hashlib.blake2b(normalize(k or "").encode("utf-8"), digest_size=16).digest()
        for k in keys.to_pylist()
    ]


def fingerprints(keys: pa.Array) -> list[bytes]:
    """16 bytes per key; equal iff the normalized keys are equal."""
    try:
        from curagate._core import hash_column
    except ImportError:
        return _python(keys)
    if keys.type not in (pa.string(), pa.large_string(), pa.string_view()):
        keys = keys.cast(pa.large_string())
    raw = hash_column(keys)
    return [raw[i : i + 16] for i in range(0, len(raw), 16)]
