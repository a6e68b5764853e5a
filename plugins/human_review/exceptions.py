"""The project's exceptions, and the one place that judges an AWS error: transient or permanent.

    HumanReviewError                    every error this package raises on purpose
    ├── PipelineConfigError (ValueError)  a pipeline YAML is wrong: file and field named
    ├── ConditionError (ValueError)       an activation-condition document is wrong: JSON path named
    ├── RecordError (ValueError)          a stored record has the wrong shape: record and field named
    ├── InvalidImageError                 this object is no image the model can read: an `invalid` row
    └── HumanLoopError                    a human-loop call failed; `.code` is A2I's error code
        ├── HumanLoopConflictError          ConflictException: same name, different input
        ├── HumanLoopNotFoundError          ResourceNotFoundException
        └── HumanLoopWaitError              the wait for a run's loops ended on a permanent error

`is_transient(error)` is the rule every stage, the trigger and the operators follow:

- transient (throttling, a 5xx, no answer at all): retry, and in the end retry the task;
- permanent (access denied, unknown flow definition, a validation error): do not retry; when it is
  about one image or one loop it becomes that image's report row, otherwise it fails the task with
  the service's message.

Nothing here imports botocore: errors are recognised by their `response` dict and class names, so
DAG parsing and the triggerer load this module for free.
"""

from __future__ import annotations

import errno


class HumanReviewError(Exception):
    """Base class of every error this package raises on purpose."""


class PipelineConfigError(HumanReviewError, ValueError):
    """A pipeline YAML file is wrong; names the file and the field at fault."""

    def __init__(self, file: str, field: str, message: str):
        self.file, self.field, self.message = file, field, message
        super().__init__(f"{file}: {field}: {message}")


class ConditionError(HumanReviewError, ValueError):
    """An activation-condition document is malformed; names the JSON path at fault."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")


class RecordError(HumanReviewError, ValueError):
    """A record read from object storage or XCom does not have the expected shape."""


class InvalidImageError(HumanReviewError):
    """An object is not an image the model can read; becomes an `invalid` report row."""


class HumanLoopError(HumanReviewError):
    """A human-loop call failed in a way a retry will not fix."""

    code = ""  # the A2I error code it was mapped from


class HumanLoopConflictError(HumanLoopError):
    """A loop with this name exists with different input (A2I ConflictException)."""


class HumanLoopNotFoundError(HumanLoopError):
    """No loop has this name (A2I ResourceNotFoundException)."""


class HumanLoopWaitError(HumanLoopError):
    """Waiting for a run's loops ended on an error no retry fixes (access denied, unknown flow)."""


_A2I_ERRORS: dict[str, type[HumanLoopError]] = {
    "ConflictException": HumanLoopConflictError,
    "ResourceNotFoundException": HumanLoopNotFoundError,
}

# Error codes AWS services use for "slow down" and "try again": the same request may succeed later.
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "ProvisionedThroughputExceededException", "SlowDown", "RequestThrottled",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalServerException", "InternalServerError",
    "InternalFailure", "InternalError", "RequestTimeout", "RequestTimeoutException",
})
# Exceptions (by class name, anywhere in the class's MRO) that mean the service never answered.
CONNECTION_ERRORS = frozenset({
    "EndpointConnectionError", "ConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
    "ConnectionClosedError", "HTTPClientError", "ProxyConnectionError",  # botocore
    "ClientConnectionError", "ServerDisconnectedError", "ClientOSError", "ServerTimeoutError",  # aiohttp
    "TimeoutError", "ConnectionResetError", "ConnectionRefusedError", "BrokenPipeError",  # builtins
})


# What s3fs (and so ObjectStoragePath) turns S3's "slow down" and 5xx answers into: OSError with
# these errno values (s3fs.errors: SlowDown/ServiceUnavailable/503 -> EBUSY, InternalError/500 ->
# EREMOTEIO), sometimes without the ClientError as its cause (s3fs's `info` drops it).
TRANSIENT_ERRNOS = frozenset({errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, getattr(errno, "EREMOTEIO", errno.EIO)})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError or of a mapped HumanLoopError; else the class name
    (EndpointConnectionError, ReadTimeoutError, ...)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return getattr(exc, "code", "") or type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The service's own message when it sent one, else the exception's text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or exc)
    return str(exc)


def is_service_error(exc: BaseException) -> bool:
    """Whether the service answered with an error (as opposed to a bug or a connection failure)."""
    return isinstance(getattr(exc, "response", None), dict) or isinstance(exc, HumanLoopError)


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def _is_transient_one(exc: BaseException) -> bool | None:
    """True or False when this exception alone decides; None when only its cause can tell."""
    if isinstance(exc, HumanLoopError):
        return exc.code in TRANSIENT_CODES
    if error_code(exc) in TRANSIENT_CODES:
        return True
    status = _http_status(exc)
    if status is not None:
        return status >= 500 or status == 429
    if any(c.__name__ in CONNECTION_ERRORS for c in type(exc).__mro__):
        return True
    if type(exc) is OSError and exc.errno in TRANSIENT_ERRNOS:  # s3fs's translation of a 5xx
        return True
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again later may succeed: throttling, a 5xx, or no answer at all.

    An error that wraps another (s3fs raises OSError from botocore's ClientError) is judged by what
    it wraps when it does not say itself."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        verdict = _is_transient_one(current)
        if verdict is not None:
            return verdict
        seen.add(id(current))
        current = current.__cause__
    return False


def from_client_error(err: Exception) -> Exception:
    """Map a botocore ClientError from the A2I runtime to the most specific public exception."""
    code = error_code(err)
    cls = _A2I_ERRORS.get(code)
    if cls is None:
        return err
    mapped = cls(f"{code}: {error_message(err)}")
    mapped.code = code
    return mapped
