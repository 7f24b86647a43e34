"""Requests-per-minute and tokens-per-minute limits for a batch, as two token buckets on one event loop.

Tokens are known only after a call (from the API's usage fields), so a call reserves an estimate (the running
mean of real usage, or a first guess from the prompt size) and the difference is settled when the usage comes
back. Waiting happens before the request is sent, never by failing it.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimiter"]


class _Bucket:
    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        self._refill()
        if self.level >= amount:
            return 0.0
        return (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount


class RateLimiter:
    """``await limiter.acquire(estimate)`` before a call; ``limiter.settle(estimate, actual)`` after."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None) -> None:
        self.requests = _Bucket(rpm) if rpm else None
        self.tokens = _Bucket(tpm) if tpm else None
        self._lock = asyncio.Lock()
        self._seen = 0
        self._mean = 0.0

    def estimate(self, prompt_chars: int) -> float:
        """Tokens a call will use: the mean so far, else about one token per three prompt characters."""
        return self._mean if self._seen else max(1.0, prompt_chars / 3)

    async def acquire(self, tokens: float) -> None:
        async with self._lock:  # first come, first served
            while True:
                wait = max(self.requests.wait_for(1) if self.requests else 0.0,
                           self.tokens.wait_for(min(tokens, self.tokens.capacity)) if self.tokens else 0.0)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests:
                self.requests.take(1)
            if self.tokens:
                self.tokens.take(tokens)

    def settle(self, estimated: float, actual: int | None) -> None:
        if actual is None:
            return
        self._seen += 1
        self._mean += (actual - self._mean) / self._seen
        if self.tokens:
            self.tokens.take(actual - estimated)
