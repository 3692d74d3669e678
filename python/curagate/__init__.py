"""curagate: curate fine-tuning data fast, and gate which fine-tuned model may ship.

The public API below loads on first use (PEP 562 ``__getattr__``), so that
``import curagate.check`` or ``curagate --help`` does not pay for pyarrow,
pydantic or the curate pipeline (docs/architecture.md, "Start-up").
``__version__`` is looked up in the installed metadata on first access too.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curagate.config import CurateConfig
    from curagate.curate import CurateResult, curate
    from curagate.errors import (
        CheckFailed,
        ConfigError,
        CuragateError,
        InputError,
        MissingExtraError,
    )
    from curagate.io import expand_inputs, read_batches
    from curagate.io.manifest import build_manifest
    from curagate.records import Batch, Quarantined, RecordFormat

    __version__: str

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "Batch": "curagate.records",
    "CheckFailed": "curagate.errors",
    "ConfigError": "curagate.errors",
    "CuragateError": "curagate.errors",
    "CurateConfig": "curagate.config",
    "CurateResult": "curagate.curate",
    "InputError": "curagate.errors",
    "MissingExtraError": "curagate.errors",
    "Quarantined": "curagate.records",
    "RecordFormat": "curagate.records",
    "build_manifest": "curagate.io.manifest",
    "curate": "curagate.curate",
    "expand_inputs": "curagate.io",
    "read_batches": "curagate.io",
}

__all__ = [
    "Batch",
    "CheckFailed",
    "ConfigError",
    "CuragateError",
    "CurateConfig",
    "CurateResult",
    "InputError",
    "MissingExtraError",
    "Quarantined",
    "RecordFormat",
    "__version__",
    "build_manifest",
    "curate",
    "expand_inputs",
    "read_batches",
]


def _version() -> str:
    # importlib.metadata costs ~40 ms to import (email parsing and more): only when asked.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("curagate")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'curagate' has no attribute {name!r}")
    globals()[name] = value  # resolved once; later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``curagate.curate`` is both a submodule and the public function.

    Importing the submodule sets the package attribute to the module; the
    eager ``from curagate.curate import curate`` used to rebind it to the
    function, and this keeps that: ``curagate.curate`` is always the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "curate" and isinstance(value, types.ModuleType):
            value = value.curate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
