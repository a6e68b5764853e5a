"""Route: decide with the activation conditions which predictions go to people, start their loops.

Loop names are deterministic (naming.py) and a start with the same name and input starts nothing,
so a retry, a cleared task or a re-run DAG run starts no second loop. A new loop costs one
StartHumanLoop (a describe only on ConflictException); its creation time's lower bound is the
run's first start, which discover recorded once per run (run.json), so the wait still finds loops
an earlier try started.
An error that is about one loop (quota, oversized input) is recorded on its image and reported as
review_failed; a transient error (throttling, a 5xx, no answer) retries the task.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_review import storage
from human_review.conditions import evaluate, explain
from human_review.exceptions import error_code, error_message, is_service_error, is_transient
from human_review.inference.base import backend_class
from human_review.records import ManagedLoop, PredictionRecord, PredictionsRef, RouteResult, RoutedItem, Routing, Status
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


def task_input(run: RunContext, item: RoutedItem) -> dict[str, Any]:
    """The loop's InputContent: the image, what the model claimed, and what the worker template pre-fills.

    It never says why the image was flagged: a reviewer who knows an item is an audit sample (the
    model was confident) answers differently. The reasons stay in routing.json and the report.
    """
    backend = backend_class(run.config.model.backend)
    prediction = item.prediction or {}
    return {
        "taskObject": f"s3://{run.config.source.bucket}/{item.key}",
        "objectKey": item.key,
        "fileName": item.key.rsplit("/", 1)[-1],
        "pipeline": run.config.pipeline,
        "runKey": run.run_key,
        "modelSummary": backend.summary(prediction),
        "prediction": prediction,
        **backend.task_input(prediction, run.config.model.thresholds),
    }


def _record_managed(item: RoutedItem, managed: ManagedLoop) -> None:
    """The activation decision Rekognition made for an AWS-managed loop, in the routed item."""
    flagged_by, reasons = explain(managed.results)
    activated = bool(managed.loop_arn)
    if activated and not reasons:
        reasons = [f"loop started by Rekognition ({', '.join(managed.reasons or []) or 'an earlier try'})"]
    item.flagged = activated
    item.flagged_by = flagged_by or (["AwsManaged"] if activated else [])
    item.reasons = reasons
    item.audit_sample = activated and set(flagged_by) == {"Sampling"}
    item.activation_results = managed.results
    if activated:
        item.loop_name, item.loop_arn = managed.loop_name, managed.loop_arn


def _evaluate(run: RunContext, item: RoutedItem, managed: ManagedLoop | None) -> None:
    ev = evaluate(run.config.review.conditions, item.prediction or {}, sampling_key=f"{run.config.pipeline}|{item.key}")
    item.flagged, item.flagged_by, item.reasons = ev.activated, ev.flagged_by, ev.reasons
    item.audit_sample, item.activation_results = ev.audit_sample, ev.results
    if managed is not None and managed.error:
        # Rekognition could not start the loop (quota): the pipeline starts it as a custom loop
        item.reasons = [f"Rekognition did not start the loop ({managed.error}); started by the pipeline", *ev.reasons]
    if ev.activated:
        item.loop_name = run.loop_name(item.key)


def _priority(run: RunContext, item: RoutedItem) -> tuple:
    """The sort key of a flagged item under review.priority: smaller goes to people first.

    Ties break on a hash of the object key, so the order never depends on batch or listing order.
    """
    from human_review.reports.consolidation import decision_confidence

    p = run.config.review.priority
    group = 0
    if p.by == "by_condition":
        ranks = [p.conditions.index(c) for c in item.flagged_by or [] if c in p.conditions]
        group = min(ranks) if ranks else len(p.conditions)
    audit = 0 if (item.audit_sample and p.audit_sample_first) else 1
    confidence = decision_confidence(item.prediction, run.config.model.thresholds)
    return (audit, group, 101.0 if confidence is None else confidence, hashlib.sha256(item.key.encode()).hexdigest())


def budget_cut(run: RunContext) -> dict[str, str]:
    """The flagged items of the whole run that review.budget keeps from people: object key -> why.

    Runs before any loop starts, in every mapped route task: each reads every batch's predictions
    (infer has finished them all), ranks the run's flagged items by review.priority, and keeps the
    first `max_loops`. The answer is a pure function of the predictions and the config, and it is
    kept in the run's work folder: a retry, a cleared task or a re-run cuts the same items.
    Loops Rekognition started itself (AWS-managed) already exist: they take their seats first.
    """
    limit = run.config.max_review_loops()
    if limit is None:
        return {}
    review = run.config.review
    settings = {"max_loops": limit, "priority": review.priority.model_dump(mode="json"),
                "conditions": review.conditions, "thresholds": run.config.model.thresholds.to_dict()}
    saved_uri = storage.join(run.work_uri, "review-budget.json")
    try:
        saved = storage.read_json(saved_uri, run.conn_id)
        if saved.get("settings") == settings:
            return dict(saved["cut"])
    except (FileNotFoundError, ValueError):
        pass
    flagged: list[RoutedItem] = []
    managed = 0
    for folder in storage.list_folders(run.work_uri, run.conn_id):
        if not folder.startswith("batch-"):
            continue
        try:
            records = PredictionRecord.many(storage.read_jsonl(storage.join(run.work_uri, folder, "predictions.jsonl"),
                                                               run.conn_id))
        except FileNotFoundError:  # the max_items overflow batch is never inferred
            continue
        for r in records:
            if r.status != Status.PREDICTED:
                continue
            if r.managed_loop and r.managed_loop.loop_arn and not r.managed_loop.error:
                managed += 1
                continue
            item = RoutedItem.from_prediction(r)
            _evaluate(run, item, r.managed_loop)
            if item.flagged:
                flagged.append(item)
    ranked = sorted(flagged, key=lambda i: _priority(run, i))
    seats = max(0, limit - managed)
    why = (f"over the review budget: {limit} loop(s) per run, {len(flagged) + managed} flagged; "
           f"priority {review.priority.by}{', audit sample first' if review.priority.audit_sample_first else ''}")
    cut = {item.key: f"{why}; rank {n + 1 + managed}" for n, item in enumerate(ranked) if n >= seats}
    storage.write_json(saved_uri, {"settings": settings, "cut": cut}, run.conn_id)
    if cut:
        log.warning("Review budget: %d of %d flagged images go to people; %d are cut (over_review_budget).",
                    min(seats, len(ranked)) + managed, len(flagged) + managed, len(cut))
    return cut


def _created(desc: dict[str, Any]) -> str | None:
    created = desc.get("CreationTime")
    return created.isoformat() if isinstance(created, dt.datetime) else created


def route(run: RunContext, batch: PredictionsRef) -> RouteResult:
    records = PredictionRecord.many(storage.read_jsonl(batch.predictions, run.conn_id))
    review = run.config.review
    cut = budget_cut(run)
    items: list[RoutedItem] = []
    to_start: list[RoutedItem] = []
    to_record: list[RoutedItem] = []  # loops Rekognition started (AWS-managed): recorded, not started
    for r in records:
        item = RoutedItem.from_prediction(r)
        managed = r.managed_loop
        if r.status == Status.PREDICTED and managed and not managed.error and not run.dry_run:
            _record_managed(item, managed)
            if item.flagged:
                to_record.append(item)
        elif r.status == Status.PREDICTED:
            _evaluate(run, item, managed)
            if item.flagged and item.key in cut:
                item.over_budget, item.loop_name = cut[item.key], None
            elif item.flagged and not run.dry_run:
                to_start.append(item)
        items.append(item)

    started = existing = 0
    if to_start or to_record:
        from human_review.hooks import HumanLoopHook

        hook = HumanLoopHook(aws_conn_id=run.conn_id, region_name=review.flow_definition.region)
        arn = review.flow_definition.flow_definition_arn

        def record(item: RoutedItem) -> None:
            desc = hook.describe(item.loop_name) or {}
            item.loop_arn = desc.get("HumanLoopArn") or item.loop_arn
            item.loop_created = _created(desc)

        with ThreadPoolExecutor(max_workers=review.start_concurrency, thread_name_prefix="record-loop") as pool:
            list(pool.map(record, to_record))
        if to_record:
            log.info("batch %d: recorded %d loops started by Rekognition (AWS-managed).", batch.batch, len(to_record))

        run_started = run.run_started() if to_start else None
        # a lower bound of every loop's CreationTime, with room for clock skew between worker and service
        created_bound = (run_started - dt.timedelta(seconds=60)).isoformat() if run_started else None

        def start(item: RoutedItem) -> bool | None:
            try:
                if created_bound is None:  # no run.json (a run begun by an older version): describe first
                    desc, new = hook.ensure_started(item.loop_name, arn, task_input(run, item))
                else:
                    desc, new = hook.start(item.loop_name, arn, task_input(run, item))
            except Exception as e:
                if not is_service_error(e) or is_transient(e):  # struggling, or a bug: retry the task
                    raise
                # this loop cannot start (quota, oversized input, ...): the report says why
                item.start_error = f"{error_code(e)}: {error_message(e)}"
                log.error("batch %d: could not start the loop for %s: %s", batch.batch, item.key, item.start_error)
                return None
            item.loop_arn = desc.get("HumanLoopArn")
            item.loop_created = _created(desc) or created_bound
            return new

        with ThreadPoolExecutor(max_workers=review.start_concurrency, thread_name_prefix="start-loop") as pool:
            for new in pool.map(start, to_start):
                started += new is True
                existing += new is False
        failed = sum(1 for i in to_start if i.start_error)
        log.info("batch %d: started %d loops, %d already existed (retry or rerun), %d could not start.",
                 batch.batch, started, existing, failed)

    flagged = sum(1 for i in items if i.flagged)
    log.info("batch %d: %d predictions, %d flagged%s.", batch.batch, len(records), flagged,
             " (dry run: no loops started)" if run.dry_run and flagged else "")
    routing = Routing(batch=batch.batch, dry_run=run.dry_run, items=items)
    uri = storage.write_json(run.batch_uri(batch.batch, "routing.json"), routing.to_dict(), run.conn_id)
    created = [i.loop_created for i in (*to_start, *to_record) if i.loop_created]
    return RouteResult(
        batch=batch.batch,
        routing=uri,
        loops=sum(1 for i in to_start if not i.start_error) + len(to_record),
        started=started,
        loop_prefix=run.loop_prefix,
        earliest_loop=min(created) if created else None,
        latest_loop=max(created) if created else None,
        dry_run=run.dry_run,
    )
