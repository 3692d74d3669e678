"""Keys, signed bundles and signed gate attestations.

Two signatures carry trust, both over an EC P-256 key the team keeps outside the
repository (``curagate keys generate``; ``--sign-key`` or ``$CURAGATE_SIGNING_KEY``):

* A **bundle signature** (``model.sig``, OpenSSF model signing): a Sigstore bundle
  whose DSSE envelope holds an in-toto statement listing the sha256 of every file of
  the bundle. It says "these exact bytes were exported by the holder of this key".
* A **gate attestation** (``gate_attestation.dsse.json``): an in-toto Statement v1 in
  a DSSE envelope whose subject is the candidate's artifact digest and whose
  predicate is the verdict, the sha256 of ``gate_report.json``, of the gate file and
  of every golden set used. It says "the holder of this key ran this gate on exactly
  this artifact and it gave this verdict". An edited report no longer matches the
  sha256 the attestation signed; a hand-written one has no valid signature.

Neither says anything about who holds the key: a stolen CI key signs anything
(docs/registry.md, threat model). A third, smaller key signs the registry's log rows an
approver writes: each user's **actor key**, Ed25519 derived from their API token (see
:func:`actor_seed`). Nothing here touches the network.

``cryptography`` and ``model-signing`` come with the ``sign`` extra and are imported
inside the functions that need them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import functools
import hashlib
import hmac
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.digest import sha256_bytes
from curagate.errors import CheckFailed, InputError, MissingExtraError
from curagate.records import loads_strict

ENV_SIGNING_KEY = "CURAGATE_SIGNING_KEY"
PRIVATE_KEY_NAME = "signing_key.pem"
PUBLIC_KEY_NAME = "signing_key.pub"
BUNDLE_SIGNATURE_NAME = "model.sig"
ATTESTATION_NAME = "gate_attestation.dsse.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
GATE_PREDICATE_TYPE = "https://curagate.dev/attestations/gate/v1"
# `curagate train --sign-key`: the trainer's signature over the run record (run.json), in
# the run folder; `curagate gate --train-key` checks it.
TRAIN_PREDICATE_TYPE = "https://curagate.dev/attestations/train/v1"
RUN_ATTESTATION_NAME = "run_attestation.dsse.json"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class SignatureInvalid(CheckFailed):
    """A signature or attestation that does not prove what it is offered for (exit 1)."""


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        raise MissingExtraError("sign", "cryptography") from None
    return hashes, serialization, ec


# keys


_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}
)


def generate_keypair(out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new EC P-256 key pair (PEM) into ``out_dir``; never overwrites."""
    _, serialization, ec = _crypto()
    out = Path(out_dir)
    private, public = out / PRIVATE_KEY_NAME, out / PUBLIC_KEY_NAME
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    published: list[Path] = []
    temps: list[Path] = []
    try:  # /proc/x, a file's name, a read-only place: the user's to fix, not a crash
        out.mkdir(parents=True, exist_ok=True)
        for p in (private, public):
            if p.exists():
                raise InputError(
                    f"{p}: already exists; keys are never overwritten (choose another --out)"
                )
        # Both written whole under temporary names (0600), then linked into place, never
        # over a file (a link fails where one exists): on a full disk a private key and
        # an empty public one were left, and a rerun refused to overwrite them.
        for data in (pem, public_pem(key.public_key())):
            fd, name = tempfile.mkstemp(prefix=".signing_key.", suffix=".tmp", dir=out)
            temps.append(Path(name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        temps[1].chmod(0o644)
        for tmp, final in zip(temps, (private, public), strict=True):
            try:
                os.link(tmp, final)
                published.append(final)
            except OSError as e:
                if e.errno not in _NO_HARD_LINKS:
                    raise
                # A filesystem without hard links (FAT, some network shares): created
                # exclusively and written, and removed again if anything fails.
                fd = os.open(
                    final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, tmp.stat().st_mode & 0o777
                )
                published.append(final)
                with os.fdopen(fd, "wb") as f:
                    f.write(tmp.read_bytes())
    except (OSError, InputError) as e:
        for path in published:
            path.unlink(missing_ok=True)
        if isinstance(e, InputError):
            raise
        raise InputError(f"--out {out}: cannot write the keys there ({e.strerror or e})") from None
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return private, public


def public_pem(public_key: Any) -> bytes:
    _, serialization, _ = _crypto()
    data: bytes = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


def resolve_sign_key(flag: str | os.PathLike[str] | None) -> Path | None:
    """The private key to sign with: the flag, else ``$CURAGATE_SIGNING_KEY``, else none."""
    value = flag if flag is not None else os.environ.get(ENV_SIGNING_KEY) or None
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise InputError(
            f"{path}: signing key not found; create one with `curagate keys generate --out DIR` "
            f"and pass --sign-key DIR/{PRIVATE_KEY_NAME} (or set ${ENV_SIGNING_KEY})"
        )
    return path


# A PEM key file is a few hundred bytes; anything past this is not one (and /dev/zero
# would fill memory). An attestation the gate signs is a few KiB.
MAX_KEY_BYTES = 1 << 20
MAX_ATTESTATION_BYTES = 1 << 20


# The one curve curagate signs and verifies with, for every key (train, gate, export,
# verify, the registry's trusted keys). Keys on other curves were accepted by the loaders
# and failed later, each its own way: a P-384 gate key crashed (exit 3) deriving its
# cache key, a secp256k1 export key after the whole merge (model-signing refuses it),
# and `registry trust add` trusted keys that can never sign a bundle.
SIGNING_CURVE = "secp256r1"
_P256_ONLY = (
    "curagate signs and verifies with EC P-256 (secp256r1) keys only: make a key pair with "
    f"`curagate keys generate --out DIR` ({PRIVATE_KEY_NAME} signs, {PUBLIC_KEY_NAME} verifies)"
)


def _check_curve(key: Any, source: str) -> None:
    if key.curve.name != SIGNING_CURVE:
        raise InputError(
            f"{source}: an EC key on curve {key.curve.name} ({key.curve.key_size} bits); "
            f"{_P256_ONLY}"
        )


def other_curve(pem: bytes) -> str | None:
    """The curve of ``pem`` when it is an EC public key on a curve other than P-256, else
    None (P-256, or not a key at all: :func:`load_public_key` says why). A registry that
    trusted such a key before curagate refused them keeps it; it verifies nothing."""
    _, serialization, ec = _crypto()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name != SIGNING_CURVE:
        return str(key.curve.name)
    return None


def load_private_key(path: str | os.PathLike[str]) -> Any:
    from curagate.io.outputs import read_regular

    _, serialization, ec = _crypto()
    try:
        pem = read_regular(Path(path), MAX_KEY_BYTES, follow_links=True)
        key = serialization.load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError) as e:
        raise InputError(
            f"{path}: not an unencrypted PEM private key ({e}); use the {PRIVATE_KEY_NAME} "
            "written by `curagate keys generate`"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(f"{path}: not an elliptic-curve key; {_P256_ONLY}")
    _check_curve(key, str(path))
    return key


def cache_mac_key(private_key_path: str | os.PathLike[str]) -> bytes:
    """The secret a signed gate run authenticates its cache entries with.

    HMAC-SHA256 of a fixed label under the private key's scalar: only the key's holder
    can write an entry a signed run accepts, so an attestation never covers answers
    that someone planted in the cache folder (it is a working-directory folder by
    default, which a checkout or a restored CI cache can fill).
    """
    scalar = load_private_key(private_key_path).private_numbers().private_value
    return hmac.new(scalar.to_bytes(32, "big"), b"curagate gate cache v1", "sha256").digest()


def load_public_key(pem: bytes, *, source: str) -> Any:
    _, serialization, ec = _crypto()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise InputError(
            f"{source}: not a PEM public key ({e}); use the {PUBLIC_KEY_NAME} written by "
            "`curagate keys generate`"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InputError(f"{source}: not an elliptic-curve public key; {_P256_ONLY}")
    _check_curve(key, source)
    return key


def key_fingerprint(public_key: Any) -> str:
    """sha256 of the DER SubjectPublicKeyInfo: the key id in envelopes and the registry."""
    _, serialization, _ = _crypto()
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_bytes(der)


# Actor keys: who wrote a registry row


ACTOR_KEY_LABEL = b"curagate actor key v1"


def actor_seed(token: str) -> bytes:
    """The secret half of a registry user's actor key, derived from their API token.

    HMAC-SHA256 of a fixed label under the token (256 random bits), used as an Ed25519
    seed: whoever holds the token can sign rows in that user's name, and no one else
    can. The registry stores the token's sha256 and the key's public half, neither of
    which gives the seed.
    """
    return hmac.new(token.encode(), ACTOR_KEY_LABEL, "sha256").digest()


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingExtraError("sign", "cryptography") from None
    return ed25519


def actor_public_key(seed: bytes) -> str:
    """The public half (hex of the raw 32-byte Ed25519 key) recorded when a user is added."""
    key = _ed25519().Ed25519PrivateKey.from_private_bytes(seed)
    return str(key.public_key().public_bytes_raw().hex())


def actor_sign(seed: bytes, message: bytes) -> str:
    key = _ed25519().Ed25519PrivateKey.from_private_bytes(seed)
    return base64.b64encode(key.sign(message)).decode()


# Ed25519's curve (-x^2 + y^2 = 1 + d x^2 y^2 over the integers mod P), for checking
# public keys that come from outside (an enrollment code): OpenSSL verifies against any
# point, and a point of small order (the identity, 01 00..00, among them) has one
# signature that verifies for every message.
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _ed25519_point(encoded: bytes) -> tuple[int, int] | None:
    """The point a 32-byte public key encodes (RFC 8032 5.1.3), or None if none."""
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    sign = encoded[31] >> 7
    if y >= _P:
        return None  # a non-canonical encoding
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P or (x == 0 and sign):
        return None
    return (_P - x if x & 1 != sign else x), y


def _ed25519_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """The curve's complete addition law (no exceptional cases)."""
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, -1, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P
    return x3, y3


def actor_key_problem(public_hex: str) -> str | None:
    """Why a public actor key must not be trusted, or None: not 32 bytes of hex, no
    point of the curve, or a point of small order (8 times it is the identity), for
    which a signature can be made that verifies without any private key."""
    try:
        point = _ed25519_point(bytes.fromhex(public_hex))
    except ValueError:
        point = None
    if point is None:
        return "not an Ed25519 public key"
    for _ in range(3):
        point = _ed25519_add(point, point)
    if point == (0, 1):
        return "a point of small order, for which anyone can make a signature that verifies"
    return None


@functools.lru_cache(maxsize=65536)
def actor_signature_valid(public_hex: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is the actor key's signature of ``message``; never
    with a key :func:`actor_key_problem` refuses.

    Cached: every open of a registry replays its log, and a row's check never changes.
    """
    from cryptography.exceptions import InvalidSignature

    if _actor_key_refused(public_hex):
        return False
    ed25519 = _ed25519()
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _actor_key_refused(public_hex: str) -> bool:
    return actor_key_problem(public_hex) is not None


# DSSE + in-toto


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement(
    subject_name: str,
    subject_sha256: str,
    predicate: Mapping[str, Any],
    predicate_type: str = GATE_PREDICATE_TYPE,
) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {"sha256": subject_sha256}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def sign_run_record(raw: bytes, run_name: str, private_key_path: str | os.PathLike[str]) -> bytes:
    """The trainer's DSSE envelope over a run record's exact bytes (``raw``: run.json as
    written), for ``run_attestation.dsse.json`` beside it."""
    sha = sha256_bytes(raw)
    predicate = {"run": run_name, "run_json_sha256": sha}
    return sign_envelope(
        statement("run.json", sha, predicate, TRAIN_PREDICATE_TYPE), private_key_path
    )


def verify_run_record(run_dir: Path, run_sha256: str, public_pem: bytes) -> str:
    """The key id that signed exactly the run record of sha256 ``run_sha256`` in
    ``run_dir``; :class:`SignatureInvalid` (exit 1) when no attestation there does."""
    from curagate.io.outputs import read_regular

    where = run_dir / RUN_ATTESTATION_NAME
    public = load_public_key(public_pem, source="--train-key")  # a wrong key first: exit 2
    try:
        data = read_regular(where, MAX_ATTESTATION_BYTES)
    except OSError as e:
        raise SignatureInvalid(
            f"{where}: the run record is not signed ({e.strerror or e}); train with "
            "--sign-key to sign it"
        ) from None
    opened = open_envelope(data, {key_fingerprint(public): public_pem}, source=str(where))
    if opened.statement.get("predicateType") != TRAIN_PREDICATE_TYPE or run_sha256 not in (
        subject_digests(opened.statement)
    ):
        raise SignatureInvalid(
            f"{where}: signs another run record than {run_dir / 'run.json'} (sha256 "
            f"{run_sha256[:12]}…): the record changed since it was signed"
        )
    return opened.keyid


def sign_envelope(stmt: Mapping[str, Any], private_key_path: str | os.PathLike[str]) -> bytes:
    """A DSSE envelope over the canonical JSON of ``stmt``, signed with ECDSA P-256/SHA-256.

    Signing is deterministic (RFC 6979): the same statement and key give the same bytes.
    """
    hashes, _, ec = _crypto()
    key = load_private_key(private_key_path)
    payload = canonical_json(stmt)
    sig = key.sign(
        _pae(DSSE_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    )
    envelope = {
        "payloadType": DSSE_PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {"keyid": key_fingerprint(key.public_key()), "sig": base64.b64encode(sig).decode()}
        ],
    }
    return json.dumps(envelope, indent=2, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True)
class OpenedEnvelope:
    statement: dict[str, Any]
    keyid: str


# The most signatures one DSSE envelope may carry (the gate writes one).
MAX_ENVELOPE_SIGNATURES = 8


def signed_digest(data: bytes) -> str | None:
    """The sha256 of what a DSSE envelope's signatures cover (its payload type and decoded
    payload, pre-authentication encoded), read as :func:`open_envelope` reads it; None for
    bytes that are no envelope. One statement has one digest however its envelope is
    written: indented anew, signed twice, or its payload's base64 spelled another way
    (``QUJD`` and ``QUJD==``, or other unused low bits in the last character, decode to
    the same bytes)."""
    try:
        env = loads_strict(data)
        payload_type, payload = env["payloadType"], env["payload"]
        if not isinstance(payload_type, str) or not isinstance(payload, str):
            return None
        decoded = base64.b64decode(payload, validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
        return None
    return hashlib.sha256(_pae(payload_type, decoded)).hexdigest()


def open_envelope(data: bytes, trusted: Mapping[str, bytes], *, source: str) -> OpenedEnvelope:
    """Verify a DSSE envelope against ``trusted`` ({fingerprint: public PEM}).

    Returns the statement and the id of the key that signed it; raises
    :class:`SignatureInvalid` with a one-line reason otherwise.
    """
    hashes, _, ec = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        env = loads_strict(data)
        payload_type = env["payloadType"]
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = [
            (str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
            for s in env["signatures"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError) as e:
        raise SignatureInvalid(f"{source}: not a DSSE envelope ({type(e).__name__}: {e})") from None
    if payload_type != DSSE_PAYLOAD_TYPE:
        raise SignatureInvalid(
            f"{source}: payloadType {payload_type!r} is not an in-toto statement"
        )
    if len(sigs) > MAX_ENVELOPE_SIGNATURES:
        # Each is tried against every trusted key: thousands would make each judgement
        # (a version page judges every recorded report) take seconds.
        raise SignatureInvalid(
            f"{source}: {len(sigs)} signatures; curagate signs with one and reads at most "
            f"{MAX_ENVELOPE_SIGNATURES}"
        )
    # Trusted before curagate refused other curves: such a key verifies nothing.
    trusted = {fp: pem for fp, pem in trusted.items() if other_curve(pem) is None}
    if not trusted:
        raise SignatureInvalid(
            f"{source}: no trusted, unrevoked key to check it with; add the signer's public key with "
            "`curagate registry trust add PUBKEY --role gate --name NAME` (a revoked key is never "
            "trusted again: if the signer's was revoked, sign again with a new key and trust that)"
        )
    signed = _pae(payload_type, payload)
    loaded: dict[str, Any] = {}
    for keyid, sig in sigs:
        candidates = [keyid] if keyid in trusted else list(trusted)
        for fp in candidates:
            key = loaded.get(fp)
            if key is None:
                key = loaded[fp] = load_public_key(trusted[fp], source=f"trusted key {fp[:12]}")
            try:
                key.verify(sig, signed, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            try:
                stmt = loads_strict(payload)
            except (ValueError, RecursionError) as e:
                raise SignatureInvalid(f"{source}: signed payload is not JSON ({e})") from None
            if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
                raise SignatureInvalid(f"{source}: signed payload is not an in-toto Statement v1")
            return OpenedEnvelope(stmt, fp)
    known = ", ".join(k[:12] for k, _ in sigs) or "none"
    raise SignatureInvalid(
        f"{source}: no signature verifies with a trusted, unrevoked key (signed by key id {known})"
    )


def subject_digests(stmt: Mapping[str, Any]) -> list[str]:
    out = []
    for s in stmt.get("subject") or []:
        if isinstance(s, dict) and isinstance(s.get("digest"), dict):
            value = s["digest"].get("sha256")
            if isinstance(value, str):
                out.append(value)
    return out


# bundles (OpenSSF model signing)


def _model_signing() -> Any:
    try:
        import model_signing
        from model_signing import hashing, signing, verifying
    except ImportError:
        raise MissingExtraError("sign", "model-signing") from None
    return model_signing, hashing, signing, verifying


def _hashing_config(hashing: Any) -> Any:
    # The signature file is the one file of the bundle it cannot cover; nothing else
    # is ignored (model-signing ignores .git* files by default).
    return hashing.Config().set_ignored_paths(paths=[BUNDLE_SIGNATURE_NAME], ignore_git_paths=False)


def sign_bundle(
    bundle: str | os.PathLike[str],
    private_key_path: str | os.PathLike[str],
    checked: Mapping[str, str] | None = None,
) -> Path:
    """Write ``model.sig`` into ``bundle``, covering every other file.

    model-signing hashes the files again as it signs. With ``checked`` ({relative POSIX
    path: sha256 hex} of every file as a check read them), the signature must sign exactly
    those bytes, else it is removed and :class:`SignatureInvalid` says which file changed:
    found by attack, a file written into an export's folder between its check and its
    signing was signed by the export key, and export said "verified"."""
    key = load_private_key(private_key_path)  # a clear error before model-signing's own
    _, hashing, signing, _ = _model_signing()
    sig = Path(bundle) / BUNDLE_SIGNATURE_NAME
    (
        signing.Config()
        .set_hashing_config(_hashing_config(hashing))
        .use_elliptic_key_signer(private_key=Path(private_key_path))
        .sign(Path(bundle), sig)
    )
    if checked is not None:
        try:
            verify_bundle_signature(bundle, public_pem(key.public_key()), checked)
        except SignatureInvalid as e:
            sig.unlink(missing_ok=True)
            raise SignatureInvalid(
                f"{bundle}: a file changed between its check and its signing ({e}); "
                "nothing was signed"
            ) from None
    return sig


def verify_bundle_signature(
    bundle: str | os.PathLike[str], public_pem_bytes: bytes, files: Mapping[str, str]
) -> None:
    """Raise :class:`SignatureInvalid` unless ``model.sig`` verifies with this public key
    and signs exactly ``files``: {relative POSIX path: sha256 hex} of every file of the
    bundle but ``model.sig``, as the caller hashed them.

    The bundle's files are not read again. model-signing's own verify hashes them a
    second time: a bundle swapped for a genuine signed one during that pass only (one
    rename of its folder) had the signature vouch for bytes it never covered."""
    _model_signing()  # the extra's error, before its modules are imported
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    root = Path(bundle)
    sig = root / BUNDLE_SIGNATURE_NAME
    if sig.is_symlink() or not sig.is_file():
        raise SignatureInvalid(f"{root}: no {BUNDLE_SIGNATURE_NAME}; the bundle is not signed")
    load_public_key(public_pem_bytes, source="public key")
    from curagate.io.outputs import read_regular

    try:
        # Read once, bounded (a signature is a few KiB): a sparse 3 GB model.sig was read
        # whole, once per trusted export key.
        raw_sig = read_regular(sig, MAX_ATTESTATION_BYTES, follow_links=True)
    except OSError as e:
        raise SignatureInvalid(
            f"{sig}: cannot be read as a signature ({e.strerror or e})"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        pub = Path(tmp) / "key.pub"
        pub.write_bytes(public_pem_bytes)
        copy = Path(tmp) / BUNDLE_SIGNATURE_NAME
        copy.write_bytes(raw_sig)
        try:
            # Its print()s (a WARNING when the key hint, which the signature does not
            # cover, was removed) went to stdout, into output other tools parse.
            with contextlib.redirect_stdout(io.StringIO()):
                signed = sign_ec_key.Verifier(pub).verify(sign_sigstore_pb.Signature.read(copy))
            method = dict(signed.serialization_type)
            digests = {
                rd.identifier: (rd.digest.algorithm, rd.digest.digest_hex)
                for rd in signed.resource_descriptors()
            }
        except Exception as e:  # model-signing raises ValueError and library-specific errors
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SignatureInvalid(f"{sig}: signature does not verify: {reason}") from None
    if (method.get("method"), method.get("hash_type")) != ("files", "sha256"):
        raise SignatureInvalid(
            f"{sig}: signs the bundle as {method.get('method')!r} with "
            f"{method.get('hash_type')!r}; curagate signs file by file with sha256"
        )
    have = {rel: ("sha256", sha) for rel, sha in files.items()}
    if digests != have:
        differ = sorted(set(digests) ^ set(have)) or sorted(
            rel for rel in digests if digests[rel] != have[rel]
        )
        raise SignatureInvalid(
            f"{sig}: signature does not verify: it signs other bytes than the bundle holds "
            f"({differ[0]}{f' and {len(differ) - 1} more' if len(differ) > 1 else ''})"
        )


__all__ = [
    "ATTESTATION_NAME",
    "BUNDLE_SIGNATURE_NAME",
    "ENV_SIGNING_KEY",
    "GATE_PREDICATE_TYPE",
    "OpenedEnvelope",
    "SignatureInvalid",
    "generate_keypair",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "open_envelope",
    "other_curve",
    "public_pem",
    "resolve_sign_key",
    "sign_bundle",
    "sign_envelope",
    "signed_digest",
    "statement",
    "subject_digests",
    "verify_bundle_signature",
]
