"""One Jinja2 template set for curagate's HTML: the release service's pages now, and
the static reports later (they share ``base.html``).

Autoescaping is on for every template: model names, reasons and model outputs are
hostile input. No template carries inline script or inline style, so the service's
Content-Security-Policy can forbid both; a static report inlines ``style.css`` through
``standalone=True`` (a file opened from disk has no server to fetch it from).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jinja2

TEMPLATES = "templates"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("curagate.reports", TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda s, n=12: (s or "")[:n]
    env.filters["pct"] = lambda x: "-" if x is None else f"{100 * float(x):.1f}%"
    env.filters["num"] = lambda x: "-" if x is None else f"{float(x):+.4f}"
    env.filters["fmt"] = lambda x: "-" if x is None else (f"{x:.4f}" if isinstance(x, float) else x)
    env.filters["pretty"] = lambda x: json.dumps(x, indent=2, sort_keys=True, ensure_ascii=False)
    return env


@cache
def stylesheet() -> str:
    return resources.files("curagate.reports").joinpath("static/style.css").read_text()


def render(template: str, *, standalone: bool = False, **context: Any) -> str:
    """Render one template; ``standalone`` inlines the stylesheet for a file on disk."""
    css = stylesheet() if standalone else None
    return environment().get_template(template).render(inline_css=css, **context)


__all__ = ["environment", "render", "stylesheet"]
