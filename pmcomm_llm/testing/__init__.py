"""Test helpers for code that talks to OpenAI-compatible APIs.

The names are loaded lazily (PEP 562) so that
``python -m pmcomm_llm.testing.server`` does not import the server module
twice (once as a package member, once as ``__main__``), which would trigger a
RuntimeWarning from runpy and create two copies of the action classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmcomm_llm.testing.server import (
        Drop,
        FakeOpenAIServer,
        Hang,
        Length,
        Malformed,
        Raw,
        RecordedRequest,
        Reply,
        Status,
    )

__all__ = ["Drop", "FakeOpenAIServer", "Hang", "Length", "Malformed", "Raw", "RecordedRequest", "Reply", "Status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pmcomm_llm.testing import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
