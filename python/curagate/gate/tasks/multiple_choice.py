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


def listed_prompt(prompt: str, choices: list[str]) -> str:
    """The prompt with each choice on a line after its letter (``A. Paris``)."""
    return prompt + "\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def rendered_prompt(prompt: str, choices: list[str]) -> str:
    """The user turn the gate writes for an item without ``messages``: the prompt, each
    choice after its letter, and the instruction (curagate.golden compares items by it)."""
    return listed_prompt(prompt, choices) + "\nAnswer with the letter of the correct option."


# The texts a multiple-choice item is looked for by in training data (see choice_views),
# by the name a leakage report gives each (an item's ``part``).
WITH_OPTIONS = "prompt with options"
USER_TURN = "user turn"


def choice_views(row: dict[str, Any]) -> dict[str, str]:
    """The texts a multiple-choice item (a ``prompt`` with ``choices``, no ``messages``)
    is looked for by in training data, in order: its prompt with its lettered options
    (:data:`WITH_OPTIONS`), the user turn the gate sends (those and the instruction after
    them, :func:`rendered_prompt`: :data:`USER_TURN`) and its bare ``prompt``; none for
    another row. The gate's contamination check (GATE005) and ``curagate leakage`` /
    ``curate --decontaminate`` over a multiple-choice golden set read an item so.

    Found by attack: such items were scanned by their bare prompt only, so the user turn
    the gate sends, copied verbatim as a training prompt or user turn, was no whole prompt
    of any row, and an item under 8 words (no n-gram, no span) was never found. The
    instruction every item shares is the set's template (docs/leakage.md), not evidence."""
    prompt, choices = row.get("prompt"), row.get("choices")
    if (
        row.get("messages") is not None
        or not isinstance(prompt, str)
        or not isinstance(choices, list)
        or not 0 < len(choices) <= len(LETTERS)
        or not all(isinstance(c, str) for c in choices)
    ):
        return {}
    return {
        WITH_OPTIONS: listed_prompt(prompt, choices),
        USER_TURN: rendered_prompt(prompt, choices),
        "prompt": prompt,
    }


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


# Markdown emphasis around a letter: "**B**", "*B*", "__B__", "_B_".
_EM = r"(?:\*\*|__|\*|_)"
# A leading option letter: in parentheses, followed by ")", ".", ":" or ",", or alone on
# its line; in Markdown emphasis, which ends it as those do ("**B**", "**(B)**", "*B.*");
# never a letter followed by more words ("A careful reading ..." names no option), save
# "because" or "since" ("B because ..."). Found
# by attack: "**B**" and "B, because A and C are wrong" were read as no answer.
_LETTER = re.compile(
    r"\s*(?:(?P<em>\*\*|__|\*|_)(?:\((?P<em_paren>[A-Z])\)|(?P<em_bare>[A-Z])[).:,]?)(?P=em)"
    r"(?:[).:,]|[^\S\n]*(?:\n|$))?"
    r"|\((?P<paren>[A-Z])\)|(?P<bare>[A-Z])(?:[).:,]|[^\S\n]*(?:\n|$)"
    # Or followed by "because" or "since": "B because Paris is in France" (found by
    # review: read as A, the option text its explanation names).
    r"|[^\S\n]+(?=(?i:because|since)\b)))"
)


# Another option letter offered beside the first as a hedge, on the answer's line: right
# after it ("(A) (B)"), after a word that offers it ("or", "and", "but", "unless", "maybe",
# "perhaps", "possibly", "alternatively", "otherwise", "though", "vs": a few words and a
# comma between, "or maybe B)", "unless it is B:", "Alternatively, A."; or a disjunction
# of another language, :data:`DISJUNCTIONS`), after
# "/", "|", "&", ";", or, as "(C)" or "C)", after a comma or a dash. A letter named in an
# explanation ("B) because (A) is wrong") or excluded ("and not A)") is not one, nor one
# joined by "and" to another letter that is not offered ("B. Options A. and C. are
# wrong", which the re-attack found scored 0; "A. Hmm, C. or B." stays a hedge).
# Disjunctions ("or") of other languages, found by attack: "(A) oder (B)", "(A) 或 (B)"
# were read as A. Dutch "of" is English "of" too ("(B), the inverse of (A)"): it offers a
# letter only right after the answer's letter (and its option text), "(A) of (B)". Spanish
# and Italian "o", Spanish "u" only in lower case ("O)" and "U)" are letters).
DISJUNCTIONS: dict[str, str] = {
    "en": "or",
    "de": "oder bzw beziehungsweise",
    "fr": "ou",
    "es": "o u",
    "it": "o oppure",
    "pt": "ou",
    "nl": "of",
    "ru": "или",
    # Found by attack: "(A) lub (B)", "(A) eller (B)", "(A) atau (B)", ... were read as A.
    "pl": "lub albo",
    "sv": "eller",
    "da": "eller",
    "no": "eller",
    "tr": "veya ya_da yahut",  # "_": a space ("ya da")
    "id": "atau",
    "ms": "atau",
    "ar": "أو",
    "hi": "या",
    "ko": "또는 아니면 혹은",
    "vi": "hoặc",
}
# Ones written without spaces (Chinese, Japanese, Thai): "(A)或(B)", "(A)か(B)",
# "(A)หรือ(B)". Japanese か also ends question words ("なぜか", for some reason; "何か",
# something), which offer nothing: it is "or" only where no such word ends in it
# (:data:`_KA_WORDS`). Found by attack: "B. なぜかA." was read as no answer.
DISJUNCTIONS_CJK = "或者 或 还是 還是 または か หรือ"
_KA_WORDS = "なぜ 何故 何 なに なん どう いつ 誰 だれ どこ いくつ 幾つ どれ どちら どっち"
_WORDS = "or|and|but|unless|maybe|perhaps|possibly|alternatively|otherwise|though|vs|versus"
_FOREIGN = sorted(
    {w.replace("_", r"\s+") for ws in DISJUNCTIONS.values() for w in ws.split()}
    - {"or", "of", "o", "u"},
    key=len,
    reverse=True,
)
# A word's edges: \b, save that Devanagari's vowel signs are no word characters to \w
# ("या" ends in one).
_W = r"[\w\u0900-\u097f]"
_FOREIGN_WORD = rf"(?<!{_W})(?i:{'|'.join(_FOREIGN)})(?!{_W})"
# Han, kana and Hangul: a letter right before one ends as before a stop ("정답은 B입니다",
# "正解はB、またはCです"). Found by re-attack: such answers and hedges were missed.
_CJK_CHAR = "[\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
_CJK_CHAR_RE = re.compile(_CJK_CHAR)
# A letter as an option: "(A)", "A)", "A.", "A:", "A?", "A" ending the line, each in
# emphasis or not ("**A**": emphasis ends it as ")" does).
_FORM = rf"(?:{_EM}?\((?P<p>[A-Z])\){_EM}?|{_EM}?(?<![^\W_])(?P<b>[A-Z])(?:{_EM}|[).:?]|\s*$|(?={_CJK_CHAR})))"
# A letter right after a CJK word: no word boundary before it ("或B)").
_FORM_CJK = (
    rf"(?:{_EM}?\((?P<p>[A-Z])\){_EM}?|{_EM}?(?P<b>[A-Z])(?:{_EM}|[).:?]|\s*$|(?={_CJK_CHAR})))"
)
_CJK = "|".join(
    "".join(f"(?<!{q})" for q in _KA_WORDS.split()) + w if w == "か" else w
    for w in sorted(DISJUNCTIONS_CJK.split(), key=len, reverse=True)
)
_OFFERED = re.compile(
    rf"(?P<word>(?:(?i:\b(?:{_WORDS})\b)|{_FOREIGN_WORD}|\b[ou]\b)"
    r"(?P<between>(?:\s+(?:[a-z']+|I(?:'[a-z]+)?)){0,3}?)[.,]?\s*)"
    + _FORM
    + rf"|(?P<cjk>{_CJK})\s*"
    + _FORM_CJK.replace("?P<p>", "?P<pc>").replace("?P<b>", "?P<bc>")
)
_OF = re.compile(r"\s*of\s*(?:\((?P<p>[A-Z])\)|\b(?P<b>[A-Z])\))")
# A disjunction opening the line below the answer's: "A\nor B", "(A)\noder (B)".
_DISJUNCTION_LEAD = re.compile(rf"\s*(?:(?i:\bor\b)|{_FOREIGN_WORD}|\b[ou]\b|of\b|{_CJK})")
_SEPARATED = re.compile(
    r"(?:^\s*|[/|&;+]\s*)" + _FORM + r"|[,\-\u2013]\s*(?:\((?P<q>[A-Z])\)|\b(?P<c>[A-Z])\))"
)
_NEGATION = re.compile(
    r"(?i)\b(?:not|never|except|rather|instead|n't|"
    + "|".join(w for lang in ("de", "fr", "es", "it", "pt") for w in gm.NEGATIONS[lang].split())
    + r")\b"
)
# A hedge worded as a sentence, on the answer's line or the next: another letter that
# could, might or may be the answer ("B. It could also be A.", "It might well be (C)"),
# or that is also or equally possible, plausible, correct, right, valid or likely ("B. A
# is also correct", "A is plausible too"). Found by attack: such hedges were credited.
_LETTER_WORD = rf"(?:{_EM}?\((?P<{{0}}p>[A-Z])\){_EM}?|{_EM}?(?<![^\W_])(?P<{{0}}b>[A-Z])(?![\w']))"
_LIKELY = r"(?:possible|plausible|correct|right|valid|likely)"
_SENTENCE_HEDGE = re.compile(
    r"(?i:\b(?:could|might|may)(?:\s+(?:also|well|just|equally|even|possibly))?\s+be\s+"
    r"(?:(?:option|answer|choice)\s+)?)"
    + _LETTER_WORD.format("m")
    + r"|"
    + _LETTER_WORD.format("l")
    + rf"(?i:\s+(?:is|seems|looks)\s+(?:(?:also|equally)\s+{_LIKELY}|{_LIKELY}\s+(?:too|as\s+well))\b)"
)
# After an answer's letter and a comma, a letter standing alone ("B, A", "B, A, C", "B, A
# and C"); a word after it ("B, I think", "B, A is wrong") makes it none.
_COMMA_LETTER = re.compile(
    rf"\s*,?\s*(?:{_EM}?\((?P<p>[A-Z])\){_EM}?|{_EM}?(?P<b>[A-Z]){_EM}?)"
    r"(?=\s*(?:$|[,;/&|).?!]|(?:and|or)\b))"
)
# An option letter ("(A)", "A)", "A.", "A:") right before "and": "A. and C.".
_LETTER_AND = re.compile(r"(?:\((?P<p>[A-Z])\)|\b(?P<b>[A-Z])[).:])\s*$")
# A letter named as what the answer is not, or is told apart from, right before a
# disjunction ("with" only after confuse, compare, mix or mistake: "I'd go with A or C"
# offers both, found by re-attack): "confuse it with A) or C)", "unlike A or C", "rather
# than (A) or (C)", "different from A or C", "not A or C". The letter the disjunction joins to it is told
# apart too, not offered. Found by attack: "B) London. People often confuse it with A)
# or C)." read as no answer; "A. Hmm, C. or B." (C named by nothing) stays a hedge.
_GOVERNED = re.compile(
    r"(?i:\b(?:(?:confus|compar|mix|mistak)\w*(?:\s+\w+){0,2}?\s+with"
    r"|from|than|unlike|not|over|against)\s+(?:(?:the\s+)?(?:options?|choices?)\s+)?)"
    r"(?:\((?P<p>[A-Z])\)|\b(?P<b>[A-Z])(?![\w'])[).:]?)[^\S\n]*,?[^\S\n]*$"
)


# A Chinese negation right after the letters ("A或C都不对", "A或C是错的"): they are said
# wrong. Found by re-attack: once a letter before a Han character could be offered,
# "B. A或C都不对。" read as no answer.
_CJK_WRONG = re.compile(
    r"(?:\s*(?:或者|或|还是|和|与|與|及|,)\s*[A-Z])*\s*(?:都|也|均|是)?\s*(?:不|错|錯|非|没|沒)"
)


def _offered(line: str, letter: str, choice: str = "", lead: bool = False) -> set[str]:
    """The option letters ``line`` (what follows the answer's letter ``letter``) offers
    beside it; ``choice``, the answer's option text, may open the line. ``lead``: only a
    word opening ``line`` (the line below the answer's) offers one."""
    out: set[str] = set()
    if lead:
        of = _OF.match(line)
        if of:
            return {of.group("p") or of.group("b")}
        m = _OFFERED.match(line)
        if m and (m.group("cjk") is not None or not _NEGATION.search(m.group("between"))):
            return {m.group("p") or m.group("b") or m.group("pc") or m.group("bc")}
        return out
    for m in _OFFERED.finditer(line):
        if m.group("cjk") is None and _NEGATION.search(m.group("between")):
            continue
        if _CJK_WRONG.match(line, m.end()):
            continue  # "B. A或C都不对。": A and C said wrong, not offered
        before = _LETTER_AND.search(line, 0, m.start())
        joined = before.group("p") or before.group("b") if before else None
        if joined and joined not in out | {letter} and re.match(r"(?i)and\b", m.group(0)):
            continue  # "Options A. and C. are wrong": C joined to A, not to the answer
        governed = _GOVERNED.search(line, 0, m.start())
        told_apart = governed.group("p") or governed.group("b") if governed else None
        if told_apart and told_apart not in out | {letter}:
            continue  # "confuse it with A) or C)": C told apart with A, not offered
        out.add(m.group("p") or m.group("b") or m.group("pc") or m.group("bc"))
    for m in _SEPARATED.finditer(line):
        if _CJK_WRONG.match(line, m.end()):
            continue
        out.add(m.group("p") or m.group("b") or m.group("q") or m.group("c"))
    text = re.match(r"\s*" + re.escape(choice.strip()), line, re.IGNORECASE) if choice else None
    of = _OF.match(line, text.end() if text else 0)
    if of:
        out.add(of.group("p") or of.group("b"))
    return out


_LONE_LETTER = re.compile(rf"\s*{_EM}?\(?([A-Z])[).:]?{_EM}?[).:]?\s*")
_ECHO_LETTER = r"\s*(?:\*\*|__)?(?:\({0}\)|{0}[).:])(?:\*\*|__)?[^\S\n]*"


def _is_echo(output: str, choices: list[str]) -> bool:
    """Whether ``output`` is only the option list, as the prompt showed it: every option's
    letter in order, from A, each followed by its text ("A. red\nB. green\nC. blue",
    "A) red B) green C) blue", "A: red, B: green, C: blue"). Found by attack: it was read
    as A. An answer with the other options listed after it is none ("B. London.\n\nA.
    Paris\nC. Berlin")."""
    pos = 0
    for i, choice in enumerate(choices):
        words = [re.escape(w) for w in choice.split()]
        m = re.compile(
            (r"[,;]?" if i else "")
            + _ECHO_LETTER.format(LETTERS[i])
            + r"\s+".join(words)
            + r"(?!\w)[.,;]?",
            re.IGNORECASE,
        ).match(output, pos)
        if m is None:
            return False
        pos = m.end()
    return not output[pos:].strip()


# An explicit answer phrase before the letter, opening the output (or its last line):
# "The answer is B.", "Answer: B", "The correct answer is (B)", "**Final answer:** B",
# "答案是B", "Réponse : B". Found by attack: the leading-letter rule read these, the most
# common forms models answer in, as no answer.
# The phrase ends in a copula or a colon: "Answer A is wrong, ..." names no answer.
_ANSWER_NOUN = (
    r"(?:(?:so|thus|therefore|hence|wait|actually|no|hmm|ok|okay)\s*[,.!]?\s+){0,2}"
    r"(?:the\s+|my\s+)?"
    r"(?:(?:correct|right|final|best)\s+)?answer"
    r"|(?:la\s+)?(?:bonne\s+)?r[ée]ponse(?:\s+correcte)?"
    r"|(?:die\s+)?(?:richtige\s+)?antwort"
    r"|(?:la\s+)?respuesta(?:\s+correcta)?"
    r"|(?:la\s+)?risposta(?:\s+corretta)?"
    r"|(?:a\s+)?resposta(?:\s+correta)?"
    r"|(?:правильный\s+)?ответ"
)
# "is", "must be", ... and an adverb that commits ("The answer is definitely B.", "The
# answer is actually C."): found by re-attack, a changed mind worded so was not read.
_ANSWER_COPULA = (
    r"(?:is|(?:would|will|must|should)\s+be|has\s+to\s+be|can\s+only\s+be)"
    r"(?:\s+(?:actually|definitely|certainly|clearly|obviously|surely|indeed|really|still|"
    r"therefore|thus|then|now|instead))?"
    r"|est|ist|lautet|es|è|e|é|это|[-—\u2013]"
)
_ANSWER_PHRASE = re.compile(
    rf"[^\S\n]*(?:\*\*|__)?(?:(?i:{_ANSWER_NOUN})"
    rf"(?:[^\S\n]+(?i:{_ANSWER_COPULA})(?![\w'])[^\S\n]*[:\uff1a]?"
    # A parenthetical between commas: "So the answer is, I think, C." (found by re-attack).
    r"(?:,[^\S\n]*[^\W\d_][^,\n.]{0,30}?,)?"
    r"|[^\S\n]*(?:\*\*|__)?[^\S\n]*[:\uff1a])"
    r"[^\S\n]*(?:(?:\*\*|__)(?=\s))?[^\S\n]*"
    # A belief before the letter commits to it ("Answer: I think B", "Answer: I'd say B",
    # "The answer is most likely B", "The answer is likely to be B"); found by re-attack,
    # these read as none.
    r"(?i:(?:I[^\S\n]+(?:think|believe|would[^\S\n]+say)|I'd[^\S\n]+say|(?:most[^\S\n]+)?"
    r"(?:probably|likely)(?:[^\S\n]+to[^\S\n]+be)?)[^\S\n]*,?[^\S\n]+"
    r"(?:(?:it's|it[^\S\n]+is)[^\S\n]+)?)?"
    r"(?i:(?:option|choice)[^\S\n]+)?"
    r"|(?:正确|正確)?答案(?:是|为|為|[:\uff1a])[^\S\n]*|(?:正解|答え)(?:は|[:\uff1a])[^\S\n]*"
    r"|정답(?:은|[:\uff1a])[^\S\n]*)"
)
# After an answer phrase a letter followed by more words names its option too ("The
# answer is B because ..."), save "I" ("Answer: I think ..."); so does one before a
# full-width stop or comma ("答案是B\uff0c因为...").
_WORDED_LETTER = re.compile(
    rf"(?:{_EM}?\((?P<paren>[A-Z])\){_EM}?|{_EM}?(?P<bare>(?!I[^\S\n]+\w)[A-Z]){_EM}?(?!(?!{_CJK_CHAR})[\w']))"
)
# After an answer phrase, a disjunction offers a letter followed by more words too: "The
# answer is B or C because ...".
# So does "and", "as well as", "plus", "&" or "+" right before it, or a comma before one
# standing alone ("The answer is B and C, since ...", "The answer is B, and C too.", "The
# answer is B as well as C.", "The answer is B (London), C (Berlin).", "Answer: B+C"):
# found by re-attack, such lists were credited as their first letter.
_OR_WORDED = re.compile(
    rf"(?:(?:(?i:\bor\b)|{_FOREIGN_WORD}|\b[ou]\b)\s+"
    r"|,?\s*(?i:\b(?:and|as\s+well\s+as|plus)\b)\s*|\s*[&+]\s*)"
    r"(?:\((?P<p>[A-Z])\)|(?P<b>(?!I\s)[A-Z])(?![\w']))"
    r"|,\s*(?:\((?P<q>[A-Z])\)|(?P<c>[A-Z])(?=\s*[(,.;:!?]|\s*$))"
)


# A word offering another option's text right after the answer's option text: "A) Paris
# or London", "A. Paris (or London, not sure)", "A) Paris / London". Found by attack: such
# hedges were credited as A. "and", "but", "otherwise" and "vs" are left out: "A) Paris,
# and London is England's", "B) London. Otherwise Paris would be right" explain.
_TEXT_OFFER = re.compile(
    r"[^\S\n]*[,;(\[?.!]*[^\S\n]*"
    rf"(?:(?i:\b(?:or|maybe|perhaps|possibly|alternatively)\b)"
    rf"|{_FOREIGN_WORD}|\b[ou]\b|{_CJK}|[/|])"
    r"(?P<between>(?:[^\S\n]+[^\W\d_][\w']*){0,3}?)[^\S\n,:]*[,:]?[^\S\n]*"
)
# Unsureness said after such a word: "A. Paris (or something else, not sure)".
_UNSURE = re.compile(r"(?i)\b(?:not\s+(?:sure|certain)|unsure|uncertain)\b")


def _text_offered(line: str, index: int, choices: list[str]) -> bool:
    """Whether ``line`` (what follows the answer's letter on its line) opens with the
    answer's option text and then offers another option's text beside it, or offers
    something and says it is unsure. An option whose own text holds "or" ("Paris or
    London") is matched whole first, so it offers nothing."""

    def text(choice: str) -> str:
        # Emphasis around it ("**London**"); a Han, kana or Hangul character may follow
        # ("Paris或London"). Found by re-attack: such hedges were credited.
        words = r"[^\S\n]+".join(re.escape(w) for w in choice.split())
        return rf"{_EM}?{words}{_EM}?(?!(?!{_CJK_CHAR})\w)"

    # The option's text may follow a dash or colon, or stand in brackets ("A - Paris or
    # London", "The answer is A (Paris) or London").
    chosen = re.match(
        r"[^\S\n]*(?:[-\u2013\u2014:][^\S\n]*)?(?P<o>[(\[])?[^\S\n]*"
        + text(choices[index])
        + r"(?(o)[^\S\n]*[)\]])",
        line,
        re.IGNORECASE,
    )
    if chosen is None or not choices[index].split():
        return False
    offer = _TEXT_OFFER.match(line, chosen.end())
    if offer is None or _NEGATION.search(offer.group("between")):
        return False
    if _UNSURE.search(line, offer.end()):
        return True
    for j, c in enumerate(choices):
        if j == index or not c.split():
            continue
        # A few words between ("or maybe London"), none of them a negation ("or not London").
        other = re.compile(r"(?P<w>(?:[^\S\n]*[^\W\d_][\w']*){0,3}?)[^\S\n]*" + text(c), re.I)
        m = other.match(line, offer.start("between"))
        if m and not _NEGATION.search(m.group("w")):
            return True
    return False


# Full-width letters and brackets (NFKC) and the ideographic stop and comma read as ASCII
# ones ("B。", "答案是B、C"); \\boxed{B} as (B). Found by re-attack: such answers and hedges were missed.
_CJK_STOPS = str.maketrans({"\u3002": ".", "\u3001": ",", "\uff61": ".", "\uff64": ","})
_BOXED = re.compile(r"\$*\\boxed\{\s*(?:\\text\{\s*)?([A-Z])\s*\}?\s*\}\$*")


def _normalized(output: str) -> str:
    text = _BOXED.sub(r"(\1)", unicodedata.normalize("NFKC", output).translate(_CJK_STOPS))
    # Every run of white space as the one space, line break or blank line it reads as:
    # the readers' patterns take any run alike, and a long one (20 KB of spaces after
    # "so", found by attack) made their backtracking take seconds to minutes.
    return _WHITE_RUN.sub(_one_white, text)


_WHITE_RUN = re.compile(r"\s{2,}")


def _one_white(m: re.Match[str]) -> str:
    breaks = m.group().count("\n")
    return " " if breaks == 0 else "\n" if breaks == 1 else "\n\n"


def _letter_read(
    text: str, choices: list[str], *, worded: bool, pos: int = 0, upto: int | None = None
) -> tuple[bool, int | None, int]:
    """Whether ``text`` opens (at ``pos``) with an option's letter, the option it names
    (none for a hedge or an echo) and where the letter ends. ``worded``: ``text`` follows
    an answer phrase (:data:`_ANSWER_PHRASE`)."""
    m = _LETTER.match(text, pos) or (_WORDED_LETTER.match(text, pos) if worded else None)
    if m is None:
        return False, None, pos
    end = min(_window_end(text, pos, len(choices)), len(text) if upto is None else upto)
    # An echoed option list is all the output is: not one cut at the window's end.
    whole = _NON_BLANK.search(text, end) is None
    read, index = _letter_hedged(text[pos:end], m, choices, worded=worded, base=pos, whole=whole)
    return read, index, m.end()


_WINDOW = 4096
_NON_BLANK = re.compile(r"\S")


def _window_end(text: str, pos: int, n: int) -> int:
    """Where the lines a letter read at ``pos`` looks at end: its line and the next
    ``n + 2`` non-blank ones (an echoed option list at most), and at most
    :data:`_WINDOW` characters, so that reading every answer phrase of a long output stays
    linear (what follows the answer that counts is read by :func:`_tail_hedged`)."""
    end, seen, cap = pos, 0, min(len(text), pos + _WINDOW)
    while seen < n + 3:
        nl = text.find("\n", end, cap)
        if nl < 0:
            return cap
        if text[end:nl].strip() or end == pos:
            seen += 1
        end = nl + 1
    return end


def _letter_hedged(
    text: str, m: re.Match[str], choices: list[str], *, worded: bool, base: int, whole: bool
) -> tuple[bool, int | None]:
    m_end = m.end() - base
    letter = next(m.group(g) for g in ("paren", "bare", "em_paren", "em_bare") if m.group(g))
    if LETTERS.index(letter) >= len(choices):
        # After an answer phrase a letter of no option is still an answer, a wrong one:
        # "Answer: B" then "The answer is E." is a changed mind (found by re-attack).
        return worded and m.group("bare") != "I", None
    # "(A) or (B)", "A) or C)", "(A)/(C)": a hedge names no option (the first
    # letter was taken, and a hedge scored right whenever it held the answer).
    rest = text[m_end:]
    lines = rest.split("\n")
    # The letter alone on its line took its newline: the rest opens the next line.
    line, below = ("", lines) if m.group(0).endswith("\n") else (lines[0], lines[1:])
    others = _offered(line, letter, choices[LETTERS.index(letter)])
    if worded:
        others |= {next(g for g in o.groups() if g) for o in _OR_WORDED.finditer(line)}
    after = next((x for x in below if x.strip()), "")
    for hedge in (*_SENTENCE_HEDGE.finditer(line), *_SENTENCE_HEDGE.finditer(after)):
        others.add(next(g for g in hedge.groups() if g is not None))
    if m.group(0).rstrip().endswith(",") or line.lstrip().startswith(","):
        # "B, A", "(B), A and C": a letter standing alone after the comma.
        lone_after_comma = _COMMA_LETTER.match(line)
        if lone_after_comma:
            others.add(lone_after_comma.group("p") or lone_after_comma.group("b"))
    lone = _LONE_LETTER.fullmatch(after)
    if lone:
        others.add(lone.group(1))
    if _DISJUNCTION_LEAD.match(after):
        # "A\nor B", "(A)\noder (B)": a disjunction opening the line below.
        others |= _offered(after.lstrip(), letter, lead=True)
    if (whole and _is_echo(text, choices)) or _text_offered(line, LETTERS.index(letter), choices):
        return True, None
    if any(LETTERS.index(x) < len(choices) for x in others - {letter}):
        return True, None
    return True, LETTERS.index(letter)


def _phrase_reads(output: str, choices: list[str]) -> list[tuple[int, int | None, int]]:
    """Each answer phrase anywhere in ``output`` (opening a word) that is followed by an
    option's letter: (where it starts, the option it names, none for a hedge, where the
    letter ends)."""
    spans: list[tuple[int, int]] = []
    end = -1
    for i, ch in enumerate(output):
        if ch.isspace() or (i and output[i - 1].isalnum() and ch not in "正答정"):
            continue
        phrase = _ANSWER_PHRASE.match(output, i)
        if phrase is None or phrase.end() <= end:
            continue
        end = phrase.end()
        spans.append((i, end))
    out: list[tuple[int, int | None, int]] = []
    for k, (i, end) in enumerate(spans):
        # Each phrase's letter is read up to the next phrase, which reads what follows
        # it: reading "Answer: B. " 10,000 times over stays linear.
        upto = spans[k + 1][0] if k + 1 < len(spans) else len(output)
        read, index, stop = _letter_read(output, choices, worded=True, pos=end, upto=upto)
        if read:
            out.append((i, index, stop))
    return out


# After the committed answer: what reads as unsure of it, or as a changed mind. Found by
# re-attack (169 cases): "B. Some would say A.", "B. Isn't it A?", "B. A is not wrong
# either.", "B. Hmm... no... A.", "Answer: B (not 100% sure)" were credited as B.
_UNSURE_TAIL = re.compile(
    r"(?i)\b(?:not\s+(?:[\w%'\u2019]+\s+){0,3}?(?:sure|certain|confident)"
    r"|unsure|uncertain|doubtful|(?:don'?t|do\s+not|dunno)\s+know|dunno|no\s+idea"
    r"|who\s+knows|can'?t\s+(?:tell|decide|say|be\s+(?:sure|certain))|cannot\s+(?:tell|decide)"
    r"|guess(?:ing)?|low\s+confidence|confidence\s*:\s*low|hard\s+to\s+(?:say|tell)"
    r"|not\s+obvious|for\s+all\s+I\s+know|nothing'?s\s+certain|50\s*/\s*50"
    # "B. A is not right either... or is it?" (found by review: credited as B).
    r"|or\s+is\s+it(?=\s*\?)|or\s+am\s+I\s+wrong)\b"
)
# One sentence: up to a stop, `!`, `?` or `;` before a space or the end, or a line end.
# A stop right after a letter and before a lower-case word ends none ("Options A. and C.
# are wrong").
_SENTENCE = re.compile(
    r"(?:[^\n.!?;]|(?<=[^\w'\u2019][A-Z])\.(?=[^\S\n]+[a-z]))*(?:[.!?;]+(?=\s|$)|[.!?;]+|\n|$)"
)
# A letter standing alone (an "A" followed by a word that is no verb is the article).
_LETTER_TOKEN = re.compile(
    r"(?<![\w'\u2019])(?:\((?P<p>[A-Z])\)|(?P<b>[A-Z])(?![\w'\u2019])"
    r"(?!\s+(?!(?:is|isn'?t|was|are|could|couldn'?t|might|may|would|should|can|can'?t|"
    r"cannot|fits?|works?|seems?|makes?|names?|refers?|means?|also|too|maybe|perhaps|"
    r"probably|possibly|rather|actually|instead|though|over|not|and|or|vs|for|if|then|"
    r"really|definitely|looks?|sounds?|matches|has|had|does|doesn'?t|will|won'?t|it|than|that|"
    r"which|because|since|as|so|but|here|there|now|again|then|seems|wins|beats)\b)[a-z]))"
)
# A word that hedges, prefers or changes the mind, in a sentence naming another option.
_HEDGE_WORD = re.compile(
    r"(?i)(?:\?|\b(?:maybe|perhaps|possibl[ey]|could|couldn'?t|might|may|or|too|likely|"
    r"unlikely|prefer|choose|actually|wait|instead|rather|better|more|guess|think|"
    r"lean(?:ing)?|say|would|wouldn'?t|should|shouldn'?t|some|alternative|candidate|valid|"
    r"plausible|fine|viable|acceptable|defensible|(?:good|great|decent|reasonable|sensible)"
    r"(?=\s*(?:[.,;!?]|$)|(?:\s+\w+)?\s+(?:choice|option|answer|pick|bet|call|candidate|one)\b)|"
    r"works?|fits?|equally|either|same|just\s+as|also\s+(?:works?|fits?)|"
    r"unless|if|though|then\s+again|why\s+not|hmm+|mind|mean|meant|correction|changed?|final|"
    r"except|scratch|strike|oops|nope|nah|sorry|mistake|listen|instinct|against|"
    r"answer(?!\s+for\b)|correct|right|true|no\s+wait)\b)"
)
# A hedging word negated ("so it is not correct", "which is not the right answer", "it
# can't be the answer", "this is not true", "it would not be correct"): it says the option wrong, and hedges nothing.
# Found by review: "A) Paris is the capital of France, so it is not correct." after the
# answer named none.
_NOT_RIGHT = re.compile(
    r"(?i)(?:\b(?:would|could|should|will|can)(?:\s+not|\s+never|n't)|\b(?:not|never|cannot)|n't)"
    r"\s+(?:be\s+)?(?:the\s+|an?\s+)?"
    r"(?:(?:correct|right|true|valid|best|final)\s+)?(?:answer|option|choice|correct|right|true|valid)\b"
)
# Words that change the mind even where the sentence says the other option is wrong.
_CHANGE_WORD = re.compile(
    r"(?i)(?:\?|\b(?:actually|wait|better|more|never\s+mind|second\s+thought|"
    r"hmm+|correction|changed?|final|except|scratch|strike|oops|nope|nah|sorry|mistake|"
    r"mean|meant|lean(?:ing)?|prefer|pick|choose|might|maybe|perhaps|possibl[ey]|"
    r"likely|some|i\s+was\s+wrong|then\s+again)\b)"
)
_NEG = re.compile(
    r"(?i)\b(?:not|no|never|nothing|none|neither|cannot|can'?t|isn'?t|aren'?t|wasn'?t|"
    r"won'?t|wouldn'?t|couldn'?t|don'?t|doesn'?t|wrong|incorrect|false|impossible|"
    r"excluded?|dismiss(?:ed)?|rul(?:e|ed|es)\s+out|non|less|worse|unlikely|improbable|"
    r"out\s+of\s+the\s+question)\b|n't\b"
)
# A negation that praises: "not a bad choice", "isn't far off", "not unreasonable". Found
# by review: "B. A is not a bad choice." read A as said wrong and credited B.
_PRAISE = re.compile(
    r"(?i)(?:\b(?:not|never|hardly)|n't)\s+(?:(?:a|an|the|so|too|that|all|at\s+all|very|"
    r"entirely|completely|totally|really|necessarily|exactly)\s+){0,3}"
    r"(?:bad|terrible|awful|poor|worst|far\s+off|far\s+from\s+(?:the\s+)?(?:right|correct|"
    r"truth|mark|answer)|far(?=\s*(?:[.,;!?]|$))|off|unreasonable|"
    r"silly|crazy|absurd|implausible|a\s+stretch|out\s+of\s+place)\b"
)
# A list item's letter at a line start ("A. Paris", "- **A.** Paris", "1. A. Paris"): its
# stop ends no sentence (read as "A)").
_LIST_ITEM = re.compile(r"(?m)^(\s*(?:[-*\u2022]|\d+[.)])?\s*(?:\*\*|__)?[A-Z])\.(?=[^\S\n]*\S)")
_NOT_LATIN = re.compile("[\u0370-\u1fff\u2e80-\uffef]")
_NOT_LATIN_RUN = re.compile("[\u0370-\u1fff\u2e80-\uffef]+")
_ENGLISH_WORD = re.compile(r"\b[A-Za-z]{2,}\b")
# A sentence in Chinese, Japanese or Korean (its stops, U+3002, U+FF01 and U+FF1F, read
# as ".", "!" and "?"): its letters are read by :func:`_cjk_hedged`. Found by review:
# "B. 其实是A。" ("actually it is A") was credited as B.
_KANA_HANGUL = re.compile("[\u3040-\u30ff\u1100-\u11ff\uac00-\ud7af]")
_CJK_LETTER = re.compile(
    r"(?<![A-Za-z0-9'\u2019])(?:\((?P<p>[A-Z])\)|(?P<b>[A-Z]))(?![A-Za-z0-9'\u2019])"
)
# Said wrong: a negation before the letter ("不是A", "排除A", "Aではなく"
# aside) or after it ("A不对", "A是错的", "Aは間違い", "A는 틀렸다").
_CJK_NOT_BEFORE = re.compile(
    r"(?:不是|并非|並非|而非|非|排除|除了|不选|不選|"
    r"不可能是|不会是|不會是)"
    r"\s*(?:选项|選項)?\s*(?:\(?[A-Z]\)?\s*[,和与與或及]\s*)*\(?$"
)
_CJK_NOT_AFTER = re.compile(
    r"\)?\s*(?:(?:は|が|も)?\s*(?:違う|違い|間違|誤り|不正解|ではな|じゃな)"
    r"|(?:은|는|이|가|도)?\s*(?:아니|틀))"
)
_CJK_WRONG_AFTER = re.compile(
    r"\)?(?:\s*(?:或者|或|还是|和|与|與|及|,)\s*\(?[A-Z]\)?)*\s*(?:都|也|均)?\s*(?:是|为|為)?\s*"
    r"(?:不|错|錯|非|没|沒)"
)
_CJK_NEGATIONS = re.compile(r"不|非|没|沒|错|錯|无|無|ない|なく|아니|않|틀")
# Words that hedge or change the mind, or call an option right: actually, should, maybe,
# perhaps, probably, answer, choose, correct, right, wait, ...
_CJK_HEDGE = re.compile(
    r"\?|其实|其實|实际|實際|应该|應該|可能|也许|也許|或许|或許|大概|"
    r"说不定|說不定|等等|等一下|答案|选(?!项)|選(?!項)|正确|正確|对|對|更|也|"
    r"実は|やっぱり|やはり|本当は|かも|多分|たぶん|正解|答え|正し|"
    r"いや|사실|아마|정답|답은|맞|또는|아니면"
)
_CJK_CHANGE = re.compile(
    r"\?|其实|其實|实际|實際|应该|應該|也许|也許|或许|或許|大概|"
    r"说不定|說不定|等等|等一下|実は|やっぱり|やはり|本当は|かも|"
    r"多分|たぶん|사실|아마"
)
# The letter picked: after "is", "choose", "becomes" ("是A", "选A", "はA"), or before
# a copula ("Aです", "A입니다", "A吧").
_CJK_PICK_BEFORE = re.compile(r"(?:是|选|選|为|為|成|は|を|은|는)\s*(?:选项|選項)?\s*\(?$")
_CJK_PICK_AFTER = re.compile(r"\)?\s*(?:です|だ|である|でしょう|입니|이다|예요|이에요|吧|吗|嗎|呢)")
# The letter as the subject of a fact about its option: "A是巴黎" (A is Paris), "A:",
# "A在法国", "Aはパリ", "A는 파리".
_CJK_SUBJECT = re.compile(
    r"\)?\s*(?:[:)(]|是|为|為|指|在|的|代表|表示|属于|屬於|位于|位於|"
    r"は|が|の|는|은|이|가)"
)


def _cjk_hedged(sentence: str, mine: str, choices: list[str]) -> bool:
    """Whether a Chinese, Japanese or Korean sentence after the committed answer ``mine``
    takes it back, read as :func:`_tail_hedged` reads an English one: it names the answer
    beside another letter or says it wrong ("不是B"), or names another letter that is
    neither said wrong (by a negation before or after it, with no second negation and no
    word of a changed mind) nor the subject of a fact about its option with no hedging
    word ("A是巴黎, 在法国"); a letter in a Japanese or Korean sentence with no
    hedging word, nothing picking it and no copula after it ("なぜかA") names none."""
    tokens = [
        (t.start(), t.end(), t.group("p") or t.group("b"))
        for t in _CJK_LETTER.finditer(sentence)
        if (t.group("p") or t.group("b")) in LETTERS[: len(choices)]
    ]
    letters = {x for _, _, x in tokens}

    def said_wrong(start: int, end: int) -> bool:
        return bool(
            _CJK_NOT_BEFORE.search(sentence, max(0, start - 30), start)
            or _CJK_WRONG_AFTER.match(sentence, end, end + 120)
            or _CJK_NOT_AFTER.match(sentence, end, end + 120)
        )

    if mine in letters:
        return bool(letters - {mine}) or any(said_wrong(s, e) for s, e, x in tokens if x == mine)
    negs = len(_CJK_NEGATIONS.findall(sentence))
    changed = _CJK_CHANGE.search(sentence) is not None
    hedged = _CJK_HEDGE.search(sentence) is not None
    han_only = _KANA_HANGUL.search(sentence) is None
    for start, end, _ in tokens:
        if said_wrong(start, end):
            if negs > 1 or changed:
                return True
        elif (
            hedged
            or _CJK_PICK_BEFORE.search(sentence, max(0, start - 10), start)
            or _CJK_PICK_AFTER.match(sentence, end)
            or (han_only and not _CJK_SUBJECT.match(sentence, end))
        ):
            # Hedged, picked, or (in Chinese) named as no subject of a fact: "是A", "A吧".
            return True
    return False


_L = r"(?:\((?:{0})\)|(?<![\w'\u2019])(?:{0})(?![\w'\u2019]))"


def _rejected(sentence: str, start: int, end: int) -> bool:
    """Whether the letter at ``start:end`` of ``sentence`` is said wrong by a negation
    attached to it: "not A", "A is wrong", "A isn't the answer", "Wrong: A"."""
    before, after = sentence[max(0, start - 80) : start], sentence[end : end + 120]
    return bool(
        re.search(
            r"(?i)(?:(?:\b(?:not|never|unlike|than|instead\s+of|eliminated|wrong|incorrect|trap\s+is|"
            # "with" tells apart only after confuse, compare, mix or mistake ("confused
            # with A", "Compared with A"): "I'll go with A" picks A. Found by review:
            # "B. I'll go with A." was credited as B.
            r"(?:confus|compar|mix|mistak)\w*(?:\s+\w+){0,2}?\s+with|"
            r"from|ruled?\s+out|exclude[ds]?|dismiss(?:ed)?)"
            r"|(?:\bnot|n't|\bnever)\s+(?:go(?:ing)?\s+with|pick(?:ing)?|choos(?:e|ing)|select(?:ing)?))"
            r"\s*:?\s*(?:be\s+)?(?:(?:option|choice)\s+)?(?:\(?[A-Z][).]?\s*(?:,|and|or)\s*)*$)",
            before,
        )
        or re.match(
            r"(?i)[.)]?(?:\s*(?:,|and|or)\s*\(?[A-Z][).]?)*\s*(?:\([^)]{0,40}\)\s*)?,?\s*"
            r"(?:is|are|was|were|can|could|would|must|should|seems?)?\s*(?:n't|not|never|"
            r"wrong|incorrect|false|ruled\s+out|out|eliminated|excluded)\b",
            after,
        )
        # "A could be tempting, but it is wrong"; "A would be correct if the question were
        # about France".
        or re.match(r"(?i).{0,60}?\bbut\s+(?:it\s+is|it's)\s+(?:wrong|incorrect)\b", after)
        or (re.search(r"(?i)\bif\b", after) and re.search(r"(?i)\bwere\b", after))
    )


def _explained(sentence: str, start: int, end: int, choices: list[str]) -> bool:
    """Whether the letter at ``start:end`` is the subject of a fact about its option: "A
    is in France", "A: Paris", "A) Paris - ...", "Paris (A) is", "option A, Paris, is",
    "A, C and D are", "the other options: A Paris"."""
    before, after = sentence[max(0, start - 80) : start], sentence[end : end + 120]
    token = sentence[start:end].strip("()")
    text = choices[LETTERS.index(token)]
    if re.search(r"(?i)\bof\s*$", before):
        return True  # "(B), the capital of (A)"
    if sentence[start] == "(" and re.search(r"\w\W*$", before):
        return True  # "Paris (A) is ...", "(A) Paris"
    if re.match(
        r"(?i)(?:\s*(?:,\s*(?:and\s+)?|and\s+)\(?[A-Z]\)?)*\s*(?:(?:\)|:|\.|[-\u2013\u2014])[^\S\n]*[^\W_]|"
        r",\s*(?:which|[^\W\d_][^,]{0,40},\s*(?:is|are|was|were)\b)|\s*\(|,?\s+(?:is|are|was|were|has|refers?|names?|means?|"
        r"describes?|represents?|stands?|gives?|would\s+be|about|for)\b)",
        after,
    ):
        return True
    words = r"\s+".join(re.escape(w) for w in text.split())
    return bool(words) and re.match(rf"(?i)\s*{words}\b", after) is not None


def _tail_hedged(output: str, stop: int, answer: int, choices: list[str]) -> bool:
    """Whether what follows the committed answer (from ``stop``) takes it back: unsure of
    it ("not sure", "I don't know", "low confidence", a `?` right after it), a sentence
    that names the answer's letter with another or says it is wrong ("Not B."), or one
    that names another option's letter neither as said wrong (:func:`_rejected`, with no
    second negation and no word of a changed mind) nor as the subject of a fact about its
    option (:func:`_explained`, with no hedging word): "B. Some would say A.", "B. Isn't
    it A?", "B. A is not wrong either.", "B. Hmm... no... A." name none."""
    tail = output[stop:]
    if tail.lstrip(" *_)").startswith("?") or _UNSURE_TAIL.search(tail):
        return True
    tail = _LIST_ITEM.sub(lambda m: m.group(1) + ")", tail)
    mine = LETTERS[answer]
    for s in _SENTENCE.finditer(tail):
        sentence = s.group(0)
        if not sentence.strip():
            continue
        if _NOT_LATIN.search(sentence):
            # The words read here are English; Chinese, Japanese and Korean are read so too.
            if _CJK_CHAR_RE.search(sentence) and _cjk_hedged(sentence, mine, choices):
                return True
            if len(_ENGLISH_WORD.findall(_NOT_LATIN_RUN.sub(" ", sentence))) < 3:
                continue
            # English with a gloss ("B. Actually, A (巴黎) is correct." was credited as B):
            # its English words are read, the other script's runs as spaces.
            sentence = _NOT_LATIN_RUN.sub(" ", sentence)
        tokens = [
            (t.start(), t.end(), t.group("p") or t.group("b"))
            for t in _LETTER_TOKEN.finditer(sentence)
            if (t.group("p") or t.group("b")) in LETTERS[: len(choices)]
            and not (t.group("b") == "I" and re.match(r"\s+[a-z']", sentence[t.end() :]))
        ]
        letters = {x for _, _, x in tokens}
        if mine in letters:
            if letters - {mine}:
                return True  # "A, not B.", "A is better than B."
            if re.search(
                rf"(?i)\b(?:not|isn'?t|n't\s+be|never)\s+{_L.format(mine)}"
                rf"|{_L.format(mine)}\s*(?:is|was)?\s*(?:n't|not|wrong|incorrect|false)\b",
                sentence,
            ):
                return True  # "Not B.", "B is wrong."
            continue
        if not letters:
            continue
        negs = len(_NEG.findall(sentence))
        changed = _CHANGE_WORD.search(sentence) is not None
        # A negated hedging word says wrong the option named before it; before any letter it
        # may take back the answer ("B. That isn't right: A is ...": found by re-attack).
        first = min(start for start, _, _ in tokens) if tokens else len(sentence)
        unhedged = sentence[:first] + _NOT_RIGHT.sub(" ", sentence[first:])
        hedged = _HEDGE_WORD.search(unhedged) is not None
        praised = _PRAISE.search(sentence) is not None
        for start, end, _ in tokens:
            if _rejected(sentence, start, end):
                if negs > 1 or changed or praised:
                    return True
            elif hedged or not _explained(sentence, start, end, choices):
                return True
    return False


def answer_index(output: str, choices: list[str]) -> int | None:
    """The letter the last answer phrase in the output names (``The answer is B.``,
    ``Answer: B``, ``I think the answer is B``, :data:`_ANSWER_PHRASE`; none when another
    answer phrase, or the output's leading letter, names another: a changed mind), else a
    leading letter (``B``, ``(B)``, ``B.``, ``B)``, ``B:``, ``B,``, ``**B**``), each read
    only where no other letter is offered beside it (:func:`_offered`,
    :data:`_SENTENCE_HEDGE`, a letter alone after the answer's comma; a hedge names none)
    and the output is not only the option list (:func:`_is_echo`); else the one choice
    text the output names (:func:`curagate.gate.metrics.match_label`)."""
    output = _normalized(output)
    phrases = _phrase_reads(output, choices)
    read, first, stop = (False, None, 0)
    if not (phrases and phrases[0][0] == len(output) - len(output.lstrip())):
        read, first, stop = _letter_read(output, choices, worded=False)
    if phrases:
        last, stop = phrases[-1][1], phrases[-1][2]
        # Reasoning (or a hedge), then "The answer is B.": the answer it commits to;
        # "A. Paris" then "Wait, the answer is B.", or "Answer: B" then "I think the answer
        # is C.", a changed mind, names none.
        named = {x for _, x, _ in phrases if x is not None} | (
            {first} if first is not None else set()
        )
        if last is None or named != {last}:
            return None
        return None if _tail_hedged(output, stop, last, choices) else last
    if read:
        return None if first is None or _tail_hedged(output, stop, first, choices) else first
    hit = gm.match_label(output, choices)
    return choices.index(hit) if hit is not None else None


@register
class MultipleChoice(Task):
    name = "multiple_choice"
    metrics = (Metric("accuracy"),)

    def prompt(self, item: dict[str, Any], spec: GoldenSetGate) -> str:
        return rendered_prompt(str(item["prompt"]), choices_of(item, spec))

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
