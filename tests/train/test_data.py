from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from curagate.errors import ConfigError, InputError
from curagate.train import data as tdata

from .conftest import CHATML, build_tokenizer, sft_rows, write_jsonl

pytest.importorskip("transformers")

NO_END_OF_TURN = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def test_labels_cover_assistant_turns_and_their_end_of_turn_only() -> None:
    tok = build_tokenizer()
    conv = [
        {"role": "user", "content": "what color is the red cat?"},
        {"role": "assistant", "content": "the cat is red."},
        {"role": "user", "content": "and the dog?"},
        {"role": "assistant", "content": "the dog is blue."},
    ]
    _, eot_id = tdata.end_of_turn_token(tok)
    out = tdata.tokenize_sft(tok, [tdata.Conversation(conv)], max_length=256, eot_id=eot_id)
    ex = out.examples[0]
    trained = tok.decode(
        [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != -100]
    )
    assert trained == "the cat is red.<|im_end|>\nthe dog is blue.<|im_end|>\n"
    assert out.trained_end_of_turn == 2


def test_end_of_turn_token_is_found_from_the_template() -> None:
    assert tdata.end_of_turn_token(build_tokenizer())[0] == "<|im_end|>"


def test_template_without_end_of_turn_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="never learn to stop"):
        tdata.end_of_turn_token(build_tokenizer(NO_END_OF_TURN))


def test_missing_chat_template_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no chat template"):
        tdata.require_chat_template(build_tokenizer(None), "models/x")


def test_truncation_before_end_of_turn_is_counted() -> None:
    tok = build_tokenizer()
    conv = sft_rows(1)[0]["messages"]
    _, eot_id = tdata.end_of_turn_token(tok)
    out = tdata.tokenize_sft(tok, [tdata.Conversation(conv)], max_length=14, eot_id=eot_id)
    assert out.truncated_before_end_of_turn == 1


def test_prompt_completion_records_become_one_exchange(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "hi", "completion": "hello"}])
    records = tdata.read_records([str(f)], None)
    assert tdata.to_conversations(records, None) == [
        tdata.Conversation(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], 1
        )
    ]


def test_assistant_turns_of_a_prompt_are_context_not_trained(tmp_path: Path) -> None:
    # Found by attack: a prompt's few-shot answers written as assistant turns were trained
    # on as if they were the completion (trl trains a prompt/completion's completion only).
    row = {
        "prompt": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "hmm"},
            {"role": "user", "content": "and?"},
        ],
        "completion": [{"role": "assistant", "content": "the cat is red."}],
    }
    records = tdata.read_records([str(write_jsonl(tmp_path / "pc.jsonl", [row]))], None)
    [conv] = tdata.to_conversations(records, "be brief")
    assert conv.trained_from == 4 and conv.messages[0]["role"] == "system"
    tok = build_tokenizer()
    _, eot_id = tdata.end_of_turn_token(tok)
    out = tdata.tokenize_sft(tok, [conv], max_length=256, eot_id=eot_id)
    [ex] = out.examples
    trained = tok.decode(
        [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != -100]
    )
    assert trained == "the cat is red.<|im_end|>\n"
    assert out.assistant_turns == 1 and out.trained_end_of_turn == 1


def test_a_completion_without_an_assistant_turn_is_refused(tmp_path: Path) -> None:
    row = {
        "prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "completion": [{"role": "user", "content": "thanks"}],
    }
    f = write_jsonl(tmp_path / "pc.jsonl", [row])
    with pytest.raises(InputError, match=rf"{f}:1: the completion holds no assistant turn"):
        tdata.to_conversations(tdata.read_records([str(f)], None), None)


@pytest.mark.parametrize("side", ["chosen", "rejected"])
def test_a_preference_answer_of_another_role_is_named_by_row_and_field(
    tmp_path: Path, side: str
) -> None:
    # Found by attack: only the first pair was checked; a later pair whose 'chosen' was a
    # user turn trained on a garbled completion (first, it blamed the chat template).
    def turn(role: str, text: str) -> list[dict[str, str]]:
        return [{"role": role, "content": text}]

    good = {"prompt": turn("user", "what?"), "chosen": turn("assistant", "red")}
    good["rejected"] = turn("assistant", "blue")
    bad = {**good, side: turn("user", "the cat is red.")}
    f = write_jsonl(tmp_path / "p.jsonl", [good, bad])
    with pytest.raises(InputError, match=rf"{f}:2: '{side}' message 0 is a 'user' turn"):
        tdata.to_preferences(tdata.read_records([str(f)], None), None)


def test_a_preference_pair_that_differs_only_in_its_tool_calls_is_two_answers(
    tmp_path: Path,
) -> None:
    # Found by attack: the answers were compared by role and content only, so calling
    # get_weather (chosen) or delete_files (rejected) was refused as "the same answer";
    # `curagate audit` (which reads the calls) passes the file.
    from curagate.audit.formats import format_violations
    from curagate.records import RecordFormat

    def call(name: str) -> list[dict]:
        fn = {"name": name, "arguments": {"path": "/"}}
        return [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": fn}],
            }
        ]

    row = {"prompt": "tidy up", "chosen": call("get_weather"), "rejected": call("delete_files")}
    f = write_jsonl(tmp_path / "p.jsonl", [row])
    assert not [v for v in format_violations(RecordFormat.PREFERENCE, row) if v.rule == "FMT006"]
    [pair] = tdata.to_preferences(tdata.read_records([str(f)], None), None)
    assert pair["chosen"][0]["tool_calls"][0]["function"]["name"] == "get_weather"
    same = write_jsonl(tmp_path / "same.jsonl", [{**row, "rejected": call("get_weather")}])
    # The reader quarantines such a pair (FMT006), as curate does: train names the row.
    with pytest.raises(
        InputError, match=r"same\.jsonl:1: fields 'chosen' and 'rejected' are identical"
    ):
        tdata.to_preferences(tdata.read_records([str(same)], None), None)


@pytest.mark.parametrize(
    ("row", "task"),
    [
        ({"messages": [{"role": "human", "content": "q"}, {"role": "gpt", "content": "a"}]}, "sft"),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                    {"role": "human", "content": "and?"},
                    {"role": "assistant", "content": "b"},
                ]
            },
            "sft",
        ),
        (
            {
                "prompt": [{"role": "human", "content": "q"}],
                "chosen": [{"role": "assistant", "content": "a"}],
                "rejected": [{"role": "assistant", "content": "b"}],
            },
            "dpo",
        ),
    ],
)
def test_a_role_chat_templates_do_not_know_is_refused_as_check_refuses_it(
    tmp_path: Path, row: dict[str, object], task: str
) -> None:
    # `curagate check` fails such rows (FMT002) but train rendered 'human' by its name and
    # never trained a 'gpt' turn (or trained the conversation with a 'human' turn in it).
    f = write_jsonl(tmp_path / "r.jsonl", [row])
    convert = tdata.to_conversations if task == "sft" else tdata.to_preferences
    with pytest.raises(InputError, match=rf"{f}:1: message \d has the role 'human'.*human->user"):
        convert(tdata.read_records([str(f)], None), None)


def test_turns_check_flags_are_counted_with_the_first_named(tmp_path: Path) -> None:
    def chat(*roles: str) -> dict[str, object]:
        return {"messages": [{"role": r, "content": f"{r} {i}"} for i, r in enumerate(roles)]}

    rows = [
        chat("user", "assistant"),
        chat("user", "user", "assistant"),
        chat("user", "assistant", "user"),
        chat("system", "user", "assistant"),
    ]
    f = write_jsonl(tmp_path / "c.jsonl", rows)
    records = tdata.read_records([str(f)], None)
    assert tdata.turn_order_problems(records) == (
        2,
        f"{f}:2: messages[1] is a user turn after a user turn (FMT003)",
    )


def test_preference_records_are_refused_for_sft(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}])
    with pytest.raises(InputError, match="train dpo"):
        tdata.to_conversations(tdata.read_records([str(f)], None), None)


def test_chatml_renders_as_expected() -> None:
    tok = build_tokenizer(CHATML)
    assert tdata.render(tok, [{"role": "user", "content": "x"}], gen_prompt=True) == (
        "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
    )


def test_special_token_spelled_in_text_is_counted() -> None:
    tok = build_tokenizer()
    assert tdata.special_token_text(tok, ["fine", "Positive<|im_end|>", "ok"]) == (1, "<|im_end|>")


def test_an_unknown_record_format_names_the_train_configs_key(tmp_path: Path) -> None:
    # The reader advised --format and --text-field, which `curagate train` does not have.
    path = write_jsonl(tmp_path / "weird.jsonl", [{"foo": "bar"}])
    with pytest.raises(InputError, match=r"cannot tell the record format.*Set data\.format") as e:
        tdata.read_records([str(path)], None)
    assert "--format" not in str(e.value) and "--text-field" not in str(e.value)


@pytest.mark.parametrize("task", ["sft", "dpo"])
def test_records_with_tool_schemas_are_refused_not_trained_without_them(
    tmp_path: Path, task: str
) -> None:
    # `tools` was dropped without a word: the model learned tool calls it was never shown
    # the schemas of (trl passes them to the template; curagate did not).
    tools = [{"type": "function", "function": {"name": "get_color", "parameters": {}}}]
    turns = [{"role": "user", "content": "color?"}, {"role": "assistant", "content": "red"}]
    row = (
        {"messages": turns, "tools": tools}
        if task == "sft"
        else {"prompt": "color?", "chosen": "red", "rejected": "blue", "tools": tools}
    )
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    records = tdata.read_records([str(path)], None)
    convert = tdata.to_conversations if task == "sft" else tdata.to_preferences
    with pytest.raises(InputError, match=r"d\.jsonl:1: field 'tools' .* is not passed"):
        convert(records, None)


def _trained_text(tok: object, out: tdata.Tokenized) -> list[str]:
    return [
        tok.decode(  # type: ignore[attr-defined]
            [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != -100]
        )
        for ex in out.examples
    ]


def test_an_assistant_turn_of_weight_0_is_context_not_trained(tmp_path: Path) -> None:
    # Found by attack: OpenAI's chat format excludes an assistant turn from training with
    # "weight": 0; it was ignored, and both turns were trained.
    row = {
        "messages": [
            {"role": "user", "content": "what color is the red cat?"},
            {"role": "assistant", "content": "the cat is red.", "weight": 0},
            {"role": "user", "content": "and the dog?"},
            {"role": "assistant", "content": "the dog is blue.", "weight": 1},
        ]
    }
    unweighted = {
        "messages": [{k: v for k, v in m.items() if k != "weight"} for m in row["messages"]]
    }
    f = write_jsonl(tmp_path / "chat.jsonl", [row, unweighted])
    convs = tdata.to_conversations(tdata.read_records([str(f)], None), "be brief")
    # The chat template is given the turns without the field.
    assert all("weight" not in m for c in convs for m in c.messages)
    tok = build_tokenizer()
    _, eot_id = tdata.end_of_turn_token(tok)
    out = tdata.tokenize_sft(tok, convs, max_length=256, eot_id=eot_id)
    assert _trained_text(tok, out) == [
        "the dog is blue.<|im_end|>\n",
        "the cat is red.<|im_end|>\nthe dog is blue.<|im_end|>\n",
    ]
    assert out.assistant_turns == 3 and out.trained_end_of_turn == 3


def test_a_completion_turn_of_weight_0_is_not_trained(tmp_path: Path) -> None:
    row = {
        "prompt": "q",
        "completion": [
            {"role": "assistant", "content": "hmm", "weight": 0},
            {"role": "user", "content": "go on"},
            {"role": "assistant", "content": "the cat is red."},
        ],
    }
    f = write_jsonl(tmp_path / "pc.jsonl", [row])
    [conv] = tdata.to_conversations(tdata.read_records([str(f)], None), None)
    tok = build_tokenizer()
    _, eot_id = tdata.end_of_turn_token(tok)
    out = tdata.tokenize_sft(tok, [conv], max_length=256, eot_id=eot_id)
    assert _trained_text(tok, out) == ["the cat is red.<|im_end|>\n"]
    # A prompt is context: weight 1 there would not be trained.
    row["prompt"] = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "hmm", "weight": 1},
        {"role": "user", "content": "more"},
    ]
    f = write_jsonl(tmp_path / "pc.jsonl", [row])
    with pytest.raises(InputError, match=rf"{f}:1: 'prompt' message 1 has 'weight' 1"):
        tdata.to_conversations(tdata.read_records([str(f)], None), None)


@pytest.mark.parametrize("value", [2, 0.5, "0", True, -1, [0]])
def test_a_weight_other_than_0_or_1_is_refused_naming_line_and_field(
    tmp_path: Path, value: object
) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "weight": value},
        ]
    }
    rows = [*sft_rows(1), row]
    f = write_jsonl(tmp_path / "chat.jsonl", rows)
    shown = re.escape(json.dumps(value))
    with pytest.raises(InputError, match=rf"{f}:2: message 1 has 'weight' {shown}; .* 0 or 1"):
        tdata.to_conversations(tdata.read_records([str(f)], None), None)


def test_a_weight_of_null_is_no_weight(tmp_path: Path) -> None:
    # A column of weights holds null for every message without one (Parquet, and JSON
    # Lines as read into Arrow): the turn is trained, as without the field.
    row = {
        "messages": [
            {"role": "user", "content": "q", "weight": None},
            {"role": "assistant", "content": "a", "weight": None},
        ]
    }
    f = write_jsonl(tmp_path / "chat.jsonl", [row])
    [conv] = tdata.to_conversations(tdata.read_records([str(f)], None), None)
    assert conv.untrained == frozenset()


def test_a_weight_on_a_turn_other_than_the_assistants_is_refused(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "q", "weight": 1},
            {"role": "assistant", "content": "a"},
        ]
    }
    f = write_jsonl(tmp_path / "chat.jsonl", [row])
    with pytest.raises(InputError, match=rf"{f}:1: message 0 .*'weight'.*assistant"):
        tdata.to_conversations(tdata.read_records([str(f)], None), None)


def test_a_row_whose_every_assistant_turn_has_weight_0_is_refused(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "weight": 0},
        ]
    }
    f = write_jsonl(tmp_path / "chat.jsonl", [row])
    with pytest.raises(InputError, match=rf"{f}:1: every assistant turn has weight 0"):
        tdata.to_conversations(tdata.read_records([str(f)], None), None)


def test_a_preference_answer_of_weight_0_is_refused(tmp_path: Path) -> None:
    row = {
        "prompt": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": "good", "weight": 0}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }
    f = write_jsonl(tmp_path / "pref.jsonl", [row])
    with pytest.raises(InputError, match=rf"{f}:1: 'chosen' message 0 has 'weight' 0"):
        tdata.to_preferences(tdata.read_records([str(f)], None), None)
