"""What a ``responses.create`` request means for the engine: the run's settings, the messages to add,
the tool turns to seed, the run (if any) whose function calls this request answers, and the echo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound, invalid_value, missing_parameter
from assistantd.ids import new_id
from assistantd.protocol.response_objects import InputItem, ResponseEcho, response_echo
from assistantd.protocol.responses import (
    CreateResponse,
    input_item,
    input_items,
    response_format,
    tool_choice,
    tool_definition,
    tool_resources,
)
from assistantd.protocol.run_spec import RunSpec
from assistantd.responses import items as views
from assistantd.responses import references
from assistantd.responses.engine_adapter import pending_call_ids
from assistantd.store import documents
from assistantd.store.models import AssistantRow, MessageRow, ResponseRow, ThreadRow
from assistantd.store.runs import RunView, run_view, waiting_run

# Responses' truncation as the run's strategy. ``disabled`` (OpenAI's default) keeps every message, so
# a prompt over the context is refused rather than cut; the Assistants shape for that is
# ``last_messages`` with no count. ``auto`` drops messages from the middle, as thread runs do.
TRUNCATION = {
    "auto": {"type": "auto", "last_messages": None},
    "disabled": {"type": "last_messages", "last_messages": None},
}
RESULTS = "file_search_call.results"
STEP_RESULTS = "step_details.tool_calls[*].file_search.results[*].content"


@dataclass
class Plan:
    conversation_id: str | None
    assistant_id: str | None
    run: RunSpec
    echo: ResponseEcho
    messages: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    settle: str | None = None
    include: list[str] = field(default_factory=list)
    input_items: list[InputItem] = field(default_factory=list)
    # The thread whose sandbox session the code interpreter uses (a container named by id).
    sandbox: str | None = None


def _check(body: CreateResponse) -> None:
    if body.previous_response_id and body.conversation is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: 'previous_response_id' and 'conversation'. Ensure you are only "
            "providing one of: 'previous_response_id' or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
    if body.background and not body.store:
        raise invalid_value("store", "Invalid 'store': background responses must be stored (store=true).")


async def _container(session: AsyncSession, caller: Caller, tools: list[dict[str, Any]]) -> str | None:
    """The thread of the container a ``code_interpreter`` tool names by id (its sandbox session)."""
    for index, tool in enumerate(tools):
        container = tool.get("container") if tool.get("type") == "code_interpreter" else None
        if isinstance(container, str):
            thread_id = views.container_thread(container)
            if thread_id is None or await documents.fetch(session, ThreadRow, caller.project, thread_id) is None:
                raise NotFound(f"No container found with id '{container}'.", param=f"tools[{index}].container")
            return thread_id
    return None


async def _prompt(session: AsyncSession, caller: Caller, body: CreateResponse) -> dict[str, Any]:
    if body.prompt is None:
        return {}
    if not body.prompt.id.startswith("asst"):
        raise invalid_value(
            "prompt.id",
            f"Invalid 'prompt.id': '{body.prompt.id}'. assistantd serves assistants as prompts: expected an ID that "
            "begins with 'asst'.",
        )
    return (await documents.require(session, AssistantRow, caller.project, body.prompt.id, "assistant")).data


def _run_spec(body: CreateResponse, assistant: dict[str, Any], system: list[str]) -> RunSpec:
    """The response's run (its thread is set when it is stored: ``EngineAdapter.insert_run``)."""
    model = body.model or assistant.get("model")
    if not model:
        raise missing_parameter("model")
    tools = [tool_definition(t, f"tools[{i}]") for i, t in enumerate(body.tools or [])]
    named = {t["function"]["name"] for t in tools if t["type"] == "function"}
    kinds = {t["type"] for t in tools}
    inherited = [
        t
        for t in assistant.get("tools") or []
        if (t["type"] == "function" and t["function"]["name"] not in named)
        or (t["type"] != "function" and t["type"] not in kinds)
    ]
    tools = inherited + tools
    instructions = body.instructions if body.instructions is not None else assistant.get("instructions") or ""
    return RunSpec(
        origin="responses",
        thread_id="",
        assistant_id=assistant.get("id"),
        model=model,
        instructions="\n\n".join(p for p in [instructions, *system] if p),
        tools=tools,
        tool_resources=tool_resources(body.tools or []),
        tool_choice=tool_choice(body.tool_choice),
        parallel_tool_calls=True if body.parallel_tool_calls is None else body.parallel_tool_calls,
        response_format=response_format(body.text),
        temperature=body.temperature if body.temperature is not None else assistant.get("temperature"),
        top_p=body.top_p if body.top_p is not None else assistant.get("top_p"),
        max_completion_tokens=body.max_output_tokens,
        reasoning_effort=(body.reasoning and body.reasoning.effort) or assistant.get("reasoning_effort"),
        truncation_strategy=TRUNCATION[body.truncation or "disabled"],
    )


def _input_record(entry: dict[str, Any]) -> InputItem:
    kind = entry["type"]
    if kind == "message":
        return views.message_item({"id": entry["id"], "role": entry["role"], "content": entry["parts"]})
    if kind == "function_call":
        return views.function_call_item(entry["call_id"], entry["name"], entry["arguments"], "completed")
    if kind == "function_call_output":
        return views.function_output_item(entry["call_id"], entry["output"])
    return {"id": entry["record"].get("id") or new_id("call"), **entry["record"]}


def _answer(pending: RunView, outputs: dict[str, str]) -> list[dict[str, Any]]:
    """The pending run's tool turns and this request's answers to its function calls."""
    ids = pending_call_ids(pending)
    missing = [call_id for call_id in ids if call_id not in outputs]
    if missing:
        raise InvalidRequest(f"No tool output found for function call {missing[0]}.", param="input")
    return pending.transcript + [{"role": "tool", "tool_call_id": i, "content": outputs[i]} for i in ids]


def _function_turns(entries: list[dict[str, Any]], answered: set[str]) -> list[dict[str, Any]]:
    """Function calls and outputs given as input items, as chat turns (calls grouped, then outputs)."""
    turns: list[dict[str, Any]] = []
    called: set[str] = set()
    for index, entry in enumerate(entries):
        if entry["type"] == "function_call":
            call = {
                "id": entry["call_id"],
                "type": "function",
                "function": {"name": entry["name"], "arguments": entry["arguments"]},
            }
            if turns and turns[-1]["role"] == "assistant":
                turns[-1]["tool_calls"].append(call)
            else:
                turns.append({"role": "assistant", "content": None, "tool_calls": [call]})
            called.add(entry["call_id"])
        elif entry["type"] == "function_call_output" and entry["call_id"] not in answered:
            if entry["call_id"] not in called:
                raise invalid_value(
                    f"input[{index}].call_id",
                    f"No tool call found for function call output with call_id {entry['call_id']}.",
                )
            turns.append({"role": "tool", "tool_call_id": entry["call_id"], "content": entry["output"]})
    return turns


async def thread_messages(session: AsyncSession, thread_id: str) -> list[dict[str, Any]]:
    query = select(MessageRow.data).where(MessageRow.thread_id == thread_id).order_by(MessageRow.seq)
    return [data for (data,) in await session.execute(query)]


async def plan_request(session: AsyncSession, caller: Caller, body: CreateResponse) -> Plan:
    _check(body)
    entries = input_items(body.input)
    for index, entry in enumerate(entries):
        if entry["type"] == "item_reference":
            stored = await references.resolve(session, caller, entry["id"], entry["param"])
            entries[index] = input_item(stored, entry["param"])
    for entry in entries:
        if entry["type"] == "message":
            entry["id"] = new_id("message")
    system = [
        "\n".join(p["text"]["value"] for p in e["parts"] if p["type"] == "text")
        for e in entries
        if e.get("role") in ("system", "developer")
    ]
    assistant = await _prompt(session, caller, body)
    run = _run_spec(body, assistant, system)
    # Responses' include name for search results asks the engine to keep their text in the step.
    include = [STEP_RESULTS if name == RESULTS else name for name in body.include or []]
    plan = Plan(body.conversation_id, assistant.get("id"), run, response_echo(body, run.settings()), include=include)
    plan.sandbox = await _container(session, caller, body.tools or [])
    plan.messages = [e for e in entries if e["type"] == "message" and e["role"] in ("user", "assistant")]
    plan.input_items = [_input_record(e) for e in entries]
    plan.outputs = {e["call_id"]: e["output"] for e in entries if e["type"] == "function_call_output"}
    pending: RunView | None = None
    if plan.conversation_id is not None:
        await documents.require(session, ThreadRow, caller.project, plan.conversation_id, "conversation")
        pending = await waiting_run(session, plan.conversation_id)
        plan.settle = pending.id if pending is not None else None
    elif body.previous_response_id:
        previous = await documents.fetch(session, ResponseRow, caller.project, body.previous_response_id)
        if previous is None:
            raise references.previous_not_found(body.previous_response_id)
        plan.history = await thread_messages(session, previous.thread_id)
        row = await run_view(session, previous.run_id)
        if row is not None and row.status in ("requires_action", "expired") and pending_call_ids(row):
            pending = row
    if pending is not None:
        plan.transcript = _answer(pending, plan.outputs)
    answered = set(pending_call_ids(pending)) if pending is not None else set()
    plan.transcript += _function_turns(entries, answered)
    return plan
