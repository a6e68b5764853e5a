"""The worker portal's own pages: Liquid templates in ``pages/``, served with a Content-Security-Policy.

Every page extends ``pages/layout.html``. The environment here is the portal's alone: it escapes
every value unless it is ``Markup`` (the rendered worker template is the one value passed as
Markup), knows no A2I filters, and refuses to print an undefined variable. The A2I worker
templates reviewers answer are rendered elsewhere, by ``render.py``, with A2I's filters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from liquid import CachingFileSystemLoader, Environment, FalsyStrictUndefined
from liquid.extra import BlockTag, ExtendsTag

PAGES = Path(__file__).parent / "pages"
# No 'unsafe-inline' scripts: the service's own scripts are files under 'self'; a worker template's
# inline <script> runs only with the per-response nonce the task page stamps on it (before the
# template is rendered, so text from the task input can never carry it).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)

_env = Environment(loader=CachingFileSystemLoader(PAGES), autoescape=True, undefined=FalsyStrictUndefined)
_env.add_tag(ExtendsTag)
_env.add_tag(BlockTag)


def csp(script_origins: tuple[str, ...] = (), image_origins: tuple[str, ...] = (), nonce: str | None = None) -> str:
    """The pages' CSP; a task page adds its nonce, and the script and image origins an administrator allowed."""
    policy = CSP
    extra = ([f"'nonce-{nonce}'"] if nonce else []) + list(script_origins)
    if extra:
        policy = policy.replace("script-src 'self'", " ".join(["script-src 'self'", *extra]))
    if image_origins:
        policy = policy.replace("img-src 'self'", " ".join(["img-src 'self'", *image_origins]))
    return policy


def render(template: str, *, status: int = 200, script_origins: tuple[str, ...] = (),
           image_origins: tuple[str, ...] = (), nonce: str | None = None, **context: Any) -> HTMLResponse:
    """Render ``pages/<template>`` with `context`; never cached by the browser."""
    text = _env.get_template(template).render(**context)
    return HTMLResponse(text, status_code=status, headers={
        "Content-Security-Policy": csp(script_origins, image_origins, nonce), "Cache-Control": "no-store"})
