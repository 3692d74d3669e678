"""Reading ahead for the audit: :func:`read_ahead` starts reading (in a thread,
:class:`~curagate.io.ahead.ReadAhead`) before the engine and polars are imported,
so the first batches are parsed meanwhile. No polars here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate.io.ahead import ReadAhead

if TYPE_CHECKING:
    from curagate.audit.config import AuditConfig
    from curagate.records import Batch


def read_ahead(paths: Sequence[str | Path], cfg: AuditConfig, **read: Any) -> ReadAhead[Batch]:
    """The batches of ``paths`` (as :func:`~curagate.io.expand_inputs` lists them) for
    the audit ``cfg``, read one batch ahead in a thread. Bad reading options raise
    here; a file's problems when the batches reach them, as without reading ahead."""
    from curagate.io import read_batches

    batches = read_batches(
        paths,
        format=cfg.format,
        text_field=cfg.text_field,
        preference_key=cfg.preference_key,
        **read,
    )
    return ReadAhead(batches)
