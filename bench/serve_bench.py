"""Server time per page of `curagate serve`: `/` with N versions, compare of two M-item reports.

Builds a real registry (bundles on disk, signed reports with items.jsonl) and times
requests in-process through FastAPI's TestClient (server time plus the in-process
transport; no network). Each page is fetched once cold, then REPEAT times warm; the
median of the warm runs is reported. Goal from issue 12: < 300 ms per page.

    PYTHONPATH=python:. python bench/serve_bench.py --versions 1000 --items 10000
"""

from __future__ import annotations

import argparse
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


def timed(client: TestClient, url: str, repeat: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = client.get(url)
    cold = time.perf_counter() - t0
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.get(url)
        warm.append(time.perf_counter() - t0)
    return cold * 1000, statistics.median(warm) * 1000


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
        client = TestClient(create_app(db))
        page = client.get("/login")
        nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert nonce is not None
        client.post("/login", data={"token": token, "csrf": nonce.group(1)})
        for label, url in (
            (f"/ ({args.versions} versions)", "/"),
            (f"compare, 2 x {args.items} items", f"/compare?a={a}&b={b}"),
            ("compare, changed only, page 3", f"/compare?a={a}&b={b}&changed=1&page=3"),
            ("version page", "/models/model-00/versions/1"),
        ):
            cold, warm = timed(client, url, args.repeat)
            print(f"{label:<36} cold {cold:7.1f} ms   warm median {warm:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
