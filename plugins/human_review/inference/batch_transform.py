"""SageMaker Batch Transform, for nightly batches too large for one InvokeEndpoint per image.

The DAG for such a pipeline is

    discover -> prepare_transform (mapped) -> transform (mapped, deferrable) -> collect_transform (mapped) -> route ...

- `prepare`: reads and decodes every image of the batch (a broken image would fail the whole
  transform job, so it becomes an `invalid` row here and stays out of the job), writes the
  job's input manifest (`[{"prefix": "s3://bucket/"}, "key", ...]`, S3DataType ManifestFile)
  and a plan (sizes, image dimensions, output path) next to the batch's other files, and returns
  the CreateTransformJob config (`{}` when nothing in the batch is valid).
- `transform`: `ReviewTransformOperator`, providers-amazon's SageMakerTransformOperator with
  deferral (the wait holds no worker slot). It returns at once when the job of that name has
  already completed (a retry or a cleared task), and does nothing for an empty config.
- `collect`: joins each image with its output object (`<S3OutputPath>/<key relative to the
  prefix>.out`, the name Batch Transform gives ManifestFile input) and parses it with the same
  parsers as the endpoint backend; writes `predictions.jsonl` like the infer stage, so route and
  report do not know the difference. An image without output becomes `inference_failed`.

YAML (`model.options`): model_name (an existing SageMaker model), instance_type,
instance_count, content_type, accept, max_concurrent_transforms, max_payload_mb,
job_timeout_seconds, check_interval_seconds, parser, class_names, layout, min_score.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from human_review import storage
from human_review.exceptions import InvalidImageError
from human_review.images import DecodedImage
from human_review.inference.base import ModelBackend
from human_review.inference.parsers import PARSERS, validate_parser_options

log = logging.getLogger(__name__)

OPTIONS = {"model_name", "instance_type", "instance_count", "content_type", "accept", "max_concurrent_transforms",
           "max_payload_mb", "job_timeout_seconds", "check_interval_seconds", "parser", "class_names", "layout",
           "min_score"}


class BatchTransformBackend(ModelBackend):
    """Not called per image: the DAG factory builds the transform branch for this backend."""

    kind = "detection"
    batch_transform = True

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


def prepare(run, batch: dict[str, Any]) -> dict[str, Any]:
    """Validate the batch's images, write the job's manifest and plan; return the job's config."""
    from human_review.images import decode

    manifest = storage.read_json(batch["manifest"], run.conn_id)
    bucket = manifest["bucket"]
    items = []
    for item in manifest["items"]:
        row = {"key": item["key"], "size": item["size"], "last_modified": item.get("last_modified")}
        if "invalid_reason" in item:
            row["invalid_reason"] = item["invalid_reason"]
        else:
            try:
                image = decode(item["key"], storage.path(f"s3://{bucket}/{item['key']}", run.conn_id).read_bytes())
                row.update(format=image.format, width=image.width, height=image.height)
            except InvalidImageError as e:
                row["invalid_reason"] = str(e)
            except FileNotFoundError:
                row["invalid_reason"] = f"object vanished from s3://{bucket}/ before inference"
        items.append(row)
    valid = [i["key"] for i in items if "invalid_reason" not in i]
    options = run.config.model.options
    name = job_name(run.config.pipeline, run.run_key, batch["batch"])
    manifest_uri = run.batch_uri(batch["batch"], "transform/input.manifest")
    output_uri = run.batch_uri(batch["batch"], "transform/output")
    plan = {"batch": batch["batch"], "bucket": bucket, "job_name": name, "output": output_uri, "items": items}
    storage.write_json(run.batch_uri(batch["batch"], "transform/plan.json"), plan, run.conn_id)
    if not valid:
        log.info("batch %d: no valid image, no transform job.", batch["batch"])
        return {}
    storage.write_json(manifest_uri, [{"prefix": f"s3://{bucket}/"}, *valid], run.conn_id)
    log.info("batch %d: transform job %s over %d images.", batch["batch"], name, len(valid))
    return transform_config(options, name, manifest_uri, output_uri)


def _output_uri(output: str, key: str) -> str:
    return storage.join(output, f"{key}.out")


def collect(run, batch: dict[str, Any]) -> dict[str, Any]:
    """Join the job's output objects back to the images; write predictions.jsonl like infer."""
    plan = storage.read_json(run.batch_uri(batch["batch"], "transform/plan.json"), run.conn_id)
    options = run.config.model.options
    parser = PARSERS[options.get("parser", "sagemaker-ssd")]
    version = f"SageMaker model {options.get('model_name')} (batch transform {plan['job_name']})"
    records = []
    for item in plan["items"]:
        base = {"key": item["key"], "size": item["size"], "last_modified": item.get("last_modified")}
        if "invalid_reason" in item:
            records.append({**base, "status": "invalid", "reason": item["invalid_reason"]})
            continue
        uri = _output_uri(plan["output"], item["key"])
        try:
            raw = storage.path(uri, run.conn_id).read_text()
            prediction = parser(json.loads(raw), item["width"], item["height"], options)
            prediction["ModelVersion"] = version
        except FileNotFoundError:
            records.append({**base, "status": "inference_failed",
                            "reason": f"transform job {plan['job_name']} wrote no output for this image ({uri})"})
            continue
        except Exception as e:
            records.append({**base, "status": "inference_failed", "reason": f"unreadable transform output: {e}"})
            continue
        records.append({**base, "status": "predicted", "prediction": prediction, "format": item.get("format"),
                        "width": item["width"], "height": item["height"], "inference_ms": None})
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    uri = storage.write_jsonl(run.batch_uri(batch["batch"], "predictions.jsonl"), records, run.conn_id)
    log.info("batch %d: joined transform output: %s", batch["batch"], counts)
    return {"batch": batch["batch"], "predictions": uri, "counts": counts}
