"""Start-up helpers: the one place for what keeps short commands short.

The rule (docs/architecture.md, "Start-up"): a module on the hot import paths
(``curagate``, ``curagate.cli``, ``curagate.check``, ``curagate.curate`` and
what they import at module top) binds a heavy third-party package used in
several functions (pyarrow and its submodules, yaml) with :func:`lazy_import`
under an ``if TYPE_CHECKING:`` twin, so the name reads the same everywhere and
mypy sees the real module::

    if TYPE_CHECKING:
        import pyarrow as pa
    else:
        pa = lazy_import("pyarrow")

and never touches it at module level (no ``pa.int64()`` default, constant or
base class). A one-off heavy import (jinja2, importlib.metadata for
``__version__``) goes inside the one function that needs it. pydantic models
are ``defer_build`` and no model is instantiated at import; the hot import
paths import no pydantic module at all (the config, pipeline and artifact
modules are imported inside the functions that use them). The readers call
Arrow kernels through :mod:`curagate._kernels`, never ``pyarrow.compute``.
Everything else imports at module top.
``tests/test_startup.py`` checks which modules each entry point loads.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _Absent:
    """A meta path finder under which importing ``names`` (and their submodules)
    fails as if they were not installed."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


class LazyModule:
    """A module imported on its first attribute access (then every access reads it).

    Attributes are not cached here: each access is ``getattr`` on the real
    module, so a test's ``monkeypatch`` of the module is seen as with a plain
    ``import``. An access costs a few hundred nanoseconds; the heavy modules
    are called per batch or per column, not per record.
    """

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> object:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_import(name: str) -> LazyModule:
    """A stand-in for ``import name`` that imports it when first used."""
    return LazyModule(name)


def pyarrow_without_pandas() -> None:
    """Settle pyarrow's pandas integration as "not installed" in this process.

    pyarrow imports pandas (~200 ms, with its numpy and dateutil) the first
    time any Python value is converted (``pa.array([...])``, ``pa.scalar``, a
    plain int given to a compute function), only to ask whether the value is a
    pandas object. A process that never uses pandas (``curagate check``) calls
    this first: pyarrow then behaves as in a core-only install, where pandas is
    absent (``tests/test_setup.py`` runs `check` that way). ``import pandas``
    itself still works afterwards. Does nothing when pandas is already loaded.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _Absent("pandas")
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])  # the first conversion tries the import once and remembers
    finally:
        sys.meta_path.remove(finder)


def pyarrow_without_numpy() -> None:
    """Import pyarrow as an install without numpy has it, in this process.

    pyarrow and its kernels (``pyarrow._compute``) import numpy (~0.1 s, more
    than pyarrow itself) when it is installed, and pyarrow cloudpickle (for
    pickling Python objects inside Arrow data); both are optional to them
    (``pyarrow/lib.pyx`` and ``_compute.pyx``: ``np = None`` when the import
    fails; no other pyarrow module imports numpy but ``pandas_compat``). A
    process that converts no Arrow data to or from numpy and pickles none
    (``curagate check``) calls this before anything imports pyarrow: both
    modules are imported now, as in an install without numpy, and stay so
    (``to_numpy()`` raises). ``import numpy`` itself still works afterwards.
    Does nothing when numpy is already loaded.
    """
    if "numpy" in sys.modules:
        return
    finder = _Absent("numpy", "cloudpickle")
    sys.meta_path.insert(0, finder)
    try:
        import pyarrow._compute  # noqa: F401  (pyarrow first)
    finally:
        sys.meta_path.remove(finder)


def pyarrow_compute_without_docs() -> None:
    """Let ``pyarrow.compute`` skip reading its options classes' docstrings at import.

    Importing ``pyarrow.compute`` writes a docstring for each of its ~300 kernels and
    parses each options class's numpydoc with its vendored ``docscrape`` to list the
    options there: ~30 ms of its ~50 ms import. A CLI process never reads them. After
    this call, that import finds a ``docscrape`` that reports no parameters, so the
    kernels' docstrings leave out their options (nothing else differs: only
    ``pyarrow.compute`` imports ``docscrape``). Does nothing when either module is
    already loaded. The stand-in stays for the life of the process.
    """
    name = "pyarrow.vendored.docscrape"
    if "pyarrow.compute" in sys.modules or name in sys.modules:
        return
    stand_in = ModuleType(name, "curagate: no numpydoc parsing in this process")
    stand_in.NumpyDocString = _NoDocString  # type: ignore[attr-defined]
    sys.modules[name] = stand_in


class _NoDocString(dict[str, list[object]]):
    """A parsed numpydoc with nothing in any section."""

    def __init__(self, docstring: object = None, config: object = None) -> None:
        super().__init__()

    def __missing__(self, key: str) -> list[object]:
        return []


_settle_when_known = False


def settle_pyarrow_when_known() -> None:
    """The process is the CLI running a command that learns only from its config
    whether it converts Arrow data to numpy (``curate``: its semantic step and
    staged executors do): :func:`settle_pyarrow` then settles pyarrow once the
    command knows, before anything imports pyarrow."""
    global _settle_when_known
    _settle_when_known = True


def settling_pyarrow() -> bool:
    """Whether :func:`settle_pyarrow_when_known` was called and pyarrow is not settled yet."""
    return _settle_when_known


def settle_pyarrow(*, numpy: bool) -> None:
    """Settle pyarrow's optional numpy and pandas as "not installed" (numpy only
    when ``numpy`` is false) if :func:`settle_pyarrow_when_known` was called;
    otherwise (a host program calling the library) do nothing."""
    global _settle_when_known
    if not _settle_when_known:
        return
    _settle_when_known = False
    if not numpy:
        pyarrow_without_numpy()
    pyarrow_without_pandas()
