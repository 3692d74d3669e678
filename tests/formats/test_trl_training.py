"""`train sft` / `train dpo` on the trl dataset types, with the tiny local model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.errors import ConfigError, InputError
from tests.train.conftest import build_model_dir, write_config

pytest.importorskip("trl")
pytest.importorskip("peft")

from curagate.train import data as tdata
from curagate.train import train

DATA = Path(__file__).resolve().parents[1] / "data" / "trl_formats"

# ChatML that also writes an assistant turn's tool calls (the plain one drops them).
TOOL_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function.name }} "
    "{{ c.function.arguments | tojson }}</tool_call>{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

FAST = {"max_steps": 2, "batch_size": 2, "eval_steps": 2, "logging_steps": 1, "threads": 1}


@pytest.fixture(scope="module")
def tool_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("tool") / "model", TOOL_CHATML)


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("plain") / "model")


def _train(task: str, tmp_path: Path, model: Path, *files: str) -> dict:
    import yaml

    cfg = write_config(tmp_path / f"{task}.yaml", model, DATA / files[0], training=FAST)
    doc = yaml.safe_load(cfg.read_text())
    doc["data"]["train"] = [str(DATA / f) for f in files]
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = train(task, cfg)
    return json.loads((result.run_dir / "run.json").read_text())


@pytest.mark.slow
def test_sft_on_tool_calls_and_content_parts(tmp_path: Path, tool_model: Path) -> None:
    run = _train(
        "sft",
        tmp_path,
        tool_model,
        "chat_tool_calls.jsonl",
        "chat_content_parts.jsonl",
        "chat.jsonl",
    )
    assert run["dataset_manifest"]["total_rows"] == 6
    assert run["task"] == "sft"


def test_tool_call_turn_is_trained_as_the_template_writes_it(tool_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tool_model)
    records = tdata.read_records([str(DATA / "chat_tool_calls.jsonl")], None)
    [conv, _] = tdata.to_conversations(records, None)
    assert conv.messages[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": {"city": "paris"},
    }
    _, eot = tdata.end_of_turn_token(tok)
    [ex] = tdata.tokenize_sft(tok, [conv], 512, eot).examples
    trained = tok.decode(
        [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != -100]
    )
    assert '<tool_call>get_weather {"city": "paris"}</tool_call>' in trained
    assert "it is 18 degrees in paris." in trained
    assert "what is the weather" not in trained  # user and tool turns are context


def test_template_that_drops_tool_calls_is_refused(tmp_path: Path, plain_model: Path) -> None:
    with pytest.raises(ConfigError, match="does not render tool calls"):
        _train("sft", tmp_path, plain_model, "chat_tool_calls.jsonl")


@pytest.mark.slow
def test_sft_on_conversational_prompt_completion(tmp_path: Path, plain_model: Path) -> None:
    run = _train("sft", tmp_path, plain_model, "prompt_completion_conversational.jsonl")
    assert run["dataset_manifest"]["total_rows"] == 2


@pytest.mark.slow
def test_dpo_on_implicit_and_explicit_conversational_preferences(
    tmp_path: Path, plain_model: Path
) -> None:
    run = _train(
        "dpo",
        tmp_path,
        plain_model,
        "preference_implicit_conversational.jsonl",
        "preference_conversational.jsonl",
    )
    assert run["task"] == "dpo" and run["dataset_manifest"]["total_rows"] == 4


@pytest.mark.slow
def test_dpo_on_implicit_standard_preferences(tmp_path: Path, plain_model: Path) -> None:
    run = _train("dpo", tmp_path, plain_model, "preference_implicit.jsonl")
    assert run["dataset_manifest"]["total_rows"] == 2


def test_implicit_prompt_becomes_the_dpo_prompt() -> None:
    records = tdata.read_records([str(DATA / "preference_implicit_conversational.jsonl")], None)
    first = tdata.to_preferences(records, None)[0]
    assert first == {
        "prompt": [{"role": "user", "content": "what color is the cat?"}],
        "chosen": [{"role": "assistant", "content": "the cat is black."}],
        "rejected": [{"role": "assistant", "content": "the cat is pink."}],
    }


@pytest.mark.parametrize(
    ("name", "task", "message"),
    [
        ("prompt_only.jsonl", "sft", "prompt-only records have no answer to learn"),
        ("prompt_only_conversational.jsonl", "dpo", "prompt-only records have no answer"),
        ("unpaired_preference.jsonl", "sft", "unpaired preference records .* are for KTO"),
        ("unpaired_preference_conversational.jsonl", "dpo", "are for KTO"),
        ("chat_image_parts.jsonl", "sft", r"message 0 has 1 content part\(s\) that are not text"),
        ("stepwise_supervision.jsonl", "sft", "are for process reward models"),
        ("stepwise_supervision.jsonl", "dpo", "are for process reward models"),
        ("language_modeling.jsonl", "sft", "plain-text records have no assistant turn"),
    ],
)
def test_formats_curagate_does_not_train_are_refused_with_what_to_do(
    name: str, task: str, message: str
) -> None:
    records = tdata.read_records([str(DATA / name)], None) if "language" not in name else None
    with pytest.raises(InputError, match=message):
        if records is None:
            tdata.read_records([str(DATA / name)], None)
        elif task == "sft":
            tdata.to_conversations(records, None)
        else:
            tdata.to_preferences(records, None)


@pytest.mark.parametrize("side", ["chosen", "rejected", "prompt"])
def test_dpo_refuses_tool_calls_the_template_does_not_render(
    tmp_path: Path, plain_model: Path, side: str
) -> None:
    # Found by attack: SFT refused tool calls its template drops, DPO trained them as empty
    # assistant turns (the calls in chosen and rejected were lost without a word).
    from tests.train.conftest import write_jsonl

    def call(name: str) -> dict:
        return {"type": "function", "function": {"name": name, "arguments": {"city": "c"}}}

    rows = []
    for i in range(4):
        row = {
            "prompt": [{"role": "user", "content": f"weather in city {i}?"}],
            "chosen": [{"role": "assistant", "content": f"sunny {i}"}],
            "rejected": [{"role": "assistant", "content": f"rainy {i}"}],
        }
        if side == "prompt":
            row["prompt"] += [
                {"role": "assistant", "content": "", "tool_calls": [call("get_weather")]},
                {"role": "tool", "content": "sunny"},
            ]
        else:
            row[side] = [{"role": "assistant", "content": "", "tool_calls": [call("get_weather")]}]
        rows.append(row)
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    cfg = write_config(tmp_path / "dpo.yaml", plain_model, data, training=FAST)
    with pytest.raises(
        ConfigError, match=r"pairs\.jsonl:1: the chat template does not render tool calls"
    ):
        train("dpo", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()
