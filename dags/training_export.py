"""Training export Airflow DAGs: every review report becomes a SageMaker Ground Truth augmented manifest.

One DAG per pipeline file in include/pipelines/ (`human_review_training_export_<pipeline>`),
scheduled on the pipeline's report Asset: each time a nightly review run writes its report, this
DAG reads the run's Parquet, keeps the images people reviewed and writes `training-manifest.jsonl`
next to the report, for a retraining job to pick up. See docs/reports.md, "Training export".
A pipeline file with an error shows as this file's import error too, naming the file and field.
"""

from human_review.dag_factory import build_export_dags

globals().update(build_export_dags())
