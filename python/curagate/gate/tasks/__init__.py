"""Gate task types: one module each, registered on import (see base.py).

A new task type is one new module here plus one import line below. The
import order is the registration order, which is the order config errors list
the allowed task types in.
"""

from __future__ import annotations

# isort: off
from curagate.gate.tasks import classification as classification
from curagate.gate.tasks import generation as generation  # extraction and generation
from curagate.gate.tasks import structured_json as structured_json
from curagate.gate.tasks import multiple_choice as multiple_choice
from curagate.gate.tasks import refusal as refusal

# isort: on
from curagate.gate.tasks.base import (
    Answer,
    Metric,
    Scored,
    Task,
    get_task,
    register,
    task_names,
    unregister,
)

__all__ = ["Answer", "Metric", "Scored", "Task", "get_task", "register", "task_names", "unregister"]
