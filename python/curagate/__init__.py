"""curagate: curate fine-tuning data fast, and gate which fine-tuned model may ship.

The curate path is imported eagerly (pyarrow + the Rust core); training,
gating, export and embeddings load only when used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("curagate")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

# Imported after __version__, which curate records in stats.json.
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
