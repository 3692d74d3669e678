"""PII and secret scanners.

Each hit carries its rule id and span so the caller can count it, point at
the row and redact it; nothing here ever returns the matched text itself
(the audit reports must not become a second copy of the secrets).
Validators (Luhn, mod-97, ``ipaddress``) cut the false positives that
plain patterns give on numeric data.
"""

from __future__ import annotations

import bisect
import functools
import html
import html.entities
import ipaddress
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from curagate.records import is_non_text_part


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    start: int
    end: int
    kind: str  # e.g. "aws-access-key"; a category, never the value


# Boundaries are ASCII: Python's \w and \b count CJK (and every other script's)
# letters as word characters, so "邮箱john@example.com谢谢" or "密钥AKIA...谢谢" had
# no boundary around the value and nothing matched. A value ends where the next
# character cannot continue it, whatever script comes next.
_W = "A-Za-z0-9_"  # ASCII word characters
_START = rf"(?<![{_W}])"  # for \b before a value that starts with a word character
_END = rf"(?![{_W}])"  # for \b after one that ends with a word character
# Letters of any script (`josé.garcía@`, `пользователь@пример.рф`, full-width letters:
# an internationalized address was missed or redacted from its last ASCII letter on).
# (The invisible characters a copy may hold are read as not there, see _INVISIBLE.)
# Scripts written without spaces (CJK, kana, Thai, ...) and Hangul are not: in
# `邮箱bob@example.com谢谢` the address is the ASCII part.
_SPACELESS = (
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf"
    r"\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff66-\uff9d]"
)
_SPACED = rf"(?!{_SPACELESS})"
# Combining marks, which \w does not take (an accent typed after its letter, `e\u0301`; the
# vowel signs of Devanagari and the other Indic scripts: `राजेश@` was missed).
_MARKS = (
    r"\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    r"\u0900-\u0dff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_LOCAL = rf"(?:{_SPACED}[\w{_MARKS}.%+\-])"
_LETTER = rf"(?:{_SPACED}(?:[^\W\d_]|[{_MARKS}]))"


# The "@" URL-encoded too (`?email=jane.doe%40gmail.com`: links kept the address whole),
# full-width (U+FF20, with full-width dots U+FF0E too) and small (U+FE6B); as an HTML
# character reference it is read as HTML reads it (see _Unescaped).
_AT = r"(?:@|%40|\uff20|\ufe6b)"
_AT_SIGN = re.compile(_AT)
# What a text holds where an address may be: an at-sign in any spelling, a character
# reference to one too (`jane.doe&#64;gmail.com`, `&#x40;`, `&#64` without its ";",
# `&commat;`), to its full-width or small form as well (`jane&#65312;gmail.com`, `&#xFF20;`,
# `&#65131;`, `&#xfe6b;`: HTML reads them as the at-signs _AT takes, and the address was
# missed). The pattern of the e-mail family of rust/curagate-core/src/text/pii.rs: keep
# the two the same.
_AT_ANY = re.compile(
    r"@|%40|\uff20|\ufe6b|&#0*(?:64|65312|65131)|&#[xX]0*(?:40|[fF][fF]20|[fF][eE]6[bB])"
    r"|&commat;"
)
# The dot and its look-alikes: one dot leader, small full stop, full-width, ideographic and
# halfwidth ideographic full stops, the vertical form of the ideographic one and the
# stenographic full stop (`jane@gmail\u3002com`, `192\u3002168\u30021\u30022`: a reader, a
# mail client or a browser's IDNA takes them as dots; each was in no finding).
# Keep in step with `DOTS` in rust/curagate-core/src/text/pii.rs.
DOTS = ".\u2024\ufe52\uff0e\u3002\uff61\ufe12\u2e3c"
_AS_DOT = {ord(c): "." for c in DOTS}
_EMAIL = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}{{1,64}}{_AT}"
    rf"(?:(?:{_SPACED}[\w{_MARKS}-]){{1,63}}[{DOTS}])+"
    rf"{_LETTER}{{2,24}}(?!{_SPACED}[\w{_MARKS}])"
)
_TLD = re.compile(rf"{_LETTER}{{2,24}}")
# The invisible characters: Unicode's Default_Ignorable_Code_Point, the whole set
# (DerivedCoreProperties.txt, Unicode 16; a test holds it to the Rust regex crate's table and
# this to `INVISIBLE` in rust/curagate-core/src/text/pii.rs): the soft hyphen, the zero-width
# space, non-joiner and joiner, the word joiner and the zero-width no-break space (the byte
# order mark), the invisible operators, the marks and controls of writing direction, the
# combining grapheme joiner, the variation selectors (Mongolian ones too), the Mongolian vowel
# separator, Khmer's inherent vowels, the Hangul fillers, the tag characters, the shorthand
# and musical format controls, and the code points Unicode reserves as ignorable (U+2065,
# U+FFF0-U+FFF8, U+E0000-U+E0FFF). A renderer draws none of them. The e-mail pattern
# reads a text as its reader sees it, without them: one in the domain hid the address
# (`john@gma\u200bil.com`: a page's or a mailer's copy holds them, a mail client drops
# them), and the address is reported as written, with them. (Found by attack: a hand-picked
# list of 23 left U+034F, U+FE0F, U+180B, U+3164, the tags and others hiding a card, a phone,
# an IPv4 address or an IBAN when put between its digits.)
INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
INVISIBLE = "".join(chr(c) for a, b in INVISIBLE_RANGES for c in range(a, b + 1))
_INVISIBLE = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in INVISIBLE_RANGES) + "]+")
_NO_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))
# An HTML character reference: numeric, decimal or hexadecimal, its ";" optional as HTML
# reads it (`&#46com` is ".com"; `&#461` is no "." then "1"), or named with its ";".
_CHAR_REF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9A-Fa-f]+;?|[A-Za-z][A-Za-z0-9]{1,31};)")


# What _Unescaped reads otherwise than written.
_HIDDEN = re.compile(f"{_CHAR_REF.pattern}|{_INVISIBLE.pattern}")


@functools.lru_cache(maxsize=4096)
def _decoded(ref: str) -> str:
    """What HTML reads a character reference as ("" for none)."""
    return html.entities.html5.get(ref[1:], "") if ref[1] != "#" else html.unescape(ref)


@functools.lru_cache(maxsize=4096)
def _read_as(piece: str) -> str | None:
    """What _Unescaped reads a match of _HIDDEN as: a reference's characters, the invisible
    ones left out (None: no reference HTML reads, `&nosuch;`, `&#1;`)."""
    if piece[0] != "&":
        return ""
    c = _decoded(piece)
    return c.translate(_NO_INVISIBLE) if c else None


class _Unescaped:
    """A text with its HTML character references read as HTML reads them and its invisible
    characters (INVISIBLE, written as references too: `&#8203;`) left out, and the way back
    to the text's own spans: a page's or a mailer's escaping writes any character of an
    address as one (`jane&#95;doe&#64;gmail&#46;com`, `j&#228;ne@m&uuml;ller.de`,
    `&#106;&#97;&#110;&#101;&#64;...`, `jane&commat;gmail&period;com`). Decoding once keeps
    the e-mail pattern plain: one with every reference it may meet backtracked on runs of
    them (`"&#106;" * 20000` took ten times the scan before it)."""

    def __init__(self, text: str, hidden: re.Pattern[str] = _HIDDEN) -> None:
        # each reference HTML reads (not `&nosuch;`, `&#1;`) and each invisible character:
        # its span in the text, its characters here ("" for an invisible one). ``hidden``
        # _INVISIBLE: the invisible characters alone, the references read as written.
        refs = [
            (m.start(), m.end(), c)
            for m in hidden.finditer(text)
            if (c := _read_as(m.group())) is not None
        ]
        self.orig = [(a, b) for a, b, _ in refs]
        # where each starts and ends here: what the references before it shortened the text
        cut = itertools.accumulate((b - a - len(c) for a, b, c in refs), initial=0)
        self.starts = [a - k for (a, _, _), k in zip(refs, cut, strict=False)]
        self.ends = [s + len(c) for s, (_, _, c) in zip(self.starts, refs, strict=True)]
        ends = [0] + [b for _, b, _ in refs]
        self.text = "".join(
            [piece for (a, _, c), e in zip(refs, ends, strict=False) for piece in (text[e:a], c)]
            + [text[ends[-1] :]]
        )

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The text's span of ``self.text[start:end]`` (not empty): a reference is whole in
        it where it holds what the reference decodes to."""
        return self._place(start)[0], self._place(end - 1)[1]

    def _place(self, i: int) -> tuple[int, int]:
        """The text's span of decoded character ``i``: its reference's, or its own (after
        the invisible characters before it, which take no place here)."""
        k = bisect.bisect_right(self.starts, i) - 1
        if k >= 0 and i < self.ends[k]:
            return self.orig[k]
        p = i if k < 0 else i - self.ends[k] + self.orig[k][1]
        return p, p + 1


# `git@github.com:org/repo.git`, `git@myhost:repo.git`, `ssh://git@github.com/org/repo`: a
# git remote over SSH (the user `git` at a host, then ":" or "/" and a path), no address.
# Found by the re-attacks: any user then ":" and "/" was one, and
# `jane.doe@gmail.com:12/05/2024` (a log line) or `jane@corp.com:~/notes` went into
# sample.jsonl unredacted; then any user with a path to a `.git` repository, and
# `jane.doe@gmail.com:thesis.git` did. A person's address followed by a path is an address
# as much as without it.
_GIT_PATH = re.compile(r"[:/][\w.~-]")
# Reserved for documentation (RFC 2606, RFC 6761): an address there is a placeholder, as
# the PII001 fix advises (user@example.com); the audit flagged its own advice.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
_EXAMPLE_TLDS = frozenset({"example", "test", "invalid", "localhost"})
# A retina asset's name (`icon@2x.png`, `logo@1.5x.webp`, `icon%402x.png` in a URL): an "@"
# and a scale, then an image file's extension where the top-level domain would be. None is a
# TLD; each was an address.
_SCALED_ASSET = re.compile(
    _AT + r"\d{1,2}(?:\.\d{1,2})?x\.(?:png|jpe?g|gif|webp|avif|svg|bmp|ico|tiff?|heic)",
    re.IGNORECASE,
)
# A label run into the number (`TEL555-123-4567`, `Tel+44 20 7946 0958`, `call+1 202 ...`):
# letters before a phone are an identifier's (`SKU555-123-4567`), but for these words.
_PHONE_LABEL = "|".join(
    rf"(?<=(?<![A-Za-z])(?i:{'|'.join(words)}))"
    for words in (("tel", "fax"), ("call", "cell"), ("phone",), ("mobile",))
)
# After the "+": a decimal number is none, digits, one dot and one to six digits with no
# group after them (`+40.7128, -74.0060`, `+3.14159`: found by attack, the digits split into
# groups made them phones), or `0.` and a fraction of any length (`pH rose by +0.1234567`).
# Seven digits or more after the one dot are a phone's number after its country code, as
# WHOIS (RFC 5733) writes it (`Phone: +1.4155552671`: missed once decimals were none, found
# by re-attack); dots in three groups or more separate a phone's (`+1.202.555.0100`).
_PHONE = re.compile(
    rf"(?:(?<![A-Za-z_+\d])|{_PHONE_LABEL})(?:"
    r"\+(?!0\.|\d+\.\d{1,6}(?![ .-]?\d))\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"  # +44 20 7946 0958
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (555) 123-4567, (555) 123 4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    # 555 123 4567: spaces alone also separate lists of numbers ("add 100 250 1000"), so
    # the area code is a real one (2-9 first) and no number stands right before or after.
    r"|(?<!\d )[2-9]\d{2} \d{3} \d{4}(?! \d)"
    r")(?![A-Za-z_\d])"
)
# A run of 13 or more digits, one or two spaces or hyphens between: a card is the whole run or a
# window of its groups (`4111 1111 1111 1111 12/25`, `card 5500 0000 0000 0004 123`: the run
# as a whole failed the Luhn sum and the card beside an expiry or CVV was missed).
# (The scan reads no-break, thin and other spaces and tabs as " ", see _SPACES, and the
# Unicode dashes and minus signs as "-", see _DASHES.)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]{1,2}\d|\d){12,}(?![\d-])")
_CARD_GROUP = re.compile(r"\d+")
# A decimal point (the Arabic decimal separator U+066B and the middle dot U+00B7 too; a
# full-width dot reads as "." in the text the card pattern reads) with a digit before it: the
# digits after it are a number's fraction, no card. Found by attack: the fractions of ordinary
# floats (`The loss is 0.5409537045890636.`, `latitude 45.4539148803436467`) pass the prefix
# and Luhn checks by chance, about one float in forty, and were reported as cards. See
# _decimal_fraction for the rest (a leading dot, a decimal comma, an exponent). The digits
# before a decimal point are a card still: a float64 with a 16-digit whole part has no
# fraction bits, and a card column with a missing value prints `4111111111111111.0`.
_DECIMAL_POINTS = ".\u066b\u00b7"
# What may stand before a leading decimal point (`loss .54...`, `x=-.54...`, `(45.1, .54...)`,
# `value:.54...`, `".54..."`, `a;.54...`, `1/.54...`, `2*.54...`): the text's start, any
# space or line end, a sign or an opening bracket, an operator, a quote or a separator; a
# letter or another character before the dot (`No.4111...`, `(see above).4111...`) leaves
# a card.
_BEFORE_LEADING_POINT = "-+=([{,:;\"'/*<>|"
# What may stand before the whole part of a decimal comma (`Verlust 0,54...`, `-45,54...`,
# `(45,54...)`, `x=0,54...`, `45,54...;7,12`): the text's start, any space or line end, a
# sign (with no digit before it), an opening bracket, "=", a quote or ";", the separator of
# the CSV that writes decimal commas. Not ":" (`Preis:12,4111...` is a card) nor a letter.
_BEFORE_DECIMAL_COMMA = "-+=([{;\"'<>|"
# An exponent right after the digits (`5409537045890636e-16`, Fortran's `...D-16`, and
# `...\u00d710^-16`, `...*10**-16`, `... \u00d7 10\u207b\u00b9\u2076`): they are a number's mantissa.
_EXPONENT = re.compile(
    r"[eE][+-]?\d|[dD][+-]\d"
    r"| ?[\u00d7\u22c5\u00b7*xX] ?10(?:(?:\^|\*\*)[+-]?\d|\u207b?[\u2070\u00b9\u00b2\u00b3\u2074-\u2079])"
)
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5|4[4-9])|35|30[0-5]|36|38)")
# Dots full-width too (U+FF0E), as full-width text writes them with full-width digits, and
# the other look-alikes (DOTS: `192\u3002168\u30021\u30022`). A dot (not an ideographic full
# stop) right before the address refuses it (`Ver.1.0.2.3`, `No.1.2.3.4`,
# `Newtonsoft.Json.13.0.1.0.nupkg`), as does one after it with a digit or "_" beyond
# (`1.2.3.4.5`, a version); one with a word beyond is decided by _version_or_file. One ending
# the sentence (`192.168.1.20.`, `地址是192.168.1.20\u3002`) is none of the address, and an
# ideographic full stop after it refuses it only when another dotted group follows
# (`1\u30022\u30023\u30024\u30025`, not `10.0.0.1\u30022号服务器`: a sentence starting with a number).
_STOPS = "\u3002\uff61\ufe12"
_POINTS = "".join(c for c in DOTS if c not in _STOPS)  # the dots that are no full stops
_IPV4 = re.compile(
    rf"(?<![A-Za-z_\d{_POINTS}])(?<!\d[{_STOPS}])(?:\d{{1,3}}[{DOTS}]){{3}}\d{{1,3}}"
    rf"(?![A-Za-z_\d])(?![{_POINTS}][\d_])"
    rf"(?![{_STOPS}]\d+(?:[{DOTS}]|\s|$))"
)
# A dot and a word after dotted numbers: the word, then the dots ending the sentence (a dot
# or three then no letter, digit, "_" or "-": `Done.`) or the character the word runs on into.
_DOT_WORD = re.compile(
    rf"[{_POINTS}](?P<word>[A-Za-z]+)(?:(?P<stop>\.+)(?![A-Za-z\d_-])|(?P<on>[\d_.-]))?"
)
# Tags of a version's after such a dot, in any case (`4.0.0.1.Beta`, `1.2.3.4.Final`,
# `2.0.0.1.rc`, `1.2.3.4.SNAPSHOT`).
_VERSION_TAG = re.compile(
    r"final|ga|release|rel|snapshot|alpha|beta|rc|pre|preview|dev|post|stable|lts|nightly"
    r"|canary|milestone|hotfix|build|sp|esr",
    re.IGNORECASE,
)
# One-word sentences in capitals (`10.0.0.1.OK.`): after the numbers, their dot ending the
# sentence, they are the next sentence, the space left out. Any other word in capitals there
# reads as a version's tag or a file's (`1.0.0.1.RTM.`, `5.4.2.1.CR.`, `1.2.3.4.XLS.`).
_CAPITALS_SENTENCE = re.compile(
    r"ok|okay|done|yes|no|thanks|thx|fixed|works|bye|hi|hello|sorry|please|pls", re.IGNORECASE
)


def _version_or_file(text: str, start: int, end: int) -> bool:
    """Whether the dotted numbers at ``text[start:end]`` are a version or a file's name, no
    address, by the dot and word after them.

    A word for an address among the characters before (_IP_WORDS, the numbers not run on
    from a file's name by a "-"), or a URL's `//` right before, makes them one whatever
    follows (`server 10.0.0.1.next time`, `my ip is 10.0.0.1.Log me in`, `server
    10.0.0.1.png is the screenshot`): fail closed. Else they are a version or a file's name when the word runs on into a digit,
    "_", "-" or a dot and more (`lib-1.2.3.4.Final.jar`, `10.0.0.1.Preview2`,
    `10.0.0.1.nip.io`), is a version's tag in any case (_VERSION_TAG: `Release
    4.0.0.1.Beta`), is in small letters (a file's extension or a tag, listed or not:
    `model-1.0.0.1.safetensors`, `1.2.3.4.x`), or in capitals (`1.2.3.4.RELEASE`,
    `1.0.0.1.RTM.`) but for a one-word sentence in capitals ending with its dot
    (_CAPITALS_SENTENCE: `10.0.0.1.OK.`). A capital and small letters, or a capital alone,
    is the next sentence, its space left out (`at 10.0.0.1.Next we`, `10.0.0.1.I`,
    `Connect to 10.0.0.1.Log in`: a file's extension is read in small letters or capitals
    only), a whole one too (`ssh to 172.16.0.1.Done.`): the address's.
    Found by attacks: a word for a version before the numbers (`DHCP release 10.0.0.5`)
    said nothing of them; words in small letters read as the next sentence made files
    (`screenshot-1.2.3.4.png`) addresses, then, read as files, hid `server 10.0.0.1.next
    time`; extensions matched in any case hid `Connect to 10.0.0.1.Log in as admin.`; any
    word in capitals ending the sentence made `We shipped 1.0.0.1.RTM.` an address."""
    m = _DOT_WORD.match(text, end)
    if m is None:
        return False
    if text.endswith("//", 0, start) or (
        not text.endswith("-", 0, start) and _words_before(_IP_WORDS, text, start, _IP_WINDOW)
    ):
        return False  # said to be an address (a word for one, a URL's `//`)
    word = m["word"]
    if m["on"] is not None or _VERSION_TAG.fullmatch(word) is not None:
        return True
    lower, capitals = word[0].islower(), len(word) > 1 and word[:2].isupper()
    if not (lower or capitals):
        return False  # the next sentence
    # a word in capitals is a tag or a file's type, but for a sentence of one: `OK.`
    return not (capitals and m["stop"] is not None and _CAPITALS_SENTENCE.fullmatch(word))


# What says that numbers apart by ideographic full stops are an address: a word for one
# (IP, host, server, address, ...; 地址, 服务器, アドレス, サーバ, 주소, ...) among the
# characters just before (read NFKC: `\uff29\uff30\uff1a`), a URL's `//` or a user's `@` right before,
# a port after (its colon full-width too). "Connect" is one but for a count of
# connections (`连接数\uff1a12\u300234\u300256\u300278`); "access" and "visit" (`アクセス数`,
# `访问量`) are counts of visits.
_IP_WORDS = re.compile(
    r"(?<![A-Za-z])(?:ip(?:v4)?|host(?:name)?|server|addr(?:ess)?|ping|dns|gateway|router"
    r"|proxy|url)(?:e?s)?(?![A-Za-z])"
    r"|地址|网址|網址|位址|主机|主機|服务器|伺服器|服務器|网关|閘道"
    r"|(?:连接|連接|連線|接続)(?![数數量率次])"
    r"|アドレス|サーバ|ホスト|ゲートウェイ|주소|서버|호스트",
    re.IGNORECASE,
)
_IP_WINDOW = 12  # characters before the address where such a word counts
_PORT = re.compile(r"[:\uff1a]\d{1,5}(?!\d)")


def _ip_context(text: str, start: int, end: int) -> bool:
    """Whether the text around ``text[start:end]`` says it is an IP address (see _IP_WORDS)."""
    return (
        text.endswith(("//", "@"), 0, start)
        or _PORT.match(text, end) is not None
        or _words_before(_IP_WORDS, text, start, _IP_WINDOW)
    )


_IPV6 = re.compile(
    r"(?<![A-Za-z_:.\d])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)?(?![A-Za-z_:\d])"
)


def _ipv6_shaped(cand: str) -> bool:
    """Whether a candidate ``ipaddress`` takes looks like an address, not code: the full
    form (eight groups) does; one with ``::`` needs two groups beside it, a digit, and a
    group with a hex letter, or three groups. Slices (`s[::-1]`, `a[1::2]`,
    `signal[1000::4]`), Haskell's `map :: (a -> b)`, RST's `example ::` and C++'s
    `Face::add` were addresses, and sample.jsonl read `s[[REDACTED:PII004]-1]`. `::` and
    `::1` (unspecified, loopback) name no host, so they are not reported; nor is an
    address of two decimal groups (`2001::1`), which reads as a slice."""
    if "::" not in cand:
        return True
    groups = [g for g in cand.split(":") if g]
    return (
        len(groups) >= 2
        and any(c.isdigit() for c in cand)
        and (len(groups) >= 3 or any(not g.isdigit() for g in groups))
    )


# Groups apart by a space or a hyphen (`GB82-WEST-1234-5698-7654-32`); in small letters
# only written compact (`de89370400440532013000`: a form copied from a bank's page): small
# words in groups of four are prose.
_IBAN = re.compile(
    rf"{_START}[A-Z]{{2}}\d{{2}}(?:[ -]?[A-Z0-9]{{4}}){{2,7}}(?:[ -]?[A-Z0-9]{{1,4}})?{_END}"
)
_IBAN_COMPACT = re.compile(rf"{_START}[A-Za-z]{{2}}\d{{2}}[A-Za-z0-9]{{11,30}}{_END}")
# Documentation IBANs (the SWIFT IBAN registry's examples, and ECBS's): placeholders, as
# the PII005 fix advises; the audit flagged its own advice.
_EXAMPLE_IBANS = frozenset(
    {
        "GB82WEST12345698765432",  # SWIFT registry, United Kingdom
        "GB33BUKB20201555555555",  # SWIFT registry
        "DE89370400440532013000",  # SWIFT registry, Germany
        "FR1420041010050500013M02606",  # SWIFT registry, France
        "NL91ABNA0417164300",  # SWIFT registry, Netherlands
        "CH9300762011623852957",  # SWIFT registry, Switzerland
        "ES9121000418450200051332",  # SWIFT registry, Spain
        "IT60X0542811101000000123456",  # SWIFT registry, Italy
        "BE68539007547034",  # SWIFT registry, Belgium
        "AT611904300234573201",  # SWIFT registry, Austria
    }
)
# Documentation addresses (RFC 5737: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; RFC
# 3849: 2001:db8::/32), as the PII004 fix advises.
_EXAMPLE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


@dataclass(frozen=True, slots=True)
class _Span:
    """A match's place, as :class:`re.Match` gives it."""

    begin: int
    stop: int

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.stop


class _Finder(Protocol):
    def finditer(self, text: str) -> Iterator[re.Match[str] | _Span]: ...


class _Jwt:
    """``eyJ<8+>.eyJ<8+>.<8+>`` (base64url), found in linear time: as one regex, every
    ``eyJ`` of a long run without a dot rescanned the run for the dot ("-eyJ" x 80,000
    took 27 s). Runs are matched whole from where they start, then the token's start is
    the first ``eyJ`` in the first run that a word character does not precede; when there
    is none (``session.eyJ...``), the search goes on from the next run."""

    _RUNS = re.compile(
        r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]++\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+"
    )
    _HEAD = re.compile(rf"{_START}eyJ[A-Za-z0-9_-]{{8}}")

    def finditer(self, text: str) -> Iterator[_Span]:
        pos = 0
        while (m := self._RUNS.search(text, pos)) is not None:
            dot = text.index(".", m.start())
            head = self._HEAD.search(text, m.start(), dot)
            if head is not None:
                yield _Span(head.start(), m.end())
                pos = m.end()
            else:  # no token starts in the first run ("session.eyJ..."): try the next one
                pos = dot + 1


class _PrivateKeyBlock:
    """A private key's BEGIN line and, when one follows, everything up to its END line, in
    linear time: a lazy ``[\\s\\S]*?`` searched from every BEGIN to the end of the text
    (2,000 headers without an END took 3 s, 20,000 took minutes). The END lines are found
    once; each block ends at the first END after its BEGIN."""

    _BEGIN = re.compile(r"-{4,5} ?BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)? ?-{4,5}")
    _END_LINE = re.compile(r"-{4,5} ?END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)? ?-{4,5}")

    def finditer(self, text: str) -> Iterator[_Span]:
        ends = [(m.start(), m.end()) for m in self._END_LINE.finditer(text)]
        starts = [s for s, _ in ends]
        done = 0
        while (m := self._BEGIN.search(text, done)) is not None:  # from the previous block's end
            k = bisect.bisect_left(starts, m.end())
            done = ends[k][1] if k < len(ends) else m.end()
            yield _Span(m.start(), done)


class _SkKey:
    """``sk-`` keys (OpenAI, and DeepSeek, OpenRouter and others of that shape) but URL slugs
    and CSS classes (`sk-hynix-posts-record-quarterly-profit`, `sk-fading-circle`): a key
    has a random part of 16 characters or more between its hyphens, or mixes capitals,
    small letters and digits; a slug's words are short and in small letters."""

    _PATTERN = re.compile(rf"{_START}sk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{{20,}}")
    _PART = re.compile(r"[A-Za-z0-9]{16,}")
    _MIXED = re.compile(r"(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])", re.DOTALL)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        for m in self._PATTERN.finditer(text):
            body = m.group()[3:]
            if self._PART.search(body) or self._MIXED.match(body):
                yield m


# (kind, pattern, literal prefixes): the regex runs only when a prefix occurs,
# which keeps the scan cheap on ordinary text.
_KEYS: list[tuple[str, _Finder, tuple[str, ...]]] = [
    ("aws-access-key", re.compile(rf"{_START}(?:AKIA|ASIA)[0-9A-Z]{{16}}{_END}"), ("AKIA", "ASIA")),
    (
        "github-token",
        re.compile(rf"{_START}gh[pousr]_[A-Za-z0-9]{{36,}}{_END}"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    ("github-pat", re.compile(rf"{_START}github_pat_[A-Za-z0-9_]{{22,}}{_END}"), ("github_pat_",)),
    # (a \b after [..-]: the last character is a word character)
    (
        "gitlab-token",
        re.compile(rf"{_START}glpat-[A-Za-z0-9_-]{{19,}}[{_W}]{_END}"),
        ("glpat-",),
    ),
    ("anthropic-key", re.compile(rf"{_START}sk-ant-[A-Za-z0-9_-]{{20,}}"), ("sk-ant-",)),
    ("openai-key", _SkKey(), ("sk-",)),
    ("huggingface-token", re.compile(rf"{_START}hf_[A-Za-z]{{30,}}{_END}"), ("hf_",)),
    ("slack-token", re.compile(rf"{_START}xox[abprs]-[A-Za-z0-9-]{{10,}}"), ("xox",)),
    (
        "stripe-key",
        re.compile(rf"{_START}[sr]k_(?:live|test)_[0-9A-Za-z]{{16,}}{_END}"),
        ("k_live_", "k_test_"),
    ),
    ("google-api-key", re.compile(rf"{_START}AIza[0-9A-Za-z_-]{{35}}"), ("AIza",)),
    ("jwt", _Jwt(), ("eyJ",)),
    # RSA, EC, OPENSSH, ENCRYPTED, SSH2 ENCRYPTED, ... and PGP's "PRIVATE KEY BLOCK", with
    # PEM's five dashes or RFC 4716's four and a space: the whole block up to its END line
    # when there is one (the sample redacts the key, not just its header).
    ("private-key", _PrivateKeyBlock(), ("PRIVATE KEY",)),
    # PuTTY's key file: its private part follows this header.
    ("private-key", re.compile(r"PuTTY-User-Key-File-\d+: "), ("PuTTY-User-Key-File",)),
]
_HEX = re.compile(r"[0-9a-fA-F]+")


@functools.lru_cache(maxsize=8)
def _long_tokens(min_length: int) -> re.Pattern[str]:
    return re.compile(r"[A-Za-z0-9+/=_-]{" + str(min_length) + ",}")


def _card_digits(text: str) -> str:
    """Any script's decimal digits (full-width, Arabic-Indic) as ASCII: \\d matched them,
    the prefix and the Luhn sum read ASCII only."""
    digits = text.replace(" ", "").replace("-", "")
    return digits if digits.isascii() else "".join(str(unicodedata.digit(c)) for c in digits)


def _is_card(text: str) -> bool:
    digits = _card_digits(text)
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def _card_layout(sizes: list[int]) -> bool:
    """Whether digit groups of these sizes are written as cards are: one group, groups of
    four (the last may be shorter: 4-4-4-4-3), or 4-6-5 / 4-6-4. A window of any groups
    made cards of ordinary number lists (`2 3 5 7 11 13 17 19 23 29 31`): about one
    window in ten passes the Luhn sum by chance."""
    if len(sizes) == 1:
        return True
    if sizes in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _card_head(sizes: list[int]) -> bool:
    """Whether groups of these sizes can be followed by more in a card's layout: 4, 4-4, ...
    or 4-6 (of 4-6-5 / 4-6-4). A line of a thousand one-digit numbers tried 19 windows
    at each."""
    return sizes[0] == 4 and (all(n == 4 for n in sizes[1:]) or sizes[1:] == [6])


def _decimal_fraction(run: re.Match[str], grouped: bool, first: int) -> bool:
    """Whether the first group of the digit ``run`` (``first`` digits long; ``grouped``: the
    run has more than one group) is a decimal number's fraction, or its mantissa, no card.

    After a decimal point with a digit before it (_DECIMAL_POINTS: `0.5409537045890636`),
    but for a grouped run whose first group has the four digits a card's first group has:
    that is card formatting (`1.4111 1111 1111 1111`, a numbered list with no space after
    the dot), while a float then another number (`0.5409537045890636 0.35`) is a fraction.
    Only for a run of digits alone: after a leading point (`loss .5409537045890636`,
    `x=-.54...`: the text's start, a space, a sign, an opening bracket, "=" or "," before
    the dot); after a decimal comma whose whole part has a space before it and the run no
    comma and more right after (`Verlust 0,5409537045890636`, not a CSV's
    `1,4111111111111111,Bob`); before an exponent (`5409537045890636e-16`).
    Found by attacks: the whole part before a decimal point read as no card hid
    `card_number 4111111111111111.0`; the fraction rule on grouped runs hid
    `1.4111 1111 1111 1111`; leading dots, decimal commas, the middle dot and exponents
    left fractions read as cards."""
    text, start, end = run.string, run.start(), run.end()
    before = text[start - 1] if start else ""
    if before in _DECIMAL_POINTS and start >= 2 and text[start - 2].isdecimal():
        return not grouped or first != 4
    if grouped:
        return False
    if before == ".":
        return start < 2 or text[start - 2] in _BEFORE_LEADING_POINT or text[start - 2].isspace()
    if before == ",":
        whole = start - 1  # where the whole part before the comma starts
        while whole > 0 and text[whole - 1].isdecimal():
            whole -= 1
        if whole == start - 1:  # no whole part: a list's comma (`a,4111...`)
            return False
        csv = text.startswith(",", end) and end + 1 < len(text) and not text[end + 1].isspace()
        return not csv and _before_whole_part(text, whole)
    return _EXPONENT.match(text, end) is not None


def _before_whole_part(text: str, whole: int) -> bool:
    """Whether what stands before a decimal comma's whole part (starting at ``whole``) lets
    the comma be a decimal one: see _BEFORE_DECIMAL_COMMA."""
    if whole == 0 or text[whole - 1].isspace():
        return True
    mark = text[whole - 1]
    if mark in "-+":  # a sign, not the hyphen of a range or a date (`2020-12,4111...`)
        return whole < 2 or not text[whole - 2].isdecimal()
    return mark in _BEFORE_DECIMAL_COMMA


def _cards_in(run: re.Match[str], cuts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """The card numbers in a digit run: the whole run, else from the left the longest
    window of its groups (13 to 19 digits, laid out as cards are) that is one, then on
    after it. ``cuts``: where the text had invisible characters, left out of the run (sorted
    positions in it); where the groups the spaces and hyphens make hold no card, they
    part groups too. Found by attack: `4111\u200b1111\u200b1111\u200b1111\u200b123`, a card
    and its CVV joined by zero-width spaces, read as one run of 19 digits that failed the
    Luhn sum, and the card was missed."""
    text = run.string
    groups = [
        (run.start() + g.start(), run.start() + g.end()) for g in _CARD_GROUP.finditer(run.group())
    ]
    if _decimal_fraction(run, len(groups) > 1, groups[0][1] - groups[0][0]):
        # (its other groups may still hold a card: `3.14 4111 1111 1111 1111`)
        groups = groups[1:]
    elif _is_card(run.group()):
        return [run.span()]
    found = _card_windows(text, groups)
    inside = sorted({c for c in cuts if run.start() < c < run.end()})
    if found or not inside:
        return found
    parted: list[tuple[int, int]] = []
    for start, end in groups:
        at = [start, *(c for c in inside if start < c < end), end]
        parted.extend(itertools.pairwise(at))
    return _card_windows(text, parted) if len(parted) > len(groups) else []


def _card_windows(text: str, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The cards among windows of the digit ``groups`` (spans of ``text``) of a run: from the
    left the longest window laid out as cards are that is one, then on after it."""
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        best, digits = None, 0
        if unicodedata.digit(text[groups[i][0]], 0) not in (2, 3, 4, 5, 6):  # no prefix
            i += 1
            continue
        for j in range(i, len(groups)):
            if j > i and not _card_head([end - start for start, end in groups[i:j]]):
                break  # no window this long is laid out as a card: nor any longer one
            digits += groups[j][1] - groups[j][0]
            if digits > 19:
                break
            layout = [end - start for start, end in groups[i : j + 1]]
            if (
                digits >= 13
                and _card_layout(layout)
                and _is_card(text[groups[i][0] : groups[j][1]])
            ):
                best = j
        if best is None:
            i += 1
            continue
        found.append((groups[i][0], groups[best][1]))
        i = best + 1
    return found


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# IBAN length by country (the SWIFT IBAN registry, and the countries that use one outside
# it): a country code with no IBAN ("US") or another length is no IBAN, whatever its
# check digits (a US patent number failed the audit one time in 97).
_IBAN_LENGTHS = {
    code: int(n)
    for code, n in re.findall(
        r"([A-Z]{2})(\d{2})",
        "AD24 AE23 AL28 AO25 AT20 AZ28 BA20 BE16 BF28 BG22 BH22 BI27 BJ28 BR29 BY28 CF27 "
        "CG27 CH21 CI28 CM27 CR22 CV25 CY28 CZ24 DE22 DJ27 DK18 DO28 DZ26 EE20 EG29 ES24 "
        "FI18 FK18 FO18 FR27 GA27 GB22 GE22 GI23 GL18 GQ27 GR27 GT28 GW25 HN28 HR21 HU28 "
        "IE22 IL23 IQ23 IR26 IS26 IT27 JO30 KM27 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 "
        "LY25 MC27 MD24 ME22 MG27 MK19 ML28 MN20 MR27 MT31 MU30 MZ25 NE28 NI28 NL18 NO15 "
        "OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 "
        "SN28 SO23 ST25 SV28 TD27 TG28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30 "
        # Morocco, and France's overseas codes (their IBANs are France's, 27 characters)
        "MA28 BL27 GF27 GP27 MF27 MQ27 NC27 PF27 PM27 RE27 TF27 WF27 YT27",
    )
}


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "").replace("-", "").upper()
    if _IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


def _address_end(text: str, start: int, end: int) -> int | None:
    """Where the address ``_EMAIL`` matched at ``text[start:end]`` ends: before its last
    dot where that is an ideographic full stop (U+3002, U+FF61, U+FE12) and what follows it
    a capital then small letters, the next sentence with its space left out (`I met
    john@party\u3002Then we left`), no top-level domain; None when what is left before it is
    no address (its domain no dot, its last label no top-level domain). After an ASCII dot
    a capital is one (`John.Smith@Company.Com`). Linear: each step reads one label."""
    domain = [a.end() for a in _AT_SIGN.finditer(text, start, end)][-1]
    while True:
        dot = end - 1
        while text[dot] not in DOTS:  # (the top-level domain holds letters and marks only)
            dot -= 1
        tld = text[dot + 1 : end]
        if text[dot] not in _STOPS or not (tld[0].isupper() and any(c.islower() for c in tld)):
            return end
        before = dot - 1  # the dot before the label that would be the top-level domain now
        while before >= domain and text[before] not in DOTS:
            before -= 1
        if before < domain or _TLD.fullmatch(text, before + 1, dot) is None:
            return None
        end = dot


def _placeholder_email(text: str, at: int, end: int) -> bool:
    """Whether the address whose at-sign starts at ``at`` is at a documentation domain
    (written with character references, full-width letters or dot look-alikes too:
    `\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d`, `example&#46;com`)."""
    sign = _AT_SIGN.match(text, at)
    domain = html.unescape(text[sign.end() if sign else at + 1 : end])
    domain = unicodedata.normalize("NFKC", domain).translate(_AS_DOT).lower()
    return domain.rsplit(".", 1)[-1] in _EXAMPLE_TLDS or any(
        domain == d or domain.endswith("." + d) for d in _EXAMPLE_DOMAINS
    )


# What a "+" or full-width "\uff0b" number run into it counts (a unit: `\uff0b\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19円`, `\uff0b\uff12\uff10\uff12\uff14\uff10\uff10人`,
# `+1234567890元`); kana or hanzi of a sentence (`電話番号は\uff0b\uff18\uff11\uff19\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18です`) are none, nor
# is 分机 / 分機 (an extension: `+8613812345678分机8001` is a phone).
_UNIT = re.compile(
    r"[円元圆块塊人個个件千百万萬億亿兆倍%\uff05点點名台回次年月日歳岁株枚本票位度秒]|分(?![机機])"
    r"|ドル|ユーロ|ポイント|ウォン|美元|欧元|歐元|英镑|英鎊|日元|韩元|韓元"
)
# A word for a phone in the characters before a full-width "\uff08": `電話\uff08\uff15\uff15\uff15\uff09\uff11\uff12\uff13\uff0d\uff14\uff15\uff16\uff17`
# (read NFKC: full-width letters as ASCII ones).
_PHONE_WORDS = re.compile(
    r"(?<![A-Za-z])(?:tel|phone|call|fax|cell|mobile)"
    r"|電話|电话|手机|手機|携帯|傳真|传真|連絡|联系|聯繫|联络|聯絡|致电|致電|拨打|撥打|呼叫"
    r"|请拨|請撥|热线|熱線|客服|咨询|諮詢|查询|查詢|问询|問詢|预约|預約"
    r"|問い合わせ|問合せ|お問合せ|문의|예약"
    r"|ファックス|ファクス|전화|연락처|휴대폰",
    re.IGNORECASE,
)
_PHONE_WINDOW = 12  # characters before the number where such a word counts
# A word for an amount (sales, growth, difference, total, price, balance, ...) before a
# "+" or full-width "\uff0b" and digits run together: `売上\uff0b\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19です`, `売上+123456789です`.
_AMOUNT_WORDS = re.compile(
    r"売上|売り上げ|前年比|前月比|増減|差額|差引|合計|金額|価格|価額|利益|収益|残高|株価|増加|減少"
    r"|营收|营业额|營收|收入|利润|利潤|销售额|銷售額|增长|增長|同比|环比|環比|总额|總額|余额|餘額"
    r"|增加|减少|減少|差额|价格|價格|金额|매출|총액|금액|잔액|증가|감소"
)
# The fewest digits of a phone run together after a "+" or full-width "\uff0b" with a word for
# an amount before: most countries' numbers have 11 or more with the country code.
_COMPACT_PHONE_DIGITS = 11


def _words_before(words: re.Pattern[str], text: str, start: int, window: int) -> bool:
    """Whether one of ``words`` is among the ``window`` characters before ``start``, the
    text read NFKC (full-width letters, digits and colons as ASCII ones: `\uff29\uff30\uff1a`)."""
    a = max(0, start - window)
    before = unicodedata.normalize("NFKC", text[a - 1 : a]) if a else ""
    return (
        words.search(before + unicodedata.normalize("NFKC", text[a:start]), len(before)) is not None
    )


def _cjk_number(text: str, m: re.Match[str]) -> bool:
    """Whether a phone match that starts with "+", a full-width "\uff0b" or "\uff08" reads as
    CJK prose, where they are a plus sign and a parenthesis: a "\uff0b" then fewer than 9
    digits (no phone has so few with its country code; an amount, a score: `差額\uff0b\uff11\uff12\uff13\uff14\uff15\uff16円`,
    `得点\uff1a\uff0b\uff11\uff12 \uff13\uff14 \uff15\uff16 \uff17\uff18`); a "+" or "\uff0b" then digits run together into a unit (`\uff0b\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19円`,
    `收入+1234567890元`, see _UNIT) or, nine or ten of them, after a word for an amount
    (`売上+123456789です`), without a word for a phone before (`電話+81312345678円`); a
    "\uff08" and three digits with no space or dash after the "\uff09" and no word for a phone
    before (`問題番号\uff08\uff12\uff10\uff11\uff09\uff13\uff10\uff10\uff0d\uff12\uff10\uff12\uff14`: a note in parentheses)."""
    first, value = text[m.start()], m.group()
    if first in "+\uff0b":
        digits = sum(c.isdecimal() for c in value)
        if first == "\uff0b" and digits < 9:
            return True
        # Run together (no group apart): into a unit, or nine or ten digits (a phone's
        # country code and number mostly have more) after a word for an amount
        # (`売上\uff0b\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19です`, `売上+123456789です`: sales up; without one they stay a
        # phone: Singapore's and Norway's numbers have ten digits). An ASCII "+" is
        # read so as a full-width one is (CJK text mixes the two), but for fewer than 9
        # digits in groups: those stay a phone, as in any other text (`+12 34 56 78`).
        # Found by re-attack: an ASCII "+" and a country code's 11 or more digits run
        # into a hanzi that can be a unit (`张经理+8613812345678本人接听`: 本人, "in
        # person") are a phone; only a full-width one is that long an amount.
        return (
            value[1:].isdecimal()
            and (
                (
                    _UNIT.match(text, m.end()) is not None
                    and (first == "\uff0b" or digits < _COMPACT_PHONE_DIGITS)
                )
                or (
                    digits < _COMPACT_PHONE_DIGITS
                    and _words_before(_AMOUNT_WORDS, text, m.start(), _PHONE_WINDOW)
                )
            )
            and not _words_before(_PHONE_WORDS, text, m.start(), _PHONE_WINDOW)
        )
    return (
        first == "\uff08"
        and value[5] not in " -."
        and not _words_before(_PHONE_WORDS, text, m.start(), _PHONE_WINDOW)
    )


def _example_iban(iban: str) -> bool:
    return iban.replace(" ", "").replace("-", "").upper() in _EXAMPLE_IBANS


def _example_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in n for n in _EXAMPLE_NETWORKS)


def _ascii_digits(text: str) -> str:
    """Any script's decimal digits as ASCII (full-width ones: ``ipaddress``
    takes ASCII only, and the address went into sample.jsonl as written)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(c)) if c.isdecimal() else c for c in text)


def shannon_entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


class _Taken:
    """The character ranges hits already took, as a sorted union of disjoint ranges: asking
    whether ``[a, b)`` overlaps one is a bisection (a list of every hit made a line of
    20,000 card numbers cost 200 million comparisons, half a minute)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlaps(self, a: int, b: int) -> bool:
        k = bisect.bisect_left(self.starts, b)  # the ranges starting before b
        return k > 0 and self.ends[k - 1] > a

    def covers(self, a: int, b: int) -> bool:
        """Whether one taken range holds all of ``[a, b)``."""
        k = bisect.bisect_right(self.starts, a)  # the ranges starting by a
        return k > 0 and self.ends[k - 1] >= b

    def add(self, a: int, b: int) -> None:
        i = bisect.bisect_left(self.ends, a)  # the first range not ending before a
        j = bisect.bisect_right(self.starts, b)  # past the last range starting by b
        if i < j:  # ranges i..j-1 touch or overlap [a, b): one range now
            a, b = min(a, self.starts[i]), max(b, self.ends[j - 1])
        self.starts[i:j] = [a]
        self.ends[i:j] = [b]


# Pattern families, as bits of the Rust prefilter's ``families`` (its FAMILIES order).
SECRET, EMAIL, IBAN, CARD, IPV4, IPV6, PHONE, LONG_TOKEN = (1 << i for i in range(8))
ALL_FAMILIES = (1 << 8) - 1


_SPACES = {ord(c): " " for c in "\t\u00a0\u1680\u202f\u205f\u3000"} | {
    c: " " for c in range(0x2000, 0x200B)
}
# The Unicode dashes (general category Pd, as of Unicode 16; a test holds this to Python's
# `unicodedata`): card and phone numbers are read with them as "-", one character for one.
# `4111\u20111111...` (a non-breaking hyphen, as word processors write it), an en dash
# between a phone's groups, full-width digits and hyphens (U+FF0D) were in no finding and
# went into sample.jsonl as written. Keep in step with `DASHES` in
# rust/curagate-core/src/text/pii.rs.
DASHES = (
    "\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a\u2e3a\u2e3b"
    "\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010d6e\U00010ead"
)
# The look-alikes of "-" that are no dash punctuation, read as "-" too: the minus sign, the
# heavy minus sign, the modifier letter minus sign and the hyphen bullet
# (`DE89\u22123704\u2212...`, an IBAN grouped with minus signs, was in no finding). Keep in step
# with `MINUSES` in rust/curagate-core/src/text/pii.rs.
MINUSES = "\u02d7\u2043\u2212\u2796"
_DASHES = {ord(c): "-" for c in DASHES + MINUSES}
# Card, phone and IBAN patterns read the full-width forms of ASCII (U+FF01-U+FF5E: digits,
# letters, "+", "(", ")", "." and "-" written full-width) as ASCII, one character for one: a
# German IBAN, `+44 20 ...` and `(555) 123-4567` in full-width letters and digits were in
# no finding (or a card found in the IBAN's digits). Card and phone numbers hold no
# letters: there full-width letters stay as written, no ASCII boundary, as CJK ones are
# (`\uff34\uff25\uff2c555-123-4567` was found until the letters read as ASCII hid it).
_GROUPED = _DASHES | {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_NUMERIC = _DASHES | {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if not chr(c).isalpha()}


def scan(
    text: str,
    *,
    entropy_threshold: float = 4.5,
    min_length: int = 24,
    families: int = ALL_FAMILIES,
) -> list[Hit]:
    """All PII/secret hits in ``text``. Secrets win over the PII they contain.

    ``families`` (bits above) skips the patterns of the families the Rust
    prefilter found no match of: its pattern for each is a superset of the
    family's here, so a skipped family would have found nothing (and taken no
    span from the others); the hits are the same.
    """
    hits: list[Hit] = []
    taken = _Taken()
    if not text.isascii() or "\t" in text:
        # No-break, thin and other spaces, and tabs, read as the space they stand for (one
        # character for one: spans stay the text's own): a card or phone number grouped
        # with them (`4111\u00a01111...`, as scraped pages and French typography write it)
        # was in no finding and went into sample.jsonl as written.
        text = text.translate(_SPACES)

    def add(rule: str, m: re.Match[str] | _Span, kind: str) -> None:
        hits.append(Hit(rule, m.start(), m.end(), kind))
        taken.add(m.start(), m.end())

    for kind, pat, prefixes in _KEYS if families & SECRET else ():
        if not any(p in text for p in prefixes):
            continue
        for m in pat.finditer(text):
            if not taken.overlaps(m.start(), m.end()):
                add("SEC001", m, kind)
    if families & EMAIL and _AT_ANY.search(text) is not None:
        hidden = "&" in text or (not text.isascii() and _INVISIBLE.search(text) is not None)
        plain = _Unescaped(text) if hidden else None
        read = plain.text if plain else text
        for m in _EMAIL.finditer(read):
            if (end := _address_end(read, m.start(), m.end())) is None:
                continue
            span = plain.span(m.start(), end) if plain else (m.start(), end)
            # One that runs past a secret is an address of its own (redact() covers both);
            # one inside a secret is the secret's (a key block's `Comment: bob@...`).
            if taken.covers(*span):
                continue
            # (the domain part holds no at-sign nor "%": the last one ends the local part)
            at = [a.start() for a in _AT_SIGN.finditer(read, m.start(), end)][-1]
            if (
                _SCALED_ASSET.fullmatch(read, at, end)
                or (read[m.start() : at].lower() == "git" and _GIT_PATH.match(read, end))
                or _placeholder_email(read, at, end)
            ):
                continue
            add("PII001", _Span(*span), "email")
    # The IBAN, card, phone and IPv4 patterns read the text as its reader sees it, without
    # its invisible characters (INVISIBLE: `4111\u200b1111\u200b1111\u200b1111`, a phone or an
    # address with a zero-width space or a soft hyphen inside was in no finding), as the
    # e-mail pattern does; ``place`` gives a match's span in the text, the invisible
    # characters inside it included.
    seen, visible = text, None
    if (
        families & (IBAN | CARD | IPV4 | PHONE)
        and not text.isascii()
        and _INVISIBLE.search(text) is not None
    ):
        visible = _Unescaped(text, _INVISIBLE)
        seen = visible.text

    def place(start: int, end: int) -> _Span:
        return _Span(*visible.span(start, end)) if visible else _Span(start, end)

    # (only the IBAN, card and phone patterns read the dashes as "-" and full-width forms as
    # ASCII: in an address or a key a dash is no hyphen)
    grouped = numeric = seen
    if families & IBAN and not seen.isascii():
        grouped = seen.translate(_GROUPED)
    if families & (CARD | PHONE) and not seen.isascii():
        numeric = seen.translate(_NUMERIC)
    if families & IBAN:
        for pattern in (_IBAN, _IBAN_COMPACT):
            for m in pattern.finditer(grouped):
                spot = place(m.start(), m.end())
                if taken.overlaps(spot.begin, spot.stop) or not iban_ok(m.group()):
                    continue
                if _example_iban(m.group()):
                    # no finding, nor one of its digits (`3704 0044 0532 0130 00` a card)
                    taken.add(spot.begin, spot.stop)
                else:
                    add("PII005", spot, "iban")
    for m in _CARD.finditer(numeric) if families & CARD else ():
        for start, end in _cards_in(m, visible.starts if visible else ()):
            spot = place(start, end)
            if not taken.overlaps(spot.begin, spot.stop):
                add("PII003", spot, "card")
    for m in _IPV4.finditer(seen) if families & IPV4 and any(d in seen for d in DOTS) else ():
        spot = place(m.start(), m.end())
        if not taken.overlaps(spot.begin, spot.stop):
            try:
                v4 = ipaddress.IPv4Address(_ascii_digits(m.group()).translate(_AS_DOT))
            except ValueError:
                continue
            stops = any(c in _STOPS for c in m.group())
            if (
                not _example_ip(v4)
                and (not stops or _ip_context(seen, m.start(), m.end()))
                and not _version_or_file(seen, m.start(), m.end())
            ):
                add("PII004", spot, "ipv4")
    if families & IPV6 and ":" in text:
        for m in _IPV6.finditer(text):
            cand = m.group()
            if not _ipv6_shaped(cand) or taken.overlaps(m.start(), m.end()):
                continue
            try:
                v6 = ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            if not _example_ip(v6):
                add("PII004", m, "ipv6")
    for m in _PHONE.finditer(numeric) if families & PHONE else ():
        # (a minus look-alike separates card and IBAN groups, not a phone's: between
        # numbers it is arithmetic, `+250\u2212100\u221250`, `ΔG = +12\u221234\u221256 kJ`)
        spot = place(m.start(), m.end())
        if (
            not taken.overlaps(spot.begin, spot.stop)
            and not _cjk_number(seen, m)
            and not any(c in MINUSES for c in seen[m.start() : m.end()])
        ):
            add("PII002", spot, "phone")
    for m in _long_tokens(min_length).finditer(text) if families & LONG_TOKEN else ():
        tok = m.group()
        if taken.overlaps(m.start(), m.end()):
            continue
        if len(tok) >= 32 and _HEX.fullmatch(tok):
            if shannon_entropy(tok) >= 3.0:
                add("SEC002", m, "hex")
        elif (
            shannon_entropy(tok) >= entropy_threshold
            and any(c.isdigit() for c in tok)
            and any(c.isalpha() for c in tok)
        ):
            add("SEC002", m, "base64")
    return hits


def scan_many(
    texts: list[str], *, entropy_threshold: float = 4.5, min_length: int = 24
) -> list[list[Hit]]:
    """:func:`scan` of each text; the Rust core's ``RegexSet`` (a superset of
    these patterns, see ``rust/curagate-core/src/text/pii.rs``) first picks the
    few texts that may hold a hit, in parallel, so most texts skip the dozen
    Python regexes."""
    from curagate import _core

    maybe = _core.pii_candidates(texts, min_length=min_length)
    return [
        scan(t, entropy_threshold=entropy_threshold, min_length=min_length) if m else []
        for t, m in zip(texts, maybe, strict=True)
    ]


# The numbers that may be a card: 13-19 digits (:func:`number_text`; the audit's numeric
# columns pick theirs with these bounds, curagate.audit.rules.pii).
CARD_NUMBER_LOW, CARD_NUMBER_HIGH = 10**12, 10**19


def number_text(value: Any) -> str | None:
    """The digits a number is read as, where it may be a card: an integer of 13-19 digits,
    or a float whose value is one (a card column with a missing value reads as float64:
    `4111111111111111.0`); None for other numbers and values. A card stored as a JSON number
    or a Parquet integer was read by no rule and went into sample.jsonl as it was (found by
    attack). Booleans and negative numbers are none (`-4111...` as text is none either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if CARD_NUMBER_LOW <= value < CARD_NUMBER_HIGH else None
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    if (
        isinstance(value, float | Decimal)
        and CARD_NUMBER_LOW <= value < CARD_NUMBER_HIGH
        and value == int(value)
    ):
        return str(int(value))  # a decimal too: DECIMAL(16,0), as databases export cards
    return None


def strings_in(value: Any, *, record: bool = True) -> list[str]:
    """Every string value in ``value`` (a record: nested lists and objects included), in
    document order: what the PII/secret rules scan and what the review sample redacts,
    one definition for both, so the sample never redacts what the audit did not report.
    The keys of nested objects are strings too, read before their value where the row
    has one (``{"votes": {"john.doe@example.com": 1}}``: an Arrow struct has every key
    of its batch in every row, null where a row lacks it, and :func:`replace_strings`
    leaves those out); a record's own keys are its column names (``record=False``:
    ``value`` is a column's value, whose keys are nested). A number that may be a card is
    read as its digits (:func:`number_text`). Values of
    other types (other numbers, booleans, timestamps, bytes) and the media payloads of a
    ``content`` list's parts that are not text (images, audio: base64 ``data:`` URLs,
    base64 in :data:`_MEDIA_KEYS` fields; base64 reads as a secret) are not read; the rest
    of such a part is (a secret as its ``type``, an e-mail in its URL went into the sample
    as they were).
    Tuples (Arrow map entries) are lists. Iterative: a record nested thousands deep must
    not overflow the stack."""
    out: list[str] = []
    # (value, its kind: _PLAIN, _CONTENT (a content list), _RECORD (whose keys are column
    # names) or _PART (in a part of a content list that is not text))
    stack: list[tuple[Any, int]] = [(value, _RECORD if record else _PLAIN)]
    while stack:
        v, kind = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed(_entries(v, kind)))
        elif (digits := number_text(v)) is not None:
            out.append(digits)
        elif isinstance(v, list | tuple):
            stack.extend((x, _item_kind(kind, x)) for x in reversed(v) if not _payload(kind, 0, x))
    return out


_PLAIN, _CONTENT, _RECORD, _PART = 0, 1, 2, 3


def _data_key(key: Any, value: Any, kind: int) -> bool:
    """Whether :func:`strings_in` reads an object's key: any key of a nested object where
    the row has a value for it (one shaped like a field name, ``ghp_...`` or ``AKIA...``,
    can be a secret too)."""
    return kind != _RECORD and value is not None and isinstance(key, str)


# The fields of a non-text content part that hold its media (OpenAI's input_audio.data and
# file_data, Anthropic's source.data, Hugging Face's image/audio) when it is base64.
_MEDIA_KEYS = frozenset({"data", "image", "audio", "video", "bytes", "file_data"})
# Base64 (standard or URL-safe, line breaks allowed), or a base64 data: URL.
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-\r\n]{32,}={0,2}\s*")
_DATA_URL = re.compile(r"data:[^,;]*(?:;[^,;]*)*;base64,", re.IGNORECASE)


def _payload(kind: int, key: Any, value: Any) -> bool:
    """Whether a value of a non-text content part is its media, not read: a base64 data:
    URL, or base64 under a media field (a URL, a file's text or a tool's output there is
    read: a token in an image URL, a document's text, went into the sample)."""
    if kind != _PART or not isinstance(value, str):
        return False
    if _DATA_URL.match(value):
        return True
    return key in _MEDIA_KEYS and _BASE64.fullmatch(value) is not None


def _value_kind(kind: int, key: Any) -> int:
    """The kind of an object's value under ``key``."""
    return _PART if kind == _PART else _CONTENT if key == "content" else _PLAIN


def _item_kind(kind: int, item: Any) -> int:
    """The kind of a list's item."""
    if kind == _PART or (kind == _CONTENT and is_non_text_part(item)):
        return _PART
    return _PLAIN


def _entries(obj: dict[Any, Any], kind: int) -> list[tuple[Any, int]]:
    """An object's (key, value) parts as :func:`strings_in` visits them: a nested object's
    key where the row has a value for it, then the value."""
    parts: list[tuple[Any, int]] = []
    for k, x in obj.items():
        if _data_key(k, x, kind):
            parts.append((k, _PLAIN))
        if not _payload(kind, k, x):
            parts.append((x, _value_kind(kind, k)))
    return parts


def replace_strings(value: Any, strings: Iterator[str], *, record: bool = True) -> Any:
    """A copy of ``value`` with its :func:`strings_in`, in order, replaced by ``strings``
    (a nested object's keys too: a redacted key keeps its value). A nested object's keys
    whose value is null are left out: Arrow gives every row of a batch the keys any row
    has (another row's e-mail among them), and :func:`strings_in` does not read them. A
    number :func:`strings_in` reads stays as it is where its digits come back unchanged,
    else it becomes the string they are replaced by (``"[REDACTED:PII003]"``: the JSON
    stays valid)."""
    root = [value]
    renamed: dict[int, tuple[dict[Any, Any], dict[Any, str]]] = {}
    # (container, key) of a value to visit and its kind (as in strings_in); a container of
    # None: the key itself, to rename in the object ``key`` (= (object, its key)).
    stack: list[tuple[Any, Any, int]] = [(root, 0, _RECORD if record else _PLAIN)]
    while stack:
        container, key, kind = stack.pop()
        if container is None:
            obj, name = key
            renamed.setdefault(id(obj), (obj, {}))[1][name] = next(strings)
            continue
        v = container[key]
        if isinstance(v, str):
            container[key] = next(strings)
        elif (digits := number_text(v)) is not None:
            if (text := next(strings)) != digits:
                container[key] = text
        elif isinstance(v, dict):
            fields = dict(v) if kind == _RECORD else {k: x for k, x in v.items() if x is not None}
            container[key] = fields
            visit: list[tuple[Any, Any, int]] = []
            for k, x in fields.items():
                if _data_key(k, x, kind):
                    visit.append((None, (fields, k), _PLAIN))
                if not _payload(kind, k, x):
                    visit.append((fields, k, _value_kind(kind, k)))
            stack.extend(reversed(visit))
        elif isinstance(v, list | tuple):
            container[key] = items = list(v)
            stack.extend(
                (items, i, _item_kind(kind, items[i]))
                for i in reversed(range(len(items)))
                if not _payload(kind, 0, items[i])
            )
    for obj, names in renamed.values():
        entries = list(obj.items())
        obj.clear()
        for k, x in entries:
            name = names.get(k, k)
            while name in obj:  # two keys redacted alike: both values stay
                name += "'"
            obj[name] = x
    return root[0]


def shown(text: str, entropy_threshold: float = 4.5, min_length: int = 24) -> str:
    """``text`` as a report may quote it: every PII or secret hit redacted, with the
    config's thresholds for secrets (``secrets.entropy_threshold`` / ``min_length``): with
    the defaults, a value the config makes SEC002 was redacted in the sample but printed
    in the reports."""
    return redact(text, scan(text, entropy_threshold=entropy_threshold, min_length=min_length))


def redact(text: str, hits: list[Hit]) -> str:
    """``text`` with every hit replaced by ``[REDACTED:<RULE>]``."""
    out: list[str] = []
    pos = 0
    for h in sorted(hits, key=lambda h: h.start):
        if h.start < pos:
            # Overlapping the one before: the redaction runs on to its end (an address that
            # began inside a key was left after "[REDACTED:SEC001]" in the sample).
            pos = max(pos, h.end)
            continue
        out.append(text[pos : h.start])
        out.append(f"[REDACTED:{h.rule}]")
        pos = h.end
    out.append(text[pos:])
    return "".join(out)
