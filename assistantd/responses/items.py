"""Thread messages and run steps seen as Responses/Conversations items (pure functions).

One stored object, two views: a thread message is a ``message`` item (same id); a run's tool step
gives ``function_call`` (+ ``function_call_output`` once answered), ``file_search_call`` and
``code_interpreter_call`` items, whose ids derive from the tool call's id (``call_X`` → ``fc_X``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from assistantd.protocol.response_objects import (
    CallItem,
    CodeImage,
    CodeInterpreterCallItem,
    CodeLogs,
    ContainerFileCitation,
    Conversation,
    FileCitation,
    FileSearchCallItem,
    FileSearchHit,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputFile,
    ItemStatus,
    MessageContent,
    MessageItem,
    OutputItem,
    OutputText,
    ReasoningItem,
    ReasoningText,
    ResponseUsage,
    conversation,
)

ITEM_PREFIX = {"function_call": "fc_", "function_call_output": "fco_", "file_search": "fs_", "code_interpreter": "ci_"}
MARKER_NAME = re.compile(r"†([^】]*)】")


def container_id(thread_id: str) -> str:
    """A code interpreter container is the sandbox session of a thread: its id is the thread's, as ``cntr_``."""
    return "cntr_" + thread_id.removeprefix("thread_")


def container_thread(container: str) -> str | None:
    """The thread whose sandbox session a container id names (None: not a container id)."""
    suffix = container.removeprefix("cntr_")
    return "thread_" + suffix if container.startswith("cntr_") and suffix else None


def run_container(thread_id: str, state: dict[str, Any]) -> str:
    """The container a run's code interpreter used: the one the response named, else its thread's."""
    return container_id(state.get("sandbox") or thread_id)


def call_item_id(kind: str, call_id: str) -> str:
    return ITEM_PREFIX[kind] + call_id.removeprefix("call_")


def call_id_of(item_id: str) -> str | None:
    for prefix in ITEM_PREFIX.values():
        if item_id.startswith(prefix):
            return "call_" + item_id.removeprefix(prefix)
    return None


def _annotation(note: dict[str, Any], container: str) -> FileCitation | ContainerFileCitation:
    if note.get("type") == "file_citation":
        found = MARKER_NAME.search(note.get("text") or "")
        return {
            "type": "file_citation",
            "file_id": note["file_citation"]["file_id"],
            "filename": found.group(1) if found else "",
            "index": note.get("end_index", 0),
        }
    file_id = (note.get("file_path") or {}).get("file_id")
    return {
        "type": "container_file_citation",
        "container_id": container,
        "file_id": file_id,
        "filename": (note.get("text") or "").rsplit("/", 1)[-1],
        "start_index": note.get("start_index", 0),
        "end_index": note.get("end_index", 0),
    }


def output_text(text: str, annotations: list[FileCitation | ContainerFileCitation]) -> OutputText:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}


def _image_item(part: Mapping[str, Any]) -> MessageContent:
    """An image part as given: a fetched or read image is sent as a data URL, shown as its source."""
    url, source = part["image_url"], part.get("source") or {}
    detail = url.get("detail", "auto")
    if source.get("file_id"):
        return {"type": "input_image", "file_id": source["file_id"], "detail": detail}
    return {"type": "input_image", "image_url": source.get("image_url") or url["url"], "detail": detail}


def message_item(message: Mapping[str, Any], container: str = "") -> MessageItem:
    """A thread message as a ``message`` item (user parts as ``input_*``, assistant text as ``output_text``).

    ``container``: the container the files its ``container_file_citation`` annotations name are from.
    """
    assistant = message["role"] == "assistant"
    content: list[MessageContent] = []
    for part in message.get("content") or []:
        kind = part.get("type")
        if kind == "text" and assistant:
            notes = [_annotation(a, container) for a in part["text"].get("annotations") or []]
            content.append(output_text(part["text"]["value"], notes))
        elif kind == "text":
            content.append({"type": "input_text", "text": part["text"]["value"]})
        elif kind == "image_url":
            content.append(_image_item(part))
        elif kind == "input_file":
            # As given: by file_id, by URL, or by its data (shown by its name only).
            shown: InputFile = {"type": "input_file"}
            for key in ("file_id", "file_url", "filename"):
                if key in part:
                    shown[key] = part[key]
            content.append(shown)
        elif kind == "image_file" and not assistant:
            image = part["image_file"]
            content.append({"type": "input_image", "file_id": image["file_id"], "detail": image.get("detail", "auto")})
    for attachment in message.get("attachments") or []:
        content.append({"type": "input_file", "file_id": attachment["file_id"]})
    status: ItemStatus = message.get("status") or "completed"
    return {"id": message["id"], "type": "message", "role": message["role"], "status": status, "content": content}


def _arguments(transcript: list[dict[str, Any]], call_id: str) -> dict[str, Any]:
    for message in transcript:
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                try:
                    parsed = json.loads(call["function"].get("arguments") or "{}")
                except ValueError:
                    return {}
                return parsed if isinstance(parsed, dict) else {}
    return {}


def function_call_item(call_id: str, name: str, arguments: str, status: ItemStatus) -> FunctionCallItem:
    return {
        "id": call_item_id("function_call", call_id),
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def function_output_item(call_id: str, output: str) -> FunctionCallOutputItem:
    return {
        "id": call_item_id("function_call_output", call_id),
        "type": "function_call_output",
        "call_id": call_id,
        "output": output,
        "status": "completed",
    }


def function_items(call: dict[str, Any], outputs: bool) -> list[CallItem]:
    """A function call (and, when ``outputs`` and answered, its output) as items."""
    function, call_id = call["function"], call["id"]
    item = function_call_item(call_id, function["name"], function.get("arguments") or "", "completed")
    if not outputs or function.get("output") is None:
        return [item]
    return [item, function_output_item(call_id, function["output"])]


def file_search_item(
    call: dict[str, Any], done: ItemStatus, transcript: list[dict[str, Any]], results: bool
) -> FileSearchCallItem:
    query = _arguments(transcript, call["id"]).get("query")
    found: list[FileSearchHit] = [
        {
            "vector_store_id": r.get("vector_store_id"),
            "file_id": r["file_id"],
            "filename": r.get("file_name"),
            "score": r.get("score"),
            "text": "".join(c.get("text", "") for c in r.get("content") or []),
            "attributes": r.get("attributes") or {},
        }
        for r in (call.get("file_search") or {}).get("results") or []
    ]
    return {
        "id": call_item_id("file_search", call["id"]),
        "type": "file_search_call",
        "status": done,
        "queries": [query] if isinstance(query, str) else [],
        "results": found if results and found else None,
    }


def code_item(call: dict[str, Any], done: ItemStatus, container_id: str) -> CodeInterpreterCallItem:
    """Logs stay logs; images are ``/v1/files`` objects the sandbox stored, by their content URL."""
    body = call.get("code_interpreter") or {}
    outputs: list[CodeLogs | CodeImage] = []
    for out in body.get("outputs") or []:
        if out.get("type") == "logs":
            outputs.append({"type": "logs", "logs": out["logs"]})
        elif out.get("type") == "image":
            outputs.append({"type": "image", "url": f"/v1/files/{out['image']['file_id']}/content"})
    return {
        "id": call_item_id("code_interpreter", call["id"]),
        "type": "code_interpreter_call",
        "status": done,
        "code": body.get("input") or "",
        "container_id": container_id,
        "outputs": outputs,
    }


def call_items(
    call: dict[str, Any],
    status: str,
    transcript: list[dict[str, Any]],
    container_id: str,
    outputs: bool,
    results: bool = True,
) -> list[CallItem]:
    """A run step's tool call as items; ``outputs``: include a function's answer as its output item."""
    if call["type"] == "function":
        return function_items(call, outputs)
    done: ItemStatus = "completed" if status == "completed" else "in_progress" if status == "in_progress" else "failed"
    if call["type"] == "file_search":
        return [file_search_item(call, done, transcript, results)]
    return [code_item(call, done, container_id)]


def reasoning_item(entry: dict[str, Any], status: ItemStatus = "completed") -> ReasoningItem:
    """Reasoning an upstream streamed, as OpenAI shows a model's raw reasoning: ``content``, no summary."""
    content: list[ReasoningText] = [{"type": "reasoning_text", "text": entry["text"]}] if entry.get("text") else []
    status = entry.get("status") or status  # stored entries say whether they were cut off
    return {"id": entry["id"], "type": "reasoning", "summary": [], "content": content, "status": status}


def run_items(
    steps: list[dict[str, Any]],
    messages: dict[str, dict[str, Any]],
    transcript: list[dict[str, Any]],
    container_id: str,
    outputs: bool,
    results: bool = True,
    reasoning: list[dict[str, Any]] | None = None,
) -> list[OutputItem]:
    """A run's steps, in order, as items, each step after the reasoning that led to it.

    ``results``: file_search results were asked for; ``reasoning``: the run's ``RunState.reasoning``.
    """
    items: list[OutputItem] = []
    before: dict[str | None, list[dict[str, Any]]] = {}
    for entry in reasoning or []:
        before.setdefault(entry.get("step_id"), []).append(entry)
    for step in steps:
        items.extend(reasoning_item(entry) for entry in before.pop(step.get("id"), []))
        details = step.get("step_details") or {}
        if details.get("type") == "message_creation":
            message = messages.get(details["message_creation"]["message_id"])
            if message is not None:
                items.append(message_item(message, container_id))
            continue
        for call in details.get("tool_calls") or []:
            status = step.get("status", "completed")
            items.extend(call_items(call, status, transcript, container_id, outputs, results))
    # Reasoning not followed by a step (or before a step since deleted) comes last.
    items.extend(reasoning_item(entry) for entries in before.values() for entry in entries)
    return items


def usage(run: dict[str, Any], state: dict[str, Any]) -> ResponseUsage | None:
    """The run's usage; a run paused for function calls has it only in its engine state so far."""
    spent = run.get("usage") or state.get("usage")
    if not spent:
        return None
    prompt, completion = spent["prompt_tokens"], spent["completion_tokens"]
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": min(completion, reasoning_tokens(state))},
        "total_tokens": prompt + completion,
    }


def reasoning_tokens(state: dict[str, Any]) -> int:
    return sum(int(entry.get("tokens") or 0) for entry in state.get("reasoning") or [])


def thread_conversation(thread: Mapping[str, Any]) -> Conversation:
    """A thread seen as the conversation it is."""
    return conversation(thread["id"], thread["created_at"], thread.get("metadata") or {})
