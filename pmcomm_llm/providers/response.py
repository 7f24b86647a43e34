"""The one parser of a provider's reply: a chat completion's shape, its answer text, and the answer as a model.

OpenAI-compatible servers sometimes answer HTTP 200 with something else: ``[]``, ``"ok"``, ``null``, an object
without ``choices``, a choice that is a string, a ``null`` message, a ``usage`` that is a list, or plain text.
Every reply — online, and each line of a Batch API output file — is read by :func:`read_completion`, so such a
body becomes one :class:`MalformedReplyError` that says what was wrong with the shape (never what the body held).
:func:`parse_answer` then turns the answer into the output model the same way everywhere: a tool call's
arguments or the content, a Markdown fence around the JSON tolerated, a refusal or an empty answer named.
"""

from __future__ import annotations

import json
import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pmcomm_llm.core.errors import MalformedReplyError, OutputTruncatedError

__all__ = ["Attempt", "Completion", "CompletionChoice", "CompletionMessage", "malformed_reply", "parse_answer",
           "read_completion", "reply_problem", "validation_errors"]

T = TypeVar("T", bound=BaseModel)


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


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def validation_errors(exc: ValidationError) -> list[str]:
    """One line per pydantic error: the field path and what is wrong, as a re-ask tells the model."""
    return [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]


class Attempt(Generic[T]):
    """What one model call produced: the validated object, or the error to re-ask with; always the raw text."""

    __slots__ = ("content", "raw_text", "error", "usage")

    def __init__(self, content: T | None, raw_text: str, error: str | None, usage: dict[str, int] | None) -> None:
        self.content = content
        self.raw_text = raw_text
        self.error = error
        self.usage = usage


def parse_answer(completion: Completion, output: type[T]) -> Attempt[T]:
    """The completion's answer as ``output``, or why not. A cut-off answer raises :class:`OutputTruncatedError`.

    The answer is the first tool call's arguments, else the content; a Markdown fence around it is removed (some
    servers add one even in JSON mode). A refusal, an empty answer and an answer that does not validate come back
    as errors to re-ask with, each saying which it was.
    """
    usage = completion.usage_counts
    choice = completion.choices[0]
    raw_text = choice.message.answer
    if choice.finish_reason == "length":
        raise OutputTruncatedError("the model hit its output token limit before finishing (finish_reason=length); "
                                   "shorten the input or raise the model's max tokens", last_raw=raw_text,
                                   usage=usage)
    refusal = choice.message.refusal
    if refusal and not raw_text.strip():
        return Attempt(None, refusal, f"the model refused to answer ({refusal[:200]})", usage)
    fenced = _FENCE.match(raw_text)
    text = fenced.group(1) if fenced else raw_text
    if not text.strip():
        return Attempt(None, raw_text, "no structured answer was returned (empty content or missing tool call)",
                       usage)
    try:
        return Attempt(output.model_validate_json(text), raw_text, None, usage)
    except ValidationError as exc:
        return Attempt(None, raw_text, "; ".join(validation_errors(exc)), usage)
