"""Turn a :class:`curagate.leakage.LeakageResult` into corpus row references."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _field(leak: Any, *names: str) -> Any:
    for n in names:
        v = leak.get(n) if isinstance(leak, dict) else getattr(leak, n, None)
        if v is not None:
            return v
    return None


def leak_locations(result: Any) -> list[tuple[str, int, str]]:
    """(corpus file, 1-based line or row, what leaked) per leaking corpus row, deduplicated."""
    out: dict[tuple[str, int], set[str]] = {}
    for leak in result.leaks:
        file = _field(leak, "corpus_file", "corpus_source", "file", "source")
        line = _field(leak, "corpus_line", "line")
        if line is None:
            row = _field(leak, "corpus_row", "row")
            line = int(row) + 1 if row is not None else 0
        ref = _field(leak, "reference_id", "reference_item", "reference")
        method = _field(leak, "method", "kind")
        what = "contains golden set item"
        if ref is not None:
            what += f" {str(ref)[:80]}"
        if method is not None:
            what += f" ({method})"
        key = (Path(str(file)).as_posix() if file is not None else "?", int(line))
        out.setdefault(key, set()).add(what)
    return [(f, ln, "; ".join(sorted(w))) for (f, ln), w in sorted(out.items())]
