"""What the HTML and Markdown reports share: number formats, the order drafts are shown in, and how many.

A report of 100,000 drafts cannot show 100,000 cards, and a reader looks at the failures first; so both
renderers show at most :data:`SHOWN_DRAFTS` drafts, ranked by :func:`rank_key` (failing drafts first, the most
blocking failures first, then the lowest score), and say how many the report holds. :class:`Shortlist` keeps
that ranking over a stream in memory bounded by the number shown, so the harness can hand the renderers the
drafts they will show without ever holding all of them.
"""

from __future__ import annotations

import heapq
from typing import Any

from pmcomm_llm.evaluation.report.models import DraftResult

__all__ = ["DEFAULT_TITLE", "SHOWN_DRAFTS", "Shortlist", "fmt_pct", "fmt_score", "is_number", "rank_key", "ranked"]

DEFAULT_TITLE = "pmcomm-llm evaluation"

SHOWN_DRAFTS = 1000
"""Drafts the HTML and Markdown reports show at most. A thousand cards is a page a browser opens at once (about
4 MB); past that a reader filters report.json rather than scrolls."""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt_pct(rate: Any) -> str:
    """A 0..1 rate as ``38.0%``; ``n/a`` when the report has none (e.g. a criterion evaluated on no draft)."""
    return f"{rate * 100:.1f}%" if is_number(rate) else "n/a"


def fmt_score(value: Any) -> str:
    return f"{value:.3f}" if is_number(value) else ("n/a" if value is None else str(value))


def rank_key(result: DraftResult) -> tuple[bool, int, float]:
    """Failing drafts first, then the most blocking failures, then the lowest score."""
    return result.passed, -len(result.blocking_failures), result.score


def ranked(results: list[DraftResult], limit: int | None = None) -> list[DraftResult]:
    """``results`` in :func:`rank_key` order (ties keep their order), cut to ``limit``."""
    ordered = sorted(results, key=rank_key)
    return ordered if limit is None else ordered[:max(0, limit)]


class Shortlist:
    """The ``size`` first drafts in :func:`rank_key` order, kept over a stream of any length.

    A heap of at most ``size`` entries whose top is the draft that would be dropped next; the arrival index
    breaks ties, so the shortlist is exactly ``ranked(all)[:size]``, whatever the order the drafts came in.
    """

    def __init__(self, size: int = SHOWN_DRAFTS) -> None:
        self.size = max(0, size)
        self._heap: list[tuple[int, int, float, int, DraftResult]] = []
        self._seen = 0

    def add(self, result: DraftResult) -> None:
        passed, blocking, score = rank_key(result)
        # negated so the heap's smallest entry is the lowest-ranked draft kept (the next to drop)
        entry = (-int(passed), -blocking, -score, -self._seen, result)
        self._seen += 1
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, entry)
        elif self._heap and entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def results(self) -> list[DraftResult]:
        return [entry[-1] for entry in sorted(self._heap, reverse=True)]
