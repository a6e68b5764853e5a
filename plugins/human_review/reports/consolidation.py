"""Consolidation: up to three reviewers' answers (A2I TaskCount 1-3) into one answer per loop.

- Labels (moderation multi-select, or a single-label classifier): a label stands when more than
  half the workers picked it; a label picked by exactly half is `disputed` (kept out of `labels`).
- Boxes: matched across workers by IoU (same label, IoU >= threshold, at most one box per worker
  per group); each group a majority of workers drew becomes one box, the mean of its members;
  groups drawn by exactly half the workers are `disputed`, groups drawn by fewer are dropped.
- Agreement: each answer's agreement with the consolidated answer (Jaccard for labels, F1 at the
  IoU threshold for boxes), and the item's agreement score, the mean over its answers.
"""

from __future__ import annotations

from collections import Counter
from statistics import mean
from typing import Any

from human_review.a2i import MODERATION_ANSWER_KEYS
from human_review.claims import DEFAULT as DEFAULT_THRESHOLDS, Thresholds

DEFAULT_IOU = 0.5
_BOX_FIELDS = ("left", "top", "width", "height")


def iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Intersection over union of two pixel boxes {left, top, width, height}."""
    ax2, ay2 = a["left"] + a["width"], a["top"] + a["height"]
    bx2, by2 = b["left"] + b["width"], b["top"] + b["height"]
    w = min(ax2, bx2) - max(a["left"], b["left"])
    h = min(ay2, by2) - max(a["top"], b["top"])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = a["width"] * a["height"] + b["width"] * b["height"] - inter
    return inter / union if union > 0 else 0.0


def match_boxes(a: list[dict[str, Any]], b: list[dict[str, Any]], threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best IoU first, same label only, IoU >= threshold."""
    pairs = sorted(
        ((iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)
         if _label(x) == _label(y)),
        reverse=True,
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for score, i, j in pairs:
        if score < threshold or score <= 0:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j))
    return out


def _label(box: dict[str, Any]) -> str:
    return str(box.get("label", "")).casefold()


def answer_labels(content: dict[str, Any]) -> list[str] | None:
    """The labels in one answerContent (moderation multi-select or a classifier), else None."""
    for key in MODERATION_ANSWER_KEYS:
        if key in content:
            return sorted({l.get("name", "") for l in content[key].get("moderationLabels", []) if l.get("name")})
    for value in content.values():
        if isinstance(value, dict) and "label" in value and "boundingBoxes" not in value:
            label = value["label"]
            return sorted(label) if isinstance(label, list) else [label]
        if isinstance(value, dict) and "labels" in value and isinstance(value["labels"], list):
            return sorted(set(value["labels"]))
    return None


def answer_boxes(content: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The boxes and inputImageProperties in one answerContent (crowd-bounding-box), else None."""
    for value in content.values():
        if isinstance(value, dict) and "boundingBoxes" in value:
            boxes = [dict(b) for b in value["boundingBoxes"] or [] if isinstance(b, dict)]
            # crowd-bounding-box reports initialValueModified on the answer (annotatedResult), not per box;
            # older answers of this project carried it per box: a box's own flag wins
            if "initialValueModified" in value:
                for b in boxes:
                    b.setdefault("initialValueModified", bool(value["initialValueModified"]))
            return boxes, dict(value.get("inputImageProperties") or {})
    return None


def _jaccard(a: set[str], b: set[str]) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def box_f1(a: list[dict[str, Any]], b: list[dict[str, Any]], threshold: float) -> float:
    """F1 of two box sets matched at the IoU threshold (1.0 when both are empty)."""
    if not a and not b:
        return 1.0
    matched = len(match_boxes(a, b, threshold))
    return 2 * matched / (len(a) + len(b))


def _consolidate_labels(label_sets: list[list[str]]) -> dict[str, Any]:
    n = len(label_sets)
    votes = Counter(l for labels in label_sets for l in set(labels))
    labels = sorted(l for l, v in votes.items() if v * 2 > n)
    disputed = sorted(l for l, v in votes.items() if v * 2 == n)
    per_answer = [_jaccard(set(s), set(labels)) for s in label_sets]
    return {"labels": labels, "disputed": disputed, "per_answer": per_answer}


def _consolidate_boxes(box_sets: list[list[dict[str, Any]]], threshold: float) -> dict[str, Any]:
    n = len(box_sets)
    groups: list[list[tuple[int, dict[str, Any]]]] = []  # (worker index, box)
    for w, boxes in enumerate(box_sets):
        reps = [_mean_box([b for _, b in g]) for g in groups]
        open_idx = [k for k, g in enumerate(groups) if all(wi != w for wi, _ in g)]
        pairs = match_boxes(boxes, [reps[k] for k in open_idx], threshold)
        matched = {i: open_idx[j] for i, j in pairs}
        for i, box in enumerate(boxes):
            if i in matched:
                groups[matched[i]].append((w, box))
            else:
                groups.append([(w, box)])
    kept, disputed = [], []
    for g in groups:
        merged = _mean_box([b for _, b in g])
        merged["votes"] = len(g)
        if len(g) * 2 > n:
            kept.append(merged)
        elif len(g) * 2 == n:
            disputed.append(merged)
    key = lambda b: (b["label"], b["top"], b["left"])  # noqa: E731
    kept.sort(key=key)
    disputed.sort(key=key)
    per_answer = [box_f1(s, kept, threshold) for s in box_sets]
    return {"boxes": kept, "disputed": disputed, "per_answer": per_answer}


def _mean_box(boxes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {f: int(round(mean(float(b[f]) for b in boxes))) for f in _BOX_FIELDS}
    out["label"] = Counter(str(b.get("label", "")) for b in boxes).most_common(1)[0][0]
    modified = sum(1 for b in boxes if b.get("initialValueModified", True))
    out["initialValueModified"] = modified * 2 > len(boxes) if boxes else False
    return out


def consolidate(answers: list[dict[str, Any]], iou_threshold: float = DEFAULT_IOU) -> dict[str, Any]:
    """The people's answer for one loop, from every entry of output.json's humanAnswers.

    Returns `{"labels": [...], "disputed": [...]}` or `{"boxes": [...], "disputed": [...],
    "image": {"width", "height"}}` (or `{"raw": ...}` for an answer shape it does not know), plus
    `agreement` (0-1, mean over answers) and `per_answer` (each answer's agreement, in order).
    """
    contents = [a.get("answerContent") or {} for a in answers]
    label_sets = [l for l in (answer_labels(c) for c in contents) if l is not None]
    if label_sets:
        out = _consolidate_labels(label_sets)
    else:
        parsed = [b for b in (answer_boxes(c) for c in contents) if b is not None]
        if not parsed:
            return {"raw": contents[0] if contents else {}, "agreement": None, "per_answer": [None] * len(contents)}
        out = _consolidate_boxes([boxes for boxes, _ in parsed], iou_threshold)
        size = next((p for _, p in parsed if p.get("width")), {})
        if size:
            out["image"] = {"width": size.get("width"), "height": size.get("height")}
    out["agreement"] = round(mean(out["per_answer"]), 4) if out["per_answer"] else None
    out["per_answer"] = [round(x, 4) for x in out["per_answer"]]
    return out


def model_answer(prediction: dict[str, Any] | None, thresholds: Thresholds | None = None) -> dict[str, Any] | None:
    """What the model *claimed* (claims.py), in the consolidated answer's shape, with its scores.

    `labels` / `boxes` hold the claims only (confidence >= the label's decision threshold, 50 by
    default); `confidence` keeps every label's score and `unlikely` the boxes below the threshold,
    so "Suggestive 3.2%" is a score the report shows, not a label people can "remove".
    """
    if not prediction:
        return None
    t = thresholds or DEFAULT_THRESHOLDS
    if "Detections" in prediction:
        boxes = [
            {"label": d.get("Name", ""), "left": d["BoundingBox"]["Left"], "top": d["BoundingBox"]["Top"],
             "width": d["BoundingBox"]["Width"], "height": d["BoundingBox"]["Height"],
             "confidence": d.get("Confidence")}
            for d in prediction.get("Detections") or []
        ]
        return {
            "boxes": [b for b in boxes if t.claimed(b["label"], b["confidence"])],
            "unlikely": [b for b in boxes if not t.claimed(b["label"], b["confidence"])],
            "image": {"width": (prediction.get("Image") or {}).get("Width"),
                      "height": (prediction.get("Image") or {}).get("Height")},
        }
    if "ModerationLabels" in prediction:
        labels = prediction.get("ModerationLabels") or []
        return {"labels": sorted({l["Name"] for l in labels if t.claimed(l["Name"], l.get("Confidence"))}),
                "confidence": {l["Name"]: l.get("Confidence") for l in labels}}
    return None


def model_confidence(prediction: dict[str, Any] | None) -> float | None:
    """The raw score that activation conditions test: the least confident label or box, claimed or not."""
    model = model_answer(prediction)
    if not model:
        return None
    if "boxes" in model:
        values = [b["confidence"] for b in model["boxes"] + model["unlikely"] if b.get("confidence") is not None]
    else:
        values = [v for v in model["confidence"].values() if v is not None]
    return min(values) if values else None


def decision_confidence(prediction: dict[str, Any] | None, thresholds: Thresholds | None = None) -> float | None:
    """How sure the model is of its least sure decision: a claim's score, or 100 - score for a label or
    box it did not claim. Calibration buckets by this (None: the model returned no label or box)."""
    model = model_answer(prediction, thresholds)
    if not model:
        return None
    t = thresholds or DEFAULT_THRESHOLDS
    if "boxes" in model:
        pairs = [(b["label"], b.get("confidence")) for b in model["boxes"] + model["unlikely"]]
    else:
        pairs = list(model["confidence"].items())
    values = [v for v in (t.decision_confidence(l, c) for l, c in pairs) if v is not None]
    return min(values) if values else None


def compare(model: dict[str, Any] | None, human: dict[str, Any], iou_threshold: float = DEFAULT_IOU) -> dict[str, Any]:
    """Per label: how many of the model's labels/boxes people confirmed, removed, and how many they added."""
    out: dict[str, dict[str, int]] = {}

    def bump(label: str, what: str, n: int = 1) -> None:
        out.setdefault(label, {"confirmed": 0, "removed": 0, "added": 0})[what] += n

    model = model or {}
    if "labels" in human:
        m = {l.casefold(): l for l in model.get("labels") or []}
        h = {l.casefold(): l for l in human["labels"]}
        for k in m.keys() & h.keys():
            bump(h[k], "confirmed")
        for k in m.keys() - h.keys():
            bump(m[k], "removed")
        for k in h.keys() - m.keys():
            bump(h[k], "added")
    elif "boxes" in human:
        mb, hb = model.get("boxes") or [], human["boxes"]
        pairs = match_boxes(mb, hb, iou_threshold)
        for i, _ in pairs:
            bump(mb[i]["label"], "confirmed")
        matched_m, matched_h = {i for i, _ in pairs}, {j for _, j in pairs}
        for i, b in enumerate(mb):
            if i not in matched_m:
                bump(b["label"], "removed")
        for j, b in enumerate(hb):
            if j not in matched_h:
                bump(b["label"], "added")
    return out


def changed(model: dict[str, Any] | None, human: dict[str, Any], iou_threshold: float = DEFAULT_IOU) -> bool | None:
    """Whether people changed the model's answer: a label or box added or removed, or a box moved."""
    if "labels" not in human and "boxes" not in human:
        return None
    counts = compare(model, human, iou_threshold)
    if any(c["removed"] or c["added"] for c in counts.values()):
        return True
    return any(b.get("initialValueModified", False) for b in human.get("boxes") or [])
