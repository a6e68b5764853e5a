"""Reviewed items as a SageMaker Ground Truth augmented manifest (JSON lines) for retraining.

Shapes follow Ground Truth's output data documentation:
- object detection: `{"source-ref", ATTR: {"image_size": [{width, height, depth}], "annotations":
  [{class_id, left, top, width, height}]}, ATTR-metadata: {"objects": [{"confidence"}], "class-map",
  "type": "groundtruth/object-detection", "human-annotated": "yes", "creation-date", "job-name"}}`
- multi-label image classification (moderation labels): `{"source-ref", ATTR: [class ids],
  ATTR-metadata: {"class-map", "confidence-map", "type": "groundtruth/image-classification-multilabel",
  "human-annotated": "yes", "creation-date", "job-name"}}`
Only rows whose final answer came from people (`final_source == "human"`) are exported; the
per-item confidence is the reviewers' agreement score.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from human_review.reports.schema import FINAL_HUMAN


def _class_map(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    names: set[str] = set()
    for r in rows:
        answer = json.loads(r["final_answer"])
        names.update(b["label"] for b in answer.get("boxes") or []) if key == "boxes" else names.update(answer.get("labels") or [])
    return {name: i for i, name in enumerate(sorted(names))}


def manifest_lines(rows: Iterable[dict[str, Any]], label_attribute: str, job_name: str,
                   creation_date: str) -> list[str]:
    """One JSON line per image people reviewed, in the Ground Truth shape of its answer."""
    reviewed = [r for r in rows if r.get("final_source") == FINAL_HUMAN and r.get("final_answer")]
    if not reviewed:
        return []
    kind = "boxes" if "boxes" in json.loads(reviewed[0]["final_answer"]) else "labels"
    classes = _class_map(reviewed, kind)
    class_map = {str(i): name for name, i in classes.items()}
    lines = []
    for r in reviewed:
        answer = json.loads(r["final_answer"])
        confidence = r.get("agreement")
        confidence = 1.0 if confidence is None or confidence != confidence else round(float(confidence), 4)
        meta: dict[str, Any] = {"class-map": class_map, "human-annotated": "yes",
                                "creation-date": creation_date, "job-name": job_name}
        if kind == "boxes":
            size = answer.get("image") or {}
            width = size.get("width") or r.get("image_width")
            height = size.get("height") or r.get("image_height")
            value: Any = {
                "image_size": [{"width": int(width or 0), "height": int(height or 0), "depth": 3}],
                "annotations": [{"class_id": classes[b["label"]], "left": int(b["left"]), "top": int(b["top"]),
                                 "width": int(b["width"]), "height": int(b["height"])} for b in answer["boxes"]],
            }
            meta.update(objects=[{"confidence": confidence} for _ in answer["boxes"]],
                        type="groundtruth/object-detection")
        else:
            ids = [classes[l] for l in answer.get("labels") or []]
            value = ids
            meta.update({"confidence-map": {str(i): confidence for i in ids},
                         "type": "groundtruth/image-classification-multilabel"})
        lines.append(json.dumps({"source-ref": r["image_uri"], label_attribute: value,
                                 f"{label_attribute}-metadata": meta}, sort_keys=False))
    return lines
