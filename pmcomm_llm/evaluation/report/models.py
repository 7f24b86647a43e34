"""The evaluation report as typed data: what ``report.json`` holds, and what the renderers and the comparison read.

The JSON these models dump is the ``report.json`` shape that readers already rely on (a ``summary`` object and a
``results`` array, one object per draft with its ``checks``); fields added since are optional, so a report
written by an older version still validates. Unknown keys are ignored rather than refused, so a report written
by a newer version can still be rendered and compared by this one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pmcomm_llm.core.draft import Usage

__all__ = ["Comparison", "ComparisonSummary", "CriterionDelta", "CriterionResult", "CriterionSummary", "DraftResult",
           "GroupSummary", "JudgeInfo", "Report", "Summary", "VerdictChange"]


class CriterionResult(BaseModel):
    """One rubric criterion's verdict on one draft, with the evidence a reader needs to agree or not."""

    id: str
    passed: bool
    score: float
    evidence: str = ""
    """The text the verdict rests on: the offending clause, or what is missing."""
    message: str = ""
    spans: list[tuple[int, int]] = Field(default_factory=list)
    """Character offsets of the evidence in the draft's text (subject, newline, body); a judge gives none."""
    principle: str | None = None
    """The rubric principle (transparency, safety…); a plain string so a newer rubric's principle still loads."""
    grader: Literal["check", "judge"] = "check"
    blocking: bool = False
    weight: float = 1.0


class DraftResult(BaseModel):
    """One draft's verdict: its score, whether it passes, and every criterion's result."""

    draft_id: str
    scenario_id: str
    kind: str = ""
    language: str = ""
    channel: str = ""
    score: float
    passed: bool
    blocking_failures: list[str] = Field(default_factory=list)
    subject: str | None = None
    body: str = ""
    checks: list[CriterionResult] = Field(default_factory=list)
    ungraded: str | None = None
    """Why the judge gave no grade (its call failed); the deterministic checks still count."""

    @property
    def text(self) -> str:
        """The string the check spans index into: subject and body joined by a newline, or the body alone."""
        return f"{self.subject}\n{self.body}" if self.subject else self.body

    @property
    def failing(self) -> list[CriterionResult]:
        return [c for c in self.checks if not c.passed]


class GroupSummary(BaseModel):
    """The drafts of one kind, language or channel."""

    count: int
    pass_rate: float | None = None
    mean_score: float | None = None


class CriterionSummary(BaseModel):
    """One criterion over every draft it applies to."""

    principle: str | None = None
    grader: Literal["check", "judge"] = "check"
    blocking: bool = False
    evaluated: int = 0
    passed: int = 0
    pass_rate: float | None = None

    @property
    def rate(self) -> float | None:
        """The pass rate, derived from the counts when the report left it out."""
        if self.pass_rate is not None:
            return self.pass_rate
        return self.passed / self.evaluated if self.evaluated else None


class JudgeInfo(BaseModel):
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)

    @property
    def ran(self) -> bool:
        """Whether a judge took part: a model is named, or tokens were spent."""
        return self.model is not None or any(self.usage.model_dump().values())


class Summary(BaseModel):
    """The aggregates of a whole evaluation: small whatever the number of drafts."""

    count: int
    passed: int
    pass_rate: float | None = None
    mean_score: float | None = None
    ungraded: int = 0
    ungraded_reason: str | None = None
    """Why the first ungraded draft went ungraded, so a run that lost its judge says so without a search."""
    threshold: float | None = None
    by_kind: dict[str, GroupSummary] = Field(default_factory=dict)
    by_language: dict[str, GroupSummary] = Field(default_factory=dict)
    by_channel: dict[str, GroupSummary] = Field(default_factory=dict)
    by_criterion: dict[str, CriterionSummary] = Field(default_factory=dict)
    judge: JudgeInfo = Field(default_factory=JudgeInfo)
    rubric_version: str | None = None
    created: str | None = None
    """When the evaluation ran (UTC, ISO 8601): the one timestamp, so a re-render is byte-identical."""


class Report(BaseModel):
    """A summary and the drafts' results.

    Read from ``report.json`` it holds every draft. The report the harness hands back after streaming a large
    evaluation to disk holds only the drafts the HTML and Markdown reports show (the failing first): then
    ``len(results) < summary.count``, and :attr:`complete` says so.
    """

    summary: Summary
    results: list[DraftResult] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.summary.count


# --- the comparison of two reports ------------------------------------------------------------------------

class ComparisonSummary(BaseModel):
    count_a: int | None = None
    count_b: int | None = None
    pass_rate_a: float | None = None
    pass_rate_b: float | None = None
    pass_rate_delta: float | None = None
    mean_score_a: float | None = None
    mean_score_b: float | None = None
    mean_score_delta: float | None = None


class CriterionDelta(BaseModel):
    id: str
    pass_rate_a: float | None = None
    pass_rate_b: float | None = None
    delta: float | None = None
    """``b - a``; ``None`` when the criterion is missing from one side."""


class VerdictChange(BaseModel):
    """A draft whose pass/fail verdict flipped, and the check ids that say why."""

    draft_id: str
    passed_a: bool
    passed_b: bool
    score_a: float | None = None
    score_b: float | None = None
    newly_failing: list[str] = Field(default_factory=list)
    newly_passing: list[str] = Field(default_factory=list)


class Comparison(BaseModel):
    """What changed from report ``a`` (before) to report ``b`` (after); every delta is ``b - a``."""

    summary: ComparisonSummary
    criteria: list[CriterionDelta] = Field(default_factory=list)
    changed: list[VerdictChange] = Field(default_factory=list)
    only_in_a: list[str] = Field(default_factory=list)
    only_in_b: list[str] = Field(default_factory=list)
