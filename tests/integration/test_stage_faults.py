"""Faults a night can bring, caused for real against the local services: each one costs one row
its happy ending, never the run its report."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from human_review.config import find_pipeline
from human_review_dev.samples import sample_photos
from human_review.stages.run import RunContext

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("faults")]
BUCKET = "hr-faults"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from human_review_dev.stack import local_stack

    saved = dict(os.environ)
    os.environ["HUMAN_REVIEW_BUCKET"] = BUCKET
    # an A2I quota of one open loop per flow definition: the second StartHumanLoop gets a 402
    with local_stack(tmp_path_factory.mktemp("services"), bucket=BUCKET, max_in_flight_loops=1) as s:
        os.environ.update(s.env)
        yield s
    os.environ.clear()
    os.environ.update(saved)


def run_context(run_key: str, **params) -> RunContext:
    config = find_pipeline("object-detection")
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    return RunContext(config=config, run_key=run_key, data_interval_start=end - dt.timedelta(days=1),
                      data_interval_end=end, params=params)


def seed(stack, prefix: str, names: list[str]) -> list[str]:
    photos = sample_photos()
    for name in names:
        stack.s3_client().put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=photos[name])
    return [f"{prefix}/{n}" for n in names]


class AlwaysFailingModel:
    """A model that rejects every image (a fault a real model cannot be made to produce on cue)."""

    kind = "detection"
    remote = False
    starts_loops = False

    def predict_item(self, image, ctx):
        raise ValueError("model rejected the input tensor")


def test_a_model_failing_on_the_only_image_writes_its_row(stack, monkeypatch):
    from human_review.stages import infer as infer_stage
    from human_review.stages.discover import discover

    keys = seed(stack, "fault-model", ["coffee.png"])
    run = run_context("fault-model", keys=keys)
    [batch] = discover(run)
    monkeypatch.setattr(infer_stage, "load_backend", lambda *a, **k: AlwaysFailingModel())
    result = infer_stage.infer(run, batch)
    assert result.counts == {"inference_failed": 1}


def test_quota_and_lost_output_cost_one_row_each_not_the_report(stack):
    import pandas as pd

    from human_review.stages.discover import discover
    from human_review.stages.infer import infer
    from human_review.stages.report import report
    from human_review.stages.route import route

    # all three photos have weak face candidates, so all three are flagged
    keys = seed(stack, "fault-quota", ["astronaut.png", "camera.png", "motorcycle_left.png"])
    run = run_context("fault-quota", keys=keys)
    [batch] = discover(run)
    routed = route(run, infer(run, batch))
    assert routed.loops == 1  # one loop fits under the quota; two could not start

    # the one loop completes; then its output.json disappears (say, a lifecycle rule ran early)
    client = stack.a2i_client()
    from human_review_dev.reviewers import SimulatedReviewers

    with SimulatedReviewers(stack.review_url, ["object-detection"]) as reviewers:
        assert reviewers.wait_for(1, timeout=30)
    [summary] = [s for p in client.get_paginator("list_human_loops").paginate(
        FlowDefinitionArn=run.config.review.flow_definition.flow_definition_arn) for s in p["HumanLoopSummaries"]
        if s["HumanLoopName"].startswith(run.loop_prefix)]
    out = client.describe_human_loop(HumanLoopName=summary["HumanLoopName"])["HumanLoopOutput"]["OutputS3Uri"]
    bucket, key = out.removeprefix("s3://").split("/", 1)
    stack.s3_client().delete_object(Bucket=bucket, Key=key)

    result = report(run, [routed])
    assert result["images"] == 3
    import io

    body = stack.s3_client().get_object(Bucket=BUCKET, Key=result["files"]["parquet"].removeprefix(f"s3://{BUCKET}/"))
    rows = pd.read_parquet(io.BytesIO(body["Body"].read()))
    assert sorted(rows["object_key"]) == sorted(keys)
    assert list(rows["status"]) == ["review_failed"] * 3
    reasons = sorted(rows["reason"])
    assert sum("ServiceQuotaExceededException" in r for r in reasons) == 2
    assert sum("could not read the loop's outcome" in r for r in reasons) == 1


def test_images_over_max_items_are_reported_not_lost(stack):
    import io

    import pandas as pd

    from human_review.stages.discover import discover
    from human_review.stages.infer import infer
    from human_review.stages.report import report
    from human_review.stages.route import route

    keys = seed(stack, "fault-limit", ["coffee.png", "china.jpg", "flower.jpg"])
    run = run_context("fault-limit", keys=keys, max_items=1, dry_run=True)
    batches = discover(run)
    assert sum(b.items for b in batches) == 3  # the processed image and the overflow, in batches
    routed = [route(run, infer(run, b)) for b in batches]
    result = report(run, routed)
    body = stack.s3_client().get_object(Bucket=BUCKET, Key=result["files"]["parquet"].removeprefix(f"s3://{BUCKET}/"))
    rows = pd.read_parquet(io.BytesIO(body["Body"].read())).set_index("object_key")
    assert sorted(rows.index) == sorted(keys)
    skipped = rows[rows["status"] == "not_processed_max_items"]
    assert list(skipped.index) == keys[1:]
    assert skipped["reason"].str.contains("over max_items=1").all()
    assert result["status_counts"]["not_processed_max_items"] == 2
    assert sum(result["status_counts"].values()) == 3


def test_rerunning_an_older_run_keeps_latest_on_the_newest(stack):
    from human_review import storage
    from human_review.stages.discover import discover
    from human_review.stages.infer import infer
    from human_review.stages.report import report
    from human_review.stages.route import route

    keys = seed(stack, "fault-latest", ["coffee.png"])

    def run_report(run_key: str, days_ago: int) -> None:
        run = run_context(run_key, keys=keys, dry_run=True)
        end = run.data_interval_end - dt.timedelta(days=days_ago)
        run = RunContext(config=run.config, run_key=run_key, data_interval_start=end - dt.timedelta(days=1),
                         data_interval_end=end, params=run.params)
        report(run, [route(run, infer(run, b)) for b in discover(run)])

    latest = f"{run_context('x').config.report.prefix}/object-detection/latest.json"
    run_report("latest-newer", days_ago=0)
    run_report("latest-older", days_ago=7)  # last week's run, cleared and re-run today
    assert storage.read_json(latest, "aws_default")["run_key"] == "latest-newer"
    run_report("latest-newer", days_ago=0)  # re-running the newest keeps it newest
    assert storage.read_json(latest, "aws_default")["run_key"] == "latest-newer"
