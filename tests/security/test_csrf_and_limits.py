"""Attacks: a page on another origin posts to the portal with the reviewer's cookie (CSRF, login CSRF,
a text/plain answer); a 300 MB body with a bad signature; a 50 MB answer; deeply nested JSON.

Before: every POST was accepted whatever its Origin, submit parsed any content type, the runtime API
read the whole body before checking its signature, answers had no size limit and nesting gave 500."""

from __future__ import annotations

import base64
import socket
import time

import httpx
import pytest

from .conftest import moderation_doc

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("security_portal")]

EVIL = "https://evil.example"
MOD = "AWS/Rekognition/DetectModerationLabels/Image/V3"


def test_login_from_another_origin_is_refused(portal):
    r = httpx.post(f"{portal.url}/worker/login", data={"worker_id": "alice", "password": "alice-correct-horse"},
                   headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and "Cross-site" in r.text
    r = httpx.post(f"{portal.url}/worker/login", data={"worker_id": "alice", "password": "alice-correct-horse"},
                   headers={"Sec-Fetch-Site": "cross-site"})  # a browser that omitted Origin
    assert r.status_code == 403
    r = httpx.post(f"{portal.url}/worker/login", data={"worker_id": "alice", "password": "alice-correct-horse"},
                   headers={"Origin": "null"})  # a sandboxed iframe / data: page
    assert r.status_code == 403


def test_claim_submit_release_from_another_origin_are_refused(portal):
    name = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/incoming/c.png"))
    alice = portal.sign_in("alice")
    task = portal.claim(alice, "content-moderation", name)
    evil = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    answer = {"answerContent": {MOD: {"moderationLabels": [{"name": "Violence"}]}}}
    assert alice.post("/worker/api/queues/content-moderation/claim", headers=evil).status_code == 403
    assert alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json=answer, headers=evil).status_code == 403
    assert alice.post(f"/worker/api/tasks/{task['taskId']}/release", headers=evil).status_code == 403
    assert alice.post(f"/worker/tasks/{task['taskId']}/release", headers=evil).status_code == 403
    assert alice.post("/worker/logout", headers=evil).status_code == 403
    # A form post needs no preflight: text/plain carrying JSON is refused whatever its origin.
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", content=b'{"answerContent": {}}',
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    # The portal's own page (same origin) still works.
    own = {"Origin": portal.url, "Sec-Fetch-Site": "same-origin"}
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json=answer, headers=own)
    assert r.status_code == 200, r.text
    alice.close()


def _raw_post(url: str, path: str, headers: dict[str, str], body_prefix: bytes, wait: float = 10.0) -> tuple[bytes, float]:
    """Send headers and only the first bytes of the body; return what the server answered and how fast."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        t = time.perf_counter()
        s.sendall(head.encode() + b"\r\n" + body_prefix)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data, time.perf_counter() - t


def test_a_300_mb_body_with_a_bad_signature_is_refused_before_it_is_read(portal):
    bad_sig = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request, "
               "SignedHeaders=host, Signature=" + "0" * 64)
    answer, seconds = _raw_post(portal.url, "/human-loops", {
        "Content-Type": "application/json", "Authorization": bad_sig, "Content-Length": str(300 * 1024 * 1024),
    }, b"{" + b" " * 65536)
    # The service answers at once, having read at most the cap: the other 299.9 MB are never sent.
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert seconds < 10


def test_a_chunked_body_is_stopped_at_the_cap(portal):
    cap = portal.service.settings.max_request_bytes

    def chunks():
        for _ in range(cap // 65536 + 20):
            yield b" " * 65536

    r = httpx.post(f"{portal.url}/human-loops", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["__type"] == "ValidationException"


def test_an_oversized_answer_is_refused(portal):
    name = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/incoming/d.png"))
    alice = portal.sign_in("alice")
    task = portal.claim(alice, "content-moderation", name)
    cap = portal.service.settings.max_answer_bytes
    big = {"answerContent": {MOD: {"moderationLabels": []}, "notes": "x" * (cap + 1)}}
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json=big)
    assert r.status_code == 413 and str(cap) in r.text
    alice.post(f"/worker/api/tasks/{task['taskId']}/release")
    alice.close()


def test_deeply_nested_json_is_a_validation_error_not_a_500(portal):
    nested = b"[" * 20_000 + b"]" * 20_000  # 40 kB: under the answer cap, deeper than the parser goes
    name = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/incoming/e.png"))
    alice = portal.sign_in("alice")
    task = portal.claim(alice, "content-moderation", name)
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", content=b'{"answerContent": ' + nested + b"}",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    alice.post(f"/worker/api/tasks/{task['taskId']}/release")
    alice.close()
    from botocore.exceptions import ClientError

    from botocore.config import Config

    a2i = __import__("boto3").client("sagemaker-a2i-runtime", endpoint_url=portal.url, region_name="us-east-1",
                                      aws_access_key_id="testing", aws_secret_access_key="testing",
                                      config=Config(retries={"total_max_attempts": 1}))
    flow = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/content-moderation"
    with pytest.raises(ClientError) as e:
        a2i.start_human_loop(HumanLoopName="nested", FlowDefinitionArn=flow,
                             HumanLoopInput={"InputContent": "[" * 20_000 + "]" * 20_000})
    assert e.value.response["Error"]["Code"] == "ValidationException", e.value.response
    # out-of-range timestamps and NextTokens: ValidationException, not 500 (signed by hand: botocore
    # refuses to send such timestamps itself, but any HTTP client can)
    token = base64.urlsafe_b64encode(b'{"after": 100000000000000000000000, "flow": "content-moderation", '
                                     b'"order": "Descending"}').decode()
    for query in ({"CreationTimeAfter": "1e20"}, {"CreationTimeBefore": "-1e20"}, {"NextToken": token}):
        r = _signed_get(portal.url, "/human-loops", {"FlowDefinitionArn": flow, **query})
        assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "ValidationException", (query, r.text)


def _signed_get(url: str, path: str, query: dict[str, str]) -> httpx.Response:
    from urllib.parse import urlencode

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="GET", url=f"{url}{path}?{urlencode(query)}")
    SigV4Auth(Credentials("testing", "testing"), "sagemaker", "us-east-1").add_auth(req)
    return httpx.get(req.url, headers=dict(req.headers.items()))


def test_docs_and_openapi_are_closed_outside_dev(portal):
    assert httpx.get(f"{portal.url}/docs").status_code == 404
    assert httpx.get(f"{portal.url}/openapi.json").status_code == 404
    assert "flowDefinitions" not in httpx.get(f"{portal.url}/healthz").json()


def test_sigv4_refuses_a_credential_scoped_to_another_region(portal):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    other = boto3.client("sagemaker-a2i-runtime", endpoint_url=portal.url, region_name="eu-west-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing",
                         config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        other.describe_human_loop(HumanLoopName="anything")
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException", e.value.response
    assert "region" in e.value.response["Error"]["Message"]
