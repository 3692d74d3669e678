"""Which records must not straddle splits: near copies and shared passages.

Both are found over the text curate deduplicates, normalized the same way
(NFKC, lowercase, punctuation stripped, whitespace collapsed) and folded as the
leakage scanner folds look-alike letters and accents, one record per normalized key: rows with equal keys always share a unit.

Near copies
    exact Jaccard of the word-``ngram`` shingle sets (curate's ``near.ngram``,
    5; character n-grams with its ``near.shingle: char``) at or above the
    threshold (curate's ``near.threshold``), of the folded texts or of the texts
    as curate's near dedup normalizes them (its ``normalize:`` options, nothing
    folded: folding can lower a Jaccard), for all pairs:
    the Rust core finds candidates by prefix filtering, which, unlike MinHash
    banding, misses no pair (``curagate_core::pairs``).
Shared passages
    word ``ngram``-grams (13) that two records share. An n-gram in more than
    ``max_items`` rows of the corpus (a prompt template, a licence line) or in
    a user-given template is boilerplate, not evidence. The bar counts distinct
    records (normalized keys), not rows: exact copies of one text are one record.
    A chat record's n-grams are its turns', none across a role label.
What ``curagate leakage`` finds
    the splits scanned by the leakage engine itself (val and test the reference,
    train the corpus): a short item quoted whole, an equal prompt (``leakage_hits``).
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curagate import _core
from curagate.errors import CheckFailed, ConfigError, CuragateError, InputError

SPAN_TEXT_WORDS = 60


class NearIndex:
    """Normalized records, their shingle sets and word n-grams (in the core)."""

    def __init__(
        self,
        texts: Sequence[str],
        *,
        ngram: int,
        threshold: float,
        shingle: str = "word",
        normalize: Mapping[str, bool] | None = None,
        media: Sequence[int] | None = None,
    ) -> None:
        """``normalize``: curate's ``normalize:`` options; a pair is also a near copy when
        the texts so normalized (nothing folded) are, as curate compares them. ``media``:
        each text's record's media identity (:func:`curagate.records.media_ids`; 0: none):
        texts of other media are never near copies, as in curate."""
        self.threshold = threshold
        self.media = None if media is None or not any(media) else list(media)
        self._core = _core.PairIndex(
            pa.array(list(texts), pa.large_string()),
            ngram=ngram,
            threshold=threshold,
            shingle=shingle,
            **(normalize or {}),
        )

    def __len__(self) -> int:
        return len(self._core)

    def pairs(
        self, labels: Sequence[int] | None = None, *, connect: bool = False
    ) -> tuple[list[tuple[int, int, float]], int]:
        """Every pair at or above the threshold, but not pairs with equal
        ``labels`` (same split) and, with ``connect``, not pairs already linked
        through earlier ones. Returns the pairs and the candidates verified."""
        return self._core.near_pairs(None if labels is None else list(labels), connect, self.media)

    def jaccard(self, a: int, b: int) -> float:
        return self._core.jaccard(a, b)

    def words(self, i: int) -> list[str]:
        """Record ``i``'s words as its n-grams count them (a character each in scripts
        written without spaces), so a span of word offsets names the words it covers."""
        return self._core.words(i)

    def positional_ngrams(self, i: int, n: int) -> list[int]:
        return self._core.positional_ngrams(i, n)

    def ngram_hashes(self, n: int) -> tuple[pa.Array, pa.Array]:
        """(record, hash) of every distinct word n-gram of every record."""
        raw_offsets, raw_hashes = self._core.ngram_hashes(n)
        offsets = pa.Array.from_buffers(
            pa.int64(), len(raw_offsets) // 8, [None, pa.py_buffer(raw_offsets)]
        )
        hashes = pa.Array.from_buffers(
            pa.int64(), len(raw_hashes) // 8, [None, pa.py_buffer(raw_hashes)]
        )
        lists = pa.LargeListArray.from_arrays(offsets, hashes)
        owners = pc.cast(pc.list_parent_indices(lists), pa.int32())
        return owners, hashes


@dataclass(slots=True)
class PassageIndex:
    """Groups of records that share evidence n-grams (boilerplate left out)."""

    ngram: int
    max_items: int
    # sorted record tuple -> number of distinct evidence n-grams they all share
    groups: dict[tuple[int, ...], int]
    # hashes of the n-grams left out: in more than max_items rows, or in a template
    boilerplate: set[int]
    boilerplate_ngrams: int  # distinct n-grams in 2+ records left out as boilerplate
    template_ngrams: int  # distinct n-grams of the given templates
    # A chat record's turns (role labels left out), indexed apart: its n-grams are
    # those of each turn, none across a turn boundary (see turn_texts).
    turns: NearIndex | None = None
    turns_of: dict[int, list[int]] = field(default_factory=dict)
    # distinct n-grams of no template in more than max_items records: the bar's alone
    over_bar_ngrams: int = 0
    # Records whose template text was taken out (passage_parts): their shared spans are
    # read off their parts (see shared_spans), whose n-grams may join the words on each side
    # of a fragment's place, which the record's own text does not hold together.
    stripped: frozenset[int] = frozenset()

    def within_turns(self, record: int) -> set[int] | None:
        """The n-grams of ``record``'s turns (a chat record), ``None`` for another."""
        if self.turns is None or record not in self.turns_of:
            return None
        return {
            h for t in self.turns_of[record] for h in self.turns.positional_ngrams(t, self.ngram)
        }

    @classmethod
    def build(
        cls,
        near: NearIndex,
        *,
        ngram: int,
        max_items: int,
        templates: NearIndex | None = None,
        turns: Sequence[Sequence[str] | None] | None = None,
    ) -> PassageIndex:
        """``templates``: an index over the literal template fragments; ``turns``: per
        record, a chat record's turns without their role labels (:func:`turn_texts`),
        whose n-grams replace the record's: an n-gram across a turn boundary (a shared
        system prompt's tail, the label ``user``, a common first word) was evidence, 16
        of 20 val/test conversations flagged that shared nothing else.

        An n-gram is boilerplate when more than ``max_items`` distinct records hold it:
        exact copies of one text are one record, not evidence of a template (rows were
        counted: an item present 11 times had every n-gram left out, and a record quoting
        it whole was never flagged)."""
        owners, hashes = near.ngram_hashes(ngram)
        turn_index: NearIndex | None = None
        turns_of: dict[int, list[int]] = {}
        if turns is not None and any(t is not None for t in turns):
            owners, hashes, turn_index, turns_of = _turn_ngrams(owners, hashes, turns, ngram)
        template_hashes: set[int] = set()
        if templates is not None:
            template_hashes = set(templates.ngram_hashes(ngram)[1].to_pylist())
        if len(hashes) == 0:
            return cls(
                ngram, max_items, {}, template_hashes, 0, len(template_hashes), turn_index, turns_of
            )
        grouped = (
            pa.table({"h": hashes, "d": owners})
            .group_by("h", use_threads=False)
            .aggregate([("d", "list")])
        )
        holders = pc.list_value_length(grouped["d_list"])
        grouped = grouped.filter(pc.greater_equal(holders, 2))
        keep = pc.less_equal(pc.list_value_length(grouped["d_list"]), max_items)
        if template_hashes:
            listed = pc.is_in(grouped["h"], value_set=pa.array(sorted(template_hashes), pa.int64()))
            keep = pc.and_(keep, pc.invert(listed))
        left_out = set(grouped.filter(pc.invert(keep))["h"].to_pylist())
        over_bar = len(left_out - template_hashes)
        evidence = grouped.filter(keep)
        # Many n-grams have the same owners (one source text under several
        # templates): count them per owner set in Arrow before Python sees them.
        names = pc.binary_join(pc.cast(evidence["d_list"], pa.list_(pa.string())), ",")
        per_set = (
            pa.table({"k": names}).group_by("k", use_threads=False).aggregate([("k", "count")])
        )
        groups: dict[tuple[int, ...], int] = {}
        for key, count in zip(
            per_set["k"].to_pylist(), per_set["k_count"].to_pylist(), strict=True
        ):
            members = tuple(sorted(int(v) for v in key.split(",")))
            groups[members] = groups.get(members, 0) + count
        return cls(
            ngram,
            max_items,
            dict(sorted(groups.items())),
            left_out | template_hashes,
            len(left_out),
            len(template_hashes),
            turn_index,
            turns_of,
            over_bar,
        )

    def pairs(self, keep: Callable[[int, int], bool]) -> Counter[tuple[int, int]]:
        """Evidence n-grams shared per pair (a < b) that ``keep`` accepts."""
        out: Counter[tuple[int, int]] = Counter()
        for members, count in self.groups.items():
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    if keep(a, b):
                        out[a, b] += count
        return out

    def links(self) -> Iterable[tuple[int, int]]:
        """Enough pairs to connect every group (consecutive members)."""
        for members in self.groups:
            yield from itertools.pairwise(members)


# The roles chat data names its turns with, in any case (found by re-attack: `developer`,
# ShareGPT's `human`/`gpt`, and `User`/`Assistant` kept the false leaks across turns).
_TURN = re.compile(
    r"(?im)^(?:system|developer|user|human|assistant|gpt|model|bot|tool|function|ipython):[ \t]?"
)


def turn_texts(key: str) -> list[str] | None:
    """A chat key's turns (``role: content`` lines, docs/formats.md) without their role
    labels; ``None`` for a key that is not a conversation."""
    if not _TURN.match(key):
        return None
    return [t for t in _TURN.split(key) if t.strip()]


def passage_parts(keys: Sequence[str], templates: Sequence[str] = ()) -> list[list[str] | None]:
    """Per key, the texts whose n-grams are its shared-passage n-grams, ``None`` for the key
    itself: a chat's turns without their role labels (:func:`turn_texts`), each with the
    ``templates`` (literal fragments) taken out as :func:`without_templates` takes them out
    for the leakage scan (a space in their place), so that no n-gram holds a word of template
    text. A template's n-grams were boilerplate only whole: a 13-gram of a template's last 12
    words and the first word of the text filled in after it ("... that follows in style
    nine" and "The") was evidence, and the records of one template, sharing nothing else,
    were leaks of each other (or, with --shared-passages join, one unit) though the
    templates were named (found by attack). The words on each side of a fragment's place
    are the record's own and make n-grams together, as in the leakage scan: cut there, a
    fragment that is a common word (``is`` of "{name} is {age} years old") cut a 30-word
    passage of no template into pieces under 13 words, and a test record sharing it with a
    train record passed (found by re-attack)."""
    turns = [turn_texts(k) for k in keys]
    patterns = template_patterns(templates)
    if not patterns:
        return turns
    parts = [[k] if t is None else t for k, t in zip(keys, turns, strict=True)]
    cut: pa.Array = pa.array([p for ps in parts for p in ps], pa.large_string())
    for pattern in patterns:
        cut = pc.replace_substring_regex(cut, pattern=pattern, replacement=" ")
    pieces = iter(cut.to_pylist())
    out: list[list[str] | None] = []
    for key, turn in zip(keys, turns, strict=True):
        texts = [next(pieces) for _ in ([key] if turn is None else turn)]
        if turn is None and texts == [key]:
            out.append(None)  # no template in it: its own n-grams
            continue
        out.append([text for text in texts if text.strip()])
    return out


def _turn_ngrams(
    owners: pa.Array, hashes: pa.Array, turns: Sequence[Sequence[str] | None], ngram: int
) -> tuple[pa.Array, pa.Array, NearIndex, dict[int, list[int]]]:
    """(record, hash) of every distinct n-gram, a chat record's taken turn by turn."""
    texts: list[str] = []
    owner_of: list[int] = []
    turns_of: dict[int, list[int]] = {}
    for record, parts in enumerate(turns):
        if parts is None:
            continue
        for part in parts:
            turns_of.setdefault(record, []).append(len(texts))
            texts.append(part)
            owner_of.append(record)
    index = NearIndex(texts, ngram=1, threshold=1.0)
    t_owners, t_hashes = index.ngram_hashes(ngram)
    chat = pa.array([t is not None for t in turns], pa.bool_()).take(owners)
    plain = pc.invert(chat)
    both = pa.table(
        {
            "h": pa.concat_arrays([hashes.filter(plain), t_hashes]),
            "d": pa.concat_arrays(
                [owners.filter(plain), pa.array(owner_of, pa.int32()).take(t_owners)]
            ),
        }
    )
    # A record's two turns may hold one n-gram: once per record, as ngram_hashes gives.
    distinct = both.group_by(["d", "h"], use_threads=False).aggregate([])
    return distinct["d"].combine_chunks(), distinct["h"].combine_chunks(), index, turns_of


def shared_spans(
    near: NearIndex,
    a: int,
    b: int,
    n: int,
    boilerplate: set[int],
    *,
    limit: int = 3,
    within: set[int] | None = None,
    passages: PassageIndex | None = None,
) -> tuple[int, list[dict[str, object]]]:
    """Evidence n-grams records ``a`` and ``b`` share, and ``a``'s longest
    shared spans (word offsets into ``a``'s normalized text, and the words);
    ``within``: the only n-grams that count (a chat record's, turn by turn).
    ``passages``: where a record's template text was taken out (``stripped``), its n-grams
    and words are its parts' (offsets into its words with the template text taken out):
    an n-gram joining the words on each side of a fragment's place is in no other text."""
    if passages is not None and b in passages.stripped:
        other = passages.within_turns(b) or set()
    else:
        other = set(near.positional_ngrams(b, n))
    if passages is not None and a in passages.stripped and passages.turns is not None:
        turns = passages.turns
        # A record that is template text and nothing else has no parts (none in turns_of):
        # no n-gram of its own. Its near copy across splits was exit 3, KeyError (found by
        # re-attack: --templates --no-join-near, a test row that is a named template alone).
        parts = passages.turns_of.get(a, [])
        grams: Sequence[int | None] = [h for t in parts for h in _padded_ngrams(turns, t, n)]
        words = [w for t in parts for w in turns.words(t)]
    else:
        grams = near.positional_ngrams(a, n)
        words = []
    hits = [
        i
        for i, h in enumerate(grams)
        if h in other and h not in boilerplate and (within is None or h in within)
    ]
    distinct = len({grams[i] for i in hits})
    spans: list[tuple[int, int]] = []
    for i in hits:
        if spans and i <= spans[-1][1] - n + 1:
            spans[-1] = (spans[-1][0], i + n)
        else:
            spans.append((i, i + n))
    spans.sort(key=lambda s: (s[0] - s[1], s[0]))
    if spans and not words:
        words = near.words(a)
    out: list[dict[str, object]] = []
    for start, end in spans[:limit]:
        text = words[start:end]
        if len(text) > SPAN_TEXT_WORDS:
            half = SPAN_TEXT_WORDS // 2
            text = [*text[:half], "…", *text[-half:]]
        out.append({"words": [start, end], "text": " ".join(text)})
    return distinct, out


def _padded_ngrams(index: NearIndex, t: int, n: int) -> list[int | None]:
    """Text ``t``'s positional n-grams, one a word (``None`` where none starts: its last
    ``n - 1`` words), so that positions across texts laid end to end are word offsets."""
    grams: list[int | None] = list(index.positional_ngrams(t, n))
    return grams + [None] * (len(index.words(t)) - len(grams))


@dataclass(frozen=True, slots=True)
class ScanRead:
    """How the leakage engine reads the splits it scans: as the run read its inputs."""

    format: str | None = None  # the run's record format (None: from the columns)
    text_field: str | None = None  # the run's text field
    inputs: str = "the input"  # the user's inputs, as error messages name them


@dataclass(frozen=True, slots=True)
class ReferenceHit:
    """A val/test row found inside a train row by ``curagate leakage``'s engine."""

    item_row: int  # the val/test row (the leaked item), a row of the split input
    record_row: int  # the train row that holds it
    methods: tuple[str, ...]  # exact, ngram, minhash
    ratio: float  # the share of the item's n-grams (or of its words, by span) found
    span: str | None  # the matched part of the train row, when the engine names one
    # It holds the item's own text, not template text alone (covers_item_text); None: not
    # asked (hits_with_templates asks).
    item_text: bool | None = None


def leakage_hits(
    table: pa.Table,
    split: Sequence[int],
    *,
    ngram: int,
    max_items: int,
    write: Callable[[pa.Table, Path], None],
    templates: Sequence[str] = (),
    read: ScanRead | None = None,
) -> list[ReferenceHit]:
    """What ``curagate leakage --reference val test --corpus train`` finds in these splits,
    and val and test in each other (``--reference val --corpus test``, and back):
    the rows of each split written as ``write`` writes them and scanned by the leakage
    engine itself (:func:`curagate.leakage.detect`, ``ngram`` and ``max_items`` as its
    ``--ngram`` and ``--max-ngram-items``), so that a short item quoted inside a train
    record (span, containment) and a prompt equal to a train record's (exact, whole
    prompt) are found as ``leakage`` finds them. ``templates``: the literal template
    fragments (``--templates``), taken out of the rows before the scan (see
    :func:`without_templates`). ``read``: how the rows were read (the run's ``format`` and
    ``text_field``), so that the engine reads each split, as corpus and as reference, as the
    run read its inputs, and names the user's inputs if it cannot. Sorted by (item row,
    record row)."""
    rows: list[list[int]] = [[], [], []]
    for r, s in enumerate(split):
        rows[s].append(r)
    parts = {name: rows[s] for s, name in enumerate(("train", "val", "test")) if rows[s]}
    hits = []
    table = without_templates(table, templates)
    if rows[0] and (rows[1] or rows[2]):
        hits += _scan(table, parts, ["val", "test"], "train", ngram, max_items, write, read)
    if rows[1] and rows[2]:
        # And val and test inside each other (found by re-attack: a val item quoted whole in
        # a test record, or one conversation in both, passed: only train was scanned).
        val_test = {"val": rows[1], "test": rows[2]}
        hits += _scan(table, val_test, ["val"], "test", ngram, max_items, write, read)
        hits += _scan(table, val_test, ["test"], "val", ngram, max_items, write, read)
    return sorted(hits, key=lambda h: (h.item_row, h.record_row))


def leakage_links(
    table: pa.Table,
    *,
    ngram: int,
    max_items: int,
    write: Callable[[pa.Table, Path], None],
    templates: Sequence[str] = (),
    read: ScanRead | None = None,
) -> list[tuple[int, int]]:
    """Row pairs (item, record) where the leakage engine finds one row inside another,
    every row both reference and corpus: joined before assignment (``--shared-passages
    join``), so that what :func:`leakage_hits` finds is not left for repair rounds;
    ``templates`` and ``read`` as there."""
    if table.num_rows < 2:
        return []
    table = without_templates(table, templates)
    everything = {"rows": list(range(table.num_rows))}
    hits = _scan(table, everything, ["rows"], "rows", ngram, max_items, write, read)
    return [(h.item_row, h.record_row) for h in hits if h.item_row != h.record_row]


# RE2 refuses a pattern over its memory bound ("pattern too large": 600 KB of templates).
_PATTERN_CHARS = 20_000


def template_patterns(templates: Sequence[str], *, python: bool = False) -> list[str]:
    """Regular expressions that together match every literal template fragment that holds a
    word, in any case and with any whitespace between its words, each under RE2's bound;
    a fragment that starts (ends) with a letter, digit or ``_`` of ASCII only where no such
    character comes before (after) it: a one-word fragment (``Review``) was taken out of the
    inside of other words (``Reviewer``; found by re-attack). (RE2's ``\\b`` is ASCII's:
    a fragment's edge in another script is not bounded, as it would never match.)
    ``python``: the same patterns for Python's :mod:`re` (its ``\\b`` is Unicode's)."""
    return list(_template_patterns(tuple(templates), python))


@functools.lru_cache(maxsize=64)
def _template_patterns(templates: tuple[str, ...], python: bool) -> tuple[str, ...]:
    """:func:`template_patterns`, made once per set of templates: covers_item_text asks for
    them for every string of every item found (twice per string), and making them again each
    time (every fragment's words escaped) was most of a run on 16K templated rows: 49,195
    calls, about 150 s of 196 under the profiler (found by re-attack)."""
    alternatives = []
    for fragment in templates:
        words = fragment.split()
        if any(any(c.isalnum() for c in w) for w in words):
            alternatives += _literal_parts(words, python=python)
    # Longest first: a fragment inside another must not leave the other's tail behind.
    alternatives.sort(key=len, reverse=True)
    groups: list[list[str]] = []
    size = 0
    for alt in dict.fromkeys(alternatives):
        if not groups or size + len(alt) > _PATTERN_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(alt)
        size += len(alt) + 1
    return tuple("(?i)(?:" + "|".join(group) + ")" for group in groups)


@functools.lru_cache(maxsize=64)
def _compiled_patterns(templates: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """:func:`template_patterns` for Python's :mod:`re`, compiled once per set of templates."""
    return tuple(re.compile(p) for p in _template_patterns(templates, True))


_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Whitespace between a fragment's words: what ``str.split`` parts them at (Python's ``\s``,
# str.isspace). RE2's ``\s`` is ASCII's (tab, newline, form feed, return, space): a template
# with no-break spaces (U+00A0) between its words, in the file and in the rows alike, stayed
# in the rows for the leakage scan and the shared passages while the check of the matched
# text (Python's ``re``) took it out; every row of it was a leak (found by re-attack).
_RE2_SPACE = r"[\s\p{Z}\x0b\x1c-\x1f\x{85}]+"


def _literal_parts(words: Sequence[str], *, python: bool = False) -> list[str]:
    """The pattern of one fragment (its words, any whitespace between them), cut at words
    into parts of at most ``_PATTERN_CHARS`` (a word longer than that into pieces), each
    bounded at an edge that is an ASCII word character (see :func:`template_patterns`): a
    single fragment over RE2's bound (a 700 KB few-shot prompt on one line) was exit 3,
    "pattern too large" (found by re-attack). Each part is template text of its own, taken
    out wherever it is; the whole fragment is taken out as before."""
    space = r"\s+" if python else _RE2_SPACE
    start = r"(?<![A-Za-z0-9_])" if python else r"\b"
    end = r"(?![A-Za-z0-9_])" if python else r"\b"
    # (escaped words, bounded before, bounded after)
    parts: list[tuple[list[str], bool, bool]] = [([], True, True)]
    size = 0
    for word in words:
        piece = re.escape(word)
        if len(piece) > _PATTERN_CHARS:
            step = _PATTERN_CHARS // 2  # an escaped character is at most 2 (\\ and itself)
            chunks = range(0, len(word), step)
            parts += [
                ([re.escape(word[k : k + step])], k == 0, k + step >= len(word)) for k in chunks
            ]
            parts.append(([], True, True))
            size = 0
            continue
        # (Counted as RE2's separator in both engines: the parts are the same words.)
        if parts[-1][0] and size + len(piece) + len(_RE2_SPACE) > _PATTERN_CHARS:
            parts.append(([], True, True))
            size = 0
        parts[-1][0].append(piece)
        size += len(piece) + len(_RE2_SPACE)
    out = []
    for pieces, before, after in parts:
        if not pieces:
            continue
        pattern = space.join(pieces)
        # The escaped text's first and last characters are the words' own when they are
        # word characters (re.escape leaves those as they are).
        if before and pattern[0] in _ASCII_WORD:
            pattern = start + pattern
        if after and pattern[-1] in _ASCII_WORD:
            pattern += end
        out.append(pattern)
    return out


def without_templates(table: pa.Table, templates: Sequence[str]) -> pa.Table:
    """``table`` with every literal template fragment (``--templates``) taken out of each
    string it holds (nested ones too: a chat's turns, a preference's answers), as the
    scan by the leakage engine must not take a shared template for a leak: ``--templates``
    made the template's n-grams boilerplate to split's shared-passage check only, and the
    engine flagged two records that shared nothing but a template the user named (found by
    review). The filled-in values stay, so a value copied under the template is found."""
    patterns = template_patterns(templates)
    if not patterns:
        return table
    columns = list(table.columns)
    for pattern in patterns:
        columns = [_stripped(column, pattern) for column in columns]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _stripped(array: pa.Array | pa.ChunkedArray, pattern: str) -> pa.Array | pa.ChunkedArray:
    """``array`` with ``pattern`` replaced by a space in every string leaf."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([_stripped(c, pattern) for c in array.chunks], type=array.type)
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.replace_substring_regex(array, pattern=pattern, replacement=" ")
    if pa.types.is_struct(t):
        fields = [_stripped(array.field(i), pattern) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(
            fields, fields=list(t), mask=array.is_null() if array.null_count else None
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        mask = array.is_null() if array.null_count else None
        # .offsets are the slice's, into the whole .values
        return cls.from_arrays(array.offsets, _stripped(array.values, pattern), type=t, mask=mask)
    return array


def _words(text: str) -> list[str]:
    """``text``'s words as the checks below compare them, read as the leakage engine reads
    them: NFKC, case folded, punctuation and whitespace ignored, look-alike letters and
    accents folded (``_core.lookalikes_folded``: ``capital`` with a Cyrillic a, U+0430,
    ``cápitál`` and ``ca\u0301pital`` are ``capital``). NFKC and case folding alone kept a
    quote with look-alike or accented letters apart from its item, which the engine found
    without --templates and split dropped with them (found by re-attack)."""
    tokens = _word_pattern().findall(unicodedata.normalize("NFKC", text).casefold())
    if not tokens:
        return []
    # One call for the text: the tokens hold no punctuation, so normalizing (which drops
    # it) joins no two of them.
    joined = " ".join(tokens)
    return (_core.lookalikes_folded(joined) or _core.normalize(joined)).split()


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """A word: word characters with the marks (combining accents, an Indic virama or vowel
    sign) and invisible format characters written inside words (a soft hyphen, a joiner),
    which the engine's normalizing drops from the word; a zero-width space, which it reads
    as a space, parts words."""
    inside = [
        i
        for i in range(sys.maxunicode + 1)
        if unicodedata.category(chr(i)) in ("Mn", "Mc", "Me", "Cf") and i != 0x200B
    ]
    ranges: list[list[int]] = []
    for i in inside:
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    spans = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[\\w{spans}]+")


def _holds(words: Sequence[str], part: Sequence[str]) -> bool:
    """Whether ``part`` occurs in ``words`` as a contiguous run."""
    n = len(part)
    return any(list(words[i : i + n]) == list(part) for i in range(len(words) - n + 1))


def _template_segments(text: str, templates: Sequence[str]) -> list[tuple[bool, str]]:
    """``text`` cut at the template fragments that match in it (as :func:`without_templates`
    takes them out), in order: (whether it is the text's own, the segment)."""
    segments: list[tuple[bool, str]] = [(True, text)]
    for compiled in _compiled_patterns(tuple(templates)):
        cut: list[tuple[bool, str]] = []
        for own, segment in segments:
            if not own:
                cut.append((own, segment))
                continue
            at = 0
            for m in compiled.finditer(segment):
                cut += [(True, segment[at : m.start()]), (False, m.group(0))]
                at = m.end()
            cut.append((True, segment[at:]))
        segments = cut
    return segments


def own_pieces(text: str, templates: Sequence[str]) -> list[list[str]]:
    """The words of ``text`` that are not template text: the pieces between the template
    fragments that match in it (as :func:`without_templates` takes them out), and between
    a chat's role labels, each a list of words; empty pieces left out."""
    out = []
    for piece in (segment for own, segment in _template_segments(text, templates) if own):
        for part in turn_texts(piece) or [piece]:
            words = _words(part)
            if words:
                out.append(words)
    return out


# The keys of a chat turn (or of a content part) that name its structure, not text a model
# reads: ``{"role": "user", "content": ...}``, ShareGPT's ``{"from": "human", "value": ...}``,
# ``{"type": "text", "text": ...}``.
_STRUCTURAL_KEYS = frozenset({"role", "from", "type"})


def _strings(value: object, *, nested: bool = False) -> Iterable[str]:
    """The strings of an item row (``value``), its chat turns' role names and other
    structural values (:data:`_STRUCTURAL_KEYS` of a dict nested in a list) left out."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if nested and k in _STRUCTURAL_KEYS and isinstance(v, str):
                continue
            yield from _strings(v, nested=nested)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v, nested=True)


@functools.lru_cache(maxsize=64)
def _template_words(templates: tuple[str, ...]) -> frozenset[str]:
    """Every word of the template fragments, read as :func:`_words` reads them."""
    return frozenset(w for fragment in templates for w in _words(fragment))


def _pieces_in_context(text: str, templates: Sequence[str]) -> list[list[str]]:
    """Each piece of ``text`` between the template fragments that match in it, with the
    last word of the template text before it and the first after it (where there is some):
    where the piece sits in ``text``, not where its words occur elsewhere. No piece for a text
    that holds no template fragment."""
    words = [(own, _words(segment)) for own, segment in _template_segments(text, templates)]
    if all(own for own, _ in words):
        return []
    out = []
    for k, (own, piece) in enumerate(words):
        if not own or not piece:
            continue
        before = next((w[-1:] for o, w in reversed(words[:k]) if not o and w), [])
        after = next((w[:1] for o, w in words[k + 1 :] if not o and w), [])
        out.append([*before, *piece, *after])
    return out


def covers_item_text(
    hit: ReferenceHit,
    item: Mapping[str, object],
    templates: Sequence[str] = (),
    *,
    memo: dict[str, tuple[list[list[str]], bool]] | None = None,
) -> bool:
    """Whether ``hit`` holds its item's own text, not template text alone: one string of the
    item row (``item``; the id, and a chat turn's role and other structural values, left
    out) has a word outside the templates, one no template fragment holds, and the engine
    found the item whole (``exact``) or all the string's words, each piece between template
    fragments word for word, lie inside the part of the record it matched (``span``); or,
    for a string whose words are all template words, that part holds one of its pieces with
    the word of the string's template text on each side (:func:`_pieces_in_context`). Such a hit is a copy of the item: naming templates does not explain
    it away. A hit whose matched part is template text alone (:func:`_holds_own_text`) is
    none, whatever else the item row holds.

    Found by re-attack: a chat row's role names (``system``, ``user``) and a short answer
    whose words are template words (``positive`` of "Is this review positive or
    negative?") lay inside every span that matched the template, so every pair sharing a
    template was kept as a copy and --templates cleared nothing.

    ``memo``: each item string's pieces, kept across the hits of one set of templates (an
    item found in many records is read once)."""
    if hit.span is not None and not _holds_own_text(hit.span, templates):
        # The part of the record the engine matched is template text alone (and a chat's role
        # labels): whatever else the item row holds, it was not found. An exact find of a
        # preference row's prompt that is a named template, its answers the row's own words,
        # was a copy: every pair of rows sharing that prompt across splits was a leak, and
        # --shared-passages join put them all in one unit (found by attack).
        return False
    matched = _words(hit.span or "")
    template_words = _template_words(tuple(templates))
    for name, value in item.items():
        if name == "id":
            continue
        for text in _strings(value):
            known = None if memo is None else memo.get(text)
            if known is None:
                pieces = own_pieces(text, templates)
                own = any(w not in template_words for piece in pieces for w in piece)
                known = (pieces, own)
                if memo is not None:
                    memo[text] = known
            pieces, own = known
            if not own:
                # Every word a template word: still a copy where the match holds a piece
                # between the string's own template text with that text's word on each
                # side (a test item of a template and the 4-word review "the movie is good",
                # its words all in the template, quoted whole in train passed, found by
                # re-attack); a string with no template text in it (a short answer,
                # "positive") is no evidence.
                if any(_holds(matched, c) for c in _pieces_in_context(text, templates)):
                    return True
                continue
            if "exact" in hit.methods or all(_holds(matched, p) for p in pieces):
                return True
    return False


def _holds_own_text(span: str, templates: Sequence[str]) -> bool:
    """Whether ``span`` has a word outside the template fragments that match in it (as
    :func:`without_templates` takes them out) and outside a chat's role labels."""
    for own, segment in _template_segments(span, templates):
        if not own:
            continue
        turns = turn_texts(segment.strip())
        if any(_words(part) for part in ([segment] if turns is None else turns)):
            return True
    return False


def hits_with_templates(
    scan: Callable[[Sequence[str]], list[ReferenceHit]],
    table: pa.Table,
    templates: Sequence[str],
) -> list[ReferenceHit]:
    """What the leakage engine finds (``scan``: :func:`leakage_hits` of the rows with the
    given templates taken out) when templates are named: the finds of the rows with the
    templates taken out, and those of the rows as they are that hold an item's own text
    (:func:`covers_item_text`). Stripping alone hid copies: a test prompt (a template and a
    6-word review) quoted whole in a train answer was 6 words once stripped, under every
    rule of the engine, and split passed while `curagate leakage` found it (found by
    re-attack). Templates stop template text from being evidence, not a copied item."""
    from curagate.io.readers import row_as_python

    items: dict[int, dict[str, object]] = {}
    memo: dict[str, tuple[list[list[str]], bool]] = {}  # of these templates (covers_item_text)

    def asked(h: ReferenceHit) -> ReferenceHit:
        if h.item_row not in items:
            # row_as_python, not to_pylist: a date, timestamp or duration Python cannot hold
            # (year 10000, a duration of 2**62 ns, nested ones too) in any column of the item
            # row raised OverflowError, exit 3, once the scan found anything (found by
            # re-attack).
            items[h.item_row] = row_as_python(table.slice(h.item_row, 1))
        return replace(h, item_text=covers_item_text(h, items[h.item_row], templates, memo=memo))

    if not template_patterns(templates):
        return [asked(h) for h in scan(templates)]
    from curagate.leakage import EmptyReferenceError

    try:
        hits = [asked(h) for h in scan(templates)]
    except EmptyReferenceError:
        # The val/test rows of a scan are template text and nothing else once it is taken
        # out: they hold nothing to leak, and a split that holds nothing else holds nothing
        # of them (the later scans only take such rows as reference or corpus). It was exit
        # 2, an error naming temporary files and advising golden-set options (found by
        # re-attack). The rows as they are are still scanned below.
        hits = []
    found = {(h.item_row, h.record_row) for h in hits}
    for h in scan(()):
        if (h.item_row, h.record_row) not in found and (h := asked(h)).item_text:
            hits.append(h)
    return sorted(hits, key=lambda h: (h.item_row, h.record_row))


def _scan(
    table: pa.Table,
    parts: Mapping[str, list[int]],
    reference: Sequence[str],
    corpus: str,
    ngram: int,
    max_items: int,
    write: Callable[[pa.Table, Path], None],
    read: ScanRead | None = None,
) -> list[ReferenceHit]:
    """``parts`` (name -> rows of ``table``) written as Parquet files and scanned by
    :func:`curagate.leakage.detect`, the ``reference`` parts against ``corpus``, both read
    as ``read`` says (the engine re-detected the format from the columns: a run with
    ``--text-field question`` or ``--format prompt_only`` failed, exit 2, naming a temporary
    file). An error of the scan names the splits and the user's inputs, never the
    temporary files."""
    import tempfile

    from curagate.leakage import detect

    read = read or ScanRead()
    scanned = [n for n in (*reference, corpus) if n in parts]
    with tempfile.TemporaryDirectory(prefix="curagate-split-check-") as tmp:
        paths: dict[str, list[int]] = {}
        named: dict[str, str] = {}
        try:
            for name, part_rows in parts.items():
                path = Path(tmp) / f"{name}.parquet"
                write(table.take(pa.array(part_rows, pa.int64())), path)
                paths[path.as_posix()] = part_rows
                named[name] = path.as_posix()
            result = detect(
                [named[n] for n in reference if n in named],
                [named[corpus]],
                ngram=ngram,
                max_ngram_items=max_items,
                reference_format=_reference_format(table, read),
                reference_text_field=read.text_field,
                # Every other text a model reads of a reference row (a `context` beside the
                # `question` read by --text-field) is an item too, as without a text field.
                reference_item_fields=True,
                format=read.format,
                text_field=read.text_field,
                # The whole matched text: covers_item_text reads what it holds besides
                # template text, and a span shortened in the middle (over 300 characters)
                # lost a review between two long template fragments: a test prompt quoted
                # whole in a train record passed, and a long template prompt found exact
                # was the item's own text (partial fragments at the cut; found by re-attack).
                whole_spans=True,
            )
        except CuragateError as e:
            raise _scan_error(e, tmp, named, scanned, read.inputs) from None
        except OSError as e:
            if e.filename is None or not str(e.filename).startswith(tmp):
                raise
            # A full disk (or an unwritable TMPDIR) where the splits are written to be scanned.
            raise InputError(
                f"split's leakage scan of the {_names(scanned)} of {read.inputs} could not "
                f"write the rows to a temporary folder ({e.strerror}); free space there or "
                "set TMPDIR to a folder with room"
            ) from None
    hits: dict[tuple[int, int], ReferenceHit] = {}
    for leak in result.leaks:
        item_row = paths[leak.item.file][leak.item.row]
        for match in leak.matches:
            pair = (item_row, paths[match.file][match.row])
            hit = ReferenceHit(
                *pair,
                match.methods,
                match.ratio,
                None if match.span is None else match.span.text,
            )
            # An item found by its prompt and by its answer: the stronger match, once.
            if pair not in hits or (hit.ratio, hit.methods) > (
                hits[pair].ratio,
                hits[pair].methods,
            ):
                hits[pair] = hit
    return [hits[p] for p in sorted(hits)]


def _reference_format(table: pa.Table, read: ScanRead) -> str | None:
    """The format the engine reads the reference side in: the run's, unless the columns
    give that format anyway (then none, so that the engine looks for every other text a
    model reads of each row as well, as it does for a run without ``--format``: read in a
    named format, a `context` beside the messages of `--format chat` was no item)."""
    if read.format is None:
        return None
    from curagate.records import detect_format, parse_format

    bools = [f.name for f in table.schema if pa.types.is_boolean(f.type)]
    try:
        found = detect_format(table.column_names, text_field=read.text_field, bool_columns=bools)
    except CuragateError:
        return read.format
    return None if found == parse_format(read.format) else read.format


def _names(splits: Sequence[str]) -> str:
    """``["val", "train"]`` as ``val and train splits``; the rows of :func:`leakage_links`
    (every row both reference and corpus) as ``records``."""
    if list(splits) == ["rows"] or not splits:
        return "records"
    shown = list(dict.fromkeys(splits))
    words = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return f"{words} split{'s' if len(shown) > 1 else ''}"


def _scan_error(
    error: CuragateError, tmp: str, named: Mapping[str, str], scanned: Sequence[str], inputs: str
) -> CuragateError:
    """``error`` of the engine's scan, its temporary files named by split, and said to be
    the scan's of ``inputs``; of the same class and exit code."""
    text = str(error)
    for name, path in named.items():
        shown = "the records" if name == "rows" else f"the {name} split"
        text = text.replace(path, shown)
        text = text.replace(Path(path).resolve().as_posix(), shown)
    for folder in (tmp, Path(tmp).resolve().as_posix()):
        text = text.replace(folder, "a temporary folder")
    from curagate.leakage import EmptyReferenceError

    # (EmptyReferenceError kept: hits_with_templates reads it as "only template text".)
    kinds = (InputError, ConfigError, CheckFailed, CuragateError, EmptyReferenceError)
    cls = type(error) if type(error) in kinds else CuragateError
    out = cls(f"split's leakage scan of the {_names(scanned)} of {inputs} failed: {text}")
    out.exit_code = error.exit_code
    out.one_per_line = error.one_per_line
    return out
