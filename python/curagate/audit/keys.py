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
from typing import TYPE_CHECKING

from curagate._lazy import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_import("pyarrow")


_PUNCT = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    """The Rust core's default normalization (without the extension, and for tests)."""
    if text.isascii():
        return " ".join(_PUNCT.sub("", text.lower()).split())
    text = unicodedata.normalize("NFKC", text).lower().replace("\u200b", " ")  # zero-width space
    text = text.replace("\u03c2", "\u03c3").replace("\u00df", "ss")  # final sigma, sharp s
    return " ".join(_PUNCT.sub("", text).split())


def _python(keys: pa.Array) -> list[bytes]:
    out = []
    for k in keys.to_pylist():
        norm = normalize(k or "")
        # As the core: a key that normalizes to nothing (emoji, punctuation) is identified by
        # its raw text, so different ones are not duplicates of each other.
        out.append(
            hashlib.blake2b(norm.encode("utf-8"), digest_size=16).digest()
            if norm
            else hashlib.blake2b((k or "").encode("utf-8"), digest_size=16, person=b"raw").digest()
        )
    return out


def fingerprints(keys: pa.Array, media: pa.Array | None = None) -> list[bytes]:
    """16 bytes per key; equal iff the normalized keys are equal (keys that normalize to
    nothing: iff the raw keys are equal) and so are the rows' media (``media``: the
    batch's :attr:`~curagate.records.Batch.media`; rows with other media are never
    duplicates, as in curate)."""
    raw = _with_media(fingerprint_bytes(keys), media)
    return [raw[i : i + 16] for i in range(0, len(raw), 16)]


def fingerprint_array(keys: pa.Array, media: pa.Array | None = None) -> pa.FixedSizeBinaryArray:
    """:func:`fingerprints` as one Arrow column (no Python object per row)."""
    raw = _with_media(fingerprint_bytes(keys), media)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(keys), [None, pa.py_buffer(raw)])


def _with_media(raw: bytes, media: pa.Array | None) -> bytes:
    """Each row's fingerprint with its media identity in it (0: no media, unchanged)."""
    if media is None:
        return raw
    out = bytearray(raw)
    for i, m in enumerate(media.to_pylist()):
        if m:
            at = slice(16 * i, 16 * i + 16)
            out[at] = hashlib.blake2b(
                raw[at] + m.to_bytes(8, "little"), digest_size=16, person=b"curagate-media"
            ).digest()
    return bytes(out)


def row_keys(
    seed: int, lines: pa.Array, keys: pa.Array, media: pa.Array | None = None
) -> pa.FixedSizeBinaryArray:
    """A seeded 16-byte hash of each row's line (or row) number in its file and dedup key.

    For the audit's sample: a pure function of the seed, the row's number within its
    file and its raw (never normalized) dedup key, never of the file's path, so the
    same rows give the same keys however the input's path is spelled and however the
    files are sharded. The line number gives every row its own hash: with the key
    alone, rows with equal keys tied and entered the sample all together or not at
    all (a corpus 91% one row showed none of it, or only it). Rows that still tie
    (the same key at the same line of two files) are broken by input order.
    """
    import pyarrow.compute as pc

    prefix = pa.scalar(f"{seed}\x1f", pa.large_string())
    sep = pa.scalar("\x1f", pa.large_string())
    empty = pa.scalar("", pa.large_string())
    texts = pc.binary_join_element_wise(
        prefix, pc.cast(lines, pa.large_string()), sep, keys.cast(pa.large_string()), empty
    )
    # A row's media too (rows without media keep their hash): keys hold no media, and rows
    # of one caption about many images at one line of several shards tied again (found by
    # re-attack: a 50-row sample covered 13 line positions of 4 shards).
    raw = _with_media(fingerprint_bytes(texts, normalized=False), media)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(keys), [None, pa.py_buffer(raw)])


def fingerprint_bytes(keys: pa.Array, *, normalized: bool = True) -> bytes:
    """16 bytes per key, concatenated (see :func:`fingerprints`)."""
    try:
        from curagate._core import hash_column
    except ImportError:
        if normalized:
            return b"".join(_python(keys))
        return b"".join(
            hashlib.blake2b((k or "").encode("utf-8"), digest_size=16).digest()
            for k in keys.to_pylist()
        )
    if keys.type not in (pa.string(), pa.large_string(), pa.string_view()):
        keys = keys.cast(pa.large_string())
    return hash_column(
        keys,
        nfkc=normalized,
        lowercase=normalized,
        strip_punctuation=normalized,
        collapse_whitespace=normalized,
    )
