"""What a reviewer's ``answerContent`` may look like, per worker-template element.

One reviewer answer must never cost more than its own image's row: the service refuses, at submit,
an answer whose shape its template's elements do not produce (a clear 400), and the report runs the
same structural check (`problems`) on every answer it reads and turns one it cannot read into that
image's ``review_failed`` row. Pure: no I/O, no imports beyond the standard library.

`SHAPES` maps an element to its checker; `template_elements` finds a rendered template's named
elements and the labels each offers (an answer may pick only those).
The answer shapes are AWS's (crowd-html-elements' ``crowdAnswer()``); keys no element names (a
plain ``<input>`` in a ``crowd-form``) may hold only small scalar values.
"""

from __future__ import annotations

import json
import re
import math
from html.parser import HTMLParser
from typing import Any, Callable

from human_review.a2i import MODERATION_ANSWER_KEYS
from human_review.portal.elements import ELEMENTS, TEXTRACT_KEY, expected_parts

MAX_LABEL_CHARS = 256
MAX_ITEMS = 2000  # boxes, labels, keypoints or polygon points in one answer
MAX_TEXT_CHARS = 20_000
MAX_DEPTH = 8

Checker = Callable[[str, Any], list[str]]


def _number(where: str, v: Any) -> list[str]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return [f"{where} must be a finite number, not {v!r:.60}"]
    return []


def _label(where: str, v: Any) -> list[str]:
    if not isinstance(v, str):
        return [f"{where} must be a string, not {type(v).__name__}"]
    if len(v) > MAX_LABEL_CHARS:
        return [f"{where} is longer than {MAX_LABEL_CHARS} characters"]
    return []


def _list(where: str, v: Any) -> list[str]:
    if not isinstance(v, list):
        return [f"{where} must be a list, not {type(v).__name__}"]
    if len(v) > MAX_ITEMS:
        return [f"{where} has more than {MAX_ITEMS} entries"]
    return []


def _dict(where: str, v: Any) -> list[str]:
    return [] if isinstance(v, dict) else [f"{where} must be an object, not {type(v).__name__}"]


def _image_properties(where: str, v: Any) -> list[str]:
    if v is None:
        return []
    if (p := _dict(where, v)):
        return p
    return [e for f in ("width", "height") if f in v for e in _number(f"{where}.{f}", v[f])]


def bounding_box(where: str, v: Any) -> list[str]:
    if (p := _dict(where, v)) or (p := _list(f"{where}.boundingBoxes", v.get("boundingBoxes"))):
        return p
    out = _image_properties(f"{where}.inputImageProperties", v.get("inputImageProperties"))
    for i, box in enumerate(v["boundingBoxes"]):
        w = f"{where}.boundingBoxes[{i}]"
        if (p := _dict(w, box)):
            out += p
            continue
        out += _label(f"{w}.label", box.get("label", ""))
        for f in ("left", "top", "width", "height"):
            out += _number(f"{w}.{f}", box.get(f)) if f in box else [f"{w}.{f} is missing"]
        if "initialValueModified" in box and not isinstance(box["initialValueModified"], bool):
            out.append(f"{w}.initialValueModified must be true or false")
    return out


def moderation(where: str, v: Any) -> list[str]:
    if (p := _dict(where, v)) or (p := _list(f"{where}.moderationLabels", v.get("moderationLabels", []))):
        return p
    out: list[str] = []
    for i, lab in enumerate(v.get("moderationLabels", [])):
        w = f"{where}.moderationLabels[{i}]"
        if (p := _dict(w, lab)):
            out += p
            continue
        out += _label(f"{w}.name", lab.get("name"))
        if lab.get("parentName") is not None:
            out += _label(f"{w}.parentName", lab["parentName"])
    return out


def classifier(where: str, v: Any) -> list[str]:
    if (p := _dict(where, v)):
        return p
    if "label" not in v:
        return [f"{where}.label is missing"]
    if isinstance(v["label"], list):  # what consolidation also reads: a list of labels
        return _list(f"{where}.label", v["label"]) or \
            [e for i, lab in enumerate(v["label"]) for e in _label(f"{where}.label[{i}]", lab)]
    return _label(f"{where}.label", v["label"])


def classifier_multi(where: str, v: Any) -> list[str]:
    if (p := _dict(where, v)) or (p := _list(f"{where}.labels", v.get("labels"))):
        return p
    return [e for i, lab in enumerate(v["labels"]) for e in _label(f"{where}.labels[{i}]", lab)]


def text(where: str, v: Any) -> list[str]:
    if not isinstance(v, str):
        return [f"{where} must be text, not {type(v).__name__}"]
    return [f"{where} is longer than {MAX_TEXT_CHARS} characters"] if len(v) > MAX_TEXT_CHARS else []


def switches(where: str, v: Any) -> list[str]:
    """crowd-checkbox / crowd-radio-button: ``{value: checked}``."""
    if (p := _dict(where, v)):
        return p
    return [f"{where}.{k} must be true or false" for k, on in v.items() if not isinstance(on, bool)]


def points(where: str, v: Any) -> list[str]:
    """crowd-keypoint / crowd-polygon: lists of labelled points; every coordinate a finite number."""
    if (p := _dict(where, v)):
        return p
    out = _image_properties(f"{where}.inputImageProperties", v.get("inputImageProperties"))

    def walk(w: str, x: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            out.append(f"{w} is nested too deeply")
        elif isinstance(x, dict):
            for k, y in x.items():
                walk(f"{w}.{k}", y, depth + 1)
        elif isinstance(x, list):
            out.extend(_list(w, x)) if len(x) > MAX_ITEMS else [walk(f"{w}[{i}]", y, depth + 1) for i, y in enumerate(x)]
        elif isinstance(x, str):
            out.extend(_label(w, x))
        elif x is not None and not isinstance(x, bool):
            out.extend(_number(w, x))

    for key in ("keypoints", "polygons"):
        if key in v:
            walk(f"{where}.{key}", v[key], 1)
    return out


def plain(where: str, v: Any, depth: int = 0) -> list[str]:
    """A key no element names (a native input in a crowd-form): a scalar, or one flat object or list of them."""
    if isinstance(v, (dict, list)):
        if depth:
            return [f"{where} is nested too deeply"]
        if len(v) > MAX_ITEMS:
            return [f"{where} has more than {MAX_ITEMS} entries"]
        items = v.items() if isinstance(v, dict) else enumerate(v)
        return [e for k, x in items for e in plain(f"{where}.{k}", x, depth + 1)]
    if isinstance(v, str):
        return text(where, v)
    if v is None or isinstance(v, bool):
        return []
    if isinstance(v, (int, float)):
        return _number(where, v)
    return [f"{where} must be text, a number, true/false or null, not {type(v).__name__}"]


SHAPES: dict[str, Checker] = {
    "crowd-bounding-box": bounding_box,
    "crowd-rekognition-detect-moderation-labels": moderation,
    "crowd-image-classifier": classifier,
    "crowd-classifier": classifier,
    "crowd-image-classifier-multi-select": classifier_multi,
    "crowd-classifier-multi-select": classifier_multi,
    "crowd-input": text,
    "crowd-text-area": text,
    "crowd-slider": lambda w, v: _number(w, v),
    "crowd-checkbox": switches,
    "crowd-radio-button": switches,
    "crowd-keypoint": points,
    "crowd-polygon": points,
}

class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, tuple[str, frozenset[str] | None]] = {}
        self.plain: set[str] = set()  # names of plain form controls (input, select, textarea)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "select", "textarea"):
            name = dict(attrs).get("name")
            if name:
                self.plain.add(name)
            return
        if tag not in SHAPES:
            return
        a = {k: v or "" for k, v in attrs}
        if tag == "crowd-rekognition-detect-moderation-labels":
            key = MODERATION_ANSWER_KEYS[0]
        elif a.get("name"):
            key = a["name"]
        else:
            return
        raw = a.get("labels") if "labels" in a else a.get("categories")
        self.found[key] = (tag, _names(raw) if raw else None)


def _names(raw: str) -> frozenset[str] | None:
    """The label names of a ``labels``/``categories`` attribute (JSON, or a single-quoted list)."""
    for text in (raw, raw.replace("'", '"')):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, list):
            return frozenset(
                c if isinstance(c, str) else str((c or {}).get("name") or (c or {}).get("text") or (c or {}).get("label"))
                for c in value if isinstance(c, (str, dict)))
    return None


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def template_elements(html: str, parsed: _Elements | None = None) -> dict[str, tuple[str, frozenset[str] | None]]:
    """``{answer key: (element, the labels it offers or None)}`` for a rendered worker template
    (rendered, so that labels filled in from the task input are known).

    A plain input with a crowd element's name overwrites its value in the form's answer, as in AWS's
    crowd-form (images/bounding-box-hierarchical names its box element, two selects and a hidden
    input all "_" and sends the real answer in another input): such a key has no shape to hold."""
    parser = parsed or _parse(html)
    found = {key: v for key, v in parser.found.items() if key not in parser.plain}
    if _INLINE_SCRIPT.search(html):
        # The template's own scripts may assign labels or categories after load (AWS's samples do:
        # `element.labels = [...]` on all-crowd-elements-ready), so the labels in the HTML are not
        # the ones the reviewer saw: check the answer's shape only.
        return {key: (tag, None) for key, (tag, _offered) in found.items()}
    return found


def rules(html: str) -> tuple[dict[str, tuple[str, frozenset[str] | None]], dict[str, dict[str, Any]]]:
    """What `check` holds a submitted answer to for this rendered template (parsed once): its
    elements (with the labels they offer) and elements.py's schema per answer key, except keys a
    plain form control also uses."""
    parser = _parse(html)
    schemas = {key: part.schema for key, part in expected_parts(html).items()
               if part.schema and key not in parser.plain}
    return template_elements(html, parser), schemas


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)


def _offered(where: str, value: Any, offered: frozenset[str]) -> list[str]:
    """Labels in an answer that the task did not offer."""
    picked: list[Any] = []
    if isinstance(value, dict):
        picked += [b.get("label") for b in value.get("boundingBoxes") or [] if isinstance(b, dict)]
        picked += [m.get("name") for m in value.get("moderationLabels") or [] if isinstance(m, dict)]
        label = value.get("label")
        picked += label if isinstance(label, list) else [label] if label is not None else []
        picked += value.get("labels") if isinstance(value.get("labels"), list) else []
    shown = sorted(offered)[:20]
    return [f"{where}: label {p!r:.80} is not one the task offered ({', '.join(shown)})"
            for p in picked if isinstance(p, str) and p not in offered]


def _schema_problems(where: str, value: Any, schema: dict[str, Any]) -> list[str]:
    """An element this module has no checker for, checked against elements.py's JSON-Schema of its answer."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [f"{where}{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message[:200]}"
            for e in list(validator.iter_errors(value))[:5]]


def check(content: Any, elements: dict[str, tuple[str, frozenset[str] | None]] | None = None,
          schemas: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """What is wrong with one answerContent for a template with these `elements` (empty: nothing).

    Without `elements` (the report, which does not know the template) each value is checked by
    the shape it claims: a moderation or Textract key, ``boundingBoxes``, ``label`` or ``labels``."""
    if not isinstance(content, dict):
        return [f"answerContent must be an object, not {type(content).__name__}"]
    out: list[str] = []
    for key, value in content.items():
        where = f"answerContent[{key!r}]"
        if elements is not None and key in elements:
            tag, offered = elements[key]
            found = SHAPES[tag](where, value)
            out += found or (_offered(where, value, offered) if offered is not None else [])
        elif key in MODERATION_ANSWER_KEYS:
            out += moderation(where, value)
        elif key == TEXTRACT_KEY and (elements is None or (schemas and key in schemas)):
            # crowd-textract-analyze-document's fixed key: elements.py's schema, at submit (the
            # template has the element) and in the report (which does not know the template)
            out += _schema_problems(where, value, ELEMENTS["crowd-textract-analyze-document"].schema or {})
        elif isinstance(value, dict) and "boundingBoxes" in value:
            out += bounding_box(where, value)
        elif isinstance(value, dict) and "label" in value:
            out += classifier(where, value)
        elif isinstance(value, dict) and "labels" in value:
            out += classifier_multi(where, value)
        elif schemas and key in schemas:  # another element of the template (elements.py's shapes)
            out += _schema_problems(where, value, schemas[key])
        elif elements is not None:
            out += plain(where, value)
    return out


def problems(answers: list[dict[str, Any]]) -> list[str]:
    """The report's check of one loop's humanAnswers: what would stop consolidation reading them."""
    if not isinstance(answers, list):
        return ["humanAnswers must be a list"]
    out: list[str] = []
    for i, a in enumerate(answers):
        if not isinstance(a, dict):
            out.append(f"humanAnswers[{i}] must be an object")
            continue
        out += [f"humanAnswers[{i}] ({a.get('workerId', '?')}): {p}" for p in check(a.get("answerContent") or {})]
    return out
