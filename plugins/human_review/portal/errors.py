"""The review service's errors: A2I's error model, and the one mapping from a refused request to HTTP.

    A2IError(code, message)          an error the A2I runtime API returns; `.status` from HTTP_STATUS
    └── StoreError (HumanReviewError)  a request the store refuses; each kind fixes its code
        ├── NotFound                     ResourceNotFoundException      404  no such loop or task
        ├── InvalidState                 ValidationException            400  the loop's status forbids it
        ├── NotYours                     AccessDeniedException          403  the task is another worker's
        ├── Conflict                     ConflictException              409  name taken, answered twice
        └── QuotaExceeded                ServiceQuotaExceededException  402  too many loops in progress

`HTTP_STATUS` is the only table from A2I error codes to HTTP statuses. The runtime API answers an
A2IError (a StoreError included) in rest-json form: the status, header ``x-amzn-ErrorType`` and
``{"message": ...}``, so botocore raises ``ClientError`` with the right ``Error.Code``. The worker
JSON API answers the same StoreError with the same status and ``{"detail": ...}``.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from human_review.exceptions import HumanReviewError

HTTP_STATUS = {
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    # authentication and authorization (API Gateway / SigV4)
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "AccessDeniedException": 403,
}


class A2IError(Exception):
    """An error of the A2I runtime API: AWS's error code, its HTTP status and a message."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)


class StoreError(A2IError, HumanReviewError):
    """A request the store refuses; the subclass says which A2I error it is."""

    code = "ValidationException"

    def __init__(self, message: str):
        super().__init__(type(self).code, message)


class NotFound(StoreError):
    """No such human loop, or no such task held by this worker."""

    code = "ResourceNotFoundException"


class InvalidState(StoreError):
    """The loop's status does not allow this (stop a finished loop, delete an open one)."""

    code = "ValidationException"


class NotYours(StoreError):
    """The task is assigned to another worker."""

    code = "AccessDeniedException"


class Conflict(StoreError):
    """The name is taken by a different loop, or the answer was submitted already."""

    code = "ConflictException"


class QuotaExceeded(StoreError):
    """The flow definition has as many loops in progress as the quota allows."""

    code = "ServiceQuotaExceededException"


def a2i_error_response(exc: A2IError) -> JSONResponse:
    """A rest-json error as AWS sends it."""
    return JSONResponse({"message": exc.message}, status_code=exc.status,
                        headers={"x-amzn-ErrorType": exc.code})


def detail_response(status: int, message: str) -> JSONResponse:
    """An error of the worker portal's JSON API and image proxy: ``{"detail": ...}``, like FastAPI's own."""
    return JSONResponse({"detail": message}, status_code=status)
