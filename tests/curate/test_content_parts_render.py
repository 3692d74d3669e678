"""How every content part renders into keys and counts as content (found by re-attack of
the content-parts change): a Parquet tool input holding a timestamp, date, decimal or bytes
was exit 3 in curate, check and audit; a turn of only a tool_result (a screenshot, an empty
output) or a signed empty thinking block was "empty content"; server_tool_use, mcp_tool_use,
text documents, search results and tool results of other kinds were in no key (conversations
differing there removed as exact copies); a refusal part was one key with a text part of the
same words, and a real tool_use one response with the call written out as text."""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.audit.formats import format_violations
from curagate.cli import main
from curagate.curate import curate
from curagate.io import read_batches
from curagate.records import RecordFormat, part_text
from tests.curate.test_curate import read_dir
from tests.ray.cluster import output_files


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def chat(user: Any, assistant: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def text(t: str) -> dict[str, str]:
    return {"type": "text", "text": t}


# --- 1: values JSON has no spelling for ------------------------------------------------


def parquet_tool_inputs(path: Path, value: Any, dtype: pa.DataType) -> Path:
    fields = [("type", pa.string()), ("text", pa.string()), ("id", pa.string())]
    fields += [("name", pa.string()), ("input", pa.struct([("v", dtype)]))]
    msg = pa.struct([("role", pa.string()), ("content", pa.list_(pa.struct(fields)))])
    use = {"type": "tool_use", "id": "1", "name": "f", "input": {"v": value}}
    row = [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {"role": "assistant", "content": [use]},
    ]
    pq.write_table(pa.table({"messages": pa.array([row], pa.list_(msg))}), path)
    return path


@pytest.mark.parametrize(
    ("value", "dtype", "shown"),
    [
        (datetime.datetime(2024, 1, 2, 3, 4, 5), pa.timestamp("us"), '"2024-01-02T03:04:05"'),
        (
            datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC),
            pa.timestamp("s", tz="UTC"),
            '"2024-01-02T00:00:00+00:00"',
        ),
        (datetime.date(2024, 1, 2), pa.date32(), '"2024-01-02"'),
        (decimal.Decimal("1.50"), pa.decimal128(5, 2), '"1.50"'),
        (b"\x00\xff", pa.binary(), '"AP8="'),
        (datetime.timedelta(days=1, seconds=2), pa.duration("us"), '"P1DT2.000000S"'),
    ],
)
def test_tool_inputs_json_cannot_write_render_as_text(
    value: Any, dtype: pa.DataType, shown: str, tmp_path: Path
) -> None:
    path = parquet_tool_inputs(tmp_path / "t.parquet", value, dtype)
    [batch] = read_batches([path], format="chat")
    assert batch.quarantined == []
    assert batch.keys.to_pylist() == [f'user: go\nassistant: [tool_use] f({{"v":{shown}}})']
    assert main(["check", str(path), "--no-golden"]) == 0
    assert main(["curate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert main(["audit", str(path), "--out", str(tmp_path / "audit")]) == 0


def test_tool_call_arguments_holding_a_timestamp_render_as_text(tmp_path: Path) -> None:
    fn = pa.struct(
        [("name", pa.string()), ("arguments", pa.struct([("when", pa.timestamp("us"))]))]
    )
    call = pa.struct([("type", pa.string()), ("function", fn)])
    msg = pa.struct(
        [("role", pa.string()), ("content", pa.string()), ("tool_calls", pa.list_(call))]
    )
    when = datetime.datetime(2024, 1, 1)
    turns = [
        {"role": "user", "content": "book it", "tool_calls": None},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "function": {"name": "book", "arguments": {"when": when}}}
            ],
        },
    ]
    path = tmp_path / "tc.parquet"
    pq.write_table(pa.table({"messages": pa.array([turns], pa.list_(msg))}), path)
    [batch] = read_batches([path], format="chat")
    assert batch.keys.to_pylist() == [
        'user: book it\nassistant: [tool_use] book({"when":"2024-01-01T00:00:00"})'
    ]
    assert main(["curate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0


# --- 2: what makes a turn non-empty -----------------------------------------------------


def tool_round(result: dict[str, Any], answer: str = "Done.") -> dict[str, Any]:
    use = {"type": "tool_use", "id": "t1", "name": "computer", "input": {"action": "shot"}}
    return {
        "messages": [
            {"role": "user", "content": "take a screenshot"},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", **result}]},
            {"role": "assistant", "content": answer},
        ]
    }


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
NOT_EMPTY = [
    tool_round({"content": [IMAGE]}, "A login form."),
    tool_round({"content": ""}, "Done: x exists."),
    tool_round({"content": []}, "Done: y exists."),
    tool_round({}, "Done: z exists."),
    tool_round({"is_error": True}, "It failed."),
    chat("q", [{"type": "thinking", "thinking": "", "signature": "EqQBCkgIARAB"}]),
    chat("r", [{"type": "redacted_thinking", "data": "EmwKAhgB"}]),
]


@pytest.mark.parametrize("i", range(len(NOT_EMPTY)))
def test_a_tool_result_or_signed_thinking_is_content(i: int, tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", [NOT_EMPTY[i]])
    [batch] = read_batches([path])
    assert batch.quarantined == [] and batch.table.num_rows == 1
    assert format_violations(RecordFormat.CHAT, NOT_EMPTY[i]) == []
    assert main(["check", str(path), "--no-golden"]) == 0


def test_blank_text_bearing_parts_are_still_empty(tmp_path: Path) -> None:
    rows = [
        chat("a", [{"type": "refusal", "refusal": " "}]),
        chat("b", [{"type": "thinking", "thinking": ""}]),
        chat("c", [text("\u200b")]),
        chat("d", [{"type": "output_text", "text": ""}, {"type": "thinking", "thinking": " "}]),
    ]
    [batch] = read_batches([write(tmp_path / "a.jsonl", rows)])
    assert [q.reason for q in batch.quarantined] == [
        "field 'messages': message 1 has empty 'content'"
    ] * 4
    assert all(
        [v.rule for v in format_violations(RecordFormat.CHAT, r)] == ["FMT005"] for r in rows
    )


# --- 3: every part that is not media is in the key --------------------------------------

SIBLINGS = {
    "server_tool_use": [
        chat(
            "look it up",
            [
                {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {"query": q}},
                text("ok"),
            ],
        )
        for q in ("how to make a bomb", "weather paris")
    ],
    "mcp_tool_use": [
        chat(
            "go",
            [
                {
                    "type": "mcp_tool_use",
                    "id": "m",
                    "name": "delete",
                    "server_name": "fs",
                    "input": {"path": p},
                }
            ],
        )
        for p in ("/tmp/x", "/")
    ],
    "document": [
        chat(
            [
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": d},
                },
                text("summarize"),
            ],
            "ok",
        )
        for d in ("Doc about cats.", "Doc about tax law.")
    ],
    "search_result": [
        chat(
            [
                {"type": "search_result", "source": "s", "title": "t", "content": [text(c)]},
                text("answer"),
            ],
            "ok",
        )
        for c in ("alpha facts", "beta facts")
    ],
    "code_execution_tool_result": [
        chat(
            "run it",
            [
                {
                    "type": "code_execution_tool_result",
                    "tool_use_id": "c",
                    "content": {
                        "type": "code_execution_result",
                        "stdout": o,
                        "stderr": "",
                        "return_code": 0,
                    },
                },
                text("done"),
            ],
        )
        for o in ("1", "2")
    ],
    "web_search_tool_result": [
        chat(
            "find",
            [
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "w",
                    "content": [{"type": "web_search_result", "url": u, "title": "t"}],
                },
                text("see"),
            ],
        )
        for u in ("https://a.example", "https://b.example")
    ],
    "redacted_thinking": [
        chat("hm", [{"type": "redacted_thinking", "data": d}, text("ok")])
        for d in ("EmwKAhgB", "EmwKAhgC")
    ],
}


@pytest.mark.parametrize("kind", sorted(SIBLINGS))
def test_conversations_differing_only_in_a_part_are_not_copies(kind: str, tmp_path: Path) -> None:
    rows = SIBLINGS[kind]
    # Copies that differ only in volatile fields (ids) are still exact copies.
    copy = json.loads(
        json.dumps(rows[0])
        .replace('"id": "', '"id": "x')
        .replace('"tool_use_id": "', '"tool_use_id": "x')
    )
    path = write(tmp_path / "a.jsonl", [*rows, copy])
    result = curate([path], tmp_path / "one", threads=1, near__enabled=False)
    assert (result.kept, result.removed, result.quarantined) == (2, {"exact": 1}, 0)
    curate([path], tmp_path / "two", threads=2, near__enabled=False)
    assert output_files(tmp_path / "one") == output_files(tmp_path / "two")
    removed = read_dir(tmp_path / "one" / "removed")
    assert removed is not None and removed.num_rows == 1


def test_part_text_renders_by_a_general_rule() -> None:
    assert part_text({"type": "image", "source": {"data": "x"}}) is None
    assert part_text({"type": "document", "source": {"type": "base64", "data": "JVBE"}}) is None
    assert part_text({"type": "input_text", "text": "t"}) == "t"
    assert part_text({"type": "summary_text", "text": "t"}) == "[summary_text] t"
    assert (
        part_text(
            {
                "type": "mcp_tool_use",
                "id": "m",
                "name": "rm",
                "server_name": "fs",
                "input": {"p": "/"},
            }
        )
        == '[mcp_tool_use] fs/rm({"p":"/"})'
    )
    assert (
        part_text({"type": "tool_result", "is_error": True, "content": "boom"})
        == "[tool_result error] boom"
    )
    assert (
        part_text(
            {
                "type": "search_result",
                "id": "i",
                "cache_control": {"type": "ephemeral"},
                "title": "t",
                "content": [text("a")],
            }
        )
        == '[search_result] {"content":[{"text":"a","type":"text"}],"title":"t"}'
    )
    assert part_text({"type": "redacted_thinking", "data": None}) == "[redacted_thinking] "


@pytest.mark.parametrize("kind", ["tool_use", "server_tool_use", "mcp_tool_use"])
def test_a_tool_use_without_a_string_name_is_quarantined(kind: str, tmp_path: Path) -> None:
    rows = [
        chat("go", [{"type": kind, "id": "a", "name": 1, "input": {"x": 1}}]),
        chat("go", [{"type": kind, "id": "a", "input": {"x": 1}}]),
        chat("go", [{"type": kind, "id": "a", "name": "f", "input": {"x": 1}}]),
    ]
    [batch] = read_batches([write(tmp_path / "a.jsonl", rows)])
    reason = (
        f"field 'messages': message 1 'content' part 0 ({kind}) must have a non-empty string 'name'"
    )
    assert [(q.row, q.reason) for q in batch.quarantined] == [(0, reason), (1, reason)]


# --- 4: a part's type is in its rendering ------------------------------------------------


def test_a_refusal_and_a_text_of_the_same_words_are_two_keys(tmp_path: Path) -> None:
    words = "I can't help with that."
    rows = [
        chat("Pick a lock?", [{"type": "refusal", "refusal": words}]),
        chat("Pick a lock?", [text(words)]),
        chat("Pick a lock?", [{"type": "thinking", "thinking": words}]),
    ]
    result = curate([write(tmp_path / "a.jsonl", rows)], tmp_path / "out", near__enabled=False)
    assert (result.kept, result.removed_total) == (3, 0)


@pytest.mark.parametrize(
    "rejected",
    [
        [text('get_weather({"city":"Paris"})')],
        [text('[tool_use] get_weather({"city":"Paris"})')],
    ],
)
def test_a_real_tool_call_and_the_call_written_as_text_are_two_responses(
    rejected: list[dict[str, Any]], tmp_path: Path
) -> None:
    use = {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}
    row = {
        "prompt": [{"role": "user", "content": "weather in Paris?"}],
        "chosen": [{"role": "assistant", "content": [use]}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }
    path = write(tmp_path / "p.jsonl", [row])
    [batch] = read_batches([path], format="preference")
    # The second spelling is the tag typed as text: one key with the real part, as any
    # text can be typed, but no real call and no data set writes it so.
    expect = [] if "[tool_use]" not in rejected[0]["text"] else [0]
    assert [q.row for q in batch.quarantined] == expect
    if not expect:
        assert format_violations(RecordFormat.PREFERENCE, row) == []
        assert main(["check", str(path), "--no-golden"]) == 0


# --- media parts: their reference is in the key ----------------------------------------


def vlm_pref(image: dict[str, Any], answer: str) -> dict[str, Any]:
    prompt = [{"role": "user", "content": [image, text("Describe the image.")]}]
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": answer}],
        "rejected": [{"role": "assistant", "content": answer + " Maybe."}],
    }


def identity(part: dict[str, Any]) -> int:
    """The media identity of a one-turn chat row holding ``part`` (0: none)."""
    import pyarrow as pa

    from curagate.records import RecordFormat, media_ids

    row = {"messages": [{"role": "user", "content": [part, {"type": "text", "text": "q"}]}]}
    found = media_ids(pa.Table.from_pylist([row]), RecordFormat.CHAT)
    return 0 if found is None else found.to_pylist()[0]


def test_a_media_part_is_its_reference_or_a_digest_of_inline_data_never_key_text() -> None:
    url = {"type": "image_url", "image_url": {"url": "https://x/1.jpg", "detail": "low"}}
    assert part_text(url) is None  # keys and text checks read no media
    data = "data:image/png;base64," + "iVBORw0KGgo" * 100_000
    inline = {"type": "image_url", "image_url": {"url": data}}
    other = {"type": "image_url", "image_url": {"url": data + "AA"}}
    assert 0 not in (identity(url), identity(inline)) and identity(other) != identity(inline)
    source = {"type": "image", "source": {"type": "base64", "media_type": "p", "data": "QUJD"}}
    assert identity(source) == identity({**source, "cache_control": {"type": "x"}})
    assert identity({"type": "input_image", "file_id": "file-1"}) != 0
    assert identity({"type": "image"}) == 0
    # One image however a format writes it (found by re-attack: the part's type was in
    # the identity, and a golden VQA item copied in OpenAI's format was no leak).
    assert identity(url) == identity({"type": "image", "image": "https://x/1.jpg"})


@pytest.mark.parametrize(
    "images",
    [
        [{"type": "image_url", "image_url": {"url": f"https://x/img/{i}.jpg"}} for i in range(3)],
        [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}}
            for d in ("QUJD", "REVG", "R0hJ")
        ],
        [{"type": "input_audio", "input_audio": {"data": d, "format": "wav"}} for d in "abc"],
        # The processors' spelling (found by re-attack: all three rows were one key).
        [{"type": "image", "image": f"https://x/img/{i}.jpg"} for i in range(3)],
        [{"type": "video", "video": [f"clip{i}/f1.jpg", f"clip{i}/f2.jpg"]} for i in range(3)],
        [{"type": "audio", "audio": f"a{i}.wav"} for i in range(3)],
        [{"type": "image", "base64": d} for d in ("QUJD", "REVG", "R0hJ")],
    ],
)
def test_rows_differing_only_in_the_image_are_kept_apart(
    images: list[dict[str, Any]], tmp_path: Path
) -> None:
    # Found by re-attack: three preference rows asking the same question of three images
    # were one key (the prompt), and two were removed as exact copies.
    rows = [vlm_pref(image, f"Answer {i}.") for i, image in enumerate(images)]
    rows.append(vlm_pref(images[0], "Another answer."))  # same image, same question
    path = write(tmp_path / "p.jsonl", rows)
    for threads in (1, 2):
        out = tmp_path / f"out{threads}"
        result = curate([path], out, near__enabled=False, threads=threads)
        assert (result.kept, result.removed_total, result.quarantined) == (3, 1, 0)
    assert output_files(tmp_path / "out1") == output_files(tmp_path / "out2")
    removed = read_dir(tmp_path / "out1" / "removed")
    assert removed is not None and removed.num_rows == 1


def test_one_image_inline_in_any_encoding_is_one_identity() -> None:
    # Found by re-attack: the base64 text was hashed, so the same image wrapped at 76
    # columns, unwrapped, or as a data: URL was three keys (exact copies kept thrice).
    import base64

    raw = bytes(range(256)) * 4
    plain = base64.b64encode(raw).decode()
    wrapped = "\n".join(plain[i : i + 76] for i in range(0, len(plain), 76))
    ids = {
        identity({"type": "image", "source": {"type": "base64", "data": plain}}),
        identity({"type": "image", "source": {"type": "base64", "data": wrapped}}),
        identity({"type": "image", "base64": plain}),
        identity({"type": "image", "image": "data:image/png;base64," + plain}),
        # its path aside (found by re-attack: the Hub's {bytes, path} with another path)
        identity({"type": "image", "bytes": raw, "path": "bird.png"}),
    }
    assert len(ids) == 1 and 0 not in ids
    other = base64.b64encode(raw[::-1]).decode()
    assert identity({"type": "image", "base64": other}) not in ids


# --- tool_calls are tagged as tool_use is; volatile fields at every depth -----------


def test_an_openai_tool_call_and_the_call_written_as_text_are_two_keys(tmp_path: Path) -> None:
    ask = {"role": "user", "content": "Weather in Paris?"}
    fn = {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": fn}],
    }
    typed = {"role": "assistant", "content": 'get_weather({"city":"Paris"})'}
    path = write(tmp_path / "c.jsonl", [{"messages": [ask, call]}, {"messages": [ask, typed]}])
    result = curate([path], tmp_path / "out", near__enabled=False)
    assert (result.kept, result.removed_total) == (2, 0)
    pref = {"prompt": [ask], "chosen": [call], "rejected": [typed]}
    [batch] = read_batches([write(tmp_path / "p.jsonl", [pref])])
    assert batch.quarantined == []


def test_volatile_fields_are_left_out_at_every_depth(tmp_path: Path) -> None:
    def search(**extra: Any) -> dict[str, Any]:
        inner = {**text("doc"), **extra}
        return {"type": "search_result", "source": "u", "title": "t", "content": [inner]}

    def web(n: int) -> dict[str, Any]:
        hit = {"type": "web_search_result", "url": "https://x", "title": "X"}
        hit |= {"encrypted_content": f"Eq{n}", "page_age": f"{n} days", "encrypted_index": f"{n}"}
        return {"type": "web_search_tool_result", "tool_use_id": f"srv{n}", "content": [hit]}

    rows = [
        chat([search(), text("q")], [text("ok")]),
        chat([search(cache_control={"type": "ephemeral"}), text("q")], [text("ok")]),
        chat("Weather?", [web(1), text("Sunny")]),
        chat("Weather?", [web(2), text("Sunny")]),
    ]
    result = curate([write(tmp_path / "v.jsonl", rows)], tmp_path / "out", near__enabled=False)
    assert (result.kept, result.removed_total) == (2, 2)


def test_an_id_in_a_parts_data_is_no_volatile_field(tmp_path: Path) -> None:
    # Found by re-attack: ids were left out of every dict at any depth, so two tool results
    # naming two orders (`{"type": "json", "json": {"id": 17}}`, or a part's own `id`
    # under a non-part dict) were one key, and one was removed as an exact copy.
    def result(order: int) -> dict[str, Any]:
        data = {"type": "json", "json": {"id": order, "status": "shipped"}}
        return {"type": "tool_result", "tool_use_id": f"t{order}", "content": [data]}

    rows = [
        chat("Status?", [result(17), text("Shipped.")]),
        chat("Status?", [result(18), text("Shipped.")]),
    ]
    out = curate([write(tmp_path / "j.jsonl", rows)], tmp_path / "out", near__enabled=False)
    assert (out.kept, out.removed_total) == (2, 0)
