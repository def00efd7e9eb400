"""The resolver's HTML pages: Jinja2 templates under ``templates/``, autoescaped
(every value a page shows may come from an archived page, so none is trusted markup).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
"""The pages' stylesheet and scripts, served under ``/static``."""


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pretty"] = lambda v: json.dumps(v, indent=1, ensure_ascii=False)
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


ENV = _env()


def page(name: str, status: int = 200, headers: dict[str, str] | None = None,
         **ctx: Any) -> HTMLResponse:
    """The template ``name`` rendered with ``ctx``, as an HTML response."""
    return HTMLResponse(ENV.get_template(name).render(**ctx), status_code=status,
                        headers=headers)
