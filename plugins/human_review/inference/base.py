"""The model backend interface, and the per-process cache that loads each model once."""

from __future__ import annotations

import functools
import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from human_review.images import DecodedImage


@dataclass(frozen=True)
class ItemContext:
    """Where one image lives and which loop it would get: what remote backends need besides pixels.

    `loop_name` / `flow_definition_arn` are set only when the backend may start the loop itself
    (Rekognition's AWS-managed human loops); they are None in a dry run.
    """

    bucket: str
    key: str
    size: int
    loop_name: str | None = None
    flow_definition_arn: str | None = None


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

    def __init__(self, **options: Any) -> None:
        self.options = options

    @property
    @abstractmethod
    def model_version(self) -> str: ...

    @abstractmethod
    def predict(self, image: DecodedImage) -> dict[str, Any]:
        """Predict for one image; raise on a model failure (the caller retries and records it)."""

    def predict_item(self, image: DecodedImage, item: ItemContext) -> dict[str, Any]:
        """Predict for one image of the batch; remote backends also use where it lives."""
        return self.predict(image)

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
    def task_input(cls, prediction: dict[str, Any]) -> dict[str, Any]:
        """The fields a worker template needs besides the image (pre-filled answers)."""
        categories = list(prediction.get("LabelCategories") or cls.labels)
        if cls.kind_of(prediction) == "moderation":
            return {
                "labelCategories": categories,
                "modelLabels": [
                    {"name": l["Name"], "parentName": l.get("ParentName", ""), "confidence": l["Confidence"]}
                    for l in prediction.get("ModerationLabels") or []
                ],
            }
        image = prediction.get("Image") or {}
        return {
            "labels": categories,
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


def load_backend(name: str, options: dict[str, Any] | None = None, **settings: Any) -> ModelBackend:
    """The backend, with its model loaded once per process (a task reuses it for every image).

    `settings` (connection, region, requests per second, retries) reach remote backends only.
    """
    merged = dict(options or {})
    if backend_class(name).remote:
        merged.update({k: v for k, v in settings.items() if v is not None})
    return _load(name, json.dumps(merged, sort_keys=True))
