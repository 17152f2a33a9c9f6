"""The conversation endpoint as the wiring holds it: ``openai-chatkit``'s server (``server.py``) is
built on the first conversation request.

Why: that library imports the OpenAI Agents SDK, which was more than half of the server's import
time (``python -X importtime``), paid by every process at start whether or not it serves ChatKit.
The import runs in a thread, so the event loop goes on serving while the first request waits.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from assistantd.chatkit.sessions import Session
from assistantd.store.db import Database

if TYPE_CHECKING:
    from assistantd.chatkit.server import Handler, Responder


class Conversation:
    def __init__(self, db: Database, responder: Responder) -> None:
        self.db = db
        self.responder = responder
        self._handler: Handler | None = None
        self._loading = asyncio.Lock()

    async def handle(self, session: Session, body: bytes) -> bytes | AsyncIterator[bytes]:
        return await (await self._ready()).handle(session, body)

    async def _ready(self) -> Handler:
        async with self._loading:
            if self._handler is None:
                server = await asyncio.to_thread(importlib.import_module, "assistantd.chatkit.server")
                self._handler = server.Handler(self.db, self.responder)
            return self._handler
