"""Every default in one place, resolved argument > environment > default.

Settings are read when a client is built (``Settings.resolve(...)``), never at import time, so tests and
notebooks can change the environment freely. The API key is a ``SecretStr``: it never shows in a repr, a
log line or an error message.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from pmcomm_llm.core.errors import ConfigError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ITEM_TOKENS",
    "DEFAULT_MAX_REASKS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "Backend",
    "Method",
    "Settings",
    "redact_url",
]

DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_METHOD = "json_schema"
DEFAULT_TEMPERATURE = 0.3
DEFAULT_TIMEOUT = 60.0
"""Seconds for one model call. ChatOpenAI sets none by default; we always set one."""
DEFAULT_MAX_RETRIES = 4
"""Transient-failure retries (timeouts, connection errors, 429, 5xx) in our one retry layer."""
DEFAULT_MAX_REASKS = 2
"""Re-asks after invalid structured output, and separately after a guard violation."""
DEFAULT_MAX_ITEM_TOKENS = 60_000
"""Total tokens (all attempts of one item, as the API reported them) before re-asking stops; 0 = no limit."""
DEFAULT_CONCURRENCY = 8
DEFAULT_BACKOFF_MAX = 30.0

Backend = Literal["auto", "offline", "openai"]
Method = Literal["json_schema", "function_calling", "json_mode"]

# field name -> environment variable(s), first set wins
_ENV: dict[str, tuple[str, ...]] = {
    "backend": ("PMCOMM_BACKEND",),
    "model": ("PMCOMM_MODEL",),
    "method": ("PMCOMM_METHOD",),
    "rpm": ("PMCOMM_RPM",),
    "tpm": ("PMCOMM_TPM",),
    "temperature": ("PMCOMM_TEMPERATURE",),
    "timeout": ("PMCOMM_TIMEOUT",),
    "max_retries": ("PMCOMM_MAX_RETRIES",),
    "max_reasks": ("PMCOMM_MAX_REASKS",),
    "max_item_tokens": ("PMCOMM_MAX_ITEM_TOKENS",),
    "concurrency": ("PMCOMM_CONCURRENCY",),
    "api_key": ("PMCOMM_API_KEY", "OPENAI_API_KEY"),
    "base_url": ("PMCOMM_BASE_URL", "OPENAI_BASE_URL"),
    "judge_model": ("PMCOMM_JUDGE_MODEL",),
    "judge_api_key": ("PMCOMM_JUDGE_API_KEY",),
    "judge_base_url": ("PMCOMM_JUDGE_BASE_URL",),
}


_SECRET_PARAM = re.compile(r"(key|token|secret|signature|sig|password|passwd|auth|credential)", re.I)


def redact_url(url: str | None) -> str | None:
    """``url`` with credentials replaced by ``REDACTED``: user:password@ and query parameters that look like
    keys (``?api-key=…``, ``token``, ``sig`` …). Applied before a URL is logged, stored or put in a message."""
    if not url:
        return url
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "REDACTED" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="REDACTED")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Settings(BaseModel):
    """How to reach a model and how hard to try. Build with :meth:`resolve`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = "auto"
    model: str = DEFAULT_MODEL
    method: Method = DEFAULT_METHOD
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    temperature: float = Field(DEFAULT_TEMPERATURE, ge=0, le=2)
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0)
    max_retries: int = Field(DEFAULT_MAX_RETRIES, ge=0, le=20)
    max_reasks: int = Field(DEFAULT_MAX_REASKS, ge=0, le=5)
    max_item_tokens: int | None = Field(DEFAULT_MAX_ITEM_TOKENS, ge=0)
    """Token budget of one item across its attempts; ``None`` or 0 means no limit."""
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=1024)
    backoff_max: float = Field(DEFAULT_BACKOFF_MAX, gt=0)
    api_key: SecretStr | None = None
    base_url: str | None = None
    judge_model: str | None = None
    judge_api_key: SecretStr | None = None
    judge_base_url: str | None = None

    @classmethod
    def resolve(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Arguments first, then the environment (``PMCOMM_*``, ``OPENAI_*``), then the defaults."""
        environ = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field, names in _ENV.items():
            for name in names:
                raw = environ.get(name)
                if raw not in (None, ""):
                    values[field] = raw
                    break
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                source = _describe_source(field, overrides, environ)
                # never echo the offending value: it may be a key
                problems.append(f"{field} ({source}): {err['msg']}")
            raise ConfigError("invalid settings: " + "; ".join(problems)) from None

    @property
    def effective_backend(self) -> Literal["offline", "openai"]:
        """``auto`` means a model when one is configured (a key or a base URL), else offline."""
        if self.backend != "auto":
            return self.backend
        return "openai" if (self.api_key is not None or self.base_url) else "offline"

    def request_key(self, *, purpose: str = "") -> str:
        """The key to send. A local server (a base URL and no key) gets a placeholder: Ollama, vLLM and
        llama.cpp accept any. With neither, the one error that says what to set."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.base_url:
            return "not-needed"
        raise ConfigError(f"no API key: set OPENAI_API_KEY (or PMCOMM_API_KEY){purpose}, or set OPENAI_BASE_URL for "
                          "a local OpenAI-compatible server, or use --backend offline")

    def judge(self) -> Settings:
        """The judge's own settings: its model/key/URL when set, else the drafting ones, at temperature 0."""
        return self.model_copy(
            update={
                "model": self.judge_model or self.model,
                "api_key": self.judge_api_key or self.api_key,
                "base_url": self.judge_base_url or self.base_url,
                "temperature": 0.0,
            }
        )

    def fingerprint(self) -> dict[str, Any]:
        """What changes a model's output: used for cache keys and run summaries (no secrets, not even in a URL)."""
        return {
            "model": self.model,
            "method": self.method,
            "temperature": self.temperature,
            "base_url": redact_url(self.base_url) or "",
            "max_reasks": self.max_reasks,
        }

    def __getstate__(self) -> dict[Any, Any]:
        """Pickles (multiprocessing, caches, notebooks) never carry a key: an unpickled copy has none."""
        state = super().__getstate__()
        values = dict(state["__dict__"])
        values["api_key"] = values["judge_api_key"] = None
        return {**state, "__dict__": values}


def _describe_source(field: str, overrides: dict[str, Any], environ: Any) -> str:
    if overrides.get(field) is not None:
        return "argument"
    for name in _ENV.get(field, ()):
        if environ.get(name) not in (None, ""):
            return f"environment variable {name}"
    return "default"
