"""The OpenAI path, replayed from cassettes (pytest-recording / vcrpy) for both structured-output methods.

CI replays with ``--record-mode=none``: no socket is opened. ``tests/README.md`` says what the committed
cassettes were recorded against and how to re-record them against a real provider.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from pmcomm_llm import Drafter, parse_scenario
from pmcomm_llm.testing import FakeOpenAIServer
from pmcomm_llm.testing.responders import offline_responder

CASSETTES = Path(__file__).parent / "cassettes"
TARGET_FILE = CASSETTES / "target.json"
LOCAL_PORT = 18777


@pytest.fixture()
def target(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Where calls go: in replay, wherever the cassettes were recorded; when recording, a real provider
    (RECORD_OPENAI_BASE_URL / RECORD_OPENAI_API_KEY / RECORD_MODEL) or the bundled local server."""
    mode = request.config.getoption("--record-mode")
    if mode == "none":
        yield json.loads(TARGET_FILE.read_text())
        return
    real_url = os.environ.get("RECORD_OPENAI_BASE_URL")
    if real_url:
        info = {"base_url": real_url, "model": os.environ.get("RECORD_MODEL", "gpt-4.1-mini"),
                "recorded_against": f"{real_url} ({os.environ.get('RECORD_MODEL', 'gpt-4.1-mini')})"}
        TARGET_FILE.write_text(json.dumps(info, indent=1) + "\n")
        yield {**info, "api_key": os.environ["RECORD_OPENAI_API_KEY"]}
        return
    with FakeOpenAIServer(responder=offline_responder, port=LOCAL_PORT) as server:
        info = {"base_url": server.base_url, "model": "fake-model",
                "recorded_against": "pmcomm_llm.testing.FakeOpenAIServer with offline_responder"}
        TARGET_FILE.write_text(json.dumps(info, indent=1) + "\n")
        yield info


@pytest.mark.vcr
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_openai_path_drafts_chinese_delay_from_cassette(method, target, example):
    data = example("delay_notice", language="zh-CN")
    drafter = Drafter(backend="openai", base_url=target["base_url"], model=target["model"], method=method,
                      api_key=target.get("api_key", "sk-cassette-replay"))
    draft = drafter.draft(data)
    scenario = parse_scenario(data)
    assert draft.meta.backend == "openai" and draft.meta.model == target["model"]
    assert draft.meta.guard.passed, draft.meta.guard.violations
    assert draft.meta.usage.input_tokens > 0 and draft.meta.usage.output_tokens > 0
    assert draft.subject and draft.body
    assert "2027年1月" in draft.body or "2027-01" in draft.body
    assert {a.offer_id for a in draft.alternatives} <= {o.id for o in scenario.offers}


@pytest.mark.vcr
def test_openai_path_drafts_english_decline_from_cassette(target, example):
    data = example("decline_request", language="en")
    drafter = Drafter(backend="openai", base_url=target["base_url"], model=target["model"],
                      api_key=target.get("api_key", "sk-cassette-replay"))
    draft = drafter.draft(data)
    assert draft.meta.guard.passed
    assert draft.body.splitlines()[0] == "Dear Rachel,"  # the recorded reply greets the client by first name


def test_cassettes_hold_no_credentials():
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8").lower()
        assert "authorization:" not in text and "api-key:" not in text, path.name
        assert "sk-cassette" not in text and "sk-test" not in text, path.name
