"""Disk size of each curagate extra, measured on an installed virtualenv.

For every extra in pyproject.toml, the dependency closure is resolved from the
metadata of the distributions installed in this environment (the versions pip
picked), and the files each one installed (its RECORD) are summed. Run it with
the venv's Python after ``scripts/setup.sh``:

    .venv/bin/python scripts/venv_sizes.py           # a Markdown table
    .venv/bin/python scripts/venv_sizes.py --json

It also lists any distribution in an extra's closure that compiles C/C++ on
install when no wheel fits (only the optional ``gguf-verify`` extra, llama-cpp-python;
it is in no other extra, see pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Distributions that build native code from source when pip finds no wheel for them.
BUILDS_CPP = {"llama-cpp-python"}
# The one extra allowed to pull them: GGUF verification with llama.cpp, kept out of `all`
# and installed by scripts/setup.sh as a separate step.
OPTIONAL_CPP_EXTRAS = {"gguf-verify"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> dict[str, metadata.Distribution]:
    return {_norm(d.metadata["Name"]): d for d in metadata.distributions()}


def closure(requirements: list[str], installed: dict[str, metadata.Distribution]) -> set[str]:
    """Every installed distribution the requirements pull in, transitively."""
    env = default_environment()
    todo = [(Requirement(r), "") for r in requirements]
    seen: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = _norm(req.name)
        if name in seen or name not in installed:
            continue
        seen.add(name)
        for sub in installed[name].requires or []:
            sub_req = Requirement(sub)
            for wanted in [*req.extras, ""]:
                todo.append((sub_req, wanted))
    return seen


def size(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        p = Path(str(dist.locate_file(f)))
        if p.is_file():
            total += p.stat().st_size
    return total


def extras_table() -> dict[str, dict[str, object]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = _installed()
    core = list(project["dependencies"])
    rows: dict[str, dict[str, object]] = {}
    groups = {"core (check, curate, leakage, split)": core}
    for extra, reqs in project["optional-dependencies"].items():
        groups[extra] = core + list(reqs)
    for label, reqs in groups.items():
        names = closure(reqs, installed)
        missing = sorted({_norm(Requirement(r).name) for r in reqs} - set(installed))
        rows[label] = {
            "distributions": len(names),
            "bytes": sum(size(installed[n]) for n in names),
            "builds_cpp": sorted(names & BUILDS_CPP),
            "missing": missing,
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = extras_table()
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    print("| install | distributions | size on disk |")
    print("|---|---|---|")
    for label, row in rows.items():
        mb = int(row["bytes"]) / 1e6  # type: ignore[call-overload]
        note = f" (not installed here: {', '.join(row['missing'])})" if row["missing"] else ""  # type: ignore[arg-type]
        print(f"| `{label}` | {row['distributions']} | {mb:,.0f} MB{note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
