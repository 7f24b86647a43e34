"""The offline drafter writes messages a project manager would send: news first, reasons in sentences, options
phrased by how many there are, a chat message that is a few sentences, a length limit that holds."""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path

import pytest
import yaml

from pmcomm_llm import Drafter, evaluate, parse_scenario
from pmcomm_llm.core.errors import LengthLimitError, PromptError
from pmcomm_llm.drafting.templates import OfflineTemplates, load_offline, taiwan_converter
from pmcomm_llm.grounding.text import count_sentences
from pmcomm_llm.prompting.prompts import load_prompts

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "scenarios.json"

ALL_EXAMPLES = json.loads(EXAMPLES.read_text(encoding="utf-8"))
CHANNELS = ("email", "im")
TONES = ("formal", "warm", "concise")
BANNED = yaml.safe_load((ROOT / "prompts" / "banned_phrases.yaml").read_text(encoding="utf-8"))

# Written here, not taken from the check's lexicon: what a reader calls "asking me to choose".
CHOICE = re.compile(r"哪一?[种種个個]|选择|選擇|which (?:do|would|one|option|suits|works)|choose|prefer", re.I)
LIST_OR_LABEL = re.compile(r"^\s*(?:[-*•]\s|\d+[.)]\s|[^\n:：,，。.]{1,14}[:：]\s*$)", re.M)
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _example(example_id: str) -> dict:
    return copy.deepcopy(next(s for s in ALL_EXAMPLES if s["id"] == example_id))


def _variant(data: dict, channel: str, tone: str) -> dict:
    out = copy.deepcopy(data)
    out.update(channel=channel, tone=tone)
    return out


def _draft(data: dict):
    scenario = parse_scenario(data)
    return scenario, Drafter(backend="offline").draft(scenario)


def _after_greeting(body: str) -> str:
    return body.split("\n", 1)[1] if "\n" in body else body


def _first_sentences(text: str, n: int) -> str:
    parts = re.split(r"(?<=[。！？!?])|(?<=\.)\s", text.strip())
    return "".join(p for p in parts if p)[: sum(len(p) for p in parts[:n])]


def test_the_examples_cover_every_kind_and_language():
    assert {(s["kind"], parse_scenario(s).language) for s in ALL_EXAMPLES} == set(
        itertools.product(("decline_request", "cancel_project", "manage_expectations", "delay_notice"),
                          ("zh-CN", "zh-TW", "en")))


@pytest.mark.parametrize(("example_id", "channel", "tone"),
                         [(s["id"], c, t) for s in ALL_EXAMPLES for c in CHANNELS for t in TONES])
def test_every_example_in_every_channel_and_tone_passes_the_rubric(example_id, channel, tone):
    data = _variant(next(s for s in ALL_EXAMPLES if s["id"] == example_id), channel, tone)
    scenario, draft = _draft(data)
    result = evaluate(draft, scenario)
    failed = [c for c in result.checks if not c.passed]
    assert result.passed and result.score == 1.0, failed
    assert draft.meta.guard.passed, draft.meta.guard.violations

    body = draft.body
    limit = load_prompts().catalogue.max_chars(channel, scenario.language)
    assert len(body) <= limit
    for phrase in BANNED[scenario.language]:
        assert phrase.lower() not in body.lower(), phrase
    assert not ISO_DATE.search(body), "one date format per language"
    for note in scenario.internal_notes:
        assert note not in body

    # the news leads: the new date, the request, or the project, before the reason
    lead = _first_sentences(_after_greeting(body), 2)
    f = scenario.facts
    if scenario.kind == "delay_notice":
        key = "new_deadline" if "new_deadline" in f.dates else "confirm_by"
        d = f.dates[key]
        forms = [f"{d.year}年{d.month}月{d.day}日", f"{d.strftime('%B')} {d.day}, {d.year}",
                 f"{d.day} {d.strftime('%B')} {d.year}"]
        assert any(form in lead for form in forms), lead
    else:
        request_end = (f.request or "").rstrip("。. ")[-8:].lower()
        if scenario.kind != "decline_request":
            assert scenario.project in lead, lead
        elif channel == "email":
            assert request_end in lead.lower(), lead  # an email restates the request
        else:
            assert request_end in lead.lower() or re.search("request|需求", lead), lead  # a chat may refer to it
    reason_start = f.reason.rstrip("。.")[6:30]
    assert reason_start in body and body.index(reason_start) > body.index(lead[:10])

    # options phrased by how many there are
    alternatives = [o for o in scenario.offers if o.type == "alternative"]
    if len(alternatives) < 2 or scenario.offers_combine:
        assert not CHOICE.search(body), "a single option (or a plan) is not put as a choice"
    else:
        assert CHOICE.search(body), "two alternatives are a real choice"
    for offer in scenario.offers:
        assert offer.id in {a.offer_id for a in draft.alternatives} or offer.text in draft.commitments

    if channel == "im":
        lines = body.splitlines()
        assert len(lines) <= 3 and not LIST_OR_LABEL.search(body), body
        assert scenario.sender.name not in body, "a chat message is not signed like a letter"
        assert 2 <= count_sentences(_after_greeting(body)) <= 6, body  # five, plus a closing thanks
        assert draft.subject is None
    else:
        assert draft.subject and scenario.sender.name in body.splitlines()[-2:][0] + body.splitlines()[-1]
        assert body.count("\n\n") >= 4, "an email has paragraphs"
        assert not LIST_OR_LABEL.search(_after_greeting(body)), "no form labels or lists"


def test_examples_in_their_own_channel_and_tone_drop_nothing_from_an_email(examples):
    for data in examples:
        scenario, draft = _draft(data)
        if scenario.channel == "email" and scenario.tone != "concise":
            assert draft.meta.dropped == [], (scenario.id, draft.meta.dropped)


def test_tone_changes_the_sentences_and_the_length():
    data = _example("cancel-data-en")
    drafts = {t: _draft(_variant(data, "email", t))[1] for t in TONES}
    for principle in ("tone", "transparency", "alternatives", "win_win"):  # the news, reason, offer, acknowledgement
        assert len({d.principles[principle] for d in drafts.values()}) == 3, principle
    assert drafts["formal"].body.splitlines()[0] != drafts["warm"].body.splitlines()[0]
    bodies = {t: d.body for t, d in drafts.items()}
    assert len(bodies["concise"]) < len(bodies["formal"]) and len(bodies["concise"]) < len(bodies["warm"])
    im = {t: _draft(_variant(_example("cancel-locker-zh"), "im", t))[1].body for t in TONES}
    assert len(set(im.values())) == 3, "tone changes an IM too"


def test_two_scenarios_of_one_kind_do_not_read_alike_and_reruns_are_identical():
    a = _example("decline-app-zhtw")
    b = copy.deepcopy(a)
    b.update(id="other", project="會員小程式", situation=a["situation"] + "（另一個專案）")
    first, second = _draft(a)[1].body, _draft(b)[1].body
    mask = lambda text, s: text.replace(s["project"], "P")  # noqa: E731
    assert mask(first, a) != mask(second, b)
    assert _draft(a)[1].model_dump(exclude={"meta"}) == _draft(a)[1].model_dump(exclude={"meta"})


def test_max_chars_is_hard_and_drops_the_least_important_facts_first(example):
    data = example("delay_notice", language="zh-CN")
    full = _draft(data)[1]
    data["max_chars"] = 420
    scenario, draft = _draft(data)
    assert len(draft.body) <= 420 < len(full.body)
    assert draft.meta.dropped[0] == "facts.milestones"
    assert "facts.done/facts.remaining" in draft.meta.dropped
    for must in (scenario.facts.reason.rstrip("。")[:20], "2027年1月25日", scenario.facts.next_step[:10]):
        assert must in draft.body
    for offer in scenario.offers:
        assert offer.text in draft.body
    assert evaluate(draft, scenario).passed


def test_a_caveat_on_the_new_date_is_kept_right_after_it_whatever_the_limit(example):
    data = example("delay_notice", language="zh-TW")
    caveat = "外部資安廠商複測排程通常需要 3 到 5 個工作天"
    assert caveat in data["facts"]["evidence"]
    data["max_chars"] = 330
    scenario, draft = _draft(data)
    assert len(draft.body) <= 330 and caveat in draft.body
    first_paragraph = draft.body.split("\n\n")[1]
    assert "2027年3月8日" in first_paragraph and caveat in first_paragraph
    assert "boundaries[0]" in draft.meta.dropped or "facts.evidence[0]" in draft.meta.dropped


def test_a_limit_too_short_for_the_required_parts_is_an_error_naming_max_chars(example):
    data = example("cancel_project", language="en")
    data["max_chars"] = 200
    with pytest.raises(LengthLimitError) as info:
        _draft(data)
    assert info.value.field == "max_chars" and info.value.minimum > 200
    assert "max_chars" in str(info.value) and str(info.value.minimum) in str(info.value)


def test_too_long_is_blocking_in_the_rubric(example):
    data = example("delay_notice", language="en")
    scenario, draft = _draft(data)
    padded = draft.model_copy(update={"body": draft.body + " More." * 200})
    result = evaluate(padded, scenario)
    assert not result.passed and "too_long" in result.blocking_failures


def test_remedies_are_stated_as_what_we_will_do_not_offered_as_a_choice(example):
    data = example("cancel_project", language="zh-TW")
    assert all(o["type"] != "alternative" for o in data["offers"])
    scenario, draft = _draft(data)
    assert not CHOICE.search(draft.body) and "我們會" in draft.body


def test_options_that_go_together_are_a_plan():
    data = _example("expect-app-en")
    assert data["offers_combine"] is True
    _, draft = _draft(data)
    assert not CHOICE.search(draft.body)
    data["offers_combine"] = False
    _, as_choice = _draft(data)
    assert CHOICE.search(as_choice.body)


def test_english_names_the_client_as_an_email_does(example):
    data = example("decline_request", language="en")
    assert _draft(data)[1].body.startswith("Dear Rachel,\n")
    data["client"]["name"] = "Ms. Karen Whitfield"
    assert _draft(data)[1].body.startswith("Dear Ms. Whitfield,\n")
    assert _draft(_variant(data, "email", "warm"))[1].body.startswith("Hi Karen,\n")
    assert _draft(_variant(data, "im", "formal"))[1].body.startswith("Hello Karen,\n")


def test_english_puts_an_article_before_a_common_noun_project_name(example):
    data = example("cancel_project", language="en")
    body = _draft(data)[1].body
    assert "the Customer 360 data platform" in body and "end Customer 360" not in body
    data["project"] = "Project Atlas"
    assert "the Project Atlas" not in _draft(data)[1].body


def test_english_thanks_once():
    for data in ALL_EXAMPLES:
        if parse_scenario(data).language != "en":
            continue
        for channel, tone in itertools.product(CHANNELS, TONES):
            body = _draft(_variant(data, channel, tone))[1].body.lower()
            assert body.count("thank") <= 1, (data["id"], channel, tone)


def test_the_client_message_is_acknowledged_without_its_figures_or_instructions(example):
    data = example("decline_request", language="en")
    body = _draft(data)[1].body
    assert "you need these pages for the spring campaign" in body
    assert "30%" not in body and "refund" not in body.lower()
    tw = example("cancel_project", language="zh-TW")
    assert "理解您擔心之後系統出問題沒人可以問" in _draft(tw)[1].body


def test_chinese_spaces_a_latin_word_where_our_sentence_meets_it(example):
    data = example("cancel_project", language="zh-CN")
    data["project"] = "CRM 升级"
    body = _draft(data)[1].body
    assert re.search(r"[\u4e00-\u9fff]CRM", body) is None and "CRM 升级" in body


def test_taiwan_sentences_are_traditional_and_use_taiwan_wording():
    t = load_offline("zh-TW")
    texts = [s for s in _all_strings(t.tree) if re.search(r"[\u4e00-\u9fff]", s)]
    convert = taiwan_converter()  # OpenCC s2twp and our phrase table: Taiwan text is a fixed point of it
    assert texts and [s for s in texts if convert(s) != s] == []
    joined = "\n".join(texts)
    for mainland in ("项目", "信息", "同步一下", "對齊一下", "節奏", "質量", "此致"):
        assert mainland not in joined
    assert "專案" in joined and "敬祝" in joined


def test_a_template_with_a_banned_phrase_is_refused_when_it_loads():
    tree = copy.deepcopy(load_offline("zh-CN").tree)
    tree["news"]["cancel_project"]["email"]["formal"] = ["我们决定终止{project}，这个决定来之不易。"]
    with pytest.raises(PromptError, match="来之不易"):
        OfflineTemplates("zh-CN", tree)


def test_a_template_with_an_unknown_placeholder_is_refused_when_it_loads():
    tree = copy.deepcopy(load_offline("en").tree)
    tree["reason"]["email"]["formal"] = ["Because {reasn}."]
    with pytest.raises(PromptError, match="reasn"):
        OfflineTemplates("en", tree)


def _all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for x in node:
            yield from _all_strings(x)
    elif isinstance(node, dict):
        for x in node.values():
            yield from _all_strings(x)


def test_offline_announces_itself_once_through_the_notice_callback_and_prints_nothing(example, capsys):
    notices = []
    drafter = Drafter(backend="offline", notice=notices.append)
    drafter.draft(example("delay_notice"))
    drafter.draft(example("cancel_project"))
    assert len(notices) == 1 and "drafting offline" in notices[0] and "OPENAI_API_KEY" in notices[0]
    assert capsys.readouterr() == ("", "")


def test_without_a_callback_the_offline_notice_goes_to_the_pmcomm_logger(example, caplog):
    with caplog.at_level("INFO", logger="pmcomm_llm"):
        Drafter(backend="offline").draft(example("delay_notice"))
    assert [r.message for r in caplog.records if "drafting offline" in r.message]


def test_auto_backend_is_offline_without_key_or_url():
    assert Drafter().backend == "offline"


@pytest.mark.parametrize("language", ["zh-CN", "zh-TW", "en"])
def test_every_acknowledgement_and_every_chat_opening_reads_as_empathy(language):
    """A chat message carries its acknowledgement in its first sentence; every variant must, not only the one an
    example happens to get."""
    from pmcomm_llm.evaluation.checks import missing_empathy
    from pmcomm_llm.grounding.checks import Candidate

    t = load_offline(language)
    scenario = parse_scenario(_example("delay-erp-zh"))
    values = {k: "X" for k in ("project", "the_project", "The_project", "request", "original_deadline",
                               "new_deadline", "confirm_by", "concern", "client_company")}
    sentences = []
    for tone in TONES:
        for kind in ("decline_request", "cancel_project", "manage_expectations", "delay_new", "delay_new_only",
                     "delay_confirm"):
            sentences += t.variants("news", kind, "im", tone)
        for kind in ("decline_request", "cancel_project", "manage_expectations", "delay_notice"):
            sentences += t.variants("acknowledge.default", kind, "email", tone)
        for channel in CHANNELS:
            sentences += t.variants("acknowledge.want", channel, tone) + t.variants("acknowledge.worry", channel, tone)
    for sentence in sentences:
        text = sentence.format(**values)
        assert missing_empathy(Candidate(None, f"{text}\nnext line"), scenario).passed, text


def test_facts_are_fitted_into_english_sentences_without_changing_what_they_say():
    from pmcomm_llm.drafting.wording import Wording

    data = _example("cancel-data-en")
    data["client"]["company"] = "Riverton County"
    w = Wording(load_offline("en"), parse_scenario(data))
    assert w.verb_phrase("Full refund of the pilot fee") == "provide a full refund of the pilot fee"
    assert w.verb_phrase("Export of all course content") == "provide an export of all course content"
    assert w.verb_phrase("30 days of support") == "provide 30 days of support"
    assert w.verb_phrase("Hand over all code") == "hand over all code"
    assert w.lower_first("Riverton County keeps the licences", force=True).startswith("Riverton")
    assert w.next_step("If the option works, confirm by Monday") == ("if the option works, confirm by Monday", False)
    assert w.dates_in("on Thursday 29 April, then 2027-05-14") == "on Thursday, April 29, then May 14, 2027"


def test_a_chinese_next_step_that_opens_with_its_time_gets_a_subject():
    body = _draft(_example("cancel-locker-zh"))[1].body
    assert re.search("下一步，我们(?:会|计划)在1月20日（周三）上午10点到贵司当面沟通交接清单。", body), body


def test_joining_a_question_with_another_sentence_keeps_the_question_last():
    from pmcomm_llm.drafting.offline import _Composer

    composer = _Composer(parse_scenario(_example("decline-consult-zh")), 400, 5)
    assert composer._join("有两种做法：一是A；二是B，您看哪种合适？", "我们会为您安排：C。") == \
        "我们会为您安排：C；有两种做法：一是A；二是B，您看哪种合适？"


def test_english_dates_follow_the_order_the_scenario_writes_them_in():
    british = _draft(_example("delay-kiosk-en"))[1].body  # "can't start on 18 January as planned"
    assert "15 January 2027" in british and "January 15" not in british
    american = _draft(_example("cancel-data-en"))[1].body  # the brief gives no day-first date
    assert "January 29, 2027" in american and "29 January" not in american


def test_chinese_remedies_have_a_subject_and_a_labelled_date_reads_as_a_value():
    from pmcomm_llm.drafting.wording import Wording

    body = _draft(_example("delay-erp-zh"))[1].body
    assert re.search("我们(?:会|还会)做好(?:以下安排|这几件事)：上线后驻场支持从 2 周延长到 3 周", body), body
    w = Wording(load_offline("zh-TW"), parse_scenario(_example("delay-portal-zhtw")))
    assert w.unlabel("原廠停產通知日期：2027年2月8日") == "原廠停產通知日期為2027年2月8日"
    assert w.unlabel("弱點掃描報告：高風險 0 項") == "弱點掃描報告顯示，高風險 0 項"
    en = Wording(load_offline("en"), parse_scenario(_example("cancel-data-en")))
    assert en.verb_phrase("Weekend commissioning shifts on both Saturdays") == \
        "provide weekend commissioning shifts on both Saturdays"


def test_a_capitalised_project_that_names_a_thing_takes_the_article_and_a_relative_clause_is_not_a_statement():
    from pmcomm_llm.drafting.wording import Wording

    w = Wording(load_offline("en"), parse_scenario(_example("cancel-data-en")))
    assert w.project_forms("Substation Monitoring Platform – Phase 2")["the_project"].startswith("the Substation")
    assert w.project_forms("Project Atlas")["the_project"] == "Project Atlas"
    assert w.verb_phrase("A reduced-scope pilot limited to the 8 sites that can supply the data") == \
        "provide a reduced-scope pilot limited to the 8 sites that can supply the data"
