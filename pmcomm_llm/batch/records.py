"""The output and errors files of a run as append-only journals of JSON lines.

Each finished item is appended with one ``write``; if a write fails (disk full) the partial line is cut off
again, so the file never holds half a record followed by whole ones. On resume, the output is scanned: every
good record counts as done, and a line that is not a record — garbled in the middle, or torn at the end by a
kill — is kept aside in ``OUT.rejected`` and reported, never used to cut off what follows it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmcomm_llm.core.draft import Draft
from pmcomm_llm.core.files import atomic_write_text, environment_fault, is_output_record

__all__ = ["output_record", "render_markdown", "Appender", "OutputScan", "compact", "rejected_path", "scan_output"]


def rejected_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejected")


class Appender:
    """Appends whole lines with one ``write`` each; a failed write is rolled back and raised as a fault."""

    def __init__(self, path: Path, *, truncate: bool) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
            self.fd: int | None = os.open(path, flags, 0o644)
        except OSError as exc:
            raise environment_fault(exc, path, "open for writing") from None
        self.count = 0

    def write(self, text: str) -> None:
        if self.fd is None:
            raise RuntimeError(f"{self.path} is closed")
        data = text.encode("utf-8")
        start = os.fstat(self.fd).st_size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            try:
                os.ftruncate(self.fd, start)  # no torn line left behind for the next record to follow
            except OSError:
                pass
            raise environment_fault(exc, self.path, "write") from None
        self.count += 1

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass(slots=True)
class OutputScan:
    """What an existing output holds: ids → scenario hash (latest line wins), and the lines set aside."""

    done: dict[str, str] = field(default_factory=dict)
    flagged: set[str] = field(default_factory=set)
    rejected: list[int] = field(default_factory=list)
    """1-based line numbers moved to ``OUT.rejected``."""
    duplicates: int = 0


def scan_output(output: Path, *, repair: bool = True) -> OutputScan:
    """Read ``output`` for resuming; move bad lines to ``OUT.rejected`` and rewrite the rest atomically.

    ``repair=False`` only reads (a dry run): the bad lines are counted in ``rejected``, nothing is written.
    """
    scan = OutputScan()
    if not output.exists():
        return scan
    keep: list[bytes] = []
    bad: list[bytes] = []
    try:
        with output.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                record = None
                if raw.endswith(b"\n"):
                    try:
                        record = json.loads(raw)
                    except (ValueError, RecursionError):
                        record = None
                if not is_output_record(record):
                    if raw.strip():
                        scan.rejected.append(number)
                        bad.append(raw if raw.endswith(b"\n") else raw + b"\n")
                    continue
                assert isinstance(record, dict)
                if record["id"] in scan.done:
                    scan.duplicates += 1
                scan.done[record["id"]] = record["meta"]["scenario_hash"]
                guard = record["meta"].get("guard")
                if isinstance(guard, dict) and guard.get("passed") is False:
                    scan.flagged.add(record["id"])
                else:
                    scan.flagged.discard(record["id"])
                keep.append(raw)
    except OSError as exc:
        raise environment_fault(exc, output, "read") from None
    if not repair:
        return scan
    if bad:
        side = rejected_path(output)
        try:
            with side.open("ab") as handle:
                handle.writelines(bad)
        except OSError as exc:
            raise environment_fault(exc, side, "write") from None
        atomic_write_text(output, b"".join(keep).decode("utf-8"))
    if scan.duplicates:
        compact(output)
    return scan


def compact(output: Path) -> None:
    """Keep only the last line per id (an edited scenario is appended again), rewriting atomically."""
    last: dict[str, int] = {}
    try:
        with output.open("rb") as src:
            lines = src.readlines()
    except OSError as exc:
        raise environment_fault(exc, output, "read") from None
    for number, raw in enumerate(lines):
        last[json.loads(raw)["id"]] = number
    if len(last) == len(lines):
        return
    keep = set(last.values())
    atomic_write_text(output, b"".join(raw for n, raw in enumerate(lines) if n in keep).decode("utf-8"))


def output_record(draft: Draft, scenario_id: str) -> dict[str, Any]:
    body = draft.model_dump(mode="json", exclude={"meta"})
    return {"id": scenario_id, "draft": body, "meta": draft.meta.model_dump(mode="json")}


def render_markdown(record: dict[str, Any]) -> str:
    """One output record as Markdown, for people to read. A flagged draft starts with what is wrong with it;
    notes for the PM to confirm come right after the heading too."""
    draft = record["draft"]
    meta = record["meta"]
    guard = meta["guard"]
    lines = [f"## {record['id']} — {meta['kind']} ({meta['language']}, {meta['channel']})", ""]
    if not guard["passed"]:
        lines += ["> **FLAGGED by the guard — read before sending:**"]
        lines += [f"> - `{v['id']}`: {v['message']}" for v in guard["violations"]]
        lines += [""]
    if guard.get("notes"):
        lines += ["> **To confirm before sending:**"] + [f"> - {n['message']}" for n in guard["notes"]] + [""]
    if draft.get("subject"):
        lines += [f"**Subject:** {draft['subject']}", ""]
    lines += [draft["body"], "", f"*Next step:* {draft['next_step']}  "]
    if meta.get("dropped"):
        lines += [f"*Left out to fit the length or the channel:* {', '.join(meta['dropped'])}  "]
    lines += [f"*Backend:* {meta['backend']} / {meta['model']} · prompt {meta['prompt_version']} · guard "
              f"{'passed' if guard['passed'] else 'FLAGGED'}", ""]
    return "\n".join(lines)
