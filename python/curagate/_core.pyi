"""Typed surface of the native module `curagate._core` (rust/curagate-py)."""

import os
from collections.abc import Sequence
from typing import Any, Final, Literal, Protocol

from typing_extensions import Buffer

from curagate.errors import CuragateError

class ArrowArrayExportable(Protocol):
    """An Arrow array (pyarrow.Array, polars, nanoarrow): the PyCapsule interface."""

    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...

class ArrowStreamExportable(Protocol):
    """A chunked Arrow array (pyarrow.ChunkedArray): the PyCapsule stream interface."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

# A text column: string, large_string or string_view (nulls read as "").
ArrowText = ArrowArrayExportable | ArrowStreamExportable
# A float64 column (nulls read as -inf).
ArrowFloat64 = ArrowArrayExportable | ArrowStreamExportable
# A uint64 column (nulls read as 0).
ArrowUInt64 = ArrowArrayExportable | ArrowStreamExportable

HashScheme = Literal[
    "fast", "datasketch", "datasketch-affine32", "datasketch-legacy", "datasketch-affine64"
]

class CoreError(CuragateError):
    """Base of every user error raised by curagate._core (exit code 2)."""

class ParameterError(CoreError): ...
class SpillError(CoreError): ...
class InputDataError(CoreError): ...
class IndexFormatError(CoreError): ...

def normalize(
    text: str,
    *,
    nfkc: bool = True,
    lowercase: bool = True,
    strip_punctuation: bool = True,
    collapse_whitespace: bool = True,
) -> str: ...
def lookalikes_folded(text: str) -> str | None:
    """The text as the leakage scanner reads it: normalized (the defaults) with look-alike
    letters and accents folded (``capital`` with a Cyrillic a, U+0430, reads ``capital``);
    None where folding changes nothing in the normalized text."""

def content_hash(
    text: str,
    *,
    nfkc: bool = True,
    lowercase: bool = True,
    strip_punctuation: bool = True,
    collapse_whitespace: bool = True,
) -> int:
    """128-bit XXH3 hash of the normalized text."""

def file_digest(path: str | os.PathLike[str]) -> str:
    """XXH3-128 of every byte of the file, 32 hex digits (OSError: unreadable)."""

def pii_candidates(texts: list[str], *, min_length: int = 24) -> list[bool]:
    """Per text: may it hold a PII/secret hit (a superset of audit.pii.scan)."""

def pii_candidate_families(texts: ArrowText, *, min_length: int = 24) -> list[tuple[int, int]]:
    """(row, family bits) of the texts that may hold a hit, rows ascending (audit.pii.scan's
    ``families``)."""

def hash_column(
    texts: ArrowText,
    *,
    nfkc: bool = True,
    lowercase: bool = True,
    strip_punctuation: bool = True,
    collapse_whitespace: bool = True,
) -> bytes:
    """Content hashes of an Arrow string column: 16 little-endian bytes per row."""

def joiners_split(texts: ArrowText) -> tuple[bytes, bytes] | None:
    """Leakage's "joined words split" view of a text column: the little-endian i64 offsets
    and the data of a large_string array, "" where no two words are joined (nulls too);
    None when no row has any (curagate.leakage.texts._joined_split)."""

def shingles(
    text: str, *, ngram: int = 5, shingle: Literal["word", "char"] = "word"
) -> list[str]: ...
def minhash(
    shingles: list[bytes], *, num_perm: int = 128, seed: int = 1, hash: HashScheme = "fast"
) -> list[int]:
    """One value per permutation; the datasketch schemes match `datasketch.MinHash` bit for bit."""

def optimal_params(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) as datasketch's MinHashLSH chooses them."""

class Deduper:
    """Exact + MinHash-LSH near dedup over batches of keys (GIL released, rayon)."""

    bands_rows: Final[tuple[int, int]]

    def __init__(
        self,
        *,
        num_perm: int = 128,
        threshold: float = 0.7,
        ngram: int = 5,
        shingle: Literal["word", "char"] = "word",
        hash: HashScheme = "fast",
        seed: int = 1,
        bands: int | None = None,
        rows: int | None = None,
        banding: Literal["recall", "balanced"] = "recall",
        max_miss: float = 0.005,
        near: bool = True,
        verify: Literal["signature", "exact"] = "exact",
        memory_budget: int = 1 << 30,
        spill_dir: str | None = None,
        threads: int | None = None,
        nfkc: bool = True,
        lowercase: bool = True,
        strip_punctuation: bool = True,
        collapse_whitespace: bool = True,
    ) -> None: ...
    def __len__(self) -> int: ...
    def add(
        self, keys: ArrowText, priorities: ArrowFloat64, media: ArrowUInt64 | None = None
    ) -> None:
        """Add keys (an Arrow text column) with one float64 survivor priority
        per key (higher wins; ties: earliest; null: -inf), and optionally one uint64
        media identity per key (0 or null: none): records with other media are never
        exact or near copies."""

    def add_texts(self, texts: Sequence[str], priorities: ArrowFloat64 | None = None) -> None:
        """Add keys given as Python ``str`` (their UTF-8 read in place, no Arrow copy);
        ``priorities`` as in :meth:`add`, all 0 when omitted. Same results as ``add``."""

    @property
    def words_per_value(self) -> int:
        """u32 words per signature value of the hash scheme (similarity estimates)."""

    def sketch(self, keys: ArrowText, media: ArrowUInt64 | None = None) -> Sketch:
        """Sketch keys without adding them (the staged pipeline); ``media`` as in
        :meth:`add`."""

    def finish(self) -> DedupResult:
        """Cluster and choose survivors."""

class Sketch:
    """One batch sketched, as little-endian arrays."""

    @property
    def hashes(self) -> bytes:
        """16 bytes (u128) content hash per record."""
    @property
    def empty(self) -> bytes:
        """u8 per record: 1 where the key has no shingle."""
    @property
    def data(self) -> bytes:
        """u32 verification words of all records, concatenated."""
    @property
    def data_end(self) -> bytes:
        """u64 per record: end of its words in ``data`` (cumulative)."""
    @property
    def keys(self) -> bytes:
        """u64 band keys, ``bands`` per record."""

class DedupStats:
    """The counters of one dedup run."""

    @property
    def records(self) -> int: ...
    @property
    def distinct(self) -> int: ...
    @property
    def exact_removed(self) -> int: ...
    @property
    def near_removed(self) -> int: ...
    @property
    def near_clusters(self) -> int: ...
    @property
    def empty_keys(self) -> int: ...
    @property
    def candidate_pairs(self) -> int: ...
    @property
    def verified_pairs(self) -> int: ...
    @property
    def rejected_pairs(self) -> int: ...
    @property
    def bands(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def spilled_bytes(self) -> int: ...
    def as_dict(self) -> dict[str, int]:
        """The counters by name, for stats.json."""

class DedupResult:
    """Per record outcome of a finished dedup, as little-endian arrays."""

    @property
    def status(self) -> bytes:
        """u8 per record: 0 kept, 1 exact copy, 2 near copy."""
    @property
    def kept_index(self) -> bytes:
        """u64 per record: global index of its cluster's survivor."""
    @property
    def similarity(self) -> bytes:
        """f32 per record: similarity to the survivor."""
    @property
    def stats(self) -> DedupStats: ...

# staged near dedup (curagate.pipeline.stages); array arguments are anything with the
# buffer protocol of little-endian values (numpy arrays and memory maps included)

def dedup_candidate_pairs(keys: Any, groups: Any) -> bytes:
    """Candidate pairs of one band partition (u64 keys, u32 groups): interleaved u32, sorted."""

def dedup_verify_pairs(
    pairs: Any,
    group_shard: Any,
    group_local: Any,
    shard_offsets: list[Any],
    shard_data: list[Any],
    *,
    verify: Literal["signature", "exact"],
    words_per_value: int,
    threshold: float,
    similarity: bool = False,
    threads: int | None = None,
    relieve_maps: bool = False,
) -> bytes:
    """Verdict codes (u8: 0 rejected, 1 verified, 2 skipped: already joined within these
    pairs) or similarities (f32, ``similarity=True``) of pairs of groups. With
    ``relieve_maps``, the buffers among ``group_shard``, ``group_local``, ``shard_offsets``
    and ``shard_data`` that are shared file maps (``numpy.memmap``) have their pages dropped
    from the process every 512 pairs, so RSS does not grow; other buffers are left alone."""

def dedup_replay_union(n_groups: int, pairs: list[Any], verdicts: list[Any]) -> UnionReplay:
    """The streaming deduper's union-find replayed over every partition's verdicts."""

class UnionReplay:
    """The streaming deduper's union-find, replayed over the staged verdicts."""

    @property
    def roots(self) -> bytes:
        """u32 per group: the root (smallest group id) of its cluster."""
    @property
    def candidate_pairs(self) -> int: ...
    @property
    def verified_pairs(self) -> int: ...
    @property
    def rejected_pairs(self) -> int: ...

# leakage

class LeakSpan:
    """Where the longest shared run of words lies, in characters."""

    def __init__(
        self,
        reference_start: int,
        reference_end: int,
        record_start: int,
        record_end: int,
        words: int,
    ) -> None: ...
    @property
    def reference_start(self) -> int: ...
    @property
    def reference_end(self) -> int: ...
    @property
    def record_start(self) -> int: ...
    @property
    def record_end(self) -> int: ...
    @property
    def words(self) -> int:
        """Words in the run."""

class Leak:
    """One flagged (record, reference item) pair of a scan."""

    def __init__(
        self,
        record: int,
        item: int,
        *,
        exact: bool = False,
        ngram: bool = False,
        minhash: bool = False,
        shared_ngrams: int = 0,
        ratio: float = 0.0,
        similarity: float | None = None,
        span: LeakSpan | None = None,
    ) -> None: ...
    @property
    def record(self) -> int:
        """Row in the scanned batch."""
    @property
    def item(self) -> int:
        """Reference item id (order of ``add``)."""
    @property
    def exact(self) -> bool: ...
    @property
    def ngram(self) -> bool: ...
    @property
    def minhash(self) -> bool: ...
    @property
    def shared_ngrams(self) -> int: ...
    @property
    def ratio(self) -> float:
        """Shared n-grams over the item's indexed n-grams."""
    @property
    def similarity(self) -> float | None:
        """Similarity estimate (MinHash, paraphrase); None when not measured."""
    @property
    def span(self) -> LeakSpan | None: ...
    @property
    def methods(self) -> list[str]:
        """The lexical methods that flagged the pair: exact, ngram, minhash order."""

class ItemStats:
    """Per reference item, as little-endian u32 arrays."""

    @property
    def words(self) -> bytes:
        """Words after normalization."""
    @property
    def ngrams(self) -> bytes:
        """Distinct n-grams indexed."""
    @property
    def common_ngrams(self) -> bytes:
        """Boilerplate n-grams left out (shared by more than ``max_ngram_items`` items)."""
    @property
    def too_short(self) -> bytes:
        """1 where the item is shorter than ``ngram`` words (a Hangul syllable is a third
        of a word), else 0."""

class ReferenceIndex:
    """Leakage reference index (exact hash, word n-grams, MinHash LSH); frozen on first scan."""

    def __init__(
        self,
        *,
        ngram: int = 13,
        methods: list[str] = ...,
        min_shared_ngrams: int = 1,
        min_ratio: float = 0.0,
        max_ngram_items: int = 10,
        min_span_words: int = 8,
        min_span_ratio: float = 0.5,
        minhash_threshold: float = 0.8,
        num_perm: int = 128,
        shingle_words: int = 3,
        seed: int = 1,
        threads: int | None = None,
        nfkc: bool = True,
        lowercase: bool = True,
        strip_punctuation: bool = True,
    ) -> None: ...
    def add(
        self,
        texts: ArrowText,
        owners: Sequence[int] | None = None,
        sets: Sequence[int] | None = None,
    ) -> None:
        """Add reference items (ids continue across calls). ``owners``: one integer per
        text naming the golden item it belongs to (across calls); texts of one owner are
        one item for the ``max_ngram_items`` boilerplate limit. None: each text its own.
        ``sets``: one integer per text naming the set (a reference file) of its item; text
        in two items or more and a quarter of a set's items is its template. None: one set."""

    def items(self) -> ItemStats:
        """Words, indexed n-grams and boilerplate n-grams of every item."""

    def bands_rows(self) -> tuple[int, int]: ...
    def scan_with(self, other: ReferenceIndex, texts: ArrowText) -> tuple[list[Leak], list[Leak]]:
        """``scan`` of one batch against this index and ``other`` at once, each text
        tokenized once (both must normalize alike): (this index's pairs, ``other``'s)."""
    def scan(self, texts: ArrowText) -> list[Leak]:
        """Flagged (record, item) pairs of one batch, sorted by record then item."""

def leakage_index_to_bytes(index: ReferenceIndex) -> bytes:
    """The frozen index (frozen now if needed) as a versioned, checksummed blob."""

def leakage_index_from_bytes(data: bytes, *, threads: int | None = None) -> ReferenceIndex:
    """A frozen index from ``leakage_index_to_bytes``; damage raises IndexFormatError."""

# the CLI process
def exit_on_bus_error(message: str, code: int) -> None:
    """On SIGBUS (a mapped file truncated under the process), write ``message`` to
    stderr and exit with ``code`` instead of dying by the signal (process-wide)."""

# splits

class PairIndex:
    """Normalized records with their shingle sets (word or char n-grams), for `curagate
    split`: all-pairs exact-Jaccard near copies (prefix filtering) and word n-gram hashes."""

    def __init__(
        self,
        texts: ArrowText,
        *,
        ngram: int = 5,
        threshold: float = 0.7,
        shingle: str = "word",
        nfkc: bool = True,
        lowercase: bool = True,
        strip_punctuation: bool = True,
        collapse_whitespace: bool = True,
    ) -> None:
        """``nfkc`` .. ``collapse_whitespace``: curate's ``normalize:`` options; where a
        text so normalized reads otherwise than folded, a pair is a near copy when either
        reading's Jaccard reaches the threshold."""

    def __len__(self) -> int: ...
    def near_pairs(
        self,
        labels: list[int] | None = None,
        connect: bool = False,
        media: list[int] | None = None,
    ) -> tuple[list[tuple[int, int, float]], int]:
        """(pairs (a, b, jaccard) at or above the threshold, candidates verified);
        pairs with equal ``labels`` are skipped, with ``connect`` pairs already linked, and
        pairs of other ``media`` (one identity per record, 0: none)."""

    def jaccard(self, a: int, b: int) -> float: ...
    def normalized(self, i: int) -> str: ...
    def words(self, i: int) -> list[str]:
        """Record ``i``'s words as its n-grams count them (a character each in scripts
        written without spaces)."""

    def ngram_hashes(self, n: int) -> tuple[bytes, bytes]:
        """Distinct word n-gram hashes per record: (u64 offsets, i64 hashes), little-endian."""

    def positional_ngrams(self, i: int, n: int) -> list[int]:
        """The hash of the n-gram starting at each word of record ``i``."""

# The JSONL chunk reader (rust/curagate-py/src/jsonl.rs).

class NativeBuffer:
    """Bytes owned by the native module, exported through the buffer protocol."""

    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...

# validity (None: no nulls), offsets, data, null count
_ColumnBuffers = tuple[NativeBuffer | None, NativeBuffer, NativeBuffer, int]

class FlatColumns:
    """The records of a chunk that all have the simple shape (strings, numbers,
    booleans, or chat message lists of string fields) as Arrow columns, one set
    per block Arrow's JSON reader would read."""

    @property
    def names(self) -> list[str]: ...
    @property
    def kinds(self) -> list[list[str] | None]:
        """Per column: the message keys for a message-list column, else None."""

    @property
    def types(self) -> list[str]:
        """Per column: "string", "messages", "int64", "double" or "bool"."""

    @property
    def rows(self) -> int: ...
    @property
    def block_rows(self) -> list[int]:
        """Rows per block: the chunks of the table Arrow's JSON reader would return."""

    def column(self, block: int, index: int) -> _ColumnBuffers:
        """Buffers of an Arrow ``string`` array (i32 offsets)."""

    def messages(
        self, block: int, index: int
    ) -> tuple[NativeBuffer | None, NativeBuffer, int, list[_ColumnBuffers]]:
        """Buffers of a message-list column: the list's (validity, i32 offsets,
        null count) and the ``string`` buffers of each message key (a row per message)."""

    def values(self, block: int, index: int) -> tuple[NativeBuffer | None, NativeBuffer, int]:
        """Buffers of an Arrow ``int64``, ``double`` or ``bool`` array: (validity,
        values or bitmap, null count)."""

    def implicit_prompts(self, chosen: int, rejected: int) -> tuple[_ColumnBuffers, bytes]:
        """The implicit prompts of preference pairs, rendered as their dedup key (an
        Arrow ``large_string`` array), and the rows whose prompt is blank (uint64)."""

    def exact_values(self, index: int) -> _ColumnBuffers:
        """A number/boolean column as the strings Python's ``json`` makes of its
        values (integers exact at any size): an Arrow ``large_string`` array."""

    def join(self, indices: list[int], sep: str) -> _ColumnBuffers:
        """Columns joined row by row with ``sep`` over all blocks (a message list
        as "role: content" lines): an Arrow ``large_string`` array."""

def jsonl_chunk(
    chunk: Buffer, *, safe_depth: int, min_block_size: int | None = None
) -> tuple[bytes, bytes, int, bool, bool, FlatColumns | None]:
    """Layout of a chunk of whole JSONL lines: (int64 line starts + end, uint64 indices
    of the non-blank lines, longest line, UTF-8 ok, a line may nest deeper than
    ``safe_depth``, and with ``min_block_size`` the flat columns or None)."""

def jsonl_may_not_fit_double(data: Buffer) -> bool:
    """Whether a JSONL chunk may hold a number a double does not hold exactly (an integer
    of 16+ digits, a 200-digit run, a 3-digit exponent; digits in strings count too)."""

def jsonl_key_paths(data: Buffer) -> tuple[int, int, int]:
    """(distinct key paths, key occurrences, lines) of JSON Lines: ``a``, ``a.b``; array
    elements share their array's path; a string followed by ``:`` is a key."""

def jsonl_chunk_end(data: Buffer, start: int, batch_rows: int, max_bytes: int) -> int:
    """Where the JSONL chunk starting at ``start`` ends: after ``batch_rows`` lines, or
    before the first line end at or past ``start + max_bytes`` (one line at least)."""
