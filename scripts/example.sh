#!/usr/bin/env bash
# The main job on the bundled example corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/curagate curate examples/corpus --out out/example/curated
