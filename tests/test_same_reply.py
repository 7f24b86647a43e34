"""One request path, one parser: the same provider reply ends the same way through the Python API, the CLI and
the Batch API — a plain JSON answer, one inside a Markdown fence, a tool call, and a refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pmcomm_llm import Drafter, DraftRetryError, load_prompts, parse_scenario
from pmcomm_llm.batch import batchapi
from pmcomm_llm.cli.commands import cli
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.drafting.offline import offline_content
from pmcomm_llm.testing import FakeOpenAIServer, Raw

KEY = "sk-test-not-a-real-key"


def _completion(message: dict[str, Any], finish: str = "stop") -> str:
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "fake-model",
                       "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
                       "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200}},
                      ensure_ascii=False)


def _replies(answer: str) -> dict[str, str]:
    return {
        "plain": _completion({"content": answer}),
        "fenced": _completion({"content": f"```json\n{answer}\n```"}),
        "tool_call": _completion({"content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "DraftContent", "arguments": answer}}]},
            finish="tool_calls"),
        "refusal": _completion({"content": None, "refusal": "I can't help with that request."}),
    }


def _python_api(server: FakeOpenAIServer, scenario: dict[str, Any], tmp: Path) -> tuple[str, str]:
    try:
        draft = Drafter(backend="openai", base_url=server.base_url, api_key=KEY, model="fake-model",
                        backoff_max=0.1).draft(scenario)
    except DraftRetryError as exc:
        return "DraftRetryError", str(exc)
    return "drafted", draft.body


def _outcome(out: Path, errors: Path) -> tuple[str, str]:
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    failed = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()] if errors.exists() else []
    assert len(records) + len(failed) == 1
    if records:
        return "drafted", records[0]["draft"]["body"]
    return failed[0]["error_type"], failed[0]["message"]


def _cli(server: FakeOpenAIServer, scenario: dict[str, Any], tmp: Path) -> tuple[str, str]:
    source = tmp / "cli-in.json"
    source.write_text(json.dumps([scenario], ensure_ascii=False), encoding="utf-8")
    out = tmp / "cli-out.jsonl"
    CliRunner(env={"OPENAI_API_KEY": KEY}).invoke(
        cli, ["draft", str(source), "-o", str(out), "--backend", "openai", "--base-url", server.base_url,
              "--model", "fake-model", "--quiet", "--no-cache"], catch_exceptions=False)
    return _outcome(out, tmp / "cli-out.errors.jsonl")


def _batch_api(server: FakeOpenAIServer, scenario: dict[str, Any], tmp: Path) -> tuple[str, str]:
    source = tmp / "batch-in.json"
    source.write_text(json.dumps([scenario], ensure_ascii=False), encoding="utf-8")
    out = tmp / "batch-out.jsonl"
    settings = Settings.resolve(backend="openai", base_url=server.base_url, api_key=KEY, model="fake-model",
                                backoff_max=0.1)
    batchapi.run_batch_api(source, settings, out, poll_interval=0.01, poll_max_interval=0.05)
    return _outcome(out, tmp / "batch-out.errors.jsonl")


PATHS = {"python": _python_api, "cli": _cli, "batch_api": _batch_api}


@pytest.mark.parametrize("kind", ["plain", "fenced", "tool_call", "refusal"])
def test_the_same_reply_gives_the_same_outcome_on_every_path(kind, example, tmp_path):
    scenario = example("delay_notice", language="en")
    answer = offline_content(parse_scenario(scenario), load_prompts()).model_dump_json()
    outcomes = {}
    for name, run in PATHS.items():
        with FakeOpenAIServer(batch_polls_to_complete=1) as server:
            server.enqueue(*[Raw(_replies(answer)[kind])] * 3)  # every attempt a re-ask could make
            outcomes[name] = run(server, scenario, tmp_path)
    kinds = {name: outcome[0] for name, outcome in outcomes.items()}
    if kind == "refusal":
        assert set(kinds.values()) == {"DraftRetryError"}, outcomes
        assert all("refused" in message for _, message in outcomes.values()), outcomes
    else:
        assert set(kinds.values()) == {"drafted"}, outcomes
        assert {body for _, body in outcomes.values()} == {json.loads(answer)["body"]}
