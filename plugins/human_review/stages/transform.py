"""The batch-transform branch of infer, for pipelines whose backend is `sagemaker-batch-transform`:

    discover -> prepare_transform (mapped) -> transform (mapped, deferrable) -> collect_transform (mapped) -> route ...

- `prepare`: reads and decodes every image of the batch (a broken image would fail the whole
  transform job, so it becomes an `invalid` record here and stays out of the job; an image past
  max_items is never read), writes the job's input manifest (`[{"prefix": "s3://bucket/"}, "key",
  ...]`, S3DataType ManifestFile) and a plan (PredictionRecords waiting for their prediction, the
  output path) next to the batch's other files, and returns the CreateTransformJob config (`{}`
  when nothing in the batch is valid).
- `transform`: `operators.ReviewTransformOperator` (deferrable; a retry waits on the job it started).
- `collect`: joins each image with its output object (`<S3OutputPath>/<key relative to the
  prefix>.out`, the name Batch Transform gives ManifestFile input) and parses it with the same
  parsers as the endpoint backend; writes `predictions.jsonl` like the infer stage, so route and
  report do not know the difference. An image without output becomes `inference_failed`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from human_review import storage
from human_review.exceptions import InvalidImageError, is_transient
from human_review.inference.batch_transform import job_name, transform_config
from human_review.inference.parsers import PARSERS
from human_review.records import BatchRef, Manifest, PredictionRecord, PredictionsRef, Status
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


def _plan_uri(run: RunContext, batch: int) -> str:
    return run.batch_uri(batch, "transform/plan.json")


def prepare(run: RunContext, batch: BatchRef) -> dict[str, Any]:
    """Validate the batch's images, write the job's manifest and plan; return the job's config."""
    from human_review.images import decode

    manifest = Manifest.from_dict(storage.read_json(batch.manifest, run.conn_id))
    bucket = manifest.bucket
    records: list[PredictionRecord] = []
    for item in manifest.items:
        decided = PredictionRecord.from_manifest(item)  # invalid, or past max_items: never read
        if decided is not None:
            records.append(decided)
            continue
        try:
            image = decode(item.key, storage.read_bytes(f"s3://{bucket}/{item.key}", run.conn_id))
        except InvalidImageError as e:
            records.append(PredictionRecord.not_predicted(item, Status.INVALID, str(e)))
            continue
        except FileNotFoundError:
            records.append(PredictionRecord.not_predicted(
                item, Status.INVALID, f"object vanished from s3://{bucket}/ before inference"))
            continue
        records.append(PredictionRecord(key=item.key, size=item.size, last_modified=item.last_modified,
                                        status=Status.PREDICTED, format=image.format, width=image.width,
                                        height=image.height))
    valid = [r.key for r in records if r.status == Status.PREDICTED]
    name = job_name(run.config.pipeline, run.run_key, batch.batch)
    manifest_uri = run.batch_uri(batch.batch, "transform/input.manifest")
    output_uri = run.batch_uri(batch.batch, "transform/output")
    plan = {"batch": batch.batch, "bucket": bucket, "job_name": name, "output": output_uri,
            "records": [r.to_dict() for r in records]}
    storage.write_json(_plan_uri(run, batch.batch), plan, run.conn_id)
    if not valid:
        log.info("batch %d: no valid image, no transform job.", batch.batch)
        return {}
    storage.write_json(manifest_uri, [{"prefix": f"s3://{bucket}/"}, *valid], run.conn_id)
    log.info("batch %d: transform job %s over %d images.", batch.batch, name, len(valid))
    return transform_config(run.config.model.options, name, manifest_uri, output_uri)


def _output_uri(output: str, key: str) -> str:
    return storage.join(output, f"{key}.out")


def collect(run: RunContext, batch: BatchRef) -> PredictionsRef:
    """Join the job's output objects back to the images; write predictions.jsonl like infer."""
    plan = storage.read_json(_plan_uri(run, batch.batch), run.conn_id)
    options = run.config.model.options
    parser = PARSERS[options.get("parser", "sagemaker-ssd")]
    version = f"SageMaker model {options.get('model_name')} (batch transform {plan['job_name']})"
    records = PredictionRecord.many(plan["records"])
    for r in records:
        if r.status != Status.PREDICTED:
            continue
        uri = _output_uri(plan["output"], r.key)
        try:
            raw = storage.read_text(uri, run.conn_id)
            r.prediction = parser(json.loads(raw), r.width, r.height, options)
            r.prediction["ModelVersion"] = version
        except FileNotFoundError:
            r.status, r.reason = Status.INFERENCE_FAILED, f"transform job {plan['job_name']} wrote no output for this image ({uri})"
        except Exception as e:
            if is_transient(e):  # S3 struggling: retry the task, do not judge the image
                raise
            r.status, r.reason = Status.INFERENCE_FAILED, f"unreadable transform output: {e}"
    counts = dict(Counter(str(r.status) for r in records))
    uri = storage.write_jsonl(run.batch_uri(batch.batch, "predictions.jsonl"), [r.to_dict() for r in records],
                              run.conn_id)
    log.info("batch %d: joined transform output: %s", batch.batch, counts)
    return PredictionsRef(batch=batch.batch, predictions=uri, counts=counts)
