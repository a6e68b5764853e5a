"""Property tests (hypothesis) for the activation-condition combinators and for Sampling."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from human_review.conditions import evaluate, sampling_fraction

COMPARATORS = ["ConfidenceEquals", "ConfidenceLessThan", "ConfidenceLessThanEquals", "ConfidenceGreaterThan",
               "ConfidenceGreaterThanEquals"]
LABELS = ["Suggestive", "Violence", "Drugs"]
confidence = st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda v: round(v, 1))

leaf = st.builds(
    lambda label, comps: {"ConditionType": "ModerationLabelConfidenceCheck",
                          "ConditionParameters": {"ModerationLabelName": label, **comps}},
    st.sampled_from([*LABELS, "*"]),
    st.dictionaries(st.sampled_from(COMPARATORS), confidence, min_size=1, max_size=5),
)
response = st.builds(
    lambda labels: {"ModerationLabels": [{"Name": n, "Confidence": c, "ParentName": ""} for n, c in labels.items()]},
    st.dictionaries(st.sampled_from(LABELS), confidence, max_size=3),
)


def leaf_truth(node, resp):
    return evaluate({"Conditions": [node]}, resp).activated


@settings(max_examples=200, deadline=None)
@given(st.lists(leaf, min_size=2, max_size=4), response)
def test_and_is_all_and_or_is_any(items, resp):
    truths = [leaf_truth(i, resp) for i in items]
    assert evaluate({"Conditions": [{"And": items}]}, resp).activated == all(truths)
    assert evaluate({"Conditions": [{"Or": items}]}, resp).activated == any(truths)
    # top-level Conditions are an implicit Or
    ev = evaluate({"Conditions": items}, resp)
    assert ev.activated == any(truths)
    assert [n["EvaluationResult"] for n in ev.results["Conditions"]] == truths


@settings(max_examples=100, deadline=None)
@given(st.lists(leaf, min_size=2, max_size=3), st.lists(leaf, min_size=2, max_size=3), response)
def test_two_levels_nest_like_boolean_algebra(a, b, resp):
    doc = {"Conditions": [{"Or": [{"And": a}, {"And": b}]}]}
    expected = all(leaf_truth(i, resp) for i in a) or all(leaf_truth(i, resp) for i in b)
    ev = evaluate(doc, resp)
    assert ev.activated == expected
    assert ev.results["Conditions"][0]["EvaluationResult"] == expected
    # every node of the tree carries its EvaluationResult
    for group in ev.results["Conditions"][0]["Or"]:
        assert isinstance(group["EvaluationResult"], bool)
        assert all(isinstance(n["EvaluationResult"], bool) for n in group["And"])
    # reasons are given exactly when activated
    assert bool(ev.reasons) == ev.activated


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40), st.floats(min_value=0.01, max_value=100))
def test_sampling_is_deterministic_and_monotone_in_the_percentage(key, pct):
    doc = lambda p: {"Conditions": [{"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": p}}]}
    first = evaluate(doc(pct), {}, sampling_key=key).activated
    assert evaluate(doc(pct), {}, sampling_key=key).activated == first
    if first:  # an item sampled at p% is sampled at any higher percentage
        assert evaluate(doc(min(100, pct * 2)), {}, sampling_key=key).activated
    assert evaluate(doc(100), {}, sampling_key=key).activated


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([0.5, 1, 5, 20, 50, 90]), st.text(alphabet="abcdef", min_size=1, max_size=8))
def test_sampled_share_is_close_to_the_percentage(pct, pipeline):
    n = 10_000
    share = sum(sampling_fraction(f"{pipeline}|incoming/img-{i}.jpg|Conditions[0]") < pct for i in range(n)) / n * 100
    # binomial standard deviation is at most 0.5 points at n=10,000: 4 sigma
    sigma = (pct * (100 - pct) / n) ** 0.5
    assert abs(share - pct) <= 4 * sigma + 0.01
