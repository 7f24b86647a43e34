"""The evaluation harness: dataset → drafts → scores, read like inspect_ai.

Every draft is scored on every rubric criterion that applies to its kind: deterministic checks always, judge
criteria when a judge is given. Each criterion keeps its result (score, evidence, message); the draft's score
is the weighted mean, and it passes when no blocking criterion failed and the score reaches the threshold.

Results are typed (:mod:`pmcomm_llm.evaluation.report.models`) and produced as a stream in input order, so an
evaluation of any size runs in flat memory: :func:`evaluate_to_file` writes each draft's result to
``report.json`` as it is computed and keeps only the summary's running aggregates and the drafts the HTML and
Markdown reports will show. :func:`evaluate_many` collects everything in memory, for a notebook or a test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.draft import Draft, Usage
from pmcomm_llm.core.errors import InputFileError, PmcommError
from pmcomm_llm.core.scenario import Scenario, parse_scenario
from pmcomm_llm.evaluation.checks import CHECKS
from pmcomm_llm.evaluation.report.common import SHOWN_DRAFTS, Shortlist
from pmcomm_llm.evaluation.report.models import (
    CriterionResult,
    CriterionSummary,
    DraftResult,
    GroupSummary,
    JudgeInfo,
    Report,
    Summary,
)
from pmcomm_llm.evaluation.report.store import ReportWriter
from pmcomm_llm.evaluation.rubric import Rubric, load_rubric
from pmcomm_llm.grounding.checks import Candidate, CheckResult

__all__ = ["DraftRecord", "Evaluation", "SummaryBuilder", "aevaluate", "aevaluate_many", "aevaluate_to_file",
           "aiter_evaluations", "build_report", "check_draft_file", "evaluate", "evaluate_many", "evaluate_to_file",
           "iter_draft_records", "load_draft_records", "load_scenarios"]


class Evaluation(DraftResult):
    """One draft's verdict with every criterion's result: a report row, plus what the judge spent on it."""

    judge_usage: Usage | None = None
    """Tokens the judge spent on this draft; summed into the report's ``summary.judge``, not written per row."""


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


def _numbered_records(path: Path) -> Iterator[tuple[int, DraftRecord]]:
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise InputFileError(f"{path}: line {number} is not valid JSON ({exc})") from None
            yield number, _record(obj, f"{path}: line {number}")


def iter_draft_records(path: str | Path) -> Iterator[DraftRecord]:
    """Drafts from a JSONL file, one line at a time (``pmcomm draft`` output or ``{"id","scenario_id",
    "subject","body"}`` lines): a file of any size is read in flat memory."""
    for _, record in _numbered_records(Path(path)):
        yield record


def load_draft_records(path: str | Path) -> list[DraftRecord]:
    """Every draft of a JSONL file, in a list (see :func:`iter_draft_records` to stream them)."""
    return list(iter_draft_records(path))


def check_draft_file(path: str | Path, scenarios: dict[str, Scenario]) -> int:
    """Read a drafts file once before any draft is scored; return how many drafts it holds.

    A long evaluation, or one that pays a judge, should not stop at draft 90,000 on a typo: a malformed line, a
    scenario id the scenarios file lacks, or a draft id used twice (the report and ``pmcomm eval compare``
    match drafts by id) is an :class:`InputFileError` naming the line, raised before the first draft is scored.
    Memory: one line number per draft id.
    """
    path = Path(path)
    first_line: dict[str, int] = {}
    unknown: dict[str, None] = {}
    for number, record in _numbered_records(path):
        if record.draft_id in first_line:
            raise InputFileError(f"{path}: line {number}: draft id {record.draft_id!r} is already on line "
                                 f"{first_line[record.draft_id]}; every draft needs its own id (the report and "
                                 "`pmcomm eval compare` match drafts by id)")
        first_line[record.draft_id] = number
        if record.scenario_id not in scenarios:
            unknown[record.scenario_id] = None
    if unknown:
        raise InputFileError(f"{path}: drafts refer to scenario ids not in the scenarios file: "
                             f"{', '.join(sorted(unknown)[:10])}" + (f" (and {len(unknown) - 10} more)"
                                                                      if len(unknown) > 10 else ""))
    return len(first_line)


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
    checks = [CriterionResult(id=r.id, passed=r.passed, score=r.score, evidence=r.evidence, message=r.message,
                              spans=r.spans, principle=c.principle, grader="judge" if c.grader == "judge" else "check",
                              blocking=c.blocking, weight=c.weight) for c, r in results]
    return Evaluation(draft_id=draft_id or scenario.id or "", scenario_id=scenario.id or "", kind=scenario.kind.value,
                      language=scenario.language or "", channel=scenario.channel, score=score, passed=passed,
                      blocking_failures=blocking, subject=candidate.subject, body=candidate.body, checks=checks,
                      judge_usage=usage, ungraded=ungraded)


def evaluate(draft: Any, scenario: Scenario | dict[str, Any], *, judge: Any = None,
             rubric: Rubric | None = None, draft_id: str | None = None) -> Evaluation:
    """Synchronous :func:`aevaluate`. Without a judge it is pure, deterministic and fast (no event loop)."""
    return run_sync(aevaluate(draft, scenario, judge=judge, rubric=rubric, draft_id=draft_id),
                    loop_free=judge is None)


def _scenario_for(record: DraftRecord, scenarios: dict[str, Scenario]) -> Scenario:
    scenario = scenarios.get(record.scenario_id)
    if scenario is None:
        raise InputFileError(f"draft {record.draft_id!r} refers to scenario id {record.scenario_id!r}, which is not "
                             "in the scenarios file")
    return scenario


_STOPPING = ("AuthenticationError", "ConfigError")
"""A judge error that no later call can escape (key or configuration): the remaining drafts are not sent."""


async def aiter_evaluations(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], *, judge: Any = None,
                            rubric: Rubric | None = None, concurrency: int = 8) -> AsyncIterator[Evaluation]:
    """Each record's :class:`Evaluation`, in input order, with a bounded number of drafts in memory.

    Without a judge the drafts are scored one after another and nothing ever awaits. With a judge up to
    ``concurrency`` calls run at once, from a window of ``4 × concurrency`` drafts read ahead: a slow call holds
    back at most that many finished results, and an input of any length is never all in memory.
    """
    rubric = rubric or load_rubric()
    if judge is None:
        for r in records:
            yield await aevaluate(r, _scenario_for(r, scenarios), rubric=rubric)
        return
    limit = asyncio.Semaphore(concurrency)
    stopped: list[str] = []

    async def one(r: DraftRecord, scenario: Scenario) -> Evaluation:
        async with limit:
            if stopped:  # the judge cannot answer anyone (key or configuration): do not ask again
                e = await aevaluate(r, scenario, rubric=rubric)
                return e.model_copy(update={"ungraded": f"not judged: {stopped[0]}"})
            e = await aevaluate(r, scenario, judge=judge, rubric=rubric)
            if e.ungraded and e.ungraded.split(":", 1)[0] in _STOPPING:
                stopped.append(e.ungraded)
            return e

    window: deque[asyncio.Task[Evaluation]] = deque()
    try:
        for r in records:
            window.append(asyncio.ensure_future(one(r, _scenario_for(r, scenarios))))
            if len(window) >= 4 * max(1, concurrency):
                yield await window.popleft()
        while window:
            yield await window.popleft()
    finally:
        for task in window:  # stopped early (an error, or the consumer gave up): nothing left running
            task.cancel()


class SummaryBuilder:
    """The report's summary, aggregated as results stream past: memory grows with the number of kinds,
    languages, channels and criteria, never with the number of drafts."""

    def __init__(self, rubric: Rubric, *, judge: Any = None) -> None:
        self.rubric = rubric
        self.judge_model: str | None = getattr(judge, "model_name", None)
        self.count = self.passed = self.ungraded = 0
        self.score_sum = 0.0
        self.ungraded_reason: str | None = None
        self.usage = Usage()
        self._groups: dict[str, dict[str, list[float]]] = {"kind": {}, "language": {}, "channel": {}}
        self._criteria: dict[str, list[int]] = {}

    def add(self, result: DraftResult) -> None:
        self.count += 1
        self.passed += result.passed
        self.score_sum += result.score
        if result.ungraded:
            self.ungraded += 1
            self.ungraded_reason = self.ungraded_reason or result.ungraded
        usage = getattr(result, "judge_usage", None)
        if usage is not None:
            self.usage = self.usage.add(usage)
        for key, groups in self._groups.items():
            row = groups.setdefault(getattr(result, key), [0, 0, 0.0])
            row[0] += 1
            row[1] += result.passed
            row[2] += result.score
        for check in result.checks:
            row_c = self._criteria.setdefault(check.id, [0, 0])
            row_c[0] += 1
            row_c[1] += check.passed

    def summary(self) -> Summary:
        n = self.count

        def groups(key: str) -> dict[str, GroupSummary]:
            return {name: GroupSummary(count=int(c), pass_rate=round(p / c, 4), mean_score=round(s / c, 4))
                    for name, (c, p, s) in sorted(self._groups[key].items())}

        by_criterion = {}
        for c in self.rubric.criteria:  # the rubric's order, as the chart and the tables show them
            if c.id in self._criteria:
                evaluated, ok = self._criteria[c.id]
                by_criterion[c.id] = CriterionSummary(principle=c.principle,
                                                      grader="judge" if c.grader == "judge" else "check",
                                                      blocking=c.blocking, evaluated=evaluated, passed=ok,
                                                      pass_rate=round(ok / evaluated, 4))
        return Summary(
            count=n, passed=self.passed, pass_rate=round(self.passed / n, 4) if n else 0.0,
            mean_score=round(self.score_sum / n, 4) if n else 0.0, ungraded=self.ungraded,
            ungraded_reason=self.ungraded_reason, threshold=self.rubric.pass_threshold,
            by_kind=groups("kind"), by_language=groups("language"), by_channel=groups("channel"),
            by_criterion=by_criterion, judge=JudgeInfo(model=self.judge_model, usage=self.usage),
            rubric_version=self.rubric.hash,
            created=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())


def build_report(evaluations: Iterable[DraftResult], rubric: Rubric, *, judge: Any = None) -> Report:
    """A :class:`Report` holding every result (in memory: for a large run see :func:`evaluate_to_file`)."""
    builder = SummaryBuilder(rubric, judge=judge)
    results = []
    for e in evaluations:
        builder.add(e)
        results.append(e)
    return Report(summary=builder.summary(), results=results)


async def aevaluate_many(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], *, judge: Any = None,
                         rubric: Rubric | None = None, concurrency: int = 8) -> Report:
    """Evaluate every record against its scenario; the :class:`Report` holds every result."""
    rubric = rubric or load_rubric()
    records = list(records)
    unknown = sorted({r.scenario_id for r in records if r.scenario_id not in scenarios})
    if unknown:
        raise InputFileError(f"drafts refer to scenario ids not in the scenarios file: {', '.join(unknown[:10])}")
    async with aclosing(aiter_evaluations(records, scenarios, judge=judge, rubric=rubric,
                                          concurrency=concurrency)) as stream:
        evaluations = [e async for e in stream]
    return build_report(evaluations, rubric, judge=judge)


def evaluate_many(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], *, judge: Any = None,
                  rubric: Rubric | None = None, concurrency: int = 8) -> Report:
    return run_sync(aevaluate_many(records, scenarios, judge=judge, rubric=rubric, concurrency=concurrency),
                    loop_free=judge is None)


async def aevaluate_to_file(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], path: str | Path, *,
                            judge: Any = None, rubric: Rubric | None = None, concurrency: int = 8,
                            shown: int = SHOWN_DRAFTS) -> Report:
    """Evaluate a stream of records into ``report.json`` at ``path``, in flat memory.

    Each result goes to the file's spool as it is computed (see :class:`~pmcomm_llm.evaluation.report.store.
    ReportWriter`); ``path`` is replaced only once every draft is scored, so an error or an interruption leaves
    the previous report whole. Returns the summary with the ``shown`` drafts the HTML and Markdown reports show
    (failing first): not every result, unless there are no more than ``shown``.
    """
    rubric = rubric or load_rubric()
    builder = SummaryBuilder(rubric, judge=judge)
    shortlist = Shortlist(shown)
    with ReportWriter(path) as writer:
        async with aclosing(aiter_evaluations(records, scenarios, judge=judge, rubric=rubric,
                                              concurrency=concurrency)) as stream:
            async for e in stream:
                writer.add(e)
                builder.add(e)
                shortlist.add(e)
        summary = builder.summary()
        writer.commit(summary)
    return Report(summary=summary, results=shortlist.results())


def evaluate_to_file(records: Iterable[DraftRecord], scenarios: dict[str, Scenario], path: str | Path, *,
                     judge: Any = None, rubric: Rubric | None = None, concurrency: int = 8,
                     shown: int = SHOWN_DRAFTS) -> Report:
    """Synchronous :func:`aevaluate_to_file`; without a judge no event loop is started."""
    return run_sync(aevaluate_to_file(records, scenarios, path, judge=judge, rubric=rubric, concurrency=concurrency,
                                      shown=shown), loop_free=judge is None)
