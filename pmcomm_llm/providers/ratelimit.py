"""Requests-per-minute and tokens-per-minute limits for a batch, as two token buckets on one event loop.

Tokens are known only after a call (from the API's usage fields), so a call reserves an estimate (the running
mean of real usage, or a first guess from the prompt size) and the difference is settled when the usage comes
back. Waiting happens before the request is sent, never by failing it.

Limits belong to an endpoint and model, not to one caller: the drafter and the judge of one process share the
limiter of a (base URL, model) pair (:func:`shared_limiter`).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any, Awaitable, Callable

__all__ = ["RateLimiter", "shared_limiter"]

Clock = Callable[[], float]


class _Bucket:
    def __init__(self, per_minute: float, clock: Clock) -> None:
        self.clock = clock
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
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
    """``await limiter.acquire(estimate)`` before a call; ``limiter.settle(estimate, actual)`` after.

    ``clock`` and ``sleep`` are injectable (tests run a fake clock instead of waiting).
    """

    def __init__(self, rpm: int | None = None, tpm: int | None = None, *, clock: Clock = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.requests = _Bucket(rpm, clock) if rpm else None
        self.tokens = _Bucket(tpm, clock) if tpm else None
        self._sleep = sleep
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._seen = 0
        self._mean = 0.0

    def estimate(self, prompt_size: int) -> float:
        """Tokens a call will use: the mean so far, else about one token per three bytes of request."""
        return self._mean if self._seen else max(1.0, prompt_size / 3)

    async def acquire(self, tokens: float) -> None:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop) or self._locks.setdefault(loop, asyncio.Lock())  # a lock serves one loop
        async with lock:  # first come, first served
            while True:
                wait = max(self.requests.wait_for(1) if self.requests else 0.0,
                           self.tokens.wait_for(min(tokens, self.tokens.capacity)) if self.tokens else 0.0)
                if wait <= 0:
                    break
                await self._sleep(wait)
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


_SHARED: dict[tuple[str, str, int | None, int | None], RateLimiter] = {}


def shared_limiter(settings: Any) -> RateLimiter | None:
    """The process's limiter for ``settings``' endpoint and model, or ``None`` when no limit is set."""
    if not (settings.rpm or settings.tpm):
        return None
    key = (settings.base_url or "", settings.model, settings.rpm, settings.tpm)
    limiter = _SHARED.get(key)
    if limiter is None:
        limiter = _SHARED[key] = RateLimiter(settings.rpm, settings.tpm)
    return limiter
