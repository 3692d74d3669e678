"""Exact-duplicate fingerprints of dedup keys, shared by audit and check.

The normalization mirrors the Rust core's defaults (NFKC, lowercase, drop
punctuation, collapse whitespace) so audit, check and curate agree on what
a duplicate is; the fingerprint is BLAKE2b-128 of the normalized key.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(_PUNCT.sub("", text.lower()).split())


def fingerprint(key: str) -> bytes:
    """16 bytes; equal iff the normalized keys are equal (up to 2^-64 odds)."""
    return hashlib.blake2b(normalize(key).encode("utf-8"), digest_size=16).digest()
