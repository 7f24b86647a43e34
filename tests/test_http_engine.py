"""The HTTP engine sends exactly the chain's request and honours the same retry and re-ask contract."""

from __future__ import annotations

import pytest

from pmcomm_llm import AuthenticationError, Drafter, DraftRetryError, parse_scenario
from pmcomm_llm.testing import Hang, Malformed, Status


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_http_engine_sends_the_same_body_as_the_langchain_chain(server, openai_settings, examples, method):
    for data in examples:
        scenario = parse_scenario(data)
        lc = Drafter(**dict(openai_settings, method=method))
        http = Drafter(**dict(openai_settings, method=method, engine="http"))
        http.draft(scenario)
        sent = [r.json for r in server.requests if r.path.endswith("/chat/completions")][-1]
        assert sent == lc.request_body(scenario)


def _chats(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_http_engine_retries_429_and_500_and_reasks_malformed(server, openai_settings, example):
    server.enqueue(Status(429, {"retry-after-ms": "20"}), Status(500), Malformed())
    draft = Drafter(**dict(openai_settings, engine="http")).draft(example("delay_notice"))
    assert len(_chats(server)) == 4 and draft.meta.attempts == 2 and draft.meta.guard.passed
    assert "could not be used" in _chats(server)[-1].json["messages"][-1]["content"]
    assert _chats(server)[-1].json["messages"][-2]["role"] == "assistant"


def test_http_engine_401_stops_at_once(server, openai_settings, example):
    server.enqueue(Status(401))
    with pytest.raises(AuthenticationError):
        Drafter(**dict(openai_settings, engine="http")).draft(example("delay_notice"))
    assert len(_chats(server)) == 1


def test_http_engine_timeout_is_retried(server, openai_settings, example):
    server.enqueue(Hang(2.0))
    draft = Drafter(**dict(openai_settings, engine="http", timeout=0.3)).draft(example("cancel_project"))
    assert len(_chats(server)) == 2 and draft.body


def test_http_engine_gives_up_with_attempts_and_raw(server, openai_settings, example):
    server.enqueue(Malformed(), Malformed(), Malformed())
    with pytest.raises(DraftRetryError) as info:
        Drafter(**dict(openai_settings, engine="http", max_reasks=2)).draft(example("cancel_project"))
    assert info.value.n_attempts == 3 and info.value.last_raw
