"""Export of a run written by `curagate train` itself: the run.json contract end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from curagate.export import export_run, verify_bundle

from .export_fixtures import CORPUS, build_base

pytestmark = pytest.mark.slow


def test_a_run_trained_by_curagate_exports_and_verifies(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from curagate.train import train

    base = build_base(tmp_path / "base")
    data = tmp_path / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": t.split("? ")[0] + "?"},
                {"role": "assistant", "content": t.split("? ")[1]},
            ]
        }
        for t in CORPUS
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "tiny-trained",
        "base_model": str(base),
        "output_dir": str(tmp_path / "runs"),
        "seed": 7,
        "data": {"train": [str(data)], "max_length": 64},
        "training": {"max_steps": 4, "batch_size": 4, "learning_rate": 5e-3, "logging_steps": 1},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    run = train("sft", tmp_path / "train.yaml").run_dir

    result = export_run(run, tmp_path / "bundle")

    assert verify_bundle(result.out).digest == result.digest
    # Not `result.max_abs_logit_diff <= result.bound`: the export raises when that fails, so
    # it could only restate the guard. Reload both sides here: the bundle with plain
    # transformers, base + adapter with PEFT, within a bound written here (float32: 1e-4).
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(result.out)("what color is the sky?", return_tensors="pt")
    with torch.no_grad():
        bundle = AutoModelForCausalLM.from_pretrained(result.out, dtype=torch.float32)
        exported = bundle(ids.input_ids).logits
        base_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        base_only = base_model(ids.input_ids).logits
        merged = PeftModel.from_pretrained(base_model, run / "adapter")(ids.input_ids).logits
    assert float((exported - merged).abs().max()) < 1e-4
    assert float((exported - base_only).abs().max()) > 1e-3  # training moved the adapter
