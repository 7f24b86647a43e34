"""Running a coroutine from synchronous code: scripts, and Jupyter, where a loop is already running."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Coroutine, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, loop_free: bool = False) -> T:
    """Run a coroutine from sync code, also inside Jupyter where a loop is already running.

    ``loop_free``: the caller knows the coroutine never awaits (offline drafting, evaluation without a
    judge), so it is driven to completion directly, with no event loop or thread to start.
    """
    if loop_free:
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise RuntimeError("a coroutine expected to finish at once awaited something")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
