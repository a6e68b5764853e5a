"""SageMaker Batch Transform, for nightly batches too large for one InvokeEndpoint per image.

This module holds what is pure: the backend's options, the deterministic job name and the
CreateTransformJob config. The stage functions that read images and join the job's output are in
`stages/transform.py`; the deferrable operator is `operators.ReviewTransformOperator`.

YAML (`model.options`): model_name (an existing SageMaker model), instance_type,
instance_count, content_type, accept, max_concurrent_transforms, max_payload_mb,
job_timeout_seconds, check_interval_seconds, parser, class_names, layout, min_score.
"""

from __future__ import annotations

import hashlib
from typing import Any

from human_review.images import DecodedImage
from human_review.inference.base import ModelBackend
from human_review.inference.parsers import validate_parser_options

OPTIONS = {"model_name", "instance_type", "instance_count", "content_type", "accept", "max_concurrent_transforms",
           "max_payload_mb", "job_timeout_seconds", "check_interval_seconds", "parser", "class_names", "layout",
           "min_score"}


class BatchTransformBackend(ModelBackend):
    """Not called per image: the DAG factory builds the transform branch for this backend."""

    kind = "detection"

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> None:
        unknown = set(options) - OPTIONS
        if unknown:
            raise ValueError(f"options.{sorted(unknown)[0]}: unknown option; known: {', '.join(sorted(OPTIONS))}")
        for required in ("model_name", "instance_type"):
            if not isinstance(options.get(required), str) or not options[required]:
                raise ValueError(f"options.{required}: required for a batch transform")
        validate_parser_options(options)

    @property
    def model_version(self) -> str:
        return f"SageMaker model {self.options.get('model_name')} (batch transform)"

    def predict(self, image: DecodedImage) -> dict[str, Any]:
        raise NotImplementedError("sagemaker-batch-transform predicts a whole batch in a transform job")


def job_name(pipeline: str, run_key: str, batch: int) -> str:
    """Deterministic, unique per pipeline, run and batch; fits SageMaker's 63 characters."""
    digest = hashlib.sha256(f"{pipeline}|{run_key}".encode()).hexdigest()[:10]
    return f"{pipeline[:30].rstrip('-')}-{digest}-b{batch:05d}"


def transform_config(options: dict[str, Any], name: str, manifest_uri: str, output_uri: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": options["model_name"],
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest_uri}},
            "ContentType": options.get("content_type", "application/x-image"),
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": options.get("accept", "application/json"),
                            "AssembleWith": "None"},
        "TransformResources": {"InstanceType": options["instance_type"],
                               "InstanceCount": int(options.get("instance_count", 1))},
    }
    if options.get("max_concurrent_transforms"):
        config["MaxConcurrentTransforms"] = int(options["max_concurrent_transforms"])
    if options.get("max_payload_mb"):
        config["MaxPayloadInMB"] = int(options["max_payload_mb"])
    return config
