"""Report: one row per discovered image with its final status, as Parquet, CSV and a JSON summary.

Loop statuses come from one paged ListHumanLoops; each completed loop's output.json is found
through DescribeHumanLoop's OutputS3Uri (never by parsing keys) and read from object storage.
Every answer in humanAnswers is read, not just the first.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_review import storage
from human_review.stages.run import DRY_RUN_STATUS, STATUSES, RunContext

log = logging.getLogger(__name__)

MODERATION_ANSWER_KEYS = (
    "AWS/Rekognition/DetectModerationLabels/Image/V3",
    "aws/rekognition/detectmoderationlabels/image/v3",
)

COLUMNS = {  # name -> pandas dtype; the report's documented schema (README, "Report")
    "pipeline": "string",
    "run_key": "string",
    "object_key": "string",
    "image_uri": "string",
    "size_bytes": "Int64",
    "status": "string",
    "reason": "string",
    "flagged": "boolean",
    "flagged_by": "string",
    "audit_sample": "boolean",
    "model_summary": "string",
    "model_output": "string",
    "inference_ms": "Float64",
    "loop_name": "string",
    "loop_status": "string",
    "answers": "Int64",
    "workers": "string",
    "human_answer": "string",
    "human_changed": "boolean",
}


def _moderation_labels(answer: dict[str, Any]) -> list[str] | None:
    for key in MODERATION_ANSWER_KEYS:
        if key in answer:
            return sorted({l.get("name", "") for l in answer[key].get("moderationLabels", [])})
    return None


def _boxes(answer: dict[str, Any]) -> list[dict[str, Any]] | None:
    for value in answer.values():
        if isinstance(value, dict) and "boundingBoxes" in value:
            return value["boundingBoxes"]
    return None


def consolidate(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The people's answer for one loop.

    Moderation labels: a label stands when more than half the workers picked it. Boxes: the
    first worker's boxes (box matching across workers by IoU comes with the reports issue).
    """
    contents = [a.get("answerContent") or {} for a in answers]
    label_sets = [l for l in (_moderation_labels(c) for c in contents) if l is not None]
    if label_sets:
        votes = Counter(l for labels in label_sets for l in labels)
        return {"labels": sorted(l for l, n in votes.items() if n * 2 > len(label_sets))}
    box_sets = [b for b in (_boxes(c) for c in contents) if b is not None]
    if box_sets:
        return {"boxes": box_sets[0]}
    return {"raw": contents[0] if contents else {}}


def _human_changed(item: dict[str, Any], final: dict[str, Any]) -> bool | None:
    prediction = item.get("prediction") or {}
    if "labels" in final:
        model = sorted({l["Name"] for l in prediction.get("ModerationLabels") or []})
        return [l.casefold() for l in model] != [l.casefold() for l in final["labels"]]
    if "boxes" in final:
        boxes = final["boxes"]
        return len(boxes) != len(prediction.get("Detections") or []) or any(
            b.get("initialValueModified", True) for b in boxes
        )
    return None


def _loop_outcome(hook, summary: dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    """Status, reason and answers of one loop, from its summary (and output.json when Completed)."""
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


def _write_table(run: RunContext, rows: list[dict[str, Any]]) -> dict[str, str]:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)
    frame = frame.sort_values("object_key", kind="stable").reset_index(drop=True)
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    paths = {
        "parquet": storage.write_bytes(storage.join(run.report_uri, "report.parquet"), parquet.getvalue(), run.conn_id),
        "csv": storage.write_bytes(
            storage.join(run.report_uri, "report.csv"), frame.to_csv(index=False).encode("utf-8"), run.conn_id
        ),
    }
    return paths


def report(run: RunContext, routed: list[dict[str, Any]], wait_result: dict[str, Any] | None = None) -> dict[str, Any]:
    batches = sorted((b for b in routed if b), key=lambda b: b["batch"])
    items: list[dict[str, Any]] = []
    for b in batches:
        items.extend(storage.read_json(b["routing"], run.conn_id)["items"])
    loop_items = [i for i in items if i.get("loop_name") and not run.dry_run]

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

    rows = []
    seen: set[str] = set()
    for item in items:
        if item["key"] in seen:  # a key listed twice in explicit keys: one row
            continue
        seen.add(item["key"])
        row: dict[str, Any] = {
            "pipeline": run.config.pipeline,
            "run_key": run.run_key,
            "object_key": item["key"],
            "image_uri": f"s3://{run.config.source.bucket}/{item['key']}",
            "size_bytes": item.get("size"),
            "flagged": bool(item.get("flagged")),
            "flagged_by": ",".join(item.get("flagged_by") or []) or None,
            "audit_sample": bool(item.get("audit_only")),
            "inference_ms": item.get("inference_ms"),
            "model_output": json.dumps(item["prediction"], sort_keys=True) if item.get("prediction") else None,
        }
        if item["status"] in ("invalid", "inference_failed"):
            row.update(status=item["status"], reason=item.get("reason"))
        else:
            from human_review.inference.base import backend_class

            row["model_summary"] = backend_class(run.config.model.backend).summary(item["prediction"])
            if not item.get("flagged"):
                row.update(status="auto_accepted")
            elif run.dry_run:
                row.update(status=DRY_RUN_STATUS, reason="; ".join(item.get("reasons") or []), loop_name=item["loop_name"])
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
                if answers:
                    final = consolidate(answers)
                    row["human_answer"] = json.dumps(final, sort_keys=True)
                    row["human_changed"] = _human_changed(item, final)
        rows.append(row)

    paths = _write_table(run, rows)
    counts = Counter(r["status"] for r in rows)
    summary = {
        "pipeline": run.config.pipeline,
        "run_key": run.run_key,
        "dry_run": run.dry_run,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "images": len(rows),
        "flagged": sum(1 for r in rows if r["flagged"]),
        "audit_sample": sum(1 for r in rows if r["audit_sample"]),
        "sent_to_review": len(loop_items),
        "changed_by_reviewers": sum(1 for r in rows if r.get("human_changed")),
        "status_counts": {s: counts.get(s, 0) for s in (*STATUSES, DRY_RUN_STATUS) if counts.get(s) or s in STATUSES},
        "wait": {k: v for k, v in (wait_result or {}).items() if k in ("status", "stopped")},
        "files": {**paths, "summary": storage.join(run.report_uri, "summary.json")},
    }
    storage.write_json(summary["files"]["summary"], summary, run.conn_id)
    storage.write_json(
        storage.join(run.config.report.prefix, run.config.pipeline, "latest.json"),
        {"run_key": run.run_key, "summary": summary["files"]["summary"], "generated_at": summary["generated_at"]},
        run.conn_id,
    )
    log.info("Report for %d images: %s -> %s", len(rows), summary["status_counts"], run.report_uri)
    return summary
