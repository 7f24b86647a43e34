"""The LLM judge: scores a draft on the rubric's judge criteria, each with a verbatim quote and a rationale.

It is a template (``prompts/judge.yaml``) plus a grade schema, at temperature 0, on its own model settings
(``PMCOMM_JUDGE_*``). Its answers are checked before they count: every criterion present, the score on the
scale, the quote found verbatim in the draft, the rationale in the draft's language. Anything else is re-asked
with the exact problem through the same re-ask loop the drafter uses
(:func:`pmcomm_llm.providers.structured.complete`), on the same model step, transport and rate limiter; the
last verdict counts. The pass/fail verdict is computed from score and threshold
here, never chosen by the judge.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pmcomm_llm.core.draft import Usage
from pmcomm_llm.core.resources import content_hash, load_model
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.evaluation.rubric import Criterion, Rubric
from pmcomm_llm.grounding.checks import Candidate, CheckResult
from pmcomm_llm.prompting.prompts import render_strict
from pmcomm_llm.providers.request import Message
from pmcomm_llm.providers.structured import StructuredModel, complete

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

    def __init__(self, settings: Any, rubric: Rubric, *, transport: Any = None) -> None:
        self.settings = settings.judge() if hasattr(settings, "judge") else settings
        self.rubric = rubric
        note = _templates().json_mode_addendum
        self.model: StructuredModel[JudgeOutput] = StructuredModel(
            self.settings, JudgeOutput, "JudgeOutput", transport=transport,
            schema_note=lambda schema: render_strict(note, schema=schema))
        self.version = content_hash("prompts", ["judge.yaml"])

    @property
    def model_name(self) -> str:
        return self.settings.model

    def messages(self, candidate: Candidate, scenario: Scenario, criteria: list[Criterion]) -> list[Message]:
        t = _templates()
        side = "en" if scenario.language == "en" else "zh"
        scale = self.rubric.judge_scale
        listed = "\n".join(f"- {c.id}: {getattr(c.description, side)}" for c in criteria)
        system = render_strict(t.system, scale_min=scale.min, scale_max=scale.max, criteria=listed,
                               rationale_language=t.rationale_languages[scenario.language or "en"])
        public = scenario.model_dump(mode="json", exclude={"internal_notes", "client_message"}, exclude_none=True)
        user = render_strict(t.user, scenario_json=json.dumps(public, ensure_ascii=False),
                             message=candidate.text.replace("</message>", "</ message>"))
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

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
        t = _templates()
        language = t.rationale_languages[scenario.language or "en"]

        def reask(kind: str, problems: Any) -> str:
            return render_strict(t.reask, errors="\n".join(f"- {p}" for p in problems), rationale_language=language)

        done = await complete(self.model, self.messages(candidate, scenario, criteria), reask=reask,
                              check=lambda output: self.problems(output, candidate, scenario, criteria),
                              max_reasks=self.settings.max_reasks, what="the judge did not return a valid grade")
        return self._results(done.content, candidate, criteria, done.problems), done.usage

    async def aclose(self) -> None:
        await self.model.aclose()

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
