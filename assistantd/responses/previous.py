"""``previous_response_id`` checked up front, with OpenAI's error when it names nothing continuable."""

from __future__ import annotations

from assistantd.caller import Caller
from assistantd.errors import NotFound
from assistantd.responses.references import previous_not_found
from assistantd.responses.service import Responses


async def require_previous(responses: Responses, caller: Caller, response_id: str) -> None:
    """A stored response of the caller's; an unstored one may linger briefly after it ends but is not there."""
    try:
        previous = await responses.retrieve(caller, response_id)
    except NotFound as exc:
        raise previous_not_found(response_id) from exc
    if previous.get("store") is False:
        raise previous_not_found(response_id)
