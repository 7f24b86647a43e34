"""pmcomm-llm: drafts the hardest messages a project manager sends a client, and checks every draft.

Offline by default (deterministic templates); any OpenAI-compatible model when configured.
"""

from __future__ import annotations

from typing import Any

from pmcomm_llm.batch import ItemResult, adraft_many, draft_many
from pmcomm_llm.chain import Drafter
from pmcomm_llm.checks import Candidate, CheckResult
from pmcomm_llm.draft import Draft, DraftContent, DraftMeta
from pmcomm_llm.evaluation import Evaluation, aevaluate, evaluate, evaluate_many
from pmcomm_llm.errors import (
    AuthenticationError,
    ConfigError,
    DraftRetryError,
    InputFileError,
    MalformedReplyError,
    OutputTruncatedError,
    PmcommError,
    PromptError,
    ProviderError,
    ScenarioError,
)
from pmcomm_llm.guard import GuardReport, check_draft
from pmcomm_llm.prompts import load_prompts
from pmcomm_llm.scenario import Scenario, parse_scenario
from pmcomm_llm.settings import Settings

__all__ = [
    "AuthenticationError",
    "Candidate",
    "CheckResult",
    "ConfigError",
    "Draft",
    "DraftContent",
    "DraftMeta",
    "DraftRetryError",
    "Drafter",
    "GuardReport",
    "InputFileError",
    "ItemResult",
    "MalformedReplyError",
    "OutputTruncatedError",
    "PmcommError",
    "PromptError",
    "ProviderError",
    "Scenario",
    "ScenarioError",
    "Settings",
    "adraft",
    "adraft_many",
    "check_draft",
    "draft",
    "draft_many",
    "evaluate",
    "evaluate_many",
    "aevaluate",
    "Evaluation",
    "load_prompts",
    "parse_scenario",
]


def draft(scenario: Scenario | dict[str, Any], *, settings: Settings | None = None, **overrides: Any) -> Draft:
    """Draft one message. ``overrides`` are settings (``backend``, ``model``, ``base_url`` …)."""
    return Drafter(settings, **overrides).draft(scenario)


async def adraft(scenario: Scenario | dict[str, Any], *, settings: Settings | None = None,
                 **overrides: Any) -> Draft:
    """Async :func:`draft`."""
    drafter = Drafter(settings, **overrides)
    try:
        return await drafter.adraft(scenario)
    finally:
        await drafter.aclose()
