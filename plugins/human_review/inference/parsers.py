"""Turn a SageMaker model's response body into this project's prediction shapes, chosen by name.

- `sagemaker-ssd`: the SageMaker built-in Object Detection algorithm (SSD, MXNet/GluonCV), used by
  AWS's "A2I with SageMaker for object detection" sample: `{"prediction": [[class_id, score,
  xmin, ymin, xmax, ymax], ...]}`, coordinates normalised to 0-1, score 0-1. Class ids map to
  names through `class_names` (a YAML list, e.g. the 20 PASCAL VOC classes of the sample). Rows
  given as objects (`{"id"|"class_id", "score", "left", "top", "right", "bottom"}`) are read too.
- `json-layout`: any JSON response, described in YAML with JSONPath-like paths
  (`$.predictions`, `outputs[0].boxes`): where the list is, and which field of each item holds
  the label (or a class id), the score and the box.

Detections come out as `{"Name", "Confidence" (0-100), "BoundingBox": {Left, Top, Width, Height}
in pixels}` plus `Image: {Width, Height}`; moderation labels as Rekognition's `ModerationLabels`.
"""

from __future__ import annotations

import re
from typing import Any, Callable

_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+|\*)\]")


def get_path(doc: Any, path: str) -> Any:
    """Read `$.a.b[0].c` (a leading `$` is optional; `[*]` means the list itself)."""
    path = path.strip()
    if path in ("", "$"):
        return doc
    path = path.removeprefix("$")
    pos, value = 0, doc
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None:
            raise ValueError(f"cannot read path {path!r} at {path[pos:]!r}")
        pos = m.end()
        name, index = m.groups()
        if name is not None:
            if not isinstance(value, dict) or name not in value:
                raise KeyError(f"no field {name!r} in the response (path {path!r})")
            value = value[name]
        elif index != "*":
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(f"no item [{index}] in the response (path {path!r})")
            value = value[int(index)]
    return value


def _box(x0: float, y0: float, x1: float, y1: float, width: int, height: int, normalised: bool) -> dict[str, float]:
    if normalised:
        x0, x1, y0, y1 = x0 * width, x1 * width, y0 * height, y1 * height
    x0, x1 = max(0.0, min(x0, x1)), min(float(width), max(x0, x1))
    y0, y1 = max(0.0, min(y0, y1)), min(float(height), max(y0, y1))
    return {"Left": round(x0), "Top": round(y0), "Width": round(x1 - x0), "Height": round(y1 - y0)}


def _name(class_id: Any, class_names: list[str]) -> str:
    try:
        i = int(float(class_id))
    except (TypeError, ValueError):
        return str(class_id)
    return class_names[i] if 0 <= i < len(class_names) else str(i)


def parse_sagemaker_ssd(body: Any, width: int, height: int, options: dict[str, Any]) -> dict[str, Any]:
    names = list(options.get("class_names") or [])
    min_score = float(options.get("min_score", 0.0))
    rows = body.get("prediction") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise ValueError("expected {'prediction': [[class_id, score, xmin, ymin, xmax, ymax], ...]}")
    detections = []
    for row in rows:
        if isinstance(row, dict):
            cid, score = row.get("id", row.get("class_id")), row["score"]
            x0, y0, x1, y1 = row["left"], row["top"], row["right"], row["bottom"]
        else:
            cid, score, x0, y0, x1, y1 = row[:6]
        if cid is None or float(cid) < 0 or float(score) < min_score:  # SSD pads with class -1
            continue
        detections.append({
            "Name": _name(cid, names),
            "Confidence": round(float(score) * 100, 3),
            "BoundingBox": _box(float(x0), float(y0), float(x1), float(y1), width, height, normalised=True),
        })
    detections.sort(key=lambda d: -d["Confidence"])
    return {"Detections": detections, "Image": {"Width": width, "Height": height}, "LabelCategories": names}


LAYOUT_KEYS = {"kind", "items", "label", "class_id", "class_names", "score", "score_scale", "box", "box_format",
               "normalized", "min_score"}


def validate_layout(layout: Any) -> None:
    if not isinstance(layout, dict):
        raise ValueError("options.layout: must be a mapping (items, label or class_id, score, box)")
    unknown = set(layout) - LAYOUT_KEYS
    if unknown:
        raise ValueError(f"options.layout.{sorted(unknown)[0]}: unknown key; known: {', '.join(sorted(LAYOUT_KEYS))}")
    kind = layout.get("kind", "detection")
    if kind not in ("detection", "moderation"):
        raise ValueError("options.layout.kind: must be 'detection' or 'moderation'")
    for key in ("items", "score"):
        if not isinstance(layout.get(key), str):
            raise ValueError(f"options.layout.{key}: required (a path such as '$.predictions')")
    if not (isinstance(layout.get("label"), str) or isinstance(layout.get("class_id"), str)):
        raise ValueError("options.layout.label: give label (a name field) or class_id (with class_names)")
    if kind == "detection" and not isinstance(layout.get("box"), str):
        raise ValueError("options.layout.box: required for detections (a field holding 4 numbers)")
    if layout.get("box_format", "xyxy") not in ("xyxy", "xywh"):
        raise ValueError("options.layout.box_format: must be 'xyxy' (left, top, right, bottom) or 'xywh'")
    if layout.get("score_scale", 1) not in (1, 100):
        raise ValueError("options.layout.score_scale: must be 1 (scores 0-1) or 100 (percent)")


def parse_json_layout(body: Any, width: int, height: int, options: dict[str, Any]) -> dict[str, Any]:
    layout = options["layout"]
    names = list(layout.get("class_names") or [])
    scale = 100 / float(layout.get("score_scale", 1))
    min_score = float(layout.get("min_score", 0))
    items = get_path(body, layout["items"])
    if not isinstance(items, list):
        raise ValueError(f"{layout['items']} is not a list in the response")
    out = []
    for item in items:
        score = float(get_path(item, layout["score"])) * scale
        if score < min_score:
            continue
        name = str(get_path(item, layout["label"])) if layout.get("label") else _name(get_path(item, layout["class_id"]), names)
        entry: dict[str, Any] = {"Name": name, "Confidence": round(score, 3)}
        if layout.get("box"):
            a, b, c, d = (float(v) for v in get_path(item, layout["box"])[:4])
            if layout.get("box_format", "xyxy") == "xywh":
                c, d = a + c, b + d
            entry["BoundingBox"] = _box(a, b, c, d, width, height, normalised=bool(layout.get("normalized", True)))
        out.append(entry)
    out.sort(key=lambda d: -d["Confidence"])
    if layout.get("kind", "detection") == "moderation":
        return {"ModerationLabels": [{"Name": e["Name"], "ParentName": "", "Confidence": e["Confidence"]} for e in out],
                "LabelCategories": names}
    return {"Detections": out, "Image": {"Width": width, "Height": height}, "LabelCategories": names}


PARSERS: dict[str, Callable[[Any, int, int, dict[str, Any]], dict[str, Any]]] = {
    "sagemaker-ssd": parse_sagemaker_ssd,
    "gluoncv-ssd": parse_sagemaker_ssd,
    "json-layout": parse_json_layout,
}


def validate_parser_options(options: dict[str, Any]) -> None:
    parser = options.get("parser", "sagemaker-ssd")
    if parser not in PARSERS:
        raise ValueError(f"options.parser: unknown parser {parser!r}; known: {', '.join(PARSERS)}")
    if parser == "json-layout":
        validate_layout(options.get("layout"))
    names = options.get("class_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("options.class_names: must be a list of names, index = class id")
