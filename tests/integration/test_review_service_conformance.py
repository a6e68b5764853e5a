"""Conformance of the local review service with A2I: SigV4, throttling, quota, model validation,
lifecycle, the image proxy, Airflow-style identity and the render-template CLI."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from fastapi import HTTPException, Request

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review_dev.stack import local_stack  # noqa: E402
from human_review.portal.app import create_app  # noqa: E402
from human_review.portal.server import serve_in_thread  # noqa: E402
from human_review.portal.settings import PortalSettings  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("review_service_conformance")]

FLOW = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/content-moderation"
NO_RETRY = Config(retries={"total_max_attempts": 1})


def doc(**extra) -> dict:
    d = {"taskObject": "s3://human-review-demo/incoming/x/a.png", "labelCategories": ["Suggestive"],
         "modelSummary": "m", "flaggedBy": ["f"], "modelLabels": []}
    d.update(extra)
    return d


def name(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code(e) -> tuple[str, int]:
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def client(url: str, key: str = "testing", secret: str = "testing", region: str = "us-east-1"):
    return boto3.client("sagemaker-a2i-runtime", endpoint_url=url, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret, config=NO_RETRY)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with local_stack(tmp_path_factory.mktemp("conformance")) as s:
        yield s


@pytest.fixture()
def app_server(tmp_path):
    """A service of its own with the given settings (no S3 needed)."""
    servers = []

    def make(_identity=None, **overrides):
        settings = PortalSettings(database_url=f"sqlite:///{tmp_path / f'db{len(servers)}.sqlite'}",
                                  aws_access_key_id="testing", aws_secret_access_key="testing", **overrides)
        app = create_app(settings, worker_identity=_identity)
        srv = serve_in_thread(app)
        servers.append((srv, app))
        return srv.url, app

    yield make
    for srv, app in servers:
        srv.stop()
        app.state.review_service.store.dispose()


# ---- SigV4 ---------------------------------------------------------------------------------------


def test_unsigned_request_is_refused(stack):
    r = httpx.get(f"{stack.review_url}/human-loops/anything")
    assert r.status_code == 403
    assert r.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    r = httpx.get(f"{stack.review_url}/human-loops/anything", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request"})
    assert r.status_code == 403 and r.headers["x-amzn-errortype"] == "IncompleteSignatureException"
    # botocore itself, without credentials
    from botocore import UNSIGNED

    anon = boto3.client("sagemaker-a2i-runtime", endpoint_url=stack.review_url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        anon.describe_human_loop(HumanLoopName="x")
    assert code(e) == ("MissingAuthenticationTokenException", 403)


def test_wrong_secret_wrong_key_and_forged_signature_are_refused(stack):
    with pytest.raises(ClientError) as e:
        client(stack.review_url, secret="not-the-secret").describe_human_loop(HumanLoopName="x")
    assert code(e) == ("InvalidSignatureException", 403)
    assert e.value.response["Error"]["Message"].startswith("The request signature we calculated does not match")
    with pytest.raises(ClientError) as e:
        client(stack.review_url, key="AKIAOTHER").describe_human_loop(HumanLoopName="x")
    assert code(e) == ("UnrecognizedClientException", 403)
    # A correctly signed request whose body is changed afterwards (a forged request).
    body = json.dumps({"HumanLoopName": name(), "FlowDefinitionArn": FLOW,
                       "HumanLoopInput": {"InputContent": json.dumps(doc())}})
    req = AWSRequest(method="POST", url=f"{stack.review_url}/human-loops", data=body,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("testing", "testing"), "sagemaker", "us-east-1").add_auth(req)
    ok_headers = dict(req.headers.items())
    forged = body.replace("content-moderation", "object-detection")
    r = httpx.post(f"{stack.review_url}/human-loops", content=forged, headers=ok_headers)
    assert r.status_code == 403 and r.headers["x-amzn-errortype"] == "InvalidSignatureException"
    # ... while the untouched request goes through (the check rebuilds requests faithfully)
    r = httpx.post(f"{stack.review_url}/human-loops", content=body, headers=ok_headers)
    assert r.status_code == 200, r.text
    # A signed x-amz-content-sha256 must be the body's hash: else a captured request could carry any body.
    for claimed in ("UNSIGNED-PAYLOAD", hashlib.sha256(body.encode()).hexdigest()):
        other = json.dumps({"HumanLoopName": name("forged"), "FlowDefinitionArn": FLOW,
                            "HumanLoopInput": {"InputContent": json.dumps(doc())}})
        req = AWSRequest(method="POST", url=f"{stack.review_url}/human-loops", data=body,
                         headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": claimed})
        SigV4Auth(Credentials("testing", "testing"), "sagemaker", "us-east-1").add_auth(req)
        r = httpx.post(f"{stack.review_url}/human-loops", content=other, headers=dict(req.headers.items()))
        assert r.status_code == 403 and r.headers["x-amzn-errortype"] == "InvalidSignatureException", claimed
    # Signed for another service
    req = AWSRequest(method="GET", url=f"{stack.review_url}/human-loops/x")
    SigV4Auth(Credentials("testing", "testing"), "s3", "us-east-1").add_auth(req)
    r = httpx.get(f"{stack.review_url}/human-loops/x", headers=dict(req.headers.items()))
    assert r.status_code == 403 and r.headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_stale_signature_is_refused(stack):
    past = datetime.now(timezone.utc) - timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past.replace(tzinfo=None)):
        with pytest.raises(ClientError) as e:
            client(stack.review_url).describe_human_loop(HumanLoopName="x")
    assert code(e) == ("InvalidSignatureException", 403)
    assert e.value.response["Error"]["Message"].startswith("Signature expired: ")


def test_signed_for_the_services_region_only_and_with_query_strings(stack):
    # AWS answers only for its own region: a credential scoped to another is refused (issue 12).
    with pytest.raises(ClientError) as e:
        client(stack.review_url, region="eu-west-1").describe_human_loop(HumanLoopName="no-such-loop-here")
    assert code(e) == ("InvalidSignatureException", 403)
    with pytest.raises(ClientError) as e:
        client(stack.review_url).describe_human_loop(HumanLoopName="no-such-loop-here")
    assert code(e) == ("ResourceNotFoundException", 404)
    after = datetime.now(timezone.utc) - timedelta(days=1)
    out = client(stack.review_url).list_human_loops(FlowDefinitionArn=FLOW, CreationTimeAfter=after, SortOrder="Ascending", MaxResults=5)
    assert "HumanLoopSummaries" in out


# ---- validation, lifecycle -----------------------------------------------------------------------


def test_model_validation_and_lifecycle(stack):
    a2i = client(stack.review_url)
    n = name()
    with pytest.raises(ClientError) as e:
        a2i.start_human_loop(HumanLoopName=n, FlowDefinitionArn=FLOW, HumanLoopInput={"InputContent": json.dumps(doc())},
                             DataAttributes={"ContentClassifiers": ["NotAClassifier"]})
    assert code(e) == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        a2i.list_human_loops(FlowDefinitionArn="arn:aws:sagemaker:us-east-1:1:flow-definition/x")
    assert code(e) == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        a2i.list_human_loops(FlowDefinitionArn=FLOW, SortOrder="Sideways")
    assert code(e) == ("ValidationException", 400)
    a2i.start_human_loop(HumanLoopName=n, FlowDefinitionArn=FLOW, HumanLoopInput={"InputContent": json.dumps(doc())},
                         DataAttributes={"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"]})
    with pytest.raises(ClientError) as e:  # same name, different input: ConflictException
        a2i.start_human_loop(HumanLoopName=n, FlowDefinitionArn=FLOW, HumanLoopInput={"InputContent": json.dumps(doc(modelSummary="x"))})
    assert code(e) == ("ConflictException", 409)
    with pytest.raises(ClientError) as e:
        a2i.delete_human_loop(HumanLoopName=n)
    assert code(e) == ("ValidationException", 400)
    a2i.stop_human_loop(HumanLoopName=n)
    assert a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] in ("Stopping", "Stopped")
    assert a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] == "Stopped"
    a2i.delete_human_loop(HumanLoopName=n)
    with pytest.raises(ClientError) as e:
        a2i.stop_human_loop(HumanLoopName=n)
    assert code(e) == ("ResourceNotFoundException", 404)


def test_throttling_and_in_flight_quota(app_server):
    url, _app = app_server(api_requests_per_second=2.0, max_in_flight_loops=2)
    a2i = client(url)
    # Quota: two loops in flight, the third is refused; a retry of an existing loop still works.
    names = [name("q") for _ in range(3)]
    codes = []
    import time

    for n in names:
        time.sleep(0.6)
        try:
            a2i.start_human_loop(HumanLoopName=n, FlowDefinitionArn=FLOW, HumanLoopInput={"InputContent": json.dumps(doc())})
            codes.append("ok")
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    assert codes == ["ok", "ok", "ServiceQuotaExceededException"] and status == 402
    time.sleep(0.6)
    a2i.start_human_loop(HumanLoopName=names[0], FlowDefinitionArn=FLOW, HumanLoopInput={"InputContent": json.dumps(doc())})
    # Throttling: a burst beyond 2 requests per second gets 429 ThrottlingException.
    seen = []
    for _ in range(6):
        try:
            a2i.describe_human_loop(HumanLoopName=names[0])
            seen.append(200)
        except ClientError as e:
            seen.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert ("ThrottlingException", 429) in seen
    # botocore's standard retry mode backs off and gets through (what the pipeline's hook uses).
    patient = boto3.client("sagemaker-a2i-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing",
                           config=Config(retries={"mode": "standard", "max_attempts": 10}))
    for _ in range(4):
        patient.describe_human_loop(HumanLoopName=names[0])


# ---- the worker portal: identity and the image proxy -----------------------------------------------


def test_image_proxy_serves_only_objects_of_the_reviewers_open_task(stack):
    s3 = stack.s3_client()
    png = b"\x89PNG\r\n\x1a\n" + b"1" * 16
    s3.put_object(Bucket=stack.bucket, Key="incoming/proxy/mine.png", Body=png, ContentType="image/png")
    s3.put_object(Bucket=stack.bucket, Key="incoming/proxy/secret.png", Body=b"secret", ContentType="image/png")
    n = name("px")
    stack.a2i_client().start_human_loop(HumanLoopName=n, FlowDefinitionArn=FLOW, HumanLoopInput={
        "InputContent": json.dumps(doc(taskObject=f"s3://{stack.bucket}/incoming/proxy/mine.png"))})
    service = stack.review_server._server.config.app.state.review_service
    from human_review.portal.tokens import image_token

    with httpx.Client(base_url=stack.review_url, headers={"X-Worker-Id": "pam"}) as pam, \
            httpx.Client(base_url=stack.review_url, headers={"X-Worker-Id": "sam"}) as sam:
        task = None
        while True:  # claim until we hold the loop under test (other tests' loops may be queued)
            r = pam.post("/worker/api/queues/content-moderation/claim")
            assert r.status_code == 200
            if r.json()["humanLoopName"] == n:
                task = r.json()
                break
            pam.post(f"/worker/api/tasks/{r.json()['taskId']}/submit", json={"answerContent": {}})
        page = pam.get(task["taskUrl"])
        src = re.search(r'src="\.\./images\?token=([^"]+)"', page.text).group(1).replace("&amp;", "&")
        assert pam.get("/worker/images", params={"token": src}).content == png
        # The same token is refused to another reviewer.
        assert sam.get("/worker/images", params={"token": src}).status_code == 403
        # A validly signed token for an object that is not in the reviewer's task is refused.
        ttl = service.settings.image_token_ttl_seconds
        forged = image_token(service.secret, f"s3://{stack.bucket}/incoming/proxy/secret.png", ttl, worker_id="pam", task_id=task["taskId"])
        r = pam.get("/worker/images", params={"token": forged})
        assert r.status_code == 403 and b"secret" not in r.content
        # ... and a token without a task (the old, unbound kind) too.
        old = image_token(service.secret, f"s3://{stack.bucket}/incoming/proxy/secret.png", ttl)
        assert pam.get("/worker/images", params={"token": old}).status_code == 403
        # Once submitted, the task's images are no longer served.
        pam.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {}})
        assert pam.get("/worker/images", params={"token": src}).status_code == 403


def test_external_identity_ignores_worker_header_and_cookie(app_server):
    def identity(request: Request) -> str:
        user = request.headers.get("x-test-user")
        if not user:
            raise HTTPException(status_code=401, detail="Not authenticated")
        return user

    url, _app = app_server(_identity=identity)
    assert httpx.get(f"{url}/worker/", headers={"X-Worker-Id": "mallory"}).status_code == 401
    r = httpx.get(f"{url}/worker/api/queues", headers={"x-test-user": "alice", "X-Worker-Id": "mallory"})
    assert r.status_code == 200 and r.json()["workerId"] == "alice"
    page = httpx.get(f"{url}/worker/", headers={"x-test-user": "alice"})
    assert "alice" in page.text and "Sign out" not in page.text


def test_airflow_plugin_declares_app_and_view():
    import review_portal_plugin as plugin

    p = plugin.ReviewPortalPlugin
    (app,) = p.fastapi_apps
    assert app["url_prefix"] == "/review" and app["app"] is plugin.review_app
    (view,) = p.external_views
    assert view["name"] == "Review queue" and view["href"] == "/review/worker/"


# ---- render-template CLI -------------------------------------------------------------------------


def test_render_template_cli(tmp_path, capsys):
    from human_review.cli import main

    tpl = ROOT / "include" / "templates" / "moderation.liquid.html"
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps({"InputContent": json.dumps(doc(fileName="<script>alert(1)</script>"))}))
    assert main(["render-template", str(tpl), "--input", str(inp)]) == 0
    out = capsys.readouterr()
    assert "<crowd-rekognition-detect-moderation-labels" in out.out and "&lt;script&gt;alert(1)" in out.out
    assert "<script>alert(1)" not in out.out and "https://human-review-demo.s3.amazonaws.com/incoming/x/a.png" in out.out
    # An undefined variable renders empty as on A2I, with a warning; with --strict: stderr, exit 1.
    bad = tmp_path / "bad.html"
    bad.write_text("<p>{{ task.input.nope }}</p>")
    assert main(["render-template", str(bad), "--input", str(inp)]) == 0
    out = capsys.readouterr()
    assert out.out == "<p></p>" and "task.input.nope" in out.err
    assert main(["render-template", str(bad), "--input", str(inp), "--strict"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "nope" in out.err
    # A bad URI given to grant_read_access.
    inp.write_text(json.dumps(doc(taskObject="http://example.com/a.png")))
    assert main(["render-template", str(tpl), "--input", str(inp)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "grant_read_access" in out.err
