"""The retry contract, against a local OpenAI-compatible server the test starts (no network)."""

from __future__ import annotations

import json
import time

import pytest

from pmcomm_llm import AuthenticationError, ConfigError, Drafter, DraftRetryError, OutputTruncatedError
from pmcomm_llm.core.errors import ProviderError
from pmcomm_llm.testing import Hang, Length, Malformed, Reply, Status
from pmcomm_llm.testing.responders import offline_responder


def _chat_requests(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_429_with_retry_after_is_retried_then_succeeds(server, openai_settings, example):
    server.enqueue(Status(429, {"retry-after": "0.3"}))
    start = time.perf_counter()
    draft = Drafter(**openai_settings).draft(example("delay_notice"))
    assert time.perf_counter() - start >= 0.2, "the retry-after hint was honoured (capped at backoff_max=0.2)"
    assert len(_chat_requests(server)) == 2
    assert draft.meta.attempts == 1 and draft.meta.guard.passed


def test_500_twice_then_success(server, openai_settings, example):
    server.enqueue(Status(500), Status(503))
    draft = Drafter(**openai_settings).draft(example("cancel_project"))
    assert len(_chat_requests(server)) == 3
    assert draft.body


def test_401_fails_at_once_with_one_request(server, openai_settings, example):
    server.enqueue(Status(401, body={"error": {"message": "Incorrect API key provided: sk-test***", "type":
                                              "invalid_request_error", "code": "invalid_api_key"}}))
    with pytest.raises(AuthenticationError) as info:
        Drafter(**openai_settings).draft(example("cancel_project"))
    assert len(_chat_requests(server)) == 1
    message = str(info.value)
    assert "OPENAI_API_KEY" in message and "sk-test" not in message


def test_400_is_not_retried_and_says_what_to_try(server, openai_settings, example):
    server.enqueue(Status(400, body={"error": {"message": "response_format json_schema not supported"}}))
    with pytest.raises(ConfigError) as info:
        Drafter(**openai_settings).draft(example("cancel_project"))
    assert len(_chat_requests(server)) == 1
    assert "function_calling" in str(info.value)


def test_sdk_retries_are_off_so_attempts_never_multiply(server, openai_settings, example):
    server.enqueue(*[Status(500)] * 10)
    settings = dict(openai_settings, max_retries=2)
    with pytest.raises(ProviderError) as info:
        Drafter(**settings).draft(example("cancel_project"))
    assert info.value.status_code == 500
    assert len(_chat_requests(server)) == 3  # 1 + our 2 retries, no SDK retries on top


def test_timeout_is_retried(server, openai_settings, example):
    server.enqueue(Hang(2.0))
    draft = Drafter(**dict(openai_settings, timeout=0.3)).draft(example("delay_notice"))
    assert len(_chat_requests(server)) == 2 and draft.body


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_malformed_json_is_reasked_with_the_error(server, openai_settings, example, method):
    server.enqueue(Malformed())
    draft = Drafter(**dict(openai_settings, method=method)).draft(example("delay_notice"))
    requests = _chat_requests(server)
    assert len(requests) == 2 and draft.meta.attempts == 2
    last_user = requests[1].json["messages"][-1]["content"]
    assert "could not be used" in last_user
    assert draft.meta.usage.calls == 2 and draft.meta.usage.input_tokens > 0


def test_schema_violation_is_reasked_with_the_field(server, openai_settings, example):
    server.enqueue(Reply({"subject": "x", "body": "y"}))
    Drafter(**openai_settings).draft(example("delay_notice"))
    reask = _chat_requests(server)[1].json["messages"][-1]["content"]
    assert "alternatives" in reask and "next_step" in reask


def test_reasks_run_out_with_attempts_raw_and_usage(server, openai_settings, example):
    server.enqueue(Malformed(), Malformed(), Malformed())
    with pytest.raises(DraftRetryError) as info:
        Drafter(**dict(openai_settings, max_reasks=2)).draft(example("delay_notice"))
    err = info.value
    assert err.n_attempts == 3 and err.last_raw and err.usage.calls == 3
    assert len(_chat_requests(server)) == 3


def test_length_finish_reason_is_its_own_error(server, openai_settings, example):
    server.enqueue(Length())
    with pytest.raises(OutputTruncatedError):
        Drafter(**openai_settings).draft(example("delay_notice"))
    server.enqueue(Length())
    with pytest.raises(OutputTruncatedError):
        Drafter(**dict(openai_settings, method="function_calling")).draft(example("delay_notice"))


def test_guard_violation_is_reasked_with_the_exact_violation(server, openai_settings, example):
    data = example("delay_notice", language="zh-CN")
    request_like = {"messages": [{"role": "user", "content": _user_prompt(data)}]}
    bad = offline_responder(request_like)
    bad["body"] += "\n我们保证全额退款，并在2027年3月3日前完成。"
    server.enqueue(Reply(bad))
    draft = Drafter(**openai_settings).draft(data)
    reask = _chat_requests(server)[1].json["messages"][-1]["content"]
    assert "2027年3月3日" in reask and "退款" in reask
    assert draft.meta.guard.passed and draft.meta.guard.reasks == 1


def test_persistent_violation_is_returned_flagged_not_passed(server, openai_settings, example):
    data = example("delay_notice", language="zh-CN")
    bad = offline_responder({"messages": [{"role": "user", "content": _user_prompt(data)}]})
    bad["body"] += "\n我们保证全额退款。"
    server.enqueue(Reply(bad), Reply(bad), Reply(bad))
    draft = Drafter(**dict(openai_settings, max_reasks=2)).draft(data)
    assert not draft.meta.guard.passed
    assert draft.meta.guard.violations[0]["id"] == "unauthorized_commitment"
    assert draft.meta.attempts == 3


def test_two_event_loops_in_one_process_both_work(server, openai_settings, example):
    import asyncio

    drafter = Drafter(**openai_settings)
    first = asyncio.run(drafter.adraft(example("delay_notice")))
    second = asyncio.run(drafter.adraft(example("cancel_project")))
    assert first.body and second.body


def _user_prompt(data):
    from pmcomm_llm import load_prompts, parse_scenario

    return load_prompts().messages(parse_scenario(data))[1].content


def test_missing_key_without_base_url_says_what_to_set(example):
    from pmcomm_llm import ConfigError

    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Drafter(backend="openai").draft(example("delay_notice"))


def test_request_carries_timeout_free_body_and_no_key_in_record(server, openai_settings, example):
    Drafter(**openai_settings).draft(example("delay_notice"))
    req = _chat_requests(server)[0]
    assert req.headers["authorization"] == "<redacted>"
    body = json.dumps(req.json)
    assert "sk-test" not in body
    assert req.json["response_format"]["type"] == "json_schema"
