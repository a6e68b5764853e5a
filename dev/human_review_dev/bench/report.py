"""Measure building the report for n synthetic images: time and peak memory (measured, not asserted).

`python -m human_review_dev.bench.report 10000` or `human_review_dev.bench.report.run(10_000)`. Rows are
made in code (detections with 1-3 boxes, TaskCount 3 answers with nudged, dropped and added boxes)
and go through the same consolidation, metrics, Parquet/CSV and HTML code as a real run; the
gallery's images are generated with Pillow instead of read from S3.
"""

from __future__ import annotations

import io
import json
import random
import resource
import sys
import time
import tracemalloc
from typing import Any

from human_review.reports import build


def _answer(boxes: list[dict[str, Any]], rnd: random.Random, worker: str) -> dict[str, Any]:
    out = []
    for b in boxes:
        if rnd.random() < 0.1:
            continue  # this worker removed it
        out.append({"label": b["label"], "left": b["left"] + rnd.randint(-4, 4), "top": b["top"] + rnd.randint(-4, 4),
                    "width": b["width"], "height": b["height"], "initialValueModified": rnd.random() < 0.3})
    if rnd.random() < 0.1:
        out.append({"label": "face", "left": 300, "top": 20, "width": 40, "height": 40})
    return {"workerId": worker, "timeSpentInSeconds": round(rnd.uniform(5, 90), 3),
            "answerContent": {"annotatedResult": {"boundingBoxes": out,
                                                  "inputImageProperties": {"width": 640, "height": 480}}}}


def synthetic_rows(n: int, seed: int = 0, task_count: int = 3) -> list[dict[str, Any]]:
    """n report rows of an object-detection run, with real consolidation of synthetic answers."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        dets = [{"Name": "face", "Confidence": round(rnd.uniform(1, 99), 2),
                 "BoundingBox": {"Left": rnd.randint(0, 500), "Top": rnd.randint(0, 350), "Width": 60, "Height": 70}}
                for _ in range(rnd.randint(1, 3))]
        prediction = {"Detections": dets, "Image": {"Width": 640, "Height": 480}}
        flagged = min(d["Confidence"] for d in dets) < 80
        audit = not flagged and rnd.random() < 0.1
        status = "reviewed" if (flagged or audit) else "auto_accepted"
        if rnd.random() < 0.01:
            status = "invalid"
        row: dict[str, Any] = {
            "pipeline": "bench", "run_key": "2026-01-01T000000Z", "object_key": f"incoming/img-{i:06d}.jpg",
            "image_uri": f"s3://bench/incoming/img-{i:06d}.jpg", "size_bytes": 120_000, "image_width": 640,
            "image_height": 480, "status": status, "flagged": flagged or audit,
            "flagged_by": "DetectionConfidenceCheck" if flagged else ("Sampling" if audit else None),
            "audit_sample": audit, "inference_ms": 80.0,
        }
        if status == "invalid":
            row.update(reason="not an image", flagged=False, flagged_by=None, audit_sample=False)
            rows.append(row)
            continue
        row["model_output"] = json.dumps(prediction, sort_keys=True)
        row["model_summary"] = ", ".join(f"face {d['Confidence']:.0f}%" for d in dets)
        answers = []
        if status == "reviewed":
            boxes = [{"label": "face", "left": d["BoundingBox"]["Left"], "top": d["BoundingBox"]["Top"],
                      "width": 60, "height": 70} for d in dets]
            answers = [_answer(boxes, rnd, f"worker-{rnd.randint(1, 25)}") for _ in range(task_count)]
            row.update(loop_name=f"bench-{i}", loop_status="Completed", answers=len(answers),
                       workers=",".join(a["workerId"] for a in answers))
        row.update(build.review_columns(prediction, status, answers, 0.5))
        rows.append(row)
    return rows


def _fake_image(uri: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (hash(uri) % 255, 120, 160)).save(buf, format="JPEG")
    return buf.getvalue()


def build_all(rows: list[dict[str, Any]], gallery: int = 60) -> dict[str, int]:
    """Everything report() builds from rows, in its order, without storage: sizes of the outputs in
    bytes. Takes the rows over: like the report stage, it lets them go once the table holds them."""
    import tempfile
    from pathlib import Path

    summary = build.summarise(rows, pipeline="bench", run_key="2026-01-01T000000Z", dry_run=False,
                              sent_to_review=sum(1 for r in rows if r.get("loop_name")), price_usd=0.036, trend=[])
    table = build.frame(rows)
    rows.clear()
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, local in build.write_tables(table, Path(tmp)):
            sizes[kind] = local.stat().st_size
    html = build.html_bytes(summary, table, _fake_image, gallery)
    return {**sizes, "html": len(html), "summary_json": len(json.dumps(summary))}


def run(n: int = 10_000, gallery: int = 60, trace_python: bool = False) -> dict[str, Any]:
    """Time and peak memory to consolidate n images' answers and build every report output.

    Libraries are imported first so their import time is not counted. Peak memory is the process's
    max RSS (run it in a fresh process for a clean figure); `trace_python` adds tracemalloc's peak
    of Python allocations, which slows the run down several times, so its timings are not comparable.
    """
    import matplotlib.figure  # noqa: F401
    import pandas  # noqa: F401
    import PIL.Image  # noqa: F401

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace_python:
        tracemalloc.start()
    t0 = time.perf_counter()
    rows = synthetic_rows(n)
    t1 = time.perf_counter()
    sizes = build_all(rows, gallery)
    t2 = time.perf_counter()
    out: dict[str, Any] = {
        "images": n,
        "consolidate_seconds": round(t1 - t0, 2),
        "build_seconds": round(t2 - t1, 2),
        "total_seconds": round(t2 - t0, 2),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_growth_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024, 1),
        "output_bytes": sizes,
    }
    if trace_python:
        out["peak_python_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, trace_python="--trace" in sys.argv),
                     indent=1))
