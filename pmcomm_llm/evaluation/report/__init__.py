"""The evaluation report: typed results (``report.json``), its HTML and Markdown renderings, and the comparison.

The harness (:mod:`pmcomm_llm.evaluation.scoring`) writes reports; this package only models, stores, renders and
compares them, so a report saved months ago can be re-rendered or compared with today's without re-running
anything. Nothing here imports the harness.

* :mod:`.models` — :class:`Report`, :class:`Summary`, :class:`DraftResult`, :class:`CriterionResult`, and the
  :class:`Comparison` of two reports.
* :mod:`.store` — ``report.json`` written in flat memory as results arrive, and read back one draft at a time.
* :mod:`.html`, :mod:`.markdown` — the self-contained HTML page (CSS and JS are package data) and the Markdown
  summary; both show at most :data:`SHOWN_DRAFTS` drafts, failing first.
* :mod:`.compare` — per-criterion deltas and flipped verdicts between two reports.
"""

from __future__ import annotations

from pmcomm_llm.evaluation.report.common import DEFAULT_TITLE, SHOWN_DRAFTS, Shortlist, rank_key, ranked
from pmcomm_llm.evaluation.report.compare import compare_report_files, compare_reports, render_comparison
from pmcomm_llm.evaluation.report.html import PRINCIPLE_COLOURS, criterion_chart, render_html
from pmcomm_llm.evaluation.report.markdown import render_markdown
from pmcomm_llm.evaluation.report.models import (
    Comparison,
    ComparisonSummary,
    CriterionDelta,
    CriterionResult,
    CriterionSummary,
    DraftResult,
    GroupSummary,
    JudgeInfo,
    Report,
    Summary,
    VerdictChange,
)
from pmcomm_llm.evaluation.report.store import ReportReader, ReportWriter, load_report

__all__ = ["DEFAULT_TITLE", "PRINCIPLE_COLOURS", "SHOWN_DRAFTS", "Comparison", "ComparisonSummary", "CriterionDelta",
           "CriterionResult", "CriterionSummary", "DraftResult", "GroupSummary", "JudgeInfo", "Report", "ReportReader",
           "ReportWriter", "Shortlist", "Summary", "VerdictChange", "compare_report_files", "compare_reports",
           "criterion_chart", "load_report", "rank_key", "ranked", "render_comparison", "render_html",
           "render_markdown"]
