"""Generate the EC P-256 key pair that signs bundles and gate attestations.

Writes DIR/signing_key.pem (private, mode 0600) and DIR/signing_key.pub (public).
Keep the private key out of the repository: in CI, store it as a secret and pass
it with --sign-key or $CURAGATE_SIGNING_KEY; give the public key to the registry
(`curagate registry trust add DIR/signing_key.pub --role gate --name ci`).
Existing keys are never overwritten. Nothing touches the network.

example:
  curagate keys generate --out ~/.config/curagate/keys
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = sub.add_parser("generate", help="write a new key pair into --out")
    p.add_argument("--out", type=Path, required=True, help="directory for the key pair")


def run(args: argparse.Namespace) -> int:
    from curagate.io.outputs import refuse_inside_output
    from curagate.signing import generate_keypair, key_fingerprint, load_private_key

    refuse_inside_output(args.out)
    private, public = generate_keypair(args.out)
    fp = key_fingerprint(load_private_key(private).public_key())
    print(f"wrote {private} (private: keep it secret) and {public} (public)")
    print(f"key fingerprint {fp}")
    return 0
