"""PII001-PII005 and SEC001-SEC002: personal data and credentials in the texts.

Every string of a record (:func:`curagate.audit.pii.strings_in`: every field,
whatever the format reads, nested values and tool-call arguments included; the
same strings the review sample redacts) goes through the scanners of
``curagate/audit/pii.py`` (patterns plus validators: Luhn, mod-97,
``ipaddress``); the Rust core's prefilter first drops the texts that cannot
hold a hit. Reports name the kind found, never the matched text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from curagate.audit.pii import (
    CARD_NUMBER_HIGH,
    CARD_NUMBER_LOW,
    Hit,
    _is_card,
    scan,
    strings_in,
)
from curagate.audit.rules.base import BatchView, RowHit, register
from curagate.findings import Rule, Severity
from curagate.records import Quarantined, every_value

if TYPE_CHECKING:
    import pyarrow as pa

RULES = (
    Rule(
        "PII001",
        "email-address",
        Severity.WARNING,
        "An e-mail address, in any script (`josé@`, `пользователь@пример.рф`; in text written "
        "without spaces, such as Chinese, the address is its Latin part), also with its `@` "
        "URL-encoded as in a link (`?email=jane.doe%40gmail.com`), full-width "
        "(U+FF20 for the `@`, U+FF0E for the dots), small (U+FE6B) or an HTML character "
        "reference to any of these (`jane.doe&#64;gmail.com`, `&#x40;`, `&commat;`, "
        "`&#65312;`, `&#xFF20;`, `&#65131;`). The domain's dots may "
        "be look-alikes (ideographic U+3002 `jane@gmail。com`, U+FF61, U+FE12, U+FE52, U+2024, "
        "U+2E3C; after an ideographic full stop, U+3002, U+FF61 or U+FE12, a capital then "
        "small letters start the next sentence, no top-level domain: `john@party。Then we "
        "left` is none, `jane@acme。com。Then` is `jane@acme。com`), and any character of the address an HTML character reference, read as HTML "
        "reads it: numeric, decimal or hexadecimal, its `;` optional (`a&#95;b&#64;corp&#46;com`, "
        "`a@my&#45;corp&#46com`, `j&#228;ne@m&#xFC;ller.de`), or named with its `;` "
        "(`&period;`, `&lowbar;`, `&plus;`, `&uuml;`). Invisible characters (Unicode's "
        "default-ignorable code points, the whole set: the soft hyphen U+00AD, the zero-width "
        "space U+200B, non-joiner U+200C and joiner U+200D, the word joiner U+2060, the "
        "zero-width no-break space U+FEFF, the invisible operators U+2061-U+2064, the marks "
        "and controls of writing direction U+200E, U+200F, U+202A-U+202E, U+2066-U+2069 and "
        "U+061C, the combining grapheme joiner U+034F, the variation selectors U+FE00-U+FE0F "
        "and U+E0100-U+E01EF, the Mongolian ones and vowel separator U+180B-U+180F, Khmer's "
        "inherent vowels U+17B4 and U+17B5, the Hangul fillers U+115F, U+1160, U+3164 and "
        "U+FFA0, the tags U+E0001 and U+E0020-U+E007F, the shorthand and musical format "
        "controls U+1BCA0-U+1BCA3 and U+1D173-U+1D17A, and the code points reserved as "
        "ignorable, U+2065, U+FFF0-U+FFF8 and the rest of U+E0000-U+E0FFF; "
        "written as references too, `&#8203;`, `&lrm;`) are read as not there, as a reader sees the text: `john@gma\\u200bil.com` "
        "is an address, reported as written, the invisible characters in it (one right after "
        "it joins the letters beyond to it). A retina asset's "
        "name, an `@`, a scale and an image extension (`icon@2x.png`, `logo@1.5x.webp`), is "
        "none; so is a git remote over SSH (the user `git` at a host then `:` or `/` and a "
        "path: `git@github.com:org/repo.git`, `ssh://git@host/repo`; another address then "
        "`:` and a path, "
        "`jane@gmail.com:~/notes` or `jane@gmail.com:thesis.git`, is still one), and an "
        "address at a domain reserved for "
        "documentation (RFC 2606: example.com, example.net, example.org and their "
        "subdomains, and the `.example`, `.test`, `.invalid` and `.localhost` top-level "
        "domains), however written (`\uff4a\uff41\uff4e\uff45\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d`, `jane@example&#46;com`): a "
        "placeholder, as the fix advises.",
        "Models memorise and regurgitate personal data; shipping it may breach privacy law.",
        "Replace it with a placeholder (e.g. user@example.com) or remove the record.",
    ),
    Rule(
        "PII002",
        "phone-number",
        Severity.WARNING,
        "A phone number: `+`, a country code of 1-3 digits, an optional (area code) and three "
        "to five groups of digits apart by a space, dot, hyphen or nothing (+44 20 7946 0958, "
        "+49 (30) 1234 5678, +12025550100); or North American 3-3-4 digits: (555) 123-4567, "
        "555-123-4567, 555.123.4567, 555 123 4567 (by spaces alone, only with an area code "
        "starting 2-9 and no number right before or after: lists of numbers are none). Any "
        "space (no-break, thin, a tab) or Unicode dash (category Pd: U+2011, en dash, U+FF0D) "
        "separates as a space or hyphen does (a minus look-alike, U+2212, U+2796, U+02D7, "
        "U+2043, does not: between numbers it is arithmetic, `+250\u2212100\u221250`), and full-width digits, `\uff0b`, `\uff08`, `\uff09` and `\uff0e` "
        "read as ASCII ones (`\uff0b\uff14\uff19 \uff13\uff10 \uff11\uff12\uff13\uff14 \uff15\uff16\uff17\uff18`). A letter right before the number makes it "
        "part of an identifier (`SKU555-123-4567`), but for a label run into it (`TEL`, `Fax`, "
        "`call`, `cell`, `phone`, `mobile`: `TEL555-123-4567`, `Tel+44 20 7946 0958`); "
        "full-width letters, like CJK ones, are no boundary (`\uff34\uff25\uff2c\uff15\uff15\uff15\uff0d\uff11\uff12\uff13\uff0d\uff14\uff15\uff16\uff17`). In CJK "
        "text a full-width `\uff0b` is a plus sign and `\uff08` a parenthesis: with them, fewer "
        "than 9 digits, digits run together into a unit (円, 元, 人, 件, 万, 億, 倍, %, 点, 年, "
        "ドル, ...: `差額\uff0b\uff11\uff12\uff13\uff14\uff15\uff16円`, "
        "`得点\uff1a\uff0b\uff11\uff12 \uff13\uff14 \uff15\uff16 \uff17\uff18`; other kana or hanzi after the number do not make it "
        "an amount: `電話番号は\uff0b\uff18\uff11\uff19\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18です` is a phone), nine or ten digits run together "
        "after a word for an amount in the 12 characters before (売上, 前年比, 差額, 合計, "
        "金額, 营收, 收入, 利润, 同比, 매출, ...: `売上\uff0b\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19です` is an amount; "
        "without one, `WhatsApp\uff1a\uff0b\uff16\uff15\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17`, Singapore's ten digits, a phone) "
        "or no space or hyphen after "
        "the `\uff09` without a word for a phone in the 12 characters before (tel, phone, call, "
        "fax, 電話, 电话, 手机, 携帯, 联系, 전화, ...: `電話\uff08\uff15\uff15\uff15\uff09\uff11\uff12\uff13\uff0d\uff14\uff15\uff16\uff17` is one, "
        "`問題番号\uff08\uff12\uff10\uff11\uff09\uff13\uff10\uff10\uff0d\uff12\uff10\uff12\uff14` none) are none. An ASCII `+` run into the same units or after the "
        "same words is a plus sign too (`売上+123456789です`, `收入+1234567890元`; in groups it "
        "stays a phone: `電話+81 3-1234-5678`, and so do 11 digits or more run into a unit, a "
        "country code's: `张经理+8613812345678本人接听`). A word for a phone (请拨, 热线, 客服, "
        "an enquiry or booking word: 咨询, 预约, 問い合わせ, 문의 too) before digits run together "
        "makes them one after either sign, a unit after them or not (`電話+81312345678円`), "
        "and 分机 (an extension) is no unit (`+8613812345678分机8001`). "
        "After the `+`, digits, one dot and one to six digits with no group after them are a "
        "decimal number, none (`+40.7128, -74.0060`, `+3.14159`), and so is `+0.` and any "
        "fraction (`pH rose by +0.1234567`); seven digits or more after the one dot are a phone "
        "as WHOIS (RFC 5733) writes it (`Phone: +1.4155552671`), and a dot in three groups or "
        "more separates a phone's (`+1.202.555.0100`). Limit: numbers grouped by spaces in threes after a `+` "
        "(`revenue +12 345 678 EUR`, `score +100 200 300`) are written as phones are (Spain's "
        "`+34 612 345 678`) and are reported. "
        "Not found: national formats without the + (UK "
        "020 7946 0958 or 07700 900123, French 01 23 45 67 89), ten digits run together. "
        "Invisible characters (zero-width space, soft hyphen, ...: those PII001 lists) are "
        "read as not there (`555\\u200b-123-4567` is one, reported as written; "
        "`SKU\\u200b555-123-4567` reads as an identifier).",
        "Personal data a model can memorise and reveal.",
        "Replace it with a placeholder (e.g. 555-0100) or remove the record.",
    ),
    Rule(
        "PII003",
        "card-number",
        Severity.ERROR,
        "A payment card number: 13-19 digits (of any script: full-width and Arabic-Indic digits too) with a card-network prefix that pass the Luhn check, also as groups within a longer run of digits when written as cards are (one group, groups of four, 4-6-5): a card beside its expiry or CVV. Groups may be apart by one or two hyphens or spaces of any kind (a Unicode dash of category Pd: hyphen U+2010, non-breaking hyphen U+2011, en dash, full-width hyphen U+FF0D; a minus look-alike: the minus sign U+2212, U+2796, U+02D7, U+2043; a no-break or thin space, a tab). Invisible characters (the zero-width space U+200B, non-joiner U+200C and joiner U+200D, the word joiner U+2060, the soft hyphen U+00AD, U+FEFF, a variation selector, a Hangul filler, a tag and the other default-ignorable code points PII001 lists) are read as not there, as a reader sees the number: `4111\\u200b1111\\u200b1111\\u200b1111` is one, reported as written, the invisible characters in it. Where the digits so read hold no card, the invisible characters part their groups as a space does (`4111\\u200b1111\\u200b1111\\u200b1111\\u200b123`, a card and its CVV, is the card). Digits run together with nothing between stay one number (`4111111111111111123`, 19 digits that fail the Luhn sum, is none). The fraction of a decimal number is none: the digits after a decimal point (`.`, a full-width one U+FF0E, the Arabic decimal separator U+066B or the middle dot U+00B7) with a digit before it (`The loss is 0.5409537045890636.`, `-0.54...`, `0.54...e-3`, `latitude 45.4539148803436467`; a float then another number, `0.54... 0.35`, too), but for digits in groups whose first group has four digits, which are a card's formatting (`1.5500 0000 0000 0004`, a numbered list with no space after the dot, is a card). Digits alone (no groups) are a fraction too after a leading decimal point with the text's start, a space or line end, a sign, an opening bracket, an operator (`=`, `/`, `*`), a quote, `,`, `:`, `;` or `|` before it (`loss .54...`, `x=-.54...`, `(45.1, .54...)`, `value:.54...`, `\".54...\"`, `1/.54...`); after a decimal comma whose whole part (one digit or more) has before it the text's start, a space or line end, a sign (`-45,54...`; with no digit before the sign: `2020-12,4111...` is a card), an opening bracket, `=`, a quote or `;`, when no comma and more follow (`Verlust 0,54...`, `0,54...` alone, `(45,54...)`, `x=0,54...`); and before an exponent (`5409537045890636e-16`, `...E+02`, Fortran's `...D-16`, `...\u00d710^-16`, `...*10**-16`, `... x 10\u207b\u00b9\u2076`). The rule for commas: a `;`-separated file is the CSV that writes decimal commas (`45,54...;7,12` is two numbers, as spreadsheets in German, French and most European locales write it), while a comma-separated one writes none, so a comma with more right after the digits is a separator (`1,4111...,Bob` and `0,4111...,Bob` hold a card); a comma after a letter or `:` is none (`Bob,4111...`, `Preis:12,4111...` hold a card). Limit: a card alone after a number and a comma, nothing after it (`0,4111111111111111` as the whole value, `Amount 5,4111...`), reads as a decimal number and is missed. The digits before a decimal point are a card still: a card written as a float (`card_number 4111...1111.0`, a card column with a missing value) is one. A dot that ends a sentence or follows a word is no decimal point (`My card is 5500 0000 0000 0004.`, `Card no. 5500...`, `Card No.5500...` are cards). A card stored as a number is read as its digits: an integer of 13-19 digits, or a float or decimal whose value is one (a JSON number, `4111111111111111` or `4111111111111111.0`, nested too; a Parquet integer, float or decimal column: DECIMAL(16,0), as databases export cards); the review sample shows it as the string `\"[REDACTED:PII003]\"`. A negative number is none, as `-4111...` in a text is. Limit: any value of 13-19 digits with a card's prefix that passes the Luhn sum is one, so a column of random 64-bit hashes has about one value in sixty reported, and the EAN-13 product codes of some countries (Germany's 400-440: about one in ten), as the same digits in a text always were; switch the rule off for such data (`rules: {PII003: {severity: off}}`) or drop the column before the audit.",
        "Card numbers are regulated (PCI DSS) and must never enter training data.",
        "Remove the number or the record; find the upstream source that leaked it.",
    ),
    Rule(
        "PII004",
        "ip-address",
        Severity.INFO,
        "An IPv4 or IPv6 address (validated, not just dotted digits). An IPv6 address "
        "written with `::` has two groups beside it, a digit, and a group with a hex letter, or "
        "three groups (`2a00:1450::1`, `fe80::1`, `2001:100::1`), so slices (`s[::-1]`, "
        "`a[1::2]`, `x[1000::4]`) and the `::` of Haskell, RST or C++ are none; `::` and the "
        "loopback `::1` name no host and are not reported, nor is an address of two decimal "
        "groups (`2001::1`), which reads as a slice. Digits of any script count (full-width "
        "digits too), and an IPv4 address's dots may be full-width (U+FF0E) or another look-alike "
        "(U+FE52, U+2024, U+2E3C). A dot after the address (a sentence's end: `192.168.1.20.`, "
        "`地址是192.168.1.20。`) is none of it; dotted numbers run on (`1.2.3.4.5`, a version), "
        "a dot right before (`Ver.1.0.2.3`, `No.1.2.3.4`, `Json.13.0.1.0.nupkg`) are none. "
        "A dot and a word after the numbers: where a word for an address (IP, host, server, "
        "ping, ...: the words listed below) is in the 12 characters before and no `-` runs a "
        "file's name into the numbers, or a URL's `//` is right before, they are an address "
        "whatever the word (fail closed: `server 10.0.0.1.next time`, `my ip is "
        "10.0.0.1.Log me in`, and `server 1.2.3.4.png` too; `host app-1.2.3.4.foo` none). "
        "Otherwise a version's tag in any case (final, beta, rc, snapshot, stable, ...: "
        "`Release 4.0.0.1.Beta`), a word run on into a digit, `_`, `-` or a dot "
        "(`lib-1.2.3.4.Final.jar`, `10.0.0.1.Preview2`), a word in small letters (a file's "
        "extension or a tag, listed or not: `model-1.0.0.1.safetensors`, `1.2.3.4.x`, `rule "
        "1.2.3.4.in the manual`) or in capitals (`1.2.3.4.FOO now`, `We shipped "
        "1.0.0.1.RTM.`, `Budget 1.2.3.4.XLS.`) make them none, but for a one-word sentence in "
        "capitals ending with its dot (OK, OKAY, DONE, YES, NO, THANKS, FIXED, SORRY, PLEASE "
        "and a few more: `Reached 10.0.0.1.OK.` is an address); a capital then small letters, "
        "or a capital alone, is the next sentence with its space left out, an extension's "
        "name or not (`at 10.0.0.1.Next we`, `Connect to 10.0.0.1.Log in`: addresses), a "
        "one-word one too, its dot ending the text or followed by no letter, digit, `_` or "
        "`-` (`ssh to 172.16.0.1.Done.`; `Release 4.0.0.1.Beta.` stays a tag). Limits: "
        "without a word for an address before, the next sentence in small letters or "
        "capitals run on without its space (`ssh 10.0.0.1.then run ls`, `reachable at "
        "10.0.0.1.OK`) reads as a version's or a file's and is missed, and with one a "
        "version or file's name is reported (`Tomcat server 8.5.4.1.war`). A word for a "
        "version before the numbers says "
        "nothing of them (`DHCP release 10.0.0.5`, `build 10.1.2.3` are addresses, and so "
        "is `Release 4.0.0.1` without its tag). After an ideographic "
        "full stop a number starts the next sentence (`地址是10.0.0.1。2号服务器`: an address) "
        "unless another dotted group follows (`1。2。3。4。5`). The ideographic full stops "
        "(U+3002, U+FF61, U+FE12) between the groups count "
        "only where the text says it is an address: a word for one in the 12 characters "
        "before, full-width letters read as ASCII ones (IP, host, server, address, ping, DNS, "
        "gateway, router, proxy, URL; 地址, "
        "服务器, 主机, 连接, アドレス, サーバ, ホスト, 接続, 주소, 서버, ...: `设备IP为10。0。0。1`, "
        "`\uff29\uff30\uff1a\uff11\uff19\uff12。\uff11\uff16\uff18。\uff11。\uff12\uff10`; a count of connections or visits, `连接数`, `访问量`, "
        "`アクセス数`, is none), "
        "a URL's `//` or a user's `@` right before (`http://192。168。1。20/`), or a port "
        "after (`:8080`, `\uff1a\uff18\uff10\uff18\uff10`); elsewhere they are enumerations and scores (`第1。2。3。4章`, "
        "`答案\uff1a12。34。56。78`). The documentation addresses the fix advises (RFC 5737: "
        "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; RFC 3849: 2001:db8::/32) are none. "
        "Invisible characters (zero-width space, soft hyphen, ...: those PII001 lists) in an "
        "IPv4 address are read as not there (`192.168\\u200b.1.20` is one, reported as "
        "written).",
        "IP addresses can identify people and internal hosts.",
        "Replace with documentation addresses (192.0.2.x, 2001:db8::) if they carry no meaning.",
    ),
    Rule(
        "PII005",
        "iban",
        Severity.ERROR,
        "An IBAN that passes the ISO 13616 mod-97 check, of a country that has IBANs and the "
        "length that country's have (a US patent number is none); its groups apart by "
        "spaces or hyphens (`GB82-WEST-1234-...`; any Unicode dash or minus look-alike, as in card numbers: `DE89\u22123704\u2212...`), or compact in any case "
        "(`de89370400440532013000`); full-width letters and digits read as ASCII ones "
        "(`\uff27\uff22\uff18\uff12 \uff37\uff25\uff33\uff34 ...`). The documentation IBANs of the SWIFT IBAN registry "
        "(GB82WEST12345698765432, GB33BUKB20201555555555, DE89370400440532013000, "
        "FR1420041010050500013M02606, NL91ABNA0417164300, CH9300762011623852957, "
        "ES9121000418450200051332, IT60X0542811101000000123456, BE68539007547034, "
        "AT611904300234573201) are none. Invisible characters (zero-width space, soft hyphen, "
        "...: those PII001 lists) are read as not there, as in card numbers.",
        "Bank account numbers are personal financial data.",
        "Remove the number or replace it with a documentation IBAN (e.g. GB82WEST12345698765432).",
    ),
    Rule(
        "SEC001",
        "api-key",
        Severity.ERROR,
        "An API key, token or private key with a known prefix (AWS, GitHub, GitLab, OpenAI, "
        "Anthropic, Hugging Face, Slack, Stripe, Google, JWT, PEM, RFC 4716 SSH2 or PGP private key, PuTTY key file); "
        "an `sk-` key has a random part of 16 characters or more, or mixes capitals, small letters and digits (a URL slug `sk-hynix-posts-...` is none).",
        "A model trained on a credential can print it to anyone; the credential is "
        "compromised as soon as the data is shared.",
        "Revoke the credential, then remove it from the data (and from git history).",
    ),
    Rule(
        "SEC002",
        "high-entropy-string",
        Severity.WARNING,
        "A long random-looking string (Shannon entropy above secrets.entropy_threshold bits "
        "per character for base64-like strings, 3.0 for hex of 32+ chars).",
        "Unknown credentials look like this; so do hashes and ids, hence a warning.",
        "Check the referenced rows; remove real secrets, ignore (or disable the rule for) ids.",
    ),
)

SCAN_RULES = tuple(r.id for r in RULES)


def rows(view: BatchView) -> list[RowHit]:
    """Each row's PII/secret hits in every string of the record (:func:`strings_in`, the
    strings the sample redacts), one per rule it breaks, detailed by the kinds found."""
    hits: dict[int, list[Hit]] = {}

    def add(found: dict[int, list[Hit]], owner: Sequence[int] | None = None) -> None:
        for i, hs in found.items():
            hits.setdefault(i if owner is None else owner[i], []).extend(hs)

    if view.turns is None and view.fields is None:
        texts = [strings_in(r) for r in view.records()]
        add(_scan_list(view, [t for ts in texts for t in ts]), _owners(texts))
    else:
        _scan_columns(view, add)
    view.pii = hits = dict(sorted(hits.items()))
    out: list[RowHit] = []
    for r, hs in hits.items():
        for rule in sorted({h.rule for h in hs}):
            out.append((rule, r, ", ".join(sorted({h.kind for h in hs if h.rule == rule}))))
        view.part.pii_counts.update(h.rule for h in hs)
    return out


def _owners(texts: list[list[str]]) -> list[int]:
    """The row of each text of ``texts`` (the strings of each row) flattened."""
    return [row for row, ts in enumerate(texts) for _ in ts]


def _scan_columns(
    view: BatchView, add: Callable[[dict[int, list[Hit]], Sequence[int] | None], None]
) -> None:
    """:func:`rows` of a columnar batch, column by column: the strings of :func:`strings_in`
    without a dict per row. Text columns (and a chat's turns, role and content) go to the
    Rust prefilter as they are; nested columns (lists, structs, maps) are read in Python;
    numeric columns are read where a value may be a card (:func:`number_text`); columns of
    other types hold no string."""
    import polars as pl
    import pyarrow as pa

    for name in view.table.column_names:
        column = view.table.column(name)
        kind = column.type
        if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
            column, kind = column.cast(kind.value_type), kind.value_type
        if name == "messages" and view.turns is not None:
            owner = view.turns.get_column("row").to_list()
            for part in ("role", "content"):
                # polars' own string view crosses as is; the default (large_string) copies.
                texts = view.turns.get_column(part).to_arrow(compat_level=pl.CompatLevel.newest())
                add(_scan_arrow(view, texts), owner)
        elif _is_text(kind):
            add(_scan_arrow(view, column), None)
        elif pa.types.is_nested(kind):
            per_row = [strings_in(v, record=False) for v in column.to_pylist()]
            add(_scan_list(view, [t for ts in per_row for t in ts]), _owners(per_row))
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            found = {
                row: [Hit("PII003", 0, len(digits), "card")]
                for row, digits in _card_numbers(column)
            }
            add(found, None)


# The digits of a number that may be a card, as Arrow casts it to text: 13-19 digits with a
# card network's first digit (2-6), a decimal's zero fraction aside (`4111...1111.00`).
_CARD_NUMBER_TEXT = r"^(?P<digits>[2-6][0-9]{12,18})(?:\.0*)?$"


def _card_numbers(column: pa.ChunkedArray) -> list[tuple[int, str]]:
    """(row, digits) of the values of a numeric column that are cards (:func:`number_text`:
    an integer of 13-19 digits, a float or decimal whose value is one; the prefix and the
    Luhn sum of PII003). Arrow compute picks the values of card size and first digit, so a
    column of ids or nanosecond timestamps (which start with 1) costs a few passes in C++;
    Python checks the Luhn sum of what is left. Each value went through every PII and secret
    pattern in Python, an audit of three 100K-row id columns 15 s instead of 1.6 (found by
    re-attack); digits match no rule but PII003."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_decimal(kind):
        text = pc.cast(column, pa.string())
    elif kind.bit_width < (64 if pa.types.is_integer(kind) else 32):
        return []  # none holds 13 digits (float16: none a whole one)
    else:
        if pa.types.is_integer(kind):
            low = pa.scalar(CARD_NUMBER_LOW, kind)
            unsigned = pa.types.is_unsigned_integer(kind)
            high = pa.scalar(CARD_NUMBER_HIGH, kind) if unsigned else None
        else:
            low, high = (
                pa.scalar(float(CARD_NUMBER_LOW), kind),
                pa.scalar(float(CARD_NUMBER_HIGH), kind),
            )
        keep = pc.greater_equal(column, low)
        if high is not None:
            keep = pc.and_(keep, pc.less(column, high))
        if pa.types.is_floating(kind):
            keep = pc.and_(keep, pc.equal(column, pc.floor(column)))
        # Whole values in [10^12, 10^19) read as uint64 exactly; the rest as null.
        text = pc.cast(
            pc.if_else(keep, pc.cast(column, pa.uint64(), safe=False), None), pa.string()
        )
    digits = pc.struct_field(pc.extract_regex(text, _CARD_NUMBER_TEXT), "digits")
    rows = pc.indices_nonzero(pc.is_valid(digits)).to_pylist()
    picked = digits.take(rows).to_pylist() if rows else []
    return [(row, d) for row, d in zip(rows, picked, strict=True) if _is_card(d)]


def _is_text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _scan_arrow(view: BatchView, texts: pa.Array | pa.ChunkedArray) -> dict[int, list[Hit]]:
    """Hits per row of an Arrow text column (nulls read as ""): the Rust prefilter picks,
    without a Python string per row, the few texts worth the Python regexes, and which
    of the regexes can match in each."""
    from curagate import _core

    sec = view.cfg.secrets
    out: dict[int, list[Hit]] = {}
    for row, families in _core.pii_candidate_families(texts, min_length=sec.min_length):
        text = texts[row].as_py() or ""
        hs = scan(
            text,
            entropy_threshold=sec.entropy_threshold,
            min_length=sec.min_length,
            families=families,
        )
        if hs:
            out[row] = hs
    return out


def _scan_list(view: BatchView, texts: list[str]) -> dict[int, list[Hit]]:
    """:func:`_scan_arrow` for texts already in Python (the per-record path)."""
    from curagate import _core

    sec = view.cfg.secrets
    out: dict[int, list[Hit]] = {}
    maybe = _core.pii_candidates(texts, min_length=sec.min_length)
    for row in (i for i, m in enumerate(maybe) if m):
        hs = scan(texts[row], entropy_threshold=sec.entropy_threshold, min_length=sec.min_length)
        if hs:
            out[row] = hs
    return out


_ESCAPE = re.compile(
    r'\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(["\\/bfnrt]))'
)
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def unescaped_json(raw: str) -> str:
    """``raw`` (a line that is not JSON) with its JSON string escapes read: ``\\u00a0`` as
    the no-break space, a surrogate pair as its character, ``\\n`` as a newline."""

    def one(m: re.Match[str]) -> str:
        high, low, code, simple = m.groups()
        if high is not None:
            return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
        if code is not None:
            return chr(int(code, 16))
        return _SIMPLE[simple]

    return _ESCAPE.sub(one, raw) if "\\" in raw else raw


def in_quarantined(
    rows: Sequence[Quarantined], entropy_threshold: float, min_length: int
) -> list[tuple[Quarantined, list[Hit]]]:
    """The PII and secret hits of quarantined rows: every string of a row that is JSON, the
    raw line of one that is not. They were never scanned (a file holding an AWS key, a
    GitHub token and an e-mail in rows quarantined for an empty completion reported 0),
    and fixing what quarantined a row leaves its secret in the data."""
    import json

    out = []
    for q in rows:
        if q.raw is None:
            continue  # the file's damaged part: no row to read
        try:
            texts = strings_in(json.loads(q.raw, object_pairs_hook=every_value))
        except (ValueError, RecursionError):
            # With its JSON escapes read: json.dumps writes a no-break space or a full-width
            # digit as \uXXXX, and a card so written in a line cut short went unreported.
            # (Once: the raw line and its reading both scanned counted each hit twice.)
            texts = [unescaped_json(q.raw)]
        hits = [
            h
            for t in texts
            for h in scan(t, entropy_threshold=entropy_threshold, min_length=min_length)
        ]
        if hits:
            out.append((q, hits))
    return out


register(__name__, *RULES, rows=rows)
