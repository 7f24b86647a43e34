"""Offline drafting throughput: drafts per second on one core, guard included.

    .venv/bin/python benchmarks/offline_speed.py [--rounds 10]

Every example scenario in every channel and tone (12 x 2 x 3 = 72 drafts a round), each a fresh scenario object
so nothing is memoised across drafts. Prints JSON: drafts, CPU seconds, drafts per second, and the share of the
time the composer takes against the guard.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

from pmcomm_llm import Drafter, parse_scenario
from pmcomm_llm.drafting.offline import offline_draft
from pmcomm_llm.prompting.prompts import load_prompts

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    examples = json.loads((ROOT / "examples" / "scenarios.json").read_text(encoding="utf-8"))
    variants = [dict(copy.deepcopy(s), channel=c, tone=t) for s in examples for c in ("email", "im")
                for t in ("formal", "warm", "concise")]
    drafter, prompts = Drafter(backend="offline"), load_prompts()
    for data in variants:  # warm up templates, lexicons and OpenCC
        drafter.draft_offline(parse_scenario(data))
    work = [parse_scenario(data) for _ in range(args.rounds) for data in variants]
    start = time.process_time()
    for scenario in work:
        drafter.draft_offline(scenario.model_copy(deep=True))
    total = time.process_time() - start
    fresh = [parse_scenario(data) for _ in range(args.rounds) for data in variants]
    start = time.process_time()
    for scenario in fresh:
        offline_draft(scenario, prompts)
    compose = time.process_time() - start
    print(json.dumps({"drafts": len(work), "cpu_s": round(total, 3), "drafts_per_s": round(len(work) / total),
                      "compose_share": round(compose / total, 2)}, indent=1))


if __name__ == "__main__":
    main()
