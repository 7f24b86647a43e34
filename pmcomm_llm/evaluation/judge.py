"""The LLM judge: scores a draft on the rubric's judge criteria, each with a verbatim quote and a rationale.

It is a template (``prompts/judge.yaml``) plus a grade schema, at temperature 0, on its own model settings
(``PMCOMM_JUDGE_*``). Its answers are checked before they count: every criterion present, the score on the
scale, the quote found verbatim in the draft, the rationale in the draft's language. Anything else is re-asked
with the exact problem; the last verdict counts. The pass/fail verdict is computed from score and threshold
here, never chosen by the judge.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from pmcomm_llm.core.draft import Usage
from pmcomm_llm.core.errors import DraftRetryError
from pmcomm_llm.core.resources import content_hash, load_model
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.drafting.chain import StructuredModel
from pmcomm_llm.evaluation.rubric import Criterion, Rubric
from pmcomm_llm.grounding.checks import Candidate, CheckResult
from pmcomm_llm.prompting.prompts import render_strict

__all__ = ["Judge", "JudgeOutput", "JudgeVerdict"]


class JudgeVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criterion: str = Field(description="The criterion id, exactly as listed.")
    score: int = Field(description="The score on the given scale.")
    quote: str = Field(description="A sentence copied verbatim from the message.")
    rationale: str = Field(description="One or two sentences, in the requested language.")


class JudgeOutput(BaseModel):
    """The judge's grades for one message."""

    model_config = ConfigDict(extra="forbid")
    verdicts: list[JudgeVerdict]


class _JudgeTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str
    user: str
    reask: str
    json_mode_addendum: str
    rationale_languages: dict[str, str]


@cache
def _templates() -> _JudgeTemplates:
    return load_model("prompts", "judge.yaml", _JudgeTemplates)


_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _squash(text: str) -> str:
    return _SPACE.sub("", text)


def _is_chinese(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    return cjk >= max(2, len(text.replace(" ", "")) * 0.3)


class Judge:
    """Scores drafts with a model. Build once (from the judge settings) and reuse."""

    def __init__(self, settings: Any, rubric: Rubric) -> None:
        self.settings = settings.judge() if hasattr(settings, "judge") else settings
        self.rubric = rubric
        self.structured = StructuredModel(self.settings, JudgeOutput, "JudgeOutput")
        self.version = content_hash("prompts", ["judge.yaml"])

    @property
    def model_name(self) -> str:
        return self.settings.model

    def messages(self, candidate: Candidate, scenario: Scenario, criteria: list[Criterion]) -> list[BaseMessage]:
        t = _templates()
        side = "en" if scenario.language == "en" else "zh"
        scale = self.rubric.judge_scale
        listed = "\n".join(f"- {c.id}: {getattr(c.description, side)}" for c in criteria)
        system = render_strict(t.system, scale_min=scale.min, scale_max=scale.max, criteria=listed,
                               rationale_language=t.rationale_languages[scenario.language or "en"])
        public = scenario.model_dump(mode="json", exclude={"internal_notes", "client_message"}, exclude_none=True)
        user = render_strict(t.user, scenario_json=json.dumps(public, ensure_ascii=False),
                             message=candidate.text.replace("</message>", "</ message>"))
        return self.structured.json_mode_messages([SystemMessage(system), HumanMessage(user)], t.json_mode_addendum)

    def problems(self, output: JudgeOutput, candidate: Candidate, scenario: Scenario,
                 criteria: list[Criterion]) -> list[str]:
        """Why an answer cannot count yet: missing criteria, off-scale scores, invented quotes, wrong language."""
        scale = self.rubric.judge_scale
        wanted = {c.id for c in criteria}
        got = {v.criterion for v in output.verdicts}
        text = _squash(candidate.text)
        out = [f"missing criterion {cid}" for cid in sorted(wanted - got)]
        want_zh = scenario.language != "en"
        for v in output.verdicts:
            if v.criterion not in wanted:
                out.append(f"{v.criterion}: not a listed criterion")
                continue
            if not scale.min <= v.score <= scale.max:
                out.append(f"{v.criterion}: score {v.score} is outside {scale.min}..{scale.max}")
            if not v.quote.strip() or _squash(v.quote) not in text:
                out.append(f"{v.criterion}: the quote {v.quote[:80]!r} is not in the message; copy it exactly")
            if _is_chinese(v.rationale) != want_zh:
                out.append(f"{v.criterion}: the rationale is not in the message's language")
        return out

    async def ajudge(self, candidate: Candidate, scenario: Scenario,
                     criteria: list[Criterion]) -> tuple[list[CheckResult], Usage]:
        """Score ``criteria``; returns one CheckResult per criterion (evidence = the quote) and the usage."""
        if not criteria:
            return [], Usage()
        messages = self.messages(candidate, scenario, criteria)
        usage = Usage()
        attempts = 0
        last: JudgeOutput | None = None
        last_problems: list[str] = []
        while True:
            attempts += 1
            attempt = await self.structured.call(messages)
            usage = usage.add(attempt.usage)
            if attempt.content is not None:
                last = attempt.content
                last_problems = self.problems(last, candidate, scenario, criteria)
                if not last_problems:
                    break
                errors = last_problems
            else:
                errors = [attempt.error or "invalid answer"]
            if attempts > self.settings.max_reasks:
                if last is None:
                    raise DraftRetryError("the judge did not return a valid grade", n_attempts=attempts,
                                          last_raw=attempt.raw_text, usage=usage, last_error="; ".join(errors))
                break  # the last verdict counts, with its problems recorded
            t = _templates()
            side = scenario.language or "en"
            messages = [*messages, AIMessage(attempt.raw_text or "(empty)"),
                        HumanMessage(render_strict(t.reask, errors="\n".join(f"- {e}" for e in errors),
                                                   rationale_language=t.rationale_languages[side]))]
        assert last is not None
        return self._results(last, candidate, criteria, last_problems), usage

    def _results(self, output: JudgeOutput, candidate: Candidate, criteria: list[Criterion],
                 problems: list[str]) -> list[CheckResult]:
        scale = self.rubric.judge_scale
        by_id = {v.criterion: v for v in output.verdicts}
        results = []
        for c in criteria:
            v = by_id.get(c.id)
            if v is None:
                results.append(CheckResult(c.id, False, 0.0, "", "the judge gave no verdict"))
                continue
            score = min(max(v.score, scale.min), scale.max)
            passed = score >= scale.pass_at  # computed here, never chosen by the judge
            note = "; ".join(p for p in problems if p.startswith(c.id + ":"))
            start = candidate.text.find(v.quote) if v.quote else -1
            spans = [(start, start + len(v.quote))] if start >= 0 else []
            results.append(CheckResult(c.id, passed, round((score - scale.min) / (scale.max - scale.min), 3),
                                       v.quote, f"{score}/{scale.max}: {v.rationale}" + (f" [{note}]" if note else ""),
                                       spans))
        return results
