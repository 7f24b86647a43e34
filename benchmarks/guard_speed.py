"""The guard's CPU per item: ``check_draft`` on a scenario it has not seen, and on one it has.

    .venv/bin/python benchmarks/guard_speed.py [--items 600] [--rounds 5]

In a batch every scenario is new, so the guard's per-scenario precomputation (the grounding sets, the leak
phrases, the offers' features) is per-item CPU. The items are the example scenarios (``examples/scenarios.json``)
copied, each with a new id and a distinct suffix in ``situation`` and ``facts.reason``, so no two items are the
same scenario. Each is drafted offline outside the clock; then ``check_draft`` is timed (``time.process_time``,
per item) in three cases, each round on freshly parsed scenario objects:

* ``cold``: a scenario object and a draft the guard has not seen. Every per-text memo of
  ``pmcomm_llm.grounding`` (each bounded ``lru_cache``) is cleared before the round, outside the clock, so no
  draft is read from an earlier round's memo; the texts an item shares with an earlier item of the round (the
  same example's offers, boundaries and notes) are memoised, as in a batch of similar scenarios;
* ``cold_no_memo``: as ``cold``, with the memos cleared before every item: every text of the item is read for the
  first time, as in a batch of unrelated scenarios;
* ``warm``: the same scenario object and draft a second time.

Prints JSON: CPU ms per item, min and median over the rounds, and the cold/warm ratio. Budget: all client CPU per
item is 1.5 ms.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import pmcomm_llm.grounding.checks
import pmcomm_llm.grounding.claims
import pmcomm_llm.grounding.quantities
import pmcomm_llm.grounding.text
from pmcomm_llm import parse_scenario
from pmcomm_llm.drafting.offline import offline_content
from pmcomm_llm.grounding.guard import check_draft
from pmcomm_llm.prompting.prompts import load_prompts

ROOT = Path(__file__).resolve().parent.parent
_SUFFIXES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
             "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]


def _tag(i: int) -> str:
    """A distinct word per item, without digits: a number in the suffix would be one more figure to ground."""
    a, b = divmod(i, len(_SUFFIXES))
    return f"{_SUFFIXES[b]}-{_SUFFIXES[a % len(_SUFFIXES)]}-{'x' * (a // len(_SUFFIXES))}"


def _items(n: int) -> list[dict[str, Any]]:
    """``n`` distinct scenarios (as JSON data) from the examples, cycled."""
    examples = json.loads((ROOT / "examples" / "scenarios.json").read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        data = copy.deepcopy(examples[i % len(examples)])
        tag = _tag(i)
        data["id"] = f"{data['id']}-{i}"
        data["situation"] = f"{data['situation']} (ref {tag})"
        data["facts"]["reason"] = f"{data['facts']['reason']} (ref {tag})"
        out.append(data)
    return out


def _text_memos() -> list[Callable[..., Any]]:
    """Every bounded ``lru_cache`` of the grounding modules: the per-text memos (``@cache`` loaders of lexicons
    and data are unbounded and stay loaded)."""
    memos = []
    for module in (pmcomm_llm.grounding.text, pmcomm_llm.grounding.quantities, pmcomm_llm.grounding.claims,
                   pmcomm_llm.grounding.checks):
        for value in vars(module).values():
            params = getattr(value, "cache_parameters", None)
            if params is not None and params()["maxsize"] is not None:
                memos.append(value)
    return memos


def _round(data: list[dict[str, Any]], drafts: list[Any], memos: list[Callable[..., Any]],
           every_item: bool) -> tuple[float, float]:
    """Total CPU seconds of ``check_draft`` over the items on fresh scenario objects, then again on the same.

    The memos are cleared before the round, and before every item when ``every_item``."""
    scenarios = [parse_scenario(d) for d in data]
    cold = 0.0
    for memo in memos:
        memo.cache_clear()
    for scenario, draft in zip(scenarios, drafts):
        for memo in memos if every_item else ():
            memo.cache_clear()
        start = time.process_time()
        check_draft(draft, scenario)
        cold += time.process_time() - start
    start = time.process_time()
    for scenario, draft in zip(scenarios, drafts):
        check_draft(draft, scenario)
    return cold, time.process_time() - start


def _figures(totals: list[float], n: int) -> dict[str, float]:
    per_item = [t * 1000 / n for t in totals]
    return {"min_ms": round(min(per_item), 4), "median_ms": round(statistics.median(per_item), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = _items(args.items)
    prompts = load_prompts()
    drafts = [offline_content(parse_scenario(d), prompts) for d in data]
    for scenario, draft in zip([parse_scenario(d) for d in data[:50]], drafts):  # imports, lexicons, OpenCC
        check_draft(draft, scenario)
    memos = _text_memos()
    cold, warm, bare = [], [], []
    for _ in range(args.rounds):
        c, w = _round(data, drafts, memos, every_item=False)
        cold.append(c)
        warm.append(w)
        bare.append(_round(data, drafts, memos, every_item=True)[0])
    result = {"items": args.items, "rounds": args.rounds, "distinct_drafts": len({d.body for d in drafts}),
              "cold": _figures(cold, args.items), "cold_no_memo": _figures(bare, args.items),
              "warm": _figures(warm, args.items), "budget_all_client_cpu_ms": 1.5}
    result["cold_over_warm"] = round(result["cold"]["median_ms"] / result["warm"]["median_ms"], 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
