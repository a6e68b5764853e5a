"""The wait step against the running review service, and object storage on s3:// and file://."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time

import pytest

from human_review import storage
from human_review.hooks import HumanLoopHook
from human_review.naming import loop_name, loop_prefix
from human_review.connection import AwsSettings
from human_review.records import WaitPlan
from human_review.triggers import HumanLoopsTrigger

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("wait")]
BUCKET = "hr-wait-tests"
ARN = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/content-moderation"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from human_review_dev.stack import local_stack

    saved = dict(os.environ)
    os.environ["HUMAN_REVIEW_BUCKET"] = BUCKET
    with local_stack(tmp_path_factory.mktemp("services"), bucket=BUCKET) as s:
        os.environ.update(s.env)
        yield s
    os.environ.clear()
    os.environ.update(saved)


def start_loops(run: str, n: int) -> list[str]:
    hook = HumanLoopHook(aws_conn_id="aws_default", region_name="us-east-1")
    names = [loop_name("content-moderation", run, f"incoming/{i}.jpg") for i in range(n)]
    for name in names:
        _, new = hook.ensure_started(name, ARN, {"taskObject": f"s3://{BUCKET}/incoming/x.jpg", "modelLabels": [],
                                                 "labelCategories": ["Suggestive"]})
        assert new
    # a second call (a retry) starts nothing
    assert hook.ensure_started(names[0], ARN, {"other": "input"})[1] is False
    return names


def first_event(trigger: HumanLoopsTrigger, timeout: float = 60):
    async def go():
        async for event in trigger.run():
            return event.payload
    return asyncio.run(asyncio.wait_for(go(), timeout))


def trigger_for(run: str, expected: int, deadline_in: float, arn: str = ARN, **aws) -> HumanLoopsTrigger:
    plan = WaitPlan(expected=expected, name_prefix=loop_prefix("content-moderation", run),
                    created_after=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat())
    return HumanLoopsTrigger(flow_definition_arn=arn, plan=plan.to_dict(), deadline=time.time() + deadline_in,
                             poll_interval=0.2, aws=AwsSettings.of(**{"region_name": "us-east-1", **aws}).to_dict())


def test_trigger_serializes_every_connection_setting():
    aws = AwsSettings.of("conn", "eu-west-1", "/ca.pem", {"retries": {"max_attempts": 3}})
    trigger = HumanLoopsTrigger(flow_definition_arn=ARN, plan=WaitPlan(expected=3, name_prefix="p-").to_dict(),
                                deadline=1.0, poll_interval=5, aws=aws.to_dict())
    path, kwargs = trigger.serialize()
    assert path == "human_review.triggers.HumanLoopsTrigger"
    assert HumanLoopsTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["aws"] == {"aws_conn_id": "conn", "region_name": "eu-west-1", "verify": "/ca.pem",
                             "botocore_config": {"retries": {"max_attempts": 3}}}
    assert kwargs["plan"] == {"expected": 3, "name_prefix": "p-", "dry_run": False}
    # the sensor hands the trigger the settings it was given, whole
    from human_review.sensors import WaitForHumanLoopsSensor

    sensor = WaitForHumanLoopsSensor(task_id="w", routed=[], flow_definition_arn=ARN, aws_conn_id="conn",
                                     region_name="eu-west-1", verify="/ca.pem",
                                     botocore_config={"retries": {"max_attempts": 3}})
    assert sensor.aws == aws


def test_unknown_flow_definition_ends_the_wait_at_once_with_the_reason(stack):
    """A permanent error (here: a flow definition the service does not know) is an error event on
    the first poll, not two days of retries until the deadline."""
    t0 = time.monotonic()
    missing = ARN.replace("content-moderation", "no-such-flow")
    event = first_event(trigger_for("wait-unknown", 1, deadline_in=3600, arn=missing))
    assert event["status"] == "error" and event["code"] == "ResourceNotFoundException", event
    assert time.monotonic() - t0 < 30

    from human_review.exceptions import HumanLoopWaitError
    from human_review.sensors import WaitForHumanLoopsSensor

    sensor = WaitForHumanLoopsSensor(task_id="wait", routed=[], flow_definition_arn=missing, region_name="us-east-1")
    with pytest.raises(HumanLoopWaitError, match="ResourceNotFoundException"):
        sensor.execute_complete({}, event)


def test_wrong_credentials_end_the_wait_at_once(stack, monkeypatch):
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_AWS_BADKEY", json.dumps({**conn, "password": "not-the-secret"}))
    event = first_event(trigger_for("wait-badkey", 1, deadline_in=3600, aws_conn_id="aws_badkey"))
    assert event["status"] == "error" and "signature" in event["message"].lower(), event


def test_missing_trigger_event_fails_loudly_and_stops_nothing(stack):
    """Guessing 'timeout' from a missing event would stop every open loop of the run."""
    from human_review.exceptions import HumanLoopWaitError
    from human_review.sensors import WaitForHumanLoopsSensor

    names = start_loops("wait-no-event", 2)
    routed = [{"batch": 0, "routing": "x", "loops": 2, "loop_prefix": loop_prefix("content-moderation", "wait-no-event"),
               "earliest_loop": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat()}]
    sensor = WaitForHumanLoopsSensor(task_id="wait", routed=routed, flow_definition_arn=ARN, region_name="us-east-1")
    for event in (None, {}, {"status": "what"}):
        with pytest.raises(HumanLoopWaitError, match="without a valid event"):
            sensor.execute_complete({}, event)
    client = stack.a2i_client()
    assert {client.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in names} == {"InProgress"}


def test_trigger_fires_when_reviewers_finish(stack):
    from human_review_dev.reviewers import SimulatedReviewers

    names = start_loops("wait-done", 5)
    with SimulatedReviewers(stack.review_url, ["content-moderation"], workers=2):
        event = first_event(trigger_for("wait-done", len(names), deadline_in=60))
    assert event == {"status": "done", "counts": {"Completed": 5}}


def test_timeout_stops_open_loops(stack):
    from human_review.sensors import WaitForHumanLoopsSensor

    names = start_loops("wait-timeout", 3)
    event = first_event(trigger_for("wait-timeout", len(names), deadline_in=0.5))
    assert event == {"status": "timeout", "counts": {"InProgress": 3}}

    routed = [{"batch": 0, "routing": "x", "loops": 3, "loop_prefix": loop_prefix("content-moderation", "wait-timeout"),
               "earliest_loop": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat()}]
    sensor = WaitForHumanLoopsSensor(task_id="wait", routed=routed, flow_definition_arn=ARN, region_name="us-east-1")
    result = sensor.execute_complete({}, event)
    assert result["stopped"] == 3
    client = stack.a2i_client()
    assert {client.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in names} == {"Stopped"}

    # on_timeout: fail no longer fails the wait itself (that left no report): it keeps the loops open and
    # tells the report task to fail the run once the report is written
    names = start_loops("wait-timeout-fail", 2)
    routed[0]["loop_prefix"] = loop_prefix("content-moderation", "wait-timeout-fail")
    failing = WaitForHumanLoopsSensor(task_id="wait2", routed=routed, flow_definition_arn=ARN, on_timeout="fail")
    result = failing.execute_complete({}, {"status": "timeout", "counts": {"InProgress": 2}})
    assert result["fail_run"] is True and result["stopped"] == 0
    assert {client.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in names} == {"InProgress"}
    stopping = WaitForHumanLoopsSensor(task_id="wait3", routed=routed, flow_definition_arn=ARN,
                                       on_timeout="stop-and-fail")
    result = stopping.execute_complete({}, {"status": "timeout", "counts": {"InProgress": 2}})
    assert result["fail_run"] is True and result["stopped"] == 2


def test_sensor_rejects_bad_arguments():
    from human_review.sensors import WaitForHumanLoopsSensor

    with pytest.raises(ValueError, match="on_timeout"):
        WaitForHumanLoopsSensor(task_id="w", routed=[], flow_definition_arn=ARN, on_timeout="ignore")


@pytest.mark.parametrize("scheme", ["s3", "file"])
def test_storage_round_trip(stack, tmp_path, scheme):
    root = f"s3://{BUCKET}/storage-test" if scheme == "s3" else f"file://{tmp_path}"
    uri = storage.join(root, "a", "b.json")
    storage.write_json(uri, {"x": [1, 2], "when": dt.date(2026, 11, 22)}, "aws_default")
    assert storage.read_json(uri, "aws_default") == {"x": [1, 2], "when": "2026-11-22"}
    assert storage.read_text(uri, "aws_default").count("\n") == 0  # stage files: one line (C encoder)
    pretty = storage.join(root, "a", "summary.json")
    storage.write_json(pretty, {"x": [1, 2]}, "aws_default", pretty=True)
    assert storage.read_json(pretty, "aws_default") == {"x": [1, 2]}
    assert storage.read_text(pretty, "aws_default").count("\n") >= 3  # what people open is indented
    storage.write_jsonl(storage.join(root, "rows.jsonl"), [{"a": 1}, {"a": 2}], "aws_default")
    assert storage.read_jsonl(storage.join(root, "rows.jsonl"), "aws_default") == [{"a": 1}, {"a": 2}]


def test_listing_sees_new_objects_and_last_modified(stack):
    s3 = stack.s3_client()
    s3.put_object(Bucket=BUCKET, Key="listing/one.jpg", Body=b"1")
    first = list(storage.list_objects(BUCKET, "listing/", "aws_default"))
    s3.put_object(Bucket=BUCKET, Key="listing/two.jpg", Body=b"22")
    second = list(storage.list_objects(BUCKET, "listing/", "aws_default"))
    assert [o.key for o in first] == ["listing/one.jpg"]
    assert [(o.key, o.size) for o in second] == [("listing/one.jpg", 1), ("listing/two.jpg", 2)]
    assert all(o.last_modified.tzinfo is not None for o in second)
