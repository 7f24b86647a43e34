"""The OpenAI Batch API mode: large jobs at half the price, answered within 24 hours instead of at once.

A run has three steps, each resumable from a state file beside the output (``OUT.batch.json``):

1. **submit**: read and validate the input (bad items go to the errors file at once), skip the ids already in
   the output with the same content hash, write the chat-completions requests as JSONL split into jobs that fit
   the Batch API limits, upload each job (``purpose="batch"``) and create its batch. The state is saved before
   and after every upload and every create, so a killed process never uploads or creates a job twice; a call
   that may have gone through before a kill or a timeout is looked up on the server before it is repeated.
2. **poll**: retrieve every batch with capped exponential backoff until each is terminal.
3. **collect**: download the output and error files, map each line back to its scenario by ``custom_id``,
   and hand each request to the same :class:`~pmcomm_llm.batch.runner.Runner` and
   :class:`~pmcomm_llm.batch.runner.Journal` as ``pmcomm draft``: the answer is validated and guarded exactly
   as the online path does (``Drafter.finish``) and every item is appended once, to the output or to the
   errors file with the reason. A collected job is marked so, so collecting twice writes nothing the second
   time.

Every verb is a coroutine function (``asubmit``, ``apoll``, ``acollect`` …); ``submit``, ``poll``, ``collect`` …
are their blocking twins, made by one wrapper (:func:`~pmcomm_llm.batch.runner.synchronous`).

The requests are built by the same :class:`~pmcomm_llm.drafting.chain.Drafter` binding as the online path, so a batch
drafts what an online run would have drafted (first attempt; there are no re-asks in a batch).
The state file holds ids, hashes and the settings fingerprint, never the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator, TypeVar

import openai
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from pmcomm_llm.batch.records import Appender, Resume, compact, scan_output
from pmcomm_llm.batch.runner import BatchSummary, Job, Journal, Runner, default_errors_path, synchronous
from pmcomm_llm.core.draft import Draft
from pmcomm_llm.core.errors import (
    ConfigError,
    InputFileError,
    MalformedReplyError,
    ProviderError,
)
from pmcomm_llm.core.files import RunLock, atomic_write_text, refuse_foreign, refuse_same_file
from pmcomm_llm.core.inputs import InputItem, error_record, prepare, read_items
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.core.settings import Settings, redact_url
from pmcomm_llm.drafting.chain import Drafter
from pmcomm_llm.providers.response import Completion, read_completion
from pmcomm_llm.providers.retry import call_with_retries, provider_error

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_POLL_MAX_INTERVAL",
    "TERMINAL_STATUSES",
    "BatchJob",
    "BatchState",
    "acancel",
    "acollect",
    "apoll",
    "arun_batch_api",
    "astatus",
    "asubmit",
    "build_request_lines",
    "cancel",
    "collect",
    "default_state_path",
    "poll",
    "run_batch_api",
    "status",
    "submit",
]

T = TypeVar("T")
Progress = Callable[[str], None]

STATE_VERSION = 1
ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
DEFAULT_MAX_REQUESTS = 50_000
"""The Batch API's limit on requests per input file."""
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""The Batch API's limit on the size of one input file."""
DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_POLL_MAX_INTERVAL = 300.0
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
_TRANSFER_TIMEOUT = 600.0
"""Uploads and downloads of up to 200 MB need longer than one chat call's timeout."""
_LOOKUP_LIMIT = 2_000
"""How many recent batches to scan when checking whether a create went through before a kill."""


# -- state -------------------------------------------------------------------------------------------------


class BatchJob(BaseModel):
    """One input file and its batch: what was sent, where it is, and whether its results are in the output."""

    model_config = ConfigDict(extra="forbid")

    index: int
    upload_name: str
    """The uploaded file's name; unique per run, so an upload cut off by a kill can be found again."""
    request_file: str
    requests: int
    bytes: int
    items: dict[str, str]
    """custom_id (the scenario id) → the scenario's content hash (16 hex digits) when it was submitted."""
    status: str = "pending"
    """pending → uploading → uploaded → creating → the batch's own status (validating … completed)."""
    input_file_id: str | None = None
    uploaded_at: int | None = None
    batch_id: str | None = None
    request_counts: dict[str, int] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[str] = Field(default_factory=list)
    """Batch-level errors the API reported (why a batch failed)."""
    collected: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class BatchState(BaseModel):
    """Everything needed to finish a run in another process: never a secret."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    run_id: str
    created_at: str
    input: str
    """The file collect re-reads for the scenarios (a snapshot when the input was standard input)."""
    input_origin: str
    output: str
    errors: str
    settings: dict[str, Any]
    """``Settings.fingerprint()``: model, method, temperature, base URL. No key."""
    prompt_version: str
    counts: dict[str, int] = Field(default_factory=dict)
    """What submit did with the input: ``submitted``, ``skipped`` (already done), ``invalid``."""
    jobs: list[BatchJob] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """Where this state was loaded from or last saved to."""
        return self._path

    @property
    def submitted(self) -> bool:
        """Every job has a batch on the server."""
        return all(job.batch_id for job in self.jobs)

    @property
    def done(self) -> bool:
        """Every batch has reached a terminal status."""
        return all(job.terminal for job in self.jobs)

    @property
    def finished(self) -> bool:
        """Every job's results are in the output or errors file: nothing is left to do for this run."""
        return all(job.collected for job in self.jobs)

    @classmethod
    def load(cls, path: str | Path) -> BatchState:
        path = Path(path)
        try:
            state = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such batch state file (submit a run first)") from None
        except ValueError as exc:
            raise ConfigError(f"{path}: not a pmcomm batch state file ({str(exc).splitlines()[0]})") from None
        if state.version != STATE_VERSION:
            raise ConfigError(f"{path}: batch state version {state.version} is not supported "
                              f"(expected {STATE_VERSION})")
        state._path = path
        return state

    def save(self, path: str | Path | None = None) -> None:
        """Write atomically (temp file, fsync, rename): a kill leaves the old state or the new, never half."""
        target = Path(path) if path is not None else self._path
        if target is None:
            raise ValueError("no path to save the batch state to")
        atomic_write_text(target, self.model_dump_json(indent=1))  # a private temp name per writer
        self._path = target


def default_state_path(output: str | Path) -> Path:
    """``drafts.jsonl`` → ``drafts.batch.json``, beside the output (as the errors file is)."""
    output = Path(output)
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.batch.json")


def _side_path(state_path: Path, suffix: str) -> Path:
    stem = state_path.name[:-5] if state_path.name.endswith(".json") else state_path.name
    return state_path.with_name(stem + suffix)


# -- requests ----------------------------------------------------------------------------------------------


def _request_line(scenario: Scenario, drafter: Drafter) -> dict[str, Any]:
    return {"custom_id": scenario.id, "method": "POST", "url": ENDPOINT, "body": drafter.request_body(scenario)}


def build_request_lines(scenarios: Iterable[Scenario], drafter: Drafter) -> Iterator[dict[str, Any]]:
    """One Batch API request per scenario: ``custom_id`` is the scenario id, the body what the online path sends."""
    for scenario in scenarios:
        yield _request_line(scenario, drafter)


def _encode(line: dict[str, Any]) -> bytes:
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class _ChunkWriter:
    """Streams request lines into job files no larger than the Batch API allows, so memory stays flat."""

    def __init__(self, directory: Path, run_id: str, max_requests: int, max_bytes: int) -> None:
        self.directory = directory
        self.run_id = run_id
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.jobs: list[BatchJob] = []
        self._handle: Any = None

    def add(self, custom_id: str, scenario_hash: str, data: bytes) -> None:
        job = self.jobs[-1] if self._handle is not None else None
        if job is not None and (job.requests >= self.max_requests or job.bytes + len(data) > self.max_bytes):
            self._close()
            job = None
        if job is None:
            name = f"pmcomm-{self.run_id}-{len(self.jobs) + 1:04d}.jsonl"
            path = self.directory / name
            job = BatchJob(index=len(self.jobs), upload_name=name, request_file=str(path), requests=0, bytes=0,
                           items={})
            self.jobs.append(job)
            self._handle = path.open("wb")
        self._handle.write(data)
        job.requests += 1
        job.bytes += len(data)
        job.items[custom_id] = scenario_hash

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def finish(self) -> list[BatchJob]:
        self._close()
        return self.jobs


# -- the API -----------------------------------------------------------------------------------------------


class _Api:
    """One ``AsyncOpenAI`` client; every call goes through our retry layer and fails with our errors."""

    def __init__(self, settings: Settings) -> None:
        key = _api_key(settings)
        self.settings = settings
        self.where = redact_url(settings.base_url) or "the OpenAI API"
        self.client = openai.AsyncOpenAI(api_key=key, base_url=settings.base_url, max_retries=0,
                                         timeout=settings.timeout)
        self.transfer_timeout = max(settings.timeout, _TRANSFER_TIMEOUT)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn`` with transient failures retried; ``what`` says in an error what we were trying to do."""
        s = self.settings

        async def attempt() -> T:  # a coroutine function, so the retry layer awaits every attempt
            return await fn()

        try:
            return await call_with_retries(attempt, max_retries=s.max_retries, backoff_max=s.backoff_max)
        except openai.NotFoundError as exc:
            raise ProviderError(f"{self.where} answered 404 when asked to {what} ({_detail(exc)}): check that it "
                                "supports the Batch API (/v1/files, /v1/batches) and that the batch state "
                                "belongs to this account and base URL", status_code=404) from None
        except openai.BadRequestError as exc:
            raise ProviderError(f"{self.where} rejected the request to {what} (400): {_detail(exc)}",
                                status_code=400) from None
        except openai.OpenAIError as exc:
            raise provider_error(exc, model=s.model, base_url=s.base_url) from None

    async def close(self) -> None:
        await self.client.close()


def _api_key(settings: Settings) -> str:
    """The key to send; fails with what to set when there is none (checked before any work is done)."""
    return settings.request_key(purpose=" to use the Batch API")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") or (body.get("error") or {}).get("message") if body else None
    return str(message or exc.message)[:300]


def _submit_settings(settings: Settings) -> Settings:
    if settings.backend == "offline":
        raise ConfigError("the Batch API mode needs a model: it cannot run with backend 'offline'")
    return settings.model_copy(update={"backend": "openai"})


def _state_settings(state: BatchState, settings: Settings | None) -> Settings:
    """The caller's key and limits, with the model settings the batches were created with (they live there)."""
    base = settings if settings is not None else Settings.resolve()
    fp = state.settings
    return base.model_copy(update={"backend": "openai", "model": fp.get("model", base.model),
                                   "method": fp.get("method", base.method),
                                   "temperature": fp.get("temperature", base.temperature),
                                   "base_url": _same_endpoint(base.base_url, fp.get("base_url"))})


def _same_endpoint(current: str | None, stored: str | None) -> str | None:
    """The state keeps the base URL redacted; the caller's own URL (with its credentials) when it is the same."""
    from pmcomm_llm.core.settings import redact_url

    if current and redact_url(current) == stored:
        return current
    return stored or None


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


# -- submit ------------------------------------------------------------------------------------------------


def _plan(source: str | Path, drafter: Drafter, output: Path, errors_path: Path, state_path: Path, *,
          max_requests: int, max_bytes: int) -> BatchState:
    """Validate the input, write invalid items to the errors file and the requests to job files."""
    if max_requests < 1 or max_bytes < 1:
        raise ConfigError("max_requests and max_bytes must be positive")
    run_id = uuid.uuid4().hex[:12]
    resume = Resume(scan_output(output))
    requests_dir = _side_path(state_path, ".requests")
    requests_dir.mkdir(parents=True, exist_ok=True)
    for stale in requests_dir.glob("pmcomm-*.jsonl"):  # left by a run killed before its state was saved
        stale.unlink()
    origin = str(source)
    from_stdin = origin == "-"
    input_path = _side_path(state_path, ".input.jsonl") if from_stdin else Path(origin).resolve()
    snapshot = input_path.open("w", encoding="utf-8") if from_stdin else None
    errs = Appender(errors_path, truncate=True)
    chunks = _ChunkWriter(requests_dir, run_id, max_requests, max_bytes)
    counts = {"submitted": 0, "skipped": 0, "invalid": 0}
    try:
        for item in read_items(source, known=resume.known):
            scenario, error = resume.classify(item)
            if error is not None:
                errs.write(json.dumps(error, ensure_ascii=False) + "\n")
                counts["invalid"] += 1
                continue
            if scenario is None:
                counts["skipped"] += 1
                continue
            assert scenario.id is not None
            scenario_hash = scenario.content_hash()[:16]
            data = _encode(_request_line(scenario, drafter))
            if len(data) > max_bytes:
                errs.write(json.dumps(error_record(
                    item, item_id=scenario.id, stage="batch", exc=ConfigError("request too large"),
                    message=f"the request is {len(data)} bytes, more than one batch input file may hold "
                            f"({max_bytes} bytes)"), ensure_ascii=False) + "\n")
                counts["invalid"] += 1
                continue
            chunks.add(scenario.id, scenario_hash, data)
            counts["submitted"] += 1
            if snapshot is not None:  # standard input cannot be read again at collect time
                snapshot.write(json.dumps(item.data, ensure_ascii=False) + "\n")
    finally:
        jobs = chunks.finish()
        errs.close()
        if snapshot is not None:
            snapshot.close()
    state = BatchState(run_id=run_id, created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                       input=str(input_path), input_origin=origin, output=str(output), errors=str(errors_path),
                       settings=drafter.settings.fingerprint(), prompt_version=drafter.prompts.version, counts=counts,
                       jobs=jobs)
    state.save(state_path)
    if not jobs:
        with contextlib.suppress(OSError):
            requests_dir.rmdir()
    return state


async def _find_file(api: _Api, name: str) -> Any | None:
    """A batch input file we may have uploaded before a kill or a timed-out answer."""
    async def scan() -> Any | None:
        async for f in api.client.files.list(purpose="batch"):
            if f.filename == name and f.purpose == "batch":
                return f
        return None
    return await api.call("list uploaded files", scan)


async def _find_batch(api: _Api, input_file_id: str, not_before: int | None) -> Any | None:
    """A batch we may have created before a kill or a timed-out answer (batches are listed newest first)."""
    async def scan() -> Any | None:
        seen = 0
        async for b in api.client.batches.list(limit=100):
            if b.input_file_id == input_file_id:
                return b
            seen += 1
            if seen >= _LOOKUP_LIMIT or (not_before is not None and b.created_at < not_before - 86_400):
                return None
        return None
    return await api.call("list batches", scan)


def _apply_batch(job: BatchJob, batch: Any) -> None:
    job.batch_id = batch.id
    job.status = batch.status
    counts = getattr(batch, "request_counts", None)
    job.request_counts = counts.model_dump() if counts is not None else None
    job.output_file_id = batch.output_file_id
    job.error_file_id = batch.error_file_id
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    job.errors = [f"{e.code or 'error'}: {e.message or ''}".strip() + (f" (line {e.line})" if e.line else "")
                  for e in data]


class _Sender:
    """Uploads and creates every job not yet created, saving the state around each call.

    A call that may have gone through before a kill (the state says ``uploading`` / ``creating``) or before a
    timed-out answer (a retry) is looked up on the server before it is made again, so nothing is uploaded or
    created twice.
    """

    def __init__(self, api: _Api, state: BatchState, progress: Progress | None) -> None:
        self.api = api
        self.state = state
        self.progress = progress
        self.total = len(state.jobs)
        self.look_first = False
        """The call about to be made may already have gone through: look for its result first."""

    async def send_all(self) -> None:
        for job in self.state.jobs:
            if job.batch_id:
                continue
            if not job.input_file_id:
                await self._upload(job)
            await self._create(job)
        if self.state.path is not None:
            with contextlib.suppress(OSError):  # every job is in a batch: the requests folder is empty now
                _side_path(self.state.path, ".requests").rmdir()

    async def _upload(self, job: BatchJob) -> None:
        self.look_first = job.status == "uploading"  # a previous process may have uploaded it before dying
        job.status = "uploading"
        self.state.save()
        uploaded = await self.api.call(f"upload batch input {job.upload_name}",
                                       functools.partial(self._upload_once, job))
        job.input_file_id = uploaded.id
        job.uploaded_at = int(getattr(uploaded, "created_at", 0) or time.time())
        job.status = "uploaded"
        self.state.save()
        _say(self.progress, f"uploaded job {job.index + 1}/{self.total} ({job.requests} requests) as {uploaded.id}")

    async def _upload_once(self, job: BatchJob) -> Any:
        if self.look_first:
            found = await _find_file(self.api, job.upload_name)
            if found is not None:
                return found
        self.look_first = True  # a retry after a timeout may follow an upload that went through
        request_file = Path(job.request_file)
        if not request_file.is_file():
            raise ConfigError(f"{request_file}: the requests for job {job.index + 1} are missing; delete "
                              f"{self.state.path} to start the run over")
        return await self.api.client.files.create(file=(job.upload_name, request_file.read_bytes()),
                                                  purpose="batch", timeout=self.api.transfer_timeout)

    async def _create(self, job: BatchJob) -> None:
        self.look_first = job.status == "creating"
        job.status = "creating"
        self.state.save()
        batch = await self.api.call(f"create the batch for {job.input_file_id}",
                                    functools.partial(self._create_once, job))
        _apply_batch(job, batch)
        self.state.save()
        Path(job.request_file).unlink(missing_ok=True)  # uploaded and in a batch: no longer needed
        _say(self.progress, f"created batch {batch.id} for job {job.index + 1}/{self.total} ({batch.status})")

    async def _create_once(self, job: BatchJob) -> Any:
        assert job.input_file_id is not None
        if self.look_first:
            found = await _find_batch(self.api, job.input_file_id, job.uploaded_at)
            if found is not None:
                return found
        self.look_first = True
        state = self.state
        metadata = {"pmcomm_run": state.run_id, "pmcomm_job": f"{job.index + 1}/{self.total}",
                    "pmcomm_model": str(state.settings.get("model", ""))[:500],
                    "pmcomm_prompt": state.prompt_version[:500], "pmcomm_requests": str(job.requests)}
        return await self.api.client.batches.create(input_file_id=job.input_file_id, endpoint=ENDPOINT,
                                                    completion_window=COMPLETION_WINDOW, metadata=metadata)


async def _asubmit(source: str | Path, settings: Settings, output: str | Path, *, errors: str | Path | None,
                   state_path: str | Path | None, max_requests: int, max_bytes: int,
                   progress: Progress | None) -> tuple[BatchState, bool]:
    output = Path(output).resolve()  # absolute: collect may run from another directory
    state_file = (Path(state_path) if state_path is not None else default_state_path(output)).resolve()
    state: BatchState | None = None
    if state_file.exists():
        previous = BatchState.load(state_file)
        if not previous.finished:
            _check_same_run(previous, source, output, state_file)
            state = previous
    fresh = state is None
    if state is None:
        s = _submit_settings(settings)
        _api_key(s)  # a missing key fails here, before the input is read or anything is written
        errors_path = (Path(errors) if errors is not None else default_errors_path(output)).resolve()
        drafter = Drafter(s)
        try:
            state = _plan(source, drafter, output, errors_path, state_file, max_requests=max_requests,
                          max_bytes=max_bytes)
        finally:
            await drafter.aclose()  # request_body built an HTTP client it never used
        c = state.counts
        _say(progress, f"{c['submitted']} request(s) in {len(state.jobs)} job(s); {c['skipped']} already done; "
                       f"{c['invalid']} invalid (see {state.errors})")
    else:
        _say(progress, f"resuming batch run {state.run_id} from {state_file}")
    if not state.submitted:
        api = _Api(_state_settings(state, settings))
        try:
            await _Sender(api, state, progress).send_all()
        finally:
            await api.close()
    return state, fresh


def _check_same_run(state: BatchState, source: str | Path, output: Path, state_file: Path) -> None:
    same_input = str(source) == "-" == state.input_origin or (
        str(source) != "-" and state.input_origin != "-" and Path(source).resolve() == Path(state.input).resolve())
    if not same_input or output.resolve() != Path(state.output).resolve():
        raise ConfigError(f"{state_file} holds an unfinished batch run for {state.input_origin} → {state.output}; "
                          "finish it (pmcomm batch collect) or delete the state file before starting another")


async def asubmit(source: str | Path, settings: Settings, output: str | Path, *, errors: str | Path | None = None,
                  state_path: str | Path | None = None, max_requests: int = DEFAULT_MAX_REQUESTS,
                  max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None) -> BatchState:
    """Submit ``source`` as Batch API jobs; resume an unfinished run's submission if its state file exists.

    Invalid items go to the errors file at once; ids already in ``output`` with the same content hash are
    skipped. A state whose jobs are all collected is replaced by a new run.
    """
    with _guarded(source, output, errors):
        state, _ = await _asubmit(source, settings, output, errors=errors, state_path=state_path,
                                  max_requests=max_requests, max_bytes=max_bytes, progress=progress)
    return state


def _guarded(source: str | Path | None, output: str | Path, errors: str | Path | None) -> RunLock:
    """Refuse paths that are the input or not ours, then hold the output's lock: one batch run per output."""
    out = Path(output)
    errs = Path(errors) if errors is not None else default_errors_path(out)
    refuse_same_file(str(source) if source is not None else None, output=out, errors=errs)
    lock = RunLock(out, "batch run").acquire()
    try:
        refuse_foreign(out, "output")
        refuse_foreign(errs, "errors")
    except BaseException:
        lock.release()
        raise
    return lock


# -- poll, status, cancel ----------------------------------------------------------------------------------


async def _refresh(api: _Api, state: BatchState, progress: Progress | None = None) -> None:
    """Retrieve every created, unfinished batch once, and save what changed."""
    pending = [job for job in state.jobs if job.batch_id and not job.terminal]
    if pending:
        await asyncio.gather(*(_retrieve(api, job, progress) for job in pending))
        state.save()


async def _retrieve(api: _Api, job: BatchJob, progress: Progress | None) -> None:
    assert job.batch_id is not None
    batch_id = job.batch_id
    batch = await api.call(f"retrieve batch {batch_id}", lambda: api.client.batches.retrieve(batch_id))
    before = job.status
    _apply_batch(job, batch)
    if job.status != before:
        counts = job.request_counts or {}
        _say(progress, f"batch {batch_id}: {job.status} ({counts.get('completed', 0)}+"
                       f"{counts.get('failed', 0)}/{counts.get('total', job.requests)})")


async def apoll(state_path: str | Path, *, settings: Settings | None = None,
                interval: float = DEFAULT_POLL_INTERVAL, max_interval: float = DEFAULT_POLL_MAX_INTERVAL,
                timeout: float | None = None, progress: Progress | None = None) -> BatchState:
    """Wait until every batch is terminal, retrieving with capped exponential backoff.

    Returns the state when all are done, or when ``timeout`` seconds have passed (check ``state.done``):
    a batch may take up to 24 hours, and the caller decides whether to keep waiting.
    """
    state = BatchState.load(state_path)
    api = _Api(_state_settings(state, settings))
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = max(interval, 0.01)
    wait = interval
    try:
        while True:
            await _refresh(api, state, progress)
            if all(job.terminal for job in state.jobs if job.batch_id):
                return state
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return state
            await asyncio.sleep(wait if deadline is None else min(wait, deadline - now))
            wait = min(max(max_interval, interval), wait * 2)
    finally:
        await api.close()


def _summary(state: BatchState) -> dict[str, Any]:
    totals = {"requests": 0, "completed": 0, "failed": 0}
    jobs = []
    for job in state.jobs:
        counts = job.request_counts or {}
        totals["requests"] += job.requests
        totals["completed"] += counts.get("completed", 0)
        totals["failed"] += counts.get("failed", 0)
        jobs.append({"job": job.index + 1, "batch_id": job.batch_id, "input_file_id": job.input_file_id,
                     "status": job.status, "requests": job.requests, "request_counts": job.request_counts,
                     "output_file_id": job.output_file_id, "error_file_id": job.error_file_id,
                     "errors": job.errors, "collected": job.collected})
    return {"state": str(state.path) if state.path else None, "run_id": state.run_id,
            "created_at": state.created_at, "input": state.input_origin, "output": state.output,
            "errors": state.errors, "model": state.settings.get("model"), "counts": state.counts,
            "submitted": state.submitted, "done": state.done, "finished": state.finished, "totals": totals,
            "jobs": jobs}


async def astatus(state_path: str | Path, *, settings: Settings | None = None, refresh: bool = True) -> dict[str, Any]:
    """The run at a glance (ids, statuses, request counts); ``refresh`` asks the API first."""
    state = BatchState.load(state_path)
    if refresh and any(job.batch_id and not job.terminal for job in state.jobs):
        api = _Api(_state_settings(state, settings))
        try:
            await _refresh(api, state)
        finally:
            await api.close()
    return _summary(state)


async def acancel(state_path: str | Path, *, settings: Settings | None = None) -> BatchState:
    """Ask the API to cancel every unfinished batch; collect afterwards sends their items to the errors file."""
    state = BatchState.load(state_path)
    api = _Api(_state_settings(state, settings))
    try:
        for job in state.jobs:
            if job.batch_id and not job.terminal:
                batch_id = job.batch_id
                batch = await api.call(f"cancel batch {batch_id}", lambda: api.client.batches.cancel(batch_id))
                _apply_batch(job, batch)
                state.save()
    finally:
        await api.close()
    return state


# -- collect -----------------------------------------------------------------------------------------------


def _answer(line: Any) -> tuple[Completion, dict[str, int]]:
    """The chat completion and usage of one result line, or the error that explains why there is none.

    A line of any shape ends here as a :class:`ProviderError` (or a :class:`MalformedReplyError`), never as an
    ``AttributeError``: the response body is read by the same reply parser as online answers, and the drafter
    turns the completion into a draft as online (:meth:`Drafter.finish`: a fence tolerated, a refusal, an empty
    or a cut-off answer named).
    """
    if not isinstance(line, dict):
        raise MalformedReplyError("the batch result line is not a JSON object")
    error = line.get("error")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ProviderError(f"the batch request failed ({code or 'error'}): {message}")
    response = line.get("response")
    if not isinstance(response, dict):
        raise MalformedReplyError("the batch result line has no response object")
    code = response.get("status_code")
    body = response.get("body")
    if code != 200:
        failure = body.get("error") if isinstance(body, dict) else None
        detail = failure.get("message") if isinstance(failure, dict) else failure
        raise ProviderError(f"the model request failed with HTTP {code}: {detail or 'no detail given'}",
                            status_code=code if isinstance(code, int) else None)
    completion = read_completion(body, where="the batch API")
    return completion, completion.usage_counts or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def _missing_reason(job: BatchJob) -> str:
    batch = job.batch_id or "(not created)"
    if job.status == "completed":
        return f"batch {batch} returned no result for this request"
    if job.status == "failed":
        why = "; ".join(job.errors) or "no reason given"
        return f"batch {batch} failed ({why}): nothing was drafted; fix the cause and run again"
    if job.status == "expired":
        return f"batch {batch} expired before this request ran (24h window): run again to resubmit it"
    return f"batch {batch} was {job.status} before this request ran: run again to resubmit it"


def _rescan(source: str | Path, wanted: dict[str, str]) -> dict[str, tuple[InputItem, Scenario]]:
    """The submitted scenarios, re-read and re-validated from the input (only those still awaited)."""
    found: dict[str, tuple[InputItem, Scenario]] = {}
    try:
        for item, scenario, _ in prepare(read_items(source)):
            if scenario is not None and scenario.id in wanted:
                found[scenario.id] = (item, scenario)
    except InputFileError as exc:
        raise InputFileError(f"{exc} (collecting re-reads the input the batch was submitted from; pass its "
                             "current path as source)") from None
    return found


async def _download(api: _Api, file_id: str) -> bytes:
    response = await api.call(f"download batch results {file_id}",
                              lambda: api.client.files.content(file_id, timeout=api.transfer_timeout))
    return response.content


async def _results(api: _Api, job: BatchJob) -> dict[str, Any]:
    """custom_id → the first result line of that request, from the job's output and error files."""
    results: dict[str, Any] = {}
    for file_id in (job.output_file_id, job.error_file_id):
        if not file_id:
            continue
        for raw in (await _download(api, file_id)).splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # not ours to judge: its custom_id is then reported missing
            cid = line.get("custom_id") if isinstance(line, dict) else None
            if isinstance(cid, str) and cid in job.items and cid not in results:
                results[cid] = line
    return results


_CHANGED = ("the scenario is no longer in the input or was edited after it was submitted: run again to draft the "
            "current version")


class _Answers:
    """The runner's maker for one collected batch: each request's downloaded answer, read by :func:`_answer`,
    then validated and guarded exactly as the online path does (``Drafter.finish``; no re-asks in a batch)."""

    def __init__(self, drafter: Drafter, prompt_version: str, batch: BatchJob) -> None:
        self.drafter = drafter
        self.prompt_version = prompt_version
        self.batch = batch

    async def make(self, job: Job) -> Draft:
        if job.payload is None:
            raise ProviderError(_missing_reason(self.batch))
        completion, usage = _answer(job.payload)
        if job.scenario is None:
            raise InputFileError(_CHANGED)
        draft = self.drafter.finish(job.scenario, completion, usage=usage)
        if draft.meta.prompt_version != self.prompt_version:  # the prompts changed since submit: say what was sent
            draft = draft.model_copy(update={"meta": draft.meta.model_copy(update={"prompt_version": self.prompt_version})})
        return draft


def _collect_jobs(batch: BatchJob, results: dict[str, Any], scenarios: dict[str, tuple[InputItem, Scenario]],
                  done: dict[str, str], journal: Journal) -> Iterator[Job]:
    """One job per request of ``batch`` not already in the output; a changed scenario's job has none."""
    for cid, scenario_hash in batch.items.items():
        if done.get(cid) == scenario_hash:
            journal.skipped()
            continue
        found = scenarios.get(cid)
        scenario = found[1] if found is not None and found[1].content_hash()[:16] == scenario_hash else None
        yield Job(found[0] if found is not None else None, cid, scenario, stage="batch",
                  extra={"batch_id": batch.batch_id}, payload=results.get(cid))


async def acollect(state_path: str | Path, *, source: str | Path | None = None, settings: Settings | None = None,
                   progress: Progress | None = None) -> BatchSummary:
    """Write the results of every terminal, uncollected batch to the output or errors file, exactly once.

    ``source`` overrides the input path kept in the state (e.g. when the input file was moved).
    """
    state = BatchState.load(state_path)
    with _guarded(None, state.output, state.errors):
        return await _acollect(state, source=source, settings=settings, progress=progress)


async def _acollect(state: BatchState, *, source: str | Path | None, settings: Settings | None,
                    progress: Progress | None) -> BatchSummary:
    s = _state_settings(state, settings)
    api = _Api(s)
    summary = BatchSummary()
    try:
        await _refresh(api, state, progress)  # a batch may have finished since the last poll
        todo = [job for job in state.jobs if job.terminal and not job.collected]
        if todo:
            summary = await _collect(api, state, todo, source, s, progress)
    finally:
        await api.close()
    pending = sum(1 for job in state.jobs if not job.collected)
    summary.extra.update({"state": str(state.path), "batches": [job.batch_id for job in state.jobs],
                          "pending": pending})
    return summary


async def _collect(api: _Api, state: BatchState, todo: list[BatchJob], source: str | Path | None,
                   settings: Settings, progress: Progress | None) -> BatchSummary:
    """Each batch's answers through the runner into the run's journal; a batch is marked collected once all its
    requests are written, so a fault midway (disk full) leaves it to collect again, its written lines skipped."""
    wanted = {cid: h for job in todo for cid, h in job.items.items()}
    scenarios = _rescan(source if source is not None and str(source) != "-" else state.input, wanted)
    drafter = Drafter(settings)
    output = Path(state.output)
    done = scan_output(output).done
    journal = Journal(output, Path(state.errors), truncate=False, previous=done)
    try:
        for job in todo:
            runner = Runner(_Answers(drafter, state.prompt_version, job), journal, concurrency=1)
            await runner.run(_collect_jobs(job, await _results(api, job), scenarios, done, journal))
            if runner.stop is not None:
                raise runner.stop
            job.collected = True
            state.save()
            _say(progress, f"collected batch {job.batch_id} ({job.status})")
    finally:
        journal.close()
    if journal.superseded:
        compact(output)  # an edited scenario was drafted again: keep only its newest line
    journal.summary.extra["usage"] = journal.usage.model_dump()
    return journal.summary


# -- the whole run -----------------------------------------------------------------------------------------


async def arun_batch_api(source: str | Path, settings: Settings, output: str | Path, *,
                         errors: str | Path | None = None, state_path: str | Path | None = None,
                         poll_interval: float = DEFAULT_POLL_INTERVAL,
                         poll_max_interval: float = DEFAULT_POLL_MAX_INTERVAL, timeout: float | None = None,
                         max_requests: int = DEFAULT_MAX_REQUESTS, max_bytes: int = DEFAULT_MAX_BYTES,
                         progress: Progress | None = None) -> BatchSummary:
    """Submit (or resume an unfinished run: nothing is uploaded or created twice), wait, collect.

    With ``timeout`` the wait may end first: what finished is collected, and ``summary.stopped`` says how to
    collect the rest later.
    """
    with _guarded(source, output, errors):
        state, fresh = await _asubmit(source, settings, output, errors=errors, state_path=state_path,
                                      max_requests=max_requests, max_bytes=max_bytes, progress=progress)
        assert state.path is not None
        state = await apoll(state.path, settings=settings, interval=poll_interval, max_interval=poll_max_interval,
                            timeout=timeout, progress=progress)
        summary = await _acollect(state, source=None if str(source) == "-" else source, settings=settings,
                                  progress=progress)
    if fresh:
        summary.skipped += state.counts.get("skipped", 0)
        summary.failed += state.counts.get("invalid", 0)
    if summary.extra.get("pending"):
        summary.stopped = (f"{summary.extra['pending']} batch job(s) still running after {timeout:g}s; collect "
                           f"them later with: pmcomm batch collect {state.path}" if timeout is not None else
                           f"{summary.extra['pending']} batch job(s) not finished; see {state.path}")
    return summary


# -- the blocking twins (scripts and ``pmcomm batch``): one wrapper, no verb written twice ---------------------

submit = synchronous(asubmit)
poll = synchronous(apoll)
status = synchronous(astatus)
cancel = synchronous(acancel)
collect = synchronous(acollect)
run_batch_api = synchronous(arun_batch_api)
