"""What a leakage scan reads of a record: its key, then every other string it holds.

One definition for ``curagate leakage``, ``curagate check``, the audit's
LEAK001 and ``curate --decontaminate``, so that a reference item counts as
leaked in the same places everywhere. The key (see :mod:`curagate.records`) is
scanned as is; the rest of the record is one more text per row: every string
outside the key, in any column (the ``id`` column aside), nested in lists,
structs or maps, dictionary-encoded, ``string_view``, or ``binary`` holding
UTF-8 text, joined by newlines. A key column's parts the key does not render
(a message's ``reasoning_content``, a tool call's id) belong to the rest.
Bytes that are not UTF-8 cannot be read as text: their row and column are
returned as unreadable (decoded with replacement characters and scanned all
the same, best effort), but for bytes in a media column or a media part, which
are media (a Hub image's ``{"bytes", "path"}``). A string holding JSON with escapes is read decoded too
(:func:`json_decoded`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.records import (
    IGNORABLE_MARKS,
    MAX_NESTING,
    MEDIA_COLUMNS,
    RecordFormat,
    is_media_part,
    json_depth,
    key_columns,
    message_line,
    render_column,
)

# The readers' kernels (curagate._kernels): `curagate check` keeps off the slow
# `import pyarrow.compute`.
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    from curagate import _kernels as pc

    pa = lazy_import("pyarrow")

__all__ = ["RowTexts", "conversations_of", "row_texts", "strings_of"]

# What of a key column the key already holds (records.render_value): a string, each
# string of a list (stepwise steps), and of a message its role, its content string
# (or its parts' text) and its tool calls' function name and arguments.
# A spec is None (every string below is scanned) or a dict (this place is rendered
# into the key: a string here is not scanned again; a struct's field takes the
# spec under its name, None when it has none).
Spec = dict[str, Any] | None
KEY_SPEC: dict[str, Any] = {
    "role": {},
    "content": {"text": {}},
    "tool_calls": {"function": {"name": {}, "arguments": {}}},
}
SEPARATOR = "\n"


@dataclass(frozen=True, slots=True)
class RowTexts:
    """What is scanned of one batch of valid rows, row for row."""

    keys: pa.Array  # the key of each row
    other: pa.Array | None  # every other string of each row, joined; None: no row has one
    unreadable: tuple[tuple[int, str], ...] = ()  # (row, column) holding bytes that are not UTF-8
    # A key of several columns: each but the last (the answer) alone, as rendered (a
    # prompt/completion row's prompt), where it is short (:data:`SHORT_WORDS`; else ""): a
    # golden question that is a record's whole prompt matches it exactly, while the key,
    # its answer after it, matched nothing (an item under 8 words has no n-gram and no span).
    fields: tuple[pa.Array, ...] = ()
    # Each row's media identity (:attr:`curagate.records.Batch.media`; 0: none), None when
    # no row holds media: a reference item of other media is no leak of the row (two
    # questions about two images are other records), :meth:`LeakageIndex.media_kept`.
    media: pa.Array | None = None

    def parts(self) -> list[tuple[pa.Array, bool]]:
        """The texts to scan and whether they are the key, key first; each followed, where
        some hold a zero-width space, joined words, web markup, calculator marks or
        furigana, by the same texts without it (:func:`without_zero_width_spaces`), split
        (:func:`_joined_split`), decoded (:func:`markup_decoded`) or without them
        (:func:`without_calculator_marks`, :func:`without_readings`); keys of conversations, by their user turns joined
        and by their assistant turns joined (:func:`_turn_views`);
        then the key's :attr:`fields`."""
        out: list[tuple[pa.Array, bool]] = []
        # The key's JSON decoded (:func:`json_decoded`; the other strings were decoded
        # column by column, :func:`_texts`): a `text` column holding a JSON object whose
        # Russian question json.dumps wrote as \u041f... escapes showed none of its words.
        bases = ((self.keys, True), (_json_decoded(self.keys), True), (self.other, False))
        for texts, is_key in bases:
            if texts is None:
                continue
            variants = (
                texts,
                _without_zwsp(texts),
                _joined_split(texts),
                _decoded(texts),
                without_calculator_marks(texts),
                without_readings(texts),
            )
            out += [(t, is_key) for t in variants if t is not None]
            if texts is self.keys:
                out += [(t, is_key) for t in _turn_views(texts)]
        return out + [(f, True) for f in self.fields]


ZWSP = "\u200b"
# Spaces drawn as next to nothing: zero-width, hair, thin, six-per-em, punctuation, medium
# mathematical and narrow no-break spaces, and the vertical tab and form feed. A copy with
# a hair space inside every third word read as the item and matched nothing.
NARROW_SPACES = "\u200b\u200a\u2009\u2006\u2008\u205f\u202f\x0b\x0c"
_NARROW = "[" + "".join(f"\\x{{{ord(c):04X}}}" for c in NARROW_SPACES) + "]"
_NARROW_RE = re.compile("[" + NARROW_SPACES + "]")


def without_zero_width_spaces(text: str) -> str | None:
    """``text`` without its zero-width (and other narrow) spaces, or None when it has none.

    Normalization reads U+200B as a word break (Thai and Khmer separate words with it), so
    one inside every word ("ca\u200bpital") cut an item into fragments no n-gram matched:
    a free way to hide it; a hair or thin space (:data:`NARROW_SPACES`) likewise. Texts
    holding one are also scanned without them."""
    return _NARROW_RE.sub("", text) if _NARROW_RE.search(text) else None


# Every Default_Ignorable_Code_Point of Unicode that is not a format character (those are
# Cf), assigned or not (:data:`curagate.records.IGNORABLE_MARKS`, which blankness reads
# too): renderers draw them as nothing and normalization deletes them, so put for spaces
# they glued an item's words into one (U+3164, U+180F, U+E0000 between words each hid a
# test item). The Rust core's `text::joiners` builds the joined-words view,
# :func:`_joined_split`, with the same list.
_IGNORABLE_MARKS = IGNORABLE_MARKS


def invisible(c: str) -> bool:
    """Whether ``c`` is drawn as nothing and normalization deletes it: a format character
    (Unicode Cf: joiners, bidi marks, the soft hyphen) or a default-ignorable mark
    (:data:`_IGNORABLE_MARKS`)."""
    return unicodedata.category(c) == "Cf" or any(a <= ord(c) <= b for a, b in _IGNORABLE_MARKS)


def _joined_split(texts: pa.Array) -> pa.Array | None:
    """The texts with the characters that join their words read as spaces, in the Rust
    core (``curagate_core::text::joiners``): normalization deletes every character that
    is neither a letter, a number nor a space, so words joined by one ("Josh-decides",
    "how\u200dmuch", "a,b,c", the unit separator U+001F) became one word no n-gram of a
    golden item matched. Each run of them is one space, unless a digit stands on both
    sides (`15.5`, `1,000`, `17-23` stay); zero-width spaces, which normalization reads as
    word breaks, are taken out first ("J\u200bosh-d\u200becides"); a combining mark is
    part of the letter it follows, and a joiner after another joiner (found by attack:
    `Josh-\u0301decides` hid an item). Rows with no joined words become "" (nothing to
    scan twice); None when no row has any."""
    from curagate._core import joiners_split

    got = joiners_split(texts)
    if got is None:
        return None
    offsets, data = got
    split = pa.Array.from_buffers(
        pa.large_string(), len(texts), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return split if texts.type == split.type else split.cast(texts.type)


# A conversation's key: a "role: content" line per turn (records.render_value), the role as
# the record names it. These open a turn, in any case (OpenAI's developer, ShareGPT-style
# human and gpt, Gemini's model, OpenAssistant's prompter, Cohere's chatbot; a conversation
# opened by a developer turn got no user view, and a prompter's turn was never a user's).
_ROLES = (
    "(?i:system|developer|user|human|prompter|assistant|gpt|model|bot|chatbot|tool|function"
    "|ipython)"
)
_ROLE_OF = {"user": "(?i:user|human|prompter)", "assistant": "(?i:assistant|gpt|model|bot|chatbot)"}
# A turn on any line, not only the first: a conversation opened by a role not named here (a
# `prompter` turn) got no view at all, not even of a later `user` turn.
_A_TURN = rf"(?m)^[ \t]*{_ROLES}:[ \t]"  # (indented too: "  User: ...", "User:\tQ")

# Each turn's opening marked with a record separator (taken out of the texts first): Arrow's
# regular expressions (RE2) cannot look ahead for where a turn ends, but a turn is then
# everything up to the next mark. Dropping only another role's opening line glued the second
# line of a two-line answer or system prompt to the user's turn, and a short golden question
# that was the whole turn matched nothing. A turn of the role looked for is marked again with
# a unit separator, so that everything from the other marks to the next is dropped, and so is
# the text before the first mark (a turn of a role not named above, a template's preamble).
_MARK, _OWN = "\x1e", "\x1f"
_THREE_TURNS = rf"{_MARK}[^{_MARK}]*{_MARK}[^{_MARK}]*{_MARK}"


def _marked(texts: pa.Array, hits: pa.Array) -> pa.Array:
    """The rows in ``hits`` with each turn's opening marked; the others ""."""
    from curagate import _kernels

    # A mark inside a turn's own text would cut it ("no rendered key holds one" was wrong:
    # 17 of them in a system prompt pushed the user's turn past the views of single turns).
    clean = _kernels.replace_substring_regex(texts, f"[{_MARK}{_OWN}]", " ")
    marked = _kernels.replace_substring_regex(
        clean, rf"(?m)^[ \t]*({_ROLES}):[ \t]", _MARK + "\\1: "
    )
    return _kernels.if_else(hits, marked, pa.scalar("", texts.type))


def _only(marked: pa.Array, role: str) -> pa.Array:
    """Marked texts with only ``role``'s turns, each opened by ``_OWN`` (its role dropped)."""
    from curagate import _kernels

    own = _kernels.replace_substring_regex(marked, rf"{_MARK}{_ROLE_OF[role]}: ", _OWN)
    # The mark first: RE2 takes the first alternative that matches, and `^`'s empty match
    # at a mark opening the text stepped over it (a system turn first stayed in).
    return _kernels.replace_substring_regex(own, rf"(?:{_MARK}|^)[^{_MARK}{_OWN}]*", "")


def _role_joined(marked: pa.Array, role: str) -> pa.Array:
    """``role``'s turns of marked texts joined into one text."""
    from curagate import _kernels

    return _kernels.replace_substring(_only(marked, role), _OWN, " ")


# JSON in a string (a `source` column holding a record as json.dumps wrote it, a whole
# `text` column that is one, a message's content): json.dumps escapes every character
# outside ASCII (\u041f...), and a newline or quote inside an item as \n or \", so a
# Russian or Chinese golden question kept so showed none of its words to any scan (found
# by attack: check, leakage, decontaminate and the audit all passed). Such a string is
# also scanned decoded: the strings of each JSON object or array opening one of its lines
# (after a conversation's "role: "), whole even where it spans lines, read as far as it
# parses; in the strings found, JSON again, up to MAX_JSON_LEVELS deep. Only a text with a
# backslash is decoded (without an escape, its strings are there as they are), and the
# parser's work is bounded (:func:`json_values`); values nested past the readers' limit
# (records.MAX_NESTING) are left as they are.
#
# Found by attack on that fix: a question json.dumps wrote as the whole prompt (a JSON
# string literal), JSON after text on its line ("Source record: {...}"), a bare escaped
# string ("Q: \u0421...") and a key given twice ({"question": <item>, "question": "x"}: the
# parser kept the last) still showed nothing. So a text holding a JSON escape is also read
# with every escape decoded in place (:func:`escapes_decoded`), and a key given twice keeps
# each of its values (:func:`_all_pairs`).
_JSON_OPEN = re.compile(rf"(?m)^(?:{_ROLES}:[ \t]+)?[ \t]*([\[{{])")
# A JSON escape: what makes a text worth decoding.
_JSON_ROWS = r"\\(?:u[0-9A-Fa-f]{4}|[\"\\/bfnrt])"
MAX_JSON_LEVELS = 8
_ESCAPE = re.compile(
    r"\\(?:u([Dd][89ABab][0-9A-Fa-f]{2})\\u([Dd][C-Fc-f][0-9A-Fa-f]{2})"
    r"|u([0-9A-Fa-f]{4})|([\"\\/bfnrt]))"
)
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _unescaped(m: re.Match[str]) -> str:
    high, low, code, simple = m.groups()
    if high is not None:  # a surrogate pair: one character outside the BMP
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if code is not None:
        c = int(code, 16)
        return "\ufffd" if 0xD800 <= c < 0xE000 else chr(c)  # a lone surrogate is no text
    return _SIMPLE_ESCAPES[simple]


def escapes_decoded(text: str) -> str | None:
    """``text`` with every JSON string escape (``\\u0421``, a surrogate pair, ``\\n``,
    ``\\"``...) decoded in place, again while that decodes more (a string escaped twice),
    up to :data:`MAX_JSON_LEVELS` passes of linear cost; None when nothing was decoded."""
    if "\\" not in text:
        return None
    out = text
    for _ in range(MAX_JSON_LEVELS):
        decoded = _ESCAPE.sub(_unescaped, out)
        if decoded == out:
            break
        out = decoded
    return out if out != text else None


def _all_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, a key given more than once keeping each value (under the
    key, then the key, a dot and its count: still a field name, not text)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        name, n = k, 1
        while name in out:
            name, n = f"{k}.{n}", n + 1
        out[name] = v
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_all_pairs)


def json_values(text: str) -> list[Any]:
    """The JSON objects and arrays ``text`` holds, each opening one of its lines (after an
    optional "role: "), in order; none when it holds no backslash. Each try at parsing
    costs the characters it read, and the tries stop after four times the text's length
    (lines of ``[[1],`` each opened a parse that read a thousand lines before failing)."""
    if "\\" not in text:
        return []
    out: list[Any] = []
    end, budget = 0, 4 * len(text) + (1 << 16)
    for m in _JSON_OPEN.finditer(text):
        start = m.start(1)
        if start < end:
            continue  # inside the value just read
        if budget <= 0:
            break
        try:
            value, stop = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as e:
            budget -= e.pos - start + 1
            continue
        except (ValueError, RecursionError):
            budget -= len(text) - start
            continue
        budget -= stop - start
        if json_depth(value) <= MAX_NESTING:
            out.append(value)
            end = stop
    return out


def json_decoded(text: str) -> str | None:
    """The strings of the JSON ``text`` holds (:func:`json_values`, JSON in them decoded
    too), then ``text`` with its escapes decoded in place (:func:`escapes_decoded`), joined
    by newlines; None when it holds neither."""
    values = json_values(text)
    # (Their strings' escapes are decoded in place with the text's own, just below.)
    strings = _strings_and_bytes(values, decode_json=True, views=False)[0] if values else []
    view = escapes_decoded(text)
    if view is not None:
        strings.append(view)
    return SEPARATOR.join(strings) if strings else None


def _json_decoded(texts: pa.Array | None) -> pa.Array | None:
    """:func:`json_decoded` for a column of texts: "" for the rows holding no JSON
    with an escape; None when no row holds any."""
    from curagate import _kernels

    if texts is None:
        return None
    hits = _kernels.match_substring_regex(texts, _JSON_ROWS)
    if not _any_true(hits):
        return None
    values, mask = texts.to_pylist(), hits.to_pylist()
    decoded = [
        (json_decoded(v) or "") if m and v is not None else ""
        for v, m in zip(values, mask, strict=True)
    ]
    return pa.array(decoded, texts.type) if any(decoded) else None


def _with_json_decoded(texts: pa.Array) -> pa.Array:
    """``texts`` (null-free), each holding JSON followed by its strings decoded
    (:func:`json_decoded`)."""
    decoded = _json_decoded(texts)
    if decoded is None:
        return texts
    return pa.array(
        [
            f"{v}{SEPARATOR}{d}" if d else v
            for v, d in zip(texts.to_pylist(), decoded.to_pylist(), strict=True)
        ],
        pa.large_string(),
    )


# A conversation's user turns are also scanned one by one, the first this many of them
# each: more views of every row cost a pass each, and a copy of a short item in turn 40 of
# a conversation is past what is looked for (docs/leakage.md).
MAX_TURN_VIEWS = 16


def _each_turn(marked: pa.Array, role: str) -> list[pa.Array]:
    """Views of ``role``'s turns one by one, short ones only: the k-th of each row (""
    where the row has fewer), for the rows with two such turns or more (a row's one turn
    is its joined view)."""
    from curagate import _kernels

    pieces = _kernels.split_pattern(_only(marked, role), _OWN)  # "" first, then each turn
    many = _kernels.max(_kernels.list_value_length(pieces)).as_py() or 0
    views = min(many - 1, MAX_TURN_VIEWS)
    if views < 2:
        return []
    grid = _kernels.list_slice(pieces, 1, 1 + views)
    empty = pa.scalar("", marked.type)
    return [_short(_kernels.fill_null(_kernels.list_element(grid, k), empty)) for k in range(views)]


def _role_turns(texts: pa.Array) -> tuple[list[pa.Array], pa.Array | None]:
    """Views of conversations' keys: their user turns joined into one text, each user
    turn on its own (:func:`_each_turn`), and, for three turns or more, their assistant
    turns joined into another; none when no key is a conversation. A golden question cut
    into pieces of a few words, each a user turn answered "ok", left no n-gram of it whole
    in the key (each piece stood between "assistant: ok" and "user:"); so did a golden
    answer given a few words per assistant turn, each followed by "go on"; and a short
    golden question (under 8 words: no n-gram, no span) that was a whole user turn matched
    nothing, its answer (or its "user: ", a preference row's or a prompt-only row's one
    turn, or the conversation's other turns) beside it in the key. Also the user turns
    joined, whatever their length (None: no conversation)."""
    from curagate import _kernels

    talk = _kernels.match_substring_regex(texts, _A_TURN)  # a conversation, one turn or more
    if not _any_true(talk):
        return [], None
    marked = _marked(texts, talk)
    user = _role_joined(marked, "user")
    three = _kernels.match_substring_regex(marked, _THREE_TURNS)
    if not _any_true(three):  # only a short question as a whole turn is new here
        return [_short(user), *_each_turn(marked, "user")], user
    return [
        _kernels.if_else(three, user, _short(user)),
        *_each_turn(marked, "user"),
        _role_joined(_kernels.if_else(three, marked, pa.scalar("", texts.type)), "assistant"),
    ], user


# Chats stored as one text in a chat template (a `text` column of an SFT set): ChatML
# (`<|im_start|>user`), Gemma (`<start_of_turn>user`), Llama 3 (`<|start_header_id|>user`),
# Llama 2 and Mistral (`[INST] ... [/INST]`, `<<SYS>>`), and the `### Human:` /
# `### Assistant:` and Alpaca `### Instruction:` / `### Response:` headers. Their turns were
# never split ("User: Q" lines were): a short golden question that was a whole user turn
# matched nothing. Each template is rewritten into "role: " lines before the split, in the
# rows that use it (one cheap look at every row first, as for the other views).
# A header opens a line, or a message of a conversation (its "user: " rendered before it: an
# Alpaca prompt as a user message's content was never split, found by the re-attack).
_HEAD = rf"(?:{_ROLES}:[ \t])?[ \t]*#{{1,6}}[ \t]*"
_HEADER = rf"(?im:^{_HEAD}(?:human|user|assistant|system|instruction|response)[ \t]*:)"
# Found by review, Markdown that opened no turn: a role in bold (`**User:**`, `**User**:`,
# `__Human:__`) and a heading that is only a role (`## User` on its line, the turn below).
_BOLD = r"(?:\*\*|__)"
_PREFIX = rf"(?:{_ROLES}:[ \t])?[ \t]*"
_BOLD_ROLE = rf"^{_PREFIX}{_BOLD}[ \t]*({_ROLES})[ \t]*(?::[ \t]*{_BOLD}|{_BOLD}[ \t]*:)[ \t]*"
_HEADING_ROLE = rf"^{_PREFIX}#{{1,6}}[ \t]*((?i:human|user|assistant|system))[ \t]*:?[ \t]*$\n?"
# A role in markup: `<|User|>`, `<|USER|>` and `<|Human|>` (any case: DeepSeek's template
# with ASCII bars, StableLM), and XML-like tags (`<user>Q</user><assistant>A</assistant>`,
# OpenChatKit's `<human>: Q` / `<bot>: A`), the latter only in a text that also holds an
# assistant's tag after a user's (a `<user>jdoe</user>` of XML data is no chat).
_TAG_ROLES = "(?i:system|user|human|prompter|assistant|bot|gpt|model|chatbot)"
# One-line transcripts (Vicuna's separators are spaces: `USER: Q ASSISTANT: A</s>USER: ...`,
# also `Human: Q Assistant: A`): a user's label in capitals or capitalized, at the start of
# a line or after a sentence's end (`.`, `!`, `?`) or a tag's `>`, then an assistant's label
# after a space on the same line. Prose naming a role mid-sentence ("the User: field") opens
# no turn, nor does a label in lower case.
_LINE_USER = "(?:USER|User|HUMAN|Human)"
_LINE_ASSISTANT = "(?:ASSISTANT|Assistant)"
_ONE_LINE = rf"(?m:(?:^|[.!?>])[ \t]*{_LINE_USER}:[ \t]+[^\n]*?[ \t]{_LINE_ASSISTANT}:(?:[ \t]|$))"
# Found by attack, more templates that opened no user turn: Zephyr and Phi-3 (`<|user|>`),
# OpenAssistant (`<|prompter|>`), DeepSeek-V3 (`<\uff5cUser\uff5c>`, full-width bars), gpt-oss's
# harmony (`<|start|>user<|message|>`), Granite (`<|start_of_role|>user<|end_of_role|>`),
# Command-R (`<|START_OF_TURN_TOKEN|><|USER_TOKEN|>`), Llama 4
# (`<|header_start|>user<|header_end|>`) and "User: Q" on the line of a `<s>`.
# Each row: what tells the template, then its rewrites (a role captured as \1).
_TEMPLATES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (  # ChatML, Gemma, Llama 3
        r"<\|im_start\|>|<start_of_turn>|<\|start_header_id\|>",
        (
            (
                r"(?:<\|im_start\|>|<start_of_turn>)[ \t]*([A-Za-z_]+)[ \t]*\n?"
                r"|<\|start_header_id\|>[ \t]*([A-Za-z_]+)[ \t]*<\|end_header_id\|>\s*",
                "\n\\1\\2: ",
            ),
        ),
    ),
    (  # Llama 2, Mistral
        r"\[/?INST\]",
        (
            (r"\[INST\]\s*", "\nuser: "),
            (r"\s*\[/INST\]\s*", "\nassistant: "),
            (r"<<SYS>>\s*", "\nsystem: "),
            (r"\s*<</SYS>>\s*", "\nuser: "),
        ),
    ),
    (  # Zephyr, Phi-3, OpenAssistant; StableLM (`<|USER|>`), DeepSeek with ASCII bars
        rf"<\|{_TAG_ROLES}\|>",
        ((rf"<\|({_TAG_ROLES})\|>[ \t]*:?[ \t]*\n?", "\n\\1: "),),
    ),
    (  # XML-like tags: `<user>Q</user>`, OpenChatKit's `<human>: Q`
        r"(?s:<(?i:user|human|prompter)>.*<(?i:assistant|bot|gpt|model|chatbot)>)",
        (
            (rf"\s*</{_TAG_ROLES}>[ \t]*", "\n"),
            (rf"<({_TAG_ROLES})>[ \t]*:?\s*", "\n\\1: "),
        ),
    ),
    (  # DeepSeek-V3
        "<\uff5c(?:User|Assistant)\uff5c>",
        (("<\uff5c(User|Assistant)\uff5c>[ \t]*\n?", "\n\\1: "),),
    ),
    (  # gpt-oss (harmony): a channel, a recipient may come between role and message
        r"<\|start\|>[A-Za-z_]+",
        ((r"<\|start\|>([A-Za-z_]+)[^<\n]*(?:<\|channel\|>[^<\n]*)?<\|message\|>", "\n\\1: "),),
    ),
    (  # Granite
        r"<\|start_of_role\|>",
        ((r"<\|start_of_role\|>[ \t]*([A-Za-z_]+)[ \t]*<\|end_of_role\|>[ \t]*\n?", "\n\\1: "),),
    ),
    (  # Command-R
        r"<\|START_OF_TURN_TOKEN\|>",
        ((r"<\|START_OF_TURN_TOKEN\|>[ \t]*<\|([A-Z]+)_TOKEN\|>[ \t]*\n?", "\n\\1: "),),
    ),
    (  # Llama 4
        r"<\|header_start\|>",
        ((r"<\|header_start\|>[ \t]*([A-Za-z_]+)[ \t]*<\|header_end\|>\s*", "\n\\1: "),),
    ),
    (  # "User: Q" right after a BOS token
        rf"<s>[ \t]*{_ROLES}:",
        ((rf"<s>[ \t]*({_ROLES}:)", "\n\\1"),),
    ),
    (  # `### Human:` / `### Assistant:`, Alpaca's `### Instruction:` / `### Response:`
        _HEADER,
        (
            (rf"(?im)^{_HEAD}(human|user|assistant|system)[ \t]*:[ \t]*", "\\1: "),
            (rf"(?im)^{_HEAD}instruction[ \t]*:\s*", "user: "),
            (rf"(?im)^{_HEAD}response[ \t]*:\s*", "assistant: "),
        ),
    ),
    (  # Markdown: `**User:**`, `**User**:`, `__Human:__`; `## User` alone on its line
        rf"(?m:{_BOLD_ROLE}|{_HEADING_ROLE})",
        ((f"(?m){_BOLD_ROLE}", "\\1: "), (f"(?m){_HEADING_ROLE}", "\\1: ")),
    ),
    (  # one-line transcripts: `USER: Q ASSISTANT: A`, `Human: Q Assistant: A`
        _ONE_LINE,
        (
            (rf"([.!?>])[ \t]*({_LINE_USER}):[ \t]+", "\\1\n\\2: "),
            (rf"[ \t]+({_LINE_ASSISTANT}):[ \t]*", "\n\\1: "),
        ),
    ),
)
# The last of them are labels written as text (headers, Markdown, one-line transcripts),
# which a golden prompt may hold itself ("A chat. USER: Q ASSISTANT:"): split only after
# the templates of tokens, each split a view more (see :func:`_turn_views`).
_TEXT_LABELS = 3
# A template's other tokens: a turn's end, the text's start and end.
_TEMPLATE_TOKENS = (
    r"<\|im_end\|>|<end_of_turn>|<\|eot_id\|>|<\|(?:begin|end)_of_text\|>|<\|endoftext\|>"
    r"|<bos>|<eos>|</?s>|<\|end\|>|<\|return\|>|<\|eot\|>|<\|END_OF_TURN_TOKEN\|>"
    r"|<(?:BOS|EOS)_TOKEN>|<\|(?:channel|message|constrain|call)\|>"
    "|<\uff5c(?:begin|end)\u2581of\u2581sentence\uff5c>"
)


def _untemplated(
    texts: pa.Array, templates: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
) -> pa.Array | None:
    """``texts`` with the chats written in one of ``templates`` (of :data:`_TEMPLATES`)
    rewritten as "role: content" lines, the other rows as they are; None when no row
    uses one."""
    from curagate import _kernels

    templated = _kernels.match_substring_regex(texts, "|".join(find for find, _ in templates))
    if not _any_true(templated):
        return None
    out = texts
    for find, rewrites in templates:
        hits = _kernels.match_substring_regex(out, find)
        if not _any_true(hits):
            continue
        new = out
        for pattern, replacement in rewrites:
            new = _kernels.replace_substring_regex(new, pattern, replacement)
        out = _kernels.if_else(hits, new, out)
    bare = _kernels.replace_substring_regex(out, _TEMPLATE_TOKENS, "")
    return _kernels.if_else(templated, bare, out)


def _turn_views(texts: pa.Array) -> list[pa.Array]:
    """:func:`_chat_views` of ``texts``; of the rows holding a chat template of tokens
    (ChatML, ...), rewritten into turns; and of the rows then holding labels written as text
    (``### Instruction:``, ``**User:**``, ``USER: Q ASSISTANT:``), rewritten again. Each
    split adds views and takes none away: found by attack, a golden prompt holding a
    transcript ("A chat. USER: Who wrote Hamlet? ASSISTANT:") copied as a user message's
    content was split into the transcript's turns, and its whole turn (an exact match
    before) was no view any more."""
    from curagate import _kernels

    # Every row looked at (one regular expression over the keys): skipped where every key
    # held a line opening a turn (meant for a column of messages), a chat in ChatML whose
    # answer listed "Model: Corolla" was never split, nor any other row of its batch
    # (found by the re-attack).
    views = _chat_views(texts)
    empty = pa.scalar("", texts.type)
    level = texts
    for templates in (_TEMPLATES[:-_TEXT_LABELS], _TEMPLATES[-_TEXT_LABELS:]):
        rewritten = _untemplated(level, templates)  # templates' tokens gone, as tags
        if rewritten is None:
            continue
        # Only the rows the rewrite changed: the others' views are there already.
        same = _kernels.fill_null(_kernels.equal(rewritten, level), True)
        views += _chat_views(_kernels.if_else(same, empty, rewritten))
        level = rewritten
    return views


def _chat_views(chats: pa.Array) -> list[pa.Array]:
    """:func:`_role_turns` of ``chats``; and of those whose user turns hold web markup,
    decoded (:func:`markup_decoded`): a user turn of `<p>Q</p>` is a whole turn only
    decoded, and the decoded key was never split. Only those rows are decoded again: many
    keys hold markup in an answer (`<|endoftext|>`)."""
    from curagate import _kernels

    views, user = _role_turns(chats)
    if user is None:
        return views
    marked_up = _kernels.match_substring_regex(user, _MARKUP)
    if not _any_true(marked_up):
        return views
    # Those rows alone (few, most often), their views put back in their places ("" else).
    rows = _kernels.indices_nonzero(marked_up)
    decoded = _decoded(_kernels.take(chats, rows))
    if decoded is None:
        return views
    at: list[int | None] = [None] * len(chats)
    for k, row in enumerate(rows.to_pylist()):
        at[row] = k
    places, empty = pa.array(at, pa.int64()), pa.scalar("", chats.type)
    return views + [
        _kernels.fill_null(_kernels.take(v, places), empty) for v in _role_turns(decoded)[0]
    ]


# A text of at most this many words is scanned again on its own (a prompt beside its
# answer, a short conversation's question): only an item too short for the span criterion
# needs it, and the key holds every n-gram and span of a longer one. A word is a run of
# anything but whitespace and ASCII punctuation or symbols, as normalization reads words
# (a spaced-out formula's symbols are none; "a,b,c" is three); a run of script without
# spaces (Han, kana) counts as one, so such a text is always scanned again. ASCII ranges,
# not Unicode classes (\pL made the pattern 60 times slower on T0 prompts).
SHORT_WORDS = 24
_GAP = r"\s!-/:-@\[-`{-~"
_LONG = rf"^[{_GAP}]*(?:[^{_GAP}]+(?:[{_GAP}]+|$)){{{SHORT_WORDS + 1}}}"


def _short(texts: pa.Array) -> pa.Array:
    """``texts`` with those of more than :data:`SHORT_WORDS` words as "" (nothing to scan:
    a T0 prompt, an article and its question, was scanned twice for nothing)."""
    from curagate import _kernels

    long = _kernels.match_substring_regex(texts, _LONG)
    return _kernels.if_else(long, pa.scalar("", texts.type), texts)


def _without_zwsp(texts: pa.Array) -> pa.Array | None:
    """:func:`without_zero_width_spaces` for a column of texts (None: none holds one).
    Through ``curagate._kernels``: `check` scans every batch with it, and importing
    ``pyarrow.compute`` would cost it ~30 ms of start-up."""
    from curagate import _kernels

    if not _any_true(_kernels.match_substring_regex(texts, _NARROW)):
        return None
    return _kernels.replace_substring_regex(texts, _NARROW, "")


# Web markup between words: an HTML entity (`&nbsp;`, `&#32;`, `&amp;`), a percent-encoded
# byte (`%20`), a tag (`<b>`) or a terminal's colour escape (`ESC[31m`). Normalization
# strips the punctuation and keeps the rest (`nbsp`, `20`, `b`, `31m`) as words between the
# item's words: a scraped copy with `&nbsp;` or `%20` for every space, or each word in
# `<b>`, matched no n-gram, span or MinHash; `ca<b></b>pital` or `caESC[0mpital` inside
# words cut them in two.
_ANSI = r"\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]"
_TAG = r"<[^<>]{1,200}>"
_MARKUP = (
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});|%[0-9A-Fa-f]{2}|"
    + _TAG
    + "|"
    + _ANSI
)
_MARKUP_RE = re.compile(_MARKUP)
_ANSI_RE = re.compile(_ANSI)
_TAG_RE = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9]*)?[^<>]{0,200}>")
# Ruby's readings (`<rt>`, `<rtc>`) and the parentheses drawn around them where ruby is
# not supported (`<rp>`), with their text: up to the element's end tag where one closes it
# before the next ruby tag (tags inside it too: `<rt><b>...</b></rt>`), else up to the
# next tag (their end tags may be left out). Found by attack,
# `<ruby>東京駅<rt>とうきょうえき</rt></ruby>` put the reading between the item's
# characters and a Japanese item so marked up matched nothing; found by re-attack, so did
# a reading in `<rtc>` or with a tag inside its `<rt>`.
_RUBY_TEXT_RE = re.compile(
    r"<\s*(rtc|rt|rp)\b[^<>]{0,200}>"
    r"(?:(?:(?!<\s*/?\s*(?:ruby|rb|rtc|rt|rp)\b)[\s\S]){0,400}?<\s*/\s*\1\s*>"
    r"|[^<]{0,200}(?:<\s*/\s*\1\s*>)?)",
    re.I,
)
_RUBY_OPEN_RE = re.compile(r"<\s*(?:rtc|rt|rp)\b", re.I)
# Tags a browser draws inside a line of text, adding no space (`<br>`, `<p>`, `<td>` and
# the other block tags break the text: read as a space).
# fmt: off
_INLINE_TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font",
    "i", "ins", "kbd", "mark", "q", "rb", "rtc", "ruby", "s", "samp", "small", "span",
    "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
})
# fmt: on


def _tag_as(m: re.Match[str]) -> str:
    return "" if (m[1] or "").lower() in _INLINE_TAGS else " "


# HTML's other elements, which a browser draws as a break (a block) or as something (an
# image, a field): `end<br>start` is two words. A tag of no name (a special token,
# `<|endoftext|>`) or of another name (a tokenizer's `<pad>`, `<unk>`) is drawn by nothing.
# fmt: off
_HTML_TAGS = frozenset({
    "address", "area", "article", "aside", "audio", "blockquote", "body", "br", "button",
    "canvas", "caption", "center", "col", "colgroup", "dd", "details", "dialog", "dir", "div",
    "dl", "dt", "embed", "fieldset", "figcaption", "figure", "footer", "form", "frame", "h1",
    "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "iframe", "img", "input",
    "label", "legend", "li", "link", "main", "math", "menu", "meta", "nav", "noscript",
    "object", "ol", "option", "p", "picture", "pre", "script", "section", "select", "source",
    "style", "summary", "svg", "table", "tbody", "td", "template", "textarea", "tfoot", "th",
    "thead", "title", "tr", "track", "ul", "video",
})
# fmt: on
_DRAWN_TAGS = _INLINE_TAGS | _HTML_TAGS
# Tags between two word characters (`co<|endoftext|>mmittee`, `ap<pad>proved`).
_GLUED_TAGS_RE = re.compile(r"(?<=\w)(?:<[^<>]{1,200}>)+(?=\w)")


def _cuts_a_word(text: str) -> bool:
    """Whether ``text`` holds, between two word characters, a tag that nothing draws (not
    one of HTML's: :data:`_INLINE_TAGS`, :data:`_HTML_TAGS`), read as a space in both
    readings: only then does reading every tag as nothing join a word no other reading
    joins (a special token at a word's end, as SFT data ends records, joins none)."""
    return any(
        (tag[1] or "").lower() not in _DRAWN_TAGS
        for run in _GLUED_TAGS_RE.finditer(text)
        for tag in _TAG_RE.finditer(run[0])
    )


def markup_decoded(text: str) -> str | None:
    """``text`` with its HTML entities and percent-encoded bytes decoded and its colour
    escapes and ruby's readings (``<rt>``, ``<rp>``, :data:`_RUBY_TEXT_RE`) dropped,
    twice: its tags read as a browser draws them (inline ones as nothing,
    others as a space), then every tag read as a space (one word to a `<span>` with no
    space between, as PDF-to-HTML writes it, or `</s><s>` between words: read as nothing,
    the words ran together); and where a tag read as a space cuts a word
    (:func:`_cuts_a_word`: `co<|endoftext|>mmittee`, a special token inside every word,
    which a tokenizer reads as nothing), a third time with every tag read as nothing. Or
    None when it holds none."""
    readings = _tag_readings(text)
    return None if readings is None else _entities_decoded("\n".join(readings))


def markup_readings(text: str) -> list[str] | None:
    """The readings :func:`markup_decoded` joins, each on its own (a reference item's
    views: one reading's n-grams are not diluted by another's); None when ``text`` holds
    no markup but at its start or end (a trailing `<|endoftext|>` breaks an n-gram or
    two of the item, not the item: a view of every such item would double the index of
    SFT data for nothing)."""
    if _at_edges_only(text):
        return None
    readings = _tag_readings(text)
    return None if readings is None else list(dict.fromkeys(map(_entities_decoded, readings)))


def _at_edges_only(text: str) -> bool:
    """Whether ``text``'s markup, if any, is all at its start or its end (with spaces
    between: `<|im_start|>user\nQ<|im_end|>\n`, SFT data's trailing `<|endoftext|>`)."""
    found = list(_MARKUP_RE.finditer(text))
    edge, at = 0, 0
    for m in found:  # from the start
        if text[at : m.start()].strip():
            break
        edge, at = edge + 1, m.end()
    at = len(text)
    for m in reversed(found[edge:]):  # from the end
        if text[m.end() : at].strip():
            break
        edge, at = edge + 1, m.start()
    return edge == len(found)


def _tag_readings(text: str) -> list[str] | None:
    """``text`` without colour escapes and ruby's readings, its tags read each way
    :func:`markup_decoded` reads them (distinct readings); None when it holds no markup."""
    if _MARKUP_RE.search(text) is None:
        return None
    bare = _ANSI_RE.sub("", text)
    if "<" in bare:
        bare = _RUBY_TEXT_RE.sub("", bare)
    readings = [_TAG_RE.sub(_tag_as, bare), _TAG_RE.sub(" ", bare)]
    if _cuts_a_word(bare):
        readings.append(_TAG_RE.sub("", bare))  # joined
    return list(dict.fromkeys(readings))


def _entities_decoded(text: str) -> str:
    """``text``'s entities and percent-encoded bytes decoded (and ruby escaped as entities
    dropped)."""
    import html  # here: `check` imports this module, and rarely meets markup
    import urllib.parse

    decoded = html.unescape(text)
    if "<" in decoded and _RUBY_OPEN_RE.search(decoded):
        # Ruby escaped as entities (`&lt;rt&gt;`, a page's source shown as text): its tags
        # appear only once decoded (found by re-attack: the readings stayed).
        decoded = _TAG_RE.sub(_tag_as, _RUBY_TEXT_RE.sub("", decoded))
    return urllib.parse.unquote(decoded, errors="replace")


# A chat template's special token (`<|endoftext|>`, `<|im_start|>`): a tag with no name.
_SPECIAL_TOKEN = r"<\|[^<>]{0,199}>"
# A text whose only markup is such tokens: no entity or percent-encoded byte (no `&`, no
# `%`), no colour escape and no other tag, and none inside a word: each run of tokens has
# an ASCII space (or the text's start or end) before or after it. :func:`markup_decoded`
# reads each token as a space and changes nothing else (no named tag, no ruby, nothing to
# unescape or unquote, no joined reading: :func:`_cuts_a_word`). A token between two
# characters that are not spaces (RE2's `\s` is ASCII: a superset of Python's word
# characters on both sides) leaves the row to be decoded on its own.
_TOKENS = rf"(?:{_SPECIAL_TOKEN})+"
_SPECIAL_TOKENS_ONLY = rf"^[^<&%\x1b]*(?:(?:(?:^|\s){_TOKENS}|{_TOKENS}(?:\s|$))[^<&%\x1b]*)+$"


def _decoded(texts: pa.Array) -> pa.Array | None:
    """:func:`markup_decoded` for a column of texts: the rows without markup become ""
    (nothing to scan twice); None when no row has any.

    Rows whose only markup is special tokens (:data:`_SPECIAL_TOKENS_ONLY`: SFT data
    often ends every record in one), none of them inside a word, are decoded in one Arrow pass, to the same text."""
    from curagate import _kernels

    if not _any_true(_kernels.match_substring_regex(texts, "[&%<\x1b]")):
        return None  # every markup _MARKUP reads holds one: a small pattern to compile
    hits = _kernels.match_substring_regex(texts, _MARKUP)
    if not _any_true(hits):
        return None
    special = _kernels.fill_null(_kernels.match_substring_regex(texts, _SPECIAL_TOKENS_ONLY), False)
    empty = pa.scalar("", texts.type)
    fast = _kernels.if_else(
        special, _kernels.replace_substring_regex(texts, _SPECIAL_TOKEN, " "), empty
    )
    slow = [
        i
        for i, (h, s) in enumerate(zip(hits.to_pylist(), special.to_pylist(), strict=True))
        if h and not s
    ]
    if not slow:
        return fast
    out = fast.to_pylist()
    for i in slow:
        out[i] = markup_decoded(texts[i].as_py()) or ""
    return pa.array(out, texts.type)


# GSM8K's calculator annotations (`3*4=<<3*4=12>>12`): a copy of a golden answer written
# without them (as most reuses of GSM8K strip them) crossed one in every n-gram, and 6 of
# 20 answers so copied matched nothing (found by attack). Reference items are indexed
# without them, and a row holding them is also scanned without them.
CALCULATOR_MARK = "<<[^<>\n]{1,200}>>"
_CALCULATOR_MARK_RE = re.compile(CALCULATOR_MARK)


def without_calculator_marks(texts: pa.Array) -> pa.Array | None:
    """``texts`` with GSM8K's ``<<...>>`` calculator annotations taken out, the rows without
    any as "" (nothing to scan twice); None when no row has any."""
    from curagate import _kernels

    if not _any_true(_kernels.match_substring(texts, "<<")):
        return None  # (a literal look first: a regex is compiled anew at each call)
    hits = _kernels.match_substring_regex(texts, CALCULATOR_MARK)
    if not _any_true(hits):
        return None
    bare = _kernels.replace_substring_regex(texts, CALCULATOR_MARK, "")
    return _kernels.if_else(hits, bare, pa.scalar("", texts.type))


# Furigana in parentheses or brackets: a reading in hiragana or katakana (and the
# prolonged sound mark; a middle dot or a space inside, up to 32 in all) right after a Han
# character (a space between allowed), in ASCII or full-width parentheses (U+FF08, U+FF09),
# small ones (U+FE59, U+FE5A), square brackets (ASCII, full-width, as Anki writes them),
# lenticular (U+3010, U+3011) or tortoise-shell (U+3014, U+3015) brackets, or Aozora
# Bunko's double angle brackets (U+300A, U+300B; its bar U+FF5C may open a base of any
# characters), as Japanese text writes one where it cannot set ruby
# (`東京駅(とうきょうえき)`). Found by attack: a Japanese golden item so annotated, each
# reading between its characters, matched nothing; found by re-attack, in brackets other
# than parentheses, after a space, or with a `・` or space inside, it still did.
_KANA_RUN = r"[\p{Hiragana}\p{Katakana}ー][\p{Hiragana}\p{Katakana}ー・･ \x{3000}]{0,31}"
_BRACKETS: tuple[tuple[str, str], ...] = (
    ("(", ")"),
    ("\uff08", "\uff09"),
    ("\ufe59", "\ufe5a"),
    ("[", "]"),
    ("\uff3b", "\uff3d"),
    ("\u3010", "\u3011"),
    ("\u3014", "\u3015"),
    ("\u300a", "\u300b"),
)
READING = (
    r"(\p{Han}|\x{FF5C}[^\x{FF5C}\x{300A}\x{300B}\n]{1,32})[ \x{3000}]?(?:"
    + "|".join(f"\\x{{{ord(o):04X}}}{_KANA_RUN}\\x{{{ord(c):04X}}}" for o, c in _BRACKETS)
    + ")"
)


def without_readings(texts: pa.Array) -> pa.Array | None:
    """``texts`` with the furigana in parentheses or brackets after their Han characters taken out
    (:data:`READING`), the rows without any as "" (nothing to scan twice); None when no row
    has any."""
    from curagate import _kernels

    if not _any_true(_kernels.invert(_kernels.string_is_ascii(texts))):
        # A reading needs a Han character or U+FF5C: ASCII rows have none, and READING's
        # Unicode classes took ~4 ms to compile at each call (found by re-attack: most of
        # the 15-22 s `check` took over 1,000 small files with golden sets).
        return None
    hits = _kernels.match_substring_regex(texts, READING)
    if not _any_true(hits):
        return None
    bare = _kernels.replace_substring_regex(texts, READING, r"\1")
    return _kernels.if_else(hits, bare, pa.scalar("", texts.type))


def calculator_marks_removed(text: str) -> str:
    """``text`` without GSM8K's ``<<...>>`` calculator annotations (a reference item as
    indexed)."""
    return _CALCULATOR_MARK_RE.sub("", text) if "<<" in text else text


def _any_true(mask: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a boolean column holds a true (without ``pyarrow.compute``'s ``any``)."""
    chunks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
    return any(chunk.true_count for chunk in chunks)


def row_texts(
    table: pa.Table,
    fmt: RecordFormat | str,
    keys: pa.Array,
    text_field: str | None = None,
    preference_key: str = "prompt",
    media: pa.Array | None = None,
) -> RowTexts:
    """The key and every other string of each row of ``table`` (rows of format ``fmt``),
    with the rows' ``media`` identities (the batch's :attr:`~curagate.records.Batch.media`).

    Costs nothing beyond a look at the schema when the rows hold no string
    outside their key (the common case).
    """
    names = key_columns(RecordFormat(fmt), table.column_names, text_field, preference_key)
    in_key = set(names or ())
    fields = (
        tuple(_short(render_column(table.column(n).combine_chunks())) for n in names[:-1])
        if names and len(names) > 1 and table.num_rows
        else ()
    )
    parts: list[pa.Array] = []
    unreadable: list[tuple[int, str]] = []
    for i, column in enumerate(table.schema):
        if column.name == "id":
            continue
        if _text_name(column.name):
            # A record's own key holding text ({"<a golden item>": 1}, or a Parquet column
            # so named), in the rows that give it a value, as a nested key is: missed.
            name = pa.scalar(column.name, pa.large_string())
            valid = pc.is_valid(table.column(i).combine_chunks())
            parts.append(pc.if_else(valid, name, pa.scalar("", pa.large_string())))
        spec = KEY_SPEC if column.name in in_key else None
        if not _holds_text(column.type, spec):
            continue
        values = table.column(i).combine_chunks()
        bad: set[int] = set()
        parts.append(_texts(values, spec, bad))
        if column.name not in MEDIA_COLUMNS:  # (a Hub image's bytes are media, not text)
            unreadable.extend((row, column.name) for row in sorted(bad))
    if not parts or table.num_rows == 0:
        return RowTexts(keys, None, tuple(sorted(unreadable)), fields, media)
    return RowTexts(keys, _joined(parts), tuple(sorted(unreadable)), fields, media)


def _holds_text(dtype: pa.DataType, spec: Spec) -> bool:
    """Whether values of ``dtype`` can hold a string to scan outside the key."""
    t = pa.types
    if isinstance(dtype, pa.BaseExtensionType):
        return _holds_text(dtype.storage_type, spec)
    if t.is_dictionary(dtype):
        return _holds_text(dtype.value_type, spec)
    if _is_string(dtype):
        return spec is None
    if _is_binary(dtype):
        return True  # no key is made of bytes
    if _is_list(dtype):
        return _holds_text(dtype.value_type, spec)
    if t.is_struct(dtype):
        return any(
            _text_name(f.name) or _holds_text(f.type, _field_spec(spec, f.name)) for f in dtype
        )
    if t.is_map(dtype):
        return _holds_text(dtype.key_type, None) or _holds_text(dtype.item_type, None)
    if t.is_union(dtype):
        return any(_holds_text(f.type, None) for f in dtype)
    return False


def _texts(values: pa.Array, spec: Spec, bad: set[int]) -> pa.Array:
    """Per value, its strings outside the key joined (large_string, never null); adds
    to ``bad`` the values holding bytes that are not UTF-8."""
    dtype = values.type
    if isinstance(values, pa.ExtensionArray):
        return _texts(values.storage, spec, bad)
    if pa.types.is_dictionary(dtype):
        return _texts(values.dictionary_decode(), spec, bad)
    if _is_string(dtype):
        return _with_json_decoded(pc.fill_null(pc.cast(values, pa.large_string()), ""))
    if _is_binary(dtype):
        return _with_json_decoded(_binary_texts(values, bad))
    if _is_list(dtype):
        return _list_texts(values, spec, bad)
    if pa.types.is_struct(dtype):
        parts = []
        inner: set[int] = set()
        for i, f in enumerate(dtype):
            sub = _field_spec(spec, f.name)
            field = pc.struct_field(values, [i])
            if _text_name(f.name):  # a JSON object's key holding text: {"<a sentence>": 3}
                name = pa.scalar(f.name, pa.large_string())
                parts.append(pc.if_else(pc.is_valid(field), name, pa.scalar("", pa.large_string())))
            if _holds_text(f.type, sub):
                parts.append(_texts(field, sub, inner))
        bad.update(inner - _media_parts(values, inner) if inner else ())
        return _joined(parts) if parts else pa.repeat(pa.scalar("", pa.large_string()), len(values))
    return _python_texts(values, bad)  # maps, unions: rare, read in Python


def _media_parts(values: pa.StructArray, rows: set[int]) -> set[int]:
    """Which of ``rows`` of a struct array are media parts (:func:`is_media_part`): their
    bytes that are not UTF-8 (an image part's embedded ``{"bytes": ...}``) are media, not
    unreadable text. Only the part's ``type`` and a document's ``source`` are read."""
    names = [f.name for f in values.type]
    if "type" not in names:
        return set()
    kinds = pc.struct_field(values, [names.index("type")])
    source = pc.struct_field(values, [names.index("source")]) if "source" in names else None
    return {
        k
        for k in rows
        if is_media_part(
            {"type": kinds[k].as_py(), "source": None if source is None else source[k].as_py()}
        )
    }


def _list_texts(values: pa.Array, spec: Spec, bad: set[int]) -> pa.Array:
    """Each list's elements' texts joined by newlines ("" for a null list).

    Built from ``list_flatten`` and the lists' lengths, which agree for every
    list type (a null list's offsets need not, after a cast of a list view).
    """
    inner: set[int] = set()
    texts = _texts(pc.list_flatten(values), spec, inner)
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_pylist()
    bounds = [0, *accumulate(lengths)]
    if inner:
        bad.update(bisect_right(bounds, k) - 1 for k in inner)
    lists = pa.LargeListArray.from_arrays(pa.array(bounds, pa.int64()), texts)
    return pc.binary_join(lists, pa.scalar(SEPARATOR, pa.large_string()))


def _binary_texts(values: pa.Array, bad: set[int]) -> pa.Array:
    try:
        return pc.fill_null(pc.cast(values, pa.large_string()), "")
    except pa.ArrowInvalid:  # some value is not UTF-8: find which, read the rest
        out = []
        for k, raw in enumerate(values.to_pylist()):
            if raw is None:
                out.append("")
                continue
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                bad.add(k)
                out.append(raw.decode("utf-8", errors="replace"))
        return pa.array(out, pa.large_string())


def _python_texts(values: pa.Array, bad: set[int]) -> pa.Array:
    from curagate.io.readers import nanoseconds_as

    # Nanosecond times are no text, and Python's datetime cannot hold them (exit 3).
    plain = nanoseconds_as(values.type, pa.int64())
    if plain != values.type:
        values = values.cast(plain)
    out = []
    for k, value in enumerate(values.to_pylist()):
        strings, undecodable = _strings_and_bytes(value, decode_json=True)
        if undecodable:
            bad.add(k)
        out.append(SEPARATOR.join(strings))
    return pa.array(out, pa.large_string())


def _joined(parts: list[pa.Array]) -> pa.Array:
    """Element-wise join of equally long, null-free string arrays.

    (Not ``null_handling="skip"``: pyarrow 26 drops the rows where every part
    is null from its result, which would shift the rows after them.)
    """
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar(SEPARATOR, pa.large_string()))


def _text_name(name: str) -> bool:
    """Whether an object key is text rather than a field name: keys of records are names
    (``role``, ``score``, ``tool_call_id``); anything else is data, e.g. a sentence used
    as a key (``{"votes": {"<a golden item>": 3}}``, in any script: a Chinese sentence
    has no space), which training sees like any string."""
    return _FIELD_NAME.fullmatch(name) is None


# What a field name looks like: an ASCII identifier (dots, dashes, colons, @ and $ too:
# `meta.source`, `x-id`, `@type`).
_FIELD_NAME = re.compile(r"[A-Za-z_$@][A-Za-z0-9_$@.:\-]*")


def _field_spec(spec: Spec, name: str) -> Spec:
    return None if spec is None else spec.get(name)


def _is_string(dtype: pa.DataType) -> bool:
    t = pa.types
    return bool(t.is_string(dtype) or t.is_large_string(dtype) or t.is_string_view(dtype))


def _is_binary(dtype: pa.DataType) -> bool:
    t = pa.types
    return bool(
        t.is_binary(dtype)
        or t.is_large_binary(dtype)
        or t.is_binary_view(dtype)
        or t.is_fixed_size_binary(dtype)
    )


def _is_list(dtype: pa.DataType) -> bool:
    t = pa.types
    return bool(
        t.is_list(dtype)
        or t.is_large_list(dtype)
        or t.is_fixed_size_list(dtype)
        or t.is_list_view(dtype)
        or t.is_large_list_view(dtype)
    )


def _json_in(text: str) -> Any:
    """The JSON object or array ``text`` holds, else None (nothing more to scan)."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def strings_of(value: Any, decode_json: bool = False) -> list[str]:
    """Every string in a parsed JSON value, in document order; with ``decode_json``, each
    followed by the strings of the JSON it holds (:func:`json_decoded`)."""
    return _strings_and_bytes(value, decode_json)[0]


def conversations_of(value: Any) -> list[str]:
    """Each list of messages (objects with a ``role`` and a ``content``) in a parsed JSON
    value, at any depth, rendered as a key renders it ("role: content" lines,
    :func:`curagate.records.message_line`), in document order."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(reversed(v.values()))
        elif isinstance(v, list):
            turns = [isinstance(m, dict) and "role" in m and "content" in m for m in v]
            if any(turns):
                out.append("\n".join(message_line(m) for m, t in zip(v, turns, strict=True) if t))
            stack.extend(reversed([m for m, t in zip(v, turns, strict=True) if not t]))
    return out


def _strings_and_bytes(
    value: Any, decode_json: bool = False, views: bool = True
) -> tuple[list[str], bool]:
    """Every string in a value (parsed JSON, or Arrow's Python values: tuples of a
    map, bytes decoded as UTF-8), and whether some bytes were not UTF-8 (read
    with replacement characters); with ``decode_json``, each string followed by the
    strings of the JSON it holds (:func:`json_values`, :data:`MAX_JSON_LEVELS` deep), and
    (``views``) each string of ``value`` itself then by its escapes decoded in place
    (:func:`escapes_decoded`).
    Iterative: a value nested thousands deep must not overflow the stack."""
    out: list[str] = []
    undecodable = False
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, level = stack.pop()
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                undecodable = True
                v = v.decode("utf-8", errors="replace")
        if isinstance(v, str):
            out.append(v)
            if decode_json and level < MAX_JSON_LEVELS:
                # Its escapes decoded in place, after the strings of its JSON: at the top
                # level only, where the passes decode every level below too.
                view = escapes_decoded(v) if level == 0 and views else None
                if view is not None:
                    stack.append((view, MAX_JSON_LEVELS))
                stack.extend((x, level + 1) for x in reversed(json_values(v)))
        elif isinstance(v, dict):
            # A key is text when it reads as text (:func:`_text_name`, as for a struct's
            # fields): {"<a sentence>": 3} holds the sentence; "prompt" is a field name.
            parts: list[Any] = []
            for k, x in v.items():
                parts.extend((k, x) if _text_name(k) else (x,))
                if k == "arguments" and isinstance(x, str) and not decode_json:
                    # A tool call's arguments are JSON in a string, its text often escaped
                    # (\u0e41...): scanned decoded too, as the key renders them.
                    parts.append(_json_in(x))
            stack.extend((x, level) for x in reversed(parts))
        elif isinstance(v, list | tuple):
            stack.extend((x, level) for x in reversed(v))
    return out, undecodable
