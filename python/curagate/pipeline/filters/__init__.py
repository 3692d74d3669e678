"""Quality filters: one file each, registered with
:func:`curagate.pipeline.step.register_filter`. Every module of this package
is imported here, so a new file is all a built-in filter needs."""

from __future__ import annotations

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
