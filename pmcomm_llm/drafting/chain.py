"""The drafting chain: prompt → ``ChatOpenAI.with_structured_output`` → validation → guard.

One :class:`Drafter` holds the settings, the validated prompts and the model clients, and drafts one scenario
at a time (``adraft``) or exposes itself as a LangChain ``Runnable`` for composition. The model is asked for a
JSON-schema'd ``DraftContent``; whatever comes back is validated here (so a ``json_schema`` parse failure and a
``function_calling`` ``parsed=None`` are handled the same way), re-asked with the exact error within a small
budget, and then checked by the guard, which re-asks with the exact violations.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from contextvars import ContextVar
from typing import Any, TypeVar

import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ValidationError

from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.draft import Draft, DraftContent, DraftMeta, Usage
from pmcomm_llm.core.errors import ConfigError, DraftRetryError, OutputTruncatedError
from pmcomm_llm.core.scenario import Scenario, parse_scenario
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.drafting.offline import announce_offline, offline_draft
from pmcomm_llm.grounding.guard import check_draft
from pmcomm_llm.prompting.prompts import PromptSet, load_prompts, render_strict
from pmcomm_llm.providers.response import malformed_reply, reply_problem
from pmcomm_llm.providers.retry import call_with_retries, provider_error

__all__ = ["Attempt", "Drafter", "StructuredModel", "draft_schema"]

T = TypeVar("T")
OFFLINE_MODEL = "offline-templates"


def draft_schema() -> dict[str, Any]:
    """The JSON schema the model must fill (strict-mode compatible: every field required, no extras)."""
    return StructuredModel(Settings(), DraftContent, "DraftContent").schema




class Attempt:
    """What one model call produced: the validated object, or the error to re-ask with; always the raw text."""

    __slots__ = ("content", "raw_text", "error", "usage")

    def __init__(self, content: Any, raw_text: str, error: str | None, usage: dict | None):
        self.content = content
        self.raw_text = raw_text
        self.error = error
        self.usage = usage


def _raw_text(raw: AIMessage) -> str:
    if raw.tool_calls:
        return json.dumps(raw.tool_calls[0].get("args", {}), ensure_ascii=False)
    if raw.invalid_tool_calls:
        return str(raw.invalid_tool_calls[0].get("args") or "")
    return raw.content if isinstance(raw.content, str) else json.dumps(raw.content, ensure_ascii=False)


# What the response hook found wrong with each 2xx chat-completion body of the current model call (None: nothing).
_REPLY_PROBLEMS: ContextVar[list[str | None] | None] = ContextVar("pmcomm_reply_problems", default=None)

# What the openai SDK and LangChain raise while parsing a 200 body that is not a chat completion (observed for
# [], "ok", null, {}, {"choices": ["x"]}, {"choices": []}, a null message, a list or string usage, non-JSON
# text; pydantic's ValidationError and json's JSONDecodeError are ValueErrors). Caught around the model call
# only, and turned into MalformedReplyError only when the response hook saw a malformed body: anything else
# is re-raised as it came.
_PARSE_FAILURES = (AttributeError, TypeError, IndexError, KeyError, ValueError)


async def _inspect_reply(response: Any) -> None:
    """Response hook: note what is wrong with a 2xx chat completion's shape before the SDK parses it."""
    seen = _REPLY_PROBLEMS.get()
    if seen is None or not 200 <= response.status_code < 300:
        return
    if not response.request.url.path.endswith("/chat/completions"):
        return
    await response.aread()
    seen.append(reply_problem(response.content))


def _validation_errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]


class StructuredModel:
    """``ChatOpenAI.with_structured_output`` for one pydantic model, with our retry layer and our validation.

    One instance per settings; it keeps one LangChain model and HTTP client per event loop (an async client
    must not outlive its loop), so two ``asyncio.run`` calls in one process both work. The drafter and the
    judge each hold one.
    """

    def __init__(self, settings: Settings, output: type[BaseModel], name: str) -> None:
        self.settings = settings
        self.output = output
        self.schema = output.model_json_schema()
        self.schema["title"] = name
        self.schema.setdefault("description", output.__doc__ or name)
        self._models: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Runnable, Any]] = (
            weakref.WeakKeyDictionary())
        self._template: Any = None

    def build(self, *, placeholder_key: bool = False) -> tuple[Runnable, Any]:
        from langchain_openai import ChatOpenAI

        s = self.settings
        api_key = s.api_key.get_secret_value() if s.api_key else None
        if api_key is None:
            if not s.base_url and not placeholder_key:
                raise ConfigError("no API key: set OPENAI_API_KEY (or PMCOMM_API_KEY), or set OPENAI_BASE_URL for "
                                  "a local OpenAI-compatible server, or use --backend offline")
            api_key = "not-needed"  # local servers (Ollama, vLLM) accept any key
        http_client = openai.DefaultAsyncHttpxClient(timeout=s.timeout, event_hooks={"response": [_inspect_reply]})
        llm = ChatOpenAI(
            model=s.model,
            temperature=s.temperature,
            api_key=api_key,
            base_url=s.base_url,
            timeout=s.timeout,
            max_retries=0,  # our retry layer is the only one
            http_async_client=http_client,
        )
        strict = True if s.method == "json_schema" else None
        return llm.with_structured_output(self.schema, method=s.method, include_raw=True, strict=strict), http_client

    def model(self) -> Runnable:
        loop = asyncio.get_running_loop()
        entry = self._models.get(loop)
        if entry is None:
            entry = self.build()
            self._models[loop] = entry
        return entry[0]

    def json_mode_messages(self, messages: list[BaseMessage], addendum_template: str) -> list[BaseMessage]:
        """json_mode only promises JSON: the model must see the schema in the prompt."""
        if self.settings.method != "json_mode":
            return messages
        addendum = render_strict(addendum_template, schema=json.dumps(self.schema, ensure_ascii=False))
        return [messages[0], SystemMessage(addendum), *messages[1:]]

    def request_body(self, messages: list[BaseMessage]) -> dict[str, Any]:
        """The chat-completions body this model sends for ``messages`` (built by the LangChain binding)."""
        if self._template is None:
            structured, _ = self.build(placeholder_key=True)
            self._template = structured.first.steps__["raw"]  # RunnableMap(raw=llm.bind(...)) | parser
        binding = self._template
        payload = binding.bound._get_request_payload(messages, **binding.kwargs)
        payload.pop("ls_structured_output_format", None)
        payload.pop("stream", None)
        return payload

    async def call(self, messages: list[BaseMessage]) -> Attempt:
        """One model call (with transient retries). Invalid output is returned as an error, not raised."""
        s = self.settings
        model = self.model()

        where = s.base_url or "the OpenAI API"

        async def once() -> dict[str, Any]:
            seen: list[str | None] = []
            token = _REPLY_PROBLEMS.set(seen)
            try:
                out = await model.ainvoke(messages)
            except _PARSE_FAILURES:
                problem = next((p for p in seen if p), None)
                if problem is None:
                    raise
                raise malformed_reply(problem, where=where) from None  # transient: retried
            finally:
                _REPLY_PROBLEMS.reset(token)
            problem = next((p for p in seen if p), None)
            if problem is not None:  # parsed anyway; the HTTP engine would refuse it, so refuse it here too
                raise malformed_reply(problem, where=where)
            return out

        try:
            out = await call_with_retries(once, max_retries=s.max_retries, backoff_max=s.backoff_max)
        except openai.LengthFinishReasonError as exc:
            completion = getattr(exc, "completion", None)
            raw = completion.choices[0].message.content if completion and completion.choices else None
            counts = completion.usage if completion else None
            usage = {"input_tokens": counts.prompt_tokens or 0, "output_tokens": counts.completion_tokens or 0,
                     "total_tokens": counts.total_tokens or 0} if counts else None
            raise OutputTruncatedError("the model hit its output token limit before finishing "
                                       "(finish_reason=length); shorten the input or raise the model's max tokens",
                                       last_raw=raw, usage=usage) from None
        except openai.OpenAIError as exc:
            raise provider_error(exc, model=s.model, base_url=s.base_url, method=s.method) from None
        raw: AIMessage = out["raw"]
        usage = dict(raw.usage_metadata) if raw.usage_metadata else None
        raw_text = _raw_text(raw)
        if raw.response_metadata.get("finish_reason") == "length":
            raise OutputTruncatedError("the model hit its output token limit before finishing "
                                       "(finish_reason=length)", last_raw=raw_text, usage=usage)
        parsed = out.get("parsed")
        if parsed is None:
            why = out.get("parsing_error")
            return Attempt(None, raw_text, f"the answer was not valid JSON for the schema ({why})" if why
                           else "no structured answer was returned (missing or malformed tool arguments)", usage)
        try:
            return Attempt(self.output.model_validate(parsed), raw_text, None, usage)
        except ValidationError as exc:
            return Attempt(None, raw_text, "; ".join(_validation_errors(exc)), usage)

    async def aclose(self) -> None:
        for _, client in list(self._models.values()):
            await client.aclose()
        self._models = weakref.WeakKeyDictionary()


_ASKED_FOR_A_MODEL = ("model {model!r} was asked for, but no API key or base URL is set, so drafting would be "
                      "offline: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server), or pass backend='offline'")


class Drafter:
    """Drafts scenarios with one backend. Build once; reuse for many scenarios (it caches clients)."""

    def __init__(self, settings: Settings | None = None, prompts: PromptSet | None = None, **overrides: Any):
        self.settings = settings if settings is not None and not overrides else Settings.resolve(
            **({**(settings.model_dump() if settings else {}), **overrides}))
        self.prompts = prompts or load_prompts()
        self.backend = self.settings.effective_backend
        if overrides.get("model") and self.settings.backend == "auto" and self.backend == "offline":
            raise ConfigError(_ASKED_FOR_A_MODEL.format(model=overrides["model"]))
        self.structured = StructuredModel(self.settings, DraftContent, "DraftContent")
        self._http: Any = None
        self.limiter: Any = None
        if self.settings.rpm or self.settings.tpm:
            from pmcomm_llm.providers.ratelimit import RateLimiter

            self.limiter = RateLimiter(self.settings.rpm, self.settings.tpm)

    def _engine_http(self) -> Any:
        if self._http is None:
            from pmcomm_llm.engine import HttpModel

            self._http = HttpModel(self.structured, DraftContent)
        return self._http

    def _start(self, scenario: Scenario) -> list[Any]:
        messages = self._messages(scenario)
        if self.settings.engine == "http":
            return [{"content": m.content, "role": "system" if m.type == "system" else "user"} for m in messages]
        return messages

    def _reask(self, prompt: list[Any], raw: str, text: str) -> list[Any]:
        """The original prompt, the last answer and what was wrong with it: never the whole history, so a
        re-ask costs about what the first attempt did, however many came before it."""
        if self.settings.engine == "http":
            return [*prompt, {"content": raw, "role": "assistant"}, {"content": text, "role": "user"}]
        return [*prompt, AIMessage(raw), HumanMessage(text)]

    async def _call(self, conversation: list[Any]) -> Attempt:
        estimate = 0.0
        if self.limiter is not None:
            chars = sum(len(m["content"] if isinstance(m, dict) else str(m.content)) for m in conversation)
            estimate = self.limiter.estimate(chars)
            await self.limiter.acquire(estimate)
        if self.settings.engine == "http":
            attempt = await self._engine_http().call(conversation)
        else:
            attempt = await self.structured.call(conversation)
        if self.limiter is not None:
            self.limiter.settle(estimate, (attempt.usage or {}).get("total_tokens"))
        return attempt

    # -- model construction ------------------------------------------------------------------------------

    def request_body(self, scenario: Scenario) -> dict[str, Any]:
        """The exact chat-completions request body the chain sends for ``scenario`` (first attempt).

        Built by the same LangChain model binding, so the Batch API path sends what the online path sends.
        """
        return self.structured.request_body(self._messages(scenario))

    def _messages(self, scenario: Scenario) -> list[BaseMessage]:
        return self.structured.json_mode_messages(list(self.prompts.messages(scenario)),
                                                  self.prompts.draft.json_mode_addendum)

    def finish(self, scenario: Scenario, raw_text: str, *, usage: dict[str, Any] | None = None,
               latency_ms: float = 0.0) -> Draft:
        """Validate and guard a raw model answer produced elsewhere (e.g. the Batch API), without re-asking.

        Raises :class:`DraftRetryError` (one attempt) when the answer does not fit the schema; a guard
        violation is returned flagged, as on the online path when re-asks run out.
        """
        try:
            content = DraftContent.model_validate_json(raw_text)
        except ValidationError as exc:
            raise DraftRetryError("the model did not return a valid draft", n_attempts=1, last_raw=raw_text,
                                  usage=Usage().add(usage), last_error="; ".join(_validation_errors(exc))) from None
        guard = check_draft(content, scenario).outcome()
        meta = self._meta(scenario, usage=Usage().add(usage), attempts=1, guard=guard, latency_ms=latency_ms)
        return Draft.from_content(content, meta)

    # -- drafting ----------------------------------------------------------------------------------------

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

    def draft_offline(self, scenario: Scenario) -> Draft:
        """The deterministic draft, guarded like any other."""
        start = time.perf_counter()
        offline = offline_draft(scenario, self.prompts)
        content = offline.content
        guard = (offline.guard or check_draft(content, scenario)).outcome()
        meta = self._meta(scenario, latency_ms=(time.perf_counter() - start) * 1000, attempts=1, guard=guard,
                          dropped=offline.dropped)
        return Draft.from_content(content, meta)

    async def adraft(self, scenario: Scenario | dict[str, Any]) -> Draft:
        """Draft one scenario. Raises :class:`DraftRetryError` when the model never returns valid output."""
        if not isinstance(scenario, Scenario):
            scenario = parse_scenario(scenario)
        if self.backend == "offline":
            announce_offline()
            return self.draft_offline(scenario)
        return await self._complete(scenario, self._start(scenario))

    async def _complete(self, scenario: Scenario, prompt: list[Any]) -> Draft:
        """Call the model with ``prompt`` until it returns a valid draft that passes the guard, within the budgets;
        each re-ask sends ``prompt``, the last answer and what was wrong with it."""
        start = time.perf_counter()
        messages = prompt
        usage = Usage()
        attempts = invalid = guard_reasks = 0
        budget = self.settings.max_reasks
        token_budget = self.settings.max_item_tokens or None
        last_error: str | None = None
        last_raw = ""
        while True:
            attempts += 1
            try:
                attempt = await self._call(messages)
            except OutputTruncatedError as exc:  # the item's usage so far, not only the last attempt's
                exc.usage = usage.add(exc.usage or {})
                raise
            usage = usage.add(attempt.usage or {})  # every attempt counts, even one that reported no usage
            last_raw = attempt.raw_text
            if attempt.content is None:
                invalid += 1
                last_error = attempt.error
                if invalid > budget:
                    raise DraftRetryError("the model did not return a valid draft", n_attempts=attempts,
                                          last_raw=last_raw, usage=usage, last_error=last_error)
                self._check_token_budget(token_budget, usage, attempt, attempts, last_error)
                messages = self._reask(prompt, last_raw or "(empty)",
                                       self.prompts.reask_message("invalid_output", [last_error or ""]))
                continue
            report = check_draft(attempt.content, scenario)
            if report.passed or guard_reasks >= budget:
                guard = report.outcome(reasks=guard_reasks)
                meta = self._meta(scenario, usage=usage, attempts=attempts, guard=guard,
                                  latency_ms=(time.perf_counter() - start) * 1000)
                return Draft.from_content(attempt.content, meta)
            violations = report.messages()
            self._check_token_budget(token_budget, usage, attempt, attempts, "; ".join(violations))
            guard_reasks += 1
            messages = self._reask(prompt, last_raw, self.prompts.reask_message("guard_violation", violations))

    @staticmethod
    def _check_token_budget(token_budget: int | None, usage: Usage, attempt: Attempt, attempts: int,
                            last_error: str | None) -> None:
        """Stop before a re-ask that would take the item past ``max_item_tokens``.

        A re-ask resends the prompt plus the last answer, so it costs at least what the last attempt did.
        """
        if token_budget is None:
            return
        last = (attempt.usage or {}).get("total_tokens") or 0
        if usage.total_tokens + last <= token_budget:
            return
        raise DraftRetryError(
            f"stopped re-asking: the item has used {usage.total_tokens} tokens and another attempt (about {last}) "
            f"would pass its budget of {token_budget} (PMCOMM_MAX_ITEM_TOKENS, 0 = no limit); the model did not "
            "return a usable draft", n_attempts=attempts, last_raw=attempt.raw_text, usage=usage,
            last_error=last_error)

    async def arevise(self, draft: Draft, instruction: str, scenario: Scenario | dict[str, Any]) -> Draft:
        """A new version of ``draft`` that follows ``instruction`` (untrusted text, like ``client_message``),
        guarded like any draft; ``meta.version`` counts up and ``meta.parent`` names the draft it came from.

        Offline, only a shorter draft or another tone can be made; any other instruction raises
        :class:`~pmcomm_llm.core.errors.RevisionError` saying what to do instead.
        """
        from pmcomm_llm.drafting.revising import offline_revision, revision_message, version_meta

        if not isinstance(scenario, Scenario):
            scenario = parse_scenario(scenario)
        if self.backend == "offline":
            revised = self.draft_offline(offline_revision(draft, instruction, scenario))
        else:
            current = json.dumps({"subject": draft.subject, "body": draft.body}, ensure_ascii=False)
            prompt = self._reask(self._start(scenario), current, revision_message(draft, instruction))
            revised = await self._complete(scenario, prompt)
        return revised.model_copy(update={"meta": revised.meta.model_copy(update=version_meta(draft))})

    def revise(self, draft: Draft, instruction: str, scenario: Scenario | dict[str, Any]) -> Draft:
        """Synchronous :meth:`arevise`."""
        return run_sync(self.arevise(draft, instruction, scenario), loop_free=self.backend == "offline")

    def draft(self, scenario: Scenario | dict[str, Any]) -> Draft:
        """Synchronous :meth:`adraft` (works in scripts and in Jupyter; offline needs no event loop)."""
        return run_sync(self.adraft(scenario), loop_free=self.backend == "offline")

    def runnable(self) -> Runnable[Any, Draft]:
        """This drafter as a LangChain Runnable (scenario or dict in, :class:`Draft` out) for composition."""
        return RunnableLambda(self.draft, afunc=self.adraft, name="pmcomm_draft")

    async def aclose(self) -> None:
        await self.structured.aclose()
        if self._http is not None:
            await self._http.aclose()
