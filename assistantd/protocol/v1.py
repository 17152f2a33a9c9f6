"""The v1 beta (``OpenAI-Beta: assistants=v1``, Azure api-versions before 2024-05-01-preview).

Objects are stored once, in their v2 form; this module translates at the edge of each service:
``check_*`` refuse fields that the request's version does not have, ``render_*`` turn a stored v2
document into what that version returned. The mapping is OpenAI's own v1→v2 migration:
``retrieval`` ↔ ``file_search``; assistant ``file_ids`` ↔ ``tool_resources.code_interpreter.file_ids``
plus the files of its ``file_search`` vector store; message ``file_ids`` ↔ ``attachments``.
"""

from __future__ import annotations

from typing import Any, Literal

from assistantd.errors import InvalidRequest
from assistantd.protocol.pages import PageParams, page_document

Version = Literal["v1", "v2"]
Doc = dict[str, Any]

# Fields v1 never returned on each object.
_V2_ONLY_ASSISTANT = ("tool_resources", "temperature", "top_p", "response_format", "reasoning_effort")
_V2_ONLY_RUN = ("top_p", "tool_resources")
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


def tools_v1(tools: list[Doc]) -> list[Doc]:
    return [{"type": "retrieval"} if tool.get("type") == "file_search" else tool for tool in tools]


def render_assistant(document: Doc, version: Version, file_ids: list[str] | None = None) -> Doc:
    """``file_ids`` are the assistant's v1 files (see ``services/v1files.assistant_file_ids``)."""
    if version == "v2":
        return document
    shown = {k: v for k, v in document.items() if k not in _V2_ONLY_ASSISTANT}
    shown["tools"] = tools_v1(document.get("tools") or [])
    shown["file_ids"] = list(file_ids or [])
    return shown


def render_thread(document: Doc, version: Version) -> Doc:
    if version == "v2":
        return document
    return {k: v for k, v in document.items() if k != "tool_resources"}


def message_file_ids(document: Doc) -> list[str]:
    return [a["file_id"] for a in document.get("attachments") or []]


def render_message(document: Doc, version: Version) -> Doc:
    if version == "v2":
        return document
    shown = {k: v for k, v in document.items() if k != "attachments"}
    shown["file_ids"] = message_file_ids(document)
    return shown


def message_attachments(file_ids: list[str]) -> list[Doc]:
    """v1 message files as v2 attachments."""
    return [{"file_id": file_id, "tools": [dict(t) for t in MESSAGE_FILE_TOOLS]} for file_id in file_ids]


def render_run(document: Doc, version: Version) -> Doc:
    if version == "v2":
        return document
    shown = {k: v for k, v in document.items() if k not in _V2_ONLY_RUN}
    shown["tools"] = tools_v1(document.get("tools") or [])
    resources = document.get("tool_resources") or {}
    shown["file_ids"] = list((resources.get("code_interpreter") or {}).get("file_ids") or [])
    return shown


def render_step(document: Doc, version: Version) -> Doc:
    """v1 recorded searches as ``{"type": "retrieval", "retrieval": {}}`` tool calls."""
    details = document.get("step_details") or {}
    if version == "v2" or details.get("type") != "tool_calls":
        return document
    calls = [_retrieval_call(call) for call in details.get("tool_calls") or []]
    return {**document, "step_details": {**details, "tool_calls": calls}}


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


def _retrieval_call(call: Doc) -> Doc:
    if call.get("type") != "file_search":
        return call
    shown: Doc = {"id": call.get("id"), "type": "retrieval", "retrieval": {}}
    return {"index": call["index"], **shown} if "index" in call else shown


def render_step_delta(document: Doc, version: Version) -> Doc:
    details = (document.get("delta") or {}).get("step_details") or {}
    if version == "v2" or details.get("type") != "tool_calls":
        return document
    calls = [_retrieval_call(call) for call in details.get("tool_calls") or []]
    delta = {**document["delta"], "step_details": {**details, "tool_calls": calls}}
    return {**document, "delta": delta}


_RENDERERS = {
    "thread": render_thread,
    "thread.message": render_message,
    "thread.run": render_run,
    "thread.run.step": render_step,
    "thread.run.step.delta": render_step_delta,
}


def render_object(document: Doc, version: Version) -> Doc:
    """Any run-related wire object (or a list of them) as the request's version shows it."""
    if version == "v2" or not isinstance(document, dict):
        return document
    if document.get("object") == "list":
        return {**document, "data": [render_object(d, version) for d in document.get("data") or []]}
    renderer = _RENDERERS.get(str(document.get("object")))
    return renderer(document, version) if renderer else document
