"""Compaction: a conversation window summarised by the model into one encrypted ``compaction`` item.

``compact`` runs an ordinary unstored response (so the model is routed, and the input checked,
exactly as for any response) that asks the model for a summary of the window. The summary is sealed
with Fernet under the server's compaction key, bound to the caller's project; the window's user
messages are kept as they were, as OpenAI's compaction keeps them. When a later request gives the
item back as input, ``open`` puts the summary in its place as a user message the model reads.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.fernet import Fernet, InvalidToken

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, ServerError
from assistantd.ids import new_id, now
from assistantd.protocol.compaction import Compaction, CompactRequest, compaction, compaction_item
from assistantd.protocol.response_objects import ResponseUsage
from assistantd.protocol.responses import CreateResponse
from assistantd.responses.previous import require_previous
from assistantd.responses.service import Responses

KEY_FILE = "compaction.key"
INSTRUCTIONS = (
    "You compact conversations. Write a summary of the conversation so far that lets another assistant "
    "continue it without the original: the user's goals and requests, facts and decisions, names, numbers "
    "and code words exactly as given, tool calls made and their results, and what remains to do. "
    "Answer with the summary only."
)
ASK = "Summarise the conversation above for later continuation, following your instructions."
SUMMARY_PREFIX = "Summary of the earlier conversation (compacted):\n"
NO_USAGE: ResponseUsage = {
    "input_tokens": 0,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 0,
}


class HasInput(Protocol):
    input: str | list[Any] | None

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any: ...


Body = TypeVar("Body", bound=HasInput)


def compaction_key(setting: str | None, data_dir: Path) -> bytes:
    """The setting, or the data dir's key file, created once (atomically: workers may race to it)."""
    if setting:
        return setting.encode()
    path = data_dir / KEY_FILE
    if not path.exists():
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}"
        draft.write_bytes(Fernet.generate_key())
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)  # fails if another process got there first: its key wins
        draft.unlink()
    return path.read_bytes().strip()


def unverified(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"The encrypted content of '{param}' could not be verified.",
        param=f"{param}.encrypted_content",
        code="invalid_encrypted_content",
    )


def kept_message(item: Any) -> dict[str, Any] | None:
    """A user message of the window, as the output lists it (None for anything else)."""
    if not isinstance(item, dict) or item.get("type", "message") != "message" or item.get("role") != "user":
        return None
    content = item.get("content")
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    return {"id": new_id("message"), "type": "message", "status": "completed", "role": "user", "content": content}


def output_text(document: dict[str, Any]) -> str:
    texts = [
        part.get("text") or ""
        for item in document.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    ]
    return "".join(texts).strip()


class Compactor:
    def __init__(self, responses: Responses, key: bytes) -> None:
        self.responses = responses
        self.fernet = Fernet(key)

    def seal(self, caller: Caller, summary: str) -> str:
        token = self.fernet.encrypt(json.dumps({"project": caller.project, "summary": summary}).encode())
        return token.decode()

    def unseal(self, caller: Caller, item: dict[str, Any], param: str) -> str:
        content = item.get("encrypted_content")
        if not isinstance(content, str):
            raise InvalidRequest(
                f"Missing required parameter: '{param}.encrypted_content'.",
                param=f"{param}.encrypted_content",
                code="missing_required_parameter",
            )
        try:
            sealed = json.loads(self.fernet.decrypt(content.encode()))
        except (InvalidToken, ValueError):
            raise unverified(param) from None
        if sealed.get("project") != caller.project:  # another project's item reads as a forged one
            raise unverified(param)
        return str(sealed["summary"])

    def open(self, caller: Caller, body: Body) -> Body:
        """``body`` with each compaction item of its input replaced by the summary it holds."""
        if not isinstance(body.input, list) or not any(
            isinstance(item, dict) and item.get("type") == "compaction" for item in body.input
        ):
            return body
        opened = []
        for index, item in enumerate(body.input):
            if isinstance(item, dict) and item.get("type") == "compaction":
                summary = self.unseal(caller, item, f"input[{index}]")
                item = {"type": "message", "role": "user", "content": SUMMARY_PREFIX + summary}
            opened.append(item)
        copy: Body = body.model_copy(update={"input": opened})
        return copy

    async def compact(self, caller: Caller, body: CompactRequest) -> Compaction:
        if body.previous_response_id:
            await require_previous(self.responses, caller, body.previous_response_id)
        window: list[Any] = [{"role": "user", "content": body.input}] if isinstance(body.input, str) else []
        if isinstance(body.input, list):
            window = list(body.input)
        own = f"\n\nThe conversation's own instructions were:\n{body.instructions}" if body.instructions else ""
        request = CreateResponse(
            model=body.model,
            input=[*window, {"type": "message", "role": "user", "content": ASK}],
            previous_response_id=body.previous_response_id,
            instructions=INSTRUCTIONS + own,
            store=False,
        )
        document = await self.responses.create(caller, self.open(caller, request))
        assert isinstance(document, dict)  # neither streamed nor in the background
        if document.get("status") != "completed":
            error: dict[str, Any] = dict(document.get("error") or {})
            raise ServerError(f"The model could not compact the conversation: {error.get('message') or 'no summary'}")
        kept = [message for message in map(kept_message, window) if message is not None]
        item = compaction_item(new_id("compaction"), self.seal(caller, output_text(dict(document))))
        usage = document.get("usage") or NO_USAGE
        return compaction(new_id("response"), now(), [*kept, item], usage)
