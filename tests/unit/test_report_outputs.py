"""The report's files: a pinned Parquet schema, summary numbers equal to the rows, Ground Truth shapes."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from human_review.reports import build, ground_truth, metrics
from human_review_dev.bench import report as bench

PINNED_SCHEMA = {  # changing this breaks readers of report.parquet: update docs/reports.md with it
    "pipeline": "string", "run_key": "string", "object_key": "string", "image_uri": "string",
    "size_bytes": "int64", "image_width": "int64", "image_height": "int64", "status": "string",
    "reason": "string", "flagged": "bool", "flagged_by": "string", "audit_sample": "bool",
    "model_summary": "string", "model_output": "string", "model_confidence": "double",
    "inference_ms": "double", "decode_note": "string", "loop_name": "string", "loop_status": "string", "answers": "int64",
    "workers": "string", "worker_answers": "string", "human_answer": "string", "human_changed": "bool",
    "disputed": "bool", "agreement": "double", "label_changes": "string", "final_answer": "string",
    "final_source": "string",
    "model_claims": "string", "decision_confidence": "double",
}


@pytest.fixture(scope="module")
def rows():
    return bench.synthetic_rows(400, seed=7)


@pytest.fixture(scope="module")
def summary(rows):
    return build.summarise(rows, pipeline="bench", run_key="r", dry_run=False,
                           sent_to_review=sum(1 for r in rows if r.get("loop_name")), price_usd=0.036, trend=[])


def test_parquet_schema_is_pinned(rows):
    data = dict(build.table_bytes(build.frame(rows)))["parquet"]
    schema = pq.read_schema(io.BytesIO(data))
    assert {f.name: str(f.type).replace("large_", "") for f in schema} == PINNED_SCHEMA
    assert list(schema.names) == list(PINNED_SCHEMA)


def test_empty_report_has_the_same_schema():
    data = dict(build.table_bytes(build.frame([])))["parquet"]
    assert list(pq.read_schema(io.BytesIO(data)).names) == list(PINNED_SCHEMA)


def test_csv_holds_the_same_rows(rows):
    files = dict(build.table_bytes(build.frame(rows)))
    csv = pd.read_csv(io.BytesIO(files["csv"]))
    parquet = pd.read_parquet(io.BytesIO(files["parquet"]))
    assert list(csv.columns) == list(parquet.columns) and len(csv) == len(parquet) == len(rows)
    assert list(csv["object_key"]) == list(parquet["object_key"])


def test_summary_numbers_equal_the_rows(rows, summary):
    t = pd.read_parquet(io.BytesIO(dict(build.table_bytes(build.frame(rows)))["parquet"]))
    assert summary["images"] == len(t) == sum(summary["status_counts"].values())
    for status, n in summary["status_counts"].items():
        assert n == (t["status"] == status).sum(), status
    assert summary["flagged"] == t["flagged"].sum()
    assert summary["audit_sample"] == (t["flagged"] & t["audit_sample"]).sum()
    predicted = (~t["status"].isin(["invalid", "inference_failed"])).sum()
    assert summary["flagged_share"] == pytest.approx(t["flagged"].sum() / predicted, abs=1e-4)
    assert summary["changed_by_reviewers"] == t["human_changed"].fillna(False).sum()
    assert summary["disputed"] == t["disputed"].fillna(False).sum()
    reviewed = t[t["status"] == "reviewed"]
    assert summary["reviewed"] == len(reviewed)
    assert summary["mean_agreement"] == pytest.approx(reviewed["agreement"].mean(), abs=1e-4)
    # per label: the sums of the rows' label_changes
    face = summary["per_label"]["face"]
    sums = {k: sum(json.loads(c)["face"][k] for c in reviewed["label_changes"] if "face" in json.loads(c))
            for k in ("confirmed", "removed", "added")}
    assert {k: face[k] for k in sums} == sums
    assert face["precision"] == pytest.approx(sums["confirmed"] / (sums["confirmed"] + sums["removed"]), abs=1e-4)
    assert face["recall"] == pytest.approx(sums["confirmed"] / (sums["confirmed"] + sums["added"]), abs=1e-4)
    # calibration buckets cover every reviewed row with a confidence
    cal = summary["calibration"]
    assert sum(b["reviewed"] for b in cal["buckets"]) + cal["no_confidence"]["reviewed"] == len(reviewed)
    assert sum(b["overridden"] for b in cal["buckets"]) + cal["no_confidence"]["overridden"] == \
        reviewed["human_changed"].sum()
    # reviewers: every answer counted once, cost = answers x price
    assert summary["reviewers"]["answers"] == reviewed["answers"].sum()
    assert sum(w["answers"] for w in summary["reviewers"]["workers"]) == reviewed["answers"].sum()
    assert summary["reviewers"]["cost_usd"] == pytest.approx(reviewed["answers"].sum() * 0.036)
    # small enough to ride in an Asset event's extra
    assert len(json.dumps(summary)) < 16_000
    assert summary["trend"][-1]["run_key"] == "r"


def test_final_answer_says_where_it_came_from(rows):
    t = build.frame(rows)
    assert set(t.loc[t["status"] == "reviewed", "final_source"]) == {"human"}
    assert set(t.loc[t["status"] == "auto_accepted", "final_source"]) == {"model"}
    assert t.loc[t["status"] == "invalid", "final_answer"].isna().all()
    assert t.loc[t["status"].isin(["reviewed", "auto_accepted"]), "final_answer"].notna().all()


def test_unreviewed_flagged_image_keeps_the_models_answer_marked_unreviewed():
    pred = {"ModerationLabels": [{"Name": "Suggestive", "Confidence": 60.0}]}
    cols = build.review_columns(pred, "review_expired", [], 0.5)
    assert cols["final_source"] == "model_unreviewed" and json.loads(cols["final_answer"])["labels"] == ["Suggestive"]
    assert cols["model_confidence"] == 60.0


def _reviewed(conf, changed, audit=False):
    return {"status": "reviewed", "model_confidence": conf, "human_changed": changed, "audit_sample": audit}


def test_threshold_suggestion_keeps_the_audit_error_rate():
    rows = [_reviewed(95, False, audit=True), _reviewed(96, False, audit=True),  # audit: 0 errors
            _reviewed(75, False), _reviewed(70, False), _reviewed(60, True), _reviewed(30, True)]
    th = metrics.suggest_threshold(rows)
    assert th["target_error_rate"] == 0 and th["audit_reviewed"] == 2
    assert th["suggested_confidence_less_than"] == 70 and th["fewer_reviews"] == 2
    assert th["error_rate_of_moved"] == 0


def test_no_threshold_when_every_confident_review_was_overridden():
    th = metrics.suggest_threshold([_reviewed(75, True), _reviewed(70, False)])
    assert th["suggested_confidence_less_than"] is None and th["fewer_reviews"] == 0


def test_ground_truth_object_detection_manifest(rows):
    t = build.frame(rows)
    records = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in t.to_dict("records")]
    lines = [json.loads(l) for l in ground_truth.manifest_lines(records, "faces", "job", "2026-01-01T00:00:00")]
    assert len(lines) == (t["final_source"] == "human").sum()
    first = lines[0]
    assert first["source-ref"].startswith("s3://")
    assert first["faces"]["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    assert set(first["faces"]["annotations"][0]) == {"class_id", "left", "top", "width", "height"}
    meta = first["faces-metadata"]
    assert meta["type"] == "groundtruth/object-detection" and meta["human-annotated"] == "yes"
    assert meta["class-map"] == {"0": "face"} and len(meta["objects"]) == len(first["faces"]["annotations"])


def test_ground_truth_multilabel_manifest():
    row = {"image_uri": "s3://b/k.jpg", "final_source": "human", "agreement": 1.0,
           "final_answer": json.dumps({"labels": ["Suggestive", "Drugs"]})}
    [line] = [json.loads(l) for l in ground_truth.manifest_lines([row], "moderation", "job", "d")]
    assert line["moderation"] == [1, 0]
    assert line["moderation-metadata"]["class-map"] == {"0": "Drugs", "1": "Suggestive"}
    assert line["moderation-metadata"]["type"] == "groundtruth/image-classification-multilabel"


def test_training_export_writes_the_manifest_next_to_the_report(tmp_path, project_root, rows):
    from human_review.config import load_pipeline
    from human_review.stages.export import export_run

    text = (project_root / "include" / "pipelines" / "object_detection.yaml").read_text()
    (tmp_path / "object_detection.yaml").write_text(
        text.replace("s3://${HUMAN_REVIEW_BUCKET:-human-review-demo}/human-review/reports", f"file://{tmp_path}/r"))
    config = load_pipeline(tmp_path / "object_detection.yaml")
    run_dir = tmp_path / "r" / "object-detection" / "run1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.parquet").write_bytes(dict(build.table_bytes(build.frame(rows)))["parquet"])
    summary = {"run_key": "run1", "generated_at": "2026-11-21T02:00:00+00:00",
               "files": {"parquet": f"file://{run_dir}/report.parquet"}}
    out = export_run(config, summary)
    lines = (run_dir / "training-manifest.jsonl").read_text().splitlines()
    assert out["items"] == len(lines) == sum(1 for r in rows if r.get("final_source") == "human")
    assert "object-detection-metadata" in json.loads(lines[0])
