"""The structured chat model: messages in, a validated pydantic object out, and the one re-ask loop.

:class:`StructuredModel` is the model step of every chain — the drafter's and the judge's. One call is: wait for
the rate limiter, build the body (:mod:`.request`), send it through the transport (:mod:`.transport`) inside the
retry layer (:mod:`.retry`), parse the reply (:mod:`.response`) into an :class:`~.response.Attempt`. It is a
LangChain ``Runnable`` (messages, a prompt value or wire-format dicts in), so it composes with any other Runnable
and LangSmith callbacks trace it.

:func:`complete` is instructor's re-ask pattern, shared by the drafter and the judge: the answer and what was
wrong with it go back to the model, within a budget. A re-ask sends the original prompt, the last answer and
the problem — never the whole history — so it costs about what the first attempt did (small local models have
4–8k contexts). Exhaustion raises :class:`~pmcomm_llm.core.errors.DraftRetryError` with the attempts, the last
raw output and the total usage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langsmith.utils import tracing_is_enabled
from pydantic import BaseModel

from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.draft import Usage
from pmcomm_llm.core.errors import DraftRetryError, OutputTruncatedError
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.providers.ratelimit import RateLimiter, shared_limiter
from pmcomm_llm.providers.request import Message, StructuredRequest
from pmcomm_llm.providers.response import Attempt, parse_answer, read_completion
from pmcomm_llm.providers.retry import call_with_retries, provider_error
from pmcomm_llm.providers.transport import Transport, make_transport

__all__ = ["Completed", "StructuredModel", "complete", "to_wire", "traced"]

T = TypeVar("T", bound=BaseModel)

_ROLES = {"system": "system", "human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}


def to_wire(messages: Any) -> list[Message]:
    """LangChain messages, a prompt value, ``(role, text)`` pairs or wire dicts, as wire-format dicts."""
    if hasattr(messages, "to_messages"):  # a PromptValue from a ChatPromptTemplate
        messages = messages.to_messages()
    out: list[Message] = []
    for m in messages:
        if isinstance(m, dict):
            out.append({"role": _ROLES[m["role"]], "content": m["content"]})
        elif isinstance(m, tuple):
            out.append({"role": _ROLES[m[0]], "content": m[1]})
        else:
            content = m.content if isinstance(m.content, str) else str(m.content)
            out.append({"role": _ROLES[m.type], "content": content})
    return out


def traced(config: RunnableConfig | None) -> RunnableConfig | None:
    """The effective config when someone listens (callbacks passed or inherited, or LangSmith tracing on), else
    ``None``: then a Runnable here runs its function directly, without LangChain's per-call run bookkeeping
    (about a millisecond of CPU per item in a batch that nobody traces)."""
    effective = ensure_config(config)
    if effective.get("callbacks") or tracing_is_enabled():
        return effective
    return None


class StructuredModel(Runnable[Any, Attempt[T]], Generic[T]):
    """One output model on one endpoint. Build once and reuse: it keeps its transport's clients per event loop.

    ``schema_note`` renders the system message that shows the schema to a ``json_mode`` model (the prompts own
    its wording). ``transport`` replaces the default one (tests, benchmarks); ``limiter`` the shared rate limiter.
    """

    def __init__(self, settings: Settings, output: type[T], name: str, *,
                 schema_note: Callable[[str], str] | None = None, transport: Transport | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.output = output
        self.name = name
        self.request = StructuredRequest(output, name, model=settings.model, temperature=settings.temperature,
                                         method=settings.method, schema_note=schema_note)
        self._transport = transport
        self.limiter = limiter if limiter is not None else shared_limiter(settings)
        self._where = settings.base_url or "the OpenAI API"

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            s = self.settings
            self._transport = make_transport(api_key=s.request_key(), base_url=s.base_url, timeout=s.timeout,
                                             connections=s.concurrency)
        return self._transport

    async def acall(self, messages: list[Message]) -> Attempt[T]:
        """One model call (transient failures retried). An invalid answer is returned as an error, not raised."""
        s = self.settings
        transport = self.transport
        data = self.request.encode(messages)
        estimate = 0.0
        if self.limiter is not None:
            estimate = self.limiter.estimate(len(data))
            await self.limiter.acquire(estimate)

        async def once() -> Any:
            # a 2xx that is not a chat completion raises MalformedReplyError, which the retry layer retries
            return read_completion(await transport.post(data), where=self._where)

        try:
            completion = await call_with_retries(once, max_retries=s.max_retries, backoff_max=s.backoff_max)
        except Exception as exc:  # noqa: BLE001 - provider_error keeps what it does not know as it came
            error = provider_error(exc, model=s.model, base_url=s.base_url, method=s.method)
            if error is exc:
                raise
            raise error from None
        if self.limiter is not None:  # settled before parsing: a cut-off answer used its tokens too
            self.limiter.settle(estimate, (completion.usage_counts or {}).get("total_tokens"))
        return parse_answer(completion, self.output)

    # -- Runnable ------------------------------------------------------------------------------------------

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Attempt[T]:
        return run_sync(self.ainvoke(input, config, **kwargs))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Attempt[T]:
        listening = traced(config)
        if listening is None:
            return await self._ainvoke(input)
        return await self._acall_with_config(self._ainvoke, input, listening, run_type="llm")

    async def _ainvoke(self, input: Any) -> Attempt[T]:
        return await self.acall(to_wire(input))

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


@dataclass(slots=True)
class Completed(Generic[T]):
    """What :func:`complete` ended with: the last valid answer and what its check still found wrong (if the
    check's re-asks ran out), the attempts, the check re-asks spent and the total usage."""

    content: T
    raw_text: str
    attempts: int
    reasks: int
    usage: Usage
    problems: list[str] = field(default_factory=list)
    latency_ms: float = 0.0


Reask = Callable[[str, Sequence[str]], str]
"""``(kind, problems) -> the user message``; kind is ``invalid_output`` or ``check_failed``."""


async def complete(model: StructuredModel[T], prompt: list[Message], *, reask: Reask,
                   check: Callable[[T], Sequence[str]] | None = None, max_reasks: int,
                   token_budget: int | None = None, what: str = "the model did not return a valid answer",
                   ) -> Completed[T]:
    """Ask until the answer validates and ``check`` finds nothing, within ``max_reasks`` re-asks of each kind.

    An answer that does not validate is re-asked with the validation error; when those re-asks run out the last
    valid answer (if any) is returned, else :class:`DraftRetryError` is raised. A valid answer that ``check``
    faults is re-asked with the problems; when those run out it is returned with ``problems`` set, for the caller
    to flag. ``token_budget`` stops before a re-ask that would take the total past it.
    """
    start = time.perf_counter()
    usage, messages = Usage(), prompt
    attempts = invalid = reasks = 0
    best: Completed[T] | None = None
    while True:
        attempts += 1
        try:
            attempt: Attempt[T] = await model.ainvoke(messages)
        except OutputTruncatedError as exc:  # the item's usage so far, not only the last attempt's
            exc.usage = usage.add(exc.usage or {})
            raise
        usage = usage.add(attempt.usage or {})  # every attempt counts, even one that reported no usage
        if attempt.content is None:
            invalid += 1
            problems, kind = [attempt.error or "invalid answer"], "invalid_output"
            if invalid > max_reasks:
                if best is not None:
                    return _done(best, attempts, usage, start)
                raise DraftRetryError(what, n_attempts=attempts, last_raw=attempt.raw_text, usage=usage,
                                      last_error=problems[0])
        else:
            problems, kind = list(check(attempt.content)) if check else [], "check_failed"
            best = Completed(attempt.content, attempt.raw_text, attempts, reasks, usage, problems)
            if not problems or reasks >= max_reasks:
                return _done(best, attempts, usage, start)
            reasks += 1
        _within_budget(token_budget, usage, attempt, attempts, "; ".join(problems))
        messages = [*prompt, {"role": "assistant", "content": attempt.raw_text or "(empty)"},
                    {"role": "user", "content": reask(kind, problems)}]


def _done(best: Completed[T], attempts: int, usage: Usage, start: float) -> Completed[T]:
    best.attempts, best.usage = attempts, usage
    best.latency_ms = (time.perf_counter() - start) * 1000
    return best


def _within_budget(token_budget: int | None, usage: Usage, attempt: Attempt[Any], attempts: int,
                   last_error: str) -> None:
    """Stop before a re-ask that would take the item past its token budget (``PMCOMM_MAX_ITEM_TOKENS``).

    A re-ask resends the prompt plus the last answer, so it costs at least what the last attempt did.
    """
    if not token_budget:
        return
    last = (attempt.usage or {}).get("total_tokens") or 0
    if usage.total_tokens + last <= token_budget:
        return
    raise DraftRetryError(
        f"stopped re-asking: the item has used {usage.total_tokens} tokens and another attempt (about {last}) "
        f"would pass its budget of {token_budget} (PMCOMM_MAX_ITEM_TOKENS, 0 = no limit); the model did not "
        "return a usable draft", n_attempts=attempts, last_raw=attempt.raw_text, usage=usage,
        last_error=last_error)

