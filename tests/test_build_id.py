"""The build id a Ray worker must share with the driver (curagate.build): what it covers
(the Python, the libraries whose bytes reach outputs, the files Python and the loader
run), what it does not (editor and OS junk), and a refusal that names the part that
differs. Unit level: the cluster tests are in tests/ray."""

from __future__ import annotations

import importlib.metadata
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import curagate.build as build
from curagate.digest import package_digest

PACKAGE = Path(build.__file__).resolve().parent


@pytest.fixture
def fresh_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(build, "_BUILD", None)
    yield


def test_another_pyarrow_or_python_is_another_build(
    fresh_build: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node with another pyarrow (its version is in every Parquet footer) or another
    # Python minor (other Unicode tables) passed the check: other bytes, exit 0.
    here = build.build_id()
    assert "python=" in here and "pyarrow=" in here, here
    real = importlib.metadata.version

    def other(name: str) -> str:
        return "1.0.0" if name == "pyarrow" else real(name)

    monkeypatch.setattr(build, "_BUILD", None)
    monkeypatch.setattr(importlib.metadata, "version", other)
    there = build.build_id()
    assert there != here
    err = str(build.mismatch("node 10.0.0.2", there, here))
    assert "pyarrow 1.0.0 there" in err and "files" not in err, err


def test_the_python_minor_is_part_of_the_build(fresh_build: None) -> None:
    import sys

    parts = build.build_parts()
    assert (
        parts["python"] == f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}"
    )
    for lib in build.LIBRARIES:
        assert lib in parts


def test_editor_and_os_junk_do_not_change_the_files_digest(tmp_path: Path) -> None:
    copy = tmp_path / "curagate"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = package_digest(copy)
    (copy / ".DS_Store").write_bytes(b"\0junk")
    (copy / "pipeline" / "write.py~").write_text("old", encoding="utf-8")
    (copy / "pipeline" / ".write.py.swp").write_bytes(b"swap")
    (copy / "pipeline" / "write.py.orig").write_text("old", encoding="utf-8")
    assert package_digest(copy) == before
    # What runs, or what the code reads, does.
    (copy / "gate" / "report_schema.json").write_text("{}", encoding="utf-8")
    assert package_digest(copy) != before


def test_every_file_the_package_ships_is_in_the_digest_or_known_not_to_run() -> None:
    # A new kind of data file the code reads must be added to PACKAGE_SUFFIXES (else a
    # node with another copy of it passes as the same build).
    from curagate.digest import package_file

    left_out = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not package_file(p.relative_to(PACKAGE))
    }
    assert left_out <= {"_core.pyi", "py.typed"}, sorted(left_out)
    assert any(package_file(p.relative_to(PACKAGE)) for p in PACKAGE.glob("_core*"))


def test_a_build_from_before_the_parts_is_named_whole() -> None:
    err = str(build.mismatch("node 10.0.0.2", "0.1.0+b6c9696d11002696", "curagate=0.1.0 files=ab"))
    assert "0.1.0+b6c9696d11002696 there" in err, err


def _ipv6_gcs() -> tuple[socket.socket, int]:
    try:
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        server.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # an HTTP/2 SETTINGS frame

    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


def test_a_bracketed_ipv6_address_is_accepted() -> None:
    # Ray connects to [::1]:PORT (and writes IPv6 nodes so); the pre-check refused it,
    # "nothing answers there (Name or service not known)".
    from curagate.executors.ray import check_address

    server, port = _ipv6_gcs()
    with server:
        check_address(f"[::1]:{port}")


def test_a_malformed_address_says_which_forms_are_accepted() -> None:
    from curagate.errors import InputError
    from curagate.executors.ray import check_address

    with pytest.raises(InputError, match=r"IPv6 one in brackets, \[::1\]:6379"):
        check_address("[::1]")
