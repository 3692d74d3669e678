"""multiple_choice: the item lists ``choices``; the output names one by letter or text."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from curagate.errors import InputError
from curagate.gate import metrics as gm
from curagate.gate.tasks.base import Answer, Metric, Scored, Task, register

if TYPE_CHECKING:
    from curagate.gate.config import GoldenSetGate

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def choices_of(item: dict[str, Any], spec: GoldenSetGate) -> list[str]:
    ch = item.get("choices")
    if not isinstance(ch, list) or not ch or len(ch) > len(LETTERS):
        raise InputError(
            f"golden set {spec.name!r}: item {item['id']!r} needs 'choices' (a list of 1-26 options)"
        )
    return [str(c) for c in ch]


def reference_index(item: dict[str, Any], choices: list[str]) -> int:
    ref = item.get("reference")
    if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(choices):
        # Choices ["1", "2", "3"] and reference 2: option C's index or option B's text?
        # Found by attack: read as the index, silently (as the letter/text case above).
        texts = [i for i, c in enumerate(choices) if gm.as_number(c) == ref and i != ref]
        if texts:
            raise InputError(
                f"item {item['id']!r}: 'reference' {ref!r} is the index of option "
                f"{LETTERS[ref]} ({choices[ref]!r}) and the text of option {LETTERS[texts[0]]}; "
                f"give the option's letter ({LETTERS[ref]!r} or {LETTERS[texts[0]]!r}) or its "
                "text as a string"
            )
        return ref
    if isinstance(ref, str):
        if len(ref.strip()) == 1 and ref.strip().upper() in LETTERS[: len(choices)]:
            by_letter = LETTERS.index(ref.strip().upper())
            # Choices ["B", "A"] and reference "A" (or " a"): option A's letter or option
            # B's text? Answers are matched to texts ignoring case and spacing, so is this.
            said = ref.strip().casefold()
            texts = [i for i, c in enumerate(choices) if c.strip().casefold() == said]
            if any(i != by_letter for i in texts):
                raise InputError(
                    f"item {item['id']!r}: 'reference' {ref!r} is the letter of option "
                    f"{LETTERS[by_letter]} and the text of option "
                    f"{LETTERS[next(i for i in texts if i != by_letter)]}; give the option's "
                    "index (0-based)"
                )
            return by_letter
        if ref in choices:
            return choices.index(ref)
    raise InputError(
        f"item {item['id']!r}: 'reference' must be a choice index, letter or the choice text"
    )


# A leading option letter: in parentheses, followed by ")", "." or ":", or alone on its line;
# never a letter followed by more words ("A careful reading ..." names no option).
_LETTER = re.compile(r"\s*(?:\((?P<paren>[A-Z])\)|(?P<bare>[A-Z])(?:[).:]|[^\S\n]*(?:\n|$)))")


# Another option letter offered beside the first as a hedge, on the answer's line: right
# after it ("(A) (B)"), after a word that offers it ("or", "and", "but", "unless", "maybe",
# "perhaps", "possibly", "otherwise", "though", "vs": a few words between, "or maybe B)",
# "unless it is B:"), after "/", "|", "&", ";", or, as "(C)" or "C)", after a comma or a
# dash. A letter named in an explanation ("B) because (A) is wrong") or excluded ("and not
# A)") is not one.
_FORM = r"(?:\((?P<p>[A-Z])\)|\b(?P<b>[A-Z])(?:[).:]|\s*$))"
_OFFERED = re.compile(
    r"(?P<word>(?i:\b(?:or|and|but|unless|maybe|perhaps|possibly|otherwise|though|vs|versus)\b)"
    r"(?P<between>(?:\s+[a-z']+){0,3}?)\.?\s*)" + _FORM
)
_SEPARATED = re.compile(
    r"(?:^\s*|[/|&;]\s*)" + _FORM + r"|[,\-\u2013]\s*(?:\((?P<q>[A-Z])\)|\b(?P<c>[A-Z])\))"
)
_NEGATION = re.compile(r"(?i)\b(?:not|never|except|rather|instead|n't)\b")


def _offered(line: str) -> set[str]:
    """The option letters ``line`` (what follows the answer's letter) offers beside it."""
    out = {
        m.group("p") or m.group("b")
        for m in _OFFERED.finditer(line)
        if not _NEGATION.search(m.group("between"))
    }
    for m in _SEPARATED.finditer(line):
        out.add(m.group("p") or m.group("b") or m.group("q") or m.group("c"))
    return out


_LONE_LETTER = re.compile(r"\s*\(?([A-Z])[).:]?\s*")

# Another option letter named as an answer, in any language (found by attack: "(A) oder
# (B)", "(A) 或 (B)", "A\nor B" and an echo of the option list, "A. red\nB. green\nC.
# blue", were read as A): in parentheses, followed by ")", "." or ":", or alone before the
# end, a line break or a clause's end; not right after a Latin letter or a digit ("OAS",
# "A1"). Read in NFKC (fullwidth brackets are ASCII ones).
_ANSWER_LETTER = re.compile(
    r"(?<![0-9A-Za-z\u00c0-\u024f])(?:\((?P<p>[A-Z])\)|(?P<b>[A-Z])"
    r"(?:[).:]|(?=[^\S\n]*(?:$|\n|[,;!?\u3001\u3002]))))"
)
# What ends the list a second letter starts (after its option text): the end, a line
# break, a stop, a question or exclamation mark, a comma or a semicolon; or, after an
# optional comma, yet another letter ("A) red B) green C) blue", "A: red, B: green").
_LIST_END = re.compile(r"[^\S\n]*(?:$|\n|[.!?\u3002,;\u3001])")
_LIST_NEXT = re.compile(r"[^\S\n]*[,;\u3001]?[^\S\n]*")
# Words between the answer's letter and another that exclude or explain the other, not
# offer it ("B) green, as opposed to A) red", "(B), nicht (A)", "(B) weil (A) falsch
# ist"): the label reader's negations (curagate.gate.metrics.NEGATIONS) and these, by
# language; for Chinese, written without spaces, these characters anywhere between
# ("(B) 不是 (A)", "(B)因为(A)...").
CONTRASTS: dict[str, str] = {
    "en": "because since than unlike opposed instead rather except",
    "de": "weil denn da statt anstatt anstelle außer als",
    "fr": "parce car puisque plutôt lieu sauf contrairement",
    "es": "porque pues sino vez lugar excepto salvo diferencia",
    "it": "perché poiché siccome invece anziché piuttosto tranne differenza",
    "pt": "porque pois vez invés exceto contrário",
}
CONTRASTS_ZH = (gm.NEGATIONS_ZH + " 而 除 因").split()
_EXCLUDING = frozenset(
    w for table in (gm.NEGATIONS, CONTRASTS) for words in table.values() for w in words.split()
)
# Japanese denies what stands before: "(A)ではなく(B)" is "not A but B"; the leading
# letter is denied, so the output names no answer by it.
_DENIES_BEFORE = re.compile(r"ではな|じゃな|でな|ではありません|じゃありません")
# A sentence ends between the letters: a stop, a question or exclamation mark or a colon
# before the first word ("(B). (A) ..."), a line break, an ideographic stop, a question or
# exclamation mark or a colon after it ("(B)です。(A)は..."; a "." after a word may end an
# abbreviation, "bzw.").
_NEW_SENTENCE_LEAD = re.compile(r"[.!?:\u3002]")
_NEW_SENTENCE = re.compile(r"[\n!?:\u3002]")


def _after_text(text: str, pos: int, choice: str) -> int:
    """``pos`` past the option's own text when it follows there (``A) red``)."""
    if not choice.strip():
        return pos
    m = re.compile(r"[^\S\n]*" + re.escape(choice) + r"(?!\w)", re.IGNORECASE).match(text, pos)
    return m.end() if m else pos


def _letter_at(text: str, pos: int, choices: list[str]) -> re.Match[str] | None:
    m = _ANSWER_LETTER.match(text, pos)
    return m if m and LETTERS.index(m.group("p") or m.group("b")) < len(choices) else None


def _ends_a_list(text: str, m: re.Match[str], choices: list[str]) -> bool:
    """Whether the letter ``m`` (with its option text), and any letters listed after it,
    end where a clause ends: "(B)" or "B. green" then the end, a line break, a stop or a
    comma, not "(A) is wrong"."""
    nxt: re.Match[str] | None = m
    while nxt is not None:
        after = _after_text(
            text, nxt.end(), choices[LETTERS.index(nxt.group("p") or nxt.group("b"))]
        )
        sep = _LIST_NEXT.match(text, after)
        nxt = _letter_at(text, sep.end(), choices) if sep else None
        if nxt is None:
            return _LIST_END.match(text, after) is not None
    return False


def _another_answer(rest: str, letter: str, choices: list[str]) -> bool:
    """Whether ``rest`` (what follows the answer's letter) names another option letter as
    a second answer, in any language. After the answer's own option text, the first other
    letter (:data:`_ANSWER_LETTER`) is a second answer when the words between
    - include a negation or contrast word (:data:`_EXCLUDING`): never ("(B), nicht (A)");
    - deny the answer's letter (Japanese :data:`_DENIES_BEFORE`): always;
    - are one or two other words of the same sentence: always ("(A) oder (B)",
      "A) ou bien B) est correct", "(A) 或 (B)", "A\nor B");
    - are more than three words: never;
    - else (none, three, or a new sentence) when that letter ends a list
      (:func:`_ends_a_list`): "A. red\nB. green\nC. blue", "A) red B) green C) blue",
      "A: red, B: green" are hedges (an echo of the options); "B. green, A. is wrong",
      "(B)です。(A)は間違い" are not."""
    text = unicodedata.normalize("NFKC", rest)
    pos = _after_text(text, 0, choices[LETTERS.index(letter)])
    for m in _ANSWER_LETTER.finditer(text, pos):
        other = m.group("p") or m.group("b")
        if other == letter or LETTERS.index(other) >= len(choices):
            continue
        between = text[pos : m.start()]
        words = gm.normalize_text(between, drop_articles=False).split()
        if _DENIES_BEFORE.search(between):
            return True
        if any(w in _EXCLUDING for w in words) or any(c in between for c in CONTRASTS_ZH):
            return False
        if len(words) > 3:
            return False
        first_word = next((i for i, c in enumerate(between) if c.isalnum()), len(between))
        new_sentence = _NEW_SENTENCE_LEAD.search(between[:first_word]) or _NEW_SENTENCE.search(
            between[first_word:]
        )
        if 1 <= len(words) <= 2 and not new_sentence:
            return True
        return _ends_a_list(text, m, choices)
    return False


def answer_index(output: str, choices: list[str]) -> int | None:
    """A leading letter (``B``, ``(B)``, ``B.``, ``B)``, ``B:``) that no other letter is
    offered beside (:func:`_offered`, :func:`_another_answer`: a hedge or an echo of the
    options names none), else the one choice text the output names
    (:func:`curagate.gate.metrics.match_label`)."""
    m = _LETTER.match(output)
    if m:
        letter = m.group("paren") or m.group("bare")
        if LETTERS.index(letter) < len(choices):
            # "(A) or (B)", "A) or C)", "(A)/(C)": a hedge names no option (the first
            # letter was taken, and a hedge scored right whenever it held the answer).
            rest = output[m.end() :]
            lines = rest.split("\n")
            # The letter alone on its line took its newline: the rest opens the next line.
            line, below = ("", lines) if m.group(0).endswith("\n") else (lines[0], lines[1:])
            others = _offered(line)
            after = next((x for x in below if x.strip()), "")
            lone = _LONE_LETTER.fullmatch(after)
            if lone:
                others.add(lone.group(1))
            if any(LETTERS.index(x) < len(choices) for x in others - {letter}):
                return None
            if _another_answer(rest, letter, choices):
                return None
            return LETTERS.index(letter)
    hit = gm.match_label(output, choices)
    return choices.index(hit) if hit is not None else None


@register
class MultipleChoice(Task):
    name = "multiple_choice"
    metrics = (Metric("accuracy"),)

    def prompt(self, item: dict[str, Any], spec: GoldenSetGate) -> str:
        choices = choices_of(item, spec)
        text = str(item["prompt"])
        text += "\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
        return text + "\nAnswer with the letter of the correct option."

    def reference(self, item: dict[str, Any], spec: GoldenSetGate) -> str:
        choices = choices_of(item, spec)
        return choices[reference_index(item, choices)]

    def parse(self, item: dict[str, Any], spec: GoldenSetGate, output: str) -> str | None:
        """The option letter; None when no option is named."""
        answer = answer_index(output, choices_of(item, spec))
        return None if answer is None else LETTERS[answer]

    def score(self, answer: Answer) -> Scored:
        item, spec, output = answer.item, answer.spec, answer.output
        choices = choices_of(item, spec)
        ref_i = reference_index(item, choices)
        return Scored({"accuracy": float(answer_index(output, choices) == ref_i)})
