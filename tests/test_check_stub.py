"""scripts/check_stub.py (run by scripts/lint.sh) holds _core.pyi to the built module:
the shipped stub passes and each kind of drift is reported, naming what drifted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_stub.py"
STUB = ROOT / "python" / "curagate" / "_core.pyi"


def _run(stub: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--stub", str(stub)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_shipped_stub_matches_the_module() -> None:
    done = _run(STUB)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("old", "new", "reported"),
    [
        # a renamed parameter
        (
            "def hash_column(\n    texts: ArrowText,",
            "def hash_column(\n    text: ArrowText,",
            "function hash_column: stub (text",
        ),
        # a changed default
        ("min_length: int = 24", "min_length: int = 25", "function pii_candidates"),
        # a method parameter that became keyword-only
        (
            "self, keys: ArrowText, priorities: ArrowFloat64, media",
            "self, keys: ArrowText, *, priorities: ArrowFloat64, media",
            "Deduper.add: stub",
        ),
        # a property the module has but the stub lost
        (
            "    @property\n    def methods(self) -> list[str]:",
            "    def methods(self) -> list[str]:",
            "Leak.methods: a property in the module",
        ),
        # a function the module does not have
        (
            "def normalize(",
            "def normalise(text: str) -> str: ...\ndef normalize(",
            "function normalise: in the stub, not in the module",
        ),
        # a class the module does not have
        (
            "class Sketch:",
            "class Sketched: ...\n\nclass Sketch:",
            "class Sketched: in the stub, not in the module",
        ),
        # an exception with the wrong base
        ("class SpillError(CoreError)", "class SpillError(Exception)", "exception SpillError"),
    ],
)
def test_a_planted_mismatch_fails_and_is_named(
    tmp_path: Path, old: str, new: str, reported: str
) -> None:
    text = STUB.read_text(encoding="utf-8")
    assert old in text, f"the stub changed; update this test's anchor {old!r}"
    planted = tmp_path / "_core.pyi"
    planted.write_text(text.replace(old, new, 1), encoding="utf-8")
    done = _run(planted)
    assert done.returncode == 1
    assert reported in done.stderr, done.stderr
