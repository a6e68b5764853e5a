"""ReviewTransformOperator: providers-amazon's SageMakerTransformOperator, made safe to retry.

Imported by the DAG factory only for pipelines whose backend is `sagemaker-batch-transform`.
The provider, asked to start a job whose name exists, starts a second job under a timestamped
name; for a retried or cleared task whose job is still running that would pay for the same
transform twice. This operator describes the job first:

- no job of that name: start it and defer (the provider's path);
- Completed: return at once;
- InProgress or Stopping: defer on that job, starting nothing;
- Failed or Stopped: start it again (the provider gives it a timestamped name; the output path is
  the batch's, so collect_transform reads it all the same).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTransformOperator

from human_review.exceptions import error_code, is_transient

RUNNING = ("InProgress", "Stopping")


class ReviewTransformOperator(SageMakerTransformOperator):
    """Skips a batch without valid images (empty config); never starts a second job for one batch."""

    def _existing(self, name: str) -> dict[str, Any] | None:
        try:
            return self.hook.describe_transform_job(name)
        except Exception as e:
            # SageMaker answers a missing job with ValidationException ("Could not find job")
            if is_transient(e) or error_code(e) != "ValidationException":
                raise
            return None

    def execute(self, context: Any) -> dict | None:
        if not self.config:
            self.log.info("No valid image in this batch: no transform job.")
            return None
        name = self.config.get("Transform", self.config).get("TransformJobName")
        desc = self._existing(name)
        status = (desc or {}).get("TransformJobStatus")
        if status == "Completed":
            self.log.info("Transform job %s already completed (retry or rerun): nothing to do.", name)
            return {"TransformJobName": name, "TransformJobStatus": "Completed"}
        if status in RUNNING and self.deferrable and self.wait_for_completion:
            self.log.info("Transform job %s is %s (started by an earlier try): waiting on it.", name, status)
            self._defer_on(name)
        if status in RUNNING:
            self.log.info("Transform job %s is %s (started by an earlier try): waiting on it.", name, status)
            self.hook.check_status(name, "TransformJobStatus", self.hook.describe_transform_job,
                                   self.check_interval, self.max_ingestion_time)
            return {"TransformJobName": name, "TransformJobStatus": "Completed"}
        return super().execute(context)

    def _defer_on(self, name: str) -> None:
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        self.defer(
            timeout=dt.timedelta(seconds=self.max_ingestion_time) if self.max_ingestion_time else self.execution_timeout,
            trigger=SageMakerTrigger(
                job_name=name, job_type="Transform", waiter_delay=self.check_interval,
                waiter_max_attempts=self.max_attempts, aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                verify=self.verify, botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
        )
