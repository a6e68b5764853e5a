"""Render an A2I worker template (Liquid) the way A2I does, for the local worker portal.

The context is ``{"task": {"input": <the loop's input>}}``. Output is HTML-escaped unless marked
safe; the filters A2I adds are provided: ``to_json``, ``escape`` (built in), ``skip_encoding`` and
``grant_read_access`` (an ``s3://`` URI becomes a signed, short-lived URL on the portal's image proxy).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable
from urllib.parse import urlsplit

from liquid import Environment, FalsyStrictUndefined, Markup
from liquid.exceptions import LiquidError

from human_review.exceptions import HumanReviewError

_CROWD_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?https?://[^\"'\s>]*[\"']?[^>]*>\s*</script\s*>", re.IGNORECASE
)


_S3_URI = re.compile(r"^s3://[^/\s]+/[^\s].*$")


class TemplateRenderError(HumanReviewError, ValueError):
    """A worker template could not be rendered (syntax error, undefined variable, bad filter)."""


def _to_json(value: Any) -> str:
    if isinstance(value, Markup):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)


def _skip_encoding(value: Any) -> Markup:
    return Markup(value if isinstance(value, str) else _to_json(value))


def _environment(image_url: Callable[[str], str] | None) -> Environment:
    # FalsyStrictUndefined: printing or filtering an undefined variable raises, while
    # `{% if task.input.optional %}` still works as in A2I templates.
    env = Environment(autoescape=True, undefined=FalsyStrictUndefined)

    def grant_read_access(value: Any) -> str:
        uri = str(value)
        m = _S3_URI.match(uri)
        if not m:
            raise TemplateRenderError(
                f"grant_read_access: {uri!r} is not an S3 object URI (s3://bucket/key)"
            )
        return image_url(uri) if image_url is not None else uri

    env.filters["to_json"] = _to_json
    env.filters["skip_encoding"] = _skip_encoding
    env.filters["grant_read_access"] = grant_read_access
    return env


def render_template(
    template_text: str, task_input: dict, image_url: Callable[[str], str] | None = None
) -> str:
    """Render a Liquid worker template with ``task.input``; raises TemplateRenderError with a clear message."""
    env = _environment(image_url)
    try:
        return env.from_string(template_text).render(task={"input": task_input})
    except LiquidError as e:
        raise TemplateRenderError(f"cannot render the worker template: {e}") from e


def _origin(src: str) -> str:
    parts = urlsplit(src)
    return f"{parts.scheme}://{parts.netloc}"


def strip_external_scripts(html: str, local_src: str, allowed_origins: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Serve crowd-html-elements locally and drop other external scripts, unless their origin is allowed.

    Returns the page and the sources it dropped, so that the reviewer can be told (a template that
    needs, say, lodash from a CDN would otherwise fail silently)."""
    seen = False
    dropped: list[str] = []
    allowed = {o.rstrip("/") for o in allowed_origins}

    def sub(m: re.Match[str]) -> str:
        nonlocal seen
        src = re.search(r"https?://[^\"'\s>]*", m.group(0)).group(0)
        if "crowd-html-elements" in src:
            if seen:
                return ""
            seen = True
            return f'<script defer src="{local_src}"></script>'
        if _origin(src) in allowed:
            return m.group(0)
        dropped.append(src)
        return "<!-- external script removed by the local review service -->"

    return _CROWD_SCRIPT.sub(sub, html), dropped
