"""The Markdown report, for pull requests and chat: the numbers, then only what failed and why.

Like the HTML page it lists at most ``max_drafts`` failing drafts, the worst first, and says how many failed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from pmcomm_llm.evaluation.report.common import DEFAULT_TITLE, SHOWN_DRAFTS, fmt_pct, fmt_score, ranked
from pmcomm_llm.evaluation.report.models import Report

__all__ = ["render_markdown"]

# Underscores are left alone: intraword ``_`` cannot start emphasis, and ids like ``fabricated_fact`` stay
# readable in the raw Markdown.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell or paragraph: one line, no emphasis, links, raw HTML or pipes."""
    text = " ".join(("" if value is None else str(value)).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_code(value: Any) -> str:
    """Verbatim evidence as a code span, fenced with more backticks than it contains so it cannot break out."""
    text = " ".join(("" if value is None else str(value)).split())
    if not text:
        return "—"
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_table(headers: list[str], rows: Iterable[list[str]], right: Collection[int] = ()) -> list[str]:
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    return ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |",
            *("| " + " | ".join(row) + " |" for row in rows)]


def render_markdown(report: Report, *, title: str = DEFAULT_TITLE, max_drafts: int = SHOWN_DRAFTS) -> str:
    """The summary tables, then the failing drafts (at most ``max_drafts``, the worst first) with their failures."""
    summary = report.summary
    lines = [f"# {_md(title)}", ""]

    rows = [["drafts", _md(summary.count)], ["passed", _md(summary.passed)],
            ["pass rate", fmt_pct(summary.pass_rate)], ["mean score", fmt_score(summary.mean_score)],
            ["threshold", fmt_score(summary.threshold)]]
    if summary.rubric_version:
        rows.append(["rubric", _md(summary.rubric_version)])
    if summary.created:
        rows.append(["created", _md(summary.created)])
    judge = summary.judge
    if judge.ran:
        used = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in judge.usage.model_dump().items())
        rows.append(["judge", _md(f"{judge.model or 'n/a'}" + (f" ({used})" if used else ""))])
    lines += _md_table(["metric", "value"], rows, {1})

    for heading, label, groups in (("By kind", "kind", summary.by_kind),
                                   ("By language", "language", summary.by_language),
                                   ("By channel", "channel", summary.by_channel)):
        if groups:
            lines += ["", f"## {heading}", ""]
            lines += _md_table([label, "drafts", "pass rate", "mean score"],
                               ([_md(name), _md(g.count), fmt_pct(g.pass_rate), fmt_score(g.mean_score)]
                                for name, g in groups.items()), {1, 2, 3})

    if summary.by_criterion:
        lines += ["", "## Criteria", ""]
        lines += _md_table(["criterion", "principle", "blocking", "evaluated", "pass rate"],
                           ([_md(cid), _md(e.principle or ""), "yes" if e.blocking else "no", _md(e.evaluated),
                             fmt_pct(e.rate)] for cid, e in summary.by_criterion.items()), {3, 4})

    failing = [r for r in ranked(report.results) if not r.passed]
    total_failing = max(summary.count - summary.passed, len(failing)) if not report.complete else len(failing)
    listed = failing[:max(0, max_drafts)]
    lines += ["", f"## Failing drafts ({total_failing})", ""]
    if not failing:
        lines.append("No failing drafts.")
    if len(listed) < total_failing:
        lines += [f"The {len(listed):,} listed here fail worst (most blocking failures, then lowest score); every "
                  "draft's result is in report.json.", ""]
    for result in listed:
        meta = " · ".join(_md(v or "—") for v in (result.kind, result.language, result.channel))
        lines += [f"### {_md(result.draft_id)} — score {fmt_score(result.score)}", "",
                  f"Scenario {_md_code(result.scenario_id)} · {meta}"]
        if result.blocking_failures:
            lines[-1] += " · blocking: " + ", ".join(_md(b) for b in result.blocking_failures)
        lines.append("")
        checks = result.failing
        if not checks:
            lines.append("- (no failing check recorded; the score is below the threshold)")
        for check in checks:
            flags = ", ".join(x for x in (check.principle, check.grader, "blocking" if check.blocking else None) if x)
            lines.append(f"- **{_md(check.id)}** ({_md(flags)}): evidence {_md_code(check.evidence)}"
                         f" — {_md(check.message)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
