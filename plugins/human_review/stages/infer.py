"""Infer: run the pipeline's model over one batch, with bounded concurrency and retries.

One record per image: a prediction, or `invalid` / `inference_failed` with its reason. One bad
image never fails the batch; only a batch none of whose images could be read at all (storage
unreachable) fails the task, so that Airflow retries it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_review import storage
from human_review.exceptions import InvalidImageError
from human_review.images import decode
from human_review.inference.base import ItemContext, load_backend
from human_review.inference.throttle import call_with_retries
from human_review.stages.run import OVER_LIMIT_STATUS, RunContext

log = logging.getLogger(__name__)


def _worth_retrying(e: Exception) -> bool:
    """Anything but the image's own fault: a broken or vanished image stays broken."""
    return not isinstance(e, (InvalidImageError, FileNotFoundError))


def _with_retries(fn, attempts: int, what: str):
    return call_with_retries(fn, retryable=_worth_retrying, attempts=attempts, what=what)


def infer(run: RunContext, batch: dict[str, Any]) -> dict[str, Any]:
    manifest = storage.read_json(batch["manifest"], run.conn_id)
    items = manifest["items"]
    bucket = manifest["bucket"]
    model = run.config.model
    todo = [i for i in items if "invalid_reason" not in i and "skipped_reason" not in i]
    backend = load_backend(model.backend, model.options, **model.remote_settings(run.conn_id)) if todo else None
    # remote backends retry (only) what their service calls transient, under their token bucket
    predict_retries = 0 if backend is not None and backend.remote else model.retries
    flow_arn = run.config.review.flow_definition.flow_definition_arn
    started = time.monotonic()
    done = 0
    step = max(1, len(todo) // 10)

    def one(item: dict[str, Any]) -> dict[str, Any]:
        nonlocal done
        key = item["key"]
        base = {"key": key, "size": item["size"], "last_modified": item.get("last_modified")}
        if "invalid_reason" in item:
            return {**base, "status": "invalid", "reason": item["invalid_reason"]}
        if "skipped_reason" in item:
            return {**base, "status": OVER_LIMIT_STATUS, "reason": item["skipped_reason"]}
        t0 = time.perf_counter()
        try:
            try:
                data = _with_retries(
                    lambda: storage.path(f"s3://{bucket}/{key}", run.conn_id).read_bytes(), model.retries, f"read {key}"
                )
            except FileNotFoundError:
                return {**base, "status": "invalid", "reason": f"object vanished from s3://{bucket}/ before inference"}
            except Exception as e:  # storage trouble, not the image's fault: see the check after the batch
                return {**base, "status": "inference_failed", "reason": f"could not read the image: {type(e).__name__}: {e}",
                        "_read_failed": True}
            image = decode(key, data)
            ctx = ItemContext(
                bucket=bucket, key=key, size=item["size"],
                loop_name=None if run.dry_run else run.loop_name(key),
                flow_definition_arn=None if run.dry_run else flow_arn,
            )
            prediction = _with_retries(lambda: backend.predict_item(image, ctx), predict_retries, f"predict {key}")
        except InvalidImageError as e:
            return {**base, "status": "invalid", "reason": str(e)}
        except Exception as e:
            log.exception("Inference failed for %s", key)
            return {**base, "status": "inference_failed", "reason": f"{type(e).__name__}: {e}"}
        finally:
            done += 1
            if done % step == 0 or done == len(todo):
                rate = done / max(1e-6, time.monotonic() - started)
                log.info("batch %d: %d/%d images (%.1f/s)", batch["batch"], done, len(items), rate)
        managed_loop = prediction.pop("_managed_loop", None)  # Rekognition's AWS-managed loop, for route
        return {
            **base,
            **({"managed_loop": managed_loop} if managed_loop else {}),
            "status": "predicted",
            "prediction": prediction,
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "inference_ms": round((time.perf_counter() - t0) * 1000, 1),
        }

    with ThreadPoolExecutor(max_workers=model.concurrency, thread_name_prefix="infer") as pool:
        records = list(pool.map(one, items))

    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    # A model that fails on every image still gets its rows written; only storage that could not be
    # read at all fails the task, so that Airflow retries it once storage is back.
    unread = [r for r in records if r.pop("_read_failed", False)]
    if todo and len(unread) == len(todo):
        raise RuntimeError(f"could not read any image of batch {batch['batch']}: {unread[0]['reason']}")
    uri = storage.write_jsonl(run.batch_uri(batch["batch"], "predictions.jsonl"), records, run.conn_id)
    log.info("batch %d done in %.1fs: %s", batch["batch"], time.monotonic() - started, counts)
    return {"batch": batch["batch"], "predictions": uri, "counts": counts}
