"""Tracked changes between two versions of a draft: words for English, characters for Chinese.

A PM reading a revised draft wants to see what changed, next to what the checks now say differently. The diff is
computed on tokens (a word and the space after it for Latin text; one character for CJK text), so a changed
figure or a reworded clause shows as itself, not as a rewritten paragraph. Verdicts come from the records (the
guard's, and the rubric's when they were drafted with ``--evaluate``) or, given the scenario, from evaluating both.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DraftDiff", "diff_records", "render_html", "render_markdown", "render_text", "token_diff"]

_TOKEN = re.compile(r"[\u3000-\u9fff\uf900-\uffef]|[A-Za-z0-9_'’-]+\s*|\s+|[^\sA-Za-z0-9_\u3000-\u9fff\uf900-\uffef]")


def token_diff(a: str, b: str) -> list[tuple[str, str]]:
    """``[(op, text)]`` with op ``=``, ``-`` or ``+``: the tracked changes that turn ``a`` into ``b``."""
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("=", "".join(ta[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", "".join(ta[i1:i2])))
        if j2 > j1:
            out.append(("+", "".join(tb[j1:j2])))
    return out


@dataclass(slots=True)
class DraftDiff:
    draft_id: str
    subject: list[tuple[str, str]]
    body: list[tuple[str, str]]
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)
    """(check, before, after) for each check whose verdict changed: ``pass`` / ``fail`` / ``-`` (not run)."""

    @property
    def changed(self) -> bool:
        return any(op != "=" for op, _ in self.subject + self.body) or bool(self.verdicts)


def _verdicts(record: dict[str, Any], scenario: Any) -> dict[str, str]:
    if scenario is not None:
        from pmcomm_llm.evaluation.scoring import evaluate

        return {c.id: "pass" if c.passed else "fail" for c in evaluate(record, scenario).checks}
    out: dict[str, str] = {}
    guard = (record.get("meta") or {}).get("guard") or {}
    if guard:
        failing = {v.get("id") for v in guard.get("violations") or []}
        out.update({f"guard:{cid}": "fail" for cid in failing if cid})
        out["guard"] = "pass" if guard.get("passed") else "fail"
    for check in (record.get("evaluation") or {}).get("checks") or []:
        out[check["id"]] = "pass" if check.get("passed") else "fail"
    return out


def diff_records(a: dict[str, Any], b: dict[str, Any], scenario: Any = None) -> DraftDiff:
    """Two output records of the same draft (``pmcomm draft`` lines) compared: text and verdicts."""
    da, db = a.get("draft") or a, b.get("draft") or b
    va, vb = _verdicts(a, scenario), _verdicts(b, scenario)
    changed = [(k, va.get(k, "-"), vb.get(k, "-")) for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
    return DraftDiff(str(b.get("id") or a.get("id") or ""), token_diff(da.get("subject") or "", db.get("subject") or ""),
                     token_diff(da.get("body") or "", db.get("body") or ""), changed)


def render_text(d: DraftDiff, *, colour: bool = False) -> str:
    """For a terminal: ``[-deleted-]{+inserted+}`` (red and green with ``colour``), then the changed verdicts."""
    def show(ops: list[tuple[str, str]]) -> str:
        parts = []
        for op, text in ops:
            if op == "=":
                parts.append(text)
            elif colour:
                parts.append(("\x1b[31m" if op == "-" else "\x1b[32m") + text + "\x1b[0m")
            else:
                parts.append(f"[-{text}-]" if op == "-" else f"{{+{text}+}}")
        return "".join(parts)

    lines = [f"== {d.draft_id}"]
    if any(text for _, text in d.subject):
        lines.append("Subject: " + show(d.subject))
    lines.append(show(d.body))
    lines += [f"  {check}: {before} → {after}" for check, before, after in d.verdicts]
    return "\n".join(lines)


def render_markdown(d: DraftDiff) -> str:
    def show(ops: list[tuple[str, str]]) -> str:
        return "".join(text if op == "=" else f"~~{text}~~" if op == "-" else f"**{text}**" for op, text in ops
                       if text.strip() or op == "=")

    lines = [f"## {d.draft_id}", ""]
    if any(text for _, text in d.subject):
        lines += [f"**Subject:** {show(d.subject)}", ""]
    lines += [show(d.body), ""]
    if d.verdicts:
        lines += ["| check | before | after |", "| --- | --- | --- |"]
        lines += [f"| `{c}` | {x} | {y} |" for c, x, y in d.verdicts] + [""]
    return "\n".join(lines)


def render_html(diffs: list[DraftDiff]) -> str:
    """One self-contained page (no scripts, no network): deletions struck in red, insertions in green."""
    def show(ops: list[tuple[str, str]]) -> str:
        return "".join(html.escape(text) if op == "=" else f"<{'del' if op == '-' else 'ins'}>{html.escape(text)}"
                       f"</{'del' if op == '-' else 'ins'}>" for op, text in ops)

    cards = []
    for d in diffs:
        rows = "".join(f"<tr><td><code>{html.escape(c)}</code></td><td>{x}</td><td>{y}</td></tr>"
                       for c, x, y in d.verdicts)
        table = f"<table><tr><th>check</th><th>before</th><th>after</th></tr>{rows}</table>" if rows else ""
        subject = f'<p class="subject">{show(d.subject)}</p>' if any(t for _, t in d.subject) else ""
        cards.append(f'<article><h2>{html.escape(d.draft_id)}</h2>{subject}<div class="text">{show(d.body)}</div>'
                     f"{table}</article>")
    css = ("body{font:15px/1.6 system-ui,-apple-system,\"Segoe UI\",\"PingFang SC\",\"Microsoft YaHei\","
           "\"Noto Sans CJK SC\",\"PingFang TC\",\"Microsoft JhengHei\",sans-serif;max-width:60rem;margin:2rem auto}"
           ".text{white-space:pre-wrap}del{background:#ffd7d5;color:#82071e}ins{background:#d2f4d3;"
           "text-decoration:none}table{border-collapse:collapse;margin-top:.5rem}td,th{border:1px solid #ccc;"
           "padding:.2rem .5rem}")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" "
            "content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>pmcomm diff</title>"
            f"<style>{css}</style></head><body>{''.join(cards)}</body></html>")
