"""Infer: run the pipeline's model over one batch, with bounded concurrency and retries.

One PredictionRecord per image: `predicted`, or `invalid` / `inference_failed` with its reason.
One bad image never fails the batch. A transient error (S3 or the model's service throttling, a
5xx, no answer: `exceptions.is_transient`) is retried per image; if it outlasts those retries the
task fails, so that Airflow retries it later, instead of an image that is fine being reported
`inference_failed` for good. So does a batch none of whose images could be read at all.

For a backend whose service starts loops itself (Rekognition with `human_loop: aws-managed`), this
stage describes each image's loop name first, so a retried or re-run task finds the loop an
earlier try started and asks for no second one.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from human_review import storage
from human_review.exceptions import InvalidImageError, is_transient
from human_review.images import decode
from human_review.inference.base import ItemContext, load_backend
from human_review.inference.throttle import call_with_retries
from human_review.records import BatchRef, Manifest, ManifestItem, PredictionRecord, PredictionsRef, Status
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


def _worth_retrying(e: Exception) -> bool:  # the model: local models may fail once and not again
    """Anything but the image's own fault: a broken or vanished image stays broken."""
    return not isinstance(e, (InvalidImageError, FileNotFoundError))


def _with_retries(fn, attempts: int, what: str):
    return call_with_retries(fn, retryable=_worth_retrying, attempts=attempts, what=what)


class TransientBatchError(RuntimeError):
    """Storage or the model's service failed transiently past the per-image retries: retry the task."""


def infer(run: RunContext, batch: BatchRef) -> PredictionsRef:
    manifest = Manifest.from_dict(storage.read_json(batch.manifest, run.conn_id))
    bucket = manifest.bucket
    model = run.config.model
    todo = [i for i in manifest.items if i.to_process]
    settings = model.remote_settings(run.conn_id)
    if settings["requests_per_second"]:
        # The limit holds across the run: up to parallel_batches infer tasks run at once, each with its
        # share of the budget, and each bucket starts empty (no burst above the limit at the start).
        share = min(run.config.source.parallel_batches, batch.batches or run.config.source.parallel_batches)
        settings.update(requests_per_second=settings["requests_per_second"] / share, burst=1.0, start_full=False)
    backend = load_backend(model.backend, model.options, **settings) if todo else None
    s3 = storage.s3_client(run.conn_id, max_pool_connections=model.concurrency) if todo else None
    # remote backends retry (only) what their service calls transient, under their token bucket
    predict_retries = 0 if backend is not None and backend.remote else model.retries
    starts_loops = backend is not None and backend.starts_loops and not run.dry_run
    flow_arn = run.config.review.flow_definition.flow_definition_arn
    a2i = None
    if starts_loops:
        from human_review.hooks import HumanLoopHook

        a2i = HumanLoopHook(aws_conn_id=run.conn_id, region_name=run.config.review.flow_definition.region)
    started = time.monotonic()
    done = 0
    step = max(1, len(todo) // 10)
    unread: list[PredictionRecord] = []
    transient: list[str] = []  # "key: error" of images a retry later would likely get through

    def one(item: ManifestItem) -> PredictionRecord:
        nonlocal done
        decided = PredictionRecord.from_manifest(item)
        if decided is not None:
            return decided
        key = item.key
        t0 = time.perf_counter()
        try:
            try:
                data = call_with_retries(lambda: storage.get_bytes(s3, bucket, key), retryable=is_transient,
                                         attempts=model.retries, what=f"read {key}")
            except FileNotFoundError:
                return PredictionRecord.not_predicted(item, Status.INVALID,
                                                      f"object vanished from s3://{bucket}/ before inference")
            except Exception as e:  # storage trouble, not the image's fault: see the checks after the batch
                record = PredictionRecord.not_predicted(
                    item, Status.INFERENCE_FAILED, f"could not read the image: {type(e).__name__}: {e}")
                unread.append(record)
                if is_transient(e):
                    transient.append(f"{key}: {type(e).__name__}: {e}")
                return record
            image = decode(key, data, max_side=backend.max_side, pixels=backend.needs_pixels)
            loop_name = run.loop_name(key) if starts_loops else None
            ctx = ItemContext(
                bucket=bucket, key=key, size=item.size, loop_name=loop_name,
                flow_definition_arn=flow_arn if starts_loops else None,
                existing_loop_arn=((a2i.describe(loop_name) or {}).get("HumanLoopArn") if a2i and loop_name else None),
            )
            result = _with_retries(lambda: backend.predict_item(image, ctx), predict_retries, f"predict {key}")
        except InvalidImageError as e:
            return PredictionRecord.not_predicted(item, Status.INVALID, str(e))
        except Exception as e:
            if is_transient(e):  # the model's service is throttling or down: not this image's fault
                transient.append(f"{key}: {type(e).__name__}: {e}")
            log.exception("Inference failed for %s", key)
            return PredictionRecord.not_predicted(item, Status.INFERENCE_FAILED, f"{type(e).__name__}: {e}")
        finally:
            done += 1
            if done % step == 0 or done == len(todo):
                rate = done / max(1e-6, time.monotonic() - started)
                log.info("batch %d: %d/%d images (%.1f/s)", batch.batch, done, len(manifest.items), rate)
        return PredictionRecord(
            key=key, size=item.size, last_modified=item.last_modified, status=Status.PREDICTED,
            prediction=result.prediction, managed_loop=result.managed_loop, format=image.format,
            width=image.width, height=image.height, inference_ms=round((time.perf_counter() - t0) * 1000, 1),
            decode_note=image.note,
        )

    with ThreadPoolExecutor(max_workers=model.concurrency, thread_name_prefix="infer") as pool:
        records = list(pool.map(one, manifest.items))

    counts = dict(Counter(str(r.status) for r in records))
    if transient:
        raise TransientBatchError(
            f"batch {batch.batch}: {len(transient)} image(s) failed on a transient error after {model.retries} "
            f"retries each (first: {transient[0]}); failing the task so that Airflow retries it")
    # A model that fails on every image still gets its rows written; storage that could not be read
    # at all fails the task, so that Airflow retries it once storage is back.
    if todo and len(unread) == len(todo):
        raise RuntimeError(f"could not read any image of batch {batch.batch}: {unread[0].reason}")
    uri = storage.write_jsonl(run.batch_uri(batch.batch, "predictions.jsonl"), [r.to_dict() for r in records],
                              run.conn_id)
    log.info("batch %d done in %.1fs: %s", batch.batch, time.monotonic() - started, counts)
    return PredictionsRef(batch=batch.batch, predictions=uri, counts=counts)
