"""Render an A2I worker template (Liquid) the way A2I does, for the local worker portal.

The context is ``{"task": {"input": <the loop's input>}}``. What A2I does, and so this module:

- Output is HTML-escaped unless marked safe. An array or an object printed with ``{{ }}`` comes out
  as JSON (AWS's object-detection sample passes ``initial-value="{{ task.input.initialValue }}"``
  and ``labels="{{ task.input.labels }}"``; its Textract template relies on the same), not as
  Liquid's concatenation.
- The filters A2I adds: ``to_json``, ``escape`` (built in), ``skip_encoding``, ``skip_autoescape``
  (both: print without HTML-escaping) and ``grant_read_access``: an S3 object, written as
  ``s3://bucket/key`` or as a path-style or virtual-hosted-style S3 URL (http or https, with or
  without a region), becomes a short-lived URL on the portal's image proxy.
- An undefined variable renders as empty (A2I's behaviour). ``render(strict=True)`` raises on it
  instead, for authors (``human-review render-template --strict``); the portal renders leniently
  and lists the undefined names for the template's author.
"""

from __future__ import annotations

import functools
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from liquid import Environment, FalsyStrictUndefined, Markup, Undefined
from liquid.builtin.output import Output, OutputNode
from liquid.exceptions import LiquidError
from liquid.stringify import to_liquid_string

from human_review.exceptions import HumanReviewError

_CROWD_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?https?://[^\"'\s>]*[\"']?[^>]*>\s*</script\s*>", re.IGNORECASE
)

# Virtual-hosted style: bucket.s3.amazonaws.com, bucket.s3.region.amazonaws.com,
# bucket.s3-region.amazonaws.com; path style: s3.amazonaws.com/bucket, s3.region.amazonaws.com/bucket,
# s3-region.amazonaws.com/bucket (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-bucket-intro.html).
_S3_HOST = re.compile(r"^s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$")
_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$")


class TemplateRenderError(HumanReviewError, ValueError):
    """A worker template could not be rendered (syntax error, undefined variable, bad filter)."""


def parse_s3_object(value: Any) -> tuple[str, str] | None:
    """(bucket, key) of an S3 object written as ``s3://b/k`` or as an http(s) S3 URL; None otherwise."""
    text = str(value).strip()
    if text.startswith("s3://"):
        bucket, _, key = text[5:].partition("/")
        return (bucket, key) if bucket and key else None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host, path = parts.hostname.lower(), unquote(parts.path)
    m = _VHOST.match(host)
    if m:
        key = path.lstrip("/")
        return (m.group("bucket"), key) if key else None
    if _S3_HOST.match(host):
        bucket, _, key = path.lstrip("/").partition("/")
        return (bucket, key) if bucket and key else None
    return None


@dataclass
class RenderResult:
    """A rendered worker template, the S3 objects it references and the undefined names it printed."""

    html: str
    objects: list[tuple[str, str]] = field(default_factory=list)
    undefined: list[str] = field(default_factory=list)


_undefined_seen: ContextVar[list[str] | None] = ContextVar("_undefined_seen", default=None)


def _note_undefined(value: Undefined) -> None:
    seen = _undefined_seen.get()
    # liquid's hint reads "task.input.x is undefined"; the bare name is only the path's root
    hint = value.hint or ""
    name = (hint.split(" is undefined")[0] if " is undefined" in hint else str(value.name)).strip("'")
    if seen is not None and name not in seen:
        seen.append(name)


class _LenientUndefined(Undefined):
    """A2I's undefined: empty when printed, falsy, iterable as empty; remembered for the author."""

    def __str__(self) -> str:
        _note_undefined(self)
        return ""


def _stringify(value: Any, autoescape: bool) -> str:
    if isinstance(value, Undefined):
        _note_undefined(value)
    if isinstance(value, (list, dict, tuple)) and not isinstance(value, Markup):
        value = json.dumps(value, ensure_ascii=False)
    return to_liquid_string(value, autoescape)


class _JsonOutputNode(OutputNode):
    def render_to_output(self, context, buffer) -> int:
        return buffer.write(_stringify(self.expression.evaluate(context), context.autoescape))

    async def render_to_output_async(self, context, buffer) -> int:
        return buffer.write(_stringify(await self.expression.evaluate_async(context), context.autoescape))


class _JsonOutput(Output):
    node_class = _JsonOutputNode


def _to_json(value: Any) -> str:
    if isinstance(value, Markup):
        value = str(value)
    if isinstance(value, Undefined):
        _note_undefined(value)
        value = None
    return json.dumps(value, ensure_ascii=False)


def _skip_encoding(value: Any) -> Markup:
    if isinstance(value, Undefined):
        _note_undefined(value)
        return Markup("")
    return Markup(value if isinstance(value, str) else _to_json(value))


def _environment(image_url: Callable[[str], str] | None, objects: list[tuple[str, str]], strict: bool) -> Environment:
    # strict: FalsyStrictUndefined (printing or filtering an undefined variable raises, while
    # `{% if task.input.optional %}` still works); lenient: A2I's empty string.
    env = Environment(autoescape=True, undefined=FalsyStrictUndefined if strict else _LenientUndefined)
    env.add_tag(_JsonOutput)

    def grant_read_access(value: Any) -> str:
        if isinstance(value, Undefined):
            _note_undefined(value)
            if not strict:
                return ""
        obj = parse_s3_object(value)
        if obj is None:
            raise TemplateRenderError(
                f"grant_read_access: {str(value)!r} is not an S3 object (s3://bucket/key, or an "
                "https://bucket.s3.amazonaws.com/key or https://s3.amazonaws.com/bucket/key URL)"
            )
        if obj not in objects:
            objects.append(obj)
        uri = f"s3://{obj[0]}/{obj[1]}"
        return image_url(uri) if image_url is not None else uri

    env.filters["to_json"] = _to_json
    env.filters["skip_encoding"] = _skip_encoding
    # https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-custom-templates.html ("skip_autoescape")
    env.filters["skip_autoescape"] = _skip_encoding
    env.filters["grant_read_access"] = grant_read_access
    return env


def render(template_text: str, task_input: dict, image_url: Callable[[str], str] | None = None,
           *, strict: bool = False) -> RenderResult:
    """Render a worker template with ``task.input``; raises TemplateRenderError with a clear message."""
    objects: list[tuple[str, str]] = []
    undefined: list[str] = []
    env = _environment(image_url, objects, strict)
    token = _undefined_seen.set(undefined)
    try:
        html = env.from_string(template_text).render(task={"input": task_input})
    except LiquidError as e:
        raise TemplateRenderError(f"cannot render the worker template: {e}") from e
    finally:
        _undefined_seen.reset(token)
    return RenderResult(html, objects, undefined)


def render_task_file(path: Path, task_input: dict) -> RenderResult:
    """A template file rendered leniently with one task's input, image URIs left as s3:// URIs: what
    the image proxy authorises and what the submit check reads. Cached per file version and input,
    so a task page's every image and its submit do not render the template again."""
    return _render_file(str(path), path.stat().st_mtime_ns, json.dumps(task_input, sort_keys=True))


@functools.lru_cache(maxsize=1024)
def _render_file(path: str, _mtime_ns: int, input_json: str) -> RenderResult:
    return render(Path(path).read_text(encoding="utf-8"), json.loads(input_json))


def render_template(template_text: str, task_input: dict, image_url: Callable[[str], str] | None = None,
                    *, strict: bool = True) -> str:
    """The rendered HTML only; strict by default (undefined variables raise), as the CLI's authors want."""
    return render(template_text, task_input, image_url, strict=strict).html


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
