from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.errors import CheckFailed, ConfigError, InputError
from curagate.registry import SCHEMA_VERSION, Registry

from .registry_fixtures import write_bundle, write_gate_report

MakeBundle = Callable[[str], tuple[Path, str]]


@pytest.fixture
def bundle(tmp_path: Path) -> MakeBundle:
    def make(label: str) -> tuple[Path, str]:
        path = tmp_path / "bundles" / label
        return path, write_bundle(path, label.encode() * 16)

    return make


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "reg" / "registry.db") as registry:
        yield registry


def production_ready(reg: Registry, bundle: MakeBundle, tmp_path: Path, label: str) -> int:
    path, digest = bundle(label)
    mv = reg.register(path, name="bot", actor="ci", reason=f"register {label}")
    write_gate_report(tmp_path / f"gate-{label}.json", digest)
    reg.promote(
        "bot",
        mv.version,
        to="production",
        actor="ci",
        reason=f"ship {label}",
        gate_report=tmp_path / f"gate-{label}.json",
    )
    return mv.version


def test_new_database_uses_wal_and_current_schema_version(reg: Registry) -> None:
    with sqlite3.connect(reg.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reg.schema_version == SCHEMA_VERSION


def test_database_from_a_newer_curagate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    Registry(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer"):
        Registry(path)


def test_register_numbers_versions_per_name_and_logs_who_and_why(
    reg: Registry, bundle: MakeBundle
) -> None:
    v1 = reg.register(bundle("a")[0], name="bot", actor="alice", reason="first")
    v2 = reg.register(bundle("b")[0], name="bot", actor="bob", reason="second")
    assert (v1.version, v2.version, v2.stage) == (1, 2, "experiment")
    log = reg.transitions("bot")
    assert [(t.version, t.action, t.actor, t.reason) for t in log] == [
        (1, "register", "alice", "first"),
        (2, "register", "bob", "second"),
    ]
    assert log[0].at.endswith("Z")


def test_register_records_digest_and_lineage_from_manifest(
    reg: Registry, bundle: MakeBundle
) -> None:
    path, digest = bundle("a")
    mv = reg.register(path, name="bot")
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


def test_promotion_to_production_is_refused_without_a_gate_report(
    reg: Registry, bundle: MakeBundle
) -> None:
    reg.register(bundle("a")[0], name="bot")
    with pytest.raises(CheckFailed, match="needs a passing gate report"):
        reg.promote("bot", 1, to="production")
    assert reg.get("bot", 1).stage == "experiment"


def test_promotion_to_production_is_refused_with_a_failing_gate_report(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    report = write_gate_report(tmp_path / "gate.json", digest, verdict="fail")
    with pytest.raises(CheckFailed, match="recorded verdicts: fail"):
        reg.promote("bot", 1, to="production", gate_report=report)
    assert reg.production("bot") is None


def test_promotion_is_refused_when_the_gate_judged_another_artifact(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    path, _ = bundle("a")
    _, other_digest = bundle("b")
    reg.register(path, name="bot")
    report = write_gate_report(tmp_path / "gate.json", other_digest)
    with pytest.raises(CheckFailed, match="judged artifact"):
        reg.promote("bot", 1, to="production", gate_report=report)
    assert reg.get("bot", 1).stage == "experiment"


def test_promotion_is_refused_when_the_bundle_changed_after_registration(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot")
    (path / "config.json").write_text('{"model_type": "gpt2"}\n')
    report = write_gate_report(tmp_path / "gate.json", digest)
    with pytest.raises(CheckFailed, match=r"config\.json: sha256 differs"):
        reg.promote("bot", 1, to="production", gate_report=report)


def test_passing_gate_promotes_and_archives_the_replaced_version(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    production_ready(reg, bundle, tmp_path, "a")
    production_ready(reg, bundle, tmp_path, "b")
    assert [(v.version, v.stage) for v in reg.list_versions("bot")] == [
        (1, "archived"),
        (2, "production"),
    ]
    archive = [t for t in reg.transitions("bot") if t.action == "archive"]
    assert [(t.version, t.reason) for t in archive] == [(1, "replaced by v2: ship b")]


def test_gate_report_recorded_at_registration_backs_a_later_promotion(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    path, digest = bundle("a")
    reg.register(path, name="bot", gate_report=write_gate_report(tmp_path / "gate.json", digest))
    reg.promote("bot", 1, to="staging")
    reg.promote("bot", 1, to="production")
    promote = reg.transitions("bot", 1)[-1]
    assert (promote.to_stage, promote.gate_report_sha256 is not None) == ("production", True)


def test_promotion_only_moves_forward(reg: Registry, bundle: MakeBundle) -> None:
    reg.register(bundle("a")[0], name="bot")
    reg.promote("bot", 1, to="staging")
    with pytest.raises(InputError, match="only moves forward"):
        reg.promote("bot", 1, to="staging")


def test_rollback_restores_the_previous_production_version(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    production_ready(reg, bundle, tmp_path, "a")
    production_ready(reg, bundle, tmp_path, "b")
    restored = reg.rollback("bot", actor="oncall", reason="latency")
    assert (restored.version, restored.stage) == (1, "production")
    assert reg.get("bot", 2).stage == "archived"
    last = reg.transitions("bot")[-2:]
    assert [(t.version, t.action, t.to_stage, t.actor, t.reason) for t in last] == [
        (2, "rollback", "archived", "oncall", "latency"),
        (1, "rollback", "production", "oncall", "latency"),
    ]


def test_second_rollback_swaps_back(reg: Registry, bundle: MakeBundle, tmp_path: Path) -> None:
    production_ready(reg, bundle, tmp_path, "a")
    production_ready(reg, bundle, tmp_path, "b")
    reg.rollback("bot")
    assert reg.rollback("bot").version == 2


def test_rollback_without_an_earlier_production_version_is_an_error(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    production_ready(reg, bundle, tmp_path, "a")
    with pytest.raises(InputError, match="nothing to roll back to"):
        reg.rollback("bot")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE transitions SET reason = 'edited'",
        "DELETE FROM transitions",
        "UPDATE gate_reports SET verdict = 'pass'",
        "DELETE FROM gate_reports",
        "UPDATE model_versions SET artifact_digest = printf('%064d', 0)",
        "DELETE FROM model_versions",
    ],
)
def test_history_cannot_be_rewritten_even_with_plain_sql(
    reg: Registry, bundle: MakeBundle, tmp_path: Path, sql: str
) -> None:
    production_ready(reg, bundle, tmp_path, "a")
    with sqlite3.connect(reg.path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute(sql)


def test_two_production_versions_of_one_name_are_impossible(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    production_ready(reg, bundle, tmp_path, "a")
    reg.register(bundle("b")[0], name="bot")
    with sqlite3.connect(reg.path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE model_versions SET stage = 'production' WHERE version = 2")


def test_cli_refuses_promotion_without_gate_with_exit_1(
    bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.db")
    assert main(["registry", "--db", db, "register", str(bundle("a")[0]), "--name", "bot"]) == 0
    assert main(["registry", "--db", db, "promote", "bot", "1", "--to", "production"]) == 1
    assert "needs a passing gate report" in capsys.readouterr().err


def test_cli_promote_then_list_and_show(
    bundle: MakeBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.db")
    path, digest = bundle("a")
    report = write_gate_report(tmp_path / "gate.json", digest)
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
    assert "production" in out and digest[:12] in out and "by alice" in out


def test_cli_list_on_a_missing_database_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "--db", str(tmp_path / "none.db"), "list"]) == 2
    assert "no registry database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_registry_location_comes_from_the_environment(
    bundle: MakeBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURAGATE_REGISTRY", str(tmp_path / "env.db"))
    assert main(["registry", "register", str(bundle("a")[0]), "--name", "bot"]) == 0
    assert (tmp_path / "env.db").is_file()


def test_a_gate_report_carrying_the_gates_directory_digest_backs_promotion(
    reg: Registry, bundle: MakeBundle, tmp_path: Path
) -> None:
    gate_models = pytest.importorskip("curagate.gate.models")
    path, _ = bundle("a")
    gate_digest = gate_models.digest(gate_models.hash_dir(path))
    reg.register(path, name="bot")
    report = write_gate_report(tmp_path / "gate.json", gate_digest)
    assert reg.promote("bot", 1, to="production", gate_report=report).stage == "production"


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
