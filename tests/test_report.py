"""The report models, renderers, store and comparison, on a small synthetic ``report.json``.

The report is built here rather than produced by the evaluation harness: these functions only read a
:class:`Report`, and a hand-made one lets each test aim at one edge (overlapping spans, a hostile body, a judge
quote without offsets, CJK text) without depending on what the harness happens to emit. The tests at the end
run the harness to check what it writes: every draft once, atomically, in a file the models read back.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from pmcomm_llm.cli.commands import cli
from pmcomm_llm.core.errors import InputFileError, PmcommError
from pmcomm_llm.evaluation.calibration import golden_set
from pmcomm_llm.evaluation.report import (
    DraftResult,
    Report,
    ReportReader,
    ReportWriter,
    Shortlist,
    compare_report_files,
    compare_reports,
    load_report,
    ranked,
    render_comparison,
    render_html,
    render_markdown,
)
from pmcomm_llm.evaluation.scoring import (
    DraftRecord,
    check_draft_file,
    evaluate_many,
    evaluate_to_file,
    load_scenarios,
)

ROOT = Path(__file__).resolve().parent.parent

# --- the synthetic report ---------------------------------------------------------------------------------

ZH_SUBJECT = "交付时间调整说明"
ZH_BODY = "李总，您好：\n新的交付日期是2027年2月15日，我们保证不会再延期。\n此致"
ZH_TEXT = f"{ZH_SUBJECT}\n{ZH_BODY}"
EN_BODY = "Hi Sam,\nThe fix costs $5,000 extra. <script>alert(1)</script>\nYour team caused this delay."
TW_BODY = "陳經理您好：\n感謝您的耐心，新版本將於三月上線。"
EN2_BODY = "Hi Ana,\nWe can ship the reduced scope on the agreed date."
JUDGE_QUOTE = "Your team caused this delay."


def _span(text: str, needle: str) -> list[int]:
    start = text.index(needle)
    return [start, start + len(needle)]


def _check(cid: str, passed: bool, *, principle: str, grader: str = "check", blocking: bool = False,
           evidence: str = "", message: str = "", spans: list[list[int]] | None = None) -> dict[str, Any]:
    return {"id": cid, "principle": principle, "grader": grader, "blocking": blocking, "passed": passed,
            "score": 1.0 if passed else 0.0, "evidence": evidence, "message": message, "spans": spans or []}


def _passing_checks() -> list[dict[str, Any]]:
    return [_check("fabricated_fact", True, principle="safety", blocking=True),
            _check("unauthorized_commitment", True, principle="boundaries", blocking=True),
            _check("blame", True, principle="tone", grader="judge"),
            _check("structure_order", True, principle="structure")]


def _criterion(principle: str, grader: str, blocking: bool, evaluated: int, passed: int) -> dict[str, Any]:
    return {"principle": principle, "grader": grader, "blocking": blocking, "evaluated": evaluated,
            "passed": passed, "pass_rate": passed / evaluated}


def _report() -> dict[str, Any]:
    zh_checks = _passing_checks()
    # Two failing checks whose spans overlap on "2月15日".
    zh_checks[0] = _check("fabricated_fact", False, principle="safety", blocking=True, evidence="2027年2月15日",
                          message="states figures the scenario does not contain: 2027年2月15日",
                          spans=[_span(ZH_TEXT, "2027年2月15日")])
    zh_checks[1] = _check("unauthorized_commitment", False, principle="boundaries", blocking=True,
                          evidence="2月15日，我们保证", message="promises what the team has not agreed to",
                          spans=[_span(ZH_TEXT, "2月15日，我们保证")])
    en_checks = _passing_checks()
    en_checks[0] = _check("fabricated_fact", False, principle="safety", blocking=True, evidence="$5,000",
                          message="states figures the scenario does not contain: $5,000",
                          spans=[_span(EN_BODY, "$5,000")])
    # A judge check: a verbatim quote and no offsets.
    en_checks[2] = _check("blame", False, principle="tone", grader="judge", evidence=JUDGE_QUOTE,
                          message="blames the client for the delay")
    return {
        "summary": {
            "count": 4, "passed": 2, "pass_rate": 0.5, "mean_score": 0.7, "threshold": 0.8,
            "by_kind": {"delay_notice": {"count": 2, "pass_rate": 0.0, "mean_score": 0.45},
                        "reset_expectations": {"count": 2, "pass_rate": 1.0, "mean_score": 0.95}},
            "by_language": {"zh-CN": {"count": 1, "pass_rate": 0.0, "mean_score": 0.5},
                            "zh-TW": {"count": 1, "pass_rate": 1.0, "mean_score": 1.0},
                            "en": {"count": 2, "pass_rate": 0.5, "mean_score": 0.65}},
            "by_criterion": {
                "fabricated_fact": _criterion("safety", "check", True, 4, 2),
                "unauthorized_commitment": _criterion("boundaries", "check", True, 4, 3),
                "blame": _criterion("tone", "judge", False, 3, 2),
                "structure_order": _criterion("structure", "check", False, 4, 4),
            },
            "judge": {"model": "gpt-test-judge",
                      "usage": {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500, "calls": 3}},
            "rubric_version": "a1b2c3d4e5f6", "created": "2026-11-23T11:30:00+00:00",
        },
        "results": [
            {"draft_id": "gd-zh-1", "scenario_id": "g-delay-zhcn", "kind": "delay_notice", "language": "zh-CN",
             "channel": "email", "score": 0.5, "passed": False,
             "blocking_failures": ["fabricated_fact", "unauthorized_commitment"],
             "subject": ZH_SUBJECT, "body": ZH_BODY, "checks": zh_checks},
            {"draft_id": "gd-en-1", "scenario_id": "g-delay-en", "kind": "delay_notice", "language": "en",
             "channel": "im", "score": 0.4, "passed": False, "blocking_failures": ["fabricated_fact"],
             "subject": None, "body": EN_BODY, "checks": en_checks},
            {"draft_id": "gd-tw-1", "scenario_id": "g-reset-zhtw", "kind": "reset_expectations",
             "language": "zh-TW", "channel": "im", "score": 1.0, "passed": True, "blocking_failures": [],
             "subject": None, "body": TW_BODY, "checks": _passing_checks()},
            {"draft_id": "gd-en-2", "scenario_id": "g-reset-en", "kind": "reset_expectations", "language": "en",
             "channel": "email", "score": 0.9, "passed": True, "blocking_failures": [],
             "subject": "Scope for the March release", "body": EN2_BODY, "checks": _passing_checks()},
        ],
    }


@pytest.fixture()
def report() -> Report:
    return Report.model_validate(_report())


@pytest.fixture()
def page(report: Report) -> str:
    return render_html(report)


# --- HTML parsing helpers ---------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Structure(HTMLParser):
    """Checks that every non-void tag closes in order, and collects each ``<mark>`` with its text and card."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.marks: list[dict[str, Any]] = []
        self.card: str | None = None
        self.mark: dict[str, Any] | None = None
        self.mark_starts = self.mark_ends = 0
        self.script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "article":
            self.card = a.get("id")
        if tag == "mark":
            self.mark_starts += 1
            if self.mark is not None:
                self.errors.append("nested mark")
            self.mark = {"text": "", "checks": (a.get("data-checks") or "").split(), "title": a.get("title"),
                         "card": self.card}
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <rect/> and friends in the SVG: open and closed at once

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "mark":
            self.mark_ends += 1
            assert self.mark is not None
            self.marks.append(self.mark)
            self.mark = None

    def handle_data(self, data: str) -> None:
        if self.mark is not None:
            self.mark["text"] += data
        if self.stack and self.stack[-1] == "script":
            self.script_text.append(data)


def _parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser


def _card_html(page: str, draft_id: str) -> str:
    match = re.search(rf'<article [^>]*id="draft-{re.escape(draft_id)}".*?</article>', page, re.S)
    assert match, draft_id
    return match.group(0)


# --- HTML -------------------------------------------------------------------------------------------------

def test_html_is_self_contained_with_no_network_references(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    lowered = page.lower()
    for forbidden in ("http://", "https://", "<script src", "<link", "<img", "@import", "url(", "//cdn"):
        assert forbidden not in lowered, forbidden
    assert lowered.count("<script") == 1  # our one inline script, nothing from a draft
    assert "default-src 'none'" in page


def test_html_escapes_a_script_in_a_draft_body(page: str) -> None:
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = _parse(page)
    assert "alert(1)" not in "".join(parsed.script_text)


def test_html_marks_failing_evidence_at_its_span(page: str) -> None:
    marks = _parse(page).marks
    en = [m for m in marks if m["card"] == "draft-gd-en-1"]
    fact = [m for m in en if m["checks"] == ["fabricated_fact"]]
    assert [m["text"] for m in fact] == ["$5,000"]
    assert "fabricated_fact: states figures" in fact[0]["title"]
    # Passing drafts have nothing highlighted.
    assert not [m for m in marks if m["card"] in ("draft-gd-tw-1", "draft-gd-en-2")]


def test_html_marks_a_judge_quote_that_has_no_spans(page: str) -> None:
    en = [m for m in _parse(page).marks if m["card"] == "draft-gd-en-1"]
    blame = [m for m in en if "blame" in m["checks"]]
    assert [m["text"] for m in blame] == [JUDGE_QUOTE]
    assert blame[0]["title"] == "blame: blames the client for the delay"


def test_html_overlapping_spans_stay_well_formed(page: str) -> None:
    parsed = _parse(page)
    assert parsed.errors == []
    assert parsed.stack == []
    assert parsed.mark_starts == parsed.mark_ends > 0
    zh = [m for m in parsed.marks if m["card"] == "draft-gd-zh-1"]
    # Each check's marks, read in order, give back exactly its span; the shared piece names both checks.
    assert "".join(m["text"] for m in zh if "fabricated_fact" in m["checks"]) == "2027年2月15日"
    assert "".join(m["text"] for m in zh if "unauthorized_commitment" in m["checks"]) == "2月15日，我们保证"
    both = [m for m in zh if set(m["checks"]) == {"fabricated_fact", "unauthorized_commitment"}]
    assert [m["text"] for m in both] == ["2月15日"]


def test_html_legend_lists_failing_checks_with_message_and_evidence(page: str) -> None:
    card = _card_html(page, "gd-zh-1")
    legend = re.search(r'<ol class="legend">(.*?)</ol>', card, re.S)
    assert legend
    for text in ("fabricated_fact", "states figures the scenario does not contain: 2027年2月15日",
                 "unauthorized_commitment", "2月15日，我们保证"):
        assert text in legend.group(1)
    assert "structure_order" not in legend.group(1)  # a passing check is not in the legend


def test_html_has_failures_toggle_and_criterion_filter(page: str) -> None:
    assert re.search(r'<input type="checkbox" id="failures-only">', page)
    assert 'id="criterion-filter"' in page
    assert 'data-passed="true"' in page and 'data-passed="false"' in page
    assert 'data-failing="fabricated_fact blame"' in _card_html(page, "gd-en-1")


def test_html_chart_shows_every_criterion_with_its_percentage(page: str, report: Report) -> None:
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg
    expected = {"fabricated_fact": "50.0%", "unauthorized_commitment": "75.0%", "blame": "66.7%",
                "structure_order": "100.0%"}
    assert set(expected) == set(report.summary.by_criterion)
    for cid, pct in expected.items():
        bar = re.search(rf'<g class="bar" data-criterion="{cid}">.*?</g>', svg.group(0), re.S)
        assert bar, cid
        assert pct in bar.group(0)
    assert "fabricated_fact \u25c6" in svg.group(0)  # blocking criteria are marked
    assert "blame \u25c6" not in svg.group(0)
    assert '#d64545' in svg.group(0)  # safety colour


def test_html_keeps_cjk_text_and_summary(page: str) -> None:
    for text in ("交付时间调整说明", "李总，您好：", "陳經理您好：", "感謝您的耐心"):
        assert text in page
    assert 'lang="zh-TW"' in page
    for text in ("50.0%", "0.700", "0.800", "gpt-test-judge", "1500", "a1b2c3d4e5f6", "reset_expectations"):
        assert text in page


def test_html_is_deterministic(report: Report) -> None:
    assert render_html(report) == render_html(report.model_copy(deep=True))
    assert "<title>Weekly &lt;run&gt;</title>" in render_html(report, title="Weekly <run>")


def test_html_survives_out_of_range_spans(report: Report) -> None:
    report.results[0].checks[0].spans = [(-5, 3), (40, 10_000), (7, 7)]
    parsed = _parse(render_html(report))
    assert parsed.errors == [] and parsed.mark_starts == parsed.mark_ends
    zh = [m for m in parsed.marks if m["card"] == "draft-gd-zh-1" and "fabricated_fact" in m["checks"]]
    assert "".join(m["text"] for m in zh) == ZH_TEXT[0:3] + ZH_TEXT[40:]  # clamped to the text, the empty one dropped


def test_a_malformed_span_is_refused_when_the_report_is_read() -> None:
    data = _report()
    data["results"][0]["checks"][0]["spans"] = [[1, 2], "junk"]
    with pytest.raises(ValidationError, match=r"results\.0\.checks\.0\.spans\.1"):
        Report.model_validate(data)


# --- Markdown ---------------------------------------------------------------------------------------------

def test_markdown_lists_failing_drafts_only(report: Report) -> None:
    md = render_markdown(report)
    assert "| pass rate | 50.0% |" in md
    assert "| fabricated_fact | safety | yes | 4 | 50.0% |" in md
    assert "| blame | tone | no | 3 | 66.7% |" in md
    assert "## Failing drafts (2)" in md
    assert "### gd-zh-1" in md and "### gd-en-1" in md
    assert "gd-tw-1" not in md and "gd-en-2" not in md
    assert "- **fabricated_fact** (safety, check, blocking): evidence `2027年2月15日`" in md
    assert "evidence `Your team caused this delay.` — blames the client for the delay" in md


# --- comparison -------------------------------------------------------------------------------------------

def _report_b() -> dict[str, Any]:
    b = _report()
    zh, en1, _tw, en2 = b["results"]
    zh["passed"], zh["score"], zh["blocking_failures"] = True, 0.9, []
    zh["checks"] = _passing_checks()
    en2["passed"], en2["score"] = False, 0.6
    en2["checks"][2] = _check("blame", False, principle="tone", grader="judge", evidence="Hi Ana",
                              message="blames")
    new = copy.deepcopy(en1)
    new["draft_id"] = "gd-en-3"
    b["results"] = [zh, en1, en2, new]
    s = b["summary"]
    s.update(count=4, passed=1, pass_rate=0.25, mean_score=0.575)
    crit = s["by_criterion"]
    crit["fabricated_fact"] = _criterion("safety", "check", True, 4, 2)
    crit["unauthorized_commitment"] = _criterion("boundaries", "check", True, 4, 4)
    crit["blame"] = _criterion("tone", "judge", False, 3, 1)
    del crit["structure_order"]
    crit["alternatives_offered"] = _criterion("alternatives", "check", False, 4, 3)
    return b


def test_compare_reports_finds_flipped_verdicts_and_deltas() -> None:
    cmp = compare_reports(Report.model_validate(_report()), Report.model_validate(_report_b()))
    assert cmp.summary.model_dump() == {"count_a": 4, "count_b": 4, "pass_rate_a": 0.5, "pass_rate_b": 0.25,
                              "pass_rate_delta": pytest.approx(-0.25), "mean_score_a": 0.7,
                              "mean_score_b": 0.575, "mean_score_delta": pytest.approx(-0.125)}
    assert [c.draft_id for c in cmp.changed] == ["gd-en-2", "gd-zh-1"]
    en2, zh = cmp.changed
    assert (en2.passed_a, en2.passed_b, en2.score_a, en2.score_b) == (True, False, 0.9, 0.6)
    assert en2.newly_failing == ["blame"] and en2.newly_passing == []
    assert zh.newly_failing == [] and zh.newly_passing == ["fabricated_fact", "unauthorized_commitment"]
    assert cmp.only_in_a == ["gd-tw-1"] and cmp.only_in_b == ["gd-en-3"]

    rows = {c.id: c for c in cmp.criteria}
    assert rows["blame"].delta == pytest.approx(-1 / 3, abs=1e-6)
    assert rows["unauthorized_commitment"].delta == pytest.approx(0.25)
    assert rows["fabricated_fact"].delta == 0
    assert rows["structure_order"].model_dump() == {"id": "structure_order", "pass_rate_a": 1.0, "pass_rate_b": None,
                                                    "delta": None}
    assert rows["alternatives_offered"].pass_rate_a is None and rows["alternatives_offered"].delta is None
    # |delta| descending, then id; criteria missing on one side last.
    assert [c.id for c in cmp.criteria] == ["blame", "unauthorized_commitment", "fabricated_fact",
                                            "alternatives_offered", "structure_order"]


def test_compare_reports_rejects_duplicate_draft_ids() -> None:
    a = _report()
    a["results"].append(copy.deepcopy(a["results"][0]))
    with pytest.raises(PmcommError, match="report a has draft_id 'gd-zh-1' more than once"):
        compare_reports(Report.model_validate(a), Report.model_validate(_report_b()))


def test_render_comparison_shows_signed_deltas_and_arrow_lines() -> None:
    text = render_comparison(compare_reports(Report.model_validate(_report()), Report.model_validate(_report_b())))
    assert "gd-en-2  PASS → FAIL  newly failing: blame" in text
    assert "gd-zh-1  FAIL → PASS  newly passing: fabricated_fact, unauthorized_commitment" in text
    assert re.search(r"pass rate\s+50\.0% → 25\.0%\s+\(-25\.0%\)", text)
    assert re.search(r"unauthorized_commitment\s+75\.0%\s+100\.0%\s+\+25\.0%", text)
    assert re.search(r"structure_order\s+100\.0%\s+n/a\s+n/a", text)
    assert "Only in a (1): gd-tw-1" in text and "Only in b (1): gd-en-3" in text


def test_render_comparison_lists_only_the_first_ids_of_a_long_one_sided_list() -> None:
    a = Report.model_validate(_report())
    b = a.model_copy(update={"results": [r.model_copy(update={"draft_id": f"other-{i:03d}"}) for i in range(60)
                                         for r in a.results[:1]]})
    text = render_comparison(compare_reports(a, b))
    assert "Only in b (60): other-000, " in text and "other-049, … and 10 more" in text and "other-050" not in text


# --- how many drafts the renderers show ------------------------------------------------------------------

def test_html_shows_at_most_max_drafts_cards_failing_first_and_says_so(report: Report) -> None:
    page = render_html(report, max_drafts=2)
    cards = re.findall(r'<article [^>]*id="draft-([^"]+)"', page)
    assert cards == ["gd-zh-1", "gd-en-1"]  # two blocking failures before one
    assert "This page shows 2 of the 4 drafts: the failing drafts first" in page
    assert "<h2>Drafts (2 of 4)</h2>" in page and "2 of 2 drafts shown" in page
    assert _parse(page).errors == []
    assert "This page shows" not in render_html(report)  # nothing left out, nothing said


def test_html_of_a_streamed_digest_counts_every_draft_of_the_run(report: Report) -> None:
    digest = report.model_copy(update={"summary": report.summary.model_copy(update={"count": 100_000,
                                                                                    "passed": 99_998})})
    assert not digest.complete
    page = render_html(digest)
    assert "This page shows 4 of the 100,000 drafts" in page and '<div class="stat">drafts<b>100000</b>' in page


def test_markdown_caps_the_failing_drafts_and_says_how_many_failed(report: Report) -> None:
    md = render_markdown(report, max_drafts=1)
    assert "## Failing drafts (2)" in md
    assert "The 1 listed here fail worst" in md
    assert "### gd-zh-1" in md and "### gd-en-1" not in md
    digest = report.model_copy(update={"summary": report.summary.model_copy(update={"count": 10, "passed": 3})})
    assert "## Failing drafts (7)" in render_markdown(digest)


def test_the_shortlist_of_a_stream_is_the_ranking_of_the_whole() -> None:
    rng = random.Random(7)
    results = [DraftResult(draft_id=f"d{i}", scenario_id="s", score=rng.choice([0.2, 0.5, 0.5, 0.9, 1.0]),
                           passed=rng.random() < 0.4, blocking_failures=["x"] * rng.randint(0, 2))
               for i in range(500)]
    for size in (0, 1, 37, 500, 900):
        shortlist = Shortlist(size)
        for r in results:
            shortlist.add(r)
        assert [r.draft_id for r in shortlist.results()] == [r.draft_id for r in ranked(results, size)]


# --- the CSS and JS are package data, pinned by the CSP --------------------------------------------------

def _csp_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def test_the_inline_style_and_script_are_the_package_files_pinned_by_their_hashes(page: str) -> None:
    package = resources.files("pmcomm_llm.evaluation.report")
    css_file = package.joinpath("report.css").read_text(encoding="utf-8")
    js_file = package.joinpath("report.js").read_text(encoding="utf-8")
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert style and script
    assert style.group(1).startswith(css_file) and ".p-safety { background: #d64545; }" in style.group(1)
    assert script.group(1) == js_file and "failures-only" in js_file
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp
    assert f"style-src {_csp_source(style.group(1))};" in csp.group(1)
    assert f"script-src {_csp_source(script.group(1))};" in csp.group(1)


def test_the_wheel_ships_the_report_css_and_js(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    wheel = next(iter(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"pmcomm_llm/evaluation/report/report.css", "pmcomm_llm/evaluation/report/report.js"} <= names


# --- report.json on disk: streamed, atomic, read back by the models ---------------------------------------

def _dev_records(n: int | None = None) -> tuple[list[DraftRecord], dict[str, Any]]:
    records, scenarios = golden_set("dev")
    if n is not None:  # more drafts than the set holds: the same ones under new ids
        records = [DraftRecord(f"{r.draft_id}#{i}", r.scenario_id, r.candidate)
                   for i, r in ((i, records[i % len(records)]) for i in range(n))]
    return records, scenarios


def test_report_json_round_trips_through_the_report_model(tmp_path: Path) -> None:
    records, scenarios = _dev_records()
    path = tmp_path / "report.json"
    digest = evaluate_to_file(records, scenarios, path)
    raw = path.read_bytes()
    report = Report.model_validate_json(raw)
    assert report.complete and report.summary == digest.summary
    assert [r.draft_id for r in report.results] == [r.draft_id for r in records]
    assert json.loads(report.model_dump_json()) == json.loads(raw), "nothing lost either way"
    assert load_report(path) == report, "the line-by-line reader reads what the whole-document parser reads"
    assert raw.startswith(b'{"summary": {"count":79,') and raw.endswith(b"\n]}\n")

    in_memory = evaluate_many(records, scenarios)
    assert in_memory.summary.model_copy(update={"created": None}) == report.summary.model_copy(update={"created": None})
    assert [r.model_dump(exclude={"judge_usage"}) for r in in_memory.results] == [r.model_dump() for r in report.results]


def test_a_report_in_the_older_indented_layout_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_report(), ensure_ascii=False, indent=1), encoding="utf-8")
    reader = ReportReader(path)
    assert reader.summary.count == 4 and reader.summary.by_channel == {}
    assert [r.draft_id for r in reader.results()] == ["gd-zh-1", "gd-en-1", "gd-tw-1", "gd-en-2"]
    assert load_report(path) == Report.model_validate(_report())


def test_streaming_writes_every_draft_result_exactly_once_as_it_is_scored(tmp_path: Path, monkeypatch) -> None:
    records, scenarios = _dev_records(250)
    events: list[str] = []
    add = ReportWriter.add

    def recording_add(self: ReportWriter, result: DraftResult) -> None:
        events.append(f"write {result.draft_id}")
        add(self, result)

    monkeypatch.setattr(ReportWriter, "add", recording_add)

    def read() -> Iterator[DraftRecord]:
        for r in records:
            events.append(f"read {r.draft_id}")
            yield r

    path = tmp_path / "report.json"
    digest = evaluate_to_file(read(), scenarios, path, shown=25)
    # each draft is written before the next is read: nothing piles up in memory
    assert events == [f"{what} {r.draft_id}" for r in records for what in ("read", "write")]
    written = [r.draft_id for r in ReportReader(path).results()]
    assert written == [r.draft_id for r in records] and len(set(written)) == digest.summary.count == 250
    assert [r.draft_id for r in digest.results] == [r.draft_id for r in ranked(load_report(path).results, 25)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"], "no spool or temp file left"


def test_an_interrupted_eval_leaves_no_half_written_report(tmp_path: Path) -> None:
    records, scenarios = _dev_records()

    def interrupted() -> Iterator[DraftRecord]:
        for i, r in enumerate(records):
            if i == 30:
                raise KeyboardInterrupt
            yield r

    fresh = tmp_path / "fresh" / "report.json"
    with pytest.raises(KeyboardInterrupt):
        evaluate_to_file(interrupted(), scenarios, fresh)
    assert list(fresh.parent.iterdir()) == [], "no report, no spool, no temp file"

    old = tmp_path / "report.json"
    evaluate_to_file(records[:5], scenarios, old)
    before = old.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        evaluate_to_file(interrupted(), scenarios, old)
    assert old.read_bytes() == before, "the previous report stays whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "report.json"]


def test_ctrl_c_during_pmcomm_eval_writes_nothing_and_exits_130(tmp_path: Path, monkeypatch) -> None:
    from pmcomm_llm.evaluation import scoring

    out = tmp_path / "report.json"
    out.write_text('{"summary": {"count": 0, "passed": 0}, "results": []}', encoding="utf-8")
    before = out.read_bytes()
    lookup, calls = scoring._scenario_for, []

    def interrupt_third(record: DraftRecord, scenarios: dict[str, Any]) -> Any:
        calls.append(record.draft_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return lookup(record, scenarios)

    monkeypatch.setattr(scoring, "_scenario_for", interrupt_third)
    result = CliRunner().invoke(cli, ["eval", "--scenarios", str(ROOT / "evals/golden/scenarios.json"), "--drafts",
                                      str(ROOT / "evals/golden/drafts.jsonl"), "-o", str(out), "--html",
                                      str(tmp_path / "r.html")])
    assert result.exit_code == 130 and "was not written" in result.output
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_eval_refuses_duplicate_draft_ids_and_unknown_scenarios_before_scoring(tmp_path: Path) -> None:
    lines = (ROOT / "evals/golden/drafts.jsonl").read_text(encoding="utf-8").splitlines()
    scenarios = load_scenarios(ROOT / "evals/golden/scenarios.json")
    dupes = tmp_path / "dupes.jsonl"
    dupes.write_text("\n".join(lines[:4] + lines[1:2]) + "\n", encoding="utf-8")
    first_id = json.loads(lines[1])["id"]
    with pytest.raises(InputFileError, match=rf"line 5: draft id '{first_id}' is already on line 2"):
        check_draft_file(dupes, scenarios)
    strays = tmp_path / "strays.jsonl"
    stray = dict(json.loads(lines[0]), id="x-1", scenario_id="no-such-scenario")
    strays.write_text("\n".join(lines[:3] + [json.dumps(stray)]) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="scenario ids not in the scenarios file: no-such-scenario"):
        check_draft_file(strays, scenarios)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["eval", "--scenarios", str(ROOT / "evals/golden/scenarios.json"), "--drafts",
                                      str(dupes), "-o", str(out)])
    assert result.exit_code == 2 and "is already on line 2" in result.output and not out.exists()
    same = CliRunner().invoke(cli, ["eval", "--scenarios", str(ROOT / "evals/golden/scenarios.json"), "--drafts",
                                    str(dupes), "-o", str(dupes)])
    assert same.exit_code == 2 and "is the input file" in same.output


def _write_report(path: Path, report: Report) -> None:
    with ReportWriter(path) as writer:
        for r in report.results:
            writer.add(r)
        writer.commit(report.summary)


def test_comparing_two_files_streams_them_and_agrees_with_the_models(tmp_path: Path) -> None:
    a, b = Report.model_validate(_report()), Report.model_validate(_report_b())
    _write_report(tmp_path / "a.json", a)
    (tmp_path / "b.json").write_text(json.dumps(_report_b(), indent=1), encoding="utf-8")  # an older layout
    assert compare_report_files(tmp_path / "a.json", tmp_path / "b.json") == compare_reports(a, b)
    result = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                                      "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == compare_reports(a, b).model_dump(mode="json")


def test_a_malformed_or_cut_report_is_an_error_naming_the_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    _write_report(path, Report.model_validate(_report()))
    lines = path.read_bytes().split(b"\n")
    row = json.loads(lines[3].rstrip(b","))
    del row["passed"]
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\n".join(lines[:3] + [json.dumps(row).encode() + b","] + lines[4:]))
    with pytest.raises(InputFileError, match=r"bad\.json: not an evaluation report: line 4: results\.passed: Field "
                                             "required"):
        list(ReportReader(bad).results())
    cut = tmp_path / "cut.json"
    cut.write_bytes(b"\n".join(lines[:4]) + b"\n")
    with pytest.raises(InputFileError, match="the results array is not closed"):
        list(ReportReader(cut).results())
    result = CliRunner().invoke(cli, ["eval", "compare", str(bad), str(path)])
    assert result.exit_code == 2 and "line 4: results.passed: Field required" in result.output
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "compare", str(other), str(path)])
    assert result.exit_code == 2 and "not an evaluation report: summary: Field required" in result.output
