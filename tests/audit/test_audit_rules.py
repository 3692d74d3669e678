"""Every audit rule fires on a failing fixture and stays quiet on a passing one."""

from __future__ import annotations

import gzip
import json
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audit_support import Record, finding, rules_found, write_records

from curagate.audit import RULES, audit, pii
from curagate.errors import ConfigError


def chat(*turns: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def qa(i: int) -> dict[str, Any]:
    return chat(
        ("user", f"question number {i} about topic {i * 7}"),
        ("assistant", f"answer {i}" + "!" * (i % 9)),
    )


FULL_WIDTH_CARD = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in "4111 1111 1111 1111")
# 4111-1111-1111-1111 in full-width digits and hyphens (U+FF0D).
FULL_WIDTH_DASHED_CARD = "\uff0d".join([chr(0xFF14) + chr(0xFF11) * 3] + [chr(0xFF11) * 4] * 3)
ARABIC_INDIC_CARD = "".join(chr(0x0660 + int(c)) for c in "4111111111111111")


def wide(text: str) -> str:
    """``text`` with its ASCII but spaces written full-width (U+FF01-U+FF5E)."""
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


def pc(i: int, completion: str | None = None) -> dict[str, Any]:
    return {
        "prompt": f"prompt {i} with some words {i * 3}",
        "completion": completion or f"completion {i}" + "." * (i % 7),
    }


def varied(n: int) -> list[dict[str, Any]]:
    return [pc(i, "x" * (5 + (i * 37) % 90)) for i in range(n)]


SO_SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
}
SO = {"structured_outputs": [{"field": "completion", "schema": SO_SCHEMA}]}
MIX_OFF = {"rules": {"MIX001": {"severity": "off"}}}

# rule -> (failing records, passing records, config)
CASES: dict[str, tuple[list[Any], list[Any], dict[str, Any] | None]] = {
    "FMT001": (["{not json", pc(1)], [pc(1)], None),
    "FMT002": (
        [chat(("human", "hi"), ("assistant", "hello"))],
        [chat(("user", "hi"), ("assistant", "hello"))],
        MIX_OFF,
    ),
    "FMT003": (
        [chat(("user", "a"), ("user", "b"), ("assistant", "c"))],
        [
            chat(
                ("system", "s"),
                ("user", "a"),
                ("assistant", "b"),
                ("user", "c"),
                ("assistant", "d"),
            )
        ],
        MIX_OFF,
    ),
    "FMT004": (
        [chat(("user", "a"), ("assistant", "b"), ("user", "c"))],
        [chat(("user", "a"), ("assistant", "b"))],
        MIX_OFF,
    ),
    "FMT005": ([pc(1, " "), pc(2)], [pc(1), pc(2)], None),
    "FMT006": (
        [{"prompt": "p", "chosen": "same answer", "rejected": "same answer"}],
        [{"prompt": "p", "chosen": "good answer", "rejected": "bad answer"}],
        None,
    ),
    "FMT007": (
        [{"prompt": "p", "chosen": "good", "rejected": ""}],
        [{"prompt": "p", "chosen": "good", "rejected": "bad"}],
        None,
    ),
    "FMT008": ([pc(1, '{"name": "a", "age": 3,}')], [pc(1, '{"name": "a", "age": 3}')], SO),
    "FMT009": ([pc(1, '{"name": "a", "age": "three"}')], [pc(1, '{"name": "a", "age": 3}')], SO),
    "LEN001": (
        [pc(i, "x" * (20 + i % 5)) for i in range(40)] + [pc(99, "y" * 5000)],
        [pc(i, "x" * (20 + i % 5)) for i in range(40)],
        None,
    ),
    "LEN002": ([pc(i, f"answer {i:04d}") for i in range(30)], varied(30), None),
    "LBL001": (
        [{**pc(i), "label": "spam" if i < 3 else "ham"} for i in range(60)],
        [{**pc(i), "label": "spam" if i % 2 else "ham"} for i in range(60)],
        {"labels": {"field": "label"}},
    ),
    "LBL002": (
        [{**pc(1), "label": "a"}, {**pc(2), "label": None}],
        [{**pc(1), "label": "a"}, {**pc(2), "label": "b"}],
        {"labels": {"field": "label"}},
    ),
    "MIX001": (
        [qa(i) for i in range(10)],
        [qa(i) for i in range(8)]
        + [
            chat(("user", "a"), ("assistant", "b"), ("user", f"c{i}"), ("assistant", "d"))
            for i in range(3)
        ],
        None,
    ),
    "MIX002": (
        [qa(1), chat(("system", "be brief"), ("user", "x"), ("assistant", "y"))],
        [
            chat(("system", "be brief"), ("user", "q"), ("assistant", "a")),
            chat(("system", "be brief"), ("user", "x"), ("assistant", "y")),
        ],
        MIX_OFF,
    ),
    "PII001": (
        [pc(1, "write to jane.roe@acme-corp.org today")],
        [pc(1, "write to the support team today")],
        None,
    ),
    "PII002": ([pc(1, "call me on +44 20 7946 0958")], [pc(1, "call me tomorrow at noon")], None),
    "PII003": (
        [pc(1, "card 4111 1111 1111 1111 exp 12/30")],
        [pc(1, "card 4111 1111 1111 1112 is not valid")],
        None,
    ),
    "PII004": (
        [pc(1, "the server at 10.20.30.40 and 2a00:1450::7")],
        [pc(1, "version 3.14 at 12:30:45")],
        None,
    ),
    "PII005": (
        [pc(1, "pay to GB12 WEST 1234 5698 7654 31")],
        [pc(1, "pay to GB12 WEST 1234 5698 7654 32")],
        None,
    ),
    "SEC001": ([pc(1, "key AKIAIOSFODNN7EXAMPLE here")], [pc(1, "key AKIA is a prefix")], None),
    "SEC002": (
        [pc(1, "token Zx8vQ2pL9mN4bR7tY1wE5kJ3hG6fD0sA")],
        [pc(1, "the word internationalization_everywhere is long")],
        None,
    ),
    "DUP001": (
        [pc(1, "Same answer!"), {"prompt": pc(1)["prompt"].upper(), "completion": "same answer"}],
        [pc(1), pc(2)],
        None,
    ),
}


def test_every_rule_has_a_case_or_its_own_test() -> None:
    # Need a tokenizer / golden sets / a file that cannot be read: see their tests
    # (FMT010: tests/io/test_io_read_failures.py).
    own_tests = {"LEN003", "LEAK001", "FMT010"}
    assert set(RULES) == set(CASES) | own_tests


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_failing_fixture(rule: str, run_audit: Callable[..., dict[str, Any]]) -> None:
    bad, _, config = CASES[rule]
    report = run_audit(bad, config)
    assert rule in rules_found(report)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_is_quiet_on_passing_fixture(
    rule: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    _, good, config = CASES[rule]
    report = run_audit(good, config)
    assert rule not in rules_found(report)


def test_length_bias_compares_the_unrounded_coefficient_of_variation(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by attack: these lengths have a CV of 0.0999727, rounded to 0.1 in the stats
    # and compared so: not below min_cv 0.1, no LEN002. The message shows 6 decimals.
    lengths = [114, 102, 81, 100, 93, 90, 112, 102, 106, 112]
    report = run_audit([pc(i, "x" * n) for i, n in enumerate(lengths)])
    assert report["stats"]["lengths"]["chars"]["output"]["cv"] == 0.1
    f = finding(report, "LEN002")
    assert "(coefficient of variation 0.099973, below 0.1)" in f["message"]
    assert f["share"] == 0.099973
    # Nine rows are too few to judge (the rule text says so).
    assert "LEN002" not in rules_found(run_audit([pc(i, "x" * 50) for i in range(9)]))
    assert "at least 10 rows" in RULES["LEN002"].checks


@pytest.mark.parametrize("rule", ["FMT002", "FMT006", "PII001", "DUP001"])
def test_row_findings_point_at_file_and_line(
    rule: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    bad, _, config = CASES[rule]
    report = run_audit([pc(50), *bad], config)
    rows = finding(report, rule)["rows"]
    # "path:line" with a 1-based line number (was `r.endswith(":" + <its own tail>)`, true
    # of any string with a colon).
    assert rows and all(r.rsplit(":", 1)[1].isdigit() for r in rows)
    assert {r.rsplit(":", 1)[1] for r in rows} <= {str(n) for n in range(2, len(bad) + 2)}
    assert all(r.rsplit(":", 1)[0].endswith("train.jsonl") for r in rows)


def test_message_says_how_to_fix(run_audit: Callable[..., dict[str, Any]]) -> None:
    report = run_audit(CASES["FMT002"][0], MIX_OFF)
    f = finding(report, "FMT002")
    # The documented fix, written out here rather than read back from RULES.
    fix = "Rename the role to one of system, user, assistant, tool (e.g. human->user, "
    assert f"Fix: {fix}" in f["message"] and f["fix"].startswith(fix)


@pytest.mark.parametrize(
    "secret",
    [
        "jane.roe@acme-corp.org",
        "4111 1111 1111 1111",
        "AKIAIOSFODNN7EXAMPLE",
        "Zx8vQ2pL9mN4bR7tY1wE5kJ3hG6fD0sA",
        "GB12 WEST 1234 5698 7654 31",
    ],
)
def test_secrets_never_appear_in_any_output(
    secret: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    report = run_audit([pc(1, f"here: {secret} ok"), pc(2)])
    assert report["stats"]["pii"] and any(report["stats"]["pii"].values())
    outputs = list(tmp_path.glob("out*/*"))
    assert {p.name for p in outputs} >= {"audit.json", "audit.md", "report.html", "sample.jsonl"}
    for p in outputs:
        assert secret not in p.read_text(encoding="utf-8"), p.name
    assert "[REDACTED:" in (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")


def test_a_secret_written_as_a_chat_role_is_redacted_in_the_findings(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: FMT002/FMT004 quoted the role, cut to 20 characters (an AWS key's
    # length), into audit.json, audit.md and report.html while the sample redacted it.
    from curagate.cli import main

    rows = [
        chat(("user", "hi"), ("assistant", "yo")),
        chat(("AKIAIOSFODNN7EXAMPLE", "hi"), ("assistant", "yo")),
        chat(("user", "hi"), ("jo@ex.co", "yo")),
    ]
    report = run_audit(rows)
    details = json.dumps(report["findings"])
    assert "role is '[REDACTED:SEC001]'" in details and "is a [REDACTED:PII001] turn" in details
    for p in tmp_path.glob("out*/*"):
        text = p.read_text(encoding="utf-8")
        assert "AKIAIOSFODNN7EXAMPLE" not in text and "jo@ex.co" not in text, p.name
    # check reads records one by one (its own path to the same findings)
    data = next(tmp_path.glob("data*/train.jsonl"))
    assert main(["check", str(data), "--format", "json"]) == 1
    out = capsys.readouterr().out
    assert (
        "[REDACTED:SEC001]" in out and "AKIAIOSFODNN7EXAMPLE" not in out and "jo@ex.co" not in out
    )


def test_a_secret_used_as_a_key_of_a_structured_output_is_redacted_in_fmt009(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by attack: FMT009 named the failing path, `$.contacts.AKIAIOSFODNN7EXAMPLE`,
    # in audit.json, audit.md, report.html and the console while SEC001 counted the key and
    # sample.jsonl redacted it.
    config = {
        "structured_outputs": [
            {
                "field": "completion",
                "schema": {
                    "type": "object",
                    "properties": {
                        "contacts": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
            }
        ]
    }
    contacts = {"AKIAIOSFODNN7EXAMPLE": 1, "jane.doe@corp.com": 2, "ok": 3}
    for key in contacts:
        if key == "ok":
            continue
        report = run_audit([pc(1, json.dumps({"contacts": {key: 1}}))], config)
        message = finding(report, "FMT009")["message"]
        assert "at $.contacts.[REDACTED:" in message, message
        for p in tmp_path.glob("out*/*"):
            assert key not in p.read_text(encoding="utf-8"), p.name
    report = run_audit([pc(1, json.dumps({"contacts": {"ok": 3}}))], config)
    assert "at $.contacts.ok fails 'type'" in finding(report, "FMT009")["message"]


@pytest.mark.parametrize(
    ("text", "secret", "rule"),
    [
        # Python's \w and \b are Unicode: CJK letters touching a value hid it.
        ("请联系我的邮箱john.doe@acme-corp.com谢谢", "john.doe@acme-corp.com", "PII001"),
        ("密钥AKIAIOSFODNN7EXAMPLE谢谢", "AKIAIOSFODNN7EXAMPLE", "SEC001"),
        ("电话555-123-4567谢谢", "555-123-4567", "PII002"),
        ("サーバー10.20.30.40です", "10.20.30.40", "PII004"),
        ("口座GB12WEST12345698765431です", "GB12WEST12345698765431", "PII005"),
        ("トークンghp_" + "a1B2" * 10 + "です", "a1B2" * 10, "SEC001"),
        # Phone numbers grouped by spaces.
        ("call 555 123 4567 now", "555 123 4567", "PII002"),
        # PGP's header, and the whole block is redacted, not just the header.
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0xKeyBody\n-----END PGP PRIVATE KEY BLOCK-----",
            "lQOYBF0xKeyBody",
            "SEC001",
        ),
        # Headers of two or more words, RFC 4716's four dashes, PuTTY's key file.
        (
            "-----BEGIN SSH2 ENCRYPTED PRIVATE KEY-----\nP2/56wAAAKeyBody\n-----END SSH2 ENCRYPTED PRIVATE KEY-----",
            "P2/56wAAAKeyBody",
            "SEC001",
        ),
        (
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nAAAAB3KeyBody\n---- END SSH2 ENCRYPTED PRIVATE KEY ----",
            "AAAAB3KeyBody",
            "SEC001",
        ),
        ("PuTTY-User-Key-File-3: ssh-ed25519", "PuTTY-User-Key-File-3", "SEC001"),
        # A card number in full-width or Arabic-Indic digits (Luhn-valid 4111...1111).
        (FULL_WIDTH_CARD, FULL_WIDTH_CARD, "PII003"),
        (ARABIC_INDIC_CARD, ARABIC_INDIC_CARD, "PII003"),
    ],
)
def test_values_next_to_cjk_spaced_phones_and_pgp_keys_are_found_and_redacted(
    text: str, secret: str, rule: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    """Each was missed, and copied unredacted into sample.jsonl."""
    report = run_audit([pc(1, f"case: {text}"), pc(2)])
    assert rule in rules_found(report)
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert f"[REDACTED:{rule}]" in sample and secret not in sample


def test_an_address_that_begins_inside_a_key_is_redacted_whole(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # The key was redacted and the rest of the address left after it in sample.jsonl
    # ("[REDACTED:SEC001].john.doe@acme-corp.com"); an address inside a key is the key's.
    report = run_audit([pc(1, "write to AKIAIOSFODNN7EXAMPLE.john.doe@acme-corp.com today"), pc(2)])
    assert {"SEC001", "PII001"} <= set(rules_found(report))
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert "john.doe" not in sample and "example.com" not in sample
    text = "AKIAIOSFODNN7EXAMPLE.john.doe@acme-corp.com"
    assert pii.redact(text, pii.scan(text)) == "[REDACTED:SEC001]"
    block = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "Comment: bob@acme-corp.com\n-----END OPENSSH PRIVATE KEY-----"
    )
    assert {h.rule for h in pii.scan(block)} == {"SEC001"}


def test_the_phone_formats_are_those_docs_audit_md_states() -> None:
    found = [
        "+44 20 7946 0958",
        "+49 (30) 1234 5678",
        "+12025550100",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "555 123 4567",
        "555\u2013123\u20134567",
    ]
    # (out of scope, and documented so: national formats without the +, digits run together)
    missed = ["020 7946 0958", "07700 900123", "01 23 45 67 89", "5551234567"]
    for number in found + missed:
        text = f"call {number} now"
        got = [text[h.start : h.end] for h in pii.scan(text) if h.rule == "PII002"]
        assert got == ([number] if number in found else []), number


def test_a_plus_signed_decimal_number_is_no_phone() -> None:
    # Found by attack: its digits split into groups made a phone of a "+" then a decimal
    # number, and the sample redacted coordinates and constants.
    decimals = [
        "+40.7128, -74.0060",
        "+3.14159",
        "+0.123456",
        "+12.3456",
        "+2.718281",
        "pH rose by +0.12345",
        "+0.1234567",
        "+\uff14\uff10\uff0e\uff17\uff11\uff12\uff18",
    ]
    for text in decimals:
        assert [h.rule for h in pii.scan(f"{text} now")] == [], text
    phones = ["+44 20 7946 0958", "+49 (30) 1234 5678", "+12025550100", "+33 1 23 45 67 89"]
    # A dot after the country code then the number, as WHOIS (RFC 5733) writes phones, and
    # a "+00" prefix: missed once decimals were none (found by re-attack).
    whois = ["+1.4155552671", "+49.3012345678", "+65.91234567", "+0044 20 7946 0958"]
    for number in [*phones, *whois, "+1.202.555.0100", "+44.20.7946.0958"]:
        text = f"call {number} now"
        assert [text[h.start : h.end] for h in pii.scan(text)] == [number], number
    # the limit docs/audit.md states: grouped in threes, as Spain's +34 612 345 678
    assert [h.rule for h in pii.scan("revenue +12 345 678 EUR")] == ["PII002"]


def test_lists_of_numbers_are_not_phone_numbers(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Phones grouped by spaces look like lists of numbers (math data is full of them).
    prompts = [
        "Add the numbers 100 250 1000 and 42",
        "Sort 5 200 300 4000 7 in order",
    ]
    report = run_audit([pc(i, p) for i, p in enumerate(prompts)])
    assert "PII002" not in rules_found(report)


LEAKY = "mail john.doe@acme-corp.com key AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    "record",
    [
        # chat turns with a field the format does not read (per-record path)
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "reasoning_content": LEAKY},
            ]
        },
        # plain chat turns (columnar turns) and a nested column
        {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "meta": {"notes": [LEAKY]},
        },
        # prompt/completion with a `system` column (columnar fields)
        {**pc(1), "system": LEAKY},
        {"text": "plain text", "source": LEAKY},
        {"prompt": "q", "chosen": "a", "rejected": "b", "comment": LEAKY},
        # an object key holding text: shown raw in the sample, never reported
        {"text": "plain text", "votes": {LEAKY: 1}},
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "votes": {LEAKY: 1}},
            ]
        },
    ],
    ids=[
        "chat-reasoning",
        "chat-nested-column",
        "pc-system",
        "text-source",
        "preference-comment",
        "text-object-key",
        "chat-object-key",
    ],
)
def test_pii_in_fields_the_format_does_not_read_is_found_as_the_sample_redacts_it(
    record: dict[str, Any], tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    """The scan read only the format's fields, the sample's redaction every string: a key
    in reasoning_content or a system column was redacted in the sample and not reported."""
    report = run_audit([record])
    assert {"PII001", "SEC001"} <= rules_found(report)
    assert report["summary"]["passed"] is False  # SEC001 is an error
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert "AKIAIOSFODNN7EXAMPLE" not in sample and "[REDACTED:SEC001]" in sample


def test_the_sample_shows_no_key_of_another_row_and_keys_shaped_like_names_are_scanned(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    """Arrow gives every row of a batch every key any row has (null where the row has
    none): the sample showed row 1 with row 2's e-mail key, raw, since a key without a value
    was not scanned. And a key shaped like a field name was never read: a GitHub token
    used as a key went into the sample with no SEC001."""
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    report = run_audit(
        [
            {"text": "first", "votes": {"alice.smith@acme-corp.com": 1}},
            {"text": "second", "votes": {"bob.jones@acme-corp.com": 2}},
            {"text": "third", "meta": {token: 1}},
        ]
    )
    assert {"PII001", "SEC001"} <= rules_found(report)
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    for secret in ("alice.smith", "bob.jones", token):
        assert secret not in sample
    rows = [json.loads(line)["record"] for line in sample.splitlines()]
    assert [r.get("votes") for r in rows] == [
        {"[REDACTED:PII001]": 1},
        {"[REDACTED:PII001]": 2},
        None,  # a null column: left out of the row
    ]
    assert "votes" not in rows[2]


def test_image_parts_are_not_scanned_nor_redacted(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    """Every string is scanned except the non-text parts of a content list (an inline
    image is not a secret), and the sample leaves exactly those alone too."""
    # (random bytes: as a text, SEC002 high-entropy-string)
    image = "data:image/png;base64,d693i1Gr1KPFHF3dlyBKnDrmFOvMt1pgbDtoZa7WdE7NY1fv3ZZt6MDLL4dsy"
    record = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"what is this? {LEAKY}"},
                    {"type": "image", "image": image},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
        ]
    }
    report = run_audit([record])
    assert {"PII001", "SEC001"} <= rules_found(report) and "SEC002" not in rules_found(report)
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert image in sample and "AKIAIOSFODNN7EXAMPLE" not in sample


def test_the_rest_of_a_non_text_part_is_scanned_and_redacted_but_its_media(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by attack: a secret as a part's type and an e-mail in an image URL went into
    # sample.jsonl as they were (the audit reported neither).
    media = "d693i1Gr1KPFHF3dlyBKnDrmFOvMt1pgbDtoZa7WdE7NY1fv3ZZt6MDLL4dsy"  # SEC002 as text
    record = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {
                        "type": "AKIAIOSFODNN7EXAMPLE",
                        "image_url": {"url": "https://x/a@b.acme.net"},
                    },
                    {"type": "input_audio", "input_audio": {"data": media, "format": "wav"}},
                    {"type": "image", "source": {"type": "base64", "data": media}},
                    {"type": "image", "image": media},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
        ]
    }
    report = run_audit([record])
    assert {"PII001", "SEC001"} <= rules_found(report) and "SEC002" not in rules_found(report)
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert "AKIAIOSFODNN7EXAMPLE" not in sample and "a@b.acme.net" not in sample
    parts = json.loads(sample)["record"]["messages"][0]["content"]
    assert parts[1] == {
        "type": "[REDACTED:SEC001]",
        "image_url": {"url": "https://x/[REDACTED:PII001]"},
    }
    assert [
        p.get("input_audio", p.get("source", p)).get("data", p.get("image")) for p in parts[2:]
    ] == [media] * 3


def test_text_and_urls_in_media_fields_are_scanned_only_base64_is_not(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by re-attack: every `data` / `image` field and every string starting with
    # "data:" was skipped: a document's text, a tool result, an image URL carried tokens
    # and e-mails into sample.jsonl, and the audit passed.
    tok = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    doc = {"type": "text", "media_type": "text/plain", "data": f"use token {tok} and a@b.acme.net"}
    parts = [
        {"type": "text", "text": "summarize these"},
        {"type": "document", "source": doc},
        {"type": "tool_result", "tool_use_id": "t1", "content": f'data: {{"token": "{tok}"}}'},
        {"type": "image", "image": f"https://cdn.example.org/c@d.acme.net/p.png?t={tok}"},
        {
            "type": "image",
            "image": "data:image/png;base64,d693i1Gr1KPFHF3dlyBKnDrmFOvMt1pgbDtoZa7W",
        },
    ]
    record = {
        "messages": [
            {"role": "user", "content": parts},
            {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
        ]
    }
    report = run_audit([record])
    assert {"PII001", "SEC001"} <= rules_found(report) and "SEC002" not in rules_found(report)
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert tok not in sample and "a@b.acme.net" not in sample and "c@d.acme.net" not in sample
    assert "data:image/png;base64,d693i1Gr1KPFHF3dlyBKnDrmFOvMt1pgbDtoZa7W" in sample


def test_pii_counts_are_reported(run_audit: Callable[..., dict[str, Any]]) -> None:
    report = run_audit([pc(1, "a@acme-corp.com and b@acme-corp.com"), pc(2, "c@acme-corp.com")])
    assert report["stats"]["pii"]["PII001"] == 3
    assert finding(report, "PII001")["count"] == 2


def test_leakage_flags_rows_containing_golden_items(tmp_path: Any) -> None:
    from curagate.audit import AuditConfig, audit
    from curagate.audit.config import LeakageConfig

    item = "Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May"
    golden = write_records(tmp_path / "golden" / "gsm.jsonl", [{"question": item, "answer": "72"}])
    data = write_records(
        tmp_path / "train.jsonl",
        [pc(1), {"prompt": f"Solve this: {item}. Show your work.", "completion": "72"}, pc(3)],
    )
    cfg = AuditConfig(leakage=LeakageConfig(reference=[golden.parent]))
    report = audit([data], config=cfg, out=tmp_path / "out")
    f = finding(report, "LEAK001")
    assert f["severity"] == "error" and f["rows"] == [f"{data.as_posix()}:2"]


def test_a_golden_row_found_by_its_prompt_and_its_answer_counts_once(tmp_path: Any) -> None:
    # Found by attack: the answer is an item of its own, and the audit counted 2 leaked
    # golden items for a set of one.
    from curagate.audit import AuditConfig, audit
    from curagate.audit.config import LeakageConfig

    question = "Explain in detail why the sky appears blue to an observer standing on the ground"
    answer = "Sunlight scatters off the molecules of the air and the short blue waves scatter most"
    golden = write_records(
        tmp_path / "golden" / "set.jsonl", [{"id": "g1", "prompt": question, "reference": answer}]
    )
    data = write_records(
        tmp_path / "train.jsonl", [{"prompt": question, "completion": answer}, pc(2)]
    )
    cfg = AuditConfig(leakage=LeakageConfig(reference=[golden.parent]))
    report = audit([data], config=cfg, out=tmp_path / "out")
    assert report["stats"]["leakage"]["leaked_reference_items"] == 1
    assert finding(report, "LEAK001")["rows"] == [f"{data.as_posix()}:1"]


def test_leakage_scans_what_curagate_leakage_scans_not_only_the_key(tmp_path: Any) -> None:
    from curagate.audit import AuditConfig, audit
    from curagate.audit.config import LeakageConfig

    item = "Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May"
    golden = write_records(tmp_path / "golden" / "gsm.jsonl", [{"question": item, "answer": "72"}])
    # Preference rows are keyed by their prompt; DPO trains on `chosen` all the same.
    pref = write_records(
        tmp_path / "pref.jsonl",
        [
            {"prompt": "What is the capital of France?", "chosen": item, "rejected": "no idea"},
            {"prompt": "Tell me something", "chosen": "ok", "rejected": "sure"},
        ],
    )
    extra = write_records(
        tmp_path / "pc.jsonl", [pc(1), {**pc(2), "system": item}, pc(3)]
    )  # an extra column
    cfg = AuditConfig(leakage=LeakageConfig(reference=[golden.parent]))
    for data, row in ((pref, 1), (extra, 2)):
        report = audit([data], config=cfg, out=tmp_path / data.stem)
        assert finding(report, "LEAK001")["rows"] == [f"{data.as_posix()}:{row}"]


def test_unreadable_golden_row_is_an_input_error(tmp_path: Any) -> None:
    from curagate.audit import AuditConfig, audit
    from curagate.audit.config import LeakageConfig
    from curagate.errors import InputError

    golden = write_records(
        tmp_path / "golden" / "gsm.jsonl",
        [
            {"question": "a golden question nobody trains on " * 3, "answer": "1"},
            '{"question": "cut',
        ],
    )
    data = write_records(tmp_path / "train.jsonl", [pc(1), pc(2)])
    cfg = AuditConfig(leakage=LeakageConfig(reference=[golden.parent]))
    with pytest.raises(InputError, match=rf"{golden.as_posix()}:2: .*reference set"):
        audit([data], config=cfg, out=tmp_path / "out")


def test_leakage_clean_corpus_has_no_finding(tmp_path: Any) -> None:
    from curagate.audit import AuditConfig, audit
    from curagate.audit.config import LeakageConfig

    golden = write_records(
        tmp_path / "golden" / "gsm.jsonl",
        [{"question": "a golden question nobody trains on " * 3, "answer": "1"}],
    )
    data = write_records(tmp_path / "train.jsonl", [pc(1), pc(2)])
    report = audit(
        [data],
        config=AuditConfig(leakage=LeakageConfig(reference=[golden.parent])),
        out=tmp_path / "out",
    )
    assert "LEAK001" not in rules_found(report)
    assert report["stats"]["leakage"]["leaking_rows"] == 0


@pytest.mark.parametrize(("spam", "fires"), [(6, False), (5, True)])
def test_label_imbalance_is_above_ninety_percent(
    spam: int, fires: bool, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # labels.max_share defaults to 0.9 (docs/audit.md), strictly above: 54 of 60 is 90.0%
    # and passes, 55 of 60 is 91.7% and fails. The CASES pair (95% vs 50%) passes with
    # any bound from 0.5 to 0.95.
    records = [{**pc(i), "label": "spam" if i < spam else "ham"} for i in range(60)]
    report = run_audit(records, {"labels": {"field": "label"}})
    assert ("LBL001" in rules_found(report)) is fires


def test_label_imbalance_reports_the_share_that_broke_the_threshold(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by attack: a class holding 0.5% (below min_share 1%) was reported with share
    # 0.995, so `error_above` compared 0.995 and a rare class was an error at any bound.
    records = [{**pc(i), "label": "a" if i < 100 else "b" if i < 199 else "c"} for i in range(200)]
    [finding] = [
        f
        for f in run_audit(records, {"labels": {"field": "label"}})["findings"]
        if f["rule"] == "LBL001"
    ]
    assert finding["share"] == 0.005 and "'c' holds 0.50%" in finding["message"]
    skewed = [{**pc(i), "label": "a" if i < 195 else "b"} for i in range(200)]
    [finding] = [
        f
        for f in run_audit(skewed, {"labels": {"field": "label"}})["findings"]
        if f["rule"] == "LBL001"
    ]
    assert finding["share"] == 0.975


def test_a_timestamp_or_decimal_label_column_is_counted_not_a_crash(tmp_path: Any) -> None:
    # Found by attack: `labels.field` naming a Parquet timestamp, date or decimal column was
    # a TypeError (not JSON serializable), exit 3.
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curagate.audit import audit

    data = tmp_path / "d.parquet"
    when = [datetime.datetime(2024, 1, 1 + i % 2) for i in range(10)]
    price = [decimal.Decimal("1.50") if i % 2 else decimal.Decimal("2.25") for i in range(10)]
    pq.write_table(
        pa.table(
            {
                "prompt": [f"prompt {i} of some words" for i in range(10)],
                "completion": [f"completion {i}" for i in range(10)],
                "when": pa.array(when, pa.timestamp("us")),
                "price": pa.array(price, pa.decimal128(5, 2)),
            }
        ),
        data,
    )
    for column in ("when", "price"):
        cfg = tmp_path / f"{column}.yaml"
        cfg.write_text(f"labels: {{field: {column}}}\n")
        report = audit([data], config=cfg, out=tmp_path / column)
        counts = report["stats"]["labels"]["counts"]
        assert sum(counts.values()) == 10 and len(counts) == 2, counts


def test_equal_numbers_are_one_label_class_however_the_input_is_split(tmp_path: Path) -> None:
    # Found by attack: the class was the JSON of the value Arrow typed per file and per
    # batch, so labels 0/1 in one file and 0.0/1.0 in another were four classes at 25%
    # (LBL001 fired), the same rows in one file two; labels 1 and 2 with one 1.0 counted a
    # class "2.0" the data never held. True stays apart from 1.
    def rows(start: int, labels: list[Any]) -> list[Record]:
        return [{**pc(start + i), "cls": v} for i, v in enumerate(labels)]

    ints = rows(0, [0, 1] * 10)
    floats = rows(100, [0.0, 1.0] * 10)
    a = write_records(tmp_path / "a.jsonl", ints)
    b = write_records(tmp_path / "b.jsonl", floats)
    both = write_records(tmp_path / "ab.jsonl", ints + floats)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("labels: {field: cls, min_share: 0.3}\n", encoding="utf-8")
    split = audit([a, b], config=cfg, out=tmp_path / "split")
    one = audit([both], config=cfg, out=tmp_path / "one")
    expected = {"0": 20, "1": 20}
    assert split["stats"]["labels"]["counts"] == one["stats"]["labels"]["counts"] == expected
    assert "LBL001" not in rules_found(split) and split["findings"] == one["findings"]

    def labels_section(out: Path) -> str:
        md = (out / "audit.md").read_text(encoding="utf-8")
        return md[md.index("## Labels") :].split("\n## ")[0]

    assert labels_section(tmp_path / "split") == labels_section(tmp_path / "one")
    mixed = write_records(tmp_path / "m.jsonl", rows(200, [1, 2] * 5 + [1.0]))
    counts = audit([mixed], config=cfg, out=tmp_path / "m")["stats"]["labels"]["counts"]
    assert counts == {"1": 6, "2": 5}
    bools = write_records(tmp_path / "t.jsonl", rows(300, [True, False] * 10))
    counts = audit([a, bools], config=cfg, out=tmp_path / "t")["stats"]["labels"]["counts"]
    assert counts == {"0": 10, "1": 10, "false": 10, "true": 10}


def test_a_string_that_reads_as_another_json_value_is_its_own_label_class(
    tmp_path: Path,
) -> None:
    # Found by attack: true in one file and "true" in another (1 and "1", null and "null")
    # were counted as one class; LBL001 said "only one class" and the audit passed, while
    # the same rows in one file were FMT001 (one type per field).
    def rows(start: int, labels: list[Any]) -> list[Record]:
        return [{**pc(start + i), "cls": v} for i, v in enumerate(labels)]

    # One type per file (a file that mixes them is FMT001).
    typed = [
        write_records(tmp_path / f"{k}.jsonl", rows(10 * k, [v] * 3))
        for k, v in enumerate([True, 1, 2.0, [1, 2]])
    ]
    texts = write_records(tmp_path / "b.jsonl", rows(100, ["true", "1", "2", "[1, 2]"] * 3))
    words = write_records(tmp_path / "c.jsonl", rows(200, ["pos", "nothing", "-", "1x"]))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("labels: {field: cls, min_share: 0.01}\n", encoding="utf-8")
    report = audit([*typed, texts, words], config=cfg, out=tmp_path / "out")
    assert report["stats"]["labels"]["counts"] == {
        "true": 3,
        "1": 3,
        "2": 3,
        "[1, 2]": 3,
        '"true"': 3,
        '"1"': 3,
        '"2"': 3,
        '"[1, 2]"': 3,
        "pos": 1,
        "nothing": 1,
        "-": 1,
        "1x": 1,
    }
    md = (tmp_path / "out" / "audit.md").read_text(encoding="utf-8")
    assert '"true"' in md


def test_a_string_label_written_with_its_quotes_is_not_the_string_without_them(
    tmp_path: Path,
) -> None:
    # Found by attack: the string 1 is shown quoted ("1", as it reads as a number) and the
    # string "1" (its quotes part of it) was shown as written: both were the class "1".
    rows = [{**pc(i), "cls": '"1"' if i % 2 else "1"} for i in range(20)]
    rows += [{**pc(50), "cls": '"x'}, {**pc(51), "cls": "x"}]
    data = write_records(tmp_path / "d.jsonl", rows)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("labels: {field: cls, min_share: 0.01}\n", encoding="utf-8")
    report = audit([data], config=cfg, out=tmp_path / "out")
    assert report["stats"]["labels"]["counts"] == {'"1"': 10, '"\\"1\\""': 10, '"\\"x"': 1, "x": 1}


@pytest.mark.parametrize("blank", ["\u2060", "\ufeff\u00ad", "\u200c \u200d"])
def test_a_completion_of_only_format_characters_is_empty_to_audit(
    blank: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    report = run_audit([pc(1, blank), pc(2)])
    assert "FMT005" in rules_found(report)


@pytest.mark.parametrize("levels", [950, 100_000])
def test_structured_output_nested_past_the_limit_is_fmt008_not_a_crash(
    levels: int, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # json.loads raised RecursionError at 100,000 levels, the schema validator at 950:
    # exit 3 for one record.
    deep = "[" * levels + "]" * levels
    report = run_audit([pc(1, deep), pc(2, '{"name": "a", "age": 3}')], SO)
    [row] = finding(report, "FMT008")["rows"]
    assert row.endswith("train.jsonl:1")
    assert "nests deeper than 128 levels" in str(finding(report, "FMT008"))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_structured_output_with_nan_or_infinity_is_not_json(
    constant: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by attack: json.loads reads NaN and Infinity, JSON.parse and serde reject them;
    # `{"score": NaN}` passed the audit.
    schema = {"type": "object", "properties": {"score": {"type": "number"}}}
    config = {"structured_outputs": [{"field": "completion", "schema": schema}]}
    report = run_audit([pc(1, f'{{"score": {constant}}}'), pc(2, '{"score": 1.5}')], config)
    [row] = finding(report, "FMT008")["rows"]
    assert row.endswith("train.jsonl:1")
    assert f"{constant} is no JSON value" in str(finding(report, "FMT008"))
    # Parsed already (the reader takes NaN in a record line): the same.
    records = [{**pc(1), "meta": {"score": [float(constant)]}}, {**pc(2), "meta": {"score": 1}}]
    config = {"structured_outputs": [{"field": "meta", "schema": schema}]}
    [row] = finding(run_audit(records, config), "FMT008")["rows"]
    assert row.endswith("train.jsonl:1")


def test_a_structured_output_no_record_has_is_a_config_error(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # A misspelt field was "'complettion' is missing" on every row (FMT008 per row, exit 1):
    # a config to fix, said once.
    config = {"structured_outputs": [{"field": "complettion", "schema": SO_SCHEMA}]}
    with pytest.raises(ConfigError, match=r"no record has a field 'complettion'"):
        run_audit([pc(1, '{"name": "a", "age": 3}'), pc(2, '{"name": "b", "age": 4}')], config)
    # one record without it is that record's finding
    records = [{**pc(1), "out": '{"name": "a", "age": 3}'}, pc(2)]
    config = {"structured_outputs": [{"field": "out", "schema": SO_SCHEMA}]}
    [row] = finding(run_audit(records, config), "FMT008")["rows"]
    assert row.endswith("train.jsonl:2")
    # The re-attack: a field null in every record is there (the data's fault, not the
    # config's), and so is `assistant` on records without an answer: findings, exit 1.
    records = [{**pc(1), "out": None}, {**pc(2), "out": None}]
    assert len(finding(run_audit(records, config), "FMT008")["rows"]) == 2
    config = {"structured_outputs": [{"field": "assistant", "schema": SO_SCHEMA}]}
    prompts = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(2)]
    hit = finding(run_audit(prompts, config), "FMT008")
    assert len(hit["rows"]) == 2 and "has no assistant answer" in str(hit)


def test_the_assistant_structured_output_of_a_prompt_completion_record_is_its_completion(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # `field: assistant` on prompt/completion data was "'assistant' is missing" on every row.
    config = {"structured_outputs": [{"field": "assistant", "schema": SO_SCHEMA}]}
    conversational = {
        "prompt": [{"role": "user", "content": "who?"}],
        "completion": [{"role": "assistant", "content": '{"name": "c", "age": "x"}'}],
    }
    report = run_audit([pc(1, '{"name": "a", "age": 3}'), pc(2, "not json")], config)
    [row] = finding(report, "FMT008")["rows"]
    assert row.endswith("train.jsonl:2") and "FMT009" not in rules_found(report)
    report = run_audit([conversational], config)
    assert "FMT008" not in rules_found(report) and "FMT009" in rules_found(report)


@pytest.mark.parametrize(
    ("rule", "bad"),
    [
        # four bad roles in one conversation
        (
            "FMT002",
            [
                {"role": "human", "content": "a"},
                {"role": "gpt", "content": "b"},
                {"role": "human", "content": "c"},
                {"role": "gpt", "content": "d"},
            ],
        ),
        # two turns out of order in one conversation
        (
            "FMT003",
            [
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"},
            ],
        ),
    ],
)
def test_a_rule_counts_rows_not_the_turns_that_break_it(
    run_audit: Callable[..., dict[str, Any]], rule: str, bad: list[dict[str, str]]
) -> None:
    # One bad row of four was "3 rows (75.00%)" (one count per turn) and crossed
    # error_above: 0.5; a row with four bad turns among two rows was "200.00%".
    good = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(3)
    ]
    config = {"rules": {rule: {"severity": "warning", "error_above": 0.5}, **MIX_OFF["rules"]}}
    report = run_audit([{"messages": bad}, *good], config)
    f = finding(report, rule)
    assert (f["count"], f["rows"]) == (1, [f["rows"][0]]) and f["rows"][0].endswith(":1")
    assert f["severity"] == "warning" and f["share"] == 0.25
    assert "(1 rows)" not in f["message"] and "(4 rows)" not in f["message"]


def test_a_problem_of_the_whole_file_is_referenced_by_the_file_not_line_0(tmp_path: Path) -> None:
    # A cut .gz stream has no line of its own: the reference was `cut.jsonl.gz:0`.
    data = gzip.compress(b"".join(b'{"text": "row number %d here"}\n' % i for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    report = audit([path], out=tmp_path / "out")
    refs = finding(report, "FMT010")["rows"]
    assert path.as_posix() in refs and not any(r.endswith(":0") for r in refs)


def test_a_finding_share_never_rounds_onto_another_value(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # 1 duplicate in 20,001 rows was "1 row (0.00%)": a share that is not 0 printed as 0.
    records: list[Record] = [{"text": f"record number {i} of the corpus"} for i in range(20_000)]
    report = run_audit([*records, records[0]])
    assert "(<0.01%)" in finding(report, "DUP001")["message"]


def test_percent_keeps_shares_off_the_values_they_are_not() -> None:
    from curagate.text import percent

    assert percent(1 / 30_001) == "<0.01%" and percent(30_000 / 30_001) == ">99.99%"
    assert (percent(0), percent(1), percent(0.5)) == ("0.00%", "100.00%", "50.00%")
    # Beside a limit it is not: more decimals ("10.0% (above 10%)" read as equal).
    assert percent(0.10004, 1, limit=0.1) == "10.004%"


def test_mix_and_label_shares_and_their_limits_are_printed_apart(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # 400 multi-turn of 2001 (19.99%) read "20.0% ...; the target is 20%..30%", and a class
    # at 90.56% over max_share 0.9051 "90.6% (above 91%)".
    turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    rows: list[Record] = []
    for i in range(2001):
        msgs = [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "a"}]
        rows.append(
            {"messages": msgs + (turn if i < 400 else []), "label": "a" if i < 1812 else "b"}
        )
    report = run_audit(
        rows,
        {
            "mix": {"multi_turn_min": 0.2, "multi_turn_max": 0.3},
            "labels": {"field": "label", "max_share": 0.9051, "min_share": 0.0},
        },
    )
    assert (
        "19.99% of conversations are multi-turn; the target is 20%..30%"
        in (finding(report, "MIX001")["message"])
    )
    assert "class 'a' holds 90.6% (above 90.51%)" in finding(report, "LBL001")["message"]


def test_a_prompt_of_turns_is_a_conversation_in_the_mix(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by attack: prompt/completion records whose prompt is turns (8 of 10 multi-turn
    # with a system turn) got no stats.mix and no MIX001/MIX002; chats the same did.
    def row(i: int) -> dict[str, Any]:
        turns = [{"role": "user", "content": f"question {i}"}]
        if i < 8:
            turns = [{"role": "system", "content": "s"}, *turns]
            turns += [{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
        return {"prompt": turns, "completion": [{"role": "assistant", "content": f"ans {i}"}]}

    report = run_audit([row(i) for i in range(10)])
    assert report["stats"]["mix"]["multi_turn_share"] == 0.8
    assert {"MIX001", "MIX002"} <= rules_found(report)
    # a prompt of text is no conversation: no mix, as before
    assert "mix" not in run_audit([pc(i) for i in range(10)])["stats"]


def test_another_rows_column_named_by_a_secret_never_reaches_the_sample(
    run_audit: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    # Every sampled row got the column (null), so the token was copied into each of them.
    token = "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB"
    rows: list[Record] = [{"prompt": "hi there", "completion": "hello you"}]
    rows.append({"prompt": "hi two", "completion": "hello two", token: 1})
    run_audit(rows)
    [out] = [p for p in tmp_path.iterdir() if p.name.startswith("out")]
    sample = [json.loads(x) for x in (out / "sample.jsonl").read_text().splitlines()]
    first = next(s for s in sample if s["record"]["prompt"] == "hi there")
    assert token not in json.dumps(first)


@pytest.mark.parametrize(
    "text",
    [
        "Please charge my card 4111 1111 1111 1111 12/25 cvv 123",
        "Visa 4111-1111-1111-1111 05/27",
        "card: 5500 0000 0000 0004 123",
        "order 12 4111 1111 1111 1111",
    ],
)
def test_a_card_number_beside_an_expiry_or_another_number_is_found(
    text: str, run_audit: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    # Found by attack: the digit run took in the expiry, CVV or order number beside the
    # card, failed the Luhn sum as a whole, and the card went unreported and unredacted.
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"]["PII003"] == 1
    sample = next(tmp_path.glob("out*/sample.jsonl")).read_text(encoding="utf-8")
    assert "[REDACTED:PII003]" in sample and "1111 1111" not in sample and "0000 0004" not in sample


@pytest.mark.parametrize(
    ("text", "rule", "shown"),
    [
        ("my card is 4111\u00a01111\u00a01111\u00a01111", "PII003", "1111"),
        ("my card is 4111\u202f1111\u202f1111\u202f1111", "PII003", "1111"),
        ("my card is 4111\u20091111\u20091111\u20091111", "PII003", "1111"),
        ("my card is 4111\t1111\t1111\t1111", "PII003", "1111"),
        ("my card is 4111  1111  1111  1111", "PII003", "1111"),
        ("call me on 555\u00a0123\u00a04567 tonight", "PII002", "4567"),
        # and with Unicode dashes: non-breaking hyphens (U+2011), en dashes, full-width
        ("my card is 4111\u20111111\u20111111\u20111111, exp 12/27", "PII003", "1111"),
        ("my card is 4111\u20101111\u20101111\u20101111", "PII003", "1111"),
        ("my card is 4111\u20131111\u20131111\u20131111", "PII003", "1111"),
        ("my card is 4111 \u20131111 \u20131111 \u20131111", "PII003", "1111"),
        (f"card {FULL_WIDTH_DASHED_CARD}", "PII003", FULL_WIDTH_DASHED_CARD[-4:]),
        ("call me on 555\u2013123\u20134567 tonight", "PII002", "4567"),
        ("call me on 555\u2011123\u20114567 tonight", "PII002", "4567"),
        ("call me on (555) 123\u20134567 tonight", "PII002", "4567"),
        # Found by the attack on ed946d9: minus signs and the other look-alikes of "-" that
        # are no dash punctuation (U+2212, U+2796, U+02D7, U+2043) hid an IBAN
        ("pay DE62\u22123704\u22120044\u22120532\u22120130\u221201 now", "PII005", "0130"),
        ("pay DE62\u27963704\u27960044\u27960532\u27960130\u279601 now", "PII005", "0130"),
        ("pay DE62\u02d73704\u02d70044\u02d70532\u02d70130\u02d701 now", "PII005", "0130"),
        ("pay DE62\u20433704\u20430044\u20430532\u20430130\u204301 now", "PII005", "0130"),
        ("pay GB12\u2212WEST\u22121234\u22125698\u22127654\u221231 now", "PII005", "7654"),
        # and a card, as Unicode dashes do (not a phone: see the arithmetic below)
        ("my card is 4111\u22121111\u22121111\u22121111", "PII003", "1111"),
    ],
)
def test_numbers_grouped_with_other_spaces_or_dashes_are_found_and_redacted(
    text: str, rule: str, shown: str, run_audit: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    # Found by attack: a card grouped with no-break, narrow or thin spaces, tabs or two
    # spaces (scraped pages, French typography), or with Unicode dashes, passed the audit
    # and went into sample.jsonl as written.
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"][rule] == 1
    sample = next(tmp_path.glob("out*/sample.jsonl")).read_text(encoding="utf-8")
    assert f"[REDACTED:{rule}]" in sample and shown not in sample


def test_the_dashes_read_as_hyphens_are_unicode_s_dash_punctuation() -> None:
    every = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Pd"}
    # (Python's Unicode may be older than the regex crate's, whose \p{Pd} the prefilter reads)
    assert every - {"-"} <= set(pii.DASHES)
    assert all(unicodedata.category(c) in ("Pd", "Cn") for c in pii.DASHES)
    # A dash in prose next to a number is no separator of anything.
    assert pii.scan("in 2004 \u2014 the year \u2013 and 1999\u20132000") == []
    # Nor a minus sign: `x \u2212 2004` and a difference of years are no phone or card.
    assert pii.scan("2024\u22121999 = 25 and x\u2212y and 10\u22125\u22123") == []


def test_the_minus_look_alikes_read_as_hyphens_are_the_prefilter_s() -> None:
    """The scanner's MINUSES are the Rust prefilter's: a card or phone grouped by one is
    found, and the prefilter lets it through."""
    from pathlib import Path

    rust = (Path(__file__).parents[2] / "rust/curagate-core/src/text/pii.rs").read_text(
        encoding="utf-8"
    )
    consts = rust.split("const MINUSES: [char; ", 1)[1].split("];", 1)[0]
    assert re.findall(r"\\u\{([0-9a-f]+)\}", consts) == [f"{ord(c):x}" for c in pii.MINUSES]
    assert not any(unicodedata.category(c) == "Pd" for c in pii.MINUSES)


@pytest.mark.parametrize(
    "text",
    [
        "reverse it with s[::-1]",
        "map :: (a -> b) -> [a] -> [b]",
        "every other one: arr[::2] and a[1::2]",
        "For example ::\n\n    code",
        "call Face::add() then",
        "the loopback ::1 and the unspecified ::",
        # the re-attack: a four-digit bound was a group "of four digits", so an address
        "y = signal[1000::4] and data[2048::2] and a[10::1000]",
    ],
)
def test_double_colons_in_code_are_not_ipv6_addresses(
    text: str, run_audit: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    # Found by attack: each `::` was an IPv6 address (ipaddress takes "::", "::2", "1::2"),
    # and sample.jsonl read `s[[REDACTED:PII004]-1]`.
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"]["PII004"] == 0
    sample = next(tmp_path.glob("out*/sample.jsonl")).read_text(encoding="utf-8")
    assert "REDACTED" not in sample


@pytest.mark.parametrize(
    "address",
    [
        "2a00:1450::1",
        "fe80::1ff:fe23:4567:890a",
        "fe80::1",
        "2001:100::1",
        "::ffff:c000:280",
        "2a00:1450:0000:0000:0000:ff00:0042:8329",
    ],
)
def test_ipv6_addresses_are_still_found(address: str) -> None:
    text = f"host [{address}]:443 is up"
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [("PII004", address)]


@pytest.mark.parametrize(
    "address",
    [
        "info@münchen.de",
        "пользователь@пример.рф",
        "\uff4a\uff4f\uff48\uff4e@acme-corp.com",  # full-width letters
        "john\u00ad@acme-corp.com",  # a soft hyphen before the "@"
        "josé.garcía@example.es",
        "jose\u0301.garci\u0301a@acme-corp.com",  # accents typed after their letters
        "राजेश.शर्मा@उदाहरण.भारत",  # Devanagari vowel signs are combining marks
    ],
)
def test_an_address_beyond_ascii_is_found_and_redacted_whole(address: str) -> None:
    # Found by attack: missed, or redacted from its last ASCII letter on (`josé.garcí[..]`).
    text = f"mail {address} thanks"
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [("PII001", address)]


def test_retina_asset_names_are_not_addresses_and_addresses_still_are(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by attack: `icon@2x.png` was an e-mail address (its "TLD" is a file extension).
    assets = "see icon@2x.png, logo@3x.webp, header-bg@2x.jpg and img/hero@1.5x.JPEG"
    report = run_audit([pc(1, assets), pc(2)])
    assert report["stats"]["pii"]["PII001"] == 0
    for address in ["bob@2x.com", "jane.doe@example.png.com", "icon@2x.co", "ann@x2.png.io"]:
        text = f"mail {address} today"
        assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [("PII001", address)]


def test_an_address_url_encoded_in_a_link_is_found_and_redacted(
    run_audit: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    # Found by attack: `jane.doe%40gmail.com` (an "@" URL-encoded) was no address.
    link = "unsubscribe: https://news.example.org/u?email=jane.doe%40gmail.com&list=7"
    report = run_audit([pc(1, link), pc(2)])
    assert report["stats"]["pii"]["PII001"] == 1
    sample = next(tmp_path.glob("out*/sample.jsonl")).read_text(encoding="utf-8")
    assert "[REDACTED:PII001]&list=7" in sample and "jane.doe" not in sample
    # `%40` of a scoped package, a profile path or a retina asset in a URL is none.
    for text in [
        "https://registry.npmjs.org/%40babel%2Fcore",
        "https://medium.com/%40someone/a-post-title",
        "https://cdn.example.com/img/icon%402x.png",
        "a discount of 20%40 percent",
    ]:
        assert pii.scan(text) == [], text


def test_an_address_inside_text_without_spaces_is_its_ascii_part() -> None:
    for text in ["邮箱bob@acme-corp.com谢谢", "メールはbob@acme-corp.comです"]:
        assert [text[h.start : h.end] for h in pii.scan(text)] == ["bob@acme-corp.com"]


def test_no_iban_unless_its_country_has_ibans_of_that_length() -> None:
    # Found by attack: mod-97 alone made one US patent number in 97 an IBAN (audit FAILED).
    assert not pii.iban_ok("US20140123467A1")
    assert not pii.iban_ok("DE8937040044053201300")  # a German IBAN has 22 characters
    for iban in ["DE89370400440532013000", "FR1420041010050500013M02606", "GB82WEST12345698765432"]:
        assert pii.iban_ok(iban)
    assert pii.iban_ok("MA64011519000001205000534921")  # by re-attack: Morocco was left out


def test_a_slug_or_class_name_starting_sk_is_no_key() -> None:
    # Found by attack: `sk-hynix-posts-record-quarterly-profit-2024-07-25` in a URL and a CSS
    # class `sk-fading-circle-animation-container` failed the audit as OpenAI keys.
    for text in [
        "https://www.reuters.com/technology/sk-hynix-posts-record-quarterly-profit-2024-07-25/",
        "class sk-fading-circle-animation-container",
    ]:
        assert [h.rule for h in pii.scan(text)] == []
    # Keys of that shape with no capital (DeepSeek's hex, OpenRouter's, an all-lowercase
    # OpenAI key) stay keys (by re-attack: a first fix let them pass as slugs).
    for key in [
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
        "sk-3f9a1c2b7d4e5f60718293a4b5c6d7e8",
        "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",
        "sk-abcdefghijklmnopqrstuvwxyz123456",
    ]:
        assert [(h.rule, h.kind) for h in pii.scan(f"key {key}")] == [("SEC001", "openai-key")]


def test_pii_and_secrets_in_quarantined_rows_are_counted(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by attack: rows the reader quarantines (an empty completion, a field of another
    # type than its column) were never scanned: "SEC001 api-key: 0" for a file holding an
    # AWS key, and with FMT005 turned down to a warning the audit passed.
    report = run_audit(
        [
            pc(1),
            {
                "prompt": "my key AKIAIOSFODNN7EXAMPLE and mail john.doe@acme-corp.com",
                "completion": "",
            },
        ],
        {"rules": {"FMT005": {"severity": "warning"}}},
    )
    assert report["stats"]["pii"]["SEC001"] == 1 and report["stats"]["pii"]["PII001"] == 1
    found = {f["rule"]: f for f in report["findings"]}
    assert found["SEC001"]["rows"] == [found["FMT005"]["rows"][0]]
    assert not report["summary"]["passed"]


def test_a_card_escaped_in_a_line_that_is_not_json_is_found(tmp_path: Any) -> None:
    # The raw line was scanned with its \\u00a0 escapes unread (json.dumps writes a
    # no-break space so): only FMT001; fixing the trailing comma then showed PII003.
    data = tmp_path / "q.jsonl"
    data.write_text(
        '{"prompt": "p0", "completion": "c0"}\n'
        '{"prompt": "pay", "completion": "card 4111\\u00a01111\\u00a01111\\u00a01111", "x": 1,}\n'
    )
    report = audit([data], out=tmp_path / "out")
    found = {f["rule"]: f for f in report["findings"]}
    assert found["PII003"]["rows"] == found["FMT001"]["rows"]
    # Each hit counted once (the raw line and its reading were both scanned: 2).
    data.write_text('{"prompt": "hello", "completion": "mail bob@acme-corp.org now\n')
    assert audit([data], out=tmp_path / "o2")["stats"]["pii"]["PII001"] == 1


def test_windows_of_an_ordinary_number_list_are_not_card_numbers() -> None:
    # Found by attack on the fix above: any window of 13-19 digits of a run was tried, and
    # about one in ten passes the Luhn sum by chance: 129 of 200 rows of "Sort these
    # numbers: ..." were cards. A window must be laid out as cards are written.
    import random

    from curagate.audit.pii import scan

    rng = random.Random(7)
    texts = ["primes: 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47 53 59 61 67 71"]
    texts += [" ".join(str(rng.randint(0, 100)) for _ in range(12)) for _ in range(500)]
    texts += [
        f"{rng.randint(200, 999)}-555-{rng.randint(1000, 9999)} 415-555-0199" for _ in range(500)
    ]
    assert [t for t in texts if any(h.rule == "PII003" for h in scan(t))] == []
    amex = "amex 3782 822463 10005 exp 12/25"
    assert [amex[h.start : h.end] for h in scan(amex)] == ["3782 822463 10005"]


@pytest.mark.parametrize(
    "text",
    [
        "The loss is 0.5409537045890636.",
        "latitude 45.4539148803436467",
        "x = -0.5409537045890636",
        "loss .5409537045890636",  # a leading decimal point
        "x=-.5409537045890636",
        "coords (45.1, .5409537045890636)",
        "Verlust 0,5409537045890636 nach Epoche 3",  # a decimal comma
        "Breite 45,5409537045890636",
        "Verlust 0,5409537045890636, Genauigkeit 0,9",
        "loss 0\u00b75409537045890636",  # a middle dot
        "val 5409537045890636e-16",  # an exponent right after the digits
        "vals 0.5409537045890636 0.3502939673965323",  # a float, then another number
        "vals 0.5409537045890636-0.35",
        "lr 0.5409537045890636e-3, scale 3.4539148803436467E+02",
        "at 45.4539148803436467, -122.5409537045890636",
        "\uff10\uff0e\uff15\uff14\uff10\uff19\uff15\uff13\uff17\uff10\uff14\uff15\uff18"
        "\uff19\uff10\uff16\uff13\uff16",  # full-width, as full-width text writes it
        "\u0660\u066b\u0665\u0664\u0660\u0669\u0665\u0663\u0667\u0660\u0664\u0665\u0668"
        "\u0669\u0660\u0666\u0663\u0666",  # Arabic-Indic, the Arabic decimal separator
        # Found by re-attack: European data, decimal commas in a ';'-separated CSV (20% of
        # the rows of German measurements were cards), a value or line that starts with the
        # number, a sign or a bracket before it; leading points after other marks; x10^n.
        "lat;lon\n45,4539148803436467;7,12",
        "Messwerte:\n7,12;45,4539148803436467;3,5",
        "0,4539148803436467",
        "Breite -45,4539148803436467 Grad",
        "Breite \u221245,4539148803436467 Grad",
        "(45,4539148803436467)",
        "x=0,4539148803436467",
        '{"v": "0,4539148803436467"}',
        "loss:.4539148803436467",
        "a;.4539148803436467",
        '"x": ".4539148803436467"',
        "1/.4539148803436467",
        "2*.4539148803436467",
        "values\n.4539148803436467",
        "4539148803436467\u00d710^-16",
        "4539148803436467 \u00d7 10\u207b\u00b9\u2076",
        "4539148803436467*10**-16",
        "4539148803436467D-16",
    ],
)
def test_the_digits_of_a_decimal_number_are_no_card_number(text: str) -> None:
    # Found by attack: the fraction of an ordinary float passes the prefix and Luhn checks
    # about one time in forty (2.5% of the rows of a log of floats were cards, errors).
    from curagate.audit.pii import scan

    assert [h.rule for h in scan("5409537045890636 4539148803436467")] == ["PII003"] * 2
    assert [text[h.start : h.end] for h in scan(text) if h.rule == "PII003"] == []


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("My card is 4111 1111 1111 1111.", "4111 1111 1111 1111"),
        ("Card:4111111111111111", "4111111111111111"),
        ("charge $4111111111111111 now", "4111111111111111"),
        ("card 4111-1111-1111-1111\nthanks", "4111-1111-1111-1111"),
        ("Card no. 5500 0000 0000 0004.", "5500 0000 0000 0004"),
        ("pi is 3.14 4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("paid 12.50. 4111111111111111 was the card.", "4111111111111111"),
        # Found by re-attack: the whole part before a decimal point was read as no card, and
        # a card written as a float (a card column with a missing value: float64) was missed.
        ("card_number 4111111111111111.0, exp 12/27", "4111111111111111"),
        ("card_number=5500000000000004.0", "5500000000000004"),
        ("my card 4111111111111111.5 stars", "4111111111111111"),
        ("card 4111 1111 1111 1111.25 USD charged", "4111 1111 1111 1111"),
        ('{"cc": 4111111111111111.0}', "4111111111111111"),
        (wide("card 4111111111111111.0"), wide("4111111111111111")),
        # a grouped run after a decimal point is card formatting (a numbered list, no space)
        ("Cards on file:\n1.4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("2.5500-0000-0000-0004", "5500-0000-0000-0004"),
        ("1.3782 822463 10005", "3782 822463 10005"),
        ("pi 3.1415 4111 1111 1111 1111", "4111 1111 1111 1111"),
        # no decimal comma in a CSV row, nor a leading point after a word
        ("1,4111111111111111,Bob", "4111111111111111"),
        ("Bob 1,4111111111111111,x", "4111111111111111"),
        ("0,4111111111111111,Bob", "4111111111111111"),
        ("card 4111111111111111,5", "4111111111111111"),
        # a comma after a word, ":", a range's hyphen or nothing is no decimal comma
        ("Preis:12,4111111111111111", "4111111111111111"),
        ("Bob,4111111111111111", "4111111111111111"),
        ("2020-12,4111111111111111", "4111111111111111"),
        ("card 4111111111111111 x10", "4111111111111111"),
        ("card 4111111111111111d", "4111111111111111"),
        ("Card No.4111111111111111", "4111111111111111"),
        ("(see above).4111111111111111", "4111111111111111"),
    ],
)
def test_a_card_beside_a_dot_or_a_decimal_number_is_still_found(text: str, card: str) -> None:
    from curagate.audit.pii import scan

    assert [text[h.start : h.end] for h in scan(text) if h.rule == "PII003"] == [card]


def test_audit_reports_no_card_in_a_log_of_floats(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    report = run_audit(
        [
            pc(1, "The probability is 0.3502939673965323."),
            pc(2, "latitude 45.4539148803436467"),
            pc(3, "The loss is 0.5409537045890636."),
            pc(4, "My card is 4111 1111 1111 1111."),
        ]
    )
    assert report["stats"]["pii"]["PII003"] == 1
    assert [r.rsplit(":", 1)[1] for r in finding(report, "PII003")["rows"]] == ["4"]


def test_audit_reports_no_card_in_european_csv_measurements(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by re-attack: German measurements, ';'-separated with decimal commas and 16
    # decimals, failed audit: the fractions of 20% of the rows were cards (errors).
    import random

    rng = random.Random(0)
    rows = [
        pc(
            i,
            "Messwerte (Breite;L\u00e4nge;H\u00f6he;Temp):\n"
            + ";".join(f"{rng.randint(0, 90)},{rng.randint(10**15, 10**16 - 1)}" for _ in range(4)),
        )
        for i in range(50)
    ]
    rows.append(pc(50, "Karte;Name\n4111111111111111;Bob"))
    report = run_audit(rows)
    assert report["stats"]["pii"]["PII003"] == 1
    assert [r.rsplit(":", 1)[1] for r in finding(report, "PII003")["rows"]] == ["51"]


def test_a_card_written_as_a_float_is_found_and_redacted_in_the_sample(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by re-attack: `4111111111111111.0` (a card column with a missing value, float64)
    # was no card, and audit's sample.jsonl quoted it unredacted.
    report = run_audit(
        [
            pc(1, "Customer record: name Bob, card_number 4111111111111111.0, exp 12/27"),
            pc(2, "Cards on file:\n1.5500 0000 0000 0004"),
            pc(3, "The loss is 0.5409537045890636."),
        ]
    )
    assert [r.rsplit(":", 1)[1] for r in finding(report, "PII003")["rows"]] == ["1", "2"]
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert "4111111111111111" not in sample and "5500 0000 0000 0004" not in sample
    assert sample.count("[REDACTED:PII003]") == 2 and "0.5409537045890636" in sample


def test_a_line_of_many_card_numbers_finds_each_and_the_spans_taken_stay_exact() -> None:
    # Found by review: each candidate was compared with every hit before it, so a line of
    # 20,000 card numbers cost 200 million comparisons (28 s), and a line of one-digit
    # numbers tried 19 windows at each (3 s). Same hits, from a sorted union of ranges.
    import random

    from curagate.audit.pii import _Taken, scan

    line = "4242 4242 4242 4242 " * 2000
    hits = scan(line)
    assert [(h.rule, h.start, h.end) for h in hits] == [
        ("PII003", 20 * k, 20 * k + 19) for k in range(2000)
    ]
    rng = random.Random(3)
    for _ in range(200):
        taken, ranges = _Taken(), []
        for _ in range(rng.randint(0, 30)):
            a = rng.randint(0, 100)
            b = a + rng.randint(1, 12)
            q = rng.randint(0, 110)
            q2 = q + rng.randint(1, 12)
            assert taken.overlaps(q, q2) == any(q < e and s < q2 for s, e in ranges)
            taken.add(a, b)
            ranges.append((a, b))


def test_card_windows_are_those_of_every_window_laid_out_as_cards() -> None:
    # The windows skipped early (a group before the last that no card layout has) hold no
    # card: same cards as trying every window of 13 to 19 digits.
    import random
    import re

    from curagate.audit.pii import _card_layout, _cards_in, _is_card

    def every_window(text: str) -> list[tuple[int, int]]:
        if _is_card(text):
            return [(0, len(text))]
        groups = [g.span() for g in re.finditer(r"\d+", text)]
        found, i = [], 0
        while i < len(groups):
            best = None
            for j in range(i, len(groups)):
                window = text[groups[i][0] : groups[j][1]]
                sizes = [e - s for s, e in groups[i : j + 1]]
                if _card_layout(sizes) and _is_card(window) and text[groups[i][0]] in "23456":
                    best = j
            if best is None:
                i += 1
            else:
                found.append((groups[i][0], groups[best][1]))
                i = best + 1
        return found

    rng = random.Random(11)
    sizes = [1, 2, 4, 4, 4, 5, 6]
    for _ in range(3000):
        text = " ".join(
            "".join(rng.choice("0123456789") for _ in range(rng.choice(sizes)))
            for _ in range(rng.randint(2, 8))
        )
        text = rng.choice(["4", "5", "3"]) + text
        run = re.fullmatch(r"[\d ]+", text)
        assert run is not None
        assert _cards_in(run) == every_window(text), text


def test_label_classes_holding_secrets_are_redacted_in_every_report(
    run_audit: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    # Found by review: the label distribution and LBL001 listed classes as they are, so a
    # key or address in a label column was copied into audit.json, audit.md and report.html.
    key, other = "AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"
    rows = [{**pc(i), "label": "pos"} for i in range(1, 197)]
    rows += [{**pc(197), "label": key}, {**pc(198), "label": other}]
    rows += [{**pc(199), "label": "mail me at john.doe@acme-corp.com"}, {**pc(200), "label": "neg"}]
    report = run_audit(rows, {"labels": {"field": "label", "min_share": 0.01}})
    assert report["stats"]["labels"]["counts"] == {
        "pos": 196,
        "[REDACTED:SEC001]": 1,
        "[REDACTED:SEC001] (2)": 1,
        "mail me at [REDACTED:PII001]": 1,
        "neg": 1,
    }
    [out] = list(tmp_path.glob("out*"))
    for name in ("audit.json", "audit.md", "report.html"):
        text = (out / name).read_text(encoding="utf-8")
        assert key not in text and other not in text and "john.doe" not in text, name
    assert "[REDACTED:SEC001] (2)" in finding(report, "LBL001")["message"]


def test_private_key_and_jwt_spans_match_the_regexes_and_stay_linear() -> None:
    # Found by attack: a private key's lazy block search ran from every BEGIN line to the end
    # of the text (20,000 headers without an END: minutes) and the JWT pattern rescanned a
    # dotless run from every "eyJ" in it ("-eyJ" x 80,000: 27 s). The linear finders give
    # the spans the single regexes gave, on random mixes of their parts.
    import random
    import re

    from curagate.audit.pii import _Jwt, _PrivateKeyBlock, scan

    pem = re.compile(
        r"-{4,5} ?BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)? ?-{4,5}"
        r"(?:[\s\S]*?-{4,5} ?END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)? ?-{4,5})?"
    )
    jwt = re.compile(
        r"(?<![A-Za-z0-9_])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    )
    parts = ["-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "---- BEGIN "]
    parts += ["PRIVATE KEY BLOCK-----", "eyJ", ".", "-", "_", "abcdefgh", " ", "\n", "x", "é"]
    parts += [".eyJabcdefgh", "session."]  # re-attack: a word and a dot before a token
    rng = random.Random(11)
    for _ in range(20000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 14)))
        for finder, regex in ((_PrivateKeyBlock(), pem), (_Jwt(), jwt)):
            got = [(m.start(), m.end()) for m in finder.finditer(text)]
            assert got == [m.span() for m in regex.finditer(text)], text
    cookie = "session.eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYm9iIn0.c2lnbmF0dXJl"
    assert [(h.rule, cookie[h.start : h.end][:11]) for h in scan(cookie)] == [
        ("SEC001", "eyJhbGciOiJ")
    ]
    hostile = "-----BEGIN RSA PRIVATE KEY----- " * 20000
    assert len(scan(hostile)) == 20000
    assert scan("-eyJ" * 80000) == []


def test_reasons_labels_and_roles_are_redacted_with_the_configs_thresholds(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a quarantine reason quotes key paths (a key written twice), and a
    # secret used as that key went into audit.json/md/html and check's output while SEC001
    # counted it; labels and roles were redacted with the default secret thresholds, so a
    # value the config makes SEC002 was redacted in the sample and printed in the reports.
    from curagate.audit import audit
    from curagate.cli import main

    key, odd = "AKIAIOSFODNN7EXAMPLE", "Zx9Qw8Er7Ty6Ui5Op"
    data = tmp_path / "train.jsonl"
    data.write_text(
        f'{{"text": "a", "meta": {{"{key}": 1, "{key}": 2}}}}\n'
        f'{{"text": "one", "label": "{odd}"}}\n{{"text": "two", "label": "neg"}}\n'
        f'{{"text": "x", "label": "neg"}}\n'
    )
    chats = tmp_path / "chat.jsonl"
    chats.write_text(
        json.dumps(
            {"messages": [{"role": odd, "content": "hi"}, {"role": "assistant", "content": "yo"}]}
        )
        + "\n"
    )
    config = tmp_path / "audit.yaml"
    config.write_text("labels: {field: label}\nsecrets: {min_length: 12, entropy_threshold: 3.0}\n")
    for name, path in (("o1", data), ("o2", chats)):
        audit([path], config=config, out=tmp_path / name)
        for p in (tmp_path / name).iterdir():
            text = p.read_text(encoding="utf-8")
            assert key not in text and odd not in text, (name, p.name)
    assert main(["check", str(data), str(chats), "--no-golden", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert key not in out and odd not in out and "[REDACTED:" in out


def test_a_secret_in_the_first_copy_of_a_repeated_key_is_counted(
    run_audit: Callable[..., dict[str, Any]],
) -> None:
    # Found by attack: the quarantined row (a key written twice) was parsed again with
    # json.loads, which keeps the last value only: the first one's AWS key was never scanned.
    report = run_audit(
        ['{"text": "my key AKIAIOSFODNN7EXAMPLE", "text": "fine"}', {"text": "hello there"}]
    )
    assert report["stats"]["pii"]["SEC001"] == 1


def test_content_part_types_are_redacted_in_the_reports(
    tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by attack: a key written as a content part's type was copied into audit.json and
    # audit.md under inputs.non_text_parts.
    key = "AKIAIOSFODNN7EXAMPLE"
    part = {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": key}]}
    answer = {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}
    report = run_audit([{"messages": [part, answer]}, {"messages": [part, answer]}])
    assert report["inputs"]["non_text_parts"] == {"[REDACTED:SEC001]": 2}
    for name in ("audit.json", "audit.md", "report.html"):
        assert key not in next(tmp_path.glob(f"out*/{name}")).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # Found by attack: each went into sample.jsonl as written, with no finding.
        ("mail mary.major\uff20gmail.com now", "PII001"),  # full-width at sign
        ("mail mary.major\uff20gmail\uff0ecom now", "PII001"),  # and full-width dot
        ("mail mary.major&#64;gmail.com now", "PII001"),  # HTML character references
        ("mail mary.major&#x40;gmail.com now", "PII001"),
        ("pay de62370400440532013001 now", "PII005"),  # small letters, compact
        ("pay GB12-WEST-1234-5698-7654-31 now", "PII005"),  # hyphen groups
        ("host \uff11\uff19\uff12.\uff11\uff16\uff18.\uff11.\uff12\uff13 up", "PII004"),
        # found by the re-attack
        ("mail mary.major&commat;gmail.com now", "PII001"),  # the named reference
        ("mail mary.major\ufe6bgmail.com now", "PII001"),  # small commercial at
        ("host \uff11\uff19\uff12\uff0e\uff11\uff16\uff18\uff0e\uff11\uff0e\uff12 up", "PII004"),
        ("host 192\uff0e168\uff0e1\uff0e23 up", "PII004"),  # full-width dots
        # Found by review: dot look-alikes (ideographic, halfwidth ideographic, small full
        # stop, one dot leader) and the dot as an HTML character reference.
        ("mail mary.major@gmail\u3002com now", "PII001"),
        ("mail mary.major@mail\uff61acme-corp\u3002co\u3002uk now", "PII001"),
        ("mail mary.major@gmail\ufe52com now", "PII001"),
        ("mail mary.major@gmail\u2024com now", "PII001"),
        ("mail mary.major@gmail&#46;com now", "PII001"),
        ("mail mary.major@gmail&#x2e;com now", "PII001"),
        ("mail mary.major@gmail&#X002E;com now", "PII001"),
        ("mail mary.major@gmail&period;com now", "PII001"),
        ("mail mary&#46;major&#64;gmail&#46;com now", "PII001"),  # the whole address
        ("host 192\u3002168\u30021\u300223 up", "PII004"),
        ("host \uff11\uff19\uff12\uff61\uff11\uff16\uff18\uff61\uff11\uff61\uff12 up", "PII004"),
        # full-width letters and digits (ideographic spaces, U+3000, too) in IBANs, cards
        # and phones, and a full-width "+", "(", ")" and "."
        ("pay " + wide("DE62 3704 0044 0532 0130 01") + " now", "PII005"),
        ("pay " + wide("GB12 WEST 1234 5698 7654 31").replace(" ", "\u3000") + " now", "PII005"),
        ("pay " + wide("GB12WEST12345698765431") + " now", "PII005"),
        ("pay " + wide("de62370400440532013001") + " now", "PII005"),
        ("pay " + wide("GB12-WEST") + "-1234-5698-7654-31 now", "PII005"),
        ("card " + wide("4111 1111 1111 1111").replace(" ", "\u3000") + " now", "PII003"),
        ("call " + wide("+44 20 7946 0958") + " now", "PII002"),
        ("call \uff0b44 20 7946 0958 now", "PII002"),
        ("call " + wide("(555)") + "\u3000" + wide("123-4567") + " now", "PII002"),
        ("call (555) 123\uff0e4567 now", "PII002"),
        ("call 555\uff0e123\uff0e4567 now", "PII002"),
        ("pay GB12\u2013WEST\u20131234\u20135698\u20137654\u201331 now", "PII005"),  # en dashes
        # Found by the re-attack: any numeric character reference of a character the part
        # allows (not only the dot): `jane&#95;doe&#64;gmail&#46;com` left `jane&#95;`.
        ("mail jane&#95;doe&#64;gmail&#46;com now", "PII001"),
        ("mail jane&#45;doe@gmail.com now", "PII001"),
        ("mail jane&#x5F;doe&#X2D;x@gmail.com now", "PII001"),
        ("mail jane@my&#45;corp&#46;com now", "PII001"),
        ("mail jane@gmail&#46com now", "PII001"),  # no ";", as HTML reads it
        ("mail &#106;&#97;&#110;&#101;&#64;gmail&#46;com now", "PII001"),
        ("mail jane&#64gmail&#46;&#99;&#111;&#109; now", "PII001"),
        # more dot look-alikes: vertical ideographic full stop, stenographic full stop
        ("mail mary.major@gmail\ufe12com now", "PII001"),
        ("mail mary.major@gmail\u2e3ccom now", "PII001"),
        ("host 10\u2e3c1\u2e3c2\u2e3c3 up", "PII004"),
    ],
)
def test_values_written_in_other_forms_are_found_and_redacted(
    text: str, rule: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    hits = pii.scan(text)
    assert [h.rule for h in hits] == [rule]
    value = text[hits[0].start : hits[0].end]
    assert value == text.split(" ", 1)[1].rsplit(" ", 1)[0]
    # the whole audit too: the Rust prefilter lets the text through to the scan
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"][rule] == 1
    for p in tmp_path.glob("out*/*"):
        assert value not in p.read_text(encoding="utf-8"), p.name


@pytest.mark.parametrize(
    "text",
    [
        # Ordinary CJK text ends its sentences with U+3002, and writes numbers, dates and
        # prices in full-width digits: none is an address, an IBAN, a card or a phone.
        "今天天气很好\u3002我们去公园吧\u3002明天见\u3002",
        "版本3\u30022\u30021发布了\u3002共4\u30025\u30026页\u3002",
        "邮件发给我\u3002com是顶级域名\u3002请联系@张三\u3002谢谢",
        "价格是" + wide("12345678") + "元\u3002" + wide("2024") + "年" + wide("12") + "月",
        "合計" + wide(":1,234,567") + "円\u3002番号" + wide("1234 5678 9012 3456"),
        "電話" + wide(":03-1234-5678") + "\u3002" + wide("PC2") + "台と" + wide("OK123"),
        wide("AB12CDEFGHIJKLMN") + "\u3002" + wide("GB12 ABCD 1234") + "\uff61",
        f"见{wide('(123)')}和{wide('+1')}点\u3002第{wide('1.2.3')}节",
    ],
)
def test_full_width_and_cjk_text_is_no_pii(
    text: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert pii.scan(text) == []
    assert not any(run_audit([pc(1, text), pc(2)])["stats"]["pii"].values())


@pytest.mark.parametrize(
    "text",
    [
        # Found by attack: the fixes the audit advises were flagged (PII005 an error).
        "write to user@example.com or ops@mail.example.org, jo@dev.example, a@b.test",
        "the hosts 192.0.2.10, 198.51.100.7, 203.0.113.255 and 2001:db8::1",
        "pay GB82 WEST 1234 5698 7654 32 or DE89370400440532013000 or GB33BUKB20201555555555",
        "DE89 3704 0044 0532 0130 00",  # (nor is a card found in its digits)
        # a git remote over SSH is no address
        "git clone git@github.com:org/repo.git or git@build.acme-corp.com:tools/app.git",
        "git remote add up git@gitlab.acme-corp.com:group/project",
        # found by the re-attack: a repository at the top, and the ssh:// form
        "git clone git@acme-corp.com:repo.git or ssh://git@github.com/org/repo.git",
    ],
)
def test_documentation_values_and_ssh_remotes_are_no_pii(
    text: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert pii.scan(text) == []
    assert not any(run_audit([pc(1, text), pc(2)])["stats"]["pii"].values())


@pytest.mark.parametrize(
    "text",
    [
        # Found by the re-attack: any ":" then "/" after an address read as an SSH remote
        "user jane.doe@gmail.com:12/05/2024 signed in",
        "see jane.doe@gmail.com:~/notes for it",
        "deploy to jane.doe@build.acme-corp.com:/srv/app now",
        "write to jane.doe@gmail.com:thesis.git for the draft",  # any user's, with .git
    ],
)
def test_an_address_followed_by_a_colon_and_a_path_is_still_an_address(text: str) -> None:
    assert [h.rule for h in pii.scan(text)] == ["PII001"]


def test_addresses_in_urls_written_with_dot_look_alikes_are_found() -> None:
    # Found by review: a link's host or mailto: address written with U+3002 / U+FF61.
    text = "open http://10\u30021\u30022\u30023/admin or mailto:jane@acme-corp\uff61com?x=1"
    found = [(h.rule, text[h.start : h.end]) for h in pii.scan(text)]
    assert found == [("PII001", "jane@acme-corp\uff61com"), ("PII004", "10\u30021\u30022\u30023")]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # Found by the attack on ed946d9: an ideographic full stop ending a sentence, then
        # the next one with no space, was a domain's dot and its first word the top-level
        # domain (`john@party\u3002Then`)
        ("I met john@party\u3002Then we left", []),
        ("I met john@party\uff61Then we left", []),
        ("I met john@party\ufe12Then we left", []),
        ("Я видел ivan@party\u3002\u0417\u0430\u0442\u0435\u043c мы ушли", []),  # Затем
        # an address before the full stop is still found, without the next word
        ("I wrote to john@acme-corp\u3002com\u3002Then we left", ["john@acme-corp\u3002com"]),
        ("I wrote to john@acme-corp.com\u3002Then we left", ["john@acme-corp.com"]),
        # a top-level domain in small letters or in capitals after one is still a domain's
        ("mail john@gmail\u3002com now", ["john@gmail\u3002com"]),
        ("MAIL JOHN@GMAIL\u3002COM NOW", ["JOHN@GMAIL\u3002COM"]),
        ("mail jan@firma\u3002de\u3002Danke", ["jan@firma\u3002de"]),
        # and after an ASCII dot a capital is one (`Company.Com` in a signature)
        ("John.Smith@Company.Com", ["John.Smith@Company.Com"]),
    ],
)
def test_a_sentence_after_an_ideographic_full_stop_is_no_top_level_domain(
    text: str, values: list[str], run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [text[h.start : h.end] for h in pii.scan(text) if h.rule == "PII001"] == values
    assert run_audit([pc(1, text), pc(2)])["stats"]["pii"]["PII001"] == len(values)


@pytest.mark.parametrize(
    ("text", "value", "rule"),
    [
        # Found by the re-attack: a look-alike dot after an IPv4 address (a sentence's end)
        # hid it, as an ASCII dot always had.
        ("服务器地址是192.168.1.20\u3002", "192.168.1.20", "PII004"),
        ("服务器地址是192.168.1.20\u3002谢谢", "192.168.1.20", "PII004"),
        ("设备IP为10.0.0.1\u3002", "10.0.0.1", "PII004"),
        ("見上文\u3002192.168.1.20是服务器", "192.168.1.20", "PII004"),
        ("サーバーは10.0.0.5\uff61", "10.0.0.5", "PII004"),
        ("ip " + wide("192.168.1.20") + "\u3002", wide("192.168.1.20"), "PII004"),
        ("连接到192\u3002168\u30021\u300220\u3002", "192\u3002168\u30021\u300220", "PII004"),
        ("The server is 192.168.1.20.", "192.168.1.20", "PII004"),
        ("Server at 10.0.0.1.Next we restart it.", "10.0.0.1", "PII004"),
        ("ip 192\ufe12168\ufe121\ufe1220", "192\ufe12168\ufe121\ufe1220", "PII004"),
        # an address context for ideographic full stops: a URL, a port, a keyword
        ("见http://192\u3002168\u30021\u300220/", "192\u3002168\u30021\u300220", "PII004"),
        ("端口192\u3002168\u30021\u300220:8080", "192\u3002168\u30021\u300220", "PII004"),
        ("IPアドレスは10\u30020\u30020\u30021です", "10\u30020\u30020\u30021", "PII004"),
        # Full-width letters before or after a phone hid it (read as ASCII ones), and
        # a label run into it (`TEL555-...`) did in ASCII.
        ("\uff34\uff25\uff2c555-123-4567", "555-123-4567", "PII002"),
        (wide("TEL555-123-4567"), wide("555-123-4567"), "PII002"),
        ("555-123-4567\uff43\uff41\uff4c\uff4c", "555-123-4567", "PII002"),
        ("TEL555-123-4567", "555-123-4567", "PII002"),
        ("Tel+44 20 7946 0958", "+44 20 7946 0958", "PII002"),
        ("call+1 202 555 0100 now", "+1 202 555 0100", "PII002"),
        ("Fax555.123.4567", "555.123.4567", "PII002"),
        # full-width phones in CJK sentences are still found
        ("请拨打" + wide("+44 20 7946 0958") + "联系我们", wide("+44 20 7946 0958"), "PII002"),
        ("電話は" + wide("+86 138 0013 8000") + "です", wide("+86 138 0013 8000"), "PII002"),
        # a reference that decodes to no character of an address ends it
        ("&#60;mary.major@gmail.com&#62;", "mary.major@gmail.com", "PII001"),
    ],
)
def test_addresses_and_phones_beside_cjk_labels_and_stops_are_found(
    text: str, value: str, rule: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [(rule, value)]
    # the whole audit too: the Rust prefilter lets the text through to the scan
    report = run_audit([pc(1, f"case: {text}"), pc(2)])
    assert report["stats"]["pii"][rule] == 1
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert f"[REDACTED:{rule}]" in sample and value not in sample


@pytest.mark.parametrize(
    "text",
    [
        # version strings and other dotted runs longer than an address
        "version 1.2.3.4.5 released",
        "1.2.3.4.5",
        "v10.0.0.1 and 10.0.0.1.7",
        "1\u30022\u30023\u30024\u30025",
        # Found by the re-attack: ideographic full stops between numbers outside an address
        # context are enumerations, sections and scores.
        "第1\u30022\u30023\u30024章を参照してください\u3002",
        "版本1\u30022\u30023\u30024发布",
        "順位 1\u30022\u30023\u30024",
        "答案\uff1a12\u300234\u300256\u300278",
        "第" + "\uff11\u3002\uff12\u3002\uff13\u3002\uff14" + "節",
        "得分\uff1a95\uff6188\uff6176\uff6190",
        # a full-width "+" before an amount, a score; a parenthesis in prose
        "差額" + wide("+123456") + "円",
        "売上高は前年比" + wide("+123456") + "千円",
        "人口は" + wide("+202400") + "人増えた",
        "得点\uff1a" + wide("+12 34 56 78"),
        "前年比" + wide("+123456789") + "円",
        "問題番号" + wide("(201)300-2024"),
        "売上" + wide("+123456789") + "です",  # nine digits: found by the attack on ed946d9
        # letters run into digits are an identifier, not a labelled phone
        "ABC5551234567 SKU555-123-4567 ID555.123.4567 hotel555-123-4567",
        # documentation domains written full-width, or with references, are placeholders
        wide("jane@example.com"),
        "jane@" + wide("EXAMPLE") + "\u3002com",
        "jane@example&#46;com and jane@&#101;xample.org",
    ],
)
def test_cjk_enumerations_amounts_and_versions_are_no_pii(
    text: str, run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == []
    assert not any(run_audit([pc(1, text), pc(2)])["stats"]["pii"].values())


def test_the_values_around_documentation_ones_are_still_found() -> None:
    text = "jane@gmail.com:hunter2 and 192.0.3.1 and 2001:db9::1 and jo@example.co"
    found = [(h.rule, text[h.start : h.end]) for h in pii.scan(text)]
    assert found == [
        ("PII001", "jane@gmail.com"),  # a leaked login: no path after the ":"
        ("PII001", "jo@example.co"),
        ("PII004", "192.0.3.1"),
        ("PII004", "2001:db9::1"),
    ]


# 192.168.1.20 in full-width digits apart by ideographic full stops
WIDE_STOPPED_IP = "\u3002".join(wide(g) for g in ("192", "168", "1", "20"))


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # Found by the re-attack on 647b447: a full-width "+" phone written compactly then
        # kana or hanzi (a particle, not a unit) was dropped as an amount.
        ("電話番号は" + wide("+819012345678") + "です\u3002", [wide("+819012345678")]),
        ("电话" + wide("+8613812345678") + "谢谢", [wide("+8613812345678")]),
        ("お問い合わせ\uff1a" + wide("+81312345678") + "まで", [wide("+81312345678")]),
        ("電話\uff0b819012345678です", ["\uff0b819012345678"]),
        # nine or ten digits run together: a phone where a word for one comes before
        ("電話" + wide("+298123456") + "です", [wide("+298123456")]),
        ("联系我" + wide("+3541234567") + "谢谢", [wide("+3541234567")]),
        # Found by the re-attack: and without one, where no word for an amount does
        # (Singapore's, Norway's and Denmark's numbers have ten digits with the country code)
        ("WhatsApp\uff1a" + wide("+6591234567"), [wide("+6591234567")]),
        ("お問い合わせ\uff1a" + wide("+6561234567"), [wide("+6561234567")]),
        ("Singapore office \uff0b6561234567", ["\uff0b6561234567"]),
        ("\u260e" + wide("+4712345678"), [wide("+4712345678")]),
        # and any number of digits in groups
        ("売上" + wide("+65 6123 4567") + "です", [wide("+65 6123 4567")]),
        # a full-width (area code) with no separator after it, where a phone word says so
        ("電話" + wide("(555)123-4567"), [wide("(555)123-4567")]),
        (
            "Call " + wide("(555)123") + "-" + wide("4567") + " now",
            [wide("(555)123") + "-" + wide("4567")],
        ),
        # ideographic full stops in full-width text: its address words and port read as ASCII
        (wide("IP:") + WIDE_STOPPED_IP, [WIDE_STOPPED_IP]),
        (wide("IP") + "は" + WIDE_STOPPED_IP + "です", [WIDE_STOPPED_IP]),
        (wide("host") + "\u3000" + WIDE_STOPPED_IP, [WIDE_STOPPED_IP]),
        ("192\u3002168\u30021\u300220\uff1a8080", ["192\u3002168\u30021\u300220"]),
        (WIDE_STOPPED_IP + wide(":8080"), [WIDE_STOPPED_IP]),
        # a sentence's full stop then a number starting the next sentence
        ("服务器地址是10.0.0.1\u30022号服务器的地址是10.0.0.2\u3002", ["10.0.0.1", "10.0.0.2"]),
        ("サーバーは10.0.0.5\u30023台目は10.0.0.6です\u3002", ["10.0.0.5", "10.0.0.6"]),
        ("The server is 192.168.1.20.", ["192.168.1.20"]),
        ("The server is 192.168.1.20. Then", ["192.168.1.20"]),
        # Found by the attack on ed946d9: a sentence's full stop with no space after it, then
        # the next sentence (a capital and a small letter, or a capital alone), hid it
        ("Server at 10.0.0.1.Next we restart it.", ["10.0.0.1"]),
        ("Server at 10.0.0.1.I restarted it.", ["10.0.0.1"]),
        ("Server at 10.0.0.1\uff0eNext we restart it.", ["10.0.0.1"]),
        ("连接到192\u3002168\u30021\u300220\u3002", ["192\u3002168\u30021\u300220"]),
    ],
)
def test_full_width_phones_and_addresses_in_cjk_sentences_are_found(
    text: str, values: list[str]
) -> None:
    assert [text[h.start : h.end] for h in pii.scan(text)] == values


@pytest.mark.parametrize(
    "text",
    [
        # dotted versions and file names: a dot before, or an extension after, the numbers
        "Ver.1.0.2.3 released",
        "バージョンVer.2.1.0.5です",
        "No.1.2.3.4",
        "Newtonsoft.Json.13.0.1.0.nupkg",
        "app-2.0.1.3.apk",
        "lib-1.2.3.4.RELEASE.jar and 1.2.3.4.GA",  # an extension or a tag in capitals
        "release.1.2.3.4.tar.gz",
        "Microsoft.AspNetCore.App.6.0.1.5.zip",
        "ip 1\u30022\u30023\u30024\u30025",
        # counts of visits and connections are no address context
        "アクセス数は10\u300220\u300230\u300240\u3002",
        "访问量增长了1\u30022\u30023\u30024倍",
        "连接数\uff1a12\u300234\u300256\u300278",
        # a compact full-width "+" number then a unit is an amount; a parenthesis in prose
        "差額" + wide("+123456") + "円",
        "前年比" + wide("+123456789") + "円",
        "増減" + wide("+123456789") + "人",
        "問題番号" + wide("(201)300-2024"),
        # Found by the attack on ed946d9: nine or ten digits run together after a full-width
        # "+", then kana, with no word for a phone before, are an amount too
        "売上" + wide("+123456789") + "です",
        "売上高" + wide("+1234567890") + "でした",
        "利润\uff0b1234567890。",
        # Found by the re-attack: minus signs between numbers are arithmetic, no phone's
        # separators (they made `+250\u2212100\u221250` a phone)
        "Total: +250\u2212100\u221250 = 100",
        "\u0394G = +12\u221234\u221256 kJ",
        "sum 123\u2212456\u22127890 == \u22128223",
        "+5\u221210\u221215\u221220",
        # ... and a capitalised tag after a version's dot no next sentence
        "lib-1.2.3.4.Final.jar",
        "build 10.0.0.1.Preview2",
    ],
)
def test_versions_file_names_counts_and_amounts_are_no_address_or_phone(text: str) -> None:
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == []


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # An ASCII "+" run into an amount in CJK text was a phone, where a full-width one
        # was not: the same amounts are none now, digits run together into a unit, or nine
        # or ten after a word for an amount
        ("売上+123456789です", []),
        ("收入+1234567890元", []),
        ("营收+123456789元", []),
        ("前年比+12345678でした", []),
        ("매출+123456789원", []),
        ("差額+123456円", []),
        ("人口は+202400人増えた", []),
        ("增长+1234567890%", []),
        # ... and the phones written with an ASCII "+" in CJK text stay found: in groups,
        # after a word for a phone, eleven digits or more, or with no word for an amount
        ("電話+81 3-1234-5678", ["+81 3-1234-5678"]),
        ("電話+819012345678です", ["+819012345678"]),
        ("电话+8613812345678谢谢", ["+8613812345678"]),
        ("联系我+6591234567谢谢", ["+6591234567"]),
        ("WhatsApp\uff1a+6591234567", ["+6591234567"]),
        ("売上+65 6123 4567です", ["+65 6123 4567"]),
        ("売上+12345678901です", ["+12345678901"]),
        # a word for a phone before wins over a unit after; 分机 (an extension) is no unit
        ("電話+81312345678円", ["+81312345678"]),
        ("请拨打+8613812345678分机8001", ["+8613812345678"]),
        ("总机+8613812345678分机8001", ["+8613812345678"]),
        ("总机" + wide("+8613812345678") + "分机", [wide("+8613812345678")]),
        # Found by the re-attack: a country code's 11 digits or more after an ASCII "+"
        # run into a hanzi that can be a unit are a phone (本人: in person; 人工: a human
        # agent), and "please dial", a hotline, customer service are words for one
        ("张经理+8613812345678本人接听", ["+8613812345678"]),
        ("客户+8613812345678人工服务", ["+8613812345678"]),
        ("价格请拨+6591234567", ["+6591234567"]),
        ("热线+6591234567", ["+6591234567"]),
        # Found by attack: a word for enquiries or booking is a word for a phone too
        # (价格咨询: price enquiries, Singapore's code and eight digits)
        ("价格咨询+6591234567", ["+6591234567"]),
        ("预约+6591234567", ["+6591234567"]),
        ("お問い合わせ+6591234567", ["+6591234567"]),
        ("문의+6591234567", ["+6591234567"]),
        # ... and amounts that happen to read as a country code and a number's length
        # stay amounts (found by re-attack: a length table flagged a third of them)
        ("营收+484974575元", []),
        ("收入+5374746464亿元", []),
        ("利润+484943915%", []),
        ("매출+865480854원", []),
        ("売上+399698198です", []),
        ("营收+6498633383\uff0c同比增长", []),
    ],
)
def test_an_ascii_plus_before_an_amount_in_cjk_text_is_no_phone(
    text: str, values: list[str], run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [text[h.start : h.end] for h in pii.scan(text)] == values
    assert run_audit([pc(1, text), pc(2)])["stats"]["pii"].get("PII002", 0) == len(values)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # A dot then a capital and small letters after an address is the next sentence
        # with its space left out
        ("Server at 10.0.0.1.Next we restart it.", ["10.0.0.1"]),
        ("Server at 10.0.0.1.I restarted it.", ["10.0.0.1"]),
        ("Server at 10.0.0.1.Update your config", ["10.0.0.1"]),
        # Found by attack: a one-word sentence ending with its dot read as a file's name
        # (`.Done.` as `.Final.jar`) and hid the address
        ("ssh to 172.16.0.1.Done.", ["172.16.0.1"]),
        ("ssh to 172.16.0.1.Done. Then log out.", ["172.16.0.1"]),
        ('He said "ssh to 172.16.0.1.Done."', ["172.16.0.1"]),
        ("ssh to 172.16.0.1.Done...", ["172.16.0.1"]),
        ("Build server at 10.0.0.1 and release notes for 10.0.0.2", ["10.0.0.1", "10.0.0.2"]),
        ("ping -v 10.0.0.1 and curl -v 10.0.0.2", ["10.0.0.1", "10.0.0.2"]),  # a flag
        # Found by the re-attack: a word for a version before the numbers hid addresses
        # (DHCP release, a build host); a version written so is reported (info)
        ("DHCP release 10.0.0.5 to the client", ["10.0.0.5"]),
        ("Connect to build 10.1.2.3 host", ["10.1.2.3"]),
        ("the server ver 10.0.0.1 is down", ["10.0.0.1"]),
        # ... but a version's tag after it is none
        ("Release 4.0.0.1.Beta", []),
        ("release 4.0.0.1.beta is out", []),
        ("upgrade to 4.0.0.1.Beta now", []),
        ("upgrade to 4.0.0.1.rc now", []),
        ("upgrade to 2.0.0.1.alpha now", []),
        ("upgrade to 1.2.3.4.final now", []),
        ("upgrade to 1.2.3.4.SNAPSHOT now", []),
        ("upgrade to 4.0.0.1.Stable now", []),
        ("Release 4.0.0.1.Beta.", []),  # a tag ending the sentence is still a tag
        # ... or a file's: an extension, or a word run on into a digit, "_", "-" or a dot
        ("lib-1.2.3.4.Final.jar", []),
        ("1.2.3.4.Final.jar", []),
        ("app-2.0.1.3.apk", []),
        ("setup 1.2.3.4.exe", []),
        ("tool 1.2.3.4.tar.gz", []),
        ("upgrade to 4.0.0.1.rc2 now", []),
        ("see 10.0.0.1.nip.io", []),
        ("chrome 120.0.99.109.x", []),  # one small letter: a wildcard or a version's
        # Found by attack: where a word for an address is before the numbers, a word in
        # small letters after the dot is the next sentence, and a word in capitals ending
        # the sentence is one (they read as a file's extension and a tag, and hid them)
        ("server 10.0.0.1.next time", ["10.0.0.1"]),
        ("ping host 10.0.0.1.then retry", ["10.0.0.1"]),
        ("IP 10.0.0.1.OK then", ["10.0.0.1"]),
        ("10.0.0.1.OK.", ["10.0.0.1"]),
        ("Reached 10.0.0.1.OK. Then left", ["10.0.0.1"]),
        # ... but a file's name run on by a "-" stays a file's, as a word in capitals does
        # without such a word
        ("server v1.2.3.4.tar", []),
        ("host app-1.2.3.4.foo", []),
        ("upgrade to 1.2.3.4.FOO now", []),
        ("Release 4.0.0.1.GA.", []),
        # Found by re-attack: the extensions, matched in any case before the word for an
        # address was looked for, hid the next sentence (`Log in`, `Key points`); such a word
        # makes the numbers an address whatever follows, and without one a capitalised
        # word is the next sentence, an extension only in small letters or capitals
        ("Connect to 10.0.0.1.Log in as admin.", ["10.0.0.1"]),
        ("my ip is 10.0.0.1.Log me in", ["10.0.0.1"]),
        ("The VPN endpoint was 172.16.4.20.Key points", ["172.16.4.20"]),
        ("Reach it on 10.20.30.40.Sql access", ["10.20.30.40"]),
        ("server 10.0.0.1.log in with root", ["10.0.0.1"]),
        ("server 1.2.3.4.png", ["1.2.3.4"]),
        ("IP address 10.0.0.1.mp4", ["10.0.0.1"]),
        ("curl http://10.0.0.1.then check", ["10.0.0.1"]),
        ("setup-1.2.3.4.exe", []),
        ("IMG-1.2.3.4.PNG", []),
        # ... and a word in capitals ending the sentence is one only as a one-word sentence
        # (`OK.`, `DONE.`): a version's tag or a file's type otherwise, no address
        ("We shipped 1.0.0.1.RTM.", []),
        ("Hibernate 5.4.2.1.CR.", []),
        ("Budget 1.2.3.4.XLS.", []),
        ("See section 10.1.2.3.TODO.", []),
        ("Reached 10.0.0.1.DONE.", ["10.0.0.1"]),
        # Found by the re-attack: without such a word, any word in small letters is a
        # file's extension or a tag, listed or not
        ("screenshot-1.2.3.4.png", []),
        ("see screenshot-1.2.3.4.png.", []),
        ("model-1.0.0.1.safetensors", []),
        ("backup-2.1.0.3.sql", []),
        ("see rule 1.2.3.4.in the manual", []),
    ],
)
def test_a_word_after_the_dot_after_an_address_is_the_next_sentence_but_for_versions(
    text: str, values: list[str], run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [text[h.start : h.end] for h in pii.scan(text)] == values
    assert run_audit([pc(1, text), pc(2)])["stats"]["pii"].get("PII004", 0) == len(values)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Found by the re-attack: references to letters beyond ASCII and named references
        # (`j&#228;ne@gmx.de` left `j&#228;` unredacted; `jane@m&#252;ller.de` was missed)
        ("mail j&#228;ne@gmx.de now", "j&#228;ne@gmx.de"),
        ("mail jane@m&#252;ller.de now", "jane@m&#252;ller.de"),
        ("mail jane@m&#xFC;ller.de now", "jane@m&#xFC;ller.de"),
        ("mail jane&lowbar;doe@gmail.com now", "jane&lowbar;doe@gmail.com"),
        ("mail jane&plus;x@gmail.com now", "jane&plus;x@gmail.com"),
        ("mail jane@m&uuml;ller.de now", "jane@m&uuml;ller.de"),
        ("mail jane&commat;gmail&period;com now", "jane&commat;gmail&period;com"),
        ("a=1&amp;email=jane@gmail.com&amp;b=2", "jane@gmail.com"),
    ],
)
def test_addresses_written_with_any_character_reference_are_found_whole(
    text: str, value: str
) -> None:
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [("PII001", value)]


@pytest.mark.parametrize(
    "text",
    [
        # A numeric reference to a full-width or small at-sign (U+FF20, U+FE6B), which HTML
        # reads as one, hid the address: the scan looked for addresses only in a text with an
        # at-sign, and these spellings were none.
        "mail jane&#65312;gmail.com now",
        "mail jane&#065312gmail.com now",
        "mail jane&#xFF20;gmail.com now",
        "mail jane&#xff20;gmail.com now",
        "mail jane&#65131;gmail.com now",
        "mail jane&#x0FE6B;gmail.com now",
        # (those HTML references to "@" already found stay so)
        "mail jane&#64;gmail.com now",
        "mail jane&#x40;gmail.com now",
        "mail jane&commat;gmail.com now",
    ],
)
def test_an_at_sign_as_a_reference_to_any_of_its_forms_does_not_hide_the_address(
    text: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    value = text.removeprefix("mail ").removesuffix(" now")
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [("PII001", value)]
    # the whole audit too: the Rust prefilter lets the text through to the scan
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"]["PII001"] == 1
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert "[REDACTED:PII001]" in sample and "jane" not in sample
    # at a documentation domain it stays a placeholder
    assert pii.scan(text.replace("gmail.com", "example.com")) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Found by the attack on ed946d9: a zero-width character in the domain hid the
        # address (`john@exa\u200bmple.com`); each is read as the reader sees it, not at all,
        # and the address reported as written
        ("mail john@gma\u200bil.com now", "john@gma\u200bil.com"),
        ("mail john@gma\u200cil.com now", "john@gma\u200cil.com"),
        ("mail john@gma\u200dil.com now", "john@gma\u200dil.com"),
        ("mail john@gmail\u2060.com now", "john@gmail\u2060.com"),
        ("mail john@gmail.c\ufeffom now", "john@gmail.c\ufeffom"),
        ("mail john@gmail.\u00adcom now", "john@gmail.\u00adcom"),
        ("mail jo\ufeffhn@gmail.com now", "jo\ufeffhn@gmail.com"),
        (
            "mail jo\u200bhn\u200b@\u200bgmail\u200b.\u200bcom now",
            "jo\u200bhn\u200b@\u200bgmail\u200b.\u200bcom",
        ),
        # one before the address is none of it; one written as a reference is one too
        ("mail \u200bjohn@gmail.com now", "john@gmail.com"),
        ("mail john@gma&#8203;il.com now", "john@gma&#8203;il.com"),
        ("mail john@gma&ZeroWidthSpace;il.com now", "john@gma&ZeroWidthSpace;il.com"),
        # Found by the re-attack: the marks of writing direction (copies of right-to-left
        # text hold them) and the invisible operators hid the address too
        ("mail john@gma\u200eil.com now", "john@gma\u200eil.com"),
        ("mail john@gma\u200fil.com now", "john@gma\u200fil.com"),
        ("mail john\u2063@gmail.com now", "john\u2063@gmail.com"),
        ("mail john@gmail\u2062.com now", "john@gmail\u2062.com"),
        ("mail john@gma\u180eil.com now", "john@gma\u180eil.com"),
        ("mail john@gma\u061cil.com now", "john@gma\u061cil.com"),
        ("mail john@gma\u202ail.com now", "john@gma\u202ail.com"),
        ("mail john@gma\u2066il.com now", "john@gma\u2066il.com"),
        ("mail john@gma&lrm;il.com now", "john@gma&lrm;il.com"),
    ],
)
def test_zero_width_characters_inside_an_address_do_not_hide_it(
    text: str, value: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [("PII001", value)]
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"]["PII001"] == 1
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert "[REDACTED:PII001]" in sample and "john" not in sample and "gma" not in sample


@pytest.mark.parametrize(
    ("text", "rule", "value"),
    [
        # A zero-width or other invisible character inside a card, phone number, IPv4
        # address or IBAN hid it (the e-mail pattern already read them as not there); each
        # is found now, reported as written, the invisible characters inside it
        (
            "card 4111\u200b1111\u200b1111\u200b1111 exp",
            "PII003",
            "4111\u200b1111\u200b1111\u200b1111",
        ),
        ("card 4111 \u200c1111 1111 1111 exp", "PII003", "4111 \u200c1111 1111 1111"),
        ("card 41111111\u200d11111111 exp", "PII003", "41111111\u200d11111111"),
        (
            "card 4111\u00ad1111\u00ad1111\u00ad1111 exp",
            "PII003",
            "4111\u00ad1111\u00ad1111\u00ad1111",
        ),
        (
            "card 4111\ufeff1111\u2060\u2060111\u200b1\u20601111",
            "PII003",
            "4111\ufeff1111\u2060\u2060111\u200b1\u20601111",
        ),
        # Found by attack: a card and its CVV joined by invisible characters read as one run
        # of 19 digits that failed the Luhn sum; they part its groups as a space does
        (
            "card 4111\u200b1111\u200b1111\u200b1111\u200b123 ok",
            "PII003",
            "4111\u200b1111\u200b1111\u200b1111",
        ),
        (
            "card 4111\u31641111\u31641111\u31641111\u3164123 ok",
            "PII003",
            "4111\u31641111\u31641111\u31641111",
        ),
        ("amex 3782\u200b822463\u200b10005\u200b1234 ok", "PII003", "3782\u200b822463\u200b10005"),
        (
            "card 4111\u200b1111\u200b1111\u200b1111 123",
            "PII003",
            "4111\u200b1111\u200b1111\u200b1111",
        ),
        # one before or after the number is none of it
        ("card \u20604111-1111-1111-1111\u2060 exp", "PII003", "4111-1111-1111-1111"),
        ("call 555\u200b-123-4567 now", "PII002", "555\u200b-123-4567"),
        ("call +44\u200b 20 7946 0958 now", "PII002", "+44\u200b 20 7946 0958"),
        ("call (555)\u200c 123-4567 now", "PII002", "(555)\u200c 123-4567"),
        ("call 555-123-45\u00ad67 now", "PII002", "555-123-45\u00ad67"),
        ("call \ufeff555-123-4567\ufeff now", "PII002", "555-123-4567"),
        ("server 192.168\u200b.1.20 up", "PII004", "192.168\u200b.1.20"),
        ("server 10.0.0\u2060.1 up", "PII004", "10.0.0\u2060.1"),
        ("server 1\u00ad0.0.0.\ufeff1 up", "PII004", "1\u00ad0.0.0.\ufeff1"),
        (
            "iban DE62 3704\u200b 0044 0532 0130 01 ok",
            "PII005",
            "DE62 3704\u200b 0044 0532 0130 01",
        ),
        # with other non-ASCII text around it, full-width digits too
        (
            "卡号4111\u200b1111\u200b1111\u200b1111谢谢",
            "PII003",
            "4111\u200b1111\u200b1111\u200b1111",
        ),
        (
            "电话" + wide("555") + "\u200b" + wide("-123-4567"),
            "PII002",
            wide("555") + "\u200b" + wide("-123-4567"),
        ),
    ],
)
def test_zero_width_characters_inside_a_number_or_an_address_do_not_hide_it(
    text: str, rule: str, value: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [(rule, value)]
    assert pii.redact(text, pii.scan(text)) == text.replace(value, f"[REDACTED:{rule}]")
    # the whole audit too: the Rust prefilter lets the text through to the scan
    report = run_audit([pc(1, text), pc(2)])
    assert report["stats"]["pii"][rule] == 1
    sample = (tmp_path / "out0" / "sample.jsonl").read_text(encoding="utf-8")
    assert f"[REDACTED:{rule}]" in sample and value not in sample


# Found by attack: a hand-picked list of 23 invisible characters left the rest of Unicode's
# Default_Ignorable_Code_Point set hiding a card, phone, IPv4 address or IBAN put between
# its digits. A sample of each class of the set (the whole is checked against Unicode's
# tables in test_pii_prefilter.py).
IGNORABLE = {
    "combining grapheme joiner": "\u034f",
    "variation selector 16": "\ufe0f",
    "variation selector 1": "\ufe00",
    "ideographic variation selector": "\U000e0100",
    "Mongolian free variation selector": "\u180b",
    "Mongolian free variation selector four": "\u180f",
    "tag space": "\U000e0020",
    "cancel tag": "\U000e007f",
    "language tag": "\U000e0001",
    "Hangul choseong filler": "\u115f",
    "Hangul jungseong filler": "\u1160",
    "Hangul filler": "\u3164",
    "halfwidth Hangul filler": "\uffa0",
    "reserved U+2065": "\u2065",
    "Arabic letter mark": "\u061c",
    "Khmer inherent vowel aq": "\u17b4",
    "Khmer inherent vowel aa": "\u17b5",
    "reserved U+FFF0": "\ufff0",
    "shorthand format letter overlap": "\U0001bca0",
    "musical symbol begin beam": "\U0001d173",
    "reserved U+E0FFF": "\U000e0fff",
}


def _hidden_numbers(c: str) -> list[tuple[str, str, str]]:
    return [
        (f"card 4111{c}1111{c}1111{c}1111 exp", "PII003", f"4111{c}1111{c}1111{c}1111"),
        (f"call 555{c}-123-4{c}567 now", "PII002", f"555{c}-123-4{c}567"),
        (f"call +44 20{c} 7946 0958 now", "PII002", f"+44 20{c} 7946 0958"),
        (f"server 10.0{c}.0.1 up", "PII004", f"10.0{c}.0.1"),
        (
            f"iban DE62 3704{c} 0044 0532 0130 01 ok",
            "PII005",
            f"DE62 3704{c} 0044 0532 0130 01",
        ),
    ]


@pytest.mark.parametrize("char", IGNORABLE.values(), ids=list(IGNORABLE))
def test_every_default_ignorable_character_inside_a_number_is_read_as_not_there(
    char: str, tmp_path: Any, run_audit: Callable[..., dict[str, Any]]
) -> None:
    cases = _hidden_numbers(char)
    for text, rule, value in cases:
        assert [(h.rule, text[h.start : h.end]) for h in pii.scan(text)] == [(rule, value)]
        assert pii.redact(text, pii.scan(text)) == text.replace(value, f"[REDACTED:{rule}]")
    # the whole audit too: the Rust prefilter lets each text through to the scan
    report = run_audit([pc(i, text) for i, (text, _, _) in enumerate(cases)])
    found = {rule: n for rule, n in report["stats"]["pii"].items() if n}
    assert found == {"PII002": 2, "PII003": 1, "PII004": 1, "PII005": 1}


def test_zero_width_characters_between_letters_and_a_number_join_them() -> None:
    """Read as not there, an invisible character between letters and digits leaves them
    run together, as a reader sees them: an identifier (`SKU555-123-4567`), a version
    (`v1.2.3.4`), no phone or address."""
    assert pii.scan("SKU\u200b555-123-4567 and v\u200b1.2.3.4") == []
    assert [h.rule for h in pii.scan("TEL\u200b555-123-4567")] == ["PII002"]


def test_an_address_at_a_documentation_domain_hidden_by_zero_width_characters_is_none() -> None:
    assert pii.scan("write to jane@exa\u200bmple.com or jane@example.c\u2060om") == []


def test_runs_of_character_references_stay_fast() -> None:
    # Found by the re-attack: the reference-aware e-mail pattern ran on any text with a
    # "&#" (`"&#106;" * 20000`: 0.64 s, ten times the scan before it).
    # How the time grows, not a time (a bound on CPU time failed under a loaded test run):
    # ten times the text takes about ten times as long, the quadratic pattern a hundred.
    import time

    def cpu(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            pii.scan(text)
            best = min(best, time.process_time() - t0)
        return max(best, 1e-4)

    for unit, tail in (("&#106;", ""), ("&#106;", " jane@gmail.com"), ("&#x4e2d;", "")):
        small, large = cpu(unit * 2000 + tail), cpu(unit * 20000 + tail)
        assert large / small < 40, (unit, tail, small, large)


def test_a_card_stored_as_a_number_is_found_and_redacted(
    run_audit: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    # Found by attack: only strings were scanned, so a card written as a JSON number (an
    # integer, or a float as a card column with a missing value writes it) was in no
    # finding and went into sample.jsonl as it was.
    report = run_audit(
        [
            {"prompt": "Refund order 7", "completion": "Done.", "card": 4111111111111111},
            {"prompt": "Refund order 8", "completion": "Done!", "card": 5500000000000004.0},
            {"prompt": "Refund order 9", "completion": "Done?", "meta": {"cc": [4111111111111111]}},
            # numbers that are no card: too short, failing the Luhn sum, a fraction
            {"prompt": "Refund order 10", "completion": "Done:", "card": 4111111111111112},
            {"prompt": "Refund order 11", "completion": "Done;", "card": 12.5},
        ]
    )
    assert [r.rsplit(":", 1)[1] for r in finding(report, "PII003")["rows"]] == ["1", "2", "3"]
    assert report["stats"]["pii"]["PII003"] == 3
    sample = next(tmp_path.glob("out*/sample.jsonl")).read_text(encoding="utf-8")
    records = {json.loads(x)["ref"][-1]: json.loads(x)["record"] for x in sample.splitlines()}
    assert records["1"]["card"] == records["2"]["card"] == "[REDACTED:PII003]"
    assert records["3"]["meta"] == {"cc": ["[REDACTED:PII003]"]}
    assert records["4"]["card"] == 4111111111111112 and "4111111111111111" not in sample


def test_a_card_in_a_numeric_parquet_column_is_found_and_redacted(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "d.parquet"
    pq.write_table(
        pa.table(
            {
                "prompt": ["Refund order 7", "Refund order 8", "Refund order 9"],
                "completion": ["Done.", "Done!", "Done?"],
                "card": pa.array([4111111111111111, None, 4111111111111112], pa.int64()),
                "cc": pa.array([None, 5500000000000004.0, 0.5], pa.float64()),
                "id": pa.array([1, 2, 4111111111111111], pa.uint64()),
            }
        ),
        data,
    )
    report = audit([data], out=tmp_path / "out")
    assert [r.rsplit(":", 1)[1] for r in finding(report, "PII003")["rows"]] == ["1", "2", "3"]
    assert report["stats"]["pii"]["PII003"] == 3
    sample = [json.loads(x) for x in (tmp_path / "out" / "sample.jsonl").read_text().splitlines()]
    assert [s["record"].get("card") for s in sample] == [
        "[REDACTED:PII003]",
        None,
        4111111111111112,
    ]
    assert sample[1]["record"]["cc"] == sample[2]["record"]["id"] == "[REDACTED:PII003]"


def test_a_card_in_a_decimal_parquet_column_is_found_and_redacted(tmp_path: Path) -> None:
    # DECIMAL(16,0), as databases and Spark export card numbers: neither an integer nor a
    # float column, it was read by no rule and went into sample.jsonl (found by re-attack).
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    cards = [Decimal(4111111111111111), Decimal(12), None, Decimal("5500000000000004.00")]
    data = tmp_path / "d.parquet"
    pq.write_table(
        pa.table(
            {
                "prompt": ["Refund order 7", "Refund order 8", "Refund order 9", "Refund 10"],
                "completion": ["Done.", "Done!", "Done?", "Yes."],
                "card": pa.array([*cards[:3], Decimal(1)], pa.decimal128(16, 0)),
                "amount": pa.array([None, None, None, cards[3]], pa.decimal128(19, 2)),
            }
        ),
        data,
    )
    report = audit([data], out=tmp_path / "out")
    assert [r.rsplit(":", 1)[1] for r in finding(report, "PII003")["rows"]] == ["1", "4"]
    assert report["stats"]["pii"]["PII003"] == 2
    sample = [json.loads(x) for x in (tmp_path / "out" / "sample.jsonl").read_text().splitlines()]
    shown = {s["ref"]: s["record"] for s in sample}
    assert shown[f"{data.as_posix()}:1"]["card"] == "[REDACTED:PII003]"
    assert shown[f"{data.as_posix()}:4"]["amount"] == "[REDACTED:PII003]"


def test_only_the_cards_of_a_numeric_column_are_cards(tmp_path: Path) -> None:
    # Each value of card size went through every PII and secret pattern in Python (an
    # audit of three 100K-row id columns took 15 s instead of 1.6: found by re-attack);
    # a value that is no card (nanosecond timestamps start with 1) reaches no Python.
    import pyarrow as pa

    from curagate.audit.rules.pii import _card_numbers

    column = pa.chunked_array(
        [pa.array([1_700_000_000_000_000_000, 4111111111111111, None, 4111111111111112])]
    )
    assert _card_numbers(column) == [(1, "4111111111111111")]
    floats = pa.chunked_array([pa.array([4111111111111111.0, 4111111111111111.5, 1e13])])
    assert _card_numbers(floats) == [(0, "4111111111111111")]
