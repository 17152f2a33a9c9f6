"""Runs and run steps routes; the only place run events become server-sent events."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse

from assistantd.api import v1
from assistantd.api.deps import caller, container, page
from assistantd.api.sse import DONE, EventStream, frame
from assistantd.caller import Caller
from assistantd.protocol.events import Event, ObjectEvent, StreamEnd, StreamError
from assistantd.protocol.pages import PageParams
from assistantd.protocol.runs import CreateRun, CreateThreadAndRun, ModifyRun, SubmitToolOutputs, ThreadRun
from assistantd.protocol.v1 import Version
from assistantd.wiring import Container

router = APIRouter()
Doc = dict[str, Any]
# SDK pollers (create_and_poll, poll) wait this long between reads instead of a whole second.
POLL_AFTER_MS = "250"


async def include_param(include: list[str] | None = Query(None, alias="include[]")) -> list[str]:
    return include or []


async def sse(
    events: AsyncIterator[Event], version: Version = "v2", file_ids: list[str] | None = None
) -> AsyncGenerator[bytes, None]:
    """The run's events as OpenAI frames. A client that goes away only stops this generator.

    ``file_ids``: a v1 run's assistant's files, which v1 run objects list."""
    async for event in events:
        if isinstance(event, ObjectEvent):
            shown = v1.render_object(event.data, version)
            if file_ids is not None and event.name.startswith("thread.run.") and shown.get("object") == "thread.run":
                shown = {**shown, "file_ids": file_ids}
            yield frame(event.name, shown)
        elif isinstance(event, StreamError):
            error = {"message": event.message, "type": "server_error", "param": None, "code": event.code}
            yield frame("error", {"error": error})
        elif isinstance(event, StreamEnd):
            yield DONE


async def stream_response(c: Container, who: Caller, run: ThreadRun) -> EventStream:
    file_ids = None if who.api_version == "v2" else (await v1.run(c, who, run))["file_ids"]
    return EventStream(sse(c.runs.events(run["id"]), who.api_version, file_ids))


@router.post("/threads/runs", response_model=None)
async def create_thread_and_run(
    body: CreateThreadAndRun,
    include: list[str] = Depends(include_param),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> JSONResponse | EventStream:
    # JSON as stored, as retrieve_run sends it: FastAPI's encoder walked the document again.
    _, run = await c.runs.create_and_run(who, body, include)
    return await stream_response(c, who, run) if body.stream else JSONResponse(await v1.run(c, who, run))


@router.post("/threads/{thread_id}/runs", response_model=None)
async def create_run(
    thread_id: str,
    body: CreateRun,
    include: list[str] = Depends(include_param),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> JSONResponse | EventStream:
    run = await c.runs.create(who, thread_id, body, include)
    return await stream_response(c, who, run) if body.stream else JSONResponse(await v1.run(c, who, run))


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str, params: PageParams = Depends(page), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    listed = await c.runs.list(who, thread_id, params)
    return listed if who.api_version == "v2" else {**listed, "data": await v1.runs(c, who, listed["data"])}


@router.get("/threads/{thread_id}/runs/{run_id}", response_model=None)
async def retrieve_run(
    thread_id: str, run_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> JSONResponse:
    # Polled by every SDK poller: the document goes out as stored, with no second encoding pass.
    run = await v1.run(c, who, await c.runs.retrieve(who, thread_id, run_id))
    return JSONResponse(run, headers={"openai-poll-after-ms": POLL_AFTER_MS})


@router.post("/threads/{thread_id}/runs/{run_id}")
async def update_run(
    thread_id: str,
    run_id: str,
    body: ModifyRun | None = Body(None),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await v1.run(c, who, await c.runs.update(who, thread_id, run_id, body or ModifyRun()))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str, run_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await v1.run(c, who, await c.runs.cancel(who, thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", response_model=None)
async def submit_tool_outputs(
    thread_id: str,
    run_id: str,
    body: SubmitToolOutputs,
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc | EventStream:
    run = await c.runs.submit_tool_outputs(who, thread_id, run_id, body)
    return await stream_response(c, who, run) if body.stream else await v1.run(c, who, run)


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_steps(
    thread_id: str,
    run_id: str,
    params: PageParams = Depends(page),
    include: list[str] = Depends(include_param),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return v1.render_object(await c.steps.list(who, thread_id, run_id, params, include), who.api_version)


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    include: list[str] = Depends(include_param),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return v1.render_object(await c.steps.retrieve(who, thread_id, run_id, step_id, include), who.api_version)
