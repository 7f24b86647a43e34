"""A batch run from an input file to an output file: concurrent, streaming, resumable, exactly once.

Items are read lazily and drafted on one event loop by a fixed pool of workers fed through a bounded queue,
so memory stays flat however long the input. Each finished item is appended to the output (or the errors
file) with a single write, immediately. Running the same command again skips the items already in the
output whose scenario content is unchanged.

The invariant — every item read ends exactly once in the output or the errors file, or (when the run stopped)
is left for the next run — is counted by the runner after every run, not hoped for:

* a worker never dies: an unexpected exception becomes that item's error record and the run goes on;
* a fault of the machine (disk full, read-only path, corrupt cache) stops the run at once with one message,
  and the same command resumes; an authentication or configuration error stops it the same way;
* Ctrl-C cancels the workers instead of waiting for them;
* the output and errors paths are checked before anything is written (never the input, never a file pmcomm
  did not write), and one advisory lock per output keeps a second run off it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pmcomm_llm.batch.records import (
    Appender,
    OutputScan,
    compact,
    output_record,
    rejected_path,
    render_markdown,
    scan_output,
)
from pmcomm_llm.core.draft import Draft
from pmcomm_llm.core.errors import AuthenticationError, ConfigError, EnvironmentFault, PmcommError, RunIntegrityError
from pmcomm_llm.core.files import (
    MARKDOWN_MARKER,
    RunLock,
    atomic_write_text,
    environment_fault,
    refuse_foreign,
    refuse_same_file,
)
from pmcomm_llm.core.inputs import InputItem, describe_error, error_record, prepare, read_items
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.drafting.chain import OFFLINE_MODEL, Drafter

__all__ = ["BatchSummary", "ItemResult", "adraft_many", "draft_many", "RunOptions", "RunPlan", "run_file", "arun_file", "default_errors_path", "estimate_tokens",
           "fit_concurrency", "plan_run", "summary_path"]

_FD_RESERVE = 64
"""File descriptors kept free for the output, errors, cache and lazily imported modules."""
_FD_PER_WORKER = 2
"""A worker holds one connection; the second covers the pool's keep-alive slack."""


@dataclass(slots=True)
class ItemResult:
    item_id: str | None
    where: str
    draft: Draft | None = None
    error: dict[str, Any] | None = None
    scenario: Scenario | None = None


@dataclass(slots=True)
class BatchSummary:
    drafted: int = 0
    skipped: int = 0
    failed: int = 0
    flagged: int = 0
    stopped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"drafted": self.drafted, "skipped": self.skipped, "failed": self.failed,
                "flagged": self.flagged, "stopped": self.stopped, **self.extra}


async def adraft_many(scenarios: Iterable[Scenario | dict[str, Any]], drafter: Drafter | None = None, *,
                      concurrency: int | None = None) -> list[ItemResult]:
    """Draft many scenarios concurrently; one result per input, in input order, errors kept (never raised).

    An authentication failure stops the run: the remaining items are reported as not run.
    """
    from pmcomm_llm.drafting.chain import Drafter

    drafter = drafter or Drafter()
    items = [InputItem(i, f"item {i + 1}", data=s if isinstance(s, dict) else s.model_dump(mode="json"))
             for i, s in enumerate(scenarios)]
    results: list[ItemResult | None] = [None] * len(items)
    limit = asyncio.Semaphore(concurrency or drafter.settings.concurrency)
    stop = asyncio.Event()

    async def one(item: InputItem, scenario: Scenario) -> None:
        async with limit:
            if stop.is_set():
                results[item.position] = ItemResult(scenario.id, item.where, error=error_record(
                    item, item_id=scenario.id, stage="drafting", message="not run: the run stopped earlier"),
                    scenario=scenario)
                return
            try:
                draft = await drafter.adraft(scenario)
                results[item.position] = ItemResult(scenario.id, item.where, draft=draft, scenario=scenario)
            except (AuthenticationError, ConfigError) as exc:
                stop.set()
                results[item.position] = ItemResult(scenario.id, item.where, scenario=scenario,
                                                    error=error_record(item, item_id=scenario.id,
                                                                       stage="drafting", exc=exc))
            except PmcommError as exc:
                results[item.position] = ItemResult(scenario.id, item.where, scenario=scenario,
                                                    error=error_record(item, item_id=scenario.id,
                                                                       stage="drafting", exc=exc))

    tasks = []
    for item, scenario, error in prepare(items):
        if error is not None:
            results[item.position] = ItemResult(error.get("id"), item.where, error=error)
        else:
            assert scenario is not None
            tasks.append(one(item, scenario))
    await asyncio.gather(*tasks)
    return [r for r in results if r is not None]


def draft_many(scenarios: Iterable[Scenario | dict[str, Any]], drafter: Drafter | None = None, *,
               concurrency: int | None = None) -> list[ItemResult]:
    """Synchronous :func:`adraft_many`."""
    from pmcomm_llm.core.aio import run_sync

    return run_sync(adraft_many(list(scenarios), drafter, concurrency=concurrency))


@dataclass(slots=True)
class RunOptions:
    output: Path
    errors: Path | None = None
    fmt: str = "jsonl"
    quiet: bool = False
    resume: bool = True
    evaluate: bool = False
    """Attach the rubric evaluation (deterministic checks) to each output line."""
    cache: bool = True
    """Reuse drafts from the persistent cache (model backends only); ``--no-cache`` turns it off."""
    summary: bool = True
    """Write ``OUT.summary.json`` (counts, tokens, estimated cost) beside the output."""
    redraft_flagged: bool = False
    """Ask the model again for drafts the guard flagged, in the output and in the cache (``--redraft-flagged``)."""
    on_notice: Callable[[str], None] | None = field(default=None)
    """Called with each notice (a line set aside, concurrency lowered); by default printed unless quiet."""


def _stem(output: Path) -> str:
    return output.name[: -len(output.suffix)] if output.suffix else output.name


def default_errors_path(output: Path) -> Path:
    return output.with_name(f"{_stem(output)}.errors.jsonl")


def summary_path(output: Path) -> Path:
    return output.with_name(f"{_stem(output)}.summary.json")


def _count_lines(source: str) -> int | None:
    """The item count of a JSONL file, cheaply, for the progress ETA (None when not known up front)."""
    path = Path(source)
    if source == "-" or path.suffix.lower() != ".jsonl" or not path.is_file():
        return None
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def fit_concurrency(requested: int) -> tuple[int, str | None]:
    """Raise the open-file limit to its hard limit and keep concurrency below it; say when it had to be lowered."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has no RLIMIT_NOFILE
        return requested, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _FD_RESERVE + _FD_PER_WORKER * requested
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return requested, None
    fitted = max(1, (soft - _FD_RESERVE) // _FD_PER_WORKER)
    return fitted, (f"concurrency lowered from {requested} to {fitted}: the open-file limit is {soft} "
                    f"(hard limit {hard}); raise it with `ulimit -n` to run more at once")


def _summary_is_ours(obj: Any) -> bool:
    return isinstance(obj, dict) and "drafted" in obj and "failed" in obj


async def arun_file(source: str, settings: Settings, options: RunOptions) -> BatchSummary:
    """Draft every item of ``source`` into ``options.output``; see the module docstring for the guarantees."""
    output = options.output
    errors_path = options.errors or default_errors_path(output)
    paths: dict[str, Path] = {"output": output, "errors": errors_path}
    if options.summary and options.fmt == "jsonl":
        paths["summary"] = summary_path(output)
    refuse_same_file(source, **paths)
    with RunLock(output):
        refuse_foreign(output, "markdown" if options.fmt == "md" else "output")
        refuse_foreign(errors_path, "errors")
        if "summary" in paths:
            refuse_foreign(paths["summary"], "summary", is_ours=_summary_is_ours)
        return await _Run(source, settings, options, errors_path).run()


class _Run:
    """One run's state: the workers, the two journals, the counts that prove the invariant."""

    def __init__(self, source: str, settings: Settings, options: RunOptions, errors_path: Path) -> None:
        self.started = time.monotonic()
        self.source = source
        self.options = options
        self.errors_path = errors_path
        self.notices: list[str] = []
        concurrency, note = fit_concurrency(settings.concurrency)
        if note:
            self.notice(note)
            settings = settings.model_copy(update={"concurrency": concurrency})
        self.settings = settings
        self.drafter = Drafter(settings, notice=None if options.quiet else self.notice)
        self.summary = BatchSummary()
        self.stop: EnvironmentFault | PmcommError | None = None
        self.read = self.not_run = 0
        self.out: Appender | None = None
        self.errs: Appender | None = None
        self.cache: Any = None
        self.fingerprint: dict[str, Any] = {}
        from pmcomm_llm.core.draft import Usage
        from pmcomm_llm.core.progress import Progress

        self.usage = Usage()
        self.progress = Progress(_count_lines(source), quiet=options.quiet)

    def notice(self, message: str) -> None:
        self.notices.append(message)
        if self.options.on_notice is not None:
            self.options.on_notice(message)
        elif not self.options.quiet:
            print(f"pmcomm: {message}", file=sys.stderr)

    # -- setup -------------------------------------------------------------------------------------------

    def _open(self) -> OutputScan:
        options = self.options
        resume = options.resume and options.fmt == "jsonl"
        scan = scan_output(options.output) if resume else OutputScan()
        if scan.rejected:
            lines = ", ".join(str(n) for n in scan.rejected[:10]) + (" …" if len(scan.rejected) > 10 else "")
            self.notice(f"{options.output}: {len(scan.rejected)} line(s) were not valid drafts (line {lines}); "
                        f"kept aside in {rejected_path(options.output)}, the rest resumes")
        self.out = Appender(options.output, truncate=not resume)
        if options.fmt == "md":
            self.out.write(MARKDOWN_MARKER + "\n\n")
            self.out.count = 0
        try:
            if self.errors_path.exists():
                self.errors_path.unlink()  # ours (checked): this run's errors replace the last run's
        except OSError as exc:
            raise environment_fault(exc, self.errors_path, "replace") from None
        if options.cache and self.drafter.backend != "offline":
            from pmcomm_llm.batch.cache import DraftCache

            self.cache = DraftCache()
            self.fingerprint = self.settings.fingerprint()
        self._warm_up()
        return scan

    def _warm_up(self) -> None:
        """Load what every worker needs before the first item (see :func:`pmcomm_llm.evaluation.checks.preload`)."""
        from pmcomm_llm.evaluation.checks import preload

        preload()
        if self.options.evaluate:
            from pmcomm_llm.evaluation.rubric import load_rubric
            from pmcomm_llm.evaluation.scoring import evaluate  # noqa: F401

            load_rubric()
        if self.drafter.backend != "offline":
            import pmcomm_llm.providers.transport  # noqa: F401

    # -- writing -----------------------------------------------------------------------------------------

    def write_record(self, scenario: Scenario, record: dict[str, Any], landed: list[bool]) -> None:
        assert self.out is not None
        if self.options.evaluate:
            from pmcomm_llm.evaluation.scoring import evaluate
            from pmcomm_llm.grounding.checks import Candidate

            d = record["draft"]
            candidate = Candidate(d["subject"], d["body"], tuple(a["offer_id"] for a in d["alternatives"]))
            verdict = evaluate(candidate, scenario, draft_id=scenario.id)
            record["evaluation"] = verdict.model_dump(mode="json", include={"score", "passed", "blocking_failures",
                                                                            "checks"})
        text = render_markdown(record) if self.options.fmt == "md" else json.dumps(record, ensure_ascii=False)
        self.out.write(text + "\n")
        landed[0] = True
        self.summary.drafted += 1
        self.summary.flagged += not record["meta"]["guard"]["passed"]
        self.progress.update(done=1)

    def write_error(self, record: dict[str, Any], landed: list[bool] | None = None) -> None:
        if self.errs is None:
            self.errs = Appender(self.errors_path, truncate=False)
        self.errs.write(json.dumps(record, ensure_ascii=False) + "\n")
        if landed is not None:
            landed[0] = True
        self.summary.failed += 1
        self.progress.update(failed=1)
        # errors are what --quiet still prints (its help says so)
        print(("\n" if self.progress.tty and not self.options.quiet else "") + "pmcomm: " + describe_error(record),
              file=sys.stderr)

    def halt(self, exc: PmcommError) -> None:
        if self.stop is None:
            self.stop = exc

    # -- the work ----------------------------------------------------------------------------------------

    async def draft_one(self, item: InputItem, scenario: Scenario, landed: list[bool]) -> None:
        from pmcomm_llm.batch.cache import cache_key

        key = cache_key(self.fingerprint, self.drafter.prompts.version, scenario.content_hash()) if self.cache else ""
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None and not (self.options.redraft_flagged and not cached["meta"]["guard"]["passed"]):
            cached["id"] = scenario.id
            self.write_record(scenario, cached, landed)
            return
        try:
            draft = await self.drafter.adraft(scenario)
        except (AuthenticationError, ConfigError) as exc:
            self.halt(exc)
            self.not_run += 1  # accounted for: left for the next run
            landed[0] = True
            return
        except EnvironmentFault:
            raise
        except PmcommError as exc:
            from pmcomm_llm.core.draft import Usage

            spent = getattr(exc, "usage", None)
            if isinstance(spent, Usage):
                self.usage = self.usage.add(spent)
            self.write_error(error_record(item, item_id=scenario.id, stage="drafting", exc=exc), landed)
            return
        self.usage = self.usage.add(draft.meta.usage)
        record = output_record(draft, scenario.id or "")
        if self.cache is not None:
            self.cache.put(key, record)  # before the output: paid work survives a failed write
        self.write_record(scenario, record, landed)

    async def worker(self, queue: asyncio.Queue[tuple[InputItem, Scenario] | None]) -> None:
        while True:
            job = await queue.get()
            if job is None:
                return
            item, scenario = job
            if self.stop is not None:
                self.not_run += 1  # not attempted: stays out of both files, so a re-run picks it up
                continue
            landed = [False]
            try:
                await self.draft_one(item, scenario, landed)
            except EnvironmentFault as exc:
                self.halt(exc)
                self.not_run += not landed[0]
            except OSError as exc:
                self.halt(environment_fault(exc, None, "go on"))
                self.not_run += not landed[0]
            except Exception as exc:  # noqa: BLE001 - a bug or a reply nobody foresaw: this item's error only
                if landed[0]:
                    continue
                try:
                    self.write_error(error_record(item, item_id=scenario.id, stage="internal", exc=exc,
                                                  message=f"unexpected {type(exc).__name__}: {exc}"[:500]))
                except EnvironmentFault as fault:
                    self.halt(fault)
                    self.not_run += 1

    async def feed(self, queue: asyncio.Queue[tuple[InputItem, Scenario] | None], scan: OutputScan) -> set[str]:
        stale: set[str] = set()
        for item, scenario, error in prepare(read_items(self.source)):
            if self.stop is not None:
                break
            self.read += 1
            if error is not None:
                self.write_error(error)
                continue
            assert scenario is not None and scenario.id is not None
            previous = scan.done.get(scenario.id)
            if previous is not None:
                redo = self.options.redraft_flagged and scenario.id in scan.flagged
                if previous == scenario.content_hash()[:16] and not redo:
                    self.summary.skipped += 1
                    self.progress.update(skipped=1)
                    continue
                stale.add(scenario.id)  # edited (or flagged, redrafted): its old line is removed at the end
            await queue.put((item, scenario))
        return stale

    async def run(self) -> BatchSummary:
        scan = self._open()
        concurrency = self.settings.concurrency
        queue: asyncio.Queue[tuple[InputItem, Scenario] | None] = asyncio.Queue(maxsize=concurrency * 2)
        workers = [asyncio.create_task(self.worker(queue)) for _ in range(concurrency)]
        stale: set[str] = set()
        unreadable: PmcommError | None = None
        try:
            try:
                stale = await self.feed(queue, scan)
            except EnvironmentFault as exc:
                self.halt(exc)
            except PmcommError as exc:  # the input broke off midway: finish what was read, then say so
                unreadable = exc
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()  # Ctrl-C: do not wait for calls in flight; finished items are already saved
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            self._close()
        if stale and self.out is not None and self.out.count:
            compact(self.options.output)
        self._check_invariant()
        summary = self._finish()
        if unreadable is not None:
            raise unreadable
        return summary

    def _close(self) -> None:
        for journal in (self.out, self.errs):
            if journal is not None:
                journal.close()
        self.progress.close()
        if self.cache is not None:
            self.summary.extra["cache"] = {"hits": self.cache.hits, "misses": self.cache.misses}
            self.cache.close()

    def _check_invariant(self) -> None:
        written = (self.out.count if self.out else 0) + (self.errs.count if self.errs else 0)
        if self.read != self.summary.skipped + written + self.not_run:
            raise RunIntegrityError(
                f"internal error: {self.read} items read but {self.summary.skipped} skipped + {written} written + "
                f"{self.not_run} not run; the output is resumable, please report this")

    def _finish(self) -> BatchSummary:
        from pmcomm_llm.batch.cost import estimate_cost, is_local_endpoint

        summary, drafter, options = self.summary, self.drafter, self.options
        offline = drafter.backend == "offline"
        summary.stopped = str(self.stop) if self.stop is not None else None
        model = self.settings.model if not offline else OFFLINE_MODEL
        summary.extra.update({
            "read": self.read, "not_run": self.not_run, "notices": self.notices,
            "usage": self.usage.model_dump(),
            "estimated_cost_usd": 0.0 if offline else None if is_local_endpoint(self.settings.base_url)
            else estimate_cost(self.usage, model),
            "model": model,
            "prompt_version": drafter.prompts.version, "wall_s": round(time.monotonic() - self.started, 3),
            "output": str(options.output), "errors": str(self.errors_path),
        })
        if options.summary and options.fmt == "jsonl":
            atomic_write_text(summary_path(options.output),
                              json.dumps(summary.as_dict(), ensure_ascii=False, indent=1) + "\n")
        if not options.quiet:
            self._report()
        return summary

    def _report(self) -> None:
        summary, usage = self.summary, self.usage
        cost = summary.extra["estimated_cost_usd"]
        from pmcomm_llm.batch.cost import is_local_endpoint

        cost_text = (f"${cost:.4f}" if cost is not None else "n/a (a local endpoint)"
                     if is_local_endpoint(self.settings.base_url) else "n/a (model not in prompts/prices.yaml)")
        print(f"pmcomm: drafted {summary.drafted}, skipped {summary.skipped} (already done), failed "
              f"{summary.failed}, flagged by the guard {summary.flagged} → {self.options.output}"
              + (f" (errors: {self.errors_path})" if summary.failed else "")
              + (f"; {self.not_run} not run (run the same command again to resume)" if self.not_run else ""),
              file=sys.stderr)
        if self.drafter.backend != "offline":
            hits = summary.extra.get("cache", {}).get("hits", 0)
            print(f"pmcomm: tokens in {usage.input_tokens}, out {usage.output_tokens} over {usage.calls} calls; "
                  f"estimated cost {cost_text}; cache hits {hits}", file=sys.stderr)


def run_file(source: str, settings: Settings, options: RunOptions) -> BatchSummary:
    return asyncio.run(arun_file(source, settings, options))


@dataclass(slots=True)
class RunPlan:
    """What a run would do, found without calling the model (``pmcomm draft --dry-run``)."""

    backend: str
    model: str
    endpoint: str
    items: int = 0
    invalid: int = 0
    already_done: int = 0
    calls: int = 0
    """Model calls of the first attempts; each re-ask adds one (at most ``max_reasks`` per reason)."""
    max_calls: int = 0
    estimated_input_tokens: int = 0
    estimated_cost_usd: float | None = None
    cost_note: str = ""
    first_prompt: list[dict[str, str]] = field(default_factory=list)


def estimate_tokens(text: str) -> int:
    """A rough count for planning only (no tokenizer is downloaded): a CJK character is about one token, other
    text about four characters to a token. Real runs count tokens from the API's usage fields."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\uffef")
    return cjk + (len(text) - cjk + 3) // 4


def plan_run(source: str, settings: Settings, options: RunOptions) -> RunPlan:
    """Validate ``source``, skip what ``options.output`` already holds, render the first prompt, and estimate the
    calls, tokens and cost of drafting the rest — without a model call or a file written."""
    from pmcomm_llm.batch.cost import estimate_cost, is_local_endpoint
    from pmcomm_llm.core.draft import Usage
    from pmcomm_llm.core.settings import redact_url
    from pmcomm_llm.prompting.prompts import load_prompts

    offline = settings.effective_backend == "offline"
    plan = RunPlan(backend=settings.effective_backend, model=OFFLINE_MODEL if offline else settings.model,
                   endpoint="" if offline else (redact_url(settings.base_url) or "https://api.openai.com/v1"))
    done = scan_output(options.output, repair=False).done if options.resume and options.output.exists() else {}
    prompts = load_prompts()
    for _item, scenario, error in prepare(read_items(source)):
        if error is not None:
            plan.invalid += 1
            continue
        assert scenario is not None and scenario.id is not None
        plan.items += 1
        if done.get(scenario.id) == scenario.content_hash()[:16] and not options.redraft_flagged:
            plan.already_done += 1
            continue
        messages = prompts.messages(scenario)
        if not plan.first_prompt:
            plan.first_prompt = [{"role": "system" if m.type == "system" else "user", "content": str(m.content)}
                                 for m in messages]
        plan.estimated_input_tokens += sum(estimate_tokens(str(m.content)) for m in messages)
    to_draft = plan.items - plan.already_done
    if offline:
        plan.cost_note = "offline: no model calls, no cost"
        return plan
    plan.calls = to_draft
    plan.max_calls = to_draft * (1 + 2 * settings.max_reasks)  # invalid-output and guard re-asks, each bounded
    if is_local_endpoint(settings.base_url):
        plan.cost_note = "a local endpoint: no dollar cost"
    else:
        plan.estimated_cost_usd = estimate_cost(Usage(input_tokens=plan.estimated_input_tokens), plan.model)
        plan.cost_note = ("input tokens only, first attempts only; output and re-asks add to it"
                          if plan.estimated_cost_usd is not None else "model not in prompts/prices.yaml")
    return plan
