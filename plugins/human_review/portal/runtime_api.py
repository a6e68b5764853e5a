"""The A2I runtime REST API (``sagemaker-a2i-runtime``, protocol rest-json), as botocore's model defines it.

Routes sit at the app root so that ``boto3.client("sagemaker-a2i-runtime", endpoint_url=<service url>)``
works unchanged. Errors are rest-json errors: the HTTP status, header ``x-amzn-ErrorType`` and a
JSON body ``{"message": ...}``, so botocore raises ``ClientError`` with the right ``Error.Code``.
"""

from __future__ import annotations

import base64
import hmac
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from human_review.portal.store import Loop, StoreError

HUMAN_LOOP_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")
FLOW_DEFINITION_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:flow-definition/(.+)$")
MAX_INPUT_CONTENT = 3_145_728
CONTENT_CLASSIFIERS = ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent")
ACCOUNT = "000000000000"

_STATUS = {
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    # authentication errors (API Gateway / SigV4)
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "AccessDeniedException": 403,
}


class A2IError(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


def a2i_error_response(exc: A2IError) -> JSONResponse:
    return JSONResponse(
        {"message": exc.message},
        status_code=_STATUS.get(exc.code, 400),
        headers={"x-amzn-ErrorType": exc.code},
    )


def from_store_error(e: StoreError) -> A2IError:
    code = {
        "not_found": "ResourceNotFoundException",
        "conflict": "ConflictException",
        "quota": "ServiceQuotaExceededException",
    }.get(e.kind, "ValidationException")
    return A2IError(code, e.message)


SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SIGNING_NAME = "sagemaker"  # botocore's signingName for sagemaker-a2i-runtime
_AUTH_PARAM = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")


def _sigv4_error(code: str, message: str) -> A2IError:
    return A2IError(code, message)


def _amz_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


async def verify_request(request: Request) -> None:
    """Authentication of the A2I API: AWS Signature Version 4, checked like AWS checks it.

    The request is rebuilt as a botocore ``AWSRequest`` from what came over the wire (method, raw
    path and query, the signed headers, the body) and signed again with botocore's own
    ``SigV4Auth`` (service ``sagemaker``, the region of the credential scope) and the configured
    secret; the signatures must match. Errors carry AWS's codes and messages (403).
    Also applies the configured requests-per-second limit (ThrottlingException 429).
    """
    service = request.app.state.review_service
    settings = service.settings
    if settings.verify_signatures:
        await _verify_sigv4(request, settings)
    limiter = getattr(service, "rate_limiter", None)
    if limiter is not None and not limiter.try_acquire():
        raise A2IError("ThrottlingException", "Rate exceeded")


async def _verify_sigv4(request: Request, settings) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    header = request.headers.get("authorization")
    if not header:
        raise _sigv4_error("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != SIGV4_ALGORITHM:
        raise _sigv4_error(
            "IncompleteSignatureException",
            f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Only {SIGV4_ALGORITHM} is supported, got {algorithm!r}.",
        )
    params = dict(_AUTH_PARAM.findall(rest))
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not params.get(k)]
    if missing:
        raise _sigv4_error(
            "IncompleteSignatureException",
            " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
            + f" Authorization={header}",
        )
    amz_date = request.headers.get("x-amz-date")
    if not amz_date:
        raise _sigv4_error(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={header}",
        )
    scope = params["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _sigv4_error(
            "IncompleteSignatureException",
            f"Credential should be scoped to a valid region, not '{'/'.join(scope[2:3])}'. ",
        )
    access_key, scope_date, region, scope_service, _ = scope
    try:
        signed_at = _amz_time(amz_date)
    except ValueError:
        raise _sigv4_error("IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
    if not settings.aws_access_key_id or not settings.aws_secret_access_key:
        raise _sigv4_error("UnrecognizedClientException", "The security token included in the request is invalid. "
                           "(The local review service has no access key configured.)")
    if access_key != settings.aws_access_key_id:
        raise _sigv4_error("UnrecognizedClientException", "The security token included in the request is invalid.")
    if scope_service != SIGNING_NAME:
        raise _sigv4_error("InvalidSignatureException", f"Credential should be scoped to correct service: '{SIGNING_NAME}'. ")
    if scope_date != amz_date[:8]:
        raise _sigv4_error("InvalidSignatureException", f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.")
    now = datetime.now(timezone.utc)
    skew = timedelta(seconds=settings.signature_max_skew_seconds)
    fmt = "%Y%m%dT%H%M%SZ"
    minutes = settings.signature_max_skew_seconds // 60
    if signed_at < now - skew:
        raise _sigv4_error(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {(now - skew).strftime(fmt)} "
            f"({now.strftime(fmt)} - {minutes} min.)",
        )
    if signed_at > now + skew:
        raise _sigv4_error(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {(now + skew).strftime(fmt)} "
            f"({now.strftime(fmt)} + {minutes} min.)",
        )
    signed = [h for h in params["SignedHeaders"].split(";") if h]
    if "host" not in signed:
        raise _sigv4_error("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    headers = {}
    for name in signed:
        values = request.headers.getlist(name)
        if not values:
            raise _sigv4_error("InvalidSignatureException", f"The request signature we calculated does not match the signature you provided. Signed header {name!r} is missing.")
        headers[name] = ",".join(values)
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    url = f"{request.url.scheme}://{headers['host']}{raw_path.decode('latin-1')}"
    if query:
        url += "?" + query.decode("latin-1")
    body = await request.body()
    # botocore takes a signed x-amz-content-sha256 header as the payload hash without hashing the
    # body; unless the header matches the body, a captured request could be replayed with any body.
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise _sigv4_error(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided: "
            "x-amz-content-sha256 is not the SHA-256 of the body (unsigned payloads are not accepted).",
        )
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=body)
    aws_request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(settings.aws_access_key_id, settings.aws_secret_access_key), SIGNING_NAME, region)
    canonical = auth.canonical_request(aws_request)
    string_to_sign = auth.string_to_sign(aws_request, canonical)
    expected = auth.signature(string_to_sign, aws_request)
    if not hmac.compare_digest(expected, params["Signature"]):
        raise _sigv4_error(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.",
        )


def iso(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _validate_name(name: Any, field: str = "HumanLoopName") -> str:
    if not isinstance(name, str) or not name:
        raise A2IError("ValidationException", f"{field} is required.")
    if len(name) > 63 or not HUMAN_LOOP_NAME.match(name):
        raise A2IError(
            "ValidationException",
            f"1 validation error detected: Value {name!r} at '{field}' failed to satisfy constraint: "
            "Member must have length less than or equal to 63 and satisfy regular expression pattern: "
            "^[a-z0-9](-*[a-z0-9])*$",
        )
    return name


def _flow_name(arn: Any, field: str = "FlowDefinitionArn") -> str:
    if not isinstance(arn, str) or not arn:
        raise A2IError("ValidationException", f"{field} is required.")
    m = FLOW_DEFINITION_ARN.match(arn)
    if not m or len(arn) > 1024:
        raise A2IError(
            "ValidationException",
            f"Value {arn!r} at '{field}' failed to satisfy constraint: "
            "arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:flow-definition/.*",
        )
    return m.group(1)


def _parse_time(value: str, field: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        try:
            dt = datetime.fromtimestamp(float(value), tz=timezone.utc)
        except ValueError:
            raise A2IError("ValidationException", f"{field} {value!r} is not an ISO 8601 timestamp.") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _summary(loop: Loop) -> dict[str, Any]:
    out = {
        "HumanLoopName": loop.name,
        "HumanLoopStatus": loop.status,
        "CreationTime": iso(loop.created_at),
        "FlowDefinitionArn": loop.flow_definition_arn,
    }
    if loop.failure_reason:
        out["FailureReason"] = loop.failure_reason
    return out


def _describe(loop: Loop) -> dict[str, Any]:
    out = {
        "CreationTime": iso(loop.created_at),
        "HumanLoopStatus": loop.status,
        "HumanLoopName": loop.name,
        "HumanLoopArn": loop.arn,
        "FlowDefinitionArn": loop.flow_definition_arn,
    }
    if loop.failure_reason:
        out["FailureReason"] = loop.failure_reason
    if loop.failure_code:
        out["FailureCode"] = loop.failure_code
    if loop.output_s3_uri:
        out["HumanLoopOutput"] = {"OutputS3Uri": loop.output_s3_uri}
    return out


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise A2IError("ValidationException", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise A2IError("ValidationException", "The request body must be a JSON object.")
    return body


def _encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(data, dict) or not isinstance(data.get("after"), int):
            raise ValueError
        return data
    except (ValueError, TypeError):
        raise A2IError("ValidationException", "The NextToken is not valid.") from None


router = APIRouter(dependencies=[Depends(verify_request)])


@router.post("/human-loops")
async def start_human_loop(request: Request):
    service = request.app.state.review_service
    body = await _json_body(request)
    name = _validate_name(body.get("HumanLoopName"))
    arn = body.get("FlowDefinitionArn")
    flow_name = _flow_name(arn)
    hl_input = body.get("HumanLoopInput")
    if not isinstance(hl_input, dict) or "InputContent" not in hl_input:
        raise A2IError("ValidationException", "HumanLoopInput.InputContent is required.")
    content = hl_input["InputContent"]
    if not isinstance(content, str):
        raise A2IError("ValidationException", "HumanLoopInput.InputContent must be a string.")
    if len(content) > MAX_INPUT_CONTENT:
        raise A2IError(
            "ValidationException",
            f"HumanLoopInput.InputContent is {len(content)} characters; the limit is {MAX_INPUT_CONTENT}.",
        )
    try:
        json.loads(content)
    except ValueError:
        raise A2IError("ValidationException", "HumanLoopInput.InputContent must be a JSON document.") from None
    data_attrs = body.get("DataAttributes")
    if data_attrs is not None:
        classifiers = data_attrs.get("ContentClassifiers") if isinstance(data_attrs, dict) else None
        if not isinstance(classifiers, list):
            raise A2IError("ValidationException", "DataAttributes.ContentClassifiers is required and must be a list.")
        if len(classifiers) > 256:
            raise A2IError(
                "ValidationException",
                "1 validation error detected: Value at 'dataAttributes.contentClassifiers' failed to satisfy "
                "constraint: Member must have length less than or equal to 256",
            )
        for c in classifiers:
            if c not in CONTENT_CLASSIFIERS:
                raise A2IError(
                    "ValidationException",
                    f"1 validation error detected: Value {c!r} at 'dataAttributes.contentClassifiers' failed to "
                    f"satisfy constraint: Member must satisfy enum value set: [{', '.join(CONTENT_CLASSIFIERS)}]",
                )
    flow = service.flow_definition(flow_name)
    if flow is None:
        raise A2IError(
            "ValidationException",
            f"Flow definition {arn} does not exist: no pipeline in {service.pipelines_dir} defines a flow "
            f"definition named {flow_name!r}.",
        )
    try:
        loop, _created = service.store.start_loop(
            name=name,
            arn=f"arn:aws:sagemaker:{service.settings.region}:{ACCOUNT}:human-loop/{name}",
            flow_definition_name=flow_name,
            flow_definition_arn=arn,
            input_content=content,
            output_path=flow.output_path,
            task_count=flow.task_count,
            availability_lifetime_seconds=flow.availability_lifetime_seconds,
            time_limit_seconds=flow.time_limit_seconds,
            max_in_flight=service.settings.max_in_flight_loops,
        )
    except StoreError as e:
        raise from_store_error(e) from None
    return {"HumanLoopArn": loop.arn}


@router.get("/human-loops")
def list_human_loops(request: Request):
    service = request.app.state.review_service
    q = request.query_params
    flow_name = _flow_name(q.get("FlowDefinitionArn"))
    if service.flow_definition(flow_name) is None and not service.store.list_loops(flow_name, limit=1)[0]:
        raise A2IError("ResourceNotFoundException", f"Flow definition {q.get('FlowDefinitionArn')} does not exist.")
    order = q.get("SortOrder") or "Descending"
    if order not in ("Ascending", "Descending"):
        raise A2IError("ValidationException", f"SortOrder {order!r} is not one of Ascending, Descending.")
    limit = 100
    if q.get("MaxResults") is not None:
        try:
            limit = int(q["MaxResults"])
        except ValueError:
            raise A2IError("ValidationException", "MaxResults must be an integer.") from None
        if not 1 <= limit <= 100:
            raise A2IError("ValidationException", f"MaxResults {limit} is not between 1 and 100.")
    after = _parse_time(q["CreationTimeAfter"], "CreationTimeAfter") if q.get("CreationTimeAfter") else None
    before = _parse_time(q["CreationTimeBefore"], "CreationTimeBefore") if q.get("CreationTimeBefore") else None
    after_id = None
    if q.get("NextToken"):
        token = _decode_token(q["NextToken"])
        if token.get("flow") != flow_name or token.get("order") != order:
            raise A2IError("ValidationException", "The NextToken belongs to a different query.")
        after_id = token["after"]
    service.writer.finalize_pending()
    loops, next_id = service.store.list_loops(
        flow_name,
        created_after=after,
        created_before=before,
        ascending=order == "Ascending",
        limit=limit,
        after_id=after_id,
    )
    out: dict[str, Any] = {"HumanLoopSummaries": [_summary(loop) for loop in loops]}
    if next_id is not None:
        out["NextToken"] = _encode_token({"after": next_id, "flow": flow_name, "order": order})
    return out


@router.post("/human-loops/stop")
async def stop_human_loop(request: Request):
    service = request.app.state.review_service
    body = await _json_body(request)
    name = _validate_name(body.get("HumanLoopName"))
    try:
        service.store.stop_loop(name)
    except StoreError as e:
        raise from_store_error(e) from None
    return {}


@router.get("/human-loops/{name}")
def describe_human_loop(name: str, request: Request):
    service = request.app.state.review_service
    _validate_name(name)
    service.writer.finalize_pending()
    loop = service.store.get_loop(name)
    if loop is None:
        raise A2IError("ResourceNotFoundException", f"Human loop {name!r} does not exist.")
    return _describe(loop)


@router.delete("/human-loops/{name}")
def delete_human_loop(name: str, request: Request):
    service = request.app.state.review_service
    _validate_name(name)
    try:
        service.store.delete_loop(name)
    except StoreError as e:
        raise from_store_error(e) from None
    return Response(status_code=200, content=b"{}", media_type="application/json")
