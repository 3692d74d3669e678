"""The release service (`curagate serve`): pages and a JSON API over a registry.

Needs the ``serve`` extra (FastAPI, uvicorn, Jinja2, python-multipart). See docs/serve.md.
"""

from __future__ import annotations
