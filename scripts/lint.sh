#!/usr/bin/env bash
# Style and type checks: ruff (lint + format), mypy --strict, rustfmt, clippy -D warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check python tests bench golden_sets
.venv/bin/ruff format --check python tests bench golden_sets
.venv/bin/mypy
cargo fmt --all -- --check
PYO3_PYTHON="$PWD/.venv/bin/python" cargo clippy --quiet --workspace --all-targets -- -D warnings
