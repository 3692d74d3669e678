"""Training: LoRA/QLoRA adapters with SFT or DPO, recorded in a reproducible run directory.

Nothing here imports torch at import time; the heavy stack loads when a run starts.
"""

from __future__ import annotations

from curagate.train.config import TrainConfig, load_config
from curagate.train.gguf_import import ImportResult, import_gguf
from curagate.train.run import TrainResult, train

__all__ = [
    "ImportResult",
    "TrainConfig",
    "TrainResult",
    "import_gguf",
    "load_config",
    "train",
]
