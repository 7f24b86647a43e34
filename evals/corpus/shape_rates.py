"""How many of the corpus's hand-written drafts fail ``message_shape``, by channel and reason.

    python evals/corpus/shape_rates.py dev dev2            # the sets its one threshold was set on
    python evals/corpus/shape_rates.py holdout holdout2    # run once, reported in README.md

``message_shape`` has no labels (the writers never saw it), so this is a rate, not a precision or recall.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.evaluation.checks import message_shape
from pmcomm_llm.grounding.checks import Candidate

HERE = Path(__file__).resolve().parent
REASONS = {"sentences": "more than 5 sentences", "label line (": "a label line", "bullet": "a bullet list",
           "header": "a header", "label lines": "label lines", "choose": "a choice with nothing to choose"}


def rates(name: str) -> dict[str, object]:
    scenarios = {s["id"]: s for s in json.loads((HERE / "scenarios.json").read_text(encoding="utf-8"))}
    totals: collections.Counter[str] = collections.Counter()
    flagged: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for line in (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        scenario = Scenario.model_validate(scenarios[row["scenario_id"]], context={"for_evaluation": True})
        totals[scenario.channel] += 1
        result = message_shape(Candidate(row.get("subject"), row["body"]), scenario)
        if not result.passed:
            flagged[scenario.channel] += 1
            for key, label in REASONS.items():
                if key in result.evidence:
                    reasons[f"{scenario.channel}: {label}"] += 1
    return {"set": name, "drafts": dict(totals), "flagged": dict(flagged), "reasons": dict(reasons)}


if __name__ == "__main__":
    for set_name in sys.argv[1:] or ["dev", "dev2"]:
        print(json.dumps(rates(set_name), ensure_ascii=False))
