"""A version's lineage is its bundle's MANIFEST.json: the page and the API say whether a
trusted export key's signature covers it. Found by attack: an unsigned bundle whose
hand-written lineage said `gate_report: {verified: true, verdict: pass, signed_by: ...}`,
of a version whose only report is a signed fail, had its claims printed under "Lineage" as
they were, with no word that nothing checked them; the API passed them on the same way."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from curagate.artifacts import BundleManifest
from curagate.digest import artifact_digest
from curagate.export.manifest import MANIFEST_NAME, hash_bundle_files, manifest_bytes
from curagate.registry import Registry
from curagate.serve.app import create_app
from curagate.signing import sign_bundle
from tests.registry.registry_fixtures import keypair, write_gate_report

from .serve_fixtures import log_in

# What the attacker wrote in the unsigned bundle's MANIFEST.json.
CLAIMS = {
    "run": {"path": "runs/support-bot", "signed_by": "b7de" + "0" * 60, "verified": True},
    "gate_report": {
        "verified": True,
        "verdict": "pass",
        "signed_by": "10c3cb6f626b" + "0" * 52,
        "sha256": "f" * 64,
        "claimed_verdict": "pass",
        "not_verified": None,
    },
}


def bundle(path: Path, weights: bytes) -> Path:
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(weights)
    (path / "config.json").write_text('{"model_type": "llama"}\n')
    manifest = BundleManifest(schema_version=1, files=hash_bundle_files(path), lineage=CLAIMS)
    (path / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    return path


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """bot v1: unsigned, its lineage the claims above, one signed fail report; bot v2: the
    same lineage, signed by the export key "ci". Tokens of vera (viewer) and carol (admin)."""
    gate_private, gate_public = keypair(tmp_path / "gate")
    export_private, export_public = keypair(tmp_path / "export")
    db = tmp_path / "reg" / "registry.db"
    with Registry(db) as reg:
        reg.trust_add(gate_public, role="gate", name="ci", actor="owner")
        reg.trust_add(export_public, role="export", name="ci", actor="owner")
        b1 = bundle(tmp_path / "b1", b"x" * 64)
        fail = write_gate_report(tmp_path / "g1", artifact_digest(b1), "fail", gate_private)
        reg.register(b1, name="bot", gate_report=fail, actor="ci")
        b2 = bundle(tmp_path / "b2", b"y" * 64)
        sign_bundle(b2, export_private)
        mv, _ = reg.register(b2, name="bot", actor="ci")
        assert mv.signed_by is not None
        tokens = {
            u: reg.user_add(u, role=role, actor="owner")[1]
            for u, role in (("vera", "viewer"), ("carol", "admin"))
        }
    return db, tokens


@pytest.fixture
def client(world: tuple[Path, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(world[0]), raise_server_exceptions=False) as c:
        yield c


def lineage_section(page: str) -> str:
    """The page's Lineage heading, note and table, as text."""
    start = page.index("<h2>Lineage")
    end = page.index("</table>", start)
    text = re.sub(r"<[^>]+>", " ", page[start:end])
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def test_an_unsigned_bundles_lineage_is_shown_as_its_unverified_claims(
    client: TestClient, world: tuple[Path, dict[str, str]]
) -> None:
    _, tokens = world
    log_in(client, tokens["vera"])
    page = client.get("/models/bot/versions/1").text
    assert re.search(r'id="verdict">\s*fail', page)  # the registry's verdict, on top
    section = lineage_section(page)
    assert section.startswith("Lineage: the bundle's unverified claims")
    assert 'id="lineage-unverified"' in page
    assert "Not verified : the bundle is unsigned" in section
    # Each claim is labelled as one; its "verified": true is never shown on its own word.
    assert section.count("(claimed, unverified)") == len(CLAIMS)
    for key in CLAIMS:
        assert f"{key} (claimed, unverified)" in section

    auth = {"Authorization": f"Bearer {tokens['vera']}"}
    doc = client.get("/api/v1/models/bot/versions/1", headers=auth).json()
    assert doc["lineage"] == CLAIMS  # as the bundle says, and said to be no more than that
    assert doc["lineage_verified"] is False
    assert doc["lineage_note"].startswith("the bundle is unsigned")


def test_a_signed_bundles_lineage_is_verified_until_its_export_key_is_revoked(
    client: TestClient, world: tuple[Path, dict[str, str]]
) -> None:
    db, tokens = world
    log_in(client, tokens["vera"])
    auth = {"Authorization": f"Bearer {tokens['vera']}"}
    page = client.get("/models/bot/versions/2").text
    assert lineage_section(page).startswith("Lineage gate_report {")
    assert "unverified" not in lineage_section(page) and "lineage-unverified" not in page
    doc = client.get("/api/v1/models/bot/versions/2", headers=auth).json()
    assert (doc["lineage_verified"], doc["lineage_note"]) == (True, None)

    with Registry(db) as reg:
        carol = reg.authenticate(tokens["carol"])
        assert carol is not None
        reg.trust_revoke("ci", role="export", actor=carol, reason="leaked")
    page = client.get("/models/bot/versions/2").text
    section = lineage_section(page)
    assert section.startswith("Lineage: the bundle's unverified claims")
    assert "is not a trusted, unrevoked, usable (P-256) export key today" in section
    doc = client.get("/api/v1/models/bot/versions/2", headers=auth).json()
    assert doc["lineage_verified"] is False
    assert "is not a trusted, unrevoked, usable (P-256) export key today" in doc["lineage_note"]
