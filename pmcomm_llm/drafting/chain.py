"""The drafting chain: prompt → structured chat model → validation → guard, as one LangChain Runnable.

One :class:`Drafter` holds the settings, the validated prompts and the model step
(:class:`~pmcomm_llm.providers.structured.StructuredModel`), and drafts one scenario at a time (``adraft``) or
as a ``Runnable`` for composition (``runnable()``). Every model draft goes this one way, from the Python API, the
CLI and a revision alike: the prompt is rendered, the model answers into a ``DraftContent``, and the shared
re-ask loop (:func:`~pmcomm_llm.providers.structured.complete`) sends an invalid answer back with its validation
error and a draft the guard faults back with the exact violations, within ``max_reasks``. A draft the guard still
faults is returned flagged, never passed silently. The Batch API sends the same request body and its answers are
read by the same parser and guard (:meth:`Drafter.finish`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Sequence

from langchain_core.runnables import Runnable, RunnableConfig

from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.draft import Draft, DraftContent, DraftMeta, Usage
from pmcomm_llm.core.errors import ConfigError, DraftRetryError
from pmcomm_llm.core.scenario import Scenario, parse_scenario
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.drafting.offline import offline_draft
from pmcomm_llm.grounding.guard import GuardReport, check_draft
from pmcomm_llm.prompting.prompts import PromptSet, load_prompts, render_strict
from pmcomm_llm.providers.request import Message, output_schema
from pmcomm_llm.providers.response import Completion, parse_answer
from pmcomm_llm.providers.structured import StructuredModel, complete, traced
from pmcomm_llm.providers.transport import Transport

__all__ = ["OFFLINE_MODEL", "OFFLINE_NOTICE", "DraftChain", "Drafter", "draft_schema"]

OFFLINE_MODEL = "offline-templates"
OFFLINE_NOTICE = ("drafting offline (deterministic templates, no model). To draft with a model, set OPENAI_API_KEY "
                  "(and OPENAI_BASE_URL for another OpenAI-compatible server) or pass --backend openai.")
_ASKED_FOR_A_MODEL = ("model {model!r} was asked for, but no API key or base URL is set, so drafting would be "
                      "offline: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server), or pass backend='offline'")
_REASK_KINDS = {"invalid_output": "invalid_output", "check_failed": "guard_violation"}
log = logging.getLogger("pmcomm_llm")


def draft_schema() -> dict[str, Any]:
    """The JSON schema the model must fill (strict-mode compatible: every field required, no extras)."""
    return output_schema(DraftContent, "DraftContent")


class DraftChain(Runnable[Any, Draft]):
    """The drafting chain as one Runnable: a scenario (or its dict) in, a guarded :class:`Draft` out.

    Inside, the prompt is rendered, the model step (itself a Runnable, so a tracer sees every call and re-ask)
    answers, and the answer is validated and guarded, looping back within the re-ask budget — a loop, which is why
    it is one Runnable and not a linear ``prompt | model | parser`` sequence.
    """

    name = "pmcomm_draft"

    def __init__(self, drafter: Drafter) -> None:
        self.drafter = drafter

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Draft:
        listening = traced(config)
        if listening is None:
            return self.drafter._draft_input_sync(input)
        return self._call_with_config(self.drafter._draft_input_sync, input, listening)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Draft:
        listening = traced(config)
        if listening is None:
            return await self.drafter._draft_input(input)
        return await self._acall_with_config(self.drafter._draft_input, input, listening)


class Drafter:
    """Drafts scenarios with one backend. Build once; reuse for many scenarios (it keeps its HTTP clients).

    ``notice`` receives one-line notices for the person running it (that drafting is offline); without one they
    go to the ``pmcomm_llm`` logger. ``transport`` replaces the HTTP transport (tests, benchmarks).
    """

    def __init__(self, settings: Settings | None = None, prompts: PromptSet | None = None, *,
                 notice: Callable[[str], None] | None = None, transport: Transport | None = None,
                 **overrides: Any) -> None:
        self.settings = settings if settings is not None and not overrides else Settings.resolve(
            **({**(settings.model_dump() if settings else {}), **overrides}))
        self.prompts = prompts or load_prompts()
        self.backend = self.settings.effective_backend
        if overrides.get("model") and self.settings.backend == "auto" and self.backend == "offline":
            raise ConfigError(_ASKED_FOR_A_MODEL.format(model=overrides["model"]))
        note = self.prompts.draft.json_mode_addendum
        self.model: StructuredModel[DraftContent] = StructuredModel(
            self.settings, DraftContent, "DraftContent", transport=transport,
            schema_note=lambda schema: render_strict(note, schema=schema))
        self._notice = notice
        self._announced = False
        self.chain: Runnable[Any, Draft] = DraftChain(self)

    # -- the request ---------------------------------------------------------------------------------------

    def prompt(self, scenario: Scenario) -> list[Message]:
        """The first attempt's messages for ``scenario`` (before the model step adds a json_mode schema note)."""
        return self.prompts.wire(scenario)

    def request_body(self, scenario: Scenario) -> dict[str, Any]:
        """The exact chat-completions body the chain sends for ``scenario`` (first attempt): the Batch API's."""
        return self.model.request.body(self.prompt(scenario))

    def _reask(self, kind: str, problems: Sequence[str]) -> str:
        return self.prompts.reask_message(_REASK_KINDS[kind], list(problems))

    # -- drafting ------------------------------------------------------------------------------------------

    def _meta(self, scenario: Scenario, **values: Any) -> DraftMeta:
        return DraftMeta(
            backend=self.backend,
            model=OFFLINE_MODEL if self.backend == "offline" else self.settings.model,
            prompt_version=self.prompts.version,
            kind=scenario.kind.value,
            language=scenario.language or "",
            channel=scenario.channel,
            scenario_hash=scenario.content_hash()[:16],
            **values,
        )

    def _announce(self) -> None:
        if self._announced:
            return
        self._announced = True
        if self._notice is not None:
            self._notice(OFFLINE_NOTICE)
        else:
            log.info(OFFLINE_NOTICE)

    def draft_offline(self, scenario: Scenario) -> Draft:
        """The deterministic draft, guarded like any other."""
        start = time.perf_counter()
        offline = offline_draft(scenario, self.prompts)
        content = offline.content
        guard = (offline.guard or check_draft(content, scenario)).outcome()
        meta = self._meta(scenario, latency_ms=(time.perf_counter() - start) * 1000, attempts=1, guard=guard,
                          dropped=offline.dropped)
        return Draft.from_content(content, meta)

    @staticmethod
    def _scenario(scenario: Scenario | dict[str, Any]) -> Scenario:
        return scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)

    async def _draft_scenario(self, scenario: Scenario) -> Draft:
        if self.backend == "offline":
            self._announce()
            return self.draft_offline(scenario)
        return await self._complete(scenario, self.prompt(scenario))

    async def _draft_input(self, scenario: Scenario | dict[str, Any]) -> Draft:
        return await self._draft_scenario(self._scenario(scenario))

    def _draft_input_sync(self, scenario: Scenario | dict[str, Any]) -> Draft:
        # offline drafting never awaits: it is driven to completion with no event loop or thread
        return run_sync(self._draft_input(scenario), loop_free=self.backend == "offline")

    async def _complete(self, scenario: Scenario, prompt: list[Message]) -> Draft:
        """Ask the model for a draft of ``scenario`` that validates and passes the guard, within the budgets."""
        last: list[GuardReport] = []  # the guard's report on the latest valid answer: the one returned

        def guard(content: DraftContent) -> list[str]:
            last[:] = [check_draft(content, scenario)]
            return last[0].messages()

        s = self.settings
        done = await complete(self.model, prompt, reask=self._reask, check=guard, max_reasks=s.max_reasks,
                              token_budget=s.max_item_tokens or None, what="the model did not return a valid draft")
        outcome = last[0].outcome(reasks=done.reasks)
        meta = self._meta(scenario, usage=done.usage, attempts=done.attempts, guard=outcome,
                          latency_ms=done.latency_ms)
        return Draft.from_content(done.content, meta)

    async def adraft(self, scenario: Scenario | dict[str, Any]) -> Draft:
        """Draft one scenario. Raises :class:`DraftRetryError` when the model never returns valid output."""
        return await self.chain.ainvoke(scenario)

    def draft(self, scenario: Scenario | dict[str, Any]) -> Draft:
        """Synchronous :meth:`adraft` (works in scripts and in Jupyter; offline needs no event loop)."""
        return self.chain.invoke(scenario)

    def runnable(self) -> Runnable[Any, Draft]:
        """This drafter as a LangChain Runnable (scenario or dict in, :class:`Draft` out) for composition."""
        return self.chain

    def finish(self, scenario: Scenario, answer: Completion | str, *, usage: dict[str, Any] | None = None,
               latency_ms: float = 0.0) -> Draft:
        """Validate and guard an answer produced elsewhere (a Batch API output line), without re-asking.

        ``answer`` is the reply's chat completion (read by the same parser as online), or its raw answer text.
        Raises :class:`DraftRetryError` (one attempt) when it is not a valid draft; a guard violation is
        returned flagged, as on the online path when re-asks run out.
        """
        if isinstance(answer, str):
            answer = Completion.model_validate({"choices": [{"message": {"content": answer}}]})
        attempt = parse_answer(answer, DraftContent)
        spent = Usage().add(attempt.usage if attempt.usage is not None else usage)
        if attempt.content is None:
            raise DraftRetryError("the model did not return a valid draft", n_attempts=1, last_raw=attempt.raw_text,
                                  usage=spent, last_error=attempt.error)
        guard = check_draft(attempt.content, scenario).outcome()
        meta = self._meta(scenario, usage=spent, attempts=1, guard=guard, latency_ms=latency_ms)
        return Draft.from_content(attempt.content, meta)

    # -- revising ------------------------------------------------------------------------------------------

    async def arevise(self, draft: Draft, instruction: str, scenario: Scenario | dict[str, Any]) -> Draft:
        """A new version of ``draft`` that follows ``instruction`` (untrusted text, like ``client_message``),
        guarded like any draft; ``meta.version`` counts up and ``meta.parent`` names the draft it came from.

        Offline, only a shorter draft or another tone can be made; any other instruction raises
        :class:`~pmcomm_llm.core.errors.RevisionError` saying what to do instead.
        """
        from pmcomm_llm.drafting.revising import offline_revision, revision_message, version_meta

        scenario = self._scenario(scenario)
        if self.backend == "offline":
            revised = self.draft_offline(offline_revision(draft, instruction, scenario))
        else:
            current = json.dumps({"subject": draft.subject, "body": draft.body}, ensure_ascii=False)
            prompt = [*self.prompt(scenario), {"role": "assistant", "content": current},
                      {"role": "user", "content": revision_message(draft, instruction)}]
            revised = await self._complete(scenario, prompt)
        return revised.model_copy(update={"meta": revised.meta.model_copy(update=version_meta(draft))})

    def revise(self, draft: Draft, instruction: str, scenario: Scenario | dict[str, Any]) -> Draft:
        """Synchronous :meth:`arevise`."""
        return run_sync(self.arevise(draft, instruction, scenario), loop_free=self.backend == "offline")

    async def aclose(self) -> None:
        await self.model.aclose()
