"""The typed records stages hand each other: JSON round-trip, named errors, the wait plan."""

from __future__ import annotations

import json

import pytest

from human_review.exceptions import RecordError
from human_review.records import (
    TERMINAL, BatchRef, LoopOutcome, ManagedLoop, Manifest, ManifestItem, PredictionRecord, PredictionsRef,
    RouteResult, RoutedItem, Routing, Status, WaitPlan,
)

EXAMPLES = [
    Manifest(pipeline="p", run_key="r", batch=0, bucket="b",
             items=[ManifestItem("a.jpg", 10, "2026-11-21T02:00:00+00:00"),
                    ManifestItem("x.txt", 3, invalid_reason="unsupported extension '.txt'"),
                    ManifestItem("z.jpg", 9, skipped_reason="over max_items=1")]),
    BatchRef(batch=3, manifest="s3://b/m.json", items=100),
    PredictionRecord(key="a.jpg", size=10, status=Status.PREDICTED, prediction={"ModerationLabels": []},
                     managed_loop=ManagedLoop("loop-1", loop_arn="arn", reasons=["ConditionsEvaluation"]),
                     format="JPEG", width=4, height=3, inference_ms=1.5),
    PredictionsRef(batch=0, predictions="s3://b/p.jsonl", counts={"predicted": 1}),
    Routing(batch=0, dry_run=False, items=[RoutedItem("a.jpg", 10, Status.PREDICTED, flagged=True, flagged_by=["Sampling"],
                                                      audit_sample=True, loop_name="l", start_error="quota")]),
    RouteResult(batch=0, routing="s3://b/r.json", loops=2, started=1, loop_prefix="p-abc-",
                earliest_loop="2026-11-21T02:00:00+00:00"),
    WaitPlan(expected=2, name_prefix="p-abc-"),
    LoopOutcome(Status.REVIEWED, loop_status="Completed", answers=[{"workerId": "w"}]),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip_through_json(record):
    data = json.loads(json.dumps(record.to_dict()))
    assert type(record).from_dict(data) == record


def test_none_fields_stay_out_of_the_json():
    assert ManifestItem("a.jpg", 1).to_dict() == {"key": "a.jpg", "size": 1}


def test_unknown_field_and_status_are_named():
    with pytest.raises(RecordError, match="ManifestItem: unknown field 'invalid'"):
        ManifestItem.from_dict({"key": "a", "size": 1, "invalid": "x"})
    with pytest.raises(RecordError, match="PredictionRecord.status: unknown status 'guessed'"):
        PredictionRecord.from_dict({"key": "a", "size": 1, "status": "guessed"})
    with pytest.raises(RecordError, match="BatchRef"):
        BatchRef.from_dict({"batch": 1})


def test_manifest_items_decide_their_own_records():
    assert PredictionRecord.from_manifest(ManifestItem("a.jpg", 1)) is None
    assert PredictionRecord.from_manifest(ManifestItem("x", 1, invalid_reason="r")).status == Status.INVALID
    assert PredictionRecord.from_manifest(ManifestItem("x", 1, skipped_reason="r")).status == Status.NOT_PROCESSED_MAX_ITEMS


def test_wait_plan_sums_the_batches_and_keeps_the_earliest_loop():
    plan = WaitPlan.from_routes([
        {"batch": 0, "routing": "r0", "loops": 2, "loop_prefix": "p-", "earliest_loop": "2026-11-21T02:00:05+00:00"},
        None,  # a mapped route that pushed nothing
        RouteResult(batch=1, routing="r1", loops=3, loop_prefix="p-", earliest_loop="2026-11-21T02:00:01+00:00"),
    ])
    assert plan.expected == 5 and plan.name_prefix == "p-"
    assert plan.created_after == "2026-11-21T02:00:00+00:00"


def test_status_vocabulary():
    assert Status.PREDICTED not in TERMINAL
    assert {"auto_accepted", "reviewed", "review_failed", "review_expired", "invalid", "inference_failed"} <= TERMINAL
    assert json.dumps({"s": Status.REVIEWED}) == '{"s": "reviewed"}'
