"""Training fixtures: a toy colour task (SFT and preference rows) and the tiny chat model
(tests/tiny_llama.py) with a tokenizer trained on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import tiny_llama
from tests.tiny_llama import CHATML

COLORS = ["red", "green", "blue", "black", "white", "pink", "gray", "gold"]
ANIMALS = ["cat", "dog", "fox", "owl", "bee", "cow"]


def sft_rows(n: int, offset: int = 0, shift: int = 0) -> list[dict[str, Any]]:
    """A learnable toy task: name the colour of an animal, answered in a fixed pattern.
    Rows of ``shift`` 1 pair animals and colours as no row of shift 0 does (validation rows
    of their own: train refuses validation rows that are all training rows)."""
    rows = []
    for i in range(offset, offset + n):
        animal, color = ANIMALS[i % len(ANIMALS)], COLORS[(i * 3 + shift) % len(COLORS)]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"what color is the {color} {animal}?"},
                    {"role": "assistant", "content": f"the {animal} is {color}."},
                ]
            }
        )
    return rows


def preference_rows(n: int, offset: int = 0, shift: int = 0) -> list[dict[str, Any]]:
    rows = []
    for i in range(offset, offset + n):
        animal, color = ANIMALS[i % len(ANIMALS)], COLORS[(i * 3 + shift) % len(COLORS)]
        wrong = COLORS[(i * 3 + shift + 1) % len(COLORS)]
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
    corpus = [json.dumps(r) for r in sft_rows(48)] + ["user assistant system what color is the"]
    return tiny_llama.build_tokenizer(corpus, chat_template=chat_template)


def build_model_dir(path: Path, chat_template: str | None = CHATML) -> Path:
    return tiny_llama.save_tiny_llama(
        path, build_tokenizer(chat_template), tie_word_embeddings=True
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    return build_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture()
def sft_data(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_jsonl(tmp_path / "data" / "train.jsonl", sft_rows(32)),
        "val": write_jsonl(tmp_path / "data" / "val.jsonl", sft_rows(8, offset=100, shift=1)),
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
            # No warmup: the first warmup step runs at learning rate 0, so a test run of
            # one step would train nothing (TH010 fails it).
            "warmup_ratio": 0,
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
