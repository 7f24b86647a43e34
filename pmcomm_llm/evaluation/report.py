"""Renderers and comparison for the evaluation report (``report.json``): pure functions over its dict.

The evaluation harness writes the report; this module only reads it, so a report saved months ago can be
re-rendered or compared with today's without re-running anything. Nothing here imports the harness.

The HTML report is one self-contained file meant to be mailed around and opened from disk: inline CSS and a
little inline JS, no fonts, images or scripts fetched from anywhere, and a Content-Security-Policy that pins
the inline script and style by hash, so even a draft body that slipped past escaping could neither run code
nor reach the network. Output is deterministic for the same input: the only timestamp is the report's own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Collection, Iterable
from typing import Any

from pmcomm_llm.core.errors import PmcommError

__all__ = ["compare_reports", "criterion_chart", "render_comparison", "render_html", "render_markdown"]

DEFAULT_TITLE = "pmcomm-llm evaluation"

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


# --- small helpers ----------------------------------------------------------------------------------------

def _esc(value: Any) -> str:
    """Every piece of report text goes through here: drafts are model output and may contain markup."""
    return html.escape("" if value is None else str(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pct(rate: Any) -> str:
    """A 0..1 rate as ``38.0%``; ``n/a`` when the report has none (e.g. a criterion evaluated on no draft)."""
    return f"{rate * 100:.1f}%" if _is_number(rate) else "n/a"


def _score(value: Any) -> str:
    return f"{value:.3f}" if _is_number(value) else ("n/a" if value is None else str(value))


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


def _delta(a: Any, b: Any) -> float | None:
    """``b - a`` rounded to 6 places (float noise would otherwise show up in JSON); ``None`` if either is missing."""
    if not (_is_number(a) and _is_number(b)):
        return None
    return round(b - a, 6)


def _criterion_rate(entry: dict[str, Any]) -> float | None:
    """The criterion's pass rate, derived from its counts when the report left the rate out."""
    rate = entry.get("pass_rate")
    if _is_number(rate):
        return float(rate)
    evaluated, passed = entry.get("evaluated"), entry.get("passed")
    if _is_number(evaluated) and evaluated and _is_number(passed):
        return passed / evaluated
    return None


def _failing_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in result.get("checks") or () if c.get("passed") is False]


def _draft_text(result: dict[str, Any]) -> tuple[str, str | None, str]:
    """``(text, subject, body)`` where ``text`` is the string the check spans index into.

    Mirrors ``Candidate.text``: the subject and body joined by a newline when there is a subject, else the body.
    """
    subject = result.get("subject")
    body = result.get("body") or ""
    if isinstance(subject, str) and subject:
        return f"{subject}\n{body}", subject, body
    return body, None, body


# --- highlighting -----------------------------------------------------------------------------------------

def _valid_spans(spans: Any, length: int) -> list[tuple[int, int]]:
    """Spans clamped to the text; malformed or empty ones are dropped instead of corrupting the markup."""
    out: list[tuple[int, int]] = []
    for span in spans or ():
        if not isinstance(span, (list, tuple)) or len(span) != 2 or not all(_is_number(x) for x in span):
            continue
        start, end = max(0, int(span[0])), min(length, int(span[1]))
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


def _check_ranges(checks: list[dict[str, Any]], text: str) -> list[list[tuple[int, int]]]:
    """Per failing check, the ranges to highlight: its spans, or failing those, its evidence found in the text."""
    ranges = []
    for check in checks:
        spans = _valid_spans(check.get("spans"), len(text))
        if not spans and isinstance(check.get("evidence"), str):
            spans = _locate(check["evidence"], text)
        ranges.append(spans)
    return ranges


def _principle_class(principle: Any) -> str:
    return f"p-{principle}" if principle in PRINCIPLE_COLOURS else "p-other"


def _highlight(text: str, lo: int, hi: int, checks: list[dict[str, Any]],
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
        principles = {c.get("principle") for c in covering}
        css = _principle_class(next(iter(principles))) if len(principles) == 1 else "p-multi"
        if len(cover) > 1:
            css += " overlap"
        ids = " ".join(str(c.get("id", "")) for c in covering)
        tip = "\n".join(f"{c.get('id', '')}: {c['message']}" if c.get("message") else str(c.get("id", ""))
                        for c in covering)
        out.append(f'<mark class="{css}" data-checks="{_esc(ids)}" title="{_esc(tip)}">{chunk}</mark>')
    return "".join(out)


# --- HTML -------------------------------------------------------------------------------------------------

_CSS_BASE = """\
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 1.5rem; color: #1f2328; background: #f6f7f9;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
  "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "PingFang TC",
  "Microsoft JhengHei", "Noto Sans CJK TC", "Noto Sans TC", sans-serif; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { margin: 2rem 0 .6rem; font-size: 1.2rem; }
.meta { color: #57606a; font-size: .9rem; }
.stats { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; }
.stat { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: .6rem .9rem; min-width: 8rem; }
.stat b { display: block; font-size: 1.35rem; }
.tables { display: flex; flex-wrap: wrap; gap: 1.5rem; }
table { border-collapse: collapse; background: #fff; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: .75rem; overflow-x: auto; }
.chart svg { display: block; font-size: 12px; }
.chart .bar { cursor: pointer; }
.chart text { fill: #1f2328; }
.keys { display: flex; flex-wrap: wrap; gap: .4rem 1rem; margin-top: .5rem; font-size: .85rem; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .3em;
  vertical-align: -.05em; }
.controls { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center;
  background: #f6f7f9; padding: .6rem 0; border-bottom: 1px solid #d0d7de; }
.controls input[type=text] { padding: .25rem .4rem; font: inherit; width: 16rem; }
.card { background: #fff; border: 1px solid #d0d7de; border-left: 5px solid #3f9a44; border-radius: 8px;
  padding: .8rem 1rem; margin: 1rem 0; }
.card.fail { border-left-color: #d64545; }
.card header { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: baseline; }
.card h3 { margin: 0; font-size: 1.05rem; }
.badge { font-weight: 700; font-size: .8rem; padding: .05rem .45rem; border-radius: 4px; color: #fff; }
.badge.pass { background: #3f9a44; }
.badge.fail { background: #d64545; }
.subject { font-weight: 600; margin: .6rem 0 .2rem; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: #fbfbfc; border: 1px solid #eaeef2;
  border-radius: 6px; padding: .6rem .8rem; }
mark { background: #fff1a8; border-bottom: 2px solid #999; padding: 0 1px; }
mark.overlap { background: #ffd27a; }
.legend { margin: .6rem 0 0; padding-left: 1.4rem; font-size: .9rem; }
.legend li { margin: .2rem 0; }
.legend .evidence { background: #fff1a8; }
.unlocated { color: #57606a; font-style: italic; }
details { margin-top: .5rem; font-size: .85rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
[hidden] { display: none !important; }
"""

# The filter script reads only data attributes, never the draft text, so there is nothing to inject into it.
_SCRIPT = """\
(function () {
  var only = document.getElementById("failures-only");
  var filter = document.getElementById("criterion-filter");
  var counter = document.getElementById("shown-count");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  function apply() {
    var q = filter.value.trim().toLowerCase();
    var shown = 0;
    cards.forEach(function (card) {
      var failing = (card.getAttribute("data-failing") || "").split(" ").filter(Boolean);
      var hide = (only.checked && card.getAttribute("data-passed") === "true") ||
        (q !== "" && !failing.some(function (id) { return id.toLowerCase().indexOf(q) !== -1; }));
      card.hidden = hide;
      if (!hide) { shown += 1; }
    });
    counter.textContent = shown + " of " + cards.length + " drafts shown";
  }
  only.addEventListener("change", apply);
  filter.addEventListener("input", apply);
  Array.prototype.forEach.call(document.querySelectorAll("[data-criterion]"), function (el) {
    el.addEventListener("click", function () {
      filter.value = filter.value === el.getAttribute("data-criterion") ? "" : el.getAttribute("data-criterion");
      apply();
    });
  });
  apply();
})();
"""


def _css() -> str:
    rules = [f".p-{p} {{ background: {c}; }}\nmark.p-{p} {{ background: {c}33; border-bottom-color: {c}; }}"
             for p, c in PRINCIPLE_COLOURS.items()]
    rules.append(f".p-other {{ background: {_OTHER_COLOUR}; }}\n"
                 f"mark.p-other {{ background: {_OTHER_COLOUR}33; border-bottom-color: {_OTHER_COLOUR}; }}")
    rules.append("mark.p-multi { background: #ffd27a; border-bottom-color: #1f2328; }")
    return _CSS_BASE + "\n".join(rules) + "\n"


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _table(headers: list[str], rows: Iterable[list[str]], numeric: set[int]) -> str:
    """An HTML table from already-escaped cells; ``numeric`` columns are right-aligned."""
    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""
    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _group_table(title: str, label: str, groups: Any) -> str:
    if not isinstance(groups, dict) or not groups:
        return ""
    rows = [[_esc(name), _esc(g.get("count", "")), _pct(g.get("pass_rate")), _score(g.get("mean_score"))]
            for name, g in groups.items()]
    return f"<section><h3>{_esc(title)}</h3>{_table([label, 'drafts', 'pass rate', 'mean score'], rows, {1, 2, 3})}" \
           "</section>"


def _judge_html(judge: Any) -> str:
    """The judge's model and token usage, shown only when a judge actually ran."""
    if not isinstance(judge, dict):
        return ""
    usage = judge.get("usage") if isinstance(judge.get("usage"), dict) else {}
    if judge.get("model") is None and not any(_is_number(v) and v for v in usage.values()):
        return ""
    rows = [["model", _esc(judge.get("model") or "n/a")]]
    rows += [[_esc(k.replace("_", " ")), _esc(v)] for k, v in usage.items()]
    return f"<section><h3>Judge</h3>{_table(['', ''], rows, {1})}</section>"


def criterion_chart(criteria: dict[str, Any]) -> str:
    """Per-criterion pass rates as inline SVG bars: coloured by principle, blocking criteria marked with ◆."""
    if not criteria:
        return '<p class="meta">No criteria in this report.</p>'
    row_h, bar_max = 24, 420
    labels = {cid: f"{cid} {_BLOCKING_MARK}" if entry.get("blocking") else str(cid)
              for cid, entry in criteria.items()}
    label_w = max(140, int(7.2 * max(len(label) for label in labels.values())) + 16)
    width, height = label_w + bar_max + 70, row_h * len(criteria) + 8
    parts = [f'<svg role="img" aria-labelledby="chart-title" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title id="chart-title">Pass rate per criterion</title>']
    for n, (cid, entry) in enumerate(criteria.items()):
        rate = _criterion_rate(entry)
        principle = entry.get("principle")
        colour = PRINCIPLE_COLOURS.get(principle, _OTHER_COLOUR)
        y = 4 + n * row_h
        bar_w = round(bar_max * max(0.0, min(1.0, rate)), 1) if rate is not None else 0
        tip = (f"{cid} ({principle or 'no principle'}{', blocking' if entry.get('blocking') else ''}): "
               f"{entry.get('passed', '?')}/{entry.get('evaluated', '?')} passed, {_pct(rate)}")
        stroke = ' stroke="#1f2328" stroke-width="1.5"' if entry.get("blocking") else ""
        parts.append(
            f'<g class="bar" data-criterion="{_esc(cid)}"><title>{_esc(tip)}</title>'
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_esc(labels[cid])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_max}" height="{row_h - 8}" fill="#eaeef2" rx="3"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" fill="{colour}" rx="3"{stroke}/>'
            f'<text x="{label_w + bar_max + 8}" y="{y + 15}">{_pct(rate)}</text></g>')
    parts.append("</svg>")
    used = list(dict.fromkeys(e.get("principle") for e in criteria.values()))
    keys = "".join(f'<span><span class="swatch {_principle_class(p)}"></span>{_esc(p or "other")}</span>'
                   for p in used)
    keys += f"<span>{_BLOCKING_MARK} blocking (outlined bar)</span><span>click a bar to filter drafts</span>"
    return f'<div class="chart">{"".join(parts)}<div class="keys">{keys}</div></div>'


def _card(result: dict[str, Any]) -> str:
    """One draft: its metadata and verdict, its text with failing evidence marked, and a legend of failures."""
    text, subject, body = _draft_text(result)
    failing = _failing_checks(result)
    ranges = _check_ranges(failing, text)
    passed = result.get("passed") is True
    draft_id = result.get("draft_id", "")
    meta = " · ".join(_esc(result.get(k) or "—") for k in ("kind", "language", "channel"))
    blocking = result.get("blocking_failures") or []
    lang = _esc(result.get("language") or "")
    lang_attr = f' lang="{lang}"' if lang else ""

    parts = [f'<article class="card {"pass" if passed else "fail"}" id="draft-{_esc(draft_id)}" '
             f'data-passed="{"true" if passed else "false"}" '
             f'data-failing="{_esc(" ".join(str(c.get("id", "")) for c in failing))}">',
             f'<header><h3>{_esc(draft_id)}</h3>'
             f'<span class="badge {"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</span>'
             f'<span>score <b>{_score(result.get("score"))}</b></span>'
             f'<span class="meta">scenario <code>{_esc(result.get("scenario_id", ""))}</code> · {meta}</span>']
    if blocking:
        parts.append(f'<span class="meta">blocking failures: {_esc(", ".join(map(str, blocking)))}</span>')
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
            flags = ", ".join(x for x in (check.get("principle"), check.get("grader"),
                                          "blocking" if check.get("blocking") else None) if x)
            evidence = check.get("evidence")
            ev = f' — evidence: <span class="evidence"{lang_attr}>{_esc(evidence)}</span>' if evidence else ""
            # a missing element has no place in the text to mark: say what is missing, not "not located"
            note = "" if where else ' <span class="unlocated">(an absence: nothing to highlight)</span>'
            items.append(f'<li><code>{_esc(check.get("id", ""))}</code> <span class="meta">({_esc(flags)})</span> '
                         f'{_esc(check.get("message") or "")}{ev}{note}</li>')
        parts.append(f'<ol class="legend">{"".join(items)}</ol>')

    checks = result.get("checks") or []
    if checks:
        rows = [[f"<code>{_esc(c.get('id', ''))}</code>", _esc(c.get("principle") or ""), _esc(c.get("grader") or ""),
                 "yes" if c.get("blocking") else "", "pass" if c.get("passed") else "FAIL",
                 _score(c.get("score"))] for c in checks]
        parts.append(f"<details><summary>All checks ({len(checks)})</summary>"
                     f"{_table(['check', 'principle', 'grader', 'blocking', 'verdict', 'score'], rows, {5})}"
                     "</details>")
    parts.append("</article>")
    return "".join(parts)


def render_html(report: dict[str, Any], *, title: str = DEFAULT_TITLE) -> str:
    """The whole report as one self-contained HTML page (see the module docstring for why self-contained)."""
    summary = report.get("summary") or {}
    results = report.get("results") or []
    criteria = summary.get("by_criterion") or {}
    css = _css()
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(_SCRIPT)}; "
           "img-src 'none'; font-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'")

    stats = [("drafts", _esc(summary.get("count", len(results)))), ("passed", _esc(summary.get("passed", "n/a"))),
             ("pass rate", _pct(summary.get("pass_rate"))), ("mean score", _score(summary.get("mean_score"))),
             ("threshold", _score(summary.get("threshold")))]
    meta = []
    if summary.get("rubric_version"):
        meta.append(f"rubric <code>{_esc(summary['rubric_version'])}</code>")
    if summary.get("created"):
        meta.append(f"created {_esc(summary['created'])}")

    criterion_ids = "".join(f'<option value="{_esc(cid)}"></option>' for cid in criteria)
    # failing drafts first (most blocking failures, then lowest score), then the passing ones
    ordered = sorted(results, key=lambda r: (bool(r.get("passed")), -len(r.get("blocking_failures") or []),
                                             r.get("score", 1.0)))
    cards = "\n".join(_card(r) for r in ordered)
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
        '<div class="tables">' + _group_table("By kind", "kind", summary.get("by_kind"))
        + _group_table("By language", "language", summary.get("by_language"))
        + _judge_html(summary.get("judge")) + "</div>",
        "<h2>Pass rate per criterion</h2>",
        criterion_chart(criteria),
        f"<h2>Drafts ({len(results)})</h2>",
        '<div class="controls">'
        '<label><input type="checkbox" id="failures-only"> show failures only</label>'
        '<label>failing criterion <input type="text" id="criterion-filter" list="criterion-ids" '
        'placeholder="e.g. fabricated_fact" autocomplete="off"></label>'
        f'<datalist id="criterion-ids">{criterion_ids}</datalist>'
        f'<span id="shown-count" class="meta">{len(results)} of {len(results)} drafts shown</span>'
        "</div>",
        f'<main id="drafts">{cards}</main>',
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


# --- Markdown ---------------------------------------------------------------------------------------------

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


def render_markdown(report: dict[str, Any], *, title: str = DEFAULT_TITLE) -> str:
    """A Markdown report for pull requests and chat: the numbers, then only what failed and why."""
    summary = report.get("summary") or {}
    results = report.get("results") or []
    lines = [f"# {_md(title)}", ""]

    rows = [["drafts", _md(summary.get("count", len(results)))], ["passed", _md(summary.get("passed", "n/a"))],
            ["pass rate", _pct(summary.get("pass_rate"))], ["mean score", _score(summary.get("mean_score"))],
            ["threshold", _score(summary.get("threshold"))]]
    if summary.get("rubric_version"):
        rows.append(["rubric", _md(summary["rubric_version"])])
    if summary.get("created"):
        rows.append(["created", _md(summary["created"])])
    judge = summary.get("judge") if isinstance(summary.get("judge"), dict) else {}
    usage = judge.get("usage") if isinstance(judge.get("usage"), dict) else {}
    if judge.get("model") is not None or any(_is_number(v) and v for v in usage.values()):
        used = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in usage.items())
        rows.append(["judge", _md(f"{judge.get('model') or 'n/a'}" + (f" ({used})" if used else ""))])
    lines += _md_table(["metric", "value"], rows, {1})

    for heading, label, key in (("By kind", "kind", "by_kind"), ("By language", "language", "by_language")):
        groups = summary.get(key)
        if isinstance(groups, dict) and groups:
            lines += ["", f"## {heading}", ""]
            lines += _md_table([label, "drafts", "pass rate", "mean score"],
                               ([_md(name), _md(g.get("count", "")), _pct(g.get("pass_rate")),
                                 _score(g.get("mean_score"))] for name, g in groups.items()), {1, 2, 3})

    criteria = summary.get("by_criterion") or {}
    if criteria:
        lines += ["", "## Criteria", ""]
        lines += _md_table(["criterion", "principle", "blocking", "evaluated", "pass rate"],
                           ([_md(cid), _md(e.get("principle") or ""), "yes" if e.get("blocking") else "no",
                             _md(e.get("evaluated", "")), _pct(_criterion_rate(e))] for cid, e in criteria.items()),
                           {3, 4})

    failing_drafts = [r for r in results if r.get("passed") is not True]
    lines += ["", f"## Failing drafts ({len(failing_drafts)})", ""]
    if not failing_drafts:
        lines.append("No failing drafts.")
    for result in failing_drafts:
        meta = " · ".join(_md(result.get(k) or "—") for k in ("kind", "language", "channel"))
        lines += [f"### {_md(result.get('draft_id', ''))} — score {_score(result.get('score'))}", "",
                  f"Scenario {_md_code(result.get('scenario_id', ''))} · {meta}"]
        if result.get("blocking_failures"):
            lines[-1] += " · blocking: " + ", ".join(_md(b) for b in result["blocking_failures"])
        lines.append("")
        checks = _failing_checks(result)
        if not checks:
            lines.append("- (no failing check recorded; the score is below the threshold)")
        for check in checks:
            flags = ", ".join(x for x in (check.get("principle"), check.get("grader"),
                                          "blocking" if check.get("blocking") else None) if x)
            lines.append(f"- **{_md(check.get('id', ''))}** ({_md(flags)}): evidence {_md_code(check.get('evidence'))}"
                         f" — {_md(check.get('message') or '')}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- comparison -------------------------------------------------------------------------------------------

def _by_draft(report: dict[str, Any], side: str) -> dict[str, dict[str, Any]]:
    """Results keyed by ``draft_id``; a duplicate id is an error because the match would be a guess."""
    out: dict[str, dict[str, Any]] = {}
    for result in report.get("results") or []:
        draft_id = str(result.get("draft_id"))
        if draft_id in out:
            raise PmcommError(f"report {side} has draft_id {draft_id!r} more than once; cannot match drafts")
        out[draft_id] = result
    return out


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from report ``a`` (before) to report ``b`` (after); every delta is ``b - a``.

    Drafts are matched by ``draft_id``. ``changed`` lists only drafts whose pass/fail verdict flipped, since a
    score moving within the same verdict is noise for review; their newly failing and newly passing check ids
    say why. Criteria missing from one side keep ``None`` there and a ``None`` delta, sorted after the rest.
    """
    sa, sb = a.get("summary") or {}, b.get("summary") or {}
    ra, rb = _by_draft(a, "a"), _by_draft(b, "b")
    summary = {
        "count_a": sa.get("count", len(ra)), "count_b": sb.get("count", len(rb)),
        "pass_rate_a": sa.get("pass_rate"), "pass_rate_b": sb.get("pass_rate"),
        "pass_rate_delta": _delta(sa.get("pass_rate"), sb.get("pass_rate")),
        "mean_score_a": sa.get("mean_score"), "mean_score_b": sb.get("mean_score"),
        "mean_score_delta": _delta(sa.get("mean_score"), sb.get("mean_score")),
    }

    ca, cb = sa.get("by_criterion") or {}, sb.get("by_criterion") or {}
    criteria = []
    for cid in set(ca) | set(cb):
        rate_a = _criterion_rate(ca[cid]) if cid in ca else None
        rate_b = _criterion_rate(cb[cid]) if cid in cb else None
        criteria.append({"id": cid, "pass_rate_a": rate_a, "pass_rate_b": rate_b, "delta": _delta(rate_a, rate_b)})
    criteria.sort(key=lambda c: (c["delta"] is None, -abs(c["delta"] or 0.0), c["id"]))

    changed = []
    for draft_id in sorted(set(ra) & set(rb)):
        da, db = ra[draft_id], rb[draft_id]
        if bool(da.get("passed")) == bool(db.get("passed")):
            continue
        fail_a = {str(c.get("id")) for c in _failing_checks(da)}
        fail_b = {str(c.get("id")) for c in _failing_checks(db)}
        changed.append({"draft_id": draft_id, "passed_a": bool(da.get("passed")), "passed_b": bool(db.get("passed")),
                        "score_a": da.get("score"), "score_b": db.get("score"),
                        "newly_failing": sorted(fail_b - fail_a), "newly_passing": sorted(fail_a - fail_b)})

    return {"summary": summary, "criteria": criteria, "changed": changed,
            "only_in_a": sorted(set(ra) - set(rb)), "only_in_b": sorted(set(rb) - set(ra))}


def render_comparison(cmp: dict[str, Any]) -> str:
    """The comparison as plain text for a terminal: summary deltas, criteria table, flipped verdicts."""
    s = cmp.get("summary") or {}
    rows = [("drafts", str(s.get("count_a", "n/a")), str(s.get("count_b", "n/a")),
             _signed_count(_delta(s.get("count_a"), s.get("count_b")))),
            ("pass rate", _pct(s.get("pass_rate_a")), _pct(s.get("pass_rate_b")),
             _signed_pct(s.get("pass_rate_delta"))),
            ("mean score", _score(s.get("mean_score_a")), _score(s.get("mean_score_b")),
             _signed_score(s.get("mean_score_delta")))]
    lines = ["Summary (a → b)"]
    lines += [f"  {name:<11}{va:>9} → {vb:<9}({d})" for name, va, vb, d in rows]

    criteria = cmp.get("criteria") or []
    if criteria:
        width = max(len("criterion"), *(len(str(c.get("id"))) for c in criteria))
        lines += ["", "Criteria", f"  {'criterion':<{width}}  {'a':>7}  {'b':>7}  {'delta':>7}"]
        lines += [f"  {str(c.get('id')):<{width}}  {_pct(c.get('pass_rate_a')):>7}  {_pct(c.get('pass_rate_b')):>7}"
                  f"  {_signed_pct(c.get('delta')):>7}" for c in criteria]

    changed = cmp.get("changed") or []
    lines += ["", f"Verdict changed ({len(changed)})"]
    if not changed:
        lines.append("  none")
    width = max((len(str(c.get("draft_id"))) for c in changed), default=0)
    for c in changed:
        verdicts = f"{'PASS' if c.get('passed_a') else 'FAIL'} → {'PASS' if c.get('passed_b') else 'FAIL'}"
        why = []
        if c.get("newly_failing"):
            why.append("newly failing: " + ", ".join(c["newly_failing"]))
        if c.get("newly_passing"):
            why.append("newly passing: " + ", ".join(c["newly_passing"]))
        line = f"  {str(c.get('draft_id')):<{width}}  {verdicts}"
        if why:
            line += "  " + "; ".join(why)
        lines.append(line)

    for key, label in (("only_in_a", "Only in a"), ("only_in_b", "Only in b")):
        ids = cmp.get(key) or []
        if ids:
            lines += ["", f"{label} ({len(ids)}): " + ", ".join(map(str, ids))]
    return "\n".join(lines) + "\n"
