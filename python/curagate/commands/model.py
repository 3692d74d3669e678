"""Manage local base models.

examples:
  curagate model import-gguf SmolLM2-135M-Instruct-Q4_1.gguf --out models/smollm2-135m \
      --hub-id HuggingFaceTB/SmolLM2-135M-Instruct

import-gguf dequantizes a GGUF checkpoint into a normal Hugging Face model
directory (safetensors, config, tokenizer, chat template) that `curagate train`
can use offline.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import-gguf", help="turn a GGUF file into a local HF model directory")
    imp.add_argument("file", help="the .gguf file")
    imp.add_argument("--out", required=True, help="output model directory")
    imp.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="weight dtype of the saved model (default float32, right for CPU training)",
    )
    imp.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    imp.add_argument(
        "--hub-id",
        metavar="OWNER/NAME",
        help="the Hub model the GGUF was made from (a GGUF does not record it); exported "
        "model cards name it as base_model",
    )


def run(args: argparse.Namespace) -> int:
    from curagate.train import import_gguf

    result = import_gguf(
        args.file, args.out, dtype=args.dtype, overwrite=args.overwrite, hub_id=args.hub_id
    )
    print(
        f"imported {result.model_type} ({result.parameters:,} parameters) to {result.out_dir}"
        + ("" if result.has_chat_template else " (warning: no chat template in the GGUF)")
    )
    return 0
