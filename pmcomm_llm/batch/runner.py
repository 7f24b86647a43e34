"""Drafting many items: one runner behind ``draft_many``, ``pmcomm draft`` and the Batch API's collection.

A :class:`Runner` drafts jobs on one event loop with a fixed pool of workers fed through a bounded queue, so
memory stays flat however long the input. What turns a job into a draft is its *maker* (``Drafter.adraft``,
the draft cache in front of it, or ``Drafter.finish`` over a downloaded Batch API answer); where each outcome
goes is its *sink* (a list of results for the Python API, or the :class:`Journal` of output and errors files,
each finished item appended with a single write, immediately). Running ``pmcomm draft`` again skips the items
already in the output whose content is unchanged (see :class:`~pmcomm_llm.batch.records.Resume`).

The invariant — every item read ends exactly once in the output or the errors file, or (when the run stopped)
is left for the next run — is counted by the file run after every run, not hoped for:

* a worker never dies: an unexpected exception becomes that item's error record and the run goes on;
* a fault of the machine (disk full, read-only path, corrupt cache) stops the run at once with one message,
  and the same command resumes; an authentication or configuration error stops it the same way;
* Ctrl-C cancels the workers instead of waiting for them;
* the output and errors paths are checked before anything is written (never the input, never a file pmcomm
  did not write), and one advisory lock per output keeps a second run off it.

Nothing here prints: a run reports through :class:`RunEvents` (the CLI renders them), its summary and its
exceptions.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Container, Coroutine, Iterable, Iterator, ParamSpec, Protocol, TypeVar

from pmcomm_llm.batch.records import (
    Appender,
    OutputScan,
    Resume,
    compact,
    encode_record,
    output_record,
    rejected_path,
    render_markdown,
    scan_output,
)
from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.draft import Draft, Usage
from pmcomm_llm.core.errors import (
    AuthenticationError,
    ConfigError,
    EnvironmentFault,
    PmcommError,
    ProviderError,
    RunIntegrityError,
)
from pmcomm_llm.core.files import (
    MARKDOWN_MARKER,
    RunLock,
    atomic_write_text,
    environment_fault,
    refuse_foreign,
    refuse_same_file,
)
from pmcomm_llm.core.inputs import InputItem, error_record, prepare, read_items
from pmcomm_llm.core.progress import Progress
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.drafting.chain import OFFLINE_MODEL, Drafter

__all__ = ["BatchSummary", "ItemResult", "Job", "Journal", "RunEvents", "RunOptions", "RunPlan", "Runner",
           "adraft_many", "arun_file", "default_errors_path", "draft_many", "estimate_tokens", "failure_record",
           "fit_concurrency", "plan_run", "run_file", "summary_path", "synchronous"]

P = ParamSpec("P")
T = TypeVar("T")

_FD_RESERVE = 64
"""File descriptors kept free for the output, errors, cache and lazily imported modules."""
_FD_PER_WORKER = 2
"""A worker holds one connection; the second covers the pool's keep-alive slack."""


def synchronous(afn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of a coroutine function, so no verb is written twice (works inside Jupyter too)."""

    @functools.wraps(afn)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(afn(*args, **kwargs))

    blocking.__name__ = blocking.__qualname__ = afn.__name__.removeprefix("a")
    blocking.__doc__ = f"Synchronous :func:`{afn.__name__}`. " + (afn.__doc__ or "")
    return blocking


# -- what a run reports ----------------------------------------------------------------------------------


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


class RunEvents:
    """What a run tells as it goes. The library calls these and prints nothing; ``pmcomm draft`` renders them
    on stderr. Override (or duck-type) what you want to hear; the defaults ignore everything."""

    def notice(self, message: str) -> None:
        """Something worth a line: lines of the output set aside, concurrency lowered."""

    def failed(self, record: dict[str, Any]) -> None:
        """An item's error record, as just written to the errors file."""

    def progressed(self, progress: Progress) -> None:
        """Called after every item (skipped ones too): throttling the display is the listener's business."""


# -- the runner ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Job:
    """One item to draft, and (Batch API) the answer it was given; ``landed`` once its outcome is written."""

    item: InputItem | None
    item_id: str
    scenario: Scenario | None = None
    stage: str = "drafting"
    extra: dict[str, Any] = field(default_factory=dict)
    """Added to the job's error record (the Batch API's ``batch_id``)."""
    payload: Any = None
    landed: bool = False


def failure_record(job: Job, exc: BaseException | None, *, stage: str | None = None,
                   message: str | None = None) -> dict[str, Any]:
    """The errors-file line of a job that failed (its item, stage, error type, reason, and HTTP status if any)."""
    record = error_record(job.item, item_id=job.item_id, stage=stage or job.stage, exc=exc, message=message)
    record.update(job.extra)
    if isinstance(exc, ProviderError) and exc.status_code is not None:
        record["status_code"] = exc.status_code
    return record


class Maker(Protocol):
    async def make(self, job: Job) -> Draft | dict[str, Any]:
        """The job's draft, or its output record as stored (a cache hit); raises what went wrong."""


class Sink(Protocol):
    def drafted(self, job: Job, result: Draft | dict[str, Any]) -> None: ...

    def failed(self, job: Job, exc: BaseException, *, stage: str | None = None,
               message: str | None = None) -> None: ...

    def not_run(self, job: Job, exc: BaseException | None) -> None: ...


class Runner:
    """A fixed pool of workers fed through a bounded queue; every job ends once in the sink — drafted, failed,
    or not run because the run stopped (an authentication or configuration error, a fault of the machine)."""

    def __init__(self, maker: Maker, sink: Sink, *, concurrency: int, drain: bool = False) -> None:
        self.maker = maker
        self.sink = sink
        self.concurrency = max(1, concurrency)
        self.drain = drain
        """After a stop, keep taking jobs and report each not run (one result per input for ``draft_many``)."""
        self.stop: PmcommError | None = None
        self.unreadable: PmcommError | None = None
        """The input broke off midway: what was read is finished, then the caller raises this."""

    async def run(self, jobs: Iterable[Job]) -> None:
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        try:
            await self._feed(queue, jobs)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()  # Ctrl-C: do not wait for calls in flight; finished items are already saved
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _feed(self, queue: asyncio.Queue[Job | None], jobs: Iterable[Job]) -> None:
        try:
            for job in jobs:
                if self.stop is not None and not self.drain:
                    self.sink.not_run(job, None)  # read, not attempted: a re-run picks it up
                    return
                await queue.put(job)
        except EnvironmentFault as exc:
            self.stop = self.stop or exc
        except PmcommError as exc:
            self.unreadable = exc

    async def _worker(self, queue: asyncio.Queue[Job | None]) -> None:
        while (job := await queue.get()) is not None:
            if self.stop is not None:
                self.sink.not_run(job, None)  # not attempted: stays out of both files, so a re-run picks it up
            else:
                await self._one(job)

    async def _one(self, job: Job) -> None:
        try:
            await self._attempt(job)
        except EnvironmentFault as exc:
            self._halt(job, exc)
        except OSError as exc:
            self._halt(job, environment_fault(exc, None, "go on"))
        except Exception as exc:  # noqa: BLE001 - a bug or a reply nobody foresaw: this item's error only
            if not job.landed:
                try:
                    self.sink.failed(job, exc, stage="internal",
                                     message=f"unexpected {type(exc).__name__}: {exc}"[:500])
                except EnvironmentFault as fault:
                    self._halt(job, fault)

    async def _attempt(self, job: Job) -> None:
        try:
            result = await self.maker.make(job)
        except (AuthenticationError, ConfigError) as exc:
            self._halt(job, exc)  # every other item would fail the same way
            return
        except EnvironmentFault:
            raise
        except PmcommError as exc:
            self.sink.failed(job, exc)
            return
        self.sink.drafted(job, result)

    def _halt(self, job: Job, exc: PmcommError) -> None:
        if self.stop is None:
            self.stop = exc
        if not job.landed:
            self.sink.not_run(job, exc)


class _Online:
    """The maker of a live run: the drafter (a model, or offline templates)."""

    def __init__(self, drafter: Drafter) -> None:
        self.drafter = drafter

    async def make(self, job: Job) -> Draft:
        assert job.scenario is not None
        return await self.drafter.adraft(job.scenario)


class _Cached:
    """The drafter behind the persistent draft cache: a hit is the record as written before; a miss is drafted
    and stored before it is written, so paid work survives a failed write."""

    def __init__(self, drafter: Drafter, cache: Any, fingerprint: dict[str, Any], *, redraft_flagged: bool) -> None:
        self.drafter = drafter
        self.cache = cache
        self.fingerprint = fingerprint
        self.redraft_flagged = redraft_flagged

    async def make(self, job: Job) -> Draft | dict[str, Any]:
        from pmcomm_llm.batch.cache import cache_key

        assert job.scenario is not None
        key = cache_key(self.fingerprint, self.drafter.prompts.version, job.scenario.content_hash())
        cached = self.cache.get(key)
        if cached is not None and not (self.redraft_flagged and not cached["meta"]["guard"]["passed"]):
            cached["id"] = job.item_id
            return cached
        draft = await self.drafter.adraft(job.scenario)
        self.cache.put(key, output_record(draft, job.item_id))
        return draft


# -- the Python API --------------------------------------------------------------------------------------


class _Results:
    """``draft_many``'s sink: one :class:`ItemResult` per input, in input order, errors kept (never raised)."""

    def __init__(self, items: list[InputItem]) -> None:
        self.items = items
        self.results: list[ItemResult | None] = [None] * len(items)

    def jobs(self) -> Iterator[Job]:
        for item, scenario, error in prepare(self.items):
            if error is not None:
                self.results[item.position] = ItemResult(error.get("id"), item.where, error=error)
            else:
                assert scenario is not None and scenario.id is not None
                yield Job(item, scenario.id, scenario)

    def _put(self, job: Job, **outcome: Any) -> None:
        assert job.item is not None
        self.results[job.item.position] = ItemResult(job.item_id, job.item.where, scenario=job.scenario, **outcome)
        job.landed = True

    def drafted(self, job: Job, result: Draft | dict[str, Any]) -> None:
        self._put(job, draft=result)

    def failed(self, job: Job, exc: BaseException, *, stage: str | None = None, message: str | None = None) -> None:
        self._put(job, error=failure_record(job, exc, stage=stage, message=message))

    def not_run(self, job: Job, exc: BaseException | None) -> None:
        message = None if exc is not None else "not run: the run stopped earlier"
        self._put(job, error=failure_record(job, exc, message=message))

    def collected(self) -> list[ItemResult]:
        return [r for r in self.results if r is not None]


async def adraft_many(scenarios: Iterable[Scenario | dict[str, Any]], drafter: Drafter | None = None, *,
                      concurrency: int | None = None) -> list[ItemResult]:
    """Draft many scenarios concurrently; one result per input, in input order, errors kept (never raised).

    An authentication failure stops the run: the remaining items are reported as not run.
    """
    drafter = drafter or Drafter()
    items = [InputItem(i, f"item {i + 1}", data=s if isinstance(s, dict) else s.model_dump(mode="json"))
             for i, s in enumerate(scenarios)]
    results = _Results(items)
    runner = Runner(_Online(drafter), results, concurrency=concurrency or drafter.settings.concurrency, drain=True)
    await runner.run(results.jobs())
    return results.collected()


draft_many = synchronous(adraft_many)


# -- the output and errors files -------------------------------------------------------------------------


class Journal:
    """The output and errors files of a run: each job lands once, in one of them, with one write, and the
    counts that prove it. The errors file is opened at the first error."""

    def __init__(self, output: Path, errors: Path, *, truncate: bool, fmt: str = "jsonl", evaluate: bool = False,
                 events: RunEvents | None = None, progress: Progress | None = None,
                 previous: Container[str] = ()) -> None:
        self.out = Appender(output, truncate=truncate)
        if fmt == "md":
            self.out.write(MARKDOWN_MARKER + "\n\n")
            self.out.count = 0
        self.errors_path = errors
        self.errs: Appender | None = None
        self.fmt = fmt
        self.evaluate = evaluate
        self.events = events or RunEvents()
        self.progress = progress or Progress(None)
        self.previous = previous
        """Ids the output held before: drafting one again leaves an older line to compact away."""
        self.summary = BatchSummary()
        self.usage = Usage()
        self.left = 0
        """Jobs not run (the run stopped): in neither file, so the next run drafts them."""
        self.superseded = False

    @property
    def written(self) -> int:
        return self.out.count + (self.errs.count if self.errs is not None else 0)

    def drafted(self, job: Job, result: Draft | dict[str, Any]) -> None:
        digest = job.item.digest if job.item is not None else None
        if isinstance(result, Draft):
            self.usage = self.usage.add(result.meta.usage)
            record = output_record(result, job.item_id, digest)
        else:
            record = result
            record["meta"].pop("input_hash", None)  # a cache hit: drafted for another item of the same content
            if digest is not None:
                record["meta"]["input_hash"] = digest
        if self.evaluate and job.scenario is not None:
            record["evaluation"] = _evaluation(record, job.scenario)
        self.out.write(render_markdown(record) + "\n" if self.fmt == "md" else encode_record(record))
        job.landed = True
        self.summary.drafted += 1
        self.summary.flagged += not record["meta"]["guard"]["passed"]
        self.superseded |= job.item_id in self.previous
        self._advance(done=1)

    def failed(self, job: Job, exc: BaseException, *, stage: str | None = None, message: str | None = None) -> None:
        spent = getattr(exc, "usage", None)
        if isinstance(spent, Usage):
            self.usage = self.usage.add(spent)
        self.reject(failure_record(job, exc, stage=stage, message=message), job)

    def reject(self, record: dict[str, Any], job: Job | None = None) -> None:
        """Write an error record (an input error has no job)."""
        try:
            if self.errs is None:
                self.errs = Appender(self.errors_path, truncate=False)
            self.errs.write(json.dumps(record, ensure_ascii=False) + "\n")
        except EnvironmentFault:
            if job is None:
                self.left += 1  # an input error that could not be written: the next run finds it again
            raise
        if job is not None:
            job.landed = True
        self.summary.failed += 1
        self.events.failed(record)
        self._advance(failed=1)

    def not_run(self, job: Job, exc: BaseException | None) -> None:
        self.left += 1

    def skipped(self) -> None:
        self.summary.skipped += 1
        self._advance(skipped=1)

    def _advance(self, *, done: int = 0, failed: int = 0, skipped: int = 0) -> None:
        self.progress.update(done=done, failed=failed, skipped=skipped)
        self.events.progressed(self.progress)

    def close(self) -> None:
        for journal in (self.out, self.errs):
            if journal is not None:
                journal.close()


def _evaluation(record: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """``--eval``: the rubric's deterministic verdict on the record's draft."""
    from pmcomm_llm.evaluation.scoring import evaluate
    from pmcomm_llm.grounding.checks import Candidate

    d = record["draft"]
    candidate = Candidate(d["subject"], d["body"], tuple(a["offer_id"] for a in d["alternatives"]))
    verdict = evaluate(candidate, scenario, draft_id=scenario.id)
    return verdict.model_dump(mode="json", include={"score", "passed", "blocking_failures", "checks"})


# -- pmcomm draft: a file in, a file out -----------------------------------------------------------------


@dataclass(slots=True)
class RunOptions:
    output: Path
    errors: Path | None = None
    fmt: str = "jsonl"
    resume: bool = True
    evaluate: bool = False
    """Attach the rubric evaluation (deterministic checks) to each output line."""
    cache: bool = True
    """Reuse drafts from the persistent cache (model backends only); ``--no-cache`` turns it off."""
    summary: bool = True
    """Write ``OUT.summary.json`` (counts, tokens, estimated cost) beside the output."""
    redraft_flagged: bool = False
    """Ask the model again for drafts the guard flagged, in the output and in the cache (``--redraft-flagged``)."""
    events: RunEvents | None = None
    """Hears the notices, errors and progress of the run (``pmcomm draft`` prints them); None hears nothing."""
    clock: Callable[[], float] = time.monotonic
    """Times the run (``wall_s``) and its progress rate; tests pass their own."""


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
        return sum(chunk.count(b"\n") for chunk in iter(functools.partial(handle.read, 1 << 20), b""))


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
        return await _FileRun(source, settings, options, errors_path).run()


run_file = synchronous(arun_file)


class _FileRun:
    """One ``pmcomm draft`` run: resume from the output, draft the rest through the runner, prove the count."""

    def __init__(self, source: str, settings: Settings, options: RunOptions, errors_path: Path) -> None:
        self.started = options.clock()
        self.source = source
        self.options = options
        self.errors_path = errors_path
        self.events = options.events or RunEvents()
        self.notices: list[str] = []
        concurrency, note = fit_concurrency(settings.concurrency)
        if note:
            self.notice(note)
            settings = settings.model_copy(update={"concurrency": concurrency})
        self.settings = settings
        self.drafter = Drafter(settings, notice=self.notice)  # "drafting offline" is the run's notice too
        self.cache: Any = None
        self.read = 0

    def notice(self, message: str) -> None:
        self.notices.append(message)
        self.events.notice(message)

    async def run(self) -> BatchSummary:
        scan = self._scan()
        maker = self._maker()
        try:
            journal = self._open(scan)
        except BaseException:
            self._close_cache(None)
            raise
        runner = Runner(maker, journal, concurrency=self.settings.concurrency)
        try:
            await runner.run(self._jobs(journal, Resume(scan, redraft_flagged=self.options.redraft_flagged)))
        finally:
            journal.close()
            self._close_cache(journal)
        if journal.superseded:
            compact(self.options.output)  # an edited item was drafted again: keep only its newest line
        self._check_invariant(journal)
        summary = self._finish(journal, runner.stop)
        if runner.unreadable is not None:
            raise runner.unreadable
        return summary

    # -- setup -------------------------------------------------------------------------------------------

    def _scan(self) -> OutputScan:
        options = self.options
        if not (options.resume and options.fmt == "jsonl"):
            return OutputScan()
        scan = scan_output(options.output)
        if scan.rejected:
            lines = ", ".join(str(n) for n in scan.rejected[:10]) + (" …" if len(scan.rejected) > 10 else "")
            self.notice(f"{options.output}: {len(scan.rejected)} line(s) were not valid drafts (line {lines}); "
                        f"kept aside in {rejected_path(options.output)}, the rest resumes")
        return scan

    def _open(self, scan: OutputScan) -> Journal:
        options = self.options
        try:
            if self.errors_path.exists():
                self.errors_path.unlink()  # ours (checked): this run's errors replace the last run's
        except OSError as exc:
            raise environment_fault(exc, self.errors_path, "replace") from None
        progress = Progress(_count_lines(self.source), clock=options.clock)
        return Journal(options.output, self.errors_path, truncate=not (options.resume and options.fmt == "jsonl"),
                       fmt=options.fmt, evaluate=options.evaluate, events=self.events, progress=progress,
                       previous=scan.done)

    def _maker(self) -> Maker:
        if self.options.cache and self.drafter.backend != "offline":
            from pmcomm_llm.batch.cache import DraftCache

            self.cache = DraftCache()
            return _Cached(self.drafter, self.cache, self.settings.fingerprint(),
                           redraft_flagged=self.options.redraft_flagged)
        return _Online(self.drafter)

    def _warm_up(self) -> None:
        """Load what every worker needs before the first draft (see :func:`pmcomm_llm.evaluation.checks.preload`)."""
        from pmcomm_llm.evaluation.checks import preload

        preload()
        if self.options.evaluate:
            from pmcomm_llm.evaluation.rubric import load_rubric
            from pmcomm_llm.evaluation.scoring import evaluate  # noqa: F401

            load_rubric()
        if self.drafter.backend != "offline":
            import pmcomm_llm.providers.transport  # noqa: F401

    # -- the work ----------------------------------------------------------------------------------------

    def _jobs(self, journal: Journal, resume: Resume) -> Iterator[Job]:
        """The input's items that need drafting; the rest are counted skipped or written as errors here."""
        warm = False
        for item in read_items(self.source, known=resume.known):
            self.read += 1
            scenario, error = resume.classify(item)
            if error is not None:
                journal.reject(error)
            elif scenario is None:
                journal.skipped()
            else:
                if not warm:  # only a run that drafts pays for loading the checks
                    self._warm_up()
                    warm = True
                assert scenario.id is not None
                yield Job(item, scenario.id, scenario)

    # -- the end -----------------------------------------------------------------------------------------

    def _close_cache(self, journal: Journal | None) -> None:
        if self.cache is not None:
            if journal is not None:
                journal.summary.extra["cache"] = {"hits": self.cache.hits, "misses": self.cache.misses}
            self.cache.close()

    def _check_invariant(self, journal: Journal) -> None:
        skipped = journal.summary.skipped
        if self.read != skipped + journal.written + journal.left:
            raise RunIntegrityError(
                f"internal error: {self.read} items read but {skipped} skipped + {journal.written} written + "
                f"{journal.left} not run; the output is resumable, please report this")

    def _finish(self, journal: Journal, stop: PmcommError | None) -> BatchSummary:
        from pmcomm_llm.batch.cost import estimate_cost, is_local_endpoint

        summary, drafter, options = journal.summary, self.drafter, self.options
        offline = drafter.backend == "offline"
        summary.stopped = str(stop) if stop is not None else None
        model = self.settings.model if not offline else OFFLINE_MODEL
        summary.extra.update({
            "read": self.read, "not_run": journal.left, "notices": self.notices,
            "usage": journal.usage.model_dump(),
            "estimated_cost_usd": 0.0 if offline else None if is_local_endpoint(self.settings.base_url)
            else estimate_cost(journal.usage, model),
            "model": model,
            "prompt_version": drafter.prompts.version, "wall_s": round(options.clock() - self.started, 3),
            "output": str(options.output), "errors": str(self.errors_path),
        })
        if options.summary and options.fmt == "jsonl":
            atomic_write_text(summary_path(options.output),
                              json.dumps(summary.as_dict(), ensure_ascii=False, indent=1) + "\n")
        return summary


# -- pmcomm draft --dry-run ------------------------------------------------------------------------------


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
    from pmcomm_llm.core.settings import redact_url
    from pmcomm_llm.prompting.prompts import load_prompts

    offline = settings.effective_backend == "offline"
    plan = RunPlan(backend=settings.effective_backend, model=OFFLINE_MODEL if offline else settings.model,
                   endpoint="" if offline else (redact_url(settings.base_url) or "https://api.openai.com/v1"))
    scan = scan_output(options.output, repair=False) if options.resume and options.output.exists() else OutputScan()
    resume = Resume(scan, redraft_flagged=options.redraft_flagged)
    prompts = load_prompts()
    for item in read_items(source, known=resume.known):
        scenario, error = resume.classify(item)
        plan.invalid += error is not None
        plan.items += error is None
        plan.already_done += error is None and scenario is None
        if scenario is not None:
            messages = prompts.messages(scenario)
            if not plan.first_prompt:
                plan.first_prompt = [{"role": "system" if m.type == "system" else "user", "content": str(m.content)}
                                     for m in messages]
            plan.estimated_input_tokens += sum(estimate_tokens(str(m.content)) for m in messages)
    _price(plan, settings, offline)
    return plan


def _price(plan: RunPlan, settings: Settings, offline: bool) -> None:
    from pmcomm_llm.batch.cost import estimate_cost, is_local_endpoint

    to_draft = plan.items - plan.already_done
    if offline:
        plan.cost_note = "offline: no model calls, no cost"
        return
    plan.calls = to_draft
    plan.max_calls = to_draft * (1 + 2 * settings.max_reasks)  # invalid-output and guard re-asks, each bounded
    if is_local_endpoint(settings.base_url):
        plan.cost_note = "a local endpoint: no dollar cost"
    else:
        plan.estimated_cost_usd = estimate_cost(Usage(input_tokens=plan.estimated_input_tokens), plan.model)
        plan.cost_note = ("input tokens only, first attempts only; output and re-asks add to it"
                          if plan.estimated_cost_usd is not None else "model not in prompts/prices.yaml")
