"""A tiny chat model built on the fly: a byte-level BPE tokenizer trained on the test
corpus, a ChatML template with an end-of-turn token, and a 2-layer Llama."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
COLORS = ["red", "green", "blue", "black", "white", "pink", "gray", "gold"]
ANIMALS = ["cat", "dog", "fox", "owl", "bee", "cow"]


def sft_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """A learnable toy task: name the colour of an animal, answered in a fixed pattern."""
    rows = []
    for i in range(offset, offset + n):
        animal, color = ANIMALS[i % len(ANIMALS)], COLORS[(i * 3) % len(COLORS)]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"what color is the {color} {animal}?"},
                    {"role": "assistant", "content": f"the {animal} is {color}."},
                ]
            }
        )
    return rows


def preference_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    rows = []
    for i in range(offset, offset + n):
        animal, color = ANIMALS[i % len(ANIMALS)], COLORS[(i * 3) % len(COLORS)]
        wrong = COLORS[(i * 3 + 1) % len(COLORS)]
        rows.append(
            {
                "prompt": f"what color is the {color} {animal}?",
                "chosen": f"the {animal} is {color}.",
                "rejected": f"the {animal} is {wrong}.",
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build_tokenizer(chat_template: str | None = CHATML) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [json.dumps(r) for r in sft_rows(48)] + ["user assistant system what color is the"]
    tk.train_from_iterator(corpus, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<pad>", bos_token=None
    )
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def build_model_dir(path: Path, chat_template: str | None = CHATML) -> Path:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    return build_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture()
def sft_data(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_jsonl(tmp_path / "data" / "train.jsonl", sft_rows(32)),
        "val": write_jsonl(tmp_path / "data" / "val.jsonl", sft_rows(8, offset=100)),
    }


def write_config(
    path: Path, model: Path, train: Path, val: Path | None = None, **overrides: Any
) -> Path:
    """A train.yaml with small, fast settings; ``overrides`` replace whole sections or keys."""
    import yaml

    cfg: dict[str, Any] = {
        "name": "tiny",
        "base_model": str(model),
        "output_dir": str(path.parent / "runs"),
        "seed": 7,
        "data": {"train": [str(train)], "max_length": 64},
        "training": {
            "max_steps": 8,
            "batch_size": 4,
            "learning_rate": 5e-3,
            "eval_steps": 4,
            "logging_steps": 1,
            "threads": 1,
        },
    }
    if val is not None:
        cfg["data"]["validation"] = [str(val)]
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path
