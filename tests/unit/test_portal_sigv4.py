"""The review service's SigV4 check as a pure function: requests signed by botocore's own SigV4Auth
verify, and every way of getting a signature wrong is refused with AWS's error code."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from human_review.portal.errors import A2IError
from human_review.portal.sigv4 import verify

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
HOST = "review.local:8081"
BODY = json.dumps({"HumanLoopName": "loop-1"}).encode()


def signed(method="POST", target="/human-loops/stop", body=BODY, *, key="AKID", secret="SECRET",
           service="sagemaker", region="us-east-1", at=NOW, headers=None):
    """A request botocore signed at `at`, as it arrives: method, path, query, headers, body."""
    req = AWSRequest(method=method, url=f"http://{HOST}{target}", data=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    url = urlsplit(req.url)
    # The HTTP client adds Host; botocore signs it from the URL.
    return method, url.path, url.query, [*req.headers.items(), ("Host", HOST)], body


def check(method, path, query, headers, body, *, now=NOW):
    verify(method, path, query, headers, body, access_key_id="AKID", secret_access_key="SECRET", now=now)


def refused(request, *, now=NOW) -> A2IError:
    with pytest.raises(A2IError) as e:
        check(*request, now=now)
    assert e.value.status == 403
    return e.value


def test_requests_signed_by_botocore_verify():
    check(*signed())
    check(*signed(region="eu-west-1"))  # any region of the credential scope
    check(*signed("GET", "/human-loops?FlowDefinitionArn=arn%3Aaws%3Asagemaker%3Aus-east-1%3A000000000000"
                         "%3Aflow-definition%2Fx&MaxResults=5&SortOrder=Ascending", b""))
    check(*signed("GET", "/human-loops/loop-1", b""), now=NOW + timedelta(minutes=14))


def test_a_tampered_body_is_refused():
    method, path, query, headers, _body = signed()
    e = refused((method, path, query, headers, BODY.replace(b"loop-1", b"loop-2")))
    assert e.code == "InvalidSignatureException"
    assert e.message.startswith("The request signature we calculated does not match")


def test_a_signed_content_hash_must_be_the_bodys():
    for claimed in ("UNSIGNED-PAYLOAD", hashlib.sha256(b"other").hexdigest()):
        e = refused(signed(headers={"X-Amz-Content-SHA256": claimed}))
        assert e.code == "InvalidSignatureException" and "x-amz-content-sha256" in e.message
    check(*signed(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()}))


def test_wrong_secret_key_service_and_scope_are_refused():
    assert refused(signed(secret="not-the-secret")).code == "InvalidSignatureException"
    assert refused(signed(key="OTHER")).code == "UnrecognizedClientException"
    e = refused(signed(service="s3"))
    assert e.message == "Credential should be scoped to correct service: 'sagemaker'. "
    method, path, query, headers, body = signed()
    regionless = [(k, v.replace("/us-east-1/", "/")) if k == "Authorization" else (k, v) for k, v in headers]
    e = refused((method, path, query, regionless, body))
    assert e.code == "IncompleteSignatureException"
    assert e.message.startswith("Credential should be scoped to a valid region")
    with pytest.raises(A2IError) as e:
        verify(*signed(), access_key_id=None, secret_access_key=None, now=NOW)
    assert e.value.code == "UnrecognizedClientException"


def test_missing_and_incomplete_authorization_is_refused():
    method, path, query, headers, body = signed()
    bare = [(k, v) for k, v in headers if k != "Authorization"]
    assert refused((method, path, query, bare, body)).code == "MissingAuthenticationTokenException"
    for auth in ("Basic abc", "AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/sagemaker/aws4_request"):
        partial = [*bare, ("Authorization", auth)]
        assert refused((method, path, query, partial, body)).code == "IncompleteSignatureException"
    undated = [(k, v) for k, v in headers if k != "X-Amz-Date"]
    assert refused((method, path, query, undated, body)).code == "IncompleteSignatureException"
    hostless = [(k, v) for k, v in headers if k != "Host"]
    assert refused((method, path, query, hostless, body)).message.endswith("Signed header 'host' is missing.")


def test_stale_and_future_signatures_are_refused():
    e = refused(signed(), now=NOW + timedelta(minutes=16))
    assert e.code == "InvalidSignatureException"
    assert e.message.startswith("Signature expired: 20260301T120000Z")
    e = refused(signed(), now=NOW - timedelta(minutes=16))
    assert e.message.startswith("Signature not yet current: 20260301T120000Z")
