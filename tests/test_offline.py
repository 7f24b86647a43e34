from __future__ import annotations

import datetime as dt
import itertools

import pytest

from pmcomm_llm import Drafter, parse_scenario
from pmcomm_llm.checks import Candidate, fabricated_fact
from pmcomm_llm.prompts import CHANNELS, LANGUAGES, load_prompts
from pmcomm_llm.scenario import Kind

KINDS = [k.value for k in Kind]


def _date_forms(d: dt.date, language: str) -> str:
    if language == "en":
        return f"{d.strftime('%B')} {d.day}, {d.year}"
    return f"{d.year}年{d.month}月{d.day}日"


@pytest.mark.parametrize(("kind", "language", "channel"), list(itertools.product(KINDS, LANGUAGES, CHANNELS)))
def test_offline_draft_has_required_elements_and_passes_guard(kind, language, channel, example):
    data = example(kind)
    data.update(language=language, channel=channel)
    scenario = parse_scenario(data)
    draft = Drafter(backend="offline").draft(scenario)
    body = draft.body
    assert draft.meta.backend == "offline" and draft.meta.guard.passed, draft.meta.guard.violations
    assert (draft.subject is None) == (channel == "im")
    assert scenario.client.name in body.splitlines()[0], "greets the client by name"
    assert scenario.sender.name in "\n".join(body.splitlines()[-3:]), "signs with the sender's name"
    assert scenario.facts.reason.rstrip("。.") in body, "states the reason"
    offers = [o for o in scenario.offers if o.type == "alternative"] or scenario.offers
    for offer in offers:
        assert offer.text.rstrip("。.") in body, f"offers {offer.id}"
    assert {a.offer_id for a in draft.alternatives} == {o.id for o in offers}
    assert all(c in [o.text for o in scenario.offers] for c in draft.commitments)
    if kind == "delay_notice":
        key = "new_deadline" if "new_deadline" in scenario.facts.dates else "confirm_by"
        assert _date_forms(scenario.facts.dates[key], language) in body
    if scenario.facts.next_step:
        assert scenario.facts.next_step.rstrip("。.") in body
    if language == example(kind).get("language"):
        assert len(body) <= load_prompts().catalogue.max_chars(channel, language)
    for note in scenario.internal_notes:
        assert note not in body
    assert set(draft.principles) >= {"transparency", "alternatives", "tone", "win_win"}
    for sentence in draft.principles.values():
        assert sentence in body


def test_every_example_offline_draft_is_within_its_channel_limit(examples):
    for data in examples:
        scenario = parse_scenario(data)
        body = Drafter(backend="offline").draft(scenario).body
        assert len(body) <= load_prompts().catalogue.max_chars(scenario.channel, scenario.language), scenario.id


def test_offline_draft_is_deterministic(example):
    data = example("cancel_project")
    a = Drafter(backend="offline").draft(data)
    b = Drafter(backend="offline").draft(data)
    assert a.model_dump(exclude={"meta"}) == b.model_dump(exclude={"meta"})


def test_offline_draft_respects_a_tight_length_limit(example):
    data = example("delay_notice", channel="email")
    data["max_chars"] = 420
    draft = Drafter(backend="offline").draft(data)
    assert len(draft.body) <= 420  # optional sections (milestones, evidence, status lists) dropped first
    full = Drafter(backend="offline").draft(example("delay_notice", channel="email"))
    assert len(draft.body) < len(full.body)
    assert parse_scenario(data).facts.reason.rstrip("。.") in draft.body


def test_offline_announces_itself_once_on_stderr(example, capsys, monkeypatch):
    from pmcomm_llm import offline

    monkeypatch.setattr(offline, "_announced", False)
    Drafter(backend="offline").draft(example("delay_notice"))
    Drafter(backend="offline").draft(example("cancel_project"))
    err = capsys.readouterr().err
    assert err.count("drafting offline") == 1 and "OPENAI_API_KEY" in err


def test_auto_backend_is_offline_without_key_or_url():
    assert Drafter().backend == "offline"


def test_offline_uses_only_scenario_dates(example):
    data = example("delay_notice", language="zh-CN")
    draft = Drafter(backend="offline").draft(data)
    assert fabricated_fact(Candidate(draft.subject, draft.body), parse_scenario(data)).passed
