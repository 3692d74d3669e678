"""Server time per page of `curagate serve`: `/` with N versions, compare of two M-item reports.

Builds a real registry (bundles on disk, signed reports with items.jsonl) and times
requests in-process through FastAPI's TestClient (server time plus the in-process
transport; no network). A compare page is first fetched REPEAT times from empty compare
caches (a *first* compare: items read, hash-checked, parsed and paired), then REPEAT
times as a *later* visit; every request opens the registry (which re-verifies the log's
hash chain) and judges both reports (signature, digests) again. Best and median are
printed with the load average (the machine is shared). Goal from issue 12: < 300 ms.

    PYTHONPATH=python:. python bench/serve_bench.py --versions 1000 --items 10000
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from tests.registry.registry_fixtures import keypair, write_bundle
from tests.serve.serve_fixtures import items_rows, write_gate_dir

from curagate.registry import Registry
from curagate.serve import compare as cmp
from curagate.serve.app import create_app


def build(root: Path, versions: int, items: int) -> tuple[Path, str, tuple[int, int]]:
    private, public = keypair(root / "keys")
    db = root / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(public, role="gate", name="ci")
        report_ids = []
        for v in range(1, versions + 1):
            digest = write_bundle(root / "b" / str(v), f"weights {v}".encode() * 8)
            report = None
            if v > versions - 2:  # the last two versions carry the big reports
                report = write_gate_dir(
                    root / "g" / str(v),
                    digest,
                    "pass",
                    private,
                    items_rows(items, flip_every=2 + v % 2),
                )
            _, rec = reg.register(
                root / "b" / str(v), name=f"model-{v % 50:02d}", gate_report=report
            )
            if rec is not None:
                report_ids.append(rec.id)
        token = reg.user_add("viewer", role="viewer")[1]
    return db, token, (report_ids[-1], report_ids[-2])


def fresh_caches() -> None:
    """Forget every parsed items file and pairing: the next compare is a first compare."""
    cmp._ITEMS.clear()
    cmp._PAIRS.clear()


def timed(client: TestClient, url: str, repeat: int, first: bool) -> dict[str, list[float]]:
    """Wall and CPU ms (the process's CPU time: on a shared machine it moves far less
    than wall time) of first and later visits. A first visit starts from empty compare
    caches; the registry is still opened, its chain verified and the reports judged on
    every request."""
    out: dict[str, list[float]] = {"first": [], "first_cpu": [], "later": [], "later_cpu": []}
    for kind, n in (("first", repeat if first else 0), ("later", repeat)):
        for _ in range(n):
            if kind == "first":
                fresh_caches()
            c0, t0 = time.process_time(), time.perf_counter()
            r = client.get(url)
            out[kind].append((time.perf_counter() - t0) * 1000)
            out[kind + "_cpu"].append((time.process_time() - c0) * 1000)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return out


def fmt(ms: list[float]) -> str:
    return f"{min(ms):7.1f} / {statistics.median(ms):7.1f}" if ms else f"{'-':>7} / {'-':>7}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        db, token, (a, b) = build(Path(tmp), args.versions, args.items)
        print(
            f"built {args.versions} versions, 2 reports of {args.items} items in {time.perf_counter() - t0:.1f} s"
        )
        print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        client = TestClient(create_app(db))
        page = client.get("/login")
        nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert nonce is not None
        client.post("/login", data={"token": token, "csrf": nonce.group(1)})
        print(
            f"{'page (ms, best / median)':<34} {'first wall':>17} {'first CPU':>17}"
            f" {'later wall':>17} {'later CPU':>17}"
        )
        for label, url, first in (
            (f"/ ({args.versions} versions)", "/", False),
            (f"compare, 2 x {args.items} items", f"/compare?a={a}&b={b}", True),
            (f"compare, {args.items} items vs base", f"/compare?a={a}", True),
            ("compare, changed only, page 3", f"/compare?a={a}&b={b}&changed=1&page=3", False),
            ("version page", "/models/model-00/versions/1", False),
        ):
            t = timed(client, url, args.repeat, first)
            print(
                f"{label:<34} {fmt(t['first'])} {fmt(t['first_cpu'])}"
                f" {fmt(t['later'])} {fmt(t['later_cpu'])}"
            )
        print("load average at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
