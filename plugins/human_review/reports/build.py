"""From gathered rows to the run's files: Parquet, CSV, summary JSON and the HTML report."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from human_review.claims import Thresholds
from human_review.reports import consolidation, metrics
from human_review.reports.schema import COLUMNS, FINAL_HUMAN, FINAL_MODEL, FINAL_UNREVIEWED

ImageLoader = Callable[[str], bytes]


def reviewer_name(answer: dict[str, Any], names: dict[str, str] | None) -> str:
    """Who gave an answer: the reviewer's name where the review service recorded it, else A2I's workerId."""
    worker = answer.get("workerId") or ""
    return (names or {}).get(worker, worker)


def review_columns(prediction: dict[str, Any] | None, status: str, answers: list[dict[str, Any]],
                   iou_threshold: float, thresholds: Thresholds | None = None,
                   names: dict[str, str] | None = None) -> dict[str, Any]:
    """The columns that come from the model's claims and the people's answers for one image.

    `names`: workerId -> reviewer name (reviewers.json), so per-reviewer figures read as people."""
    model = consolidation.model_answer(prediction, thresholds)
    out: dict[str, Any] = {"model_confidence": consolidation.model_confidence(prediction),
                           "decision_confidence": consolidation.decision_confidence(prediction, thresholds)}
    if model is not None:
        out["model_claims"] = json.dumps(_claims(model), sort_keys=True)
    if status == "reviewed" and answers:
        final = consolidation.consolidate(answers, iou_threshold)
        per_answer = final.pop("per_answer")
        agreement = final.pop("agreement")
        out.update(
            human_answer=json.dumps(final, sort_keys=True),
            human_changed=consolidation.changed(model, final, iou_threshold),
            disputed=bool(final.get("disputed")),
            agreement=agreement,
            label_changes=json.dumps(consolidation.compare(model, final, iou_threshold), sort_keys=True),
            worker_answers=json.dumps([
                {"worker": reviewer_name(a, names) or None, "seconds": a.get("timeSpentInSeconds"), "agreement": s}
                for a, s in zip(answers, per_answer)
            ]),
            final_answer=json.dumps({k: v for k, v in final.items() if k != "disputed"}, sort_keys=True),
            final_source=FINAL_HUMAN,
        )
    elif model is not None:
        out.update(final_answer=json.dumps(_claims(model), sort_keys=True),
                   final_source=FINAL_MODEL if status == "auto_accepted" else FINAL_UNREVIEWED)
    return out


def _claims(model: dict[str, Any]) -> dict[str, Any]:
    """The model's claims alone: its labels or boxes at or above the decision threshold."""
    if "boxes" in model:
        return {"boxes": model["boxes"], "image": model.get("image")}
    return {"labels": model["labels"], "confidence": {l: model["confidence"].get(l) for l in model["labels"]}}


def frame(rows: list[dict[str, Any]]):
    """The report table, sorted by object key. Built column by column, each converted to its dtype
    at once: a DataFrame built from the rows whole makes a rows x columns object array first (at
    100,000 images that alone was 300 MB more)."""
    import pandas as pd

    order = sorted(range(len(rows)), key=lambda i: rows[i].get("object_key") or "")
    columns = {name: pd.array([rows[i].get(name) for i in order], dtype=dtype) for name, dtype in COLUMNS.items()}
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def write_tables(table, directory: Path) -> Iterator[tuple[str, Path]]:
    """Writes report.parquet, then report.csv, into `directory`, yielding ("parquet", path) and
    ("csv", path) as each is done: the CSV is written in chunks, never held whole in memory."""
    parquet = directory / "report.parquet"
    table.to_parquet(parquet, index=False)
    yield "parquet", parquet
    csv = directory / "report.csv"
    table.to_csv(csv, index=False, encoding="utf-8", chunksize=10_000)
    yield "csv", csv


def table_bytes(table) -> Iterator[tuple[str, bytes]]:
    """("parquet", bytes), then ("csv", bytes): `write_tables`' files, read back one at a time."""
    with tempfile.TemporaryDirectory(prefix="human-review-report-") as tmp:
        for kind, local in write_tables(table, Path(tmp)):
            yield kind, local.read_bytes()


def summarise(rows: list[dict[str, Any]], *, pipeline: str, run_key: str, dry_run: bool, sent_to_review: int,
              price_usd: float | None, trend: list[dict[str, Any]], extra: dict[str, Any] | None = None,
              max_review_loops: int | None = None) -> dict[str, Any]:
    """The run's summary: small (it rides in the Asset event's extra); the rows hold the detail."""
    labels = metrics.per_label(rows)
    summary = {
        "pipeline": pipeline,
        "run_key": run_key,
        "dry_run": dry_run,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **metrics.counts(rows),
        "sent_to_review": sent_to_review,
        "per_label": labels,
        "model_precision": metrics.precision_overall(labels.values()),
        "calibration": metrics.calibration(rows),
        "reviewers": metrics.reviewers(rows, price_usd),
        "budget": metrics.budget(rows, max_review_loops),
        **(extra or {}),
    }
    summary["trend"] = [*trend, metrics.headline(summary)]
    return summary


PROBLEM_STATUSES = ("invalid", "inference_failed", "not_processed_max_items", "review_failed", "review_expired",
                    "over_review_budget")


def problem_rows(table, limit: int = 500) -> list[dict[str, Any]]:
    """The images that have no checked answer, with their reasons: invalid, failed, not processed,
    not reviewed in time, cut by the budget (the HTML shows them; the CSV has them all)."""
    bad = table[table["status"].isin(PROBLEM_STATUSES)]
    order = bad.assign(_s=bad["status"].map({s: i for i, s in enumerate(PROBLEM_STATUSES)}))
    order = order.sort_values(["_s", "object_key"], kind="stable")
    return [{"object_key": r["object_key"], "status": r["status"], "reason": None if _isna(r["reason"]) else r["reason"]}
            for r in order.head(limit).to_dict("records")]


def rows_for_html(table, limit: int) -> list[dict[str, Any]]:
    """The reviewed rows the gallery shows: changed and disputed first, then the rest."""
    reviewed = table[table["status"] == "reviewed"]
    order = reviewed.assign(
        _c=reviewed["human_changed"].fillna(False).astype(bool),
        _d=reviewed["disputed"].fillna(False).astype(bool),
    ).sort_values(["_c", "_d", "object_key"], ascending=[False, False, True], kind="stable")
    return [
        {k: (None if _isna(v) else v) for k, v in r.items() if not k.startswith("_")}
        for r in order.head(limit).to_dict("records")
    ]


def _isna(v: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not isinstance(v, (list, dict)) else False
    except (TypeError, ValueError):
        return False


def html_bytes(summary: dict[str, Any], table, load_image: ImageLoader | None, gallery_limit: int) -> bytes:
    from human_review.reports import html_report as html

    return html.render(summary, rows_for_html(table, gallery_limit), load_image,
                       problems=problem_rows(table)).encode("utf-8")
