"""One report row per discovered image, from its routed item and its loop's outcome.

Pure: the report stage lists and reads (loops, output.json files) and writes; this module only
turns records into the rows whose columns `schema.COLUMNS` pins.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from human_review.claims import Thresholds
from human_review.portal.answers import problems
from human_review.records import NOT_PREDICTED, LoopOutcome, RoutedItem, Status
from human_review.reports.build import reviewer_name, review_columns

# What consolidating a malformed answer raises; any of them costs that image's row, not the run.
_UNREADABLE = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)


def _outcome(item: RoutedItem, outcomes: dict[str, LoopOutcome]) -> LoopOutcome:
    if item.start_error:
        return LoopOutcome(Status.REVIEW_FAILED, reason=f"the loop could not start: {item.start_error}")
    return outcomes.get(item.loop_name or "", LoopOutcome(Status.REVIEW_FAILED, reason="no loop recorded"))


def row(item: RoutedItem, outcomes: dict[str, LoopOutcome], *, pipeline: str, run_key: str, bucket: str,
        dry_run: bool, summarise_prediction: Callable[[dict[str, Any]], str], iou_threshold: float,
        thresholds: Thresholds | None = None) -> dict[str, Any]:
    """The report row of one image: its final status, why, and the model's and people's answers."""
    out: dict[str, Any] = {
        "pipeline": pipeline,
        "run_key": run_key,
        "object_key": item.key,
        "image_uri": f"s3://{bucket}/{item.key}",
        "size_bytes": item.size,
        "image_width": item.width,
        "image_height": item.height,
        "flagged": item.flagged,
        "flagged_by": ",".join(item.flagged_by or []) or None,
        "audit_sample": item.audit_sample,
        "inference_ms": item.inference_ms,
        "decode_note": item.decode_note,
        "model_output": json.dumps(item.prediction, sort_keys=True) if item.prediction else None,
    }
    if item.status in NOT_PREDICTED:
        out.update(status=str(item.status), reason=item.reason)
        return out
    answers: list[dict[str, Any]] = []
    outcome: LoopOutcome | None = None
    out["model_summary"] = summarise_prediction(item.prediction or {})
    reasons = "; ".join(item.reasons or [])
    if not item.flagged:
        out.update(status=str(Status.AUTO_ACCEPTED))
    elif item.over_budget:
        out.update(status=str(Status.OVER_REVIEW_BUDGET), reason=f"{item.over_budget}; flagged: {reasons}")
    elif dry_run:
        out.update(status=str(Status.REVIEW_SKIPPED_DRY_RUN), reason=reasons, loop_name=item.loop_name)
    else:
        outcome = _outcome(item, outcomes)
        answers = outcome.answers or []
        out.update(
            status=str(outcome.status),
            reason=outcome.reason or reasons,
            loop_name=item.loop_name,
            loop_status=outcome.loop_status,
            answers=len(answers),
            workers=",".join(reviewer_name(a, outcome.reviewers) for a in answers) or None,
        )
    if out["status"] == str(Status.REVIEWED) and (found := problems(answers)):
        return _unreadable(out, item, "; ".join(found[:3]), thresholds)
    try:
        out.update(review_columns(item.prediction, out["status"], answers, iou_threshold, thresholds,
                                  names=outcome.reviewers if outcome else None))
    except _UNREADABLE as e:
        return _unreadable(out, item, f"{type(e).__name__}: {e}", thresholds)
    return out


def _unreadable(out: dict[str, Any], item: RoutedItem, why: str, thresholds: Thresholds | None = None) -> dict[str, Any]:
    """The row of an image whose people's answers cannot be read: review_failed, with the reason."""
    out.update(status=str(Status.REVIEW_FAILED), reason=f"the reviewers' answers cannot be read: {why}"[:1000])
    try:
        out.update(review_columns(item.prediction, str(Status.REVIEW_FAILED), [], 0.5, thresholds))
    except _UNREADABLE:
        pass
    return out


def rows(items: Iterable[RoutedItem], outcomes: dict[str, LoopOutcome], **settings: Any) -> list[dict[str, Any]]:
    """Every image's row (one per discovered key: discover drops repeated explicit keys)."""
    return [row(item, outcomes, **settings) for item in items]
