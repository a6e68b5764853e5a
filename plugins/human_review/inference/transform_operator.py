"""ReviewTransformOperator: providers-amazon's SageMakerTransformOperator, made cheap to retry.

Imported by the DAG factory only for pipelines whose backend is `sagemaker-batch-transform`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTransformOperator


class ReviewTransformOperator(SageMakerTransformOperator):
    """Skips a batch without valid images (empty config) and returns at once when the job of that
    name already completed (a retry, a cleared task, a rerun); otherwise starts the job and defers."""

    def execute(self, context: Any) -> dict | None:
        if not self.config:
            self.log.info("No valid image in this batch: no transform job.")
            return None
        name = self.config.get("Transform", self.config).get("TransformJobName")
        try:
            desc = self.hook.describe_transform_job(name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ValidationException":  # not found
                raise
            desc = None
        if desc and desc.get("TransformJobStatus") == "Completed":
            self.log.info("Transform job %s already completed (retry or rerun): nothing to do.", name)
            return {"TransformJobName": name, "TransformJobStatus": "Completed"}
        return super().execute(context)
