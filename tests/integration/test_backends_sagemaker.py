"""SageMaker backends against moto's server with the real boto3 clients.

- Endpoint (JSON body: moto's server cannot take raw image bytes): InvokeEndpoint results are queued through moto's
  `/moto-api/static/sagemaker/endpoint-results` API (moto hands out one queued result per distinct
  request body), then parsed with the SSD parser. Also a throughput sanity check with and
  without the requests-per-second limit (figures: `human_review_dev.bench.remote_backend`).
- Batch transform: the manifest and plan are written to moto's S3, the job is created through
  providers-amazon's SageMakerHook (moto marks it Completed at once and writes no output), the
  output objects Batch Transform would write are put in place, and collect joins them back.
"""

from __future__ import annotations

import io
import json
import os
import socket

import boto3
import httpx
import pytest
from moto_results import clear_endpoint_results

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("moto-sagemaker")]
CONN = "aws_moto_sagemaker"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = json.dumps(
        {"conn_type": "aws", "extra": {"region_name": "us-east-1", "endpoint_url": url}})
    yield url
    server.stop()
    clear_endpoint_results()  # queued results nobody asked for would answer the next test's calls
    os.environ.pop(f"AIRFLOW_CONN_{CONN.upper()}", None)


def queue_results(url: str, bodies: list[dict]) -> None:
    results = [{"Body": json.dumps(b), "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic",
                "CustomAttributes": ""} for b in bodies]
    httpx.post(f"{url}/moto-api/static/sagemaker/endpoint-results", json={"results": results}).raise_for_status()


def photo(seed: int, size=(120, 80)):
    from PIL import Image

    from human_review.images import decode

    buf = io.BytesIO()
    Image.new("RGB", size, (seed % 256, 40, 90)).save(buf, "JPEG")
    return decode(f"incoming/img-{seed}.jpg", buf.getvalue())


def endpoint_backend(url: str, **settings):
    from human_review.inference.sagemaker import SageMakerEndpointBackend

    client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1")
    # moto's server decodes every request body as UTF-8, so raw JPEG bytes cannot reach it:
    # the JSON body ({"image": base64}) is what runs here; the raw-bytes body is a unit-level concern.
    settings.setdefault("body", "json")
    return SageMakerEndpointBackend(client=client, endpoint_name="ssd", content_type="application/json",
                                    parser="sagemaker-ssd", class_names=["cat", "dog"], retries=1, **settings)


def test_endpoint_invocation_is_parsed_into_detections(moto_url):
    queue_results(moto_url, [{"prediction": [[1, 0.8, 0.25, 0.5, 0.75, 1.0], [0, 0.05, 0, 0, 1, 1]]}])
    backend = endpoint_backend(moto_url, min_score=0.1)
    out = backend.predict(photo(1))
    assert out["Detections"] == [{"Name": "dog", "Confidence": 80.0,
                                  "BoundingBox": {"Left": 30, "Top": 40, "Width": 60, "Height": 40}}]
    assert out["Image"] == {"Width": 120, "Height": 80}


def test_endpoint_json_body_and_unparseable_output(moto_url):
    queue_results(moto_url, [{"unexpected": True}])
    backend = endpoint_backend(moto_url, json_key="image")
    with pytest.raises(ValueError, match="prediction"):
        backend.predict(photo(2))


def test_endpoint_throughput_with_and_without_the_rps_limit(moto_url):
    from human_review_dev.bench.remote_backend import measure_endpoint

    queue_results(moto_url, [{"prediction": [[0, 0.9, 0.1, 0.1, 0.5, 0.5]]}] * 80)
    unlimited = measure_endpoint(endpoint_backend(moto_url, concurrency=4), n=40, threads=4, first_seed=1000)
    limited = measure_endpoint(endpoint_backend(moto_url, requests_per_second=20, burst=1, concurrency=4), n=40,
                               threads=4, first_seed=2000)
    # generous sanity bounds only: 40 calls at 20/s take at least ~1.9 s; unlimited is faster
    assert limited["per_second"] <= 22
    assert unlimited["per_second"] > limited["per_second"]


def test_batch_transform_manifest_job_and_join(moto_url, tmp_path, project_root):
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    from human_review import storage
    from human_review.config import load_pipeline
    from human_review.operators import ReviewTransformOperator
    from human_review.records import BatchRef, PredictionRecord, Status
    from human_review.stages.run import RunContext
    from human_review.stages.transform import collect, prepare

    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="bt-photos")
    good = [photo(i) for i in range(3)]
    for img in good:
        s3.put_object(Bucket="bt-photos", Key=img.key, Body=img.data)
    s3.put_object(Bucket="bt-photos", Key="incoming/broken.jpg", Body=b"\xff\xd8\xff" + b"0" * 20)

    config = load_pipeline(project_root / "include/examples/batch_detection.yaml")
    config = config.model_copy(update={"aws_conn_id": CONN, "work_prefix": "s3://bt-photos/work",
                                       "source": config.source.model_copy(update={"bucket": "bt-photos"})})
    run = RunContext(config=config, run_key="2026-11-21T023000Z")
    # an image past max_items is in the manifest (to be reported) but must never reach the job
    s3.put_object(Bucket="bt-photos", Key="incoming/over-limit.jpg", Body=good[0].data)
    items = [{"key": i.key, "size": len(i.data)} for i in good] + [
        {"key": "incoming/broken.jpg", "size": 23}, {"key": "incoming/x.txt", "size": 3, "invalid_reason": "not an image"},
        {"key": "incoming/over-limit.jpg", "size": len(good[0].data), "skipped_reason": "over max_items=3"}]
    manifest = storage.write_json(run.batch_uri(0, "manifest.json"), {
        "pipeline": config.pipeline, "run_key": run.run_key, "batch": 0, "bucket": "bt-photos", "items": items}, CONN)
    batch = BatchRef(batch=0, manifest=manifest, items=len(items))

    job = prepare(run, batch)
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "ManifestFile"
    written = storage.read_json(job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"], CONN)
    # broken images and images past max_items stay out of the job
    assert written == [{"prefix": "s3://bt-photos/"}, *[i.key for i in good]]

    hook = SageMakerHook(aws_conn_id=CONN)
    hook.get_conn().create_model(ModelName=job["ModelName"], ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                                 PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ssd:1"})
    hook.create_transform_job(dict(job), wait_for_completion=True, check_interval=1)
    assert hook.describe_transform_job(job["TransformJobName"])["TransformJobStatus"] == "Completed"
    # a retry of the transform task finds the completed job and starts nothing
    op = ReviewTransformOperator(task_id="t", config=dict(job), aws_conn_id=CONN, deferrable=True)
    assert op.execute(context={}) == {"TransformJobName": job["TransformJobName"], "TransformJobStatus": "Completed"}
    assert ReviewTransformOperator(task_id="t2", config={}, aws_conn_id=CONN).execute(context={}) is None

    # what Batch Transform writes for ManifestFile input: <S3OutputPath>/<relative key>.out (one image left out)
    out = job["TransformOutput"]["S3OutputPath"]
    for img in good[:2]:
        storage.write_json(f"{out}/{img.key}.out", {"prediction": [[0, 0.4, 0, 0, 0.5, 0.5]]}, CONN)

    result = collect(run, batch)
    records = {r.key: r for r in PredictionRecord.many(storage.read_jsonl(result.predictions, CONN))}
    assert result.counts == {"predicted": 2, "inference_failed": 1, "invalid": 2, "not_processed_max_items": 1}
    assert records[good[0].key].prediction["Detections"][0]["Name"] == "aeroplane"  # VOC class 0
    assert records[good[0].key].width == 120
    assert "wrote no output" in records[good[2].key].reason
    assert records["incoming/broken.jpg"].status == Status.INVALID
    assert records["incoming/over-limit.jpg"].status == Status.NOT_PROCESSED_MAX_ITEMS


def test_retried_transform_waits_on_the_running_job_and_starts_no_second_one():
    """moto marks every job Completed at once, so the running job is a stubbed DescribeTransformJob;
    the Stubber also fails the test on any CreateTransformJob call."""
    import datetime as dt

    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from airflow.sdk.exceptions import TaskDeferred
    from botocore.stub import Stubber

    from human_review.inference.batch_transform import transform_config
    from human_review.operators import ReviewTransformOperator

    config = transform_config({"model_name": "ssd", "instance_type": "ml.m5.large"}, "detection-abc-b00000",
                              "s3://b/in.manifest", "s3://b/out")
    op = ReviewTransformOperator(task_id="transform", config=config, aws_conn_id=None, region_name="us-east-1",
                                 deferrable=True, check_interval=5)
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    op.hook.__dict__["conn"] = client
    with Stubber(client) as stub:
        stub.add_response("describe_transform_job", {
            "TransformJobName": "detection-abc-b00000", "TransformJobStatus": "InProgress", "ModelName": "ssd",
            "TransformJobArn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/detection-abc-b00000",
            "TransformInput": config["TransformInput"], "TransformResources": config["TransformResources"],
            "CreationTime": dt.datetime(2026, 11, 21, 2, tzinfo=dt.timezone.utc)},
            {"TransformJobName": "detection-abc-b00000"})
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context={})
        stub.assert_no_pending_responses()
    trigger = deferred.value.trigger
    assert isinstance(trigger, SageMakerTrigger) and trigger.job_name == "detection-abc-b00000"
