"""The ``pmcomm`` command: parse arguments, call the library, render. No logic of its own.

Exit status (also in the README):
  0  every item drafted (or validated)
  1  some items failed; each is in the errors file with its id/line, field and reason
  2  the command or the input file is unusable (bad arguments, missing/empty/non-JSON/non-UTF-8 file)
  3  the run stopped: configuration or authentication problem (nothing more could succeed)
  130 interrupted (Ctrl-C); re-run the same command to resume
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from pmcomm_llm.errors import AuthenticationError, ConfigError, PmcommError

EXIT_PARTIAL, EXIT_INPUT, EXIT_STOPPED, EXIT_INTERRUPTED = 1, 2, 3, 130


class _Fail(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pmcomm-llm")
def main() -> None:
    """Draft hard client messages (decline, cancel, reset expectations, delay) and check them."""


@main.command()
def schema() -> None:
    """Print the JSON Schema of a scenario (the input format)."""
    from pmcomm_llm.scenario import Scenario

    click.echo(json.dumps(Scenario.model_json_schema(), ensure_ascii=False, indent=2))


@main.command()
@click.argument("input_path", metavar="INPUT")
def validate(input_path: str) -> None:
    """Check INPUT (.json, .jsonl or - for stdin) without drafting."""
    from pmcomm_llm.batch import prepare, read_items

    ok = bad = 0
    try:
        for _item, scenario, error in prepare(read_items(input_path)):
            if error is not None:
                bad += 1
                click.echo(f"{error.get('where')}: {error['field'] or '-'}: {error['message']}", err=True)
            else:
                ok += 1
    except PmcommError as exc:
        raise _Fail(str(exc), EXIT_INPUT) from None
    click.echo(f"{ok} valid, {bad} invalid")
    if bad:
        sys.exit(EXIT_PARTIAL)


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Output file: JSON Lines (one line per scenario) or Markdown with --format md.")
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
def draft(input_path: str, output: str, backend: str | None, model: str | None, base_url: str | None,
          method: str | None, concurrency: int | None, errors_path: str | None, fmt: str, quiet: bool) -> None:
    """Draft a message for every scenario in INPUT (.json, .jsonl, or - for stdin)."""
    from pmcomm_llm.run import RunOptions, run_file
    from pmcomm_llm.settings import Settings

    try:
        settings = Settings.resolve(backend=backend, model=model, base_url=base_url, method=method,
                                    concurrency=concurrency)
        options = RunOptions(output=Path(output), errors=Path(errors_path) if errors_path else None,
                             fmt=fmt, quiet=quiet)
        summary = run_file(input_path, settings, options)
    except KeyboardInterrupt:
        click.echo("interrupted: finished items are saved; run the same command again to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (AuthenticationError, ConfigError) as exc:
        raise _Fail(str(exc), EXIT_STOPPED) from None
    except PmcommError as exc:
        raise _Fail(str(exc), EXIT_INPUT) from None
    if summary.stopped:
        raise _Fail(summary.stopped, EXIT_STOPPED)
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
