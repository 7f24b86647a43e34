"""pmcomm-llm: drafts the hardest messages a project manager sends a client, and checks every draft.

Offline by default (deterministic templates); any OpenAI-compatible model when configured.
"""

from __future__ import annotations

from typing import Any

from importlib import import_module
from typing import TYPE_CHECKING

# The submodule ``pmcomm_llm.draft`` shares its name with the function ``draft`` below: import it first, so a
# later import of the submodule cannot replace the function on the package (it only sets the attribute once).
from pmcomm_llm import draft as _draft_module  # noqa: F401

# Public names → the module that defines them. They are imported on first use (PEP 562), so `pmcomm --help`,
# `pmcomm validate` and a Ctrl-C during start-up do not pay for LangChain and the openai SDK.
_EXPORTS = {
    "ItemResult": "batch", "adraft_many": "batch", "draft_many": "batch",
    "Drafter": "chain",
    "Candidate": "checks", "CheckResult": "checks",
    "Draft": "draft", "DraftContent": "draft", "DraftMeta": "draft",
    "Evaluation": "evaluation", "aevaluate": "evaluation", "evaluate": "evaluation", "evaluate_many": "evaluation",
    "AuthenticationError": "errors", "ConfigError": "errors", "DraftRetryError": "errors",
    "EnvironmentFault": "errors", "InputFileError": "errors", "OutputFileError": "errors",
    "OutputTruncatedError": "errors", "PmcommError": "errors", "PromptError": "errors", "ProviderError": "errors",
    "ScenarioError": "errors", "MalformedReplyError": "errors",
    "GuardReport": "guard", "check_draft": "guard",
    "load_prompts": "prompts",
    "Scenario": "scenario", "parse_scenario": "scenario",
    "Settings": "settings",
}

if TYPE_CHECKING:  # pragma: no cover
    from pmcomm_llm.batch import ItemResult, adraft_many, draft_many
    from pmcomm_llm.chain import Drafter
    from pmcomm_llm.scenario import Scenario
    from pmcomm_llm.settings import Settings
    from pmcomm_llm.draft import Draft


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
    from pmcomm_llm.chain import Drafter

    return Drafter(settings, **overrides).draft(scenario)


async def adraft(scenario: Scenario | dict[str, Any], *, settings: Settings | None = None,
                 **overrides: Any) -> Draft:
    """Async :func:`draft`."""
    from pmcomm_llm.chain import Drafter

    drafter = Drafter(settings, **overrides)
    try:
        return await drafter.adraft(scenario)
    finally:
        await drafter.aclose()
