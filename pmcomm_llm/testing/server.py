"""A scriptable fake of the OpenAI HTTP API, for tests and benchmarks.

Why this exists: the client code in ``pmcomm_llm`` has to cope with rate
limits, server errors, hangs, truncated or malformed JSON and the asynchronous
Batch API.  Real endpoints cannot produce those on demand and mocking at the
Python level would bypass the HTTP stack (connection pooling, timeouts,
retry-after headers) that we actually want to exercise.  This module therefore
speaks real HTTP/1.1 on a loopback socket, answers exactly like OpenAI's
``/v1/chat/completions``, ``/v1/models``, ``/v1/files`` and ``/v1/batches``
endpoints, and lets a test decide, request by request, what goes wrong.

Design constraints:

* Standard library only (``asyncio`` streams), so it can run anywhere the
  package is installed, including as a subprocess (``python -m``).
* Cheap per request: one coroutine per connection, keep-alive, no per-request
  thread, so a benchmark at 128+ concurrent connections measures the client and
  not this server.
* Deterministic: random faults come from ``random.Random(seed)``; identifiers
  are sequential.

Typical use::

    with FakeOpenAIServer(latency=0.01) as srv:
        srv.enqueue(Status(429, {"retry-after": "0.05"}), Reply({"a": 1}))
        client = openai.OpenAI(base_url=srv.base_url, api_key="test")
        ...

or, inside a running event loop, ``async with FakeOpenAIServer() as srv``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import http
import importlib
import itertools
import json
import logging
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "Drop",
    "FakeOpenAIServer",
    "Hang",
    "Length",
    "Malformed",
    "RecordedRequest",
    "Raw",
    "Reply",
    "Status",
    "default_responder",
    "example_from_schema",
    "main",
]

log = logging.getLogger(__name__)

Responder = Callable[[dict], dict | str]

FAKE_MODEL = "fake-model"
_FAULT_KEYS = ("429", "500", "503", "hang", "malformed")
_REDACTED_HEADERS = frozenset({"authorization", "api-key"})
_TERMINAL_BATCH_STATES = frozenset({"completed", "failed", "expired", "cancelled"})
# Used when truncating output still yields valid JSON (e.g. a bare number).
_FALLBACK_MALFORMED = '{"subject": "x", "body": '
# How often a Hang re-checks whether the client has gone away.  Hangs are
# rare, so a short poll is cheaper and simpler than a second reader task.
_HANG_POLL_SECONDS = 0.05


# --------------------------------------------------------------------------
# Script actions
# --------------------------------------------------------------------------


@dataclass
class Reply:
    """Answer normally.

    ``content=None`` asks the server's responder; a dict is JSON-encoded and a
    string is sent verbatim (so tests can send arbitrary text).
    """

    content: dict | str | None = None
    finish_reason: str = "stop"
    usage: dict | None = None


@dataclass
class Status:
    """Answer with an HTTP error status (429, 500, ...) and optional headers.

    ``body=None`` yields an OpenAI-style ``{"error": {...}}`` object so the SDK
    maps it to the right exception class with a sensible message.
    """

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None


@dataclass
class Raw:
    """Answer with exactly this status and body, whatever its shape.

    For replies that are not chat completions at all: ``[]``, ``"ok"``, a
    completion without choices, plain text, or an error body that is not an
    OpenAI error object.  ``body`` is sent verbatim (a str is UTF-8 encoded).
    """

    body: bytes | str
    status: int = 200
    content_type: str = "application/json"


@dataclass
class Hang:
    """Wait ``seconds`` before replying normally, to provoke client timeouts.

    The wait ends early (without a reply) if the client disconnects, so hung
    requests do not pile up once the client has given up.
    """

    seconds: float


@dataclass
class Malformed:
    """HTTP 200 whose content (or tool arguments) is truncated, invalid JSON.

    ``finish_reason`` stays ``"stop"``: this is the nasty case where the model
    claims it finished but the payload does not parse.
    """


@dataclass
class Length:
    """HTTP 200 with ``finish_reason="length"`` and truncated content."""


@dataclass
class Drop:
    """Close the connection without answering (a network-level failure)."""


Action = Union[Reply, Status, Raw, Hang, Malformed, Length, Drop]
_DEFAULT_REPLY = Reply()


@dataclass
class RecordedRequest:
    """One request as the server saw it, with credentials redacted.

    Header names are lower-cased; ``authorization`` and ``api-key`` values are
    replaced by ``"<redacted>"`` so recorded requests can be logged or
    asserted on without leaking keys.
    """

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    raw_body: bytes


class _SyncList(list):
    """A list whose mutations take a lock.

    The server appends from its loop thread while tests read or clear from the
    main thread; reads of a CPython list are already atomic, mutations that
    tests might combine (clear + append) are guarded here.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def append(self, item: Any) -> None:
        with self._lock:
            super().append(item)

    def clear(self) -> None:
        with self._lock:
            super().clear()

    def snapshot(self) -> list:
        """Return a plain copy, consistent at one instant."""
        with self._lock:
            return list(self)


# --------------------------------------------------------------------------
# Default responder: a minimal instance of the requested schema
# --------------------------------------------------------------------------

_FORMAT_EXAMPLES = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def example_from_schema(schema: Any, root: dict | None = None, _depth: int = 0) -> Any:
    """Build the smallest value that validates against ``schema``.

    Good enough for the schemas Pydantic and OpenAI structured outputs
    produce: ``$ref`` into ``$defs``/``definitions``, ``enum``/``const``,
    ``anyOf``/``oneOf`` (``null`` preferred when allowed, so optional fields
    stay empty), nested objects and arrays honouring ``minItems``.
    """
    if not isinstance(schema, dict) or _depth > 32:
        return None
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return example_from_schema(target, root, _depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            if any(isinstance(o, dict) and o.get("type") == "null" for o in options):
                return None
            return example_from_schema(options[0], root, _depth + 1)
    if schema.get("allOf"):
        return example_from_schema(schema["allOf"][0], root, _depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            return None
        kind = kind[0] if kind else None
    if kind is None:
        kind = "object" if "properties" in schema else None
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example_from_schema(sub, root, _depth + 1) for name, sub in props.items()}
    if kind == "array":
        item = example_from_schema(schema.get("items", {}), root, _depth + 1)
        return [item] * int(schema.get("minItems", 0))
    if kind == "string":
        return _FORMAT_EXAMPLES.get(schema.get("format", ""), "example")
    if kind in ("integer", "number"):
        return max(0, schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


def _forced_tool_name(request: dict) -> str:
    """Name of the function the request forces via ``tool_choice``, else the first tool."""
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if name:
            return str(name)
    tools = request.get("tools") or [{}]
    return str((tools[0].get("function") or {}).get("name", "tool"))


def schema_from_request(request: dict) -> dict | None:
    """The JSON schema the caller asked for (structured output or tool parameters)."""
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema
    tools = request.get("tools")
    if tools:
        wanted = _forced_tool_name(request)
        for tool in tools:
            fn = tool.get("function") or {}
            if fn.get("name") == wanted and isinstance(fn.get("parameters"), dict):
                return fn["parameters"]
        params = (tools[0].get("function") or {}).get("parameters")
        if isinstance(params, dict):
            return params
    return None


def default_responder(request: dict) -> dict | str:
    """Reply with a minimal instance of the requested schema, or ``{"ok": true}``."""
    schema = schema_from_request(request)
    if schema is None:
        return {"ok": True}
    return example_from_schema(schema)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _error_body(code: int, message: str | None = None) -> dict:
    """An OpenAI-style error object, so SDKs surface a readable message."""
    if code == 429:
        err_type, err_code = "requests", "rate_limit_exceeded"
    elif code >= 500:
        err_type, err_code = "server_error", None
    elif code == 404:
        err_type, err_code = "invalid_request_error", "not_found"
    else:
        err_type, err_code = "invalid_request_error", None
    return {
        "error": {
            "message": message or f"Fake server returned HTTP {code}.",
            "type": err_type,
            "param": None,
            "code": err_code,
        }
    }


def _estimate_tokens(text: str) -> int:
    """Deterministic, cheap token estimate (~4 chars per token)."""
    return len(text) // 4 + 1


def _prompt_tokens(request: dict) -> int:
    total = 0
    for message in request.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += _estimate_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += _estimate_tokens(part["text"])
    return total


def _truncate(text: str) -> str:
    """Cut ``text`` in half, guaranteeing the result is not valid JSON."""
    cut = text[: max(1, len(text) // 2)]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return _FALLBACK_MALFORMED


def _raw_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _multipart_fields(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Parse ``multipart/form-data`` into ``{name: (filename, data)}``.

    ``cgi`` is gone from the stdlib and ``email`` is slow and lossy for binary
    parts; uploads here are small and well-formed, so a direct split suffices.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value
        params = dict(re.findall(r';\s*([\w*]+)="([^"]*)"', disposition))
        if "name" in params:
            fields[params["name"]] = (params.get("filename"), data)
    return fields


@dataclass
class _HttpRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any
    keep_alive: bool


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers or {})


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class FakeOpenAIServer:
    """Fake OpenAI-compatible HTTP server; see the module docstring.

    Runs either on its own event loop in a daemon thread (``with`` /
    ``start()``/``stop()``), for synchronous tests and subprocess-free
    benchmarks, or on the caller's loop (``async with``), for async tests that
    must not cross threads.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        latency: float = 0.0,
        fault_rates: dict[str, float] | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        batch_polls_to_complete: int = 2,
        hang_seconds: float = 30.0,
    ) -> None:
        fault_rates = {str(k): float(v) for k, v in (fault_rates or {}).items()}
        unknown = set(fault_rates) - set(_FAULT_KEYS)
        if unknown:
            raise ValueError(f"unknown fault_rates keys {sorted(unknown)}; allowed: {_FAULT_KEYS}")
        if sum(fault_rates.values()) > 1.0:
            raise ValueError("fault_rates must sum to at most 1.0")
        self.responder: Responder = responder or default_responder
        self.latency = float(latency)
        self.fault_rates = fault_rates
        self.hang_seconds = float(hang_seconds)
        self.host = host
        self.port = port
        self.batch_polls_to_complete = int(batch_polls_to_complete)

        self.requests: _SyncList = _SyncList()
        # deque.append/popleft are atomic, so tests may enqueue from any thread.
        self.script: collections.deque[Action] = collections.deque()
        self.connections_accepted = 0
        self.file_uploads = 0
        self.batch_creates = 0

        self._rng = random.Random(seed)
        self._ids: dict[str, Iterator[int]] = collections.defaultdict(lambda: itertools.count(1))
        self._files: dict[str, tuple[dict, bytes]] = {}
        self._batches: dict[str, dict] = {}
        self._batch_polls: dict[str, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._conn_tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None

    # -- public API -----------------------------------------------------

    @property
    def base_url(self) -> str:
        """Base URL to hand to an OpenAI client, e.g. ``http://127.0.0.1:PORT/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def active_connections(self) -> int:
        """Connections currently open, e.g. to check that hung requests were abandoned."""
        return len(self._conn_tasks)

    def enqueue(self, *actions: Action) -> None:
        """Append actions; each chat completion (HTTP or batch line) consumes one."""
        for action in actions:
            if not isinstance(action, (Reply, Status, Raw, Hang, Malformed, Length, Drop)):
                raise TypeError(f"not a script action: {action!r}")
        self.script.extend(actions)

    def start(self) -> FakeOpenAIServer:
        """Serve from a daemon thread; returns once the socket is listening."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve_in_thread(ready))
            except BaseException as exc:  # surfaced to start()'s caller
                errors.append(exc)
            finally:
                ready.set()
                loop.close()

        self._thread = threading.Thread(target=run, name="FakeOpenAIServer", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop the threaded server: close the socket, abort hangs, join the thread."""
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout=10)
        self._thread = None

    async def astart(self) -> FakeOpenAIServer:
        """Serve on the running event loop (no thread)."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("server already started")
        self._loop = asyncio.get_running_loop()
        await self._bind()
        return self

    async def astop(self) -> None:
        """Stop a server started with :meth:`astart`."""
        await self._shutdown()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.astart()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.astop()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"<FakeOpenAIServer {self.base_url} {state}>"

    # -- lifecycle ------------------------------------------------------

    async def _serve_in_thread(self, ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        await self._bind()
        ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self._shutdown()

    async def _bind(self) -> None:
        self._server = await asyncio.start_server(
            self._handle_connection, self.host, self.port, backlog=2048, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Python 3.11's Server.close() leaves accepted connections open, and
        # hung requests would otherwise keep the loop alive: cancel them.
        tasks = list(self._conn_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    # -- HTTP/1.1 -------------------------------------------------------

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve requests on one keep-alive connection until it closes."""
        self.connections_accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None:
                    break
                keep_alive = await self._dispatch(request, reader, writer)
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # client went away mid-request; nothing to answer
        except asyncio.CancelledError:
            # Swallowed on purpose: 3.11's start_server done-callback calls
            # task.exception() and would log a spurious error for a cancelled task.
            pass
        except Exception:  # a bug here must not kill the server
            log.exception("fake server: unhandled error")
        finally:
            if task is not None:
                self._conn_tasks.discard(task)
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _HttpRequest | None:
        """Parse one request; ``None`` at a clean end of connection or on garbage."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            await self._write(writer, _json_response(431, _error_body(431)), False)
            return None
        lines = head.lstrip(b"\r\n").decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            await self._write(writer, _json_response(400, _error_body(400, "bad request line")), False)
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value

        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked(reader)
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                await self._write(writer, _json_response(400, _error_body(400, "bad content-length")), False)
                return None
            body = await reader.readexactly(length) if length else b""

        connection = headers.get("connection", "").lower()
        if version.upper() == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        path, _, query = target.partition("?")

        parsed: Any = None
        if body[:1] in (b"{", b"[") or headers.get("content-type", "").startswith("application/json"):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        recorded_headers = {
            name: ("<redacted>" if name in _REDACTED_HEADERS else value) for name, value in headers.items()
        }
        self.requests.append(RecordedRequest(method.upper(), path, recorded_headers, parsed, body))
        return _HttpRequest(method.upper(), path, query, headers, body, parsed, keep_alive)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip optional trailers up to the terminating blank line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            chunks.append((await reader.readexactly(size + 2))[:-2])

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, response: _Response, keep_alive: bool) -> None:
        """Send a response with Content-Length in a single write."""
        lines = [
            f"HTTP/1.1 {response.status} {_reason(response.status)}",
            f"content-type: {response.content_type}",
            f"content-length: {len(response.body)}",
            f"connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
        await writer.drain()

    async def _dispatch(
        self, req: _HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Route one request; returns whether the connection stays open."""
        if req.method == "POST" and req.path == "/v1/chat/completions":
            response = await self._chat_http(req, reader, writer)
            if response is None:  # Drop, or client vanished during a Hang
                return False
        else:
            response = self._route_sync(req)
        await self._write(writer, response, req.keep_alive)
        return req.keep_alive

    def _route_sync(self, req: _HttpRequest) -> _Response:
        """Everything except chat completions: cheap, non-blocking handlers."""
        method, parts = req.method, req.path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            return self._not_found(req)
        resource, rest = parts[1], parts[2:]
        if resource == "models" and method == "GET":
            if not rest:
                return _json_response(200, {"object": "list", "data": [self._model_object()]})
            if len(rest) == 1:
                return _json_response(200, self._model_object(rest[0]))
        elif resource == "files":
            if not rest and method == "POST":
                return self._create_file(req)
            if not rest and method == "GET":
                return _json_response(200, self._list([meta for meta, _ in self._files.values()]))
            stored = self._files.get(rest[0]) if rest else None
            if stored is None:
                return _json_response(404, _error_body(404, f"No such File object: {'/'.join(rest)}"))
            if len(rest) == 1 and method == "GET":
                return _json_response(200, stored[0])
            if len(rest) == 1 and method == "DELETE":
                del self._files[rest[0]]
                return _json_response(200, {"id": rest[0], "object": "file", "deleted": True})
            if rest[1:] == ["content"] and method == "GET":
                return _Response(200, stored[1], content_type="application/octet-stream")
        elif resource == "batches":
            if not rest and method == "POST":
                return self._create_batch(req)
            if not rest and method == "GET":
                return _json_response(200, self._list(list(self._batches.values())))
            batch = self._batches.get(rest[0]) if rest else None
            if batch is None:
                return _json_response(404, _error_body(404, f"No such Batch object: {'/'.join(rest)}"))
            if len(rest) == 1 and method == "GET":
                self._advance_batch(batch)
                return _json_response(200, batch)
            if rest[1:] == ["cancel"] and method == "POST":
                return self._cancel_batch(batch)
        return self._not_found(req)

    @staticmethod
    def _not_found(req: _HttpRequest) -> _Response:
        return _json_response(404, _error_body(404, f"Unknown request URL: {req.method} {req.path}"))

    @staticmethod
    def _model_object(model_id: str = FAKE_MODEL) -> dict:
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "pmcomm-llm-fake"}

    @staticmethod
    def _list(items: list[dict]) -> dict:
        return {
            "object": "list",
            "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": False,
        }

    def _next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # -- chat completions ----------------------------------------------

    def _next_action(self) -> Action:
        """Scripted action first; otherwise a seeded random fault or a normal reply."""
        try:
            return self.script.popleft()
        except IndexError:
            pass
        if self.fault_rates:
            roll, cumulative = self._rng.random(), 0.0
            for key in _FAULT_KEYS:
                cumulative += self.fault_rates.get(key, 0.0)
                if roll < cumulative:
                    if key == "429":
                        return Status(429, {"retry-after": "0", "retry-after-ms": "10"})
                    if key in ("500", "503"):
                        return Status(int(key))
                    if key == "hang":
                        return Hang(self.hang_seconds)
                    return Malformed()
        return _DEFAULT_REPLY

    async def _chat_http(
        self, req: _HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Response | None:
        if not isinstance(req.json, dict):
            return _json_response(400, _error_body(400, "Request body must be a JSON object."))
        if req.json.get("stream"):
            return _json_response(400, _error_body(400, "The fake server does not support stream=true."))
        action = self._next_action()
        if isinstance(action, Drop):
            return None
        if isinstance(action, Hang):
            if not await self._sleep_while_connected(reader, writer, action.seconds):
                return None
            action = _DEFAULT_REPLY
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if isinstance(action, Raw):
            return _Response(action.status, _raw_bytes(action.body), content_type=action.content_type)
        status, headers, body = self._render(action, req.json)
        return _json_response(status, body, headers)

    @staticmethod
    async def _sleep_while_connected(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float
    ) -> bool:
        """Sleep up to ``seconds``; ``False`` as soon as the client disconnects.

        The transport keeps reading while we sleep, so a client FIN shows up as
        reader EOF and a reset as a reader exception.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if reader.at_eof() or reader.exception() is not None or writer.is_closing():
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            await asyncio.sleep(min(remaining, _HANG_POLL_SECONDS))

    def _render(self, action: Action, request: dict) -> tuple[int, dict[str, str], dict]:
        """Turn a non-delaying action into ``(status, headers, body)``."""
        if isinstance(action, Status):
            return action.code, dict(action.headers), action.body or _error_body(action.code)
        if isinstance(action, Reply):
            content, finish, usage, truncate = action.content, action.finish_reason, action.usage, False
        elif isinstance(action, Malformed):
            content, finish, usage, truncate = None, "stop", None, True
        elif isinstance(action, Length):
            content, finish, usage, truncate = None, "length", None, True
        else:
            raise TypeError(f"cannot render {action!r}")
        if content is None:
            try:
                content = self.responder(request)
            except Exception as exc:  # report responder bugs to the client, visibly
                log.exception("fake server: responder failed")
                return 500, {}, _error_body(500, f"responder raised {type(exc).__name__}: {exc}")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if truncate:
            text = _truncate(text)
        return 200, {}, self._completion(request, text, finish, usage)

    def _completion(self, request: dict, text: str, finish_reason: str, usage: dict | None) -> dict:
        """A chat.completion object shaped exactly like OpenAI's."""
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if request.get("tools"):
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{self._next_id('call')}",
                    "type": "function",
                    "function": {"name": _forced_tool_name(request), "arguments": text},
                }
            ]
            if finish_reason == "stop":
                finish_reason = "tool_calls"
        if usage is None:
            prompt, completion = _prompt_tokens(request), _estimate_tokens(text)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return {
            "id": f"chatcmpl-{self._next_id('chatcmpl')}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or FAKE_MODEL,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            ],
            "usage": usage,
            "system_fingerprint": "fake",
        }

    # -- files ----------------------------------------------------------

    def _store_file(self, filename: str, purpose: str, data: bytes) -> dict:
        meta = {
            "id": f"file-{self._next_id('file')}",
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
        }
        self._files[meta["id"]] = (meta, data)
        return meta

    def _create_file(self, req: _HttpRequest) -> _Response:
        content_type = req.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _json_response(400, _error_body(400, "Expected multipart/form-data."))
        try:
            fields = _multipart_fields(req.body, content_type)
        except ValueError as exc:
            return _json_response(400, _error_body(400, str(exc)))
        if "file" not in fields or "purpose" not in fields:
            return _json_response(400, _error_body(400, "Both 'file' and 'purpose' are required."))
        filename, data = fields["file"]
        purpose = fields["purpose"][1].decode("utf-8", "replace")
        self.file_uploads += 1
        return _json_response(200, self._store_file(filename or "upload", purpose, data))

    # -- batches --------------------------------------------------------

    def _create_batch(self, req: _HttpRequest) -> _Response:
        body = req.json if isinstance(req.json, dict) else {}
        input_file_id = body.get("input_file_id")
        stored = self._files.get(input_file_id) if isinstance(input_file_id, str) else None
        if stored is None:
            return _json_response(400, _error_body(400, f"Invalid input_file_id: {input_file_id!r}"))
        endpoint = body.get("endpoint", "/v1/chat/completions")
        if endpoint != "/v1/chat/completions":
            return _json_response(400, _error_body(400, f"Unsupported endpoint {endpoint!r}"))
        now = int(time.time())
        total = sum(1 for line in stored[1].splitlines() if line.strip())
        batch = {
            "id": f"batch_{self._next_id('batch')}",
            "object": "batch",
            "endpoint": endpoint,
            "errors": None,
            "input_file_id": input_file_id,
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": total, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        self._batches[batch["id"]] = batch
        self._batch_polls[batch["id"]] = 0
        self.batch_creates += 1
        if self.batch_polls_to_complete <= 0:
            self._complete_batch(batch)
        return _json_response(200, batch)

    def _advance_batch(self, batch: dict) -> None:
        """Each retrieve is one poll: validating → in_progress → completed."""
        if batch["status"] in _TERMINAL_BATCH_STATES:
            return
        polls = self._batch_polls[batch["id"]] = self._batch_polls[batch["id"]] + 1
        if polls >= self.batch_polls_to_complete:
            self._complete_batch(batch)
        elif batch["status"] == "validating":
            batch["status"] = "in_progress"
            batch["in_progress_at"] = int(time.time())

    def _complete_batch(self, batch: dict) -> None:
        """Run every input line through the chat logic and write output/error files."""
        now = int(time.time())
        outputs: list[str] = []
        errors: list[str] = []
        for raw in self._files[batch["input_file_id"]][1].splitlines():
            if not raw.strip():
                continue
            custom_id: Any = None
            try:
                line = json.loads(raw)
                custom_id = line.get("custom_id")
                if line.get("url") != batch["endpoint"] or not isinstance(line.get("body"), dict):
                    raise ValueError("bad url or body")
            except (ValueError, AttributeError) as exc:
                status, body = 400, _error_body(400, f"Invalid batch line: {exc}")
            else:
                status, body = self._chat_for_batch(line["body"])
            n = self._next_id("batch_req")
            entry = {
                "id": f"batch_req_{n}",
                "custom_id": custom_id,
                "response": {"status_code": status, "request_id": f"req_{n}", "body": body},
                "error": None,
            }
            (outputs if status == 200 else errors).append(json.dumps(entry, ensure_ascii=False))

        def write(lines: list[str], suffix: str) -> str | None:
            if not lines:
                return None
            data = ("\n".join(lines) + "\n").encode()
            return self._store_file(f"{batch['id']}_{suffix}.jsonl", "batch_output", data)["id"]

        batch.update(
            status="completed",
            in_progress_at=batch["in_progress_at"] or now,
            finalizing_at=now,
            completed_at=now,
            output_file_id=write(outputs, "output"),
            error_file_id=write(errors, "error"),
            request_counts={
                "total": len(outputs) + len(errors),
                "completed": len(outputs),
                "failed": len(errors),
            },
        )

    def _chat_for_batch(self, request: dict) -> tuple[int, dict]:
        """Chat logic for one batch line: no waiting, Drop becomes a 500."""
        action = self._next_action()
        if isinstance(action, Drop):
            return 500, _error_body(500, "Connection dropped.")
        if isinstance(action, Hang):
            action = _DEFAULT_REPLY
        if isinstance(action, Raw):
            try:
                return action.status, json.loads(_raw_bytes(action.body))
            except ValueError:  # a batch result body is JSON; carry text as a JSON string
                return action.status, _raw_bytes(action.body).decode("utf-8", "replace")
        status, _, body = self._render(action, request)
        return status, body

    def _cancel_batch(self, batch: dict) -> _Response:
        if batch["status"] in _TERMINAL_BATCH_STATES and batch["status"] != "cancelled":
            return _json_response(
                400, _error_body(400, f"Cannot cancel a batch with status '{batch['status']}'.")
            )
        now = int(time.time())
        batch.update(status="cancelled", cancelling_at=batch["cancelling_at"] or now, cancelled_at=now)
        return _json_response(200, batch)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _load_responder(spec: str) -> Responder:
    """Resolve ``package.module:function``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise argparse.ArgumentTypeError(f"expected package.module:function, got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pmcomm_llm.testing.server",
        description="Fake OpenAI-compatible server; prints 'READY <base_url>' once listening.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat reply")
    parser.add_argument("--responder", type=_load_responder, help="package.module:function (default: "
                        "pmcomm_llm.testing.responders:stand_in_responder, which drafts and judges)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--batch-polls", type=int, default=2)
    for key in _FAULT_KEYS:
        parser.add_argument(
            f"--fault-{key}", type=float, default=0.0, metavar="P", help=f"probability of a {key} fault"
        )
    return parser.parse_args(argv)


async def _serve_forever(server: FakeOpenAIServer) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"READY {server.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; exit status 0 on a clean stop."""
    args = _parse_args(argv)
    faults = {key: getattr(args, f"fault_{key}") for key in _FAULT_KEYS}
    server = FakeOpenAIServer(
        responder=args.responder or _load_responder("pmcomm_llm.testing.responders:stand_in_responder"),
        latency=args.latency,
        fault_rates={k: v for k, v in faults.items() if v > 0},
        seed=args.seed,
        host=args.host,
        port=args.port,
        batch_polls_to_complete=args.batch_polls,
        hang_seconds=args.hang_seconds,
    )
    asyncio.run(_serve_forever(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
