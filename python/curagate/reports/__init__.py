"""One Jinja2 template set for curagate's HTML: the release service's pages and the
static reports (audit, leakage, gate) share ``base.html`` and the partials in
``templates/partials/`` (tables, verdict badges, inline SVG charts).

Autoescaping is on for every template: model names, reasons, record text and model
outputs are hostile input. No template carries inline script or inline style, so the
service's Content-Security-Policy can forbid both; a static report inlines
``style.css`` through ``standalone=True`` (a file opened from disk has no server to
fetch it from), which keeps it one offline file.

jinja2 is imported inside :func:`environment`, not at module top: the light commands
(``check``, ``curate``) import modules that import this package (for the Markdown
helpers) and must not pay for jinja2.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

TEMPLATES = "templates"


# Bidi embedding, override and isolate controls and marks: in an item's text, a model name or
# a slice value they reorder what a release manager reads (an answer "\u202eon" shows "no").
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
    "\ufffd",
)


def _without_bidi_controls(value: Any) -> Any:
    """Every value a page or report prints, with bidi controls shown as U+FFFD."""
    return value.translate(_BIDI_CONTROLS) if isinstance(value, str) else value


# The same controls as character references, for a value a form submits.
_BIDI_REFERENCES = {c: f"&#x{c:x};" for c in _BIDI_CONTROLS}


def _form_value(value: Any) -> Any:
    """A value a form submits (``<option value>``), escaped, with its bidi controls written
    as character references: the browser submits the value itself, and the page's source
    holds no control. ``finalize`` turned them into U+FFFD there too, so a menu's set or
    slice holding one submitted a label no item has ("0 item(s) match")."""
    from markupsafe import Markup, escape

    return Markup(str(escape(value)).translate(_BIDI_REFERENCES))


def _json_text(x: Any) -> str:
    """A JSON value as its JSON text (a text as itself): an answer that is an object was
    printed as Python writes it, ``{'ok': True, 'unit': None}``."""
    return x if isinstance(x, str) else json.dumps(x, ensure_ascii=False, sort_keys=True)


def _number(x: float) -> str:
    """A value as the gate prints it (:func:`curagate.gate.metrics.num`): 4 decimals, or 6
    where 4 would round it onto a limit (a candidate the gate failed at 0.799996 < 0.8
    showed as 0.8000, a significant p = 0.049996 as 0.0500)."""
    from curagate.gate.metrics import num

    return num(x)


def _signed(x: Any) -> str:
    """A difference: :func:`_number` with its sign."""
    if x is None:
        return "-"
    shown = _number(float(x))
    return shown if shown.startswith("-") else f"+{shown}"


def _pct(x: Any) -> str:
    """A share: one decimal, or more where one would round it onto another value (0.79996
    is 79.996%, not 80.0%: the gate's own rule, :func:`curagate.gate.metrics.pct`)."""
    if x is None:
        return "-"
    from curagate.gate.metrics import pct

    return pct(float(x))


@cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("curagate.reports", TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_without_bidi_controls,
    )
    env.filters["short"] = lambda s, n=12: (s or "")[:n]
    env.filters["pct"] = _pct
    env.filters["form_value"] = _form_value
    env.filters["num"] = _signed
    env.filters["fmt"] = lambda x: _number(x) if isinstance(x, float) else ("-" if x is None else x)
    env.filters["pretty"] = lambda x: json.dumps(x, indent=2, sort_keys=True, ensure_ascii=False)
    env.filters["json_text"] = _json_text
    return env


@cache
def stylesheet() -> str:
    return resources.files("curagate.reports").joinpath("static/style.css").read_text("utf-8")


def render(template: str, *, standalone: bool = False, **context: Any) -> str:
    """Render one template; ``standalone`` inlines the stylesheet for a file on disk."""
    css = stylesheet() if standalone else None
    return environment().get_template(template).render(inline_css=css, **context)


def render_report(template: str, **context: Any) -> str:
    """A static report: one self-contained file (stylesheet inlined, no service nav)."""
    return render(template, standalone=True, **context)


__all__ = ["environment", "render", "render_report", "stylesheet"]
