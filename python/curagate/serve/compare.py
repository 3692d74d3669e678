"""Item-by-item comparison of two gate runs (or one run's candidate with its base).

Items are matched by (golden set, item id). "A" is the newer side (a report's
candidate), "B" the one it is compared with (the production version's candidate, or
the report's own base). A flip right→wrong is an item B answered correctly and A
does not. The paired interval is the Wald interval for a difference of paired
proportions (closed form, so a 10,000-item page stays fast); significance is
McNemar's test on the discordant pairs, as in the gate.

Speed (issue 12: < 300 ms per page with two 10,000-item reports): a pairing is built
once per pair of content addresses and kept in a small LRU, holding only what every
page needs (match indices, correctness, sets, slices, the per-set and per-slice
statistics); the display rows are built for the one page shown. Caching by sha256 is
sound because the stored items are immutable and every caller hands in bytes the store
has just checked against that address; the reports themselves are still judged
(signature, digest) on every request by the caller.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import re
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from curagate.errors import InputError
from curagate.gate.stats import MCNEMAR_EXACT_BELOW, mcnemar
from curagate.records import json_depth, python_kind
from curagate.text import LONE_SURROGATE

Z95 = 1.959963984540054
# sha256 -> (its parsed items, their estimated memory)
_ITEMS: OrderedDict[str, tuple[list[dict[str, Any]], int]] = OrderedDict()
_ITEMS_SIZE = 8
# The parsed items kept, by estimated memory (the newest is always kept): a 200 MB file of
# an uploader's was parsed again for every request (items files over 32 MB were never
# kept), ~2 GB each, and a dozen viewers exhausted the server's memory.
_ITEMS_BUDGET = 2 << 30
# Items files larger than this are read and parsed one at a time (the others wait, then
# find it cached): the memory of parsing is bounded whoever asks.
_BIG_PARSE_BYTES = 16 << 20
_BIG_PARSE = threading.Lock()
# A text field of a compared item is shown up to this many characters (a page of 50 items
# of 1.2 MB prompts was 171 MiB of HTML); the rest is in the stored items.jsonl.
MAX_SHOWN_CHARS = 4000
_PAIRS: OrderedDict[tuple[str, str | None], Pairing] = OrderedDict()
_PAIRS_SIZE = 4
_SELECTIONS_SIZE = 16
_LOCK = threading.Lock()
# Deeper item lines are not usable: orjson reads 1,024 levels, but a value about 1,000
# deep cannot be written back (a page, the API's JSON) within Python's recursion limit.
# The gate writes nothing past 130 (answers deeper than 128 levels are not parsed).
MAX_ITEM_DEPTH = 512

REGRESSION = "right→wrong"
FIX = "wrong→right"


def _lru_get(cache: OrderedDict[Any, Any], key: Any) -> Any:
    with _LOCK:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
        return hit


def _lru_put(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
    with _LOCK:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)


_GC_LOCK = threading.Lock()
_GC_HOLDS = 0
_GC_WAS_ENABLED = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while a big items file is parsed or paired.

    Parsing 10,000 rows allocates ~100,000 containers; the collector would walk every
    live object many times over (about 40 % of the parse, measured). JSON values hold no
    cycles, so nothing is left for it to find. Counted, so overlapping requests in the
    server's thread pool restore the state that was there before the first of them.
    """
    global _GC_HOLDS, _GC_WAS_ENABLED
    with _GC_LOCK:
        if _GC_HOLDS == 0:
            _GC_WAS_ENABLED = gc.isenabled()
            gc.disable()
        _GC_HOLDS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_HOLDS -= 1
            if _GC_HOLDS == 0 and _GC_WAS_ENABLED:
                gc.enable()


# orjson turns an integer beyond 64 bits into a float; json keeps it exact. A run of 19
# digits (the shortest that can leave the int64 range) sends its line to json. Found by
# mapping every digit to "0" and searching for 19 zeros: bytes search is ~50x faster on
# a 3 MB file than the regular expression [0-9]{19}.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_NINETEEN = b"0" * 19


def _long_digits(data: bytes) -> bool:
    return _NINETEEN in data.translate(_DIGITS_TO_ZERO)


def _parse_line(sha: str, n: int, line: bytes, fast: bool) -> Any:
    """One line, with orjson when ``fast`` (several times faster than ``json``); a line
    orjson refuses (NaN, infinities, lone surrogates, bytes that are not UTF-8) goes to
    ``json``, so every line reads as ``json`` reads it. A line nested deeper than
    :data:`MAX_ITEM_DEPTH` is not usable."""
    if line.count(b"[") + line.count(b"{") > MAX_ITEM_DEPTH and _too_deep(line):
        raise InputError(
            f"stored items {sha[:12]}: line {n} is nested deeper than {MAX_ITEM_DEPTH} levels"
        )
    if fast:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    try:
        value = json.loads(line.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        raise InputError(f"stored items {sha[:12]}: line {n} is not usable JSON") from None
    # A \ud83d-style escape is a lone surrogate, which no page or JSON answer can encode
    # (a 500 for every compare of the report): shown as U+FFFD, as the gate writes it.
    return _without_surrogates(value)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _too_deep(line: bytes) -> bool:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(line.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            return False  # refused as not usable JSON
    return json_depth(value, MAX_ITEM_DEPTH) > MAX_ITEM_DEPTH


def cached_items(sha: str) -> list[dict[str, Any]] | None:
    """The items parsed earlier from the bytes with this sha256, if still cached."""
    hit: tuple[list[dict[str, Any]], int] | None = _lru_get(_ITEMS, sha)
    return None if hit is None else hit[0]


def parse_cost(raw: bytes) -> int:
    """An estimate (from above) of the memory of ``raw`` parsed: 4 bytes a character (one
    character past U+FFFF makes Python store its whole string so), a Python object per
    value and more per container (``{"a":{}}`` per line is ~40x its bytes)."""
    values = raw.count(b",") + raw.count(b"\n") + 1
    return 4 * len(raw) + 64 * values + 240 * (raw.count(b"{") + raw.count(b"["))


@contextlib.contextmanager
def parsing(size: int) -> Iterator[None]:
    """Held while an items file of ``size`` bytes is read and parsed: one big file at a
    time (check :func:`cached_items` again inside: another request may have parsed it)."""
    if size <= _BIG_PARSE_BYTES:
        yield
        return
    with _BIG_PARSE:
        yield


def parse_items(sha: str, raw: bytes) -> list[dict[str, Any]]:
    """Parse items.jsonl once per content address (the bytes were checked against it)."""
    hit = cached_items(sha)
    if hit is not None:
        return hit
    cost = parse_cost(raw)
    if cost > _ITEMS_BUDGET:
        # Parsed, it would hold more than every cached report together may (28 MiB of
        # `{}` lines is 10 million dicts: 3 GB).
        raise InputError(
            f"stored items {sha[:12]}: {len(raw):,} bytes would take about {cost >> 20:,} MiB "
            f"parsed, more than the {_ITEMS_BUDGET >> 20:,} MiB compare may hold; read the "
            "gate's own report (gate_report.md) instead"
        )
    check_each = _long_digits(raw)
    rows = _Items()
    lines: list[int] = []
    with _gc_paused():
        for n, line in enumerate(raw.split(b"\n"), 1):
            if line.strip():
                fast = not (check_each and _long_digits(line))
                rows.append(_item(sha, n, _parse_line(sha, n, line, fast)))
                lines.append(n)
    if lines and lines[-1] != len(lines):  # blank lines: the k-th item is not line k
        rows.lines = lines
    _keep(sha, rows, cost)
    return rows


class _Items(list[dict[str, Any]]):
    """The item lines of one items.jsonl, and each one's line number where blank lines
    make it another than its position (``lines``; None: item k is line k + 1)."""

    lines: list[int] | None = None


def _line_of(items: list[dict[str, Any]], k: int) -> int:
    lines = getattr(items, "lines", None)
    return lines[k] if lines else k + 1


def _unusable(sha: str, items: list[dict[str, Any]], k: int, name: str) -> InputError:
    """An item pairing cannot use: its set, id or the verdict compared is missing or null.
    Each counted as an item of set "None", or as a wrong answer ("A correct 33.3%" of
    three items all right where two lines had no verdict), and the page said nothing."""
    value = items[k].get(name)
    what = "missing" if name not in items[k] else json.dumps(value)[:40]
    need = (
        "not true or false; the gate writes a verdict for every item"
        if name.endswith("_correct")
        else "items are matched by golden set and id; the gate writes both"
    )
    return InputError(
        f"stored items {sha[:12]}: line {_line_of(items, k)}: {name} is {what}, {need}"
    )


_VERDICTS = ("candidate_correct", "base_correct")


def _item(sha: str, n: int, value: Any) -> dict[str, Any]:
    """One item line: an object whose verdicts are booleans (or absent). A line of another
    kind was dropped without a word, and a verdict "false" read as correct (a string is
    true), so the page showed 66.7% for answers all wrong."""
    if not isinstance(value, dict):
        raise InputError(
            f"stored items {sha[:12]}: line {n} is a JSON {python_kind(value)}, not an item object"
        )
    for name in _VERDICTS:
        v = value.get(name)
        if v is not None and not isinstance(v, bool):
            raise InputError(
                f"stored items {sha[:12]}: line {n}: {name} is {json.dumps(v)[:40]}, not true "
                "or false"
            )
    return value


def _keep(sha: str, rows: list[dict[str, Any]], cost: int) -> None:
    """Cache ``rows``, dropping the least recently used items (and the pairings that hold
    them) past :data:`_ITEMS_SIZE` files or :data:`_ITEMS_BUDGET` bytes."""
    with _LOCK:
        _ITEMS[sha] = (rows, cost)
        _ITEMS.move_to_end(sha)
        while len(_ITEMS) > 1 and (
            len(_ITEMS) > _ITEMS_SIZE or sum(c for _, c in _ITEMS.values()) > _ITEMS_BUDGET
        ):
            old, _ = _ITEMS.popitem(last=False)
            for key in [k for k in _PAIRS if old in k]:
                del _PAIRS[key]


def _bounded(x: Any) -> Any:
    """An item's JSON value as shown: itself, or its text cut (:func:`_text`) when that
    is longer than :data:`MAX_SHOWN_CHARS` (an answer of a MiB made a page of 40 MB)."""
    if isinstance(x, str):
        return _text(x)
    if x is None or isinstance(x, bool | int | float):
        return x
    text = json.dumps(x, ensure_ascii=False, sort_keys=True)
    return x if len(text) <= MAX_SHOWN_CHARS else _text(text)


# A set name, slice column or slice value longer than this is shown as its start and a
# digest of the whole: each is printed in tables, menus and links on every page (200
# names of 20,000 characters made a page of 109 MB from an 8 MB upload).
MAX_LABEL_CHARS = 200
MAX_LABEL_PARAM = MAX_LABEL_CHARS + 100  # with its "… [N characters, sha256 D]"
# A slice's key (:func:`slice_key`): its column, each `=` and `\\` doubled by the escaping,
# then `=` and its value. Twice MAX_LABEL_PARAM refused (422) the link the page itself
# offered for a column of 200 `=` with a value of 250 characters.
MAX_SLICE_PARAM = 2 * MAX_LABEL_PARAM + 1 + MAX_LABEL_PARAM


def _label(name: str) -> str:
    """``name`` bounded for display and filtering: itself, or its first characters and a
    digest of it, so distinct names stay distinct."""
    if len(name) <= MAX_LABEL_CHARS:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{name[:MAX_LABEL_CHARS]}… [{len(name):,} characters, sha256 {digest}]"


def _text(x: Any) -> str:
    """An item's field as shown: text, at most :data:`MAX_SHOWN_CHARS` of it."""
    text = x if isinstance(x, str) else json.dumps(x, ensure_ascii=False, sort_keys=True)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    rest = len(text) - MAX_SHOWN_CHARS
    return f"{text[:MAX_SHOWN_CHARS]} … [{rest:,} more characters in the stored items.jsonl]"


def _key(r: dict[str, Any]) -> tuple[str, str]:
    return (str(r.get("set")), str(r.get("id")))


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    prompt: str
    reference: str
    slices: dict[str, str]
    a_output: str
    b_output: str
    a_answer: Any
    b_answer: Any
    a_correct: bool
    b_correct: bool
    # The A report's LLM-judge verdict on its candidate vs its base, both orders (or None).
    judge: dict[str, Any] | None = None

    @property
    def flip(self) -> str | None:
        return _flip(self.a_correct, self.b_correct)

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set,
            "id": self.id,
            "flip": self.flip,
            "prompt": self.prompt,
            "reference": self.reference,
            "slices": self.slices,
            "a_output": self.a_output,
            "b_output": self.b_output,
            "a_answer": self.a_answer,
            "b_answer": self.b_answer,
            "a_correct": self.a_correct,
            "b_correct": self.b_correct,
            "judge": self.judge,
        }


def _flip(a_correct: bool, b_correct: bool) -> str | None:
    if a_correct == b_correct:
        return None
    return FIX if a_correct else REGRESSION


def stats_from_counts(n: int, a: int, b: int, fixes: int, regressions: int) -> dict[str, Any]:
    """Paired accuracy of A and B over n items (a, b: items each got right; fixes: A right
    and B wrong; regressions: the reverse)."""
    pa = a / n if n else 0.0
    pb = b / n if n else 0.0
    delta = pa - pb
    low, high = paired_interval(n, fixes, regressions)
    # McNemar depends on the discordant pairs only: the gate's own test on just those.
    test = mcnemar([True] * fixes + [False] * regressions, [False] * fixes + [True] * regressions)
    significant = test.p_value < 0.05 and n > 0
    if not significant:
        # p is the report's, rounded to 6 decimals: 0.049999863 is 0.05, within noise, where
        # the interval (of the unrounded test) missed 0 by 2e-8 ([-0.0736, -0.0000])
        low, high = min(low, 0.0), max(high, 0.0)
    return {
        "n": n,
        "a": pa,
        "b": pb,
        "delta": delta,
        "ci_low": low,
        "ci_high": high,
        "p_value": test.p_value,
        "significant": significant,
        "fixes": fixes,
        "regressions": regressions,
    }


def paired_interval(n: int, fixes: int, regressions: int) -> tuple[float, float]:
    """The 95% interval of the paired accuracy difference that inverts the test the page
    reports, so it excludes 0 exactly when McNemar's p < 0.05. Given the m discordant
    pairs, delta = (m / n)(2q - 1) with q the share of fixes: below the exact test's bound,
    q's Clopper-Pearson interval (the exact test inverted); above it, the continuity-
    corrected normal one under the null's variance (the chi-square test inverted). No
    discordant pair: +-1.96 / (n + 2) (Agresti-Min's half pair in each cell). The Wald
    interval collapsed to a point when every discordant pair went one way ([+1, +1] of 3
    items, beside "within noise", p 0.25)."""
    m = fixes + regressions
    if n == 0:
        return 0.0, 0.0
    if m == 0:
        half = Z95 / (n + 2)
        return -half, half
    if m < MCNEMAR_EXACT_BELOW:
        low, high = _clopper_pearson(fixes, m)
        bounds = (m / n * (2 * low - 1), m / n * (2 * high - 1))
    else:
        width = 1 + Z95 * math.sqrt(m)
        bounds = ((fixes - regressions - width) / n, (fixes - regressions + width) / n)
    return max(-1.0, bounds[0]), min(1.0, bounds[1])


def _clopper_pearson(k: int, m: int, alpha: float = 0.05) -> tuple[float, float]:
    """The exact 95% interval of a binomial share k / m (each end by bisection)."""

    def at_least(p: float) -> float:  # P(X >= k) under Binomial(m, p)
        return sum(math.comb(m, i) * p**i * (1 - p) ** (m - i) for i in range(k, m + 1))

    def solve(f: Any, rising: bool) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if (f(mid) < alpha / 2) == rising:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    # Lower end: P(X >= k; p) = alpha/2, rising in p; upper: P(X <= k; p) = alpha/2.
    low = 0.0 if k == 0 else solve(at_least, rising=True)
    high = 1.0 if k == m else solve(lambda p: 1 - at_least(p) + _pmf(k, m, p), rising=False)
    return low, high


def _pmf(k: int, m: int, p: float) -> float:
    return float(math.comb(m, k) * p**k * (1 - p) ** (m - k))


def paired_stats(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict[str, Any]:
    fixes = sum(1 for x, y in zip(a_correct, b_correct, strict=True) if x and not y)
    regressions = sum(1 for x, y in zip(a_correct, b_correct, strict=True) if y and not x)
    return stats_from_counts(
        len(a_correct), sum(map(bool, a_correct)), sum(map(bool, b_correct)), fixes, regressions
    )


def _stats_of_codes(counts: Counter[int]) -> dict[str, Any]:
    """Statistics from counts of pair codes (2 * A correct + B correct)."""
    return stats_from_counts(
        counts.total(),
        counts[2] + counts[3],
        counts[1] + counts[3],
        counts[2],
        counts[1],
    )


@dataclass(frozen=True)
class Pairing:
    """Two item lists matched once: what every page of their comparison needs."""

    a_items: list[dict[str, Any]]
    b_items: list[dict[str, Any]] | None  # None: each A item against its own base
    a_index: list[int]  # matched pairs, in A's order
    b_index: list[int]
    sets: list[str]
    slices: list[dict[str, str]]
    a_correct: list[bool]
    b_correct: list[bool]
    unmatched: int
    # per set, then the overall row ("set": "all", "overall": true) when there are several
    metrics: list[dict[str, Any]]
    # Sets whose paired items were read by different metrics in the two reports
    # (items.jsonl's score_metric): {"set", "a", "b"}, None where an item names none.
    grading_differs: list[dict[str, Any]]
    slice_stats: list[dict[str, Any]]  # per "column=value", sorted
    _selections: OrderedDict[tuple[bool, str, str], list[int]] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )

    @property
    def matched(self) -> int:
        return len(self.a_index)

    def row(self, k: int) -> Row:
        """The display row of the k-th matched pair."""
        r = self.a_items[self.a_index[k]]
        if self.b_items is None:
            b, side = r, "base"
        else:
            b, side = self.b_items[self.b_index[k]], "candidate"
        _, item_id = _key(r)
        return Row(
            set=self.sets[k],
            id=_text(item_id),
            prompt=_text(r.get("prompt", "")),
            reference=_text(r.get("reference", "")),
            slices=dict(self.slices[k]),
            a_output=_text(r.get("candidate_output", "")),
            b_output=_text(b.get(f"{side}_output", "")),
            a_answer=_bounded(r.get("candidate_answer")),
            b_answer=_bounded(b.get(f"{side}_answer")),
            a_correct=self.a_correct[k],
            b_correct=self.b_correct[k],
            judge=_judge(r.get("judge")),
        )

    def select(self, *, changed: bool, set_name: str | None, slice_key: str | None) -> list[int]:
        """Indices of the matching pairs: regressions first, then fixes, then the rest,
        each in A's order (kept per filter: paging through one filter selects once)."""
        key = (changed, set_name or "", slice_key or "")
        hit = _lru_get(self._selections, key)
        if hit is None:
            hit = self._select(changed=changed, set_name=set_name, slice_key=slice_key)
            _lru_put(self._selections, key, hit, _SELECTIONS_SIZE)
        return list(hit)

    def _select(self, *, changed: bool, set_name: str | None, slice_key: str | None) -> list[int]:
        col, val = split_slice_key(slice_key or "")
        groups: tuple[list[int], list[int], list[int]] = ([], [], [])
        a_ok, b_ok, sets, slices = self.a_correct, self.b_correct, self.sets, self.slices
        for k in range(len(a_ok)):
            if set_name and sets[k] != set_name:
                continue
            if slice_key and slices[k].get(col) != val:
                continue
            a, b = a_ok[k], b_ok[k]
            if a == b:
                if not changed:
                    groups[2].append(k)
            else:
                groups[0 if b else 1].append(k)
        return groups[0] + groups[1] + groups[2]


def as_label(value: str | None, labels: Sequence[str]) -> str | list[str] | None:
    """``value`` as a browser's form submitted it (line breaks as CRLF, NUL as U+FFFD):
    the one label of ``labels`` it stands for; ``value`` itself when it stands for none
    (unknown: a 404 names the labels there are); every label it stands for when several
    do (found by the re-attacks: the page's menu offered a set "s\nA" and then found no
    item in it; then, of the sets "a\nb" and "a\r\nb", both options showed the second's
    numbers)."""
    if value is None:
        return value
    submitted = _as_submitted(value)
    found = sorted({label for label in labels if _as_submitted(label) == submitted})
    if len(found) > 1:
        return found
    return found[0] if found else value


def _as_submitted(text: str) -> str:
    return re.sub(r"\r\n|\r|\n", "\r\n", text).replace("\x00", "\ufffd")


def slice_key(column: str, value: str) -> str:
    """``column=value``, with ``=`` and ``\\`` in the column escaped by a backslash: the
    column ``lang=en`` with value ``yes`` and the column ``lang`` with value ``en=yes`` were
    one slice, their counts added (a slice the candidate broke hidden behind one it fixed)."""
    return column.replace("\\", "\\\\").replace("=", "\\=") + "=" + value


def split_slice_key(key: str) -> tuple[str, str]:
    """(column, value) of a :func:`slice_key` (the value is what follows the first ``=``
    no backslash escapes)."""
    column: list[str] = []
    chars = iter(key)
    for ch in chars:
        if ch == "\\":
            column.append(next(chars, ""))
        elif ch == "=":
            return "".join(column), "".join(chars)
        else:
            column.append(ch)
    return "".join(column), ""


def pairing(
    a_sha: str,
    a_items: list[dict[str, Any]],
    b_sha: str | None,
    b_items: list[dict[str, Any]] | None,
) -> Pairing:
    """Match A's items with B's (or with A's own base when ``b_items`` is None), once per
    pair of content addresses."""
    key = (a_sha, b_sha if b_items is not None else None)
    hit: Pairing | None = _lru_get(_PAIRS, key)
    if hit is not None:
        return hit
    with _gc_paused():
        result = _pair(a_items, b_items, a_sha, b_sha or "")
    _lru_put(_PAIRS, key, result, _PAIRS_SIZE)
    return result


def _pair(
    a_items: list[dict[str, Any]],
    b_items: list[dict[str, Any]] | None,
    a_sha: str = "",
    b_sha: str = "",
) -> Pairing:
    b_pos: dict[tuple[str, str], int] = {}
    side = "base"
    if b_items is not None:
        for j, r in enumerate(b_items):
            b_set, b_id = r.get("set"), r.get("id")
            if b_set is None or b_id is None:
                raise _unusable(b_sha, b_items, j, "id" if b_set is not None else "set")
            b_pos[(str(b_set), str(b_id))] = j
        side = "candidate"
    a_index: list[int] = []
    b_index: list[int] = []
    sets: list[str] = []
    slices: list[dict[str, str]] = []
    a_ok: list[bool] = []
    b_ok: list[bool] = []
    ok_field = f"{side}_correct"
    graded: dict[str, tuple[Any, Any]] = {}  # set -> the first pair of metrics that differ
    # One tight loop (this is the cold path of a 10,000-item page); counting is left to
    # Counter, in C.
    for i, r in enumerate(a_items):
        get = r.get
        raw_set, raw_id = get("set"), get("id")
        if raw_set is None or raw_id is None:
            raise _unusable(a_sha, a_items, i, "id" if raw_set is not None else "set")
        full_set = str(raw_set)
        if b_items is None:
            j, b = i, r
        else:
            found = b_pos.get((full_set, str(raw_id)))
            if found is None:
                continue
            j, b = found, b_items[found]
            metric, b_metric = get("score_metric"), b.get("score_metric")
            if metric != b_metric and full_set not in graded:
                graded[full_set] = (metric, b_metric)
        raw_slices = get("slices")
        a_index.append(i)
        b_index.append(j)
        sets.append(_label(full_set))
        slices.append(
            {_label(str(c)): _label(str(v)) for c, v in raw_slices.items()}
            if isinstance(raw_slices, dict) and raw_slices
            else {}
        )
        # Booleans only: a verdict missing or null was counted as a wrong answer.
        a_verdict, b_verdict = get("candidate_correct"), b.get(ok_field)
        if a_verdict is not True and a_verdict is not False:
            raise _unusable(a_sha, a_items, i, "candidate_correct")
        if b_verdict is not True and b_verdict is not False:
            b_list = a_items if b_items is None else b_items
            raise _unusable(a_sha if b_items is None else b_sha, b_list, j, ok_field)
        a_ok.append(a_verdict)
        b_ok.append(b_verdict)
    codes = [2 * a + b for a, b in zip(a_ok, b_ok, strict=True)]
    by_set: dict[str, Counter[int]] = defaultdict(Counter)
    for (set_name, code), n in Counter(zip(sets, codes, strict=True)).items():
        by_set[set_name][code] = n
    by_slice: dict[str, Counter[int]] = defaultdict(Counter)
    for (key, code), n in Counter(
        (slice_key(c, v), code)
        for sl, code in zip(slices, codes, strict=True)
        for c, v in sl.items()
    ).items():
        by_slice[key][code] = n
    metrics = [
        {"set": s, "overall": False, **_stats_of_codes(c)} for s, c in sorted(by_set.items())
    ]
    if len(by_set) > 1:
        # Named "all" as before, and marked: a golden set may be named "all" too, and its
        # row read as the overall one (``overall``; the page heads this row differently).
        metrics.append({"set": "all", "overall": True, **_stats_of_codes(Counter(codes))})
    # A's items without a match, and B's that none matched (hand-written items may repeat a
    # set and id: counted as matches, A's repeats made this negative).
    unmatched = (
        0 if b_items is None else len(a_items) - len(a_index) + len(b_items) - len(set(b_index))
    )
    return Pairing(
        a_items=a_items,
        b_items=b_items,
        a_index=a_index,
        b_index=b_index,
        sets=sets,
        slices=slices,
        a_correct=a_ok,
        b_correct=b_ok,
        unmatched=unmatched,
        metrics=metrics,
        grading_differs=[
            {"set": _label(name), "a": _metric_name(a), "b": _metric_name(b)}
            for name, (a, b) in sorted(graded.items())
        ],
        slice_stats=[{"key": k, **_stats_of_codes(c)} for k, c in sorted(by_slice.items())],
    )


def _metric_name(value: Any) -> str | None:
    """An item's score_metric as shown: None when it names none (items.jsonl of a gate
    before curagate recorded it), bounded like a label."""
    return None if value is None else _label(str(value))


__all__ = [
    "FIX",
    "REGRESSION",
    "Pairing",
    "Row",
    "cached_items",
    "paired_stats",
    "pairing",
    "parse_cost",
    "parse_items",
    "parsing",
    "slice_key",
    "split_slice_key",
    "stats_from_counts",
]


def _judge(value: Any) -> dict[str, Any] | None:
    """An item's judge verdicts in the shape the gate writes them (what the page shows),
    or None: a stored items.jsonl is an upload like any other, of any shape."""
    if not isinstance(value, dict):
        return None

    def order(side: Any) -> dict[str, Any] | None:
        if not isinstance(side, dict):
            return None
        verdict, raw = side.get("verdict"), side.get("raw")
        if not (verdict is None or isinstance(verdict, str)) or not isinstance(raw, str):
            return None
        return {"verdict": None if verdict is None else _text(verdict), "raw": _text(raw)}

    # Every field shown is bounded, as an item's texts are: only `raw` was, and three
    # verdicts of a MB each in 50 items made one compare page (and its API answer) 150 MB.
    verdict = value.get("verdict")
    first, second = order(value.get("candidate_first")), order(value.get("base_first"))
    if not isinstance(verdict, str) or first is None or second is None:
        return None
    return {
        "verdict": _text(verdict),
        "position_disagreement": value.get("position_disagreement") is True,
        "candidate_first": first,
        "base_first": second,
    }
