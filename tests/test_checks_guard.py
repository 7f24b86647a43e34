"""The guard's checks catch planted violations in Chinese and English, and leave honest drafts alone."""

from __future__ import annotations

import pytest

from pmcomm_llm import check_draft, parse_scenario
from pmcomm_llm.grounding.checks import (
    Candidate,
    fabricated_fact,
    internal_leak,
    unauthorized_commitment,
    unknown_offer,
)
from pmcomm_llm.grounding.quantities import Grounding, extract

ZH = {
    "kind": "delay_notice", "language": "zh-CN", "channel": "email",
    "sender": {"name": "王磊", "role": "项目经理", "company": "云启科技"},
    "client": {"name": "李总", "company": "华北物流"},
    "project": "仓储管理系统二期",
    "situation": "接口联调发现性能问题，需要延期。",
    "facts": {"reason": "第三方接口在高并发下超时，需要增加缓存层。",
              "evidence": ["压测：并发 500 时平均响应 3.2 秒", "预算 115 万元已使用 80%"],
              "dates": {"original_deadline": "2027-01-06", "new_deadline": "2027-01-20"}},
    "offers": [{"id": "warranty", "text": "质保期延长 1 个月", "type": "remedy"}],
    "boundaries": ["合同范围以需求说明书 v1.2 为准，不含退款条款"],
    "internal_notes": ["后端负责人张伟 12 月请了两周病假", "公司内部毛利已低于 8%，不能再让利"],
}
EN = {
    "kind": "decline_request", "language": "en", "channel": "email",
    "sender": {"name": "Dana Reyes", "role": "Project Manager", "company": "Northwind Studio"},
    "client": {"name": "Mr. Patel", "company": "Harbor Foods"},
    "project": "Harbor Foods storefront",
    "situation": "Client asked for a loyalty module two weeks before launch.",
    "facts": {"reason": "The module needs a payments integration we have not scoped.",
              "evidence": ["Estimate: 160 hours of work", "Budget: $48,000 fixed fee"],
              "request": "Add a loyalty-points module before launch",
              "dates": {"launch": "2027-03-01", "phase_two": "2027-04-15"}},
    "offers": [{"id": "phase2", "text": "Deliver the loyalty module in phase two", "type": "alternative"}],
    "boundaries": ["The fixed-fee contract covers the storefront scope signed in October"],
    "internal_notes": ["Our lead developer Marcus is leaving the company in February",
                       "margin on this account is already negative"],
}


@pytest.fixture()
def zh():
    return parse_scenario(ZH)


@pytest.fixture()
def en():
    return parse_scenario(EN)


@pytest.mark.parametrize("text", ["新的日期是2027年1月20日。", "新的日期是 2027-01-20。", "我们会在1月20日完成。",
                                  "延期两周。", "延期 14 天。", "预算 115 万元", "预算 1,150,000 元", "已使用 80%"])
def test_grounded_figures_pass_in_chinese(zh, text):
    assert fabricated_fact(Candidate(None, text), zh).passed


@pytest.mark.parametrize(("text", "span"), [
    ("新的日期是2027年2月15日。", "2027年2月15日"), ("我们会在2月15日完成。", "2月15日"),
    ("延期三周。", "三周"), ("追加预算 20 万元。", "20 万元"), ("进度已完成 95%。", "95%"),
    ("预计 2027-02-15 上线", "2027-02-15"),
])
def test_fabricated_figures_are_caught_in_chinese(zh, text, span):
    result = fabricated_fact(Candidate(None, text), zh)
    assert not result.passed
    assert span in result.evidence
    a, b = result.spans[0]
    assert span in text[a:b] or text[a:b] in span


@pytest.mark.parametrize("text", ["Phase two starts April 15, 2027.", "Launch stays on Mar 1.",
                                  "The fee remains $48,000.", "about 160 hours"])
def test_grounded_figures_pass_in_english(en, text):
    assert fabricated_fact(Candidate(None, text), en).passed, fabricated_fact(Candidate(None, text), en)


@pytest.mark.parametrize(("text", "span"), [
    ("We can ship by Feb 15.", "Feb 15"), ("It would cost $1.15 million.", "$1.15 million"),
    ("This takes 3 weeks.", "3 weeks"), ("We are 42% done.", "42%"), ("by 15 March 2027", "15 March 2027"),
])
def test_fabricated_figures_are_caught_in_english(en, text, span):
    result = fabricated_fact(Candidate(None, text), en)
    assert not result.passed and span in result.evidence


def test_a_discount_no_offer_gives_is_a_promise_not_a_figure(en):
    text = "We will give you a 30% discount."
    assert not unauthorized_commitment(Candidate(None, text), en).passed
    assert fabricated_fact(Candidate(None, text), en).passed, "reported once, as the promise it is"


def test_duration_equal_to_gap_between_scenario_dates_is_grounded(zh, en):
    # 2027-01-06 → 2027-01-20 is 14 days; 2027-03-01 → 2027-04-15 is 45 days
    assert fabricated_fact(Candidate(None, "推迟 2 周"), zh).passed
    assert fabricated_fact(Candidate(None, "a 45-day shift"), en).passed
    assert not fabricated_fact(Candidate(None, "a 40-day shift"), en).passed


def test_amount_forms_normalise_to_one_value():
    values = {m.value for t in ["1,150,000", "115万", "¥1.15 million", "115萬元", "1.15M USD"] for m in extract(t)}
    assert values == {1150000.0}


def test_grounding_matches_month_day_without_year():
    import datetime as dt

    g = Grounding([], [dt.date(2027, 1, 20)])
    assert all(g.grounded(m) for m in extract("1月20日 / Jan 20 / 20 January / 2027年1月20日"))


@pytest.mark.parametrize("text", ["负责这部分的张伟请了病假。", "内部毛利已低于 8%，所以无法让步。"])
def test_internal_notes_leak_is_caught_in_chinese(zh, text):
    result = internal_leak(Candidate(None, text), zh)
    assert not result.passed and result.evidence


@pytest.mark.parametrize("text", ["Marcus is leaving the company soon.", "Frankly, our margin is already negative."])
def test_internal_notes_leak_is_caught_in_english(en, text):
    result = internal_leak(Candidate(None, text), en)
    assert not result.passed and result.evidence


def test_clean_text_does_not_leak(zh, en):
    assert internal_leak(Candidate("主题", "我们会增加缓存层，新的日期为2027年1月20日。"), zh).passed
    assert internal_leak(Candidate("Subject", "We can deliver the loyalty module in phase two."), en).passed


@pytest.mark.parametrize(("scenario", "text", "word"), [
    ("zh", "我们将为您办理全额退款。", "退款"), ("zh", "我们给您打八折作为补偿。", "补偿"),
    ("zh", "我们保证不会再延期。", "保证"), ("zh", "我们会加派人手。", "加派"),
    ("en", "We will give you a 10% discount.", "discount"), ("en", "We guarantee the new date.", "guarantee"),
    ("en", "We will add the module free of charge.", "free of charge"),
])
def test_unauthorised_promises_are_caught(zh, en, scenario, text, word):
    result = unauthorized_commitment(Candidate(None, text), {"zh": zh, "en": en}[scenario])
    assert not result.passed and word in result.evidence


@pytest.mark.parametrize(("scenario", "text"), [
    ("zh", "作为补救，质保期延长 1 个月。"),              # offered: warranty
    ("zh", "需要说明的是，合同不包含退款条款。"),           # negated
    ("en", "We cannot offer a discount on the fixed fee."),  # negated
    ("en", "Feel free to call me any time."),               # not a promise
])
def test_offered_or_negated_promises_pass(zh, en, scenario, text):
    assert unauthorized_commitment(Candidate(None, text), {"zh": zh, "en": en}[scenario]).passed


def test_unknown_offer_id_is_flagged(en):
    assert not unknown_offer(Candidate(None, "x", ("phase3",)), en).passed
    assert unknown_offer(Candidate(None, "x", ("phase2",)), en).passed


def test_check_draft_reports_each_violation_with_its_id(zh):
    report = check_draft(Candidate("延期说明", "新的日期是2027年2月15日，张伟生病了，我们保证全额退款。"), zh)
    assert not report.passed
    assert {v.id for v in report.violations} == {"fabricated_fact", "internal_leak", "unauthorized_commitment"}
    assert all(":" in m for m in report.messages())


def test_an_iso_timestamp_is_one_date_not_a_time_and_a_number():
    found = [(m.kind, m.text) for m in extract("created 2019-04-30T08:56:57.914Z by the export")]
    assert found == [("date", "2019-04-30")]
