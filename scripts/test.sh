#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then pytest (slow tests included).
#   bash scripts/test.sh          everything (what CI runs)
#   bash scripts/test.sh --fast   the development tier: pytest -m "not slow" (no cargo tests);
#                                 under three minutes here
# Other arguments go to pytest (`-n 0` runs pytest in one process, e.g. to use --pdb).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import curagate._core" 2>/dev/null; then
  echo "no built environment: run scripts/setup.sh first" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# The suite starts thousands of Python processes (the CLI as users run it): with
# PYTHONDONTWRITEBYTECODE set (some machines set it) each one compiled every module it
# imported again, and collection alone took 33 s instead of 17.
unset PYTHONDONTWRITEBYTECODE
# One pytest worker per core (pytest-xdist); a test file's tests stay on one worker, in
# order, so a module's fixtures (a Ray cluster, a server) start once.
PARALLEL=(-n auto --dist loadfile)
if [ "${1:-}" = "--fast" ]; then
  shift
  exec .venv/bin/python -m pytest -q "${PARALLEL[@]}" -m "not slow" "$@"
fi
cargo test --workspace --exclude curagate-py --quiet
.venv/bin/python -m pytest -q "${PARALLEL[@]}" "$@"
