"""Consolidation of up to three reviewers' answers, against hand-made answer sets."""

from __future__ import annotations

import pytest

from human_review.reports.consolidation import MODERATION_ANSWER_KEYS, changed, compare, consolidate, iou

KEY = MODERATION_ANSWER_KEYS[0]


def labels(*names: str, worker: str = "w") -> dict:
    return {"workerId": worker, "answerContent": {KEY: {"moderationLabels": [{"name": n, "parentName": ""} for n in names]}}}


def boxes(*bs: tuple, worker: str = "w") -> dict:
    return {"workerId": worker, "answerContent": {"annotatedResult": {
        "boundingBoxes": [{"label": b[0], "left": b[1], "top": b[2], "width": b[3], "height": b[4]} for b in bs],
        "inputImageProperties": {"width": 640, "height": 480}}}}


def test_single_answer_is_the_answer():
    out = consolidate([labels("Suggestive")])
    assert out["labels"] == ["Suggestive"] and out["disputed"] == [] and out["agreement"] == 1.0


def test_labels_by_majority_of_three():
    out = consolidate([labels("Suggestive", "Violence"), labels("Suggestive"), labels("Suggestive", "Drugs")])
    assert out["labels"] == ["Suggestive"]
    assert out["disputed"] == []
    # each answer's Jaccard with {Suggestive}: 1/2, 1, 1/2
    assert out["per_answer"] == [0.5, 1.0, 0.5]
    assert out["agreement"] == pytest.approx(2 / 3, abs=1e-4)


def test_two_workers_split_is_disputed_not_kept():
    out = consolidate([labels("Suggestive"), labels()])
    assert out["labels"] == [] and out["disputed"] == ["Suggestive"]


def test_lowercase_moderation_key_is_read():
    answer = {"answerContent": {MODERATION_ANSWER_KEYS[1]: {"moderationLabels": [{"name": "Drugs"}]}}}
    assert consolidate([answer])["labels"] == ["Drugs"]


def test_single_label_classifier_tie_is_disputed():
    a = [{"answerContent": {"category": {"label": "cat"}}}, {"answerContent": {"category": {"label": "dog"}}}]
    out = consolidate(a)
    assert out["labels"] == [] and out["disputed"] == ["cat", "dog"]


def test_iou():
    assert iou({"left": 0, "top": 0, "width": 10, "height": 10}, {"left": 0, "top": 0, "width": 10, "height": 10}) == 1
    assert iou({"left": 0, "top": 0, "width": 10, "height": 10}, {"left": 5, "top": 0, "width": 10, "height": 10}) == pytest.approx(50 / 150)
    assert iou({"left": 0, "top": 0, "width": 10, "height": 10}, {"left": 20, "top": 0, "width": 5, "height": 5}) == 0


def test_boxes_matched_by_iou_and_merged_by_mean():
    out = consolidate([
        boxes(("face", 100, 100, 50, 50), worker="a"),
        boxes(("face", 104, 98, 50, 50), worker="b"),
        boxes(("face", 102, 102, 50, 50), worker="c"),
    ])
    [box] = out["boxes"]
    assert (box["left"], box["top"], box["width"], box["height"], box["votes"]) == (102, 100, 50, 50, 3)
    assert out["disputed"] == [] and out["agreement"] == 1.0
    assert out["image"] == {"width": 640, "height": 480}


def test_box_drawn_by_a_majority_is_kept_and_by_one_of_three_dropped():
    out = consolidate([
        boxes(("face", 100, 100, 50, 50), ("face", 300, 300, 40, 40), worker="a"),
        boxes(("face", 101, 100, 50, 50), ("face", 302, 301, 40, 40), worker="b"),
        boxes(("face", 100, 101, 50, 50), ("face", 10, 10, 20, 20), worker="c"),
    ])
    assert [(b["left"], b["votes"]) for b in out["boxes"]] == [(100, 3), (301, 2)]
    assert out["disputed"] == []
    # worker c: 1 of its 2 boxes matches 1 of 2 consolidated: F1 = 0.5
    assert out["per_answer"] == [1.0, 1.0, 0.5]


def test_boxes_below_the_iou_threshold_do_not_match():
    a = [boxes(("face", 0, 0, 10, 10), worker="a"), boxes(("face", 6, 0, 10, 10), worker="b")]
    # IoU 4*10/(200-40) = 0.25
    assert consolidate(a, iou_threshold=0.5)["boxes"] == []
    assert len(consolidate(a, iou_threshold=0.5)["disputed"]) == 2
    assert len(consolidate(a, iou_threshold=0.2)["boxes"]) == 1


def test_boxes_of_different_labels_never_merge():
    out = consolidate([boxes(("face", 0, 0, 10, 10), worker="a"), boxes(("dog", 0, 0, 10, 10), worker="b")])
    assert out["boxes"] == [] and {b["label"] for b in out["disputed"]} == {"face", "dog"}


@pytest.mark.parametrize("task_count, kept", [(1, 1), (2, 1), (3, 1)])
def test_task_count_one_to_three_all_agreeing(task_count, kept):
    out = consolidate([boxes(("face", 10, 10, 30, 30), worker=f"w{i}") for i in range(task_count)])
    assert len(out["boxes"]) == kept and out["agreement"] == 1.0 and len(out["per_answer"]) == task_count


def test_one_worker_per_group_even_with_overlapping_boxes():
    # worker a drew two overlapping boxes: they stay two groups, b's box joins the better one
    out = consolidate([boxes(("face", 0, 0, 20, 20), ("face", 2, 2, 20, 20), worker="a"),
                       boxes(("face", 0, 0, 20, 20), worker="b")])
    assert len(out["boxes"]) == 1 and len(out["disputed"]) == 1


def test_unknown_answer_shape_is_kept_raw():
    out = consolidate([{"answerContent": {"free": "text"}}])
    assert out["raw"] == {"free": "text"} and out["agreement"] is None


def test_compare_and_changed_against_the_model():
    model = {"boxes": [{"label": "face", "left": 0, "top": 0, "width": 10, "height": 10, "confidence": 40},
                       {"label": "face", "left": 50, "top": 50, "width": 10, "height": 10, "confidence": 30}]}
    human = {"boxes": [{"label": "face", "left": 1, "top": 0, "width": 10, "height": 10},
                       {"label": "face", "left": 200, "top": 200, "width": 10, "height": 10}]}
    assert compare(model, human) == {"face": {"confirmed": 1, "removed": 1, "added": 1}}
    assert changed(model, human) is True
    assert changed(model, {"boxes": [model["boxes"][0], model["boxes"][1]]}) is False
    assert compare({"labels": ["Suggestive"]}, {"labels": ["suggestive", "Drugs"]}) == {
        "suggestive": {"confirmed": 1, "removed": 0, "added": 0}, "Drugs": {"confirmed": 0, "removed": 0, "added": 1}}
