"""Export: a run's report rows to `training-manifest.jsonl` next to the report (Ground Truth shape: reports/ground_truth.py)."""

from __future__ import annotations

import io
import logging
from typing import Any

from human_review import storage
from human_review.config import PipelineConfig
from human_review.reports.ground_truth import manifest_lines

log = logging.getLogger(__name__)


def export_run(config: PipelineConfig, summary: dict[str, Any] | None) -> dict[str, Any]:
    """Write the manifest of the run the summary describes (the latest run when there is none)."""
    conn = config.aws_conn_id
    if summary is None:  # triggered by hand: the latest report
        latest = storage.read_json(storage.join(config.report.prefix, config.pipeline, "latest.json"), conn)
        summary = storage.read_json(latest["summary"], conn)
    if summary.get("dry_run"):
        log.info("Run %s was a dry run: nothing reviewed, nothing exported.", summary.get("run_key"))
        return {"run_key": summary.get("run_key"), "items": 0, "manifest": None}
    import pandas as pd

    parquet = summary["files"]["parquet"]
    rows = pd.read_parquet(io.BytesIO(storage.read_bytes(parquet, conn))).to_dict("records")
    rows = [{k: (None if v is pd.NA else v) for k, v in r.items()} for r in rows]
    attribute = config.report.label_attribute_name or config.pipeline
    lines = manifest_lines(rows, attribute, job_name=f"human-review-{config.pipeline}",
                           creation_date=summary.get("generated_at") or "")
    uri = storage.join(parquet.rsplit("/", 1)[0], "training-manifest.jsonl")
    storage.write_bytes(uri, "".join(line + "\n" for line in lines).encode("utf-8"), conn)
    log.info("Exported %d reviewed images of %s to %s", len(lines), summary.get("run_key"), uri)
    return {"run_key": summary.get("run_key"), "items": len(lines), "manifest": uri}
