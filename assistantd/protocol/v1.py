"""The v1 beta (``OpenAI-Beta: assistants=v1``, Azure api-versions before 2024-05-01-preview).

Objects are stored once, in their v2 form. This module holds the request side, used where input is
parsed: ``check_fields`` refuses fields that a v2 request does not have, ``message_attachments`` maps v1
message files; and v1's own objects (assistant and message files). Services answer in v2, and the edge
(``api/v1.py``) renders what a v1 caller sees. The mapping is OpenAI's own v1→v2 migration:
``retrieval`` ↔ ``file_search``; assistant ``file_ids`` ↔ ``tool_resources.code_interpreter.file_ids``
plus the files of its ``file_search`` vector store; message ``file_ids`` ↔ ``attachments``.
"""

from __future__ import annotations

from typing import Any, Literal

from assistantd.errors import InvalidRequest
from assistantd.protocol.pages import PageParams, page_document

Version = Literal["v1", "v2"]
Doc = dict[str, Any]

# Accepted for v1 requests, never listed among the supported values of a v2 error.
UNADVERTISED_TAGS = ("retrieval",)
# Both tools, as OpenAI's migration attached a v1 message file to whichever tool used it.
MESSAGE_FILE_TOOLS = [{"type": "code_interpreter"}, {"type": "file_search"}]


def unknown_parameter(name: str) -> InvalidRequest:
    return InvalidRequest(f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")


def check_fields(version: Version, body: Any, prefix: str = "") -> None:
    """A v2 request may not use v1's ``file_ids`` or ``retrieval`` tool (OpenAI's 400s)."""
    if version == "v1":
        return
    if getattr(body, "file_ids", None) is not None:
        raise unknown_parameter(f"{prefix}file_ids")
    for index, tool in enumerate(getattr(body, "tools", None) or []):
        if getattr(tool, "type", None) == "retrieval":
            raise InvalidRequest(
                "Invalid value: 'retrieval'. Supported values are: 'code_interpreter', 'file_search', and 'function'.",
                param=f"{prefix}tools[{index}].type",
                code="invalid_value",
            )


def message_file_ids(document: Doc) -> list[str]:
    return [a["file_id"] for a in document.get("attachments") or []]


def message_attachments(file_ids: list[str]) -> list[Doc]:
    """v1 message files as v2 attachments."""
    return [{"file_id": file_id, "tools": [dict(t) for t in MESSAGE_FILE_TOOLS]} for file_id in file_ids]


def assistant_file(assistant_id: str, file_id: str, created_at: int) -> Doc:
    return {"id": file_id, "object": "assistant.file", "created_at": created_at, "assistant_id": assistant_id}


def message_file(message: Doc, file_id: str) -> Doc:
    return {
        "id": file_id,
        "object": "thread.message.file",
        "created_at": message["created_at"],
        "message_id": message["id"],
    }


def page_of(items: list[Doc], params: PageParams) -> Doc:
    """A cursor page over a short list held in memory (``items`` in creation order)."""
    ordered = items if params.order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    for name, cursor in (("after", params.after), ("before", params.before)):
        if cursor and cursor not in ids:
            raise InvalidRequest(
                f"Invalid '{name}': no object with id '{cursor}' in this list.", param=name, code="invalid_value"
            )
    start = ids.index(params.after) + 1 if params.after else 0
    end = ids.index(params.before) if params.before else len(ordered)
    window = ordered[start:end]
    if params.before and not params.after:
        chosen = window[-params.limit :]
        return page_document(chosen, len(window) > params.limit)
    return page_document(window[: params.limit], len(window) > params.limit)
