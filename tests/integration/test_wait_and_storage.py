"""The wait step against the running review service, and object storage on s3:// and file://."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time

import pytest

from human_review import storage
from human_review.hooks import HumanLoopHook
from human_review.naming import loop_name, loop_prefix
from human_review.triggers import HumanLoopsTrigger

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("wait")]
BUCKET = "hr-wait-tests"
ARN = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/content-moderation"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from human_review.local_stack import local_stack

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


def trigger_for(run: str, expected: int, deadline_in: float) -> HumanLoopsTrigger:
    return HumanLoopsTrigger(
        flow_definition_arn=ARN, name_prefix=loop_prefix("content-moderation", run), expected=expected,
        created_after=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat(),
        deadline=time.time() + deadline_in, poll_interval=0.2, aws_conn_id="aws_default", region_name="us-east-1",
    )


def test_trigger_serializes_every_connection_setting():
    trigger = HumanLoopsTrigger(flow_definition_arn=ARN, name_prefix="p-", expected=3, created_after=None,
                                deadline=1.0, poll_interval=5, aws_conn_id="conn", region_name="eu-west-1",
                                verify="/ca.pem", botocore_config={"retries": {"max_attempts": 3}})
    path, kwargs = trigger.serialize()
    assert path == "human_review.triggers.HumanLoopsTrigger"
    assert HumanLoopsTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["region_name"] == "eu-west-1" and kwargs["verify"] == "/ca.pem"
    assert kwargs["botocore_config"] == {"retries": {"max_attempts": 3}}


def test_trigger_fires_when_reviewers_finish(stack):
    from human_review.simulated_reviewers import SimulatedReviewers

    names = start_loops("wait-done", 5)
    with SimulatedReviewers(stack.review_url, ["content-moderation"], workers=2):
        event = first_event(trigger_for("wait-done", len(names), deadline_in=60))
    assert event == {"status": "done", "counts": {"Completed": 5}}


def test_timeout_stops_open_loops(stack):
    from human_review.sensors import WaitForHumanLoopsSensor

    names = start_loops("wait-timeout", 3)
    event = first_event(trigger_for("wait-timeout", len(names), deadline_in=0.5))
    assert event == {"status": "timeout", "counts": {"InProgress": 3}}

    routed = [{"batch": 0, "loops": 3, "loop_prefix": loop_prefix("content-moderation", "wait-timeout"),
               "earliest_loop": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat()}]
    sensor = WaitForHumanLoopsSensor(task_id="wait", routed=routed, flow_definition_arn=ARN, region_name="us-east-1")
    result = sensor.execute_complete({}, event)
    assert result["stopped"] == 3
    client = stack.a2i_client()
    assert {client.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in names} == {"Stopped"}

    failing = WaitForHumanLoopsSensor(task_id="wait2", routed=routed, flow_definition_arn=ARN, on_timeout="fail")
    from airflow.sdk.exceptions import AirflowSensorTimeout

    with pytest.raises(AirflowSensorTimeout):
        failing.execute_complete({}, event)


def test_sensor_rejects_bad_arguments():
    from human_review.sensors import WaitForHumanLoopsSensor

    with pytest.raises(ValueError, match="on_timeout"):
        WaitForHumanLoopsSensor(task_id="w", routed=[], flow_definition_arn=ARN, on_timeout="ignore")


@pytest.mark.parametrize("scheme", ["s3", "file"])
def test_storage_round_trip(stack, tmp_path, scheme):
    root = f"s3://{BUCKET}/storage-test" if scheme == "s3" else f"file://{tmp_path}"
    uri = storage.join(root, "a", "b.json")
    storage.write_json(uri, {"x": [1, 2]}, "aws_default")
    assert storage.read_json(uri, "aws_default") == {"x": [1, 2]}
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
