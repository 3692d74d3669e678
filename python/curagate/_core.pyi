"""Typed surface of the native module `curagate._core` (rust/curagate-py)."""

from collections.abc import Sequence
from typing import Any, Final, Literal

from typing_extensions import Buffer

HashScheme = Literal[
    "fast", "datasketch", "datasketch-affine32", "datasketch-legacy", "datasketch-affine64"
]

class CoreError(Exception): ...
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
def content_hash(
    text: str,
    *,
    nfkc: bool = True,
    lowercase: bool = True,
    strip_punctuation: bool = True,
    collapse_whitespace: bool = True,
) -> int:
    """128-bit XXH3 hash of the normalized text."""

def pii_candidates(texts: list[str], *, min_length: int = 24) -> list[bool]:
    """Per text: may it hold a PII/secret hit (a superset of audit.pii.scan)."""

def hash_column(
    offsets: Buffer,
    data: Buffer | None,
    offset: int,
    length: int,
    large: bool,
    *,
    nfkc: bool = True,
    lowercase: bool = True,
    strip_punctuation: bool = True,
    collapse_whitespace: bool = True,
) -> bytes:
    """Content hashes of an Arrow string column: 16 little-endian bytes per row."""

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
        max_miss: float = 0.02,
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
        self,
        offsets: Buffer,
        data: Buffer | None,
        offset: int,
        length: int,
        large: bool,
        priorities: Buffer,
        priorities_offset: int = 0,
    ) -> None:
        """Add keys given as the buffers of an Arrow (large_)string array, with
        one float64 survivor priority per key (higher wins; ties: earliest)."""

    def add_texts(
        self,
        texts: Sequence[str],
        priorities: Buffer | None = None,
        priorities_offset: int = 0,
    ) -> None:
        """Add keys given as Python ``str`` (their UTF-8 read in place, no Arrow copy);
        ``priorities`` as in :meth:`add`, all 0 when omitted. Same results as ``add``."""

    @property
    def words_per_value(self) -> int:
        """u32 words per signature value of the hash scheme (similarity estimates)."""

    def sketch(
        self, offsets: Buffer, data: Buffer | None, offset: int, length: int, large: bool
    ) -> dict[str, bytes]:
        """Sketch keys without adding them (the staged pipeline): ``hashes`` (16 LE
        bytes per record), ``empty`` (u8), ``data`` (u32), ``data_end`` (u64 per
        record, cumulative), ``keys`` (u64, ``bands`` per record)."""

    def finish(self) -> dict[str, Any]:
        """Cluster and choose survivors. Returns ``status`` (u8 per record:
        0 kept, 1 exact, 2 near), ``kept_index`` (u64), ``similarity`` (f32) as
        little-endian bytes, and ``stats`` (a dict of counters)."""

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

def dedup_replay_union(
    n_groups: int, pairs: list[Any], verdicts: list[Any]
) -> tuple[bytes, int, int, int]:
    """The streaming deduper's union-find replayed: (roots u32, candidates, verified, rejected)."""

# leakage

# (record, item, exact, ngram, minhash, shared_ngrams, ratio, similarity, span);
# span = (reference_start, reference_end, record_start, record_end, words), in characters.
LeakTuple = tuple[
    int, int, bool, bool, bool, int, float, float | None, tuple[int, int, int, int, int] | None
]

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
        self, offsets: Buffer, data: Buffer | None, offset: int, length: int, large: bool
    ) -> None:
        """Add reference items (ids continue across calls)."""

    def items(self) -> tuple[bytes, bytes, bytes]:
        """Per item (words, indexed n-grams, boilerplate n-grams) as little-endian u32 arrays."""

    def bands_rows(self) -> tuple[int, int]: ...
    def scan(
        self, offsets: Buffer, data: Buffer | None, offset: int, length: int, large: bool
    ) -> list[LeakTuple]:
        """Flagged (record, item) pairs of one batch, sorted by record then item."""

def leakage_index_to_bytes(index: ReferenceIndex) -> bytes:
    """The frozen index (frozen now if needed) as a versioned, checksummed blob."""

def leakage_index_from_bytes(data: bytes, *, threads: int | None = None) -> ReferenceIndex:
    """A frozen index from ``leakage_index_to_bytes``; damage raises IndexFormatError."""

# splits

class PairIndex:
    """Normalized records with their word-shingle sets, for `curagate split`:
    all-pairs exact-Jaccard near copies (prefix filtering) and word n-gram hashes."""

    def __init__(
        self,
        offsets: Buffer,
        data: Buffer | None,
        offset: int,
        length: int,
        large: bool,
        *,
        ngram: int = 5,
        threshold: float = 0.7,
    ) -> None: ...
    def __len__(self) -> int: ...
    def near_pairs(
        self, labels: list[int] | None = None, connect: bool = False
    ) -> tuple[list[tuple[int, int, float]], int]:
        """(pairs (a, b, jaccard) at or above the threshold, candidates verified);
        pairs with equal ``labels`` are skipped, and with ``connect`` pairs already linked."""

    def jaccard(self, a: int, b: int) -> float: ...
    def normalized(self, i: int) -> str: ...
    def ngram_hashes(self, n: int) -> tuple[bytes, bytes]:
        """Distinct word n-gram hashes per record: (u64 offsets, i64 hashes), little-endian."""

    def positional_ngrams(self, i: int, n: int) -> list[int]:
        """The hash of the n-gram starting at each word of record ``i``."""
