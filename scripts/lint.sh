#!/usr/bin/env bash
# Style and type checks: ruff (lint + format), mypy --strict, rustfmt, clippy -D warnings,
# and the _core.pyi stub against the built extension (scripts/check_stub.py).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check python tests bench golden_sets scripts
.venv/bin/ruff format --check python tests bench golden_sets scripts
.venv/bin/mypy
.venv/bin/mypy scripts/check_stub.py
.venv/bin/python scripts/check_stub.py
cargo fmt --all -- --check
PYO3_PYTHON="$PWD/.venv/bin/python" cargo clippy --quiet --workspace --all-targets -- -D warnings
