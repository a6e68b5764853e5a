"""Attack: one reviewer answer fails the whole night's report.

Before: answerContent was only checked to be an object; a label ``$\\undefinedmacro$`` reached
matplotlib's mathtext (the report failed on every retry) and malformed shapes raised in
consolidation. After: submit refuses them with a 400 naming the field; the report turns an answer
it cannot read into that image's review_failed row and draws chart text literally."""

from __future__ import annotations

import pytest

from human_review.records import LoopOutcome, RoutedItem, Status
from human_review.reports import build, rows

from .conftest import detection_doc, moderation_doc

MOD = "AWS/Rekognition/DetectModerationLabels/Image/V3"
MATHTEXT = "$\\undefinedmacro$"

# Each of these raised in consolidation (or in the chart) on the old code.
POISON = {
    "mathtext label": {MOD: {"moderationLabels": [{"name": MATHTEXT}]}},
    "moderation value not an object": {MOD: ["Violence"]},
    "moderation label not an object": {MOD: {"moderationLabels": ["Violence"]}},
    "moderation names of mixed types": {MOD: {"moderationLabels": [{"name": "Violence"}, {"name": 3}]}},
    "unhashable classifier label": {"category": {"label": {"a": 1}}},
    "unhashable multi-select labels": {"category": {"labels": [["x"]]}},
    "boxes not a list": {"annotatedResult": {"boundingBoxes": 5}},
    "box missing its width": {"annotatedResult": {"boundingBoxes": [{"label": "face", "left": 1, "top": 1, "height": 2}]}},
    "box coordinate not a number": {"annotatedResult": {"boundingBoxes": [
        {"label": "face", "left": "x", "top": 1, "width": 2, "height": 2}]}},
    "box not an object": {"annotatedResult": {"boundingBoxes": ["face"]}},
    "image properties not an object": {"annotatedResult": {"boundingBoxes": [], "inputImageProperties": [1, 2]}},
}


def _item(key: str, loop: str) -> RoutedItem:
    return RoutedItem(key=key, size=10, status=Status.PREDICTED,
                      prediction={"ModerationLabels": [{"Name": "Violence", "Confidence": 60.0}]},
                      flagged=True, loop_name=loop, reasons=["Violence < 90"])


def _report(answers_by_key: dict[str, list[dict]]) -> tuple[list[dict], bytes]:
    items = [_item(k, f"loop-{i}") for i, k in enumerate(answers_by_key)]
    outcomes = {f"loop-{i}": LoopOutcome(Status.REVIEWED, loop_status="Completed", answers=a)
                for i, a in enumerate(answers_by_key.values())}
    table_rows = rows.rows(items, outcomes, pipeline="p", run_key="r", bucket="b", dry_run=False,
                           summarise_prediction=lambda p: "m", iou_threshold=0.5)
    table = build.frame(table_rows)
    dict(build.table_bytes(table))
    summary = build.summarise(table_rows, pipeline="p", run_key="r", dry_run=False, sent_to_review=len(items),
                              price_usd=0.036, trend=[])
    return table_rows, build.html_bytes(summary, table, None, 0)


@pytest.mark.parametrize("case", sorted(POISON))
def test_the_report_turns_a_poisoned_answer_into_that_images_review_failed_row(case):
    good = [{"workerId": "alice", "answerContent": {MOD: {"moderationLabels": [{"name": "Violence"}]}}}]
    bad = [{"workerId": "mallory", "answerContent": POISON[case]}]
    table_rows, html = _report({"good.png": good, "bad.png": bad})
    by_key = {r["object_key"]: r for r in table_rows}
    assert by_key["good.png"]["status"] == "reviewed"
    assert b"<html" in html.lower()
    if case == "mathtext label":  # a readable answer: it stays reviewed, and its label is drawn as text
        assert by_key["bad.png"]["status"] == "reviewed"
        assert b"undefinedmacro" in html
        return
    assert by_key["bad.png"]["status"] == "review_failed", by_key["bad.png"]
    assert "cannot be read" in by_key["bad.png"]["reason"]


def test_a_mathtext_label_that_consolidates_is_drawn_literally():
    # Two reviewers agree on the label, so it reaches the per-label chart: it must be text, not math.
    from human_review.reports import html_report

    svg = html_report.label_chart({MATHTEXT: {"confirmed": 1, "removed": 0, "added": 2}})
    assert "undefinedmacro" in svg


@pytest.mark.integration
@pytest.mark.xdist_group("security_portal")
@pytest.mark.parametrize("case", sorted(POISON))
def test_submit_refuses_a_poisoned_answer_with_a_clear_400(portal, case):
    content = POISON[case]
    if "annotatedResult" in content:
        flow, doc = "object-detection", detection_doc(f"s3://{portal.bucket}/incoming/p.png")
    else:
        flow, doc = "content-moderation", moderation_doc(f"s3://{portal.bucket}/incoming/p.png")
        if "category" in content:  # the moderation template has no "category" element: a plain key
            content = {MOD: {"moderationLabels": []}, **content}
    name = portal.start(flow, doc)
    alice = portal.sign_in("alice")
    task = portal.claim(alice, flow, name)
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": content})
    assert r.status_code == 400, (case, r.status_code, r.text)
    assert "does not fit the task's template" in r.json()["detail"]
    # the task stays the reviewer's to answer properly
    ok = {MOD: {"moderationLabels": [{"name": "Violence"}]}} if flow == "content-moderation" else \
        {"annotatedResult": {"boundingBoxes": [{"label": "face", "left": 1, "top": 2, "width": 3, "height": 4}],
                             "inputImageProperties": {"width": 512, "height": 512}}}
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": ok})
    assert r.status_code == 200, r.text
    alice.close()


@pytest.mark.integration
@pytest.mark.xdist_group("security_portal")
def test_submit_refuses_a_label_the_task_did_not_offer(portal):
    name = portal.start("object-detection", detection_doc(f"s3://{portal.bucket}/incoming/q.png"))
    alice = portal.sign_in("alice")
    task = portal.claim(alice, "object-detection", name)
    box = {"label": MATHTEXT, "left": 1, "top": 2, "width": 3, "height": 4}
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit",
                   json={"answerContent": {"annotatedResult": {"boundingBoxes": [box]}}})
    assert r.status_code == 400 and "not one the task offered (face)" in r.json()["detail"], r.text
    alice.post(f"/worker/api/tasks/{task['taskId']}/release")
    alice.close()
