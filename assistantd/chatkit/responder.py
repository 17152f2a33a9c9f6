"""Answers ChatKit messages by running the session's assistant through the run engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chatkit.errors import CustomStreamError

from assistantd.chatkit.store import Context
from assistantd.store.db import Database


class RunResponder:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reply(self, context: Context, state: dict[str, Any], text: str) -> AsyncIterator[str]:
        raise CustomStreamError("The run engine is not part of this build yet.", allow_retry=False)
        yield ""  # pragma: no cover - makes this an async generator
