"""A real HTTP server speaking the OpenAI chat-completions protocol, with scripted replies.

Tests drive the real `langchain-openai` client against it, so what is exercised is the actual
wire format (JSON and server-sent events), the client's retries, timeouts and parsing, and
real concurrency. Built on the standard library's ThreadingHTTPServer: one thread per
connection gives true parallel answers (K branches at once), and nothing needs installing.

Each POST /v1/chat/completions takes the next scripted reply (a list consumed in order) or asks
a callable `script(request_json) -> reply` (content-dependent answers for parallel branches).
A reply is a `Reply` (content, reasoning_content, tool_calls, usage, finish_reason, delay), or
a fault: an `HttpError` (500, 429 with Retry-After, ...), a `Hang` (accepts the request, never
answers), `Garbage` (a body that is no chat completion, e.g. a proxy's HTML page), a `Cut` (a
reply broken off mid-body: the connection closes) or a `Stall` (headers and the first chunks,
then silence). Replies without usable code (empty, reasoning only, prose) are plain `Reply`s.
Every request is recorded; `server.requests` holds the parsed JSON bodies.

Standalone: `python -m tests.openai_server --script replies.json [--port 8000]`, where the file
holds a JSON list of replies such as `{"content": "..."}`, `{"error": 500}`, `{"hang": true}`,
`{"cut": "text of the reply"}` or `{"stall": "text of the reply"}`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = [
    "Cut",
    "Garbage",
    "Hang",
    "HttpError",
    "RecordedRequest",
    "Reply",
    "Script",
    "Scripted",
    "ScriptedOpenAIServer",
    "Stall",
    "ToolCall",
    "Usage",
    "message_text",
    "replies_from_json",
    "served_in_a_process",
]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ToolCall:
    """A function call the scripted model makes; `args` is a dict or a raw JSON string."""

    name: str
    args: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments(self) -> str:
        return self.args if isinstance(self.args, str) else json.dumps(self.args)


@dataclass(frozen=True)
class Usage:
    """Token counts reported in the reply (reasoning tokens are part of completion tokens)."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.reasoning_tokens is not None:
            body["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return body


@dataclass(frozen=True)
class Reply:
    """A successful answer. Without `usage`, counts are estimated at four characters a token."""

    content: str | None = ""
    reasoning_content: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"
    usage: Usage | None = None
    delay_s: float = 0.0
    model: str | None = None  # default: the model the request named

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


@dataclass(frozen=True)
class HttpError:
    """An HTTP error with an OpenAI-style error body; `retry_after` sets the Retry-After header."""

    status: int = 500
    message: str = "scripted server error"
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Never answers: holds the connection until the client gives up or the server stops."""

    max_s: float = 300.0


@dataclass(frozen=True)
class Garbage:
    """A body that is not what the protocol promises (e.g. a proxy's HTML error page)."""

    body: str = "<html><body>502 Bad Gateway</body></html>"
    status: int = 200
    content_type: str = "text/html"


@dataclass(frozen=True)
class Cut:
    """`reply` broken off: after `chunks` streamed chunks (or half the JSON body when not
    streaming) the connection closes, as when a proxy or the server dies mid-reply."""

    reply: Reply = field(default_factory=lambda: Reply("partial answer " * 40))
    chunks: int = 5


@dataclass(frozen=True)
class Stall:
    """`reply` started, then silence: headers and `chunks` streamed chunks (or headers alone
    when not streaming), then nothing until the client gives up or the server stops; with
    `keep_alive_s`, a streamed reply's silence is an SSE comment that often, as gateways send
    while a request waits, which is bytes but no chunk."""

    reply: Reply = field(default_factory=lambda: Reply("partial answer " * 40))
    chunks: int = 3
    max_s: float = 300.0
    keep_alive_s: float | None = None


@dataclass(frozen=True)
class Unstreamed:
    """`reply` as one JSON body whatever the request asked, as endpoints that cannot stream (or
    proxies that buffer) answer a streamed request."""

    reply: Reply = field(default_factory=lambda: Reply("an answer in one body"))


Scripted = Reply | HttpError | Hang | Garbage | Cut | Stall | Unstreamed
Script = Sequence[Scripted] | Callable[[dict[str, Any]], Scripted]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it: header names in lower case, `at` is time.monotonic()
    on arrival, `body` None when it was not a JSON object."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, Any] | None
    at: float


def message_text(request: Mapping[str, Any]) -> str:
    """All text of a chat request's messages, for callables that answer by prompt content."""
    parts: list[str] = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping))
    return "\n".join(parts)


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _usage_for(reply: Reply, request: Mapping[str, Any]) -> Usage:
    if reply.usage is not None:
        return reply.usage
    reasoning = _estimate_tokens(reply.reasoning_content or "")
    answer = _estimate_tokens(reply.content or "")
    calls = sum(_estimate_tokens(c.name + c.arguments()) for c in reply.tool_calls)
    return Usage(
        prompt_tokens=_estimate_tokens(message_text(request)),
        completion_tokens=reasoning + answer + calls,
        reasoning_tokens=reasoning if reply.reasoning_content else None,
    )


def _words(text: str) -> list[str]:
    """Split into word-sized pieces (whitespace kept) so streamed deltas resemble tokens."""
    pieces: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch.isspace() and i + 1 < len(text) and not text[i + 1].isspace():
            pieces.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces


class _QuietServer(ThreadingHTTPServer):
    """A client dropping a keep-alive connection is a normal close, not an error to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


class ScriptedOpenAIServer:
    """Serves scripted chat completions on 127.0.0.1 at an ephemeral port; a context manager."""

    def __init__(
        self,
        script: Script = (),
        *,
        models: Sequence[str] = ("scripted-model",),
        api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._queue: list[Scripted] = [] if callable(script) else list(script)
        self._responder = script if callable(script) else None
        self._records: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self.models = tuple(models)
        self.api_key = api_key
        self.stopping = threading.Event()
        self._httpd = _QuietServer((HOST, port), _Handler, bind_and_activate=False)
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 64
        self._httpd.server_bind()
        self._httpd.server_activate()
        self._httpd.scripted = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="scripted-openai-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def records(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Parsed JSON bodies of every chat-completions request, in arrival order."""
        return [r.body for r in self.records
                if r.path.endswith("/chat/completions") and r.body is not None]

    @property
    def remaining(self) -> int:
        """Scripted replies not yet consumed (always 0 for a callable script)."""
        with self._lock:
            return len(self._queue)

    def extend(self, replies: Sequence[Scripted]) -> None:
        """Append replies to a list script."""
        with self._lock:
            self._queue.extend(replies)

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedOpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, request: RecordedRequest) -> int:
        with self._lock:
            self._records.append(request)
            return len(self._records)

    def next_reply(self, body: dict[str, Any], number: int) -> Scripted:
        if self._responder is not None:
            return self._responder(body)
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
        return HttpError(500, f"scripted server: no reply left for request #{number}",
                         headers={"x-should-retry": "false"})

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections end instead of lingering

    @property
    def scripted(self) -> ScriptedOpenAIServer:
        return self.server.scripted  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on `server.records`, not on stderr."""

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorised():
            return
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "scripted"}
                    for m in self.scripted.models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(HttpError(404, f"no route for GET {self.path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            self._record(None)
            self._send_error(HttpError(400, "request body is not JSON"))
            return
        number = self._record(body if isinstance(body, dict) else None)
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/chat/completions" or not isinstance(body, dict):
            self._send_error(HttpError(404, f"no route for POST {self.path}"))
            return
        self._answer(self.scripted.next_reply(body, number), body)

    def _record(self, body: dict[str, Any] | None) -> int:
        return self.scripted.record(RecordedRequest(
            method=self.command, path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body, at=time.monotonic()))

    def _authorised(self) -> bool:
        key = self.scripted.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send_error(HttpError(401, "invalid API key"))
        return False

    def _wait(self, seconds: float) -> bool:
        """Sleep, but wake when the server stops; False means stop now."""
        return seconds <= 0 or not self.scripted.stopping.wait(seconds)

    def _answer(self, reply: Scripted, body: dict[str, Any]) -> None:
        if isinstance(reply, Hang):
            self.scripted.stopping.wait(reply.max_s)
            self.close_connection = True
        elif isinstance(reply, Cut | Stall):
            self._break_off(reply, body)
        elif isinstance(reply, Garbage):
            self._send(reply.status, reply.body.encode(), reply.content_type)
        elif isinstance(reply, Unstreamed):
            if self._wait(reply.reply.delay_s):
                self._send_json(200, _completion(reply.reply, body, self.scripted))
        elif isinstance(reply, HttpError):
            if self._wait(reply.delay_s):
                self._send_error(reply)
        elif not self._wait(reply.delay_s):
            self.close_connection = True
        elif body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_events(_chunks(reply, body, self.scripted, include_usage))
        else:
            self._send_json(200, _completion(reply, body, self.scripted))

    def _send(self, status: int, payload: bytes, content_type: str,
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _send_error(self, error: HttpError) -> None:
        headers = dict(error.headers)
        if error.retry_after is not None:
            headers["Retry-After"] = f"{error.retry_after:g}"
        kind = "rate_limit_error" if error.status == 429 else "server_error"
        body = {"error": {"message": error.message, "type": kind, "code": error.status}}
        self._send_json(error.status, body, headers)

    def _send_events(self, events: Iterator[dict[str, Any]], limit: int | None = None) -> None:
        """Server-sent events over chunked transfer encoding, as real servers stream them;
        with `limit`, only that many events and no end of the stream."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        frames = itertools.chain((json.dumps(e) for e in events), ["[DONE]"])
        for data in itertools.islice(frames, limit):
            frame = f"data: {data}\n\n".encode()
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
        if limit is None:
            self.wfile.write(b"0\r\n\r\n")

    def _break_off(self, fault: Cut | Stall, body: dict[str, Any]) -> None:
        """Start answering, then close the connection (Cut) or fall silent (Stall)."""
        self.close_connection = True
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_events(_chunks(fault.reply, body, self.scripted, include_usage),
                              limit=fault.chunks)
        elif isinstance(fault, Cut):
            payload = json.dumps(_completion(fault.reply, body, self.scripted)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
        self.wfile.flush()
        if isinstance(fault, Stall):
            self._keep_silent(fault, bool(body.get("stream")))

    def _keep_silent(self, fault: Stall, streaming: bool) -> None:
        """A stall's silence, with keep-alive comments if it sends them."""
        ends = time.monotonic() + fault.max_s
        every = fault.keep_alive_s if streaming and fault.keep_alive_s else None
        while not self.scripted.stopping.wait(
                min(every or fault.max_s, max(0.0, ends - time.monotonic()))):
            if every is None or time.monotonic() >= ends:
                return
            frame = b": keep-alive\n\n"
            try:
                self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                self.wfile.flush()
            except OSError:  # the client gave up
                return


def _tool_calls_json(reply: Reply, server: ScriptedOpenAIServer) -> list[dict[str, Any]]:
    return [{"id": call.id or server.new_id("call"), "type": "function",
             "function": {"name": call.name, "arguments": call.arguments()}}
            for call in reply.tool_calls]


def _completion(reply: Reply, request: Mapping[str, Any],
                server: ScriptedOpenAIServer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.reasoning_content is not None:
        message["reasoning_content"] = reply.reasoning_content
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls_json(reply, server)
    return {
        "id": server.new_id("chatcmpl"), "object": "chat.completion",
        "created": int(time.time()), "model": reply.model or request.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish(),
                     "logprobs": None}],
        "usage": _usage_for(reply, request).as_json(),
    }


def _chunks(reply: Reply, request: Mapping[str, Any], server: ScriptedOpenAIServer,
            include_usage: bool) -> Iterator[dict[str, Any]]:
    """The streamed form of a reply: role, reasoning, content, tool calls, finish, usage."""
    head = {"id": server.new_id("chatcmpl"), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": reply.model or request.get("model", "")}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                     "logprobs": None}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _words(reply.reasoning_content or ""):
        yield chunk({"content": None, "reasoning_content": piece})
    for piece in _words(reply.content or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(_tool_calls_json(reply, server)):
        arguments = call["function"]["arguments"]
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"],
                                                  "arguments": ""}}]})
        for piece in (arguments[i : i + 16] for i in range(0, len(arguments), 16)):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, reply.finish())
    if include_usage:
        yield {**head, "choices": [], "usage": _usage_for(reply, request).as_json()}


def _serve_until_told(make_script: Callable[[], Script], channel: Connection) -> None:
    with ScriptedOpenAIServer(make_script()) as server:
        channel.send(server.base_url)
        channel.recv()


@contextmanager
def served_in_a_process(make_script: Callable[[], Script]) -> Iterator[str]:
    """A scripted server in a process of its own, as a real endpoint is (its threads do not
    share this process's interpreter); yields its base URL. `make_script` is a module-level
    function, since the process is spawned."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve_until_told,
                                                           args=(make_script, theirs))
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(timeout=10)


def replies_from_json(items: Sequence[Mapping[str, Any]]) -> list[Scripted]:
    """Replies from plain JSON objects (the standalone server's script file)."""
    replies: list[Scripted] = []
    for item in items:
        if "error" in item:
            replies.append(HttpError(int(item["error"]), item.get("message", "scripted error"),
                                     retry_after=item.get("retry_after")))
        elif item.get("hang"):
            replies.append(Hang())
        elif "garbage" in item:
            replies.append(Garbage(str(item["garbage"])))
        elif "cut" in item:
            replies.append(Cut(Reply(str(item["cut"]))))
        elif "stall" in item:
            replies.append(Stall(Reply(str(item["stall"]))))
        else:
            calls = tuple(ToolCall(c["name"], c.get("args", {}), c.get("id"))
                          for c in item.get("tool_calls", ()))
            replies.append(Reply(content=item.get("content", ""),
                                 reasoning_content=item.get("reasoning_content"),
                                 tool_calls=calls, finish_reason=item.get("finish_reason"),
                                 delay_s=float(item.get("delay_s", 0.0))))
    return replies


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, required=True, help="JSON list of replies")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    replies = replies_from_json(json.loads(args.script.read_text()))
    with ScriptedOpenAIServer(replies, port=args.port) as server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
