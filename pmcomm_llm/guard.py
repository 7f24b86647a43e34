"""The guard: the core promise, enforced after every draft.

A draft may state no date, amount, percentage or duration that the scenario does not contain, reveal nothing
from ``internal_notes``, and promise nothing outside ``offers``. The checks are the same functions the
evaluation harness scores with (:mod:`pmcomm_llm.checks`). The chain re-asks a violating draft with the
exact violations; what still fails is returned flagged, never passed silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmcomm_llm.checks import SAFETY_CHECKS, Candidate, CheckResult
from pmcomm_llm.draft import GuardOutcome
from pmcomm_llm.scenario import Scenario

__all__ = ["GuardReport", "check_draft"]


@dataclass(slots=True)
class GuardReport:
    violations: list[CheckResult]

    @property
    def passed(self) -> bool:
        return not self.violations

    def outcome(self, reasks: int = 0) -> GuardOutcome:
        """What a draft's ``meta.guard`` records: the verdict, the re-asks spent and every violation."""
        return GuardOutcome(passed=self.passed, reasks=reasks, violations=[v.as_dict() for v in self.violations])

    def messages(self) -> list[str]:
        """One line per violation, with its evidence: what the re-ask tells the model."""
        return [f"{v.id}: {v.message}" for v in self.violations]


def check_draft(draft: object, scenario: Scenario) -> GuardReport:
    """Run the safety checks on anything with ``subject``/``body`` (and optionally ``alternatives``)."""
    candidate = Candidate.of(draft)
    results = [check(candidate, scenario) for check in SAFETY_CHECKS]
    return GuardReport([r for r in results if not r.passed])
