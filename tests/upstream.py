"""A scripted OpenAI-compatible chat completions server on loopback (a fake, not a mock).

Tests queue replies per model name (so tests sharing one assistantd never take each other's replies)
and read back every request body the server received. Replies: text chunks (optionally slow), tool
calls (parallel), an HTTP error, or a hang that sends nothing more until the client goes away.
A model with nothing queued answers with ``DEFAULT_TEXT``. One chunk counts as one token: a request's
``max_tokens`` cuts the reply short with ``finish_reason: "length"``, as a real model would.

Replies can also behave like the servers people run (``Reply.quirks``, see ``QUIRKS``), stream
reasoning, and a model can be told to refuse parameters (``Upstream.refuse``) with the 400 those
servers answer. A request with ``continue_final_message`` (vLLM) gets the scripted answer after the text of
its last (assistant) message. ``GET /models`` lists ``Upstream.models``; Azure's deployment paths are served too.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TEXT = ["Hello", " from", " the", " fake", " model."]

# How a streamed reply can differ from OpenAI's, and the servers known to do it.
QUIRKS = {
    "finish_stop": "finish_reason 'stop' after tool calls (Ollama, LiteLLM, vLLM with a named tool_choice)",
    "no_finish": "no finish_reason at all",
    "whole_calls": "each tool call whole in one chunk (Ollama, Gemini's OpenAI-compatible endpoint)",
    "calls_in_final": "all tool calls whole in the chunk that carries finish_reason",
    "no_ids": "tool calls without an id",
    "empty_ids": "tool calls with an empty id",
    "no_index": "tool calls without an index (Ollama, Gemini's OpenAI-compatible endpoint)",
    "shared_index": "several whole tool calls all at index 0 (proxies in front of Gemini)",
    "object_args": "arguments as a JSON object, not a string (llama.cpp builds of early 2026, TGI)",
    "reasoning_field": "reasoning as `reasoning` deltas (Ollama, vLLM >= 0.11) instead of `reasoning_content`",
    "stream_error": "a 200 stream that carries {'error': ...} as a data line (LiteLLM, vLLM)",
    "no_done": "the stream ends without data: [DONE]",
    "html_error": "the error status comes with an HTML page (a proxy in front)",
}

# What a server says when it refuses a parameter (Upstream.refuse), as those servers word it.
REFUSALS = {
    "parallel_tool_calls": "Unrecognized request argument supplied: parallel_tool_calls",
    "seed": "Unrecognized request argument supplied: seed",
    "tool_choice_required": '`tool_choice` must either be a named tool, "auto", or "none".',
    "tool_choice_named": "tool_choice of type 'function' is not supported",
    "json_schema": 'response_format type must be one of "text" or "json_object", but got: json_schema',
    "json_object": "Unsupported param: response_format",
}


@dataclass
class Reply:
    text: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (function name, JSON arguments)
    delay: float = 0.0  # seconds before each chunk
    status: int | None = None  # answer this HTTP error instead
    message: str = ""  # the error's message (default: "scripted failure <status>")
    hang: bool = False  # after the text, send nothing until the client disconnects
    usage: bool = True  # send a usage chunk when asked (stream_options.include_usage)
    reasoning: list[str] = field(default_factory=list)  # reasoning_content deltas sent before the text
    quirks: tuple[str, ...] = ()  # names from QUIRKS
    error_type: str = "server_error"  # the type of the error a "stream_error" reply sends

    def __post_init__(self) -> None:
        unknown = set(self.quirks) - set(QUIRKS)
        assert not unknown, f"unknown quirks {unknown}"


@dataclass
class Received:
    body: dict[str, Any]
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    disconnected: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    usage: dict[str, int] | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])


def prompt_tokens(body: dict[str, Any]) -> int:
    return 7 + len(json.dumps(body.get("messages"))) // 10


class Upstream:
    def __init__(self) -> None:
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._received: list[Received] = []
        self._refusals: dict[str, set[str]] = defaultdict(set)
        self.models: list[str] = []  # what GET /models lists
        self.model_lists = 0  # how many times GET /models was asked
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, model: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[model].extend(replies)

    def next_reply(self, model: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(model)
            return queue.popleft() if queue else Reply(text=list(DEFAULT_TEXT))

    def refuse(self, model: str, *names: str) -> None:
        """Answer 400 (with that server's wording, ``REFUSALS``) to any request for ``model`` that uses them."""
        assert set(names) <= set(REFUSALS), names
        with self._lock:
            self._refusals[model].update(names)

    def refusal(self, body: dict[str, Any]) -> str | None:
        with self._lock:
            refused = set(self._refusals.get(str(body.get("model")), ()))
        choice = body.get("tool_choice")
        fmt = (body.get("response_format") or {}).get("type")
        used = {name for name in ("parallel_tool_calls", "seed") if name in body}
        used |= {"tool_choice_required"} if choice == "required" else set()
        used |= {"tool_choice_named"} if isinstance(choice, dict) else set()
        used |= {fmt} if fmt in ("json_schema", "json_object") else set()
        hit = sorted(refused & used)
        return REFUSALS[hit[0]] if hit else None

    def record(self, body: dict[str, Any], path: str = "", headers: dict[str, str] | None = None) -> Received:
        received = Received(body, path, dict(headers or {}))
        with self._lock:
            self._received.append(received)
        return received

    def requests(self, model: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.body.get("model") == model]

    def wait_requests(self, model: str, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests(model)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"upstream saw {len(self.requests(model))} requests for {model}, wanted {count}")


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0].endswith("/models"):
                with upstream._lock:
                    upstream.model_lists += 1
                    data = [{"id": m, "object": "model", "created": 1, "owned_by": "fake"} for m in upstream.models]
                self._json(200, {"object": "list", "data": data})
            else:
                self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            path = self.path.split("?")[0]
            if not path.endswith("/chat/completions"):
                self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                return
            received = upstream.record(body, self.path, {k.lower(): v for k, v in self.headers.items()})
            refusal = upstream.refusal(body)
            if refusal is not None:
                self._json(400, {"error": {"message": refusal, "type": "invalid_request_error", "code": None}})
                received.finished.set()
                return
            reply = upstream.next_reply(str(body.get("model")))
            try:
                if reply.status is not None and "html_error" in reply.quirks:
                    self._html(reply.status)
                elif reply.status is not None:
                    text = reply.message or f"scripted failure {reply.status}"
                    error = {"message": text, "type": "error", "code": None}
                    self._json(reply.status, {"error": error})
                elif body.get("stream"):
                    self._stream(body, reply, received)
                else:
                    self._complete(body, reply, received)
            except (BrokenPipeError, ConnectionResetError):
                received.disconnected.set()
                self.close_connection = True
            finally:
                received.finished.set()

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("retry-after-ms", "10")
            self.end_headers()
            self.wfile.write(data)

        def _html(self, status: int) -> None:
            page = f"<html><head><title>{status} Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
            data = page.encode()
            self.send_response(status)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _plan(self, body: dict[str, Any], reply: Reply) -> tuple[list[str], str]:
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            text = list(reply.text)
            if body.get("continue_final_message"):
                text = _after(text, str(body["messages"][-1]["content"]))
            if limit is not None and len(text) > int(limit):
                return text[: int(limit)], "length"
            return text, "tool_calls" if reply.tool_calls else "stop"

        def _complete(self, body: dict[str, Any], reply: Reply, received: Received) -> None:
            text, finish = self._plan(body, reply)
            calls = [
                {"id": f"up_{i}", "type": "function", "function": {"name": name, "arguments": args}}
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
            message = {"role": "assistant", "content": "".join(text) or None, "tool_calls": calls or None}
            usage = {"prompt_tokens": prompt_tokens(body), "completion_tokens": len(text) + len(calls)}
            received.usage = usage
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            self._json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )

        def _stream(self, body: dict[str, Any], reply: Reply, received: Received) -> None:
            # Chunked and kept alive, as vLLM, Ollama and OpenAI stream: the client reuses the connection.
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self._stream_events(body, reply, received)
            if not received.disconnected.is_set():
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        def _stream_events(self, body: dict[str, Any], reply: Reply, received: Received) -> None:
            text, finish = self._plan(body, reply)
            field_name = "reasoning" if "reasoning_field" in reply.quirks else "reasoning_content"
            for thought in reply.reasoning:
                self._chunk(body, {field_name: thought})
            for piece in text:
                if reply.delay:
                    time.sleep(reply.delay)
                self._chunk(body, {"content": piece})
            if reply.hang:
                self._wait_for_disconnect(received)
                return
            if "stream_error" in reply.quirks:
                error = {"message": reply.message or "scripted stream failure", "type": reply.error_type, "code": None}
                self._send({"error": error})
                return
            self._tool_calls(body, reply, self._finish(finish, reply))
            if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": prompt_tokens(body), "completion_tokens": len(text) + len(reply.tool_calls)}
                received.usage = usage
                self._send({**_base(body), "choices": [], "usage": {**usage, "total_tokens": sum(usage.values())}})
            if "no_done" not in reply.quirks:
                self._write(b"data: [DONE]\n\n")

        def _finish(self, finish: str, reply: Reply) -> str | None:
            if "no_finish" in reply.quirks:
                return None
            return "stop" if finish == "tool_calls" and "finish_stop" in reply.quirks else finish

        def _tool_calls(self, body: dict[str, Any], reply: Reply, finish: str | None) -> None:
            quirks = set(reply.quirks)
            whole = bool(quirks & {"whole_calls", "calls_in_final", "shared_index", "object_args"})
            pieces: list[dict[str, Any]] = []
            for index, (name, args) in enumerate(reply.tool_calls):
                if reply.delay:
                    time.sleep(reply.delay)
                ident = {} if "no_ids" in quirks else {"id": "" if "empty_ids" in quirks else f"up_{index}"}
                at = {} if "no_index" in quirks else {"index": 0 if "shared_index" in quirks else index}
                arguments: Any = json.loads(args) if "object_args" in quirks else args
                if whole:
                    call = {**at, **ident, "type": "function", "function": {"name": name, "arguments": arguments}}
                    pieces.append(call)
                    if "calls_in_final" not in quirks:
                        self._chunk(body, {"tool_calls": [call]})
                    continue
                head = {**at, **ident, "type": "function"}
                self._chunk(body, {"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
                half = len(args) // 2
                for part in (args[:half], args[half:]):
                    self._chunk(body, {"tool_calls": [{**at, "function": {"arguments": part}}]})
            if "calls_in_final" in quirks and pieces:
                self._chunk(body, {"tool_calls": pieces}, finish)
            else:
                self._chunk(body, {}, finish)

        def _chunk(self, body: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            self._send({**_base(body), "choices": [choice]})

        def _send(self, payload: dict[str, Any]) -> None:
            self._write(b"data: " + json.dumps(payload).encode() + b"\n\n")

        def _write(self, event: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()

        def _wait_for_disconnect(self, received: Received) -> None:
            sock: socket.socket = self.connection
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable:
                    try:
                        if not sock.recv(1, socket.MSG_PEEK):
                            break
                    except OSError:
                        break
            received.disconnected.set()

    return Handler


def _after(pieces: list[str], prefix: str) -> list[str]:
    """The scripted answer's pieces after ``prefix``, as vLLM continues a final assistant message
    (``continue_final_message``); the answer must start with it."""
    assert "".join(pieces).startswith(prefix), f"{prefix!r} does not start the scripted answer"
    rest: list[str] = []
    for piece in pieces:
        if len(prefix) >= len(piece):
            prefix = prefix[len(piece) :]
        else:
            rest.append(piece[len(prefix) :])
            prefix = ""
    return rest


def _base(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }
