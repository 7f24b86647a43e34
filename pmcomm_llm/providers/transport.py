"""The one transport: POST an encoded chat-completions body, get the reply's bytes back, or a typed error.

Whatever sends the bytes, failures come out as the openai SDK's own error family — ``APIStatusError`` and its
subclasses by status (``RateLimitError``, ``InternalServerError`` …), ``APITimeoutError``,
``APIConnectionError`` — so the retry layer and the error messages have one vocabulary. No SDK retries: the
retry layer (:mod:`pmcomm_llm.providers.retry`) is the only one.

:class:`AiohttpTransport` is the one pmcomm uses: one ``aiohttp`` session per event loop, the body posted as
bytes and the reply read as bytes. ``benchmarks/batch_throughput.py`` measured it beside the candidates behind
the same protocol — :class:`HttpxTransport` (one shared ``httpx2.AsyncClient``) and :class:`SdkTransport`
(``AsyncOpenAI(max_retries=0).post(..., cast_to=httpx2.Response)``, no ``ChatCompletion`` built) — and it spends
about a third of httpx2's client CPU per call and a quarter of the SDK's; the other two stay for the benchmark
and for callers who pass their own.

An async client must not outlive its event loop, so clients are kept per loop (two ``asyncio.run`` calls in
one process both work) and closed with :meth:`Transport.aclose`.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx2
import openai

__all__ = ["AiohttpTransport", "HttpxTransport", "SdkTransport", "Transport", "chat_url", "make_transport", "status_error"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
    404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


class Transport(Protocol):
    """Sends one chat-completions request. ``post`` returns the 2xx body, or raises an ``openai.APIError``."""

    async def post(self, data: bytes) -> bytes: ...

    async def aclose(self) -> None: ...


def chat_url(base_url: str | None) -> str:
    """``base_url`` + ``/chat/completions``, keeping a query string (``?api-version=``) at the end."""
    parts = urlsplit(base_url or DEFAULT_BASE_URL)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))


def status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The SDK's error for a non-2xx ``response``: its subclass by status, the provider's message and body."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = response.content.decode("utf-8", "replace")
    data = body.get("error", body) if isinstance(body, dict) else body
    message = data.get("message") if isinstance(data, dict) else None
    text = f"Error code: {response.status_code} - {message or data}"
    status = response.status_code
    cls = _STATUS_ERRORS.get(status) or (openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return cls(text, response=response, body=data)


def _headers(api_key: str) -> dict[str, str]:
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json",
               "accept": "application/json"}
    # what the SDK sends from the same variables, so both transports reach the same organization and project
    if os.environ.get("OPENAI_ORG_ID"):
        headers["openai-organization"] = os.environ["OPENAI_ORG_ID"]
    if os.environ.get("OPENAI_PROJECT_ID"):
        headers["openai-project"] = os.environ["OPENAI_PROJECT_ID"]
    return headers


class _PerLoop:
    """One client per running event loop, created on first use there and closed when that loop shuts down.

    ``asyncio.run`` finalises the async generators still open when its coroutine returns; each client has one
    (:func:`_closer`), so a client is closed inside its own loop even when nobody called ``aclose`` — a sync
    ``Drafter.draft`` in a script, ``evaluate`` with a judge — instead of being collected unclosed later.
    """

    def __init__(self, close: str) -> None:
        self._close = close
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary())

    async def get(self, make: Any) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = make()
            closer = _closer(client, self._close)
            await closer.__anext__()  # registers it with the loop's shutdown
            entry = self._clients[loop] = (client, closer)
        return entry[0]

    async def aclose(self) -> None:
        """Close this loop's client now (those of other loops close when their loop shuts down)."""
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()


async def _closer(client: Any, close: str) -> Any:
    try:
        yield
    finally:
        await getattr(client, close)()


class AiohttpTransport:
    """The body posted as bytes over one ``aiohttp`` session per event loop."""

    def __init__(self, *, api_key: str, base_url: str | None, timeout: float, connections: int = 64) -> None:
        self.url = chat_url(base_url)
        self._headers = _headers(api_key)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._clients = _PerLoop("close")

    def _make(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout, headers=self._headers, trust_env=True,
                                     skip_auto_headers=("User-Agent",), raise_for_status=False)

    def _request(self) -> httpx2.Request:
        return httpx2.Request("POST", self.url)  # what the SDK's errors carry; built only when one is raised

    async def post(self, data: bytes) -> bytes:
        session: aiohttp.ClientSession = await self._clients.get(self._make)
        try:
            async with session.post(self.url, data=data) as response:
                content = await response.read()
                if response.status < 300:
                    return content
                status, headers = response.status, dict(response.headers)
        except asyncio.TimeoutError:
            raise openai.APITimeoutError(request=self._request()) from None
        except aiohttp.ClientError as exc:
            raise openai.APIConnectionError(message=f"Connection error ({type(exc).__name__}).",
                                            request=self._request()) from None
        raise status_error(httpx2.Response(status, headers=headers, content=content, request=self._request()))

    async def aclose(self) -> None:
        await self._clients.aclose()


class HttpxTransport:
    """The body posted as bytes over one shared ``httpx2.AsyncClient`` per event loop."""

    def __init__(self, *, api_key: str, base_url: str | None, timeout: float, connections: int = 64) -> None:
        self.url = chat_url(base_url)
        self._headers = _headers(api_key)
        self._timeout = timeout
        self._connections = connections
        self._clients = _PerLoop("aclose")

    def _make(self) -> httpx2.AsyncClient:
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=max(64, self._connections))
        return httpx2.AsyncClient(timeout=self._timeout, limits=limits)

    async def post(self, data: bytes) -> bytes:
        client: httpx2.AsyncClient = await self._clients.get(self._make)
        try:
            response = await client.post(self.url, content=data, headers=self._headers)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=exc.request) from exc
        except httpx2.TransportError as exc:
            raise openai.APIConnectionError(request=exc.request) from exc
        if response.status_code >= 300:
            raise status_error(response)
        return response.content

    async def aclose(self) -> None:
        await self._clients.aclose()


class SdkTransport:
    """``AsyncOpenAI.post`` with the body as bytes and the raw response back (no ``ChatCompletion`` built)."""

    def __init__(self, *, api_key: str, base_url: str | None, timeout: float, connections: int = 64) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout
        self._connections = connections
        self._clients = _PerLoop("close")

    def _make(self) -> openai.AsyncOpenAI:
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=max(64, self._connections))
        http = openai.DefaultAsyncHttpxClient(timeout=self._timeout, limits=limits)
        return openai.AsyncOpenAI(api_key=self._api_key, base_url=self._base_url, timeout=self._timeout,
                                  max_retries=0, http_client=http)

    async def post(self, data: bytes) -> bytes:
        client: openai.AsyncOpenAI = await self._clients.get(self._make)
        response = await client.post("/chat/completions", cast_to=httpx2.Response, content=data,
                                     options={"headers": {"content-type": "application/json"}})
        return response.content

    async def aclose(self) -> None:
        await self._clients.aclose()


TRANSPORTS = {"aiohttp": AiohttpTransport, "httpx": HttpxTransport, "sdk": SdkTransport}


def make_transport(kind: str = "aiohttp", **options: Any) -> Transport:
    """A transport by name (``aiohttp``, the default; ``httpx``; ``sdk``) from ``api_key``, ``base_url``, ``timeout``."""
    return TRANSPORTS[kind](**options)
