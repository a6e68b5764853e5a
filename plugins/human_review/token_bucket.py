"""A token bucket: at most `rate` events a second on average, in bursts of up to `burst`.

Clients use `acquire()` to wait for their turn (the remote model backends stay under an account's
quota); a server uses `try_acquire()` to refuse what is over its limit (the local review
service's ThrottlingException).
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts of up to `burst`.

    `rate=None` (or 0) means unlimited: `acquire` returns at once.
    """

    def __init__(self, rate: float | None, burst: float | None = None, clock: Callable[[], float] = time.monotonic,
                 *, start_full: bool = True):
        self.rate = float(rate) if rate else None
        self.capacity = float(burst if burst is not None else max(1.0, self.rate or 1.0))
        # start_full=False: the first token comes 1/rate after creation, so a client's start never
        # bursts above the limit (several clients sharing one budget each start empty).
        self._tokens = self.capacity if start_full else 0.0
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> bool:
        """Take one token if one is free, without waiting (a server answering 429 otherwise)."""
        if self.rate is None:
            return True
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; returns the seconds waited.

        A caller that must wait reserves its token (the count goes below zero) and sleeps until it
        is due, so tokens are handed out on an exact schedule: a late wake-up on a busy machine
        loses none of the rate, and no more than `burst` ever go out at once."""
        if self.rate is None:
            return 0.0
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            time.sleep(wait)
        return wait
