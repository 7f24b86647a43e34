"""Writing only what is ours, atomically, one run at a time.

Three promises a batch run makes about the files around it, kept here so the draft runner, the Batch API
state and ``pmcomm eval`` keep them the same way:

* **Never destroy a file we did not write.** An output or errors path that is the input, or that already holds
  lines pmcomm did not write, is refused before anything is opened for writing.
* **Reports and state are written atomically** (a temp file in the same directory, fsync, rename), so a full
  disk or a kill leaves the old file or the new one, never half of one.
* **One run per output.** An advisory lock beside the output makes a second run on it fail at once.

An OS error here is an :class:`~pmcomm_llm.core.errors.EnvironmentFault` whose message names the file and what to do.
"""

from __future__ import annotations

import errno as errno_codes
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from pmcomm_llm.core.errors import EnvironmentFault, OutputFileError

__all__ = ["RunLock", "atomic_write_text", "environment_fault", "refuse_foreign", "refuse_same_file",
           "MARKDOWN_MARKER", "is_output_record", "is_error_record"]

MARKDOWN_MARKER = "<!-- pmcomm-llm drafts -->"
"""First line of every Markdown output we write: how a later run knows the file is ours to replace."""

_ADVICE = {
    errno_codes.ENOSPC: "the disk is full: free some space",
    errno_codes.EDQUOT: "the disk quota is exceeded: free some space",
    errno_codes.EROFS: "the file system is read-only: choose a writable location",
    errno_codes.EACCES: "permission denied: choose a location you can write to",
    errno_codes.EPERM: "permission denied: choose a location you can write to",
    errno_codes.EMFILE: "too many open files: lower --concurrency or raise the open-file limit (ulimit -n)",
    errno_codes.ENFILE: "the system is out of file descriptors: lower --concurrency",
}


def environment_fault(exc: OSError, path: Path | str | None, doing: str) -> EnvironmentFault:
    """A readable, resumable error for an OS failure while ``doing`` something with ``path``."""
    advice = _ADVICE.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    where = f" {path}" if path is not None else ""
    return EnvironmentFault(f"could not {doing}{where}: {advice}; finished items are saved, run the same command "
                            "again to resume", path=str(path) if path is not None else None, errno=exc.errno)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Replace ``path`` with ``text`` all at once (temp file + fsync + rename in the same directory)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise environment_fault(exc, target, "write") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise environment_fault(exc, target, "write") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def is_output_record(obj: Any) -> bool:
    """A line ``pmcomm draft`` writes to its output: ``{"id", "draft", "meta": {"scenario_hash", ...}}``."""
    return (isinstance(obj, dict) and isinstance(obj.get("id"), str) and isinstance(obj.get("draft"), dict)
            and isinstance(obj.get("meta"), dict) and isinstance(obj["meta"].get("scenario_hash"), str))


def is_error_record(obj: Any) -> bool:
    """A line of an errors file: ``{"id", "stage", "message", ...}``."""
    return isinstance(obj, dict) and "stage" in obj and "message" in obj and "id" in obj


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_same_file(input_path: str | None, **paths: Path) -> None:
    """Refuse when an output path is the input file, or two output paths are one file."""
    items = [(name, Path(p)) for name, p in paths.items() if p is not None]
    if input_path and input_path != "-":
        source = Path(input_path)
        for name, path in items:
            if path.resolve() == source.resolve() or _same(path, source):
                raise OutputFileError(f"{name} {path} is the input file: pmcomm would overwrite its own input; "
                                      f"choose another {name} path", path=str(path))
    for i, (name_a, a) in enumerate(items):
        for name_b, b in items[i + 1:]:
            if a.resolve() == b.resolve() or _same(a, b):
                raise OutputFileError(f"{name_a} and {name_b} are the same file ({a}): give them different paths",
                                      path=str(a))


def refuse_foreign(path: Path, kind: str, *, is_ours: Callable[[Any], bool] | None = None,
                   sample: int = 20) -> None:
    """Refuse to write ``path`` when it exists, is not empty and holds no pmcomm ``kind`` among its first lines.

    ``kind`` is ``"output"``, ``"errors"`` or ``"markdown"``. A file we wrote with a damaged line is still ours:
    one good record among the first ``sample`` lines is enough.
    """
    try:
        if not path.exists() or path.stat().st_size == 0:
            return
        if path.is_dir():
            raise OutputFileError(f"{path} is a directory: give a file path", path=str(path))
        with path.open("rb") as handle:
            head = [handle.readline() for _ in range(sample)]
    except OSError as exc:
        raise environment_fault(exc, path, "read") from None
    lines = [raw for raw in head if raw.strip()]
    if not lines:
        return
    if kind == "summary":  # one JSON document, not lines
        try:
            if is_ours is not None and is_ours(json.loads(path.read_bytes())):
                return
        except (ValueError, RecursionError, OSError):
            pass
    elif kind == "markdown":
        if lines[0].decode("utf-8", "replace").strip() == MARKDOWN_MARKER:
            return
    else:
        check = is_ours or (is_output_record if kind == "output" else is_error_record)
        for raw in lines:
            try:
                if check(json.loads(raw)):
                    return
            except (ValueError, RecursionError):
                continue
    raise OutputFileError(
        f"{path} already exists and does not look like a pmcomm {kind} file: pmcomm will not overwrite a file "
        f"it did not write. Choose another path, or move or delete {path} first.", path=str(path))


class RunLock:
    """An exclusive, non-blocking advisory lock on ``<target>.lock``; a second holder fails at once.

    ``fcntl.flock`` is released by the kernel when the process dies, so a killed run never leaves a stale lock.
    The lock file is removed on release; a waiter that locked a file already unlinked notices and retries.
    """

    def __init__(self, target: Path, what: str = "run") -> None:
        self.path = target.with_name(target.name + ".lock")
        self.target = target
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock; runs are not serialised there
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                    os.close(fd)
                    raise OutputFileError(
                        f"another pmcomm {self.what} is writing {self.target}"
                        + (f" (pid {holder})" if holder.isdigit() else "")
                        + ": wait for it to finish, or choose another output path", path=str(self.target)) from None
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)  # we locked a file the previous holder had just removed: take the new one
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as exc:
            raise environment_fault(exc, self.path, "create the lock file") from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
