"""pmcomm-llm: drafts the hardest messages a project manager sends a client, and checks every draft.

Offline by default (deterministic templates); any OpenAI-compatible model when configured.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public names → the module that defines them. They are imported on first use (PEP 562), so `pmcomm --help`,
# `pmcomm validate` and a Ctrl-C during start-up do not pay for LangChain and the openai SDK.
_EXPORTS = {
    "ItemResult": "batch.runner", "adraft_many": "batch.runner", "draft_many": "batch.runner",
    "Drafter": "drafting.chain",
    "Candidate": "grounding.checks", "CheckResult": "grounding.checks",
    "Draft": "core.draft", "DraftContent": "core.draft", "DraftMeta": "core.draft",
    "Evaluation": "evaluation.scoring", "aevaluate": "evaluation.scoring", "evaluate": "evaluation.scoring", "evaluate_many": "evaluation.scoring",
    "AuthenticationError": "core.errors", "ConfigError": "core.errors", "DraftRetryError": "core.errors",
    "EnvironmentFault": "core.errors", "InputFileError": "core.errors", "OutputFileError": "core.errors",
    "OutputTruncatedError": "core.errors", "PmcommError": "core.errors", "PromptError": "core.errors", "ProviderError": "core.errors",
    "ScenarioError": "core.errors", "MalformedReplyError": "core.errors",
    "GuardReport": "grounding.guard", "check_draft": "grounding.guard",
    "load_prompts": "prompting.prompts",
    "Scenario": "core.scenario", "parse_scenario": "core.scenario",
    "Settings": "core.settings",
}

if TYPE_CHECKING:  # pragma: no cover
    from pmcomm_llm.batch.runner import ItemResult, adraft_many, draft_many
    from pmcomm_llm.core.draft import Draft
    from pmcomm_llm.core.scenario import Scenario
    from pmcomm_llm.core.settings import Settings
    from pmcomm_llm.drafting.chain import Drafter


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pmcomm_llm' has no attribute {name!r}")
    value = getattr(import_module(f"pmcomm_llm.{module}"), name)
    globals()[name] = value
    return value


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
    "EnvironmentFault",
    "GuardReport",
    "InputFileError",
    "ItemResult",
    "OutputFileError",
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
    from pmcomm_llm.drafting.chain import Drafter

    return Drafter(settings, **overrides).draft(scenario)


async def adraft(scenario: Scenario | dict[str, Any], *, settings: Settings | None = None,
                 **overrides: Any) -> Draft:
    """Async :func:`draft`."""
    from pmcomm_llm.drafting.chain import Drafter

    drafter = Drafter(settings, **overrides)
    try:
        return await drafter.adraft(scenario)
    finally:
        await drafter.aclose()
