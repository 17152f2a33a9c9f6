"""Responses WebSocket mode: one connection, ``response.create`` after ``response.create``.

Each turn is an ordinary streamed response; its events go back one per message. A response made
with ``store: false`` on the connection is forgotten by the server as usual, but the connection
keeps its items (input and output, in input form) so that the next turn can continue it with
``previous_response_id`` and only new input, as OpenAI's connection-local cache does. A
continuation that fails drops the response it continued from that cache (OpenAI does the same), so
the client starts a new chain instead of retrying a broken one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from assistantd.caller import Caller
from assistantd.errors import APIError, InvalidRequest
from assistantd.protocol.responses import CreateResponse
from assistantd.responses.compact import Compactor
from assistantd.responses.previous import require_previous
from assistantd.responses.service import Responses

# store:false responses one connection can continue; older ones fall out (their chains still work
# through the newest one, which carries the whole history since the last stored response).
CACHED_RESPONSES = 16
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def as_input(item: dict[str, Any]) -> dict[str, Any] | None:
    """An output item as the input item that gives it back to the model (None: nothing to give back)."""
    kind = item.get("type")
    if kind == "message":
        texts = [p for p in item["content"] if p.get("type") in ("output_text", "input_text")]
        return {"type": "message", "role": item["role"], "content": texts} if texts else None
    if kind == "function_call":
        return {k: item[k] for k in ("type", "call_id", "name", "arguments")}
    if kind in ("file_search_call", "code_interpreter_call"):
        return item
    return None  # reasoning is never sent to the model as text


def given_items(value: str | list[Any] | None) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value)


def is_message(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type", "message") == "message"


def settled(items: list[Any]) -> list[Any]:
    """The items a continuation starts from: the messages, and what follows the last one (calls waiting
    for their outputs). Tool turns answered before a later message are left out, as a stored chain
    leaves them out of its copied history (and the model would otherwise get them after that message)."""
    last = max((index for index, item in enumerate(items) if is_message(item)), default=-1)
    return [item for index, item in enumerate(items) if index > last or is_message(item)]


class SocketSession:
    """One WebSocket connection's turns, run one after another."""

    def __init__(self, responses: Responses, compactor: Compactor, caller: Caller) -> None:
        self.responses = responses
        self.compactor = compactor
        self.caller = caller
        # By response id: the stored response its chain starts from (if any), and the items since.
        self.unstored: OrderedDict[str, tuple[str | None, list[Any]]] = OrderedDict()

    async def turn(self, body: CreateResponse) -> AsyncIterator[dict[str, Any]]:
        """The turn's events; ``APIError`` if it is refused before its first event."""
        if body.background:
            raise InvalidRequest("Background mode is not supported in WebSocket mode.", param="background")
        previous = body.previous_response_id
        cached = self.unstored.get(previous) if previous else None
        request = body.model_copy(update={"stream": True})
        if cached is not None:
            stored, history = cached
            given = [*history, *given_items(body.input)]
            request = request.model_copy(update={"previous_response_id": stored, "input": given})
        elif previous:
            await require_previous(self.responses, self.caller, previous)
        final: dict[str, Any] | None = None
        try:
            events = await self.responses.create(self.caller, self.compactor.open(self.caller, request))
            assert not isinstance(events, dict)  # a streamed request answers with its events
            async for event in events:
                if "response" in event and cached is not None:
                    event = {**event, "response": {**event["response"], "previous_response_id": previous}}
                if event["type"] in TERMINAL:
                    final = event["response"]
                yield event
        except APIError:
            self._evict(previous)
            raise
        if final is None or final.get("status") == "failed":
            self._evict(previous)
        elif not body.store:
            self._remember(final, request.previous_response_id, given_items(request.input))

    def _evict(self, response_id: str | None) -> None:
        if response_id is not None:
            self.unstored.pop(response_id, None)

    def _remember(self, response: dict[str, Any], stored: str | None, given: list[Any]) -> None:
        outputs = [as_input(item) for item in response.get("output") or []]
        self.unstored[response["id"]] = (stored, settled([*given, *[item for item in outputs if item]]))
        while len(self.unstored) > CACHED_RESPONSES:
            self.unstored.popitem(last=False)
