"""``length``: drop records whose text is too short or too long to be useful.

Copy this file to add a quality filter: a ``Params`` model (the keys of its
config entry), a ``keep`` mask, and the ``register_filter`` name. Config::

    filters:
      - length: {min_chars: 20, max_chars: 100000}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import model_validator

from curagate._lazy import lazy_import
from curagate.config import bounded
from curagate.limits import MAX_CHARS
from curagate.pipeline.step import Filter, FilterParams, Rows, register_filter

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")


class LengthParams(FilterParams):
    min_chars: Annotated[int, bounded(0, MAX_CHARS)] = 0
    max_chars: Annotated[int, bounded(1, MAX_CHARS)] | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> LengthParams:
        if self.max_chars is not None and self.min_chars > self.max_chars:
            raise ValueError(
                f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars}): "
                "no record could pass"
            )
        return self


@register_filter("length")
class LengthFilter(Filter):
    """Characters of the record's text (the dedup key: prompt and completion,
    chat turns ... joined) within ``[min_chars, max_chars]``."""

    Params = LengthParams

    def keep(self, rows: Rows) -> pa.Array:
        p = self.params
        assert isinstance(p, LengthParams)
        length = pc.utf8_length(rows.keys)
        ok = pc.greater_equal(length, p.min_chars)
        if p.max_chars is not None:
            ok = pc.and_(ok, pc.less_equal(length, p.max_chars))
        return ok
