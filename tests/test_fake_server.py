"""Tests for the fake OpenAI server, driven through the real ``openai`` SDK.

Going through the SDK (and raw ``httpx2`` where we need to see the wire)
checks that the fake is faithful enough for the SDK's own parsing, error
mapping, retry and timeout logic — which is what the client tests rely on.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from pmcomm_llm.testing import Drop, FakeOpenAIServer, Hang, Length, Malformed, Reply, Status
from pmcomm_llm.testing.server import default_responder, example_from_schema

REPO_ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Write the memo."}]
MEMO_SCHEMA = {
    "type": "object",
    "properties": {"subject": {"type": "string"}, "body": {"type": "string"}},
    "required": ["subject", "body"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "memo", "strict": True, "schema": MEMO_SCHEMA},
}
CHAT_BODY = {"model": "m", "messages": MESSAGES}
MEMO_EXAMPLE = {"subject": "example", "body": "example"}


def make_client(srv: FakeOpenAIServer, **kwargs: object) -> openai.OpenAI:
    # trust_env=False: never let a proxy environment variable route loopback traffic elsewhere.
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(
        base_url=srv.base_url, api_key="test", http_client=httpx2.Client(trust_env=False), **kwargs
    )


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def client(srv: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    with make_client(srv) as c:
        yield c


def chat(client: openai.OpenAI, **kwargs: object):
    kwargs.setdefault("model", "gpt-test")
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


# -- normal replies ---------------------------------------------------------


def test_json_schema_reply_parses_and_matches_responder_output() -> None:
    seen: list[dict] = []

    def responder(request: dict) -> dict:
        seen.append(request)
        return {"subject": "Grüße", "body": "line one\nline two"}

    with FakeOpenAIServer(responder=responder) as srv, make_client(srv) as client:
        result = chat(client, response_format=RESPONSE_FORMAT)

    choice = result.choices[0]
    assert json.loads(choice.message.content) == {"subject": "Grüße", "body": "line one\nline two"}
    assert "Grüße" in choice.message.content  # ensure_ascii=False
    assert choice.finish_reason == "stop"
    assert result.model == "gpt-test"
    assert result.object == "chat.completion"
    assert result.id.startswith("chatcmpl-")
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens > 0
    assert seen[0]["response_format"] == RESPONSE_FORMAT


def test_completion_has_exact_openai_shape(srv: FakeOpenAIServer) -> None:
    with httpx2.Client(trust_env=False) as http:
        body = http.post(f"{srv.base_url}/chat/completions", json=CHAT_BODY).json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": '{"ok": true}', "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["system_fingerprint"] == "fake"
    assert isinstance(body["created"], int)


def test_default_responder_builds_minimal_instance_of_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "count": {"type": "integer"},
            "score": {"type": "number"},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "tone": {"enum": ["formal", "casual"]},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "author": {"$ref": "#/$defs/Person"},
        },
        "$defs": {
            "Person": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
        },
    }
    assert example_from_schema(schema) == {
        "title": "example",
        "count": 0,
        "score": 0,
        "flag": False,
        "tags": [],
        "tone": "formal",
        "note": None,
        "author": {"name": "example", "age": 0},
    }
    assert default_responder({"messages": MESSAGES}) == {"ok": True}
    assert default_responder({"response_format": RESPONSE_FORMAT}) == MEMO_EXAMPLE


def test_tools_request_yields_tool_call_for_forced_function(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
        },
        {"type": "function", "function": {"name": "write_memo", "parameters": MEMO_SCHEMA}},
    ]
    forced = {"type": "function", "function": {"name": "write_memo"}}
    result = chat(client, tools=tools, tool_choice=forced)

    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "write_memo"
    assert json.loads(call.function.arguments) == MEMO_EXAMPLE

    # Without a forced choice the first tool is used.
    unforced = chat(client, tools=tools).choices[0].message.tool_calls[0]
    assert unforced.function.name == "lookup"
    assert json.loads(unforced.function.arguments) == {"q": "example"}


def test_scripted_reply_content_and_usage_override(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    srv.enqueue(Reply("plain text", usage=usage))
    result = chat(client)
    assert result.choices[0].message.content == "plain text"
    assert result.usage.total_tokens == 10
    assert json.loads(chat(client).choices[0].message.content) == {"ok": True}  # script exhausted


def test_models_endpoint_lists_fake_model(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-model"]


def test_unknown_path_is_404_with_openai_error_body(srv: FakeOpenAIServer) -> None:
    with httpx2.Client(trust_env=False) as http:
        response = http.get(f"{srv.base_url}/nope")
    assert response.status_code == 404
    assert "message" in response.json()["error"]


# -- scripted failures ------------------------------------------------------


def test_scripted_429_carries_retry_after_and_next_request_succeeds(
    srv: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    srv.enqueue(Status(429, {"retry-after": "0.05"}))
    with pytest.raises(openai.RateLimitError) as excinfo:
        chat(client)
    assert excinfo.value.response.headers["retry-after"] == "0.05"
    assert excinfo.value.body["code"] == "rate_limit_exceeded"
    assert chat(client).choices[0].finish_reason == "stop"


def test_sdk_retries_after_scripted_429(srv: FakeOpenAIServer) -> None:
    srv.enqueue(Status(429, {"retry-after": "0.05"}))
    with make_client(srv, max_retries=2) as client:
        assert chat(client).choices[0].message.content == '{"ok": true}'
    assert sum(r.path == "/v1/chat/completions" for r in srv.requests) == 2


def test_scripted_500_raises_internal_server_error(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Status(500))
    with pytest.raises(openai.InternalServerError) as excinfo:
        chat(client)
    assert excinfo.value.status_code == 500
    assert excinfo.value.body["type"] == "server_error"


def test_malformed_gives_invalid_json_content_and_arguments(
    srv: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    srv.enqueue(Malformed(), Malformed())
    content = chat(client, response_format=RESPONSE_FORMAT).choices[0].message.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    assert content.startswith('{"subject"')

    tools = [{"type": "function", "function": {"name": "write_memo", "parameters": MEMO_SCHEMA}}]
    call = chat(client, tools=tools).choices[0].message.tool_calls[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.function.arguments)


def test_length_gives_finish_reason_length_and_truncated_content(
    srv: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    srv.enqueue(Length())
    choice = chat(client, response_format=RESPONSE_FORMAT).choices[0]
    assert choice.finish_reason == "length"
    full = '{"subject": "example", "body": "example"}'
    assert full.startswith(choice.message.content) and len(choice.message.content) < len(full)


def test_drop_closes_connection_without_answer(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    srv.enqueue(Drop())
    with pytest.raises(openai.APIConnectionError):
        chat(client)
    assert chat(client).choices[0].finish_reason == "stop"


def test_hang_times_out_client_and_is_abandoned_on_disconnect(srv: FakeOpenAIServer) -> None:
    srv.enqueue(Hang(0.3))
    with make_client(srv, timeout=0.1) as client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            chat(client)
        assert time.monotonic() - started < 0.3
    # The server notices the disconnect and drops the hung request early.
    deadline = time.monotonic() + 0.25
    while srv.active_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.active_connections == 0


def test_hang_does_not_block_concurrent_request(srv: FakeOpenAIServer) -> None:
    srv.enqueue(Hang(0.4))
    outcome: dict[str, float] = {}

    def slow() -> None:
        with make_client(srv) as c:
            started = time.monotonic()
            chat(c)
            outcome["slow"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    while not srv.requests:  # wait until the hang has been consumed
        time.sleep(0.005)
    with make_client(srv) as c:
        started = time.monotonic()
        chat(c)
        fast = time.monotonic() - started
    thread.join()
    assert fast < 0.2
    assert outcome["slow"] >= 0.4


def test_latency_delays_every_reply() -> None:
    with FakeOpenAIServer(latency=0.1) as srv, make_client(srv) as client:
        started = time.monotonic()
        chat(client)
        assert time.monotonic() - started >= 0.1


def test_fault_rates_are_seeded_and_429_fault_has_retry_headers() -> None:
    def statuses(seed: int) -> list[int]:
        server = FakeOpenAIServer(fault_rates={"429": 0.3, "500": 0.3}, seed=seed)
        with server as srv, httpx2.Client(trust_env=False) as http:
            responses = [http.post(f"{srv.base_url}/chat/completions", json=CHAT_BODY) for _ in range(30)]
        for r in responses:
            if r.status_code == 429:
                assert r.headers["retry-after"] == "0" and r.headers["retry-after-ms"] == "10"
        return [r.status_code for r in responses]

    first = statuses(seed=1)
    assert first == statuses(seed=1)
    assert {200, 429, 500} <= set(first)


def test_fault_rates_reject_unknown_keys() -> None:
    with pytest.raises(ValueError):
        FakeOpenAIServer(fault_rates={"418": 0.1})


# -- HTTP details -----------------------------------------------------------


def test_keep_alive_reuses_one_connection(srv: FakeOpenAIServer) -> None:
    with httpx2.Client(trust_env=False) as http:
        for _ in range(3):
            assert http.post(f"{srv.base_url}/chat/completions", json=CHAT_BODY).status_code == 200
    assert srv.connections_accepted == 1


def test_chunked_request_body_is_read(srv: FakeOpenAIServer) -> None:
    payload = json.dumps({"model": "chunky", "messages": MESSAGES}).encode()

    def pieces() -> Iterator[bytes]:  # an iterator body makes httpx2 use chunked encoding
        yield payload[:10]
        yield payload[10:]

    with httpx2.Client(trust_env=False) as http:
        response = http.post(
            f"{srv.base_url}/chat/completions", content=pieces(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json()["model"] == "chunky"
    recorded = srv.requests[-1]
    assert recorded.headers["transfer-encoding"] == "chunked"
    assert recorded.json["model"] == "chunky"


def test_authorization_is_redacted_in_recorded_requests(srv: FakeOpenAIServer) -> None:
    http_client = httpx2.Client(trust_env=False)
    with openai.OpenAI(base_url=srv.base_url, api_key="sk-secret", max_retries=0, http_client=http_client) as client:
        chat(client, response_format=RESPONSE_FORMAT)
    with httpx2.Client(trust_env=False) as http:
        http.get(f"{srv.base_url}/models", headers={"api-key": "sk-azure"})
    first, second = srv.requests
    assert first.method == "POST" and first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "<redacted>"
    assert second.headers["api-key"] == "<redacted>"
    assert first.json["response_format"] == RESPONSE_FORMAT
    assert json.loads(first.raw_body) == first.json
    assert all("sk-" not in str(r.headers) for r in srv.requests)


def test_sustains_many_concurrent_connections() -> None:
    async def run(srv: FakeOpenAIServer) -> list[int]:
        limits = httpx2.Limits(max_connections=150, max_keepalive_connections=150)
        async with httpx2.AsyncClient(trust_env=False, limits=limits, timeout=10) as http:
            url = f"{srv.base_url}/chat/completions"
            responses = await asyncio.gather(*(http.post(url, json=CHAT_BODY) for _ in range(300)))
        return [r.status_code for r in responses]

    with FakeOpenAIServer(latency=0.1) as srv:
        started = time.monotonic()
        codes = asyncio.run(run(srv))
        elapsed = time.monotonic() - started
    assert codes == [200] * 300
    assert srv.connections_accepted >= 128
    assert elapsed < 6.0  # served one by one this would take 30 s


# -- files and batches ------------------------------------------------------


def _batch_line(custom_id: str) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-test", "messages": MESSAGES, "response_format": RESPONSE_FORMAT},
    }


def _jsonl(data: bytes) -> dict[str, dict]:
    return {row["custom_id"]: row for row in map(json.loads, data.decode().splitlines())}


def test_files_and_batch_lifecycle_with_error_file(srv: FakeOpenAIServer, client: openai.OpenAI) -> None:
    data = "\n".join(json.dumps(_batch_line(cid)) for cid in ("a", "b", "c")).encode() + b"\n"
    uploaded = client.files.create(file=("in.jsonl", data), purpose="batch")
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(data)
    assert uploaded.filename == "in.jsonl" and uploaded.purpose == "batch"
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).content == data

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "t1"},
    )
    assert batch.id.startswith("batch_") and batch.status == "validating"
    assert batch.request_counts.total == 3
    assert batch.metadata == {"run": "t1"}

    srv.enqueue(Reply(), Status(500))  # line "a" succeeds, line "b" fails; "c" uses the default path
    statuses = [client.batches.retrieve(batch.id).status for _ in range(3)]
    assert statuses == ["in_progress", "completed", "completed"]

    done = client.batches.retrieve(batch.id)
    assert done.request_counts.completed == 2 and done.request_counts.failed == 1
    assert done.completed_at is not None and done.output_file_id and done.error_file_id

    outputs = _jsonl(client.files.content(done.output_file_id).content)
    assert set(outputs) == {"a", "c"}
    for row in outputs.values():
        assert row["id"].startswith("batch_req_") and row["error"] is None
        assert row["response"]["status_code"] == 200
        body = row["response"]["body"]
        assert body["object"] == "chat.completion"
        assert json.loads(body["choices"][0]["message"]["content"]) == MEMO_EXAMPLE

    errors = _jsonl(client.files.content(done.error_file_id).content)
    assert set(errors) == {"b"}
    assert errors["b"]["response"]["status_code"] == 500
    assert "error" in errors["b"]["response"]["body"]

    assert [b.id for b in client.batches.list()] == [batch.id]
    assert srv.file_uploads == 1 and srv.batch_creates == 1  # output files are not uploads
    client.files.delete(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_batch_without_failures_has_no_error_file_and_cancel_works(
    srv: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    uploaded = client.files.create(file=("in.jsonl", json.dumps(_batch_line("x")).encode()), purpose="batch")
    create = {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    finished = client.batches.create(**create)
    for _ in range(srv.batch_polls_to_complete):
        finished = client.batches.retrieve(finished.id)
    assert finished.status == "completed" and finished.error_file_id is None

    other = client.batches.create(**create)
    assert client.batches.cancel(other.id).status == "cancelled"
    assert client.batches.retrieve(other.id).status == "cancelled"
    assert srv.file_uploads == 1 and srv.batch_creates == 2


# -- ways of running ----------------------------------------------------------


def test_async_with_runs_on_current_loop() -> None:
    responder_threads: set[int] = set()

    def responder(request: dict) -> dict:
        responder_threads.add(threading.get_ident())
        return {"ok": True}

    async def main() -> list[str]:
        async with FakeOpenAIServer(responder=responder, latency=0.05) as srv:
            http_client = httpx2.AsyncClient(trust_env=False)
            client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="test", max_retries=0, http_client=http_client)
            async with client:
                srv.enqueue(Reply({"n": 1}))
                started = time.monotonic()
                results = await asyncio.gather(*(client.chat.completions.create(**CHAT_BODY) for _ in range(10)))
                assert time.monotonic() - started < 0.4  # concurrent, not 10 x 0.05 s in series
        return [r.choices[0].message.content for r in results]

    contents = asyncio.run(main())
    assert responder_threads == {threading.get_ident()}  # served by this loop, not a helper thread
    assert sorted(contents) == ['{"n": 1}'] + ['{"ok": true}'] * 9


def test_subprocess_prints_ready_and_exits_zero_on_sigterm() -> None:
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmcomm_llm.testing.server", "--host", "127.0.0.1", "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:") and line.rstrip().endswith("/v1")
        base_url = line.split()[1]
        with httpx2.Client(trust_env=False) as http:
            assert http.get(f"{base_url}/models").json()["data"][0]["id"] == "fake-model"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert stdout == ""  # exactly one line was printed
    assert "Traceback" not in stderr
