"""Merge a training run's adapter into its base and write a ship-ready bundle.

The bundle is a standalone Hugging Face model directory (safetensors weights,
config, generation config, tokenizer with chat template), a model card
README.md and MANIFEST.json (sha256 of every file + lineage). Before reporting
success it is reloaded with plain transformers and compared with base +
adapter: weights bit-identical after the round trip, logits on fixed and
golden prompts within --rtol, the chat template rendering byte-identical to
training time. With a gate (--gate, or the gate named by --gate-report) it
also reruns the gate's quick checks: the first --quick-items items of every
golden set, generated greedily by base + adapter and by the bundle, must give
the same parsed predictions. Any mismatch exits 1 and writes nothing.

examples:
  curagate export runs/support-bot --out exports/support-bot
  curagate export runs/support-bot --out exports/support-bot \\
      --gate-report gate/gate_report.json --gate-key keys/gate.pub \\
      --prompts golden_sets/support.jsonl --license apache-2.0
  curagate export runs/support-bot --out exports/support-bot --gate gates/support.yaml
  curagate export runs/support-bot --out exports/support-bot --sign-key keys/signing_key.pem
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from curagate.export.bundle import DTYPES, export_run
from curagate.export.quick import DEFAULT_QUICK_ITEMS, summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="training run directory (with run.json)")
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    parser.add_argument(
        "--gate-report", type=Path, help="gate_report.json: verdict and eval results for the card"
    )
    parser.add_argument(
        "--gate-key",
        type=Path,
        metavar="PUB",
        help="the gate's PEM public key: the attestation beside --gate-report must verify with "
        "it, else exit 1 (without it the report is shown as not verified and its numbers stay "
        "out of the card's model-index)",
    )
    parser.add_argument(
        "--gate",
        type=Path,
        help="gate YAML whose quick checks to rerun on the bundle (default: the gate named by "
        "--gate-report, if any)",
    )
    parser.add_argument(
        "--quick-items",
        type=int,
        default=DEFAULT_QUICK_ITEMS,
        metavar="N",
        help=f"quick-check items per golden set: the first N (default {DEFAULT_QUICK_ITEMS}; "
        "0 skips the quick checks)",
    )
    parser.add_argument(
        "--prompts", type=Path, help="JSONL golden prompts to compare logits on (first 16)"
    )
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", *DTYPES),
        help="weights dtype of the bundle (default: the base model's)",
    )
    parser.add_argument(
        "--max-shard-size", default="2GB", help="split safetensors above this size (default 2GB)"
    )
    parser.add_argument(
        "--rtol",
        type=float,
        help="max |logit difference| vs base + adapter, as a fraction of the largest |logit| "
        "(default: 1e-4 float32, 5e-3 float16, 2e-2 bfloat16)",
    )
    parser.add_argument(
        "--license", help="license for the model card (default: the base card's, else 'other')"
    )
    parser.add_argument(
        "--base-model-id", help="hub id of the base model for the card (default: base dir name)"
    )
    parser.add_argument(
        "--dataset", action="append", default=[], help="dataset id for the card (repeatable)"
    )
    parser.add_argument(
        "--gguf",
        action="store_true",
        help="also write a GGUF Q8_0 file (llama architecture), verified by tokenizing with "
        "llama.cpp (needs the gguf-verify extra)",
    )
    parser.add_argument(
        "--train-key",
        help="the trainer's public key (PEM): run.json must be the record it signed "
        "(train --sign-key), else exit 1; the lineage names the key",
    )
    parser.add_argument(
        "--sign-key",
        help="EC private key (PEM) to sign the bundle with (model.sig, OpenSSF model signing); "
        "default: $CURAGATE_SIGNING_KEY, else unsigned",
    )


def run(args: argparse.Namespace) -> int:
    from curagate.signing import resolve_sign_key

    result = export_run(
        args.run,
        args.out,
        gate_report=args.gate_report,
        prompts=args.prompts,
        dtype=args.dtype,
        max_shard_size=args.max_shard_size,
        rtol=args.rtol,
        license=args.license,
        base_model_id=args.base_model_id,
        datasets=args.dataset,
        gguf=args.gguf,
        gate=args.gate,
        quick_items=args.quick_items,
        sign_key=resolve_sign_key(args.sign_key),
        gate_key=args.gate_key,
        train_key=args.train_key,
    )
    print(
        f"exported {result.out}: {result.files} files ({result.dtype}), verified on {result.prompts} prompts "
        f"(max |logit diff| {result.max_abs_logit_diff:.2g} <= {result.bound:.2g}); "
        f"artifact digest {result.digest}"
    )
    print(summary(result.quick_checks))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.signed_by:
        print(f"  signed: model.sig by key {result.signed_by[:16]}")
    else:
        print("  unsigned: no --sign-key (a registry that requires signed bundles will refuse it)")
    if result.gguf:
        print(
            f"  + {result.gguf} (GGUF Q8_0, pre-tokenizer {result.gguf_pre_tokenizer!r}: llama.cpp "
            "tokenizes the parity set and prompts like the model; logits checked by reloading "
            "with transformers)"
        )
    return 0
