"""A fast OpenAI-compatible ``POST /v1/embeddings`` upstream, in its own process, for the ingestion benchmark.

A real embeddings upstream is another process (usually another machine, with a GPU); this one
answers with deterministic pseudo-vectors (``shake_128`` of the text), so it costs little CPU and
what the benchmark measures is the server's own pipeline. Keep-alive HTTP/1.1 on loopback, base64
or float lists as asked. Not a model: vectors of different texts are unrelated.

Run: ``python bench/fast_embeddings.py --dims 1536`` prints ``http://127.0.0.1:PORT/v1`` and serves
until stdin closes (so it dies with the benchmark that started it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def vector(text: str, dims: int) -> np.ndarray:
    raw = np.frombuffer(hashlib.shake_128(text.encode()).digest(dims), dtype=np.int8).astype(np.float32)
    return raw / (float(np.linalg.norm(raw)) or 1.0)


def answer(body: dict[str, Any], dims: int) -> dict[str, Any]:
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        row = vector(str(text), dims)
        embedding: Any = base64.b64encode(row.astype("<f4").tobytes()).decode() if as_base64 else row.tolist()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": 0, "total_tokens": 0}
    return {"object": "list", "data": data, "model": body.get("model"), "usage": usage}


def server(dims: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client's connections are reused

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            raw = json.dumps(answer(body, dims)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    return httpd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, default=1536)
    args = parser.parse_args()
    httpd = server(args.dims)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{httpd.server_address[1]}/v1", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or exits)
    httpd.shutdown()


if __name__ == "__main__":
    main()
