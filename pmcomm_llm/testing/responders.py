"""Responders for the fake server: stand-in "models" that answer drafting requests sensibly.

``offline_responder`` reads the public scenario out of our drafting prompt and answers with what the offline
drafter would write, so a local server speaks our schema with realistic, grounded content. It powers the
contract tests, the cassette recordings and ``OPENAI_BASE_URL`` demos without a real provider.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["judge_responder", "offline_responder", "scenario_from_request", "stand_in_responder"]

_START = "SCENARIO (JSON):\n"
_END = "\n\nINTERNAL NOTES"


def scenario_from_request(request: dict[str, Any]) -> dict[str, Any]:
    """The public scenario our user prompt embeds as JSON (internal notes are never in it)."""
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str) and _START in content:
            start = content.index(_START) + len(_START)
            end = content.index(_END, start)
            return json.loads(content[start:end])
    raise ValueError("no SCENARIO block in the request")


def offline_responder(request: dict[str, Any]) -> dict[str, Any]:
    from pmcomm_llm.core.scenario import parse_scenario
    from pmcomm_llm.drafting.offline import offline_content
    from pmcomm_llm.prompting.prompts import load_prompts

    scenario = parse_scenario(scenario_from_request(request))
    return offline_content(scenario, load_prompts()).model_dump(mode="json")


def judge_responder(request: dict[str, Any], *, score: int = 5) -> dict[str, Any]:
    """A stand-in judge: every listed criterion gets ``score``, quoting the message's first line."""
    import re

    system = request["messages"][0]["content"]
    user = request["messages"][1]["content"]
    message = user.split("<message>\n", 1)[1].rsplit("\n</message>", 1)[0]
    criteria = re.findall(r"^- (judge_[a-z_]+):", system, flags=re.M)
    quote = next(line for line in message.splitlines() if line.strip()).strip()
    chinese = "Chinese" in system.split("written in", 1)[1][:40]
    rationale = "整体符合要求。" if chinese else "Meets the criterion."
    return {"verdicts": [{"criterion": c, "score": score, "quote": quote, "rationale": rationale}
                         for c in criteria]}


def stand_in_responder(request: dict[str, Any]) -> dict[str, Any]:
    """Drafting and judging requests alike, so one stand-in server serves both ``pmcomm draft`` and
    ``pmcomm eval --judge openai``: a request that carries a message to grade is the judge's."""
    user = next((m.get("content") for m in request.get("messages", []) if m.get("role") == "user"), "")
    if isinstance(user, str) and "<message>\n" in user:
        return judge_responder(request)
    return offline_responder(request)
