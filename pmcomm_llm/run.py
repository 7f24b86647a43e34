"""A batch run from an input file to an output file: concurrent, streaming, resumable, exactly once.

Items are read lazily and drafted on one event loop by a fixed pool of workers fed through a bounded queue,
so memory stays flat however long the input. Each finished item is appended to the output (or the errors
file) with a single write, immediately. Running the same command again skips the items already in the
output whose scenario content is unchanged; a torn last line from a killed run is cut off first.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmcomm_llm.batch import BatchSummary, InputItem, error_record, output_record, prepare, read_items, \
    render_markdown
from pmcomm_llm.chain import OFFLINE_MODEL, Drafter
from pmcomm_llm.errors import AuthenticationError, ConfigError, PmcommError
from pmcomm_llm.scenario import Scenario
from pmcomm_llm.settings import Settings

__all__ = ["RunOptions", "run_file", "arun_file", "default_errors_path", "load_done", "summary_path"]


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


def load_done(output: Path) -> dict[str, str]:
    """Ids already drafted in ``output`` → their latest scenario hash; cuts off a torn last line first."""
    done: dict[str, str] = {}
    if not output.exists():
        return done
    good_end = lines = 0
    with output.open("rb") as handle:
        for raw in handle:
            lines += 1
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
                done[record["id"]] = record["meta"]["scenario_hash"]
            except (json.JSONDecodeError, KeyError, TypeError):
                break
            good_end += len(raw)
    if good_end != output.stat().st_size:
        with output.open("r+b") as handle:
            handle.truncate(good_end)
        lines -= 1
    if lines > len(done):  # a run killed between re-drafting an edited item and compacting
        compact(output)
    return done


def compact(output: Path) -> None:
    """Keep only the last line per id (an edited scenario is appended again), rewriting atomically."""
    last: dict[str, int] = {}
    with output.open("rb") as src:
        lines = src.readlines()
    for number, raw in enumerate(lines):
        last[json.loads(raw)["id"]] = number
    if len(last) == len(lines):
        return
    keep = set(last.values())
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("wb") as dst:
        dst.writelines(raw for number, raw in enumerate(lines) if number in keep)
    os.replace(tmp, output)


class _Appender:
    """Appends whole lines with one ``write`` each, so a kill never leaves half of two records."""

    def __init__(self, path: Path, *, truncate: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        self.fd = os.open(path, flags, 0o644)
        self.count = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.count += 1

    def close(self) -> None:
        os.close(self.fd)


async def arun_file(source: str, settings: Settings, options: RunOptions) -> BatchSummary:
    """Draft every item of ``source`` into ``options.output``; see the module docstring for the guarantees."""
    import time

    from pmcomm_llm.cost import estimate_cost
    from pmcomm_llm.draft import Usage
    from pmcomm_llm.progress import Progress

    started = time.monotonic()
    drafter = Drafter(settings)
    output = options.output
    errors_path = options.errors or default_errors_path(output)
    resume = options.resume and options.fmt == "jsonl"
    done = load_done(output) if resume else {}
    out = _Appender(output, truncate=not resume)
    errs = _Appender(errors_path, truncate=True)
    summary = BatchSummary()
    usage = Usage()
    cache = None
    if options.cache and drafter.backend != "offline":
        from pmcomm_llm.cache import DraftCache, cache_key

        cache = DraftCache()
        fingerprint = settings.fingerprint()
    progress = Progress(_count_lines(source), quiet=options.quiet)
    concurrency = settings.concurrency
    queue: asyncio.Queue[tuple[InputItem, Scenario] | None] = asyncio.Queue(maxsize=concurrency * 2)
    stop: list[str] = []
    stale: set[str] = set()

    def write_record(scenario: Scenario, record: dict[str, Any]) -> None:
        if options.evaluate:
            from pmcomm_llm.checks import Candidate
            from pmcomm_llm.evaluation import evaluate

            d = record["draft"]
            candidate = Candidate(d["subject"], d["body"], tuple(a["offer_id"] for a in d["alternatives"]))
            verdict = evaluate(candidate, scenario, draft_id=scenario.id)
            record["evaluation"] = verdict.model_dump(mode="json", include={"score", "passed", "blocking_failures",
                                                                            "checks"})
        if options.fmt == "md":
            out.write(render_markdown(record) + "\n")
        else:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        summary.drafted += 1
        summary.flagged += not record["meta"]["guard"]["passed"]
        progress.update(done=1)

    def write_error(record: dict[str, Any]) -> None:
        errs.write(json.dumps(record, ensure_ascii=False) + "\n")
        summary.failed += 1
        progress.update(failed=1)
        if not options.quiet:
            where = record.get("id") or record.get("where")
            print(f"\npmcomm: {where}: {record.get('field') or record['stage']}: {record['message']}"
                  if progress.tty else
                  f"pmcomm: {where}: {record.get('field') or record['stage']}: {record['message']}", file=sys.stderr)

    async def worker() -> None:
        nonlocal usage
        while True:
            job = await queue.get()
            if job is None:
                return
            item, scenario = job
            if stop:
                continue  # not attempted: stays out of both files, so a re-run picks it up
            key = cache_key(fingerprint, drafter.prompts.version, scenario.content_hash()) if cache else ""
            cached = cache.get(key) if cache else None
            if cached is not None:
                cached["id"] = scenario.id
                write_record(scenario, cached)
                continue
            try:
                draft = await drafter.adraft(scenario)
            except (AuthenticationError, ConfigError) as exc:
                if not stop:
                    stop.append(str(exc))
                continue
            except PmcommError as exc:
                spent = getattr(exc, "usage", None)
                if isinstance(spent, Usage):
                    usage = usage.add(spent)
                write_error(error_record(item, item_id=scenario.id, stage="drafting", exc=exc))
                continue
            usage = usage.add(draft.meta.usage)
            record = output_record(draft, scenario.id or "")
            if cache is not None and draft.meta.guard.passed:
                cache.put(key, record)
            write_record(scenario, record)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        for item, scenario, error in prepare(read_items(source)):
            if stop:
                break
            if error is not None:
                write_error(error)
                continue
            assert scenario is not None and scenario.id is not None
            previous = done.get(scenario.id)
            if previous is not None:
                if previous == scenario.content_hash()[:16]:
                    summary.skipped += 1
                    progress.update(skipped=1)
                    continue
                stale.add(scenario.id)  # edited since: drafted again, the old line removed at the end
            await queue.put((item, scenario))
    finally:
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers, return_exceptions=True)
        out.close()
        errs.close()
        progress.close()
        await drafter.aclose()
        if cache is not None:
            summary.extra["cache"] = {"hits": cache.hits, "misses": cache.misses}
            cache.close()
    if stale:
        compact(output)
    summary.stopped = stop[0] if stop else None
    model = settings.model if drafter.backend != "offline" else OFFLINE_MODEL
    summary.extra.update({
        "usage": usage.model_dump(),
        "estimated_cost_usd": estimate_cost(usage, model) if drafter.backend != "offline" else 0.0,
        "model": model, "engine": settings.engine if drafter.backend != "offline" else "offline",
        "prompt_version": drafter.prompts.version, "wall_s": round(time.monotonic() - started, 3),
        "output": str(output), "errors": str(errors_path),
    })
    if options.summary and options.fmt == "jsonl":
        summary_path(output).write_text(json.dumps(summary.as_dict(), ensure_ascii=False, indent=1) + "\n",
                                        encoding="utf-8")
    if not options.quiet:
        cost = summary.extra["estimated_cost_usd"]
        cost_text = "n/a (model not in prompts/prices.yaml)" if cost is None else f"${cost:.4f}"
        print(f"pmcomm: drafted {summary.drafted}, skipped {summary.skipped} (already done), failed "
              f"{summary.failed}, flagged by the guard {summary.flagged} → {output}"
              + (f" (errors: {errors_path})" if summary.failed else ""), file=sys.stderr)
        if drafter.backend != "offline":
            hits = summary.extra.get("cache", {}).get("hits", 0)
            print(f"pmcomm: tokens in {usage.input_tokens}, out {usage.output_tokens} over {usage.calls} calls; "
                  f"estimated cost {cost_text}; cache hits {hits}", file=sys.stderr)
    return summary


def run_file(source: str, settings: Settings, options: RunOptions) -> BatchSummary:
    return asyncio.run(arun_file(source, settings, options))
