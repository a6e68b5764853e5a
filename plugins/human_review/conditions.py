"""A2I activation conditions, evaluated by this project for any model.

The grammar is A2I's (`HumanLoopActivationConditions`): a top-level `{"Conditions": [...]}` whose
items are OR-ed; `And` / `Or` take two or more items and nest at most two levels deep; a leaf is
`{"ConditionType": ..., "ConditionParameters": {...}}`.

Leaf types:
- `ModerationLabelConfidenceCheck` (Rekognition's): true when a moderation label named exactly
  (case-sensitively, as A2I documents) `ModerationLabelName` (`"*"` = any label) has a confidence
  meeting every comparator given. One label must meet all the comparators at once.
- `DetectionConfidenceCheck` (this project's, same style, for object detectors): true when a
  detection labelled `DetectionLabelName` (or `"*"`) has a confidence meeting every comparator.
- `DetectionCountCheck` (this project's): counts the detections labelled `DetectionLabelName`
  (or `"*"`) whose confidence is at least `MinConfidence` (default 0); true when the count meets
  every one of `CountLessThan` / `CountGreaterThan` given (too few / too many objects).
- `MissingDetection` (this project's, like Textract's `MissingImportantFormKey`): true when no
  detection labelled `DetectionLabelName` reaches `MinConfidence` (default 0).
- `Sampling`: true for `RandomSamplingPercentage` percent of items, decided by a hash of the
  sampling key, so the same image in the same pipeline gets the same answer on every rerun.

`evaluate()` returns the tree with `EvaluationResult` on every node, the shape A2I writes as
`humanTaskActivationConditionResults`, plus the reasons an item was flagged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from human_review.exceptions import ConditionError

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "ConfidenceEquals": operator.eq,
    "ConfidenceLessThan": operator.lt,
    "ConfidenceLessThanEquals": operator.le,
    "ConfidenceGreaterThan": operator.gt,
    "ConfidenceGreaterThanEquals": operator.ge,
}
MAX_NESTING = 2  # And/Or inside And/Or, no deeper
MAX_DOCUMENT_BYTES = 10 * 1024  # HumanLoopActivationConditions limit


def _labels_moderation(response: dict[str, Any]) -> Iterable[tuple[str, float]]:
    for label in response.get("ModerationLabels") or []:
        yield str(label.get("Name", "")), float(label.get("Confidence", 0.0))


def _labels_detection(response: dict[str, Any]) -> Iterable[tuple[str, float]]:
    for det in response.get("Detections") or []:
        yield str(det.get("Name", "")), float(det.get("Confidence", 0.0))


# ConditionType -> (label parameter, how to read (name, confidence) pairs from a response)
CONFIDENCE_CHECKS: dict[str, tuple[str, Callable[[dict[str, Any]], Iterable[tuple[str, float]]]]] = {
    "ModerationLabelConfidenceCheck": ("ModerationLabelName", _labels_moderation),
    "DetectionConfidenceCheck": ("DetectionLabelName", _labels_detection),
}
COUNT_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "CountLessThan": operator.lt,
    "CountGreaterThan": operator.gt,
}
DETECTION_CHECKS = ("DetectionCountCheck", "MissingDetection")
CONDITION_TYPES = (*CONFIDENCE_CHECKS, *DETECTION_CHECKS, "Sampling")


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating an activation-condition document against one response."""

    activated: bool
    results: dict[str, Any]  # the document with EvaluationResult on every node
    reasons: list[str] = field(default_factory=list)  # one line per true leaf, for people
    flagged_by: list[str] = field(default_factory=list)  # ConditionTypes of true leaves

    @property
    def audit_sample(self) -> bool:
        """True when only a Sampling leaf activated: an audit of a confident prediction."""
        return self.activated and set(self.flagged_by) == {"Sampling"}


# --- validation --------------------------------------------------------------------------------


def validate(conditions: Any) -> None:
    """Raise ConditionError, naming the JSON path, for anything A2I would reject."""
    if not isinstance(conditions, dict):
        raise ConditionError("$", "must be an object with a 'Conditions' list")
    extra = set(conditions) - {"Conditions"}
    if extra:
        raise ConditionError(f"$.{sorted(extra)[0]}", "unknown key; the document holds only 'Conditions'")
    items = conditions.get("Conditions")
    if not isinstance(items, list) or not items:
        raise ConditionError("$.Conditions", "must be a non-empty list of conditions")
    if len(json.dumps(conditions)) > MAX_DOCUMENT_BYTES:
        raise ConditionError("$", f"larger than A2I's limit of {MAX_DOCUMENT_BYTES} bytes")
    for i, item in enumerate(items):
        _validate_node(item, f"$.Conditions[{i}]", depth=0)


def _validate_node(node: Any, path: str, depth: int) -> None:
    if not isinstance(node, dict):
        raise ConditionError(path, "must be an object (a condition, or an 'And'/'Or' list)")
    combinators = [k for k in ("And", "Or") if k in node]
    if combinators:
        key = combinators[0]
        if len(node) != 1:
            raise ConditionError(path, f"'{key}' must be the only key of its object")
        if depth >= MAX_NESTING:
            raise ConditionError(f"{path}.{key}", f"nested too deep: A2I allows at most {MAX_NESTING} levels of And/Or")
        items = node[key]
        if not isinstance(items, list) or len(items) < 2:
            raise ConditionError(f"{path}.{key}", "needs a list of at least two conditions")
        for i, item in enumerate(items):
            _validate_node(item, f"{path}.{key}[{i}]", depth + 1)
        return
    ctype = node.get("ConditionType")
    if ctype is None:
        raise ConditionError(path, "missing 'ConditionType' (or an 'And'/'Or' list)")
    if ctype not in CONDITION_TYPES:
        raise ConditionError(f"{path}.ConditionType", f"unknown type {ctype!r}; known: {', '.join(CONDITION_TYPES)}")
    extra = set(node) - {"ConditionType", "ConditionParameters"}
    if extra:
        raise ConditionError(f"{path}.{sorted(extra)[0]}", "unknown key")
    params = node.get("ConditionParameters")
    ppath = f"{path}.ConditionParameters"
    if not isinstance(params, dict):
        raise ConditionError(ppath, "missing, or not an object")
    if ctype == "Sampling":
        _validate_sampling(params, ppath)
    elif ctype in DETECTION_CHECKS:
        _validate_detection_check(ctype, params, ppath)
    else:
        _validate_confidence_check(params, ppath, CONFIDENCE_CHECKS[ctype][0])


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_sampling(params: dict[str, Any], path: str) -> None:
    extra = set(params) - {"RandomSamplingPercentage"}
    if extra:
        raise ConditionError(f"{path}.{sorted(extra)[0]}", "unknown parameter for Sampling")
    pct = params.get("RandomSamplingPercentage")
    if pct is None:
        raise ConditionError(f"{path}.RandomSamplingPercentage", "required")
    if not _is_number(pct):
        raise ConditionError(f"{path}.RandomSamplingPercentage", f"must be a number, not {type(pct).__name__}")
    if not 0.01 <= pct <= 100:
        raise ConditionError(f"{path}.RandomSamplingPercentage", f"{pct} is outside 0.01-100")


def _validate_confidence_check(params: dict[str, Any], path: str, label_key: str) -> None:
    extra = set(params) - {label_key, *COMPARATORS}
    if extra:
        raise ConditionError(f"{path}.{sorted(extra)[0]}", f"unknown parameter; expected {label_key} and comparators")
    _validate_label(params, path, label_key)
    given = [c for c in COMPARATORS if c in params]
    if not given:
        raise ConditionError(path, f"needs at least one of {', '.join(COMPARATORS)}")
    for c in given:
        v = params[c]
        if not _is_number(v):
            raise ConditionError(f"{path}.{c}", f"must be a number, not {type(v).__name__}")
        if not 0 <= v <= 100:
            raise ConditionError(f"{path}.{c}", f"{v} is outside 0-100")


def _validate_label(params: dict[str, Any], path: str, label_key: str) -> None:
    name = params.get(label_key)
    if name is None:
        raise ConditionError(f"{path}.{label_key}", "required")
    if not isinstance(name, str) or not name:
        raise ConditionError(f"{path}.{label_key}", "must be a non-empty string ('*' for any label)")


def _validate_detection_check(ctype: str, params: dict[str, Any], path: str) -> None:
    allowed = {"DetectionLabelName", "MinConfidence"} | (set(COUNT_COMPARATORS) if ctype == "DetectionCountCheck" else set())
    extra = set(params) - allowed
    if extra:
        raise ConditionError(f"{path}.{sorted(extra)[0]}", f"unknown parameter for {ctype}; expected {', '.join(sorted(allowed))}")
    _validate_label(params, path, "DetectionLabelName")
    if "MinConfidence" in params:
        v = params["MinConfidence"]
        if not _is_number(v):
            raise ConditionError(f"{path}.MinConfidence", f"must be a number, not {type(v).__name__}")
        if not 0 <= v <= 100:
            raise ConditionError(f"{path}.MinConfidence", f"{v} is outside 0-100")
    if ctype != "DetectionCountCheck":
        return
    given = [c for c in COUNT_COMPARATORS if c in params]
    if not given:
        raise ConditionError(path, f"needs at least one of {', '.join(COUNT_COMPARATORS)}")
    for c in given:
        v = params[c]
        if not isinstance(v, int) or isinstance(v, bool):
            raise ConditionError(f"{path}.{c}", f"must be a whole number, not {type(v).__name__}")
        if v < 0:
            raise ConditionError(f"{path}.{c}", f"{v} is negative")
    lt, gt = params.get("CountLessThan"), params.get("CountGreaterThan")
    if lt is not None and gt is not None and lt - gt <= 1:
        raise ConditionError(path, f"CountGreaterThan {gt} and CountLessThan {lt} leave no count that can match")


# --- evaluation --------------------------------------------------------------------------------


def sampling_fraction(key: str) -> float:
    """A stable number in [0, 100) for a key: the same key always lands in the same place."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def _matches(wanted: str, name: str) -> bool:
    """A2I compares label names exactly (case-sensitively); "*" matches any label."""
    return wanted == "*" or name == wanted


def evaluate(conditions: dict[str, Any], response: dict[str, Any], *, sampling_key: str | None = None) -> Evaluation:
    """Evaluate an activation-condition document against one model response.

    `sampling_key` makes Sampling deterministic per item (the pipeline passes pipeline id plus
    object key). Without it the canonical JSON of the response is used, as A2I does.
    """
    validate(conditions)
    if sampling_key is None:
        sampling_key = json.dumps(response, sort_keys=True, default=str)
    results = copy.deepcopy(conditions)
    reasons: list[str] = []
    flagged_by: list[str] = []
    # every top-level condition is evaluated (no short-circuit) so the report can show each
    outcomes = [
        _eval_node(node, response, sampling_key, f"Conditions[{i}]", reasons, flagged_by)
        for i, node in enumerate(results["Conditions"])
    ]
    return Evaluation(activated=any(outcomes), results=results, reasons=reasons, flagged_by=flagged_by)


def _eval_node(
    node: dict[str, Any], response: dict[str, Any], key: str, path: str, reasons: list[str], flagged_by: list[str]
) -> bool:
    for comb, agg in (("And", all), ("Or", any)):
        if comb in node:
            child_reasons: list[str] = []
            child_types: list[str] = []
            outcomes = [
                _eval_node(child, response, key, f"{path}.{comb}[{i}]", child_reasons, child_types)
                for i, child in enumerate(node[comb])
            ]
            result = agg(outcomes)
            node["EvaluationResult"] = result
            if result:
                reasons.extend(child_reasons)
                flagged_by.extend(t for t in child_types if t not in flagged_by)
            return result
    ctype = node["ConditionType"]
    params = node["ConditionParameters"]
    if ctype == "Sampling":
        pct = float(params["RandomSamplingPercentage"])
        result = sampling_fraction(f"{key}|{path}") < pct
        reason = f"audit sample ({pct:g}%)"
    elif ctype in DETECTION_CHECKS:
        wanted = params["DetectionLabelName"]
        floor = float(params.get("MinConfidence", 0))
        count = sum(1 for name, conf in _labels_detection(response) if _matches(wanted, name) and conf >= floor)
        at = f" at {floor:g}%+" if floor else ""
        if ctype == "MissingDetection":
            result = count == 0
            reason = f"no {wanted} detected{at}"
        else:
            tests = [(c, params[c]) for c in COUNT_COMPARATORS if c in params]
            result = all(COUNT_COMPARATORS[c](count, v) for c, v in tests)
            rule = " and ".join(f"{c.removeprefix('Count')} {v}" for c, v in tests)
            reason = f"{count} {wanted} detected{at} (count {rule})"
    else:
        label_key, read = CONFIDENCE_CHECKS[ctype]
        wanted = params[label_key]
        tests = [(c, float(params[c])) for c in COMPARATORS if c in params]
        hits = [
            (name, conf)
            for name, conf in read(response)
            if _matches(wanted, name) and all(COMPARATORS[c](conf, v) for c, v in tests)
        ]
        result = bool(hits)
        rule = " and ".join(f"{c.removeprefix('Confidence')} {v:g}" for c, v in tests)
        found = ", ".join(f"{n} {c:.1f}" for n, c in hits[:3])
        reason = f"{wanted} confidence {rule} ({found})"
    node["EvaluationResult"] = result
    if result:
        reasons.append(reason)
        if ctype not in flagged_by:
            flagged_by.append(ctype)
    return result


def explain(results: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(flagged_by, reasons) from an evaluated tree someone else wrote, e.g. the
    `HumanLoopActivationConditionsEvaluationResults` Rekognition returns for an AWS-managed loop."""
    flagged_by: list[str] = []
    reasons: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict) or node.get("EvaluationResult") is not True:
            return
        for comb in ("And", "Or"):
            if isinstance(node.get(comb), list):
                for child in node[comb]:
                    walk(child)
                return
        ctype = str(node.get("ConditionType", "?"))
        if ctype not in flagged_by:
            flagged_by.append(ctype)
        params = json.dumps(node.get("ConditionParameters") or {}, sort_keys=True)
        reasons.append(f"{ctype} {params} (evaluated by the AWS service)")

    for node in (results or {}).get("Conditions") or []:
        walk(node)
    return flagged_by, reasons
