"""Comparing two evaluation reports: per-criterion deltas, and every draft whose verdict flipped.

Drafts are matched by ``draft_id``. ``changed`` lists only drafts whose pass/fail verdict flipped, since a score
moving within the same verdict is noise for review; their newly failing and newly passing check ids say why.
Criteria missing from one side keep ``None`` there and a ``None`` delta, sorted after the rest.

:func:`compare_report_files` streams both files: it keeps one small verdict per draft of ``a`` (pass, score,
failing ids) and the ids of ``b``, never a whole result, so two 100,000-draft reports compare in tens of MB.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pmcomm_llm.core.errors import PmcommError
from pmcomm_llm.evaluation.report.common import fmt_pct, fmt_score, is_number
from pmcomm_llm.evaluation.report.models import (
    Comparison,
    ComparisonSummary,
    CriterionDelta,
    DraftResult,
    Report,
    Summary,
    VerdictChange,
)
from pmcomm_llm.evaluation.report.store import ReportReader

__all__ = ["compare_report_files", "compare_reports", "render_comparison"]

_LISTED_IDS = 50


def _delta(a: Any, b: Any) -> float | None:
    """``b - a`` rounded to 6 places (float noise would otherwise show up in JSON); ``None`` if either is missing."""
    if not (is_number(a) and is_number(b)):
        return None
    return round(b - a, 6)


def compare_reports(a: Report, b: Report) -> Comparison:
    """What changed from report ``a`` (before) to report ``b`` (after); every delta is ``b - a``."""
    return _compare(a.summary, a.results, b.summary, b.results, ("a", "b"))


def compare_report_files(a: Path | str, b: Path | str) -> Comparison:
    """:func:`compare_reports` on two ``report.json`` files, read one draft at a time."""
    ra, rb = ReportReader(a), ReportReader(b)
    return _compare(ra.summary, ra.results(), rb.summary, rb.results(), (f"a ({a})", f"b ({b})"))


def _compare(sa: Summary, results_a: Iterable[DraftResult], sb: Summary, results_b: Iterable[DraftResult],
             sides: tuple[str, str]) -> Comparison:
    verdicts_a: dict[str, tuple[bool, float, frozenset[str]]] = {}
    shared: dict[frozenset[str], frozenset[str]] = {}  # drafts failing the same checks share one set
    for r in results_a:
        if r.draft_id in verdicts_a:
            raise PmcommError(f"report {sides[0]} has draft_id {r.draft_id!r} more than once; cannot match drafts")
        failing = frozenset(c.id for c in r.failing)
        verdicts_a[r.draft_id] = (r.passed, r.score, shared.setdefault(failing, failing))
    ids_b: set[str] = set()
    changed = []
    for r in results_b:
        if r.draft_id in ids_b:
            raise PmcommError(f"report {sides[1]} has draft_id {r.draft_id!r} more than once; cannot match drafts")
        ids_b.add(r.draft_id)
        if r.draft_id not in verdicts_a:
            continue
        passed_a, score_a, fail_a = verdicts_a[r.draft_id]
        if passed_a == r.passed:
            continue
        fail_b = {c.id for c in r.failing}
        changed.append(VerdictChange(draft_id=r.draft_id, passed_a=passed_a, passed_b=r.passed, score_a=score_a,
                                     score_b=r.score, newly_failing=sorted(fail_b - fail_a),
                                     newly_passing=sorted(fail_a - fail_b)))
    changed.sort(key=lambda c: c.draft_id)

    summary = ComparisonSummary(
        count_a=sa.count, count_b=sb.count, pass_rate_a=sa.pass_rate, pass_rate_b=sb.pass_rate,
        pass_rate_delta=_delta(sa.pass_rate, sb.pass_rate), mean_score_a=sa.mean_score,
        mean_score_b=sb.mean_score, mean_score_delta=_delta(sa.mean_score, sb.mean_score))
    ca, cb = sa.by_criterion, sb.by_criterion
    criteria = []
    for cid in set(ca) | set(cb):
        rate_a = ca[cid].rate if cid in ca else None
        rate_b = cb[cid].rate if cid in cb else None
        criteria.append(CriterionDelta(id=cid, pass_rate_a=rate_a, pass_rate_b=rate_b, delta=_delta(rate_a, rate_b)))
    criteria.sort(key=lambda c: (c.delta is None, -abs(c.delta or 0.0), c.id))
    ids_a = set(verdicts_a)
    return Comparison(summary=summary, criteria=criteria, changed=changed, only_in_a=sorted(ids_a - ids_b),
                      only_in_b=sorted(ids_b - ids_a))


# --- rendering --------------------------------------------------------------------------------------------

def _signed_pct(delta: float | None) -> str:
    """A rate difference as ``+12.5%``; zero has no sign so an unchanged row does not look like a change."""
    if delta is None:
        return "n/a"
    points = round(delta * 100, 1)
    return "0.0%" if points == 0 else f"{points:+.1f}%"


def _signed_score(delta: float | None) -> str:
    if delta is None:
        return "n/a"
    value = round(delta, 3)
    return "0.000" if value == 0 else f"{value:+.3f}"


def _signed_count(delta: float | None) -> str:
    return "n/a" if delta is None else ("0" if delta == 0 else f"{int(delta):+d}")


def render_comparison(cmp: Comparison) -> str:
    """The comparison as plain text for a terminal: summary deltas, criteria table, flipped verdicts."""
    s = cmp.summary
    rows = [("drafts", "n/a" if s.count_a is None else str(s.count_a), "n/a" if s.count_b is None else str(s.count_b),
             _signed_count(_delta(s.count_a, s.count_b))),
            ("pass rate", fmt_pct(s.pass_rate_a), fmt_pct(s.pass_rate_b), _signed_pct(s.pass_rate_delta)),
            ("mean score", fmt_score(s.mean_score_a), fmt_score(s.mean_score_b), _signed_score(s.mean_score_delta))]
    lines = ["Summary (a → b)"]
    lines += [f"  {name:<11}{va:>9} → {vb:<9}({d})" for name, va, vb, d in rows]

    if cmp.criteria:
        width = max(len("criterion"), *(len(c.id) for c in cmp.criteria))
        lines += ["", "Criteria", f"  {'criterion':<{width}}  {'a':>7}  {'b':>7}  {'delta':>7}"]
        lines += [f"  {c.id:<{width}}  {fmt_pct(c.pass_rate_a):>7}  {fmt_pct(c.pass_rate_b):>7}"
                  f"  {_signed_pct(c.delta):>7}" for c in cmp.criteria]

    lines += ["", f"Verdict changed ({len(cmp.changed)})"]
    if not cmp.changed:
        lines.append("  none")
    width = max((len(c.draft_id) for c in cmp.changed), default=0)
    for c in cmp.changed:
        verdicts = f"{'PASS' if c.passed_a else 'FAIL'} → {'PASS' if c.passed_b else 'FAIL'}"
        why = []
        if c.newly_failing:
            why.append("newly failing: " + ", ".join(c.newly_failing))
        if c.newly_passing:
            why.append("newly passing: " + ", ".join(c.newly_passing))
        line = f"  {c.draft_id:<{width}}  {verdicts}"
        if why:
            line += "  " + "; ".join(why)
        lines.append(line)

    for ids, label in ((cmp.only_in_a, "Only in a"), (cmp.only_in_b, "Only in b")):
        if ids:  # two unrelated reports would print every id: the first ones say enough, --json has them all
            more = f", … and {len(ids) - _LISTED_IDS} more" if len(ids) > _LISTED_IDS else ""
            lines += ["", f"{label} ({len(ids)}): " + ", ".join(ids[:_LISTED_IDS]) + more]
    return "\n".join(lines) + "\n"
