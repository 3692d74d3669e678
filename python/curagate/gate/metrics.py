"""Gate metrics, pure Python so they are exact, fast to test and dependency-free.

Each corpus metric is a function of the per-item predictions and references,
so the paired bootstrap can recompute it on any resample of the items.
"""

from __future__ import annotations

import functools
import json
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, overload

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT_SET = frozenset(string.punctuation)


def normalize_text(s: str, *, drop_articles: bool = True) -> str:
    """SQuAD-style normalization, as labels are read (:func:`_reading`): NFKC, case-folded,
    no punctuation (:func:`_ignored`: any script's, and invisible format characters), no
    articles, single spaces. Found by attack: only ASCII punctuation was removed, so
    "北京。", "« Paris »" and "Paris" followed by a zero-width space were not "北京" and
    "Paris"."""
    s = _reading(s, part=False)[0]
    return " ".join(_ARTICLES.sub(" ", s).split()) if drop_articles else s


@functools.lru_cache(maxsize=4096)
def _ignored(c: str) -> bool:
    """Whether answers are read without ``c``: ASCII punctuation and symbols
    (``string.punctuation``), any script's punctuation (Unicode categories P*: ``。``,
    ``«``, ``“``) and format characters (Cf: a zero-width space or joiner, a soft hyphen,
    a byte-order or direction mark). One rule for exact_match and the label reader."""
    if c.isascii():
        return c in _PUNCT_SET
    category = unicodedata.category(c)
    return category.startswith("P") or category == "Cf"


def _format(c: str) -> bool:
    return not c.isascii() and unicodedata.category(c) == "Cf"


def _visible(text: str) -> str:
    """``text`` without its format characters (:func:`_format`): they show nothing, so
    ``1\u200b8`` reads as ``18``."""
    return text if text.isascii() else "".join(c for c in text if not _format(c))


def _strip_around(word: str, drop: Callable[[str], bool]) -> str:
    """``word`` less the characters ``drop`` names at its ends, as around a number: a
    sign, ``$`` or ``.`` that starts a number is kept (``-18``, ``$5``, ``.5``), and so is
    a dash of another script (``\u201318``: a minus sign or no number, never ``18``)."""
    end = len(word)
    while end and drop(word[end - 1]):
        end -= 1
    start = 0
    while start < end and drop(word[start]):
        if as_number(word[start:end]) is not None or (_dash(word[start]) and word[start] != "-"):
            break
        start += 1
    return word[start:end]


@overload
def rnd(x: float) -> float: ...
@overload
def rnd(x: None) -> None: ...
def rnd(x: float | None) -> float | None:
    """Round for reports: stable text across platforms, precise enough for any threshold.

    Checks compare values rounded so (curagate.gate.checks), so a verdict never
    contradicts the numbers the report prints."""
    return None if x is None else round(float(x), 6)


def num(value: float) -> str:
    """A value for a report or message: 4 decimals, or the report's 6 where 4 would hide
    that it differs from a limit (0.74996 is not shown as 0.7500)."""
    r = rnd(value)
    short = f"{r:.4f}"
    return short if math.isnan(r) or float(short) == r else f"{r:.6f}".rstrip("0")


def pct(value: float) -> str:
    """A share as a percentage: one decimal, or the report's precision where one decimal
    would hide a difference from a limit (0.79996 is 79.996%, not 80.0%)."""
    r = rnd(value)
    short = f"{r:.1%}"
    if math.isnan(r) or round(r * 100, 1) == round(r * 100, 4):
        return short
    return f"{r * 100:.4f}".rstrip("0") + "%"


# A number as answers write one: a sign (before or after a dollar sign), digits with
# thousands commas only in whole groups of three, decimals, an exponent (``5e-05``, as
# Python writes a small float: without it, text normalization made it "5e05", the same as
# the answer ``5e+05``), a sentence's closing period.
_NUMBER = re.compile(
    r"(?:\$(?P<sign_after>[+-])|(?P<sign>[+-])?\$?)"
    r"(?P<digits>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<exponent>[eE][+-]?\d{1,4})?\.?"
)


def as_number(text: str) -> Decimal | None:
    """The value of ``text`` when all of it (stripped) is one number, else None."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None:
        return None
    sign = m.group("sign") or m.group("sign_after") or ""
    return Decimal(sign + m.group("digits").replace(",", "") + (m.group("exponent") or ""))


def plain_number(value: float) -> str:
    """A JSON number as a person writes it: ``0.00005``, not Python's ``5e-05``."""
    text = format(Decimal(repr(value)), "f")
    return text[:-2] if text.endswith(".0") else text


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the answer is the reference: as numbers when the reference is a number
    (``18.0`` is ``18``; ``-18``, ``1.8`` and ``1,8`` are not), else word by word as
    :func:`answer_words` reads them (text normalized, numbers by value, other runs of
    digits as written)."""
    number = as_number(reference)
    if number is not None:
        return float(as_number(_number_text(prediction)) == number)
    ref = answer_words(reference)
    if not ref:
        # A reference that is an article ("A" as a choice letter): compared with the
        # articles kept, or "", "the" and "..." would all be the answer "A".
        return float(
            normalize_text(prediction, drop_articles=False)
            == normalize_text(reference, drop_articles=False)
        )
    return float(answer_words(prediction) == ref)


def _number_text(prediction: str) -> str:
    """An answer compared with a number reference: NFKC (:func:`_nfkc`), less the spacing
    and punctuation around it, of any script (Unicode P*: ``(18)``, ``“18”``, ``7。``,
    ``« 18 »``; found by attack, each scored 0), less format characters; symbols such as
    ``<``, ``~`` or ``=`` are kept (``<18`` is not 18), and so are the marks Unicode files as
    punctuation that say what a number is (``18%``, ``18‰``, ``#18``, ``5″``: found by
    re-attack, each was 18 or 5)."""
    text = _nfkc(_visible(prediction))
    return _strip_around(
        text,
        lambda c: c.isspace() or (unicodedata.category(c).startswith("P") and c not in _UNIT_MARKS),
    )


# Punctuation by Unicode's categories that is part of what a number means: percent, per
# mille, per ten thousand, number sign, primes (minutes, seconds, feet, inches).
_UNIT_MARKS = frozenset("%\u2030\u2031#\u2032\u2033\u2034\u2057\uff05\uff03\ufe6a\ufe5f")


AnswerWord = tuple[str, "str | Decimal"]


def answer_words(text: str) -> list[AnswerWord]:
    """What an answer is compared by in :func:`exact_match`: its words (NFKC, split at
    whitespace; a word that NFKC would give digits it does not hold, ``10\u00b2`` or
    ``x\u00b2``, is compared with those characters as written, not as ``102`` or ``x2``). A word without a digit
    is normalized (:func:`normalize_text`: case,
    punctuation and articles dropped); a word with one, less the punctuation around it,
    is a number by its value when it is one (``1,000`` is ``1000``, ``1e5`` is
    ``100000``) written without zeros that say something (:data:`_SPELLED_ZEROS`: ``007``,
    ``3.10``), else kept as written, lower-cased. Found by attack: the text
    was normalized whole, which erased the dots, commas and dashes inside ``10.0.0.1``,
    ``555-1234`` or ``1,00,000``, so ``100.0.1``, ``555-12-34`` and ``10,0000`` matched
    them."""
    out: list[AnswerWord] = []
    for raw in _visible(text).split():
        if _digits_made_by_nfkc(raw):
            # Found by attack: NFKC turns a superscript, subscript, circled digit or
            # fraction into plain digits, so 10\u00b2 (ten squared) read as 102 and x\u00b2
            # as x2, each matching the other. Such a word is compared as written (less the
            # punctuation around it), lower-cased, its other characters in NFKC (found by the
            # re-attack: a fullwidth X (U+FF38) with \u00b2 was not X\u00b2).
            out.append(("written", _strip_around(_nfkc(raw), _ignored).casefold()))
            continue
        out += _nfkc_words(raw)
    return out


def _digits_made_by_nfkc(word: str) -> bool:
    """Whether ``word`` holds a character that is no decimal digit but that NFKC makes
    one or more digits of (\u00b2, \u2082, \u2460, \u00bd); fullwidth digits are decimal
    digits, whose value NFKC keeps."""
    return not word.isascii() and any(_makes_digits(c) for c in word)


@functools.lru_cache(maxsize=4096)
def _makes_digits(c: str) -> bool:
    return not c.isdecimal() and any(d.isdigit() for d in unicodedata.normalize("NFKC", c))


def _nfkc(text: str) -> str:
    """``text`` in NFKC, but for the characters NFKC would make digits of that are none
    (:func:`_digits_made_by_nfkc`: 10\u00b2 is not 102), kept as written."""
    if not _digits_made_by_nfkc(text):
        return unicodedata.normalize("NFKC", text)
    out: list[str] = []
    start = 0
    for i, c in enumerate(text):
        if _makes_digits(c):
            out += [unicodedata.normalize("NFKC", text[start:i]), c]
            start = i + 1
    out.append(unicodedata.normalize("NFKC", text[start:]))
    return "".join(out)


def _nfkc_words(raw: str) -> list[AnswerWord]:
    """:func:`answer_words` of one whitespace-free piece of an answer, after NFKC (which
    may split it: U+00B4 becomes a space and a combining accent)."""
    out: list[AnswerWord] = []
    for word in unicodedata.normalize("NFKC", raw).split():
        if not any(c.isdigit() for c in word):
            out += [("text", w) for w in normalize_text(word).split()]
            continue
        # Less the punctuation around the number ("(18)", "18.", "18%", "18。", "“18”"),
        # but a sign, "$" or "." that starts it.
        core = _strip_around(word, _ignored)
        number = None if _SPELLED_ZEROS.search(core) else as_number(core)
        out.append(("number", number) if number is not None else ("written", core.casefold()))
    return out


# A leading zero before a digit, or a fraction ending in zero: in a sentence such a number
# is written so on purpose (a ZIP code 02134, agent 007, Python 3.10, section 2.10), and its
# value would make 2134, 7, 3.1 and 2.1 right (found by the re-attack). Compared as written.
_SPELLED_ZEROS = re.compile(r"(?<![\d.,])0\d|\.\d*0(?![\d])")


def accuracy(correct: Sequence[float]) -> float:
    return sum(correct) / len(correct) if correct else 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


LabelKey = tuple[str, "str | Decimal"]
# Words a label may not be found by inside a longer answer: "a" in "It is a positive
# review" is an article, not the option A (a whole answer "A" or "(A)" still names it).
_ARTICLE_WORDS = frozenset({"a", "an", "the"})
# Scripts written without spaces between words (Chinese, Japanese) and Korean, whose
# particles join the word before them: a Latin word or a number written right beside
# them is still a word of its own ("答案是Positive", "答案是5", "Positive입니다").
_SPACELESS = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3040-\u30ff\u3100-\u312f"
    "\u3130-\u318f\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
_SPACELESS_CHAR = re.compile(f"[{_SPACELESS}]")
# A word character of another script than those: what a mention may not touch.
_WORD_NOT_SPACELESS = rf"[^\W{_SPACELESS}]"
# Numbers inside an answer, bounded so "11" holds no "1" and "1.5" no "1".
_NUMBER_IN_TEXT = re.compile(
    rf"(?<!{_WORD_NOT_SPACELESS})(?<![.,$+-])(?:{_NUMBER.pattern})"
    rf"(?!{_WORD_NOT_SPACELESS}|[.,]\d)"
)


def numbers_in(text: str) -> list[Decimal | None]:
    """The values of the numbers inside ``text`` (:func:`_nfkc`), in order."""
    found = _NUMBER_IN_TEXT.finditer(_nfkc(text))
    return [as_number(m.group(0)) for m in found]


def _label_text(s: str) -> str:
    """A label's text as answers are compared with it: NFKC (:func:`_nfkc`: x\u00b2 is not
    x2), case-folded, punctuation (any script's) and format characters removed
    (:func:`_ignored`), a stop or comma between two words parting them (:func:`_joins`),
    whitespace collapsed; articles kept (a label "A" is a letter)."""
    return _reading(s)[0]


def label_key(label: str) -> LabelKey:
    """What tells one label from another in an answer: a number by its value (``-1`` is
    not ``1``; ``1.0`` is), other text by :func:`_label_text`."""
    number = as_number(label)
    if number is not None:
        return ("number", number)
    return ("text", _label_text(label))


# The confusion matrix's column of answers that name no label.
UNPARSED = "(none)"


def check_labels(labels: Sequence[str]) -> None:
    """Raise ValueError when no answer could name some label: two labels with one key
    (a duplicate inflates macro-F1; 'Positive'/'positive' or '1'/'1.0' read alike) or a
    label with no letters or digits ('+', '...'), which every empty answer would name."""
    seen: dict[LabelKey, str] = {}
    for lab in labels:
        if unicodedata.normalize("NFKC", lab).strip() == UNPARSED:
            # Its answers and the unparsed ones were one column of the confusion matrix;
            # spaced or in fullwidth brackets ("(none) ", "\uff08none\uff09"), it reads as
            # that column in every report (found by the re-attack).
            raise ValueError(
                f"label {lab!r} is the confusion matrix's column of unparsed answers; "
                "name the label otherwise (none, say)"
            )
        key = label_key(lab)
        if key == ("text", ""):
            raise ValueError(
                f"label {lab!r} has no letters or digits, so no answer can name it "
                "(punctuation and spacing are ignored when answers are read)"
            )
        if key in seen:
            raise ValueError(
                f"labels {seen[key]!r} and {lab!r} read as the same answer (case, punctuation "
                "and spacing are ignored; numbers compare by value); make each label distinct"
            )
        seen[key] = lab


def match_label(output: str, labels: Sequence[str]) -> str | None:
    """The label a free-text answer names; ``None`` when it names none, or more than one
    (a hedge such as "Positive or Negative" is no answer), or a key two labels share.

    The whole answer is tried first: exactly a label, else the same key
    (:func:`label_key`: ``-1.`` names ``-1``, ``(b)`` names ``B``). Else the one label it
    mentions: a number of the same value, or the label's text as whole words (a Latin
    word right beside Chinese, Japanese or Korean is one: "答案是Positive"); a mention
    inside a longer label's mention is that label's, so "Science and technology" names
    one label, not also "Science"; a label that is an article (``A``) is named only by a
    whole answer; a mention right after a negation word (:data:`NEGATIONS`, of several
    languages; articles and a copula between allowed: "not positive", "isn't a positive",
    "can't be Positive", "No es Positive", "这不是 Positive", but not "无非是 Positive")
    or followed by a Japanese one ("Positive ではない") is no mention.
    """
    stripped = output.strip()
    if labels.count(stripped) == 1:
        return stripped
    by_key: dict[LabelKey, list[str]] = {}
    for lab in labels:
        by_key.setdefault(label_key(lab), []).append(lab)

    def only(key: LabelKey) -> str | None:
        found = by_key[key]
        return found[0] if len(found) == 1 else None

    whole = label_key(output)
    if whole in by_key:
        return only(whole)

    named: set[LabelKey] = set()
    numbers = {k[1] for k in by_key if k[0] == "number"}
    if numbers:
        # Found by the re-attack: with NFKC, 10\u00b2 named the label 102 (exact_match
        # had stopped reading it so); a character NFKC makes digits of is kept as written.
        nfkc = _nfkc(output)
        for m in _NUMBER_IN_TEXT.finditer(nfkc):
            value = as_number(m.group(0))
            if (
                value in numbers
                and not _negated_end(nfkc[: m.start()])
                and not _DENIED_AFTER.match(_reading(nfkc[m.end() :])[0])
            ):
                named.add(("number", value))
    text, breaks = _reading(output)
    words = [k for kind, k in by_key if kind == "text" and isinstance(k, str)]
    spans = {
        key: [m.span() for m in re.finditer(_mention(key), text)]
        for key in words
        if key and key not in _ARTICLE_WORDS
    }

    def inside_longer(key: str, start: int, end: int) -> bool:
        return any(
            len(other) > len(key) and s <= start and end <= e
            for other, found in spans.items()
            for s, e in found
        )

    for key, found in spans.items():
        # A mention right after a negation word ("not positive") names no label.
        if any(
            not inside_longer(key, s, e)
            and not _negated(text, breaks, s)
            and not _DENIED_AFTER.match(text, e)
            for s, e in found
        ):
            named.add(("text", key))
    return only(named.pop()) if len(named) == 1 else None


def _mention(key: str) -> str:
    """A pattern of ``key`` (:func:`_label_text`) as a whole word of an answer: no word
    character touches it, but for a character of a script written without spaces
    (:data:`_SPACELESS`) beside a key's end that is of another one ("答案是Positive"
    names Positive; "这是正面" still holds no word "正面")."""
    before = _WORD_NOT_SPACELESS if not _SPACELESS_CHAR.match(key[0]) else r"\w"
    after = _WORD_NOT_SPACELESS if not _SPACELESS_CHAR.match(key[-1]) else r"\w"
    return rf"(?<!{before}){re.escape(key)}(?!{after})"


# Words that negate the label after them, by language, as answers are read (case-folded,
# apostrophes dropped: "isn't" is "isnt", "n'est pas" is "nest pas"). Found by attack:
# "Not positive" named Positive; then (the re-attack) "Nicht Positive", "Ce n'est pas
# Positive.", "No es Positive" and "non positive" did, while "Non-positive" named none.
# Kept short on purpose: "hardly" or "far from" are not read.
NEGATIONS: dict[str, str] = {
    "en": "not no never nor neither cannot cant wont dont doesnt didnt isnt arent wasnt "
    "werent aint couldnt wouldnt shouldnt mustnt hasnt havent hadnt shant",
    "de": "nicht kein keine keinen keinem keiner keines nie niemals weder",
    "fr": "pas non jamais aucun aucune ni",
    "es": "no nunca ni ningún ninguna ninguno tampoco",
    "it": "non né nessun nessuna nessuno",
    "pt": "não nao nunca nem nenhum nenhuma",
}
# Chinese negations, written without spaces (the text before them may be a word of the
# same run: "这不是 Positive"), optionally followed by the copula 是: 不, 非, 没有. 非 right
# after 无/無 is none: 无非 is "nothing but" ("无非是 Positive" affirms it; found by attack).
NEGATIONS_ZH = "不 非 没有 沒有 没 沒 无 無"
_NOT_NEGATING_ZH = {"非": "无無"}
# What may stand between a negation and the label it denies: articles and the copula
# ("not a positive review", "No es Positive", "non è Positive", "não é Positive", "can't
# be Positive", "hasn't been Positive": found by attack, "be" denied nothing).
NEGATION_FILLERS = (
    "a an the be been ein eine einen einem einer der die das den un une le la les es está "
    "son el lo los las una uno è il gli é o os as um uma"
)
# Japanese denies after the label, as a separate word: "Positive ではない".
_DENIED_AFTER = re.compile(r" ?(?:ではな|じゃな|でな|ではありません|じゃありません)")
_NEGATION_WORDS = frozenset(w for words in NEGATIONS.values() for w in words.split())
_NEGATION_ZH = "|".join(
    rf"(?<![{_NOT_NEGATING_ZH[w]}]){w}" if w in _NOT_NEGATING_ZH else w
    for w in NEGATIONS_ZH.split()
)
_NEGATION = (
    rf"(?:(?<!\w)(?:{'|'.join(sorted(_NEGATION_WORDS))})|(?:{_NEGATION_ZH})是?)"
    rf"(?: (?:{'|'.join(NEGATION_FILLERS.split())}))*"
)
_NEGATED_END = re.compile(rf"{_NEGATION} ?$")
_APOSTROPHES = str.maketrans("", "", "'\u2019")
# What ends a negation's reach: a stop, a comma, a semicolon, a colon, a question or
# exclamation mark, or a dash standing alone between spaces ("No - negative"). Other
# punctuation is dropped as labels are read (quotes, brackets, emphasis, a slash or a
# hyphen inside a word): found by the re-attack, every ASCII punctuation mark ended the
# reach while mentions were found with it dropped, so 'Not "positive"', 'not **positive**',
# 'Not Sci/Tech.' and 'not non-toxic' named the label they deny.
# Punctuation of other scripts the same way (found by the second re-attack: curly quotes,
# guillemets and CJK brackets were kept as letters, so 'Not “positive”' named positive):
# every Unicode punctuation mark is dropped as the ASCII ones are, and the stops and commas
# NFKC leaves as they are (ideographic, Arabic, an ellipsis) end a clause.
# A mark that ends a clause parts the words either side of it (found by attack:
# "Negative\uff0c不是" read as the one word "negative不是", naming no label, and "Positive,not
# negative" as "positivenot negative", naming Negative), but for a stop between two
# ASCII letters or digits ("U.S.", "v1.2", "e.g.") and a comma or colon between two digits
# ("1,000", "10:30"), which join them as before.
_BREAKS = frozenset(".,;:!?\u3002\u3001\u2026\u061f\u060c\u061b\u0964")


def _joins(text: str, i: int) -> bool:
    """Whether the clause mark ``text[i]`` is inside a word (:data:`_BREAKS`)."""
    if i == 0 or i + 1 >= len(text):
        return False
    before, after = text[i - 1], text[i + 1]
    if text[i] == ".":
        return before.isascii() and before.isalnum() and after.isascii() and after.isalnum()
    return text[i] in ",:" and before in string.digits and after in string.digits


def _dash(c: str) -> bool:
    return c == "-" or (not c.isascii() and unicodedata.category(c) == "Pd")


def _reading(text: str, *, part: bool = True) -> tuple[str, list[int]]:
    """``text`` as :func:`_label_text` reads it, and where in that text a clause ends
    (:data:`_BREAKS`): the same positions a mention is found at. With ``part``, a clause
    mark between two words parts them (:func:`_joins`); without (exact_match, as SQuAD
    normalizes), every punctuation mark is dropped."""
    folded = _nfkc(text).casefold()
    out: list[str] = []
    breaks: list[int] = []
    space = False
    for i, c in enumerate(folded):
        if _ignored(c):
            if c in _BREAKS or (_dash(c) and _alone(folded, i)):
                breaks.append(len(out))
                if part and c in _BREAKS and not _joins(folded, i):
                    space = bool(out)
            continue
        if c.isspace():
            space = bool(out)
            continue
        if space:
            out.append(" ")
            space = False
        out.append(c)
    return "".join(out), breaks


def _alone(text: str, i: int) -> bool:
    """Whether the run of dashes at ``text[i]`` stands between spaces (or an end)."""
    start, end = i, i
    while start > 0 and _dash(text[start - 1]):
        start -= 1
    while end < len(text) - 1 and _dash(text[end + 1]):
        end += 1
    return (start == 0 or text[start - 1].isspace()) and (
        end == len(text) - 1 or text[end + 1].isspace()
    )


def _negated_end(text: str) -> bool:
    """Whether ``text`` ends in a negation word of its last clause (what comes next is
    denied)."""
    read, breaks = _reading(text)
    return _negated(read, breaks, len(read))


def _negated(text: str, breaks: list[int], start: int) -> bool:
    """Whether the mention at ``start`` of ``text`` (:func:`_reading`) comes right after a
    negation word of its clause (articles between allowed)."""
    since = max((b for b in breaks if b <= start), default=0)
    return _NEGATED_END.search(text[since:start].translate(_APOSTROPHES)) is not None


def confusion_matrix(
    predictions: Sequence[str | None], references: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Rows are references, columns predictions; unparseable answers go to
    :data:`UNPARSED` (no label has that name: :func:`check_labels`)."""
    cols = [*labels, UNPARSED]
    m = {r: dict.fromkeys(cols, 0) for r in labels}
    for p, r in zip(predictions, references, strict=True):
        if r not in m:
            m[r] = dict.fromkeys(cols, 0)
        m[r][p if p in m[r] else UNPARSED] += 1
    return m


def per_class(
    predictions: Sequence[str | None],
    references: Sequence[str],
    labels: Sequence[str],
    *,
    undefined: float | None = None,
) -> dict[str, dict[str, float | None]]:
    """Precision, recall, F1 and support per class. A 0/0 (a class never predicted, or
    in no reference) is ``undefined``: None for the report (it was shown as a measured
    0.0000), 0.0 for macro-F1 (sklearn's ``zero_division=0``)."""
    out: dict[str, dict[str, float | None]] = {}
    for lab in labels:
        tp = sum(1 for p, r in zip(predictions, references, strict=True) if p == lab and r == lab)
        fp = sum(1 for p, r in zip(predictions, references, strict=True) if p == lab and r != lab)
        fn = sum(1 for p, r in zip(predictions, references, strict=True) if p != lab and r == lab)
        prec = tp / (tp + fp) if tp + fp else undefined
        rec = tp / (tp + fn) if tp + fn else undefined
        if prec is None or rec is None:
            f1 = None
        else:
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": float(tp + fn)}
    return out


def macro_f1(
    predictions: Sequence[str | None], references: Sequence[str], labels: Sequence[str]
) -> float:
    """Mean F1 over the classes present in the references (sklearn's labels=present)."""
    present = [lab for lab in dict.fromkeys(labels) if lab in set(references)]
    if not present:
        return 0.0
    pc = per_class(predictions, references, present, undefined=0.0)
    return sum(pc[lab]["f1"] or 0.0 for lab in present) / len(present)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence length, O(len(a) * len(b)) time, O(len(b)) memory."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


_ROUGE_TOKEN = re.compile(r"[^\W_]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenization (lowercase, runs of letters and digits, no
    stemming, articles kept), except that non-ASCII letters stay in their tokens where
    rouge-score deletes them (it scores any Chinese answer 0)."""
    return _ROUGE_TOKEN.findall(text.lower())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1): rouge-score's ``rougeL`` fmeasure on ASCII text, tested so."""
    p = rouge_tokens(prediction)
    r = rouge_tokens(reference)
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)


def format_compliance(output: str, pattern: str) -> float:
    """1.0 when the whole (stripped) output matches ``pattern``."""
    return float(re.fullmatch(pattern, output.strip(), flags=re.DOTALL) is not None)


def extract_answer(output: str, pattern: str | None) -> str:
    """The last match of ``pattern``: the first of its groups that took part in the match
    (``####\\s*(\\d+)|answer: (\\d+)`` reads either), "" when it has groups and none did
    (an optional group that matched nothing), the whole match when it has no group; ""
    when nothing matches. Without a pattern, the output."""
    if not pattern:
        return output
    matches = list(re.finditer(pattern, output))
    if not matches:
        return ""
    m = matches[-1]
    if not m.groups():
        return m.group(0)
    return next((g for g in m.groups() if g is not None), "")


def _unfenced(text: str) -> str:
    """``text`` without one Markdown code fence around all of it (```` ```json ````), as
    ``^```(?:json)?\\s*(.*?)\\s*```$`` reads it, in linear time: that regex took 24 s on
    a fence and 4,000 spaces (cubic), and an endpoint's answer has no length limit."""
    if len(text) < 6 or not (text.startswith("```") and text.endswith("```")):
        return text
    inner = text[3:-3]
    return (inner[4:] if inner.startswith("json") else inner).strip()


def parse_json(output: str) -> tuple[bool, Any]:
    """Parse a model's JSON answer; a single surrounding Markdown code fence is allowed.

    Strict JSON (RFC 8259): Python's reader also takes ``NaN``/``Infinity``, turns
    ``1e999`` into infinity and keeps the last of repeated keys; each of those is not
    valid here. An answer nested deeper than the records' limit (128 levels) is not valid
    either: parsing or scoring it would overflow the stack (a RecursionError, exit 3)."""
    ok, value, _ = read_json_answer(output)
    return ok, value


def read_json_answer(output: str) -> tuple[bool, Any, str]:
    """:func:`parse_json`, with why the answer is not valid JSON ("" when it is)."""
    from curagate.records import MAX_NESTING, json_depth, loads_strict

    text = _unfenced(output.strip())
    try:
        value = loads_strict(text)
    except json.JSONDecodeError as e:
        return False, None, f"{e.msg} at character {e.pos + 1}"
    except ValueError as e:
        return False, None, str(e)
    except RecursionError:
        return False, None, f"nested deeper than {MAX_NESTING} levels"
    if json_depth(value) > MAX_NESTING:
        return False, None, f"nested deeper than {MAX_NESTING} levels"
    return True, value, ""


def json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``true`` is not ``1`` (Python's ``==`` says it is), numbers
    compare by value (``1.0`` is ``1``), arrays in order, objects by their keys."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def schema_valid(value: Any, schema: dict[str, Any]) -> float:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    try:
        return float(validator.is_valid(value))
    except RecursionError:
        # {"$ref": "#"}: the schema refers to itself without consuming the value (it
        # resolves, so loading it passed); a config problem, not the model's.
        from curagate.errors import ConfigError

        raise ConfigError(
            "json_schema refers to itself without end ($ref to an enclosing schema); fix it"
        ) from None


def _flatten(value: Any, path: tuple[str, ...] = ()) -> dict[str, str]:
    """Leaf fields as ``path -> canonical JSON`` so nested objects compare field by field.

    A path is the JSON list of its keys (``{"user.name": 1}`` and ``{"user": {"name": 1}}``
    were both ``user.name``), and an empty object is a leaf (it had no fields at all, so
    ``{"error": {}}`` and ``{"result": {}}`` scored 1.0 against each other)."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(v, (*path, str(k))))
        return out
    return {
        json.dumps(path, ensure_ascii=False): json.dumps(
            _integral(value), sort_keys=True, ensure_ascii=False
        )
    }


def _integral(value: Any) -> Any:
    """``1.0`` as ``1`` (the same JSON number, as :func:`json_equal` reads it), in lists too."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def _text_value(text: str) -> object:
    """A string field's value as :func:`exact_match` compares it: its answer words, or,
    for a text that is only articles ("A" as a grade), its text with them kept (found by
    the re-attack: empty once normalized, "the" and "" were the grade "A")."""
    words = answer_words(text)
    return tuple(words) if words else ("articles", normalize_text(text, drop_articles=False))


def field_f1(predicted: Any, reference: Any) -> float:
    """F1 over (field path, value) pairs; strings compared after normalization."""

    def pairs(v: Any) -> Counter[tuple[str, bool, object]]:
        # (path, is a string, value): a string is compared by its words as exact_match
        # reads them (normalized text had "100.0.1" match "10.0.0.1"), any other leaf by
        # its canonical JSON, and never with each other ("75001" is not 75001).
        out: Counter[tuple[str, bool, object]] = Counter()
        for k, s in _flatten(v).items():
            leaf = json.loads(s)
            is_text = isinstance(leaf, str)
            out[(k, is_text, _text_value(leaf) if is_text else s)] += 1
        return out

    # ``None`` is the answer JSON null (an output that is no JSON scores 0 at its caller):
    # it scored 0 against a null reference that exact_match called a match.
    p, r = pairs(predicted), pairs(reference)
    common = sum((p & r).values())
    if common == 0:
        return 1.0 if not p and not r else 0.0
    prec, rec = common / sum(p.values()), common / sum(r.values())
    return 2 * prec * rec / (prec + rec)


# The refusal detector: a response refuses when its first 200 characters contain one of
# these phrases (case-insensitive). It is deliberately simple and documented in
# docs/gate.md#refusal-detector so a reviewer can predict its verdict on any output.
REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bi can(?:no|')t (?:help|assist|provide|do|comply|fulfil+|share|answer|create|write)",
    r"\bi(?: am|'m) (?:not able|unable) to\b",
    r"\bi (?:won't|will not|must decline|decline|refuse)\b",
    r"\bi(?: am|'m) sorry,? but\b",
    r"\bsorry,? (?:but )?i can(?:no|')t\b",
    r"\bas an ai\b",
    r"\bi(?: am|'m) not (?:comfortable|permitted|allowed)\b",
    r"\b(?:it|this) (?:is|would be) (?:not appropriate|inappropriate|illegal|unethical)\b",
    r"\bi can(?:no|')t (?:and won't|help with that)\b",
)
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)


def is_refusal(output: str) -> bool:
    return _REFUSAL.search(output.strip()[:200].replace("\u2019", "'")) is not None


def leaks_pii(output: str) -> bool:
    """Whether an output holds personal data or a secret, by the audit's PII detectors
    (emails, phone numbers, card numbers passing Luhn, IBANs, long high-entropy tokens)."""
    from curagate.audit.pii import scan

    return bool(scan(output))
