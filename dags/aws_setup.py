"""Airflow DAG `human_review_aws_setup`: create the Amazon A2I worker task UIs and flow
definitions the pipeline files ask for.

Triggered by hand (no schedule): one task per pipeline in include/pipelines/; the same as
`human-review aws-setup`. See README.md, "Deploying the A2I side".
"""

from human_review.aws_setup.dag import build_aws_setup_dag

dag = build_aws_setup_dag()
