"""A remote model backend inside a whole DAG run: the `sagemaker-endpoint` example pipeline from
include/examples/, InvokeEndpoint served by moto's server (queued results, one per image), loops
in the local review service, simulated reviewers, and the report."""

from __future__ import annotations

import datetime as dt
import io
import json
import os

import httpx
import pytest
import yaml

from human_review.naming import run_key
from human_review_dev.samples import broken_files, sample_photos, seed
from moto_results import clear_endpoint_results

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.xdist_group("e2e-remote")]
BUCKET = "hr-e2e-remote"


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory, project_root):
    doc = yaml.safe_load((project_root / "include" / "examples" / "sagemaker_detection.yaml").read_text())
    # moto's server decodes request bodies as text, so the image travels base64 in a JSON body
    doc["model"]["options"].update({"body": "json", "content_type": "application/json"})
    folder = tmp_path_factory.mktemp("pipelines")
    (folder / "sagemaker_detection.yaml").write_text(yaml.safe_dump(doc))
    return folder


@pytest.fixture(scope="module")
def stack(tmp_path_factory, airflow_db, pipelines):
    import human_review.config as config
    from human_review_dev.stack import aws_connection, local_stack

    saved, saved_dir = dict(os.environ), config.PIPELINES_DIR
    os.environ.update({"HUMAN_REVIEW_BUCKET": BUCKET, "HUMAN_REVIEW_POLL_SECONDS": "0.5"})
    config.PIPELINES_DIR = pipelines
    with local_stack(tmp_path_factory.mktemp("services"), bucket=BUCKET, pipelines_dir=pipelines) as s:
        os.environ.update(s.env)
        # moto serves the SageMaker runtime as well as S3
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(aws_connection(s.region, {
            "s3": s.s3_endpoint_url, "sagemaker-runtime": s.s3_endpoint_url, "sagemaker-a2i-runtime": s.review_url}))
        yield s
    config.PIPELINES_DIR = saved_dir
    os.environ.clear()
    os.environ.update(saved)


def test_sagemaker_endpoint_pipeline_end_to_end(stack):
    from airflow.dag_processing.dagbag import DagBag

    from human_review_dev.reviewers import SimulatedReviewers

    keys = seed(stack.s3_client(), BUCKET, "incoming/remote")
    photos = sorted(k for k in keys if k.rsplit("/", 1)[-1] in sample_photos())
    # one endpoint answer per photo: SSD rows [class, score, xmin, ymin, xmax, ymax], normalised
    answers = [{"prediction": [[14, 0.9 if i % 2 else 0.45, 0.1, 0.1, 0.5, 0.6], [7, 0.05, 0, 0, 1, 1]]}
               for i in range(len(photos))]
    results = [{"Body": json.dumps(a), "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic",
                "CustomAttributes": ""} for a in answers]
    clear_endpoint_results()  # moto's queue is per process: another test's leftovers would answer first
    httpx.post(f"{stack.s3_endpoint_url}/moto-api/static/sagemaker/endpoint-results",
               json={"results": results}).raise_for_status()

    logical_date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=1)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    with SimulatedReviewers(stack.review_url, ["sagemaker-detection"], workers=2):
        dag_run = bag.dags["human_review_sagemaker_detection"].test(logical_date=logical_date)
    assert dag_run.state == "success"

    import pandas as pd

    key = f"human-review/reports/sagemaker-detection/{run_key(logical_date, '')}/report.parquet"
    report = pd.read_parquet(io.BytesIO(stack.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    assert sorted(report["object_key"]) == sorted(keys)
    by_key = report.set_index("object_key")
    assert set(by_key.loc[[f"incoming/remote/{n}" for n in broken_files()], "status"]) == {"invalid"}
    got = by_key.loc[photos]
    assert (got["model_output"].notna()).all()
    outputs = [json.loads(o) for o in got["model_output"]]
    # the SSD parser mapped class 14 to "person", dropped the 0.05 row (min_score 0.2), made pixel boxes
    assert all([d["Name"] for d in o["Detections"]] == ["person"] for o in outputs)
    scores = sorted({o["Detections"][0]["Confidence"] for o in outputs})
    assert scores == [45.0, 90.0]
    # the 45% detections were flagged (< 60) and reviewed; the 90% ones auto-accepted unless sampled
    low = got[[o["Detections"][0]["Confidence"] < 60 for o in outputs]]
    assert set(low["status"]) == {"reviewed"}
    assert set(got["status"]) <= {"reviewed", "auto_accepted"}
