"""The local A2I-compatible review service, against a real running server with the real boto3 client."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review import config  # noqa: E402
from human_review_dev.stack import local_stack  # noqa: E402
from human_review.portal.render import TemplateRenderError, render_template  # noqa: E402
from human_review_dev.reviewers import MODERATION_KEY, SimulatedReviewers  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("review_service")]

OUTPUT_KEY = re.compile(r"^(?P<prefix>.+)/(?P<flow>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}/\d{2}/(?P<loop>[a-z0-9-]+)/output\.json$")
A2I_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class OffsetClock:
    """Real time plus an offset the tests can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def write_pipeline(directory: Path, pipeline_id: str, *, template_from: str = "content_moderation.yaml", **flow) -> None:
    """A valid pipeline file derived from one of the project's, with its own flow definition."""
    raw = yaml.safe_load((config.PIPELINES_DIR / template_from).read_text())
    raw["pipeline"] = pipeline_id
    fd = raw["review"]["flow_definition"]
    fd.pop("arn", None)
    fd["name"] = pipeline_id
    fd.update(flow)
    (directory / f"{pipeline_id.replace('-', '_')}.yaml").write_text(yaml.safe_dump(raw))


def flow_arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{name}"


def moderation_input(**extra) -> dict:
    doc = {
        "taskObject": "s3://human-review-demo/incoming/2026-11-20/astronaut.png",
        "objectKey": "incoming/2026-11-20/astronaut.png",
        "pipeline": "content-moderation",
        "flaggedBy": ["ModerationLabelConfidenceCheck Suggestive < 98"],
        "modelSummary": "Suggestive 3.2%",
        "prediction": {"ModerationLabels": [{"Name": "Suggestive", "ParentName": "", "Confidence": 3.2}]},
        "labelCategories": ["Explicit Nudity", "Suggestive", "Violence", "Visually Disturbing", "Female Swimwear Or Underwear"],
        "modelLabels": [
            {"name": "Suggestive", "parentName": "", "confidence": 3.2},
            {"name": "Violence", "parentName": "", "confidence": 88.0},
        ],
    }
    doc.update(extra)
    return doc


def detection_input(**extra) -> dict:
    doc = {
        "taskObject": "s3://human-review-demo/incoming/2026-11-20/faces.png",
        "objectKey": "incoming/2026-11-20/faces.png",
        "pipeline": "object-detection",
        "flaggedBy": ["DetectionConfidenceCheck face < 80"],
        "modelSummary": "2 faces",
        "prediction": {},
        "labels": ["face"],
        "initialValue": [
            {"label": "face", "left": 10, "top": 20, "width": 100, "height": 120, "confidence": 97.1},
            {"label": "face", "left": 300, "top": 200, "width": 50, "height": 60, "confidence": 31.0},
        ],
        "imageWidth": 512,
        "imageHeight": 512,
    }
    doc.update(extra)
    return doc


def start(a2i, name: str, flow: str, doc: dict) -> str:
    return a2i.start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=flow_arn(flow), HumanLoopInput={"InputContent": json.dumps(doc)}
    )["HumanLoopArn"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def wait_status(a2i, name: str, status: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = a2i.describe_human_loop(HumanLoopName=name)
        if d["HumanLoopStatus"] == status or time.monotonic() > deadline:
            return d
        time.sleep(0.05)


def read_output(stack, uri: str) -> dict:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def worker(stack, worker_id: str) -> httpx.Client:
    return httpx.Client(base_url=stack.review_url, headers={"X-Worker-Id": worker_id}, timeout=10)


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pipelines")
    for f in ("content_moderation.yaml", "object_detection.yaml"):
        (d / f).write_text((config.PIPELINES_DIR / f).read_text())
    write_pipeline(d, "list-check")
    write_pipeline(d, "sim-moderation")
    write_pipeline(d, "two-reviewers", task_count=2)
    write_pipeline(d, "quick-expiry", availability_lifetime_seconds=1)
    write_pipeline(d, "time-limit", time_limit_seconds=30)
    write_pipeline(d, "escape-check")
    (d / "broken.yaml").write_text("pipeline: broken\n")  # logged and skipped
    return d


@pytest.fixture(scope="module")
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, pipelines_dir, clock):
    with local_stack(tmp_path_factory.mktemp("stack"), pipelines_dir=pipelines_dir, clock=clock) as s:
        yield s


@pytest.fixture(scope="module")
def a2i(stack):
    return stack.a2i_client()


# ---- the A2I runtime API --------------------------------------------------------------------------


def test_local_stack_shape(stack):
    assert stack.aws_conn_extra == {
        "region_name": "us-east-1",
        "service_config": {
            "s3": {"endpoint_url": stack.s3_endpoint_url},
            "sagemaker-a2i-runtime": {"endpoint_url": stack.review_url},
        },
    }
    conn = json.loads(stack.airflow_conn_json())
    assert conn == {"conn_type": "aws", "login": "testing", "password": "testing", "extra": stack.aws_conn_extra}
    assert stack.env["AIRFLOW_CONN_AWS_DEFAULT"] == stack.airflow_conn_json()
    assert stack.env["HUMAN_REVIEW_BUCKET"] == stack.bucket
    stack.s3_client().head_bucket(Bucket=stack.bucket)


def test_start_describe_idempotent_and_conflict(a2i):
    name = unique("start")
    doc = moderation_input()
    arn = start(a2i, name, "content-moderation", doc)
    assert arn == f"arn:aws:sagemaker:us-east-1:000000000000:human-loop/{name}"
    d = a2i.describe_human_loop(HumanLoopName=name)
    assert d["HumanLoopStatus"] == "InProgress"
    assert d["HumanLoopName"] == name and d["HumanLoopArn"] == arn
    assert d["FlowDefinitionArn"] == flow_arn("content-moderation")
    assert abs(d["CreationTime"] - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert "HumanLoopOutput" not in d
    # Same name, same input: the same loop (retries are safe).
    assert start(a2i, name, "content-moderation", doc) == arn
    # Same name, different input: ConflictException.
    with pytest.raises(ClientError) as e:
        start(a2i, name, "content-moderation", moderation_input(modelSummary="other"))
    assert error_code(e) == "ConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_validation_errors(a2i):
    with pytest.raises(ClientError) as e:
        start(a2i, "Bad_Name", "content-moderation", moderation_input())
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        start(a2i, "x" * 64, "content-moderation", moderation_input())
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        start(a2i, unique("nof"), "no-such-flow", moderation_input())
    assert error_code(e) == "ValidationException"
    assert flow_arn("no-such-flow") in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        a2i.start_human_loop(
            HumanLoopName=unique("notjson"), FlowDefinitionArn=flow_arn("content-moderation"),
            HumanLoopInput={"InputContent": "not json {"},
        )
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        a2i.start_human_loop(
            HumanLoopName=unique("big"), FlowDefinitionArn=flow_arn("content-moderation"),
            HumanLoopInput={"InputContent": json.dumps({"x": "a" * 3_145_728})},
        )
    assert error_code(e) == "ValidationException"
    for call in (a2i.describe_human_loop, a2i.stop_human_loop, a2i.delete_human_loop):
        with pytest.raises(ClientError) as e:
            call(HumanLoopName="no-such-loop")
        assert error_code(e) == "ResourceNotFoundException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        a2i.list_human_loops(FlowDefinitionArn=flow_arn("no-such-flow"))
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        a2i.list_human_loops(FlowDefinitionArn=flow_arn("content-moderation"), MaxResults=101)
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        a2i.list_human_loops(FlowDefinitionArn=flow_arn("content-moderation"), NextToken="garbage!")
    assert error_code(e) == "ValidationException"
    # Deleting a loop still in progress is refused.
    name = unique("busy")
    start(a2i, name, "content-moderation", moderation_input())
    with pytest.raises(ClientError) as e:
        a2i.delete_human_loop(HumanLoopName=name)
    assert error_code(e) == "ValidationException"


def test_list_pagination_sort_and_creation_filter(a2i):
    names = []
    for i in range(5):
        names.append(f"list-{uuid.uuid4().hex[:6]}-{i}")
        start(a2i, names[-1], "list-check", moderation_input(objectKey=f"k{i}"))
        time.sleep(0.01)
    arn = flow_arn("list-check")

    def all_pages(**kw):
        out, pages, token = [], 0, None
        while True:
            resp = a2i.list_human_loops(FlowDefinitionArn=arn, MaxResults=2, **kw, **({"NextToken": token} if token else {}))
            pages += 1
            assert len(resp["HumanLoopSummaries"]) <= 2
            out += [s["HumanLoopName"] for s in resp["HumanLoopSummaries"]]
            token = resp.get("NextToken")
            if not token:
                return out, pages

    desc, pages = all_pages()
    assert desc == names[::-1] and pages == 3  # default: Descending
    asc, _ = all_pages(SortOrder="Ascending")
    assert asc == names
    summaries = a2i.list_human_loops(FlowDefinitionArn=arn, SortOrder="Ascending")["HumanLoopSummaries"]
    assert [s["HumanLoopStatus"] for s in summaries] == ["InProgress"] * 5
    assert all(s["FlowDefinitionArn"] == arn for s in summaries)
    third = a2i.describe_human_loop(HumanLoopName=names[2])["CreationTime"]
    after, _ = all_pages(SortOrder="Ascending", CreationTimeAfter=third)
    assert after == names[3:]
    before = a2i.list_human_loops(FlowDefinitionArn=arn, SortOrder="Ascending", CreationTimeBefore=third)
    assert [s["HumanLoopName"] for s in before["HumanLoopSummaries"]] == names[:2]
    # The paginator works too.
    got = [s["HumanLoopName"] for page in a2i.get_paginator("list_human_loops").paginate(
        FlowDefinitionArn=arn, PaginationConfig={"PageSize": 2}) for s in page["HumanLoopSummaries"]]
    assert got == names[::-1]


def test_stop_then_delete(a2i):
    name = unique("stop")
    start(a2i, name, "content-moderation", moderation_input())
    a2i.stop_human_loop(HumanLoopName=name)
    assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] in ("Stopping", "Stopped")
    assert wait_status(a2i, name, "Stopped")["HumanLoopStatus"] == "Stopped"
    a2i.stop_human_loop(HumanLoopName=name)  # stopping again is harmless
    a2i.delete_human_loop(HumanLoopName=name)
    with pytest.raises(ClientError) as e:
        a2i.describe_human_loop(HumanLoopName=name)
    assert error_code(e) == "ResourceNotFoundException"
    names = [s["HumanLoopName"] for s in a2i.list_human_loops(FlowDefinitionArn=flow_arn("content-moderation"))["HumanLoopSummaries"]]
    assert name not in names
    # The name is free again.
    start(a2i, name, "content-moderation", moderation_input(objectKey="again"))


# ---- reviewers, outputs, lifecycle ------------------------------------------------------------


def test_simulated_reviewers_complete_loops_and_write_a2i_output(stack, a2i):
    names = [unique("sim") for _ in range(3)]
    doc = moderation_input()
    for n in names:
        start(a2i, n, "sim-moderation", doc)
    with SimulatedReviewers(stack.review_url, ["sim-moderation"], policy="agree", workers=2) as reviewers:
        assert reviewers.wait_for(3, timeout=15), reviewers.errors
    assert reviewers.answered == 3
    assert {s.worker_id for s in reviewers.submissions} <= {"simulated-reviewer-1", "simulated-reviewer-2"}
    for n in names:
        d = wait_status(a2i, n, "Completed")
        assert d["HumanLoopStatus"] == "Completed"
        uri = d["HumanLoopOutput"]["OutputS3Uri"]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        m = OUTPUT_KEY.match(key)
        assert m and m["flow"] == "sim-moderation" and m["loop"] == n and m["prefix"] == "a2i-output", key
        created = d["CreationTime"].astimezone(timezone.utc)
        assert created.strftime("%Y/%m/%d/%H/%M/%S") in key
        out = read_output(stack, uri)
        assert sorted(out) == ["flowDefinitionArn", "humanAnswers", "humanLoopName", "inputContent"]
        assert out["flowDefinitionArn"] == flow_arn("sim-moderation")
        assert out["humanLoopName"] == n
        assert out["inputContent"] == doc
        (ans,) = out["humanAnswers"]
        assert sorted(ans) == ["acceptanceTime", "answerContent", "submissionTime", "timeSpentInSeconds", "workerId", "workerMetadata"]
        assert A2I_TIME.match(ans["acceptanceTime"]) and A2I_TIME.match(ans["submissionTime"])
        # opaque ids as A2I writes them; the reviewer's name sits in reviewers.json next to output.json
        assert re.fullmatch(r"[0-9a-f]{16}", ans["workerId"])
        identity = ans["workerMetadata"]["identityData"]
        assert identity["identityProviderType"] == "Oidc" and identity["issuer"].startswith("https://")
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", identity["sub"])
        names = json.loads(stack.s3_client().get_object(
            Bucket=bucket, Key=key.rsplit("/", 1)[0] + "/reviewers.json")["Body"].read())
        assert names[ans["workerId"]] in {"simulated-reviewer-1", "simulated-reviewer-2"}
        assert ans["answerContent"] == {MODERATION_KEY: {"moderationLabels": [
            {"name": "Suggestive", "parentName": ""}, {"name": "Violence", "parentName": ""}]}}


def test_simulated_reviewers_correct_boxes(stack, a2i):
    name = unique("det")
    start(a2i, name, "object-detection", detection_input())
    with SimulatedReviewers(stack.review_url, ["object-detection"], policy="correct") as reviewers:
        assert reviewers.wait_for(1, timeout=10), reviewers.errors
    d = wait_status(a2i, name, "Completed")
    out = read_output(stack, d["HumanLoopOutput"]["OutputS3Uri"])
    answer = out["humanAnswers"][0]["answerContent"]
    assert list(answer) == ["annotatedResult"]  # the crowd-bounding-box's name in the template
    boxes = answer["annotatedResult"]["boundingBoxes"]
    assert len(boxes) == 1  # the 31% box was dropped
    b = boxes[0]
    assert b["label"] == "face" and "initialValueModified" not in b
    assert answer["annotatedResult"]["initialValueModified"] is True
    assert (b["left"], b["top"]) != (10, 20) and abs(b["left"] - 10) <= 4 and abs(b["top"] - 20) <= 4
    assert answer["annotatedResult"]["inputImageProperties"] == {"width": 512, "height": 512}


def test_task_count_two_needs_two_distinct_workers(stack, a2i):
    name = unique("two")
    start(a2i, name, "two-reviewers", moderation_input())
    with worker(stack, "alice") as alice:
        r = alice.post("/worker/api/queues/two-reviewers/claim")
        assert r.status_code == 200 and r.json()["humanLoopName"] == name
        task = r.json()
        r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {"by": "alice"}})
        assert r.status_code == 200 and r.json()["humanLoopStatus"] == "InProgress"
        # The same worker never answers the same loop twice.
        assert alice.post("/worker/api/queues/two-reviewers/claim").status_code == 204
        assert alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {}}).status_code in (404, 409)
    assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
    with SimulatedReviewers(stack.review_url, ["two-reviewers"]) as reviewers:
        assert reviewers.wait_for(1, timeout=10), reviewers.errors
    d = wait_status(a2i, name, "Completed")
    out = read_output(stack, d["HumanLoopOutput"]["OutputS3Uri"])
    from human_review.portal.outputs import worker_identity

    issuer = stack.settings.issuer
    assert [a["workerId"] for a in out["humanAnswers"]] == [
        worker_identity(issuer, "alice")[0], worker_identity(issuer, "simulated-reviewer-1")[0]]
    # stable per reviewer, distinct between reviewers
    assert len({a["workerMetadata"]["identityData"]["sub"] for a in out["humanAnswers"]}) == 2


def test_loop_expires_when_availability_lifetime_passes(stack, a2i):
    name = unique("exp")
    start(a2i, name, "quick-expiry", moderation_input())
    assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
    time.sleep(1.1)
    d = a2i.describe_human_loop(HumanLoopName=name)
    assert d["HumanLoopStatus"] == "Failed" and d["FailureCode"] == "Expired" and d["FailureReason"]
    with worker(stack, "alice") as alice:
        assert alice.post("/worker/api/queues/quick-expiry/claim").status_code == 204
    a2i.delete_human_loop(HumanLoopName=name)  # a finished loop can be deleted


def test_claim_past_time_limit_returns_to_queue(stack, a2i, clock):
    name = unique("tl")
    start(a2i, name, "time-limit", moderation_input())
    with worker(stack, "alice") as alice, worker(stack, "bob") as bob:
        first = alice.post("/worker/api/queues/time-limit/claim").json()
        assert first["humanLoopName"] == name
        assert bob.post("/worker/api/queues/time-limit/claim").status_code == 204
        clock.advance(31)  # time_limit_seconds is 30
        r = bob.post("/worker/api/queues/time-limit/claim")
        assert r.status_code == 200 and r.json()["humanLoopName"] == name
        # Alice's lapsed claim can no longer be submitted.
        late = alice.post(f"/worker/api/tasks/{first['taskId']}/submit", json={"answerContent": {"late": True}})
        assert late.status_code in (404, 409)
        ok = bob.post(f"/worker/api/tasks/{r.json()['taskId']}/submit", json={"answerContent": {"by": "bob"}})
        assert ok.status_code == 200 and ok.json()["answers"] == ok.json()["taskCount"] == 1
        # output.json is written in the background; a Describe meanwhile finalizes the loop itself
        assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "Completed"
    # Release also puts a task back.
    name2 = unique("tl")
    start(a2i, name2, "time-limit", moderation_input(objectKey="2"))
    with worker(stack, "carol") as carol, worker(stack, "dave") as dave:
        t = carol.post("/worker/api/queues/time-limit/claim").json()
        assert carol.post(f"/worker/api/tasks/{t['taskId']}/release").status_code == 200
        assert dave.post("/worker/api/queues/time-limit/claim").json()["humanLoopName"] == name2


def test_task_page_escapes_input_and_loads_no_external_script(stack, a2i):
    name = unique("esc")
    image_key = "incoming/escape/pixel.png"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    stack.s3_client().put_object(Bucket=stack.bucket, Key=image_key, Body=png, ContentType="image/png")
    start(a2i, name, "escape-check", moderation_input(
        taskObject=f"s3://{stack.bucket}/{image_key}", modelSummary="<script>alert('pwned')</script>",
        fileName="<script>alert('pwned')</script>",  # shown in the template's header and the workbench bar
        flaggedBy=['"><img src=x onerror=alert(1)>']))
    with httpx.Client(base_url=stack.review_url, timeout=10) as browser:
        assert "worker_id" in browser.get("/worker/").text  # sign-in form
        r = browser.post("/worker/login", data={"worker_id": "erin"})
        assert r.status_code == 303
        home = browser.get("/worker/")
        assert "escape-check" in home.text and "erin" in home.text
        queues = browser.get("/worker/api/queues").json()["queues"]
        assert next(q for q in queues if q["flowDefinitionName"] == "escape-check")["available"] >= 1
        # The browser flow: "Start working" claims and redirects to the task page.
        r = browser.post("/worker/queues/escape-check/next")
        assert r.status_code == 303 and "/worker/tasks/" in r.headers["location"]
        page = browser.get(r.headers["location"])
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html and "&lt;script&gt;alert" in html
        assert "<img src=x" not in html
        assert "assets.crowd.aws" not in html
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all("http" not in s for s in scripts), scripts
        assert any("crowd-html-elements.js" in s for s in scripts)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        js = browser.get("/worker/static/crowd-html-elements.js")
        assert js.status_code == 200 and "crowd-bounding-box" in js.text
        # The image goes through the signed proxy.
        src = re.search(r'src="(\.\./images\?token=[^"]+)"', html).group(1).replace("&amp;", "&")
        img_url = httpx.URL(str(page.url)).join(src)
        img = browser.get(img_url)
        assert img.status_code == 200 and img.content == png and img.headers["content-type"] == "image/png"
        token = img_url.params["token"]
        assert browser.get("/worker/images", params={"token": token[:-2] + "xx"}).status_code == 403


def test_render_template_filters_and_strict_undefined():
    out = render_template(
        "{{ task.input.a }}|{{ task.input.a | skip_encoding }}|{{ task.input.l | to_json }}|{{ task.input.s | grant_read_access }}",
        {"a": "<b>", "l": [1], "s": "s3://b/k"},
        image_url=lambda uri: f"/img?u={uri}",
    )
    assert out == "&lt;b&gt;|<b>|[1]|/img?u=s3://b/k"
    with pytest.raises(TemplateRenderError, match="task.input.missing"):
        render_template("{{ task.input.missing }}", {})


def test_state_survives_restart(tmp_path, pipelines_dir):
    name = unique("restart")
    with local_stack(tmp_path, pipelines_dir=pipelines_dir) as first:
        a2i = first.a2i_client()
        start(a2i, name, "two-reviewers", moderation_input())
        with worker(first, "alice") as alice:
            t = alice.post("/worker/api/queues/two-reviewers/claim").json()
            assert alice.post(f"/worker/api/tasks/{t['taskId']}/submit", json={"answerContent": {"n": 1}}).status_code == 200
    with local_stack(tmp_path, pipelines_dir=pipelines_dir) as second:
        a2i = second.a2i_client()
        assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
        with worker(second, "alice") as alice:
            assert alice.post("/worker/api/queues/two-reviewers/claim").status_code == 204  # answered before restart
        with worker(second, "bob") as bob:
            t = bob.post("/worker/api/queues/two-reviewers/claim").json()
            assert bob.post(f"/worker/api/tasks/{t['taskId']}/submit", json={"answerContent": {"n": 2}}).status_code == 200
        d = a2i.describe_human_loop(HumanLoopName=name)
        assert d["HumanLoopStatus"] == "Completed"
        out = read_output(second, d["HumanLoopOutput"]["OutputS3Uri"])
        assert [a["answerContent"] for a in out["humanAnswers"]] == [{"n": 1}, {"n": 2}]


def test_simulated_reviewers_say_why_when_the_portal_refuses_sign_in(tmp_path, pipelines_dir):
    """A portal without name-only sign-in (the default since it became a security boundary) refuses the
    simulated reviewers: they stop and say so, instead of retrying forever while a DAG run waits."""
    with local_stack(tmp_path, pipelines_dir=pipelines_dir, open_sign_in=False, allow_worker_id_header=False) as s:
        start(s.a2i_client(), unique("refused"), "two-reviewers", moderation_input())
        with SimulatedReviewers(s.review_url, ["two-reviewers"], workers=2) as reviewers:
            with pytest.raises(RuntimeError, match=r"sign-in refused \(HTTP 403\).*OPEN_SIGN_IN"):
                reviewers.wait_for(1, timeout=30)
        assert reviewers.answered == 0
