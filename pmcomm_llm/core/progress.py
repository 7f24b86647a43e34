"""Batch progress on stderr: a live line on a terminal, plain periodic lines otherwise, nothing with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int | None, *, quiet: bool = False, stream: TextIO | None = None,
                 every: float = 10.0) -> None:
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 0.2 if self.tty else every
        self.start = time.monotonic()
        self.last = 0.0
        self.done = self.failed = self.skipped = 0

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
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

    def update(self, *, done: int = 0, failed: int = 0, skipped: int = 0) -> None:
        self.done += done
        self.failed += failed
        self.skipped += skipped
        if self.quiet:
            return
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        if self.tty:
            self.stream.write("\r" + self._line() + "\x1b[K")
        else:
            self.stream.write(self._line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if not self.quiet and self.tty:
            self.stream.write("\r" + self._line() + "\x1b[K\n")
            self.stream.flush()
