"""The A2I runtime API's model: request constraints and response shapes, as botocore's model has them.

Each check raises ``A2IError("ValidationException", ...)`` with AWS's wording.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import Any

from human_review.portal.errors import A2IError
from human_review.portal.store import Loop

HUMAN_LOOP_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")
FLOW_DEFINITION_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:flow-definition/(.+)$")
MAX_INPUT_CONTENT = 3_145_728
CONTENT_CLASSIFIERS = ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent")


# ---- requests ---------------------------------------------------------------------------------------


def validate_name(name: Any, field: str = "HumanLoopName") -> str:
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


def flow_name(arn: Any, field: str = "FlowDefinitionArn") -> str:
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


def input_content(hl_input: Any) -> str:
    """HumanLoopInput.InputContent: a JSON document as a string, up to MAX_INPUT_CONTENT characters."""
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
    except (ValueError, RecursionError):
        raise A2IError("ValidationException",
                       "HumanLoopInput.InputContent must be a JSON document (not nested too deeply).") from None
    return content


def check_data_attributes(data_attrs: Any) -> None:
    """DataAttributes, when given: ContentClassifiers from the enum, at most 256."""
    if data_attrs is None:
        return
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


def parse_time(value: str, field: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        try:
            dt = datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):  # not a number, or a year outside 1-9999
            raise A2IError("ValidationException", f"{field} {value[:40]!r} is not an ISO 8601 timestamp "
                                                  "in range.") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def decode_next_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(data, dict) or not isinstance(data.get("after"), int) or isinstance(data["after"], bool):
            raise ValueError
        if not 0 <= data["after"] < 2**63:  # a database row id; larger overflows the driver
            raise ValueError
        return data
    except (ValueError, TypeError, RecursionError):
        raise A2IError("ValidationException", "The NextToken is not valid.") from None


def encode_next_token(data: dict[str, Any]) -> str:
    """ListHumanLoops' NextToken: where the next page starts, bound to the query that asked."""
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


# ---- responses --------------------------------------------------------------------------------------


def iso(dt: datetime) -> str:
    """A timestamp as the API returns it: UTC, milliseconds."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def loop_summary(loop: Loop) -> dict[str, Any]:
    out = {
        "HumanLoopName": loop.name,
        "HumanLoopStatus": loop.status,
        "CreationTime": iso(loop.created_at),
        "FlowDefinitionArn": loop.flow_definition_arn,
    }
    if loop.failure_reason:
        out["FailureReason"] = loop.failure_reason
    return out


def describe_loop(loop: Loop) -> dict[str, Any]:
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
