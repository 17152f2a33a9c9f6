"""The objects the Responses and Conversations APIs answer with: a response, its output and input items,
a conversation. (Their request bodies, and the checks of given items, are in ``protocol/responses.py``.)

A response's stored document is its request's echo (``response_echo``) with its id and creation time;
status, output and usage are read from its run when it is shown (``responses/service.py``). Items are
views of thread messages and run steps (``responses/items.py``).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from assistantd.protocol.deleted import Deleted
from assistantd.protocol.responses import CreateResponse, ResponseStatus, echo_tool

ItemStatus = Literal["in_progress", "completed", "incomplete", "failed"]
Role = Literal["user", "assistant", "system", "developer"]


# Message content.


class FileCitation(TypedDict):
    type: Literal["file_citation"]
    file_id: str
    filename: str
    index: int


class ContainerFileCitation(TypedDict):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str | None
    filename: str
    start_index: int
    end_index: int


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[FileCitation | ContainerFileCitation]
    logprobs: list[Any]


class InputText(TypedDict):
    type: Literal["input_text"]
    text: str


class InputImageURL(TypedDict):
    type: Literal["input_image"]
    image_url: str
    detail: str


class InputImageFile(TypedDict):
    type: Literal["input_image"]
    file_id: str
    detail: str


class InputFile(TypedDict):
    type: Literal["input_file"]
    file_id: NotRequired[str]
    file_url: NotRequired[str]
    filename: NotRequired[str]


MessageContent = OutputText | InputText | InputImageURL | InputImageFile | InputFile


# Items.


class MessageItem(TypedDict):
    id: str
    type: Literal["message"]
    role: Role
    status: ItemStatus
    content: list[MessageContent]


class FunctionCallItem(TypedDict):
    id: str
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    status: ItemStatus


class FunctionCallOutputItem(TypedDict):
    id: str
    type: Literal["function_call_output"]
    call_id: str
    output: str
    status: ItemStatus


class FileSearchHit(TypedDict):
    vector_store_id: str | None
    file_id: str
    filename: str | None
    score: float | None
    text: str
    attributes: dict[str, Any]


class FileSearchCallItem(TypedDict):
    id: str
    type: Literal["file_search_call"]
    status: ItemStatus
    queries: list[str]
    results: list[FileSearchHit] | None


class CodeLogs(TypedDict):
    type: Literal["logs"]
    logs: str


class CodeImage(TypedDict):
    type: Literal["image"]
    url: str


class CodeInterpreterCallItem(TypedDict):
    id: str
    type: Literal["code_interpreter_call"]
    status: ItemStatus
    code: str
    container_id: str
    outputs: list[CodeLogs | CodeImage]


class ReasoningText(TypedDict):
    type: Literal["reasoning_text"]
    text: str


class ReasoningItem(TypedDict):
    id: str
    type: Literal["reasoning"]
    summary: list[Any]
    content: list[ReasoningText]
    status: ItemStatus


CallItem = FunctionCallItem | FunctionCallOutputItem | FileSearchCallItem | CodeInterpreterCallItem
OutputItem = MessageItem | CallItem | ReasoningItem
# An item given to an earlier request as it was given (a reasoning, file_search_call or
# code_interpreter_call record): kept, never rebuilt, so it has no shape of ours.
GivenItem = dict[str, Any]
InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | GivenItem


# The response.


class ResponseError(TypedDict):
    code: str
    message: str


class IncompleteDetails(TypedDict):
    reason: Literal["max_output_tokens"]


class ConversationRef(TypedDict):
    id: str


class ReasoningConfig(TypedDict):
    effort: str | None
    summary: str | None  # as asked: this server makes no summaries (reasoning items carry ``content``)


class TextConfig(TypedDict):
    format: dict[str, Any]
    verbosity: Literal["low", "medium", "high"]


class InputTokensDetails(TypedDict):
    cached_tokens: int
    cache_write_tokens: int


class OutputTokensDetails(TypedDict):
    reasoning_tokens: int


class ResponseUsage(TypedDict):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ResponseEcho(TypedDict):
    """What a response repeats of its request, with the state it starts in."""

    object: Literal["response"]
    status: ResponseStatus
    background: bool
    completed_at: int | None
    error: ResponseError | None
    incomplete_details: IncompleteDetails | None
    instructions: str | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    metadata: dict[str, str]
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool
    previous_response_id: str | None
    conversation: ConversationRef | None
    prompt: dict[str, Any] | None
    reasoning: ReasoningConfig
    service_tier: str
    store: bool
    temperature: float
    text: TextConfig
    tool_choice: str | dict[str, Any]
    tools: list[dict[str, Any]]
    top_p: float
    truncation: Literal["auto", "disabled"]
    presence_penalty: float
    frequency_penalty: float
    top_logprobs: int
    safety_identifier: str | None
    prompt_cache_key: str | None
    prompt_cache_retention: str | None
    usage: ResponseUsage | None
    user: NotRequired[str]


class Response(ResponseEcho):
    id: str
    created_at: int


class InputTokens(TypedDict):
    object: Literal["response.input_tokens"]
    input_tokens: int


# OpenAI answers a response's delete with ``object: "response"``.
ResponseDeleted = Deleted[Literal["response"]]


class Conversation(TypedDict):
    id: str
    object: Literal["conversation"]
    created_at: int
    metadata: dict[str, str]


ConversationDeleted = Deleted[Literal["conversation.deleted"]]


def reasoning_echo(body: CreateResponse) -> ReasoningConfig:
    asked = body.reasoning
    if asked is None:
        return {"effort": None, "summary": None}
    return {"effort": asked.effort, "summary": asked.summary or asked.generate_summary}


def response_echo(body: CreateResponse, run: dict[str, Any]) -> ResponseEcho:
    """``run``: the settings the request resolved to (``responses/plan.py``): model, instructions, sampling."""
    fmt = (body.text or {}).get("format") or {"type": "text"}
    echo: ResponseEcho = {
        "object": "response",
        "status": "queued" if body.background else "in_progress",
        "background": body.background,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": run["instructions"] or None,
        "max_output_tokens": body.max_output_tokens,
        "max_tool_calls": body.max_tool_calls,
        "metadata": body.metadata or {},
        "model": run["model"],
        "output": [],
        "parallel_tool_calls": run["parallel_tool_calls"],
        "previous_response_id": body.previous_response_id,
        "conversation": {"id": body.conversation_id} if body.conversation_id else None,
        "prompt": body.prompt.model_dump(exclude_none=True) if body.prompt else None,
        "reasoning": reasoning_echo(body),
        "service_tier": "default",
        "store": body.store,
        "temperature": 1.0 if run["temperature"] is None else run["temperature"],
        "text": {"format": fmt, "verbosity": (body.text or {}).get("verbosity") or "medium"},
        "tool_choice": body.tool_choice or "auto",
        "tools": [echo_tool(t) for t in body.tools or []],
        "top_p": 1.0 if run["top_p"] is None else run["top_p"],
        "truncation": body.truncation or "disabled",
        "presence_penalty": body.presence_penalty or 0.0,
        "frequency_penalty": body.frequency_penalty or 0.0,
        "top_logprobs": body.top_logprobs or 0,
        "safety_identifier": body.safety_identifier,
        "prompt_cache_key": body.prompt_cache_key,
        "prompt_cache_retention": body.prompt_cache_retention,
        "usage": None,
    }
    if body.user is not None:
        echo["user"] = body.user
    return echo


# Fields a response stored before they were echoed shows with OpenAI's defaults.
ECHO_DEFAULTS: dict[str, Any] = {
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_logprobs": 0,
    "safety_identifier": None,
    "prompt_cache_key": None,
    "prompt_cache_retention": None,
    "usage": None,
}


def response_document(echo: ResponseEcho, response_id: str, created_at: int) -> Response:
    """The stored response: its echo, then its id and creation time (in that order on the wire)."""
    return {**echo, "id": response_id, "created_at": created_at}


def input_tokens(count: int) -> InputTokens:
    return {"object": "response.input_tokens", "input_tokens": count}


def conversation(conversation_id: str, created_at: int, metadata: dict[str, str]) -> Conversation:
    return {"id": conversation_id, "object": "conversation", "created_at": created_at, "metadata": metadata}
