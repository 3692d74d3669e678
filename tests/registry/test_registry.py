from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.digest import sha256_bytes
from curagate.errors import CheckFailed, InputError
from curagate.gate.runner import write_attestation
from curagate.registry import ChainBroken, Registry
from curagate.registry.store import RegistryUnavailable

from .registry_fixtures import keypair, keypair_on, report_doc, write_bundle, write_gate_report

MakeBundle = Callable[[str], tuple[Path, str]]


@pytest.fixture
def bundle(tmp_path: Path) -> MakeBundle:
    def make(label: str) -> tuple[Path, str]:
        path = tmp_path / "bundles" / label
        return path, write_bundle(path, label.encode() * 16)

    return make


@pytest.fixture(scope="session")
def ci_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return keypair(tmp_path_factory.mktemp("ci-key"))


@pytest.fixture
def reg(tmp_path: Path, ci_key: tuple[Path, Path]) -> Iterator[Registry]:
    with Registry(tmp_path / "reg" / "registry.db") as registry:
        registry.trust_add(ci_key[1], role="gate", name="ci", actor="admin")
        yield registry


def signed_report(tmp_path: Path, key: Path, digest: str | None, verdict: str = "pass") -> Path:
    directory = tmp_path / f"gate-{(digest or 'none')[:8]}-{verdict}-{key.parent.name}"
    return write_gate_report(directory, digest, verdict, sign_key=key)


def register_signed(reg: Registry, bundle: MakeBundle, key: tuple[Path, Path]) -> str:
    """Register bundle "a" as bot v1, signed by ``key`` trusted as the export key "ci";
    returns its digest."""
    from curagate.signing import sign_bundle

    path, digest = bundle("a")
    sign_bundle(path, key[0])
    reg.trust_add(key[1], role="export", name="ci")
    mv, _ = reg.register(path, name="bot")
    assert mv.signed_by is not None
    return digest


def production_ready(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, key: Path, label: str
) -> int:
    path, digest = bundle(label)
    mv, _ = reg.register(path, name="bot", actor="ci", reason=f"register {label}")
    reg.promote(
        "bot",
        mv.version,
        to="production",
        actor="ci",
        reason=f"ship {label}",
        gate_report=signed_report(tmp_path, key, digest),
    )
    return mv.version


def test_new_database_uses_wal_and_current_schema_version(reg: Registry) -> None:
    with sqlite3.connect(reg.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # Schema 5 (people, approvals, waivers, the uploader role, train keys), read from
        # SQLite itself.
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5


def test_database_from_a_newer_curagate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    Registry(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 6")  # one past schema 5
    with pytest.raises(RegistryUnavailable, match="newer"):
        Registry(path)


def test_register_numbers_versions_per_name_and_logs_who_and_why(
    reg: Registry, bundle: MakeBundle
) -> None:
    v1, _ = reg.register(bundle("a")[0], name="bot", actor="alice", reason="first")
    v2, _ = reg.register(bundle("b")[0], name="bot", actor="bob", reason="second")
    assert (v1.version, v2.version, v2.stage) == (1, 2, "experiment")
    log = reg.log("bot")
    assert [(t.version, t.action, t.actor, t.reason) for t in log] == [
        (1, "register", "alice", "first"),
        (2, "register", "bob", "second"),
    ]
    assert log[0].at.endswith("Z")


def test_register_records_digest_and_lineage_from_manifest(
    reg: Registry, bundle: MakeBundle
) -> None:
    path, digest = bundle("a")
    mv, _ = reg.register(path, name="bot")
    assert mv.artifact_digest == digest
    assert mv.lineage["run"] == "runs/demo"


def test_register_refuses_a_tampered_bundle(reg: Registry, bundle: MakeBundle) -> None:
    path, _ = bundle("a")
    (path / "model.safetensors").write_bytes(b"swapped weights")
    with pytest.raises(CheckFailed, match=r"model\.safetensors: sha256 differs"):
        reg.register(path, name="bot")


def test_register_refuses_the_same_artifact_twice(reg: Registry, bundle: MakeBundle) -> None:
    path, _ = bundle("a")
    reg.register(path, name="bot")
    with pytest.raises(InputError, match="already registered as bot v1"):
        reg.register(path, name="bot")
    # Found by attack: under another name the same bytes shipped on an older pass while a
    # newer signed fail on them held bot v1 back.
    with pytest.raises(InputError, match="already registered as bot v1; the same bytes"):
        reg.register(path, name="bot2")


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_report_attestation_or_key_that_is_no_regular_file_is_a_usage_error(
    tmp_path: Path,
    bundle: MakeBundle,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    special: str,
) -> None:
    """They were read whole: /dev/zero was a MemoryError (exit 3, or the OOM killer), a
    FIFO waited forever. Each is exit 2 now, naming the file."""
    import os

    from curagate.artifacts import GateReportDoc, read_artifact
    from curagate.signing import load_private_key

    odd = Path(special)
    if special == "fifo":
        odd = tmp_path / "fifo"
        os.mkfifo(odd)
    db = str(tmp_path / "reg" / "registry.db")
    path, digest = bundle("a")
    report = signed_report(tmp_path, ci_key[0], digest)
    register = ["registry", "--db", db, "register", str(path), "--name", "bot"]
    for extra in (
        ["--gate-report", str(odd)],
        ["--gate-report", str(report), "--attestation", str(odd)],
    ):
        assert main([*register, *extra]) == 2
        err = capsys.readouterr().err
        assert f"{odd}: cannot read the" in err and "not a regular file" in err
    (report.parent / "items.jsonl").unlink(missing_ok=True)
    (report.parent / "items.jsonl").symlink_to(odd)
    assert main([*register, "--gate-report", str(report)]) == 2
    assert "items.jsonl: cannot read the items beside the report" in capsys.readouterr().err
    with pytest.raises(InputError, match="not a regular file"):
        read_artifact(GateReportDoc, odd)  # export --gate-report
    with pytest.raises(InputError, match="not an unencrypted PEM private key"):
        load_private_key(odd)  # export --sign-key, gate --sign-key
    assert main(["keys", "generate", "--out", "/proc/curagate-keys"]) == 2
    assert "cannot write the keys there" in capsys.readouterr().err
    assert main(["keys", "generate", "--out", "/proc/self/fd"]) == 2  # the folder exists


@pytest.mark.parametrize(
    "name", ["bot\nsupport-bot 1 production", "", " bot", "../etc", "a" * 129, "-x"]
)
def test_names_outside_the_rule_are_refused(reg: Registry, bundle: MakeBundle, name: str) -> None:
    with pytest.raises(InputError, match=r"A-Z a-z 0-9"):
        reg.register(bundle("a")[0], name=name)


def test_promotion_to_production_is_refused_without_a_gate_report(
    reg: Registry, bundle: MakeBundle
) -> None:
    reg.register(bundle("a")[0], name="bot")
    with pytest.raises(CheckFailed, match="needs a signed gate attestation"):
        reg.promote("bot", 1, to="production")
    assert reg.get("bot", 1).stage == "experiment"


def test_a_signed_failing_verdict_is_refused_and_recorded(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    report = signed_report(tmp_path, ci_key[0], digest, verdict="fail")
    with pytest.raises(CheckFailed, match="verdict is fail"):
        reg.promote("bot", 1, to="production", gate_report=report)
    assert reg.production("bot") is None
    [rec] = reg.gate_reports("bot", 1)
    assert (rec.accepted, rec.verdict) == (True, "fail")


def test_an_edited_verdict_is_refused_and_recorded(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    report = signed_report(tmp_path, ci_key[0], digest, verdict="fail")
    report.write_text(report.read_text().replace('"verdict": "fail"', '"verdict": "pass"'))
    with pytest.raises(CheckFailed, match="changed after the gate signed it"):
        reg.promote("bot", 1, to="production", gate_report=report)
    [rec] = reg.gate_reports("bot", 1)
    assert (rec.accepted, rec.verdict) == (False, "pass")
    assert reg.blob(rec.report_sha256) == report.read_bytes()


def test_a_hand_written_report_is_refused_and_recorded(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    report = write_gate_report(tmp_path / "by-hand", digest)  # no attestation
    with pytest.raises(CheckFailed, match="unsigned"):
        reg.promote("bot", 1, to="production", gate_report=report)
    assert [r.accepted for r in reg.gate_reports("bot", 1)] == [False]


def test_a_report_signed_by_an_untrusted_key_is_refused(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    stranger, _ = keypair(tmp_path / "stranger")
    with pytest.raises(CheckFailed, match="no signature verifies with a trusted"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, stranger, digest)
        )
    assert reg.get("bot", 1).stage == "experiment"


def test_a_report_signed_by_a_revoked_key_is_refused(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot", gate_report=signed_report(tmp_path, ci_key[0], digest))
    reg.trust_revoke("ci", role="gate", actor="security", reason="key leaked")
    # Recorded while the key was trusted, but re-verified at promotion time.
    with pytest.raises(CheckFailed, match="trusted, unrevoked key"):
        reg.promote("bot", 1, to="production")
    with pytest.raises(CheckFailed, match="trusted, unrevoked key"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], digest)
        )
    assert [k.revoke_reason for k in reg.trusted_keys()] == ["key leaked"]
    # The advice to trust the key again led to "already trusted" for a revoked key.
    with pytest.raises(CheckFailed, match="a revoked key is never trusted again"):
        reg.promote("bot", 1, to="production")
    with pytest.raises(InputError, match=r"was trusted \(gate key\) and revoked at .*new key"):
        reg.trust_add(ci_key[1], role="gate", name="ci2")
    # Found by attack: revoked as a gate key, the leaked key was trusted as an export key.
    with pytest.raises(InputError, match="never trusted again, for any role"):
        reg.trust_add(ci_key[1], role="export", name="ci3")


def test_a_report_on_another_artifact_is_refused(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, _ = bundle("a")
    _, other_digest = bundle("b")
    reg.register(path, name="bot")
    with pytest.raises(CheckFailed, match="attestation is for artifact"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], other_digest)
        )
    assert reg.get("bot", 1).stage == "experiment"


def test_promotion_is_refused_when_the_bundle_changed_after_registration(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    (path / "config.json").write_text('{"model_type": "gpt2"}\n')
    with pytest.raises(CheckFailed, match=r"config\.json: sha256 differs"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], digest)
        )
    assert [r.accepted for r in reg.gate_reports("bot", 1)] == [True]  # kept all the same
    assert reg.get("bot", 1).stage == "experiment"


def test_check_bundles_finds_bytes_changed_after_promotion(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The registry keeps a bundle's path and digest, not its bytes: a weights file
    # overwritten once the version is in production is found by `check --bundles`.
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    argv = ["registry", "--db", str(reg.path), "check", "--bundles"]
    assert main(argv) == 0
    assert "bundles in production and staging: intact" in capsys.readouterr().out
    shipped = Path(reg.get("bot", 1).artifact_path)
    (shipped / "model.safetensors").write_bytes(b"swapped" * 16)
    [(kind, problem)] = reg.check_bundles()
    assert kind == "changed"
    assert problem.startswith("production: bot v1: its bytes are not the registered ones")
    assert "model.safetensors" in problem
    assert main(argv) == 1
    out = capsys.readouterr()
    assert "CHANGED production: bot v1" in out.out and "model.safetensors" in out.out
    assert main(["registry", "--db", str(reg.path), "check"]) == 0  # the log itself is intact


def test_a_model_sig_added_after_an_unsigned_registration_is_changed_bytes(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by attack: 5 MB of anything saved as model.sig in a bundle registered
    # unsigned rode into production (exit 0) and `check --bundles` said intact, while
    # `register` refuses a bundle whose model.sig no trusted export key checks.
    path, digest = bundle("a")
    reg.register(path, name="bot")
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")  # bot v2, in production
    (path / "model.sig").write_bytes(b"\x00" * 4096)
    with pytest.raises(CheckFailed, match=r"model\.sig was added after it was registered"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], digest)
        )
    assert reg.get("bot", 1).stage == "experiment"
    shipped = Path(reg.get("bot", 2).artifact_path)
    (shipped / "model.sig").write_bytes(b"\x00" * 4096)
    [(kind, problem)] = reg.check_bundles()
    assert kind == "changed" and problem.startswith("production: bot v2: its bytes are not")
    assert main(["registry", "--db", str(reg.path), "check", "--bundles"]) == 1
    out = capsys.readouterr()
    assert "CHANGED production: bot v2" in out.out and "model.sig was added" in out.out
    assert "intact" not in out.out
    (shipped / "model.sig").unlink()
    (path / "model.sig").unlink()
    assert reg.check_bundles() == []


@pytest.mark.slow
def test_check_bundles_tells_a_revoked_signer_from_changed_bytes(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by attack: with the export key revoked and not a byte changed, it said
    # "CHANGED ... are not the bytes that were registered ... restore the files".
    digest = register_signed(reg, bundle, ci_key)
    reg.promote("bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], digest))
    assert reg.check_bundles() == []
    reg.trust_revoke("ci", role="export", reason="leaked")
    [(kind, problem)] = reg.check_bundles()
    assert kind == "revoked" and "which is revoked" in problem and "unchanged" in problem
    assert main(["registry", "--db", str(reg.path), "check", "--bundles"]) == 1
    out = capsys.readouterr()
    assert "REVOKED production: bot v1" in out.out and "CHANGED" not in out.out
    assert "signed by an export key since revoked" in out.err
    assert "restore the files" not in out.err


def test_list_and_show_do_not_call_a_bundle_signed_by_a_revoked_export_key_signed(
    reg: Registry,
    bundle: MakeBundle,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by attack: `list` said SIGNED yes and `show` "signed by ..." of a bundle whose
    # export key was revoked, while the service said signed false.
    register_signed(reg, bundle, ci_key)
    db = str(reg.path)

    def signed_column() -> str:
        assert main(["registry", "--db", db, "list"]) == 0
        header, row = capsys.readouterr().out.splitlines()
        return row.split()[header.split().index("SIGNED")]

    def artifact_line() -> str:
        assert main(["registry", "--db", db, "show", "bot", "1"]) == 0
        out = capsys.readouterr().out.splitlines()
        return next(x for x in out if x.lstrip().startswith("artifact"))

    assert signed_column() == "yes" and "  signed by " in artifact_line()
    reg.trust_revoke("ci", role="export", reason="leaked")
    assert signed_column() == "revoked"
    line = artifact_line()
    assert "NOT signed: export key" in line and "revoked since" in line
    assert "  signed by " not in line


def test_a_bundle_signed_by_a_legacy_p384_export_key_is_unusable_not_changed(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by re-attack: a bundle signed with a P-384 export key, trusted and registered
    # before curagate took P-256 keys only, was reported "CHANGED ... its bytes are not the
    # registered ones: public key: an EC key on curve secp384r1" by check --bundles and
    # promote, not a byte of it changed. The registry is built as that older curagate
    # built it: the curve checks switched off while the key is trusted and the bundle
    # signed, registered and staged (the log rows are the real ones).

    import curagate.registry.store as store
    import curagate.signing as signing
    from curagate.signing import sign_bundle

    private, public = keypair_on(tmp_path, "SECP384R1")
    path, digest = bundle("a")
    with monkeypatch.context() as legacy:
        legacy.setattr(signing, "_check_curve", lambda key, source: None)
        legacy.setattr(store, "other_curve", lambda pem: None)
        sign_bundle(path, private)
        reg.trust_add(public, role="export", name="old")
        mv, _ = reg.register(path, name="bot")
        assert mv.signed_by is not None
        reg.promote("bot", 1, to="staging")
    unusable = "bytes unchanged; signer key unusable"
    [(kind, problem)] = reg.check_bundles()
    assert kind == "unusable" and unusable in problem and "secp384r1 is not P-256" in problem
    assert (
        "nothing re-signs a registered version" in problem
        and "not the registered ones" not in problem
    )
    report = signed_report(tmp_path, ci_key[0], digest)
    with pytest.raises(CheckFailed, match=unusable):
        reg.promote("bot", 1, to="production", gate_report=report)
    assert reg.get("bot", 1).stage == "staging"
    assert main(["registry", "--db", str(reg.path), "check", "--bundles"]) == 1
    out = capsys.readouterr()
    assert "UNUSABLE staging: bot v1" in out.out and "CHANGED" not in out.out
    assert "curve other than P-256" in out.err and "restore the files" not in out.err
    assert main(["registry", "--db", str(reg.path), "trust", "list"]) == 0
    out = capsys.readouterr()
    [row] = [line for line in out.out.splitlines() if line.startswith("old ")]
    assert row.endswith("secp384r1 is not P-256"), row
    assert "keys marked unusable" in out.out
    assert main(["registry", "--db", str(reg.path), "trust", "list", "--json"]) == 0
    listed = {k["name"]: k["unusable"] for k in json.loads(capsys.readouterr().out)}
    assert listed == {"ci": None, "old": "secp384r1 is not P-256"}
    # Found by re-attack: list said SIGNED yes and the service signed true of it.
    assert reg.vouching_export_keys() == frozenset()
    assert main(["registry", "--db", str(reg.path), "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert row.split()[header.split().index("SIGNED")] == "unusable"
    assert main(["registry", "--db", str(reg.path), "show", "bot", "1"]) == 0
    assert "NOT signed: export key" in capsys.readouterr().out
    # changed bytes are still changed, whatever the signer's curve
    (path / "model.safetensors").write_bytes(b"other weights")
    [(kind, problem)] = reg.check_bundles()
    assert kind == "changed" and "not the registered ones" in problem


def test_promotion_is_refused_when_the_lineage_changed_after_registration(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    manifest = path / "MANIFEST.json"
    manifest.write_text(manifest.read_text().replace("runs/demo", "runs/demx"))
    with pytest.raises(CheckFailed, match=r"artifact digest .* differs from the expected"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], digest)
        )


def test_passing_gate_promotes_and_archives_the_replaced_version(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")
    assert [(v.version, v.stage) for v in reg.list_versions("bot")] == [
        (1, "archived"),
        (2, "production"),
    ]
    archive = [t for t in reg.log("bot") if t.action == "archive"]
    assert [(t.version, t.reason) for t in archive] == [(1, "replaced by v2: ship b")]


def test_gate_report_recorded_at_registration_backs_a_later_promotion(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    path, digest = bundle("a")
    _, rec = reg.register(path, name="bot", gate_report=signed_report(tmp_path, ci_key[0], digest))
    assert rec is not None and rec.accepted
    reg.promote("bot", 1, to="staging")
    reg.promote("bot", 1, to="production")
    promote = reg.log("bot", 1)[-1]
    assert (promote.to_stage, promote.data["gate_report_id"]) == ("production", rec.id)


def test_promotion_only_moves_forward(reg: Registry, bundle: MakeBundle) -> None:
    reg.register(bundle("a")[0], name="bot")
    reg.promote("bot", 1, to="staging")
    with pytest.raises(InputError, match="only moves forward"):
        reg.promote("bot", 1, to="staging")


def test_rollback_restores_the_previous_production_version(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")
    restored = reg.rollback("bot", actor="oncall", reason="latency")
    assert (restored.version, restored.stage) == (1, "production")
    assert reg.get("bot", 2).stage == "archived"
    last = reg.log("bot")[-2:]
    assert [(t.version, t.action, t.to_stage, t.actor, t.reason) for t in last] == [
        (2, "rollback", "archived", "oncall", "latency"),
        (1, "rollback", "production", "oncall", "latency"),
    ]


def test_rollback_refuses_a_version_whose_bytes_changed(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")
    (tmp_path / "bundles" / "a" / "model.safetensors").write_bytes(b"backdoored weights")
    with pytest.raises(CheckFailed, match="bot v1: its bytes are not the registered ones"):
        reg.rollback("bot", reason="regression")
    assert reg.production("bot").version == 2  # type: ignore[union-attr]


def test_second_rollback_swaps_back(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")
    reg.rollback("bot")
    assert reg.rollback("bot").version == 2


def test_a_rollback_production_changed_under_is_refused_as_a_conflict(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two on-call engineers roll back at once: the second was an input error (HTTP 400,
    # "correct the request") though nothing in it was wrong; it is a conflict (409).
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")
    verify = reg._verify_bytes

    def another_rollback_meanwhile(mv: Any) -> None:
        verify(mv)
        with Registry(reg.path) as other:
            other.rollback("bot", actor="oncall-2")

    monkeypatch.setattr(reg, "_verify_bytes", another_rollback_meanwhile)
    with pytest.raises(CheckFailed, match="bot: production changed during the rollback"):
        reg.rollback("bot", actor="oncall-1")
    assert reg.production("bot").version == 1  # type: ignore[union-attr]
    assert [t.actor for t in reg.log("bot") if t.action == "rollback"] == ["oncall-2"] * 2


def test_rollback_without_an_earlier_production_version_is_an_error(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    with pytest.raises(InputError, match="nothing to roll back to"):
        reg.rollback("bot")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE log SET reason = 'edited'", "log is append-only"),
        ("DELETE FROM log", "log is append-only"),
        ("UPDATE gate_reports SET verdict = 'pass'", "gate_reports is append-only"),
        ("DELETE FROM gate_reports", "gate_reports is append-only"),
        (
            "UPDATE model_versions SET artifact_digest = printf('%064d', 0)",
            "model_versions: only the stage of a registered version may change",
        ),
        ("DELETE FROM model_versions", "model_versions: registered versions are never deleted"),
        ("DELETE FROM trusted_keys", "trusted_keys is append-only"),
    ],
)
def test_triggers_stop_casual_edits(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    sql: str,
    message: str,
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    # The trigger's own message: any IntegrityError (a foreign key, a CHECK) is not proof
    # that the append-only trigger exists.
    with sqlite3.connect(reg.path) as db, pytest.raises(sqlite3.IntegrityError, match=message):
        db.execute(sql)


def tamper(path: Path, *statements: str) -> None:
    """Run SQL by hand; ``RESTORE name`` puts a trigger back exactly as the schema has it."""
    db = sqlite3.connect(path)
    for stmt in statements:
        if stmt.startswith("RESTORE "):
            stmt = restore_trigger(stmt.removeprefix("RESTORE "))
        db.execute(stmt)
    db.commit()
    db.close()


FORGED_REPORT = (
    "INSERT INTO gate_reports (model_version_id, report_sha256, attestation_sha256, verdict, "
    "accepted, why, keyid, path, actor, recorded_at) VALUES (2, printf('%064d', 7), NULL, 'pass', "
    "1, 'verified', NULL, '/tmp/x', 'mallory', '2026-01-01T00:00:00Z')"
)


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            ["UPDATE model_versions SET stage = 'staging' WHERE version = 2"],
            "but the log puts it in",
        ),
        (
            [
                "DROP INDEX one_production_per_name",
                "UPDATE model_versions SET stage = 'production'",
            ],
            "index one_production_per_name was dropped",
        ),
        ([FORGED_REPORT], "inserted by hand"),
        (
            ["DROP TRIGGER log_no_update", "UPDATE log SET reason = 'nothing to see' WHERE id = 3"],
            "trigger log_no_update was dropped",
        ),
        (
            [
                "DROP TRIGGER log_no_delete",
                "DELETE FROM log WHERE id = 4",
                "RESTORE log_no_delete",
            ],
            "row 4 is missing",
        ),
        (
            [
                "DROP TRIGGER log_no_update",
                "UPDATE log SET actor = 'nobody' WHERE id = 2",
                "RESTORE log_no_update",
            ],
            "row 2 .*edited by hand",
        ),
        (
            [
                "DROP TRIGGER log_no_delete",
                "DELETE FROM log WHERE id = (SELECT MAX(id) FROM log)",
                "RESTORE log_no_delete",
            ],
            "deleted by hand",
        ),
        (["DROP TRIGGER gate_reports_no_delete"], "trigger gate_reports_no_delete was dropped"),
        # Rows pointing at a version the table does not have were left out of the check
        # (it joined them with model_versions), and the service answered them with 500.
        ([FORGED_REPORT.replace("VALUES (2,", "VALUES (999,")], "gate_reports row 2"),
        (
            [
                "INSERT INTO promotion_requests (model_version_id, to_stage, requested_by, "
                "reason, created_at) VALUES (999, 'production', 'mallory', '', "
                "'2026-01-01T00:00:00Z')"
            ],
            "promotion_requests row 1",
        ),
        (
            [
                "INSERT INTO waivers (model_version_id, report_sha256, reason, expires_at, "
                "granted_by, granted_at) VALUES (999, printf('%064d', 7), 'x', "
                "'2099-01-01T00:00:00Z', 'mallory', '2026-01-01T00:00:00Z')"
            ],
            "waivers row 1",
        ),
        # Found by attack: the log's sequence row (no trigger guards it) as NULL, text,
        # a BLOB or text not UTF-8 was exit 3 or "database error"; behind the log's last
        # row it counted a negative number of deleted rows
        (["UPDATE sqlite_sequence SET seq = NULL WHERE name = 'log'"], "seq holds null"),
        (["UPDATE sqlite_sequence SET seq = 'abc' WHERE name = 'log'"], "seq holds text"),
        (["UPDATE sqlite_sequence SET seq = X'07' WHERE name = 'log'"], "seq holds blob"),
        (
            ["UPDATE sqlite_sequence SET seq = CAST(X'ff' AS TEXT) WHERE name = 'log'"],
            "seq holds text",
        ),
        (["UPDATE sqlite_sequence SET seq = 1 WHERE name = 'log'"], "seq 1 is behind"),
    ],
    ids=[
        "stage-update",
        "second-production",
        "forged-report",
        "dropped-trigger",
        "deleted-row",
        "edited-row",
        "deleted-tail",
        "dropped-report-trigger",
        "report-of-no-version",
        "request-of-no-version",
        "waiver-of-no-version",
        "sequence-null",
        "sequence-text",
        "sequence-blob",
        "sequence-not-utf8",
        "sequence-behind",
    ],
)
def test_hand_edits_are_detected_by_check_and_block_the_next_write(
    tmp_path: Path,
    bundle: MakeBundle,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    statements: list[str],
    message: str,
) -> None:
    db = tmp_path / "reg" / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(ci_key[1], role="gate", name="ci")
        production_ready(reg, bundle, tmp_path, ci_key[0], "a")
        reg.register(bundle("b")[0], name="bot")
    tamper(db, *statements)
    assert main(["registry", "--db", str(db), "check"]) == 1
    assert capsys.readouterr().err.count("\n") == 1  # one line, no traceback
    with pytest.raises(ChainBroken, match=message):
        Registry(db)
    path_c, _ = bundle("c")
    assert main(["registry", "--db", str(db), "register", str(path_c), "--name", "bot"]) == 1
    with sqlite3.connect(db) as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM model_versions WHERE version = 3").fetchone()[0] == 0
        )


def test_check_passes_on_an_untouched_registry_and_verifies_a_recorded_head(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    head_id, head_hash = reg.head()
    production_ready(reg, bundle, tmp_path, ci_key[0], "b")
    assert (
        main(["registry", "--db", str(reg.path), "check", "--head", f"{head_id}:{head_hash}"]) == 0
    )
    assert "ok" in capsys.readouterr().out
    forged = f"{head_id}:{'0' * 64}"
    assert main(["registry", "--db", str(reg.path), "check", "--head", forged]) == 1
    assert "history up to that row was rewritten" in capsys.readouterr().err


def test_a_key_trusted_after_the_recorded_head_fails_check_head_until_a_new_head_is_recorded(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Whoever can write the database file appends correctly chained rows after the head
    # the owner recorded: their own key, a pass report it signs, a promotion, an approver.
    head_id, head_hash = reg.head()
    recorded = f"{head_id}:{head_hash}"
    mallory = keypair(tmp_path / "mallory")
    reg.trust_add(mallory[1], role="gate", name="mallory", actor="mallory")
    production_ready(reg, bundle, tmp_path, mallory[0], "forged")
    reg.user_add("mal", role="approver", actor="mallory")
    db = str(reg.path)
    assert main(["registry", "--db", db, "check"]) == 0  # the chain itself is consistent
    capsys.readouterr()
    assert main(["registry", "--db", db, "check", "--head", recorded]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert f"2 log row(s) after the recorded head {head_id} change who is trusted" in err
    assert f"row {head_id + 1} trusts gate key 'mallory'" in err
    assert "adds approver 'mal' by mallory" in err
    # Reviewed and meant: a new head covers them, and check passes against it.
    new_id, new_hash = reg.head()
    assert main(["registry", "--db", db, "check", "--head", f"{new_id}:{new_hash}"]) == 0


def test_check_detects_a_changed_stored_report(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    [rec] = reg.gate_reports("bot", 1)
    stored = reg.store_dir / rec.report_sha256[:2] / rec.report_sha256
    stored.write_bytes(stored.read_bytes().replace(b'"pass"', b'"PASS"'))
    with pytest.raises(ChainBroken, match="stored blob was changed"):
        reg.check()


def test_reads_do_not_wait_for_a_writer(
    reg: Registry, bundle: MakeBundle, capsys: pytest.CaptureFixture[str]
) -> None:
    reg.register(bundle("a")[0], name="bot")
    writer = sqlite3.connect(reg.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock until rolled back
    try:
        with Registry(reg.path, create=False, timeout=0.5) as reader:
            assert [v.version for v in reader.list_versions()] == [1]
        assert main(["registry", "--db", str(reg.path), "list"]) == 0
        assert "bot" in capsys.readouterr().out
        # A write does wait, and past its timeout says so in one line (exit 2).
        with Registry(reg.path, timeout=0.2) as other, pytest.raises(InputError, match="locked"):
            other.promote("bot", 1, to="staging")
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_cli_refuses_promotion_without_gate_with_exit_1(
    bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.db")
    assert main(["registry", "--db", db, "register", str(bundle("a")[0]), "--name", "bot"]) == 0
    assert main(["registry", "--db", db, "promote", "bot", "1", "--to", "production"]) == 1
    assert "needs a signed gate attestation" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["promote", "bot", "99999999999999999999999", "--to", "staging"],
        ["promote", "bot", "0", "--to", "staging"],
        ["show", "bot\nx"],
        ["register", "/nonexistent/bundle", "--name", "bot"],
        ["trust", "add", "/nonexistent.pub", "--role", "gate", "--name", "ci"],
    ],
)
def test_cli_input_errors_are_one_line_with_exit_2(
    bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    db = str(tmp_path / "r.db")
    assert main(["registry", "--db", db, "register", str(bundle("a")[0]), "--name", "bot"]) == 0
    capsys.readouterr()
    assert main(["registry", "--db", db, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_signed_promotion_then_list_and_show(
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "r.db")
    path, digest = bundle("a")
    report = signed_report(tmp_path, ci_key[0], digest)
    assert (
        main(
            [
                "registry",
                "--db",
                db,
                "trust",
                "add",
                str(ci_key[1]),
                "--role",
                "gate",
                "--name",
                "ci",
            ]
        )
        == 0
    )
    main(["registry", "--db", db, "register", str(path), "--name", "bot", "--actor", "alice"])
    rc = main(
        [
            "registry",
            "--db",
            db,
            "promote",
            "bot",
            "1",
            "--to",
            "production",
            "--gate-report",
            str(report),
            "--reason",
            "go",
        ]
    )
    assert rc == 0
    main(["registry", "--db", db, "list"])
    main(["registry", "--db", db, "show", "bot", "1"])
    out = capsys.readouterr().out
    assert "production" in out and digest[:12] in out and "by alice" in out and "accepted" in out
    # Found by attack: once the gate key was revoked, `show` still said "accepted ...
    # verified" while promotion and `card` refused the report.
    assert main(["registry", "--db", db, "trust", "revoke", "ci", "--reason", "leaked"]) == 0
    capsys.readouterr()
    assert main(["registry", "--db", db, "show", "bot", "1"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.lstrip().startswith("report"))
    assert " VOID " in line and "accepted when recorded; now NOT verified" in line
    assert "revoked" in line
    assert main(["registry", "--db", db, "show", "bot", "1", "--json"]) == 0
    [g] = json.loads(capsys.readouterr().out)["gate_reports"]
    assert g["accepted"] is True and g["verified_now"] is False and "revoked" in g["why_now"]


def test_cli_list_on_a_missing_database_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "--db", str(tmp_path / "none.db"), "list"]) == 2
    assert "no registry database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


READ_COMMANDS = [["list"], ["check"], ["show", "bot", "1"], ["users", "list"], ["trust", "list"]]
CREATING_COMMANDS = [
    ["register", "BUNDLE", "--name", "bot"],
    ["users", "add", "alice", "--role", "approver"],
    ["trust", "add", "PUBLIC", "--role", "gate", "--name", "ci"],
]


@pytest.mark.parametrize("argv", READ_COMMANDS + CREATING_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_registry_truncated_to_0_bytes_is_refused_and_never_recreated(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")  # the store now holds its report
    reg.close()
    reg.path.write_bytes(b"")
    files = {"BUNDLE": str(bundle("b")[0]), "PUBLIC": str(ci_key[1])}
    args = [files.get(a, a) for a in argv]
    assert main(["registry", "--db", str(reg.path), *args]) == 2
    err = capsys.readouterr().err
    assert "empty (no tables)" in err and "truncated" in err and f"{reg.path}.store" in err
    with sqlite3.connect(reg.path) as db:  # nothing was written into it
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    with pytest.raises(RegistryUnavailable, match="truncated"):
        Registry(reg.path, create=False)


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_an_empty_database_file_is_created_only_by_a_creating_command(
    bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    db = tmp_path / "r.db"
    db.touch()
    assert main(["registry", "--db", str(db), *argv]) == 2
    assert "empty (no tables)" in capsys.readouterr().err and db.stat().st_size == 0
    assert (
        main(["registry", "--db", str(db), "register", str(bundle("a")[0]), "--name", "bot"]) == 0
    )
    with Registry(db, create=False) as reg:
        assert reg.get("bot", 1).stage == "experiment"


def test_registry_location_comes_from_the_environment(
    bundle: MakeBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURAGATE_REGISTRY", str(tmp_path / "env.db"))
    assert main(["registry", "register", str(bundle("a")[0]), "--name", "bot"]) == 0
    assert (tmp_path / "env.db").is_file()


def test_cli_accepts_db_after_the_action(bundle: MakeBundle, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    assert main(["registry", "register", str(bundle("a")[0]), "--name", "bot", "--db", db]) == 0
    with Registry(db) as reg:
        assert reg.get("bot", 1).stage == "experiment"


def test_a_file_that_is_not_a_database_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_text("not sqlite, just text that is long enough to have a header" * 4)
    with pytest.raises(InputError, match="not a usable SQLite database"):
        Registry(path)


def test_a_schema_1_registry_is_migrated_into_the_chain(
    tmp_path: Path, bundle: MakeBundle, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate.registry.schema import SCHEMA_V1

    path, digest = bundle("a")
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA_V1)
    conn.execute(
        "INSERT INTO model_versions VALUES (1, 'bot', 1, ?, ?, ?, '{\"run\": \"r\"}', 'production', 't0')",
        (digest, "f" * 64, str(path)),
    )
    conn.execute(
        "INSERT INTO transitions VALUES (1, 1, 'register', NULL, 'experiment', 'a', 't1', 'r', NULL)"
    )
    conn.execute(
        "INSERT INTO transitions VALUES (2, 1, 'promote', 'experiment', 'staging', 'a', 't2', 'qa', NULL)"
    )
    conn.execute(
        "INSERT INTO transitions VALUES (3, 1, 'promote', 'staging', 'production', 'a', 't3', 'go', NULL)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    # Never a side effect of a read: a migration rebuilds the chain from unsigned history.
    with pytest.raises(InputError, match="registry migrate"):
        Registry(db)
    assert main(["registry", "--db", str(db), "migrate"]) == 0
    assert "bot v1 is in production on unsigned (schema 1) history" in capsys.readouterr().out
    with Registry(db) as reg:
        assert reg.schema_version == 5  # migrated 1 -> 5
        assert reg.get("bot", 1).stage == "production"
        assert [r.action for r in reg.log("bot", 1)] == ["register", "promote", "promote"]
        reg.check()


def test_migrate_of_a_current_registry_says_nothing_of_unsigned_history(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every production version was said to be "on unsigned (schema 1) history", signed
    # and approved ones of a registry created at the current schema included.
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    reg.close()
    assert main(["registry", "--db", str(reg.path), "migrate"]) == 0
    assert "unsigned" not in capsys.readouterr().out


# Holes found by attacking the first version of the trust chain; each is a test now.


def restore_trigger(name: str) -> str:
    """The exact CREATE TRIGGER statement of the schema, to put back after an edit."""
    from curagate.registry.schema import SCHEMA_V5, split_statements

    return next(s for s in split_statements(SCHEMA_V5) if f"TRIGGER {name} " in s)


def test_a_hand_edit_with_the_trigger_put_back_exactly_is_still_detected(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    reg.close()
    tamper(
        reg.path,
        "DROP TRIGGER gate_reports_no_update",
        "UPDATE gate_reports SET actor = 'mallory'",
        restore_trigger("gate_reports_no_update"),
    )
    with pytest.raises(ChainBroken, match="gate_reports row 1: differs from the report entry"):
        Registry(reg.path)


def test_a_trigger_replaced_by_a_no_op_of_the_same_name_is_detected(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    reg.close()
    tamper(
        reg.path,
        "DROP TRIGGER key_revocations_no_update",
        "CREATE TRIGGER key_revocations_no_update BEFORE UPDATE ON key_revocations WHEN 0 "
        "BEGIN SELECT RAISE(ABORT, 'x'); END",
    )
    with pytest.raises(ChainBroken, match="trigger key_revocations_no_update was altered"):
        Registry(reg.path)


@pytest.mark.parametrize("name", ["sqliteXa", "SQLITE_X", "sqlite_evil"])
def test_an_added_trigger_is_detected_whatever_its_name(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path], name: str
) -> None:
    # `name NOT LIKE 'sqlite_%'` skipped sqliteXa (`_` is any character): a trigger that
    # dropped every revocation and its log row left `check --head` ok and a revoked gate
    # key trusted. A name SQLite reserves, written into the schema table directly, too.
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    reg.close()
    body = "BEFORE INSERT ON key_revocations BEGIN SELECT RAISE(IGNORE); END"
    if name == "sqliteXa":
        tamper(reg.path, f"CREATE TRIGGER {name} {body}")
    else:
        tamper(
            reg.path,
            "PRAGMA writable_schema = ON",
            "INSERT INTO sqlite_master VALUES ('trigger', ?, 'key_revocations', 0, ?)".replace(
                "?", "'{}'"
            ).format(name, f"CREATE TRIGGER {name} {body}"),
        )
    with pytest.raises(ChainBroken, match=rf"trigger {name} was added by hand"):
        Registry(reg.path)


def test_an_appended_promotion_with_a_valid_hash_is_detected(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    from curagate.registry.chain import canonical, row_hash

    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    reg.register(bundle("b")[0], name="bot")
    head_id, head_hash = reg.head()
    reg.close()
    fields = ("2026-01-01T00:00:00.000000Z", "mallory", "promote", "bot", 2, "experiment", "production",
              "", canonical({"gate_report_id": None}))  # fmt: skip
    forged = row_hash(head_hash, head_id + 1, fields)
    tamper(
        reg.path,
        "DROP INDEX one_production_per_name",
        "UPDATE model_versions SET stage = 'archived' WHERE version = 1",
        "UPDATE model_versions SET stage = 'production' WHERE version = 2",
        "CREATE UNIQUE INDEX one_production_per_name ON model_versions (name) "
        "WHERE stage = 'production'",
        "DROP TRIGGER log_no_update",
        f"INSERT INTO log VALUES ({head_id + 1}, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{head_hash}', "
        f"'{forged}')".replace("?", "'{}'").format(*fields),
        restore_trigger("log_no_update"),
    )
    with pytest.raises(ChainBroken, match="to production without an accepted gate report"):
        Registry(reg.path)


def test_rollback_refuses_a_version_whose_gate_key_was_revoked_since(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    production_ready(reg, bundle, tmp_path, ci_key[0], "a")
    second, second_pub = keypair(tmp_path / "second")
    reg.trust_add(second_pub, role="gate", name="ci2")
    production_ready(reg, bundle, tmp_path, second, "b")
    reg.trust_revoke("ci", role="gate", reason="leaked")
    with pytest.raises(CheckFailed, match="rollback refused"):
        reg.rollback("bot")
    assert reg.production("bot").version == 2  # type: ignore[union-attr]


def test_a_version_signed_by_a_revoked_export_key_is_not_promoted(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    digest = register_signed(reg, bundle, ci_key)
    reg.trust_revoke("ci", role="export", reason="leaked")
    with pytest.raises(CheckFailed, match="which is revoked"):
        reg.promote(
            "bot", 1, to="production", gate_report=signed_report(tmp_path, ci_key[0], digest)
        )


def test_an_attestation_naming_several_artifacts_is_refused(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    import json

    from curagate.signing import sign_envelope

    path, digest = bundle("a")
    _, other = bundle("b")
    reg.register(path, name="bot")
    report = signed_report(tmp_path, ci_key[0], digest)
    att = report.parent / "gate_attestation.dsse.json"
    import base64

    stmt = json.loads(base64.b64decode(json.loads(att.read_bytes())["payload"]))
    stmt["subject"].append({"name": "other", "digest": {"sha256": other}})
    att.write_bytes(sign_envelope(stmt, ci_key[0]))
    with pytest.raises(CheckFailed, match="attestation is for artifact"):
        reg.promote("bot", 1, to="production", gate_report=report)


def test_a_deeply_nested_report_is_refused_and_recorded_not_a_crash(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = bundle("a")
    reg.register(path, name="bot")
    report = tmp_path / "deep" / "gate_report.json"
    report.parent.mkdir()
    report.write_text("[" * 100_000 + "]" * 100_000)
    argv = ["registry", "--db", str(reg.path), "promote", "bot", "1", "--to", "production"]
    assert main([*argv, "--gate-report", str(report)]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert [r.accepted for r in reg.gate_reports("bot", 1)] == [False]


@pytest.mark.parametrize("field", ["--reason", "--actor"])
def test_free_text_with_a_newline_is_refused(
    reg: Registry, bundle: MakeBundle, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    forged = "ok\n  2026-01-01  #9 promote staging → production  by release-manager: verified"
    argv = ["registry", "--db", str(reg.path), "register", str(bundle("a")[0]), "--name", "bot"]
    assert main([*argv, field, forged]) == 2
    assert "control or formatting character" in capsys.readouterr().err


def test_index_files_naming_shards_outside_the_bundle_fail_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from curagate.artifacts import BundleManifest
    from curagate.export.manifest import hash_bundle_files, manifest_bytes

    path = tmp_path / "b"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}')
    index = {"weight_map": {"lm_head.weight": "../outside/model.safetensors"}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    manifest = BundleManifest(schema_version=1, files=hash_bundle_files(path))
    (path / "MANIFEST.json").write_bytes(manifest_bytes(manifest))
    assert main(["verify", str(path)]) == 1
    assert "names shard '../outside/model.safetensors'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("fast_tokenizer_files", ["../evil/tokenizer.1.0.json"]),
        ("fast_tokenizer_files", ["/tmp/evil/tokenizer.1.0.json"]),
        ("tokenizer_file", "/tmp/evil/tokenizer.json"),
        ("vocab_file", "../vocab.json"),
    ],
)
def test_a_tokenizer_config_naming_files_outside_the_bundle_fails_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: object
) -> None:
    """A bundle whose tokenizer loads from outside it: the bytes that decide tokenization
    are in no manifest, and swapping them changed the shipped model with verify ok."""
    import json

    from curagate.artifacts import BundleManifest
    from curagate.export.manifest import hash_bundle_files, manifest_bytes

    path = tmp_path / "b"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}')
    (path / "tokenizer.json").write_text("{}")
    (path / "tokenizer_config.json").write_text(
        json.dumps({key: value, "tokenizer_class": "PreTrainedTokenizerFast", "merges_file": None})
    )
    manifest = BundleManifest(schema_version=1, files=hash_bundle_files(path))
    (path / "MANIFEST.json").write_bytes(manifest_bytes(manifest))
    assert main(["verify", str(path)]) == 1
    assert f"tokenizer_config.json: {key} names " in capsys.readouterr().err


def test_a_hard_linked_file_fails_verify(
    bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    path, _ = bundle("a")
    os.link(path / "model.safetensors", tmp_path / "elsewhere.safetensors")
    assert main(["verify", str(path)]) == 1
    assert "is a hard link" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["check", "--head", "99999999999999999999999:" + "0" * 64], ["show", "bot", "0"]],
)
def test_odd_numbers_are_input_errors(
    reg: Registry, bundle: MakeBundle, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    reg.register(bundle("a")[0], name="bot")
    assert main(["registry", "--db", str(reg.path), *argv]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_deleted_items_blob_is_tampering_not_a_report_without_items(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    def gate_dir(label: str, digest: str, items: bytes, *, keep: bool) -> Path:
        directory = tmp_path / f"gate-{label}"
        directory.mkdir()
        if keep:
            (directory / "items.jsonl").write_bytes(items)
        doc = report_doc(digest, "pass")
        doc["items"] = {"file": "items.jsonl", "sha256": sha256_bytes(items), "count": 1}
        (directory / "gate_report.json").write_text(json.dumps(doc))
        write_attestation(directory / "gate_report.json", ci_key[0])
        return directory / "gate_report.json"

    kept, gone = b'{"set": "s", "id": "1"}\n', b'{"set": "s", "id": "2"}\n'
    path, digest = bundle("a")
    _, rec = reg.register(path, name="bot", gate_report=gate_dir("a", digest, kept, keep=True))
    path, digest = bundle("b")
    _, older = reg.register(path, name="bot", gate_report=gate_dir("b", digest, gone, keep=False))
    assert rec is not None and older is not None
    assert reg.report_items(rec) == kept and reg.report_items(older) is None
    (reg.store_dir / sha256_bytes(kept)[:2] / sha256_bytes(kept)).unlink()
    with pytest.raises(ChainBroken, match="stored blob missing"):
        reg.report_items(rec)
    assert reg.report_items(older) is None  # never stored: still just a report without items


def test_an_actor_or_reason_that_is_not_utf8_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Bytes that are not UTF-8 in $USER or --reason reach Python as lone surrogates: the
    # row could not be encoded for its hash (UnicodeEncodeError, exit 3).
    import os

    write_bundle(tmp_path / "b1", b"weights")
    db = str(tmp_path / "r.db")
    monkeypatch.setenv("USER", os.fsdecode(b"ev\xffil"))
    assert main(["registry", "--db", db, "register", str(tmp_path / "b1"), "--name", "m"]) == 2
    assert "actor 'ev\\udcffil'" in capsys.readouterr().err
    monkeypatch.setenv("USER", "ci")
    assert main(["registry", "--db", db, "register", str(tmp_path / "b1"), "--name", "m"]) == 0
    reason = os.fsdecode(b"a\xffb")
    assert (
        main(["registry", "--db", db, "promote", "m", "1", "--to", "staging", "--reason", reason])
        == 2
    )
    assert main(["registry", "--db", db, "check"]) == 0


def test_a_promotion_to_staging_re_verifies_the_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only production re-checked them: a bundle changed after registering went to
    # staging (exit 0), which `check --bundles` counts as shipped.
    write_bundle(tmp_path / "b1", b"weights")
    db = str(tmp_path / "r.db")
    assert main(["registry", "--db", db, "register", str(tmp_path / "b1"), "--name", "m"]) == 0
    weights = next(p for p in (tmp_path / "b1").iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(b"EVIL")
    capsys.readouterr()
    assert main(["registry", "--db", db, "promote", "m", "1", "--to", "staging"]) == 1
    assert "staging" not in capsys.readouterr().out
    with Registry(Path(db)) as reg:
        assert reg.get("m", 1).stage == "experiment"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("NaN", "NaN is not JSON"),
        ("1e999", "1e999 overflows a double"),
        ('"\\ud800"', "a string that is no text"),
        ('1, "x": 2', "an object repeats the key 'x'"),
        (None, "deeper than 64 folders"),
    ],
)
def test_a_manifest_verify_accepted_but_register_crashed_on_is_damaged_for_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str | None, says: str
) -> None:
    # NaN or Infinity in the lineage, or a lone surrogate: `verify` exit 0, `register`
    # exit 3 (json_valid CHECK, UnicodeEncodeError). A name 100,000 folders deep: verify
    # took GBs (quadratic), then MemoryError, exit 3.
    bundle = tmp_path / "b"
    write_bundle(bundle, b"weights")
    text = (bundle / "MANIFEST.json").read_text()
    if value is None:
        text = text.replace(
            '"files": {', '"files": {"' + "a/" * 100_000 + 'x": "' + "0" * 64 + '", ', 1
        )
    else:
        text = text.replace('"run": "runs/demo"', f'"run": "runs/demo", "x": {value}')
    (bundle / "MANIFEST.json").write_text(text)
    assert main(["verify", str(bundle)]) == 1
    db = str(tmp_path / "r.db")
    assert main(["registry", "--db", db, "register", str(bundle), "--name", "m"]) == 1
    err = capsys.readouterr().err
    assert says in err and "internal error" not in err


def test_a_manifest_listing_a_file_twice_is_damaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `config.json` listed twice with two digests verified (exit 0) against
    # the last one, which Python's reader keeps; another reader may keep the first.
    bundle = tmp_path / "b"
    write_bundle(bundle, b"weights")
    text = (bundle / "MANIFEST.json").read_text()
    text = text.replace('"files": {', '"files": {"config.json": "' + "0" * 64 + '", ', 1)
    (bundle / "MANIFEST.json").write_text(text)
    assert main(["verify", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert "repeats the key 'config.json'" in err and "internal error" not in err


def test_a_file_name_with_a_newline_cannot_forge_a_line_of_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "b"
    write_bundle(bundle, b"weights")
    (bundle / "a\ncuragate verify: bundle ok, 2 files match MANIFEST.json").write_text("x")
    assert main(["verify", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a\\ncuragate verify: bundle ok" in err, err


def _registered_with_a_pass(tmp_path: Path, bundle: Path, private: Path, public: Path) -> list[str]:
    """``bundle`` registered as m v1 with a signed pass, through the CLI; the --db args."""
    from curagate.digest import artifact_digest

    report = write_gate_report(tmp_path / "gate", artifact_digest(bundle), sign_key=private)
    db = ["--db", str(tmp_path / "r.db")]
    assert (
        main(["registry", *db, "trust", "add", str(public), "--role", "gate", "--name", "ci"]) == 0
    )
    argv = ["registry", *db, "register", str(bundle), "--name", "m", "--gate-report", str(report)]
    assert main(argv) == 0
    return db


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"---\nkey: [unclosed\n---\nhi\n",
        b"---\n- a list\n---\nhi\n",
        b"---\nmodel-index: 5\n---\nhi\n",
    ],
)
def test_a_card_whose_verified_readme_cannot_be_read_as_one_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    # The README.md is hashed and verified, but `registry card` parsed it unguarded: exit 3.

    private, public = keypair(tmp_path / "keys")
    bundle = tmp_path / "b"
    write_bundle(bundle, b"w", readme="x")
    (bundle / "README.md").write_bytes(body)
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    manifest["files"]["README.md"] = sha256_bytes(body)
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    db = _registered_with_a_pass(tmp_path, bundle, private, public)
    capsys.readouterr()
    assert main(["registry", *db, "card", "m", "1"]) == 2
    err = capsys.readouterr().err
    assert "README.md" in err and "internal error" not in err and err.count("\n") == 1


def test_the_card_prints_the_readme_bytes_the_manifest_covers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: `registry card` verified the bundle, then opened README.md again to
    # print it; a README swapped in between (while the weights were hashed) was printed
    # above "Verdict: pass" with exit 0.
    from curagate.registry import store

    private, public = keypair(tmp_path / "keys")
    bundle = tmp_path / "b"
    write_bundle(bundle, b"w", readme="# honest card\n")
    db = _registered_with_a_pass(tmp_path, bundle, private, public)
    real = store.verify_bundle

    def verify_then_swap(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        (bundle / "README.md").write_text("# EVIL card: certified for medical use\n")
        return out

    monkeypatch.setattr(store, "verify_bundle", verify_then_swap)
    capsys.readouterr()
    assert main(["registry", *db, "card", "m", "1"]) == 1
    captured = capsys.readouterr()
    assert "EVIL" not in captured.out and "README.md changed after" in captured.err


def _signed_bundle(path: Path, key: Path) -> Path:
    from curagate.signing import sign_bundle

    write_bundle(path, b"weights")
    sign_bundle(path, key)
    return path


@pytest.mark.parametrize("name", ["model.sig", "MANIFEST.json"])
def test_a_huge_signature_or_manifest_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ci_key: tuple[Path, Path], name: str
) -> None:
    # Found by attack: both were read whole: a sparse 3 GB model.sig took 3.2 GB of memory
    # and 30 s (once per trusted export key), a 2 GB manifest 4.2 GB.
    bundle = _signed_bundle(tmp_path / "b", ci_key[0])
    with (bundle / name).open("r+b") as f:
        f.truncate(3 << 30)  # sparse: no disk, 3 GiB to whoever reads it whole
    assert main(["verify", str(bundle), "--public-key", str(ci_key[1])]) == 1
    err = capsys.readouterr().err
    assert f"{name}" in err and "larger than" in err and "internal error" not in err


@pytest.mark.parametrize("kind", ["link", "folder", "missing"])
def test_a_manifest_replaced_beside_its_signature_is_a_modified_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ci_key: tuple[Path, Path], kind: str
) -> None:
    # Found by attack: verify said "not an exported curagate bundle" (exit 2, a usage
    # error) of a signed bundle whose MANIFEST.json was a link, even to the genuine one.
    bundle = _signed_bundle(tmp_path / "b", ci_key[0])
    manifest = bundle / "MANIFEST.json"
    manifest.rename(tmp_path / "M.json")
    if kind == "link":
        manifest.symlink_to(tmp_path / "M.json")
    elif kind == "folder":
        manifest.mkdir()
    assert main(["verify", str(bundle), "--public-key", str(ci_key[1])]) == 1
    assert "modified after export" in capsys.readouterr().err


def test_a_bundle_signed_by_a_revoked_export_key_says_so_at_register(
    reg: Registry, bundle: MakeBundle, ci_key: tuple[Path, Path]
) -> None:
    # Found by attack: the refusal said the registry trusts no export key and to add the
    # signer's key, which the registry refuses for a revoked one.
    from curagate.signing import sign_bundle

    path, _ = bundle("a")
    sign_bundle(path, ci_key[0])
    reg.trust_add(ci_key[1], role="export", name="ci")
    reg.trust_revoke("ci", role="export", reason="leaked")
    with pytest.raises(
        CheckFailed, match=r"signed by export key 'ci' .*which was revoked .*leaked"
    ):
        reg.register(path, name="bot")


def test_a_bundle_under_a_folder_named_in_another_encoding_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: the argument was checked, the resolved path the registry stores
    # was not: exit 3 (UnicodeEncodeError) for a bundle under a folder named in Latin-1.
    import os

    parent = Path(os.fsdecode(bytes(tmp_path) + b"/d\xff"))
    write_bundle(parent / "bb", b"weights")
    monkeypatch.chdir(parent)
    assert main(["registry", "--db", str(tmp_path / "r.db"), "register", "bb", "--name", "m"]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "internal error" not in err


def test_revoking_a_key_in_one_role_revokes_it_in_every_role(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    # Found by attack: one key trusted as the gate and the export key (as the docs' CI set-up
    # does), revoked as a leaked gate key, still signed bundles the registry accepted.
    from curagate.signing import sign_bundle

    key, pub = keypair(tmp_path / "both")
    reg.trust_add(pub, role="gate", name="both")
    reg.trust_add(pub, role="export", name="both")
    reg.trust_revoke("both", role="gate", reason="leaked")
    [export] = reg.trusted_keys("export")
    assert not export.active and export.revoke_reason == "revoked as a gate key: leaked"
    path, _ = bundle("signed")
    sign_bundle(str(path), str(key))
    with pytest.raises(CheckFailed, match="revoked"):
        reg.register(path, name="bot")


def test_show_prints_each_path_and_reason_on_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bundle path (and a refused report's path) holding a newline and a terminal escape
    # printed raw: `show` listed an "accepted pass" report for a version that had none,
    # and sent ESC to the terminal.
    db = str(tmp_path / "reg.db")
    fake = "\n  report      9 accepted pass  \x1b[31mevil"
    path = tmp_path / f"b{fake}"
    write_bundle(path, b"x" * 40)
    assert main(["registry", "--db", db, "register", str(path), "--name", "bot"]) == 0
    report = tmp_path / f"r{fake}" / "gate_report.json"
    report.parent.mkdir()
    report.write_text('{"verdict": "pass"}')
    write_bundle(tmp_path / "b2", b"y" * 40)
    register = ["registry", "--db", db, "register", str(tmp_path / "b2"), "--name", "bot"]
    rc = main([*register, "--gate-report", str(report)])
    assert rc == 0
    capsys.readouterr()
    assert main(["registry", "--db", db, "show", "bot"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31mevil" in out
    lines = out.splitlines()
    reports = [x.split()[:3] for x in lines if x.lstrip().startswith("report ")]
    assert [r[2] for r in reports] == ["REFUSED"]
    assert [x.split()[0] for x in lines if not x.startswith(" ")] == ["bot", "bot"]


def test_an_error_naming_a_stored_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The error printed the registered bundle path raw: its newline made a line of its own
    # and its ESC sequence reached the terminal.
    db = str(tmp_path / "reg.db")
    path = tmp_path / "b\nFAKE LINE \x1b[31mred"
    write_bundle(path, b"x" * 40)
    assert main(["registry", "--db", db, "register", str(path), "--name", "bot"]) == 0
    (path / "model.safetensors").write_bytes(b"y" * 40)
    capsys.readouterr()
    argv = ["registry", "--db", db, "promote", "bot", "1", "--to", "staging", "--reason", "x"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err
    assert "b\\nFAKE LINE \\x1b[31mred" in err


def test_verify_without_a_key_says_a_signature_it_did_not_check_is_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a garbage model.sig (or another bundle's) read "ok" with no word that
    # the signature was never looked at.
    bundle = tmp_path / "b"
    write_bundle(bundle, b"weights")
    assert main(["verify", str(bundle)]) == 0
    assert "model.sig" not in capsys.readouterr().out
    (bundle / "model.sig").write_bytes(b"not a signature")
    assert main(["verify", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "signature: model.sig is there but was not checked; pass --public-key" in out


def test_a_manifest_that_lists_no_file_is_no_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a one-line manifest listing no file verified "ok, 0 files" and
    # `registry register` took it.
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "MANIFEST.json").write_text(
        '{"schema_version": 1, "kind": "curagate-bundle", "files": {}}'
    )
    assert main(["verify", str(bundle)]) == 1
    assert "lists no file" in capsys.readouterr().err
    db = str(tmp_path / "r.db")
    assert main(["registry", "--db", db, "register", str(bundle), "--name", "m"]) == 1
    assert "lists no file" in capsys.readouterr().err


def test_register_refuses_a_folder_whose_live_version_was_overwritten(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by attack: the nightly export into one folder replaced production's bundle,
    and registering the new bundle there said nothing: production's bytes were gone."""
    import shutil

    db = str(tmp_path / "r.db")
    out = tmp_path / "exports" / "support-bot"

    def cli(*argv: str) -> int:
        return main(["registry", "--db", db, *argv])

    def export_into(folder: Path, night: str) -> str:
        """What `curagate export --out folder` does: the new bundle replaces the old one."""
        staged = tmp_path / "exports" / ".tmp"
        digest = write_bundle(staged, night.encode() * 10, readme=f"# {night}\n")
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)
        return digest

    def ship(folder: Path, digest: str, version: str) -> None:
        assert cli("register", str(folder), "--name", "support-bot") == 0
        report = str(signed_report(tmp_path, ci_key[0], digest))
        assert (
            cli("promote", "support-bot", version, "--to", "production", "--gate-report", report)
            == 0
        )

    def refused() -> str:
        capsys.readouterr()
        assert cli("register", str(out), "--name", "support-bot") == 2
        return capsys.readouterr().err

    assert cli("trust", "add", str(ci_key[1]), "--role", "gate", "--name", "ci") == 0
    ship(out, export_into(out, "night1"), "1")
    d2 = export_into(out, "night2")
    err = refused()
    assert "support-bot v1 (production)" in err and "overwritten" in err
    assert "its own folder" in err and "promote support-bot 1 --to archived" in err
    with Registry(Path(db)) as reg:
        assert [mv.version for mv in reg.list_versions()] == [1]
    # The version a rollback restores is held too, archived as it is.
    shutil.copytree(out, tmp_path / "exports" / "v2")
    ship(tmp_path / "exports" / "v2", d2, "2")
    export_into(out, "night3")
    err = refused()
    assert "support-bot v1 (archived, the version `rollback support-bot` restores)" in err
    assert "--to archived" not in err
    # Once no rollback restores it, the folder of an archived version is free.
    ship(tmp_path / "exports" / "v3", export_into(tmp_path / "exports" / "v3", "night4"), "3")
    assert cli("register", str(out), "--name", "support-bot") == 0


def _overwrite_then_register(
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    registered: Path,
    move: Callable[[], Path],
) -> tuple[int, str]:
    """Register and ship ``registered``, let ``move`` give the same folder another path,
    export another bundle into it by that path and register it there: (exit, stderr)."""
    import shutil

    db = str(tmp_path / "r.db")

    def cli(*argv: str) -> int:
        return main(["registry", "--db", db, *argv])

    assert cli("trust", "add", str(ci_key[1]), "--role", "gate", "--name", "ci") == 0
    d1 = write_bundle(registered, b"night1" * 10, readme="# night1\n")
    assert cli("register", str(registered), "--name", "support-bot") == 0
    report = str(signed_report(tmp_path, ci_key[0], d1))
    assert cli("promote", "support-bot", "1", "--to", "production", "--gate-report", report) == 0
    other = move()
    staged = other.parent / ".tmp"
    write_bundle(staged, b"night2" * 10, readme="# night2\n")
    shutil.rmtree(other)
    staged.rename(other)
    capsys.readouterr()
    code = cli("register", str(other), "--name", "support-bot")
    return code, capsys.readouterr().err


def test_register_refuses_an_overwritten_folder_reached_by_another_path(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by re-attack: the project moved behind a parent symlink after registering,
    and the folder's stored path no longer read as the one registered: production's
    bytes were overwritten and register said nothing."""
    proj = tmp_path / "proj"

    def move() -> Path:
        (tmp_path / "bigdisk").mkdir()
        proj.rename(tmp_path / "bigdisk" / "proj")
        proj.symlink_to(tmp_path / "bigdisk" / "proj")
        return proj / "exports" / "bot"

    registered = proj / "exports" / "bot"
    code, err = _overwrite_then_register(tmp_path, ci_key, capsys, registered, move)
    assert code == 2, err
    assert "support-bot v1 (production)" in err and "overwritten" in err


def test_register_refuses_an_overwritten_folder_seen_through_a_bind_mount(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by re-attack: the same folder seen through a bind mount is the same folder."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    vol, view = tmp_path / "vol", tmp_path / "view"
    vol.mkdir()
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(vol), str(view)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount --bind failed: {mounted.stderr.decode(errors='replace').strip()}")
    try:

        def move() -> Path:
            return view / "bot"

        code, err = _overwrite_then_register(tmp_path, ci_key, capsys, vol / "bot", move)
    finally:
        subprocess.run(["umount", str(view)], check=False)
    assert code == 2, err
    assert "support-bot v1 (production)" in err and "overwritten" in err


def test_card_of_a_bundle_without_readme_is_an_input_error_and_a_card_ends_with_a_newline(
    tmp_path: Path, ci_key: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a bundle without README.md was "README.md is not covered by the
    # bundle's manifest" with exit 1, and the card printed or written had no final newline.
    db = str(tmp_path / "r.db")
    trust = ["trust", "add", str(ci_key[1]), "--role", "gate", "--name", "ci"]
    assert main(["registry", "--db", db, *trust]) == 0
    for label, readme in (("bare", None), ("carded", "# bot\n\nA model.")):
        digest = write_bundle(tmp_path / label, label.encode() * 16, readme=readme)
        report = signed_report(tmp_path, ci_key[0], digest)
        argv = ["register", str(tmp_path / label), "--name", label, "--gate-report", str(report)]
        assert main(["registry", "--db", db, *argv]) == 0
    capsys.readouterr()
    assert main(["registry", "--db", db, "card", "bare", "1"]) == 2
    err = capsys.readouterr().err
    assert "has no README.md" in err and "not covered" not in err
    assert main(["registry", "--db", db, "card", "carded", "1"]) == 0
    printed = capsys.readouterr().out
    assert (
        "Verdict: **pass**" in printed and printed.endswith("\n") and not printed.endswith("\n\n")
    )
    out = tmp_path / "card.md"
    assert main(["registry", "--db", db, "card", "carded", "1", "--out", str(out)]) == 0
    assert out.read_text() == printed


def test_a_rollback_refused_over_a_warn_never_waived_says_how_to_waive_it_here(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, ci_key: tuple[Path, Path]
) -> None:
    # Found by re-attack: the refusal said to waive the warn "again" (it never was), with a
    # command that fails as given in a registry with no approver ($CURAGATE_TOKEN missing).
    for label, version in (("a", 1), ("b", 2)):
        path, digest = bundle(label)
        reg.register(path, name="bot")
        report = signed_report(tmp_path, ci_key[0], digest)
        reg.promote("bot", version, to="production", gate_report=report)
    warn = signed_report(tmp_path, ci_key[0], reg.get("bot", 1).artifact_digest, "warn")
    reg.add_gate_report("bot", 1, warn)
    with pytest.raises(CheckFailed, match="no unexpired waiver") as e:
        reg.rollback("bot")
    why = str(e.value)
    assert "warn again" not in why
    assert "waiving needs an approver's token and this registry has none yet" in why
    assert "`curagate registry users add NAME --role approver`" in why
    assert "with their token in CURAGATE_TOKEN: `curagate registry waive bot 1" in why


def test_card_names_the_command_that_records_a_report_and_prints_no_library_warning(
    tmp_path: Path, ci_key: tuple[Path, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: a version with no report was told to "record one with `registry
    # register/promote --gate-report`" (no such command), and a README without front matter
    # printed huggingface_hub's "Repo card metadata block was not found" on stderr.
    import shlex

    from curagate.cli import build_parser

    db = str(tmp_path / "r.db")
    digest = write_bundle(tmp_path / "b", b"w" * 16, readme="# bot\n\nA model.")
    assert main(["registry", "--db", db, "register", str(tmp_path / "b"), "--name", "bot"]) == 0
    capfd.readouterr()
    assert main(["registry", "--db", db, "card", "bot", "1"]) == 2
    err = capfd.readouterr().err
    assert "`curagate registry report bot 1 --gate-report FILE`" in err, err
    build_parser("registry").parse_args(shlex.split("registry report bot 1 --gate-report FILE"))
    trust = ["trust", "add", str(ci_key[1]), "--role", "gate", "--name", "ci"]
    assert main(["registry", "--db", db, *trust]) == 0
    report = str(signed_report(tmp_path, ci_key[0], digest))
    assert main(["registry", "--db", db, "report", "bot", "1", "--gate-report", report]) == 0
    capfd.readouterr()
    assert main(["registry", "--db", db, "card", "bot", "1"]) == 0
    printed = capfd.readouterr()
    assert "Verdict: **pass**" in printed.out and printed.err == "", printed.err


def test_a_bundle_whose_export_key_was_revoked_names_what_can_ship_again(
    reg: Registry,
    bundle: MakeBundle,
    tmp_path: Path,
    ci_key: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by re-attack: every remedy said to re-export and sign the bundle with a trusted
    # key, but that copy is the same bytes (model.sig is not one of them), which register
    # refuses as already registered. Nothing re-signs a registered version (open): the
    # remedies say so and name what does ship.
    import shutil

    from curagate.signing import sign_bundle

    digest = register_signed(reg, bundle, ci_key)
    reg.promote("bot", 1, to="staging")
    reg.trust_revoke("ci", role="export", reason="leaked")
    new = keypair(tmp_path / "new-key")
    reg.trust_add(new[1], role="export", name="new")
    copy = tmp_path / "re-export"
    shutil.copytree(tmp_path / "bundles" / "a", copy)
    (copy / "model.sig").unlink()
    sign_bundle(copy, new[0])
    with pytest.raises(InputError, match="already registered as bot v1") as e:
        reg.register(copy, name="bot")
    assert "is revoked or unusable" in str(e.value)
    assert "nothing re-signs a registered version" in str(e.value)
    report = signed_report(tmp_path, ci_key[0], digest)
    with pytest.raises(CheckFailed, match="revoked") as f:
        reg.promote("bot", 1, to="production", gate_report=report)
    assert "new version whose files differ" in str(f.value)
    assert main(["registry", "--db", str(reg.path), "check", "--bundles"]) == 1
    err = capsys.readouterr().err
    assert "nothing re-signs a registered version" in err and "re-export signed" not in err
