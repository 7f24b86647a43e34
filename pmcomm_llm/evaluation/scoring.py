"""The evaluation harness: dataset → drafts → scores, read like inspect_ai.

Every draft is scored on every rubric criterion that applies to its kind: deterministic checks always, judge
criteria when a judge is given. Each criterion keeps its result (score, evidence, message); the draft's score
is the weighted mean, and it passes when no blocking criterion failed and the score reaches the threshold.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel

from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.draft import Draft, Usage
from pmcomm_llm.core.errors import InputFileError, PmcommError
from pmcomm_llm.core.scenario import Scenario, parse_scenario
from pmcomm_llm.evaluation.checks import CHECKS
from pmcomm_llm.evaluation.rubric import Rubric, load_rubric
from pmcomm_llm.grounding.checks import Candidate, CheckResult

__all__ = ["DraftRecord", "Evaluation", "aevaluate", "evaluate", "evaluate_many", "aevaluate_many",
           "load_draft_records", "load_scenarios", "build_report"]


class Evaluation(BaseModel):
    """One draft's verdict with every criterion's result."""

    draft_id: str
    scenario_id: str
    kind: str
    language: str
    channel: str
    score: float
    passed: bool
    blocking_failures: list[str]
    subject: str | None
    body: str
    checks: list[dict[str, Any]]
    judge_usage: Usage | None = None
    ungraded: str | None = None
    """Why the judge gave no grade (its call failed); the deterministic checks still count."""


@dataclass(slots=True)
class DraftRecord:
    """A draft to evaluate, whatever file it came from."""

    draft_id: str
    scenario_id: str
    candidate: Candidate
    labels: list[str] | None = None


def _record(obj: Any, where: str) -> DraftRecord:
    if isinstance(obj, Draft):
        raise PmcommError("a Draft object carries no scenario id: use evaluate(draft, scenario) instead")
    if not isinstance(obj, dict):
        raise InputFileError(f"{where}: a draft must be a JSON object")
    if isinstance(obj.get("draft"), dict):  # `pmcomm draft` output: id is the scenario id
        d = obj["draft"]
        alts = tuple(a.get("offer_id", "") for a in d.get("alternatives") or [] if isinstance(a, dict))
        return DraftRecord(str(obj.get("id")), str(obj.get("id")),
                           Candidate(d.get("subject"), str(d.get("body", "")), alts))
    missing = [k for k in ("id", "scenario_id", "body") if not obj.get(k)]
    if missing:
        raise InputFileError(f"{where}: missing field(s) {', '.join(missing)}; a draft line is "
                             '{"id", "scenario_id", "subject", "body"} or a `pmcomm draft` output line')
    return DraftRecord(str(obj["id"]), str(obj["scenario_id"]), Candidate(obj.get("subject"), str(obj["body"])),
                       obj.get("labels"))


def load_draft_records(path: str | Path) -> list[DraftRecord]:
    """Drafts from a JSONL file (``pmcomm draft`` output or ``{"id","scenario_id","subject","body"}`` lines)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    records = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputFileError(f"{path}: line {number} is not valid JSON ({exc})") from None
            records.append(_record(obj, f"{path}: line {number}"))
    return records


def load_scenarios(path: str | Path) -> dict[str, Scenario]:
    """Scenarios by id from any input file ``pmcomm draft`` reads; an invalid one is an error naming it."""
    from pmcomm_llm.core.inputs import prepare, read_items

    out: dict[str, Scenario] = {}
    for item, scenario, error in prepare(read_items(str(path)), for_evaluation=True):
        if error is not None:
            raise InputFileError(f"{path}: {item.where}: {error.get('field') or '-'}: {error['message']}")
        assert scenario is not None and scenario.id is not None
        out[scenario.id] = scenario
    return out


def _combine(results: list[tuple[Any, CheckResult]], rubric: Rubric) -> tuple[float, bool, list[str]]:
    total = sum(c.weight for c, _ in results)
    score = sum(c.weight * max(0.0, min(1.0, r.score if not r.passed else 1.0)) for c, r in results) / total \
        if total else 1.0
    blocking = [c.id for c, r in results if c.blocking and not r.passed]
    return round(score, 4), not blocking and score >= rubric.pass_threshold, blocking


async def aevaluate(draft: Any, scenario: Scenario | dict[str, Any], *, judge: Any = None,
                    rubric: Rubric | None = None, draft_id: str | None = None) -> Evaluation:
    """Score one draft (a :class:`Draft`, a ``DraftRecord``/``Candidate``, or anything with subject and body)."""
    rubric = rubric or load_rubric()
    if not isinstance(scenario, Scenario):
        scenario = parse_scenario(scenario, for_evaluation=True)
    candidate = draft.candidate if isinstance(draft, DraftRecord) else Candidate.of(draft)
    if isinstance(draft, DraftRecord):
        draft_id = draft_id or draft.draft_id
    results: list[tuple[Any, CheckResult]] = []
    for criterion in rubric.checks_for(scenario.kind):
        results.append((criterion, CHECKS[criterion.id](candidate, scenario)))
    usage = None
    ungraded = None
    if judge is not None:
        judged = rubric.judged_for(scenario.kind)
        try:
            verdicts, usage = await judge.ajudge(candidate, scenario, judged)
            results += list(zip(judged, verdicts))
        except PmcommError as exc:  # this draft goes ungraded; the grades already paid for are kept
            ungraded = f"{type(exc).__name__}: {exc}"
            spent = getattr(exc, "usage", None)
            usage = spent if isinstance(spent, Usage) else None
    score, passed, blocking = _combine(results, rubric)
    checks = [{**r.as_dict(), "principle": c.principle, "grader": "judge" if c.grader == "judge" else "check",
               "blocking": c.blocking, "weight": c.weight} for c, r in results]
    return Evaluation(draft_id=draft_id or scenario.id or "", scenario_id=scenario.id or "", kind=scenario.kind.value,
                      language=scenario.language or "", channel=scenario.channel, score=score, passed=passed,
                      blocking_failures=blocking, subject=candidate.subject, body=candidate.body, checks=checks,
                      judge_usage=usage, ungraded=ungraded)


def evaluate(draft: Any, scenario: Scenario | dict[str, Any], *, judge: Any = None,
             rubric: Rubric | None = None, draft_id: str | None = None) -> Evaluation:
    """Synchronous :func:`aevaluate`. Without a judge it is pure, deterministic and fast (no event loop)."""
    return run_sync(aevaluate(draft, scenario, judge=judge, rubric=rubric, draft_id=draft_id),
                    loop_free=judge is None)


async def aevaluate_many(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], *, judge: Any = None,
                         rubric: Rubric | None = None, concurrency: int = 8) -> dict[str, Any]:
    """Evaluate every record against its scenario; returns the report dict (``report.json``)."""
    rubric = rubric or load_rubric()
    records = list(records)
    unknown = sorted({r.scenario_id for r in records if r.scenario_id not in scenarios})
    if unknown:
        raise InputFileError(f"drafts refer to scenario ids not in the scenarios file: {', '.join(unknown[:10])}")
    if judge is None:
        evaluations = [evaluate(r, scenarios[r.scenario_id], rubric=rubric) for r in records]
    else:
        limit = asyncio.Semaphore(concurrency)
        stopped: list[str] = []

        async def one(r: DraftRecord) -> Evaluation:
            async with limit:
                if stopped:  # the judge cannot answer anyone (key or configuration): do not ask again
                    e = await aevaluate(r, scenarios[r.scenario_id], rubric=rubric)
                    return e.model_copy(update={"ungraded": f"not judged: {stopped[0]}"})
                e = await aevaluate(r, scenarios[r.scenario_id], judge=judge, rubric=rubric)
                if e.ungraded and e.ungraded.split(":", 1)[0] in ("AuthenticationError", "ConfigError"):
                    stopped.append(e.ungraded)
                return e

        evaluations = list(await asyncio.gather(*(one(r) for r in records)))
    return build_report(evaluations, rubric, judge=judge)


def evaluate_many(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], *, judge: Any = None,
                  rubric: Rubric | None = None, concurrency: int = 8) -> dict[str, Any]:
    return run_sync(aevaluate_many(records, scenarios, judge=judge, rubric=rubric, concurrency=concurrency))


def _group(evals: list[Evaluation], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Evaluation]] = defaultdict(list)
    for e in evals:
        groups[getattr(e, key)].append(e)
    return {k: {"count": len(v), "pass_rate": round(sum(e.passed for e in v) / len(v), 4),
                "mean_score": round(sum(e.score for e in v) / len(v), 4)} for k, v in sorted(groups.items())}


def build_report(evaluations: list[Evaluation], rubric: Rubric, *, judge: Any = None) -> dict[str, Any]:
    n = len(evaluations)
    by_criterion: dict[str, dict[str, Any]] = {}
    for c in rubric.criteria:
        rows = [chk for e in evaluations for chk in e.checks if chk["id"] == c.id]
        if rows:
            ok = sum(1 for r in rows if r["passed"])
            by_criterion[c.id] = {"principle": c.principle, "grader": "judge" if c.grader == "judge" else "check",
                                  "blocking": c.blocking, "evaluated": len(rows), "passed": ok,
                                  "pass_rate": round(ok / len(rows), 4)}
    usage = Usage()
    for e in evaluations:
        usage = usage.add(e.judge_usage) if e.judge_usage else usage
    summary = {
        "count": n,
        "passed": sum(e.passed for e in evaluations),
        "pass_rate": round(sum(e.passed for e in evaluations) / n, 4) if n else 0.0,
        "mean_score": round(sum(e.score for e in evaluations) / n, 4) if n else 0.0,
        "ungraded": sum(1 for e in evaluations if e.ungraded),
        "threshold": rubric.pass_threshold,
        "by_kind": _group(evaluations, "kind"),
        "by_language": _group(evaluations, "language"),
        "by_criterion": by_criterion,
        "judge": {"model": getattr(judge, "model_name", None), "usage": usage.model_dump()},
        "rubric_version": rubric.hash,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    return {"summary": summary, "results": [e.model_dump(mode="json", exclude={"judge_usage"}) for e in evaluations]}
