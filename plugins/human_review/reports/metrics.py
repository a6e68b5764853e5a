"""The report's numbers, computed from its rows only (so every number can be checked against them).

Definitions are in docs/reports.md. Everything here takes the row dicts the report writes (one per
image, columns as in `schema.COLUMNS`) and returns JSON-ready dicts.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from statistics import median
from typing import Any, Iterable

from human_review.records import ALWAYS_COUNTED, Status

BUCKETS = tuple(range(0, 100, 10))  # model-confidence buckets [0,10) ... [90,100]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _loads(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return json.loads(value) if isinstance(value, str) else value


def _true(value: Any) -> bool:
    return value is True or (value is not None and not (isinstance(value, float) and math.isnan(value)) and bool(value))


def counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status; flags as a share of the images the model predicted; flags by condition."""
    by_status = Counter(r["status"] for r in rows)
    predicted = sum(1 for r in rows if r["status"] not in (Status.INVALID, Status.INFERENCE_FAILED))
    flagged_rows = [r for r in rows if _true(r.get("flagged"))]
    by_condition = Counter(c for r in flagged_rows for c in (r.get("flagged_by") or "").split(",") if c)
    audit = sum(1 for r in flagged_rows if _true(r.get("audit_sample")))
    reviewed = [r for r in rows if r["status"] == "reviewed"]
    agreements = [r["agreement"] for r in reviewed if r.get("agreement") is not None
                  and not (isinstance(r["agreement"], float) and math.isnan(r["agreement"]))]
    return {
        "images": len(rows),
        "status_counts": {str(s): by_status.get(s, 0) for s in Status
                          if by_status.get(s) or s in ALWAYS_COUNTED},
        "predicted": predicted,
        "flagged": len(flagged_rows),
        "flagged_share": _share(len(flagged_rows), predicted),
        "flags_by_condition": {c: {"flags": n, "share": _share(n, len(flagged_rows))}
                               for c, n in sorted(by_condition.items())},
        "audit_sample": audit,
        "audit_share": _share(audit, len(flagged_rows)),
        "reviewed": len(reviewed),
        "changed_by_reviewers": sum(1 for r in rows if _true(r.get("human_changed"))),
        "disputed": sum(1 for r in rows if _true(r.get("disputed"))),
        "mean_agreement": round(sum(agreements) / len(agreements), 4) if agreements else None,
    }


def per_label(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per label, over reviewed images: confirmed, removed and added by people; precision and recall
    of the model's labels (boxes matched by IoU) against the final answers."""
    totals: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if r["status"] != "reviewed":
            continue
        for label, c in (_loads(r.get("label_changes")) or {}).items():
            totals[label].update(c)
    out = {}
    for label in sorted(totals):
        c = totals[label]
        tp, fp, fn = c["confirmed"], c["removed"], c["added"]
        out[label] = {"confirmed": tp, "removed": fp, "added": fn,
                      "precision": _share(tp, tp + fp), "recall": _share(tp, tp + fn)}
    return out


def _bucket(confidence: float) -> int:
    return min(int(confidence // 10) * 10, 90)


def calibration(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Override rate by decision-confidence bucket, and a threshold that sends fewer images to people.

    Override = people changed the model's claims. The bucket is the model's confidence in its least
    sure decision (`decision_confidence`: a claim's score, 100 - score for a label it did not
    claim), so a right "3% Suggestive, so not suggestive" lands in 90-100, not 0-10. The suggestion
    assumes the pipeline sends images whose least confident label or box is below a threshold (the
    raw score the conditions test); see docs/reports.md.
    """
    reviewed = [r for r in rows if r["status"] == "reviewed" and r.get("human_changed") is not None
                and not (isinstance(r.get("human_changed"), float))]
    buckets = {b: [0, 0] for b in BUCKETS}
    no_confidence = [0, 0]
    for r in reviewed:
        c = r.get("decision_confidence", r.get("model_confidence"))
        slot = no_confidence if c is None or (isinstance(c, float) and math.isnan(c)) else buckets[_bucket(c)]
        slot[0] += 1
        slot[1] += _true(r["human_changed"])
    table = [{"bucket": f"{b}-{b + 10}", "low": b, "reviewed": n, "overridden": o, "override_rate": _share(o, n)}
             for b, (n, o) in buckets.items()]
    return {
        "buckets": table,
        "no_confidence": {"reviewed": no_confidence[0], "overridden": no_confidence[1],
                          "override_rate": _share(no_confidence[1], no_confidence[0])},
        "threshold": suggest_threshold(reviewed),
    }


def suggest_threshold(reviewed: list[dict[str, Any]]) -> dict[str, Any]:
    """The lowest `ConfidenceLessThan` that keeps the error rate people accept today.

    Today's accepted error rate is the override rate of the audit sample (confident images no
    condition flagged), 0 when there was none. Lowering the threshold to T auto-accepts the flagged
    images with confidence >= T; T is the lowest value for which those images' override rate is
    still <= today's, so the auto-accepted pool keeps the same error rate with fewer reviews.
    """
    audit = [_true(r["human_changed"]) for r in reviewed if _true(r.get("audit_sample"))]
    target = sum(audit) / len(audit) if audit else 0.0
    flagged = sorted(
        ((float(r["model_confidence"]), _true(r["human_changed"])) for r in reviewed
         if not _true(r.get("audit_sample")) and r.get("model_confidence") is not None
         and not math.isnan(float(r["model_confidence"]))),
        reverse=True,
    )
    best_k, errors = 0, 0
    for k, (conf, changed) in enumerate(flagged, start=1):
        errors += changed
        # only cut between distinct confidences: equal ones go the same way
        if (k == len(flagged) or flagged[k][0] < conf) and errors / k <= target + 1e-12:
            best_k = k
    out: dict[str, Any] = {
        "audit_reviewed": len(audit),
        "target_error_rate": round(target, 4),
        "flagged_by_confidence": len(flagged),
        "suggested_confidence_less_than": None,
        "fewer_reviews": 0,
        "fewer_reviews_share": None,
        "error_rate_of_moved": None,
    }
    if best_k:
        moved = flagged[:best_k]
        out.update(
            suggested_confidence_less_than=round(moved[-1][0], 2),
            fewer_reviews=best_k,
            fewer_reviews_share=_share(best_k, len(flagged)),
            error_rate_of_moved=round(sum(c for _, c in moved) / best_k, 4),
        )
    return out


def reviewers(rows: list[dict[str, Any]], price_usd: float | None = None) -> dict[str, Any]:
    """Per worker: answers, median seconds per task, mean agreement with the consolidated answer; cost."""
    seconds: dict[str, list[float]] = defaultdict(list)
    agree: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for a in _loads(r.get("worker_answers")) or []:
            w = a.get("worker") or "(unknown)"
            if a.get("seconds") is not None:
                seconds[w].append(float(a["seconds"]))
            else:
                seconds.setdefault(w, [])
            if a.get("agreement") is not None:
                agree[w].append(float(a["agreement"]))
    workers = sorted(seconds)
    answers = {w: max(len(seconds[w]), len(agree[w])) for w in workers}
    total = sum(answers.values())
    return {
        "answers": total,
        "workers": [
            {"worker": w, "answers": answers[w],
             "median_seconds": round(median(seconds[w]), 2) if seconds[w] else None,
             "agreement": round(sum(agree[w]) / len(agree[w]), 4) if agree[w] else None}
            for w in workers
        ],
        "task_price_usd": price_usd,
        "cost_usd": round(total * price_usd, 4) if price_usd is not None else None,
    }


def audit_override_rate(rows: list[dict[str, Any]]) -> tuple[float | None, int, str]:
    """The share of reviewed audit-sample images people changed: the error rate of what goes unreviewed.

    Falls back to every reviewed image's override rate when the run reviewed no audit sample
    (an upper bound: flagged images are the doubtful ones). Returns (rate, reviews it rests on, source).
    """
    reviewed = [r for r in rows if r["status"] == "reviewed" and r.get("human_changed") is not None
                and not isinstance(r.get("human_changed"), float)]
    audit = [r for r in reviewed if _true(r.get("audit_sample"))]
    basis, source = (audit, "audit sample") if audit else (reviewed, "all reviews (no audit sample reviewed)")
    if not basis:
        return None, 0, "no reviews"
    return round(sum(_true(r["human_changed"]) for r in basis) / len(basis), 4), len(basis), source


def budget(rows: list[dict[str, Any]], max_loops: int | None) -> dict[str, Any] | None:
    """What review.budget cut, and its cost in expected errors (cut images x the audit override rate)."""
    if max_loops is None:
        return None
    cut = [r for r in rows if r["status"] == Status.OVER_REVIEW_BUDGET]
    rate, basis, source = audit_override_rate(rows)
    return {
        "max_loops": max_loops,
        "cut": len(cut),
        "cut_keys": sorted(r["object_key"] for r in cut)[:200],
        "override_rate": rate,
        "override_rate_from": source,
        "override_rate_reviews": basis,
        "expected_errors": round(len(cut) * rate, 2) if rate is not None else None,
    }


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The few numbers the trend and the UI list show for one run."""
    reviewed = summary.get("reviewed") or summary.get("status_counts", {}).get("reviewed", 0)
    return {
        "run_key": summary.get("run_key"),
        "images": summary.get("images"),
        "flagged_share": summary.get("flagged_share"),
        "reviewed": reviewed,
        "changed_share": _share(summary.get("changed_by_reviewers") or 0, reviewed or 0),
        "mean_agreement": summary.get("mean_agreement"),
        "dry_run": summary.get("dry_run", False),
    }


def precision_overall(labels: Iterable[dict[str, Any]]) -> float | None:
    labels = list(labels)
    tp = sum(l["confirmed"] for l in labels)
    fp = sum(l["removed"] for l in labels)
    return _share(tp, tp + fp)
