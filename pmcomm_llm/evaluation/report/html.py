"""The HTML report: one self-contained page from a :class:`~pmcomm_llm.evaluation.report.models.Report`.

The page is meant to be mailed around and opened from disk: inline CSS and a little inline JS, no fonts,
images or scripts fetched from anywhere, and a Content-Security-Policy that pins the inline script and style by
hash, so even a draft body that slipped past escaping could neither run code nor reach the network. The CSS
and JS are package data (``report.css``, ``report.js`` beside this module), read once; the hashes are computed
over exactly the text inlined. Output is deterministic for the same input: the only timestamp is the report's.

A report of many drafts shows at most ``max_drafts`` cards, failing drafts first, and says how many it holds.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from pmcomm_llm.evaluation.report.common import DEFAULT_TITLE, SHOWN_DRAFTS, fmt_pct, fmt_score, ranked
from pmcomm_llm.evaluation.report.models import (
    CriterionResult,
    CriterionSummary,
    DraftResult,
    GroupSummary,
    JudgeInfo,
    Report,
)

__all__ = ["PRINCIPLE_COLOURS", "criterion_chart", "csp_hash", "render_html", "script", "stylesheet"]

# One colour per rubric principle, shared by the chart, the legend and the highlights, so a reader learns the
# mapping once. Unknown principles (a rubric newer than this module) fall back to grey rather than failing.
PRINCIPLE_COLOURS: dict[str, str] = {
    "transparency": "#2f6fb0",
    "alternatives": "#2a9d8f",
    "boundaries": "#8e5bb5",
    "tone": "#d08a16",
    "win_win": "#3f9a44",
    "safety": "#d64545",
    "structure": "#6c7a89",
}
_OTHER_COLOUR = "#999999"
_BLOCKING_MARK = "\u25c6"  # ◆


def _esc(value: Any) -> str:
    """Every piece of report text goes through here: drafts are model output and may contain markup."""
    return html.escape("" if value is None else str(value), quote=True)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@cache
def stylesheet() -> str:
    """``report.css`` and one rule pair per principle colour (the colours live in :data:`PRINCIPLE_COLOURS`,
    which the SVG chart needs too, so they are not repeated in the CSS file)."""
    rules = [f".p-{p} {{ background: {c}; }}\nmark.p-{p} {{ background: {c}33; border-bottom-color: {c}; }}"
             for p, c in PRINCIPLE_COLOURS.items()]
    rules.append(f".p-other {{ background: {_OTHER_COLOUR}; }}\n"
                 f"mark.p-other {{ background: {_OTHER_COLOUR}33; border-bottom-color: {_OTHER_COLOUR}; }}")
    rules.append("mark.p-multi { background: #ffd27a; border-bottom-color: #1f2328; }")
    return _asset("report.css") + "\n".join(rules) + "\n"


@cache
def script() -> str:
    """``report.js``: the failures toggle and the criterion filter. It reads only data attributes, never the
    draft text, so there is nothing to inject into it."""
    return _asset("report.js")


def csp_hash(source: str) -> str:
    """The CSP source expression that allows exactly this inline ``source``."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# --- highlighting -----------------------------------------------------------------------------------------

def _valid_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Spans clamped to the text; empty or out-of-range ones are dropped instead of corrupting the markup."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        start, end = max(0, int(start)), min(length, int(end))
        if start < end:
            out.append((start, end))
    return out


def _locate(evidence: str, text: str) -> list[tuple[int, int]]:
    """Where a quote without spans occurs in the text (judges quote but do not give offsets).

    Every occurrence is marked, since we cannot know which one the judge meant. A quote that is not verbatim
    only in its whitespace (judges often reflow lines) is matched with any whitespace between its words.
    Evidence joined with ``"; "`` (several findings of one check) is located piece by piece.
    """
    evidence = evidence.strip()
    if not evidence:
        return []
    pieces = [evidence] if evidence in text else [p.strip() for p in evidence.split("; ") if p.strip()]
    found: list[tuple[int, int]] = []
    for piece in pieces:
        words = piece.split()
        if not words:
            continue
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
        found.extend((m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start())
    return found


def _check_ranges(checks: list[CriterionResult], text: str) -> list[list[tuple[int, int]]]:
    """Per failing check, the ranges to highlight: its spans, or failing those, its evidence found in the text."""
    ranges = []
    for check in checks:
        spans = _valid_spans(check.spans, len(text))
        if not spans and check.evidence:
            spans = _locate(check.evidence, text)
        ranges.append(spans)
    return ranges


def _principle_class(principle: str | None) -> str:
    return f"p-{principle}" if principle in PRINCIPLE_COLOURS else "p-other"


def _highlight(text: str, lo: int, hi: int, checks: list[CriterionResult],
               ranges: list[list[tuple[int, int]]]) -> str:
    """Escaped ``text[lo:hi]`` with ``<mark>`` over the failing checks' ranges.

    Overlapping ranges are flattened rather than nested: the slice is cut at every range boundary and each
    piece covered by at least one check becomes one ``<mark>`` naming all of them. The marks therefore never
    cross, whatever the spans look like, and a piece covered by two checks says so in its tooltip.
    """
    clipped = [(max(s, lo), min(e, hi), i) for i, rs in enumerate(ranges) for s, e in rs if s < hi and e > lo]
    points = sorted({lo, hi, *(s for s, _, _ in clipped), *(e for _, e, _ in clipped)})
    pieces: list[tuple[int, int, tuple[int, ...]]] = []
    for p, q in zip(points, points[1:]):
        cover = tuple(sorted({i for s, e, i in clipped if s <= p and q <= e}))
        if pieces and pieces[-1][2] == cover and pieces[-1][1] == p:
            pieces[-1] = (pieces[-1][0], q, cover)  # adjacent spans of the same checks: one mark
        else:
            pieces.append((p, q, cover))
    out = []
    for p, q, cover in pieces:
        chunk = _esc(text[p:q])
        if not cover:
            out.append(chunk)
            continue
        covering = [checks[i] for i in cover]
        principles = {c.principle for c in covering}
        css = _principle_class(next(iter(principles))) if len(principles) == 1 else "p-multi"
        if len(cover) > 1:
            css += " overlap"
        ids = " ".join(c.id for c in covering)
        tip = "\n".join(f"{c.id}: {c.message}" if c.message else c.id for c in covering)
        out.append(f'<mark class="{css}" data-checks="{_esc(ids)}" title="{_esc(tip)}">{chunk}</mark>')
    return "".join(out)


# --- pieces of the page -----------------------------------------------------------------------------------

def _table(headers: list[str], rows: Iterable[list[str]], numeric: set[int]) -> str:
    """An HTML table from already-escaped cells; ``numeric`` columns are right-aligned."""
    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""
    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _group_table(title: str, label: str, groups: dict[str, GroupSummary]) -> str:
    if not groups:
        return ""
    rows = [[_esc(name), _esc(g.count), fmt_pct(g.pass_rate), fmt_score(g.mean_score)] for name, g in groups.items()]
    return f"<section><h3>{_esc(title)}</h3>{_table([label, 'drafts', 'pass rate', 'mean score'], rows, {1, 2, 3})}" \
           "</section>"


def _judge_html(judge: JudgeInfo) -> str:
    """The judge's model and token usage, shown only when a judge actually ran."""
    if not judge.ran:
        return ""
    rows = [["model", _esc(judge.model or "n/a")]]
    rows += [[_esc(k.replace("_", " ")), _esc(v)] for k, v in judge.usage.model_dump().items()]
    return f"<section><h3>Judge</h3>{_table(['', ''], rows, {1})}</section>"


def criterion_chart(criteria: dict[str, CriterionSummary]) -> str:
    """Per-criterion pass rates as inline SVG bars: coloured by principle, blocking criteria marked with ◆."""
    if not criteria:
        return '<p class="meta">No criteria in this report.</p>'
    row_h, bar_max = 24, 420
    labels = {cid: f"{cid} {_BLOCKING_MARK}" if entry.blocking else cid for cid, entry in criteria.items()}
    label_w = max(140, int(7.2 * max(len(label) for label in labels.values())) + 16)
    width, height = label_w + bar_max + 70, row_h * len(criteria) + 8
    parts = [f'<svg role="img" aria-labelledby="chart-title" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title id="chart-title">Pass rate per criterion</title>']
    for n, (cid, entry) in enumerate(criteria.items()):
        rate = entry.rate
        principle = entry.principle
        colour = PRINCIPLE_COLOURS.get(principle or "", _OTHER_COLOUR)
        y = 4 + n * row_h
        bar_w = round(bar_max * max(0.0, min(1.0, rate)), 1) if rate is not None else 0
        tip = (f"{cid} ({principle or 'no principle'}{', blocking' if entry.blocking else ''}): "
               f"{entry.passed}/{entry.evaluated} passed, {fmt_pct(rate)}")
        stroke = ' stroke="#1f2328" stroke-width="1.5"' if entry.blocking else ""
        parts.append(
            f'<g class="bar" data-criterion="{_esc(cid)}"><title>{_esc(tip)}</title>'
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_esc(labels[cid])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_max}" height="{row_h - 8}" fill="#eaeef2" rx="3"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" fill="{colour}" rx="3"{stroke}/>'
            f'<text x="{label_w + bar_max + 8}" y="{y + 15}">{fmt_pct(rate)}</text></g>')
    parts.append("</svg>")
    used = list(dict.fromkeys(e.principle for e in criteria.values()))
    keys = "".join(f'<span><span class="swatch {_principle_class(p)}"></span>{_esc(p or "other")}</span>'
                   for p in used)
    keys += f"<span>{_BLOCKING_MARK} blocking (outlined bar)</span><span>click a bar to filter drafts</span>"
    return f'<div class="chart">{"".join(parts)}<div class="keys">{keys}</div></div>'


def _card(result: DraftResult) -> str:
    """One draft: its metadata and verdict, its text with failing evidence marked, and a legend of failures."""
    text, subject = result.text, result.subject or None
    failing = result.failing
    ranges = _check_ranges(failing, text)
    passed = result.passed
    meta = " · ".join(_esc(v or "—") for v in (result.kind, result.language, result.channel))
    lang = _esc(result.language)
    lang_attr = f' lang="{lang}"' if lang else ""

    parts = [f'<article class="card {"pass" if passed else "fail"}" id="draft-{_esc(result.draft_id)}" '
             f'data-passed="{"true" if passed else "false"}" '
             f'data-failing="{_esc(" ".join(c.id for c in failing))}">',
             f'<header><h3>{_esc(result.draft_id)}</h3>'
             f'<span class="badge {"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</span>'
             f'<span>score <b>{fmt_score(result.score)}</b></span>'
             f'<span class="meta">scenario <code>{_esc(result.scenario_id)}</code> · {meta}</span>']
    if result.blocking_failures:
        parts.append(f'<span class="meta">blocking failures: {_esc(", ".join(result.blocking_failures))}</span>')
    if result.ungraded:
        parts.append(f'<span class="meta">not graded by the judge: {_esc(result.ungraded)}</span>')
    parts.append("</header>")
    if subject is not None:
        parts.append(f'<div class="subject"{lang_attr}>{_highlight(text, 0, len(subject), failing, ranges)}</div>')
        start = len(subject) + 1
    else:
        start = 0
    parts.append(f'<div class="text"{lang_attr}>{_highlight(text, start, len(text), failing, ranges)}</div>')

    if failing:
        items = []
        for check, where in zip(failing, ranges):
            flags = ", ".join(x for x in (check.principle, check.grader, "blocking" if check.blocking else None) if x)
            ev = f' — evidence: <span class="evidence"{lang_attr}>{_esc(check.evidence)}</span>' \
                if check.evidence else ""
            # a missing element has no place in the text to mark: say what is missing, not "not located"
            note = "" if where else ' <span class="unlocated">(an absence: nothing to highlight)</span>'
            items.append(f'<li><code>{_esc(check.id)}</code> <span class="meta">({_esc(flags)})</span> '
                         f'{_esc(check.message)}{ev}{note}</li>')
        parts.append(f'<ol class="legend">{"".join(items)}</ol>')

    if result.checks:
        rows = [[f"<code>{_esc(c.id)}</code>", _esc(c.principle or ""), _esc(c.grader),
                 "yes" if c.blocking else "", "pass" if c.passed else "FAIL", fmt_score(c.score)]
                for c in result.checks]
        parts.append(f"<details><summary>All checks ({len(result.checks)})</summary>"
                     f"{_table(['check', 'principle', 'grader', 'blocking', 'verdict', 'score'], rows, {5})}"
                     "</details>")
    parts.append("</article>")
    return "".join(parts)


def _shown_note(shown: int, total: int) -> str:
    """What a capped page leaves out, said where the cards start, so nobody reads 1,000 cards as the whole run."""
    if shown >= total:
        return ""
    return (f'<p class="meta" id="shown-note">This page shows {shown:,} of the {total:,} drafts: the failing drafts '
            "first (most blocking failures, then lowest score). Every draft's result is in report.json.</p>")


def render_html(report: Report, *, title: str = DEFAULT_TITLE, max_drafts: int = SHOWN_DRAFTS) -> str:
    """The whole report as one self-contained HTML page (see the module docstring for why self-contained).

    At most ``max_drafts`` draft cards, the failing drafts first; the figures are always the whole run's.
    """
    summary = report.summary
    criteria = summary.by_criterion
    shown = ranked(report.results, max_drafts)
    total = max(summary.count, len(report.results))
    css, js = stylesheet(), script()
    csp = (f"default-src 'none'; style-src {csp_hash(css)}; script-src {csp_hash(js)}; "
           "img-src 'none'; font-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'")

    stats = [("drafts", _esc(summary.count)), ("passed", _esc(summary.passed)),
             ("pass rate", fmt_pct(summary.pass_rate)), ("mean score", fmt_score(summary.mean_score)),
             ("threshold", fmt_score(summary.threshold))]
    meta = []
    if summary.rubric_version:
        meta.append(f"rubric <code>{_esc(summary.rubric_version)}</code>")
    if summary.created:
        meta.append(f"created {_esc(summary.created)}")

    criterion_ids = "".join(f'<option value="{_esc(cid)}"></option>' for cid in criteria)
    cards = "\n".join(_card(r) for r in shown)
    heading = f"Drafts ({len(shown)})" if len(shown) >= total else f"Drafts ({len(shown):,} of {total:,})"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_esc(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{" · ".join(meta)}</p>' if meta else "",
        '<section class="stats">' + "".join(f'<div class="stat">{k}<b>{v}</b></div>' for k, v in stats)
        + "</section>",
        '<div class="tables">' + _group_table("By kind", "kind", summary.by_kind)
        + _group_table("By language", "language", summary.by_language)
        + _group_table("By channel", "channel", summary.by_channel)
        + _judge_html(summary.judge) + "</div>",
        "<h2>Pass rate per criterion</h2>",
        criterion_chart(criteria),
        f"<h2>{heading}</h2>",
        _shown_note(len(shown), total),
        '<div class="controls">'
        '<label><input type="checkbox" id="failures-only"> show failures only</label>'
        '<label>failing criterion <input type="text" id="criterion-filter" list="criterion-ids" '
        'placeholder="e.g. fabricated_fact" autocomplete="off"></label>'
        f'<datalist id="criterion-ids">{criterion_ids}</datalist>'
        f'<span id="shown-count" class="meta">{len(shown)} of {len(shown)} drafts shown</span>'
        "</div>",
        f'<main id="drafts">{cards}</main>',
        f"<script>{js}</script>",
        "</body>",
        "</html>",
        "",
    ])
