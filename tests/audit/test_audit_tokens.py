"""Token lengths and the token limit, with a tiny tokenizer built locally (no download)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audit_support import finding, rules_found

from curagate.errors import ConfigError

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEMPLATE = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} </s> {% endfor %}"


def make_tokenizer(path: Path, chat_template: str | None) -> Path:
    """A whitespace word-level tokenizer: one token per word, markers included."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "<user>", "<assistant>", "<system>", "</s>"] + [f"w{i}" for i in range(50)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="</s>")
    if chat_template is not None:
        fast.chat_template = chat_template
    fast.save_pretrained(str(path))
    return path


def conv(n_words: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "w1 w2"},
            {"role": "assistant", "content": " ".join(f"w{i % 50}" for i in range(n_words))},
        ]
    }


def conv_with_system(n_words: int) -> dict[str, Any]:
    """:func:`conv` after a system turn."""
    return {"messages": [{"role": "system", "content": "w1"}, *conv(n_words)["messages"]]}


# A template that refuses a system turn (raise_exception, as Llama-2-style templates do).
NO_SYSTEM = (
    "{% for m in messages %}{% if m['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "<{{ m['role'] }}> {{ m['content'] }} </s> {% endfor %}"
)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tokenizer(tmp_path_factory.mktemp("tok"), TEMPLATE)


def cfg(tok: Path, max_len: int | None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "tokens": {"tokenizer": str(tok)},
        "rules": {"MIX001": {"severity": "off"}},
    }
    if max_len is not None:
        c["tokens"]["max_seq_len"] = max_len
    return c


def test_record_over_max_seq_len_is_an_error(
    tokenizer_dir: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # rendered: "<user> w1 w2 </s> <assistant> <n words> </s>" = 6 + n tokens
    report = run_audit([conv(3), conv(11), conv(10)], cfg(tokenizer_dir, 16))
    f = finding(report, "LEN003")
    assert f["severity"] == "error" and f["count"] == 1 and f["rows"][0].endswith("train.jsonl:2")
    assert report["stats"]["lengths"]["tokens"]["rendered"]["max"] == 17


def test_records_within_max_seq_len_pass(
    tokenizer_dir: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    report = run_audit([conv(3), conv(9)], cfg(tokenizer_dir, 16))
    assert "LEN003" not in rules_found(report)


def test_token_length_distribution_is_reported(
    tokenizer_dir: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    report = run_audit([conv(3), conv(5)], cfg(tokenizer_dir, None))
    tokens = report["stats"]["lengths"]["tokens"]
    assert tokens["output"]["max"] == 5 and tokens["input"]["max"] == 2
    assert "rendered" not in tokens


def test_tokenizer_without_chat_template_is_an_error(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    plain = make_tokenizer(tmp_path / "plain", None)
    with pytest.raises(ConfigError, match="has no chat template"):
        run_audit([conv(3)], cfg(plain, 16))


@pytest.mark.parametrize(
    "template",
    ["{% for m in messages %}{{ m.content", "{{ 1/0 }}", "{{ messages | nosuchfilter }}"],
    ids=["syntax", "runtime", "filter"],
)
def test_a_template_that_renders_nothing_is_a_config_error(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]], template: str
) -> None:
    # Every row was FMT003 "turns do not alternate" (the data blamed, exit 1), or exit 3.
    broken = make_tokenizer(tmp_path / "broken", template)
    with pytest.raises(ConfigError, match=r"tokens.tokenizer: the chat template of .* does not"):
        run_audit([conv(3)], cfg(broken, 16))


def test_a_template_that_requires_a_system_turn_is_not_refused(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Probed with a user-assistant exchange alone, it was a config error.
    needs_system = make_tokenizer(
        tmp_path / "sys",
        "{% if messages[0]['role'] != 'system' %}{{ raise_exception('A system prompt is "
        "required') }}{% endif %}{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} "
        "</s> {% endfor %}",
    )
    with_system = conv_with_system(3)
    report = run_audit([with_system], cfg(needs_system, 16))
    assert report["stats"]["lengths"]["tokens"]["rendered"]["count"] == 1


def test_conversation_the_template_rejects_is_a_format_error(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    strict = make_tokenizer(tmp_path / "strict", NO_SYSTEM)
    with_system = conv_with_system(3)
    report = run_audit([conv(3), with_system], cfg(strict, 16))
    f = finding(report, "FMT003")
    assert f["rows"][0].endswith("train.jsonl:2") and "System role not supported" in f["message"]
    assert report["stats"]["lengths"]["tokens"]["rendered"]["count"] == 1


def test_a_template_error_of_any_kind_on_one_record_is_its_format_error(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # It renders a system turn and an exchange, and divides by zero on two turns: the audit
    # stopped with exit 3 (ZeroDivisionError) at the first such record.
    odd = make_tokenizer(
        tmp_path / "odd",
        "{{ 1 // (messages|length - 2) }}{% for m in messages %}<{{ m['role'] }}> "
        "{{ m['content'] }} </s> {% endfor %}",
    )
    with_system = conv_with_system(3)
    report = run_audit([with_system, conv(3)], cfg(odd, 16))
    f = finding(report, "FMT003")
    assert f["rows"][0].endswith("train.jsonl:2") and "ZeroDivisionError" in f["message"]


def test_a_template_error_quoting_the_record_is_redacted_in_fmt003(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    # Found by audit: a template's `raise_exception('Unknown role: ' + role)` quoted the
    # record into the reports (cut to 100 characters, so a secret after the cut was only
    # partly there); it is redacted whole, then cut.
    quoting = make_tokenizer(
        tmp_path / "quoting",
        "{% for m in messages %}{% if m['role'] not in ['user', 'assistant', 'system'] %}"
        "{{ raise_exception('Unknown role: ' + m['role']) }}{% endif %}"
        "<{{ m['role'] }}> {{ m['content'] }} </s> {% endfor %}",
    )
    bad = {
        "messages": [
            {"role": "AKIAIOSFODNN7EXAMPLE", "content": "w1"},
            {"role": "assistant", "content": "w2"},
        ]
    }
    run_audit([conv(3), bad], cfg(quoting, 16))
    outputs = list(tmp_path.glob("out*/*"))
    assert outputs
    for p in outputs:
        assert "AKIAIOSFODNN7EXAMPLE" not in p.read_text(encoding="utf-8"), p.name
    assert "Unknown role: [REDACTED:SEC001]" in (tmp_path / "out0" / "audit.json").read_text()
