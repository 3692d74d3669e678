"""Serve a registry to release managers: compare, approve, waive, roll back.

Pages and a JSON API (OpenAPI at /openapi.json) over one registry database. Users log
in with the token printed by `curagate registry users add`. Binds 127.0.0.1 unless
told otherwise: put a TLS-terminating proxy in front before exposing it.

examples:
  curagate registry users add alice --role approver --db .curagate/registry.db
  curagate serve --db .curagate/registry.db
  curagate serve --db .curagate/registry.db --host 0.0.0.0 --port 8080
  CURAGATE_WEBHOOK_SECRET=... curagate serve --webhook https://ci.example/hooks/curagate

webhooks: after each waiver, promotion request, promotion and rollback, a JSON POST to every
--webhook URL, signed (X-Curagate-Signature: sha256=HMAC of the body) with
$CURAGATE_WEBHOOK_SECRET when set; retried on errors, failures logged, never blocking.

exit codes: 0 stopped cleanly, 1 refused to start on tampering found (an older copy of the
database than --head-file records, a schema version set back by hand), 2 usage or input error
(missing or broken registry)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from curagate.errors import InputError, MissingExtraError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="registry database (default: $CURAGATE_REGISTRY or .curagate/registry.db)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--head-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="keep the newest registry log head seen here (ID:HASH), across restarts: the "
        "service refuses to start on, or serve, an older copy of the database; keep it "
        "where backups of the database are not restored",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        type=_proxy,
        metavar="ADDR",
        help="address or network (10.0.0.0/8) of the TLS-terminating proxy in front, whose "
        "X-Forwarded-Proto/-For the service believes (repeatable; default 127.0.0.1 only): "
        "behind it the session cookie is marked Secure",
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST a JSON event here after each transition (repeatable); signed with "
        "$CURAGATE_WEBHOOK_SECRET when set",
    )


def _port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is a number from 1 to 65535")
    return int(text)


def _proxy(text: str) -> str:
    import ipaddress

    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        net = None
    # A network wider than /8 (/16 for IPv6), 0.0.0.0/0 say, is "*" spelt otherwise; so is
    # one holding IPv4-mapped addresses wider than a /8 of them (::ffff:0.0.0.0/96 and ::/16
    # are every IPv4 client of a dual-stack server).
    mapped = ipaddress.ip_network("::ffff:0:0/96")
    if (
        net is None
        or net.prefixlen < (8 if net.version == 4 else 16)
        or (net.version == 6 and net.overlaps(mapped) and net.prefixlen < 96 + 8)
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the proxy's IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8, "
            "at most a /8, a /16 for IPv6); any address ('*', 0.0.0.0/0) would let every "
            "client claim https"
        )
    return str(net)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from curagate.serve.app import create_app
        from curagate.serve.webhooks import Webhooks
    except ImportError as e:
        raise MissingExtraError("serve", e.name or "fastapi") from None
    from curagate.registry import default_db_path

    db = args.db or default_db_path()
    # As bytes: the HMAC key is whatever bytes were set (text that is not UTF-8 was exit 3).
    hooks = Webhooks(args.webhook, os.environb.get(b"CURAGATE_WEBHOOK_SECRET") or None)
    app = create_app(db, webhooks=hooks, head_file=args.head_file)
    print(f"curagate serve: {db} at http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    import socket

    try:  # a taken port or an unknown host is the user's to fix, not a crash
        socket.getaddrinfo(args.host, args.port)
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as e:
        raise InputError(
            f"--host {args.host} --port {args.port}: cannot listen there ({e})"
        ) from None
    # Only these proxies' X-Forwarded-* are believed (uvicorn's default: 127.0.0.1): a
    # proxy on another host left the session cookie without Secure.
    proxies = ",".join(args.trusted_proxy) or None
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=proxies,
    )
    return 0
