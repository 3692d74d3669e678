"""A signed bundle's files are read once: the signature is judged against the bytes the
manifest check hashed, never a second read that a folder swap can feed other bytes."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from curagate.signing import sign_bundle
from tests.registry.registry_fixtures import keypair, write_bundle

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "python")}

_IN_OPEN = 0x20
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(libc: ctypes.CDLL, a: Path, b: Path) -> None:
    """Swap two folders' names in one step (renameat2 RENAME_EXCHANGE)."""
    if libc.renameat2(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), _RENAME_EXCHANGE):
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _swap_when_opened(libc: ctypes.CDLL, folder: Path, name: str, other: Path) -> threading.Event:
    """Swap ``folder`` with ``other`` as soon as ``folder/name`` is opened (inotify); the
    returned event, once set, stops the watch."""
    fd = libc.inotify_init1(os.O_NONBLOCK)
    if fd < 0 or libc.inotify_add_watch(fd, bytes(folder), _IN_OPEN) < 0:
        pytest.skip("inotify is not available here")
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                if not select.select([fd], [], [], 0.05)[0]:
                    continue
                buf, i = os.read(fd, 65536), 0
                while i < len(buf):
                    _, mask, _, size = struct.unpack_from("iIII", buf, i)
                    opened = buf[i + 16 : i + 16 + size].rstrip(b"\0").decode()
                    i += 16 + size
                    if mask & _IN_OPEN and opened == name:
                        _exchange(libc, folder, other)
                        return
        finally:
            os.close(fd)

    threading.Thread(target=watch, daemon=True).start()
    return stop


@pytest.mark.slow
def test_a_bundle_swapped_in_after_the_manifest_check_is_not_called_signed(
    tmp_path: Path,
) -> None:
    """`verify --public-key` hashed the files (manifest check), then model-signing hashed
    them again: a writer of the parent folder who swapped a genuine signed bundle in for
    that second pass (one rename, when model.sig is opened) had other weights, under a
    manifest nobody signed, verified as signed by the export key."""
    libc = ctypes.CDLL(None, use_errno=True)
    private, public = keypair(tmp_path / "keys")
    signed = tmp_path / "signed"
    write_bundle(signed, b"genuine weights" * 64)
    sign_bundle(signed, private)
    planted, spare = tmp_path / "bundle", tmp_path / "spare"
    shutil.copytree(signed, planted)
    shutil.copytree(signed, spare)
    weights = b"planted weights" * 64
    (planted / "model.safetensors").write_bytes(weights)
    manifest = json.loads((planted / "MANIFEST.json").read_bytes())
    manifest["files"]["model.safetensors"] = hashlib.sha256(weights).hexdigest()
    (planted / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    try:
        _exchange(libc, spare, planted)
        _exchange(libc, spare, planted)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOSYS):
            pytest.skip("renameat2(RENAME_EXCHANGE) is not supported on this file system")
        raise

    stop = _swap_when_opened(libc, planted, "model.sig", spare)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "curagate", "verify", str(planted), "--public-key", str(public)],
            env=ENV,
            capture_output=True,
            text=True,
        )
    finally:
        stop.set()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "signs other bytes than the bundle holds (MANIFEST.json and 1 more)" in done.stderr


def test_a_file_changed_after_the_check_is_never_signed(tmp_path: Path) -> None:
    """Export checked its bundle, then signed it; model-signing hashes the folder again as
    it signs, so a file written into the folder between the two was signed by the export
    key (found by attack: export said "verified", and any model-signing verifier accepted
    the written bytes). Signing as checked refuses, and leaves no signature."""
    from curagate.export.manifest import check_bundle
    from curagate.signing import SignatureInvalid

    private, public = keypair(tmp_path / "keys")
    bundle = tmp_path / "bundle"
    write_bundle(bundle, b"genuine weights" * 64, readme="# model\n")
    checked = check_bundle(bundle)
    assert checked.ok
    with (bundle / "README.md").open("a") as f:
        f.write("written after the check\n")
    with pytest.raises(SignatureInvalid, match=r"a file changed between its check and its signing"):
        sign_bundle(bundle, private, checked.hashed())
    assert not (bundle / "model.sig").exists()

    # The bundle as checked is signed, and verifies.
    (bundle / "README.md").write_text("# model\n")
    sign_bundle(bundle, private, checked.hashed())
    done = subprocess.run(
        [sys.executable, "-m", "curagate", "verify", str(bundle), "--public-key", str(public)],
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


def _verify(bundle: Path, public: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curagate", "verify", str(bundle), "--public-key", str(public)],
        env=ENV,
        capture_output=True,
        text=True,
    )


def test_export_says_verified_only_of_the_bundle_in_place(tmp_path: Path) -> None:
    """Found by re-attack: a file changed after the signing and before the rename made
    export say "verified" of a bundle `curagate verify` refused. The bundle in place is
    checked against the bytes export checked and signed."""
    from curagate.errors import CheckFailed
    from curagate.export.bundle import _check_placed
    from curagate.export.manifest import check_bundle

    private, _ = keypair(tmp_path / "keys")
    bundle = tmp_path / "bundle"
    write_bundle(bundle, b"genuine weights" * 64, readme="# model\n")
    checked = check_bundle(bundle).hashed()
    sign_bundle(bundle, private, checked)
    _check_placed(bundle, bundle, checked, private, False)  # as written: nothing to say

    other = tmp_path / "other"
    write_bundle(other, b"other weights" * 64, readme="# model\n")
    sign_bundle(other, private)
    shutil.copy(other / "model.sig", bundle / "model.sig")
    with pytest.raises(CheckFailed, match=r"changed after export checked it \(.*signs other"):
        _check_placed(bundle, bundle, checked, private, False)
    with (bundle / "README.md").open("a") as f:
        f.write("written after the check\n")
    with pytest.raises(CheckFailed, match=r"changed after export checked it \(README.md"):
        _check_placed(bundle, bundle, checked, None, False)


@pytest.mark.parametrize("previous", [True, False], ids=["previous-bundle", "none"])
def test_a_bundle_changed_before_it_was_in_place_leaves_out_as_it_was(
    tmp_path: Path, previous: bool
) -> None:
    """The check in place came after the swap: a failed one exited 1, "do not use it", with
    the previous bundle at --out (a good one, maybe served) already replaced by the bad one.
    Now the previous bundle is back, byte for byte, and the rejected one is gone."""
    from curagate.errors import CheckFailed
    from curagate.export.bundle import _check_placed
    from curagate.export.manifest import check_bundle
    from curagate.io.atomic import atomic_path

    private, public = keypair(tmp_path / "keys")
    out = tmp_path / "tiny-bot"
    if previous:
        write_bundle(out, b"previous weights" * 64, readme="# previous\n")
        sign_bundle(out, private)
        assert _verify(out, public).returncode == 0
        before = _snapshot(out)
    checked: dict[str, str] = {}
    with (
        pytest.raises(CheckFailed, match=r"changed after export checked it \(README.md") as e,
        atomic_path(out, placed=lambda t, was: _check_placed(t, out, checked, private, was)) as tmp,
    ):
        write_bundle(tmp, b"new weights" * 64, readme="# model\n")
        checked.update(check_bundle(tmp).hashed())
        sign_bundle(tmp, private, checked)
        with (tmp / "README.md").open("a") as f:  # a writer of the folder, after the signing
            f.write("written after the signing\n")

    if previous:
        assert _snapshot(out) == before
        done = _verify(out, public)
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        assert not out.exists() and not out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", *(["tiny-bot"] * previous)]
    assert f"nothing changed at {out}" in str(e.value)
    now = "back in place, unchanged" if previous else "nothing is there, as before the run"
    assert now in str(e.value)
