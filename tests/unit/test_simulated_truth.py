"""Simulated reviewers answer from the sample photos' answer key, so the demo's figures mean something."""

from __future__ import annotations

from human_review.a2i import MODERATION_ANSWER_KEY
from human_review.inference.local import LocalFaceDetector, LocalModerationModel
from human_review_dev.reviewers import build_answer
from human_review_dev.samples import FACES, answer_key


def test_a_benign_photo_gets_no_moderation_label_whatever_the_model_scored():
    task = {"objectKey": "incoming/coffee.png",
            **LocalModerationModel.task_input({"ModerationLabels": [{"Name": "Suggestive", "Confidence": 3.2}]})}
    answer = build_answer(task, "truth", "loop-a")
    assert answer[MODERATION_ANSWER_KEY]["moderationLabels"] == []
    # 'agree' agrees with the claims: 3.2% is not one, so it is not ticked either
    assert build_answer(task, "agree", "loop-a")[MODERATION_ANSWER_KEY]["moderationLabels"] == []


def test_truthful_boxes_keep_a_good_model_box_drop_a_false_one_and_add_a_missed_face():
    prediction = {"Detections": [
        {"Name": "face", "Confidence": 99.0, "BoundingBox": {"Left": 175, "Top": 76, "Width": 90, "Height": 90}},
        {"Name": "face", "Confidence": 61.0, "BoundingBox": {"Left": 126, "Top": 335, "Width": 89, "Height": 90}},
    ], "Image": {"Width": 512, "Height": 512}}
    task = {"objectKey": "incoming/astronaut.png", **LocalFaceDetector.task_input(prediction)}
    answer = build_answer(task, "truth", "loop-b")["annotatedResult"]
    assert answer["boundingBoxes"] == [{"label": "face", "left": 175, "top": 76, "width": 90, "height": 90}]
    # crowd-bounding-box puts initialValueModified on the answer: the false box was removed
    assert answer["initialValueModified"] is True
    camera = {"objectKey": "incoming/camera.png", **LocalFaceDetector.task_input({"Detections": [], "Image": {"Width": 512, "Height": 512}})}
    boxes = build_answer(camera, "truth", "loop-c")["annotatedResult"]["boundingBoxes"]
    assert [(b["left"], b["top"]) for b in boxes] == [(207, 115)]


def test_error_rate_makes_deterministic_slips():
    task = {"objectKey": "incoming/coffee.png", **LocalModerationModel.task_input({"ModerationLabels": []})}
    slips = [bool(build_answer(task, "truth", f"loop-{i}", error_rate=0.3)[MODERATION_ANSWER_KEY]["moderationLabels"])
             for i in range(200)]
    assert 40 <= sum(slips) <= 80  # about 30%
    again = [bool(build_answer(task, "truth", f"loop-{i}", error_rate=0.3)[MODERATION_ANSWER_KEY]["moderationLabels"])
             for i in range(200)]
    assert slips == again


def test_unknown_images_fall_back_to_agree():
    assert answer_key("incoming/someone-elses.jpg") is None
    assert set(FACES) >= {"astronaut.png", "camera.png", "coffee.png"}
