"""Model names that curagate 0.1 (schema 1) registered and today's name rule refuses
("my model", "team/bot", "модель"): `registry migrate` keeps them, and every command and
page that looks a model up reaches them; only new names are held to today's rule. A name
that is not one line of plain text could forge lines of `registry list`: the migration
refuses it and changes nothing."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from curagate.cli import main
from curagate.registry import Registry
from curagate.registry.chain import canonical
from curagate.serve.app import create_app

from .registry_fixtures import write_bundle, write_v1_registry

LINEAGE = canonical({"adapter_sha256": "a" * 64, "run": "runs/demo"})  # write_bundle's
LEGACY = ["my model", "team/bot", "модель"]


def registry(db: Path, *args: str) -> int:
    return main(["registry", "--db", str(db), *args])


def migrated(tmp_path: Path, names: list[str]) -> Path:
    db = tmp_path / "old.db"
    versions = []
    for i, name in enumerate(names):
        digest = write_bundle(tmp_path / f"b{i}", f"weights {i}".encode())
        versions.append((name, digest, tmp_path / f"b{i}", LINEAGE, "production"))
    write_v1_registry(db, versions)
    return db


def test_legacy_names_are_migrated_shown_moved_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated(tmp_path, LEGACY)
    assert registry(db, "migrate") == 0  # was exit 2 after migrating, on the first name
    out = capsys.readouterr().out
    for name in LEGACY:
        assert f"{name} v1 is in production on unsigned (schema 1) history" in out
        assert registry(db, "show", name, "1") == 0
        assert f"{name} v1  [production]" in capsys.readouterr().out
        assert registry(db, "list", name) == 0
        assert registry(db, "promote", name, "1", "--to", "archived", "--reason", "retired") == 0
        assert f"{name} v1 is now in archived" in capsys.readouterr().out
    with Registry(db) as reg:
        assert {v.name: v.stage for v in reg.list_versions()} == dict.fromkeys(LEGACY, "archived")
        assert [r.action for r in reg.log("team/bot", 1)][-1] == "archive"
        assert reg.promotion_requests("модель") == [] and reg.waivers("my model") == []
    assert registry(db, "check") == 0


def test_a_new_version_of_a_legacy_name_is_held_to_todays_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = migrated(tmp_path, ["my model"])
    assert registry(db, "migrate") == 0
    write_bundle(tmp_path / "new", b"new weights")
    capsys.readouterr()
    assert registry(db, "register", "--name", "my model", str(tmp_path / "new")) == 2
    assert "model name 'my model': use 1-128 characters" in capsys.readouterr().err
    # a name that was never registered is still told the rule, not "not found"
    assert registry(db, "show", " spaced ", "1") == 2
    assert "model name ' spaced ': use 1-128 characters" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bot\nbot2  1  production", "bot\u202egnp", "bot\x00"])
def test_a_legacy_name_that_is_not_one_line_of_plain_text_is_refused_before_migrating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    db = migrated(tmp_path, ["ok", name])
    capsys.readouterr()
    assert registry(db, "migrate") == 2
    err = capsys.readouterr().err
    assert "schema-1 table model_versions row 2: model name" in err
    assert "contains control or formatting character" in err
    assert "rename the model in the schema-1 database first" in err
    assert "nothing was migrated" in err
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA user_version").fetchone() == (1,)
    assert c.execute("SELECT count(*) FROM model_versions").fetchone() == (2,)
    c.close()


@pytest.mark.parametrize("length", [129, 200, 1024])
def test_a_legacy_name_longer_than_a_registry_name_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], length: int
) -> None:
    # Found by attack: the pre-check let schema-1 names of up to 1024 characters through,
    # and the schema-2 table's CHECK (length(name) BETWEEN 1 AND 128) then failed the
    # insert: "not a usable SQLite database (CHECK constraint failed ...)", naming no model.
    name = "m" * length
    db = migrated(tmp_path, ["ok", name])
    capsys.readouterr()
    assert registry(db, "migrate") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "SQLite" not in err
    assert f"schema-1 table model_versions row 2: model name {name[:80]!r} is " in err
    assert f"is {length:,} characters long, more than the 128 a registry name may have" in err
    assert "rename the model in the schema-1 database first" in err
    assert "nothing was migrated" in err
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA user_version").fetchone() == (1,)
    assert c.execute("SELECT count(*) FROM model_versions").fetchone() == (2,)
    c.close()


def test_a_legacy_name_of_128_characters_is_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The limit counts characters, as SQLite's length() does: 128 Cyrillic letters (256
    # bytes) are kept and looked up.
    name = "я" * 128
    db = migrated(tmp_path, [name])
    assert registry(db, "migrate") == 0
    assert registry(db, "show", name, "1") == 0
    assert f"{name} v1  [production]" in capsys.readouterr().out


def test_the_service_reaches_legacy_names(tmp_path: Path) -> None:
    db = migrated(tmp_path, LEGACY)
    assert registry(db, "migrate") == 0
    with Registry(db) as reg:
        token = reg.user_add("vera", role="viewer", actor="owner")[1]
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        for name in LEGACY:
            r = client.get(f"/api/v1/models/{quote(name, safe='')}/versions/1", headers=auth)
            assert r.status_code == 200, r.text
            assert (r.json()["name"], r.json()["stage"]) == (name, "production")
        nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert nonce is not None
        client.post("/login", data={"token": token, "csrf": nonce.group(1)})
        index = client.get("/").text
        for name in LEGACY:  # the index links each version's page, and the page opens
            url = f"/models/{quote(name, safe='')}/versions/1"
            assert f'href="{url}"' in index
            page = client.get(url)
            assert page.status_code == 200 and f"{html.escape(name)} v1" in page.text
