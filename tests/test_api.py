"""The public Python API: pinned names, draft/adraft/draft_many, and the Runnable for composition."""

from __future__ import annotations

import asyncio

import pmcomm_llm
from pmcomm_llm import Draft, Drafter, Scenario, adraft, draft, draft_many, load_prompts, parse_scenario

EXPECTED_ALL = [
    "AuthenticationError", "Candidate", "CheckResult", "ConfigError", "Draft", "DraftContent", "DraftMeta",
    "DraftRetryError", "Drafter", "EnvironmentFault", "GuardReport", "InputFileError", "ItemResult",
    "MalformedReplyError", "OutputFileError", "OutputTruncatedError",
    "PmcommError", "PromptError", "ProviderError", "Scenario", "ScenarioError", "Settings", "adraft",
    "adraft_many", "check_draft", "draft", "draft_many", "load_prompts", "parse_scenario",
    "evaluate", "evaluate_many", "aevaluate", "Evaluation",
]


def test_public_api_is_pinned():
    assert sorted(pmcomm_llm.__all__) == sorted(EXPECTED_ALL)


def test_draft_works_in_a_fresh_interpreter_with_nothing_imported_first():
    import json
    import subprocess
    import sys
    from pathlib import Path

    example = json.loads((Path(__file__).parent.parent / "examples/scenarios.json").read_text(encoding="utf-8"))[0]
    code = ("import json, sys, pmcomm_llm; d = pmcomm_llm.draft(json.loads(sys.stdin.read()), backend='offline'); "
            "print(d.meta.backend, bool(d.body))")
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(example), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["offline", "True"]


def test_every_public_name_resolves_lazily():
    for name in pmcomm_llm.__all__:
        assert getattr(pmcomm_llm, name) is not None, name
    for name in pmcomm_llm.__all__:
        assert hasattr(pmcomm_llm, name), name


def test_draft_returns_a_draft_with_meta(example):
    result = draft(example("delay_notice"))
    assert isinstance(result, Draft)
    meta = result.meta
    assert meta.backend == "offline" and meta.prompt_version == load_prompts().version
    assert meta.kind == "delay_notice" and meta.guard.passed and meta.attempts == 1


def test_adraft_works_in_a_running_loop(example):
    result = asyncio.run(adraft(example("cancel_project")))
    assert result.body


def test_draft_many_keeps_order_and_errors(example):
    bad = dict(example("cancel_project"), kind="nope", id="broken")
    results = draft_many([example("delay_notice"), bad, example("decline_request")])
    assert [r.draft is not None for r in results] == [True, False, True]
    assert results[1].error["field"] == "kind" and results[1].error["id"] == "broken"


def test_runnable_composes_with_langchain(example):
    from langchain_core.runnables import RunnableLambda

    chain = RunnableLambda(lambda s: {**s, "tone": "warm"}) | Drafter(backend="offline").runnable()
    result = chain.invoke(example("decline_request", language="en"))
    assert isinstance(result, Draft) and result.body.startswith("Hi ")
    batch = Drafter(backend="offline").runnable().batch([example("delay_notice"), example("cancel_project")])
    assert len(batch) == 2


def test_openai_runnable_async_batch_against_local_server(openai_settings, example):
    runnable = Drafter(**openai_settings).runnable()
    results = asyncio.run(runnable.abatch([example("delay_notice"), example("cancel_project")],
                                          config={"max_concurrency": 2}))
    assert all(r.meta.backend == "openai" and r.meta.guard.passed for r in results)


def test_scenario_object_and_dict_give_the_same_draft(example):
    data = example("manage_expectations")
    a = draft(data)
    b = draft(parse_scenario(data))
    assert isinstance(parse_scenario(data), Scenario)
    assert a.body == b.body


def test_settings_precedence_argument_over_env_over_default(monkeypatch):
    from pmcomm_llm import Settings

    assert Settings.resolve().model == "gpt-4.1-mini"
    monkeypatch.setenv("PMCOMM_MODEL", "env-model")
    assert Settings.resolve().model == "env-model"
    assert Settings.resolve(model="arg-model").model == "arg-model"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    settings = Settings.resolve()
    assert settings.effective_backend == "openai"
    assert "sk-secret-value" not in repr(settings) and "sk-secret-value" not in str(settings.model_dump())


def test_invalid_setting_names_the_variable_not_the_value(monkeypatch):
    import pytest

    from pmcomm_llm import ConfigError, Settings

    monkeypatch.setenv("PMCOMM_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="PMCOMM_TIMEOUT"):
        Settings.resolve()


def test_a_callback_handler_sees_the_chain_and_every_model_call_of_a_reask(server, openai_settings, example):
    """LangSmith-style tracing: the draft is one run, and each model attempt a child run under it."""
    from langchain_core.callbacks import BaseCallbackHandler

    from pmcomm_llm.testing import Malformed

    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts: list[tuple[str, object]] = []

        def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kwargs):
            self.starts.append((kwargs.get("name") or (serialized or {}).get("name"), parent_run_id))

    server.enqueue(Malformed())
    recorder = Recorder()
    draft = asyncio.run(Drafter(**openai_settings).runnable().ainvoke(example("delay_notice"),
                                                                      {"callbacks": [recorder]}))
    names = [name for name, _ in recorder.starts]
    assert draft.meta.attempts == 2
    assert names.count("pmcomm_draft") == 1 and names.count("DraftContent") == 2
    assert all(parent is not None for name, parent in recorder.starts if name == "DraftContent")
