"""The chat-completions request body, built here, one small function per structured-output method.

Every request pmcomm sends — a draft, a re-ask, a revision, a judge's grade, a Batch API line — is built by
:class:`StructuredRequest`: the parts that never change for one settings and output model (model, temperature,
``response_format`` or ``tools``) are built once, and :meth:`StructuredRequest.body` adds the messages.

- ``json_schema``: ``response_format`` of type ``json_schema`` with ``strict: true``; the provider enforces the
  schema (OpenAI, Azure, vLLM).
- ``function_calling``: one tool whose parameters are the schema, forced with ``tool_choice``; the answer comes
  back as the tool call's arguments (llama.cpp's server, older gateways).
- ``json_mode``: ``response_format`` of type ``json_object``, which only promises JSON, so the schema goes into the
  prompt as a system message right after the first one (Ollama, DeepSeek, Qwen).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from pydantic import BaseModel

__all__ = ["BODY_BUILDERS", "Message", "StructuredRequest", "function_calling_body", "json_mode_body",
           "json_schema_body", "output_schema"]

Message = dict[str, str]
"""One chat message in the wire format: ``{"role": "system" | "user" | "assistant", "content": "…"}``."""


def output_schema(output: type[BaseModel], name: str) -> dict[str, Any]:
    """The JSON schema of ``output`` as the model sees it: titled ``name``, described by the model's docstring."""
    schema = output.model_json_schema()
    schema["title"] = name
    schema.setdefault("description", (output.__doc__ or name).strip())
    return schema


def json_schema_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``response_format: json_schema`` (strict): the provider holds the answer to the schema."""
    return {"response_format": {"type": "json_schema", "json_schema": {
        "name": schema["title"], "description": schema["description"], "strict": True, "schema": schema}}}


def function_calling_body(schema: dict[str, Any]) -> dict[str, Any]:
    """One forced tool call whose arguments are the answer."""
    name = schema["title"]
    return {"tools": [{"type": "function", "function": {"name": name, "description": schema["description"],
                                                        "parameters": schema}}],
            "tool_choice": {"type": "function", "function": {"name": name}},
            "parallel_tool_calls": False}


def json_mode_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``response_format: json_object``; the schema itself travels in the prompt (see :class:`StructuredRequest`)."""
    return {"response_format": {"type": "json_object"}}


BODY_BUILDERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "json_schema": json_schema_body, "function_calling": function_calling_body, "json_mode": json_mode_body}


class StructuredRequest:
    """The request for one output model under one settings: built once, then filled with messages per call.

    ``schema_note``: for ``json_mode``, a function from the schema's JSON text to the system message that shows
    the model the schema (the prompts own its wording); ignored by the other methods.
    """

    __slots__ = ("method", "schema", "_fixed", "_note")

    def __init__(self, output: type[BaseModel], name: str, *, model: str, temperature: float, method: str,
                 schema_note: Callable[[str], str] | None = None) -> None:
        if method not in BODY_BUILDERS:
            raise ValueError(f"unknown structured-output method {method!r}; expected one of {', '.join(BODY_BUILDERS)}")
        self.method = method
        self.schema = output_schema(output, name)
        self._fixed = {"model": model, "temperature": temperature, **BODY_BUILDERS[method](self.schema)}
        self._note: Message | None = None
        if method == "json_mode":
            if schema_note is None:
                raise ValueError("json_mode needs a schema_note: the model must see the schema in the prompt")
            self._note = {"role": "system", "content": schema_note(json.dumps(self.schema, ensure_ascii=False))}

    def messages(self, messages: list[Message]) -> list[Message]:
        """``messages`` as sent: for ``json_mode``, with the schema note after the first system message."""
        if self._note is None:
            return messages
        at = 1 if messages and messages[0]["role"] == "system" else 0
        return [*messages[:at], self._note, *messages[at:]]

    def body(self, messages: list[Message]) -> dict[str, Any]:
        """The complete chat-completions body for ``messages``."""
        return {**self._fixed, "messages": self.messages(messages)}

    def encode(self, messages: list[Message]) -> bytes:
        """:meth:`body` as the UTF-8 JSON that goes on the wire."""
        return json.dumps(self.body(messages), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
