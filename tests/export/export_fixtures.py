"""A training run directory made by hand, following the run.json contract: a tiny
2-layer Llama with a tokenizer trained on the fly and a ChatML template, and a
LoRA adapter created with peft (random B, so merging changes the weights)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.tiny_llama import CHATML, build_tokenizer, save_tiny_llama

CORPUS = [
    f"what color is the {c} {a}? the {a} is {c}."
    for a in ("cat", "dog", "fox", "owl")
    for c in ("red", "green", "blue", "gold")
]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def build_base(path: Path) -> Path:
    corpus = [*CORPUS, "user assistant system"]
    save_tiny_llama(path, build_tokenizer(corpus, vocab_size=320))
    (path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny base\n")
    return path


def build_run(run_dir: Path, base: Path, seed: int = 1) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curagate.hf import library_deprecations_quiet

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    with library_deprecations_quiet():  # peft's own read of a deprecated attribute
        peft_model = get_peft_model(model, lora)
    adapter = run_dir / "adapter"
    peft_model.save_pretrained(adapter)
    tok.save_pretrained(adapter)
    data = run_dir / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in CORPUS))
    run = {
        "schema_version": 1,
        "name": "tiny-run",
        "task": "sft",
        "base_model": {"path": str(base), "files": tree(base)},
        "adapter_dir": "adapter",
        "dataset_manifest": {
            "files": [{"path": str(data), "sha256": sha256_file(data), "rows": len(CORPUS)}],
            "total_rows": len(CORPUS),
        },
        "golden_sets": {"colors": "c" * 64},
        "allow_leakage": False,
        "config": {"lora": {"r": 8, "alpha": 16}, "seed": 1},
        "seed": 1,
        "git_commit": None,
        "versions": {"torch": torch.__version__},
        "hardware": {"device": "cpu"},
        "chat_template_sha256": hashlib.sha256(CHATML.encode()).hexdigest(),
        "metrics_file": "metrics.jsonl",
    }
    (run_dir / "metrics.jsonl").write_text("")
    (run_dir / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True))
    return run_dir


QUESTIONS = [(t.split("? ")[0] + "?", t.split("? ")[1]) for t in CORPUS]


def build_gate(root: Path) -> Path:
    """A gate over one locked golden set of 20 colour questions (generation, ROUGE-L), so
    any change in what the tiny model writes changes a prediction."""
    from curagate import golden

    # The last 4 ask the first 4 again in other words (a set's items ask different things).
    again = [(f"{q} Say it once more.", a) for q, a in QUESTIONS[:4]]
    items = [
        {"id": f"c{i:02d}", "prompt": q, "reference": a}
        for i, (q, a) in enumerate([*QUESTIONS, *again])
    ]
    set_dir = root / "golden" / "colors"
    set_dir.mkdir(parents=True)
    (set_dir / "data.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (set_dir / "set.yaml").write_text(
        "name: colors\ntask: generation\nversion: '1'\nfiles: [data.jsonl]\n"
        "provenance: written by the test\nlicense: CC0-1.0\n"
    )
    golden.lock(root / "golden")
    gate = root / "gate.yaml"
    gate.write_text(
        "schema_version: 1\nname: tiny-colors\ngolden_dir: golden\n"
        "generation: {max_new_tokens: 8, batch_size: 8}\n"
        "golden_sets:\n"
        "  - name: colors\n    task: generation\n    metrics: {rouge_l: {min: 0.0}}\n"
        "contamination: {check: false}\n"
    )
    return gate
