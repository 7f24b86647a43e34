"""Deterministic evaluation throughput: drafts per second on one core, over >= 1,000 drafts.

    .venv/bin/python benchmarks/eval_speed.py [--drafts 2000]

The drafts are the independent corpus's dev drafts (natural prose by six writers), cycled. The per-text memos (quantity extraction, content features) are cleared before every
draft, so no draft is scored from a cache; "shared scenarios" reuses the parsed scenarios (as a real eval of
many drafts per scenario does), "fresh scenarios" re-parses the scenario for every draft (the worst case).
Prints JSON. Target: >= 1,000 drafts/s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pmcomm_llm.evaluation.checks as _checks
from pmcomm_llm import evaluate, parse_scenario
from pmcomm_llm.evaluation.calibration import golden_set
from pmcomm_llm.evaluation.rubric import load_rubric
from pmcomm_llm.grounding import text as _text
from pmcomm_llm.grounding.quantities import _extract

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drafts", type=int, default=2000)
    args = parser.parse_args()
    records, scenarios = golden_set("corpus-dev")
    raw = {s["id"]: s for s in json.loads((ROOT / "evals/corpus/scenarios.json").read_text(encoding="utf-8"))}
    rubric = load_rubric()
    work = [records[i % len(records)] for i in range(args.drafts)]
    for r in work[:50]:  # warm up imports and lexicons
        evaluate(r, scenarios[r.scenario_id], rubric=rubric)

    def run(fresh: bool) -> float:
        start = time.process_time()
        for r in work:
            _extract.cache_clear()
            for memo in (_text.features, _text._charset, _text.sentences_of, _text.clauses_of, _checks._tone_hits):
                memo.cache_clear()
            scenario = parse_scenario(raw[r.scenario_id]) if fresh else scenarios[r.scenario_id]
            scenario._derived.pop("claims_memo", None)  # no draft is scored from the claim memo either
            evaluate(r, scenario, rubric=rubric)
        return time.process_time() - start

    shared = run(False)
    fresh = run(True)
    print(json.dumps({
        "drafts": args.drafts,
        "checks_per_draft": len(rubric.checks_for(next(iter(scenarios.values())).kind)),
        "shared_scenarios": {"cpu_s": round(shared, 3), "drafts_per_s": round(args.drafts / shared)},
        "fresh_scenarios": {"cpu_s": round(fresh, 3), "drafts_per_s": round(args.drafts / fresh)},
        "target_drafts_per_s": 1000,
    }, indent=1))


if __name__ == "__main__":
    main()
