"""Every guard verdict on the labelled drafts and the offline drafts, as JSON lines: a change to the guard's speed
must leave this output byte-identical.

    .venv/bin/python benchmarks/guard_verdicts.py > /tmp/verdicts_after.jsonl && cmp /tmp/verdicts_before.jsonl $_

One line per draft: the set, the draft id, ``check_draft(...).outcome().model_dump()`` (what ``meta.guard``
records, in the draft's language) and the re-ask lines (in English). The drafts are every labelled draft of
``evals/corpus/`` and ``evals/golden/`` (each set as :func:`~pmcomm_llm.evaluation.calibration.golden_set` loads
it, against shared scenario objects, as calibration runs), and the offline drafts of the example scenarios in
every channel and tone. Each draft is then checked again on a freshly parsed copy of its scenario and on the
shared one a second time; ``"stable": false`` marks a verdict that depends on what was memoised before it.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from pmcomm_llm import parse_scenario
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.drafting.offline import offline_content
from pmcomm_llm.evaluation.calibration import GOLDEN_SETS, golden_set
from pmcomm_llm.grounding.guard import check_draft
from pmcomm_llm.prompting.prompts import load_prompts

ROOT = Path(__file__).resolve().parent.parent


def _verdict(draft: Any, scenario: Scenario) -> dict[str, Any]:
    report = check_draft(draft, scenario)
    return {"outcome": report.outcome().model_dump(mode="json"), "reask": report.messages()}


def _fresh(scenario: Scenario) -> Scenario:
    """The same scenario as a new object: nothing the guard derived from the shared one carries over."""
    return Scenario.model_validate(scenario.model_dump(mode="json"), context={"for_evaluation": True})


def _cases() -> Iterator[tuple[str, str, Any, Scenario]]:
    for name in GOLDEN_SETS:
        records, scenarios = golden_set(name)
        for r in records:
            yield name, r.draft_id, r.candidate, scenarios[r.scenario_id]
    prompts = load_prompts()
    examples = json.loads((ROOT / "examples" / "scenarios.json").read_text(encoding="utf-8"))
    for data in examples:
        for channel in ("email", "im"):
            for tone in ("formal", "warm", "concise"):
                scenario = parse_scenario(dict(copy.deepcopy(data), channel=channel, tone=tone))
                yield "examples-offline", f"{scenario.id}/{channel}/{tone}", offline_content(scenario, prompts), \
                    scenario


def main() -> None:
    out = sys.stdout
    for set_name, draft_id, draft, scenario in _cases():
        first = _verdict(draft, scenario)
        stable = _verdict(draft, _fresh(scenario)) == first and _verdict(draft, scenario) == first
        line = {"set": set_name, "id": draft_id, **first, "stable": stable}
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
