"""The model backend interface, and the per-process cache that loads each model once."""

from __future__ import annotations

import functools
import importlib
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from human_review.images import DecodedImage


class ModelBackend(ABC):
    """Turns one decoded image into a prediction in the model's own response shape.

    `kind` decides which activation conditions apply and how the worker task is pre-filled:
    `moderation` responses carry `ModerationLabels` (Rekognition's shape), `detection`
    responses carry `Detections` with pixel boxes.
    """

    kind: ClassVar[Literal["moderation", "detection"]]
    #: moderation label categories offered to reviewers, or detector labels
    labels: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.options = options

    @property
    @abstractmethod
    def model_version(self) -> str: ...

    @abstractmethod
    def predict(self, image: DecodedImage) -> dict[str, Any]:
        """Predict for one image; raise on a model failure (the caller retries and records it)."""

    @classmethod
    def summary(cls, prediction: dict[str, Any]) -> str:
        """One line for people: what the model said."""
        if cls.kind == "moderation":
            labels = prediction.get("ModerationLabels") or []
            return ", ".join(f"{l['Name']} {l['Confidence']:.1f}%" for l in labels) or "no labels"
        dets = prediction.get("Detections") or []
        return ", ".join(f"{d['Name']} {d['Confidence']:.0f}%" for d in dets) or "no detections"

    @classmethod
    def task_input(cls, prediction: dict[str, Any]) -> dict[str, Any]:
        """The fields a worker template needs besides the image (pre-filled answers)."""
        if cls.kind == "moderation":
            return {
                "labelCategories": list(cls.labels),
                "modelLabels": [
                    {"name": l["Name"], "parentName": l.get("ParentName", ""), "confidence": l["Confidence"]}
                    for l in prediction.get("ModerationLabels") or []
                ],
            }
        image = prediction.get("Image") or {}
        return {
            "labels": list(cls.labels),
            "imageWidth": image.get("Width"),
            "imageHeight": image.get("Height"),
            "initialValue": [
                {
                    "label": d["Name"],
                    "left": d["BoundingBox"]["Left"],
                    "top": d["BoundingBox"]["Top"],
                    "width": d["BoundingBox"]["Width"],
                    "height": d["BoundingBox"]["Height"],
                    "confidence": d["Confidence"],
                }
                for d in prediction.get("Detections") or []
            ],
        }


def backend_class(name: str) -> type[ModelBackend]:
    from human_review.inference import BACKENDS

    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.lru_cache(maxsize=8)
def _load(name: str, options_json: str) -> ModelBackend:
    return backend_class(name)(**json.loads(options_json))


def load_backend(name: str, options: dict[str, Any] | None = None) -> ModelBackend:
    """The backend, with its model loaded once per process (a task reuses it for every image)."""
    return _load(name, json.dumps(options or {}, sort_keys=True))
