"""The train role: once a registry trusts a trainer's key, production takes only bundles
whose lineage (signed by a trusted export key) names that trainer as the signer of the run
record export checked (`export --train-key`). Before, `lineage.run.signed_by` was written
but nothing required it: a bundle exported without --train-key, from a run.json anyone
could have edited, reached production beside signed ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.artifacts import BundleManifest
from curagate.cli import main
from curagate.digest import artifact_digest
from curagate.errors import CheckFailed
from curagate.export.manifest import MANIFEST_NAME, hash_bundle_files, manifest_bytes
from curagate.registry import Registry
from curagate.registry.chain import canonical
from curagate.signing import key_fingerprint, load_public_key, sign_bundle

from .registry_fixtures import keypair, write_gate_report
from .test_forged_log_rows import Forger


class Keys:
    def __init__(self, root: Path) -> None:
        self.ci = keypair(root / "ci")  # signs gate reports and bundles
        self.trainer = keypair(root / "trainer")
        self.other = keypair(root / "other")

    @staticmethod
    def fingerprint(pair: tuple[Path, Path]) -> str:
        return key_fingerprint(load_public_key(pair[1].read_bytes(), source="public key"))


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path / "keys")


def bundle(
    root: Path, label: str, *, run_signed_by: str | None, sign: Path | None
) -> tuple[Path, str]:
    """A bundle whose lineage names ``run_signed_by`` as the run's signer, signed with
    ``sign`` (model.sig) when given; returns its path and artifact digest."""
    path = root / "bundles" / label
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(label.encode() * 16)
    (path / "config.json").write_text('{"model_type": "llama"}\n')
    lineage = {"run": {"name": label, "run_json_sha256": "a" * 64, "signed_by": run_signed_by}}
    manifest = BundleManifest(schema_version=1, files=hash_bundle_files(path), lineage=lineage)
    (path / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    if sign is not None:
        sign_bundle(path, sign)
    return path, artifact_digest(path)


def registry(tmp_path: Path, keys: Keys, *, train: bool) -> Registry:
    reg = Registry(tmp_path / "reg" / "registry.db")
    reg.trust_add(keys.ci[1], role="gate", name="ci")
    reg.trust_add(keys.ci[1], role="export", name="ci")
    if train:
        reg.trust_add(keys.trainer[1], role="train", name="trainer")
    return reg


def ship(reg: Registry, tmp_path: Path, keys: Keys, path: Path, digest: str) -> int:
    """Register the bundle and promote it to production on a signed pass."""
    mv, _ = reg.register(path, name="bot")
    report = write_gate_report(tmp_path / f"gate-{digest[:8]}", digest, sign_key=keys.ci[0])
    reg.promote("bot", mv.version, to="production", gate_report=report)
    return mv.version


def test_without_a_train_key_the_rule_is_off(tmp_path: Path, keys: Keys) -> None:
    with registry(tmp_path, keys, train=False) as reg:
        path, digest = bundle(tmp_path, "a", run_signed_by=None, sign=None)
        assert reg.get("bot", ship(reg, tmp_path, keys, path, digest)).stage == "production"


@pytest.mark.parametrize(
    ("signer", "signed", "why"),
    [
        ("none", True, "lineage.run.signed_by is empty (exported without --train-key)"),
        ("other", True, "which is not a trusted, unrevoked train key"),
        # An unsigned bundle's MANIFEST.json is anyone's: its lineage vouches for nothing.
        ("trainer", False, "this one was registered unsigned"),
    ],
)
def test_a_trusted_train_key_makes_production_need_a_run_it_signed(
    tmp_path: Path, keys: Keys, signer: str, signed: bool, why: str
) -> None:
    fp = None if signer == "none" else Keys.fingerprint(getattr(keys, signer))
    path, digest = bundle(tmp_path, "a", run_signed_by=fp, sign=keys.ci[0] if signed else None)
    with registry(tmp_path, keys, train=True) as reg:
        with pytest.raises(CheckFailed, match="production") as e:
            ship(reg, tmp_path, keys, path, digest)
        assert why in str(e.value)
        assert reg.get("bot", 1).stage == "experiment"
        good, good_digest = bundle(
            tmp_path, "b", run_signed_by=Keys.fingerprint(keys.trainer), sign=keys.ci[0]
        )
        assert reg.get("bot", ship(reg, tmp_path, keys, good, good_digest)).stage == "production"
        reg.check()


def test_revoking_the_last_train_key_does_not_lift_the_rule(tmp_path: Path, keys: Keys) -> None:
    trained = Keys.fingerprint(keys.trainer)
    with registry(tmp_path, keys, train=True) as reg:
        reg.trust_revoke("trainer", role="train", reason="leaked")
        for label, signer in (("a", trained), ("b", None)):
            path, digest = bundle(tmp_path, label, run_signed_by=signer, sign=keys.ci[0])
            with pytest.raises(CheckFailed, match="train key"):
                ship(reg, tmp_path, keys, path, digest)
        assert reg.production("bot") is None


def test_a_request_and_a_rollback_follow_the_rule_too(tmp_path: Path, keys: Keys) -> None:
    with registry(tmp_path, keys, train=False) as reg:
        old, old_digest = bundle(tmp_path, "old", run_signed_by=None, sign=None)
        ship(reg, tmp_path, keys, old, old_digest)
        reg.trust_add(keys.trainer[1], role="train", name="trainer")
        new, new_digest = bundle(
            tmp_path, "new", run_signed_by=Keys.fingerprint(keys.trainer), sign=keys.ci[0]
        )
        ship(reg, tmp_path, keys, new, new_digest)
        # v1 shipped before the registry trusted a trainer: putting it back is shipping a
        # run nobody vouches for, as promoting it now would be.
        with pytest.raises(CheckFailed, match="rollback refused: bot v1: this registry trusts"):
            reg.rollback("bot")
        assert reg.production("bot").version == 2  # type: ignore[union-attr]
        alice, _ = reg.user_add("alice", role="approver")
        unsigned, digest = bundle(tmp_path, "unsigned", run_signed_by=None, sign=keys.ci[0])
        mv, _ = reg.register(unsigned, name="bot")
        reg.add_gate_report(
            "bot", mv.version, write_gate_report(tmp_path / "g3", digest, sign_key=keys.ci[0])
        )
        with pytest.raises(CheckFailed, match="exported without --train-key"):
            reg.request_promotion("bot", mv.version, to="production", user=alice)
        reg.check()


def test_a_forged_promotion_of_an_unsigned_run_fails_check(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    # Whoever can write the database file appends a chained promote row (the hash is
    # unkeyed) for a version the rule refuses: the replay holds the row to the rule of
    # its time.
    with registry(tmp_path, keys, train=True) as reg:
        good, good_digest = bundle(
            tmp_path, "good", run_signed_by=Keys.fingerprint(keys.trainer), sign=keys.ci[0]
        )
        ship(reg, tmp_path, keys, good, good_digest)
        path, digest = bundle(tmp_path, "evil", run_signed_by=None, sign=keys.ci[0])
        mv, _ = reg.register(path, name="bot")
        rec = reg.add_gate_report(
            "bot", mv.version, write_gate_report(tmp_path / "g2", digest, sign_key=keys.ci[0])
        )
        head = ":".join(map(str, reg.head()))
    forger = Forger(reg.path)
    forger.stage(1, "archived")
    forger.log("archive", 1, "production", "archived", {})
    forger.stage(2, "production")
    forger.log("promote", 2, "experiment", "production", {"gate_report_id": rec.id})
    err = forger.check(head, capsys)
    assert "moves bot v2 to production against the train-key rule in force at that row" in err
    assert "exported without --train-key" in err


def test_the_cli_trusts_a_train_key_and_names_the_rule_when_it_refuses(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "reg" / "registry.db")
    for role in ("gate", "export"):
        assert main(["registry", "--db", db, "trust", "add", str(keys.ci[1]), "--role", role,
                     "--name", "ci"]) == 0  # fmt: skip
    assert main(["registry", "--db", db, "trust", "add", str(keys.trainer[1]), "--role", "train",
                 "--name", "trainer"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["registry", "--db", db, "trust", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(k["name"], k["role"]) for k in listed} >= {("trainer", "train")}
    path, digest = bundle(tmp_path, "a", run_signed_by=None, sign=keys.ci[0])
    report = write_gate_report(tmp_path / "g", digest, sign_key=keys.ci[0])
    assert main(["registry", "--db", db, "register", str(path), "--name", "bot"]) == 0
    capsys.readouterr()
    code = main(["registry", "--db", db, "promote", "bot", "1", "--to", "production",
                 "--gate-report", str(report)])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "exported without --train-key" in err and "Traceback" not in err


def test_a_legacy_train_key_on_another_curve_vouches_for_nothing(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A P-384 train key trusted before curagate took P-256 keys only is unusable, as the
    # registry's export and gate keys on other curves are: a lineage naming it as the
    # run's signer backs no production (as one naming a revoked key does not).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    import curagate.signing as signing

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    public = tmp_path / "p384.pub"
    public.write_bytes(
        p384.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with registry(tmp_path, keys, train=False) as reg:
        with monkeypatch.context() as legacy:
            legacy.setattr(signing, "_check_curve", lambda key, source: None)
            reg.trust_add(public, role="train", name="old-trainer")
        path, digest = bundle(tmp_path, "a", run_signed_by=key_fingerprint(p384), sign=keys.ci[0])
        with pytest.raises(CheckFailed, match=r"not a trusted, unrevoked train key.*P-256"):
            ship(reg, tmp_path, keys, path, digest)
        assert reg.get("bot", 1).stage == "experiment"


def forged_trainer_lineage(
    tmp_path: Path, keys: Keys, forged: dict[str, object]
) -> tuple[Path, Path, str]:
    """A registry trusting a trainer, with bot v1 registered by hand (a chained register row,
    the table edited to match) with lineage ``forged``, for a bundle signed by the trusted
    export key whose MANIFEST.json says the run was signed by nobody (exported without
    --train-key). Returns the database, the bundle and a signed pass for it."""
    with registry(tmp_path, keys, train=True) as reg:
        db = reg.path
    path, digest = bundle(tmp_path, "evil", run_signed_by=None, sign=keys.ci[0])
    forger = Forger(db)
    forger.register_as(
        "bot",
        1,
        path.resolve(),
        digest,
        lineage=canonical(forged),
        signed_by=Keys.fingerprint(keys.ci),
    )
    forger.c.commit()
    forger.c.close()
    return db, path, digest


@pytest.mark.parametrize(
    ("forged", "shown"),
    [
        # the trainer named where the manifest has null (rule 6 read the table's copy)
        (
            "trainer",
            'lineage.run.signed_by is "{trainer}" in the registry but null in {manifest}',
        ),
        # any other field of the lineage too: the base model, the data digests, ...
        ("base", 'lineage.base_model is "models/other" in the registry but absent in {manifest}'),
    ],
)
def test_a_register_row_whose_lineage_is_not_the_signed_manifests_backs_nothing(
    tmp_path: Path, keys: Keys, forged: str, shown: str
) -> None:
    # Found by attack: a writer of the database file appended a register row naming the
    # trusted trainer for a run nobody signed; promotion read the lineage from the table,
    # and `_verify_bytes` checked the bundle's bytes and signature, never its lineage.
    trainer = Keys.fingerprint(keys.trainer)
    run = {"name": "evil", "run_json_sha256": "a" * 64, "signed_by": trainer}
    lineage = {"run": run}
    if forged == "base":
        lineage = {"run": {**run, "signed_by": None}, "base_model": "models/other"}
    db, path, digest = forged_trainer_lineage(tmp_path, keys, lineage)
    with Registry(db) as reg:
        report = write_gate_report(tmp_path / "g", digest, sign_key=keys.ci[0])
        with pytest.raises(CheckFailed) as e:
            reg.promote("bot", 1, to="production", gate_report=report)
        assert shown.format(trainer=trainer, manifest=f"{path.resolve()}/MANIFEST.json") in str(
            e.value
        )
        assert "not written by `curagate registry register`" in str(e.value)
        assert reg.get("bot", 1).stage == "experiment"
        reg.check()  # the chain is whole: only the bundle says the row lies


def test_check_bundles_finds_a_shipped_version_whose_lineage_is_not_the_signed_manifests(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same forged register row, and a promote row by hand too (a registry without
    # approvers): `check` replays the train-key rule with the table's lineage and passes;
    # `check --bundles` compares it with the signed manifest.
    run = {"name": "evil", "run_json_sha256": "a" * 64, "signed_by": Keys.fingerprint(keys.trainer)}
    db, _, digest = forged_trainer_lineage(tmp_path, keys, {"run": run})
    with Registry(db) as reg:
        rec = reg.add_gate_report(
            "bot", 1, write_gate_report(tmp_path / "g", digest, sign_key=keys.ci[0])
        )
        assert rec.accepted
    forger = Forger(db)
    forger.stage(1, "production")
    forger.log("promote", 1, "experiment", "production", {"gate_report_id": rec.id})
    forger.c.commit()
    forger.c.close()
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check"]) == 0
    capsys.readouterr()
    assert main(["registry", "--db", str(db), "check", "--bundles"]) == 1
    out, err = capsys.readouterr()
    assert "FORGED production: bot v1: lineage.run.signed_by is" in out
    assert "1 shipped version(s) were registered with a lineage their signed" in err
