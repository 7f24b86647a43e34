"""Provider errors recognised by what they say: the phrases live in ``prompts/provider_quirks.yaml``.

Some failures look transient by status but are not (llama.cpp answers HTTP 500 to a ``json_schema``
``response_format`` it does not support), and some 400s need a different fix than the generic advice (a prompt
longer than the model's context). :func:`match_quirk` names which one an error is, so the retry layer does not
retry it and the error says what to change.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pmcomm_llm.core.resources import load_model

__all__ = ["Quirk", "QuirkName", "load_quirks", "match_quirk"]

QuirkName = Literal["unsupported_response_format", "context_length_exceeded"]
_FILE = "provider_quirks.yaml"


class Quirk(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    statuses: frozenset[int] = Field(min_length=1)
    patterns: tuple[str, ...] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return patterns

    def matches(self, status: int, message: str) -> bool:
        return status in self.statuses and any(re.search(p, message, re.I | re.S) for p in self.patterns)


class _Quirks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    context_length_exceeded: Quirk
    unsupported_response_format: Quirk


@cache
def load_quirks() -> dict[QuirkName, Quirk]:
    """The validated quirks file (a malformed one is a :class:`PromptError` naming the file)."""
    quirks = load_model("prompts", _FILE, _Quirks)
    return {"context_length_exceeded": quirks.context_length_exceeded,  # the more specific message first
            "unsupported_response_format": quirks.unsupported_response_format}


def match_quirk(status: int, message: str) -> QuirkName | None:
    """Which known quirk an error with this status and provider message is, if any."""
    for name, quirk in load_quirks().items():
        if quirk.matches(status, message):
            return name
    return None
