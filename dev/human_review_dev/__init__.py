"""Development, demo and test tooling for airflow-human-review: NEVER part of a production image.

It lives outside ``plugins/`` (so no Airflow component ever puts it on its path) and outside the
library's wheel. The library (``human_review``) never imports it; it adds its commands to
``human-review`` through the ``human_review.commands`` entry-point group (see ``commands.py``).

  human_review_dev.demo            `make demo`: the nightly DAGs on local parts, end to end
  human_review_dev.up              `make up`: airflow standalone + local S3 + the review queue
  human_review_dev.stack           moto S3 + the local review service on loopback
  human_review_dev.local_airflow   a throwaway AIRFLOW_HOME with SQLite
  human_review_dev.reviewers       SIMULATED reviewers that answer through the worker portal
  human_review_dev.samples         real sample photos from installed packages, broken files
  human_review_dev.bench           figures: local models and the review service, remote backends, reports
  human_review_dev.lock            `make lock`: the runtime requirements files from the dev lock
"""
