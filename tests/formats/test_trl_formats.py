"""Every trl dataset type (tests/data/trl_formats/): read, keyed, checked and curated;
each malformed variant gives its rule. Training on them is in test_trl_training.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.io import read_batches
from curagate.records import RecordFormat, extract_prompt, strip_nulls

DATA = Path(__file__).resolve().parents[1] / "data" / "trl_formats"

# fixture -> (detected format, dedup key of its first record)
VALID = {
    "language_modeling": (
        RecordFormat.TEXT,
        "The sky is blue because air scatters short wavelengths more.",
    ),
    "chat": (
        RecordFormat.CHAT,
        "system: Be brief.\nuser: what color is the sky?\nassistant: blue.",
    ),
    "chat_tool_calls": (
        RecordFormat.CHAT,
        'user: what is the weather in paris?\nassistant: [tool_use] get_weather({"city":"paris"})\n'
        'tool: {"temp_c": 18}\nassistant: it is 18 degrees in paris.',
    ),
    "chat_content_parts": (
        RecordFormat.CHAT,
        "user: what color is the cat?\nassistant: the cat is black.",
    ),
    "chat_mixed_content": (
        RecordFormat.CHAT,
        "user: what color is the cat?\nassistant: the cat is black.",
    ),
    "chat_image_parts": (
        RecordFormat.CHAT,
        "user: what is in the picture?\nassistant: a red fox.",
    ),
    "prompt_only": (RecordFormat.PROMPT_ONLY, "what color is the sky?"),
    "prompt_only_conversational": (RecordFormat.PROMPT_ONLY, "user: what color is the sky?"),
    "prompt_completion": (RecordFormat.PROMPT_COMPLETION, "what color is the sky?\nblue."),
    "prompt_completion_conversational": (
        RecordFormat.PROMPT_COMPLETION,
        "user: what color is the owl?\nassistant: the owl is gray.",
    ),
    "preference": (RecordFormat.PREFERENCE, "what color is the sky?"),
    "preference_conversational": (RecordFormat.PREFERENCE, "user: what color is the cow?"),
    "preference_conversational_mixed": (RecordFormat.PREFERENCE, "user: what color is the cow?"),
    "preference_implicit": (RecordFormat.PREFERENCE, "what color is the sky?"),
    "preference_implicit_conversational": (
        RecordFormat.PREFERENCE,
        "user: what color is the cat?",
    ),
    "unpaired_preference": (RecordFormat.UNPAIRED_PREFERENCE, "what color is the sky?\nblue."),
    "unpaired_preference_conversational": (
        RecordFormat.UNPAIRED_PREFERENCE,
        "user: what color is the sky?\nassistant: blue.",
    ),
    "stepwise_supervision": (
        RecordFormat.STEPWISE_SUPERVISION,
        "which color is the sky at noon?\nthe sun is up at noon.\nso the sky is blue.",
    ),
}

# fixture -> the check findings, as (line, rule, start of the message)
MALFORMED = {
    "chat_tool_calls": [
        (2, "FMT001", "field 'messages': message 1 has no 'content'"),
        (3, "FMT001", "field 'messages': message 1 tool call 0 has no 'function' with a 'name'"),
        (4, "FMT003", "messages[0] is a tool turn as the first turn"),
    ],
    "chat_content_parts": [
        (2, "FMT001", "field 'messages': message 0 'content' part 0 has no 'type'"),
        (3, "FMT005", "field 'messages': message 0 has empty 'content'"),
    ],
    "prompt_only": [
        (2, "FMT005", "field 'prompt' is empty"),
        (3, "FMT001", "missing field 'prompt' (absent or null)"),
    ],
    "prompt_completion_conversational": [
        (2, "FMT003", "messages[1] is a user turn after a user turn"),
        (2, "FMT004", "the last message (messages[1]) is a user turn"),
        (3, "FMT001", "missing field 'completion' (absent or null)"),
    ],
    "preference_implicit": [
        (2, "FMT005", "the implicit prompt is empty: 'chosen' and 'rejected' share no leading"),
        # Identical: the implicit prompt is all of them, both responses empty; quarantined.
        (3, "FMT007", "fields 'chosen' and 'rejected' are identical, so the implicit prompt"),
        (4, "FMT001", "missing field 'rejected' (absent or null)"),
    ],
    "unpaired_preference": [
        (2, "FMT001", "missing field 'label' (absent or null)"),
        (3, "FMT005", "field 'completion' is empty"),
    ],
    "stepwise_supervision": [
        (2, "FMT001", "field 'labels' has 1 label(s) for 2 step(s) in 'completions'"),
        (3, "FMT005", "field 'completions': step 1 is empty"),
        (4, "FMT005", "field 'completions' is empty"),
    ],
}


# The lines the reader cannot use (the others break audit rules only, and are kept).
QUARANTINED = {
    "chat_tool_calls": [2, 3],
    "chat_content_parts": [2, 3],
    "prompt_only": [2, 3],
    "prompt_completion_conversational": [3],
    "preference_implicit": [2, 3, 4],
    "unpaired_preference": [2, 3],
    "stepwise_supervision": [2, 3, 4],
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_trl_type_is_read_with_its_format_and_key(name: str) -> None:
    [batch] = list(read_batches([DATA / f"{name}.jsonl"]))
    fmt, key = VALID[name]
    assert batch.quarantined == []
    assert batch.format is fmt
    assert batch.keys.to_pylist()[0] == key


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_valid_trl_type_passes_check(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", str(DATA / f"{name}.jsonl"), "--no-golden"])
    assert (rc, capsys.readouterr().out) == (0, "")


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_each_malformed_variant_gets_its_rule(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / f"{name}.malformed.jsonl"
    rc = main(["check", str(path), "--no-golden", "--format", "json"])
    found = [
        (f["line"], f["rule"], f["message"])
        for f in json.loads(capsys.readouterr().out)["findings"]
    ]
    assert rc == 1
    assert len(found) == len(MALFORMED[name]), found
    for (line, rule, message), (eline, erule, estart) in zip(found, MALFORMED[name], strict=True):
        assert (line, rule) == (eline, erule), found
        assert message.startswith(estart), message


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_curate_keeps_the_valid_row_and_quarantines_the_unreadable(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / f"{name}.malformed.jsonl"
    out = tmp_path / "out"
    rc = main(["curate", str(path), "--out", str(out), "--json", "--no-near"])
    assert rc == 0
    stats = json.loads(capsys.readouterr().out)
    quarantined = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [q["line"] for q in quarantined] == QUARANTINED[name]
    rows = sum(1 for _ in path.open())
    assert stats["totals"]["kept"] == rows - len(quarantined)


def test_curate_dedups_conversational_and_tool_call_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same chat written with content parts instead of strings, and the same tool call
    with its arguments as a JSON string, are exact duplicates of the originals."""
    rows = [json.loads(x) for x in (DATA / "chat_tool_calls.jsonl").read_text().splitlines()]
    copy = json.loads(json.dumps(rows[0]))
    for m in copy["messages"]:
        if m.get("tool_calls"):
            fn = m["tool_calls"][0]["function"]
            fn["arguments"] = json.dumps(fn["arguments"])
    args_as_string = tmp_path / "b.jsonl"
    args_as_string.write_text(json.dumps(copy) + "\n")
    parts = [json.loads(x) for x in (DATA / "chat.jsonl").read_text().splitlines()]
    as_parts = {
        "messages": [
            {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
            for m in parts[0]["messages"]
        ]
    }
    parts_file = tmp_path / "c.jsonl"
    parts_file.write_text(json.dumps(as_parts) + "\n")
    out = tmp_path / "out"
    files = [DATA / "chat_tool_calls.jsonl", DATA / "chat.jsonl", args_as_string, parts_file]
    rc = main(["curate", *map(str, files), "--out", str(out), "--json", "--no-near"])
    stats = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert stats["totals"]["kept"] == 4  # 2 + 2 originals; both rewrites removed as exact dups


@pytest.mark.parametrize("name", ["chat_mixed_content", "preference_conversational_mixed"])
def test_string_and_list_content_in_one_file_are_all_kept_as_text_parts(
    name: str, tmp_path: Path
) -> None:
    # OpenAI's chat layout writes content as a string or as a list of parts; a file mixing
    # the two had every row of the second kind quarantined ("Column(/messages/[]/content)
    # changed from array to string"). A string is written as the one text part it stands
    # for, and each row's key is what it was read alone.
    path = DATA / f"{name}.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    alone = []
    for i, row in enumerate(rows):
        one = tmp_path / f"{i}.jsonl"
        one.write_text(json.dumps(row) + "\n")
        [batch] = read_batches([one])
        alone += batch.keys.to_pylist()
    [batch] = read_batches([path])
    assert batch.quarantined == []
    assert batch.keys.to_pylist() == alone

    def parts(value: object) -> object:  # the record as written back: a string as a part
        if isinstance(value, dict):
            return {
                k: [{"type": "text", "text": v}]
                if k == "content" and isinstance(v, str)
                else parts(v)
                for k, v in value.items()
            }
        return [parts(v) for v in value] if isinstance(value, list) else value

    assert [strip_nulls(r) for r in batch.table.to_pylist()] == [parts(r) for r in rows]


def test_content_outside_the_turns_is_never_rewritten(tmp_path: Path) -> None:
    # Only turns (objects with a role) are: a RAG record's documents hold "content" too.
    docs = [{"title": "t", "content": "a document"}]
    rows = [
        {"messages": [{"role": "user", "content": "q1"}], "documents": docs},
        {
            "messages": [{"role": "user", "content": [{"type": "text", "text": "q2"}]}],
            "documents": docs,
        },
    ]
    path = tmp_path / "rag.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    [batch] = read_batches([path], format="chat")
    assert [r["documents"] for r in batch.table.to_pylist()] == [docs, docs]


def test_label_that_is_not_boolean_keeps_prompt_completion(tmp_path: Path) -> None:
    """A classification label beside prompt/completion is not KTO data."""
    path = tmp_path / "cls.jsonl"
    path.write_text(
        json.dumps({"prompt": "great!", "completion": "Positive", "label": "pos"}) + "\n"
    )
    [batch] = list(read_batches([path]))
    assert batch.format is RecordFormat.PROMPT_COMPLETION


def test_prompt_beside_an_answer_column_is_not_silently_prompt_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"prompt": "2+2?", "response": "4"}) + "\n")
    rc = main(["check", str(path), "--no-golden"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "records have 'prompt' and 'response'" in err
    assert "rename 'response' to 'completion'" in err


def test_the_advice_for_a_golden_set_shaped_file_names_the_config_key_and_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: check and audit advised `--format prompt_only`, which check reads as
    # its output format and audit does not have; both take the format from --config.
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"id": 1, "prompt": "2+2?", "reference": "4"}) + "\n")
    config = tmp_path / "audit.yaml"
    config.write_text("format: prompt_only\n")
    commands = {
        "check": ["check", str(path), "--no-golden"],
        "audit": ["audit", str(path), "--out", str(tmp_path / "out")],
    }
    for name, command in commands.items():
        assert main(command) == 2, name
        err = capsys.readouterr().err
        assert "`format: prompt_only` in the config" in err and "pass --format" not in err
        # The advice, followed, reads the file.
        assert main([*command, "--config", str(config)]) in (0, 1), capsys.readouterr().err


def test_implicit_prompt_follows_trl() -> None:
    assert extract_prompt("Q? yes", "Q? no") == ("Q?", " yes", " no")
    turns = [{"role": "user", "content": "Q?"}]
    yes, no = {"role": "assistant", "content": "yes"}, {"role": "assistant", "content": "no"}
    assert extract_prompt([*turns, yes], [*turns, no]) == (turns, [yes], [no])


def test_audit_reads_every_trl_type(tmp_path: Path) -> None:
    """audit reads each valid fixture with no quarantine and no format finding."""
    pytest.importorskip("jsonschema")
    from curagate.audit import audit

    for name, (fmt, _) in sorted(VALID.items()):
        report = audit([DATA / f"{name}.jsonl"], out=tmp_path / name)
        assert report["inputs"]["quarantined_rows"] == 0, name
        # Every line of the fixture, counted here (not the report's own valid_rows).
        lines = (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        rows = sum(1 for line in lines if line.strip())
        assert rows > 0 and report["inputs"]["formats"] == {fmt.value: rows}, name
        rules = {f["rule"] for f in report.get("findings", [])}
        assert not {r for r in rules if r.startswith("FMT")}, (name, rules)


def test_audit_counts_non_text_parts_without_dropping_them(tmp_path: Path) -> None:
    pytest.importorskip("jsonschema")
    from curagate.audit import audit

    report = audit([DATA / "chat_image_parts.jsonl"], out=tmp_path / "a")
    assert report["inputs"]["non_text_parts"] == {"image": 1}
    assert (
        "Non-text content parts (kept, not read by the text checks): image (1)."
        in (tmp_path / "a" / "audit.md").read_text()
    )
    text_only = audit([DATA / "chat.jsonl"], out=tmp_path / "b")
    assert text_only["inputs"]["non_text_parts"] == {}
