"""The one request path: the body each structured-output method sends, and the retry and re-ask contract."""

from __future__ import annotations

import json

import pytest

from pmcomm_llm import AuthenticationError, Drafter, DraftRetryError, parse_scenario
from pmcomm_llm.core.draft import DraftContent
from pmcomm_llm.providers.request import StructuredRequest
from pmcomm_llm.testing import Hang, Malformed, Status

_MESSAGES = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]


def _request(method: str) -> StructuredRequest:
    return StructuredRequest(DraftContent, "DraftContent", model="m", temperature=0.3, method=method,
                             schema_note=lambda schema: f"SCHEMA {len(schema)}")


def test_json_schema_body_is_a_strict_response_format_holding_the_schema():
    body = _request("json_schema").body(_MESSAGES)
    assert set(body) == {"model", "temperature", "response_format", "messages"}
    spec = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and spec["strict"] is True
    assert spec["name"] == "DraftContent" and spec["schema"]["title"] == "DraftContent"
    assert set(spec["schema"]["required"]) == set(DraftContent.model_fields)
    assert body["messages"] == _MESSAGES


def test_function_calling_body_forces_one_tool_whose_parameters_are_the_schema():
    body = _request("function_calling").body(_MESSAGES)
    assert "response_format" not in body
    (tool,) = body["tools"]
    assert tool["function"]["name"] == "DraftContent" and tool["function"]["parameters"]["title"] == "DraftContent"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "DraftContent"}}
    assert body["parallel_tool_calls"] is False and body["messages"] == _MESSAGES


def test_json_mode_body_puts_the_schema_note_after_the_first_system_message():
    body = _request("json_mode").body(_MESSAGES)
    assert body["response_format"] == {"type": "json_object"} and "tools" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "system", "user"]
    assert body["messages"][1]["content"].startswith("SCHEMA ")


def test_json_mode_without_a_schema_note_is_refused():
    with pytest.raises(ValueError, match="schema_note"):
        StructuredRequest(DraftContent, "DraftContent", model="m", temperature=0.3, method="json_mode")


def test_encode_is_compact_utf8_json_of_the_body():
    request = _request("json_schema")
    messages = [{"role": "user", "content": "延期通知"}]
    data = request.encode(messages)
    assert "延期通知".encode() in data and json.loads(data) == request.body(messages)


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_online_drafts_send_the_body_the_batch_api_submits(server, openai_settings, examples, method):
    """One body builder: what ``request_body`` gives the Batch API is what an online draft sends."""
    drafter = Drafter(**dict(openai_settings, method=method))
    for data in examples[:4]:
        scenario = parse_scenario(data)
        drafter.draft(scenario)
        sent = [r.json for r in server.requests if r.path.endswith("/chat/completions")][-1]
        assert sent == drafter.request_body(scenario)


def _chats(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_429_and_500_are_retried_and_a_malformed_answer_is_reasked(server, openai_settings, example):
    server.enqueue(Status(429, {"retry-after-ms": "20"}), Status(500), Malformed())
    draft = Drafter(**openai_settings).draft(example("delay_notice"))
    assert len(_chats(server)) == 4 and draft.meta.attempts == 2 and draft.meta.guard.passed
    assert "could not be used" in _chats(server)[-1].json["messages"][-1]["content"]
    assert _chats(server)[-1].json["messages"][-2]["role"] == "assistant"


def test_a_401_stops_at_once(server, openai_settings, example):
    server.enqueue(Status(401))
    with pytest.raises(AuthenticationError):
        Drafter(**openai_settings).draft(example("delay_notice"))
    assert len(_chats(server)) == 1


def test_a_timeout_is_retried(server, openai_settings, example):
    server.enqueue(Hang(2.0))
    draft = Drafter(**dict(openai_settings, timeout=0.3)).draft(example("cancel_project"))
    assert len(_chats(server)) == 2 and draft.body


def test_reasks_run_out_with_attempts_and_the_last_raw_answer(server, openai_settings, example):
    server.enqueue(Malformed(), Malformed(), Malformed())
    with pytest.raises(DraftRetryError) as info:
        Drafter(**dict(openai_settings, max_reasks=2)).draft(example("cancel_project"))
    assert info.value.n_attempts == 3 and info.value.last_raw


def test_a_reask_sends_the_prompt_the_last_answer_and_the_problem_never_the_whole_history(
        server, openai_settings, example):
    server.enqueue(Malformed(), Malformed())
    Drafter(**dict(openai_settings, max_reasks=2)).draft(example("cancel_project"))
    first, second, third = (r.json["messages"] for r in _chats(server))
    assert len(second) == len(third) == len(first) + 2 and third[: len(first)] == first
