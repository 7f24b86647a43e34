"""Reading input files into items: Input is a JSON array, an object with a ``scenarios`` array, JSON Lines, YAML (``.yaml``/``.yml``: one scenario,
a list, or several documents; comments allowed), or standard input holding any of the JSON forms. Each item is validated on its own: a bad item becomes an error record naming the item (its index, or
its line for JSONL) and the field, and the other items still run. Every item ends in exactly one place: the
output file or the errors file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Container, Iterable, Iterator

from pmcomm_llm.core.errors import InputFileError, ScenarioError
from pmcomm_llm.core.scenario import Scenario, parse_scenario

__all__ = ["InputItem", "Validator", "data_digest", "describe_error", "digest", "error_record", "prepare",
           "read_items"]


def digest(raw: bytes) -> str:
    """The input hash of one item's bytes as read (32 hex digits): what a resume compares before validating."""
    return hashlib.sha256(raw).hexdigest()[:32]


def data_digest(data: Any) -> str | None:
    """The input hash of an item known only as parsed data (YAML, a whole JSON document): its canonical JSON."""
    try:
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None  # not JSON-shaped (a YAML date, say): such an item is always validated on resume
    return digest(blob.encode("utf-8"))


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
    digest: str | None = None
    """The input hash (:func:`digest`) of the item's bytes, or of its canonical JSON when it has no bytes of its
    own; None when neither exists. Equal hashes mean the same item, so a resume can skip it unparsed."""
    parsed: bool = True
    """False for a JSON Lines item left unparsed because its hash was in ``read_items(known=...)``."""


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputFileError(f"{source}: line {line} is not UTF-8 text (byte offset {exc.start}); "
                             "save the file as UTF-8") from None


def _jsonl_items(lines: Iterable[tuple[int, bytes]], source: str, known: Container[str] = ()) -> Iterator[InputItem]:
    position = 0
    sha256 = hashlib.sha256
    for number, raw in lines:
        key = sha256(raw.strip()).hexdigest()[:32]  # digest(), inlined: this loop runs once per line of 100k
        if key in known:  # a line the caller has seen byte for byte: not decoded, not parsed
            yield InputItem(position, f"line {number}", line=number, digest=key, parsed=False)
            position += 1
            continue
        item = _jsonl_item(position, number, raw, key)
        if item is not None:
            yield item
            position += 1
    if position == 0:
        raise InputFileError(f"{source}: holds no scenarios (only blank lines); expected one scenario per line")


def _jsonl_item(position: int, number: int, raw: bytes, key: str) -> InputItem | None:
    """One line parsed, or the reason it cannot be; None for a blank line (it is not an item)."""
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        return InputItem(position, f"line {number}", error=f"not UTF-8 text (byte {exc.start} of the line)",
                         line=number)
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return InputItem(position, f"line {number}", error=f"not valid JSON ({exc.msg} at column {exc.colno})",
                         line=number)
    except RecursionError:
        return InputItem(position, f"line {number}", error=_TOO_DEEP, line=number)
    return InputItem(position, f"line {number}", data=data, line=number, digest=key)


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
        yield InputItem(i, f"item {i + 1}", data=data, digest=data_digest(data))


_CHUNK = 1 << 20


class _ArrayStream:
    """The text of a JSON array read in 1 MiB chunks, with a cursor: at most one chunk and one item in memory."""

    def __init__(self, path: Path, handle: Any) -> None:
        import codecs

        self.path = path
        self.handle = handle
        self.utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf, self.pos, self.offset, self.eof = "", 0, 0, False

    def more(self) -> bool:
        """Append the next chunk to what is left of the buffer; False at the end of the file."""
        if self.eof:
            return False
        raw = self.handle.read(_CHUNK)
        try:
            text = self.utf8.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{self.path}: not UTF-8 text near byte {self.offset + exc.start}; save the file "
                                 "as UTF-8") from None
        self.offset += len(raw)
        self.eof = not raw
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), without consuming it."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self, decoder: json.JSONDecoder, index: int) -> tuple[Any, str]:
        """The next JSON value and the input hash of its text, reading more chunks until it is whole."""
        self.peek()
        while True:
            try:
                obj, end = decoder.raw_decode(self.buf, self.pos)
                break
            except RecursionError:
                raise InputFileError(f"{self.path}: item {index + 1} is {_TOO_DEEP}; items before it were read, "
                                     "fix it (or use JSON Lines, where one bad line does not stop the rest)"
                                     ) from None
            except json.JSONDecodeError as exc:
                if not self.more():
                    raise InputFileError(f"{self.path}: item {index + 1} is not valid JSON ({exc.msg})") from None
        key = digest(self.buf[self.pos:end].encode("utf-8"))
        self.pos = end
        return obj, key


def _stream_json_array(path: Path) -> Iterator[InputItem]:
    """Items of a top-level JSON array, parsed one at a time from 1 MiB chunks: never two copies in memory."""
    decoder = json.JSONDecoder()
    with path.open("rb") as handle:
        stream = _ArrayStream(path, handle)
        if stream.peek() != "[":
            raise AssertionError("caller checked for '['")
        stream.pos += 1
        if stream.peek() == "]":
            return
        index = 0
        while True:
            obj, key = stream.value(decoder, index)
            yield InputItem(index, f"item {index + 1}", data=obj, digest=key)
            index += 1
            nxt = stream.peek()
            if nxt == ",":
                stream.pos += 1
                continue
            if nxt == "]":
                return
            raise InputFileError(f"{path}: expected ',' or ']' after item {index}")


def _first_char(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return chr(head[0]) if head else ""


def read_items(source: str | Path, *, known: Container[str] = ()) -> Iterator[InputItem]:
    """Yield the items of an input file (``-`` is standard input). JSONL is read one line at a time.

    ``known``: input hashes the caller needs no data for (a resume's finished items). A JSON Lines item with
    one of them is yielded with ``parsed=False`` and no data, so a re-run over a finished output never parses
    it; items of other formats are always parsed (finding where one ends is parsing it).
    """
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
            yield from _jsonl_items(enumerate(raw.splitlines(), 1), "standard input", known)
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
            yield from _jsonl_items(enumerate(handle, 1), name, known)
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
            yield InputItem(position, f"line {line}", data=data, line=line, digest=data_digest(data))
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


class Validator:
    """Validates items one at a time and refuses a second item with an id already seen in the batch.

    Duplicates are errors, not silent overwrites; an item a resume skips unparsed still claims its id here, so
    a later copy of it is refused exactly as when every item was validated.
    """

    def __init__(self, *, for_evaluation: bool = False) -> None:
        self.for_evaluation = for_evaluation
        self.seen: set[str] = set()

    def check(self, item: InputItem) -> tuple[Scenario | None, dict[str, Any] | None]:
        """The item's scenario, or its error record (unreadable, invalid, or a duplicate id)."""
        raw_id = item.data.get("id") if isinstance(item.data, dict) else None
        if item.error is not None:
            return None, error_record(item, item_id=raw_id, stage="input", message=item.error)
        try:
            scenario = parse_scenario(item.data, index=item.where, for_evaluation=self.for_evaluation)
        except ScenarioError as exc:
            return None, error_record(item, item_id=raw_id if isinstance(raw_id, str) else None,
                                      stage="validation", exc=exc)
        assert scenario.id is not None
        duplicate = self.claim(item, scenario.id)
        return (None, duplicate) if duplicate is not None else (scenario, None)

    def claim(self, item: InputItem, item_id: str) -> dict[str, Any] | None:
        """Record ``item_id`` as taken; the duplicate error when an earlier item took it."""
        if item_id in self.seen:
            return error_record(item, item_id=item_id, stage="validation", field="id",
                                message=f"duplicate id {item_id!r}: ids must be unique in a batch")
        self.seen.add(item_id)
        return None


def prepare(items: Iterable[InputItem], *, for_evaluation: bool = False,
            ) -> Iterator[tuple[InputItem, Scenario | None, dict[str, Any] | None]]:
    """Validate items one by one (see :class:`Validator`)."""
    validator = Validator(for_evaluation=for_evaluation)
    for item in items:
        scenario, error = validator.check(item)
        yield item, scenario, error
