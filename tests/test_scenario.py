from __future__ import annotations

import pytest

from pmcomm_llm import Scenario, ScenarioError, parse_scenario
from pmcomm_llm.core.scenario import infer_language


def test_examples_all_validate(examples):
    scenarios = [parse_scenario(s, index=i) for i, s in enumerate(examples)]
    assert len(scenarios) >= 8
    assert {s.kind.value for s in scenarios} == {"decline_request", "cancel_project", "manage_expectations",
                                                  "delay_notice"}
    assert {s.language for s in scenarios} == {"zh-CN", "zh-TW", "en"}
    assert {s.channel for s in scenarios} == {"email", "im"}


def test_unknown_field_is_named_with_its_path(example):
    data = example("delay_notice")
    data["facts"]["new_deadline"] = "2027-01-20"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, index=3)
    err = info.value
    assert err.field == "facts.new_deadline"
    assert "not a known field" in str(err)
    assert err.item_id == data["id"]


def test_bad_kind_lists_the_choices(example):
    data = example("delay_notice")
    data["kind"] = "delay"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert info.value.field == "kind"
    assert "delay_notice" in str(info.value) and "'delay'" in str(info.value)


def test_bad_date_says_iso(example):
    data = example("delay_notice")
    data["facts"]["dates"]["new_deadline"] = "next Friday"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert info.value.field == "facts.dates.new_deadline"
    assert "ISO date" in str(info.value)


def test_delay_notice_needs_new_date_or_confirm_by(example):
    data = example("delay_notice")
    data["facts"]["dates"] = {"original_deadline": "2027-01-06"}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert info.value.field == "facts.dates"
    assert "new_deadline" in str(info.value) and "confirm_by" in str(info.value)
    data["facts"]["dates"]["confirm_by"] = "2027-01-10"
    assert parse_scenario(data).facts.dates["confirm_by"].isoformat() == "2027-01-10"


def test_decline_request_needs_the_request(example):
    data = example("decline_request")
    del data["facts"]["request"]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert info.value.field == "facts.request"


def test_missing_required_field_is_reported(example):
    data = example("cancel_project")
    del data["client"]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, index=7)
    assert info.value.field == "client" and "is required" in str(info.value)


def test_non_object_item_is_an_error():
    with pytest.raises(ScenarioError) as info:
        parse_scenario(["not", "an", "object"], index=2)
    assert "item 2" in str(info.value)


def test_id_is_derived_from_content_and_stable(example):
    data = example("delay_notice")
    del data["id"]
    a, b = parse_scenario(data), parse_scenario(dict(data))
    assert a.id == b.id and a.id.startswith("s-")
    data["situation"] += " (edited)"
    assert parse_scenario(data).id != a.id


@pytest.mark.parametrize(("text", "expected"), [
    ("我们的项目进度需要调整，这个问题我们会尽快处理。", "zh-CN"),
    ("我們的專案進度需要調整，這個問題我們會盡快處理。", "zh-TW"),
    ("The rollout slipped because the vendor API changed.", "en"),
])
def test_language_is_inferred_from_the_text(text, expected):
    assert infer_language(text) == expected


def test_language_absent_is_inferred_on_the_scenario(example):
    data = example(language="zh-TW")
    del data["language"]
    assert parse_scenario(data).language == "zh-TW"


def test_offers_as_plain_strings_are_numbered(example):
    data = example("decline_request")
    data["offers"] = ["Deliver it in the next release", "A simpler version now"]
    s = parse_scenario(data)
    assert [o.id for o in s.offers] == ["offer-1", "offer-2"]


def test_public_text_excludes_internal_notes(example):
    s = Scenario.model_validate(example("delay_notice"))
    for note in s.internal_notes:
        assert note not in s.public_text()
