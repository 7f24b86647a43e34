"""The one check that a provider's 2xx reply is a chat completion, whichever path received it.

OpenAI-compatible servers sometimes answer HTTP 200 with something else: ``[]``, ``"ok"``, ``null``, an object
without ``choices``, a choice that is a string, a ``null`` message, a ``usage`` that is a list, or plain text.
The HTTP engine, the LangChain path (through a response hook on its HTTP client) and the Batch API collector
all read replies through :func:`read_completion`, so such a body becomes one :class:`MalformedReplyError` that
says what was wrong with the shape (never what the body held), instead of an ``AttributeError`` deep in a parser.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pmcomm_llm.core.errors import MalformedReplyError

__all__ = ["Completion", "CompletionChoice", "CompletionMessage", "malformed_reply", "read_completion",
           "reply_problem"]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Function(_Loose):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(_Loose):
    function: _Function


class CompletionMessage(_Loose):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None
    refusal: str | None = None

    @property
    def answer(self) -> str:
        """The structured answer's raw text: the first tool call's arguments, else the content."""
        if self.tool_calls:
            return self.tool_calls[0].function.arguments or ""
        return self.content or ""


class CompletionChoice(_Loose):
    message: CompletionMessage
    finish_reason: str | None = None


class _CompletionUsage(_Loose):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class Completion(_Loose):
    """The part of a chat completion we read; anything else in the body is ignored."""

    choices: list[CompletionChoice] = Field(min_length=1)
    usage: _CompletionUsage | None = None

    @property
    def usage_counts(self) -> dict[str, int] | None:
        """Usage as our ``input/output/total_tokens`` counts, or ``None`` when the reply reported none."""
        u = self.usage
        if u is None:
            return None
        return {"input_tokens": u.prompt_tokens or 0, "output_tokens": u.completion_tokens or 0,
                "total_tokens": u.total_tokens or 0}


_JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


def _parse(data: Any) -> Completion | str:
    """The completion in ``data`` (raw body bytes, or parsed JSON), or what is wrong with its shape."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = json.loads(data)
        except ValueError:
            return f"the body is not JSON ({len(data)} bytes)"
    if not isinstance(data, dict):
        return f"the body is {_JSON_KINDS.get(type(data), type(data).__name__)}, not a JSON object"
    try:
        return Completion.model_validate(data)
    except ValidationError as exc:
        return "; ".join(_describe(e) for e in exc.errors()[:3])


def _kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), "an object" if isinstance(value, dict) else type(value).__name__)


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(root)"
    if error["type"] in ("model_type", "dict_type"):
        return f"{where} is {_kind(error['input'])}, not an object"
    if error["type"] == "missing":
        return f"{where} is missing"
    if error["type"] == "too_short":
        return f"{where} is empty"
    return f"{where}: {error['msg']}"


def reply_problem(body: bytes) -> str | None:
    """What is wrong with a 2xx reply body as a chat completion, or ``None`` when it is one."""
    parsed = _parse(body)
    return parsed if isinstance(parsed, str) else None


def malformed_reply(problem: str, *, where: str = "the provider") -> MalformedReplyError:
    """The error for a reply that is not a chat completion; ``problem`` says what was wrong with its shape."""
    return MalformedReplyError(f"{where} answered with a reply that is not a chat completion ({problem}); "
                               "if this persists, check that the base URL points at an OpenAI-compatible "
                               "/v1 endpoint", status_code=200)


def read_completion(data: Any, *, where: str = "the provider") -> Completion:
    """``data`` (raw body bytes, or parsed JSON) as a :class:`Completion`, else :class:`MalformedReplyError`."""
    parsed = _parse(data)
    if isinstance(parsed, str):
        raise malformed_reply(parsed, where=where)
    return parsed
