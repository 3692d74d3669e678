#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then pytest (slow tests included).
#   bash scripts/test.sh          everything (what CI runs)
#   bash scripts/test.sh --fast   the development tier: pytest -m "not slow" (no cargo tests);
#                                 about three minutes here
# Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import curagate._core" 2>/dev/null; then
  echo "no built environment: run scripts/setup.sh first" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" = "--fast" ]; then
  shift
  exec .venv/bin/python -m pytest -q -m "not slow" "$@"
fi
cargo test --workspace --exclude curagate-py --quiet
.venv/bin/python -m pytest -q "$@"
