"""The one retry layer: transient provider failures only, with capped, jittered backoff.

Timeouts, connection errors, 408/409/429, 5xx and 2xx replies that are not chat completions
(:class:`MalformedReplyError`) are retried; ``retry-after-ms`` / ``retry-after`` are honoured (capped by
``backoff_max``). 400/401/403/404, and errors whose message names a known provider quirk
(``prompts/provider_quirks.yaml``: an unsupported ``response_format``, a prompt longer than the context) whatever
their status, are never retried: they are turned into errors that say what to fix. The SDK's own retries are set to 0 where the client is built, so attempts never multiply.
Invalid structured output is not handled here: the chain re-asks the model with the validation error.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any, Awaitable, Callable, TypeVar

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from pmcomm_llm.core.errors import AuthenticationError, ConfigError, MalformedReplyError, ProviderError
from pmcomm_llm.providers.quirks import match_quirk

__all__ = ["is_transient", "retry_after_seconds", "call_with_retries", "provider_error"]

T = TypeVar("T")
_RETRY_STATUS = {408, 409, 429}


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the same request may well succeed in a moment."""
    if isinstance(exc, openai.APIConnectionError):  # timeouts included (APITimeoutError is one)
        return True
    if isinstance(exc, MalformedReplyError):
        return True
    if isinstance(exc, openai.APIStatusError):
        if match_quirk(exc.status_code, _provider_message(exc)) is not None:
            return False
        return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
    return False


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's own wait hint, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    return None


class _Backoff:
    """Exponential backoff with full jitter, capped; the server's hint wins when it gives one."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.cap = cap
        self.rng = rng or random.Random()

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = retry_after_seconds(exc) if exc is not None else None
        if hint is not None:
            return min(hint, self.cap)
        ceiling = min(self.cap, self.initial * (2 ** (state.attempt_number - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)


def provider_error(exc: BaseException, *, model: str, base_url: str | None, method: str | None = None) -> Exception:
    """Turn a final provider failure into our error, naming what to fix. Never includes the key.

    ``method`` is the structured-output method the request used, so an unsupported ``response_format`` can
    name the other methods to try.
    """
    from pmcomm_llm.core.settings import redact_url

    where = redact_url(base_url) or "the OpenAI API"
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc.status_code, _provider_message(exc), where, model, method)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"{where} did not answer in time (timeout); raise PMCOMM_TIMEOUT or retry later")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"could not connect to {where}; check the base URL and the network")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _from_status(status: int, message: str, where: str, model: str, method: str | None = None) -> Exception:
    """One wording per status (or known quirk)."""
    detail = message[:300]
    quirk = match_quirk(status, message) if status not in (401, 403) else None
    if quirk == "context_length_exceeded":
        return ProviderError(
            f"{where} rejected the request (HTTP {status}): the prompt is too long for the context window of model "
            f"{model!r} ({detail}). Shorten the scenario (situation, facts, internal notes) or use a model with a "
            "larger context.", status_code=status)
    if quirk == "unsupported_response_format":
        others = [m for m in ("function_calling", "json_mode") if m != method]
        used = f"PMCOMM_METHOD={method}" if method else "the structured-output method"
        return ConfigError(
            f"{where} does not support the response_format that {used} sends (HTTP {status}: {detail}). Set "
            f"PMCOMM_METHOD={' or '.join(others)} (llama.cpp's server, for one, accepts function_calling and "
            "json_mode but answers HTTP 500 to json_schema).")
    if status == 401:
        return AuthenticationError(
            f"{where} rejected the API key (401). Set a valid OPENAI_API_KEY (or PMCOMM_API_KEY), or use "
            "--backend offline.", status_code=401)
    if status == 403:
        return AuthenticationError(
            f"{where} refused access (403) for model {model!r}: check the key's project and permissions.",
            status_code=403)
    if status == 404:
        return ConfigError(f"{where} answered 404 for model {model!r}: check PMCOMM_MODEL and the base URL "
                           "(it usually ends in /v1).")
    if status == 400:
        return ProviderError(f"{where} rejected the request (400): {detail}. If the provider lacks json_schema "
                             "support, set PMCOMM_METHOD=function_calling or json_mode.", status_code=400)
    return ProviderError(f"{where} failed with HTTP {status}: {detail}", status_code=status)


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    message = body.get("message") or (error.get("message") if isinstance(error, dict) else error)
    return str(message or exc.message)


async def call_with_retries(fn: Callable[[], Awaitable[T]], *, max_retries: int, backoff_max: float,
                            on_retry: Callable[[BaseException, float], Any] | None = None,
                            initial: float = 0.5) -> T:
    """Await ``fn()``; on a transient failure wait and try again, up to ``max_retries`` more times."""
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(state.outcome.exception(), state.upcoming_sleep)  # type: ignore[arg-type]

    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=_Backoff(initial, backoff_max),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(fn)
