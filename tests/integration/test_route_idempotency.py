"""One StartHumanLoop per new loop, and still no second loop on a retry or a rerun: against the
local review service over HTTP with the real boto3 client (it answers a repeated start the way
A2I's service model describes: same name and input, the same loop; other input, ConflictException)."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import botocore.client
import pytest
from botocore.exceptions import ClientError

from human_review import storage
from human_review.config import find_pipeline
from human_review.records import PredictionsRef, Routing, WaitPlan
from human_review.stages.run import RunContext

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("route-idempotency")]
BUCKET = "hr-route-idem"


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


@pytest.fixture
def api_calls(monkeypatch):
    """Every AWS API call the code under test makes, by operation (the real calls still happen)."""
    calls: Counter[str] = Counter()
    real = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        if self.meta.service_model.service_name == "sagemaker-a2i-runtime":
            calls[operation] += 1
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return calls


def predictions(run: RunContext, confidence: float) -> PredictionsRef:
    """Three images with an unsure face (flagged) and one sure one (not flagged)."""
    def record(key: str, conf: float) -> dict:
        return {"key": key, "size": 1, "status": "predicted", "width": 640, "height": 480,
                "prediction": {"Detections": [{"Name": "face", "Confidence": conf,
                                               "BoundingBox": {"Left": 1, "Top": 2, "Width": 30, "Height": 40}}],
                               "Image": {"Width": 640, "Height": 480}}}
    rows = [record(f"idem/{n}.jpg", confidence) for n in "abc"] + [record("idem/sure.jpg", 99.0)]
    return PredictionsRef(batch=0, predictions=storage.write_jsonl(run.batch_uri(0, "predictions.jsonl"), rows,
                                                                   run.conn_id))


def run_loops(stack, run: RunContext) -> dict[str, tuple[str, str]]:
    client = stack.a2i_client()
    arn = run.config.review.flow_definition.flow_definition_arn
    return {s["HumanLoopName"]: (s["CreationTime"], s["HumanLoopStatus"])
            for p in client.get_paginator("list_human_loops").paginate(FlowDefinitionArn=arn)
            for s in p["HumanLoopSummaries"] if s["HumanLoopName"].startswith(run.loop_prefix)}


def test_the_service_answers_a_repeated_start_like_a2i(stack):
    client = stack.a2i_client()
    arn = find_pipeline("object-detection").review.flow_definition.flow_definition_arn
    args = {"HumanLoopName": "idem-direct-1", "FlowDefinitionArn": arn, "HumanLoopInput": {"InputContent": '{"a": 1}'}}
    first = client.start_human_loop(**args)["HumanLoopArn"]
    assert client.start_human_loop(**args)["HumanLoopArn"] == first  # same input: the same loop
    with pytest.raises(ClientError) as e:
        client.start_human_loop(**{**args, "HumanLoopInput": {"InputContent": '{"a": 2}'}})
    assert e.value.response["Error"]["Code"] == "ConflictException"


def test_one_call_per_new_loop_and_no_second_loop_on_retry_or_rerun(stack, api_calls):
    from human_review.stages.discover import record_run_start
    from human_review.stages.route import route
    from human_review_dev.reviewers import SimulatedReviewers

    end = dt.datetime.now(dt.timezone.utc)
    run = RunContext(config=find_pipeline("object-detection"), run_key="idem-run",
                     data_interval_start=end - dt.timedelta(days=1), data_interval_end=end)
    first_start = record_run_start(run)
    assert record_run_start(run) == first_start  # a rerun keeps the first start

    result = route(run, predictions(run, 40.0))
    calls = dict(api_calls)
    loops = run_loops(stack, run)
    assert result.loops == 3 and len(loops) == 3
    # one StartHumanLoop per new loop, no describe before or after
    assert calls == {"StartHumanLoop": 3}
    first_arns = {i.loop_name: i.loop_arn for i in Routing.from_dict(storage.read_json(result.routing, run.conn_id)).items
                  if i.loop_name}
    assert set(first_arns) == set(loops) and all(first_arns.values())

    # the wait's lower bound still finds every loop of the run
    plan = WaitPlan.from_routes([result])
    found = [s for s in stack.a2i_client().list_human_loops(
        FlowDefinitionArn=run.config.review.flow_definition.flow_definition_arn,
        CreationTimeAfter=plan.created_after_time)["HumanLoopSummaries"] if s["HumanLoopName"] in loops]
    assert len(found) == 3

    # a retry of the task: the same starts are accepted and start nothing new
    api_calls.clear()
    again = route(run, predictions(run, 40.0))
    calls = dict(api_calls)
    assert run_loops(stack, run) == loops
    assert again.loops == 3 and calls == {"StartHumanLoop": 3}
    routed = Routing.from_dict(storage.read_json(again.routing, run.conn_id)).items
    assert {i.loop_name: i.loop_arn for i in routed if i.loop_name} == first_arns

    # one loop completes; a rerun whose model now says something else (other input) finds the
    # loops by name (ConflictException, then one describe each) and starts none
    with SimulatedReviewers(stack.review_url, ["object-detection"]) as reviewers:
        assert reviewers.wait_for(3, timeout=60)
    api_calls.clear()
    rerun = route(run, predictions(run, 41.0))
    calls = dict(api_calls)
    after = run_loops(stack, run)
    assert {n: t for n, (t, _) in after.items()} == {n: t for n, (t, _) in loops.items()}
    assert {s for _, s in after.values()} == {"Completed"}
    assert rerun.loops == 3 and rerun.started == 0
    assert calls == {"StartHumanLoop": 3, "DescribeHumanLoop": 3}
