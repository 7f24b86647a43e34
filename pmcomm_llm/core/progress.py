"""A batch run's progress as counts and one line of text. Where and how often the line is shown (a live line on
a terminal, periodic plain lines otherwise, nothing with ``--quiet``) is the CLI's business, not the library's."""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["Progress"]


class Progress:
    """Items done, failed and skipped so far, against ``total`` when it is known up front (a JSONL input)."""

    def __init__(self, total: int | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.start = clock()
        self.done = self.failed = self.skipped = 0

    def update(self, *, done: int = 0, failed: int = 0, skipped: int = 0) -> None:
        self.done += done
        self.failed += failed
        self.skipped += skipped

    def line(self) -> str:
        """``pmcomm: 12/100 · done 11 · failed 1 · skipped 3 · 2.0/s · ETA 44s`` (the count and ETA need a total)."""
        elapsed = max(self.clock() - self.start, 1e-9)
        finished = self.done + self.failed
        rate = finished / elapsed
        parts = ([f"{finished}/{self.total - self.skipped}"] if self.total is not None else []) + [
            f"done {self.done}", f"failed {self.failed}"]
        if self.skipped:
            parts.append(f"skipped {self.skipped}")
        parts.append(f"{rate:.1f}/s")
        if self.total is not None and rate > 0:
            left = max(0, self.total - self.skipped - finished)
            parts.append(f"ETA {left / rate:.0f}s")
        return "pmcomm: " + " · ".join(parts)
