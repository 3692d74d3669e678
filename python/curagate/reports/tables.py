"""Table cells for ``partials/table.html``: a plain value, or a :class:`Cell` when the
cell needs a class, a code or pre block, or a muted note. No jinja2 here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""
    kind: Literal["text", "code", "pre"] = "text"
    note: str = ""
    header: bool = False


__all__ = ["Cell"]
