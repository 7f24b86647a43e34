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


# --- what the checks say: evals/messages.yaml, in the draft's language ---------------------------------------

ZH_MORE = dict(ZH, client_message="希望 2027-02-01 前上线，至少退 30 万。",
               offers=[*ZH["offers"], {"id": "refund", "text": "退还未执行部分款项 12 万元", "type": "commitment"}])
EN_DELAY = {
    "kind": "delay_notice", "language": "en", "channel": "im",
    "sender": {"name": "Oliver Grant", "role": "Project Manager", "company": "Ninefold Studio"},
    "client": {"name": "Karen Whitfield", "company": "Lumen Skincare"},
    "project": "Lumen Skincare website relaunch",
    "situation": "The payment provider's certification review slipped, so launch moves by two weeks.",
    "facts": {"reason": "The payment provider's certification review took longer than planned.",
              "evidence": ["Budget $310,000"], "dates": {"original_launch": "2027-03-01", "new_deadline": "2027-03-15"}},
    "offers": [{"id": "support", "text": "Extend post-launch support from 2 to 4 weeks at no charge", "type": "remedy"},
               {"id": "refund", "text": "Refund $4,000 of the launch-week retainer", "type": "commitment"}],
    "internal_notes": ["Our senior engineer Tom Hughes resigned last week"],
    "client_message": "Confirm go-live on 2027-02-01 and a full refund if you slip.",
}


def _without(data, *, offers=False, dates=False, **changes):
    out = dict(data, **changes)
    if offers:
        out["offers"] = []
    if dates:
        out["facts"] = {k: v for k, v in data["facts"].items() if k != "dates"}
    return out


# Drafts that, between them, make every check say every case it has: (scenario, subject, body, declared offers).
# Evaluated as an evaluation's scenario is (a delay notice without dates is scored, not rejected).
MESSAGE_DRAFTS = {
    "zh": [
        (ZH, "延期说明", "李总，您好：\n新的日期是2027年2月15日。退款金额为 115 万元。交付日期改为 1 月 6 日。明天上午 10 点开个"
                       "电话会。我们给您打八折。质保期延长 3 个月。张伟生病了。\n谢谢！王磊", ("phase3",)),
        (ZH_MORE, None, "我们确认 2027-02-01 前上线。未执行部分的款项，我们退还一半。\n未执行部分款项 12 万元我们全部退还。", ()),
        (ZH, None, "这个需求当初就应该提出。", ()), (ZH, None, "贵司资料一直没到位，导致延期。", ()),
        (ZH, None, "贵司一直很配合。说白了，这次就是贵司的事。", ()),
        (ZH, None, "贵司一直很配合。说白了，是测试环境导致的延期。", ()),
        (ZH, None, "贵司一直很配合。要是早点确认需求，就不会延期。", ()), (ZH, None, "这个需求不行。", ()),
        (ZH, "", "李总：\n主要原因：\n一\n下一步：\n二\n方案：\n三\n风险：\n" + "很抱歉" * 500, ()),
        (_without(ZH, channel="im"), None, "很" * 500, ()),
        (_without(ZH, offers=True, dates=True), None, "说明", ("a",)),
    ],
    "en": [
        (EN, "Loyalty module", "Dear Mr. Patel,\nWe will refund $48,000 of the fee. We can offer a 10% discount. Could "
                               "we talk tomorrow at 10 for 20 minutes? Marcus is leaving the company soon.\nBest, Dana",
         ("phase3",)),
        (EN_DELAY, None, "Hi Karen,\nThe new date is 1 March. We can extend support to 6 weeks.\n"
                         "We confirm go-live on 2027-02-01.\nWe will refund the $310,000.\n"
                         "We will refund $5,000 of the retainer.\nWe will refund 50% of the fees.\n"
                         "We will give you a full refund.\n- one\n- two", ()),
        (EN, None, "This should have been raised earlier.", ()), (EN, None, "Your team missed the deadline.", ()),
        (EN, None, "Frankly, your data was late.", ()),
        (EN, None, "Thanks to your team. Honestly, the delay is a failure to plan.", ()),
        (EN, None, "Thanks to your team.\nIf the vendor had shipped, we would be live.", ()),
        (EN, None, "That is not possible.", ()),
        (EN, "", "Status: late\nReason: x\nPlan: y\nRisk: z\nNext: w\n" + "sorry " * 700, ()),
        (_without(EN_DELAY, offers=True, dates=True), None, "sorry " * 100, ("a",)),
    ],
}
PARTS = ("promise_group.", "channel.")
"""Labels rendered inside another message; each is checked on its own below."""


def _walk(value):
    """The keys a message was built from and the values it quotes (the draft's words, an offer, an id)."""
    from pmcomm_llm.grounding.messages import Listed, Message

    if isinstance(value, Message):
        yield "key", value.key
        for _, inner in value.values:
            yield from _walk(inner)
    elif isinstance(value, Listed):
        yield "key", value.sep
        for inner in value.items:
            yield from _walk(inner)
    elif isinstance(value, str):
        yield "quoted", value


def _results(side: str, language: str):
    from pmcomm_llm.core.scenario import Scenario
    from pmcomm_llm.evaluation.checks import CHECKS

    for data, subject, body, offers in MESSAGE_DRAFTS[side]:
        scenario = Scenario.model_validate(dict(data, language=language), context={"for_evaluation": True})
        candidate = Candidate(subject, body, offers)
        for check_id, check in CHECKS.items():
            result = check(candidate, scenario)
            if result.message:
                yield check_id, result


def _template_text(result) -> str:
    """The message without what it quotes: only the words of evals/messages.yaml are left."""
    text = result.message
    for quoted in sorted({v for k, v in _walk(result.note) if k == "quoted"}, key=len, reverse=True):
        text = text.replace(quoted, "")
    return text


def _english_fragments() -> set[str]:
    """Every run of English words in the file's ``en`` sentences ("which the scenario does not contain"); the
    labels (``warranty``, ``email``) are names, which an offer id may share."""
    import re

    from pmcomm_llm.grounding.messages import PLACEHOLDERS, messages_catalogue

    catalogue = messages_catalogue()
    return {m.group(0) for key in PLACEHOLDERS if not key.startswith(PARTS)
            for m in re.finditer(r"[A-Za-z][A-Za-z' -]*[A-Za-z]", catalogue.form(key, "en"))}


def _script(which: int) -> set[str]:
    from pmcomm_llm.core.resources import load_yaml

    return {pair[which] for pair in load_yaml("prompts", "language.yaml")["script_pairs"]}


@pytest.mark.parametrize("language", ["zh-CN", "zh-TW"])
def test_a_chinese_draft_is_told_what_is_wrong_in_chinese(language):
    import re

    from pmcomm_llm.grounding.messages import PLACEHOLDERS

    english = _english_fragments()
    other_script = _script(0 if language == "zh-TW" else 1)
    said: set[str] = set()
    for check_id, result in _results("zh", language):
        keys = {v for k, v in _walk(result.note) if k == "key"}
        said |= keys
        assert any(k.startswith(f"{check_id}.") for k in keys), (check_id, keys)
        words = _template_text(result)
        assert not re.search(r"[A-Za-z]", words), (check_id, result.message)
        assert not [f for f in english if len(f) > 3 and f in result.message], (check_id, result.message)
        assert not other_script & set(words), (check_id, sorted(other_script & set(words)), result.message)
        assert result.message_in("en") != result.message
    assert said >= {k for k in PLACEHOLDERS if not k.startswith(PARTS)}, \
        sorted({k for k in PLACEHOLDERS if not k.startswith(PARTS)} - said)


def test_an_english_draft_is_told_in_english():
    import re

    from pmcomm_llm.grounding.messages import PLACEHOLDERS

    said: set[str] = set()
    for check_id, result in _results("en", "en"):
        said |= {v for k, v in _walk(result.note) if k == "key"}
        assert not re.search(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]", result.message), (check_id, result.message)
        assert result.message_in("en") == result.message
    assert said >= {k for k in PLACEHOLDERS if not k.startswith(PARTS)}, \
        sorted({k for k in PLACEHOLDERS if not k.startswith(PARTS)} - said)


def test_every_label_reads_in_both_languages():
    import re

    from pmcomm_llm.grounding.claims import promise_lexicon
    from pmcomm_llm.grounding.messages import PLACEHOLDERS, message

    labels = [k for k in PLACEHOLDERS if k.startswith(PARTS)]
    assert {k.split(".", 1)[1] for k in labels if k.startswith("promise_group.")} == set(promise_lexicon().groups)
    for key in labels:
        assert message(key).render("en") == key.split(".", 1)[1], "the English names the group or channel as-is"
        for language in ("zh-CN", "zh-TW"):
            assert not re.search(r"[A-Za-z]", message(key).render(language)), (key, language)


def test_the_guard_reasks_in_english_and_tells_the_pm_in_chinese(zh):
    """A zh draft's violations: meta.guard carries them in Chinese for the PM; the re-ask the model receives is
    English (like the drafting prompt it answers) and quotes the clause in the draft's own words."""
    body = "新的日期是2027年2月15日。"
    report = check_draft(Candidate(None, body), zh)
    assert report.messages() == [
        f'fabricated_fact: states 2027年2月15日, which the scenario does not contain — in: "{body}". '
        "Use only the scenario's dates and figures, or leave the figure out."]
    recorded = report.outcome().violations
    assert [v["message"] for v in recorded] == [
        f"“2027年2月15日”在情境中找不到依据（原句：“{body}”）。只用情境中给出的日期和数字，没有依据的请删掉。"]
    assert recorded[0]["evidence"] == body and recorded[0]["spans"] == [[5, 15]]


def test_a_taiwan_draft_reads_taiwan_chinese_and_its_notes_too():
    scenario = parse_scenario(dict(ZH, language="zh-TW"))
    report = check_draft(Candidate("主旨", "明天上午 10 點開個電話會，貴司如需改期請告知。"), scenario)
    assert report.passed
    assert [n["message"] for n in report.notes] == ["提議的通話或會議時間「上午 10 點」情境中沒有給出，傳送前請確認"]


def test_the_message_language_follows_the_scenario_language_even_inferred():
    data = {k: v for k, v in ZH.items() if k != "language"}
    scenario = parse_scenario(data)
    assert scenario.language == "zh-CN"
    assert fabricated_fact(Candidate(None, "延期三周。"), scenario).message.startswith("“三周”在情境中找不到依据")


@pytest.mark.parametrize(("language", "form"), [
    ("zh-CN", "zh"), ("zh-TW", "zh-TW"), ("zh-Hant", "zh-TW"), ("zh_hant_tw", "zh-TW"), ("zh-HK", "zh-TW"),
    ("zh", "zh"), ("zh-Hans", "zh"), ("en", "en"), ("fr", "en"), (None, "en"),
])
def test_which_form_a_language_reads(language, form):
    from pmcomm_llm.grounding.messages import message_language

    assert message_language(language) == form


# --- evals/messages.yaml is validated when it loads ----------------------------------------------------------

def _messages_data():
    import copy

    from pmcomm_llm.core.resources import load_yaml

    return copy.deepcopy(load_yaml("evals", "messages.yaml"))


def _bad(edit):
    from pmcomm_llm.core.errors import PromptError
    from pmcomm_llm.grounding.messages import MessageCatalogue

    data = _messages_data()
    edit(data)
    with pytest.raises(PromptError) as info:
        MessageCatalogue(data)
    return str(info.value)


def test_the_shipped_messages_load_and_every_lexicon_group_is_named():
    from pmcomm_llm.grounding.checks import preload
    from pmcomm_llm.grounding.messages import MessageCatalogue

    MessageCatalogue(_messages_data())
    preload()


def test_a_message_naming_a_placeholder_the_code_does_not_supply_is_rejected():
    def edit(data):
        data["fabricated_fact"]["figure"]["zh"] = "“{amount}”在情境中找不到依据"
    assert _bad(edit) == ("evals/messages.yaml: fabricated_fact.figure (zh) uses unknown placeholder(s) {amount}; "
                          "it may use: {figure}")


def test_a_message_leaving_out_a_required_placeholder_is_rejected():
    def edit(data):
        data["unknown_offer"]["fail"]["en"] = "lists options that are not among the scenario's offers: {unknown}"
    assert _bad(edit) == "evals/messages.yaml: unknown_offer.fail (en) never uses required placeholder(s) {known}"


def test_a_taiwan_form_is_held_to_the_same_placeholders():
    def edit(data):
        data["too_long"]["fail"]["zh-TW"] = "正文有 {length} 字，請精簡"
    assert "too_long.fail (zh-TW) never uses required placeholder(s) {channel}, {limit}" in _bad(edit)


def test_a_misspelt_missing_or_incomplete_entry_is_rejected():
    def misspelt(data):
        data["blame"]["hindsite"] = data["blame"].pop("hindsight")

    def untranslated(data):
        del data["missing_close"]["fail"]["zh"]

    message = _bad(misspelt)
    assert "no check uses blame.hindsite" in message
    assert "evals/messages.yaml" in message
    assert _bad(untranslated) == "evals/messages.yaml: missing_close.fail: zh: Field required"
    assert _bad(lambda d: d["missing_close"].pop("fail")) == "evals/messages.yaml has no message for missing_close.fail"
    assert "blame.fail (en) is malformed" in _bad(lambda d: d["blame"]["fail"].update(en="{why; describe"))


def test_a_taiwan_form_replaces_the_conversion_where_given():
    from pmcomm_llm.grounding.messages import MessageCatalogue

    data = _messages_data()
    assert MessageCatalogue(data).form("missing_subject.fail", "zh-TW") == "郵件需要一個具體的主旨"
    assert "用錯了對象" in MessageCatalogue(data).form("fabricated_fact.wrong_thing", "zh-TW"), "not 物件"
    data["missing_subject"]["fail"]["zh-TW"] = "Email 需要具體的主旨"
    assert MessageCatalogue(data).form("missing_subject.fail", "zh-TW") == "Email 需要具體的主旨"


def test_a_check_filling_a_message_with_the_wrong_values_fails_at_once():
    from pmcomm_llm.core.errors import PromptError
    from pmcomm_llm.grounding.messages import message

    with pytest.raises(PromptError, match=r"fabricated_fact.figure is filled with \['amount'\], but takes \['figure'\]"):
        message("fabricated_fact.figure", amount="20%")
    with pytest.raises(PromptError, match="no message key 'fabricated_fact.typo'"):
        message("fabricated_fact.typo")


def test_a_lexicon_group_without_a_name_fails_before_a_run(monkeypatch):
    from pmcomm_llm.core.errors import PromptError
    from pmcomm_llm.grounding import claims

    real = claims.promise_lexicon()
    monkeypatch.setattr(claims, "promise_lexicon", lambda: type(real)({**real.groups, "bribe": real.groups["free"]},
                                                                      real.exceptions, real.negation, real.others,
                                                                      real.first_person))
    with pytest.raises(PromptError, match="promise group\\(s\\) bribe"):
        claims._check_group_labels()
