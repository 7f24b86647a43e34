"""The draft: what comes back for a scenario, whichever backend wrote it.

``DraftContent`` is the part a model writes (its JSON schema is what structured output asks for);
``Draft`` adds ``meta``: who wrote it, with which prompt version, at what cost, and what the guard found.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PRINCIPLES",
    "Alternative",
    "Draft",
    "DraftContent",
    "DraftMeta",
    "GuardOutcome",
    "PrincipleSentence",
    "Usage",
]

PrincipleId = Literal["transparency", "alternatives", "boundaries", "tone", "win_win"]
PRINCIPLES: tuple[str, ...] = ("transparency", "alternatives", "boundaries", "tone", "win_win")


class Alternative(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_id: str = Field(description="The id of the scenario offer this option comes from.")
    text: str = Field(description="The option as the message puts it to the client.")


class PrincipleSentence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    principle: PrincipleId
    sentence: str = Field(description="The sentence of the body that carries this principle, verbatim.")


class DraftContent(BaseModel):
    """What the model writes. Every field is required (nullable where optional) so strict schemas work."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(description="Email subject line; null for an instant message.")
    body: str = Field(description="The full message, greeting to sign-off, in the client's language.")
    alternatives: list[Alternative] = Field(description="The options offered, each from a scenario offer.")
    commitments: list[str] = Field(description="What the message promises; each must come from the offers.")
    next_step: str = Field(description="What happens next and when or through which channel.")
    principles: list[PrincipleSentence] = Field(description="For each principle, the body sentence carrying it.")


class Usage(BaseModel):
    """Token counts as the API reported them (never estimated locally)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0

    def add(self, other: Usage | dict[str, Any] | None) -> Usage:
        if other is None:
            return self
        if isinstance(other, dict):
            other = Usage(input_tokens=other.get("input_tokens", 0) or 0,
                          output_tokens=other.get("output_tokens", 0) or 0,
                          total_tokens=other.get("total_tokens", 0) or 0, calls=1)
        return Usage(input_tokens=self.input_tokens + other.input_tokens,
                     output_tokens=self.output_tokens + other.output_tokens,
                     total_tokens=self.total_tokens + other.total_tokens,
                     calls=self.calls + other.calls)


class GuardOutcome(BaseModel):
    """What the grounding guard found on the returned draft. ``passed`` False means: read before sending."""

    passed: bool
    reasks: int = 0
    violations: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[dict[str, Any]] = Field(default_factory=list)
    """Non-blocking findings for the PM to confirm (e.g. "proposes a 30-minute call"), by the rubric's policy."""


class DraftMeta(BaseModel):
    backend: Literal["offline", "openai"]
    model: str
    prompt_version: str
    kind: str
    language: str
    channel: str
    scenario_hash: str
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0
    attempts: int = 1
    guard: GuardOutcome
    version: int = 1
    """1 for a first draft; each revision counts up."""
    parent: str | None = None
    """The content hash of the version this one was revised from."""
    dropped: list[str] = Field(default_factory=list)
    """Offline: the optional facts left out to meet the length limit or the channel (field paths)."""


class Draft(BaseModel):
    subject: str | None
    body: str
    alternatives: list[Alternative] = Field(default_factory=list)
    commitments: list[str] = Field(default_factory=list)
    next_step: str
    principles: dict[str, str] = Field(default_factory=dict)
    meta: DraftMeta

    @classmethod
    def from_content(cls, content: DraftContent, meta: DraftMeta) -> Draft:
        return cls(subject=content.subject or None, body=content.body, alternatives=content.alternatives,
                   commitments=content.commitments, next_step=content.next_step,
                   principles={p.principle: p.sentence for p in content.principles}, meta=meta)

    @property
    def text(self) -> str:
        """Subject and body together: what the client reads, and what the checks inspect."""
        return f"{self.subject}\n{self.body}" if self.subject else self.body
