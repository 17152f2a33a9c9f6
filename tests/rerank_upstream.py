"""A fake Cohere/Jina-style ``/rerank`` server on loopback, for the tests and the quality benchmark.

Relevance is lexical and deterministic: the share of the query's distinct words that a document
contains, nudged by how densely it contains them. It is no cross-encoder; it shows that reranking
is wired through and what a reranker that reads query and text together does. Every request is
recorded, and ``fail_next`` scripts failures.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORD = re.compile(r"\w+")


def relevance(query: str, document: str) -> float:
    wanted = set(WORD.findall(query.lower()))
    words = WORD.findall(document.lower())
    if not wanted or not words:
        return 0.0
    present = wanted & set(words)
    density = sum(1 for word in words if word in wanted) / len(words)
    return round(0.9 * len(present) / len(wanted) + 0.1 * min(1.0, 4 * density), 6)


class RerankUpstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.status = 500
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                upstream.requests.append(
                    {"path": self.path, "body": body, "authorization": self.headers.get("authorization")}
                )
                if upstream.fail_next > 0:
                    upstream.fail_next -= 1
                    self._answer(upstream.status, {"error": {"message": "scripted failure"}})
                    return
                if not self.path.endswith("/rerank"):
                    self._answer(404, {"error": {"message": "not found"}})
                    return
                scored = [(i, relevance(body["query"], doc)) for i, doc in enumerate(body["documents"])]
                scored.sort(key=lambda item: (-item[1], item[0]))
                top = scored[: int(body.get("top_n") or len(scored))]
                results = [{"index": i, "relevance_score": s} for i, s in top]
                self._answer(200, {"id": "rerank-1", "model": body.get("model"), "results": results})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> RerankUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
