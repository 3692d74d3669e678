"""Leakage (contamination) detection: which reference items hide in a corpus.

A reference set (golden sets, val/test splits, any records) is indexed once
by the Rust core; corpus shards then stream through it batch by batch, so
memory is the index plus one batch. Three methods, each switchable:

``exact``
    the whole normalized record equals a normalized reference item.
``ngram``
    the record shares a word n-gram (default 13, as GPT-3 and
    lm-evaluation-harness) with an item. By default any shared 13-gram
    flags; ``min_shared_ngrams`` and ``min_ratio`` (shared distinct n-grams
    over the item's distinct n-grams) raise the bar. N-grams found in more
    than ``max_ngram_items`` reference items, or in two or more that are a
    quarter of a file's items (a prompt template shared by a golden set, however
    small), are boilerplate, not evidence, and are not indexed; the share's
    template stays the evidence of an item whose own words without it are too
    few to find it (near copies: two items that differ in one word).
    The same method also flags a record holding a contiguous run of at least
    ``min_span_words`` (8) of an item's words covering at least
    ``min_span_ratio`` (0.5) of the item: short items and short truncations
    have no 13-gram, while a stock phrase shared with a long item covers too
    little of it.
``minhash``
    MinHash near match of the whole record and the whole item (3-word
    shingles, estimated Jaccard >= ``minhash_threshold``, default 0.8).

Inside runs of scripts written without spaces (Han, kana, Thai, Lao, Khmer,
Myanmar) each character is a token: there an n-gram is n characters. A Han
character is a word; a kana, a Hangul syllable and a Thai, Lao, Khmer or
Myanmar character a third of one (runs are measured in words).
Quarantined corpus rows (failed format validation) are scanned by every
string they hold; rows that cannot be parsed are reported as unreadable.
Quarantined reference rows are indexed by the key their fields give (else
every string they hold but their id); reference rows that cannot be parsed
are reported as unreadable (:meth:`LeakageIndex.refuse_unreadable`).

A reference row's answer fields that its key does not hold (:data:`ANSWER_FIELDS`: a
golden set's ``reference``, GSM8K's ``answer``) are items of their own, after every prompt
in :attr:`LeakageIndex.items` (``part="answer"``), matched by n-grams only.

Items shorter than ``ngram`` words have no n-gram: the span criterion, exact
and MinHash still match them, and they are listed as ``too_short_for_ngram`` in
the result. An item of a few words behind a short instruction (``Solve: 17 * 23``)
is also found whole, from a line's start to its end or a short answer (``ngram``).
Text compared is each record's key (see :mod:`curagate.records`) and,
separately, every other string of the record (:mod:`curagate.leakage.texts`;
spans then point into those strings joined by newlines), normalized (NFKC, lowercase, punctuation
stripped, whitespace collapsed); spans are character offsets into the
texts before normalization.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate import _core
from curagate._lazy import lazy_import
from curagate.errors import ConfigError, CuragateError, InputError, text_field_unused
from curagate.io import expand_inputs, read_batches
from curagate.io.readers import (
    JSON_SUFFIXES,
    LfsPointer,
    json_as_jsonl,
    reference_inputs,
)
from curagate.leakage.texts import (
    RowTexts,
    calculator_marks_removed,
    conversations_of,
    invisible,
    markup_readings,
    row_texts,
    strings_of,
)
from curagate.limits import MAX_THREADS
from curagate.records import (
    DEFAULT_TEXT_FIELD,
    TEXT_FIELD_WHERE,
    TEXT_FORMAT_WHERE,
    Batch,
    Quarantined,
    RecordFormat,
    every_value,
    extract_prompt,
    key_columns,
    render_value,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

    from curagate.io.atomic import Claim
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")

METHODS = ("exact", "ngram", "minhash")
# Files in a reference folder that are not items: a golden set's human labels
# (curagate.golden.HUMAN_LABELS, not imported here: curagate.golden imports the gate).
NOT_ITEMS = frozenset({"human_labels.jsonl"})
# 2: quarantined rows scanned, unreadable rows listed; 3: span settings;
# 4: reference.quarantined, reference.unreadable(_rows); 5: the rows' answers indexed
# (reference.answers, an item's part, config.answers); 6: a multiple-choice golden item's
# views (parts "prompt with options", "user turn"); 7: a `text` column beside the field a
# reference item is read by (part "text"); 8: every other text a model reads of a reference
# row (parts "question", "context", ..., "prompt field", "messages": _add_field_views)
SCHEMA_VERSION = 8
PICKLE_VERSION = 4  # of LeakageIndex.__getstate__ (the core blob carries its own); 2: splits,
# 3: answers split too (after the answers: _index_answers); 4: each item's media identity
# A reference item's text with a space for each zero-width non-joiner, indexed beside it
# (LeakageIndex._add_joiner_views); a hit on it is the item's, so no report names the part.
JOINERS_SPLIT = "joiners split"
ZWNJ = "\u200c"
# What Persian writes for a half-space inside a word: the zero-width non-joiner, and where a
# keyboard types them instead, the zero-width joiner and the soft hyphen (_joiners_split).
HALF_SPACES = re.compile("[\u200c\u200d\u00ad]")
# A reference item's text with its markup decoded (each reading of markup_readings),
# indexed beside it (LeakageIndex._add_markup_views); a hit on it is the item's.
MARKUP_DECODED = "markup decoded"
MAX_UNREADABLE_LISTED = 100  # leakage.json lists this many unreadable rows; counts all
MAX_SET_ASIDE_LISTED = 10  # leakage.json lists this many finds the media rule set aside

__all__ = [
    "METHODS",
    "LeakageIndex",
    "LeakageResult",
    "Match",
    "ReferenceItem",
    "ReferenceLeak",
    "RowLeaks",
    "RowTexts",
    "Span",
    "TextLeak",
    "detect",
    "quarantined_texts",
    "row_texts",
]


class EmptyReferenceError(InputError):
    """A reference set without one valid record (callers name their own option)."""


@dataclass(frozen=True, slots=True)
class ReferenceItem:
    index: int  # position in the reference set, 0-based
    file: str
    row: int
    id: str
    text: str  # the key that was indexed
    words: int  # normalized words (0: empty after normalization, matched byte for byte)
    ngrams: int  # distinct indexed n-grams: the denominator of `ratio`
    common_ngrams: int  # n-grams left out as boilerplate of the reference set
    too_short_for_ngram: bool
    part: str = "prompt"  # "answer": the row's answer fields (see ANSWER_FIELDS)

    def named(self) -> str:
        """The item as messages name it: its own id, or ``file row N`` (a default id is
        ``file:row``, 0-based: alone it read as a line number); `` (answer)`` after an
        answer's."""
        name = self.id if self.id != f"{self.file}:{self.row}" else f"{self.file} row {self.row}"
        return name if self.part == "prompt" else f"{name} ({self.part})"

    @property
    def shown_id(self) -> str:
        """The id, with `` (answer)`` after an answer's."""
        return self.id if self.part == "prompt" else f"{self.id} ({self.part})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "file": self.file,
            "row": self.row,
            "id": self.id,
            "words": self.words,
            "ngrams": self.ngrams,
            "common_ngrams": self.common_ngrams,
            "too_short_for_ngram": self.too_short_for_ngram,
            "part": self.part,
        }


@dataclass(frozen=True, slots=True)
class Span:
    """Longest matched span, in characters of the original (unnormalized) keys."""

    reference_start: int
    reference_end: int
    record_start: int
    record_end: int
    words: int
    text: str  # the matched part of the corpus record

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": [self.reference_start, self.reference_end],
            "record": [self.record_start, self.record_end],
            "words": self.words,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Match:
    """One corpus record that contains a reference item."""

    file: str
    row: int
    line: int | None
    id: str
    methods: tuple[str, ...]
    shared_ngrams: int
    ratio: float
    similarity: float | None
    span: Span | None
    quarantined: bool = False  # the row failed format validation (scanned all the same)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "line": self.line,
            "id": self.id,
            "quarantined": self.quarantined,
            "methods": list(self.methods),
            "shared_ngrams": self.shared_ngrams,
            "ratio": round(self.ratio, 6),
            "similarity": None if self.similarity is None else round(self.similarity, 6),
            "span": None if self.span is None else self.span.to_dict(),
        }


@dataclass(slots=True)
class ReferenceLeak:
    """A leaked reference item and every corpus record it was found in."""

    item: ReferenceItem
    matches: list[Match] = field(default_factory=list)

    @property
    def methods(self) -> tuple[str, ...]:
        found = {m for match in self.matches for m in match.methods}
        return tuple(m for m in (*METHODS, "paraphrase") if m in found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.item.to_dict(),
            "methods": list(self.methods),
            "records": len(self.matches),
            "matches": [m.to_dict() for m in self.matches],
        }


@dataclass(slots=True)
class LeakageResult:
    config: dict[str, Any]
    reference_files: list[str]
    corpus_files: list[str]
    items: list[ReferenceItem]
    corpus_records: int
    corpus_bytes: int
    quarantined: int
    leaks: list[ReferenceLeak]
    # Quarantined rows whose text was still scanned (every string field).
    quarantined_scanned: int = 0
    # Rows (or the rest of a file) that could not be parsed at all, and fields
    # holding bytes that are not UTF-8: their text was not (fully) scanned, so
    # "no leak" cannot be claimed for them.
    unreadable: list[Quarantined] = field(default_factory=list)
    # Reference rows that failed format validation, indexed all the same.
    reference_quarantined: int = 0
    # Reference rows that could not be parsed: their items are not indexed.
    reference_unreadable: list[Quarantined] = field(default_factory=list)
    # The rows' answers indexed (part "answer"; ``items`` are their prompts).
    answer_items: list[ReferenceItem] = field(default_factory=list)
    # With --paraphrase: reference items and corpus records (by their key) the model could
    # not read (over 1% of the words [UNK]), never compared: "paraphrase 0" alone read as a clean check.
    paraphrase_unreadable: dict[str, int] | None = None
    # Where reference items hold media: per corpus file, the (row, item) pairs found but set
    # aside by the media rule (LeakageIndex.media_kept: no leaks), and the first few as
    # (item id, file, row). None where no item holds media (the rule sets nothing aside).
    media_set_aside: dict[str, int] | None = None
    set_aside_examples: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def leaked_reference_items(self) -> int:
        """Reference rows found, by their prompt or their answer (one count for both)."""
        return len({(leak.item.file, leak.item.row) for leak in self.leaks})

    @property
    def contaminated_records(self) -> int:
        return len({(m.file, m.row) for leak in self.leaks for m in leak.matches})

    @property
    def too_short_items(self) -> list[ReferenceItem]:
        return [i for i in self.items if i.too_short_for_ngram and i.words > 0]

    @property
    def empty_items(self) -> list[ReferenceItem]:
        return [i for i in self.items if i.words == 0]

    def by_method(self) -> dict[str, int]:
        """Leaked reference items (rows) per method (an item can count under several)."""
        names = (*METHODS, "paraphrase") if "paraphrase_threshold" in self.config else METHODS
        return {
            m: len({(k.item.file, k.item.row) for k in self.leaks if m in k.methods}) for m in names
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "config": self.config,
            "reference": {
                "files": self.reference_files,
                "items": len(self.items),
                "answers": len(self.answer_items),
                "empty_items": [i.to_dict() for i in self.empty_items],
                "too_short_for_ngram": [i.to_dict() for i in self.too_short_items],
                "quarantined": self.reference_quarantined,
                "unreadable": len(self.reference_unreadable),
                "unreadable_rows": _listed(self.reference_unreadable),
            },
            "corpus": {
                "files": self.corpus_files,
                "records": self.corpus_records,
                "bytes": self.corpus_bytes,
                "quarantined": self.quarantined,
                "quarantined_scanned": self.quarantined_scanned,
                "unreadable": len(self.unreadable),
                "unreadable_rows": _listed(self.unreadable),
            },
            "summary": {
                "leaked_reference_items": self.leaked_reference_items,
                "contaminated_records": self.contaminated_records,
                "by_method": self.by_method(),
                **(
                    {"paraphrase_unreadable": self.paraphrase_unreadable}
                    if self.paraphrase_unreadable is not None
                    else {}
                ),
                **(
                    {
                        "media_set_aside": {
                            "pairs": sum(self.media_set_aside.values()),
                            "by_file": self.media_set_aside,
                            "examples": [
                                {"item": item, "file": file, "row": row}
                                for item, file, row in self.set_aside_examples
                            ],
                        }
                    }
                    if self.media_set_aside is not None
                    else {}
                ),
            },
            "leaks": [leak.to_dict() for leak in self.leaks],
        }


def _listed(rows: Sequence[Quarantined]) -> list[dict[str, Any]]:
    """The first :data:`MAX_UNREADABLE_LISTED` unreadable rows, as leakage.json lists them."""
    return [
        {"file": q.file, "line": q.line, "row": q.row, "reason": q.reason}
        for q in rows[:MAX_UNREADABLE_LISTED]
    ]


def place_of(q: Quarantined) -> str:
    """``file:line`` of a row (``file`` alone for a file-level problem)."""
    if q.line is not None:
        return f"{q.file}:{q.line}"
    return q.file if q.row is None else f"{q.file} row {q.row}"


@dataclass(frozen=True, slots=True)
class RowLeaks:
    """Per scanned row: leaked or not, the first reference item it contains, how."""

    leaked: pa.BooleanArray
    reference_ids: pa.StringArray  # null where not leaked
    methods: pa.StringArray  # e.g. "exact+ngram"; null where not leaked


@dataclass(frozen=True, slots=True)
class TextLeak:
    """One (row, reference item) pair found in a batch's :class:`RowTexts`."""

    leak: _core.Leak  # leak.record: the row in the batch; leak.item: the item's index
    in_key: bool  # found in the row's key (else only in its other strings)


# A reference row's answer fields, indexed as items of their own (part "answer") where the
# row's key does not hold them: a golden set's `reference`, GSM8K's `answer`, a preference
# set's responses. Training on a benchmark's answers (its worked solutions) is a leak the
# prompt alone does not show. By n-grams only, and only answers of at least `ngram` words.
# Where each command takes the reference set: an error about it names them all (it named
# leakage's --reference to a `curate --decontaminate` user).
REFERENCE_WHERE = (
    "(`leakage --reference`, `curate --decontaminate` or `decontaminate.reference`, `check "
    "--golden`, audit's `leakage.reference`)"
)

ANSWER_FIELDS = (
    "reference",
    "answer",
    "answers",
    "solution",
    "target",
    "output",
    "completion",
    "response",
    "chosen",
    "rejected",
)
# Fields tried, in order, for reference files that match no record format
# (golden sets: id + prompt + reference; benchmarks: question, input, ...).
# ... and the fields the gate reads an lm_eval set's items by (HellaSwag's `ctx`, PIQA's
# `goal`): such a set, locked and gated, stopped every `check` (exit 2; found by attack).
REFERENCE_FIELDS = (
    "prompt", "question", "input", "instruction", "query", "problem", "ctx", "context", "goal",
)  # fmt: skip


def _reference_batches(
    path: Path, format: str | None, text_field: str | None
) -> Iterator[tuple[Batch, str | None]]:
    """Batches of one reference file, each with the text field it was read by.

    A file whose columns match no record format (a golden set's ``id``,
    ``prompt``, ``reference``; a benchmark's ``question``) is read through
    the first of :data:`REFERENCE_FIELDS` it has, unless a format or field
    was given explicitly.
    """
    try:
        batches = read_batches([path], format=format, text_field=text_field)
    except ConfigError as error:
        raise _naming_reference_options(error) from None
    field_used = text_field
    try:
        first = next(batches, None)
    except InputError as error:
        if isinstance(error, LfsPointer):
            raise  # no field to ask for: the data is not there
        if format is not None or text_field is not None:
            raise _naming_reference_options(error) from None
        first_error = error
        for name in REFERENCE_FIELDS:
            try:
                batches = read_batches([path], text_field=name)
                first = next(batches, None)
                field_used = name
                break
            except InputError:
                continue
        else:
            # The first error too: it may not be about fields at all (no permission).
            raise InputError(
                f"{path.as_posix()}: cannot tell which field holds the reference items "
                f"(tried a record format, then {', '.join(REFERENCE_FIELDS)}; reading it as "
                f"a record format said: {first_error}); with `curagate leakage`, pass "
                "--reference-text-field NAME or --reference-format; elsewhere (curate, check, "
                f"audit, the gate) rename the field holding the items to one of "
                f"{', '.join(REFERENCE_FIELDS)}"
            ) from None
    if first is not None and format is None and text_field is None:
        field = _item_text_field(first, path)
        if field is not None:
            try:
                again = read_batches([path], text_field=field)
                first, batches, field_used = next(again, None), again, field
            except InputError:
                pass  # read as the text records its columns give, as before
    if first is not None:
        yield first, field_used
        try:
            for batch in batches:
                yield batch, field_used
        except InputError as error:
            raise _naming_reference_options(error) from None


def _item_text_field(first: Batch, path: Path) -> str | None:
    """The field a reference file read as ``text`` records (``first``: its first batch;
    ``path``: the file, as JSON Lines) is read by instead: what a model reads of its items,
    the field the gate's contamination check picks (:func:`curagate.item_fields.item_text_field`,
    by every row), when that is not ``text``. A golden set's items with a ``text`` column
    (a slice, a note) beside their prompt were read by that column: `leakage --reference`
    and `curate --decontaminate` found none of the 40 prompts copied into the training
    data (found by attack); so were they when the first row alone was read and it held
    only a note or a null prompt (found by re-attack). Every text a row holds is looked for
    too (:meth:`LeakageIndex._add_field_views`)."""
    if RecordFormat(first.format) is not RecordFormat.TEXT or first.table.num_rows == 0:
        return None
    from curagate.item_fields import item_text_field

    field = item_text_field(value for _, value in _jsonl_values(path))
    return None if field in (None, DEFAULT_TEXT_FIELD) else field


# A reference row's other field (:meth:`LeakageIndex._add_field_views`) with fewer words
# than this, counting each character of a script written without spaces (Chinese,
# Japanese, Thai, ...) as a word only from SIDE_MIN_CHARS of them, is not looked for: as a
# whole text it is a stock instruction or placeholder, not an item.
SIDE_MIN_WORDS = 5
SIDE_MIN_CHARS = 8
# The scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, the CJK
# ideographs (with their extensions and compatibility forms), kana (half-width too).
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)


def _side_text_short(text: str) -> bool:
    """Whether ``text``, a reference row's field beside its key, is too short to be looked
    for (:data:`SIDE_MIN_WORDS` words; in a script written without spaces,
    :data:`SIDE_MIN_CHARS` characters: found by re-attack, a Thai passage of 168
    characters, three spaces between its phrases, was "three words" and never looked
    for, nor a Chinese one with a space beside a number)."""
    if len(text.split()) >= SIDE_MIN_WORDS:
        return False
    return len(_UNSPACED.findall(text)) < SIDE_MIN_CHARS


def _side_boilerplate(texts: Sequence[str], rows: int, bar: int) -> set[str]:
    """The texts of ``texts`` (one per row holding it) that are a stock text of a file of
    ``rows`` rows, as n-grams are its boilerplate: in more than ``bar`` rows (0: no bar), or
    in two or more that are at least a quarter of them. Found by re-attack: an 8-word
    instruction beside every item's key ("Pick the best answer from the following
    options:") flagged every training row holding it, 80 of 6,240 clean rows, as copies of
    one item count once for the n-gram bar."""
    per_row = Counter(" ".join(t.lower().split()) for t in texts)
    return {
        t
        for t in texts
        if (n := per_row[" ".join(t.lower().split())]) >= 2 and ((bar and n > bar) or 4 * n >= rows)
    }


def _naming_reference_options(error: CuragateError) -> CuragateError:
    """``error`` of reading a reference set, naming the options that set its text field and
    format (`leakage --reference-text-field`, `--reference-format`): the reader names the
    corpus's (`--text-field`), which a user of --reference-text-field had not passed."""
    message = str(error)
    named = message.replace(TEXT_FIELD_WHERE, "--reference-text-field").replace(
        TEXT_FORMAT_WHERE, "--reference-format text"
    )
    if named == message:
        return error
    return type(error)(named)


def _named(batch: Batch, read: Path, path: Path) -> Batch:
    """A batch read from ``read`` (``path`` as JSON Lines) as a batch of ``path``."""
    was, now = read.as_posix(), path.as_posix()
    ids = [now + i[len(was) :] if i.startswith(was + ":") else i for i in batch.ids.to_pylist()]
    return dataclasses.replace(
        batch,
        source=now,
        ids=pa.array(ids, pa.string()),
        quarantined=[dataclasses.replace(q, file=now) for q in batch.quarantined],
    )


# curagate.golden's SET_FILE and MULTIPLE_CHOICE (tests hold them equal): importing it
# (the gate's config and tasks) cost `curagate check` ~0.2 s before any record was read.
_SET_FILE = "set.yaml"
_MULTIPLE_CHOICE = "multiple_choice"


def _multiple_choice_set(path: Path, sets: dict[Path, Any]) -> bool:
    """Whether ``path`` is a file of a multiple-choice golden set: the nearest ``set.yaml``
    in its folder or one above lists it among its ``files`` and says ``task:
    multiple_choice``. The task is the set's, never guessed from the rows; a ``set.yaml``
    that does not read says nothing (``curagate golden lock`` names its fault). ``sets``:
    each ``set.yaml`` read (its mapping, or None), kept for the next file."""
    from curagate.yamlio import read_yaml_file

    target = path.resolve()
    set_yaml = set_file(target)
    if set_yaml is None:
        return False
    if set_yaml not in sets:
        try:
            data = read_yaml_file(set_yaml)[0]
        except (CuragateError, OSError):
            data = None
        sets[set_yaml] = data if isinstance(data, dict) else None
    data = sets[set_yaml]
    files = data.get("files") if data is not None else None
    if not isinstance(files, list):
        return False
    folder = set_yaml.parent
    listed = any(isinstance(f, str) and (folder / f).resolve() == target for f in files)
    return listed and data.get("task") == _MULTIPLE_CHOICE


def set_file(target: Path) -> Path | None:
    """The ``set.yaml`` nearest above ``target`` (resolved), whose set it is part of: what
    :meth:`LeakageIndex.build` reads of a golden file besides its rows
    (:func:`_multiple_choice_set`), so the golden-index cache keys on its bytes too."""
    for folder in target.parents:
        if (folder / _SET_FILE).is_file():
            return folder / _SET_FILE
    return None


def _jsonl_values(path: Path) -> Iterator[tuple[int, Any]]:
    """(row, JSON value) of each line of a JSON Lines file that parses, rows numbered as
    the readers number them (non-blank lines, :func:`curagate.item_fields.is_blank`)."""
    from curagate.item_fields import is_blank

    row = 0
    with path.open("rb") as f:
        for raw in f:
            if is_blank(raw):
                continue
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError):
                value = None
            yield row, value
            row += 1


def _check_methods(methods: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(methods))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ConfigError(
            f"unknown leakage method(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(METHODS)}"
        )
    return chosen


class LeakageIndex:
    """A reference set indexed once; scan any number of corpus batches.

    ``curate --decontaminate REF`` uses :meth:`build` and :meth:`scan_rows`
    to drop contaminated rows with reason ``leakage``.
    """

    def __init__(
        self,
        *,
        ngram: int = 13,
        methods: Sequence[str] = METHODS,
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
        answers: bool = True,
    ) -> None:
        self.methods = _check_methods(methods)
        self.config: dict[str, Any] = {
            "ngram": ngram,
            "methods": list(self.methods),
            "min_shared_ngrams": min_shared_ngrams,
            "min_ratio": min_ratio,
            "max_ngram_items": max_ngram_items,
            "min_span_words": min_span_words,
            "min_span_ratio": min_span_ratio,
            "minhash_threshold": minhash_threshold,
            "num_perm": num_perm,
            "shingle_words": shingle_words,
            "seed": seed,
            "normalize": "nfkc+lowercase+strip_punctuation+collapse_whitespace",
            "answers": answers and "ngram" in self.methods,
        }
        # The Rust index takes these as unsigned integers: a negative or huge value
        # would be an OverflowError (exit 3) where the user gave a bad option.
        counts = {
            "ngram": ngram,
            "min_shared_ngrams": min_shared_ngrams,
            "max_ngram_items": max_ngram_items,
            "min_span_words": min_span_words,
            "num_perm": num_perm,
            "shingle_words": shingle_words,
            "seed": seed,
        }
        for name, value in counts.items():
            if not 0 <= value < 2**64:
                raise ConfigError(
                    f"leakage: invalid parameter `{name}`: must be a whole number >= 0, got {value}"
                )
        # As curate's `threads`: each pool starts every thread it is given (100,000
        # threads ran for minutes on two records), and 0 is not "all cores".
        if threads is not None and not 1 <= threads <= MAX_THREADS:
            raise ConfigError(
                f"leakage: invalid parameter `threads`: must be in 1..{MAX_THREADS}, got {threads}"
            )
        settings: dict[str, Any] = {
            "ngram": ngram,
            "min_shared_ngrams": min_shared_ngrams,
            "min_ratio": min_ratio,
            "max_ngram_items": max_ngram_items,
            "min_span_ratio": min_span_ratio,
            "minhash_threshold": minhash_threshold,
            "num_perm": num_perm,
            "shingle_words": shingle_words,
            "seed": seed,
            "threads": threads,
        }
        try:
            self._core = _core.ReferenceIndex(
                methods=list(self.methods), min_span_words=min_span_words, **settings
            )
            # The rows' answers, by n-grams alone (see ANSWER_FIELDS): no exact match (a
            # label "positive" is the whole of many strings) and no short span (a stock
            # phrase of eight words); a boilerplate of its own (a refusal shared by many).
            self._answers = (
                _core.ReferenceIndex(methods=["ngram"], min_span_words=0, **settings)
                if self.config["answers"]
                else None
            )
        except _core.ParameterError as e:
            raise ConfigError(f"leakage: {e}") from None
        self.items: list[ReferenceItem] = []
        self._answer_items: list[ReferenceItem] = []  # until frozen, then in self.items
        self._prompts = 0  # frozen: self.items[:_prompts] are the keys', the rest answers
        self._row_items: dict[tuple[str, int], int] | None = None  # see row_item
        # an item with its joiners split -> the item (see _add_joiner_views)
        self._split_of: dict[int, int] = {}
        # (file, row of the golden item) -> its number, and file -> its number, for the
        # core's boilerplate limit and template share (see _add)
        self._owners: dict[tuple[str, int], int] = {}
        self._sets: dict[str, int] = {}
        # file -> the row of the golden item each of its rows is (see build's item_rows)
        self._item_rows: Mapping[str, Sequence[int]] = {}
        # (file, row) -> the media identity of a reference row holding media (Batch.media);
        # frozen: each item's, beside self.items (0: none; see media_kept)
        self._row_media: dict[tuple[str, int], int] = {}
        # file (as read) -> the media identity of each of its rows, where the caller gives
        # them (build's item_media: the gate's copy of a set, whose rows lost their messages)
        self._media_given: Mapping[str, Sequence[int]] = {}
        self._item_media: list[int] = []
        self._any_media = False
        self.reference_files: list[str] = []
        # Reference rows that failed format validation (indexed all the same), and
        # those that could not be parsed (not indexed: see refuse_unreadable).
        self.quarantined = 0
        self.unreadable: list[Quarantined] = []
        self._frozen = False
        # Rust threads of an unpickled copy (a Ray task reserves one CPU: 1).
        self.ship_threads: int | None = None

    @classmethod
    def build(
        cls,
        reference: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        format: str | None = None,
        text_field: str | Mapping[str, str | None] | None = None,
        item_rows: Mapping[str, Sequence[int]] | None = None,
        item_fields: bool = False,
        item_media: Mapping[str, Sequence[int]] | None = None,
        **options: Any,
    ) -> LeakageIndex:
        """Index every record of the reference files (their keys). ``text_field`` may map
        each file (as given) to its own field: the gate scans each golden file by the field
        its items hold (one set's files, or an lm_eval set's suites, differ).

        Each reference row is a golden item of its own (whatever its ``id``: a column that
        repeats one value, a passage id, says nothing of which rows are one item), except
        where ``item_rows`` maps a file (as read) to the row of the golden item each of
        its rows is: the gate looks for a conversation item by several rows (its
        rendering, its last user turn), one item for the boilerplate limit.

        A file read with no field nor format given is looked for by every text a model
        reads of each row too (:meth:`_add_field_views`); so is one read by a field
        ``text_field`` names when ``item_fields`` is true (the gate's: it names the field
        each golden file's items are read by, the rule the reader follows when none is).

        Each item is about its row's media (:attr:`~curagate.records.Batch.media`), or, for a
        file ``item_media`` maps (as read), the media identity it gives each row (the gate's
        copy of a set: its items' messages, media parts and all, are a prompt there); a find
        of an item in a row of other media is none (:meth:`media_kept`).

        Rows that fail format validation are indexed too (see :meth:`_add_batch`);
        rows that cannot be parsed are listed in :attr:`unreadable`, and callers
        that decide on the result call :meth:`refuse_unreadable`.
        Raises :class:`InputError` (exit 2) for missing paths, files whose
        records have no usable field, and a set with no usable item.
        """
        index = cls(**options)
        index._item_rows = dict(item_rows or {})
        index._media_given = dict(item_media or {})
        given = [reference] if isinstance(reference, str | os.PathLike) else list(reference)
        named = {Path(os.fspath(r)).as_posix() for r in given}
        # A golden set's labels file holds rows about its items, not items: found in a
        # folder it is skipped (as the gate's contamination check does); named, it is read.
        paths = [
            p
            for p in reference_inputs(reference)
            if p.name not in NOT_ITEMS or p.as_posix() in named
        ]
        index.reference_files = [p.as_posix() for p in paths]
        sets: dict[Path, Any] = {}  # each set.yaml read once (_multiple_choice_set)
        with tempfile.TemporaryDirectory(prefix="curagate-reference-") as tmp:
            for k, path in enumerate(paths):
                field = (
                    text_field.get(path.as_posix())
                    if isinstance(text_field, Mapping)
                    else text_field
                )
                # Not read as the user named (a field, a format): every text a model reads
                # of each row is looked for too (_add_field_views); the gate names the
                # field its items are read by and asks for them all the same.
                beside = format is None and (field is None or item_fields)
                if path.name.lower().endswith(JSON_SUFFIXES):  # records (an lm-eval suite's)
                    read = json_as_jsonl(path, Path(tmp) / f"{k}.jsonl")
                    for batch, field_used in _reference_batches(read, format, field):
                        named_batch = _named(batch, read, path)
                        index._add_batch(named_batch, field_used)
                        if beside:
                            index._add_field_views(named_batch, field_used)
                    continue
                sources = set()
                for batch, field_used in _reference_batches(path, format, field):
                    index._add_batch(batch, field_used)
                    sources.add(batch.source)
                    if beside:
                        index._add_field_views(batch, field_used)
                if sources and _multiple_choice_set(path, sets):
                    index._add_choice_views(path, sources.pop())
        index._freeze()
        prompts = index.prompt_items
        if not prompts:
            index.refuse_unreadable()  # why it is empty, when a file could not be read
            raise EmptyReferenceError(
                f"reference set is empty: no valid record in {', '.join(index.reference_files)}; "
                f"point the reference at golden/test files with records {REFERENCE_WHERE}"
            )
        if all(not i.text.strip() for i in prompts):
            raise EmptyReferenceError(
                f"reference set has {len(prompts)} item(s) but none holds any text "
                f"(files: {', '.join(index.reference_files)}); point the reference at "
                f"golden/test files with records {REFERENCE_WHERE}"
            )
        # Such items (punctuation, emoji) have no words to match: only the exact
        # method finds them, by byte-identical text.
        if "exact" not in index.methods and all(i.words == 0 for i in prompts):
            raise InputError(
                f"reference set has {len(prompts)} item(s) but all are empty after "
                "normalization (only punctuation, symbols or whitespace), which only the "
                "exact method matches (byte-identical text); add exact to --methods"
            )
        return index

    def refuse_unreadable(self) -> None:
        """Raise :class:`InputError` (exit 2) when a reference row could not be read:
        its item is not indexed, so a scan cannot show the data free of it."""
        if not self.unreadable:
            return
        first = self.unreadable[0]
        raise InputError(
            f"{len(self.unreadable)} reference row(s) could not be read, so their items are "
            f"not indexed and a leak of them would go unseen (first: {place_of(first)}: "
            f"{first.reason}); fix or remove the row(s) in the reference set"
        )

    def _add_batch(self, batch: Batch, text_field: str | None) -> None:
        """A reference batch's items, in file order: valid rows by their keys, and
        rows that failed format validation (a field typed unlike earlier rows, an
        empty answer) by the key their fields give, else every string they hold
        but their id. Rows that cannot be parsed go to :attr:`unreadable`."""
        fmt = RecordFormat(batch.format)
        fields = self._answer_fields(fmt, batch.table.column_names, text_field)
        columns = [batch.table.column(f).to_pylist() for f in fields]
        rows, ids = batch.rows.to_pylist(), batch.ids.to_pylist()
        if batch.media is not None and batch.source not in self._media_given:
            # Every item of the row (its key, answer and views) is about its media.
            for row, media in zip(rows, batch.media.to_pylist(), strict=True):
                if media:
                    self._row_media[(batch.source, row)] = media
        # (row, id, its answer fields' values) of the valid rows
        answers = (
            [
                (r, i, [c[k] for c in columns])
                for k, (r, i) in enumerate(zip(rows, ids, strict=True))
            ]
            if columns
            else []
        )
        if not batch.quarantined:
            self._add(batch.keys, batch.source, batch.rows, batch.ids)
            self._add_answers(batch.source, answers)
            return
        items = list(zip(rows, batch.keys.to_pylist(), ids, strict=True))
        for q in batch.quarantined:
            value = _parsed(q)
            if value is _UNPARSED:
                self.unreadable.append(q)
                continue
            assert q.row is not None  # _parsed: a row without its place is unparsed
            self.quarantined += 1
            rid = _row_id(value, q)
            items.append((q.row, _quarantined_key(value, fmt, text_field), rid))
            if isinstance(value, dict) and self._answers is not None:
                got = self._answer_fields(fmt, list(value), text_field)
                answers.append((q.row, rid, [value.get(f) for f in got]))
        items.sort(key=lambda item: item[0])
        self._add(
            pa.array([k for _, k, _ in items], pa.large_string()),
            batch.source,
            pa.array([r for r, _, _ in items], pa.int64()),
            pa.array([i for _, _, i in items], pa.string()),
        )
        self._add_answers(batch.source, sorted(answers, key=lambda a: a[0]))

    def _answer_fields(
        self, fmt: RecordFormat, columns: Sequence[str], text_field: str | None
    ) -> list[str]:
        """The answer fields of rows with ``columns`` that their key does not hold."""
        if self._answers is None:
            return []
        try:
            in_key = set(key_columns(fmt, columns, text_field, "prompt") or ())
        except InputError:
            in_key = set()
        return [f for f in ANSWER_FIELDS if f in columns and f not in in_key]

    def _add_answers(self, source: str, rows: list[tuple[int, str, list[Any]]]) -> None:
        """Each row's answer fields (their strings joined by newlines), indexed when the
        index is frozen; one shorter than ``ngram`` characters cannot have ``ngram`` words
        (a character is a word in Han, say) and is left out."""
        if self._answers is None:
            return
        n = self.config["ngram"]
        for row, rid, values in rows:
            text = "\n".join(t for v in values for t in strings_of(v))
            if len(text) >= n:
                self._answer_items.append(
                    ReferenceItem(-1, source, row, rid, text, 0, 0, 0, False, "answer")
                )

    def _index_answers(self) -> list[ReferenceItem]:
        """Index the answers collected, but those whose text more than ``max_ngram_items``
        items give (a stock refusal: the n-gram bar counts one text once, so a text shared
        word for word was evidence against every item giving it); then, as for the prompts
        (:meth:`_add_joiner_views`), each kept answer that writes a half-space inside a
        word (:func:`_joiners_split`) again with a space for it (part :data:`JOINERS_SPLIT`,
        after every answer), whose hits :meth:`scan` gives to the answer. Items numbered from
        ``self._prompts`` on, in the order returned."""
        answers = self._answer_items
        if self._answers is None or not answers:
            return []
        seen = Counter(" ".join(a.text.lower().split()) for a in answers)
        bar = self.config["max_ngram_items"]  # 0: no bar, as for the n-grams
        kept = [a for a in answers if not bar or seen[" ".join(a.text.lower().split())] <= bar]
        split = [
            (k, dataclasses.replace(a, text=text, part=JOINERS_SPLIT))
            for k, a in enumerate(kept)
            if (text := _joiners_split(a.text)) is not None
        ]
        indexed = [*kept, *(view for _, view in split)]
        if indexed:
            self._answers.add(
                pa.array([calculator_marks_removed(a.text) for a in indexed], pa.large_string()),
                # one owner for an answer and its view (the boilerplate limit counts it once)
                [*range(len(kept)), *(k for k, _ in split)],
                [self._sets.setdefault(a.file, len(self._sets)) for a in indexed],
            )
        for j, (k, _) in enumerate(split):
            self._split_of[self._prompts + len(kept) + j] = self._prompts + k
        return indexed

    def _add_choice_views(self, path: Path, source: str) -> None:
        """The views of each multiple-choice item of ``path`` (a golden set's file; its rows
        already added as ``source``): its prompt with its lettered options and the user turn
        the gate sends (:func:`~curagate.gate.tasks.multiple_choice.choice_views`), each an
        item of its own with the row's id and that ``part`` (one golden item with its row
        for the boilerplate limit; :meth:`row_item` gives the row's item).

        Read by the bare prompt alone, an item the gate's contamination check finds (a short
        question copied with its options, as the model reads it) passed `leakage
        --reference` and `curate --decontaminate` over the same set."""
        from curagate.gate.tasks.multiple_choice import choice_views

        keys = {i.row: i for i in self.items if i.file == source and i.part == "prompt"}
        views: list[tuple[str, int, str, str]] = []  # (text, row, id, part)
        for row, value in _jsonl_values(path):
            item = keys.get(row)
            if item is None or not isinstance(value, dict):
                continue  # an unreadable row (refused) or one not an object
            views += [
                (text, row, item.id, part)
                for part, text in choice_views(value).items()
                if part != "prompt" and text != item.text
            ]
        if views:
            self._add(
                pa.array([v[0] for v in views], pa.large_string()),
                source,
                pa.array([v[1] for v in views], pa.int64()),
                pa.array([v[2] for v in views], pa.string()),
                [v[3] for v in views],
            )

    def _add_field_views(self, batch: Batch, field_used: str | None) -> None:
        """Every other text a model reads of each of ``batch``'s rows (valid or quarantined
        for their format): each field of :data:`curagate.item_fields.ITEM_TEXT_FIELDS` the row
        holds as a non-blank string and its rendered ``messages``
        (:func:`curagate.item_fields.item_texts`), decided row by row, each an item of its own
        with the row's id and the field as its ``part`` (``prompt field`` for a prompt
        beside the key, ``prompt`` being the key's part); one item with its row, as a
        multiple-choice item's views (:meth:`_add_choice_views`). A text equal to the row's
        key is not added again.

        A file was read by one field, picked by its first row: a SQuAD item's ``context``
        beside its question, a HellaSwag ``ctx`` beside a ``text`` note, a row of another
        shape than the first (a ``question`` in a file of prompts, a prompt in a file of
        conversations), each copied verbatim into the training data, passed (found by
        re-attack). The key field may be a short instruction and another field what the
        item is about, and a missed leak is worse than a row flagged for a note.

        But for a short text (:func:`_side_text_short`): an instruction,
        question or input of up to four words ("Classify", "N/A", "Answer yes or no.")
        matched every training row
        that said only that, exactly (found by re-attack: 889 of 6,240 clean rows removed
        by `curate --decontaminate`)."""
        from curagate.item_fields import ITEM_TEXT_FIELDS, item_texts

        fmt = RecordFormat(batch.format)
        wanted = [c for c in batch.table.column_names if c in (*ITEM_TEXT_FIELDS, "messages")]
        keys, rows, ids = batch.keys.to_pylist(), batch.rows.to_pylist(), batch.ids.to_pylist()
        values = batch.table.select(wanted).to_pylist() if wanted else [{}] * len(keys)
        found = list(zip(values, keys, rows, ids, strict=True))
        for q in batch.quarantined:
            value = _parsed(q)
            if value is _UNPARSED or q.row is None or not isinstance(value, dict):
                continue
            found.append(
                (value, _quarantined_key(value, fmt, field_used), q.row, _row_id(value, q))
            )
        views: list[tuple[str, int, str, str]] = []  # (text, row, id, part)
        for value, key, row, rid in sorted(found, key=lambda f: f[2]):
            for name, text in item_texts(value).items():
                if text != key and not _side_text_short(text):
                    views.append((text, row, rid, "prompt field" if name == "prompt" else name))
        stock = _side_boilerplate(
            [v[0] for v in {(v[0], v[1]) for v in views}],
            len(found),
            self.config["max_ngram_items"],
        )
        views = [v for v in views if v[0] not in stock]
        if views:
            self._add(
                pa.array([v[0] for v in views], pa.large_string()),
                batch.source,
                pa.array([v[1] for v in views], pa.int64()),
                pa.array([v[2] for v in views], pa.string()),
                [v[3] for v in views],
            )

    def _add(
        self,
        keys: pa.Array,
        source: str,
        rows: pa.Array,
        ids: pa.Array,
        parts: Sequence[str] | None = None,
    ) -> None:
        if self._frozen:
            raise InputError("the reference index is already built; create a new LeakageIndex")
        if len(keys) == 0:
            return
        base = len(self.items)
        items = list(zip(keys.to_pylist(), rows.to_pylist(), ids.to_pylist(), strict=True))
        # Each row is a golden item for the boilerplate limit (max_ngram_items) and the
        # template share, but the rows the caller names as views of one (item_rows): the
        # gate looks for a conversation item by three rows (its rendering, its last user
        # turn, its user turns joined), and an instruction shared by 11 such items counted
        # as 33 (found by attack). Ids say nothing of it: rows of one file under one id
        # were one item, so a set whose id column repeats a value (every id "0", a passage
        # id) was one item, and its template was never boilerplate (found by review).
        views = self._item_rows.get(source)
        owners = [
            self._owners.setdefault(
                (source, views[row] if views is not None and 0 <= row < len(views) else row),
                len(self._owners),
            )
            for _, row, _ in items
        ]
        sets = [self._sets.setdefault(source, len(self._sets))] * len(items)
        self._index(keys, owners, sets)
        for i, (text, row, rid) in enumerate(items):
            part = "prompt" if parts is None else parts[i]
            self.items.append(ReferenceItem(base + i, source, row, rid, text, 0, 0, 0, False, part))
        end = len(self.items)
        self._add_joiner_views(base, owners, sets)
        self._add_markup_views(base, end, owners, sets)

    def _index(self, keys: pa.Array, owners: list[int], sets: list[int]) -> None:
        """Index ``keys`` in the core, GSM8K's calculator marks removed (as the answers)."""
        texts = keys.to_pylist()
        if any(text and "<<" in text for text in texts):
            keys = pa.array([text and calculator_marks_removed(text) for text in texts], keys.type)
        self._core.add(keys, owners, sets)

    def _add_joiner_views(self, base: int, owners: list[int], sets: list[int]) -> None:
        """Each item from ``base`` that writes a zero-width non-joiner (U+200C) inside a word
        (:func:`_joiners_split`) again, with spaces for it: an item of its own
        (part :data:`JOINERS_SPLIT`, the owner and set of the item), whose hits
        :meth:`scan` gives to the item (:meth:`unsplit`), so that a row holding it is
        reported once, as the item.

        Persian writes the joiner inside words (after a verb's prefix `mi`, before the plural
        `ha`); tokenizing drops it with the other format characters (a copy that keeps the
        joiners or drops them is the same words), and a copy typed with a space for each
        joiner, as many keyboards write it, matched nothing (found by attack). The spaces are
        one character for one, so the view's spans are the item's."""
        split = [
            (k, text)
            for k, item in enumerate(self.items[base:], base)
            if item.text and (text := _joiners_split(item.text)) is not None
        ]
        self._add_views(base, owners, sets, split, JOINERS_SPLIT)

    def _add_markup_views(self, base: int, end: int, owners: list[int], sets: list[int]) -> None:
        """Each item from ``base`` to ``end`` that holds web markup or special tokens, again
        decoded (each reading of :func:`~curagate.leakage.texts.markup_readings`): an item
        of its own (part :data:`MARKUP_DECODED`, the owner and set of the item), whose hits
        :meth:`scan` gives to the item (:meth:`unsplit`), as a joiners-split view's.

        Rows are decoded before they are scanned, items were not: an item written with
        `<|endoftext|>` or `&nbsp;` for every space, or each word in a `<span>`, matched
        nothing of its plain copy (found by re-attack: `split` puts val and test on the
        reference side, and passed with such a copy in test and its original in train).
        The view's spans are its own: a hit on it is reported with the item's whole text
        as the matched part of the item (:meth:`_as_item`)."""
        views = [
            (k, text)
            for k in range(base, end)
            if self.items[k].text
            for text in markup_readings(calculator_marks_removed(self.items[k].text)) or ()
        ]
        self._add_views(base, owners, sets, views, MARKUP_DECODED)

    def _add_views(
        self,
        base: int,
        owners: list[int],
        sets: list[int],
        views: list[tuple[int, str]],
        part: str,
    ) -> None:
        """Index each (item ``k`` from ``base``, text) of ``views`` as an item of its own,
        part ``part``, with ``k``'s owner and set; its hits go to ``k`` (:meth:`unsplit`)."""
        if not views:
            return
        self._index(
            pa.array([text for _, text in views], pa.large_string()),
            [owners[k - base] for k, _ in views],
            [sets[k - base] for k, _ in views],
        )
        for k, text in views:
            item = self.items[k]
            self._split_of[len(self.items)] = k
            self.items.append(
                dataclasses.replace(item, index=len(self.items), text=text, part=part)
            )

    def unsplit(self, k: int) -> int:
        """The item whose joiners item ``k`` splits (:meth:`_add_joiner_views`); ``k`` for
        any other."""
        return self._split_of.get(k, k)

    def add_texts(self, texts: Sequence[str], *, source: str = "<texts>") -> None:
        """Add reference items from strings (tests, notebooks); ids are ``source:row``."""
        arr = pa.array(list(texts), pa.large_string())
        rows = pa.array(range(len(texts)), pa.int64())
        self._add(arr, source, rows, pa.array([f"{source}:{r}" for r in range(len(texts))]))

    def _freeze(self) -> None:
        if self._frozen:
            return
        self._frozen = True
        self._prompts = len(self.items)
        parts = [(self._core, self.items)]
        answers = self._index_answers()
        if self._answers is not None and answers:
            parts.append((self._answers, answers))
        frozen: list[ReferenceItem] = []
        for core, items in parts:
            stats = core.items()
            words, ngrams, common, short = (
                array("I", raw)
                for raw in (stats.words, stats.ngrams, stats.common_ngrams, stats.too_short)
            )
            frozen += [
                dataclasses.replace(
                    it,
                    index=len(frozen) + k,
                    words=words[k],
                    ngrams=ngrams[k],
                    common_ngrams=common[k],
                    too_short_for_ngram=bool(short[k]),
                )
                for k, it in enumerate(items)
            ]
        self.items, self._answer_items = frozen, []
        self._item_media = [self._media_of(item) for item in frozen]
        self._any_media = any(self._item_media)

    def _media_of(self, item: ReferenceItem) -> int:
        """The media identity of ``item``'s row (of the item row a view row is, where
        ``item_rows`` names one: the gate's copy holds an item's views as rows of their
        own; or as ``item_media`` gives it); 0 for none."""
        given = self._media_given.get(item.file)
        if given is not None:
            return int(given[item.row]) if 0 <= item.row < len(given) else 0
        if not self._row_media:
            return 0
        views = self._item_rows.get(item.file)
        row = views[item.row] if views is not None and 0 <= item.row < len(views) else item.row
        return self._row_media.get((item.file, row), 0)

    @property
    def holds_media(self) -> bool:
        """Whether any item is about media (else :meth:`media_kept` sets nothing aside)."""
        return self._any_media

    def media_kept(
        self,
        hits: list[_core.Leak],
        media: Sequence[int | None] | None,
        aside: set[tuple[int, int]] | None = None,
    ) -> list[_core.Leak]:
        """``hits`` (``hit.record``: a row of ``media``, the rows' media identities) but
        those of an item of other media than its row's: a find counts unless the item and
        the row both hold media and their identities differ. Two questions about two images
        are other records (as for curate's dedup and DUP001): a VQA set asking one question
        of every image was wholly its test set's leak (found by attack: `curate
        --decontaminate` removed all 150 training rows). A text-only item found in a row
        holding media, or an item about an image found in a text-only row, is a leak.

        ``aside``: gets the (row, item) pair (:meth:`row_item` of the item: a reference row
        found by its question and its answer is one, as :attr:`LeakageResult.leaked_reference_items`
        counts it; found by re-attack, it was two) of each hit the rule drops, for the
        report's count of finds set aside (a copied question beside a junk image is no
        leak, but not no trace)."""
        if media is None or not self._any_media:
            return hits
        of_item = self._item_media
        kept = []
        for h in hits:
            if of_item[h.item] and media[h.record] and of_item[h.item] != media[h.record]:
                if aside is not None:
                    aside.add((h.record, self.row_item(self.unsplit(h.item))))
            else:
                kept.append(h)
        return kept

    @property
    def prompt_items(self) -> list[ReferenceItem]:
        """The items of the rows' keys (what the model reads) and of a multiple-choice
        item's views (its ``part`` names which: :meth:`_add_choice_views`), without the
        rows' answers."""
        self._freeze()
        return self.items[: self._prompts]

    @property
    def row_items(self) -> list[ReferenceItem]:
        """One item per reference row, its key: :attr:`prompt_items` without the views."""
        return [i for i in self.prompt_items if i.part == "prompt"]

    def row_item(self, k: int) -> int:
        """The index of the prompt item of item ``k``'s row (``k`` for a prompt): a row found
        by its prompt, by a view of it (a multiple-choice item's user turn) and by its
        answer is one leaked item."""
        item = self.items[k]
        if k < self._prompts and item.part == "prompt":
            return k
        if self._row_items is None:
            self._row_items = {(i.file, i.row): i.index for i in self.row_items}
        return self._row_items.get((item.file, item.row), k)

    def hit_item(self, k: int) -> int:
        """The item a hit of item ``k`` counts for in one scanned row: a view of a
        multiple-choice item (:meth:`_add_choice_views`) its row's item, so that a row holding
        the item is reported once, by the view showing most of it; ``k`` for another (a
        row's answer is reported as such)."""
        return k if self.items[k].part == "answer" else self.row_item(k)

    @property
    def answer_items(self) -> list[ReferenceItem]:
        """The rows' answers that can match: with an n-gram (after every prompt in
        :attr:`items`, where those without one are kept for their numbering)."""
        self._freeze()
        return [i for i in self.items[self._prompts :] if i.ngrams and i.part == "answer"]

    # Pickling (Ray's object store, multiprocessing) ships the frozen index as
    # the core's checked blob: workers load it instead of rebuilding it.
    def __getstate__(self) -> dict[str, Any]:
        from curagate import _core

        self._freeze()
        return {
            "version": PICKLE_VERSION,
            "methods": self.methods,
            "config": self.config,
            "reference_files": self.reference_files,
            "items": [dataclasses.astuple(i) for i in self.items],
            "core": _core.leakage_index_to_bytes(self._core),
            "answers": (
                None if self._answers is None else _core.leakage_index_to_bytes(self._answers)
            ),
            "threads": self.ship_threads,
            "splits": sorted(self._split_of.items()),
            "quarantined": self.quarantined,
            "unreadable": [dataclasses.astuple(q) for q in self.unreadable],
            "media": list(self._item_media),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        from curagate import _core

        if not isinstance(state, dict) or state.get("version") != PICKLE_VERSION:
            raise InputError(
                "a pickled leakage index from another curagate version; "
                "rebuild it (install the same curagate on every worker)"
            )
        try:
            self._core = _core.leakage_index_from_bytes(state["core"], threads=state.get("threads"))
            answers = state.get("answers")
            self._answers = (
                None
                if answers is None
                else _core.leakage_index_from_bytes(answers, threads=state.get("threads"))
            )
        except _core.IndexFormatError as e:
            raise InputError(f"leakage index: {e}") from None
        self.methods = tuple(state["methods"])
        self.config = dict(state["config"])
        self.reference_files = list(state["reference_files"])
        self.items = [ReferenceItem(*t) for t in state["items"]]
        media = state["media"]
        if not isinstance(media, list) or len(media) != len(self.items):
            raise InputError("a pickled leakage index whose media identities are not its items'")
        self._item_media = [int(m) for m in media]
        self._any_media = any(self._item_media)
        self._row_media = {}
        self._item_rows = {}
        self._answer_items = []
        # (the answers, then their views with joiners split: see _index_answers)
        self._prompts = next((i.index for i in self.items if i.part == "answer"), len(self.items))
        self._row_items = None
        self._split_of = dict(state["splits"])
        self.quarantined = state.get("quarantined", 0)
        self.unreadable = [Quarantined(*t) for t in state.get("unreadable", [])]
        self._frozen = True
        self.ship_threads = state.get("threads")

    def scan(self, keys: pa.Array) -> list[_core.Leak]:
        """Flagged (record, item) pairs of one batch of keys, records ascending.

        An item that normalizes to nothing (emoji, punctuation) has no hash or
        n-gram: with the ``exact`` method it matches a key that is byte for byte
        the item (as curate's dedup groups such records by their raw key). A hit of an
        item's joiners-split view is the item's (:meth:`unsplit_hits`)."""
        return self.unsplit_hits(self.scan_views(keys))

    def scan_views(self, keys: pa.Array) -> list[_core.Leak]:
        """:meth:`scan`, with the hits of items' joiners-split views as such."""
        self._freeze()
        if len(keys) == 0:
            return []
        if self._answers is not None and len(self.items) > self._prompts:
            # Both indexes at once: each key tokenized once (it was twice, ~45% of a
            # scan of T0 records against golden sets with answers).
            found, answered = self._core.scan_with(self._answers, keys)
            base = self._prompts
            answers = [
                _core.Leak(
                    h.record,
                    base + h.item,
                    ngram=True,
                    shared_ngrams=h.shared_ngrams,
                    ratio=h.ratio,
                    span=h.span,
                )
                for h in answered
            ]
            if answers:
                found = sorted([*found, *answers], key=lambda leak: (leak.record, leak.item))
        else:
            found = self._core.scan(keys)
        raw = self._raw_items()
        if raw:
            at = pc.index_in(keys, value_set=pa.array(list(raw), keys.type)).to_pylist()
            texts = list(raw.values())
            extra = [
                _core.Leak(record, item, exact=True)
                for record, k in enumerate(at)
                if k is not None
                for item in texts[k]
            ]
            if extra:
                found = sorted([*found, *extra], key=lambda leak: (leak.record, leak.item))
        return found

    def unsplit_hits(self, hits: list[_core.Leak]) -> list[_core.Leak]:
        """``hits`` with each hit of an item's joiners-split view (:meth:`_add_joiner_views`)
        given to the item, one hit per (record, item): the item's own, unless the view's
        shows more of it by ratio (:meth:`strength`); then the view's numbers (its n-grams
        and words)."""
        if not self._split_of:
            return hits
        best: dict[tuple[int, int], _core.Leak] = {}
        for h in hits:
            pair = (h.record, self.unsplit(h.item))
            if pair not in best or self.strength(h) > self.strength(best[pair]):
                best[pair] = h
        return sorted(
            (self._as_item(h) for h in best.values()), key=lambda leak: (leak.record, leak.item)
        )

    def strength(self, hit: _core.Leak) -> _Strength:
        """How much of its item a hit shows (:func:`_strength`), the item's own hit before
        its joiners-split view's of the same ratio: a copy that keeps the joiners matches
        both whole, and is reported with the item's n-grams and words, not the view's
        (found by re-attack: 35 of 25 n-grams, a 47-word span of a 37-word item)."""
        return _strength(hit, own=hit.item not in self._split_of)

    def _as_item(self, hit: _core.Leak) -> _core.Leak:
        """``hit`` as its item's (:meth:`unsplit`), with the numbers it has."""
        item = self.unsplit(hit.item)
        if item == hit.item:
            return hit
        span = hit.span
        if span is not None and self.items[hit.item].part == MARKUP_DECODED:
            # the view's offsets are not the item's: the item's whole text
            whole = len(self.items[item].text)
            span = _core.LeakSpan(0, whole, span.record_start, span.record_end, span.words)
        return _core.Leak(
            hit.record,
            item,
            exact=hit.exact,
            ngram=hit.ngram,
            minhash=hit.minhash,
            shared_ngrams=hit.shared_ngrams,
            ratio=hit.ratio,
            similarity=hit.similarity,
            span=span,
        )

    def _raw_items(self) -> dict[str, list[int]]:
        """The items that normalize to nothing, by text (matched byte for byte);
        none when ``exact`` is off."""
        if "exact" not in self.methods:
            return {}
        by_text: dict[str, list[int]] = {}
        for item in self.prompt_items:
            # An item with no text at all (a row of numbers, `{}`) leaks nothing: as a
            # raw item it matched every empty string, e.g. a column a record lacks.
            if item.words == 0 and item.text.strip():
                by_text.setdefault(item.text, []).append(item.index)
        return by_text

    def scan_texts(
        self, texts: RowTexts, aside: set[tuple[int, int]] | None = None
    ) -> list[TextLeak]:
        """Flagged (row, item) pairs of one batch: each row's key, then every other
        string it holds (:func:`row_texts`); a pair once (in the key when it is
        there), ordered by row, then item. ``aside``: gets the pairs found but of other
        media than the row's (:meth:`media_kept`)."""
        found: list[TextLeak] = []
        for _, in_key, hits in _new_hits(self.scan_views, texts, self, aside):
            found.extend(TextLeak(hit, in_key) for hit in hits)
        found.sort(key=lambda t: (t.leak.record, t.leak.item))
        return found

    def scan_rows(self, texts: RowTexts, aside: set[tuple[int, int]] | None = None) -> RowLeaks:
        """Per row: leaked?, the first reference id it contains, methods (key and
        every other string of the row, :meth:`scan_texts`; an item of other media than
        the row's is none of them, :meth:`media_kept`, its pairs into ``aside``)."""
        found = self.scan_texts(texts, aside)
        return self._row_leaks(len(texts.keys), (t.leak for t in found))

    def scan_batch(
        self,
        batch: Batch,
        text_field: str | None = None,
        preference_key: str = "prompt",
        aside: set[tuple[int, int]] | None = None,
    ) -> RowLeaks:
        """:meth:`scan_rows` of a batch's valid rows, read with ``text_field``."""
        texts = row_texts(
            batch.table, batch.format, batch.keys, text_field, preference_key, media=batch.media
        )
        return self.scan_rows(texts, aside)

    def scan_keys(self, keys: pa.Array, media: pa.Array | None = None) -> RowLeaks:
        """Per row of ``keys``: leaked?, the first reference id it contains, methods.

        Keys only: a record's other strings (a preference row's responses, a
        ``system`` column) are scanned by :meth:`scan_rows` / :meth:`scan_batch`.
        ``media``: the rows' media identities (:meth:`media_kept`).
        """
        hits = self.scan(keys)
        if media is not None:
            hits = self.media_kept(hits, media.to_pylist())
        return self._row_leaks(len(keys), hits)

    def _row_leaks(self, n: int, hits: Iterable[_core.Leak]) -> RowLeaks:
        leaked = [False] * n
        ref_ids: list[str | None] = [None] * n
        how: list[str | None] = [None] * n
        for leak in hits:
            record = leak.record
            if leaked[record]:
                continue
            leaked[record] = True
            ref_ids[record] = self.items[leak.item].shown_id
            how[record] = "+".join(leak.methods)
        return RowLeaks(
            pa.array(leaked, pa.bool_()), pa.array(ref_ids, pa.string()), pa.array(how, pa.string())
        )


def _new_hits(
    scan: Callable[[pa.Array], list[_core.Leak]],
    texts: RowTexts,
    index: LeakageIndex | None = None,
    aside: set[tuple[int, int]] | None = None,
) -> Iterator[tuple[pa.Array, bool, list[_core.Leak]]]:
    """Each text of the rows (key first), whether it is the key, and the hits of which it
    holds the strongest: a (row, item) pair is reported once per row, by the text that
    shares most of the item (a copy whose words are joined matches weakly as written and
    whole with them split), the earliest of equals. With ``index`` (the index ``scan``
    reads, its joiners-split views' hits as such: :meth:`LeakageIndex.scan_views`), a hit
    counts for :meth:`LeakageIndex.hit_item` of its item: a multiple-choice item's views
    are one item, reported by the view that shows most of it; a joiners-split view's hit
    is its item's, the item's own hit first among equal ratios in any text
    (:meth:`LeakageIndex.strength`: the row's text with its joiners split matches the view
    whole, as the text matches the item). With ``index`` and the rows' media
    (:attr:`RowTexts.media`), a hit of an item of other media than its row's is none
    (:meth:`LeakageIndex.media_kept`; the pairs it drops into ``aside``, once each)."""
    parts = texts.parts()
    found = [scan(part) for part, _ in parts]
    if index is not None and texts.media is not None:
        media = texts.media.to_pylist()
        found = [index.media_kept(hits, media, aside) for hits in found]

    def item_of(h: _core.Leak) -> int:
        return h.item if index is None else index.hit_item(index.unsplit(h.item))

    strength_of = _strength if index is None else index.strength
    best: dict[tuple[int, int], tuple[_Strength, int, int]] = {}
    for k, hits in enumerate(found):
        for h in hits:
            pair, strength = (h.record, item_of(h)), strength_of(h)
            if pair not in best or strength > best[pair][0]:
                best[pair] = (strength, k, h.item)
    for k, (part, is_key) in enumerate(parts):
        kept = [h for h in found[k] if best[h.record, item_of(h)][1:] == (k, h.item)]
        yield part, is_key, kept if index is None else index.unsplit_hits(kept)


def _joiners_split(text: str) -> str | None:
    """``text`` with each half-space inside a word read as a space, or None when it has none.

    A half-space is a run of invisible characters (:func:`~curagate.leakage.texts.invisible`:
    format characters, default-ignorable marks) between two characters that are not
    spaces, holding a zero-width non-joiner (`می‌خواهد`, doubled or beside a bidi mark as
    pasted from a bidi editor, after a digit as in `۲۰‌درصد`), or between two Arabic-script
    letters, a zero-width joiner or a soft hyphen (typed for it on some keyboards). Each
    character of the run becomes a space, so offsets into the result are offsets into
    ``text``, and the run is one word break (found by re-attack: a doubled joiner, one
    beside a right-to-left mark or after a digit had no split view)."""
    out: list[str] | None = None
    end = 0  # where the last run looked at ends
    for found in HALF_SPACES.finditer(text):
        start = found.start()
        if start < end:
            continue
        stop = start + 1
        while start > 0 and invisible(text[start - 1]):
            start -= 1
        while stop < len(text) and invisible(text[stop]):
            stop += 1
        end = stop
        if (
            start > 0
            and stop < len(text)
            and _half_space(text[start:stop], text[start - 1], text[stop])
        ):
            out = list(text) if out is None else out
            out[start:stop] = " " * (stop - start)
    return None if out is None else "".join(out)


def _half_space(run: str, before: str, after: str) -> bool:
    """Whether the invisible characters ``run`` between ``before`` and ``after`` are a
    half-space inside a word (:func:`_joiners_split`)."""
    if before.isspace() or after.isspace():
        return False
    return ZWNJ in run or (_arabic_letter(before, mark=True) and _arabic_letter(after))


def _arabic_letter(c: str, *, mark: bool = False) -> bool:
    """Whether ``c`` is an Arabic-script letter (or, with ``mark``, a mark: a vowel sign)."""
    return unicodedata.category(c)[0] in ("LM" if mark else "L") and unicodedata.name(
        c, ""
    ).startswith("ARABIC")


# ratio, own, shared n-grams, methods, span words, similarity (:func:`_strength`)
_Strength = tuple[float, bool, int, int, int, float]


def _strength(hit: _core.Leak, *, own: bool = True) -> _Strength:
    """How much of its item a hit shows: ratio, ``own`` (not a joiners-split view's hit:
    :meth:`LeakageIndex.strength`), shared n-grams, methods, span words, then similarity
    (a paraphrase's, a MinHash estimate). Found by attack: a paraphrase hit shows none of
    the rest, so a row's first text similar to an item was reported, at 0.935 where its
    completion alone was at 0.979."""
    return (
        hit.ratio,
        own,
        hit.shared_ngrams,
        len(hit.methods),
        0 if hit.span is None else hit.span.words,
        -2.0 if hit.similarity is None else hit.similarity,
    )


def detect(
    reference: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    corpus: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    ngram: int = 13,
    methods: Sequence[str] = METHODS,
    min_shared_ngrams: int = 1,
    min_ratio: float = 0.0,
    max_ngram_items: int = 10,
    min_span_words: int = 8,
    min_span_ratio: float = 0.5,
    minhash_threshold: float = 0.8,
    reference_format: str | None = None,
    reference_text_field: str | Mapping[str, str | None] | None = None,
    reference_item_rows: Mapping[str, Sequence[int]] | None = None,
    reference_item_fields: bool = False,
    reference_item_media: Mapping[str, Sequence[int]] | None = None,
    format: str | None = None,
    text_field: str | None = None,
    threads: int | None = None,
    batch_rows: int = 65536,
    paraphrase: bool = False,
    paraphrase_threshold: float = 0.85,
    model: str | Path | None = None,
    cache_dir: str | Path | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    answers: bool = True,
    whole_spans: bool = False,
) -> LeakageResult:
    """Find reference items inside corpus records.

    With ``paraphrase=True`` (extra ``embed``) reworded items that share no
    n-gram are caught too: corpus records whose sentence embedding is at least
    ``paraphrase_threshold`` cosine-similar to a reference item are reported
    with method ``paraphrase`` and their similarity.

    Defaults: all three methods; any shared 13-gram flags (``min_ratio=0``)
    except n-grams shared by more than ``max_ngram_items`` (10) reference
    items, or by two or more that are a quarter of their file's items (but
    of an item with too few words of its own without them), which
    are the reference set's boilerplate (each reference row is an item, but
    the rows ``reference_item_rows`` names as views of one); so does a contiguous
    run of at least ``min_span_words`` (8) of an item's words that covers at
    least ``min_span_ratio`` (0.5) of them (``min_span_words=0``: off);
    MinHash at estimated Jaccard 0.8. Reference and corpus are read with
    :func:`curagate.io.read_batches`; ``format``/``text_field`` apply to the
    corpus, ``reference_format``/``reference_text_field`` to the reference.

    ``executor="ray"`` scans the corpus files as parallel Ray tasks (one per
    file) sharing the index built here; the result is the same as the
    one-process scan (``"local"``, the default), byte for byte once written.

    ``whole_spans``: each match's ``span.text`` is the whole matched text, not shortened
    in the middle to ``SPAN_TEXT_CHARS`` (``curagate split --templates`` reads what the
    matched part holds besides template text: a review in the middle of a 400-character
    span was cut out of it).
    """
    index = LeakageIndex.build(
        reference,
        format=reference_format,
        text_field=reference_text_field,
        item_rows=reference_item_rows,
        item_fields=reference_item_fields,
        item_media=reference_item_media,
        ngram=ngram,
        methods=methods,
        min_shared_ngrams=min_shared_ngrams,
        min_ratio=min_ratio,
        max_ngram_items=max_ngram_items,
        min_span_words=min_span_words,
        min_span_ratio=min_span_ratio,
        minhash_threshold=minhash_threshold,
        threads=threads,
        answers=answers,
    )
    corpus_paths = expand_inputs(corpus)
    if paraphrase and executor != "local":
        raise ConfigError(
            "--paraphrase runs on one machine only (it loads an embedding model); "
            "use --executor local with --paraphrase"
        )
    paraphrases = None
    if paraphrase:
        from curagate.semantic import ParaphraseIndex, model_identity

        paraphrases = ParaphraseIndex(
            [item.text for item in index.prompt_items],
            threshold=paraphrase_threshold,
            model=model,
            cache_dir=cache_dir,
        )
        index.config["paraphrase_threshold"] = paraphrase_threshold
        # Which model judged (its name and digest, as curate's stats.json): the report of a
        # run with another model read the same.
        named = model_identity(model)
        index.config["paraphrase_model"] = named["model"]
        index.config["paraphrase_model_sha256"] = named["model_sha256"]
    options = _ScanOptions(format, text_field, batch_rows, whole_spans)
    paths = [p.as_posix() for p in corpus_paths]
    parts: list[_FileScan]
    if executor == "local":
        from curagate.progress import Bar

        bar = Bar(total=None, desc="leakage scan", unit="rows")  # stderr, TTY only
        parts = [_scan_file(index, paraphrases, options, path, bar) for path in paths]
        bar.close()
    else:
        # One task per corpus file; the index is built once above and shipped
        # to every task as the core's serialized blob (Ray: put once in the
        # object store), never rebuilt there.
        from curagate.digest import sample_identity
        from curagate.executors import get_executor

        ex = get_executor(executor, address=ray_address)
        index.ship_threads = threads if threads is not None else 1
        # Each task checks the file it reads is the one listed here (a node seeing other
        # bytes at the path under-reported the leaks, exit 0).
        files = [(path, sample_identity(path)) for path in paths]
        try:
            parts = ex.map(_scan_task, (index, options), files)
        finally:
            ex.close()
    read = any(part.records or part.quarantined for part in parts)  # (an empty corpus: no word)
    if text_field is not None and read and not any(part.text_read for part in parts):
        # Each file was read in the format its columns give: the option did nothing (a
        # misspelt column scanned prompt and completion, as curate refuses to).
        raise InputError(text_field_unused(text_field))
    # Merged in file order: the same match order as one sequential pass.
    by_item: dict[int, ReferenceLeak] = {}
    for part in parts:
        for item, leak in part.by_item.items():
            if item in by_item:
                by_item[item].matches.extend(leak.matches)
            else:
                by_item[item] = leak
    leaks = [by_item[k] for k in sorted(by_item)]
    for leak in leaks:
        leak.matches.sort(key=lambda m: (m.file, m.row))
    return LeakageResult(
        config=index.config,
        reference_files=index.reference_files,
        corpus_files=paths,
        items=index.row_items,
        answer_items=index.answer_items,
        corpus_records=sum(p.records for p in parts),
        corpus_bytes=sum(p.nbytes for p in parts),
        quarantined=sum(p.quarantined for p in parts),
        leaks=leaks,
        quarantined_scanned=sum(p.quarantined_scanned for p in parts),
        unreadable=[q for p in parts for q in p.unreadable],
        reference_quarantined=index.quarantined,
        reference_unreadable=list(index.unreadable),
        paraphrase_unreadable=None
        if paraphrases is None
        else {
            "reference_items": paraphrases.unreadable,
            "corpus_records": sum(p.paraphrase_unreadable for p in parts),
        },
        media_set_aside={path: p.media_set_aside for path, p in zip(paths, parts, strict=True)}
        if index.holds_media
        else None,
        set_aside_examples=[
            (item, path, row)
            for path, p in zip(paths, parts, strict=True)
            for item, row in p.set_aside_rows
        ][:MAX_SET_ASIDE_LISTED],
    )


@dataclass(frozen=True, slots=True)
class _ScanOptions:
    format: str | None
    text_field: str | None
    batch_rows: int
    whole_spans: bool = False  # span texts not shortened (detect's whole_spans)


@dataclass(slots=True)
class _FileScan:
    """What one corpus file contributed (merged across files in file order)."""

    by_item: dict[int, ReferenceLeak] = field(default_factory=dict)
    records: int = 0
    nbytes: int = 0
    quarantined: int = 0
    quarantined_scanned: int = 0
    unreadable: list[Quarantined] = field(default_factory=list)
    paraphrase_unreadable: int = 0  # records whose key the embedding model cannot read
    text_read: bool = False  # a batch read as text records (with a text_field: by it)
    # (row, item) pairs found but of other media than the row's (LeakageIndex.media_kept):
    # no leaks, counted, and the first few (item id, row) listed
    media_set_aside: int = 0
    set_aside_rows: list[tuple[str, int]] = field(default_factory=list)


def _scan_task(common: tuple[LeakageIndex, _ScanOptions], file: tuple[str, Any]) -> _FileScan:
    """One corpus file (its path and identity as the driver read it), as an executor task."""
    from curagate.build import require_same_file

    index, options = common
    path, identity = file
    require_same_file(path, path, identity)
    return _scan_file(index, None, options, path, None)


def _scan_file(
    index: LeakageIndex, paraphrases: Any, options: _ScanOptions, path: str, bar: Any
) -> _FileScan:
    part = _FileScan()
    by_item = part.by_item
    text_field = options.text_field
    for batch in read_batches(
        [path], format=options.format, text_field=text_field, batch_rows=options.batch_rows
    ):
        if bar is not None:
            bar.update(batch.input_rows)
        part.text_read |= batch.format == RecordFormat.TEXT
        keys = batch.keys
        part.records += len(keys)
        part.nbytes += _text_bytes(keys)
        # The key, then the rest of the row (a preference row's responses, a
        # message's reasoning, a system or metadata field): one definition for
        # every command (curagate.leakage.texts).
        texts = row_texts(batch.table, batch.format, keys, text_field, media=batch.media)
        aside: set[tuple[int, int]] = set()  # (row, item) pairs the media rule set aside
        hits_of = [
            (scanned, hits)
            for scanned, _, hits in _new_hits(
                lambda t: _scan(index, paraphrases, t), texts, index, aside
            )
        ]
        more: list[_core.Leak] = []
        if paraphrases is not None:
            rows = _row_strings(batch.table)
            hits_of, more = _most_similar(index, paraphrases, hits_of, rows)
            if batch.media is not None:  # as the lexical hits (_new_hits)
                more = index.media_kept(more, batch.media.to_pylist(), aside)
        part.media_set_aside += len(aside)
        for row, item in sorted(aside)[: MAX_SET_ASIDE_LISTED - len(part.set_aside_rows)]:
            part.set_aside_rows.append((index.items[item].shown_id, batch.rows[row].as_py()))
        for scanned, hits in hits_of:
            if hits:
                _collect(by_item, index, hits, scanned, _places(batch, hits), options.whole_spans)
        if more:
            _collect(by_item, index, more, keys, _places(batch, more), options.whole_spans)
        if paraphrases is not None:  # by their key, once per record (not per text scanned)
            part.paraphrase_unreadable += paraphrases.unreadable_among(keys)
        part.unreadable.extend(_unreadable_fields(batch, texts))
        if batch.quarantined:
            part.quarantined += len(batch.quarantined)
            # Rows that failed format validation still hold text: a test item
            # hidden in a row with an empty completion is a leak all the same.
            found, where, bad = quarantined_texts(batch.quarantined)
            part.unreadable.extend(bad)
            part.quarantined_scanned += len(found)
            if found:
                qkeys = pa.array(found, pa.large_string())
                part.nbytes += _text_bytes(qkeys)
                # With the views of a valid row's key (its turns one by one, decoded...).
                qtexts = RowTexts(qkeys, None)
                qhits = [
                    (scanned, hits)
                    for scanned, _, hits in _new_hits(
                        lambda t: _scan(index, paraphrases, t), qtexts, index
                    )
                ]
                more = []
                if paraphrases is not None:
                    # Each line alone, as a valid row's strings (found by re-attack: a
                    # reworded item beside an id and a lone surrogate in a row quarantined
                    # for it was diluted in the row's text, exit 0 under --fail-on-leak).
                    lines = [text.split("\n") for text in found]
                    qhits, more = _most_similar(index, paraphrases, qhits, lines)
                    part.paraphrase_unreadable += paraphrases.unreadable_among(qkeys)
                for scanned, hits in qhits:
                    if hits:
                        _collect(by_item, index, hits, scanned, where, options.whole_spans)
                if more:
                    _collect(by_item, index, more, qkeys, where, options.whole_spans)
    return part


_Scanned = list[tuple[pa.Array, list[_core.Leak]]]  # texts scanned, each with its hits


def _most_similar(
    index: LeakageIndex, paraphrases: Any, scanned: _Scanned, rows: Sequence[Sequence[str]]
) -> tuple[_Scanned, list[_core.Leak]]:
    """The hits of the texts ``scanned`` (:func:`_new_hits`: the key, the other strings, their
    views) and the paraphrase hits of each row's ``rows`` strings one by one
    (:func:`_paraphrased`), one per (row, item): a pair the lexical methods flag as they
    flag it, another at its most similar text or string (the earlier of equals). Found by
    attack: a paraphrase found in a row's first text was reported there, at 0.935 for the
    prompt and completion joined, where the completion alone was at 0.979."""

    def pair(h: _core.Leak) -> tuple[int, int]:
        return (h.record, index.hit_item(h.item))

    lexical = {pair(h) for _, hits in scanned for h in hits if h.methods}
    said = {pair(h): _similarity(h) for _, hits in scanned for h in hits if not h.methods}
    more = [
        h
        for h in _paraphrased(index, paraphrases, rows, lexical)
        if _similarity(h) > said.get(pair(h), -2.0)
    ]
    beaten = {pair(h) for h in more}
    kept = [
        (text, [h for h in hits if h.methods or pair(h) not in beaten]) for text, hits in scanned
    ]
    return kept, more


def _similarity(hit: _core.Leak) -> float:
    return -2.0 if hit.similarity is None else hit.similarity


def _row_strings(table: pa.Table) -> list[list[str]]:
    """Each row's strings, one by one (a completion, a chosen or rejected response, each
    message's content), but its id. Found by attack: the paraphrase pass read the texts
    the lexical methods read, the key and the other strings joined, where a reworded item
    that is one field of a record is diluted: an assistant turn asking "Which city is the
    capital of France?" was no paraphrase of the golden question (it is at 0.97 alone)."""
    columns = [c for c in table.column_names if c != "id"]
    return [list(_strings_in(record)) for record in table.select(columns).to_pylist()]


def _paraphrased(
    index: LeakageIndex,
    paraphrases: Any,
    rows: Sequence[Sequence[str]],
    reported: set[tuple[int, int]],
) -> list[_core.Leak]:
    """Paraphrase hits of each row's ``strings``, one by one, for the (row, item) pairs
    (:meth:`LeakageIndex.hit_item`) not ``reported``, one per pair: the most similar
    string, by the most similar of the item and its views (the first of equals)."""
    strings: list[str] = []
    owner: list[int] = []
    for row, texts in enumerate(rows):
        for text in dict.fromkeys(texts):
            strings.append(text)
            owner.append(row)
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for p in paraphrases.scan(strings):
        row, item = owner[p.corpus], index.unsplit(p.reference)
        pair = (row, index.hit_item(item))
        if pair not in reported and p.similarity > best.get(pair, (-2.0, 0))[0]:
            best[pair] = (p.similarity, item)
    return [_core.Leak(row, item, similarity=sim) for (row, _), (sim, item) in sorted(best.items())]


def _strings_in(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (a row as Python objects), in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings_in(v)


def _unreadable_fields(batch: Batch, texts: RowTexts) -> list[Quarantined]:
    """The fields of valid rows holding bytes that are not UTF-8 text, as unreadable rows."""
    lines = batch.lines
    return [
        Quarantined(
            batch.source,
            None if lines is None else lines[k].as_py(),
            batch.rows[k].as_py(),
            f"field {name!r} holds bytes that are not UTF-8 text (scanned with replacement "
            "characters, so not known to be clean); store text as UTF-8 strings",
            None,
        )
        for k, name in texts.unreadable
    ]


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a scanned text came from."""

    file: str
    row: int
    line: int | None
    id: str
    quarantined: bool


def _scan(index: LeakageIndex, paraphrases: Any, keys: pa.Array) -> list[_core.Leak]:
    """:meth:`LeakageIndex.scan_views` of ``keys``, with the paraphrase pass's hits."""
    raw = index.scan_views(keys)
    if paraphrases is not None:
        # Only pairs the lexical methods missed: reworded copies (an item and its view with
        # joiners split are one item: the hit is given to the item).
        found = {(leak.record, index.unsplit(leak.item)) for leak in raw}
        best: dict[tuple[int, int], float] = {}
        for p in paraphrases.scan(keys):
            pair = (p.corpus, index.unsplit(p.reference))
            if pair not in found and p.similarity > best.get(pair, -2.0):
                best[pair] = p.similarity  # the item's or its view's, the most similar
        raw += [_core.Leak(row, item, similarity=sim) for (row, item), sim in best.items()]
        raw.sort(key=lambda leak: (leak.record, leak.item))
    return raw


def _places(batch: Any, hits: list[_core.Leak]) -> dict[int, _Place]:
    """Where each record with a hit is: file, row, line, id (a valid row)."""
    lines = batch.lines
    return {
        k: _Place(
            batch.source,
            batch.rows[k].as_py(),
            None if lines is None else lines[k].as_py(),
            batch.ids[k].as_py(),
            False,
        )
        for k in {hit.record for hit in hits}
    }


def _collect(
    by_item: dict[int, ReferenceLeak],
    index: LeakageIndex,
    raw: list[_core.Leak],
    keys: pa.Array,
    places: dict[int, _Place],
    whole_spans: bool = False,
) -> None:
    texts: dict[int, str] = {}
    for hit in raw:
        text = texts.get(hit.record)
        if text is None:
            text = texts[hit.record] = keys[hit.record].as_py()
        place = places[hit.record]
        span = hit.span
        match = Match(
            file=place.file,
            row=place.row,
            line=place.line,
            id=place.id,
            methods=tuple(hit.methods) or ("paraphrase",),
            shared_ngrams=hit.shared_ngrams,
            ratio=hit.ratio,
            similarity=hit.similarity,
            span=None
            if span is None
            else Span(
                span.reference_start,
                span.reference_end,
                span.record_start,
                span.record_end,
                span.words,
                text=(
                    text[span.record_start : span.record_end]
                    if whole_spans
                    else _clip(text[span.record_start : span.record_end])
                ),
            ),
            quarantined=place.quarantined,
        )
        leak = by_item.get(hit.item)
        if leak is None:
            leak = by_item[hit.item] = ReferenceLeak(index.items[hit.item])
        leak.matches.append(match)


def quarantined_texts(
    rows: Sequence[Quarantined],
) -> tuple[list[str], dict[int, _Place], list[Quarantined]]:
    """The text of each quarantined row (every string in it, joined by newlines, then its
    conversations as "role: content" lines), where each came from, and the rows that
    could not be parsed at all. Scan it as a key (``RowTexts(texts, None)``), for its views.

    A row that is not valid JSON is unreadable; its raw line is still
    scanned as text (best effort: JSON escapes are not undone).
    """
    texts: list[str] = []
    places: dict[int, _Place] = {}
    unreadable: list[Quarantined] = []
    for q in rows:
        value = _parsed(q)
        if value is _UNPARSED or q.lossy:
            # Not JSON, or bytes that are not UTF-8 read as U+FFFD: scanned all the same,
            # but what the replaced bytes held cannot be shown clean (fail closed).
            unreadable.append(q)
        if value is _UNPARSED:
            if q.raw is None or q.row is None:
                continue  # the file's damaged part, or a row without its bytes
            value = q.raw
        strings = strings_of(value, decode_json=True)  # JSON in a string too, decoded
        if not strings:
            continue
        assert q.row is not None
        places[len(texts)] = _Place(q.file, q.row, q.line, _row_id(value, q), True)
        # Its conversations rendered as a valid row's key renders them, last (after them,
        # the other strings were glued to the last turn): their turns get the views a
        # valid row's get (texts.RowTexts.parts, as are the texts without zero-width spaces,
        # with joined words split or markup decoded). Joined as strings ("user" and its
        # text on lines of their own), a chat quarantined for an empty system prompt showed
        # no turn, and a short golden question that was a whole user turn matched nothing.
        texts.append("\n".join([*strings, *conversations_of(value)]))
    return texts, places, unreadable


_UNPARSED = object()


def _parsed(q: Quarantined) -> Any:
    """A quarantined row's JSON value; :data:`_UNPARSED` when the row is not JSON
    or has no bytes or place (the damaged part of a file)."""
    if q.raw is None or q.row is None:
        return _UNPARSED
    try:
        value = json.loads(q.raw, object_pairs_hook=every_value)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate escape (\ud800) the readers refused: the rest of the row
            # is scanned, the surrogate read as U+FFFD (Arrow holds no surrogate).
            text = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
            value = json.loads(text.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return _UNPARSED
    return value


def _row_id(value: Any, q: Quarantined) -> str:
    """A quarantined row's ``id`` field, else ``file:row`` (as the readers name rows)."""
    record_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(record_id, str | int) or isinstance(record_id, bool):
        return f"{q.file}:{q.row}"
    return str(record_id)


def _quarantined_key(value: Any, fmt: RecordFormat, text_field: str | None) -> str:
    """The key a quarantined reference row's fields give, rendered as the readers
    render keys; when they give none, every string of the row but its id."""
    if not isinstance(value, dict):
        return "\n".join(strings_of(value))
    names = key_columns(fmt, value, text_field, "prompt")
    if names is None:
        key = render_value(extract_prompt(value.get("chosen"), value.get("rejected"))[0])
    else:
        key = "\n".join(render_value(value.get(name)) for name in names)
    if key.strip():
        return key
    return "\n".join(strings_of({k: v for k, v in value.items() if k != "id"}))


SPAN_TEXT_CHARS = 300


def _clip(text: str) -> str:
    """The matched text, shortened in the middle: offsets locate the whole span."""
    if len(text) <= SPAN_TEXT_CHARS:
        return text
    half = SPAN_TEXT_CHARS // 2
    return f"{text[:half]} … {text[-half:]}"


def _text_bytes(keys: pa.Array) -> int:
    if len(keys) == 0:
        return 0
    return int(pc.sum(pc.binary_length(keys)).as_py() or 0)


def write_report(
    result: LeakageResult, out: str | os.PathLike[str], claim: Claim | None = None
) -> dict[str, Path]:
    """Write ``leakage.json``, ``leakage.md`` and ``leakage.html`` into ``out`` (``claim``:
    see :func:`curagate.io.outputs.report_folder`)."""
    from curagate.leakage.report import write_report as _write

    return _write(result, Path(out), claim)
