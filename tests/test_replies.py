"""Replies of any shape, named provider quirks and bounded re-asks (issue 9), on the one request path.

Every case runs against the bundled local server, through the transport pmcomm uses (aiohttp) and the httpx2
one behind the same protocol: both must fail with the same typed errors.
"""

from __future__ import annotations

import json

import pytest

from pmcomm_llm import (
    ConfigError,
    Drafter,
    DraftRetryError,
    MalformedReplyError,
    OutputTruncatedError,
    PromptError,
    ProviderError,
    Settings,
    draft_many,
)
from pmcomm_llm.batch.batchapi import _answer
from pmcomm_llm.providers.transport import make_transport
from pmcomm_llm.testing import Raw, Reply

TRANSPORTS = ["aiohttp", "httpx"]

# body → a key part of what the error must say about its shape
ODD_BODIES = {
    "[]": "the body is a list, not a JSON object",
    '"ok"': "the body is a string, not a JSON object",
    "null": "the body is null, not a JSON object",
    "{}": "choices is missing",
    '{"choices": ["x"]}': "choices.0 is a string, not an object",
    '{"choices": []}': "choices is empty",
    '{"choices": [{"message": null}]}': "choices.0.message is null, not an object",
    '{"choices": [{"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}], "usage": [1]}':
        "usage is a list, not an object",
    '{"choices": [{"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}], "usage": "x"}':
        "usage is a string, not an object",
    "upstream proxy says hello": "the body is not JSON",
}

LLAMA_CPP_JSON_SCHEMA_500 = json.dumps({"error": {"code": 500, "message": "Unrecognized schema: {'type': "
                                                  "'object', 'properties': {...}}", "type": "server_error"}})


def _chats(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def _settings(openai_settings, transport, **more):
    """Drafter arguments for ``openai_settings`` (plus ``more``) sent through the ``transport`` transport."""
    transport = make_transport(transport, api_key=openai_settings["api_key"], base_url=openai_settings["base_url"],
                               timeout=more.get("timeout", 60))
    return dict(openai_settings, transport=transport, **more)


# -- 1. replies of any shape ---------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")  # the SDK, dumping a bad usage
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("body", list(ODD_BODIES))
def test_a_200_that_is_not_a_chat_completion_is_a_provider_error_retried_in_the_same_budget(
        server, openai_settings, example, transport, body):
    server.enqueue(*[Raw(body)] * 3)
    with pytest.raises(MalformedReplyError) as info:
        Drafter(**_settings(openai_settings, transport, max_retries=2)).draft(example("delay_notice"))
    assert isinstance(info.value, ProviderError)
    message = str(info.value)
    assert ODD_BODIES[body] in message and "not a chat completion" in message
    assert "sk-test" not in message
    assert len(_chats(server)) == 3  # 1 + max_retries, no re-ask on top


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("body", ["[]", "{}", '{"choices": [{"message": null}]}', "not json"])
def test_a_malformed_reply_then_a_good_one_drafts_without_a_reask(server, openai_settings, example, transport, body):
    server.enqueue(Raw(body))
    draft = Drafter(**_settings(openai_settings, transport)).draft(example("cancel_project"))
    assert len(_chats(server)) == 2 and draft.meta.attempts == 1 and draft.meta.guard.passed


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_draft_many_reports_a_malformed_reply_as_the_items_error(server, openai_settings, example, transport):
    server.enqueue(*[Raw("[]")] * 2)
    drafter = Drafter(**_settings(openai_settings, transport, max_retries=1))
    results = draft_many([example("delay_notice")], drafter, concurrency=1)
    assert results[0].draft is None
    assert results[0].error["error_type"] == "MalformedReplyError"
    assert "the body is a list" in results[0].error["message"]


def _line(body, status=200):
    return {"custom_id": "a", "response": {"status_code": status, "body": body}, "error": None}


@pytest.mark.parametrize(("line", "says"), [
    (_line([]), "the body is a list"),
    (_line("ok"), "the body is a string"),
    (_line(None), "the body is null"),
    (_line({}), "choices is missing"),
    (_line({"choices": ["x"]}), "choices.0 is a string"),
    (_line({"choices": []}), "choices is empty"),
    (_line({"choices": [{"message": None}]}), "choices.0.message is null"),
    (_line({"choices": [{"message": {"content": "{}"}}], "usage": [1]}), "usage is a list"),
    (_line({"choices": [{"message": {"content": "{}"}}], "usage": "x"}), "usage is a string"),
    ({"custom_id": "a", "response": "oops"}, "has no response object"),
    (["not", "an", "object"], "is not a JSON object"),
])
def test_batch_result_lines_of_any_shape_become_a_malformed_reply_error(line, says):
    with pytest.raises(MalformedReplyError, match=says):
        _answer(line)


def test_batch_error_body_that_is_a_string_still_gives_a_provider_error():
    with pytest.raises(ProviderError, match="HTTP 500: boom") as info:
        _answer(_line({"error": "boom"}, status=500))
    assert info.value.status_code == 500


# -- 2. provider quirks, named -------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_llama_cpp_500_to_json_schema_is_not_retried_and_names_the_methods(server, openai_settings, example,
                                                                           transport):
    server.enqueue(*[Raw(LLAMA_CPP_JSON_SCHEMA_500, status=500)] * 5)
    with pytest.raises(ConfigError) as info:
        Drafter(**_settings(openai_settings, transport)).draft(example("delay_notice"))
    message = str(info.value)
    assert "PMCOMM_METHOD=function_calling or json_mode" in message and "Unrecognized schema" in message
    assert len(_chats(server)) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [400, 422, 500])
def test_an_unsupported_response_format_in_json_mode_suggests_function_calling(server, openai_settings, example,
                                                                               transport, status):
    body = json.dumps({"error": {"message": "response_format json_object is not supported by this model"}})
    server.enqueue(*[Raw(body, status=status)] * 5)
    with pytest.raises(ConfigError) as info:
        Drafter(**_settings(openai_settings, transport, method="json_mode")).draft(example("delay_notice"))
    assert "PMCOMM_METHOD=function_calling " in str(info.value) and "json_mode (" not in str(info.value)
    assert len(_chats(server)) == 1


CONTEXT_MESSAGES = [
    "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    "context_length_exceeded",
    "The input exceeds the context window of this model",
    "the request exceeds the available context size, try increasing it",  # llama.cpp
    "Requested tokens (9000) exceed context window of 4096",  # llama-cpp-python
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("text", CONTEXT_MESSAGES)
def test_a_400_for_context_length_says_the_prompt_is_too_long_not_to_change_method(server, openai_settings,
                                                                                   example, transport, text):
    server.enqueue(Raw(json.dumps({"error": {"message": text, "type": "invalid_request_error"}}), status=400))
    with pytest.raises(ProviderError) as info:
        Drafter(**_settings(openai_settings, transport)).draft(example("delay_notice"))
    message = str(info.value)
    assert type(info.value) is ProviderError and info.value.status_code == 400
    assert "too long for the context window" in message and "shorten the scenario" in message.lower()
    assert "PMCOMM_METHOD" not in message
    assert len(_chats(server)) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_500_for_context_length_is_not_retried(server, openai_settings, example, transport):
    body = json.dumps({"error": {"code": 500, "message": "the request exceeds the available context size"}})
    server.enqueue(*[Raw(body, status=500)] * 5)
    with pytest.raises(ProviderError, match="too long for the context window"):
        Drafter(**_settings(openai_settings, transport)).draft(example("delay_notice"))
    assert len(_chats(server)) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_500_is_retried_unless_its_message_names_a_quirk(server, openai_settings, example, transport):
    plain = json.dumps({"error": {"code": 500, "message": "CUDA out of memory", "type": "server_error"}})
    server.enqueue(Raw(plain, status=500), *[Raw(LLAMA_CPP_JSON_SCHEMA_500, status=500)] * 4)
    with pytest.raises(ConfigError, match="PMCOMM_METHOD=function_calling"):
        Drafter(**_settings(openai_settings, transport)).draft(example("delay_notice"))
    assert len(_chats(server)) == 2  # the plain 500 was retried, the quirk was not


def test_a_malformed_quirks_file_is_a_prompt_error(monkeypatch):
    from pmcomm_llm.core import resources
    from pmcomm_llm.providers import quirks

    monkeypatch.setattr(resources, "load_yaml", lambda area, rel: {
        "context_length_exceeded": {"statuses": [400], "patterns": ["(unclosed"]},
        "unsupported_response_format": {"statuses": [500], "patterns": ["x"]}})
    quirks.load_quirks.cache_clear()
    try:
        with pytest.raises(PromptError, match="provider_quirks.yaml.*not a valid regular expression"):
            quirks.load_quirks()
    finally:
        quirks.load_quirks.cache_clear()


# -- 3. re-asks that do not grow -----------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_third_attempt_sends_the_prompt_the_last_answer_and_the_error_only(server, openai_settings, example,
                                                                               transport):
    server.enqueue(Reply('{"subject": "first'), Reply('{"subject": "second'))
    draft = Drafter(**_settings(openai_settings, transport, max_reasks=2)).draft(example("delay_notice"))
    first, _, third = (r.json["messages"] for r in _chats(server))
    assert draft.meta.attempts == 3
    assert len(third) == len(first) + 2 and third[:len(first)] == first
    assert third[-2]["role"] == "assistant" and '"second' in third[-2]["content"]
    assert third[-1]["role"] == "user" and "could not be used" in third[-1]["content"]


USAGE = {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_item_stops_before_a_reask_would_pass_its_token_budget(server, openai_settings, example, transport):
    server.enqueue(*[Reply('{"subject": "cut', usage=USAGE)] * 3)
    with pytest.raises(DraftRetryError) as info:
        Drafter(**_settings(openai_settings, transport, max_item_tokens=1500)).draft(example("delay_notice"))
    err = info.value
    assert "budget of 1500" in str(err) and "PMCOMM_MAX_ITEM_TOKENS" in str(err)
    assert err.n_attempts == 1 and err.last_raw == '{"subject": "cut' and err.usage.total_tokens == 1000
    assert len(_chats(server)) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_budget_of_zero_means_no_token_limit(server, openai_settings, example, transport):
    server.enqueue(*[Reply('{"subject": "cut', usage=USAGE)] * 2)
    draft = Drafter(**_settings(openai_settings, transport, max_item_tokens=0)).draft(example("delay_notice"))
    assert draft.meta.attempts == 3 and draft.meta.usage.total_tokens > 2000


def test_the_token_budget_is_read_from_the_environment():
    assert Settings.resolve(env={"PMCOMM_MAX_ITEM_TOKENS": "1234"}).max_item_tokens == 1234
    assert Settings.resolve(env={}).max_item_tokens == 60_000


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_truncated_reply_after_a_reask_carries_the_items_whole_usage(server, openai_settings, example, transport):
    server.enqueue(Reply('{"subject": "cut', usage=USAGE),
                   Reply('{"subject": "long', finish_reason="length", usage=USAGE))
    with pytest.raises(OutputTruncatedError) as info:
        Drafter(**_settings(openai_settings, transport)).draft(example("delay_notice"))
    assert info.value.usage.total_tokens == 2000 and info.value.usage.calls == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_attempt_without_reported_usage_still_counts_as_a_call(server, openai_settings, example, transport):
    no_usage = json.dumps({"choices": [{"message": {"role": "assistant", "content": '{"subject": "cut'},
                                        "finish_reason": "stop"}]})
    server.enqueue(*[Raw(no_usage)] * 3)
    with pytest.raises(DraftRetryError) as info:
        Drafter(**_settings(openai_settings, transport, max_reasks=2)).draft(example("delay_notice"))
    assert info.value.usage.calls == 3 and len(_chats(server)) == 3


def test_llama_cpp_request_validation_500_for_json_schema_is_named_and_not_retried():
    """The body llama-cpp-python 0.3.x's server really answers to response_format json_schema (seen by hand
    against ../shared/tools/real-llm-server): a 500 carrying its request validation error."""
    from pmcomm_llm.providers.quirks import match_quirk

    body = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
            "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
            "'ctx': {'expected': \"'text' or 'json_object'\"}}")
    quirk = match_quirk(500, body)
    assert quirk == "unsupported_response_format"
