"""Every `curagate registry ACTION` a message or doc names is a command that exists. Found
by re-attack: the rollback conflicts and `check`'s row-times failure told users to run
`curagate registry log`, which exits 2 (invalid choice)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import curagate
from curagate.cli import main

ROOT = Path(curagate.__file__).parent


def named_actions() -> set[str]:
    found = set()
    for path in ROOT.rglob("*.py"):
        # String literals split over lines joined again ("see `curagate "  "registry log`").
        text = re.sub(r"([\"'])\s*\n\s*[rfb]*\1", "", path.read_text())
        found.update(re.findall(r"curagate registry ([a-z]+)", text))
    return found


@pytest.mark.parametrize("action", sorted(named_actions()))
def test_a_registry_action_named_in_a_message_exists(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["registry", action, "--help"])
    assert exited.value.code == 0, capsys.readouterr().err
