"""The report's numbers on hand-made cases: people are compared with what the model *claimed*
(labels and boxes at or above the decision threshold), never with its raw scores.

Each case is one image with a prediction and the people's answer, turned into a report row by the
real row builder, then summarised by the real metrics.
"""

from __future__ import annotations

import json

import pytest

from human_review.a2i import MODERATION_ANSWER_KEY
from human_review.claims import Thresholds
from human_review.inference.local import LocalFaceDetector, LocalModerationModel
from human_review.records import LoopOutcome, RoutedItem, Status
from human_review.reports import build, rows


def moderation(**scores: float) -> dict:
    return {"ModerationLabels": [{"Name": n.replace("_", " "), "ParentName": "", "Confidence": c}
                                 for n, c in scores.items()]}


def ticked(*labels: str) -> list[dict]:
    return [{"workerId": "person-1", "timeSpentInSeconds": 7,
             "answerContent": {MODERATION_ANSWER_KEY: {"moderationLabels": [{"name": l, "parentName": ""} for l in labels]}}}]


def boxes_answer(*boxes: dict) -> list[dict]:
    return [{"workerId": "person-1", "timeSpentInSeconds": 9,
             "answerContent": {"annotatedResult": {"boundingBoxes": list(boxes),
                                                   "inputImageProperties": {"width": 400, "height": 300}}}}]


def reviewed_row(key: str, prediction: dict, answers: list[dict], thresholds: Thresholds | None = None,
                 audit: bool = False) -> dict:
    item = RoutedItem(key=key, size=1, status=Status.PREDICTED, prediction=prediction, flagged=True,
                      flagged_by=["Sampling"] if audit else ["ModerationLabelConfidenceCheck"],
                      reasons=["test"], audit_sample=audit, loop_name=f"loop-{key.split('.')[0]}")
    outcomes = {item.loop_name: LoopOutcome(Status.REVIEWED, loop_status="Completed", answers=answers)}
    return rows.row(item, outcomes, pipeline="p", run_key="r", bucket="b", dry_run=False,
                    summarise_prediction=LocalModerationModel.summary, iou_threshold=0.5, thresholds=thresholds)


def summarise(table_rows: list[dict]) -> dict:
    return build.summarise(table_rows, pipeline="p", run_key="r", dry_run=False, sent_to_review=len(table_rows),
                           price_usd=None, trend=[])


def test_model_right_reviewer_agrees_it_is_absent():
    """Suggestive 3.2% is below the threshold: the model did not claim it; the reviewer ticks nothing."""
    row = reviewed_row("coffee.png", moderation(Suggestive=3.2), ticked())
    assert row["human_changed"] is False
    assert json.loads(row["label_changes"]) == {}
    assert json.loads(row["model_claims"]) == {"labels": [], "confidence": {}}
    assert row["model_confidence"] == 3.2  # the raw score stays in the row
    assert row["decision_confidence"] == pytest.approx(96.8)
    s = summarise([row])
    assert s["changed_by_reviewers"] == 0
    assert s["model_precision"] is None  # no claims: nothing to be precise about, not 0%
    assert s["per_label"] == {}
    buckets = {b["bucket"]: b for b in s["calibration"]["buckets"]}
    assert buckets["0-10"]["reviewed"] == 0
    assert buckets["90-100"] == {"bucket": "90-100", "low": 90, "reviewed": 1, "overridden": 0, "override_rate": 0.0}


def test_model_claimed_and_reviewer_confirms():
    row = reviewed_row("a.png", moderation(Suggestive=87.0), ticked("Suggestive"))
    assert row["human_changed"] is False
    assert json.loads(row["label_changes"]) == {"Suggestive": {"confirmed": 1, "removed": 0, "added": 0}}
    s = summarise([row])
    assert s["model_precision"] == 1.0
    assert s["per_label"]["Suggestive"]["recall"] == 1.0


def test_model_claimed_wrongly_and_reviewer_removes():
    row = reviewed_row("b.png", moderation(Suggestive=87.0), ticked())
    assert row["human_changed"] is True
    s = summarise([row])
    assert s["per_label"]["Suggestive"] == {"confirmed": 0, "removed": 1, "added": 0, "precision": 0.0, "recall": None}
    assert {b["bucket"]: b["override_rate"] for b in s["calibration"]["buckets"]}["80-90"] == 1.0


def test_model_missed_a_label_it_scored_low():
    """Suggestive 3.2% and the reviewer ticks it: the model missed it (recall), it did not claim it wrongly."""
    row = reviewed_row("c.png", moderation(Suggestive=3.2), ticked("Suggestive"))
    assert row["human_changed"] is True
    s = summarise([row])
    assert s["per_label"]["Suggestive"] == {"confirmed": 0, "removed": 0, "added": 1, "precision": None, "recall": 0.0}
    assert s["model_precision"] is None


def test_a_night_of_mixed_cases():
    table = [
        reviewed_row("absent-1.png", moderation(Suggestive=3.2), ticked()),
        reviewed_row("absent-2.png", moderation(Suggestive=12.0), ticked(), audit=True),
        reviewed_row("right.png", moderation(Suggestive=91.0), ticked("Suggestive")),
        reviewed_row("wrong.png", moderation(Suggestive=64.0), ticked()),
        reviewed_row("missed.png", moderation(Suggestive=30.0), ticked("Suggestive")),
    ]
    s = summarise(table)
    assert s["changed_by_reviewers"] == 2
    assert s["per_label"]["Suggestive"] == {"confirmed": 1, "removed": 1, "added": 1, "precision": 0.5, "recall": 0.5}
    assert s["model_precision"] == 0.5
    cal = {b["bucket"]: (b["reviewed"], b["overridden"]) for b in s["calibration"]["buckets"] if b["reviewed"]}
    # decision confidence: 96.8, 88, 91, 64, 70
    assert cal == {"60-70": (1, 1), "70-80": (1, 1), "80-90": (1, 0), "90-100": (2, 0)}


def test_a_per_label_threshold_makes_a_low_score_a_claim():
    strict = Thresholds(50, {"suggestive": 2})  # matched case-insensitively
    row = reviewed_row("coffee.png", moderation(Suggestive=3.2), ticked(), thresholds=strict)
    assert row["human_changed"] is True
    assert json.loads(row["label_changes"]) == {"Suggestive": {"confirmed": 0, "removed": 1, "added": 0}}


def test_boxes_below_the_threshold_are_not_claims():
    prediction = {"Detections": [
        {"Name": "face", "Confidence": 90.0, "BoundingBox": {"Left": 10, "Top": 10, "Width": 100, "Height": 100}},
        {"Name": "face", "Confidence": 30.0, "BoundingBox": {"Left": 250, "Top": 50, "Width": 60, "Height": 60}},
    ], "Image": {"Width": 400, "Height": 300}}
    kept = {"label": "face", "left": 10, "top": 10, "width": 100, "height": 100, "initialValueModified": False}
    row = reviewed_row("faces.png", prediction, boxes_answer(kept))
    assert row["human_changed"] is False  # the reviewer left the 30% candidate out: so did the model
    assert json.loads(row["label_changes"]) == {"face": {"confirmed": 1, "removed": 0, "added": 0}}
    assert row["decision_confidence"] == pytest.approx(70.0)  # 100 - 30: the least sure decision
    missed = {"label": "face", "left": 250, "top": 50, "width": 60, "height": 60}
    row = reviewed_row("faces.png", prediction, boxes_answer(kept, missed))
    assert json.loads(row["label_changes"]) == {"face": {"confirmed": 1, "removed": 0, "added": 1}}


def test_the_task_pre_checks_the_claims_and_shows_the_rest_as_unlikely():
    task = LocalModerationModel.task_input(moderation(Suggestive=3.2, Violence=77.0))
    assert task["modelClaims"] == ["Violence"]
    hints = {l["name"]: l["hint"] for l in task["modelLabels"]}
    assert hints == {"Suggestive": "model: 3%, unlikely", "Violence": "model: 77%, claimed"}
    boxes = LocalFaceDetector.task_input({"Detections": [
        {"Name": "face", "Confidence": 81.0, "BoundingBox": {"Left": 1, "Top": 2, "Width": 30, "Height": 40}},
        {"Name": "face", "Confidence": 22.0, "BoundingBox": {"Left": 50, "Top": 2, "Width": 30, "Height": 40}},
    ], "Image": {"Width": 100, "Height": 100}})
    assert [b["confidence"] for b in boxes["initialValue"]] == [81.0]
    assert [b["hint"] for b in boxes["unlikelyBoxes"]] == ["model: 22%, unlikely"]


def test_the_task_input_does_not_reveal_an_audit_sample(tmp_path, project_root):
    from human_review.config import find_pipeline
    from human_review.stages.route import task_input
    from human_review.stages.run import RunContext

    run = RunContext(config=find_pipeline("content-moderation"), run_key="r")
    item = RoutedItem(key="incoming/coffee.png", size=1, status=Status.PREDICTED, prediction=moderation(Suggestive=3.2),
                      flagged=True, flagged_by=["Sampling"], reasons=["random audit sample (20%)"], audit_sample=True)
    text = json.dumps(task_input(run, item)).lower()
    assert "audit" not in text and "sampling" not in text and "random" not in text
    assert task_input(run, item)["fileName"] == "coffee.png"


def test_reviewers_read_by_name_where_the_service_recorded_names_else_by_workerId():
    """The local service writes reviewers.json {workerId: name} beside output.json; A2I writes none."""
    item = RoutedItem(key="a.png", size=1, status=Status.PREDICTED, prediction=moderation(Suggestive=70.0),
                      flagged=True, flagged_by=["ModerationLabelConfidenceCheck"], reasons=["test"], loop_name="loop-a")
    answers = [{**ticked("Suggestive")[0], "workerId": "3f9c0a1b2c3d4e5f"},
               {**ticked("Suggestive")[0], "workerId": "0011223344556677"}]

    def row(reviewers):
        outcome = LoopOutcome(Status.REVIEWED, loop_status="Completed", answers=answers, reviewers=reviewers)
        return rows.row(item, {"loop-a": outcome}, pipeline="p", run_key="r", bucket="b", dry_run=False,
                        summarise_prediction=LocalModerationModel.summary, iou_threshold=0.5)

    named = row({"3f9c0a1b2c3d4e5f": "alice", "0011223344556677": "bob"})
    assert named["workers"] == "alice,bob"
    assert [w["worker"] for w in json.loads(named["worker_answers"])] == ["alice", "bob"]
    assert [w["worker"] for w in summarise([named])["reviewers"]["workers"]] == ["alice", "bob"]

    unnamed = row(None)  # A2I: no reviewers.json, the opaque ids stand
    assert unnamed["workers"] == "3f9c0a1b2c3d4e5f,0011223344556677"
    partly = row({"3f9c0a1b2c3d4e5f": "alice"})
    assert partly["workers"] == "alice,0011223344556677"
    # the record round-trips through XCom-style JSON with the names
    outcome = LoopOutcome(Status.REVIEWED, answers=answers, reviewers={"x": "alice"})
    assert LoopOutcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome
