"""The guard: the core promise, enforced after every draft.

A draft may state no figure that the scenario's trusted facts do not give for that thing, reveal nothing from
``internal_notes``, and promise nothing outside ``offers`` — judged claim by claim
(:mod:`pmcomm_llm.grounding.claims`). The checks are the same functions the evaluation harness scores with
(:mod:`pmcomm_llm.evaluation.checks`). The chain re-asks a violating draft with the exact clauses; what still fails is
returned flagged, never passed silently. Non-blocking findings (by the rubric's ``grounding:`` policy) are
attached as ``notes`` for the PM, and never re-asked. What the PM reads (``meta.guard``) is in the draft's
language; what the model is re-asked with is in English (``evals/messages.yaml`` holds both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pmcomm_llm.core.draft import GuardOutcome
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.grounding.checks import SAFETY_CHECKS, Candidate, CheckResult
from pmcomm_llm.grounding.claims import analyse

__all__ = ["REASK_LANGUAGE", "GuardReport", "check_draft"]

REASK_LANGUAGE = "en"
"""The language the guard's re-ask speaks to the model in (see :meth:`GuardReport.messages`)."""


@dataclass(slots=True)
class GuardReport:
    violations: list[CheckResult]
    notes: list[dict[str, object]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def outcome(self, reasks: int = 0) -> GuardOutcome:
        """What a draft's ``meta.guard`` records: the verdict, the re-asks spent and every violation."""
        return GuardOutcome(passed=self.passed, reasks=reasks, violations=[v.as_dict() for v in self.violations],
                            notes=self.notes)

    def messages(self) -> list[str]:
        """One line per violation, with its evidence: what the re-ask tells the model.

        Always in English, whatever the draft's language, while ``meta.guard`` (:meth:`outcome`) carries the same
        violations in the draft's language for the PM: the re-ask frame (``prompts/reask.yaml``) and the drafting
        prompt it answers are English, the model acts on instructions best in the language it was instructed in,
        and the clauses quoted from the draft stay in its own words, so the model still finds the sentence to
        change."""
        return [f"{v.id}: {v.message_in(REASK_LANGUAGE)}" for v in self.violations]


def check_draft(draft: object, scenario: Scenario) -> GuardReport:
    """Run the safety checks on anything with ``subject``/``body`` (and optionally ``alternatives``)."""
    candidate = Candidate.of(draft)
    results = [check(candidate, scenario) for check in SAFETY_CHECKS]
    notes = [f.as_dict() for f in analyse(candidate.text, scenario).advisory()]
    return GuardReport([r for r in results if not r.passed], notes)
