"""A2I activation conditions: comparators, combinators, sampling, validation with JSON paths."""

from __future__ import annotations

import pytest

from human_review.conditions import evaluate, sampling_fraction, validate
from human_review.exceptions import ConditionError


def mod(*labels: tuple[str, float]) -> dict:
    return {"ModerationLabels": [{"Name": n, "Confidence": c, "ParentName": ""} for n, c in labels]}


def check(label: str, **comparators) -> dict:
    return {"ConditionType": "ModerationLabelConfidenceCheck",
            "ConditionParameters": {"ModerationLabelName": label, **comparators}}


def sampling(pct: float) -> dict:
    return {"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": pct}}


@pytest.mark.parametrize(
    "comparators, confidence, expected",
    [
        ({"ConfidenceLessThan": 90}, 89.9, True),
        ({"ConfidenceLessThan": 90}, 90.0, False),
        ({"ConfidenceLessThanEquals": 90}, 90.0, True),
        ({"ConfidenceGreaterThan": 90}, 90.0, False),
        ({"ConfidenceGreaterThanEquals": 90}, 90.0, True),
        ({"ConfidenceEquals": 42}, 42.0, True),
        ({"ConfidenceEquals": 42}, 42.5, False),
        ({"ConfidenceGreaterThan": 50, "ConfidenceLessThan": 90}, 70, True),  # all comparators must hold
        ({"ConfidenceGreaterThan": 50, "ConfidenceLessThan": 90}, 95, False),
    ],
)
def test_comparators(comparators, confidence, expected):
    doc = {"Conditions": [check("Suggestive", **comparators)]}
    assert evaluate(doc, mod(("Suggestive", confidence))).activated is expected


def test_absent_label_never_matches_and_star_matches_any():
    assert not evaluate({"Conditions": [check("Violence", ConfidenceLessThan=100)]}, mod(("Suggestive", 10))).activated
    assert evaluate({"Conditions": [check("*", ConfidenceLessThan=100)]}, mod(("Suggestive", 10))).activated
    # label names compare case-insensitively (Rekognition's taxonomy changed capitalisation)
    doc = {"Conditions": [check("Female Swimwear Or Underwear", ConfidenceGreaterThan=98)]}
    assert evaluate(doc, mod(("Female Swimwear or Underwear", 99))).activated


def test_and_or_and_result_tree():
    doc = {"Conditions": [{"And": [check("Suggestive", ConfidenceLessThan=98),
                                   {"Or": [check("Violence", ConfidenceGreaterThan=10), check("Suggestive", ConfidenceGreaterThan=50)]}]}]}
    ev = evaluate(doc, mod(("Suggestive", 60)))
    assert ev.activated
    node = ev.results["Conditions"][0]
    assert node["EvaluationResult"] is True
    assert [c["EvaluationResult"] for c in node["And"][1]["Or"]] == [False, True]
    assert ev.flagged_by == ["ModerationLabelConfidenceCheck"]
    assert any("Suggestive" in r for r in ev.reasons)
    assert not evaluate(doc, mod(("Suggestive", 40))).activated
    assert "EvaluationResult" not in doc["Conditions"][0]  # the caller's document is not modified


def test_the_moderation_scenario():
    doc = {"Conditions": [{"Or": [check("Suggestive", ConfidenceLessThan=98),
                                  check("Female Swimwear Or Underwear", ConfidenceGreaterThan=98)]}]}
    assert evaluate(doc, mod(("Suggestive", 97.9))).activated
    assert not evaluate(doc, mod(("Suggestive", 99.5))).activated
    assert evaluate(doc, mod(("Suggestive", 99.5), ("Female Swimwear Or Underwear", 99.1))).activated
    assert not evaluate(doc, mod()).activated


def test_detection_confidence_check():
    doc = {"Conditions": [{"ConditionType": "DetectionConfidenceCheck",
                           "ConditionParameters": {"DetectionLabelName": "face", "ConfidenceLessThan": 80}}]}
    dets = lambda *cs: {"Detections": [{"Name": "face", "Confidence": c} for c in cs]}
    assert evaluate(doc, dets(99, 61.8)).activated
    assert not evaluate(doc, dets(99, 95)).activated
    assert not evaluate(doc, dets()).activated


def test_sampling_is_deterministic_and_close_to_its_percentage():
    doc = {"Conditions": [sampling(10)]}
    picks = [evaluate(doc, {}, sampling_key=f"p|img-{i}.jpg").activated for i in range(10_000)]
    assert 0.09 <= sum(picks) / len(picks) <= 0.11
    again = [evaluate(doc, {}, sampling_key=f"p|img-{i}.jpg").activated for i in range(200)]
    assert again == picks[:200]
    ev = evaluate(doc, {}, sampling_key="p|img-1.jpg")
    assert ev.audit_only == ev.activated
    assert 0 <= sampling_fraction("x") < 100


@pytest.mark.parametrize(
    "doc, path, words",
    [
        ([], "$", "must be an object"),
        ({"Conditions": []}, "$.Conditions", "non-empty list"),
        ({"Conditions": [{"ConditionType": "Nope", "ConditionParameters": {}}]}, "$.Conditions[0].ConditionType", "unknown type"),
        ({"Conditions": [{"ConditionType": "Sampling"}]}, "$.Conditions[0].ConditionParameters", "missing"),
        ({"Conditions": [sampling(0)]}, "$.Conditions[0].ConditionParameters.RandomSamplingPercentage", "outside 0.01-100"),
        ({"Conditions": [sampling("5")]}, "$.Conditions[0].ConditionParameters.RandomSamplingPercentage", "must be a number"),
        ({"Conditions": [check("Suggestive")]}, "$.Conditions[0].ConditionParameters", "at least one of"),
        ({"Conditions": [{"ConditionType": "ModerationLabelConfidenceCheck", "ConditionParameters": {"ConfidenceLessThan": 5}}]},
         "$.Conditions[0].ConditionParameters.ModerationLabelName", "required"),
        ({"Conditions": [check("Suggestive", ConfidenceLessThan=101)]}, "$.Conditions[0].ConditionParameters.ConfidenceLessThan", "outside 0-100"),
        ({"Conditions": [{"Or": [sampling(1)]}]}, "$.Conditions[0].Or", "at least two"),
        ({"Conditions": [{"And": [sampling(1), {"Or": [sampling(1), {"And": [sampling(1), sampling(2)]}]}]}]},
         "$.Conditions[0].And[1].Or[1].And", "nested too deep"),
    ],
)
def test_malformed_conditions_name_the_path(doc, path, words):
    with pytest.raises(ConditionError) as err:
        validate(doc)
    assert err.value.path == path
    assert words in err.value.message
