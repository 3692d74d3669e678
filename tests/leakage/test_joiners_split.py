"""The leakage scanner's "joined words split" view, built in the Rust core, against the two
Arrow (RE2) regular expression passes it replaced, on random and real texts."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curagate.leakage.texts import _IGNORABLE_MARKS, ZWSP, _joined_split, with_joiners_split

DATA = Path(__file__).resolve().parents[1] / "data"

# The replaced implementation, verbatim: a row has joined words when a letter, number or
# mark, a run of joiners, then a letter or number follow each other; each run of joiners is
# then a space unless a digit stands on both sides, in two passes (a match takes the
# character it keeps beside the run, so `3+x=5` needs the second).
_JOINER_CLASS = (
    r"[\p{P}\p{S}\p{Cf}"
    + "".join(rf"\x{{{a:04X}}}-\x{{{b:04X}}}" for a, b in _IGNORABLE_MARKS)
    + "]"
)
_JOINED = rf"[\p{{L}}\p{{N}}\p{{M}}]{_JOINER_CLASS}+[\p{{L}}\p{{N}}]"
_NOT_IN_NUMBER = "[^\\p{N}" + _JOINER_CLASS[1:-1] + "]"
_JOINER_RUN = (
    f"({_NOT_IN_NUMBER}){_JOINER_CLASS}+|{_JOINER_CLASS}+({_NOT_IN_NUMBER})"
    f"|^{_JOINER_CLASS}+|{_JOINER_CLASS}+$"
)


def re2_joined_split(texts: pa.Array) -> list[str]:
    bare = pc.replace_substring(texts, ZWSP, "")
    hits = pc.match_substring_regex(bare, _JOINED)
    split = bare
    for _ in range(2):
        split = pc.replace_substring_regex(split, _JOINER_RUN, r"\1 \2")
    hits = pc.and_(hits, pc.not_equal(split, bare))
    return [s or "" for s in pc.if_else(hits, split, "").to_pylist()]


# Characters assigned long ago (Arrow's RE2 tables and the Rust core's Unicode 16 agree on
# them; characters assigned since differ, the core's being the newer): every class the
# view reads, the joiners that are also letters or marks (U+3164, U+FE0F), and both ends
# of each default-ignorable range (which holds the core's list to Python's).
POOL = (
    list("abcXYZ019 \n\t-+=.,;:'\"!?()[]{}$%&*/_")
    + list("\u200b\u200c\u200d\u2013\u00ad\u0301\u0660\u0661\u06cc\u0627\u4e00\u3002\uff0c")
    + list("\u0e01\u0e31\u20ac\U0001f600\u00b2\u2153\u3007\u0903\u200a\u2028\u00a0\u3000\x1e")
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
def test_the_core_reads_joined_words_as_the_regular_expressions_did(seed: int) -> None:
    texts = _random_texts(seed, 20_000) + _t0_texts()
    column = pa.array(texts, pa.string())
    split = _joined_split(column)
    assert split is not None and split.type == pa.string()
    assert [s or "" for s in split.to_pylist()] == re2_joined_split(column)


@pytest.mark.parametrize("arrow_type", [pa.large_string(), pa.string_view()])
def test_the_view_keeps_the_column_type(arrow_type: pa.DataType) -> None:
    column = pa.array(["Josh-decides", None, "plain text", "3+x=5"], arrow_type)
    split = _joined_split(column)
    assert split is not None and split.type == arrow_type
    assert split.to_pylist() == ["Josh decides", "", "", "3 x 5"]


def test_a_column_without_joined_words_has_no_view() -> None:
    assert _joined_split(pa.array(["hello, world!", "15.5 and 1,000", None, ""])) is None


def test_the_column_view_and_the_one_of_a_single_text_agree() -> None:
    texts = ["3+x=5", "1-a-b-2", "Section 3.a.4", "\u4e09.\u4e94 and a-b", "x-15.5-y", "a.-.b"]
    split = _joined_split(pa.array(texts))
    assert split is not None
    assert split.to_pylist() == [with_joiners_split(t) for t in texts]
    assert with_joiners_split("x-15.5-y,1,000") == "x 15.5 y 1,000"
