"""Throughput control for remote backends: a token bucket shared by a batch's threads, and retries
with jittered exponential backoff for the errors a service says are worth retrying.

A nightly run must stay under the account's quota (Rekognition's and SageMaker's TPS limits are
per account and region), so every call to a remote model first takes a token. One bucket exists
per backend instance, and the backend is loaded once per process, so all threads of one infer
task share it.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, Iterable, TypeVar

from human_review.exceptions import error_code
from human_review.token_bucket import TokenBucket

log = logging.getLogger(__name__)
T = TypeVar("T")


def backoff_delay(attempt: int, base: float = 0.2, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter (AWS's recommendation): uniform in [0, min(cap, base * 2^n)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


def call_with_retries(
    fn: Callable[[], T],
    *,
    retryable: Iterable[str] | Callable[[Exception], bool],
    attempts: int,
    bucket: TokenBucket | None = None,
    what: str = "call",
    base_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn` (taking a token first each time); retry errors whose code is in `retryable` (or for
    which `retryable(error)` is true).

    `attempts` is the number of retries after the first try. Other errors propagate at once.
    """
    if callable(retryable):
        should_retry = retryable
    else:
        codes = frozenset(retryable)
        should_retry = lambda e: error_code(e) in codes  # noqa: E731
    for attempt in range(attempts + 1):
        if bucket is not None:
            bucket.acquire()
        try:
            return fn()
        except Exception as e:
            if not should_retry(e) or attempt == attempts:
                raise
            delay = backoff_delay(attempt, base_delay)
            log.warning("%s: %s; retry %d/%d in %.2fs", what, error_code(e), attempt + 1, attempts, delay)
            sleep(delay)
    raise AssertionError("unreachable")
