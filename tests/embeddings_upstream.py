"""A fake OpenAI-compatible ``/v1/embeddings`` server on loopback for the tests.

Embeddings are deterministic hashed bags of words: texts sharing words point the same way, so
search results are predictable without a model. Every request is recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIMENSIONS = 256


def embed(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.md5(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % DIMENSIONS] += 1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


class EmbeddingsUpstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        # Cleared by a test to hold every answer until it is set again (to observe work in flight).
        self.gate = threading.Event()
        self.gate.set()
        self.delay = 0.0  # seconds every answer waits: a slow upstream
        self.hold: str | None = None  # when set, the gate holds only requests whose input contains it
        self.refuse: str | None = None  # when set, requests whose input contains it are answered 400
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                upstream.requests.append(
                    {"path": self.path, "body": body, "authorization": self.headers.get("authorization")}
                )
                if upstream.hold is None or upstream.hold in json.dumps(body.get("input")):
                    upstream.gate.wait(timeout=120)
                if upstream.delay:
                    time.sleep(upstream.delay)
                if upstream.fail_next > 0:
                    upstream.fail_next -= 1
                    self._answer(500, {"error": {"message": "scripted failure", "type": "server_error"}})
                    return
                if upstream.refuse is not None and upstream.refuse in json.dumps(body.get("input")):
                    self._answer(400, {"error": {"message": "scripted refusal", "type": "invalid_request_error"}})
                    return
                if not self.path.endswith("/embeddings"):
                    self._answer(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(texts)]
                self._answer(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model"),
                        "usage": {"prompt_tokens": 0, "total_tokens": 0},
                    },
                )

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a killed server's request
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> EmbeddingsUpstream:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def embedded_texts(self) -> list[str]:
        return [t for r in self.requests for t in (r["body"].get("input") or [])]
