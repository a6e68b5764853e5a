"""Route: decide with the activation conditions which predictions go to people, start their loops.

Loop names are deterministic (naming.py) and every start is preceded by a describe, so a retry,
a cleared task or a re-run DAG run records the loop it started before and starts no second one.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_review import storage
from human_review.exceptions import error_code, is_service_error
from human_review.conditions import evaluate, explain
from human_review.inference.base import backend_class
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


# Errors worth retrying the whole task for (after botocore's own retries); any other error of one
# StartHumanLoop is recorded on its image and reported as review_failed.
RETRY_TASK_ERRORS = frozenset({"ThrottlingException", "InternalServerException", "ServiceUnavailable",
                               "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                               "ConnectionClosedError"})


def task_input(run: RunContext, record: dict[str, Any], reasons: list[str]) -> dict[str, Any]:
    """The loop's InputContent: the image, why it was flagged, and what the worker template pre-fills."""
    backend = backend_class(run.config.model.backend)
    prediction = record["prediction"]
    return {
        "taskObject": f"s3://{run.config.source.bucket}/{record['key']}",
        "objectKey": record["key"],
        "pipeline": run.config.pipeline,
        "flaggedBy": reasons,
        "modelSummary": backend.summary(prediction),
        "prediction": prediction,
        **backend.task_input(prediction),
    }


def _record_managed(item: dict[str, Any], managed: dict[str, Any]) -> None:
    """The activation decision Rekognition made for an AWS-managed loop, in the route's item fields."""
    flagged_by, reasons = explain(managed.get("results"))
    activated = bool(managed.get("HumanLoopArn"))
    if activated and not reasons:
        reasons = [f"loop started by Rekognition ({', '.join(managed.get('reasons') or []) or 'an earlier try'})"]
    item.update(
        flagged=activated, flagged_by=flagged_by or (["AwsManaged"] if activated else []), reasons=reasons,
        audit_only=activated and set(flagged_by) == {"Sampling"}, activation_results=managed.get("results"),
    )
    if activated:
        item["loop_name"] = managed["loop_name"]
        item["loop_arn"] = managed["HumanLoopArn"]


def route(run: RunContext, batch: dict[str, Any]) -> dict[str, Any]:
    records = storage.read_jsonl(batch["predictions"], run.conn_id)
    review = run.config.review
    items: list[dict[str, Any]] = []
    to_start: list[dict[str, Any]] = []
    to_record: list[dict[str, Any]] = []  # loops Rekognition started (AWS-managed): recorded, not started
    for r in records:
        item = {k: r.get(k) for k in ("key", "size", "status", "reason", "prediction", "inference_ms",
                                       "width", "height")}
        managed = r.get("managed_loop")
        if r["status"] == "predicted" and managed and not managed.get("error") and not run.dry_run:
            _record_managed(item, managed)
            if item["flagged"]:
                to_record.append(item)
        elif r["status"] == "predicted":
            ev = evaluate(review.conditions, r["prediction"], sampling_key=f"{run.config.pipeline}|{r['key']}")
            item.update(
                flagged=ev.activated, flagged_by=ev.flagged_by, reasons=ev.reasons, audit_only=ev.audit_only,
                activation_results=ev.results,
            )
            if managed and managed.get("error"):
                # Rekognition could not start the loop (quota): the pipeline starts it as a custom loop
                item["reasons"] = [f"Rekognition did not start the loop ({managed['error']}); "
                                   "started by the pipeline", *ev.reasons]
            if ev.activated:
                item["loop_name"] = run.loop_name(r["key"])
                if not run.dry_run:
                    to_start.append(item)
        items.append(item)

    started = existing = 0
    if to_start or to_record:
        from human_review.hooks import HumanLoopHook

        hook = HumanLoopHook(aws_conn_id=run.conn_id, region_name=review.flow_definition.region)
        arn = review.flow_definition.flow_definition_arn

        def record(item: dict[str, Any]) -> None:
            desc = hook.describe(item["loop_name"]) or {}
            created = desc.get("CreationTime")
            item["loop_arn"] = desc.get("HumanLoopArn") or item.get("loop_arn")
            item["loop_created"] = created.isoformat() if isinstance(created, dt.datetime) else created

        with ThreadPoolExecutor(max_workers=review.start_concurrency, thread_name_prefix="record-loop") as pool:
            list(pool.map(record, to_record))
        if to_record:
            log.info("batch %d: recorded %d loops started by Rekognition (AWS-managed).", batch["batch"], len(to_record))

        def start(item: dict[str, Any]) -> bool | None:
            try:
                desc, new = hook.ensure_started(item["loop_name"], arn, task_input(run, item, item["reasons"]))
            except Exception as e:
                code = error_code(e)
                if not is_service_error(e) or code in RETRY_TASK_ERRORS:  # struggling, or a bug: retry the task
                    raise
                # this loop cannot start (quota, oversized input, ...): the report says why
                item["start_error"] = f"{code}: {getattr(e, 'response', {}).get('Error', {}).get('Message') or e}"
                log.error("batch %d: could not start the loop for %s: %s", batch["batch"], item["key"], item["start_error"])
                return None
            created = desc.get("CreationTime")
            item["loop_arn"] = desc.get("HumanLoopArn")
            item["loop_created"] = created.isoformat() if isinstance(created, dt.datetime) else created
            return new

        with ThreadPoolExecutor(max_workers=review.start_concurrency, thread_name_prefix="start-loop") as pool:
            for new in pool.map(start, to_start):
                started += new is True
                existing += new is False
        failed = sum(1 for i in to_start if "start_error" in i)
        log.info("batch %d: started %d loops, %d already existed (retry or rerun), %d could not start.",
                 batch["batch"], started, existing, failed)

    flagged = sum(1 for i in items if i.get("flagged"))
    log.info("batch %d: %d predictions, %d flagged%s.", batch["batch"], len(records), flagged,
             " (dry run: no loops started)" if run.dry_run and flagged else "")
    uri = storage.write_json(
        run.batch_uri(batch["batch"], "routing.json"),
        {"batch": batch["batch"], "dry_run": run.dry_run, "items": items},
        run.conn_id,
    )
    created = [i["loop_created"] for i in (*to_start, *to_record) if i.get("loop_created")]
    return {
        "batch": batch["batch"],
        "routing": uri,
        "loops": sum(1 for i in to_start if "start_error" not in i) + len(to_record),
        "started": started,
        "loop_prefix": run.loop_prefix,
        "earliest_loop": min(created) if created else None,
        "dry_run": run.dry_run,
    }
