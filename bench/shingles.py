"""The one normalization and shingling every peer and the ground truth use.

Mirrors curagate's Rust defaults (rust/curagate-core/src/text): NFKC, lowercase, drop every
character that is neither alphanumeric nor whitespace, collapse whitespace; word n-grams joined
by one space; a text shorter than n words is one shingle, an empty text has none.
"""

from __future__ import annotations

import re
import unicodedata

NGRAM = 5
NUM_PERM = 128
THRESHOLD = 0.7

_PUNCT = re.compile(r"[^\w\s]|_")


def words(text: str) -> list[str]:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _PUNCT.sub("", text.lower()).split()


def shingles(text: str, n: int = NGRAM) -> list[str]:
    ws = words(text)
    if len(ws) < n:
        return [" ".join(ws)] if ws else []
    return [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]
