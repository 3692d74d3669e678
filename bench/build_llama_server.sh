#!/usr/bin/env bash
# Build llama.cpp's own `llama-server` (parallel slots, continuous batching) for
# bench/endpoint_concurrency.py --llama-server, from PyPI only: the llama-cpp-python
# sdist vendors the whole llama.cpp tree, and cmake/ninja come as PyPI wheels.
# CPU only, no HTTPS, no web UI (nothing is downloaded at build time). Not part of setup
# or tests. On the shared 2-core box (load ~10, nice 10) the llama-server target took 43 min.
#
#   bash bench/build_llama_server.sh [WORKDIR]     # default /tmp/llama-build
#   -> WORKDIR/build/bin/llama-server
#
# Environment: LLAMA_CPP_PYTHON_VERSION (default: the installed llama-cpp-python, else
# 0.3.36), PYTHON (default python3), JOBS (default 2).
set -euo pipefail
work=${1:-/tmp/llama-build}
py=${PYTHON:-python3}
jobs=${JOBS:-2}
ver=${LLAMA_CPP_PYTHON_VERSION:-$("$py" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null || echo 0.3.36)}
mkdir -p "$work"
cd "$work"
# cmake and ninja as wheels in a scratch venv (not the project's).
[ -x buildenv/bin/cmake ] || { "$py" -m venv buildenv && buildenv/bin/pip install -q cmake ninja; }
sdist=llama_cpp_python-$ver.tar.gz
if [ ! -f "$sdist" ]; then
  # The sdist file itself, found on PyPI's simple index (PEP 691 JSON) and checked against
  # its sha256: `pip download --no-binary :all:` would also build cmake from source just to
  # read the package metadata.
  "$py" - "$sdist" <<'PY'
import hashlib, json, sys, urllib.request
name = sys.argv[1]
req = urllib.request.Request(
    "https://pypi.org/simple/llama-cpp-python/",
    headers={"Accept": "application/vnd.pypi.simple.v1+json"},
)
with urllib.request.urlopen(req) as r:
    entry = next(f for f in json.load(r)["files"] if f["filename"] == name)
urllib.request.urlretrieve(entry["url"], name + ".part")
with open(name + ".part", "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
if digest != entry["hashes"]["sha256"]:
    sys.exit(f"{name}: sha256 {digest} is not PyPI's {entry['hashes']['sha256']}")
PY
  mv "$sdist.part" "$sdist"
fi
[ -d "llama_cpp_python-$ver" ] || tar xzf "$sdist"
src=$PWD/llama_cpp_python-$ver/vendor/llama.cpp
PATH=$PWD/buildenv/bin:$PATH cmake -S "$src" -B build -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON
PATH=$PWD/buildenv/bin:$PATH nice -n 10 cmake --build build --target llama-server -j "$jobs"
ls -l build/bin/llama-server
