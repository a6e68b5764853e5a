"""The project's exceptions, and the one place that maps A2I's error codes onto them."""

from __future__ import annotations


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


class InvalidImageError(HumanReviewError):
    """An object is not an image the model can read; becomes an `invalid` report row."""


class HumanLoopError(HumanReviewError):
    """A human-loop call failed in a way a retry will not fix."""

    code = ""  # the A2I error code it was mapped from


class HumanLoopConflictError(HumanLoopError):
    """A loop with this name exists with different input (A2I ConflictException)."""


class HumanLoopNotFoundError(HumanLoopError):
    """No loop has this name (A2I ResourceNotFoundException)."""


_A2I_ERRORS: dict[str, type[HumanLoopError]] = {
    "ConflictException": HumanLoopConflictError,
    "ResourceNotFoundException": HumanLoopNotFoundError,
}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError or of a mapped HumanLoopError; else the class name
    (EndpointConnectionError, ReadTimeoutError, ...)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return getattr(exc, "code", "") or type(exc).__name__


def is_service_error(exc: BaseException) -> bool:
    """Whether the service answered with an error (as opposed to a bug or a connection failure)."""
    return isinstance(getattr(exc, "response", None), dict) or isinstance(exc, HumanLoopError)


def from_client_error(err: Exception) -> Exception:
    """Map a botocore ClientError from the A2I runtime to the most specific public exception."""
    code = error_code(err)
    cls = _A2I_ERRORS.get(code)
    if cls is None:
        return err
    message = err.response.get("Error", {}).get("Message", str(err))  # type: ignore[attr-defined]
    mapped = cls(f"{code}: {message}")
    mapped.code = code
    return mapped
