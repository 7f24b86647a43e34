"""``report.json`` on disk: written in flat memory as the drafts are scored, read back one draft at a time.

An evaluation of 100,000 drafts must not hold 100,000 results to write them at the end, and a reader comparing
two such reports must not load both. So the file keeps the shape every reader knows (one JSON object with a
``summary`` and a ``results`` array) in a layout that can also be read line by line::

    {"summary": {...},
    "results": [
    {...one draft...},
    {...one draft...}
    ]}

The summary comes first, so ``head -1 report.json`` shows the figures and a reader that needs only them stops
there; every draft is one line (JSON strings escape their newlines). :class:`ReportWriter` appends each result
to a spool beside the target as it is computed, and at the end writes the summary, the spooled results and the
closing bracket to a temp file that replaces the target in one rename: a kill, a full disk or an exception
leaves the previous report whole and no temp file behind. :class:`ReportReader` streams a file in this layout
and falls back to parsing the whole document for any other valid report (older ones were indented), so a
report written by any version can be read.

Each line is pydantic's own ``model_dump_json``: measured against the standard library and orjson on the
results' dicts (``benchmarks/eval_speed.py``, serialisation), it is the fastest of the three and needs no
dictionary built first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from pmcomm_llm.core.errors import InputFileError, PmcommError
from pmcomm_llm.core.files import environment_fault
from pmcomm_llm.evaluation.report.models import DraftResult, Report, Summary

__all__ = ["ReportReader", "ReportWriter", "load_report"]

_HEAD = b'{"summary": '
_RESULTS = b'"results": [\n'
_TAIL = b"\n]}\n"
_FIELDS = frozenset(DraftResult.model_fields)
_COPY_CHUNK = 1 << 20


def _extra_fields(kind: type[DraftResult]) -> set[str] | None:
    """What a subclass (the harness's ``Evaluation``) adds beyond a report row: left out of the file."""
    extra = set(kind.model_fields) - _FIELDS
    return extra or None


class ReportWriter:
    """Streams draft results into ``path`` and replaces it atomically on :meth:`commit`.

    Use it as a context manager: leaving the block without :meth:`commit` (an exception, Ctrl-C) removes the
    spool and leaves ``path`` as it was. Memory stays flat: a result is written and forgotten.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.count = 0
        self._spool: IO[bytes] | None = None
        self._spool_name: str | None = None
        self._exclude: dict[type, set[str] | None] = {}

    def __enter__(self) -> ReportWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._spool_name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                                    suffix=".spool")
        except OSError as exc:
            raise environment_fault(exc, self.path, "write") from None
        self._spool = os.fdopen(fd, "w+b", buffering=_COPY_CHUNK)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._discard()

    def add(self, result: DraftResult) -> None:
        """Append one draft's result (a row of ``results``)."""
        if self._spool is None:
            raise PmcommError("ReportWriter.add outside its `with` block, or after commit")
        kind = type(result)
        if kind not in self._exclude:
            self._exclude[kind] = _extra_fields(kind)
        line = result.model_dump_json(exclude=self._exclude[kind]).encode("utf-8")
        try:
            if self.count:
                self._spool.write(b",\n")
            self._spool.write(line)
        except OSError as exc:
            raise environment_fault(exc, self.path, "write") from None
        self.count += 1

    def commit(self, summary: Summary) -> None:
        """Write the summary and every result added to a temp file, then rename it over ``path``."""
        if self._spool is None:
            raise PmcommError("ReportWriter.commit outside its `with` block, or twice")
        if summary.count != self.count:  # the summary and the rows are one run's: a mismatch is a bug upstream
            raise PmcommError(f"the summary counts {summary.count} drafts but {self.count} results were written")
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb", buffering=_COPY_CHUNK) as out:
                out.write(_HEAD + summary.model_dump_json().encode("utf-8") + b",\n" + _RESULTS)
                self._spool.flush()
                self._spool.seek(0)
                shutil.copyfileobj(self._spool, out, _COPY_CHUNK)
                out.write(_TAIL)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            tmp = None
        except OSError as exc:
            raise environment_fault(exc, self.path, "write") from None
        finally:
            if tmp is not None:
                _unlink(tmp)
            self._discard()

    def _discard(self) -> None:
        if self._spool is not None:
            try:
                self._spool.close()
            except OSError:
                pass
            self._spool = None
        if self._spool_name is not None:
            _unlink(self._spool_name)
            self._spool_name = None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _problem(exc: ValidationError, prefix: str) -> str:
    """The first validation error as ``prefix.field.path: message``: an error that names what is wrong, where."""
    err = exc.errors()[0]
    where = ".".join([prefix, *(str(p) for p in err["loc"])]) if prefix else ".".join(str(p) for p in err["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where or 'the document'}: {err['msg']}{more}"


class ReportReader:
    """A ``report.json`` opened for reading: its :attr:`summary` at once, its results one at a time.

    The summary is read on construction (one line in the streaming layout). :meth:`results` yields every draft's
    result in file order, validating each; a malformed one is an :class:`InputFileError` naming the file, the
    line and the field. Reading never holds more than one result, except for a report not in the streaming
    layout (an older, indented one), which is parsed whole.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._whole: Report | None = None
        try:
            with self.path.open("rb") as handle:
                first = handle.readline()
                second = handle.readline()
        except OSError as exc:
            raise InputFileError(f"{self.path}: cannot read the report ({exc.strerror or exc})") from None
        if first.startswith(_HEAD) and first.endswith(b",\n") and second == _RESULTS:
            self.summary = self._validate(Summary, first[len(_HEAD):-2], "line 1: ", "summary")
        else:
            self._whole = self._load_whole()
            self.summary = self._whole.summary

    def _fail(self, problem: str) -> InputFileError:
        return InputFileError(f"{self.path}: not an evaluation report: {problem}")

    def _validate(self, model: Any, raw: bytes, line: str, prefix: str) -> Any:
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise self._fail(line + _problem(exc, prefix)) from None

    def _load_whole(self) -> Report:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise InputFileError(f"{self.path}: cannot read the report ({exc.strerror or exc})") from None
        return self._validate(Report, raw, "", "")

    def results(self) -> Iterator[DraftResult]:
        """Every draft's result, in the order the evaluation wrote them."""
        if self._whole is not None:
            yield from self._whole.results
            return
        with self.path.open("rb") as handle:
            handle.readline()
            handle.readline()
            for number, raw in enumerate(handle, 3):
                line = raw.rstrip(b"\n")
                if line == b"]}":
                    return
                if line.endswith(b","):
                    line = line[:-1]
                yield self._validate(DraftResult, line, f"line {number}: ", "results")
        raise self._fail("the results array is not closed (the file was cut short)")


def load_report(path: Path | str) -> Report:
    """A whole ``report.json`` in memory, every result validated. For a large report prefer :class:`ReportReader`."""
    reader = ReportReader(path)
    return Report(summary=reader.summary, results=list(reader.results()))
