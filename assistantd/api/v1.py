"""The v1 adapter at the edge: what a v1 caller (``Caller.api_version``) sees of the v2 documents that
services return (the request side is checked where input is parsed: ``protocol/v1.py``).

The mapping is OpenAI's own v1→v2 migration: ``file_search`` shows as ``retrieval``; an assistant's
``file_ids`` are its code-interpreter files plus the files of its ``file_search`` vector store (read by
``services/v1files.py``), and a v1 run lists its assistant's; message ``attachments`` show as ``file_ids``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from assistantd.caller import Caller
from assistantd.protocol.v1 import Version, message_file_ids
from assistantd.wiring import Container

Doc = dict[str, Any]
# A wire object as a service returns it (a ``protocol/`` TypedDict, or a page of them): JSON to the edge.
Shown = Mapping[str, Any]

# Fields v1 never returned on each object.
_V2_ONLY_ASSISTANT = ("tool_resources", "temperature", "top_p", "response_format", "reasoning_effort")
_V2_ONLY_RUN = ("top_p", "tool_resources")


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


def render_message(document: Doc, version: Version) -> Doc:
    if version == "v2":
        return document
    shown = {k: v for k, v in document.items() if k != "attachments"}
    shown["file_ids"] = message_file_ids(document)
    return shown


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


def render_object(document: Shown, version: Version) -> Doc:
    """Any run-related wire object (or a list of them) as the request's version shows it."""
    if version == "v2" or not isinstance(document, dict):
        return cast(Doc, document)
    if document.get("object") == "list":
        return {**document, "data": [render_object(d, version) for d in document.get("data") or []]}
    renderer = _RENDERERS.get(str(document.get("object")))
    return renderer(document, version) if renderer else document


async def assistants(c: Container, who: Caller, documents: list[Doc]) -> list[Doc]:
    """Assistants as the caller's API version shows them."""
    if who.api_version == "v2":
        return documents
    files = await c.v1files.file_ids(who, documents)
    return [render_assistant(d, "v1", ids) for d, ids in zip(documents, files, strict=True)]


async def assistant(c: Container, who: Caller, document: Shown) -> Doc:
    if who.api_version == "v2":  # a hot read: nothing to look up or copy
        return cast(Doc, document)
    return (await assistants(c, who, [dict(document)]))[0]


async def runs(c: Container, who: Caller, documents: Sequence[Shown]) -> list[Doc]:
    """Runs as the caller's API version shows them; v1's ``file_ids`` are their assistants' files."""
    if who.api_version == "v2":
        return cast(list[Doc], documents)
    files = await c.v1files.assistant_files(who, [run["assistant_id"] for run in documents])
    return [{**render_run(dict(run), "v1"), "file_ids": files[run["assistant_id"]]} for run in documents]


async def run(c: Container, who: Caller, document: Shown) -> Doc:
    if who.api_version == "v2":  # polled by every SDK poller: nothing to look up or copy
        return cast(Doc, document)
    return (await runs(c, who, [document]))[0]
