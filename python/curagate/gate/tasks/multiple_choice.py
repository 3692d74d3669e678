"""multiple_choice: the item lists ``choices``; the output names one by letter or text."""

from __future__ import annotations

import re
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


def answer_index(output: str, choices: list[str]) -> int | None:
    """A leading letter (``B``, ``(B)``, ``B.``, ``B)``, ``B:``), else the one choice text
    the output names (:func:`curagate.gate.metrics.match_label`)."""
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
