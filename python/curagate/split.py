"""Leakage-free train/val/test splits.

A split is only honest if nothing in val or test is also in train. Rows are
first joined into *units* that must land in the same split: rows sharing a
``cluster_id`` (written by curate's exact/near/semantic dedup, even when a
loose keep policy kept several of them), rows sharing a group key, rows with
the same normalized dedup key, near copies (exact Jaccard of word 5-gram sets
>= curate's ``near.threshold``, every pair: :mod:`curagate.split_pairs`),
and (optionally) records sharing a passage or a semantic cluster. Units,
never rows, are then assigned to splits:

``random``      units in a seeded random order, each to the split furthest below its target
``stratified``  the same, per label (the label of a unit is its most common one), with
                the rounding carried across labels so the totals stay on target
``grouped``     like ``random``; ``--group`` must be given (groups never straddle)
``time``        units ordered by their oldest timestamp: oldest to train, then val, then test

After assignment the splits are checked against each other (:class:`Overlap`):
exact and near copies in two splits are joined and the units reassigned until
none is left (the repair); shared passages (a word 13-gram that is not
boilerplate) are reported or, on request, joined. ``split_manifest.json``
records counts, ratios, label distribution, seed, the repair, the findings
and the sha256 of every output file.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from curagate._lazy import lazy_import
from curagate.artifacts import SplitManifestDoc, validated, write_artifact
from curagate.audit.keys import fingerprints
from curagate.config import MAX_CONFIG_BYTES, NearConfig
from curagate.errors import CheckFailed, ConfigError, CuragateError, InputError, text_field_unused
from curagate.io.atomic import atomic_path
from curagate.io.manifest import sha256_file
from curagate.io.outputs import read_regular
from curagate.limits import given
from curagate.ratios import SPLIT_NAMES, check_ratios
from curagate.records import DEFAULT_BATCH_ROWS, RecordFormat, label_text

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curagate.split_pairs import ReferenceHit, ScanRead
else:
    pa = lazy_import("pyarrow")
    pq = lazy_import("pyarrow.parquet")

MODES: tuple[str, ...] = ("random", "stratified", "grouped", "time")
DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
DEFAULT_CLUSTER_COLUMN = "cluster_id"
MANIFEST_NAME = "split_manifest.json"
# Leak examples kept in the manifest; the counts are always complete.
MAX_REPORTED_LEAKS = 100


@dataclass(frozen=True, slots=True)
class SplitResult:
    out_dir: Path
    counts: dict[str, int]
    manifest: dict[str, Any]

    @property
    def leaks(self) -> int:
        """Val/test rows the check flags after the repair: rows sharing a passage
        with an earlier split (near and exact copies are repaired, never left)."""
        return int(self.manifest["verification"]["leaks_total"])


# --- units -------------------------------------------------------------------


class _UnionFind:
    __slots__ = ("parent",)

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller root wins, so unit ids do not depend on union order.
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def build_units(
    n_rows: int,
    constraints: Iterable[Sequence[Any]],
    links: Iterable[tuple[int, int]] = (),
) -> list[int]:
    """Join rows that share a non-null value in any constraint column, and the
    row pairs in ``links`` (near copies, shared passages).

    Returns a dense unit id per row, numbered in order of each unit's first row.
    """
    uf = _UnionFind(n_rows)
    for values in constraints:
        first: dict[Any, int] = {}
        for row, value in enumerate(values):
            if value is None:
                continue
            seen = first.setdefault(value, row)
            if seen != row:
                uf.union(seen, row)
    for a, b in links:
        uf.union(a, b)
    dense: dict[int, int] = {}
    return [dense.setdefault(uf.find(r), len(dense)) for r in range(n_rows)]


# --- assignment --------------------------------------------------------------


def _greedy_fill(
    order: Sequence[int],
    sizes: Sequence[int],
    targets: list[float],
    counts: list[int],
    ratios: Sequence[float],
    out: list[int],
) -> None:
    """Give each unit to the split furthest below its target (ties: larger ratio, then order)."""
    for u in order:
        best = max(range(3), key=lambda i: (targets[i] - counts[i], ratios[i], -i))
        out[u] = best
        counts[best] += sizes[u]


def assign_units(
    sizes: Sequence[int],
    *,
    ratios: Sequence[float],
    seed: int,
    mode: str,
    unit_labels: Sequence[str | None] | None = None,
    unit_times: Sequence[Any] | None = None,
) -> list[int]:
    """Return the split index (0 train, 1 val, 2 test) of every unit.

    A pure function of its arguments: the same inputs give the same split.
    """
    if seed < 0:  # random.Random(-1) is random.Random(1): a seed that silently repeats another
        raise InputError(f"{_opt('--seed')} {seed}: use 0 or more")
    n_units = len(sizes)
    total = sum(sizes)
    out = [0] * n_units
    rng = random.Random(seed)
    if mode == "time":
        if unit_times is None:
            raise ConfigError(f"{_opt('--mode')} time needs {_opt('--time')} COLUMN")
        order = sorted(range(n_units), key=lambda u: (unit_times[u], u))
        bounds = [round(ratios[0] * total), round((ratios[0] + ratios[1]) * total), total]
        done = 0
        for u in order:
            out[u] = next((i for i in range(3) if done < bounds[i] and ratios[i] > 0), 2)
            done += sizes[u]
        return out
    if mode == "stratified":
        if unit_labels is None:
            raise ConfigError(f"{_opt('--mode')} stratified needs {_opt('--label')} COLUMN")
        strata: dict[str | None, list[int]] = {}
        for u in range(n_units):
            strata.setdefault(unit_labels[u], []).append(u)
        carry = [0.0, 0.0, 0.0]
        for label in sorted(strata, key=_label_order):
            members = strata[label]
            rng.shuffle(members)
            size = sum(sizes[u] for u in members)
            # The rounding left by earlier labels is carried, so small labels
            # do not all round towards train and the totals stay on target.
            targets = [ratios[i] * size + carry[i] for i in range(3)]
            counts = [0, 0, 0]
            _greedy_fill(members, sizes, targets, counts, ratios, out)
            carry = [targets[i] - counts[i] for i in range(3)]
        return out
    if mode not in ("random", "grouped"):
        raise ConfigError(f"{_opt('--mode')} {mode!r}: choose one of {', '.join(MODES)}")
    order = list(range(n_units))
    rng.shuffle(order)
    _greedy_fill(order, sizes, [r * total for r in ratios], [0, 0, 0], ratios, out)
    return out


# --- keys, labels, times -----------------------------------------------------


def _label_text(value: Any) -> str | None:
    """A row's label as text (:func:`~curagate.records.label_text`, as audit counts it: the
    label 0 of one file and 0.0 of another are one label, as they are one class); None when
    it has none (kept apart: a missing label and the string "null" were one label, in the
    strata and in the manifest's counts)."""
    return None if value is None else label_text(value)


def _label_order(label: str | None) -> tuple[bool, str]:
    """Labels in text order, the missing label last."""
    return (label is None, label or "")


@dataclass(frozen=True)
class Spelling:
    """How split's messages name its options and the rows it read, for whoever ran it:
    ``curagate split`` (the defaults) or ``curate --split``, whose user set ``split.time``
    in a config (curate has no ``--time``) and knows the input row a kept record came from,
    not row 3 of a file in a temporary folder (nor of ``kept/part-00000.parquet``, which
    a failed run leaves nowhere)."""

    options: Mapping[str, str] = field(default_factory=dict)  # "--time" -> "split.time"
    row: str = "{source} row {row}"  # a row of a file read without line numbers
    # (source, row) -> where the user finds that row (curate: the input record a kept
    # record came from), or None to use ``row``
    locate: Callable[[str, int], str | None] | None = None
    # source -> the file the user has for it (curate: the input a kept part came from)
    name_file: Callable[[str], str] | None = None


_CLI_SPELLING = Spelling()
_SPELLING: ContextVar[Spelling | None] = ContextVar("split_spelling", default=None)


@contextmanager
def spelled(spelling: Spelling) -> Iterator[None]:
    """Split's errors inside the block name options and rows as ``spelling`` says."""
    token = _SPELLING.set(spelling)
    try:
        yield
    finally:
        _SPELLING.reset(token)


def _opt(flag: str) -> str:
    """``flag`` (``--time``) as the user who ran split sets it."""
    return (_SPELLING.get() or _CLI_SPELLING).options.get(flag, flag)


def _where(where: tuple[str, int, int | None]) -> str:
    source, row, line = where
    if line is not None:
        return f"{source}:{line}"
    spelling = _SPELLING.get() or _CLI_SPELLING
    found = spelling.locate(source, row) if spelling.locate is not None else None
    return found if found is not None else spelling.row.format(source=source, row=row)


def _files(sources: Iterable[str]) -> str:
    """``sources`` (files split read) as the user knows them, each named once."""
    spelling = _SPELLING.get() or _CLI_SPELLING
    named = (spelling.name_file(s) if spelling.name_file else s for s in sources)
    return ", ".join(dict.fromkeys(named))


class _Nanos(int):
    """A time from an Arrow timestamp column: nanoseconds since the epoch, UTC (Python's
    datetime cannot hold nanoseconds, and pyarrow makes none of them without pandas)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_PARTS = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")
_EIGHT_DIGITS = re.compile(r"[0-9]{8}")
# The ISO-8601 (and RFC 3339) forms read as times: a calendar date, extended (2024-05-01)
# or basic (20240501, then with a time only), or a week date (2024-W18-3, 2024W183); a
# time after T, t or a space, extended (12:00:00) or basic (120000), with its seconds'
# fraction; a Z (z) or an offset (+02, +02:00, +0200, with seconds +05:21:10 as Python
# writes historical zones' offsets, hours 00-23, minutes and seconds 00-59), after a
# space too. Python's parser takes more, and wrongly: any character between date and
# time, a fraction of an hour or a minute as one of seconds (12:30.5 as 12:30:00.5), any
# digits as a date and a time (zero-padded epoch ns "01701011300000000000" was
# 0170-10-11), an offset's minutes 60-99; it reads only what matches here, as rebuilt
# from the parts (the seconds' digits past the sixth are kept apart, the offset applied
# by curagate).
# An offset's fraction of a second is matched to be refused by name (see _offset_seconds).
_OFFSET_DIGITS = (
    r"[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?|[0-9]{2}(?:[0-9]{2}(?:[.,][0-9]+)?)?)?"
)
_OFFSET_PARTS = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})?:?([0-9]{2})?(?:[.,]([0-9]+))?")
_ISO_TIME = re.compile(
    r"(?P<date>(?P<year>[0-9]{4})(?:-[0-9]{2}-[0-9]{2}|-?W[0-9]{2}|-W[0-9]{2}-[1-7]|W[0-9]{2}[1-7])"
    r"|(?P<basic>[0-9]{4})[0-9]{4}(?=[Tt ]))"
    r"(?:[Tt ](?P<clock>(?P<hour>[0-9]{2})"
    r"(?::[0-9]{2}(?::(?P<second>[0-9]{2}))?|[0-9]{2}(?P<bsecond>[0-9]{2})?)?)"
    # a fraction of the seconds only: (?!) fails where the time has none
    r"(?:(?(second)|(?(bsecond)|(?!)))[.,](?P<fraction>[0-9]+))?"
    rf"(?: ?(?P<offset>[Zz]|[+-]{_OFFSET_DIGITS}))?)?"
)
# ISO-8601 forms not read, by what they are, with how to write the time instead.
_ISO_UNREAD = (
    (re.compile(r"[0-9]{4}-[0-9]{2}"), "reduced precision: a month without its day"),
    (re.compile(r"[+-][0-9]{4,}-.*"), "an expanded year, with a sign"),
    (re.compile(r"[0-9]{4}-?[0-9]{3}(?:[Tt ].*)?"), "an ordinal date, the day of the year"),
    (
        re.compile(
            r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}|[0-9]{4}-?W[0-9]{2}(?:-?[1-7])?)[Tt ]"
            r"[0-9]{2}(?::?[0-9]{2})?[.,][0-9]+(?: ?(?:[Zz]|[+-][0-9:.,]+))?"
        ),
        "a decimal fraction of an hour or a minute, read by Python as one of seconds",
    ),
    (
        re.compile(r"[Tt]?[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:[Zz]|[+-].*)?"),
        "a time of day without a date",
    ),
)
_TIME_EXAMPLES = "2024-05-01 or 2024-05-01T12:00:00Z"
_TIME_FORMS = (
    "write times as numbers (epoch seconds, ms or ns, as JSON writes them) or as ISO-8601 "
    "dates and times: 2024-05-01, 2024-W18-3 or 2024W183, then T and 12, 12:00, 12:00:00, "
    "12:00:00.5 or 120000.5, then Z or an offset (+02, +02:00, +0200)"
)
# Exponents past these (of a number's leading digit) are beyond Python's Decimal.
_MAX_ADJUSTED = 10**18


def _is_day(value: Any) -> bool:
    """Whether ``value`` is a string of eight digits that are a date, YYYYMMDD: a date
    beside ISO times, refused beside numbers (20240502 after 202405011200 as a number)."""
    if not isinstance(value, str) or _EIGHT_DIGITS.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _misspelt_number(value: str) -> str | None:
    """What keeps ``value``, a number to Python (``+5``, ``0123``, ``1_000``), from
    being a JSON number; ``None`` when it is no number at all."""
    text = value.strip()
    for parse in (float, lambda t: int(t, 0)):
        try:
            parse(text)
            break
        except ValueError:
            continue
    else:
        return None
    if text != value:
        return "has spaces around it"
    if not text.isascii():
        return "has digits other than 0-9"
    if text.lstrip("+-").lower() in ("nan", "inf", "infinity"):
        return "is not finite"
    if "_" in text:
        return "has '_' in it"
    if text.startswith("+"):
        return "starts with '+'"
    if re.match(r"-?0[xXoObB]", text):
        return "is not decimal"
    if re.match(r"-?0[0-9]", text):
        return "has a leading zero"
    return "is not written as a JSON number"


def _exact_number(value: str, where: tuple[str, int, int | None], column: str) -> int | Decimal:
    """A JSON number's text as the number it is: an int, else a Decimal (exact; Python
    compares it with ints, floats and Decimals exactly)."""
    # 4300 digits: Python's limit on int(str); a Decimal holds longer ones.
    if _JSON_INT.fullmatch(value) is not None and len(value) <= 4300:
        return int(value)
    try:
        return Decimal(value)
    except InvalidOperation:
        pass
    # Zero, whatever its exponent, or a number past a Decimal's exponents (10^18).
    parts = _NUMBER_PARTS.fullmatch(value)
    assert parts is not None  # a JSON number
    whole, fraction, exponent = parts[1], parts[2] or "", parts[3] or "0"
    if not (whole + fraction).strip("0"):
        return 0
    big = exponent.lstrip("+")[:1] != "-"
    raise InputError(
        f"{_where(where)}: {_opt('--time')} column {column!r} has {_cut(value)!r}, a number "
        f"{'too far from' if big else 'too close to'} zero to be ordered (numbers are read "
        "between 10^-10^18 and 10^10^18 in size); write the time as epoch seconds, ms or "
        f"ns or as an ISO-8601 time ({_TIME_EXAMPLES})"
    )


def _cut(value: str) -> str:
    """``value`` as an error message echoes it: its first 40 characters (a 10 MB time
    string made a 10 MB error line)."""
    return value if len(value) <= 40 else value[:40] + "..."


def _iso_time(value: str, where: tuple[str, int, int | None], column: str) -> tuple[int, int, str]:
    """An ISO-8601 string's time, (1, nanoseconds since the epoch, the seconds' digits
    past the ninth): two times 1e-10 s apart are two times, not one whose rows fall in
    input order (the later row went to train, the earlier to test). Python's parser,
    which holds microseconds, reads it as rebuilt from the parts :data:`_ISO_TIME`
    matched (``T``, ``Z``, ``.``, no space before the offset)."""

    def refuse(why: str) -> NoReturn:
        raise InputError(
            f"{_where(where)}: {_opt('--time')} column {column!r} has {_cut(value)!r}, {why}"
        )

    parts = _ISO_TIME.fullmatch(value)
    if parts is None:
        wrong = _misspelt_number(value)
        if wrong is not None:
            refuse(
                f"a number that {wrong}; numbers are read as JSON writes them (1714600000, "
                "1714600000.5, 1.7e9: digits 0-9 without '+', leading zeros, spaces or '_'): "
                f"write it so, or every time as an ISO-8601 time ({_TIME_EXAMPLES})"
            )
        for form, what in _ISO_UNREAD:
            if form.fullmatch(value) is not None:
                refuse(f"an ISO-8601 form curagate does not read ({what}); {_TIME_FORMS}")
        refuse(f"which is no time curagate reads; {_TIME_FORMS}")
    shift = _offset_seconds(parts["offset"], refuse)
    text = parts["date"] if parts["clock"] is None else f"{parts['date']}T{parts['clock']}"
    digits = parts["fraction"] or ""
    if digits:
        text += "." + digits[:6]
    try:
        time = datetime.fromisoformat(text)
    except ValueError as e:
        second, hour = parts["second"] or parts["bsecond"], parts["hour"]
        if second == "60":
            refuse(f"an ISO-8601 form curagate does not read (a leap second); {_TIME_FORMS}")
        if hour == "24":
            refuse(
                "an ISO-8601 form curagate does not read (24:00, the end of a day: write "
                f"00:00 of the next day); {_TIME_FORMS}"
            )
        if (parts["year"] or parts["basic"]) == "0000":
            refuse(
                f"an ISO-8601 form curagate does not read (year 0, before year 1); {_TIME_FORMS}"
            )
        refuse(f"an ISO-8601 form but no time ({e}); {_TIME_FORMS}")
    # The offset applied here, exactly: Python 3.11 drops the fraction of an offset whose
    # hours, minutes and seconds are zero, and takes minutes and seconds 60-99.
    us = (time.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1) - shift * 1_000_000
    return (1, us * 1000 + int(digits[6:9].ljust(3, "0")), digits[9:].rstrip("0"))


def _offset_seconds(offset: str | None, refuse: Callable[[str], NoReturn]) -> int:
    """An ISO time's offset (``Z``, ``+05:30``, ``-0456``, ``+05:21:10``) in seconds east
    of UTC, checked: hours 00-23, minutes and seconds 00-59, no fraction of a second."""
    if offset is None or offset in ("Z", "z"):
        return 0
    parts = _OFFSET_PARTS.fullmatch(offset)
    assert parts is not None  # matched by _ISO_TIME
    sign, hours, minutes, seconds, fraction = parts.groups()
    utc = "write the offset so, or the time in UTC (2024-05-01T12:00:00Z)"
    if fraction is not None:
        # Python writes one only for a timezone() of a sub-second offset: no zone has one.
        refuse(
            f"an offset {_cut(offset)!r} with a fraction of a second: offsets are whole "
            "hours and minutes (ISO 8601, RFC 3339), seconds too as Python writes historical "
            f"zones' offsets (+05:21:10); {utc}"
        )
    wrong = [
        f"{name} {value}"
        for name, value, top in (
            ("hours", hours, 23),
            ("minutes", minutes, 59),
            ("seconds", seconds, 59),
        )
        if value is not None and int(value) > top
    ]
    if wrong:
        refuse(
            f"an offset {offset!r} with {' and '.join(wrong)}: offsets have hours 00-23, "
            f"minutes and seconds 00-59 (ISO 8601, RFC 3339); {utc}"
        )
    size = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return size if sign == "+" else -size


def _time_value(
    value: Any, where: tuple[str, int, int | None], column: str, *, number: bool = False
) -> Any:
    """Make timestamps comparable: (0, number) or (1, nanoseconds since the epoch, the
    seconds' digits past the ninth); ISO strings are parsed, naive times are UTC, a date
    is its midnight. ``number``: a string ``value`` is a JSON number's text (a JSON number
    column the reader keeps as its values' strings), read as JSON reads the number."""
    if value is None:
        raise InputError(
            f"{_where(where)}: {_opt('--time')} column {column!r} is null; every row needs a time"
        )
    if isinstance(value, _Nanos):
        return (1, int(value), "")
    if number and isinstance(value, str) and _JSON_NUMBER.fullmatch(value):
        # As in a number column: an integer exactly (20240101 is the number, not a date),
        # a fraction or an exponent as the double it reads as. The reader writes a double
        # as Python's shortest repr, which is not that double: "1.152921504606847e+18" (read
        # from 1152921504606846976.5, 2^60) went after the integer 1152921504606846980.
        if _JSON_INT.fullmatch(value) is None:
            as_double = float(value)
            if math.isfinite(as_double):
                return (0, as_double)
        # An integer, or a literal past a double's range the reader keeps as written
        # (1e400): the number it writes.
        return (0, _exact_number(value, where, column))
    if isinstance(value, str) and _JSON_NUMBER.fullmatch(value) and not _is_day(value):
        # A number written as a string (epoch seconds, ms or ns; a JSON number column the
        # reader keeps as its values' strings since doubles would round its integers,
        # docs/formats.md): the number, exactly. Read as a double, "1700000000.123456789"
        # and "...788" were one time, and Python's ISO parser took digits for a date and
        # a time (epoch ns "1701011210000000000" was 1701-01-12, tied with 10 s earlier).
        return (0, _exact_number(value, where, column))
    if isinstance(value, str):
        if _is_day(value):
            value = date.fromisoformat(value)
        else:
            return _iso_time(value, where, column)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (1, (value - _EPOCH) // timedelta(microseconds=1) * 1000, "")
    if isinstance(value, Decimal):
        # A Parquet decimal column: ordered as the number it is (Python compares a Decimal
        # with an int or a float exactly); it was refused as "not a number".
        if not value.is_finite():
            raise InputError(
                f"{_where(where)}: {_opt('--time')} column {column!r} has {str(value)!r}, "
                "which is not a finite number; every row needs a time"
            )
        return (0, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # A time of day (Arrow time32/time64) or a duration is no point in time.
        raise InputError(
            f"{_where(where)}: {_opt('--time')} column {column!r} has {_cut(repr(value))} "
            f"({type(value).__name__}); use numbers or ISO-8601 times"
        )
    if not math.isfinite(value):
        # NaN compares false with everything: the rows' order would be arbitrary.
        raise InputError(
            f"{_where(where)}: {_opt('--time')} column {column!r} has {value!r}, which is not "
            "a finite number; every row needs a time"
        )
    return (0, value)


# --- reading -----------------------------------------------------------------


@dataclass(slots=True)
class _Loaded:
    table: pa.Table
    keys: list[str]
    key_array: pa.LargeStringArray
    ids: list[str]
    where: list[tuple[str, int, int | None]]  # (source, row, line) per row
    files: list[dict[str, Any]]
    quarantined: list[Any]
    # (first row, rows, columns) of each batch with columns of JSON numbers the reader
    # keeps as their values' strings (Batch.number_text)
    number_text: list[tuple[int, int, frozenset[str]]]
    # Each row's media identity (Batch.media; 0: none), None when no row holds media: rows
    # of other media are never copies, as in curate
    media: pa.UInt64Array | None = None


def _load(
    paths: Sequence[Path],
    *,
    format: str | None,
    text_field: str | None,
    preference_key: str,
    relabel: tuple[Path, Path] | None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    number_rows: Callable[[str, int, str], bool] | None = None,
) -> _Loaded:
    from curagate.digest import file_state, require_unchanged
    from curagate.io import read_batches

    # The inputs as the read starts: the manifest's sha256 of each (hashed after the
    # read) must be of the bytes that were split.
    first_seen = [file_state(p) for p in paths]
    tables: list[pa.Table] = []
    keys: list[str] = []
    ids: list[str] = []
    where: list[tuple[str, int, int | None]] = []
    quarantined: list[Any] = []
    rows_per_file: Counter[str] = Counter()
    unreadable: dict[str, str] = {}  # file -> why it could not be read (to its end)
    formats: dict[str, str] = {}  # record format -> the first file holding it
    text_read = False  # a batch read as text records (with a text_field: by it)
    number_text: list[tuple[int, int, frozenset[str]]] = []
    media: list[tuple[int, pa.UInt64Array]] = []  # (first row, identities) of batches with media
    for batch in read_batches(
        paths,
        format=format,
        text_field=text_field,
        preference_key=preference_key,
        batch_rows=batch_rows,
    ):
        text_read |= batch.format == RecordFormat.TEXT
        if batch.table.num_rows:
            formats.setdefault(str(batch.format), _shown(Path(batch.source), relabel).as_posix())
        if batch.number_text and batch.table.num_rows:
            number_text.append((len(keys), batch.table.num_rows, batch.number_text))
        tables.append(batch.table)
        if batch.media is not None:
            media.append((len(keys), batch.media))
        keys.extend(batch.keys.to_pylist())
        ids.extend(_shown_ids(batch.ids.to_pylist(), batch.source, relabel))
        lines = batch.lines.to_pylist() if batch.lines is not None else None
        shown = _shown(Path(batch.source), relabel).as_posix()
        for i, row in enumerate(batch.rows.to_pylist()):
            where.append((shown, row, lines[i] if lines is not None else None))
        quarantined.extend(batch.quarantined)
        rows_per_file[batch.source] += batch.input_rows
        for q in batch.quarantined:
            if _whole_file(q):
                # The reader's note that the file could not be read (to its end) is no row
                # of it: a .gz of 200 records damaged early was "rows": 1 (found by attack).
                rows_per_file[batch.source] -= 1
                unreadable.setdefault(batch.source, q.reason)
    if not tables or sum(t.num_rows for t in tables) == 0:
        raise InputError(_nothing_to_split(paths, quarantined, relabel))
    if text_field is not None and not text_read:
        # Each file was read in the format its columns give: a misspelt column made the
        # units of prompt and completion, without a word (curate refuses it so).
        raise InputError(text_field_unused(text_field))
    refuse_several_formats(formats)
    tables = _json_number_columns(tables, number_text, where, number_rows)
    _refuse_inexact_decimals(tables, where)
    tables = _common_timestamp_units(_common_content_form(tables))
    try:
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # A dictionary-encoded column (pandas' categorical) beside the plain one of
            # another file holds the same values: decoded, they concatenate (found by
            # attack: exit 2, "incompatible columns").
            table = pa.concat_tables(_decoded(tables), promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InputError(
            f"the records have incompatible columns ({e}): a column holds different types "
            "in different input files, or in different chunks of one file (each chunk of "
            "batch_rows records is typed on its own, and curate writes a file's chunks of "
            "another type to a part of its own: kept/part-NNNNN_0001.parquet); give the column "
            "one type throughout, or split files with the same columns together"
        ) from None
    files = [
        {
            "path": _shown(Path(p), relabel).as_posix(),
            "rows": rows_per_file[Path(p).as_posix()],
            "sha256": sha256_file(Path(p)),
            # `rows` are those read before the damage; the reader's words say where it is
            **given(unreadable=unreadable.get(Path(p).as_posix())),
        }
        for p in paths
    ]
    require_unchanged(
        paths, first_seen, while_="split read it", so="its rows may not be the file's"
    )
    key_array = pa.array(keys, type=pa.large_string())
    return _Loaded(
        table.combine_chunks(),
        keys,
        key_array,
        ids,
        where,
        files,
        quarantined,
        number_text,
        _row_media(media, len(keys)),
    )


def _row_media(parts: list[tuple[int, pa.UInt64Array]], rows: int) -> pa.UInt64Array | None:
    """Each row's media identity, from the batches' (first row, identities); None when no
    batch holds media."""
    if not parts:
        return None
    media = [0] * rows
    for first, ids in parts:
        media[first : first + len(ids)] = ids.to_pylist()
    return pa.array(media, pa.uint64())


def _whole_file(q: Any) -> bool:
    """Whether quarantine entry ``q`` is the reader's note on a whole file that could not be
    read (to its end: damaged, cut, of another kind than its name), not a row of it."""
    return bool(q.row is None and q.line is None)


def _nothing_to_split(
    paths: Sequence[Path], quarantined: Sequence[Any], relabel: tuple[Path, Path] | None
) -> str:
    """The error of inputs without a usable record: why, from the quarantine's first
    entries, and how to see them all (it said "no usable records" alone, found by attack:
    an unrelated metadata column of mixed types quarantined every row)."""
    named = ", ".join(str(p) for p in paths)
    message = f"no usable records in {named}: nothing to split"
    if not quarantined:
        return message
    # The first entry of each reason, with how many share it (every row of a file may
    # share one: a metadata column of mixed types), the first three reasons.
    by_reason: dict[str, list[Any]] = {}
    for q in quarantined:
        by_reason.setdefault(q.reason, []).append(q)
    shown = [
        f"{_quarantine_where(qs[0], relabel)}"
        + (f" and {len(qs) - 1:,} more like it" if len(qs) > 1 else "")
        + f": {reason}"
        for reason, qs in list(by_reason.items())[:3]
    ]
    more = f"; {len(by_reason) - 3:,} other reason(s)" if len(by_reason) > 3 else ""
    files = " ".join(shlex.quote(str(p)) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
    return (
        f"{message}: everything read was quarantined ({len(quarantined):,} entr"
        f"{'y' if len(quarantined) == 1 else 'ies'}): {'; '.join(shown)}{more}; "
        f"`curagate check {files}` lists every one with its file, line and reason"
    )


def _quarantine_where(q: Any, relabel: tuple[Path, Path] | None) -> str:
    """Where quarantine entry ``q`` points, as split names a row: file:line, the file's row,
    or the file itself (a problem of the whole file)."""
    source = _shown(Path(q.file), relabel).as_posix()
    if _whole_file(q):
        return source
    return _where((source, q.row if q.row is not None else 0, q.line))


def _json_number_columns(
    tables: list[pa.Table],
    number_text: list[tuple[int, int, frozenset[str]]],
    where: list[tuple[str, int, int | None]],
    number_rows: Callable[[str, int, str], bool] | None,
) -> list[pa.Table]:
    """``tables`` with a column that holds JSON numbers throughout as one column: where
    the reader kept it as the strings of its JSON numbers in some chunks (an integer past
    int64, Batch.number_text) and read it as numbers (int64, double) in others, the numbers
    are strings too, written as JSON writes them (``5``, ``1.5``), and recorded in
    ``number_text`` (appended to) as JSON numbers' strings, read as the numbers they are.
    Both chunks came from JSON numbers, and were refused as incompatible types. A column
    with a string that is no JSON number's (a JSON string), or a number that is not finite
    (no JSON number), stays as it is: refused by the concatenation. ``number_rows`` says
    which rows' strings are JSON numbers where the reader did not (curate's kept/)."""
    starts = [0]
    for t in tables:
        starts.append(starts[-1] + t.num_rows)
    said: dict[int, frozenset[str]] = {}
    for start, _, columns in number_text:
        said[start] = said.get(start, frozenset()) | columns

    def is_text(t: pa.DataType) -> bool:
        return bool(pa.types.is_string(t) or pa.types.is_large_string(t))

    def is_number(t: pa.DataType) -> bool:
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t))

    def json_numbers(k: int, name: str) -> bool:
        """Whether every string of column ``name`` of table ``k`` is a JSON number's."""
        if name in said.get(starts[k], frozenset()):
            return True
        if number_rows is None:
            return False
        values = tables[k].column(name)
        return all(
            value is None or number_rows(where[starts[k] + i][0], where[starts[k] + i][1], name)
            for i, value in enumerate(values.to_pylist())
        )

    def finite(column: pa.ChunkedArray) -> bool:
        if not pa.types.is_floating(column.type):
            return True
        return all(v is None or math.isfinite(v) for v in column.to_pylist())

    out = list(tables)
    names = sorted({n for t in tables if t.num_rows for n in t.column_names})
    for name in names:
        held = [k for k, t in enumerate(tables) if t.num_rows and name in t.column_names]
        texts = [k for k in held if is_text(tables[k].schema.field(name).type)]
        numbers = [k for k in held if is_number(tables[k].schema.field(name).type)]
        if not texts or not numbers:
            continue
        if not all(finite(tables[k].column(name)) for k in numbers):
            continue
        if not all(json_numbers(k, name) for k in texts):
            continue
        # Tables without rows too: an int64 column of none was refused beside strings.
        for k, t in enumerate(tables):
            if name not in t.column_names or not is_number(t.schema.field(name).type):
                continue
            values = out[k].column(name).to_pylist()
            strings = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
            i = out[k].schema.get_field_index(name)
            out[k] = out[k].set_column(i, out[k].schema.field(i).with_type(pa.string()), strings)
            if out[k].num_rows:
                number_text.append((starts[k], out[k].num_rows, frozenset({name})))
    return out


def _content_is_parts(column: pa.ChunkedArray) -> bool | None:
    """Whether a column of turn lists holds content as lists of parts (True), as strings
    (False), or is no column of turns (None)."""
    t = column.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return None
    turn = t.value_type
    if not pa.types.is_struct(turn) or turn.get_field_index("role") < 0:
        return None
    k = turn.get_field_index("content")
    if k < 0:
        return None
    content = turn.field(k).type
    if pa.types.is_string(content) or pa.types.is_large_string(content):
        return False
    return bool(pa.types.is_list(content) or pa.types.is_large_list(content))


def _decoded(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` with their dictionary-encoded columns as the plain values they encode."""
    out = []
    for t in tables:
        for k, f in enumerate(t.schema):
            if pa.types.is_dictionary(f.type):
                t = t.set_column(
                    k, f.with_type(f.type.value_type), t.column(k).cast(f.type.value_type)
                )
        out.append(t)
    return out


def _common_content_form(tables: list[pa.Table]) -> list[pa.Table]:
    """Tables whose turns hold content as strings where others hold lists of parts, with
    each string as its one text part (as the reader writes a batch that mixes them): a file
    whose later batch alone held parts was kept in two forms, and split refused the
    columns as "incompatible" (docs/formats.md)."""
    from curagate.records import strings_as_parts

    names = {n for t in tables for n in t.column_names}
    out = tables
    for name in sorted(names):
        forms = {_content_is_parts(t.column(name)) for t in out if name in t.column_names}
        if not {True, False} <= forms:
            continue
        converted = []
        for t in out:
            if name in t.column_names and _content_is_parts(t.column(name)) is False:
                rows = [{name: v} for v in t.column(name).to_pylist()]
                strings_as_parts(rows)
                t = t.set_column(
                    t.column_names.index(name), name, pa.array([r[name] for r in rows])
                )
            converted.append(t)
        out = converted
    return out


_UNITS = ("ns", "us", "ms", "s")  # finest first


def _common_timestamp_units(tables: list[pa.Table]) -> list[pa.Table]:
    """A timestamp column with different units in different files (pandas writes ns,
    Spark us) gets the finest unit that holds every file's values exactly. Arrow's
    permissive concat picks the finest unit of all, and int64 nanoseconds end in 2262:
    a us file holding 9999-12-31 (a warehouse's "no end" date) made the split fail."""
    units: dict[str, set[tuple[str, str | None]]] = {}
    for t in tables:
        for f in t.schema:
            if pa.types.is_timestamp(f.type):
                units.setdefault(f.name, set()).add((f.type.unit, f.type.tz))
    mixed = {name: seen for name, seen in units.items() if len({u for u, _ in seen}) > 1}
    for name, seen in mixed.items():
        tzs = {tz for _, tz in seen}
        if len(tzs) > 1:
            continue  # concat names the conflict
        (tz,) = tzs
        finest = min(_UNITS.index(u) for u, _ in seen)
        for unit in _UNITS[finest:]:
            target = pa.timestamp(unit, tz)
            try:
                cast = [_cast_column(t, name, target) for t in tables]
            except (pa.ArrowInvalid, OverflowError):
                continue  # a value this unit cannot hold, or only by truncating it
            tables = cast
            break
        else:
            raise InputError(
                f"the timestamp column {name!r} has units "
                f"{', '.join(sorted({u for u, _ in seen}, key=_UNITS.index))} in different "
                "input files, and no one unit holds every value exactly (a date beyond 2262 "
                "needs us or coarser, a time with nanoseconds needs ns); write the column "
                "with one unit in every file"
            )
    return tables


def _refuse_inexact_decimals(
    tables: list[pa.Table], where: list[tuple[str, int, int | None]]
) -> None:
    """An InputError when a column is a decimal in one input and a floating-point number
    in another, and a decimal is no double exactly. Arrow's permissive concat makes such a
    column double and casts the decimals unchecked (an int64 beyond 2^53 is checked: an
    error): 1700000000.30 read 1700000000.3, every 10^60 + 1e-10 one 1e+60, so --time
    tied them and train held the newest rows, and the split outputs held other values than
    the inputs (or than curate's kept/ files), without a word. ``where`` is each row's
    place, in the tables' order."""
    starts = [0]
    for t in tables:
        starts.append(starts[-1] + t.num_rows)
    names = sorted({n for t in tables if t.num_rows for n in t.column_names})
    for name in names:
        typed = [
            (t.schema.field(name).type, k)
            for k, t in enumerate(tables)
            if t.num_rows and name in t.column_names
        ]
        floats = [(ty, k) for ty, k in typed if pa.types.is_floating(ty)]
        if not floats:
            continue
        for ty, k in typed:
            if not pa.types.is_decimal(ty):
                continue
            for i, value in enumerate(tables[k].column(name).to_pylist()):
                if value is None or Decimal(float(value)) == value:
                    continue
                f_ty, f_k = floats[0]
                here, there = where[starts[k] + i], where[starts[f_k]]
                raise InputError(
                    f"column {name!r} is {ty} in {_files([here[0]])} and {f_ty} in {_files([there[0]])}: read "
                    f"together it would be a double, and {_where(here)} has {value!s}, "
                    f"which a double does not hold exactly (it would read {float(value)!r}); "
                    "write the column with one type in every file (a decimal wide enough for "
                    "every value, or double if rounding the decimals is fine), or split those "
                    "files apart"
                )


def _cast_column(table: pa.Table, name: str, target: pa.DataType) -> pa.Table:
    i = table.schema.get_field_index(name)
    if i < 0 or table.schema.field(i).type == target:
        return table
    column = table.column(i).cast(target, safe=True)
    return table.set_column(i, table.schema.field(i).with_type(target), column)


def refuse_several_formats(formats: dict[str, str]) -> None:
    """An InputError when ``formats`` (record format -> the first file holding it) holds
    more than one: one file per split holding every format's columns read back with most
    of its rows quarantined (a chat row has no `messages` among text rows, ...)."""
    if len(formats) > 1:
        held = ", ".join(f"{fmt} ({src})" for fmt, src in formats.items())
        raise InputError(
            f"the inputs hold records of several formats: {held}; a split is one file per "
            "part, which could not be read back as one format: split each format's files on "
            "their own"
        )


def _shown_ids(ids: list[str], source: str, relabel: tuple[Path, Path] | None) -> list[str]:
    """Record ids as the manifest names them: a default id (``<path>:<row>``) of a file
    under ``relabel[0]`` names the file under ``relabel[1]``, so `curate --split` does not
    write its temporary folder's name (the same run twice gives the same bytes)."""
    shown = _shown(Path(source), relabel).as_posix()
    if shown == source:
        return ids
    prefix = f"{source}:"
    return [f"{shown}:{i[len(prefix) :]}" if i.startswith(prefix) else i for i in ids]


def _shown(path: Path, relabel: tuple[Path, Path] | None) -> Path:
    """``path`` as the manifest names it: under ``relabel[1]`` when it is under ``relabel[0]``."""
    if relabel is not None and path.is_relative_to(relabel[0]):
        return relabel[1] / path.relative_to(relabel[0])
    return path


def _column(loaded: _Loaded, name: str, option: str) -> list[Any]:
    if name not in loaded.table.column_names:
        raise InputError(
            f"{_opt(option)} {name!r}: no such column in "
            f"{_files(f['path'] for f in loaded.files)}; "
            f"columns are: {', '.join(loaded.table.column_names)}"
        )
    column = loaded.table.column(name)
    if pa.types.is_timestamp(column.type):
        # As nanoseconds, in Python's integers: pyarrow makes no datetime of a nanosecond
        # timestamp without pandas, Python's datetime holds none, and Arrow's int64
        # nanoseconds end in 2262 (a us column may hold 1500-01-01 or 9999-12-31).
        per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[column.type.unit]
        ticks = column.cast(pa.int64()).to_pylist()
        return [None if v is None else _Nanos(v * per_unit) for v in ticks]
    if option == "--time" and (pa.types.is_duration(column.type) or pa.types.is_time(column.type)):
        # Refused before reading a value: a duration past Python's timedelta raised
        # ValueError (exit 3) in to_pylist, and read as ticks it would be taken for a time.
        raise InputError(
            f"{_opt('--time')} column {name!r} of {_files(f['path'] for f in loaded.files)} "
            f"holds {column.type} values, a {'duration' if pa.types.is_duration(column.type) else 'time of day'}, "
            "not a point in time; use numbers or ISO-8601 times"
        )
    if pa.types.is_date(column.type) or pa.types.is_duration(column.type):
        # As ticks, like a timestamp: a date as nanoseconds since the epoch (its midnight,
        # UTC, as a date read from text is), a duration as nanoseconds. to_pylist raised
        # OverflowError or ValueError (exit 3) on a date past the year 9999 (Spark's
        # 10000-01-01 sentinel) or a duration past about 2.7 million years (found by
        # re-attack).
        cls: type[int] = _Nanos
        if pa.types.is_date32(column.type):
            per_unit = 86_400 * 10**9
        elif pa.types.is_date64(column.type):
            per_unit = 10**6
        else:
            per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[column.type.unit]
            cls = int
        raw = pa.int32() if pa.types.is_date32(column.type) else pa.int64()
        ticks = column.cast(raw).to_pylist()
        return [None if v is None else cls(v * per_unit) for v in ticks]
    try:
        values: list[Any] = column.to_pylist()
    except (OverflowError, ValueError, pa.ArrowException):
        # A nested date, time, timestamp or duration Python cannot hold (a struct or list
        # of them): each such value as Arrow writes it (row_as_python's rule), so that the
        # row is one group or label however it is read.
        from curagate.io.readers import _temporals_as

        values = column.cast(_temporals_as(column.type, pa.string())).to_pylist()
    return values


def _json_numbers(
    loaded: _Loaded,
    name: str,
    values: Sequence[Any],
    number_rows: Callable[[str, int, str], bool] | None,
) -> list[bool] | None:
    """Per row, whether column ``name``'s string is a JSON number's, as written (a column
    the reader keeps as its values' strings, docs/formats.md); None when no row's is. The
    reader says so of the JSONL batches it read, ``number_rows`` of other rows."""
    flags = [False] * len(values)
    for start, rows, names in loaded.number_text:
        if name in names:
            flags[start : start + rows] = [True] * rows
    if number_rows is not None:
        for r, (source, row, _) in enumerate(loaded.where):
            if not flags[r] and isinstance(values[r], str) and number_rows(source, row, name):
                flags[r] = True
    return flags if any(flags) else None


_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,4000})")


def _hashable(value: Any) -> Any:
    """A group value as one key per value: an integer by its value, however a file spells
    it (files read together write a column of JSON numbers as strings, a chunk's doubles as
    ``1.0`` beside another's ``1``: one group was two, split apart; found by attack); NaN,
    as null, is no group. Only an integer's own spellings meet: other strings stay as they
    are (``"1.1"`` and ``"1.10"``, ``"1e400"`` and ``"2e401"`` are other groups)."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        if _INTEGER.fullmatch(value):
            return int(value)
        try:  # a double's own spelling of an integer: "1.0", "-3.0"
            number = float(value) if value.endswith(".0") else None
        except ValueError:
            number = None
        if number is not None and repr(number) == value:
            value = number
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


# --- verification ------------------------------------------------------------

SHARED_PASSAGE_POLICIES: tuple[str, ...] = ("ignore", "warn", "join")
# As `curagate leakage --max-ngram-items`: an n-gram in more rows is boilerplate.
DEFAULT_MAX_NGRAM_ITEMS = 10
DEFAULT_MAX_ROUNDS = 20
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{[^{}\s]*\}|\n\s*\n")


def template_fragments(text: str) -> list[str]:
    """The literal parts of a template file: split at ``{{placeholders}}``,
    ``{fields}`` and blank lines, so no n-gram spans a filled-in value. A leading byte order
    mark is no part of them (a file saved with one kept U+FEFF on its first fragment, which
    then matched nothing; found by re-attack)."""
    return [part for part in _PLACEHOLDER.split(text.removeprefix("\ufeff")) if part.strip()]


def read_templates(paths: Sequence[str | Path]) -> list[str]:
    """The literal fragments of the template files. A file with no word outside its
    placeholders (empty, blank, only ``{fields}`` or punctuation) is an input error: it
    takes nothing out, and was ignored without a word, the run going on as if no template
    had been named (found by review)."""
    from curagate.split_pairs import template_patterns

    fragments: list[str] = []
    for p in paths:
        name = f"template file {Path(p).as_posix()!r} ({_opt('--templates')})"
        try:
            text = read_regular(Path(p), MAX_CONFIG_BYTES, follow_links=True).decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(
                f"{name}: cannot read it ({e}); give a UTF-8 text file with the prompt templates"
            ) from None
        found = template_fragments(text)
        if not template_patterns(found):  # no fragment holds a word: nothing to take out
            raise InputError(
                f"{name}: holds no template text (it is empty, or only whitespace, "
                "placeholders or punctuation); write the prompt templates' own words in it, "
                "{placeholders} where values are filled in, or do not name it"
            )
        fragments.extend(found)
    return fragments


# The curate defaults, read off the model's fields: building a NearConfig here
# would build its validator at import (docs/architecture.md, "Start-up").
_NEAR_THRESHOLD: float = NearConfig.model_fields["threshold"].default
_NEAR_NGRAM: int = NearConfig.model_fields["ngram"].default
_NEAR_SHINGLE: str = NearConfig.model_fields["shingle"].default
NEAR_SHINGLES = ("word", "char")


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What counts as a near copy and as a shared passage (see docs/split.md)."""

    near_threshold: float = _NEAR_THRESHOLD
    near_ngram: int = _NEAR_NGRAM
    # curate's near.shingle: near copies by word or by character n-grams (the config's
    # char was read as words, so a pair curate calls near copies could straddle splits).
    near_shingle: str = _NEAR_SHINGLE
    # curate's normalize: options (nfkc, lowercase, strip_punctuation, collapse_whitespace):
    # near copies are also compared as curate's near dedup normalizes them. Split folded
    # accents and look-alikes only, and always stripped punctuation: a pair curate removed
    # as near copies (emoji-only texts under strip_punctuation: false, or `fiancée fiancee`
    # whose folding lowered the Jaccard) straddled splits.
    normalize: tuple[tuple[str, bool], ...] = ()
    ngram: int = 13
    max_ngram_items: int = DEFAULT_MAX_NGRAM_ITEMS
    shared_passages: str = "warn"
    templates: tuple[str, ...] = ()  # literal template text (see template_fragments)

    def validate(self) -> None:
        if not 0.0 < self.near_threshold <= 1.0:
            raise ConfigError(
                f"{_opt('--near-threshold')} {self.near_threshold}: a Jaccard similarity in "
                "(0, 1], e.g. 0.7"
            )
        if not 1 <= self.near_ngram <= 64:
            raise ConfigError(f"near.ngram {self.near_ngram}: an n-gram length in 1..64")
        if self.near_shingle not in NEAR_SHINGLES:
            raise ConfigError(
                f"near.shingle {self.near_shingle!r}: choose one of {', '.join(NEAR_SHINGLES)}"
            )
        if not 1 <= self.ngram <= 1000:
            raise ConfigError(
                f"{_opt('--ngram')} {self.ngram}: choose a word n-gram length between 1 and 1000"
            )
        if self.max_ngram_items < 2:
            raise ConfigError(
                f"{_opt('--max-ngram-items')} {self.max_ngram_items}: at least 2 (an n-gram "
                "must be "
                "shared to be evidence)"
            )
        if self.shared_passages not in SHARED_PASSAGE_POLICIES:
            raise ConfigError(
                f"{_opt('--shared-passages')} {self.shared_passages!r}: choose one of "
                f"{', '.join(SHARED_PASSAGE_POLICIES)}"
            )


class Overlap:
    """Near copies and shared passages of a set of rows, for joining and checking.

    Rows with equal normalized keys are one *record* here (they always share
    a unit), represented by their first row.
    """

    def __init__(
        self,
        keys: Sequence[str],
        key_fingerprints: Sequence[bytes],
        options: CheckOptions,
        media: pa.UInt64Array | None = None,
    ) -> None:
        """``media``: each row's media identity (rows of other media are never copies;
        ``key_fingerprints`` must hold it too: :func:`fingerprints`)."""
        from curagate.split_pairs import NearIndex, PassageIndex, passage_parts, turn_texts

        self.options = options
        record_of: dict[bytes, int] = {}
        self.record_of_row = [record_of.setdefault(fp, len(record_of)) for fp in key_fingerprints]
        self.first_row: list[int] = []
        self.weights: list[int] = []
        for row, rec in enumerate(self.record_of_row):
            if rec == len(self.first_row):
                self.first_row.append(row)
                self.weights.append(0)
            self.weights[rec] += 1
        row_media = None if media is None else media.to_pylist()
        self.near = NearIndex(
            [keys[r] for r in self.first_row],
            ngram=options.near_ngram,
            threshold=options.near_threshold,
            shingle=options.near_shingle,
            normalize=dict(options.normalize),
            media=None if row_media is None else [row_media[r] for r in self.first_row],
        )
        templates = (
            NearIndex(options.templates, ngram=1, threshold=1.0) if options.templates else None
        )
        self.join_kinds: list[str] = []  # see check
        self.passages = None
        if options.shared_passages != "ignore":
            records = [keys[r] for r in self.first_row]
            parts = passage_parts(records, options.templates)
            self.passages = PassageIndex.build(
                self.near,
                ngram=options.ngram,
                max_items=options.max_ngram_items,
                templates=templates,
                turns=parts,
            )
            if options.templates:
                # Records whose template text was taken out: spans are read off their parts.
                self.passages.stripped = frozenset(
                    r
                    for r, (key, p) in enumerate(zip(records, parts, strict=True))
                    if p is not None and p != turn_texts(key)
                )

    def near_links(self) -> list[tuple[int, int]]:
        """Row pairs that connect every group of near copies (joined before assignment)."""
        pairs, _ = self.near.pairs(connect=True)
        return [(self.first_row[a], self.first_row[b]) for a, b, _ in pairs]

    def passage_links(self) -> list[tuple[int, int]]:
        if self.passages is None:
            return []
        return [(self.first_row[a], self.first_row[b]) for a, b in self.passages.links()]

    def check(
        self, split: Sequence[int], ids: Sequence[str], hits: Sequence[ReferenceHit] = ()
    ) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        """Cross-split report, and the row pairs that repair must join. ``hits``: what
        ``curagate leakage`` finds of val/test inside train (:func:`leakage_hits`), leaks
        as the others (joined by repair under ``shared_passages="join"``)."""
        from curagate.split_pairs import shared_spans

        def clip_span(text: str) -> str:
            # The scan keeps the whole matched text (detect's whole_spans); the report shows
            # it as `curagate leakage` does, shortened in the middle.
            from curagate.leakage import _clip

            return _clip(text)

        first = self.first_row
        where = [split[r] for r in first]
        exact = [
            (first[rec], row)
            for row, rec in enumerate(self.record_of_row)
            if split[row] != where[rec]
        ]
        near, verified = self.near.pairs(where)
        near_set = {(min(x, y), max(x, y)) for x, y, _ in near}
        passages: list[tuple[int, int, int]] = []
        if self.passages is not None:
            shared = self.passages.pairs(lambda a, b: where[a] != where[b])
            passages = [(a, b, c) for (a, b), c in sorted(shared.items()) if (a, b) not in near_set]
        boilerplate = self.passages.boilerplate if self.passages is not None else set()

        def later_first(a: int, b: int) -> tuple[int, int]:
            """(record in the later split, record in the earlier one)."""
            return (a, b) if (where[a], a) > (where[b], b) else (b, a)

        def entry(later: int, earlier: int, method: str, similarity: float) -> dict[str, Any]:
            within = None
            if self.passages is not None:
                sides = [self.passages.within_turns(r) for r in (later, earlier)]
                known = [s for s in sides if s is not None]
                within = set.intersection(*known) if known else None
            count, spans = shared_spans(
                self.near,
                later,
                earlier,
                self.options.ngram,
                boilerplate,
                within=within,
                passages=self.passages,
            )
            return {
                "split": SPLIT_NAMES[where[later]],
                "id": ids[first[later]],
                "in_split": SPLIT_NAMES[where[earlier]],
                "in_id": ids[first[earlier]],
                "method": method,
                "similarity": round(similarity, 6),
                "shared_ngrams": count,
                "spans": spans,
            }

        def ordered(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
            return sorted(
                (later_first(a, b) for a, b in pairs), key=lambda p: (where[p[0]], p[0], p[1])
            )

        def rows(pairs: list[tuple[int, int]]) -> int:
            return sum(self.weights[rec] for rec in {p[0] for p in pairs})

        near_sorted = ordered((x, y) for x, y, _ in near)
        sim = {(min(x, y), max(x, y)): j for x, y, j in near}
        passage_sorted = ordered((a, b) for a, b, _ in passages)
        exact_later = sorted(
            {(row, rep) if split[row] > split[rep] else (rep, row) for rep, row in exact}
        )
        flagged_records = {p[0] for p in near_sorted} | {p[0] for p in passage_sorted}
        flagged_rows = (
            {r for r, _ in exact_later}
            | {
                row
                for row, rec in enumerate(self.record_of_row)
                if rec in flagged_records and split[row] == where[rec]
            }
            | {h.item_row for h in hits}
        )
        report: dict[str, Any] = {
            "near_copies": {
                "method": f"exact Jaccard of {self.options.near_shingle} n-gram sets, all pairs "
                "(prefix filtering)",
                "threshold": self.options.near_threshold,
                "ngram": self.options.near_ngram,
                "shingle": self.options.near_shingle,
                "candidates_verified": verified,
                "pairs": len(near_sorted),
                "rows": rows(near_sorted),
                "examples": [
                    entry(a, b, "near", sim[min(a, b), max(a, b)])
                    for a, b in near_sorted[:MAX_REPORTED_LEAKS]
                ],
            },
            "exact_copies": {
                "pairs": len(exact_later),
                "rows": len({r for r, _ in exact_later}),
                "examples": [
                    {
                        "split": SPLIT_NAMES[split[r]],
                        "id": ids[r],
                        "in_split": SPLIT_NAMES[split[e]],
                        "in_id": ids[e],
                        "method": "exact",
                        "similarity": 1.0,
                    }
                    for r, e in exact_later[:MAX_REPORTED_LEAKS]
                ],
            },
            "shared_passages": {
                "policy": self.options.shared_passages,
                "ngram": self.options.ngram,
                "max_ngram_items": self.options.max_ngram_items,
            },
            # A short item quoted in a train record, a prompt equal to one: what
            # `curagate leakage` finds, by its own engine (found by attack: split said 0).
            "leakage_scan": {
                "method": "curagate leakage: val and test the reference, train the corpus; "
                "val and test each the other's reference",
                "ngram": self.options.ngram,
                "max_ngram_items": self.options.max_ngram_items,
                "pairs": len(hits),
                "rows": len({h.item_row for h in hits}),
                # Pairs whose record holds the item's own text (not template text alone):
                # naming templates does not clear them.
                "item_text_pairs": sum(1 for h in hits if h.item_text),
                "examples": [
                    {
                        "split": SPLIT_NAMES[split[h.item_row]],
                        "id": ids[h.item_row],
                        "in_split": SPLIT_NAMES[split[h.record_row]],
                        "in_id": ids[h.record_row],
                        "method": "+".join(h.methods),
                        "similarity": round(h.ratio, 6),
                        "span": None if h.span is None else clip_span(h.span),
                        "item_text": h.item_text,
                    }
                    for h in hits[:MAX_REPORTED_LEAKS]
                ],
            },
            "leaks_total": len(flagged_rows),
        }
        if self.passages is not None:
            report["shared_passages"].update(
                template_ngrams=self.passages.template_ngrams,
                boilerplate_ngrams=self.passages.boilerplate_ngrams,
                over_bar_ngrams=self.passages.over_bar_ngrams,
                pairs=len(passage_sorted),
                rows=rows(passage_sorted),
                examples=[
                    entry(a, b, "shared_passage", self.near.jaccard(a, b))
                    for a, b in passage_sorted[:MAX_REPORTED_LEAKS]
                ],
            )
        join = [(first[x], first[y]) for x, y, _ in near] + exact
        # What each pair of `join` is, for the message of a repair that runs out of rounds.
        self.join_kinds = [f"near copy (Jaccard {j:.2f})" for _, _, j in near]
        self.join_kinds += ["exact copy (equal normalized text)"] * len(exact)
        if self.options.shared_passages == "join":
            join += [(first[a], first[b]) for a, b, _ in passages]
            join += [(h.item_row, h.record_row) for h in hits]
            self.join_kinds += [
                f"shared passage ({c} {self.options.ngram}-gram(s))" for *_, c in passages
            ]
            self.join_kinds += [
                f"found by the `curagate leakage` scan ({'+'.join(h.methods)}"
                f"{_hit_share(h.item_text, h.ratio)})"
                for h in hits
            ]
        return report, join


def _hit_share(item_text: object, ratio: object) -> str:
    from curagate.io.verify import hit_share

    return hit_share(item_text, ratio)


def _out_of_rounds(
    join: Sequence[tuple[int, int]],
    kinds: Sequence[str],
    rounds: int,
    plan: SplitPlan,
    loaded: _Loaded,
    join_near: bool,
) -> str:
    """The error of a repair that ran out of rounds: what still straddles, each pair by its
    kind, input file and line (or row), record id and split, and what to do."""

    def row(r: int) -> str:
        return f"{_where(loaded.where[r])} (id {loaded.ids[r]}, in {SPLIT_NAMES[plan.split[r]]})"

    shown = "; ".join(
        f"{kind}: {row(a)} ~ {row(b)}" for (a, b), kind in zip(join[:5], kinds, strict=False)
    )
    more = f"; and {len(join) - 5} more" if len(join) > 5 else ""
    return (
        f"{len(join)} pair(s) of rows that must share a split still straddle splits after "
        f"{rounds} round(s) of repair: {shown}{more}. Each round joins the pairs found and "
        "assigns the units again, and the units joined can make other pairs straddle (chains "
        f"of near copies or shared passages); nothing was written. Raise {_opt('--max-rounds')} "
        f"(e.g. {rounds * 2}), or keep such rows together before assignment: "
        + ("" if join_near else f"drop {_opt('--no-join-near')} (near copies joined first), ")
        + f"{_opt('--group')} COLUMN for rows of one source"
    )


def verify_splits(
    keys_by_split: Sequence[Sequence[str]],
    ids_by_split: Sequence[Sequence[str]],
    options: CheckOptions | None = None,
    *,
    records_by_split: Sequence[pa.Table] | None = None,
    format: str | None = None,
    text_field: str | None = None,
) -> dict[str, Any]:
    """Check given splits against each other (the report :func:`split` writes).

    Near copies (exact Jaccard >= ``near_threshold``, all pairs) and exact
    copies in two splits must not exist; shared passages (a word n-gram in at
    most ``max_ngram_items`` records and in no template) are reported, and so is what
    ``curagate leakage`` finds of val/test in train.

    ``records_by_split``: each split's records (a table per split, a row per key, the
    columns as the split files hold them); the leakage engine scans them as
    :func:`split` scans the files it writes, so the verdict is the CLI's. Without them it
    scans the keys as text records, and misses what is only in a record's other fields
    (a preference record's answers under its ``prompt`` key): :func:`verify_split_files`
    reads split files as ``curagate split`` reads its inputs. ``format`` and ``text_field``
    say how the engine reads ``records_by_split`` (``curagate split``'s ``--format`` and
    ``--text-field``: records whose columns name no format, a ``question`` column); they
    need the records.
    """
    options = options or CheckOptions()
    options.validate()
    if len(keys_by_split) != len(ids_by_split):
        raise ConfigError(
            f"verify_splits: {len(keys_by_split)} key lists but {len(ids_by_split)} id lists; "
            "give one of each per split (train, val, test)"
        )
    keys = [k for part in keys_by_split for k in part]
    ids = [i for part in ids_by_split for i in part]
    split = [s for s, part in enumerate(keys_by_split) for _ in part]
    if len(ids) != len(keys):
        raise ConfigError(
            f"verify_splits: {len(keys)} keys but {len(ids)} ids; give one id per key"
        )
    if records_by_split is None:
        if format is not None or text_field is not None:
            raise ConfigError(
                "verify_splits: format and text_field say how records_by_split is read; "
                "give records_by_split (a table per split), or leave them out to scan the keys"
            )
        table = pa.table({"text": pa.array(keys, pa.large_string())})
    else:
        for s, t in enumerate(records_by_split):
            if not isinstance(t, pa.Table):
                raise ConfigError(
                    f"verify_splits: records_by_split[{s}] is a {type(t).__name__}, not a "
                    "pyarrow Table; give a table per split (pyarrow.Table.from_pylist(rows))"
                )
        if len(records_by_split) != len(keys_by_split) or any(
            t.num_rows != len(k) for t, k in zip(records_by_split, keys_by_split, strict=False)
        ):
            raise ConfigError(
                "verify_splits: records_by_split must hold a table per split with a row per "
                f"key (got {[t.num_rows for t in records_by_split]} rows for "
                f"{[len(k) for k in keys_by_split]} keys)"
            )
        table = _records_table(records_by_split)
    from curagate.split_pairs import ScanRead

    read = ScanRead(
        format,
        text_field,
        "the records given (records_by_split; say how to read them: format=, text_field=)",
    )
    media = None
    if records_by_split is not None:  # their media, as split read them (rows of other media)
        from curagate.records import detect_format, media_ids, parse_format

        try:
            fmt = parse_format(format) or detect_format(table.column_names, text_field=text_field)
            media = media_ids(table, fmt, text_field=text_field)
        except CuragateError:  # records the scan cannot read either: it says so, naming them
            media = None
    return _verification(keys, ids, split, table, options, read, media)


def _records_table(records_by_split: Sequence[pa.Table]) -> pa.Table:
    """``verify_splits``' ``records_by_split`` as one table, each split's holding text: a
    split of records with no string (null strings, no text column) was an error naming the
    scan's temporary files, a list a raw AttributeError (found by re-attack)."""
    for s, t in enumerate(records_by_split):
        if t.num_rows and s > 0 and not any(_has_text(t.column(c)) for c in t.column_names):
            raise ConfigError(
                f"verify_splits: records_by_split[{s}] ({SPLIT_NAMES[s]}) holds no text "
                f"(columns {t.column_names}: no string that is not null or blank); give its "
                "records with their text (a prompt, question or text column, or a record "
                "format), or leave records_by_split out to scan the keys"
            )
    try:
        return pa.concat_tables(list(records_by_split), promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ConfigError(
            f"verify_splits: records_by_split's tables do not fit together ({e}); give the "
            "splits' records with the same column types"
        ) from None


def _has_text(array: pa.ChunkedArray | pa.Array) -> bool:
    """Whether ``array`` holds a string (nested ones too) that is not null or blank."""
    if isinstance(array, pa.ChunkedArray):
        return any(_has_text(c) for c in array.chunks)
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        import pyarrow.compute as pc

        lengths = pc.utf8_length(pc.utf8_trim_whitespace(array))
        return bool(pc.any(pc.greater(lengths, 0)).as_py())
    if pa.types.is_struct(t):
        return any(_has_text(array.field(i)) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_text(array.flatten())
    return False


def verify_split_files(
    train: str | Path,
    val: str | Path | None,
    test: str | Path | None,
    options: CheckOptions | None = None,
    *,
    format: str | None = None,
    text_field: str | None = None,
    preference_key: str = "prompt",
) -> dict[str, Any]:
    """Check split files made elsewhere (Parquet or JSON Lines: a file, folder or glob per
    split, ``None`` for a split that has none) as ``curagate split`` checks the files it writes: the files
    read as split reads its inputs (``format``, ``text_field``, ``preference_key``), the
    same keys, the same check and the same leakage-engine scan of the records. Returns the
    ``verification`` report; ``leaks_total`` 0 is the CLI's pass."""
    from curagate.io import expand_inputs

    options = options or CheckOptions()
    options.validate()
    split_of: dict[str, int] = {}
    # A file by its identity (device and inode): `a.jsonl` and `./a.jsonl`, an absolute path
    # or a link to it were one file given for two splits, and its rows leaked to themselves.
    seen: dict[tuple[int, int], tuple[str, int]] = {}
    files: list[Path] = []
    for s, given_path in enumerate((train, val, test)):
        if given_path is None:
            continue
        if not isinstance(given_path, str | os.PathLike):
            raise ConfigError(
                f"verify_split_files: {SPLIT_NAMES[s]} is a {type(given_path).__name__}; give "
                "one path (a file, a folder of parts or a glob) per split, or None"
            )
        for path in expand_inputs([given_path]):  # a folder of parts, a glob
            try:
                st = path.stat()
                identity = (st.st_dev, st.st_ino)
            except OSError:  # read (and named) below
                identity = (-1, len(seen))
            if path.as_posix() in split_of or identity in seen:
                first, first_split = seen.get(
                    identity, (path.as_posix(), split_of.get(path.as_posix(), s))
                )
                also = "" if first == path.as_posix() else f" (as {first})"
                raise ConfigError(
                    f"verify_split_files: {path.as_posix()}{also} is given for both "
                    f"{SPLIT_NAMES[first_split]} and {SPLIT_NAMES[s]}"
                )
            split_of[path.as_posix()] = s
            seen[identity] = (path.as_posix(), s)
            files.append(path)
    loaded = _load(
        files, format=format, text_field=text_field, preference_key=preference_key, relabel=None
    )
    split = [split_of[source] for source, _, _ in loaded.where]
    from curagate.split_pairs import ScanRead

    read = ScanRead(format, text_field, _files(f["path"] for f in loaded.files))
    return _verification(loaded.keys, loaded.ids, split, loaded.table, options, read, loaded.media)


def _verification(
    keys: Sequence[str],
    ids: Sequence[str],
    split: Sequence[int],
    table: pa.Table,
    options: CheckOptions,
    read: ScanRead | None = None,
    media: pa.UInt64Array | None = None,
) -> dict[str, Any]:
    """The check :func:`split` runs on its final assignment: copies, shared passages and
    the leakage engine's scan of ``table`` (the records, a row per key), read as ``read``
    says (the format and text field the records were read with)."""
    from curagate.split_pairs import hits_with_templates, leakage_hits

    overlap = Overlap(keys, fingerprints(pa.array(keys, pa.large_string()), media), options, media)
    report, _ = overlap.check(split, ids)
    # (An error of the scan names the splits, never its temporary files: _scan_error.)
    hits = hits_with_templates(
        lambda named: leakage_hits(
            table,
            split,
            ngram=options.ngram,
            max_items=options.max_ngram_items,
            write=_write_parquet,
            templates=named,
            read=read,
        ),
        table,
        options.templates,
    )
    if hits:
        report, _ = overlap.check(split, ids, hits)
    return report


@dataclass(frozen=True, slots=True)
class SplitPlan:
    split: list[int]  # per row: 0 train, 1 val, 2 test
    n_units: int  # groups of rows that had to stay together
    largest_unit: int


def assign_rows(
    keys: pa.Array | pa.ChunkedArray | Sequence[str],
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    mode: str = "random",
    labels: Sequence[Any] | None = None,
    groups: Sequence[Any] | None = None,
    times: Sequence[Any] | None = None,
    together: Sequence[Sequence[Any]] = (),
    links: Sequence[tuple[int, int]] = (),
    time_column: str = "time",
    time_numbers: Sequence[bool] | None = None,
    where: Sequence[tuple[str, int, int | None]] | None = None,
    key_fingerprints: Sequence[bytes] | None = None,
) -> SplitPlan:
    """Choose the split of every row; the in-memory core of :func:`split`.

    ``keys`` are the dedup keys (rows equal after normalization stay
    together); ``groups`` and every column in ``together`` (e.g. curate's
    ``cluster_id`` of the kept rows) join rows that share a non-null value;
    ``links`` join row pairs (near copies, shared passages).
    ``labels`` stratify (mode ``stratified``), ``times`` order (mode ``time``);
    ``time_numbers`` says per row whether a string time is a JSON number's text (a JSON
    number column the reader keeps as its values' strings): a number, never a date.
    ``where`` gives (file, row, line) per row for error messages;
    ``key_fingerprints`` the keys' fingerprints when already computed.
    """
    fractions = check_ratios(list(ratios), option=f"ratios {list(ratios)}")
    if not isinstance(keys, (pa.Array, pa.ChunkedArray)):
        keys = pa.array(list(keys), type=pa.large_string())
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    n = len(keys)
    constraints: list[Sequence[Any]] = [
        key_fingerprints if key_fingerprints is not None else fingerprints(keys)
    ]
    if groups is not None:
        constraints.append([_hashable(v) for v in groups])
    constraints.extend(together)
    for c in constraints:
        if len(c) != n:
            raise InputError(f"{len(c)} values for {n} rows; give one value per row")
    units = build_units(n, constraints, links)
    n_units = max(units) + 1 if units else 0
    sizes = [0] * n_units
    for u in units:
        sizes[u] += 1
    unit_labels: list[str | None] | None = None
    if labels is not None:
        per_unit: list[Counter[str | None]] = [Counter() for _ in range(n_units)]
        for r, u in enumerate(units):
            per_unit[u][_label_text(labels[r])] += 1
        unit_labels = [
            min(c.items(), key=lambda kv: (-kv[1], _label_order(kv[0])))[0] for c in per_unit
        ]
    unit_times: list[Any] | None = None
    if times is not None:
        unit_times = [None] * n_units
        numbers = time_numbers if time_numbers is not None else [False] * n
        if len(numbers) != n:
            raise InputError(f"{len(numbers)} time_numbers for {n} rows; give one per row")
        row_times = [
            _time_value(
                times[r],
                where[r] if where is not None else ("input", r, None),
                time_column,
                number=bool(numbers[r]),
            )
            for r in range(len(units))
        ]
        _check_time_kinds(times, row_times, where, time_column, numbers)
        for r, u in enumerate(units):
            t = row_times[r]
            if unit_times[u] is None or t < unit_times[u]:
                unit_times[u] = t
    unit_split = assign_units(
        sizes,
        ratios=fractions,
        seed=seed,
        mode=mode,
        unit_labels=unit_labels,
        unit_times=unit_times,
    )
    return SplitPlan([unit_split[u] for u in units], n_units, max(sizes, default=0))


def _check_time_kinds(
    times: Sequence[Any],
    row_times: Sequence[tuple[int, Any]],
    where: Sequence[tuple[str, int, int | None]] | None,
    column: str,
    numbers: Sequence[bool],
) -> None:
    """Refuse a time column that mixes numbers with times: a number's order beside a
    time means nothing. Eight digits that are a date (``"20240501"``, ISO's YYYYMMDD) are
    that date beside ISO times and among themselves, and refused beside other numbers:
    as numbers, ``"20240502"`` went before ``"202405011200"`` and ``"20240601"`` before
    epoch seconds of May. A JSON number's text (``numbers[r]``) is a number, never a date."""

    def at(r: int) -> str:
        return _where(where[r] if where is not None else ("input", r, None))

    number = day = stamp = None  # the first row of each kind
    for r, t in enumerate(row_times):
        if t[0] == 0:
            number = r if number is None else number
        elif not numbers[r] and _is_day(times[r]):
            day = r if day is None else day
        else:
            stamp = r if stamp is None else stamp
    if number is None or (day is None and stamp is None):
        return
    fix = (
        "write every time as a number (epoch seconds, ms or ns) or every time as an "
        "ISO-8601 time (2024-05-01T12:00:00Z)"
    )
    dated = day if day is not None else stamp
    assert dated is not None
    for r, t in enumerate(row_times):
        text = times[r]
        if t[0] == 0 and not numbers[r] and isinstance(text, str) and _EIGHT_DIGITS.fullmatch(text):
            raise InputError(
                f"{at(r)}: {_opt('--time')} column {column!r} has {_cut(times[r])!r}, which is not "
                f"a date (YYYYMMDD) beside the column's dates and times ({at(dated)}); fix the "
                f"date, or {fix}"
            )
    if stamp is not None:
        raise InputError(
            f"{_opt('--time')} column {column!r} mixes numbers ({at(number)}) and times "
            f"({at(stamp)}); {fix}"
        )
    assert day is not None
    raise InputError(
        f"{at(day)}: {_opt('--time')} column {column!r} has {times[day]!r}, eight digits "
        f"that are a date (YYYYMMDD) or a number, beside a number such as "
        f"{_cut(str(times[number]))!r} ({at(number)}): the order differs as dates or "
        f"as numbers; write dates as ISO-8601 ({times[day][:4]}-{times[day][4:6]}-"
        f"{times[day][6:]}, 2024-05-01T12:00:00Z) or every time as a number (epoch "
        "seconds, ms or ns)"
    )


def _clusters_file(
    path: Path,
    ids: Sequence[str],
    where: Sequence[tuple[str, int, int | None]],
    sources: Mapping[str, Path],
) -> tuple[list[Any], dict[str, Any]]:
    """Cluster id per row from curate's clusters.parquet, matched by record id; a row with
    no `id` of its own (id ``<file>:<row>``) by its file, however curate and this run spell
    it, and row. ``where``: each row's (source, row, line); ``sources``: the file of each
    source name."""
    try:
        # absolute: pyarrow expands a leading "~" of a relative path
        absolute = str(Path(path).absolute())
        names = pq.read_schema(absolute).names
        table = pq.read_table(
            absolute, columns=[c for c in _CLUSTER_COLUMNS if c in names or c in _CLUSTER_NEEDS]
        )
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise InputError(
            f"--clusters {path.as_posix()!r}: cannot read record_id and cluster_id ({e}); "
            "give the clusters.parquet written by curagate curate"
        ) from None
    record_ids = table.column("record_id").to_pylist()
    cluster_ids = table.column("cluster_id").to_pylist()
    # Matched by record id, an id of rows in different clusters is ambiguous: files that
    # each number their rows 0..N joined a:i with b:i (the last won), and curate's clusters
    # crossed splits (found by attack). Copies of one record with one id are one cluster.
    clusters_of: dict[Any, set[Any]] = {}
    for r, c in zip(record_ids, cluster_ids, strict=True):
        clusters_of.setdefault(r, set()).add(c)
    repeated = sorted(str(r) for r, cs in clusters_of.items() if len(cs) > 1)
    if repeated:
        raise InputError(
            f"--clusters {path.as_posix()!r}: record id {repeated[0]!r} names rows of "
            f"different clusters ({len(repeated)} such id(s)); clusters are matched by record "
            "id: give every record its own `id` (or none: a row's id is then its file and "
            "row), curate again and split with its clusters.parquet"
        )
    # A default id names the file as curate was given it: `noid.jsonl:3` matched nothing
    # for `split /abs/noid.jsonl` or from another folder, and the error blamed the `id`
    # column (found by attack). Such rows are matched by the file itself and the row.
    node_of = {name: _file_node(p) for name, p in sources.items()}
    nodes = {node: name for name, node in node_of.items() if node is not None}
    files = table.column("source_file").to_pylist() if "source_file" in table.column_names else None
    rows = table.column("source_row").to_pylist() if "source_row" in table.column_names else None
    by_id: dict[Any, Any] = {}
    by_row: dict[tuple[tuple[int, int], int], Any] = {}
    found: dict[str, tuple[int, int] | None] = {}
    for k, (r, c) in enumerate(zip(record_ids, cluster_ids, strict=True)):
        name, row = (files[k], rows[k]) if files is not None and rows is not None else (None, None)
        if name is not None and row is not None and r == f"{name}:{row}":
            if name not in found:
                found[name] = _curated_file(name, path, nodes)
            if (node := found[name]) is not None:
                by_row[(node, row)] = c
                continue
        by_id[r] = c
    values: list[Any] = []
    matched = 0
    for i, record_id in enumerate(ids):
        source, row, _ = where[i]
        node = node_of.get(source)
        if node is not None and record_id == f"{source}:{row}" and (node, row) in by_row:
            values.append(by_row[(node, row)])
            matched += 1
        else:
            values.append(by_id.get(record_id))
            matched += record_id in by_id
    if ids and not matched:
        raise InputError(_no_cluster_matched(path, record_ids, files, ids, where))
    return values, {"path": path.as_posix(), "sha256": sha256_file(path), "matched": matched}


_CLUSTER_COLUMNS = ("record_id", "source_file", "source_row", "cluster_id")
_CLUSTER_NEEDS = ("record_id", "cluster_id")  # the others are read where curate wrote them


def _file_node(path: Path) -> tuple[int, int] | None:
    """The file ``path`` names (device and inode), however it is spelled; None where there
    is none."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _curated_file(
    name: str, clusters: Path, inputs: Mapping[tuple[int, int], str]
) -> tuple[int, int] | None:
    """The input file of this run that curate's ``source_file`` ``name`` is, or None: an
    absolute name is itself; a relative one is looked for from here, then from the curate
    output's parent folder and each folder above it (clusters.parquet does not record the
    folder curate ran in)."""
    named = Path(name)
    if named.is_absolute():
        candidates = [named]
    else:
        candidates = [named, *(folder / named for folder in clusters.absolute().parent.parents)]
    for candidate in candidates:
        node = _file_node(candidate)
        if node is not None and node in inputs:
            return node
    return None


def _no_cluster_matched(
    path: Path,
    record_ids: Sequence[Any],
    files: Sequence[Any] | None,
    ids: Sequence[str],
    where: Sequence[tuple[str, int, int | None]],
) -> str:
    """The error of a clusters file none of whose records is a row of the input: what was
    compared (an example of each side) and what to do."""
    theirs = f"{record_ids[0]!r}" if record_ids else "no record"
    if files and files[0] is not None:
        theirs += f" (of the file curate read as {files[0]!r})"
    ours = f"{ids[0]!r}"
    head = (
        f"--clusters {path.as_posix()!r}: none of the {len(ids)} records of the input is in "
        f"it: it names records as {theirs}, this run as {ours}"
    )
    source, row, _ = where[0]
    if ids[0] != f"{source}:{row}":
        return (
            f"{head}; records with an `id` column are matched by it: split the records "
            "curate read, with the `id` they had then"
        )
    return (
        f"{head}; records without an `id` column are matched by their file and row, and no "
        "file clusters.parquet names is an input of this run (a relative name is looked for "
        "from here and from the folders above the curate output): split the files curate "
        "read (spelled any way: a file is matched as itself, not by its name), or give the "
        "records an `id` column and curate again"
    )


# --- the step ----------------------------------------------------------------


def _infer_mode(mode: str | None, label: str | None, group: str | None, time: str | None) -> str:
    if mode is None:
        if time:
            return "time"
        if label:
            return "stratified"
        if group:
            return "grouped"
        return "random"
    if mode not in MODES:
        raise ConfigError(f"{_opt('--mode')} {mode!r}: choose one of {', '.join(MODES)}")
    needs = {
        "stratified": ("--label", label),
        "grouped": ("--group", group),
        "time": ("--time", time),
    }
    if mode in needs and not needs[mode][1]:
        raise ConfigError(f"{_opt('--mode')} {mode} needs {_opt(needs[mode][0])} COLUMN")
    return mode


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def split(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    mode: str | None = None,
    label: str | None = None,
    group: str | None = None,
    time: str | None = None,
    cluster_column: str | None = None,
    clusters: str | Path | None = None,
    format: str | None = None,
    text_field: str | None = None,
    preference_key: str = "prompt",
    semantic: bool = False,
    semantic_threshold: float = 0.92,
    model: str | Path | None = None,
    cache_dir: str | Path | None = None,
    join_near: bool = True,
    near_threshold: float = _NEAR_THRESHOLD,
    near_ngram: int = _NEAR_NGRAM,
    near_shingle: str = _NEAR_SHINGLE,
    normalize: Mapping[str, bool] | None = None,
    shared_passages: str = "warn",
    max_ngram_items: int = DEFAULT_MAX_NGRAM_ITEMS,
    templates: Sequence[str | Path] = (),
    ngram: int = 13,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    fail_on_leak: bool = False,
    strict: bool = False,
    verify: bool = True,
    relabel: tuple[Path, Path] | None = None,
    number_rows: Callable[[str, int, str], bool] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> SplitResult:
    """Split ``inputs`` into ``out``/{train,val,test}.parquet and ``split_manifest.json``.

    ``cluster_column`` names a column whose equal values must stay together;
    when not given, a ``cluster_id`` column is used if the data has one.
    ``clusters`` is curate's ``clusters.parquet``: rows are matched to it by
    record id and rows of one dedup cluster stay together. ``join_near``
    joins near copies (exact Jaccard of ``near_ngram``-gram sets of ``near_shingle``,
    word or char, >= ``near_threshold``: curate's ``near`` settings, of the texts folded
    or as curate's ``normalize`` options make them) before assignment.

    After assignment the splits are checked (:class:`Overlap`); near and
    exact copies found in two splits (and, with ``shared_passages="join"``,
    records sharing a non-boilerplate ``ngram``-gram) are joined and the
    units reassigned, up to ``max_rounds`` times; if copies still straddle
    then, :class:`CheckFailed` lists them and nothing is written. Shared
    passages, and what ``curagate leakage`` finds of val/test in train
    (:func:`curagate.split_pairs.leakage_hits`; with ``shared_passages="join"`` joined
    before assignment too), are reported in ``manifest["verification"]`` (the CLI warns
    or, with --fail-on-leak, exits 1). ``fail_on_leak`` is recorded there with the verdict
    (``fail_on_leak``, ``passed``): the output of a run that failed it is written, for
    inspection, and `curagate verify` and `curagate train` refuse it. ``strict`` (curate's
    ``--strict``) is recorded likewise (``strict``: ``enabled``, ``passed``, no row or input
    file quarantined): the CLI exits 1 on a quarantine, the output is written for
    inspection, and `verify` and `train` refuse it.

    ``out`` is replaced as a whole, as curate's output (:mod:`curagate.io.outputs`):
    it is built in a temporary sibling folder, marked complete and renamed into
    place last, so a run killed at any point leaves the previous output or none;
    only a new or empty folder or a previous complete split output is replaced,
    and an ``out`` that is, holds or is inside an input is refused.
    ``relabel`` = (prefix, shown): input paths under ``prefix`` are named under
    ``shown`` in the manifest (curate --split splits the kept/ of its temporary
    output folder, which becomes its --out).
    ``number_rows(source, row, column)``: whether that row's ``column`` string is a JSON
    number's (a column the reader kept as its values' strings) where the files read do not
    say so (curate --split: its kept/ Parquet parts; JSONL inputs say so themselves).
    ``batch_rows``: the records a chunk of a file is read in at most (curate's
    ``batch_rows``): a JSONL chunk's column holds one JSON type (docs/formats.md).
    """
    fractions = check_ratios(list(ratios), option=f"ratios {list(ratios)}")
    resolved_mode = _infer_mode(mode, label, group, time)
    if shared_passages == "join" and not verify:
        raise ConfigError("shared passages can only be joined when the splits are verified")
    if max_rounds < 1:
        raise ConfigError(f"{_opt('--max-rounds')} {max_rounds}: at least 1")
    template_texts = read_templates(templates)
    options = CheckOptions(
        near_threshold=near_threshold,
        near_ngram=near_ngram,
        near_shingle=near_shingle,
        normalize=tuple(sorted((normalize or {}).items())),
        ngram=ngram,
        max_ngram_items=max_ngram_items,
        shared_passages=shared_passages,
        templates=tuple(template_texts),
    )
    options.validate()
    from curagate.io import expand_inputs
    from curagate.io.outputs import check_output, check_replaceable, write_marker

    out_dir = Path(out)
    paths = expand_inputs(inputs)
    # `split DIR --out DIR` run twice would read its own outputs back.
    cache = [("--cache-dir", cache_dir)] if semantic and cache_dir is not None else []
    claim = check_output(out_dir, "split", inputs, paths, keep=cache)
    loaded = _load(
        paths,
        format=format,
        text_field=text_field,
        preference_key=preference_key,
        relabel=relabel,
        batch_rows=batch_rows,
        number_rows=number_rows,
    )

    labels = [_label_text(v) for v in _column(loaded, label, "--label")] if label else None
    together: list[Sequence[Any]] = []
    used_cluster = cluster_column
    if cluster_column is None and DEFAULT_CLUSTER_COLUMN in loaded.table.column_names:
        used_cluster = DEFAULT_CLUSTER_COLUMN
    if used_cluster:
        together.append([_hashable(v) for v in _column(loaded, used_cluster, "--cluster-column")])
    clusters_info: dict[str, Any] | None = None
    if clusters is not None:
        sources = {_shown(Path(p), relabel).as_posix(): Path(p) for p in paths}
        cluster_of, clusters_info = _clusters_file(
            Path(clusters), loaded.ids, loaded.where, sources
        )
        together.append(cluster_of)
    semantic_info: dict[str, Any] | None = None
    if semantic:
        from curagate.semantic import default_cache_dir, model_identity, semantic_clusters

        sem = semantic_clusters(
            loaded.keys,
            model=model,
            threshold=semantic_threshold,
            cache_dir=cache_dir if cache_dir is not None else default_cache_dir(),
            # A key with no words once normalized joins no cluster, as in curate (split
            # passed it in: `!!!` and `???` were one unit at --semantic-threshold 0.5).
            normalize=normalize,
            media=None if loaded.media is None else loaded.media.to_pylist(),
        )
        together.append([c if c >= 0 else None for c in sem.cluster.tolist()])
        semantic_info = {
            "threshold": semantic_threshold,
            # Its name and digest, as curate's stats.json: the path made the manifest (and
            # the run id) differ between two installs of one model.
            **model_identity(model),
            "clusters": sem.n_clusters,
            "unreadable_by_model": sem.unreadable,
            # longer than the model's window: in no cluster (curate's stats count them too)
            "longer_than_model_window": sem.longer_than_window,
            # keys with no words once normalized, in no cluster: curate's name for them
            # (`steps.near.empty_keys`; the manifest did not count them)
            "empty_keys": sem.empty_keys,
        }
    key_fps = fingerprints(loaded.key_array, loaded.media)
    overlap = (
        Overlap(loaded.keys, key_fps, options, loaded.media) if (verify or join_near) else None
    )
    from curagate.split_pairs import ScanRead

    # The leakage engine reads the records as they were read here (it re-detected the
    # format from the columns: --text-field question failed, naming a temporary file).
    scan_read = ScanRead(format, text_field, _files(f["path"] for f in loaded.files))
    # Joined before assignment, so that the first assignment is usually clean.
    links: list[tuple[int, int]] = []
    prejoined = {"near_links": 0, "passage_links": 0, "leakage_links": 0}
    if overlap is not None and join_near:
        near_links = overlap.near_links()
        prejoined["near_links"] = len(near_links)
        links.extend(near_links)
    if overlap is not None and shared_passages == "join":
        passage_links = overlap.passage_links()
        prejoined["passage_links"] = len(passage_links)
        links.extend(passage_links)
        # What `curagate leakage` would find across splits (a short item quoted in
        # another record, an equal prompt): kept together from the start.
        from curagate.leakage import EmptyReferenceError
        from curagate.split_pairs import leakage_links

        try:
            contained = leakage_links(
                loaded.table,
                ngram=ngram,
                max_items=max_ngram_items,
                write=_write_parquet,
                templates=options.templates,
                read=scan_read,
            )
        except EmptyReferenceError:
            if not options.templates:
                raise
            # Every row is template text and nothing else once the templates are out:
            # nothing to join (see split_pairs.hits_with_templates).
            contained = []
        prejoined["leakage_links"] = len(contained)
        links.extend(contained)
    groups = _column(loaded, group, "--group") if group else None
    times = _column(loaded, time, "--time") if time else None
    time_numbers = (
        _json_numbers(loaded, time, times, number_rows) if time and times is not None else None
    )

    def plan_with(extra: Sequence[tuple[int, int]]) -> SplitPlan:
        return assign_rows(
            loaded.key_array,
            ratios=fractions,
            seed=seed,
            mode=resolved_mode,
            labels=labels,
            groups=groups,
            times=times,
            time_numbers=time_numbers,
            time_column=time or "time",
            together=together,
            links=extra,
            where=loaded.where,
            key_fingerprints=key_fps,
        )

    plan = plan_with(links)
    units_before_repair = plan.n_units
    rounds = 1
    repaired_pairs = 0
    verification: dict[str, Any] = {"skipped": True, "leaks_total": 0}
    from curagate.split_pairs import hits_with_templates, leakage_hits

    while overlap is not None and verify:
        verification, join = overlap.check(plan.split, loaded.ids)
        if not join:
            # Scanned once copies no longer straddle (a scan a round cost seconds on
            # 16K rows): what `curagate leakage` finds is a leak too, joined with `join`.
            def scan(named: Sequence[str], assigned: list[int] = plan.split) -> list[Any]:
                return leakage_hits(
                    loaded.table,
                    assigned,
                    ngram=ngram,
                    max_items=max_ngram_items,
                    write=_write_parquet,
                    templates=named,
                    read=scan_read,
                )

            hits = hits_with_templates(scan, loaded.table, options.templates)
            if hits:
                verification, join = overlap.check(plan.split, loaded.ids, hits)
        if not join:
            break
        if rounds >= max_rounds:
            raise CheckFailed(
                _out_of_rounds(join, overlap.join_kinds, rounds, plan, loaded, join_near)
            )
        # Join every straddling pair and assign again; units only grow, so
        # this ends (at worst with every linked component in one unit).
        links.extend(join)
        repaired_pairs += len(join)
        rounds += 1
        plan = plan_with(links)
    # The policy and its verdict, in the manifest the marker's run id hashes: the output of
    # a run that failed --fail-on-leak (exit 1, written for inspection) was a complete,
    # verify-ok output that train accepted, nothing in it saying the check failed.
    verification["fail_on_leak"] = fail_on_leak
    verification["passed"] = (
        None if verification.get("skipped") else verification["leaks_total"] == 0
    )

    manifest: dict[str, Any] = {
        "schema_version": 2,
        "mode": resolved_mode,
        "seed": seed,
        "ratios": dict(zip(SPLIT_NAMES, (round(f, 6) for f in fractions), strict=True)),
        "join": {
            "near": join_near,
            "near_threshold": near_threshold,
            "near_ngram": near_ngram,
            "near_shingle": near_shingle,
            "shared_passages": shared_passages,
            **prejoined,
        },
        "repair": {
            "rounds": rounds,
            "pairs_joined": repaired_pairs,
            "units_joined": units_before_repair - plan.n_units,
        },
        "columns": {"label": label, "group": group, "time": time, "cluster": used_cluster},
        "inputs": {"files": loaded.files, "total_rows": sum(f["rows"] for f in loaded.files)},
        "templates": [Path(p).as_posix() for p in templates],
        "units": {"count": plan.n_units, "largest": plan.largest_unit},
        "clusters_file": clusters_info,
        "semantic": semantic_info,
        "splits": None,  # _write_split fills these two
        "quarantined": None,
        "verification": verification,
        # --strict and its verdict, in the manifest the run id hashes, as fail_on_leak's: the
        # output of a run that failed --strict (exit 1, written for inspection) was a
        # complete, verify-ok output that train accepted (found by review).
        "strict": {"enabled": strict, "passed": not loaded.quarantined},
        "warnings": empty_split_warnings(plan.split, fractions, plan.n_units, plan.largest_unit),
    }
    # Everything is written into a temporary folder that replaces `out` last.
    with atomic_path(
        out_dir, replaceable=lambda t: check_replaceable(t, "split"), claim=claim
    ) as tmp:
        tmp.mkdir()
        counts = _write_split(tmp, loaded, plan.split, labels, manifest)
        write_marker(tmp, "split", [tmp / MANIFEST_NAME], list_files=True)
    return SplitResult(out_dir, counts, manifest)


def empty_split_warnings(
    split_of: Sequence[int], fractions: Sequence[float], n_units: int, largest: int
) -> list[str]:
    """One line for each split asked for (ratio > 0) that got no row, and why: rows that
    must stay together go to one split as a unit, and too few units (or one too large) leave
    a split empty. It was silent: 4 groups of 10 at 0.8,0.1,0.1 were train 30, val 10,
    test 0, exit 0."""
    total = len(split_of)
    got = Counter(split_of)
    units = f"{n_units} unit{'s' if n_units != 1 else ''}, the largest {largest} row"
    fix = "keep fewer rows together (--group, clusters, near copies)" if largest > 1 else "add rows"
    return [
        f"{name} got 0 rows for ratio {round(ratio, 6):g} ({ratio * total:.3g} of {total} "
        f"rows): {units}{'s' if largest != 1 else ''}: too few units for the ratios; {fix}, "
        "or give it ratio 0 in --ratios"
        for s, (name, ratio) in enumerate(zip(SPLIT_NAMES, fractions, strict=True))
        if ratio > 0 and total and not got[s]
    ]


def _write_split(
    folder: Path,
    loaded: _Loaded,
    split_of: Sequence[int],
    labels: Sequence[str | None] | None,
    manifest: dict[str, Any],
) -> dict[str, int]:
    """Write the splits, the quarantine (if any) and the manifest (completed with
    ``splits`` and ``quarantined``) into the new ``folder``; returns the rows per split."""
    n = loaded.table.num_rows
    split_rows: list[list[int]] = [[], [], []]
    for r, s in enumerate(split_of):
        split_rows[s].append(r)
    splits_info: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for s, name in enumerate(SPLIT_NAMES):
        idx = pa.array(split_rows[s], type=pa.int64())
        part = loaded.table.take(idx)
        path = folder / f"{name}.parquet"
        _write_parquet(part, path)
        counts[name] = part.num_rows
        info: dict[str, Any] = {
            "file": path.name,
            "rows": part.num_rows,
            "ratio": round(part.num_rows / n, 6),
            "sha256": sha256_file(path),
        }
        if labels is not None:
            seen = Counter(labels[r] for r in split_rows[s])
            missing = seen.pop(None, 0)
            info["labels"] = dict(sorted(seen.items()))
            if missing:
                info["labels_missing"] = missing
        splits_info[name] = info

    quarantine_info: dict[str, Any] = {"rows": len(loaded.quarantined)}
    if loaded.quarantined:
        qpath = folder / "quarantine.jsonl"
        qpath.write_text("".join(q.to_jsonl() for q in loaded.quarantined), encoding="utf-8")
        quarantine_info.update(file=qpath.name, sha256=sha256_file(qpath))
    manifest["splits"] = splits_info
    manifest["quarantined"] = quarantine_info
    write_artifact(
        validated(SplitManifestDoc, manifest, what=MANIFEST_NAME), folder / MANIFEST_NAME
    )
    return counts
