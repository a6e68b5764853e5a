"""Model backends: one interface, chosen per pipeline by `model.backend` in its YAML.

The registry maps a backend name to the class's import path so that parsing a DAG file never
imports a model runtime; the class is imported (and its model loaded, once per process) only in
the task that runs inference. See docs/backends.md for each backend's YAML.
"""

from __future__ import annotations

BATCH_TRANSFORM = "sagemaker-batch-transform"  # predicts whole batches: the DAG has a transform branch
BACKENDS: dict[str, str] = {
    "local-moderation": "human_review.inference.local:LocalModerationModel",
    "local-face-detection": "human_review.inference.local:LocalFaceDetector",
    "rekognition-moderation": "human_review.inference.rekognition:RekognitionModerationBackend",
    "sagemaker-endpoint": "human_review.inference.sagemaker:SageMakerEndpointBackend",
    BATCH_TRANSFORM: "human_review.inference.batch_transform:BatchTransformBackend",
}
