"""Content parts whose text is under another key than ``text`` (Anthropic's tool_use,
tool_result and thinking, OpenAI's refusal) are in the dedup key, and count as content
(found by attack: three tool-use conversations differing only in the tool's input and
result, a refusal and a harmful compliance, two different reasoning blocks were removed as
"exact" copies, similarity 1.0; a turn of only an empty refusal part passed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curagate.audit.formats import format_violations, non_text_part_kinds
from curagate.curate import curate
from curagate.io import read_batches
from curagate.records import RecordFormat
from tests.curate.test_curate import read_dir
from tests.ray.cluster import output_files


def tool_conversation(city: str, temp: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather where I go?"}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": city},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": f"{temp} degrees in {city}"}],
                    }
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "It is nice there."}]},
        ]
    }


def answer(question: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": list(parts)},
        ]
    }


LOCK = "How do I pick a lock on my neighbour's door?"
ROWS = [
    tool_conversation("Paris", 18),
    tool_conversation("Tokyo", 31),
    tool_conversation("Oslo", -4),
    answer(LOCK, {"type": "refusal", "refusal": "I can't help with that."}),
    answer(LOCK, {"type": "refusal", "refusal": "Sure: insert a tension wrench, then rake."}),
    answer(
        "Is 91 prime?",
        {"type": "thinking", "thinking": "91 = 7*13, so no.", "signature": "s1"},
        {"type": "text", "text": "No."},
    ),
    answer(
        "Is 91 prime?",
        {"type": "thinking", "thinking": "91 is odd, not divisible by 3 or 5: prime."},
        {"type": "text", "text": "No."},
    ),
]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_parts_render_their_text_into_the_key(tmp_path: Path) -> None:
    [batch] = read_batches([write(tmp_path / "a.jsonl", ROWS)])
    keys = batch.keys.to_pylist()
    assert batch.quarantined == []
    assert keys[0] == (
        "user: Weather where I go?\n"
        'assistant: [tool_use] get_weather({"city":"Paris"})\n'
        "user: [tool_result] 18 degrees in Paris\n"
        "assistant: It is nice there."
    )
    assert keys[3] == f"user: {LOCK}\nassistant: [refusal] I can't help with that."
    assert keys[5] == "user: Is 91 prime?\nassistant: [thinking] 91 = 7*13, so no.\nNo."
    assert len(set(keys)) == len(ROWS)
    # Each row's key is the one it has read alone (Arrow gives each part every field of
    # the chunk's other parts, null: no key depends on its neighbours).
    for i, row in enumerate(ROWS):
        [one] = read_batches([write(tmp_path / f"{i}.jsonl", [row])])
        assert one.keys.to_pylist() == [keys[i]], i


def test_curate_keeps_conversations_that_differ_only_in_such_parts(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", ROWS)
    result = curate([path], tmp_path / "one", threads=1, near__enabled=False)
    assert (result.kept, result.removed_total, result.quarantined) == (len(ROWS), 0, 0)
    # Byte-identical at another thread count, and with the near step on nothing is exact.
    curate([path], tmp_path / "two", threads=2, near__enabled=False)
    assert output_files(tmp_path / "one") == output_files(tmp_path / "two")
    with_near = curate([path], tmp_path / "near")
    assert with_near.removed.get("exact", 0) == 0
    assert with_near.kept + with_near.removed_total == len(ROWS)


def test_copies_of_such_parts_are_still_exact_copies(tmp_path: Path) -> None:
    # The tool_use id and tool_result's tool_use_id, a thinking signature, are not text:
    # two runs' copies of a conversation that differ only there are one conversation.
    twin = json.loads(json.dumps(ROWS[0]).replace("toolu_1", "toolu_9"))
    signed = json.loads(json.dumps(ROWS[5]).replace('"s1"', '"s2"'))
    path = write(tmp_path / "a.jsonl", [ROWS[0], twin, ROWS[5], signed])
    result = curate([path], tmp_path / "out", near__enabled=False)
    assert result.kept == 2 and result.removed == {"exact": 2}
    removed = read_dir(tmp_path / "out" / "removed")
    assert removed is not None and removed.column("similarity").to_pylist() == [1.0, 1.0]


def test_a_turn_of_only_an_empty_refusal_is_empty_content(tmp_path: Path) -> None:
    rows = [
        answer("hi", {"type": "refusal", "refusal": ""}),
        answer("hey", {"type": "refusal", "refusal": " \u200b"}),
        answer("yo", {"type": "refusal", "refusal": "No."}),
    ]
    [batch] = read_batches([write(tmp_path / "a.jsonl", rows)])
    assert [(q.row, q.reason) for q in batch.quarantined] == [
        (0, "field 'messages': message 1 has empty 'content'"),
        (1, "field 'messages': message 1 has empty 'content'"),
    ]
    assert batch.table.num_rows == 1
    # audit's rule on a record read another way agrees (FMT005), and counts no refusal or
    # tool part as a part "not read by the text checks".
    assert [v.rule for v in format_violations(RecordFormat.CHAT, rows[0])] == ["FMT005"]
    assert format_violations(RecordFormat.CHAT, rows[2]) == []
    assert non_text_part_kinds(ROWS[0]) == {}
    assert non_text_part_kinds(answer("q", {"type": "image"}, {"type": "text", "text": "a"})) == {
        "image": 1
    }


def test_a_refusal_that_is_not_a_string_is_quarantined_naming_the_part(tmp_path: Path) -> None:
    rows = [
        answer("hi", {"type": "refusal", "refusal": 7}),
        answer("yo", {"type": "text", "text": "ok"}),
    ]
    [batch] = read_batches([write(tmp_path / "a.jsonl", rows)])
    assert [q.reason for q in batch.quarantined] == [
        "field 'messages': message 1 'content' part 0 (refusal) must have a string 'refusal'"
    ]


def test_part_text_of_each_part_type() -> None:
    from curagate.records import part_text

    assert part_text({"type": "image"}) is None
    assert part_text({"type": "output_text", "text": "t"}) == "t"
    assert part_text({"type": "refusal"}) == "[refusal] "
    tool = {"type": "tool_use", "name": "f", "input": {"b": 1.0, "a": None}}
    assert part_text(tool) == '[tool_use] f({"b":1})'
    assert part_text({"type": "tool_use", "name": "f", "input": {}}) == "[tool_use] f()"
    assert part_text({"type": "tool_result", "content": "plain"}) == "[tool_result] plain"
    nested = [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]
    assert part_text({"type": "tool_result", "content": nested}) == "[tool_result] a\nb"
