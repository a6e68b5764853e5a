"""Model backends: one interface, chosen per pipeline by `model.backend` in its YAML.

The registry maps a backend name to the class's import path so that parsing a DAG file never
imports a model runtime; the class is imported (and its model loaded, once per process) only in
the task that runs inference. See docs/backends.md for each backend's YAML.
"""

from __future__ import annotations

BACKENDS: dict[str, str] = {
    "local-moderation": "human_review.inference.local:LocalModerationModel",
    "local-face-detection": "human_review.inference.local:LocalFaceDetector",
    "rekognition-moderation": "human_review.inference.rekognition:RekognitionModerationBackend",
    "sagemaker-endpoint": "human_review.inference.sagemaker:SageMakerEndpointBackend",
    "sagemaker-batch-transform": "human_review.inference.batch_transform:BatchTransformBackend",
}
