"""Every crowd HTML element: what it contributes to a human answer's ``answerContent``, and whether
the local review service supports it. The one table of answer shapes: the worker page's script
(static/crowd-*.js) produces them, the docs list them (docs/crowd-elements.md), and answer
validation at submit may import ``ELEMENTS`` / ``expected_parts``.

Sources, per element: the SageMaker Developer Guide's "Crowd HTML Elements Reference"
(https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-reference.html), one page per
element at ``https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-<element>.html``
(its "Output" section), and aws-samples/amazon-a2i-sample-task-uis for how templates use them.
``confirmed`` says whether a source available when this was written corroborates the shape: the
team's notes taken from those pages (shared notes, a2i-reference: bounding box, classifiers,
moderation), or an AWS sample template's own script (``images/keypoint-additional-answer-validation``
reads ``value.keypoints``, ``images/bounding-box-hierarchical`` reads ``value.boundingBoxes``), or
the page's own source (crowd-textract-analyze-document: awsdocs/amazon-sagemaker-developer-guide,
``doc_source/a2i-crowd-textract-detection.md``, its "Output" sample).
The rest follow the pages' Output examples as remembered, without a copy to check against.

``schema`` is a JSON-Schema fragment for the value under the element's ``name`` (or, for the
moderation and Textract elements, under their fixed keys). Every element's part is omitted when the
reviewer left the element untouched and it holds no value (inputs, text areas, sliders without a
value, classifiers with nothing picked), as AWS's crowd-form does; crowd-textract-analyze-document
is the exception: its review is the answer, so it submits the key-value pairs as they stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MODERATION_KEY = "AWS/Rekognition/DetectModerationLabels/Image/V3"
TEXTRACT_KEY = "AWS/Textract/AnalyzeDocument/Forms/V1"
DOCS = "https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-{}.html"

_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_IMAGE_PROPS = {"type": "object", "required": ["height", "width"], "properties": {"height": _INT, "width": _INT}}
_POINT = {"type": "object", "required": ["x", "y"], "properties": {"x": _NUM, "y": _NUM}}


def _shapes(kind: str, min_vertices: int, max_vertices: int | None = None) -> dict[str, Any]:
    vertices: dict[str, Any] = {"type": "array", "items": _POINT, "minItems": min_vertices}
    if max_vertices:
        vertices["maxItems"] = max_vertices
    return {"type": "object", "required": ["inputImageProperties", kind], "properties": {
        "inputImageProperties": _IMAGE_PROPS,
        kind: {"type": "array", "items": {"type": "object", "required": ["label", "vertices"],
                                          "properties": {"label": _STR, "vertices": vertices}}}}}


_PNG = {"type": "object", "required": ["pngImageData"], "properties": {"pngImageData": _STR}}

# crowd-textract-analyze-document, an A2I element: AWS documents it on
# https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-crowd-textract-detection.html (the developer
# guide's "crowd-textract-analyze-document" page; no page exists at the sms-ui-template-<tag> address
# the other elements use, as far as the sources available here show). Its "Output" sample:
# {"AWS/Textract/AnalyzeDocument/Forms/V1": {blocks: [{"blockType": "KEY_VALUE_SET", "id": ...,
# "relationships": [{"type": "CHILD", "ids": [...]}, {"type": "VALUE", "ids": [...]}],
# "entityTypes": ["KEY"], "text": "Foo bar baz"}]}}: Textract's Block, camelCase. `geometry`
# (boundingBox, polygon; ratios of the page, as Textract gives them) is this service's addition,
# kept on the blocks that had one in the initial value.
TEXTRACT_DOCS = "https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-crowd-textract-detection.html"
_TEXTRACT_BLOCK = {
    "type": "object", "required": ["blockType", "id", "relationships", "entityTypes", "text"], "properties": {
        "blockType": {"const": "KEY_VALUE_SET"},
        "id": {"type": "string", "minLength": 1},
        "relationships": {"type": "array", "items": {"type": "object", "required": ["type", "ids"], "properties": {
            "type": {"enum": ["CHILD", "VALUE"]}, "ids": {"type": "array", "items": _STR}}}},
        "entityTypes": {"type": "array", "minItems": 1, "items": {"enum": ["KEY", "VALUE"]}},
        "text": {"type": "string", "maxLength": 20_000},
        "geometry": {"type": "object", "properties": {
            "boundingBox": {"type": "object", "required": ["height", "left", "top", "width"], "properties": {
                "height": _NUM, "left": _NUM, "top": _NUM, "width": _NUM}},
            "polygon": {"type": "array", "items": _POINT}}}}}
_TEXTRACT = {"type": "object", "required": ["blocks"], "properties": {
    "blocks": {"type": "array", "maxItems": 2000, "items": _TEXTRACT_BLOCK}}}


@dataclass(frozen=True)
class Element:
    tag: str
    answer: str  # the shape, as the docs table prints it
    schema: dict[str, Any] | None  # None: the element adds nothing to the answer
    supported: bool = True
    confirmed: bool = False
    fixed_key: str | None = None  # the answer key when it is not the element's `name`
    default_name: str | None = None  # the key when the template gives no `name`
    docs: str | None = None  # AWS's page, when it is not at the usual sms-ui-template-<tag> address

    @property
    def docs_url(self) -> str:
        return self.docs or DOCS.format(self.tag)


_ELEMENTS = [
    # ---- image annotation
    Element("crowd-bounding-box",
            "{name: {boundingBoxes: [{height, label, left, top, width}], inputImageProperties: {height, width}"
            "[, initialValueModified: bool]}} (pixels; initialValueModified only with an initial-value)",
            {"type": "object", "required": ["boundingBoxes", "inputImageProperties"], "properties": {
                "boundingBoxes": {"type": "array", "items": {"type": "object",
                                  "required": ["height", "label", "left", "top", "width"],
                                  "properties": {"height": _NUM, "label": _STR, "left": _NUM, "top": _NUM, "width": _NUM}}},
                "inputImageProperties": _IMAGE_PROPS, "initialValueModified": {"type": "boolean"}}},
            confirmed=True, default_name="annotatedResult"),
    Element("crowd-keypoint", "{name: {inputImageProperties: {height, width}, keypoints: [{label, x, y}]}}",
            {"type": "object", "required": ["inputImageProperties", "keypoints"], "properties": {
                "inputImageProperties": _IMAGE_PROPS,
                "keypoints": {"type": "array", "items": {"type": "object", "required": ["label", "x", "y"],
                              "properties": {"label": _STR, "x": _NUM, "y": _NUM}}}}},
            confirmed=True, default_name="annotatedResult"),
    Element("crowd-polygon", "{name: {inputImageProperties: {height, width}, polygons: [{label, vertices: [{x, y}]}]}}",
            _shapes("polygons", 3), default_name="annotatedResult"),
    Element("crowd-polyline", "{name: {inputImageProperties: {height, width}, polylines: [{label, vertices: [{x, y}]}]}}",
            _shapes("polylines", 2), default_name="annotatedResult"),
    Element("crowd-line", "{name: {inputImageProperties: {height, width}, lines: [{label, vertices: [{x, y}, {x, y}]}]}}",
            _shapes("lines", 2, 2), default_name="annotatedResult"),
    Element("crowd-semantic-segmentation",
            "{name: {inputImageProperties: {height, width}, labelMappings: {label: {color}}, "
            "labeledImage: {pngImageData: base64 PNG}}}",
            {"type": "object", "required": ["inputImageProperties", "labelMappings", "labeledImage"], "properties": {
                "inputImageProperties": _IMAGE_PROPS,
                "labelMappings": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["color"], "properties": {"color": _STR}}},
                "labeledImage": _PNG}},
            default_name="annotatedResult"),
    Element("crowd-instance-segmentation",
            "{name: {inputImageProperties: {height, width}, instances: [{color, label}], "
            "labeledImage: {pngImageData: base64 PNG}}}",
            {"type": "object", "required": ["inputImageProperties", "instances", "labeledImage"], "properties": {
                "inputImageProperties": _IMAGE_PROPS,
                "instances": {"type": "array", "items": {"type": "object", "required": ["color", "label"],
                              "properties": {"color": _STR, "label": _STR}}},
                "labeledImage": _PNG}},
            default_name="annotatedResult"),
    # ---- classification
    Element("crowd-image-classifier", "{name: {label: category}}",
            {"type": "object", "required": ["label"], "properties": {"label": _STR}}, confirmed=True,
            default_name="category"),
    Element("crowd-image-classifier-multi-select", "{name: {labels: [category, ...]}}",
            {"type": "object", "required": ["labels"], "properties": {"labels": {"type": "array", "items": _STR}}},
            confirmed=True, default_name="category"),
    Element("crowd-classifier", "{name: {label: category}}",
            {"type": "object", "required": ["label"], "properties": {"label": _STR}}, confirmed=True,
            default_name="category"),
    Element("crowd-classifier-multi-select", "{name: {labels: [category, ...]}}",
            {"type": "object", "required": ["labels"], "properties": {"labels": {"type": "array", "items": _STR}}},
            default_name="category"),
    Element("crowd-rekognition-detect-moderation-labels",
            f'{{"{MODERATION_KEY}": {{moderationLabels: [{{name, parentName}}]}}}} (empty list: None of these)',
            {"type": "object", "required": ["moderationLabels"], "properties": {"moderationLabels": {
                "type": "array", "items": {"type": "object", "required": ["name", "parentName"],
                                           "properties": {"name": _STR, "parentName": _STR}}}}},
            confirmed=True, fixed_key=MODERATION_KEY),
    Element("crowd-entity-annotation", "{name: {entities: [{endOffset, label, startOffset}]}} (characters; end exclusive)",
            {"type": "object", "required": ["entities"], "properties": {"entities": {"type": "array", "items": {
                "type": "object", "required": ["endOffset", "label", "startOffset"],
                "properties": {"endOffset": _INT, "label": _STR, "startOffset": _INT}}}}},
            default_name="crowd-entity-annotation"),
    Element("crowd-textract-analyze-document",
            f'{{"{TEXTRACT_KEY}": {{blocks: [{{blockType: "KEY_VALUE_SET", id, relationships: [{{type, ids}}], '
            'entityTypes: ["KEY" or "VALUE"], text[, geometry: {boundingBox: {height, left, top, width}, polygon}]}]}} '
            "(the KEY blocks, then their VALUE blocks; ids kept; a pair the reviewer marks not valid is left out; "
            "an important key the reviewer types a value for adds a KEY and a VALUE with new ids; "
            "geometry is this service's addition, not in AWS's sample; submitted even when untouched)",
            _TEXTRACT, confirmed=True, fixed_key=TEXTRACT_KEY, docs=TEXTRACT_DOCS),
    Element("crowd-rekognition-detect-moderation-labels-video", "not implemented locally", None, supported=False),
    Element("crowd-video-classifier", "not implemented locally", None, supported=False),
    Element("crowd-audio-classifier", "not implemented locally", None, supported=False),
    Element("crowd-kendra-question-answer", "not implemented locally", None, supported=False),
    # ---- form inputs
    Element("crowd-input", "{name: text}", _STR,
            default_name="input"),
    Element("crowd-text-area", "{name: text}", _STR, default_name="textArea"),
    Element("crowd-checkbox", "{name: {value: checked}} (boxes sharing a name merge)",
            {"type": "object", "additionalProperties": {"type": "boolean"}}, default_name="checkbox"),
    Element("crowd-radio-button", "{name: {value: checked}} per button",
            {"type": "object", "additionalProperties": {"type": "boolean"}}, default_name="radio"),
    Element("crowd-slider", "{name: number}", _NUM, default_name="slider"),
    # ---- no answer of their own
    Element("crowd-form", "the answer itself; plain <input>/<select>/<textarea name=...>: {name: value}", None),
    Element("crowd-radio-group", "nothing (its crowd-radio-buttons answer)", None),
    Element("crowd-button", "nothing", None),
    Element("crowd-alert", "nothing", None),
    Element("crowd-card", "nothing", None),
    Element("crowd-instructions", "nothing", None),
    Element("short-instructions", "nothing", None),
    Element("full-instructions", "nothing", None),
]

ELEMENTS: dict[str, Element] = {e.tag: e for e in _ELEMENTS}
SUPPORTED = frozenset(e.tag for e in _ELEMENTS if e.supported)

_TAG = re.compile(r"<((?:crowd-|short-|full-)[a-z-]+)\b([^>]*)>", re.IGNORECASE)
_NAME = re.compile(r"""\bname\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def expected_parts(html: str) -> dict[str, Element]:
    """The answer keys a (rendered) worker template's elements produce, with the element of each."""
    out: dict[str, Element] = {}
    for m in _TAG.finditer(html):
        element = ELEMENTS.get(m.group(1).lower())
        if element is None or element.schema is None:
            continue
        if element.fixed_key:
            out[element.fixed_key] = element
            continue
        n = _NAME.search(m.group(2))
        key = next((g for g in n.groups() if g is not None), None) if n else element.default_name
        if key:
            out[key] = element
    return out


def docs_table() -> str:
    """The Markdown table of docs/crowd-elements.md."""
    rows = ["| element | answerContent part | supported locally | shape checked against AWS's page |",
            "|---|---|---|---|"]
    for e in _ELEMENTS:
        rows.append(f"| [`{e.tag}`]({e.docs_url}) | `{e.answer}` | {'yes' if e.supported else 'no'} | "
                    f"{'yes' if e.confirmed else 'no'} |")
    return "\n".join(rows)
