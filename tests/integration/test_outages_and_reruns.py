"""Issue 10: transient is not final, nothing is lost, caused for real against the local services.

Outages are real: moto's S3 server and the review service are stopped mid-run and started again on
the same port (their state survives, as AWS's would). S3 answering "503 SlowDown", which a stopped
server cannot do, comes from a fault-injecting proxy in front of moto (tests/fault_proxy.py): the
pipeline reads S3 through it with the real boto3/s3fs clients.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os

import pandas as pd
import pytest

from fault_proxy import FaultProxy
from human_review.config import find_pipeline
from human_review.exceptions import is_transient
from human_review.stages.run import RunContext
from human_review_dev.samples import sample_photos

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("outages")]
BUCKET = "hr-outages"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from human_review_dev.stack import _forget_cached_filesystems, aws_connection, local_stack

    saved = dict(os.environ)
    os.environ["HUMAN_REVIEW_BUCKET"] = BUCKET
    with local_stack(tmp_path_factory.mktemp("services"), bucket=BUCKET) as s, FaultProxy(s.s3_endpoint_url) as proxy:
        os.environ.update(s.env)
        # the pipeline reaches S3 through the proxy, one attempt per call (no botocore retries hiding faults)
        conn = aws_connection(s.region, {"s3": proxy.url, "sagemaker-a2i-runtime": s.review_url})
        conn["extra"]["config_kwargs"] = {"retries": {"max_attempts": 1, "mode": "standard"}}
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(conn)
        _forget_cached_filesystems()
        s.proxy = proxy
        yield s
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def no_faults(stack):
    stack.proxy.fail(None)
    yield
    stack.proxy.fail(None)


def run_context(run_key: str, retries: int = 0, **params) -> RunContext:
    config = find_pipeline("object-detection")
    config = config.model_copy(update={"model": config.model.model_copy(update={"retries": retries})})
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    return RunContext(config=config, run_key=run_key, data_interval_start=end - dt.timedelta(days=1),
                      data_interval_end=end, params=params)


def seed(stack, prefix: str, names: list[str], key=lambda prefix, name: f"{prefix}/{name}") -> list[str]:
    photos = sample_photos()
    keys = []
    for name in names:
        k = key(prefix, name)
        stack.s3_client().put_object(Bucket=BUCKET, Key=k, Body=photos[name])
        keys.append(k)
    return keys


def report_rows(stack, summary) -> pd.DataFrame:
    body = stack.s3_client().get_object(Bucket=BUCKET, Key=summary["files"]["parquet"].removeprefix(f"s3://{BUCKET}/"))
    return pd.read_parquet(io.BytesIO(body["Body"].read())).set_index("object_key")


def reviewed_run(stack, run: RunContext):
    """discover -> infer -> route, and simulated reviewers answer every loop."""
    from human_review.stages.discover import discover
    from human_review.stages.infer import infer
    from human_review.stages.route import route
    from human_review_dev.reviewers import SimulatedReviewers

    routed = [route(run, infer(run, b)) for b in discover(run)]
    loops = sum(r.loops for r in routed)
    with SimulatedReviewers(stack.review_url, ["object-detection"]) as reviewers:
        assert reviewers.wait_for(loops, timeout=60)
    return routed


# item 1 -------------------------------------------------------------------------------------------

def test_s3_slowdown_while_reading_outputs_retries_the_report_not_review_failed(stack):
    from human_review.stages.report import report

    keys = seed(stack, "out-slow", ["astronaut.png", "camera.png"])
    run = run_context("out-slow", keys=keys)
    routed = reviewed_run(stack, run)
    assert sum(r.loops for r in routed) == 2

    stack.proxy.fail(lambda method, path: method == "GET" and path.split("?")[0].endswith("/output.json"))
    with pytest.raises(Exception) as err:
        report(run, routed)
    assert is_transient(err.value), repr(err.value)  # s3fs's OSError(EBUSY): the task retries
    assert stack.proxy.injected >= 1
    listed = stack.s3_client().list_objects_v2(Bucket=BUCKET, Prefix="human-review/reports/object-detection/out-slow/")
    assert listed.get("KeyCount", 0) == 0  # no report of wrong rows was written

    stack.proxy.fail(None)  # S3 is back: Airflow's retry writes the true report
    rows = report_rows(stack, report(run, routed))
    assert list(rows["status"]) == ["reviewed", "reviewed"]


def test_review_service_down_during_report_retries_then_reports(stack):
    from human_review.portal.server import serve_in_thread
    from human_review.stages.report import report

    keys = seed(stack, "out-a2i", ["astronaut.png"])
    run = run_context("out-a2i", keys=keys)
    routed = reviewed_run(stack, run)
    server = stack.review_server
    app = server._server.config.app
    server.stop()  # the review service is down when the report runs
    try:
        with pytest.raises(Exception) as err:
            report(run, routed)
        assert is_transient(err.value), repr(err.value)
    finally:
        stack.review_server = serve_in_thread(app, port=server.port)  # back, same port, same database
    rows = report_rows(stack, report(run, routed))
    assert list(rows["status"]) == ["reviewed"]


def test_s3_stopped_then_back_mid_report(stack):
    """moto's server stopped for real: every S3 call fails with no answer at all; started again on its
    port (moto keeps its objects in the process), the retried report is whole."""
    from moto.server import ThreadedMotoServer

    from human_review.stages.report import report

    keys = seed(stack, "out-s3down", ["camera.png"])
    run = run_context("out-s3down", keys=keys)
    routed = reviewed_run(stack, run)
    host, port = stack.s3_server.get_host_and_port()
    stack.s3_server.stop()
    try:
        with pytest.raises(Exception) as err:
            report(run, routed)
        assert is_transient(err.value), repr(err.value)
    finally:
        stack.s3_server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        stack.s3_server.start()
    assert list(report_rows(stack, report(run, routed))["status"]) == ["reviewed"]


# item 2 -------------------------------------------------------------------------------------------

def test_an_s3_blip_on_one_image_is_retried_per_image(stack):
    from human_review.stages.discover import discover
    from human_review.stages.infer import infer

    keys = seed(stack, "in-blip", ["astronaut.png", "coffee.png"])
    run = run_context("in-blip", retries=2, keys=keys)
    [batch] = discover(run)
    # the first two reads of one image get 503 SlowDown (s3fs retries some itself; the stage the rest)
    stack.proxy.fail(lambda method, path: method == "GET" and "astronaut.png" in path, times=6)
    result = infer(run, batch)
    assert result.counts == {"predicted": 2}
    assert stack.proxy.injected >= 1


def test_an_s3_outage_on_one_image_fails_the_task_instead_of_inference_failed(stack):
    from human_review.stages.discover import discover
    from human_review.stages.infer import TransientBatchError, infer

    keys = seed(stack, "in-down", ["astronaut.png", "coffee.png"])
    run = run_context("in-down", keys=keys)
    [batch] = discover(run)
    stack.proxy.fail(lambda method, path: method == "GET" and "astronaut.png" in path)
    with pytest.raises(TransientBatchError, match="astronaut.png"):
        infer(run, batch)  # the old code wrote inference_failed for a fine image, and the run succeeded
    stack.proxy.fail(None)
    assert infer(run, batch).counts == {"predicted": 2}  # Airflow's retry


# items 6 and 13 -----------------------------------------------------------------------------------

def test_a_prefix_that_is_not_a_folder_finds_what_s3_lists(stack):
    from human_review.stages.discover import discover
    from human_review import storage

    seed(stack, "pfx", ["coffee.png", "chelsea.png"], key=lambda p, n: f"{p}/2026-11-{20 + len(n) % 2}/{n}")
    seed(stack, "pfx", ["rocket.jpg"], key=lambda p, n: f"{p}/2026-12-01/{n}")
    s3_says = [o["Key"] for o in stack.s3_client().list_objects_v2(Bucket=BUCKET, Prefix="pfx/2026-11")["Contents"]]
    run = run_context("pfx", prefix="pfx/2026-11")
    batches = discover(run)
    found = [i["key"] for b in batches for i in storage.read_json(b.manifest, "aws_default")["items"]]
    assert sorted(found) == sorted(s3_says) and len(found) == 2


def test_explicit_keys_with_a_leading_slash_or_spaces_are_found(stack):
    from human_review.stages.discover import discover
    from human_review.stages.infer import infer

    keys = seed(stack, "", ["coffee.png", "chelsea.png"], key=lambda p, n: {"coffee.png": "/lead/coffee.png",
                                                                         "chelsea.png": "odd/ chelsea.png "}[n])
    seed(stack, "plain", ["rocket.jpg"])
    run = run_context("keys-odd", keys=[*keys, "  plain/rocket.jpg"])  # the last one pasted with spaces
    [batch] = discover(run)
    from human_review import storage

    result = infer(run, batch)
    records = storage.read_jsonl(result.predictions, "aws_default")
    assert result.counts == {"predicted": 3}, [(r["key"], r.get("reason")) for r in records]
    assert sorted(r["key"] for r in records) == sorted([*keys, "plain/rocket.jpg"])


# Also: deleted sources, missed intervals --------------------------------------------------------------

def test_a_rerun_keeps_rows_of_images_deleted_since_as_source_gone(stack):
    from human_review.stages.discover import discover
    from human_review.stages.infer import infer
    from human_review.stages.report import report
    from human_review.stages.route import route

    keys = seed(stack, "gone", ["astronaut.png", "camera.png", "coffee.png"])
    run = run_context("gone", prefix="gone/")
    first = report_rows(stack, report(run, reviewed_run(stack, run)))
    assert sorted(first.index) == sorted(keys)
    stack.s3_client().delete_object(Bucket=BUCKET, Key="gone/astronaut.png")

    routed = [route(run, infer(run, b)) for b in discover(run)]  # the whole run, cleared and re-run
    rows = report_rows(stack, report(run, routed))
    assert sorted(rows.index) == sorted(keys)  # nothing silently dropped
    gone = rows.loc["gone/astronaut.png"]
    assert gone["status"] == "source_gone"
    assert f"after an earlier attempt of this run reported it as {first.loc['gone/astronaut.png', 'status']}" in gone["reason"]
    assert gone["final_answer"] == first.loc["gone/astronaut.png", "final_answer"]  # what people said is kept


def test_after_downtime_discover_covers_back_to_the_last_successful_run(stack):
    from human_review import storage
    from human_review.stages.discover import discover

    [key] = seed(stack, "missed", ["coffee.png"])
    now = dt.datetime.now(dt.timezone.utc)
    base = run_context("missed-1")
    # this run's own interval starts after the image arrived: the scheduler was down that night
    start, end = now + dt.timedelta(minutes=1), now + dt.timedelta(days=1)

    def found(previous_end):
        run = RunContext(config=base.config, run_key="missed", data_interval_start=start, data_interval_end=end,
                         params={"prefix": "missed/"}, previous_success_end=previous_end)
        return [i["key"] for b in discover(run) for i in storage.read_json(b.manifest, "aws_default")["items"]]

    assert key not in found(None)  # no earlier successful run known: its own interval only
    assert key in found(now - dt.timedelta(days=2))  # covers back to where the last good run ended
