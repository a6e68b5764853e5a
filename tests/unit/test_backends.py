"""Remote model backends without AWS: Rekognition through botocore's Stubber (responses validated
against the service model), parsers, throttling, config validation, the batch-transform DAG shape,
and the route stage recording AWS-managed loops."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import threading
import time

import boto3
import pytest
from botocore.stub import Stubber

from human_review.exceptions import InvalidImageError
from human_review.images import decode
from human_review.inference.base import ItemContext, backend_class
from human_review.inference.parsers import get_path, parse_json_layout, parse_sagemaker_ssd
from human_review.inference.rekognition import RekognitionModerationBackend
from human_review.inference.throttle import call_with_retries
from human_review.token_bucket import TokenBucket

FLOW = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/content-moderation"


def jpeg(size=(64, 48), fmt="JPEG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, fmt)
    return buf.getvalue()


def client(service: str):
    return boto3.client(service, region_name="us-east-1")


def rekognition(**options):
    c = client("rekognition")
    backend = RekognitionModerationBackend(client=c, retries=3, **options)
    return backend, Stubber(c)


LABELS = {"ModerationLabels": [{"Confidence": 91.5, "Name": "Suggestive", "ParentName": "", "TaxonomyLevel": 1}],
          "ModerationModelVersion": "7.0"}
ITEM = ItemContext(bucket="photos", key="incoming/a.jpg", size=1000, loop_name="content-moderation-abc-1",
                   flow_definition_arn=FLOW)


def test_rekognition_custom_uses_s3object_and_min_confidence():
    backend, stub = rekognition(min_confidence=40)
    image = decode("incoming/a.jpg", jpeg())
    stub.add_response("detect_moderation_labels", dict(LABELS),
                      {"Image": {"S3Object": {"Bucket": "photos", "Name": "incoming/a.jpg"}}, "MinConfidence": 40.0})
    with stub:
        out = backend.predict_item(image, ItemContext(bucket="photos", key="incoming/a.jpg", size=1000))
    assert out.prediction["ModerationLabels"][0]["Name"] == "Suggestive" and out.managed_loop is None
    stub.assert_no_pending_responses()


def test_rekognition_bytes_and_size_limits():
    backend, stub = rekognition(image="bytes")
    data = jpeg()
    stub.add_response("detect_moderation_labels", dict(LABELS), {"Image": {"Bytes": data}, "MinConfidence": 50.0})
    with stub:
        assert backend.predict_item(decode("a.jpg", data), ITEM).prediction["ModerationLabels"]
    big = decode("a.jpg", data)
    object.__setattr__(big, "data", data + b"\0" * (5 * 1024 * 1024))
    with pytest.raises(InvalidImageError, match="5 MB"):
        backend.predict_item(big, ITEM)
    s3backend, _ = rekognition()
    with pytest.raises(InvalidImageError, match="15 MB"):
        s3backend.predict_item(decode("a.jpg", data), ItemContext(bucket="b", key="a.jpg", size=16 * 1024 * 1024))
    with pytest.raises(InvalidImageError, match="JPEG and PNG only"):
        s3backend.predict_item(decode("a.gif", jpeg(fmt="GIF")), ITEM)


@pytest.mark.parametrize("code", ["InvalidImageFormatException", "ImageTooLargeException", "InvalidS3ObjectException"])
def test_rekognition_image_errors_become_invalid_with_the_reason(code):
    backend, stub = rekognition()
    stub.add_client_error("detect_moderation_labels", service_error_code=code, service_message="bad image",
                          http_status_code=400)
    with stub, pytest.raises(InvalidImageError, match=f"{code}: bad image"):
        backend.predict_item(decode("a.jpg", jpeg()), ITEM)


def test_rekognition_throttling_is_retried_then_succeeds():
    backend, stub = rekognition()
    for code in ("ThrottlingException", "ProvisionedThroughputExceededException"):
        stub.add_client_error("detect_moderation_labels", service_error_code=code, http_status_code=400)
    stub.add_response("detect_moderation_labels", dict(LABELS))
    with stub:
        assert backend.predict_item(decode("a.jpg", jpeg()), ITEM).prediction["ModerationLabels"]
    stub.assert_no_pending_responses()


def test_rekognition_throttling_gives_up_after_its_retries():
    backend, stub = rekognition()
    backend.retries = 1
    for _ in range(2):
        stub.add_client_error("detect_moderation_labels", service_error_code="ThrottlingException", http_status_code=400)
    with stub, pytest.raises(Exception, match="ThrottlingException"):
        backend.predict_item(decode("a.jpg", jpeg()), ITEM)


def test_rekognition_aws_managed_loop_is_recorded_from_the_activation_output():
    backend, stub = rekognition(human_loop="aws-managed")
    assert backend.starts_loops
    tree = {"Conditions": [{"ConditionType": "ModerationLabelConfidenceCheck", "EvaluationResult": True,
                            "ConditionParameters": {"ModerationLabelName": "Suggestive", "ConfidenceLessThan": 98}}]}
    response = {**LABELS, "HumanLoopActivationOutput": {
        "HumanLoopArn": "arn:aws:sagemaker:us-east-1:000000000000:human-loop/content-moderation-abc-1",
        "HumanLoopActivationReasons": ["ConditionsEvaluation"],
        "HumanLoopActivationConditionsEvaluationResults": json.dumps(tree)}}
    expected = {"Image": {"S3Object": {"Bucket": "photos", "Name": "incoming/a.jpg"}}, "MinConfidence": 50.0,
                "HumanLoopConfig": {"HumanLoopName": ITEM.loop_name, "FlowDefinitionArn": FLOW,
                                    "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]}}}
    stub.add_response("detect_moderation_labels", response, expected)
    with stub:
        out = backend.predict_item(decode("a.jpg", jpeg()), ITEM)
    loop = out.managed_loop
    assert loop.loop_name == ITEM.loop_name and loop.loop_arn.endswith(ITEM.loop_name) and not loop.existing
    assert loop.results == tree and "HumanLoopActivationOutput" not in out.prediction


def test_rekognition_aws_managed_retry_with_an_existing_loop_asks_for_none():
    """The infer stage found the loop an earlier try started: no HumanLoopConfig in the request."""
    backend, stub = rekognition(human_loop="aws-managed")
    arn = f"arn:aws:sagemaker:us-east-1:0:human-loop/{ITEM.loop_name}"
    stub.add_response("detect_moderation_labels", dict(LABELS),
                      {"Image": {"S3Object": {"Bucket": "photos", "Name": "incoming/a.jpg"}}, "MinConfidence": 50.0})
    with stub:
        loop = backend.predict_item(decode("a.jpg", jpeg()), dataclasses.replace(ITEM, existing_loop_arn=arn)).managed_loop
    assert loop.existing and loop.loop_arn == arn


def test_rekognition_loop_quota_keeps_the_prediction_and_says_why():
    backend, stub = rekognition(human_loop="aws-managed")
    stub.add_client_error("detect_moderation_labels", service_error_code="HumanLoopQuotaExceededException",
                          service_message="too many loops", http_status_code=402)
    stub.add_response("detect_moderation_labels", dict(LABELS))
    with stub:
        out = backend.predict_item(decode("a.jpg", jpeg()), ITEM)
    assert out.prediction["ModerationLabels"] and "HumanLoopQuotaExceededException: too many loops" in out.managed_loop.error


def test_route_records_managed_loops_and_falls_back_on_quota(tmp_path, project_root, monkeypatch):
    from human_review import storage
    from human_review.config import load_pipeline
    from human_review.hooks import HumanLoopHook
    from human_review.records import PredictionsRef, Routing, Status
    from human_review.stages.route import route
    from human_review.stages.run import RunContext

    config = load_pipeline(project_root / "include/examples/rekognition_moderation.yaml")
    config = config.model_copy(update={"work_prefix": f"file://{tmp_path}"})
    run = RunContext(config=config, run_key="2026-11-21T020000Z")
    created = dt.datetime(2026, 11, 21, 2, 5, tzinfo=dt.timezone.utc)
    started: list[str] = []
    monkeypatch.setattr(HumanLoopHook, "describe", lambda self, name: {"CreationTime": created, "HumanLoopArn": f"arn/{name}"})
    monkeypatch.setattr(HumanLoopHook, "ensure_started",
                        lambda self, name, arn, content: (started.append(name) or ({"CreationTime": created}, True)))
    tree = {"Conditions": [{"ConditionType": "Sampling", "EvaluationResult": True,
                            "ConditionParameters": {"RandomSamplingPercentage": 20}}]}
    low = {"ModerationLabels": [{"Name": "Suggestive", "Confidence": 60.0, "ParentName": ""}]}
    records = [
        {"key": "a.jpg", "size": 1, "status": "predicted", "prediction": low,
         "managed_loop": {"loop_name": run.loop_name("a.jpg"), "loop_arn": "arn/x", "results": tree}},
        {"key": "b.jpg", "size": 1, "status": "predicted", "prediction": {"ModerationLabels": []},
         "managed_loop": {"loop_name": run.loop_name("b.jpg"), "results": {"Conditions": []}}},
        {"key": "c.jpg", "size": 1, "status": "predicted", "prediction": low,
         "managed_loop": {"loop_name": run.loop_name("c.jpg"), "error": "HumanLoopQuotaExceededException: full"}},
        {"key": "d.jpg", "size": 1, "status": "invalid", "reason": "Rekognition InvalidImageFormatException: x"},
    ]
    uri = storage.write_jsonl(run.batch_uri(0, "predictions.jsonl"), records)
    result = route(run, PredictionsRef(batch=0, predictions=uri))
    items = {i.key: i for i in Routing.from_dict(storage.read_json(result.routing)).items}
    assert items["a.jpg"].flagged and items["a.jpg"].loop_name == run.loop_name("a.jpg")
    assert items["a.jpg"].audit_sample and items["a.jpg"].flagged_by == ["Sampling"]
    assert items["a.jpg"].loop_created == created.isoformat()
    assert not items["b.jpg"].flagged and items["b.jpg"].loop_name is None
    assert items["c.jpg"].flagged and "HumanLoopQuotaExceededException" in items["c.jpg"].reasons[0]
    assert started == [run.loop_name("c.jpg")]  # only the quota fallback is started by the pipeline
    assert items["d.jpg"].status == Status.INVALID
    assert result.loops == 2 and result.loop_prefix == run.loop_prefix


def test_sagemaker_ssd_parser_matches_the_a2i_sample_shape():
    body = {"prediction": [[14.0, 0.91, 0.1, 0.2, 0.5, 0.8], [1.0, 0.15, 0.0, 0.0, 0.1, 0.1], [-1.0, 0.0, 0, 0, 0, 0]]}
    out = parse_sagemaker_ssd(body, 200, 100, {"class_names": ["aeroplane", "bicycle"] + ["x"] * 12 + ["person"],
                                               "min_score": 0.2})
    assert out["Detections"] == [{"Name": "person", "Confidence": 91.0,
                                  "BoundingBox": {"Left": 20, "Top": 20, "Width": 80, "Height": 60}}]
    assert out["Image"] == {"Width": 200, "Height": 100}
    rows = [{"id": 1, "score": 0.5, "left": 0.5, "top": 0.5, "right": 1.2, "bottom": 1.0}]
    assert parse_sagemaker_ssd(rows, 10, 10, {})["Detections"][0]["BoundingBox"] == {"Left": 5, "Top": 5, "Width": 5, "Height": 5}


def test_json_layout_parser():
    body = {"outputs": [{"boxes": [{"cls": "cat", "p": 0.7, "bbox": [10, 10, 20, 30]}]}]}
    layout = {"items": "$.outputs[0].boxes", "label": "cls", "score": "p", "box": "bbox", "box_format": "xywh",
              "normalized": False}
    det = parse_json_layout(body, 100, 100, {"layout": layout})["Detections"][0]
    assert det == {"Name": "cat", "Confidence": 70.0, "BoundingBox": {"Left": 10, "Top": 10, "Width": 20, "Height": 30}}
    mod = parse_json_layout({"labels": [{"n": "Violence", "s": 88}]}, 1, 1,
                            {"layout": {"kind": "moderation", "items": "labels", "label": "n", "score": "s", "score_scale": 100}})
    assert mod["ModerationLabels"] == [{"Name": "Violence", "ParentName": "", "Confidence": 88.0}]
    assert backend_class("sagemaker-endpoint").summary(mod) == "Violence 88.0%"
    assert get_path({"a": [{"b": 1}]}, "$.a[0].b") == 1
    with pytest.raises(KeyError):
        get_path({"a": []}, "a[0]")


@pytest.mark.parametrize(
    "backend, options, words",
    [
        ("sagemaker-endpoint", {}, "options.endpoint_name: required"),
        ("sagemaker-endpoint", {"endpoint_name": "e", "parser": "yolo"}, "options.parser: unknown parser"),
        ("sagemaker-endpoint", {"endpoint_name": "e", "parser": "json-layout", "layout": {"items": "x"}}, "options.layout.score"),
        ("rekognition-moderation", {"human_loop": "sometimes"}, "options.human_loop"),
        ("rekognition-moderation", {"min_confidence": 120}, "options.min_confidence"),
        ("sagemaker-batch-transform", {"model_name": "m"}, "options.instance_type"),
    ],
)
def test_bad_backend_options_fail_at_config_load(tmp_path, project_root, backend, options, words):
    import yaml

    from human_review.config import load_pipeline
    from human_review.exceptions import PipelineConfigError

    raw = yaml.safe_load((project_root / "include/pipelines/object_detection.yaml").read_text())
    raw["model"] = {"backend": backend, "options": options}
    path = tmp_path / "object_detection.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(path)
    assert err.value.field == "model" and words in err.value.message


def test_examples_load(project_root):
    from human_review.config import load_all

    good, bad = load_all(project_root / "include/examples")
    assert bad == [] and {c.model.backend for c in good} == {
        "rekognition-moderation", "sagemaker-endpoint", "sagemaker-batch-transform"}


def test_batch_transform_pipeline_gets_a_deferrable_transform_branch(project_root):
    from human_review.config import load_pipeline
    from human_review.dag_factory import build_dag

    dag = build_dag(load_pipeline(project_root / "include/examples/batch_detection.yaml"))
    assert "infer" not in dag.task_ids
    assert {"prepare_transform", "transform", "collect_transform", "route", "wait_for_reviews", "report"} <= set(dag.task_ids)
    transform = dag.get_task("transform")
    assert transform.partial_kwargs["deferrable"] is True
    assert dag.get_task("collect_transform").upstream_task_ids == {"discover", "transform"}
    default = build_dag(load_pipeline(project_root / "include/pipelines/object_detection.yaml"))
    assert "infer" in default.task_ids and "transform" not in default.task_ids


def test_token_bucket_limits_the_rate_across_threads():
    bucket = TokenBucket(50, burst=1)
    t = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t
    assert elapsed >= 39 / 50 * 0.9  # 40 tokens at 50/s with a burst of 1: at least ~0.78 s
    assert TokenBucket(None).acquire() == 0.0


def test_call_with_retries_retries_only_what_it_is_told():
    from botocore.exceptions import ClientError

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "Op")
        return "ok"

    assert call_with_retries(flaky, retryable={"ThrottlingException"}, attempts=3, sleep=lambda s: None) == "ok"
    with pytest.raises(ClientError):
        call_with_retries(lambda: (_ for _ in ()).throw(ClientError({"Error": {"Code": "ModelError"}}, "Op")),
                          retryable={"ThrottlingException"}, attempts=3, sleep=lambda s: None)
