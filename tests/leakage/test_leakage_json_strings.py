"""A golden item inside a string that holds JSON: ``json.dumps`` escapes every character
outside ASCII (``\\u041f...``), so a Russian or Chinese question kept in a ``source`` column
as a JSON string, or a whole ``text`` column written as one, showed none of its words to
any scan. Found by attack: check, ``leakage --fail-on-leak``, ``curate --decontaminate``
and the audit's LEAK001 all passed. Such strings are also scanned decoded."""

# ruff: noqa: RUF001  (full-width punctuation is the point of the Chinese item)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import detect

RU = (
    "Петя купил три яблока и две груши на рынке у своей бабушки, а затем отдал половину всех "
    "фруктов своему младшему брату. Сколько фруктов у него осталось?"
)
ZH = "小明有五个苹果，他给了小红两个，又买了三个。请问小明现在有几个苹果？"
CLEAN = {"prompt": "What is two plus two?", "completion": "Four."}


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def golden(tmp_path: Path) -> Path:
    rows = [{"id": "ru", "prompt": RU, "reference": "2"}, {"id": "zh", "prompt": ZH}]
    rows += [
        {"id": f"pad{i}", "prompt": f"padding question {i} on another topic"} for i in range(3)
    ]
    write(tmp_path / "golden" / "set" / "data.jsonl", rows)
    return tmp_path / "golden"


def hidden(item: str) -> str:
    return json.dumps({"question": item, "answer": "2"})  # ensure_ascii: every char \uXXXX


# Each shape the attack used, one row per item (the other rows clean).
SHAPES: dict[str, Any] = {
    "a source column": lambda q: {
        "prompt": "Translate the record below.",
        "completion": "Done.",
        "source": hidden(q),
    },
    "the text column": lambda q: {"text": hidden(q)},
    "an indented text column": lambda q: {"text": json.dumps({"q": [q]}, indent=2)},
    "a list of json lines": lambda q: {"text": "x", "log": [hidden("hi") + "\n" + hidden(q)]},
    "a prompt": lambda q: {"prompt": hidden(q), "completion": "Done."},
    "a user turn": lambda q: {
        "messages": [{"role": "user", "content": hidden(q)}, {"role": "assistant", "content": "ok"}]
    },
    "json in json": lambda q: {"text": "x", "meta": json.dumps({"raw": hidden(q)})},
    "a quarantined row": lambda q: {"prompt": "x", "completion": "", "source": hidden(q)},
}
# Found by attack on the first fix, which read JSON objects and arrays opening a line: the
# escapes are decoded wherever they are, and a key given twice keeps both values.
ESCAPED: dict[str, Any] = {
    "a json string literal": lambda q: json.dumps(q),
    "json after text on its line": lambda q: "Source record: " + json.dumps({"q": q}),
    "a bare escaped string": lambda q: "Q: " + json.dumps(q)[1:-1],
    "a key given twice": lambda q: (
        '{"question": ' + json.dumps(q) + ', "question": "replaced", "answer": "2"}'
    ),
}
for _name, _form in ESCAPED.items():
    SHAPES[f"{_name} as the prompt"] = lambda q, f=_form: {"prompt": f(q), "completion": "Done."}
    SHAPES[f"{_name} in a source column"] = lambda q, f=_form: {
        "prompt": "Translate the record below.",
        "completion": "Done.",
        "source": f(q),
    }


@pytest.mark.parametrize("shape", SHAPES)
def test_an_item_in_a_json_string_is_found(tmp_path: Path, shape: str) -> None:
    rows = [CLEAN, SHAPES[shape](RU), CLEAN, SHAPES[shape](ZH)]
    corpus = write(tmp_path / "train.jsonl", rows)
    result = detect(golden(tmp_path), corpus)
    found = {leak.item.id: [m.line for m in leak.matches] for leak in result.leaks}
    assert found == {"ru": [2], "zh": [4]}


def test_every_scanner_finds_an_item_in_a_json_string(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate.audit import AuditConfig, audit
    from curagate.audit.config import LeakageConfig

    ref = golden(tmp_path)
    rows = [CLEAN, SHAPES["a source column"](RU), {"text": hidden(ZH)}]
    corpus = write(tmp_path / "train.jsonl", rows[:2])
    texts = write(tmp_path / "text.jsonl", [{"text": "hello there"}, rows[2]])
    for data in (corpus, texts):
        assert main(["check", str(data), "--golden", str(ref)]) == 1
        assert "LEAK001" in capsys.readouterr().out
        argv = ["leakage", "--reference", str(ref), "--corpus", str(data)]
        assert main([*argv, "--out", str(tmp_path / f"{data.stem}-rep"), "--fail-on-leak"]) == 1
        cfg = AuditConfig(leakage=LeakageConfig(reference=[ref]))
        report = audit([data], config=cfg, out=tmp_path / f"{data.stem}-audit")
        assert any(f["rule"] == "LEAK001" for f in report["findings"])
        out = tmp_path / f"{data.stem}-cur"
        result = curate([data], out, decontaminate__reference=[str(ref)], progress=False)
        assert result.removed.get("leakage") == 1
        assert pq.read_table(out / "kept" / "part-00000.parquet").num_rows == 1


def test_a_json_string_without_the_item_is_not_a_leak(tmp_path: Path) -> None:
    rows = [
        {"text": json.dumps({"question": "Сколько будет два плюс два?", "answer": "4"})},
        {"text": "[1, 2, 3]"},
        {"text": "{not json at all " + RU[:20]},
    ]
    assert detect(golden(tmp_path), write(tmp_path / "train.jsonl", rows)).leaks == []


def test_a_key_given_twice_keeps_both_values_and_escapes_decode_in_place() -> None:
    from curagate.leakage.texts import escapes_decoded, json_values

    text = '{"question": ' + json.dumps(RU) + ', "question": "replaced"}'
    assert json_values(text) == [{"question": RU, "question.1": "replaced"}]
    # Escaped twice (json.dumps of json.dumps), a pair of surrogates, a lone one.
    twice = json.dumps(json.dumps(RU))
    assert RU in (escapes_decoded(twice) or "")
    assert escapes_decoded(json.dumps("\U0001f600 ok \ud800")) == '"\U0001f600 ok \ufffd"'
    assert escapes_decoded("no escapes here") is None
