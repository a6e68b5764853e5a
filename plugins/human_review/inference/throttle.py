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
import threading
import time
from typing import Callable, Iterable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts of up to `burst`.

    `rate=None` (or 0) means unlimited: `acquire` returns at once.
    """

    def __init__(self, rate: float | None, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate) if rate else None
        self.capacity = float(burst if burst is not None else max(1.0, self.rate or 1.0))
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        if self.rate is None:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                need = (1.0 - self._tokens) / self.rate
            time.sleep(need)
            waited += need


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (or the class name of anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__


def backoff_delay(attempt: int, base: float = 0.2, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter (AWS's recommendation): uniform in [0, min(cap, base * 2^n)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


def call_with_retries(
    fn: Callable[[], T],
    *,
    retryable: Iterable[str],
    attempts: int,
    bucket: TokenBucket | None = None,
    what: str = "call",
    base_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn` (taking a token first each time); retry errors whose code is in `retryable`.

    `attempts` is the number of retries after the first try. Other errors propagate at once.
    """
    codes = frozenset(retryable)
    for attempt in range(attempts + 1):
        if bucket is not None:
            bucket.acquire()
        try:
            return fn()
        except Exception as e:
            code = error_code(e)
            if code not in codes or attempt == attempts:
                raise
            delay = backoff_delay(attempt, base_delay)
            log.warning("%s: %s; retry %d/%d in %.2fs", what, code, attempt + 1, attempts, delay)
            sleep(delay)
    raise AssertionError("unreachable")
