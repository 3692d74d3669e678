"""An artifact is its files (every file's path and sha256, the manifest's file list), not
MANIFEST.json's bytes. Found by attack: a copy of a registered bundle with its MANIFEST.json
re-indented was another artifact digest; `register --name bot2` took the same weights, and
the twin rule (every gate verdict on the same bytes counts together) missed it, so a newer
fail on the original did not hold the copy back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.digest import artifact_digest
from curagate.errors import CheckFailed, InputError
from curagate.export.manifest import load_manifest
from curagate.registry import ChainBroken, Registry
from curagate.registry.chain import FILES_IDENTITY, ONE_PER_ARTIFACT
from curagate.registry.store import files_identity

from .registry_fixtures import keypair, write_bundle, write_gate_report
from .test_forged_log_rows import Forger


def respelled_copy(bundle: Path, copy: Path) -> str:
    """``bundle`` copied with its MANIFEST.json re-indented (the same content); its digest."""
    shutil.copytree(bundle, copy)
    manifest = copy / "MANIFEST.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()), indent=4) + "\n")
    return artifact_digest(copy)


def bot_and_its_respelled_copy(tmp_path: Path) -> tuple[Path, str]:
    """A registry holding ``bot`` v1 (``b1``, registered as today's curagate does) and a
    copy of its bundle with MANIFEST.json re-indented (``b1copy``), for a row to name: the
    registry and the copy's digest."""
    db = tmp_path / "reg" / "registry.db"
    write_bundle(tmp_path / "b1", b"W" * 64)
    with Registry(db) as reg:
        reg.register(tmp_path / "b1", name="bot", actor="ci")
    return db, respelled_copy(tmp_path / "b1", tmp_path / "b1copy")


def test_a_copy_with_its_manifest_respelled_is_the_same_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "reg" / "registry.db"
    digest = write_bundle(tmp_path / "b1", b"W" * 64)
    with Registry(db) as reg:
        reg.register(tmp_path / "b1", name="bot", actor="ci")
        (row,) = [r for r in reg.log() if r.action == "register"]
        files = files_identity(load_manifest(tmp_path / "b1").files)
        assert row.data[FILES_IDENTITY] == files
    copy_digest = respelled_copy(tmp_path / "b1", tmp_path / "b1copy")
    assert copy_digest != digest
    argv = ["registry", "--db", str(db), "register", str(tmp_path / "b1copy"), "--name", "bot2"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "already registered as bot v1; the same bytes are one version (the same files" in err
        and "Traceback" not in err
    )
    with Registry(db) as reg:
        assert [v.ref for v in reg.list_versions()] == ["bot v1"]
        reg.check()


def test_a_copy_of_a_version_an_older_curagate_registered_is_refused_by_its_manifest(
    tmp_path: Path,
) -> None:
    # A register row an older curagate wrote names no files identity: the version's
    # MANIFEST.json on disk (still its registered digest) says what its files are.
    db = tmp_path / "reg" / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(keypair(tmp_path / "keys")[1], role="gate", name="ci", actor="owner")
    digest = write_bundle(tmp_path / "b1", b"W" * 64)
    forger = Forger(db)
    forger.register_as("bot", 1, tmp_path / "b1", digest, files=False)  # an older curagate's
    forger.c.commit()
    respelled_copy(tmp_path / "b1", tmp_path / "b1copy")
    with Registry(db) as reg:
        with pytest.raises(InputError, match=r"already registered as bot v1; .* \(the same files"):
            reg.register(tmp_path / "b1copy", name="bot2", actor="ci")
        assert sorted(v.ref for v in reg.list_versions()) == ["bot v1"]


def test_a_register_row_without_files_identity_after_one_with_it_fails_every_command(
    tmp_path: Path,
) -> None:
    # Found by re-attack: appended by hand as an older curagate wrote register rows, a
    # re-indented copy of a version a signed fail holds back was known by its digest only,
    # passed `check` and shipped.
    db, copy_digest = bot_and_its_respelled_copy(tmp_path)
    forger = Forger(db)
    forger.register_as(
        "bot2", 1, tmp_path / "b1copy", copy_digest, extra={ONE_PER_ARTIFACT: True}, files=False
    )
    forger.c.commit()
    with pytest.raises(ChainBroken, match=r"registers bot2 v1 without a files identity"):
        Registry(db)


def test_twins_an_older_curagate_registered_under_two_digests_share_their_verdicts(
    tmp_path: Path,
) -> None:
    # Both register rows without a files identity (an older curagate's, before one version
    # per artifact): the bundles on disk show they hold the same files, so a signed fail
    # on one holds the other back at the next move and in `check --bundles`.
    db = tmp_path / "reg" / "registry.db"
    priv, pub = keypair(tmp_path / "keys")
    with Registry(db) as reg:
        reg.trust_add(pub, role="gate", name="ci", actor="owner")
    digest = write_bundle(tmp_path / "b1", b"W" * 64)
    copy_digest = respelled_copy(tmp_path / "b1", tmp_path / "b1copy")
    forger = Forger(db)
    forger.register_as("bot", 1, tmp_path / "b1", digest, files=False)
    forger.register_as("bot2", 1, tmp_path / "b1copy", copy_digest, files=False)
    forger.c.commit()
    with Registry(db) as reg:
        passed = write_gate_report(tmp_path / "g2", copy_digest, "pass", sign_key=priv)
        reg.add_gate_report("bot2", 1, passed, actor="ci")
        reg.promote("bot2", 1, to="staging", actor="ci")
        assert reg.check_bundles() == []
        failed = write_gate_report(tmp_path / "g1", digest, "fail", sign_key=priv)
        reg.add_gate_report("bot", 1, failed, actor="ci")
        ((kind, problem),) = reg.check_bundles()
        assert (
            kind == "twin"
            and "bot2 v1: its files (every path and sha256) are those of bot v1" in problem
        )
        with pytest.raises(CheckFailed, match="bot v1"):
            reg.promote("bot2", 1, to="production", actor="ci")
        assert reg.get("bot2", 1).stage == "staging"


def test_a_register_row_naming_registered_files_under_another_digest_fails_every_command(
    tmp_path: Path,
) -> None:
    # Written by hand, with the rule's fields: the same files as bot v1, another digest.
    db, copy_digest = bot_and_its_respelled_copy(tmp_path)
    files = files_identity(load_manifest(tmp_path / "b1copy").files)
    forger = Forger(db)
    extra = {ONE_PER_ARTIFACT: True, FILES_IDENTITY: files}
    forger.register_as("bot2", 1, tmp_path / "b1copy", copy_digest, extra=extra)
    forger.c.commit()
    with pytest.raises(ChainBroken, match=r"registers bot2 v1 with files .* already registered"):
        Registry(db)


def test_a_register_row_naming_other_files_than_its_manifest_backs_no_move(
    tmp_path: Path,
) -> None:
    # Written by hand: an identity no other version holds, so the replay's twin rule
    # passes it; the bundle's manifest (its sha256 the registered digest) says otherwise.
    db = tmp_path / "reg" / "registry.db"
    with Registry(db) as reg:
        write_bundle(tmp_path / "b0", b"other" * 16)
        reg.register(tmp_path / "b0", name="x")
    digest = write_bundle(tmp_path / "b1", b"W" * 64)
    forger = Forger(db)
    extra = {ONE_PER_ARTIFACT: True, FILES_IDENTITY: "0" * 64}
    forger.register_as("bot", 1, tmp_path / "b1", digest, extra=extra)
    forger.c.commit()
    with Registry(db) as reg:
        with pytest.raises(CheckFailed, match="its register row names files 000000000000"):
            reg.promote("bot", 1, to="staging", actor="ci")
        assert reg.get("bot", 1).stage == "experiment"
