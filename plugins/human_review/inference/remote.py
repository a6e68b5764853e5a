"""What every AWS-backed model backend shares: a boto3 client behind the Airflow connection,
the batch's token bucket, and retries of the errors the service says are transient.

botocore's own retries are turned off for these clients (one attempt): the backend retries
through `call_with_retries`, so each retry also takes a token and the requests-per-second limit
holds for retries too.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, ClassVar, TypeVar

from human_review.inference.base import ModelBackend
from human_review.inference.throttle import call_with_retries
from human_review.token_bucket import TokenBucket

T = TypeVar("T")


class RemoteBackend(ModelBackend):
    remote = True
    needs_pixels = False  # the service gets the original bytes (image.data)
    client_type: ClassVar[str]
    #: error codes retried with jittered backoff
    retryable: ClassVar[frozenset[str]] = frozenset({"ThrottlingException", "ServiceUnavailable", "InternalServerError"})

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        requests_per_second: float | None = None,
        burst: float | None = None,
        retries: int = 4,
        concurrency: int = 10,
        client: Any = None,
        start_full: bool = True,
        **options: Any,
    ) -> None:
        type(self).validate_options(options)
        super().__init__(**options)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.retries = int(retries)
        self.concurrency = int(concurrency)
        self.bucket = TokenBucket(requests_per_second, burst, start_full=start_full)
        self._client = client
        self._lock = threading.Lock()

    def hook(self, client_type: str):
        from botocore.config import Config

        from human_review.hooks import ReviewAwsHook

        config = Config(retries={"mode": "standard", "max_attempts": 1},
                        max_pool_connections=max(10, self.concurrency))
        return ReviewAwsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, client_type=client_type,
                             config=config)

    @property
    def client(self) -> Any:
        """One boto3 client per backend (clients are thread-safe), made on first use."""
        with self._lock:
            if self._client is None:
                self._client = self.hook(self.client_type).conn
            return self._client

    def call(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retries(fn, retryable=self.retryable, attempts=self.retries, bucket=self.bucket, what=what)
