"""The ``pmcomm`` command: parse arguments, call the library, render. No logic of its own.

Exit status (also in the README):
  0  every item drafted (or validated)
  1  some items failed; each is in the errors file with its id/line, field and reason
  2  the command or the input file is unusable (bad arguments, missing/empty/non-JSON/non-UTF-8 file)
  3  the run stopped: configuration or authentication problem, or a fault of the machine (disk full, read-only
     path, corrupt cache); nothing more could succeed. Finished items are saved; re-run to resume
  4  with --strict: every item drafted, but the guard flagged at least one draft
  130 interrupted (Ctrl-C); re-run the same command to resume
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

from pmcomm_llm.core.errors import AuthenticationError, ConfigError, EnvironmentFault, PmcommError

EXIT_PARTIAL, EXIT_INPUT, EXIT_STOPPED, EXIT_FLAGGED, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
_STOPS = (AuthenticationError, ConfigError, EnvironmentFault)
"""Errors after which nothing more could succeed: exit 3."""


class _Fail(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pmcomm-llm")
def cli() -> None:
    """Draft hard client messages (decline, cancel, reset expectations, delay) and check them."""


def _fail_for(exc: BaseException) -> _Fail:
    """The one place a library error becomes an exit code and a message (never a traceback)."""
    if isinstance(exc, _STOPS):
        return _Fail(str(exc), EXIT_STOPPED)
    if isinstance(exc, OSError):
        from pmcomm_llm.core.files import environment_fault

        return _Fail(str(environment_fault(exc, exc.filename, "write")), EXIT_STOPPED)
    return _Fail(str(exc), EXIT_INPUT)


def main() -> None:
    """The console entry point: Ctrl-C at any moment, start-up included, ends with one line and exit 130."""
    try:
        cli(standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted: finished items are saved; run the same command again to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a scenario, with a description of every field.

    Save it beside your scenarios (`pmcomm schema > scenario.schema.json`): the templates of `pmcomm new` point
    editors at it, so VS Code checks and completes a scenario as you type.
    """
    from pmcomm_llm.core.authoring import scenario_schema

    click.echo(json.dumps(scenario_schema(), ensure_ascii=False, indent=2))


@cli.command()
@click.argument("kind", type=click.Choice(["decline_request", "cancel_project", "manage_expectations",
                                           "delay_notice"]))
@click.option("--language", type=click.Choice(["zh-CN", "zh-TW", "en"], case_sensitive=False), default="zh-CN",
              help="The message's language (also the comments').")
@click.option("--channel", type=click.Choice(["email", "im"]), default="email")
def new(kind: str, language: str, channel: str) -> None:
    """Print a commented YAML scenario of KIND to fill in: `pmcomm new delay_notice > s.yaml`."""
    from pmcomm_llm.core.authoring import scenario_template

    canonical = {"zh-cn": "zh-CN", "zh-tw": "zh-TW", "en": "en"}[language.lower()]
    try:
        click.echo(scenario_template(kind, canonical, channel), nl=False)
    except PmcommError as exc:
        raise _fail_for(exc) from None


@cli.command()
@click.argument("input_path", metavar="INPUT")
def validate(input_path: str) -> None:
    """Check INPUT (.json, .jsonl or - for stdin) without drafting."""
    from pmcomm_llm.core.inputs import describe_error, prepare, read_items

    ok = bad = 0
    try:
        for _item, scenario, error in prepare(read_items(input_path)):
            if error is not None:
                bad += 1
                click.echo(describe_error(error), err=True)
            else:
                ok += 1
    except PmcommError as exc:
        raise _Fail(str(exc), EXIT_INPUT) from None
    click.echo(f"{ok} valid, {bad} invalid")
    if bad:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output file: JSON Lines (one line per scenario) or Markdown with --format md; - for "
                   "standard output (no resume).")
@click.option("--backend", type=click.Choice(["auto", "offline", "openai"]), default=None,
              help="auto (default): a model when OPENAI_API_KEY or OPENAI_BASE_URL is set, else offline.")
@click.option("--model", default=None, help="Model name (PMCOMM_MODEL).")
@click.option("--base-url", default=None, help="OpenAI-compatible endpoint (OPENAI_BASE_URL).")
@click.option("--method", type=click.Choice(["json_schema", "function_calling", "json_mode"]), default=None,
              help="Structured-output method (PMCOMM_METHOD).")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=None, help="Items drafted at once.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False), default=None,
              help="Errors file (default: OUTPUT with .errors.jsonl).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "md"]), default="jsonl")
@click.option("--quiet", is_flag=True, help="Print only errors.")
@click.option("--evaluate", "with_eval", is_flag=True, help="Attach the rubric evaluation to each output line.")
@click.option("--rpm", type=click.IntRange(1), default=None, help="Requests per minute limit (PMCOMM_RPM).")
@click.option("--tpm", type=click.IntRange(1), default=None, help="Tokens per minute limit (PMCOMM_TPM).")
@click.option("--no-cache", "no_cache", is_flag=True, help="Do not read or write the draft cache.")
@click.option("--mode", type=click.Choice(["online", "batch-api"]), default="online",
              help="batch-api: submit through the OpenAI Batch API (half price, up to 24 h).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=None,
              help="Batch API state file (default: OUT.batch.json).")
@click.option("--poll-interval", type=float, default=10.0, help="Batch API: first polling interval, seconds.")
@click.option("--timeout", "batch_timeout", type=float, default=None,
              help="Batch API: stop polling after this many seconds (resume with `pmcomm batch collect`).")
@click.option("--strict", is_flag=True, help="Exit 4 when the guard flagged any draft (for CI and scripts).")
@click.option("--redraft-flagged", is_flag=True,
              help="Ask the model again for drafts the guard flagged (by default a re-run reuses them, at no cost).")
@click.option("--dry-run", is_flag=True,
              help="Show the first item's prompt and the calls, tokens and cost a run would take; call nothing.")
def draft(input_path: str, output: str, backend: str | None, model: str | None, base_url: str | None,
          method: str | None, concurrency: int | None, errors_path: str | None, fmt: str, quiet: bool,
          with_eval: bool, rpm: int | None, tpm: int | None, no_cache: bool, mode: str,
          state_path: str | None, poll_interval: float, batch_timeout: float | None, strict: bool,
          redraft_flagged: bool, dry_run: bool) -> None:
    """Draft a message for every scenario in INPUT (.json, .jsonl, or - for stdin)."""

    from pmcomm_llm.batch.runner import RunOptions
    from pmcomm_llm.core.settings import Settings

    try:
        settings = Settings.resolve(backend=backend, model=model, base_url=base_url, method=method,
                                    concurrency=concurrency, rpm=rpm, tpm=tpm)
        if model and settings.backend == "auto" and settings.effective_backend == "offline":
            raise ConfigError(f"--model {model} was given, but no API key or base URL is set, so drafting would be "
                              "offline: set OPENAI_API_KEY (or OPENAI_BASE_URL / --base-url), or use --backend offline")
        if dry_run:
            from pmcomm_llm.batch.runner import plan_run

            _show_plan(plan_run(input_path, settings, RunOptions(output=Path(output), redraft_flagged=redraft_flagged)))
            return
        if mode == "batch-api":
            if fmt != "jsonl":
                raise click.UsageError("--mode batch-api writes JSON Lines; drop --format md")
            summary = _batch_api(input_path, settings, output, errors_path, state_path, poll_interval,
                                 batch_timeout, quiet)
        elif output == "-":
            summary = _draft_to_stdout(input_path, settings, errors_path, fmt, quiet, with_eval, no_cache,
                                       redraft_flagged)
        else:
            options = RunOptions(output=Path(output), errors=Path(errors_path) if errors_path else None,
                                 fmt=fmt, evaluate=with_eval, cache=not no_cache, redraft_flagged=redraft_flagged)
            summary = _run_reported(input_path, settings, options, quiet)
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None
    if summary.stopped:
        raise _Fail(summary.stopped, EXIT_STOPPED)
    if summary.failed:
        sys.exit(EXIT_PARTIAL)
    if strict and summary.flagged:
        click.echo(f"pmcomm: --strict: the guard flagged {summary.flagged} draft(s); see meta.guard in {output}",
                   err=True)
        sys.exit(EXIT_FLAGGED)


@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.argument("drafts_path", metavar="OUT", type=click.Path(exists=True, dir_okay=False))
@click.option("--id", "draft_id", required=True, help="The draft to revise.")
@click.option("--instruction", required=True, help='What to change: "shorter", "warmer", "更简短一些" …')
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), default=None,
              help="Where the new version goes (default: OUT with .vN before .jsonl).")
@click.option("--backend", type=click.Choice(["auto", "offline", "openai"]), default=None)
def revise(input_path: str, drafts_path: str, draft_id: str, instruction: str, output: str | None,
           backend: str | None) -> None:
    """Draft a new version of one draft of OUT, following an instruction; the guard checks it like any draft."""
    from pmcomm_llm.batch.records import output_record
    from pmcomm_llm.core.draft import Draft
    from pmcomm_llm.core.files import atomic_write_text, refuse_foreign, refuse_same_file
    from pmcomm_llm.core.settings import Settings
    from pmcomm_llm.drafting.chain import Drafter
    from pmcomm_llm.evaluation.scoring import load_scenarios

    try:
        records = _records_by_id(drafts_path)
        scenarios = load_scenarios(input_path)
        if draft_id not in records or draft_id not in scenarios:
            raise _Fail(f"{draft_id!r} must be in both {input_path} and {drafts_path}", EXIT_INPUT)
        record = records[draft_id]
        current = Draft.model_validate({**record["draft"], "meta": record["meta"]})
        revised = Drafter(Settings.resolve(backend=backend)).revise(current, instruction, scenarios[draft_id])
        target = Path(output) if output else Path(drafts_path).with_name(
            f"{Path(drafts_path).stem}.v{revised.meta.version}.jsonl")
        refuse_same_file(drafts_path, output=target)
        refuse_foreign(target, "output")
        atomic_write_text(target, json.dumps(output_record(revised, draft_id), ensure_ascii=False) + "\n")
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None
    verdict = "passed" if revised.meta.guard.passed else "FLAGGED"
    click.echo(f"version {revised.meta.version} of {draft_id} → {target} (guard {verdict}); see the changes with: "
               f"pmcomm diff {drafts_path} {target} --id {draft_id}", err=True)


@cli.command()
@click.argument("before", type=click.Path(exists=True, dir_okay=False))
@click.argument("after", type=click.Path(exists=True, dir_okay=False))
@click.option("--id", "draft_id", default=None, help="Only this draft.")
@click.option("--scenarios", "scenarios_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Evaluate both versions against these scenarios and show every check whose verdict changed.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "html"]), default="text")
def diff(before: str, after: str, draft_id: str | None, scenarios_path: str | None, fmt: str) -> None:
    """Tracked changes between two outputs of `pmcomm draft` (words; characters for Chinese)."""
    from pmcomm_llm.evaluation import diffing
    from pmcomm_llm.evaluation.scoring import load_scenarios

    try:
        a, b = _records_by_id(before), _records_by_id(after)
        scenarios = load_scenarios(scenarios_path) if scenarios_path else {}
        ids = [draft_id] if draft_id else [i for i in b if i in a]
        missing = [i for i in ids if i not in a or i not in b]
        if missing:
            raise _Fail(f"{missing[0]!r} is not in both files", EXIT_INPUT)
        diffs = [diffing.diff_records(a[i], b[i], scenarios.get(i)) for i in ids]
    except PmcommError as exc:
        raise _fail_for(exc) from None
    if fmt == "html":
        click.echo(diffing.render_html(diffs))
    elif fmt == "md":
        click.echo("\n".join(diffing.render_markdown(d) for d in diffs))
    else:
        colour = sys.stdout.isatty()
        click.echo("\n\n".join(diffing.render_text(d, colour=colour) for d in diffs if d.changed) or "no changes")


def _records_by_id(path: str) -> dict[str, dict[str, Any]]:
    from pmcomm_llm.core.errors import InputFileError

    out: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InputFileError(f"{path}: line {number} is not JSON; expected `pmcomm draft` output") from None
        if not isinstance(record, dict) or "id" not in record:
            raise InputFileError(f"{path}: line {number} is not a `pmcomm draft` output record")
        out[str(record["id"])] = record
    return out


def _show_plan(plan: Any) -> None:
    for message in plan.first_prompt:
        click.echo(f"--- {message['role']} (first item) ---\n{message['content']}")
    where = f" at {plan.endpoint}" if plan.endpoint else ""
    click.echo(f"--- plan ---\nbackend {plan.backend}, model {plan.model}{where}")
    click.echo(f"items {plan.items} valid, {plan.invalid} invalid, {plan.already_done} already drafted")
    if plan.backend != "offline":
        cost = f"${plan.estimated_cost_usd:.4f}" if plan.estimated_cost_usd is not None else "n/a"
        click.echo(f"model calls {plan.calls} (at most {plan.max_calls} with re-asks); estimated input tokens "
                   f"{plan.estimated_input_tokens:,}; estimated cost {cost} ({plan.cost_note})")
    else:
        click.echo(plan.cost_note)


class _Reporter:
    """Renders a run's events on stderr: notices (not with --quiet), every item's error (always: --quiet's help
    says so) and the progress line — live on a terminal, every 10 s otherwise, never with --quiet."""

    def __init__(self, quiet: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.stream = sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 0.2 if self.tty else 10.0
        self.clock = clock
        self.last = float("-inf")
        self.progress: Any = None
        self.live = False
        """A progress line without its newline is on the terminal."""

    def notice(self, message: str) -> None:
        if not self.quiet:
            self._say(f"pmcomm: {message}")

    def failed(self, record: dict[str, Any]) -> None:
        from pmcomm_llm.core.inputs import describe_error

        self._say("pmcomm: " + describe_error(record))

    def progressed(self, progress: Any) -> None:
        self.progress = progress
        if self.quiet:
            return
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        self.stream.write(("\r" + progress.line() + "\x1b[K") if self.tty else progress.line() + "\n")
        self.stream.flush()
        self.live = self.tty

    def _say(self, line: str) -> None:
        self.stream.write(("\n" if self.live else "") + line + "\n")
        self.stream.flush()
        self.live = False

    def close(self) -> None:
        if self.tty and not self.quiet and self.progress is not None:
            self.stream.write("\r" + self.progress.line() + "\x1b[K\n")
            self.stream.flush()
            self.live = False


def _run_reported(source: str, settings: Any, options: Any, quiet: bool) -> Any:
    """``pmcomm draft``'s run with its events rendered, then the totals (not with --quiet)."""
    from pmcomm_llm.batch.runner import run_file

    reporter = _Reporter(quiet)
    options.events = reporter
    try:
        summary = run_file(source, settings, options)
    finally:
        reporter.close()
    if not quiet:
        _report_totals(summary, settings)
    return summary


def _report_totals(summary: Any, settings: Any) -> None:
    from pmcomm_llm.batch.cost import is_local_endpoint

    extra = summary.extra
    click.echo(f"pmcomm: drafted {summary.drafted}, skipped {summary.skipped} (already done), failed "
               f"{summary.failed}, flagged by the guard {summary.flagged} → {extra['output']}"
               + (f" (errors: {extra['errors']})" if summary.failed else "")
               + (f"; {extra['not_run']} not run (run the same command again to resume)" if extra["not_run"] else ""),
               err=True)
    if settings.effective_backend == "offline":
        return
    cost, usage = extra["estimated_cost_usd"], extra["usage"]
    cost_text = (f"${cost:.4f}" if cost is not None else "n/a (a local endpoint)"
                 if is_local_endpoint(settings.base_url) else "n/a (model not in prompts/prices.yaml)")
    click.echo(f"pmcomm: tokens in {usage['input_tokens']}, out {usage['output_tokens']} over {usage['calls']} "
               f"calls; estimated cost {cost_text}; cache hits {extra.get('cache', {}).get('hits', 0)}", err=True)


def _draft_to_stdout(input_path: str, settings: Any, errors_path: str | None, fmt: str, quiet: bool,
                     with_eval: bool, no_cache: bool, redraft_flagged: bool) -> Any:
    """``-o -``: draft into a private file, then write it to standard output (no resume: nothing persists)."""
    import tempfile

    from pmcomm_llm.batch.runner import RunOptions

    with tempfile.TemporaryDirectory(prefix="pmcomm-") as tmp:
        out = Path(tmp) / ("drafts.md" if fmt == "md" else "drafts.jsonl")
        options = RunOptions(output=out, errors=Path(errors_path) if errors_path else None, fmt=fmt,
                             evaluate=with_eval, cache=not no_cache, redraft_flagged=redraft_flagged,
                             resume=False, summary=False)
        summary = _run_reported(input_path, settings, options, quiet)
        if out.exists():
            sys.stdout.write(out.read_text(encoding="utf-8"))
            sys.stdout.flush()
    return summary


def _batch_api(source: str, settings: Any, output: str, errors: str | None, state: str | None,
               poll_interval: float, timeout: float | None, quiet: bool) -> Any:
    from pmcomm_llm.batch import batchapi

    if settings.effective_backend == "offline":
        raise ConfigError("--mode batch-api needs a model: set OPENAI_API_KEY (and OPENAI_BASE_URL if not OpenAI)")

    def say(message: str) -> None:
        if not quiet:
            click.echo(f"pmcomm: {message}", err=True)

    summary = batchapi.run_batch_api(source, settings, output, errors=errors, state_path=state,
                                     poll_interval=poll_interval, timeout=timeout, progress=say)
    if not quiet:
        click.echo(f"pmcomm: batch api: {json.dumps(summary.as_dict(), ensure_ascii=False)}", err=True)
    return summary


@cli.group()
def batch() -> None:
    """Follow and finish OpenAI Batch API runs started with `pmcomm draft --mode batch-api`."""


@batch.command(name="status")
@click.argument("state_path", metavar="STATE", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-refresh", is_flag=True, help="Read the state file only (needs no key).")
def batch_status(state_path: str, no_refresh: bool) -> None:
    """Show each batch job of a run: id, status, request counts."""
    from pmcomm_llm.batch import batchapi

    try:
        _echo_json(batchapi.status(state_path, refresh=not no_refresh))
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None


@batch.command(name="collect")
@click.argument("state_path", metavar="STATE", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "source", default=None, help="The input file, if it moved since submission.")
def batch_collect(state_path: str, source: str | None) -> None:
    """Download finished batches and write their drafts and errors (each item exactly once)."""
    from pmcomm_llm.batch import batchapi

    try:
        summary = batchapi.collect(state_path, source=source,
                                   progress=lambda m: click.echo(f"pmcomm: {m}", err=True))
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None
    _echo_json(summary.as_dict())
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


@batch.command(name="cancel")
@click.argument("state_path", metavar="STATE", type=click.Path(exists=True, dir_okay=False))
def batch_cancel(state_path: str) -> None:
    """Cancel the run's unfinished batches."""
    from pmcomm_llm.batch import batchapi

    try:
        batchapi.cancel(state_path)
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None
    click.echo("cancelled")


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _judge(kind: str, model: str | None, base_url: str | None) -> Any:
    """``none`` → no judge; ``openai`` → the judge model from PMCOMM_JUDGE_* (falling back to the drafting one)."""
    if kind == "none":
        return None
    from pmcomm_llm.core.settings import Settings
    from pmcomm_llm.evaluation.judge import Judge
    from pmcomm_llm.evaluation.rubric import load_rubric

    settings = Settings.resolve(judge_model=model, judge_base_url=base_url)
    if settings.judge().api_key is None and not settings.judge().base_url:
        raise ConfigError("--judge openai needs a judge model: set PMCOMM_JUDGE_API_KEY or OPENAI_API_KEY "
                          "(and PMCOMM_JUDGE_BASE_URL / OPENAI_BASE_URL for another endpoint)")
    return Judge(settings, load_rubric())


def _write(path: str, text: str) -> None:
    from pmcomm_llm.core.files import atomic_write_text

    atomic_write_text(path, text)


@cli.group(name="eval", invoke_without_command=True)
@click.option("--scenarios", "scenarios_path", type=click.Path(dir_okay=False), help="Scenarios file (.json/.jsonl).")
@click.option("--drafts", "drafts_path", type=click.Path(dir_okay=False),
              help="Drafts: `pmcomm draft` output, or lines {id, scenario_id, subject, body}.")
@click.option("--judge", "judge_kind", type=click.Choice(["none", "openai"]), default="none",
              help="Add the LLM judge's criteria (PMCOMM_JUDGE_MODEL etc.).")
@click.option("--judge-model", default=None, help="Judge model (PMCOMM_JUDGE_MODEL).")
@click.option("--judge-base-url", default=None, help="Judge endpoint (PMCOMM_JUDGE_BASE_URL).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), help="report.json")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report.")
@click.option("--md", "md_path", type=click.Path(dir_okay=False), help="Also write a Markdown report.")
@click.option("--show", "shown", type=click.IntRange(min=0), default=None, show_default=False,
              help="Drafts the HTML and Markdown reports show at most, failing first (default 1000); "
                   "report.json always holds every draft.")
@click.pass_context
def eval_(ctx: click.Context, scenarios_path: str | None, drafts_path: str | None, judge_kind: str,
          judge_model: str | None, judge_base_url: str | None, output: str | None, html_path: str | None,
          md_path: str | None, shown: int | None) -> None:
    """Score drafts against the rubric: `pmcomm eval --scenarios S --drafts D -o report.json`.

    Exit status 0 when every draft passes, 1 when some fail, 2 for unusable input, 3 for a judge
    configuration or authentication problem.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not (scenarios_path and drafts_path and output):
        raise click.UsageError("pmcomm eval needs --scenarios, --drafts and -o (or a subcommand: compare, calibrate)")
    from pmcomm_llm.core.files import refuse_same_file
    from pmcomm_llm.evaluation.report import SHOWN_DRAFTS, render_html, render_markdown
    from pmcomm_llm.evaluation.scoring import check_draft_file, evaluate_to_file, iter_draft_records, load_scenarios

    shown = SHOWN_DRAFTS if shown is None else shown
    try:
        outputs = {"-o": Path(output), "--html": Path(html_path) if html_path else None,
                   "--md": Path(md_path) if md_path else None}
        refuse_same_file(drafts_path, **outputs)  # the report replaces its path: never the input being read
        refuse_same_file(scenarios_path, **outputs)
        scenarios = load_scenarios(scenarios_path)
        check_draft_file(drafts_path, scenarios)  # every line read once, so bad input stops before any scoring
        judge = _judge(judge_kind, judge_model, judge_base_url)
        report = evaluate_to_file(iter_draft_records(drafts_path), scenarios, output, judge=judge, shown=shown)
        if html_path:
            _write(html_path, render_html(report, max_drafts=shown))
        if md_path:
            _write(md_path, render_markdown(report, max_drafts=shown))
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None
    except KeyboardInterrupt:  # nothing to resume: the report is written whole at the end or not at all
        click.echo(f"interrupted: {output} was not written (a previous report there is untouched)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    summary = report.summary
    click.echo(f"{summary.count} drafts: {summary.passed} passed ({summary.pass_rate or 0:.0%}), mean score "
               f"{summary.mean_score or 0:.2f} → {output}")
    for cid, row in summary.by_criterion.items():
        if (row.rate or 0) < 1:
            click.echo(f"  {cid:26s} {row.rate or 0:6.0%} pass ({row.evaluated - row.passed} failing)")
    if summary.ungraded:
        click.echo(f"  {summary.ungraded} draft(s) not graded by the judge (first: {summary.ungraded_reason}); their "
                   "deterministic checks are in the report", err=True)
    if summary.passed < summary.count or summary.ungraded:
        sys.exit(EXIT_PARTIAL)


@eval_.command()
@click.argument("report_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("report_b", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(report_a: str, report_b: str, as_json: bool) -> None:
    """Per-criterion deltas from A to B, and every draft whose verdict changed."""
    from pmcomm_llm.evaluation.report import compare_report_files, render_comparison

    try:
        cmp = compare_report_files(report_a, report_b)
    except PmcommError as exc:
        raise _Fail(str(exc), EXIT_INPUT) from None
    click.echo(json.dumps(cmp.model_dump(mode="json"), ensure_ascii=False, indent=1) if as_json
               else render_comparison(cmp))


@eval_.command()
@click.option("--set", "sets", type=click.Choice(["corpus-dev", "corpus-holdout", "corpus-dev2", "corpus-holdout2",
                                                 "dev", "holdout", "all"]),
              default="all", help="Which labelled set: corpus-dev / corpus-holdout (the independent corpus, "
                                  "evals/corpus/), dev / holdout (the first golden sets), or all.")
@click.option("--judge", "judge_kind", type=click.Choice(["none", "openai"]), default="none")
@click.option("--judge-model", default=None)
@click.option("--judge-base-url", default=None)
@click.option("--json", "as_json", is_flag=True)
def calibrate(sets: str, judge_kind: str, judge_model: str | None, judge_base_url: str | None,
              as_json: bool) -> None:
    """Precision, recall and F1 of every check (and the judge's kappa) against the labelled drafts."""
    from pmcomm_llm.evaluation.calibration import GOLDEN_SETS, golden_set, render_calibration
    from pmcomm_llm.evaluation.calibration import calibrate as run

    names = list(GOLDEN_SETS) if sets == "all" else [sets]
    try:
        judge = _judge(judge_kind, judge_model, judge_base_url)
        results = {}
        for name in names:
            records, scenarios = golden_set(name)
            results[name] = run(records, scenarios, judge=judge)
    except (PmcommError, OSError) as exc:
        raise _fail_for(exc) from None
    if as_json:
        _echo_json(results)
        return
    for name, result in results.items():
        click.echo(render_calibration(result, f"== golden set: {name} =="))
        click.echo("")


if __name__ == "__main__":  # pragma: no cover
    main()
