"""Support for gate tests: golden sets on disk, a canned OpenAI-compatible server,
and a tiny Llama model (2 layers, tokenizer trained on the fly, with a chat template).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.tiny_llama import build_tokenizer, save_tiny_llama

from curagate import golden

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


SENTIMENT_ITEMS = [
    {"id": f"s{i:02d}", "prompt": f"Review {i}: {text}", "reference": label, "length": length}
    for i, (text, label, length) in enumerate(
        [
            ("great product, works well", "Positive", "short"),
            ("terrible, broke in a day", "Negative", "short"),
            ("I love it, would buy again", "Positive", "short"),
            ("awful quality and rude seller", "Negative", "short"),
            ("good value for the money", "Positive", "short"),
            ("the worst purchase this year", "Negative", "short"),
        ]
        * 5
        + [
            ("long and detailed praise of the sound quality and battery", "Positive", "long"),
            ("long complaint about delivery, packaging and missing parts", "Negative", "long"),
        ]
        * 5
    )
]


def write_set(
    root: Path, name: str, task: str, items: list[dict[str, Any]], version: str = "1"
) -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "data.jsonl").write_text("".join(json.dumps(i, sort_keys=True) + "\n" for i in items))
    (d / "set.yaml").write_text(
        f"name: {name}\ntask: {task}\nversion: '{version}'\nfiles: [data.jsonl]\n"
        "provenance: written by the test\nlicense: CC0-1.0\n"
    )
    return d


@pytest.fixture
def golden_dir(tmp_path: Path) -> Path:
    """A locked golden directory with a 40-item sentiment classification set."""
    root = tmp_path / "golden"
    write_set(root, "sentiment", "classification", SENTIMENT_ITEMS)
    golden.lock(root)
    return root


class LocalHTTPServer(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: the gate's 8 (or more) concurrent connects
    # overflow it, and a dropped SYN is resent after 1 s (~2 s of each gate test).
    request_queue_size = 64


class CannedServer:
    """An OpenAI-compatible /v1/chat/completions endpoint answering from a function."""

    def __init__(self, answer: Callable[[str], str]) -> None:
        self.answer = answer
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
                data = json.dumps(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": server.answer(user)},
                            }
                        ]
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = LocalHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _label_of(prompt: str) -> str:
    """The right label for a known prompt; prompts the tests rewrote are negative reviews."""
    item = next((i for i in SENTIMENT_ITEMS if i["prompt"] == prompt), None)
    return str(item["reference"]) if item else "Negative"


@pytest.fixture
def servers() -> Iterator[dict[str, CannedServer]]:
    """'right' answers every item correctly, 'wrong' flips every label,
    'short_wrong' fails only the short reviews, 'rambling' never names a label."""
    flip = {"Positive": "Negative", "Negative": "Positive"}

    def short_wrong(p: str) -> str:
        item = next((i for i in SENTIMENT_ITEMS if i["prompt"] == p), {"length": "long"})
        return flip[_label_of(p)] if item["length"] == "short" else _label_of(p)

    made = {
        "right": CannedServer(lambda p: f"{_label_of(p)}."),
        "right2": CannedServer(lambda p: f"The answer is {_label_of(p).lower()}"),
        "wrong": CannedServer(lambda p: flip[_label_of(p)]),
        "short_wrong": CannedServer(short_wrong),
        "rambling": CannedServer(lambda p: "hmm, hard to say"),
    }
    yield made
    for s in made.values():
        s.close()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny chat model (tests/tiny_llama.py), its tokenizer trained on the sentiment items."""
    pytest.importorskip("torch")
    corpus = [str(i["prompt"]) + " " + str(i["reference"]) for i in SENTIMENT_ITEMS]
    tok = build_tokenizer(corpus * 3, unk_token="<unk>", bos_token="<|im_start|>")
    return save_tiny_llama(
        tmp_path_factory.mktemp("tiny-model"),
        tok,
        hidden_size=32,
        num_key_value_heads=4,
        max_position_embeddings=512,
        generation_config=False,
    )


def make_run_dir(root: Path, base: Path, *, zero_adapter: bool, train_files: list[Path]) -> Path:
    """A training run directory per the run.json contract, with a LoRA adapter.

    ``zero_adapter`` keeps LoRA's B matrices at zero so the candidate equals the base.
    """
    pytest.importorskip("peft")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from curagate.digest import hash_tree
    from curagate.hf import library_deprecations_quiet

    run = root
    run.mkdir(parents=True)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    torch.manual_seed(1)
    with library_deprecations_quiet():  # peft's own read of a deprecated attribute
        peft_model = get_peft_model(
            model,
            LoraConfig(
                r=4,
                lora_alpha=8,
                target_modules=["q_proj", "v_proj"],
                init_lora_weights=zero_adapter,
            ),
        )
    peft_model.save_pretrained(str(run / "adapter"))
    rows = [sum(1 for _ in p.open()) for p in train_files]
    meta = {
        "schema_version": 1,
        "name": run.name,
        "task": "sft",
        "base_model": {"path": str(base), "files": hash_tree(base)},
        "adapter_dir": "adapter",
        "dataset_manifest": {
            "files": [
                {"path": str(p), "sha256": golden.sha256_file(p), "rows": n}
                for p, n in zip(train_files, rows, strict=True)
            ],
            "total_rows": sum(rows),
        },
        "golden_sets": {},
        "allow_leakage": False,
        "config": {},
        "seed": 0,
        "metrics_file": "metrics.jsonl",
    }
    (run / "run.json").write_text(json.dumps(meta, indent=2))
    return run


# A tiny lm-eval regression suite and a gate config that runs it (`{suite}`: SUITE or "").
MC_TASK = """\
task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: mc.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{choices}}"
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

GATE = """\
name: tiny
golden_dir: {golden}
generation: {{max_new_tokens: 4, batch_size: 16}}
statistics: {{bootstrap_resamples: 100}}
golden_sets:
  - name: sentiment
    task: classification
    labels: [Positive, Negative]
    metrics:
      accuracy: {{min: 0.0}}
{suite}
contamination: {{check: false}}
"""

SUITE = """\
regression_suite:
  golden_set: mini_suite
  tasks: [tiny_mc]
  batch_size: 4
"""


def write_mini_suite(
    golden_dir: Path, rows: list[dict[str, Any]], *, metric_entry: str | None = None
) -> None:
    """The `mini_suite` lm-eval golden set (one multiple-choice task over `rows`), locked;
    ``metric_entry`` replaces its metric_list's one entry (YAML, `  - metric: ...`)."""
    suite = golden_dir / "mini_suite"
    suite.mkdir(exist_ok=True)
    (suite / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = MC_TASK
    if metric_entry is not None:
        entry = "  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
        task = task.replace(entry, metric_entry)
    (suite / "tiny_mc.yaml").write_text(task)
    (suite / "set.yaml").write_text(
        "name: mini_suite\ntask: lm_eval\nversion: '1'\nfiles: [mc.jsonl, tiny_mc.yaml]\n"
    )
    golden.lock(golden_dir, ["mini_suite"])
