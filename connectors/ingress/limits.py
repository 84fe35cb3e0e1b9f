"""Request rate per force: a token bucket each, refilled at a steady rate up to a burst."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by force: `rate` requests a second sustained, `burst` at once.

    Pure: the caller passes the time in (a monotonic clock).
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def take(self, force: str, now: float) -> int | None:
        """Spend one token of `force`'s bucket; None if there was one, else seconds to wait."""
        bucket = self._buckets.setdefault(force, _Bucket(self._burst, now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))
