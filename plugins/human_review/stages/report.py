"""Report: one row per discovered image with its final status and final answer, as Parquet, CSV,
a JSON summary and a self-contained HTML report (the numbers and the page: `human_review.reports`).

Loop statuses come from one paged ListHumanLoops; each completed loop's output.json is found
through DescribeHumanLoop's OutputS3Uri (never by parsing keys) and read from object storage.
Every answer in humanAnswers is read and consolidated (TaskCount 1-3), not just the first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_review import storage
from human_review.reports.consolidation import consolidate
from human_review.reports.schema import COLUMNS
from human_review.stages.run import DRY_RUN_STATUS, OVER_LIMIT_STATUS, RunContext

log = logging.getLogger(__name__)

__all__ = ["COLUMNS", "consolidate", "report"]


def _loop_outcome(hook, summary: dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    """Status, reason and answers of one loop; one unreadable loop is one review_failed row."""
    try:
        return _read_loop_outcome(hook, summary, conn_id)
    except Exception as e:
        log.exception("Could not read the outcome of loop %s", (summary or {}).get("HumanLoopName"))
        return {"status": "review_failed", "loop_status": (summary or {}).get("HumanLoopStatus"),
                "reason": f"could not read the loop's outcome: {type(e).__name__}: {e}"}


def _read_loop_outcome(hook, summary: dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    if summary is None:
        return {"status": "review_failed", "reason": "the loop was not found in ListHumanLoops"}
    status = summary["HumanLoopStatus"]
    if status == "Completed":
        desc = hook.describe(summary["HumanLoopName"]) or {}
        uri = (desc.get("HumanLoopOutput") or {}).get("OutputS3Uri")
        if not uri:
            return {"status": "review_failed", "loop_status": status, "reason": "Completed without an OutputS3Uri"}
        output = storage.read_json(uri, conn_id)
        return {"status": "reviewed", "loop_status": status, "answers": output.get("humanAnswers", [])}
    if status == "Failed":
        desc = hook.describe(summary["HumanLoopName"]) or {}
        expired = desc.get("FailureCode") == "Expired"
        return {
            "status": "review_expired" if expired else "review_failed",
            "loop_status": status,
            "reason": desc.get("FailureReason") or summary.get("FailureReason") or desc.get("FailureCode"),
        }
    if status in ("Stopped", "Stopping"):
        return {"status": "review_expired", "loop_status": status, "reason": "loop stopped before reviewers answered"}
    return {"status": "review_expired", "loop_status": status, "reason": "loop still open when the report ran"}


def _point_latest_here(run: RunContext, files: dict[str, str], generated_at: str) -> None:
    """Point `<pipeline>/latest.json` at this run, unless it points at a later one already: re-running
    last week's run must not make last week "latest". Runs compare by the end of their data interval."""
    uri = storage.join(run.config.report.prefix, run.config.pipeline, "latest.json")
    as_of = (run.data_interval_end or dt.datetime.now(dt.timezone.utc)).isoformat()
    try:
        current = storage.read_json(uri, run.conn_id)
    except (FileNotFoundError, ValueError):
        current = {}
    if current.get("as_of") and current["as_of"] > as_of and current.get("run_key") != run.run_key:
        log.info("latest.json stays on run %s (later than this one).", current.get("run_key"))
        return
    storage.write_json(uri, {"run_key": run.run_key, "summary": files["summary"], "html": files["html"],
                             "generated_at": generated_at, "as_of": as_of}, run.conn_id)


def report(run: RunContext, routed: list[dict[str, Any]], wait_result: dict[str, Any] | None = None) -> dict[str, Any]:
    from human_review.reports import build, trend

    cfg = run.config.report
    batches = sorted((b for b in routed if b), key=lambda b: b["batch"])
    items: list[dict[str, Any]] = []
    for b in batches:
        items.extend(storage.read_json(b["routing"], run.conn_id)["items"])
    loop_items = [i for i in items if i.get("loop_name") and not run.dry_run and "start_error" not in i]

    outcomes: dict[str, dict[str, Any]] = {}
    if loop_items:
        from human_review.hooks import HumanLoopHook

        flow = run.config.review.flow_definition
        hook = HumanLoopHook(aws_conn_id=run.conn_id, region_name=flow.region)
        starts = [dt.datetime.fromisoformat(i["loop_created"]) for i in loop_items if i.get("loop_created")]
        after = min(starts) - dt.timedelta(seconds=1) if starts else None
        summaries = {
            s["HumanLoopName"]: s
            for s in hook.list_loops(flow.flow_definition_arn, created_after=after, name_prefix=run.loop_prefix)
        }
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="report") as pool:
            names = [i["loop_name"] for i in loop_items]
            for name, outcome in zip(
                names, pool.map(lambda n: _loop_outcome(hook, summaries.get(n), run.conn_id), names)
            ):
                outcomes[name] = outcome

    from human_review.inference.base import backend_class

    backend = backend_class(run.config.model.backend)
    rows = []
    for item in items:  # one per discovered key: discover drops repeated explicit keys
        row: dict[str, Any] = {
            "pipeline": run.config.pipeline,
            "run_key": run.run_key,
            "object_key": item["key"],
            "image_uri": f"s3://{run.config.source.bucket}/{item['key']}",
            "size_bytes": item.get("size"),
            "image_width": item.get("width"),
            "image_height": item.get("height"),
            "flagged": bool(item.get("flagged")),
            "flagged_by": ",".join(item.get("flagged_by") or []) or None,
            "audit_sample": bool(item.get("audit_only")),
            "inference_ms": item.get("inference_ms"),
            "model_output": json.dumps(item["prediction"], sort_keys=True) if item.get("prediction") else None,
        }
        answers: list[dict[str, Any]] = []
        if item["status"] in ("invalid", "inference_failed", OVER_LIMIT_STATUS):
            row.update(status=item["status"], reason=item.get("reason"))
        else:
            row["model_summary"] = backend.summary(item["prediction"])
            if not item.get("flagged"):
                row.update(status="auto_accepted")
            elif run.dry_run:
                row.update(status=DRY_RUN_STATUS, reason="; ".join(item.get("reasons") or []), loop_name=item["loop_name"])
            else:
                if "start_error" in item:
                    outcome = {"status": "review_failed", "reason": f"the loop could not start: {item['start_error']}"}
                else:
                    outcome = outcomes.get(item["loop_name"], {"status": "review_failed", "reason": "no loop recorded"})
                answers = outcome.get("answers") or []
                row.update(
                    status=outcome["status"],
                    reason=outcome.get("reason") or "; ".join(item.get("reasons") or []),
                    loop_name=item["loop_name"],
                    loop_status=outcome.get("loop_status"),
                    answers=len(answers),
                    workers=",".join(a.get("workerId", "") for a in answers) or None,
                )
            row.update(build.review_columns(item.get("prediction"), row["status"], answers, cfg.iou_threshold))
        rows.append(row)

    table = build.frame(rows)
    files = {
        "parquet": storage.join(run.report_uri, "report.parquet"),
        "csv": storage.join(run.report_uri, "report.csv"),
        "html": storage.join(run.report_uri, "report.html"),
        "summary": storage.join(run.report_uri, "summary.json"),
    }
    for kind, data in build.table_bytes(table).items():
        storage.write_bytes(files[kind], data, run.conn_id)
    summary = build.summarise(
        rows, pipeline=run.config.pipeline, run_key=run.run_key, dry_run=run.dry_run, sent_to_review=len(loop_items),
        price_usd=cfg.public_workforce_task_price_usd,
        trend=trend.earlier_runs(cfg.prefix, run.config.pipeline, run.run_key, run.conn_id, keep=cfg.trend_runs - 1),
        extra={"wait": {k: v for k, v in (wait_result or {}).items() if k in ("status", "stopped")},
               "files": files, "iou_threshold": cfg.iou_threshold},
    )
    html = build.html_bytes(summary, table, lambda uri: storage.path(uri, run.conn_id).read_bytes(),
                            cfg.gallery_max_images)
    storage.write_bytes(files["html"], html, run.conn_id)
    storage.write_json(files["summary"], summary, run.conn_id)
    _point_latest_here(run, files, summary["generated_at"])
    log.info("Report for %d images: %s -> %s", len(rows), summary["status_counts"], run.report_uri)
    return summary
