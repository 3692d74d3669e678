"""Start-up: what each entry point imports, and the public API behind the lazy package.

Each case runs a fresh interpreter and reads its ``sys.modules``: the heavy
packages made lazy (docs/architecture.md, "Start-up") must not be loaded by
importing ``curagate``, ``curagate.curate`` or ``curagate.check``, or by
``curagate --help``; a whole ``curagate check`` loads neither pandas nor
numpy, nor pydantic without a config file, nor ``pyarrow.compute`` on records
of the common shapes (the import budget of issue #13, pinned by what is
loaded rather than by timings).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter per test (~13 s in all)

ROOT = Path(__file__).resolve().parents[1]

# Loaded on first use only, on every hot path.
LAZY = ("pyarrow", "pyarrow.compute", "pyarrow.parquet", "yaml", "importlib.metadata", "pydantic")
# Never needed to start: the training, export and report stacks.
NEVER = ("pandas", "numpy", "torch", "transformers", "jinja2", "polars")


def _python(
    code: str,
    cwd: Path | None = None,
    *,
    without: Iterable[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter on this checkout, the variables in ``without``
    taken out of its environment and those of ``env`` put in."""
    drop = set(without)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            **{k: v for k, v in os.environ.items() if k not in drop},
            "PYTHONPATH": str(ROOT / "python"),
            **(env or {}),
        },
        check=False,
        timeout=120,
    )


def _modules(
    code: str, cwd: Path | None = None
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run ``code`` in a fresh interpreter; the modules loaded when it ends, and the run."""
    probe = (
        "import sys, json\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "finally:\n"
        "    sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
    )
    done = _python(probe, cwd)
    marker = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, done.stderr
    return set(json.loads(marker[-1].removeprefix("MODULES "))), done


@pytest.mark.parametrize("module", ["curagate", "curagate.curate", "curagate.check"])
def test_import_loads_no_heavy_module(module: str) -> None:
    loaded, done = _modules(f"import {module}")
    assert done.returncode == 0, done.stderr
    assert module in loaded
    assert not loaded & {*LAZY, *NEVER}, sorted(loaded & {*LAZY, *NEVER})


@pytest.mark.parametrize("module", ["curagate.curate", "curagate.check"])
def test_import_loads_no_config_model_or_rule_registry(module: str) -> None:
    # pydantic's models (configs, artifacts, pipeline steps) and the audit's rule
    # registry (every rule module) load when a run needs them, not on import.
    loaded, done = _modules(f"import {module}")
    assert done.returncode == 0, done.stderr
    deferred = {
        "curagate.config",
        "curagate.artifacts",
        "curagate.pipeline",
        "curagate.split",
        "curagate.audit.config",
        "curagate.audit.rules",
    }
    if module == "curagate.curate":  # the readers and writers load when it runs
        deferred |= {"curagate.io", "zstandard", "curagate._core"}
    assert not loaded & deferred, sorted(loaded & deferred)


def test_import_curagate_loads_only_the_lazy_helper() -> None:
    loaded, _ = _modules("import curagate")
    ours = {m for m in loaded if m.startswith("curagate.")}
    assert ours <= {"curagate._lazy"}, sorted(ours)
    assert "pydantic" not in loaded


def test_help_imports_no_command_and_lists_every_command() -> None:
    loaded, done = _modules(
        "from curagate.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code"
    )
    assert done.returncode == 0, done.stderr
    from curagate.cli import COMMANDS

    for name, (_, help_text) in COMMANDS.items():
        assert f"{name}  " in done.stdout and help_text in done.stdout, name
    assert not {m for m in loaded if m.startswith("curagate.commands.")}
    assert not loaded & {*LAZY, *NEVER}, sorted(loaded & {*LAZY, *NEVER})


def test_command_help_imports_that_command_only() -> None:
    loaded, done = _modules(
        "from curagate.cli import main\ntry:\n    main(['check', '--help'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code"
    )
    assert done.returncode == 0, done.stderr
    assert "--max-findings" in done.stdout  # the command's own arguments
    assert "Fast check for pre-commit and CI" in done.stdout  # its module docstring
    assert {m for m in loaded if m.startswith("curagate.commands.")} == {"curagate.commands.check"}


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        expected = version("curagate")
    except PackageNotFoundError:
        expected = "0.0.0+unknown"
    done = subprocess.run(
        [sys.executable, "-m", "curagate", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"curagate {expected}\n")
    import curagate

    assert curagate.__version__ == expected


def _as_cli(*words: str) -> str:
    """Code that runs curagate as its console script does (``main()`` reading sys.argv)."""
    return f"from curagate.cli import main\nsys.argv = {['curagate', *words]!r}\nsys.exit(main())"


def test_check_runs_without_loading_pandas(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    rows = [{"prompt": "p1", "completion": "c1"}, {"prompt": "P1!", "completion": "c1"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loaded, done = _modules(_as_cli("check", "d.jsonl", "--no-golden"), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("d.jsonl:2: DUP001 exact duplicate of d.jsonl:1")
    assert "pyarrow" in loaded and "pandas" not in loaded
    assert not {m for m in loaded if m.startswith("curagate.commands.")} - {
        "curagate.commands.check"
    }


# What `curagate check` never loads: numpy and cloudpickle (pyarrow runs as without
# them), pydantic (no config file: the defaults need no model), pyarrow.compute
# (the readers call its kernels through curagate._kernels).
CHECK_NEVER = ("numpy", "cloudpickle", "pandas", "pydantic", "pyarrow.compute", "yaml")


def _check_data(tmp_path: Path) -> None:
    """Files of the common shapes, each with duplicates and rows the reader quarantines."""
    rows: list[object] = [
        {"prompt": "p1", "completion": "c1"},
        {"prompt": "P1!", "completion": "c1"},
        {"prompt": " ", "completion": "c2"},
        {"prompt": None, "completion": "c3"},
        {"completion": "c4"},
    ]
    chat: list[object] = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "yo"}]},
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "k"}]},
        {"messages": []},
    ]
    for name, records in (("pc.jsonl", rows), ("chat.jsonl", chat)):
        text = "".join(json.dumps(r) + "\n" for r in records) + "not json\n"
        (tmp_path / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("golden", [False, True], ids=["no-golden", "golden-sets"])
@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_check_loads_no_numpy_pydantic_or_pyarrow_compute(
    tmp_path: Path, fmt: str, golden: bool
) -> None:
    # With ./golden_sets (the hook's default case) the zero-width-space pass of the leakage
    # scan imported pyarrow.compute (~30 ms).
    _check_data(tmp_path)
    item = "the secret capital of the hidden northern kingdom of zembla is a walled city"
    if golden:
        (tmp_path / "golden_sets" / "g").mkdir(parents=True)
        (tmp_path / "golden_sets" / "g" / "items.jsonl").write_text(
            json.dumps({"id": "g1", "prompt": item, "reference": "x"}) + "\n"
        )
        with (tmp_path / "pc.jsonl").open("a") as f:
            f.write(json.dumps({"prompt": f"Say: {item}", "completion": "ok"}) + "\n")
    flags = [] if golden else ["--no-golden"]
    loaded, done = _modules(
        _as_cli("check", "pc.jsonl", "chat.jsonl", *flags, "--format", fmt), cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    words = ("pc.jsonl", "chat.jsonl", "DUP001", "FMT001", "FMT003", "FMT005")
    for word in (*words, "LEAK001") if golden else words:
        assert word in done.stdout, word
    assert "pyarrow" in loaded
    assert not loaded & set(CHECK_NEVER), sorted(loaded & set(CHECK_NEVER))


def test_check_with_a_config_file_validates_it_with_pydantic(tmp_path: Path) -> None:
    _check_data(tmp_path)
    (tmp_path / "audit.yaml").write_text("rules:\n  DUP001: {severity: off}\n", encoding="utf-8")
    loaded, done = _modules(
        _as_cli("check", "pc.jsonl", "--no-golden", "--config", "audit.yaml"), cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    assert "DUP001" not in done.stdout and "pc.jsonl:3: FMT005" in done.stdout
    assert {"pydantic", "yaml"} <= loaded
    assert not loaded & {"numpy", "pandas"}, sorted(loaded & {"numpy", "pandas"})


def test_numpy_still_imports_after_check_settled_pyarrow() -> None:
    _, done = _modules(
        "from curagate._lazy import pyarrow_without_numpy\n"
        "pyarrow_without_numpy()\n"
        "import pyarrow as pa\n"
        "assert 'numpy' not in sys.modules\n"
        "assert pa.array(['a', None]).is_null().to_pylist() == [False, True]\n"
        "import numpy\n"
        "assert numpy.arange(3).tolist() == [0, 1, 2]"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "words",
    [
        ("curate", "d.jsonl", "--out", "out"),
        ("audit", "d.jsonl", "--out", "audit"),
        ("split", "d.jsonl", "--out", "splits"),
    ],
)
def test_data_commands_run_without_loading_pandas(tmp_path: Path, words: tuple[str, ...]) -> None:
    rows = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(40)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loaded, done = _modules(_as_cli(*words), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pyarrow" in loaded and "pandas" not in loaded


def test_curate_cli_loads_only_the_steps_it_runs(tmp_path: Path) -> None:
    # Without --split, --decontaminate or a config file, the split, the leakage scanner
    # and yaml stay unloaded (~30 ms of every run's start-up); asked for, they load.
    rows = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(40)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "golden.jsonl").write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("near: {threshold: 0.8}\n", encoding="utf-8")
    steps = ("curagate.split", "curagate.leakage", "yaml")
    loaded, done = _modules(_as_cli("curate", "d.jsonl", "--out", "plain"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain" / "manifest.json").is_file()
    assert not loaded & set(steps)
    asked = ("--split", "--decontaminate", "golden.jsonl", "--config", "c.yaml")
    loaded, done = _modules(_as_cli("curate", "d.jsonl", "--out", "all", *asked), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(steps) <= loaded


def test_curate_cli_skips_pydantics_plugin_lookup(tmp_path: Path) -> None:
    # pydantic reads the entry points of every installed distribution, looking for
    # plugins, the first time a model validates; the CLI turns that lookup off. A host
    # program calling main(argv) keeps it (and shows that the probe sees the lookup).
    (tmp_path / "d.jsonl").write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    probe = (
        "import sys\n"
        "READ = []\n"
        "def _hook(event, args):\n"
        "    if event == 'open' and str(args[0]).endswith('entry_points.txt'):\n"
        "        READ.append(args[0])\n"
        "sys.addaudithook(_hook)\n"
        "from curagate.cli import main\n"
        "try:\n"
        "    {call}\n"
        "finally:\n"
        "    print(len(READ))\n"
    )
    cli = "sys.argv = ['curagate', 'curate', 'd.jsonl', '--out', 'cli']; main()"
    host = "main(['curate', 'd.jsonl', '--out', 'host'])"
    entry_points_read = {}
    for name, call in (("cli", cli), ("host", host)):
        done = _python(probe.format(call=call), tmp_path, without=["PYDANTIC_DISABLE_PLUGINS"])
        assert (tmp_path / name / "manifest.json").is_file(), done.stderr
        entry_points_read[name] = int(done.stdout.strip().splitlines()[-1])
    assert entry_points_read["cli"] == 0 < entry_points_read["host"]


def _curate_data(tmp_path: Path) -> list[str]:
    """Inputs of several shapes with duplicates, bad rows and a leaked golden item;
    the config runs every step that can run without the `embed` extra."""
    rows: list[object] = [
        {"prompt": f"question {i % 30} about topic {i % 7}", "completion": f"answer {i % 30}"}
        for i in range(60)
    ]
    rows += [{"prompt": "What is the capital of France and why?", "completion": "Paris."}]
    rows += [{"prompt": None, "completion": "c"}, {"completion": "no prompt"}]
    chat = [
        {
            "messages": [
                {"role": "user", "content": f"hi {i % 5}"},
                {"role": "assistant", "content": "yo"},
            ]
        }
        for i in range(20)
    ]
    for name, records in (("pc.jsonl", rows), ("chat.jsonl", chat)):
        text = "".join(json.dumps(r) + "\n" for r in records) + "not json\n"
        (tmp_path / name).write_text(text, encoding="utf-8")
    golden = {"prompt": "What is the capital of France and why?", "completion": "Paris."}
    (tmp_path / "golden.jsonl").write_text(json.dumps(golden) + "\n", encoding="utf-8")
    (tmp_path / "curate.yaml").write_text(
        "keep: {policy: longest}\nfilters: [{length: {min_chars: 5}}]\n", encoding="utf-8"
    )
    return ["--config", "curate.yaml", "--decontaminate", "golden.jsonl", "--split"]


@pytest.mark.parametrize("inputs", [("pc.jsonl",), ("chat.jsonl",)])
def test_curate_cli_runs_without_numpy_and_writes_what_the_library_writes(
    tmp_path: Path, inputs: tuple[str, ...]
) -> None:
    # The CLI settles pyarrow without numpy once the config says no step needs it;
    # every output file is then the same bytes as a host program's run, numpy loaded.
    cli, lib = tmp_path / "cli", tmp_path / "lib"  # the same files, read from two folders
    cli.mkdir()
    options = _curate_data(cli)
    shutil.copytree(cli, lib)
    loaded, done = _modules(_as_cli("curate", *inputs, "--out", "out", *options), cwd=cli)
    assert done.returncode == 0, done.stderr
    assert "pyarrow" in loaded and not loaded & {"numpy", "pandas"}, loaded & {"numpy", "pandas"}
    loaded, done = _modules(
        "import numpy\nfrom curagate.cli import main\n"
        f"sys.exit(main({['curate', *inputs, '--out', 'out', *options]!r}))",
        cwd=lib,
    )
    assert done.returncode == 0, done.stderr
    assert "numpy" in loaded
    files = sorted(p.relative_to(cli / "out") for p in (cli / "out").rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(lib / "out") for p in (lib / "out").rglob("*") if p.is_file()
    )
    assert any(f.parts[0] == "splits" for f in files)
    for f in files:
        assert (cli / "out" / f).read_bytes() == (lib / "out" / f).read_bytes(), f
    stats = json.loads((cli / "out" / "stats.json").read_text(encoding="utf-8"))
    assert stats["totals"]["quarantined"] >= 1 and stats["totals"]["removed"]


def test_audit_cli_runs_without_numpy_and_writes_what_the_library_writes(tmp_path: Path) -> None:
    cli, lib = tmp_path / "cli", tmp_path / "lib"
    cli.mkdir()
    _curate_data(cli)
    (cli / "audit.yaml").write_text("sample: {n: 5}\nmax_row_refs: 4\n", encoding="utf-8")
    shutil.copytree(cli, lib)
    words = ["audit", "pc.jsonl", "chat.jsonl", "--config", "audit.yaml", "--out", "out"]
    loaded, done = _modules(_as_cli(*words), cwd=cli)
    assert "pyarrow" in loaded and not loaded & {"numpy", "pandas"}, loaded & {"numpy", "pandas"}
    loaded, again = _modules(
        f"import numpy\nfrom curagate.cli import main\nsys.exit(main({words!r}))", cwd=lib
    )
    assert "numpy" in loaded
    assert (done.returncode, done.stdout) == (again.returncode, again.stdout), done.stderr
    files = sorted(p.relative_to(cli / "out") for p in (cli / "out").rglob("*") if p.is_file())
    assert files and files == sorted(
        p.relative_to(lib / "out") for p in (lib / "out").rglob("*") if p.is_file()
    )
    for f in files:
        assert (cli / "out" / f).read_bytes() == (lib / "out" / f).read_bytes(), f


def test_curate_cli_with_the_semantic_step_keeps_numpy_for_it(tmp_path: Path) -> None:
    # The semantic step hands embeddings to numpy: its run settles pandas only. (Without
    # the `embed` extra's model the run stops with a usage error; numpy is loaded first.)
    (tmp_path / "d.jsonl").write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    code = _as_cli("curate", "d.jsonl", "--out", "o", "--semantic", "--embed-model", "nowhere")
    code = code.replace(
        "sys.exit(main())",
        "main()\nimport pyarrow as pa\nassert pa.array([1.5]).to_numpy().tolist() == [1.5]",
    )
    loaded, done = _modules(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pandas" not in loaded


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas not installed")
def test_main_called_by_a_host_program_leaves_pyarrows_pandas_alone(tmp_path: Path) -> None:
    # A program (or a test) that calls main(argv) keeps pyarrow's pandas conversions.
    (tmp_path / "d.jsonl").write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    _, done = _modules(
        "from curagate.cli import main\n"
        "assert main(['check', 'd.jsonl', '--no-golden']) == 0\n"
        "import pyarrow as pa\n"
        "assert pa.table({'a': [1]}).to_pandas()['a'].tolist() == [1]",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas not installed")
def test_pandas_still_imports_after_check_settled_pyarrow() -> None:
    loaded, done = _modules(
        "from curagate._lazy import pyarrow_without_pandas\n"
        "import pyarrow as pa\n"
        "pyarrow_without_pandas()\n"
        "assert 'pandas' not in sys.modules\n"
        "assert pa.array([1, 2]).to_pylist() == [1, 2]\n"
        "import pandas\n"
        "assert pandas.Series([1]).tolist() == [1]"
    )
    assert done.returncode == 0, done.stderr
    assert "pandas" in loaded


def test_public_api_resolves_lazily() -> None:
    import curagate

    for name in curagate.__all__:
        assert getattr(curagate, name) is not None, name
    assert set(curagate.__all__) <= set(dir(curagate))
    from curagate import CurateConfig, __version__, curate
    from curagate.config import CurateConfig as Defined
    from curagate.curate import curate as defined

    assert (curate, CurateConfig) == (defined, Defined)
    assert isinstance(__version__, str) and __version__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        curagate.nope  # noqa: B018


def test_curagate_curate_stays_the_function_after_the_submodule_import() -> None:
    _, done = _modules(
        "import curagate.curate\n"
        "import curagate\n"
        "from curagate import curate\n"
        "assert callable(curate) and curate is curagate.curate, curate\n"
        "assert curate.__module__ == 'curagate.curate'\n"
        "assert sys.modules['curagate.curate'].curate is curate"
    )
    assert done.returncode == 0, done.stderr


def test_cli_process_tunes_its_allocator_and_exit_but_a_host_program_keeps_its_own(
    tmp_path: Path,
) -> None:
    # The CLI: mimalloc's huge pages off unless the user set them (read when pyarrow
    # loads), pydantic's plugin lookup off unless the user set it, and its objects
    # frozen once the command returns (no collection at exit). A program calling
    # main(argv) keeps all three as they were.
    (tmp_path / "d.jsonl").write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    probe = (
        "import gc, os\n"
        "try:\n    {call}\n"
        "except SystemExit:\n    pass\n"
        "print(os.environ.get('MIMALLOC_ALLOW_THP'), os.environ.get('PYDANTIC_DISABLE_PLUGINS'),"
        " gc.get_freeze_count() > 0)"
    )
    cli = "from curagate.cli import main; sys.argv = ['curagate', 'check', 'd.jsonl', '--no-golden']; main()"
    host = "from curagate.cli import main; main(['check', 'd.jsonl', '--no-golden'])"
    own = {"MIMALLOC_ALLOW_THP": "1", "PYDANTIC_DISABLE_PLUGINS": "logfire"}
    for call, environ, expected in (
        (cli, {}, "0 __all__ True"),
        (cli, own, "1 logfire True"),
        (host, {}, "None None False"),
    ):
        done = _python("import sys\n" + probe.format(call=call), tmp_path, without=own, env=environ)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == expected, (call, done.stdout)


# Counts the opens of each input file, as the process's audit hook sees them.
_COUNT_OPENS = (
    "import collections\n"
    "OPENS = collections.Counter()\n"
    "def _hook(event, args):\n"
    "    name = args[0].rsplit('/', 1)[-1] if event == 'open' and isinstance(args[0], str) else ''\n"
    "    if name.endswith('.jsonl') and name != 'quarantine.jsonl':\n"
    "        OPENS[name] += 1\n"
    "sys.addaudithook(_hook)\n"
)


def _opens(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("OPENS ")]
    assert line, done.stderr
    return dict(json.loads(line[-1].removeprefix("OPENS ")))


def _same_outputs(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_curate_cli_starts_reading_before_its_config_loads_and_reads_each_input_once(
    tmp_path: Path,
) -> None:
    # Without a config file the options alone say how the inputs are read: the CLI
    # starts parsing them before pydantic loads, and the run goes on with that read
    # (each input opened once: pass 2 writes the batches pass 1 held). Every output
    # is the same bytes as a host program's run, which reads after its config.
    cli, lib = tmp_path / "cli", tmp_path / "lib"
    cli.mkdir()
    _curate_data(cli)
    shutil.copytree(cli, lib)
    words = ["curate", "pc.jsonl", "chat.jsonl", "--out", "out", "--decontaminate"]
    # (no --split: the inputs are of two formats, which a split refuses)
    words += ["golden.jsonl", "--keep", "longest"]
    code = _COUNT_OPENS + _as_cli(*words).replace(
        "sys.exit(main())",
        "rc = main()\nsys.stderr.write('\\nOPENS ' + json.dumps(OPENS) + '\\n')\nsys.exit(rc)",
    )
    loaded, done = _modules(code, cwd=cli)
    assert done.returncode == 0, done.stderr
    assert _opens(done) == {"pc.jsonl": 1, "chat.jsonl": 1, "golden.jsonl": 1}
    assert "pydantic" in loaded and not loaded & {"numpy", "pandas"}
    _, again = _modules(
        f"import numpy\nfrom curagate.cli import main\nsys.exit(main({words!r}))", cwd=lib
    )
    assert again.returncode == 0, again.stderr
    _same_outputs(cli / "out", lib / "out")


def test_an_early_read_the_config_does_not_ask_for_is_dropped(tmp_path: Path) -> None:
    # The early read assumed chat records; the run's config reads the file as it
    # is (auto): that read starts afresh (the file is opened twice) and the
    # outputs are those of a run without an early read.
    early, plain = tmp_path / "early", tmp_path / "plain"
    early.mkdir()
    _curate_data(early)
    shutil.copytree(early, plain)
    code = (
        _COUNT_OPENS
        + "from curagate import _lazy\n"
        + "import curagate.curate\n"
        + "c = sys.modules['curagate.curate']  # the package's `curate` is the function\n"
        + "_lazy.settle_pyarrow_when_known()\n"
        + "c.read_early(['pc.jsonl'], 'out', format='chat', text_field=None,"
        + " skip_unreadable=False)\n"
        + "assert c._early_read is not None\n"
        + "c.curate(['pc.jsonl'], 'out')\n"
        + "assert c._early_read is None\n"
        + "sys.stderr.write('\\nOPENS ' + json.dumps(OPENS) + '\\n')\n"
    )
    _, done = _modules(code, cwd=early)
    assert done.returncode == 0, done.stderr
    assert _opens(done) == {"pc.jsonl": 2}
    _, again = _modules("from curagate import curate\ncurate(['pc.jsonl'], 'out')", cwd=plain)
    assert again.returncode == 0, again.stderr
    _same_outputs(early / "out", plain / "out")


def test_early_read_is_the_read_of_the_default_config(tmp_path: Path) -> None:
    # The CLI's early read uses the config's defaults for what it has no option
    # for; were they to drift apart, every CLI run would read its inputs twice.
    from curagate.config import CurateConfig
    from curagate.curate import _ReadKey

    path = tmp_path / "d.jsonl"
    cfg = CurateConfig()
    from_config = _ReadKey.of(
        [path], [], cfg.format, cfg.text_field, cfg.preference_key, cfg.batch_rows
    )
    assert _ReadKey.of([path], [], None, None) == from_config
    assert _ReadKey.of([path], [], "auto", None) == from_config


@pytest.mark.parametrize(
    "words",
    [
        ("--near-threshold", "5"),  # the config rejects it after the read started
        ("--out", "pc.jsonl"),  # an output that is an input
    ],
)
def test_curate_cli_error_after_the_early_read_started_is_the_usual_one(
    tmp_path: Path, words: tuple[str, ...]
) -> None:
    _curate_data(tmp_path)
    args = ["curate", "pc.jsonl", *words]
    if "--out" not in words:
        args += ["--out", "out"]
    before = sorted(p.name for p in tmp_path.iterdir())
    _, done = _modules(_as_cli(*args), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("curagate curate: error: "), done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_pyarrow_compute_without_docs_computes_the_same(tmp_path: Path) -> None:
    # The CLI's pyarrow.compute skips parsing its options' docstrings: its kernels
    # and options work as ever; only those docstrings are shorter. A host program
    # (no settling) keeps them whole.
    code = (
        "{settle}import pyarrow as pa, pyarrow.compute as pc\n"
        "a = pa.array([1, None, 3])\n"
        "assert pc.count(a, mode='all').as_py() == 3\n"
        "assert pc.count(a, options=pc.CountOptions(mode='only_null')).as_py() == 1\n"
        "assert pc.utf8_slice_codeunits(pa.array(['abcdef']), 1, 3).to_pylist() == ['bc']\n"
        "print('mode' in pc.count.__doc__)\n"
    )
    settle = "from curagate import _lazy\n_lazy.pyarrow_compute_without_docs()\n"
    _, cli = _modules(code.format(settle=settle))
    _, host = _modules(code.format(settle=""))
    assert (cli.returncode, host.returncode) == (0, 0), cli.stderr + host.stderr
    assert (cli.stdout, host.stdout) == ("False\n", "True\n")
