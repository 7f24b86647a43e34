"""The output and errors files of a run as append-only journals of JSON lines.

Each finished item is appended with one ``write``; if a write fails (disk full) the partial line is cut off
again, so the file never holds half a record followed by whole ones. On resume, the output is scanned: every
good record counts as done, and a line that is not a record — garbled in the middle, or torn at the end by a
kill — is kept aside in ``OUT.rejected`` and reported, never used to cut off what follows it.

A resume of 100,000 items must not parse 300 MB of JSON, so every output line ends with the CRC-32 of what
precedes it (``meta.crc32``, meta's last key) and records the hash of the input item it was drafted from
(``meta.input_hash``): a line whose checksum matches is exactly the line this module wrote, so its id and
hashes are read at known anchors without parsing it. Any other line — written by an earlier version, edited by hand, damaged — is
parsed and judged in full, as before.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmcomm_llm.core.draft import Draft
from pmcomm_llm.core.files import atomic_write_text, environment_fault, is_output_record
from pmcomm_llm.core.inputs import InputItem, Validator
from pmcomm_llm.core.scenario import Scenario

__all__ = ["output_record", "encode_record", "render_markdown", "Appender", "OutputScan", "Resume", "compact",
           "rejected_path", "scan_output"]


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

    def write(self, text: str | bytes) -> None:
        if self.fd is None:
            raise RuntimeError(f"{self.path} is closed")
        data = text.encode("utf-8") if isinstance(text, str) else text
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
    inputs: dict[str, str] = field(default_factory=dict)
    """ids → the input hash their latest line was drafted from (lines written before input hashes: absent)."""
    flagged: set[str] = field(default_factory=set)
    rejected: list[int] = field(default_factory=list)
    """1-based line numbers moved to ``OUT.rejected``."""
    duplicates: int = 0


_CHECK_HEAD = b', "crc32": "'
_CHECK_END = b'"}}\n'
_CHECK_TAIL = len(_CHECK_HEAD) + 8 + len(_CHECK_END)
_ID = re.compile(rb'\{"id": "((?:[^"\\]|\\.)*)", "draft": \{')
_META = b', "meta": {"backend": "'
_SCENARIO_HASH = b'"scenario_hash": "'
_PASSED = b'"guard": {"passed": '
_INPUT_HASH = b'"input_hash": "'


def encode_record(record: dict[str, Any]) -> bytes:
    """One output line: the record's JSON with ``meta`` last, and the CRC-32 of the bytes before it as meta's
    last key, ``crc32`` (see the module docstring)."""
    meta = {k: v for k, v in record["meta"].items() if k != "crc32"}
    ordered = {k: v for k, v in record.items() if k != "meta"}
    ordered["meta"] = meta
    text = json.dumps(ordered, ensure_ascii=False)
    if not meta:
        return text.encode("utf-8") + b"\n"
    body = text[:-2].encode("utf-8")
    return body + b'%s%08x%s' % (_CHECK_HEAD, zlib.crc32(body), _CHECK_END)


def _read_verified(raw: bytes) -> tuple[str, str, str | None, bool] | None:
    """(id, scenario hash, input hash, flagged) of a line :func:`encode_record` wrote and nobody changed since;
    None for any other line, which the caller then parses in full. Anchors are searched only inside ``meta``,
    past every string a model wrote, and a verified line is exactly what we wrote, so each occurs once there."""
    end = len(raw) - _CHECK_TAIL
    if end <= 0 or not raw.startswith(_CHECK_HEAD, end) or not raw.endswith(_CHECK_END):
        return None
    try:
        if zlib.crc32(memoryview(raw)[:end]) != int(raw[end + len(_CHECK_HEAD):-len(_CHECK_END)], 16):
            return None
    except ValueError:
        return None
    head = _ID.match(raw)
    meta = raw.rfind(_META, 0, end)
    scenario_at = raw.find(_SCENARIO_HASH, meta, end)
    passed_at = raw.find(_PASSED, meta, end)
    if head is None or meta < 0 or scenario_at < 0 or passed_at < 0:
        return None
    input_at = raw.find(_INPUT_HASH, passed_at, end)
    scenario_at += len(_SCENARIO_HASH)
    passed_at += len(_PASSED)
    raw_id = head.group(1)
    item_id = json.loads(b'"' + raw_id + b'"') if b"\\" in raw_id else raw_id.decode("utf-8")
    input_hash = None
    if input_at >= 0:
        input_at += len(_INPUT_HASH)
        input_hash = raw[input_at:raw.index(b'"', input_at)].decode("ascii")
    return (item_id, raw[scenario_at:raw.index(b'"', scenario_at)].decode("ascii"), input_hash,
            raw.startswith(b"false", passed_at))


def _read_parsed(raw: bytes) -> tuple[str, str, str | None, bool] | None:
    """The same fields from a line parsed in full; None when it is not an output record."""
    if not raw.endswith(b"\n"):
        return None  # torn at the end by a kill
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not is_output_record(record):
        return None
    meta = record["meta"]
    guard = meta.get("guard")
    input_hash = meta.get("input_hash")
    return (record["id"], meta["scenario_hash"], input_hash if isinstance(input_hash, str) else None,
            isinstance(guard, dict) and guard.get("passed") is False)


def _note(scan: OutputScan, fields: tuple[str, str, str | None, bool]) -> None:
    item_id, scenario_hash, input_hash, flagged = fields
    if item_id in scan.done:
        scan.duplicates += 1
    scan.done[item_id] = scenario_hash
    if input_hash is not None:
        scan.inputs[item_id] = input_hash
    else:
        scan.inputs.pop(item_id, None)
    if flagged:
        scan.flagged.add(item_id)
    else:
        scan.flagged.discard(item_id)


def scan_output(output: Path, *, repair: bool = True) -> OutputScan:
    """Read ``output`` for resuming; move bad lines to ``OUT.rejected`` and rewrite the rest atomically.

    ``repair=False`` only reads (a dry run): the bad lines are counted in ``rejected``, nothing is written.
    """
    scan = OutputScan()
    if not output.exists():
        return scan
    bad: list[tuple[int, bytes]] = []
    try:
        with output.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                fields = _read_verified(raw) or _read_parsed(raw)
                if fields is not None:
                    _note(scan, fields)
                elif raw.strip():
                    scan.rejected.append(number)
                    bad.append((number, raw if raw.endswith(b"\n") else raw + b"\n"))
    except OSError as exc:
        raise environment_fault(exc, output, "read") from None
    if not repair:
        return scan
    if bad:
        _set_aside(output, bad)
    if scan.duplicates:
        compact(output)
    return scan


def _set_aside(output: Path, bad: list[tuple[int, bytes]]) -> None:
    """Append the bad lines to ``OUT.rejected`` and rewrite the output without them (atomically)."""
    side = rejected_path(output)
    try:
        with side.open("ab") as handle:
            handle.writelines(raw for _, raw in bad)
        with output.open("rb") as src:
            drop = {number for number, _ in bad}
            keep = [raw for number, raw in enumerate(src, 1) if number not in drop]
    except OSError as exc:
        raise environment_fault(exc, side, "write") from None
    atomic_write_text(output, b"".join(keep).decode("utf-8"))


class Resume:
    """Which input items an existing output already holds, deciding from hashes before validating anything.

    An item whose input hash is recorded on its id's latest line is the very item drafted there: it is skipped
    unparsed (JSON Lines) and unvalidated. Any other item is validated and compared by id and content hash, as
    before input hashes existed: an output of an earlier version, or an input reformatted since, resumes the
    same, only slower. An edited item is drafted again; so is a flagged one with ``redraft_flagged``.
    """

    def __init__(self, scan: OutputScan, *, redraft_flagged: bool = False) -> None:
        self.scan = scan
        self.redraft_flagged = redraft_flagged
        self.validator = Validator()
        self.known = {h: i for i, h in scan.inputs.items() if not (redraft_flagged and i in scan.flagged)}
        """input hash → id of every item that needs no second look: pass it to ``read_items(known=...)``."""

    def classify(self, item: InputItem) -> tuple[Scenario | None, dict[str, Any] | None]:
        """(the scenario to draft, None), (None, its error record), or (None, None) when the output has it."""
        item_id = self.known.get(item.digest) if item.digest is not None else None
        if item_id is not None:
            return None, self.validator.claim(item, item_id)
        scenario, error = self.validator.check(item)
        if scenario is None:
            return None, error
        assert scenario.id is not None
        redo = self.redraft_flagged and scenario.id in self.scan.flagged
        if self.scan.done.get(scenario.id) == scenario.content_hash()[:16] and not redo:
            return None, None
        return scenario, None


def compact(output: Path) -> None:
    """Keep only the last line per id (an edited scenario is appended again), rewriting atomically."""
    last: dict[str, int] = {}
    try:
        with output.open("rb") as src:
            lines = src.readlines()
    except OSError as exc:
        raise environment_fault(exc, output, "read") from None
    for number, raw in enumerate(lines):
        fields = _read_verified(raw)
        last[fields[0] if fields is not None else json.loads(raw)["id"]] = number
    if len(last) == len(lines):
        return
    keep = set(last.values())
    atomic_write_text(output, b"".join(raw for n, raw in enumerate(lines) if n in keep).decode("utf-8"))


def output_record(draft: Draft, scenario_id: str, input_hash: str | None = None) -> dict[str, Any]:
    """The output line of a draft; ``input_hash`` (the item's, see :func:`~pmcomm_llm.core.inputs.digest`) lets
    a resume skip the item without validating it again."""
    body = draft.model_dump(mode="json", exclude={"meta"})
    meta = draft.meta.model_dump(mode="json")
    if input_hash is not None:
        meta["input_hash"] = input_hash
    return {"id": scenario_id, "draft": body, "meta": meta}


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

