"""The model backend interface, and the per-process cache that loads each model once."""

from __future__ import annotations

import functools
import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from human_review.claims import DEFAULT as DEFAULT_THRESHOLDS, Thresholds
from human_review.images import DEFAULT_MAX_SIDE, DecodedImage
from human_review.records import ManagedLoop

MAX_SIDE_RANGE = (64, 10_000)


@dataclass(frozen=True)
class ItemContext:
    """Where one image lives and which loop it would get: what remote backends need besides pixels.

    `loop_name` / `flow_definition_arn` are set only when the backend starts loops itself
    (Rekognition's AWS-managed human loops; see `starts_loops`); they are None in a dry run.
    `existing_loop_arn` is set by the infer stage when an earlier try already started that loop.
    """

    bucket: str
    key: str
    size: int
    loop_name: str | None = None
    flow_definition_arn: str | None = None
    existing_loop_arn: str | None = None


@dataclass(frozen=True)
class ItemPrediction:
    """A backend's answer for one image: the prediction, and the loop the service started, if any."""

    prediction: dict[str, Any]
    managed_loop: ManagedLoop | None = None


class ModelBackend(ABC):
    """Turns one decoded image into a prediction in the model's own response shape.

    `kind` decides which activation conditions apply and how the worker task is pre-filled:
    `moderation` responses carry `ModerationLabels` (Rekognition's shape), `detection`
    responses carry `Detections` with pixel boxes.
    """

    kind: ClassVar[Literal["moderation", "detection"]]
    #: moderation label categories offered to reviewers, or detector labels
    labels: ClassVar[tuple[str, ...]] = ()
    #: True for backends that call AWS: the infer stage passes the connection and throttle settings
    remote: ClassVar[bool] = False
    #: False for backends that send the original bytes on (image.data) and never look at the pixels:
    #: infer then only checks the image decodes (images.decode(pixels=False)), which costs less CPU
    needs_pixels: ClassVar[bool] = True
    #: the longest side, in pixels, of the image the model gets (`model.options.max_side` overrides);
    #: images are downscaled to it before predicting and boxes mapped back to the original's pixels
    default_max_side: ClassVar[int] = DEFAULT_MAX_SIDE
    max_side: int = DEFAULT_MAX_SIDE

    def __init__(self, **options: Any) -> None:
        self.options = options

    @property
    @abstractmethod
    def model_version(self) -> str: ...

    @abstractmethod
    def predict(self, image: DecodedImage) -> dict[str, Any]:
        """Predict for one image; raise on a model failure (the caller retries and records it)."""

    @property
    def starts_loops(self) -> bool:
        """Whether the model's service starts human loops itself (the infer stage then passes loop names)."""
        return False

    def predict_item(self, image: DecodedImage, item: ItemContext) -> ItemPrediction:
        """Predict for one image of the batch; remote backends also use where it lives."""
        return ItemPrediction(self.predict(image))

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> None:
        """Raise ValueError naming the option when the YAML's `model.options` cannot work."""

    @classmethod
    def kind_of(cls, prediction: dict[str, Any]) -> str:
        """The prediction's kind: the class's, or, for backends whose kind is set in YAML, its shape's."""
        if "ModerationLabels" in prediction:
            return "moderation"
        if "Detections" in prediction:
            return "detection"
        return cls.kind

    @classmethod
    def summary(cls, prediction: dict[str, Any]) -> str:
        """One line for people: what the model said."""
        if cls.kind_of(prediction) == "moderation":
            labels = prediction.get("ModerationLabels") or []
            return ", ".join(f"{l['Name']} {l['Confidence']:.1f}%" for l in labels) or "no labels"
        dets = prediction.get("Detections") or []
        return ", ".join(f"{d['Name']} {d['Confidence']:.0f}%" for d in dets) or "no detections"

    @classmethod
    def task_input(cls, prediction: dict[str, Any], thresholds: Thresholds | None = None) -> dict[str, Any]:
        """The fields a worker template needs besides the image: what the model claimed (pre-checked
        labels, pre-drawn boxes) and, apart, the scores below the decision threshold ("unlikely")."""
        t = thresholds or DEFAULT_THRESHOLDS
        categories = list(prediction.get("LabelCategories") or cls.labels)
        if cls.kind_of(prediction) == "moderation":
            labels = [
                {"name": l["Name"], "parentName": l.get("ParentName", ""), "confidence": l["Confidence"],
                 "claimed": t.claimed(l["Name"], l["Confidence"]), "hint": t.hint(l["Name"], l["Confidence"])}
                for l in prediction.get("ModerationLabels") or []
            ]
            return {
                "labelCategories": categories,
                "modelLabels": labels,
                "modelClaims": [l["name"] for l in labels if l["claimed"]],
                "decisionThreshold": f"{t.default:g}",
            }
        image = prediction.get("Image") or {}
        boxes = [
            {
                "label": d["Name"],
                "left": d["BoundingBox"]["Left"],
                "top": d["BoundingBox"]["Top"],
                "width": d["BoundingBox"]["Width"],
                "height": d["BoundingBox"]["Height"],
                "confidence": d["Confidence"],
                "hint": t.hint(d["Name"], d["Confidence"]),
            }
            for d in prediction.get("Detections") or []
        ]
        return {
            "labels": categories,
            "imageWidth": image.get("Width"),
            "imageHeight": image.get("Height"),
            "initialValue": [b for b in boxes if t.claimed(b["label"], b["confidence"])],
            "unlikelyBoxes": [b for b in boxes if not t.claimed(b["label"], b["confidence"])],
            "decisionThreshold": f"{t.default:g}",
        }


def split_max_side(name: str, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """`max_side` (an option every backend takes) apart from the backend's own options."""
    rest = dict(options)
    value = rest.pop("max_side", None)
    if value is None:
        return backend_class(name).default_max_side, rest
    low, high = MAX_SIDE_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"options.max_side: must be a whole number of pixels between {low} and {high:,}")
    return value, rest


def backend_class(name: str) -> type[ModelBackend]:
    from human_review.inference import BACKENDS

    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.lru_cache(maxsize=8)
def _load(name: str, options_json: str) -> ModelBackend:
    max_side, options = split_max_side(name, json.loads(options_json))
    backend = backend_class(name)(**options)
    backend.max_side = max_side
    return backend


def load_backend(name: str, options: dict[str, Any] | None = None, **settings: Any) -> ModelBackend:
    """The backend, with its model loaded once per process (a task reuses it for every image).

    `settings` (connection, region, requests per second, retries) reach remote backends only.
    """
    merged = dict(options or {})
    if backend_class(name).remote:
        merged.update({k: v for k, v in settings.items() if v is not None})
    return _load(name, json.dumps(merged, sort_keys=True))
