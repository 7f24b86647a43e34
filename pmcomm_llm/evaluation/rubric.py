"""The rubric: criteria as data (``evals/rubric.yaml``), validated on load with errors that name the entry."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pmcomm_llm.core.errors import PromptError
from pmcomm_llm.core.resources import content_hash, load_yaml
from pmcomm_llm.core.scenario import Kind
from pmcomm_llm.evaluation.checks import CHECKS

__all__ = ["Criterion", "Rubric", "load_rubric"]

Principle = Literal["transparency", "alternatives", "boundaries", "tone", "win_win", "safety", "structure"]


class _Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    en: str
    zh: str


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    principle: Principle
    grader: Literal["check", "judge", "both"]
    blocking: bool = False
    weight: float = Field(gt=0)
    kinds: list[Kind] = Field(default_factory=list)
    description: _Text
    labels: list[str] = Field(default_factory=list)
    """For judge criteria: the golden-set labels whose presence means this criterion should fail."""
    calibrated: bool = True
    """False for a criterion no label measures (an advisory note): calibration leaves it out."""

    def applies_to(self, kind: Kind) -> bool:
        return not self.kinds or kind in self.kinds


class _Scale(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min: int
    max: int
    pass_at: int

    @model_validator(mode="after")
    def _ordered(self) -> _Scale:
        if not self.min < self.pass_at <= self.max:
            raise ValueError("judge_scale needs min < pass_at <= max")
        return self


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    pass_threshold: float = Field(ge=0, le=1)
    judge_scale: _Scale
    criteria: list[Criterion]
    grounding: dict[str, dict[str, str]] = Field(default_factory=dict)
    """The severity policy of claim-level grounding findings (validated by ``grounding.claims``)."""
    hash: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        ids = [c.id for c in self.criteria]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"criteria ids repeat: {', '.join(dupes)}")
        for c in self.criteria:
            if c.grader in ("check", "both") and c.id not in CHECKS:
                raise ValueError(f"criterion {c.id!r} is graded by a check, but no check has that id "
                                 f"(known: {', '.join(sorted(CHECKS))})")
            unknown = [label for label in c.labels if label not in CHECKS]
            if unknown:
                raise ValueError(f"criterion {c.id!r} maps unknown labels: {', '.join(unknown)}")
        return self

    def checks_for(self, kind: Kind) -> list[Criterion]:
        return [c for c in self.criteria if c.grader in ("check", "both") and c.applies_to(kind)]

    def judged_for(self, kind: Kind) -> list[Criterion]:
        return [c for c in self.criteria if c.grader in ("judge", "both") and c.applies_to(kind)]

    def by_id(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)


@cache
def load_rubric(path: str = "rubric.yaml") -> Rubric:
    """Load and validate the rubric once; an invalid entry is a :class:`PromptError` naming it."""
    data = load_yaml("evals", path)
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
                entry = data["criteria"][loc[1]]
                loc[1] = f"{loc[1]} ({entry.get('id', '?') if isinstance(entry, dict) else '?'})"
            problems.append(f"{'.'.join(str(p) for p in loc) or '(rubric)'}: {err['msg']}")
        raise PromptError(f"evals/{path} is invalid: " + "; ".join(problems)) from None
    return rubric.model_copy(update={"hash": content_hash("evals", [path])})
