"""Report: one row per discovered image with its final status and final answer, as Parquet, CSV,
a JSON summary and a self-contained HTML report. This stage lists, reads and writes; the rows and
numbers are built by `human_review.reports` (pure).

Loop statuses come from one paged ListHumanLoops; each completed loop's output.json is found
through DescribeHumanLoop's OutputS3Uri (never by parsing keys) and read from object storage.
Every answer in humanAnswers is read and consolidated (TaskCount 1-3), not just the first.
A transient error (throttling, a 5xx, the service or S3 unreachable) fails the task so that Airflow
retries it; only a loop that really failed, or an output that really cannot be read, costs its
image a review_failed row.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from human_review import storage
from human_review.exceptions import is_transient
from human_review.records import LoopOutcome, RouteResult, RoutedItem, Routing, Status
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


def _loop_outcome(hook, summary: dict[str, Any] | None, conn_id: str) -> LoopOutcome:
    """How one loop ended; an output that cannot be read is one review_failed row, a blip retries the task."""
    try:
        return _read_loop_outcome(hook, summary, conn_id)
    except Exception as e:
        if is_transient(e):
            raise
        log.exception("Could not read the outcome of loop %s", (summary or {}).get("HumanLoopName"))
        return LoopOutcome(Status.REVIEW_FAILED, loop_status=(summary or {}).get("HumanLoopStatus"),
                           reason=f"could not read the loop's outcome: {type(e).__name__}: {e}")


def _read_loop_outcome(hook, summary: dict[str, Any] | None, conn_id: str) -> LoopOutcome:
    if summary is None:
        return LoopOutcome(Status.REVIEW_FAILED, reason="the loop was not found in ListHumanLoops")
    status = summary["HumanLoopStatus"]
    if status == "Completed":
        desc = hook.describe(summary["HumanLoopName"]) or {}
        uri = (desc.get("HumanLoopOutput") or {}).get("OutputS3Uri")
        if not uri:
            return LoopOutcome(Status.REVIEW_FAILED, loop_status=status, reason="Completed without an OutputS3Uri")
        output = storage.read_json(uri, conn_id)
        return LoopOutcome(Status.REVIEWED, loop_status=status, answers=output.get("humanAnswers", []),
                           reviewers=_reviewer_names(uri, conn_id))
    if status == "Failed":
        desc = hook.describe(summary["HumanLoopName"]) or {}
        expired = desc.get("FailureCode") == "Expired"
        return LoopOutcome(Status.REVIEW_EXPIRED if expired else Status.REVIEW_FAILED, loop_status=status,
                           reason=desc.get("FailureReason") or summary.get("FailureReason") or desc.get("FailureCode"))
    if status in ("Stopped", "Stopping"):
        return LoopOutcome(Status.REVIEW_EXPIRED, loop_status=status, reason="loop stopped before reviewers answered")
    return LoopOutcome(Status.REVIEW_EXPIRED, loop_status=status, reason="loop still open when the report ran")


def _reviewer_names(output_uri: str, conn_id: str) -> dict[str, str] | None:
    """{workerId: name} from reviewers.json beside output.json, which the local review service writes.

    A2I writes no such file (and without s3:ListBucket a missing key reads as AccessDenied), so any
    failure here only means the report shows A2I's opaque workerId instead of a name."""
    uri = output_uri.rsplit("/", 1)[0] + "/reviewers.json"
    try:
        names = storage.read_json(uri, conn_id)
    except Exception as e:  # absent, denied or unreadable: names are a nicety, never a failed row
        log.debug("no reviewer names at %s: %s", uri, e)
        return None
    if not isinstance(names, dict):
        return None
    return {str(k): str(v) for k, v in names.items() if isinstance(v, str)}


def _outcomes(run: RunContext, loop_items: list[RoutedItem]) -> dict[str, LoopOutcome]:
    if not loop_items:
        return {}
    from human_review.hooks import HumanLoopHook

    flow = run.config.review.flow_definition
    hook = HumanLoopHook(aws_conn_id=run.conn_id, region_name=flow.region)
    starts = [dt.datetime.fromisoformat(i.loop_created) for i in loop_items if i.loop_created]
    after = min(starts) - dt.timedelta(seconds=1) if starts else None
    summaries = {s["HumanLoopName"]: s
                 for s in hook.list_loops(flow.flow_definition_arn, created_after=after, name_prefix=run.loop_prefix)}
    names = [i.loop_name for i in loop_items]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="report") as pool:
        return dict(zip(names, pool.map(lambda n: _loop_outcome(hook, summaries.get(n), run.conn_id), names)))


def _earlier_summaries(run: RunContext, keep: int) -> list[dict[str, Any]]:
    """The summary.json of up to `2 * keep` earlier runs of this pipeline (a run still writing is skipped)."""
    prefix, pipeline = run.config.report.prefix, run.config.pipeline
    runs = storage.list_folders(storage.join(prefix, pipeline), run.conn_id)
    found = []
    for name in [r for r in runs if r != run.run_key][-(keep * 2):]:
        uri = storage.join(prefix, pipeline, name, "summary.json")
        try:
            found.append(storage.read_json(uri, run.conn_id))
        except (FileNotFoundError, ValueError) as e:  # a run still writing, or a foreign folder
            log.info("trend: skipping %s (%s)", uri, e)
    return found


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
                             "generated_at": generated_at, "as_of": as_of}, run.conn_id, pretty=True)


def _source_gone_rows(run: RunContext, present: set[str]) -> list[dict[str, Any]]:
    """The rows an earlier attempt of this run wrote for images this attempt no longer found because
    they were deleted from the source since: kept (with what people answered), as `source_gone`.
    An image this attempt did not pick for another reason (other parameters) and that still exists
    is not kept: the rerun chose not to review it."""
    import io

    import pandas as pd

    uri = storage.join(run.report_uri, "report.parquet")
    try:
        earlier = pd.read_parquet(io.BytesIO(storage.path(uri, run.conn_id).read_bytes()))
    except (FileNotFoundError, ValueError, OSError) as e:
        if is_transient(e):
            raise
        return []
    missing = earlier[~earlier["object_key"].isin(present)]
    if missing.empty:
        return []
    bucket = run.config.source.bucket
    kept = []
    for row in missing.astype(object).where(missing.notna(), None).to_dict("records"):
        key = row["object_key"]
        if storage.path(f"s3://{bucket}/{key}", run.conn_id).exists():
            continue
        if row["status"] != str(Status.SOURCE_GONE):
            row["reason"] = (f"deleted from s3://{bucket}/ after an earlier attempt of this run reported it as "
                             f"{row['status']}" + (f" ({row['reason']})" if row.get("reason") else ""))
            row["status"] = str(Status.SOURCE_GONE)
        kept.append(row)
    if kept:
        log.warning("%d image(s) reported by an earlier attempt of this run were deleted since; kept as %s.",
                    len(kept), Status.SOURCE_GONE)
    return kept


def _run_facts(run: RunContext) -> dict[str, Any]:
    """What the report says about its run: the DAG run (with a link to it in the Airflow UI), what it
    searched, and the decision thresholds its metrics use."""
    from urllib.parse import quote

    src = run.config.source
    try:  # the UI's public address when the api-server is behind a proxy or a sub-path ([api] base_url)
        from airflow.configuration import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    except Exception:  # noqa: BLE001  outside Airflow: a path relative to the UI's host
        base = ""
    keys = [k for k in (run.params.get("keys") or []) if k]
    return {
        "dag_id": run.config.dag_id,
        "dag_run_id": run.run_id,
        "dag_run_url": (f"{base}/dags/{quote(run.config.dag_id)}/runs/{quote(run.run_id, safe='')}"
                        if run.run_id else None),
        "searched": {
            "bucket": src.bucket,
            "prefix": run.params.get("prefix") or src.prefix,
            "interval_start": run.data_interval_start.isoformat() if run.data_interval_start else None,
            "interval_end": run.data_interval_end.isoformat() if run.data_interval_end else None,
            "by_last_modified": bool(src.filter_by_last_modified and not run.params.get("all_in_prefix") and not keys),
            "explicit_keys": len(keys),
        },
        "decision_thresholds": run.config.model.thresholds.to_dict(),
    }


def report(run: RunContext, routed: list[RouteResult], wait_result: dict[str, Any] | None = None) -> dict[str, Any]:
    from human_review.inference.base import backend_class
    from human_review.reports import build, rows, trend

    cfg = run.config.report
    settings = dict(pipeline=run.config.pipeline, run_key=run.run_key, bucket=run.config.source.bucket,
                    dry_run=run.dry_run, summarise_prediction=backend_class(run.config.model.backend).summary,
                    iou_threshold=cfg.iou_threshold, thresholds=run.config.model.thresholds)
    # Each routing file is read once and its images turned into rows at once, so a big run never
    # holds every image's record (at 100,000 images they take ~300 MB). Only an image with a loop
    # needs the loops' outcomes: it keeps its record, in its place, until they are known.
    table_rows: list[dict[str, Any] | RoutedItem] = []
    loop_items: list[RoutedItem] = []
    present: set[str] = set()
    for result in sorted((r for r in routed if r), key=lambda r: r.batch):
        for item in Routing.from_dict(storage.read_json(result.routing, run.conn_id)).items:
            present.add(item.key)
            if item.has_loop and not run.dry_run:
                loop_items.append(item)
                table_rows.append(item)
            else:
                table_rows.append(rows.row(item, {}, **settings))
    outcomes = _outcomes(run, loop_items)
    sent_to_review = len(loop_items)
    del loop_items
    table_rows = [rows.row(r, outcomes, **settings) if isinstance(r, RoutedItem) else r for r in table_rows]
    del outcomes
    table_rows += _source_gone_rows(run, present)
    del present
    files = {kind: storage.join(run.report_uri, name) for kind, name in
             (("parquet", "report.parquet"), ("csv", "report.csv"), ("html", "report.html"), ("summary", "summary.json"))}
    summary = build.summarise(
        table_rows, pipeline=run.config.pipeline, run_key=run.run_key, dry_run=run.dry_run,
        sent_to_review=sent_to_review, price_usd=cfg.public_workforce_task_price_usd,
        trend=trend.earlier_headlines(_earlier_summaries(run, cfg.trend_runs - 1), keep=cfg.trend_runs - 1),
        extra={"wait": {k: v for k, v in (wait_result or {}).items() if k in ("status", "stopped")},
               "files": files, "iou_threshold": cfg.iou_threshold, **_run_facts(run)},
        max_review_loops=run.config.max_review_loops(),
    )
    images = len(table_rows)
    table = build.frame(table_rows)
    del table_rows  # the table holds the rows now; the summary is made
    with tempfile.TemporaryDirectory(prefix="human-review-report-") as tmp:
        # Parquet and CSV go through files: a 100,000-image CSV is ~120 MB, never held as a string.
        for kind, local in build.write_tables(table, Path(tmp)):
            storage.upload_file(files[kind], local, run.conn_id)
            local.unlink()
    html = build.html_bytes(summary, table, lambda uri: storage.read_bytes(uri, run.conn_id),
                            cfg.gallery_max_images)
    storage.write_bytes(files["html"], html, run.conn_id)
    storage.write_json(files["summary"], summary, run.conn_id, pretty=True)
    _point_latest_here(run, files, summary["generated_at"])
    log.info("Report for %d images: %s -> %s", images, summary["status_counts"], run.report_uri)
    return summary
