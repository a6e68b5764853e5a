"""Nightly human review Airflow DAGs, one per pipeline file in include/pipelines/.

Each DAG finds the images that arrived in its S3 prefix during the data interval, runs the
pipeline's model, sends doubtful predictions (and an audit sample) to human reviewers through
Amazon A2I or the local review service, waits for them without holding a worker slot, and writes
a report. Add a pipeline by adding a YAML file; see README.md, "Configuring a pipeline".
"""

from human_review.dag_factory import build_dags

globals().update(build_dags())
