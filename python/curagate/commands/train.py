"""Train a LoRA/QLoRA adapter with SFT or DPO from a train.yaml config.

examples:
  curagate train sft --config examples/train/sft_smollm2.yaml
  curagate train dpo --config dpo.yaml --name dpo-try2 --output-dir runs/
  curagate train sft --config train.yaml --allow-leakage   # recorded in run.json

The run lands in <output_dir>/<name>/ (run.json, config.yaml, metrics.jsonl,
loss_curve.png, adapter/, checkpoints/). Exit codes: 0 trained; 1 refused by
the leakage guard (golden-set items in the data, or data from a split whose run
failed --fail-on-leak) or stopped by the health monitor (NaN/inf); 2 config or
input error.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=["sft", "dpo"], help="supervised fine-tuning or DPO")
    parser.add_argument("--config", required=True, help="train.yaml (see docs/train.md)")
    parser.add_argument("--name", help="run name (default: `name` in the config)")
    parser.add_argument("--output-dir", help="parent of the run directory (default: the config's)")
    parser.add_argument(
        "--allow-leakage",
        action="store_true",
        help="train even if the data contains golden-set items, or is a split or curate "
        "output whose run failed its --fail-on-leak (split.fail_on_leak) or --strict check "
        "(recorded in run.json)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing run with the same name"
    )
    parser.add_argument(
        "--sign-key",
        metavar="PEM",
        help="EC private key (`curagate keys generate`) to sign the run record "
        "(run_attestation.dsse.json): `curagate gate --train-key` checks it",
    )


def run(args: argparse.Namespace) -> int:
    from curagate.train import train

    result = train(
        args.task,
        args.config,
        name=args.name,
        output_dir=args.output_dir,
        allow_leakage=args.allow_leakage,
        overwrite=args.overwrite,
        sign_key=args.sign_key,
    )
    s = result.summary
    print(f"run: {result.run_dir}")
    print(
        f"steps: {s['global_step']}/{s['planned_steps']}"
        + (" (stopped early)" if s["stopped_early"] else "")
    )
    print(
        f"train loss: {s['first_train_loss']} (step {s['first_train_loss_step']}) -> "
        f"{s['last_train_loss']} (step {s['last_train_loss_step']}, the last logged)"
    )
    if s["best_eval_loss"] is not None:
        print(f"validation loss: {s['first_eval_loss']} -> best {s['best_eval_loss']}")
        if s["first_eval_loss"] is not None and s["best_eval_loss"] > s["first_eval_loss"]:
            print(
                "warning: the kept adapter's best validation loss is above the base model's "
                "before training (step 0): on the validation split the adapter is worse than "
                "no training",
                file=sys.stderr,
            )
    for f in result.findings:
        print(f"{f.id} {f.severity}: {f.message}")
    dropped = _dropped_line(s.get("data") or {})
    if dropped:
        print(dropped, file=sys.stderr)
    if s.get("validation_rows_in_train"):
        print(
            f"warning: {s['validation_rows_in_train']:,} validation row(s) are training rows: "
            "the validation loss (and the checkpoint it picks) is partly measured on what the "
            "adapter trained on; give validation rows of their own (curagate split)",
            file=sys.stderr,
        )
    for why in s.get("failed_split_checks") or []:
        print(f"warning: trained with --allow-leakage on {why}", file=sys.stderr)
    leakage = s.get("leakage") or {}
    if not leakage.get("checked", True):
        print(f"warning: {leakage['reason']}", file=sys.stderr)
    elif leakage.get("leaked_reference_items") and args.allow_leakage:
        print(
            f"warning: trained on {leakage['leaked_reference_items']} golden-set item(s) "
            "(--allow-leakage; run.json records them): a gate on those sets measures what the "
            "adapter saw",
            file=sys.stderr,
        )
    return 0


# Why rows are left out of a run (their count under summary.data in run.json): reason ->
# (the training count's key, the validation count's key). Rows that cannot be read or
# trained otherwise are refused (exit 2), not left out.
DROP_REASONS = {
    "no trained token left once cut to data.max_length": (
        "dropped_no_trained_tokens",
        "validation_dropped_no_trained_tokens",
    ),
}


def _dropped_line(data: dict[str, object]) -> str | None:
    """One line for the rows the run left out, per reason: they were only in run.json."""

    def count(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) else 0

    parts = []
    for reason, (train_key, val_key) in DROP_REASONS.items():
        n, m = count(train_key), count(val_key)
        if n or m:
            parts.append(f"{reason}: {n:,} training, {m:,} validation")
    if not parts:
        return None
    return (
        "warning: rows left out of the run (summary.data in run.json): "
        + "; ".join(parts)
        + " (raise data.max_length or shorten them to train on them)"
    )
