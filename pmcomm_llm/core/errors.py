"""One error root, with subclasses that carry the data a caller needs to act on them.

A user's mistake (a bad scenario, a missing setting, a rejected key) is a ``PmcommError`` whose message says
what to fix; the CLI prints that message and never a traceback. Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DraftRetryError",
    "EnvironmentFault",
    "InputFileError",
    "OutputFileError",
    "MalformedReplyError",
    "OutputTruncatedError",
    "PmcommError",
    "PromptError",
    "ProviderError",
    "RevisionError",
    "RunIntegrityError",
    "ScenarioError",
]


class PmcommError(Exception):
    """Root of every error this library raises on purpose."""


class ConfigError(PmcommError):
    """A setting is missing or invalid; the message names the setting to change."""


class PromptError(PmcommError):
    """A prompt or data file is missing, malformed, or a template variable has no value."""


class ScenarioError(PmcommError):
    """A scenario failed validation. ``index`` is its position (or JSONL line), ``field`` the path."""

    def __init__(self, reason: str, *, index: int | str | None = None, field: str | None = None,
                 item_id: str | None = None) -> None:
        self.reason = reason
        self.index = index
        self.field = field
        self.item_id = item_id
        where = []
        if item_id:
            where.append(f"scenario {item_id!r}")
        elif index is not None:
            where.append(f"item {index}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


class LengthLimitError(ScenarioError):
    """``max_chars`` is shorter than the parts a message must keep; ``minimum`` is the shortest that fits."""

    def __init__(self, reason: str, *, minimum: int, item_id: str | None = None) -> None:
        self.minimum = minimum
        super().__init__(reason, field="max_chars", item_id=item_id)


class InputFileError(PmcommError):
    """The input file as a whole cannot be read (missing, not JSON, not UTF-8)."""


class OutputFileError(PmcommError):
    """An output, errors or state path pmcomm must not write: it is the input, holds lines pmcomm did not write,
    or another run holds it. Nothing was written; the message says how to proceed."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class EnvironmentFault(PmcommError):
    """The machine, not the item, failed (disk full, read-only path, corrupt cache, no file descriptors).

    Every further item would fail the same way, so a run stops at once; what was finished is saved and the
    same command resumes. ``path`` is the file involved, ``errno`` the OS error number when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None, errno: int | None = None) -> None:
        self.path = path
        self.errno = errno
        super().__init__(message)


class ProviderError(PmcommError):
    """The model provider failed in a way retries did not fix (or must not retry)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class AuthenticationError(ProviderError):
    """401/403: retrying cannot help and every other item would fail the same way."""


class MalformedReplyError(ProviderError):
    """The provider answered 2xx with a body that is not a chat completion (wrong shape, or not JSON).

    Transient: the retry layer tries again within the same budget. The message says what was wrong with
    the shape, never what the body held.
    """


class OutputTruncatedError(PmcommError):
    """The model stopped at its token limit (``finish_reason == "length"``): not a validation failure."""

    def __init__(self, message: str, *, last_raw: str | None = None, usage: Any = None) -> None:
        self.last_raw = last_raw
        self.usage = usage
        super().__init__(message)


class DraftRetryError(PmcommError):
    """Re-asks ran out: carries how many attempts were made, the last raw output and the total usage."""

    def __init__(self, message: str, *, n_attempts: int, last_raw: str | None, usage: Any,
                 last_error: str | None = None) -> None:
        self.n_attempts = n_attempts
        self.last_raw = last_raw
        self.usage = usage
        self.last_error = last_error
        super().__init__(f"{message} after {n_attempts} attempt(s)"
                         + (f": {last_error}" if last_error else ""))



class RunIntegrityError(PmcommError):
    """A finished run whose items do not all land exactly once in the output or the errors file.

    The runner counts this itself after every run; it is a bug in pmcomm, never a user's mistake.
    """


class RevisionError(PmcommError):
    """A revision that cannot be made as asked (offline, an instruction only a model can follow)."""
