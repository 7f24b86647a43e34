"""Revising a draft: the model's revision message, and what the offline drafter can do by itself.

Both read ``prompts/revise.yaml``. The PM's instruction is untrusted text, quoted as data (like
``client_message``): a revision passes the same guard as a first draft. Offline, an instruction can make the
draft shorter (a lower ``max_chars``) or change its tone; anything else is refused with what to do instead.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pmcomm_llm.core.errors import RevisionError
from pmcomm_llm.core.resources import load_model
from pmcomm_llm.prompting.prompts import render_strict

__all__ = ["draft_hash", "offline_revision", "revision_message", "version_meta"]


class _Offline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shorter: list[str]
    tones: dict[str, list[str]]
    shorten_to: float = Field(gt=0, lt=1)
    refused: str
    not_shorter: str


class _Revise(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    offline: _Offline


@cache
def _templates() -> _Revise:
    return load_model("prompts", "revise.yaml", _Revise)


def draft_hash(draft: Any) -> str:
    return hashlib.sha256(f"{draft.subject or ''}\n{draft.body}".encode()).hexdigest()[:12]


def version_meta(parent: Any) -> dict[str, Any]:
    return {"version": getattr(parent.meta, "version", 1) + 1, "parent": draft_hash(parent)}


def revision_message(draft: Any, instruction: str) -> str:
    current = f"{draft.subject}\n\n{draft.body}" if draft.subject else draft.body
    return render_strict(_templates().model, draft=current, instruction=instruction)


def offline_revision(draft: Any, instruction: str, scenario: Any) -> Any:
    """The scenario the offline drafter redrafts to follow ``instruction``: a lower ``max_chars``, another tone."""
    t = _templates().offline
    low = instruction.lower()
    update: dict[str, Any] = {}
    if any(word in low for word in t.shorter):
        update["max_chars"] = max(80, int(len(draft.body) * t.shorten_to))
    tone = next((name for name, words in t.tones.items() if any(word in low for word in words)), None)
    if tone is not None:
        update["tone"] = tone
    if not update:
        raise RevisionError(render_strict(t.refused, instruction=instruction[:120]))
    if "max_chars" not in update and (scenario.max_chars is None or scenario.max_chars > len(draft.body)):
        update["max_chars"] = max(80, len(draft.body))  # a new tone keeps an earlier shortening
    revised = scenario.model_copy(update=update)
    if "max_chars" in update:
        from pmcomm_llm.core.errors import LengthLimitError
        from pmcomm_llm.drafting.offline import offline_content
        from pmcomm_llm.prompting.prompts import load_prompts

        try:
            content = offline_content(revised, load_prompts())
        except LengthLimitError:
            raise RevisionError(render_strict(t.not_shorter, length=len(draft.body))) from None
        if len(content.body) >= len(draft.body):
            raise RevisionError(render_strict(t.not_shorter, length=len(draft.body)))
    return revised
