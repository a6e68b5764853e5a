"""AWS Signature Version 4 for the A2I runtime API, checked like AWS checks it.

`verify` is pure: it takes the request as it came over the wire (method, raw path and query, the
header pairs, the body), the service's credentials and the current time, and returns nothing or
raises `A2IError` with AWS's code and message (all 403). The request is rebuilt as a botocore
``AWSRequest`` and signed again with botocore's own ``SigV4Auth`` (service ``sagemaker``, the
region of the credential scope); the signatures must match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from typing import Iterable

from human_review.portal.errors import A2IError

ALGORITHM = "AWS4-HMAC-SHA256"
SIGNING_NAME = "sagemaker"  # botocore's signingName for sagemaker-a2i-runtime
AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AUTH_PARAM = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")
_MISMATCH = "The request signature we calculated does not match the signature you provided."


def _incomplete(message: str) -> A2IError:
    return A2IError("IncompleteSignatureException", message)


def _invalid(message: str) -> A2IError:
    return A2IError("InvalidSignatureException", message)


def _unrecognized(detail: str = "") -> A2IError:
    return A2IError("UnrecognizedClientException", "The security token included in the request is invalid." + detail)


def verify(
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    access_key_id: str | None,
    secret_access_key: str | None,
    now: datetime,
    max_skew_seconds: int = 900,
    region: str | None = None,
) -> None:
    """Check the request's SigV4 signature; raise A2IError (403) as AWS would.

    `path` and `query` are the raw (still percent-encoded) request target; `headers` the
    (name, value) pairs in wire order, a repeated header's values are joined with commas.
    """
    received: dict[str, list[str]] = {}
    for name, value in headers:
        received.setdefault(name.lower(), []).append(value)
    header = (received.get("authorization") or [None])[0]
    if not header:
        raise A2IError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Only {ALGORITHM} is supported, got {algorithm!r}."
        )
    params = dict(_AUTH_PARAM.findall(rest))
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not params.get(k)]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
            + f" Authorization={header}"
        )
    amz_date = (received.get("x-amz-date") or [None])[0]
    if not amz_date:
        raise _incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={header}"
        )
    scope = params["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete(f"Credential should be scoped to a valid region, not '{'/'.join(scope[2:3])}'. ")
    access_key, scope_date, scope_region, scope_service, _ = scope
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
    if not access_key_id or not secret_access_key:
        raise _unrecognized(" (The local review service has no access key configured.)")
    if access_key != access_key_id:
        raise _unrecognized()
    if scope_service != SIGNING_NAME:
        raise _invalid(f"Credential should be scoped to correct service: '{SIGNING_NAME}'. ")
    if region and scope_region != region:  # AWS answers only for its own region
        raise _invalid(f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    if scope_date != amz_date[:8]:
        raise _invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                       f"HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.")
    _check_fresh(signed_at, amz_date, now, max_skew_seconds)
    signed = [h for h in params["SignedHeaders"].split(";") if h]
    if "host" not in signed:
        raise _invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    signed_headers = {}
    for name in signed:
        values = received.get(name.lower())
        if not values:
            raise _invalid(f"{_MISMATCH} Signed header {name!r} is missing.")
        signed_headers[name] = ",".join(values)
    # botocore takes a signed x-amz-content-sha256 header as the payload hash without hashing the
    # body; unless the header matches the body, a captured request could be replayed with any body.
    claimed = signed_headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise _invalid("The request signature we calculated does not match the signature you provided: "
                       "x-amz-content-sha256 is not the SHA-256 of the body "
                       "(unsigned payloads are not accepted).")
    expected = _signature(method, path, query, signed_headers, body, amz_date, scope_region,
                          access_key_id, secret_access_key)
    if not hmac.compare_digest(expected, params["Signature"]):
        raise _invalid(f"{_MISMATCH} Check your AWS Secret Access Key and signing method. "
                       "Consult the service documentation for details.")


def _check_fresh(signed_at: datetime, amz_date: str, now: datetime, max_skew_seconds: int) -> None:
    skew = timedelta(seconds=max_skew_seconds)
    minutes = max_skew_seconds // 60
    if signed_at < now - skew:
        raise _invalid(f"Signature expired: {amz_date} is now earlier than {(now - skew).strftime(AMZ_DATE)} "
                       f"({now.strftime(AMZ_DATE)} - {minutes} min.)")
    if signed_at > now + skew:
        raise _invalid(f"Signature not yet current: {amz_date} is still later than "
                       f"{(now + skew).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + {minutes} min.)")


def _signature(method: str, path: str, query: str, headers: dict[str, str], body: bytes, amz_date: str,
               region: str, access_key_id: str, secret_access_key: str) -> str:
    """The signature botocore computes for this request (the scheme does not enter a SigV4 signature)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"http://{headers['host']}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(access_key_id, secret_access_key), SIGNING_NAME, region)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
