"""Shared test setup: no network, isolated settings, cassettes configured once, a local fake provider.

pytest-socket (``--allow-hosts=127.0.0.1,localhost,::1`` in pyproject) lets tests reach only this machine:
the fake OpenAI-compatible server a test starts, and nothing else. Cassettes replay OpenAI-path calls; the
record mode is left to the command line (CI runs ``--record-mode=none``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from pmcomm_llm.testing import FakeOpenAIServer
from pmcomm_llm.testing.responders import offline_responder

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "scenarios.json"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, endpoints or cache."""
    import os

    for name in list(os.environ):
        if name.startswith(("PMCOMM_", "OPENAI_", "AZURE_OPENAI")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PMCOMM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, Any]:
    # No record_mode here: it would override --record-mode on the command line.
    return {
        "filter_headers": ["authorization", "api-key", "x-api-key", "openai-organization", "openai-project",
                           "cookie", "set-cookie"],
        "match_on": ["method", "uri", "body"],
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="session")
def vcr_cassette_dir() -> str:
    return str(Path(__file__).parent / "cassettes")


@pytest.fixture()
def examples() -> list[dict[str, Any]]:
    """A fresh copy per test: tests may edit scenarios without leaking into other tests."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))


@pytest.fixture()
def example(examples: list[dict[str, Any]]) -> Any:
    """``example(kind, language=None)`` → a deep copy of a matching example scenario."""
    def pick(kind: str | None = None, language: str | None = None, channel: str | None = None) -> dict[str, Any]:
        for s in examples:
            if kind and s["kind"] != kind:
                continue
            if language and s.get("language") != language:
                continue
            if channel and s.get("channel", "email") != channel:
                continue
            return copy.deepcopy(s)
        raise LookupError(f"no example for {kind} {language} {channel}")
    return pick


@pytest.fixture()
def server() -> Iterator[FakeOpenAIServer]:
    """A local OpenAI-compatible server answering like the offline drafter (scriptable with enqueue)."""
    with FakeOpenAIServer(responder=offline_responder) as srv:
        yield srv


@pytest.fixture()
def openai_settings(server: FakeOpenAIServer) -> dict[str, Any]:
    return {"backend": "openai", "base_url": server.base_url, "api_key": "sk-test-not-a-real-key",
            "model": "fake-model", "backoff_max": 0.2}
