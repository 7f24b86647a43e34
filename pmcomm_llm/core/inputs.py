"""Reading input files into items: Input is a JSON array, an object with a ``scenarios`` array, JSON Lines, YAML (``.yaml``/``.yml``: one scenario,
a list, or several documents; comments allowed), or standard input holding any of the JSON forms. Each item is validated on its own: a bad item becomes an error record naming the item (its index, or
its line for JSONL) and the field, and the other items still run. Every item ends in exactly one place: the
output file or the errors file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from pmcomm_llm.core.errors import InputFileError, ScenarioError
from pmcomm_llm.core.scenario import Scenario, parse_scenario

__all__ = ["InputItem", "describe_error", "error_record", "prepare", "read_items"]


@dataclass(slots=True)
class InputItem:
    """One entry of an input file: parsed data, or the reason it could not be read."""

    position: int
    """0-based position among the file's items."""
    where: str
    """How a person finds it: ``item 3`` (JSON, 1-based) or ``line 7`` (JSONL)."""
    data: Any = None
    error: str | None = None
    line: int | None = None


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputFileError(f"{source}: line {line} is not UTF-8 text (byte offset {exc.start}); "
                             "save the file as UTF-8") from None


def _jsonl_items(lines: Iterable[tuple[int, bytes]], source: str) -> Iterator[InputItem]:
    position = 0
    for number, raw in lines:
        try:
            text = raw.decode("utf-8-sig").strip()
        except UnicodeDecodeError as exc:
            yield InputItem(position, f"line {number}", error=f"not UTF-8 text (byte {exc.start} of the line)",
                            line=number)
            position += 1
            continue
        if not text:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield InputItem(position, f"line {number}", error=f"not valid JSON ({exc.msg} at column {exc.colno})",
                            line=number)
        except RecursionError:
            yield InputItem(position, f"line {number}", error=_TOO_DEEP, line=number)
        else:
            yield InputItem(position, f"line {number}", data=data, line=number)
        position += 1
    if position == 0:
        raise InputFileError(f"{source}: holds no scenarios (only blank lines); expected one scenario per line")


_TOO_DEEP = "nested too deeply to be a scenario (JSON nesting beyond what a scenario can hold)"


def _json_items(text: str, source: str) -> Iterator[InputItem]:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise InputFileError(f"{source}: {_TOO_DEEP}") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                             ) from None
    if isinstance(doc, dict) and isinstance(doc.get("scenarios"), list):
        doc = doc["scenarios"]
    elif isinstance(doc, dict) and "kind" in doc:
        doc = [doc]
    if not isinstance(doc, list):
        raise InputFileError(f"{source}: expected a JSON array of scenarios or an object with a 'scenarios' array")
    for i, data in enumerate(doc):
        yield InputItem(i, f"item {i + 1}", data=data)


_CHUNK = 1 << 20


def _stream_json_array(path: Path) -> Iterator[InputItem]:
    """Items of a top-level JSON array, parsed one at a time from 1 MiB chunks: never two copies in memory."""
    import codecs

    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    buf, pos, index, offset, eof = "", 0, 0, 0, False
    with path.open("rb") as handle:
        def more() -> bool:
            nonlocal buf, pos, eof, offset
            if eof:
                return False
            raw = handle.read(_CHUNK)
            try:
                text = utf8.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise InputFileError(f"{path}: not UTF-8 text near byte {offset + exc.start}; save the file as "
                                     "UTF-8") from None
            offset += len(raw)
            eof = not raw
            buf = buf[pos:] + text
            pos = 0
            return True

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not more():
                    return ""

        if skip_ws() != "[":
            raise AssertionError("caller checked for '['")
        pos += 1
        if skip_ws() == "]":
            return
        while True:
            skip_ws()
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    break
                except RecursionError:
                    raise InputFileError(f"{path}: item {index + 1} is {_TOO_DEEP}; items before it were read, "
                                         "fix it (or use JSON Lines, where one bad line does not stop the rest)"
                                         ) from None
                except json.JSONDecodeError as exc:
                    if not more():
                        raise InputFileError(f"{path}: item {index + 1} is not valid JSON ({exc.msg})") from None
            pos = end
            yield InputItem(index, f"item {index + 1}", data=obj)
            index += 1
            nxt = skip_ws()
            if nxt == ",":
                pos += 1
                continue
            if nxt == "]":
                return
            raise InputFileError(f"{path}: expected ',' or ']' after item {index}")


def _first_char(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return chr(head[0]) if head else ""


def read_items(source: str | Path) -> Iterator[InputItem]:
    """Yield the items of an input file (``-`` is standard input). JSONL is read one line at a time."""
    name = str(source)
    if name == "-":
        raw = sys.stdin.buffer.read()
        text = _decode(raw, "standard input")
        stripped = text.lstrip()
        if not stripped:
            raise InputFileError("standard input is empty: expected scenarios as JSON or JSON Lines")
        if stripped[0] == "[" or (stripped[0] == "{" and _is_single_json(stripped)):
            yield from _json_items(text, "standard input")
        else:
            yield from _jsonl_items(enumerate(raw.splitlines(), 1), "standard input")
        return
    path = Path(name)
    if not path.is_file():
        raise InputFileError(f"{name}: no such file")
    if path.suffix.lower() in (".yaml", ".yml"):
        yield from _yaml_items(_decode(path.read_bytes(), name), name)
        return
    if path.suffix.lower() == ".jsonl":
        if path.stat().st_size == 0:
            raise InputFileError(f"{name}: the file is empty; expected one scenario per line")
        with path.open("rb") as handle:
            yield from _jsonl_items(enumerate(handle, 1), name)
        return
    if path.stat().st_size > 0 and _first_char(path) == "[":
        yield from _stream_json_array(path)
        return
    text = _decode(path.read_bytes(), name)
    if not text.strip():
        raise InputFileError(f"{name}: the file is empty; expected a JSON array of scenarios")
    yield from _json_items(text, name)


def _yaml_items(text: str, source: str) -> Iterator[InputItem]:
    """Scenarios from YAML (comments allowed): one scenario, a list of them, ``scenarios: [...]``, or several
    documents separated by ``---``. Each item is named by the line it starts on."""
    import yaml

    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputFileError(f"{source}: not valid YAML{at} ({problem})") from None
    except RecursionError:
        raise InputFileError(f"{source}: {_TOO_DEEP}") from None
    position = 0
    for node, doc in zip(nodes, docs):
        if isinstance(doc, dict) and isinstance(doc.get("scenarios"), list):
            node = next(v for k, v in node.value if getattr(k, "value", None) == "scenarios")
            doc = doc["scenarios"]
        entries = list(zip(node.value, doc)) if isinstance(doc, list) else [(node, doc)]
        for child, data in entries:
            line = child.start_mark.line + 1
            yield InputItem(position, f"line {line}", data=data, line=line)
            position += 1
    if position == 0:
        raise InputFileError(f"{source}: holds no scenarios; expected a scenario, or a list of them, in YAML")


def _is_single_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


def error_record(item: InputItem | None, *, item_id: str | None, stage: str, exc: BaseException | None = None,
                 message: str | None = None, field: str | None = None) -> dict[str, Any]:
    """An errors-file line: which item, at which stage, what kind of error, and a readable reason."""
    record: dict[str, Any] = {"id": item_id}
    if item is not None:
        record["where"] = item.where
        if item.line is not None:
            record["line"] = item.line
        else:
            record["index"] = item.position
    if isinstance(exc, ScenarioError):
        field = field or exc.field
        message = message or exc.reason
    record.update({"stage": stage, "field": field,
                   "error_type": type(exc).__name__ if exc is not None else "InputError",
                   "message": message or str(exc)})
    return record


def describe_error(record: dict[str, Any]) -> str:
    """One line a person acts on: where (line or item, and the id), the field path once, what is wrong."""
    where = record.get("where") or ""
    item_id = record.get("id")
    if item_id:
        shown = json.dumps(str(item_id), ensure_ascii=False)[1:-1]  # control characters escaped
        where = f"{where} ({shown})" if where else shown
    field, message = record.get("field"), str(record.get("message", ""))
    if field and not message.startswith(f"{field}: "):
        message = f"{field}: {message}"
    elif not field:
        message = f"{record.get('stage', 'error')}: {message}"
    return f"{where}: {message}" if where else message


def prepare(items: Iterable[InputItem], *, for_evaluation: bool = False,
            ) -> Iterator[tuple[InputItem, Scenario | None, dict[str, Any] | None]]:
    """Validate items one by one; duplicates of an id already seen are errors, not silent overwrites."""
    seen: set[str] = set()
    for item in items:
        raw_id = item.data.get("id") if isinstance(item.data, dict) else None
        if item.error is not None:
            yield item, None, error_record(item, item_id=raw_id, stage="input", message=item.error)
            continue
        try:
            scenario = parse_scenario(item.data, index=item.where, for_evaluation=for_evaluation)
        except ScenarioError as exc:
            yield item, None, error_record(item, item_id=raw_id if isinstance(raw_id, str) else None,
                                           stage="validation", exc=exc)
            continue
        assert scenario.id is not None
        if scenario.id in seen:
            yield item, None, error_record(item, item_id=scenario.id, stage="validation", field="id",
                                           message=f"duplicate id {scenario.id!r}: ids must be unique in a batch")
            continue
        seen.add(scenario.id)
        yield item, scenario, None
