"""The conversation endpoint: ``openai-chatkit``'s ``ChatKitServer`` over our Store, answering each
user message by running the session's assistant (``Responder``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol

from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ChatKitReq,
    ClientToolCallItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError

from assistantd.chatkit.context import Context
from assistantd.chatkit.responder import Piece, ToolRequest
from assistantd.chatkit.sessions import Session
from assistantd.chatkit.store import DatabaseStore
from assistantd.errors import InvalidRequest, NotFound
from assistantd.store.db import Database

REQUESTS: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
TITLE_CHARS = 60


class Responder(Protocol):
    """Produces the assistant's answer, as text deltas and requests for client tool calls.

    ``state`` is the ChatKit thread's private metadata (never sent to the client): the responder
    keeps its own references there (the Assistants thread it runs on, a run waiting for outputs)."""

    def reply(self, context: Context, state: dict[str, Any], text: str) -> AsyncIterator[Piece]: ...

    def resume(self, context: Context, state: dict[str, Any], call_id: str, output: Any) -> AsyncIterator[Piece]: ...

    async def forget(self, project: str, state: dict[str, Any]) -> None: ...


def user_text(item: UserMessageItem | None) -> str:
    if item is None:
        return ""
    parts = [getattr(part, "text", "") for part in item.content]
    if item.quoted_text:
        parts.insert(0, f"> {item.quoted_text}\n")
    return "\n".join(p for p in parts if p)


class AssistantServer(ChatKitServer[Context]):
    def __init__(self, store: DatabaseStore, responder: Responder) -> None:
        super().__init__(store)
        self.responder = responder

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is None:  # the front end answered a client tool call
            call = await self._answered_call(thread, context)
            pieces = self.responder.resume(context, thread.metadata, call.call_id, call.output)
        else:
            text = user_text(input_user_message)
            if not text:
                raise CustomStreamError("There is no user message to answer.", allow_retry=False)
            pieces = self.responder.reply(context, thread.metadata, text)
            if thread.title is None and context.auto_title:
                thread.title = " ".join(text.split())[:TITLE_CHARS] or None
        async for event in self._events(thread, context, pieces):
            yield event

    async def _answered_call(self, thread: ThreadMetadata, context: Context) -> ClientToolCallItem:
        last = await self.store.load_thread_items(thread.id, None, 1, "desc", context)
        if not last.data or not isinstance(last.data[0], ClientToolCallItem):
            raise CustomStreamError("There is no answered client tool call to continue from.", allow_retry=False)
        return last.data[0]

    async def _events(
        self, thread: ThreadMetadata, context: Context, pieces: AsyncIterator[Piece]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Text pieces stream into one assistant message; a tool request ends the turn as a client tool call."""
        item: AssistantMessageItem | None = None
        answer = ""
        async for piece in pieces:
            if isinstance(piece, ToolRequest):
                if item is not None:
                    item.content = [AssistantMessageContent(text=answer)]
                    yield ThreadItemDoneEvent(item=item)
                    item, answer = None, ""
                call = ClientToolCallItem(
                    id=self.store.generate_item_id("tool_call", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    call_id=piece.call_id,
                    name=piece.name,
                    arguments=piece.arguments,
                )
                yield ThreadItemDoneEvent(item=call)
                continue
            if item is None:
                item = AssistantMessageItem(
                    id=self.store.generate_item_id("message", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    content=[AssistantMessageContent(text="")],
                )
                yield ThreadItemAddedEvent(item=item)
            answer += piece
            update = AssistantMessageContentPartTextDelta(content_index=0, delta=piece)
            yield ThreadItemUpdatedEvent(item_id=item.id, update=update)
        if item is not None:
            item.content = [AssistantMessageContent(text=answer)]
            yield ThreadItemDoneEvent(item=item)


class Handler:
    """One conversation request: auth is done (``Session``); parse, check ownership, run the library."""

    def __init__(self, db: Database, responder: Responder) -> None:
        self.store = DatabaseStore(db, responder.forget)
        self.server = AssistantServer(self.store, responder)

    async def handle(self, session: Session, body: bytes) -> bytes | AsyncIterator[bytes]:
        titling = session.document["chatkit_configuration"]["automatic_thread_titling"]["enabled"]
        context = Context(session.project, session.user, session.assistant_id, session.id, bool(titling))
        try:
            request = REQUESTS.validate_json(body)
        except ValidationError as error:
            raise InvalidRequest(f"Invalid ChatKit request: {_first(error)}") from None
        if is_streaming_req(request):
            await self._check_thread(request, context)
        try:
            result = await self.server.process(body, context)
        except NotFoundError as error:
            raise NotFound(str(error) or "Not found.") from None
        if isinstance(result, StreamingResult):
            return aiter(result)
        return result.json

    async def _check_thread(self, request: Any, context: Context) -> None:
        """Streams load the thread inside the generator, after the 200: check it before (2.7 b, c)."""
        thread_id = getattr(request.params, "thread_id", None)
        if thread_id is None:
            return
        try:
            thread = await self.store.load_thread(thread_id, context)
        except NotFoundError:
            raise NotFound(f"No thread found with id '{thread_id}'.") from None
        if thread.status.type != "active":
            reason = getattr(thread.status, "reason", None)
            raise InvalidRequest(f"Thread {thread_id} is {thread.status.type}" + (f": {reason}" if reason else "."))


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
