"""The nightly DAG end to end with dag.test(): moto's S3 server, the local review service over
HTTP, the real boto3 clients, real photos, real models, simulated reviewers answering through the
worker portal's HTTP interface.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os

import pytest

from human_review.naming import loop_prefix, run_key
from human_review_dev.samples import broken_files, sample_photos, seed
from human_review.records import TERMINAL

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.xdist_group("e2e")]
BUCKET = "hr-e2e-nightly"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, airflow_db):
    from human_review_dev.stack import local_stack

    # Put the environment back afterwards: a later test file in this pytest worker would otherwise
    # read this file's bucket (HUMAN_REVIEW_BUCKET) and endpoints from its pipelines.
    saved = dict(os.environ)
    os.environ["HUMAN_REVIEW_BUCKET"] = BUCKET
    os.environ["HUMAN_REVIEW_POLL_SECONDS"] = "0.5"
    try:
        with local_stack(tmp_path_factory.mktemp("services"), bucket=BUCKET) as s:
            os.environ.update(s.env)
            yield s
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def seeded(stack):
    keys = seed(stack.s3_client(), BUCKET, "incoming/2026-11-20")
    # objects modified now fall in the data interval that ends at this logical date
    logical_date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=1)
    return keys, logical_date


def dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def run_dag(stack, dag_id: str, flow_name: str, logical_date, policy: str = "agree", conf=None):
    from human_review_dev.reviewers import SimulatedReviewers

    with SimulatedReviewers(stack.review_url, [flow_name], policy=policy, workers=2) as reviewers:
        dag_run = dag(dag_id).test(logical_date=logical_date, run_conf=conf)
    assert dag_run.state == "success", dag_run
    return reviewers


def read_report(stack, pipeline: str, logical_date):
    import pandas as pd

    key = f"human-review/reports/{pipeline}/{run_key(logical_date, '')}/report.parquet"
    body = stack.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return pd.read_parquet(io.BytesIO(body))


def loops(stack, flow_name: str, pipeline: str, logical_date) -> dict[str, str]:
    client = stack.a2i_client()
    arn = f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow_name}"
    prefix = loop_prefix(pipeline, run_key(logical_date, ""))
    found = {}
    for page in client.get_paginator("list_human_loops").paginate(FlowDefinitionArn=arn):
        for s in page["HumanLoopSummaries"]:
            if s["HumanLoopName"].startswith(prefix):
                found[s["HumanLoopName"]] = s["HumanLoopStatus"]
    return found


@pytest.mark.parametrize(
    "dag_id, pipeline, flow_name",
    [
        ("human_review_content_moderation", "content-moderation", "content-moderation"),
        ("human_review_object_detection", "object-detection", "object-detection"),
    ],
)
def test_nightly_run_accounts_for_every_image_and_reruns_idempotently(stack, seeded, dag_id, pipeline, flow_name):
    keys, logical_date = seeded
    reviewers = run_dag(stack, dag_id, flow_name, logical_date)
    report = read_report(stack, pipeline, logical_date)

    # accounting: every discovered image exactly once, each with a terminal status
    assert sorted(report["object_key"]) == sorted(keys)
    assert report["object_key"].is_unique
    assert set(report["status"]) <= set(TERMINAL)

    # broken files are invalid, with a reason a person can act on
    broken = {f"incoming/2026-11-20/{name}" for name in broken_files()}
    invalid = report[report["status"] == "invalid"].set_index("object_key")
    assert set(invalid.index) == broken
    assert "unsupported extension '.txt'" in invalid.loc["incoming/2026-11-20/notes.txt", "reason"]
    assert "truncated" in invalid.loc["incoming/2026-11-20/truncated.jpg", "reason"]
    assert "not an image" in invalid.loc["incoming/2026-11-20/not-an-image.jpg", "reason"]

    # the photos got a prediction; flagged ones were reviewed by people, the rest auto-accepted
    photos = report[~report["object_key"].isin(broken)]
    assert len(photos) == len(sample_photos())
    assert photos["model_output"].notna().all()
    assert set(photos["status"]) <= {"auto_accepted", "reviewed"}
    reviewed = photos[photos["status"] == "reviewed"]
    assert len(reviewed) == photos["flagged"].sum() >= 1
    assert (reviewed["answers"] == 1).all() and reviewed["human_answer"].notna().all()
    # who answered reads as the people who did (reviewers.json beside output.json), not A2I's opaque workerId
    answered_by = {s.human_loop_name: s.worker_id for s in reviewers.submissions}
    assert dict(zip(reviewed["loop_name"], reviewed["workers"])) == answered_by
    assert {w["worker"] for r in reviewed["worker_answers"] for w in json.loads(r)} <= set(reviewers.worker_ids)
    assert (photos.loc[photos["status"] == "auto_accepted", "flagged"] == False).all()  # noqa: E712

    started = loops(stack, flow_name, pipeline, logical_date)
    assert len(started) == len(reviewed)
    assert set(started.values()) == {"Completed"}

    # a second run of the same logical date starts no loop and writes the same rows
    run_dag(stack, dag_id, flow_name, logical_date)
    assert loops(stack, flow_name, pipeline, logical_date) == started
    again = read_report(stack, pipeline, logical_date)
    timing = ["inference_ms"]  # measured again on the rerun; everything else is the same
    differing = [c for c in report.columns if not again[c].equals(report[c])]
    assert differing in ([], timing), differing
    assert again.drop(columns=timing).equals(report.drop(columns=timing))


def test_dry_run_decides_but_starts_no_loop(stack, seeded):
    keys, _ = seeded
    logical_date = seeded[1] + dt.timedelta(minutes=7)
    dag_run = dag("human_review_content_moderation").test(
        logical_date=logical_date, run_conf={"dry_run": True, "keys": [k for k in keys if k.endswith(".png")]}
    )
    assert dag_run.state == "success"
    report = read_report(stack, "content-moderation", logical_date)
    assert sorted(report["object_key"]) == sorted(k for k in keys if k.endswith(".png"))
    assert loops(stack, "content-moderation", "content-moderation", logical_date) == {}
    assert set(report.loc[report["flagged"], "status"]) <= {"review_skipped_dry_run"}
