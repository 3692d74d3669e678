"""Signing keys: EC P-256 only, refused up front by every command that takes one.

Found by attack: keys on other curves were loaded as EC keys and failed later, each its
own way: `gate --sign-key` with a P-384 key crashed (exit 3, deriving the cache key from
its scalar) after hashing the candidate, `export --sign-key` with a secp256k1 key after
the whole merge (exit 3, model-signing refuses the curve), and `registry trust add`
trusted a key that can never sign a bundle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from curagate.cli import main
from tests.registry.registry_fixtures import keypair_on

pytest.importorskip("cryptography")

CURVES = ("SECP384R1", "SECP521R1", "SECP256K1")


def _key(tmp_path: Path, curve: str) -> tuple[Path, Path]:
    return keypair_on(tmp_path, curve)


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], key: Path) -> None:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert str(key) in err and "an EC key on curve secp" in err, err
    assert "P-256" in err and "curagate keys generate" in err, err


@pytest.mark.parametrize("curve", CURVES)
def test_the_key_loaders_refuse_other_curves_naming_the_curve(tmp_path: Path, curve: str) -> None:
    from curagate.errors import InputError
    from curagate.signing import load_private_key, load_public_key

    private, public = _key(tmp_path, curve)
    with pytest.raises(InputError, match=f"curve {curve.lower()} .*keys generate"):
        load_private_key(private)
    with pytest.raises(InputError, match=f"curve {curve.lower()} .*keys generate"):
        load_public_key(public.read_bytes(), source="k")


def test_a_key_from_keys_generate_loads(tmp_path: Path) -> None:
    from curagate.signing import generate_keypair, load_private_key, load_public_key

    private, public = generate_keypair(tmp_path)
    assert load_private_key(private).curve.name == "secp256r1"
    assert load_public_key(public.read_bytes(), source="k").curve.name == "secp256r1"


def test_gate_verify_and_registry_refuse_a_key_on_another_curve_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing else the commands are given exists: the key is the first thing refused
    # (before a candidate or a bundle is read, let alone a model loaded).
    from tests.export.export_fixtures import build_gate

    p384, p384_pub = _key(tmp_path, "SECP384R1")
    _, k1_pub = _key(tmp_path, "SECP256K1")
    gate = build_gate(tmp_path / "gate")
    missing = str(tmp_path / "missing")
    out = str(tmp_path / "out")
    gate_args = ["gate", str(gate), "--candidate", missing, "--base", missing, "--out", out]
    _refused(capsys, [*gate_args, "--sign-key", str(p384)], p384)
    _refused(capsys, [*gate_args, "--train-key", str(p384_pub)], p384_pub)
    _refused(capsys, ["verify", missing, "--public-key", str(p384_pub)], p384_pub)
    db = str(tmp_path / "registry.db")
    for role in ("export", "gate", "train"):
        trust = ["registry", "--db", db, "trust", "add", str(k1_pub), "--role", role]
        _refused(capsys, [*trust, "--name", f"k1-{role}"], k1_pub)
    assert not Path(out).exists()


@pytest.mark.slow  # train and export import torch, peft and transformers first (~20 s)
def test_train_and_export_refuse_a_key_on_another_curve_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No config and no run exist: the key is refused before either is read (export's
    # secp256k1 --sign-key failed after the whole merge).
    k1, k1_pub = _key(tmp_path, "SECP256K1")
    missing = str(tmp_path / "missing")
    out = str(tmp_path / "out")
    _refused(capsys, ["train", "sft", "--config", missing, "--sign-key", str(k1)], k1)
    export = ["export", missing, "--out", out]
    _refused(capsys, [*export, "--sign-key", str(k1)], k1)
    _refused(capsys, [*export, "--train-key", str(k1_pub)], k1_pub)
    _refused(capsys, [*export, "--gate-report", missing, "--gate-key", str(k1_pub)], k1_pub)
    assert not Path(out).exists()


def test_a_trusted_key_on_another_curve_verifies_nothing_and_breaks_nothing(
    tmp_path: Path,
) -> None:
    # A registry may hold one trusted before the loaders refused them: an envelope it
    # signed is not verified (SignatureInvalid, exit 1), and the check does not crash.
    import base64
    import json

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from curagate.signing import (
        DSSE_PAYLOAD_TYPE,
        SignatureInvalid,
        _pae,
        canonical_json,
        key_fingerprint,
        open_envelope,
        statement,
    )

    private, public = _key(tmp_path, "SECP384R1")
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = canonical_json(statement("x", "0" * 64, {}))
    sig = key.sign(_pae(DSSE_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    fp = key_fingerprint(key.public_key())
    envelope = json.dumps(
        {
            "payloadType": DSSE_PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": fp, "sig": base64.b64encode(sig).decode()}],
        }
    ).encode()
    with pytest.raises(SignatureInvalid, match="no trusted, unrevoked key"):
        open_envelope(envelope, {fp: public.read_bytes()}, source="att")


@pytest.mark.slow
def test_export_refuses_a_key_on_another_curve_before_importing_torch(tmp_path: Path) -> None:
    # Found by re-attack: export refused an off-curve --sign-key, --train-key or
    # --gate-key only after importing torch, peft and transformers (7-14 s; the gate
    # refuses in 0.3 s). Run in a fresh interpreter: this one may hold torch already.
    import subprocess
    import sys

    k1, k1_pub = _key(tmp_path, "SECP256K1")
    missing = str(tmp_path / "missing")
    export = ["export", missing, "--out", str(tmp_path / "out")]
    for flags in (
        ["--sign-key", str(k1)],
        ["--train-key", str(k1_pub)],
        ["--gate-report", missing, "--gate-key", str(k1_pub)],
    ):
        code = (
            "import sys; from curagate.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, sorted(m for m in ('torch', 'peft', 'transformers') if m in sys.modules))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, *export, *flags],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.stdout.split("\n")[-2] == "2 []", (flags, done.stdout, done.stderr)
        assert "an EC key on curve secp256k1" in done.stderr, done.stderr
