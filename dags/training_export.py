"""Training export: every review report becomes a SageMaker Ground Truth augmented manifest.

One DAG per pipeline file in include/pipelines/ (`human_review_training_export_<pipeline>`),
scheduled on the pipeline's report Asset: each time a nightly review run writes its report, this
DAG reads the run's Parquet (path from the Asset event's summary), keeps the images people
reviewed and writes `training-manifest.jsonl` next to the report, in Ground Truth's
object-detection or multi-label image-classification shape, for a retraining job to pick up.
See docs/reports.md, "Training export".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, task

from human_review.config import PipelineConfig, load_all
from human_review.dag_factory import report_asset


def build_export_dag(config: PipelineConfig) -> DAG:
    asset = report_asset(config)
    with DAG(
        dag_id=f"human_review_training_export_{config.pipeline.replace('-', '_')}",
        description=f"Export {config.pipeline}'s reviewed images as a Ground Truth augmented manifest.",
        doc_md=__doc__ + f"\n\nPipeline: `{config.pipeline}`; reports under `{config.report.prefix}/{config.pipeline}/`.",
        schedule=[asset],
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        catchup=False,
        max_active_runs=1,
        tags=["human-review", "training-export", *config.tags],
        default_args={"owner": config.owner, "retries": max(2, config.retries),
                      "retry_delay": dt.timedelta(seconds=config.retry_delay_seconds)},
    ) as dag:

        @task(task_id="export_manifest")
        def export_manifest(**context: Any) -> dict[str, Any]:
            from human_review.reports.export import export_run

            events = (context.get("triggering_asset_events") or {}).get(asset) or []
            summaries = [e.extra for e in events if getattr(e, "extra", None)]
            return export_run(config, summaries[-1] if summaries else None)

        export_manifest()
    return dag


_configs, _ = load_all()  # bad files are reported by review_pipelines.py's import error
for _config in _configs:
    _dag = build_export_dag(_config)
    globals()[_dag.dag_id] = _dag
