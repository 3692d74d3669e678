"""The Rust prefilter of the PII/secret scan is a superset of the Python scanner:
a text it skips never has a hit, so audit findings are unchanged."""

from __future__ import annotations

import os
from typing import Any

import pytest

from curagate import _core
from curagate.audit.pii import scan, scan_many

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SAMPLES = [
    "key AKIAIOSFODNN7EXAMPLE in the config",
    "token ghp_" + "a1B2" * 10,
    "write to jane.doe+news@example.co.uk today",
    "IBAN GB12 WEST 1234 5698 7654 31 please",
    "card 4111 1111 1111 1111 expires",
    "server at 192.168.10.20 and fe80::1ff:fe23:4567:890a",
    "call +44 20 7946 0958 or (555) 123-4567 or 555-123-4567",
    "secret Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==",
    "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "-----BEGIN RSA PRIVATE KEY-----",
    "link ?email=jane.doe%40gmail.com&x=1",
    "card 4111\u20111111\u20111111\u20111111, phone 555\u2013123\u20134567",
    # dot look-alikes and HTML dots; full-width letters, digits, plus and parentheses
    "mail jane.doe@gmail\u3002com or jane&#46;doe&#64;gmail&#x2e;com, ip 10\uff612\uff613\uff614",
    "IBAN \uff27\uff22\uff11\uff12\uff37\uff25\uff33\uff34\uff11\uff12\uff13\uff14"
    "\uff15\uff16\uff19\uff18\uff17\uff16\uff15\uff14\uff13\uff11 please",
    "call \uff0b44 20 7946 0958 or \uff08555\uff09 123-4567",
    "mail jane&#95;doe&#64gmail&#46com, TEL555-123-4567, ip 10\ufe121\ufe122\ufe123",
    "mail jo\u200bhn@gma\u2060il.c\ufeffom",
    "card 4111\u22121111\u22121111\u22121111, call 555\u2796123\u02d74567",
    # invisible characters inside numbers and addresses, read as not there
    "card 4111\u200b1111\u200b1111\u200b1111, call 555\u00ad-123-4567, ip 10.0\u2060.0.1",
]
FRAGMENTS = [
    "0",
    "1",
    "4",
    "7",
    "9",
    "٣",
    " ",
    "-",
    ".",
    ":",
    "::",
    "+",
    "(",
    ")",
    "@",
    "_",
    "/",
    "=",
    "a",
    "f",
    "Z",
    "GB",
    "DE",
    "AKIA",
    "ghp_",
    "sk-",
    "sk-ant-",
    "hf_",
    "xoxb-",
    "eyJ",
    "AIza",
    "k_live_",
    "example.com",
    "abcdefghij",
    "ABCDEFGHIJ",
    "0123456789",
    "\n",
    # ASCII boundaries next to CJK, phones grouped by spaces, PGP's key header
    "谢",
    "555",
    "4567",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    # dashes the scanner reads as "-" in card and phone numbers (non-breaking, en, full-width)
    "\u2011",
    "\u2013",
    "\uff0d",
    # an "@" URL-encoded
    "%40",
    "%",
    # dot look-alikes (ideographic, halfwidth, full-width, small, one dot leader) and the
    # dot as HTML references; full-width letters, digits, plus and parentheses
    "\u3002",
    "\uff61",
    "\uff0e",
    "\ufe52",
    "\u2024",
    "&#46;",
    "&#x2e;",
    "&period;",
    "\uff24",
    "\uff25",
    "\uff27",
    "\uff22",
    "\uff45",
    "\uff11",
    "\uff14",
    "\uff16",
    "\uff0b",
    "\uff08",
    "\uff09",
    "\u3000",
    # more dot look-alikes (vertical ideographic, stenographic), any character as a numeric
    # reference, its ";" optional; a label run into a phone, an address's context
    "\ufe12",
    "\u2e3c",
    "&#95;",
    "&#x2D;",
    "&#64",
    "&#46",
    "TEL",
    "\uff34",
    "ip",
    "//",
    ":80",
    # any character as a reference, named ones too (an "@" as a reference to a look-alike
    # of it), full-width colons, phone words, units
    "&#228;",
    "&uuml;",
    "&lowbar;",
    "&amp;",
    "&commat;",
    "&#65312;",
    "&#xFF20;",
    "&#65131",
    "\uff1a",
    "電話",
    "円",
    "Ver.",
    # invisible characters, which the e-mail pattern reads as not there
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "&#8203;",
    # minus look-alikes, which the scanner reads as "-" in IBANs, card and phone numbers
    "\u2212",
    "\u2043",
]


def test_every_sample_with_a_hit_is_a_candidate_and_prose_is_not() -> None:
    assert all(scan(t) for t in SAMPLES)
    assert _core.pii_candidates(SAMPLES) == [True] * len(SAMPLES)
    prose = ["What label best describes this news article? Business.", "Answer: 42"]
    assert _core.pii_candidates(prose) == [False, False]


def test_scan_many_equals_scan_text_by_text() -> None:
    texts = [*SAMPLES, "nothing here", ""]
    assert scan_many(texts) == [scan(t) for t in texts]


@settings(max_examples=int(os.environ.get("CURAGATE_FUZZ_EXAMPLES", "300")), deadline=None)
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=40), min_length=st.integers(8, 40))
def test_prefilter_never_skips_a_text_with_a_hit(parts: list[str], min_length: int) -> None:
    text = "".join(parts)
    if scan(text, min_length=min_length):
        assert _core.pii_candidates([text], min_length=min_length) == [True], text


def _families(text: str, min_length: int = 24) -> int:
    import pyarrow as pa

    got = _core.pii_candidate_families(pa.array([text]), min_length=min_length)
    return got[0][1] if got else 0


@settings(max_examples=int(os.environ.get("CURAGATE_FUZZ_EXAMPLES", "300")), deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS + SAMPLES), max_size=40), min_length=st.integers(8, 40)
)
@pytest.mark.slow
def test_scanning_only_the_prefilter_families_finds_the_same_hits(
    parts: list[str], min_length: int
) -> None:
    """Each family's prefilter pattern covers its Python patterns: skipping the families
    the prefilter rules out changes no hit (nor the spans that decide overlaps)."""
    text = " ".join(parts)
    fams = _families(text, min_length)
    assert scan(text, min_length=min_length, families=fams) == scan(text, min_length=min_length)


def test_each_sample_names_its_family() -> None:
    from curagate.audit import pii

    assert _families(SAMPLES[0]) & pii.SECRET
    assert _families(SAMPLES[2]) == pii.EMAIL
    assert _families(SAMPLES[3]) & pii.IBAN
    assert _families(SAMPLES[4]) & pii.CARD
    assert _families(SAMPLES[5]) & (pii.IPV4 | pii.IPV6) == pii.IPV4 | pii.IPV6
    assert _families(SAMPLES[6]) & pii.PHONE
    assert _families(SAMPLES[7]) & pii.LONG_TOKEN
    assert _families("nothing here") == 0
    # Without a family, its hits are not looked for: the bits do select the patterns.
    assert scan(SAMPLES[2], families=pii.ALL_FAMILIES & ~pii.EMAIL) == []


def test_every_dot_look_alike_and_full_width_form_passes_the_prefilter() -> None:
    """The scanner's DOTS and full-width forms (U+FF01-U+FF5E) are the Rust prefilter's:
    an address, IBAN or phone written with any of them is found, and its family named."""
    from curagate.audit import pii

    def wide(text: str) -> str:
        return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})

    for d in pii.DOTS:
        for ip in (f"10{d}1{d}2{d}3", wide(f"10{d}1{d}2{d}3")):
            assert [h.rule for h in scan(f"ip {ip} up")] == ["PII004"], ip
            assert _families(f"ip {ip} up") & pii.IPV4, ip
    for text, family in (
        ("pay " + wide("GB12 WEST 1234 5698 7654 31"), pii.IBAN),
        ("pay " + wide("gb12west12345698765431"), pii.IBAN),
        ("call " + wide("+44 20 7946 0958"), pii.PHONE),
        ("call " + wide("(555) 123.4567"), pii.PHONE),
    ):
        assert scan(text), text
        assert _families(text) & family, text


def test_candidate_rows_of_an_arrow_column_are_the_list_prefilter() -> None:
    """pii_candidate_families reads the column in place (every text type, chunks, nulls
    as "") and picks exactly the texts pii_candidates picks."""
    import pyarrow as pa

    texts: list[str | None] = ["plain prose, nothing here"] * 700
    for i, s in zip(range(5, 700, 35), SAMPLES, strict=False):
        texts[i] = s
    texts[1] = None
    expected = [i for i, m in enumerate(_core.pii_candidates([t or "" for t in texts])) if m]
    assert len(expected) == len(SAMPLES)
    for typ in (pa.string(), pa.large_string(), pa.string_view()):
        column = pa.array(texts, typ)
        assert _rows(column) == expected
        assert _rows(pa.chunked_array([column[:300], column[300:]])) == expected
    assert _rows(pa.array([], pa.string())) == []
    with pytest.raises(_core.ParameterError):
        _core.pii_candidate_families(pa.array(["a"]), min_length=0)


def _rows(column: Any) -> list[int]:
    return [row for row, _ in _core.pii_candidate_families(column)]


def test_the_scanners_at_signs_are_the_prefilters_email_family() -> None:
    """The scanner looks for addresses only in a text with an at-sign in one of the
    spellings the prefilter's e-mail family takes: the same pattern in both."""
    from pathlib import Path

    from curagate.audit import pii

    rust = Path(__file__).parents[2] / "rust/curagate-core/src/text/pii.rs"
    family = pii._AT_ANY.pattern.replace("\\uff20", "\\x{ff20}").replace("\\ufe6b", "\\x{fe6b}")
    assert f'    r"{family}",' in rust.read_text(encoding="utf-8")


def test_the_scanners_invisible_characters_are_the_prefilters() -> None:
    """The prefilter reads a text without the invisible characters the scanner reads it
    without (in IBANs, card and phone numbers and IPv4 addresses): the same set in both."""
    import re
    from pathlib import Path

    from curagate.audit import pii

    rust = (Path(__file__).parents[2] / "rust/curagate-core/src/text/pii.rs").read_text(
        encoding="utf-8"
    )
    array = re.search(r"pub const INVISIBLE: \[\(char, char\); \d+\] = \[(.*?)\];", rust, re.DOTALL)
    assert array is not None
    pairs = re.findall(r"\('\\u\{([0-9a-f]+)\}', '\\u\{([0-9a-f]+)\}'\)", array.group(1))
    assert tuple((int(a, 16), int(b, 16)) for a, b in pairs) == pii.INVISIBLE_RANGES


def test_the_invisible_characters_are_unicodes_default_ignorable_code_points() -> None:
    """The whole Default_Ignorable_Code_Point set, checked against the third-party `regex`
    module's Unicode tables where it is installed (the Rust tests check the Rust table
    against the regex crate's everywhere)."""
    regex = pytest.importorskip("regex")
    from curagate.audit import pii

    di = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    assert "".join(chr(c) for c in range(0x110000) if di.match(chr(c))) == pii.INVISIBLE
