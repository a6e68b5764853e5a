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
    # A2I compares ModerationLabelName exactly (case-sensitively)
    doc = {"Conditions": [check("Female Swimwear Or Underwear", ConfidenceGreaterThan=98)]}
    assert evaluate(doc, mod(("Female Swimwear Or Underwear", 99))).activated
    assert not evaluate(doc, mod(("Female Swimwear or Underwear", 99))).activated


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
    assert ev.audit_sample == ev.activated
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


def dets(*items: tuple[str, float]) -> dict:
    return {"Detections": [{"Name": n, "Confidence": c} for n, c in items]}


def count_check(label: str = "face", **params) -> dict:
    return {"ConditionType": "DetectionCountCheck", "ConditionParameters": {"DetectionLabelName": label, **params}}


def missing(label: str = "face", **params) -> dict:
    return {"ConditionType": "MissingDetection", "ConditionParameters": {"DetectionLabelName": label, **params}}


@pytest.mark.parametrize(
    "condition, response, expected",
    [
        (count_check(CountGreaterThan=2), dets(("face", 90), ("face", 80), ("face", 70)), True),
        (count_check(CountGreaterThan=2), dets(("face", 90), ("face", 80)), False),
        (count_check(CountLessThan=1), dets(), True),
        (count_check(CountLessThan=1), dets(("face", 10)), False),
        (count_check(CountLessThan=1, MinConfidence=50), dets(("face", 10)), True),  # weak ones do not count
        (count_check(CountGreaterThan=0, CountLessThan=3), dets(("face", 90), ("car", 90)), True),
        (count_check(CountGreaterThan=0, CountLessThan=3), dets(*[("face", 90)] * 3), False),
        (count_check("*", CountGreaterThan=1), dets(("face", 90), ("car", 90)), True),
        (missing(), dets(("car", 99)), True),
        (missing(), dets(("face", 1)), False),
        (missing(MinConfidence=50), dets(("face", 49.9)), True),
        (missing(MinConfidence=50), dets(("face", 50)), False),
        (missing("*"), dets(), True),
    ],
)
def test_detection_count_and_missing_detection(condition, response, expected):
    ev = evaluate({"Conditions": [condition]}, response)
    assert ev.activated is expected
    assert ev.results["Conditions"][0]["EvaluationResult"] is expected
    assert bool(ev.reasons) is expected


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"Conditions": [{"And": [check("Suggestive", ConfidenceLessThan=98), check("Violence", ConfidenceLessThan=98)]}]}, False),
        ({"Conditions": [{"Or": [check("Suggestive", ConfidenceLessThan=98), check("Violence", ConfidenceLessThan=98)]}]}, True),
        ({"Conditions": [check("Violence", ConfidenceLessThan=98), check("Suggestive", ConfidenceLessThan=98)]}, True),  # implicit Or
        ({"Conditions": [{"And": [{"Or": [check("Violence", ConfidenceGreaterThan=1), check("Suggestive", ConfidenceEquals=50)]},
                                  check("*", ConfidenceGreaterThanEquals=50)]}]}, True),
        ({"Conditions": [{"And": [sampling(100), check("Suggestive", ConfidenceLessThan=10)]}]}, False),
        ({"Conditions": [{"And": [sampling(100), check("Suggestive", ConfidenceLessThan=60)]}]}, True),
    ],
)
def test_combinators(doc, expected):
    ev = evaluate(doc, mod(("Suggestive", 50)), sampling_key="k")
    assert ev.activated is expected
    assert [n["EvaluationResult"] for n in ev.results["Conditions"]].count(True) >= (1 if expected else 0)


def test_one_label_must_meet_every_comparator_of_a_condition():
    # two labels each meet one comparator: that is not a match (A2I checks each label on its own)
    doc = {"Conditions": [check("*", ConfidenceGreaterThan=80, ConfidenceLessThan=20)]}
    assert not evaluate(doc, mod(("Suggestive", 90), ("Violence", 10))).activated
    doc = {"Conditions": [check("*", ConfidenceGreaterThan=10, ConfidenceLessThanEquals=20, ConfidenceGreaterThanEquals=20,
                                ConfidenceEquals=20, ConfidenceLessThan=21)]}
    assert evaluate(doc, mod(("Suggestive", 20))).activated  # all five comparators in one condition


def test_the_detection_scenario():
    doc = {"Conditions": [
        {"ConditionType": "DetectionConfidenceCheck", "ConditionParameters": {"DetectionLabelName": "face", "ConfidenceLessThan": 80}},
        count_check(CountGreaterThan=5, MinConfidence=50),
        missing(MinConfidence=50),
    ]}
    ev = evaluate(doc, dets(("face", 99)))
    assert not ev.activated
    ev = evaluate(doc, dets(("face", 70)))
    assert ev.activated and ev.flagged_by == ["DetectionConfidenceCheck"]
    ev = evaluate(doc, dets())
    assert ev.activated and ev.flagged_by == ["MissingDetection"] and ev.reasons == ["no face detected at 50%+"]


def test_explain_reads_a_tree_written_by_the_service():
    from human_review.conditions import explain

    tree = {"Conditions": [{"Or": [dict(check("Suggestive", ConfidenceLessThan=98), EvaluationResult=True),
                                   dict(sampling(5), EvaluationResult=False)], "EvaluationResult": True}]}
    flagged_by, reasons = explain(tree)
    assert flagged_by == ["ModerationLabelConfidenceCheck"]
    assert "Suggestive" in reasons[0]
    assert explain(None) == ([], [])


@pytest.mark.parametrize(
    "doc, path, words",
    [
        ({"Conditions": [count_check()]}, "$.Conditions[0].ConditionParameters", "at least one of CountLessThan"),
        ({"Conditions": [count_check(CountLessThan=2.5)]}, "$.Conditions[0].ConditionParameters.CountLessThan", "whole number"),
        ({"Conditions": [count_check(CountLessThan=-1)]}, "$.Conditions[0].ConditionParameters.CountLessThan", "negative"),
        ({"Conditions": [count_check(CountLessThan=3, CountGreaterThan=2)]}, "$.Conditions[0].ConditionParameters", "no count"),
        ({"Conditions": [count_check(CountLessThan=3, ConfidenceLessThan=2)]}, "$.Conditions[0].ConditionParameters.ConfidenceLessThan", "unknown parameter"),
        ({"Conditions": [missing(MinConfidence=101)]}, "$.Conditions[0].ConditionParameters.MinConfidence", "outside 0-100"),
        ({"Conditions": [missing(CountLessThan=1)]}, "$.Conditions[0].ConditionParameters.CountLessThan", "unknown parameter"),
        ({"Conditions": [{"ConditionType": "MissingDetection", "ConditionParameters": {}}]},
         "$.Conditions[0].ConditionParameters.DetectionLabelName", "required"),
        ({"Conditions": [{"Or": [sampling(1), {"And": [missing(), count_check(CountLessThan=1)]}, {"And": [sampling(2), {"Or": [sampling(1), sampling(2)]}]}]}]},
         "$.Conditions[0].Or[2].And[1].Or", "nested too deep"),
        ({"Conditions": [sampling(100.5)]}, "$.Conditions[0].ConditionParameters.RandomSamplingPercentage", "outside 0.01-100"),
        ({"Conditions": [sampling(0.009)]}, "$.Conditions[0].ConditionParameters.RandomSamplingPercentage", "outside 0.01-100"),
        ({"Conditions": [{"And": [sampling(1), sampling(2)], "Or": [sampling(1), sampling(2)]}]}, "$.Conditions[0]", "only key"),
    ],
)
def test_malformed_detection_conditions_name_the_path(doc, path, words):
    with pytest.raises(ConditionError) as err:
        validate(doc)
    assert err.value.path == path
    assert words in err.value.message


def test_a_bad_condition_fails_config_load_with_the_path(tmp_path, project_root):
    import yaml

    from human_review.config import load_pipeline
    from human_review.exceptions import PipelineConfigError

    raw = yaml.safe_load((project_root / "include/pipelines/object_detection.yaml").read_text())
    raw["review"]["conditions"] = {"Conditions": [count_check(CountLessThan="2")]}
    path = tmp_path / "object_detection.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(path)
    assert "$.Conditions[0].ConditionParameters.CountLessThan" in str(err.value)
