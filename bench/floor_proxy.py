"""The floor for bench_runs.py: the upstream's stream relayed by the least a server of this stack does.

uvicorn (uvloop, httptools, as ``assistantd serve`` runs it) and aiohttp (the client assistantd calls
its upstream with): each POST is forwarded to ``UPSTREAM/chat/completions`` and its answer relayed
as it comes. No framework, no parsing, no database. ``python bench/floor_proxy.py UPSTREAM PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn

UPSTREAM = sys.argv[1] if len(sys.argv) > 1 else ""
HEADERS = [(b"content-type", b"text/event-stream")]
sessions: list[aiohttp.ClientSession] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if not sessions:
        sessions.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)))
    headers = {"content-type": "application/json"}
    async with sessions[0].post(f"{UPSTREAM}/chat/completions", data=body, headers=headers) as answer:
        await send({"type": "http.response.start", "status": answer.status, "headers": HEADERS})
        async for chunk in answer.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", lifespan="off")
