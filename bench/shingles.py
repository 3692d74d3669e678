"""The one normalization and shingling every peer and the ground truth use.

Mirrors curagate's Rust defaults (rust/curagate-core/src/text): NFKC, lowercase (a final sigma
as a plain sigma, a sharp s as ss), the zero-width space as a space, drop every character that is neither
alphanumeric nor whitespace, collapse whitespace; in scripts written without spaces every
character is a word; word n-grams joined by one space; a text shorter than n words is one
shingle, an empty text has none.
"""

from __future__ import annotations

import re
import unicodedata

NGRAM = 5
NUM_PERM = 128
THRESHOLD = 0.7

_PUNCT = re.compile(r"[^\w\s]|_")
# text::shingle::is_unspaced: scripts written without spaces between words.
_UNSPACED_RANGES = (
    (0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x1950, 0x19DF), (0x1A20, 0x1AAF),
    (0x1B00, 0x1B7F), (0x3005, 0x3007), (0x3040, 0x30FF), (0x3100, 0x312F), (0x31A0, 0x31BF),
    (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xA4CF), (0xA980, 0xA9FF),
    (0xAA60, 0xAA7F), (0xF900, 0xFAFF), (0xFF66, 0xFF9D), (0x17000, 0x18AFF), (0x20000, 0x3FFFF),
)  # fmt: skip
_UNSPACED = re.compile(
    "(["
    + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _UNSPACED_RANGES)
    + r"][\u0300-\u036f\uff9e\uff9f]*)"
)


def words(text: str) -> list[str]:
    if text.isascii():
        return _PUNCT.sub("", text.lower()).split()
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u03c2", "\u03c3").replace("\u00df", "ss").replace("\u200b", " ")
    return _UNSPACED.sub(r" \1 ", _PUNCT.sub("", text)).split()


def shingles(text: str, n: int = NGRAM) -> list[str]:
    ws = words(text)
    if len(ws) < n:
        return [" ".join(ws)] if ws else []
    return [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]
