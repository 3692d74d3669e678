"""The leakage scanner's "joined words split" view, built in the Rust core: every run of
characters that normalization deletes between two words read as a space (found by attack:
words glued by the unit separator U+001F, or by a joiner and a combining mark after it,
hid a golden item), checked against a reference written here from normalization itself,
and end to end."""

from __future__ import annotations

import gzip
import json
import random
import unicodedata
from functools import cache
from pathlib import Path

import pyarrow as pa
import pytest

from curagate import _core
from curagate.leakage import detect
from curagate.leakage.texts import _IGNORABLE_MARKS, ZWSP, _joined_split

DATA = Path(__file__).resolve().parents[1] / "data"


def _space(c: str) -> bool:
    return _core.normalize(f"a{c}b", nfkc=False, lowercase=False) == "a b"


def _kept(c: str) -> bool:
    return not _space(c) and _core.normalize(f"a{c}b", nfkc=False, lowercase=False) == f"a{c}b"


def _composed(a: str, b: str) -> str | None:
    together = unicodedata.normalize("NFC", a + b)
    return together if len(together) == 1 else None


@cache
def _kind(c: str) -> tuple[str, str]:
    """What normalization makes of ``c`` alone, after NFKC: ("space", c), ("kept", the
    character a mark after it sits on), ("mark", its NFKC form) or ("gone", c); a
    default-ignorable mark is always gone."""
    if _space(c):
        return "space", c
    if any(a <= ord(c) <= b for a, b in _IGNORABLE_MARKS):
        return "gone", c
    parts = unicodedata.normalize("NFKD", c)
    base, single = parts[0], True
    for d in parts[1:]:
        composed = _composed(base, d) if single else None
        base, single = (composed, True) if composed else (d, False)
    if any(_kept(d) for d in parts):
        return "kept", base
    if len(parts) == 1 and unicodedata.category(parts).startswith("M"):
        return "mark", parts
    return "gone", c


def _attached(on: str, mark: str) -> str | None:
    composed = _composed(on, mark)
    return composed if composed and all(_kept(x) for x in composed.lower()) else None


def _numeric(c: str) -> bool:
    return unicodedata.category(c)[0] == "N"


def _in_number(c: str) -> bool:
    import string

    return all(x in string.punctuation for x in unicodedata.normalize("NFKC", c))


def reference(text: str) -> str | None:
    """The view, in two steps: each character is a word character (kept, or a deleted
    mark that NFC composes with the character before it into one lowercasing keeps), a
    space, or a joiner; each run of joiners is one space unless it is ASCII punctuation
    (after NFKC) between a character whose NFKC form ends with a number and one whose NFKC
    form opens with one; None when no run so replaced stood between a word and a letter or
    number."""
    bare = text.replace(ZWSP, "")
    kinds: list[str] = []
    forms: list[str] = []
    for c in bare:
        kind, form = _kind(c)
        if kind == "mark":
            on = forms[-1] if kinds and kinds[-1] == "kept" else None
            attached = _attached(on, form) if on else None
            kind, form = ("kept", attached) if attached else ("gone", c)
        kinds.append(kind)
        forms.append(form)
    out, joined, i = [], False, 0
    while i < len(bare):
        if kinds[i] != "gone":
            out.append(bare[i])
            i += 1
            continue
        j = i
        while j < len(bare) and kinds[j] == "gone":
            j += 1
        numeric = (
            i > 0
            and j < len(bare)
            and kinds[i - 1] == kinds[j] == "kept"
            and _numeric(forms[i - 1])
            and _numeric(unicodedata.normalize("NFKD", bare[j])[0])
            and all(_in_number(c) for c in bare[i:j])
        )
        if numeric:
            out.append(bare[i:j])
        else:
            out.append(" ")
            joined |= i > 0 and kinds[i - 1] == "kept" and j < len(bare) and kinds[j] == "kept"
        i = j
    return "".join(out) if joined else None


# Characters assigned long ago (Python's unicodedata and the Rust core agree on them):
# letters and numbers of several scripts, marks that stay (Devanagari's vowel sign) and that
# go (the acute accent, which composes with `e` and not with `b`; the virama), characters
# NFKC changes (halfwidth kana and their voiced marks, the diaeresis U+00A8, a circled
# digit), punctuation, symbols, controls, private use, unassigned, spaces, the zero-width
# ones, and both ends of each default-ignorable range.
POOL = (
    list("abcXYZ019 \n\t-+=.,;:'\"!?()[]{}$%&*/_")
    + list("\u200b\u200c\u200d\u2013\u00ad\u0301\u0300\u20dd\u0660\u0661\u06cc\u0627\u4e00")
    + list("\u3002\uff0c\u0e01\u0e31\u20ac\U0001f600\u00b2\u2153\u2160\u3007\u0903\u093e")
    + list("\u0915\u094d\u200a\u2028\u00a0\u3000\x1e\x1f\x00\x7f\x9f\ue000\u0378")
    + list("e\u00e9\u0302\u0323\u00a8\u2460\uff76\uff9e\uff9f\u30ab\u3099\u05d0\u05b0")
    + list("I\u0307\u217c\u217e\u10d0\u1c90\u1cd0\uff0e\u05c1\u0591\u0434\u0483\u33a1")
    + [chr(c) for rng in _IGNORABLE_MARKS for c in rng]
)


def _random_texts(seed: int, n: int) -> list[str | None]:
    rng = random.Random(seed)
    texts: list[str | None] = [
        "".join(rng.choice(POOL) for _ in range(rng.randint(0, 30))) for _ in range(n)
    ]
    return [*texts, None, ""]


def _t0_texts() -> list[str | None]:
    with gzip.open(DATA / "t0_templates_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        return [" ".join(str(v) for v in json.loads(line).values()) for line in f]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_core_splits_where_normalization_deletes(seed: int) -> None:
    texts = _random_texts(seed, 20_000) + _t0_texts()
    split = _joined_split(pa.array(texts, pa.string()))
    assert split is not None and split.type == pa.string()
    assert split.to_pylist() == [reference(t) or "" if t else "" for t in texts]


@pytest.mark.parametrize(
    ("text", "view"),
    [
        ("Josh-decides-to-try", "Josh decides to try"),
        ("Josh\x1fdecides\x1fto", "Josh decides to"),  # the unit separator
        ("Josh\ue000decides", "Josh decides"),  # private use
        ("Josh-\u0301decides", "Josh decides"),  # a mark after a joiner
        ("Josh\u200d\u0300decides", "Josh decides"),
        ("a\u0301-b", "a\u0301 b"),  # a mark on a letter it composes with stays
        ("Josh\u0301decides", "Josh decides"),  # one it does not compose with glues
        ("Josh\uff9edecides", "Josh decides"),  # NFKC's U+3099 (found by re-attack)
        ("\uff76\uff9e\uff77", ""),  # halfwidth ga: composes
        ("\u0915\u094d\u0937", "\u0915 \u0937"),  # a virama glues too (found by re-attack)
        ("x-15.5-y,1,000", "x 15.5 y 1,000"),  # runs inside numbers stay
        ("3+x=5", "3 x 5"),
        ("caf\u0065\u0301 noir", ""),  # nothing joined
        ("15.5 and 1,000", ""),
    ],
)
def test_views_of_single_texts(text: str, view: str) -> None:
    split = _joined_split(pa.array([text, "a-b"]))
    assert split is not None
    assert split.to_pylist()[0] == view
    assert (reference(text) or "") == view


@pytest.mark.parametrize("arrow_type", [pa.large_string(), pa.string_view()])
def test_the_view_keeps_the_column_type(arrow_type: pa.DataType) -> None:
    column = pa.array(["Josh-decides", None, "plain text", "3+x=5"], arrow_type)
    split = _joined_split(column)
    assert split is not None and split.type == arrow_type
    assert split.to_pylist() == ["Josh decides", "", "", "3 x 5"]


def test_a_column_without_joined_words_has_no_view() -> None:
    assert _joined_split(pa.array(["hello, world!", "15.5 and 1,000", None, "", "a - b"])) is None


ITEM = "Josh decides to try flipping a house and buys one for eighty thousand dollars"


@pytest.mark.parametrize(
    "glue",
    ["-", "\x1f", "\x00", "\x1e", "\x7f", "\x9f", "\ue000", "\u0378", "-\u0301", "\u200d\u0300"],
)
def test_an_item_glued_by_what_normalization_deletes_is_found(tmp_path: Path, glue: str) -> None:
    # Found by attack: glued by a control, a private-use or unassigned character, or a
    # joiner with a combining mark after it, an item matched nothing (`check` exited 0);
    # by re-attack, glued by a halfwidth voiced sound mark (NFKC's combining U+3099), or a
    # mark the letter before it does not compose with.
    ref = tmp_path / "golden.jsonl"
    ref.write_text(json.dumps({"id": "g", "prompt": ITEM}) + "\n", encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": glue.join(ITEM.split())}) + "\n", encoding="utf-8")
    result = detect(ref, corpus)
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
