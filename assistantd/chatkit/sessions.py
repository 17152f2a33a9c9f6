"""ChatKit sessions: create (a ``client_secret`` for the end user's browser), cancel, authenticate."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select

from assistantd.caller import Caller
from assistantd.errors import APIError, NotFound, Unauthorized, invalid_value
from assistantd.ids import now
from assistantd.protocol.chatkit import ChatKitSession, CreateSession, chatkit_session
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import AssistantRow, ChatKitSessionRow


class RateLimited(APIError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "You've exceeded the rate limit, please slow down and try again later.", code="rate_limit_exceeded"
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Session:
    """An authenticated conversation request's scope."""

    id: str
    project: str
    user: str
    assistant_id: str
    document: ChatKitSession


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def with_status(stored: dict[str, Any]) -> ChatKitSession:
    """Expiry is computed on read: an active session past ``expires_at`` reads as ``expired``."""
    document = cast(ChatKitSession, stored)
    if document["status"] == "active" and now() >= document["expires_at"]:
        return {**document, "status": "expired"}
    return document


class Sessions:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._recent: dict[str, deque[float]] = {}

    async def create(self, caller: Caller, body: CreateSession) -> ChatKitSession:
        created = now()
        document = chatkit_session(body, created)
        secret = "ek_" + secrets.token_urlsafe(32)
        async with self.db.write() as session:
            if await documents.fetch(session, AssistantRow, caller.project, body.workflow.id) is None:
                raise NotFound(f"Workflow with id '{body.workflow.id}' not found.", param="workflow.id")
            session.add(
                ChatKitSessionRow(
                    id=document["id"],
                    project=caller.project,
                    created_at=created,
                    secret_hash=secret_hash(secret),
                    data=document,
                )
            )
        return {**document, "client_secret": secret}

    async def cancel(self, caller: Caller, session_id: str) -> ChatKitSession:
        if not session_id.startswith("cksess_"):
            raise invalid_value(
                "session_id", f"Invalid 'session_id': '{session_id}'. Expected an ID that begins with 'cksess_'."
            )
        async with self.db.write() as session:
            row = await documents.fetch(session, ChatKitSessionRow, caller.project, session_id)
            if row is None:
                raise NotFound(f"Chatkit Session with id '{session_id}' not found.")
            document = with_status(row.data)
            if document["status"] == "active":
                document = {**document, "status": "cancelled"}
                documents.save(row, document)
            return document

    async def authenticate(self, secret: str | None) -> Session:
        """The session a client secret belongs to, if it is still active and within its rate limit."""
        if not secret:
            raise Unauthorized("You didn't provide a ChatKit client secret (Authorization: Bearer ek_...).")
        async with self.db.read() as session:
            query = select(ChatKitSessionRow).where(ChatKitSessionRow.secret_hash == secret_hash(secret))
            row = (await session.execute(query)).scalars().first()
        if row is None:
            raise Unauthorized("Invalid ChatKit client secret.", code="invalid_api_key")
        document = with_status(row.data)
        if document["status"] != "active":
            raise Unauthorized(f"This ChatKit session is {document['status']}.", code="session_" + document["status"])
        self._count(row.id, int(document["max_requests_per_1_minute"]))
        return Session(row.id, row.project, document["user"], document["workflow"]["id"], document)

    def _count(self, session_id: str, per_minute: int) -> None:
        """A sliding one-minute window per session, held by this process."""
        moment = time.monotonic()
        recent = self._recent.setdefault(session_id, deque())
        while recent and moment - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= per_minute:
            raise RateLimited(retry_after=max(1, int(60 - (moment - recent[0])) + 1))
        recent.append(moment)
