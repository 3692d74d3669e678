"""Decide whether a candidate model may ship.

Runs the candidate and its base on the locked golden sets named in a gate
file, compares them with paired statistics, runs the lm-eval regression suite,
checks the golden sets against the candidate's training data, and writes
gate_report.json, report.md, report.html and junit.xml.

examples:
  curagate gate gates/sentiment.yaml --candidate runs/sentiment-lora --base models/smollm2 --out gate-out/
  curagate gate gates/sentiment.yaml --candidate exports/sentiment --base models/smollm2 \\
      --out gate-out/ --sign-key keys/signing_key.pem
  curagate gate gates/sentiment.yaml --candidate http://localhost:8000/v1 --candidate-model my-lora \\
      --base models/smollm2 --out gate-out/ --strict

exit codes: 0 pass, 1 fail (warnings too with --strict), 2 error
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gate_file", help="gate definition (gates/*.yaml)")
    parser.add_argument(
        "--candidate",
        required=True,
        help="training run directory (run.json + adapter), model directory, or http(s) endpoint",
    )
    parser.add_argument("--base", required=True, help="base model directory or http(s) endpoint")
    parser.add_argument("--out", required=True, help="output directory for the reports")
    parser.add_argument("--strict", action="store_true", help="warnings fail the gate too (exit 1)")
    parser.add_argument(
        "--golden-dir", help="golden-set directory (default: golden_dir from the gate file)"
    )
    parser.add_argument(
        "--cache-dir",
        default=".curagate/generations",
        help="generation cache (default: %(default)s)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="always generate, never read or write the cache"
    )
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument(
        "--candidate-model", help="model name to request from an http candidate endpoint"
    )
    parser.add_argument("--base-model", help="model name to request from an http base endpoint")
    parser.add_argument(
        "--candidate-digest",
        metavar="DIGEST",
        help="which model an http candidate serves (e.g. the sha256 of its weights); only "
        "then are its answers cached, keyed by it and recorded in the report",
    )
    parser.add_argument(
        "--base-digest", metavar="DIGEST", help="the same for an http base endpoint"
    )
    parser.add_argument(
        "--train-data",
        nargs="+",
        action="extend",  # repeated, the paths add up (the last flag's replaced the others)
        help="training files to check for contamination (default: the run's dataset manifest)",
    )
    parser.add_argument(
        "--sign-key",
        help="EC private key (PEM) to sign an attestation of the verdict for exactly the "
        "candidate's artifact digest (gate_attestation.dsse.json); default: "
        "$CURAGATE_SIGNING_KEY, else unsigned",
    )
    parser.add_argument(
        "--train-key",
        metavar="PEM",
        help="public key of the trainer: a run candidate's run.json must be the record it "
        "signed (`curagate train --sign-key`), so the training data the contamination check "
        "reads is the trainer's, not an edit (exit 1 otherwise)",
    )
    parser.add_argument(
        "--fail-only-if-significant",
        action="store_true",
        default=None,
        help="a regression fails only when it is also statistically significant",
    )


def run(args: argparse.Namespace) -> int:
    from curagate.gate.report import terminal_summary
    from curagate.gate.runner import run_gate
    from curagate.signing import resolve_sign_key

    outcome = run_gate(
        args.gate_file,
        args.candidate,
        args.base,
        args.out,
        strict=args.strict,
        golden_dir=args.golden_dir,
        cache_dir=None if args.no_cache else args.cache_dir,
        device=args.device,
        candidate_model_name=args.candidate_model,
        base_model_name=args.base_model,
        candidate_digest=args.candidate_digest,
        base_digest=args.base_digest,
        train_data=args.train_data,
        fail_only_if_significant=args.fail_only_if_significant,
        sign_key=resolve_sign_key(args.sign_key),
        train_key=args.train_key,
    )
    print(
        terminal_summary(
            outcome.report, Path(args.out), cache=(outcome.cache_hits, outcome.cache_misses)
        ),
        file=sys.stdout,
    )
    if outcome.cache_rejected:
        print(
            f"  cache: {outcome.cache_rejected} cached result(s) not written by a signed run "
            "with this key were computed again",
            file=sys.stdout,
        )
    for side, st in outcome.endpoints.items():
        by = ", ".join(f"{k} {v}" for k, v in st["retries_by_cause"].items())
        print(
            f"  {side} endpoint: {st['requests']} request(s), {st['retries']} retried"
            + (f" ({by})" if by else ""),
            file=sys.stdout,
        )
        if st["no_text_answers"]:
            why = ", ".join(f"{k} {v}" for k, v in st["no_text_by_finish_reason"].items())
            print(
                f"  WARNING {side} endpoint: {st['no_text_answers']} reply(ies) held no text "
                f"(content null; {why}), scored as empty answers: raise max_new_tokens if a "
                "reasoning model ran out of tokens, serve it without tools if it called one",
                file=sys.stdout,
            )
    return outcome.exit_code
