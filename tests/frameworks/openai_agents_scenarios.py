"""The OpenAI Agents SDK (Responses API by default) against assistantd: a function tool, a streamed
run, and a handoff. Run in its own pinned environment; prints what it saw as JSON on its last line.

Usage: python openai_agents_scenarios.py TOOLS_MODEL STREAM_MODEL TRIAGE_MODEL BILLING_MODEL
       python openai_agents_scenarios.py reasoning MODEL   (a reasoning model: tool run, then a stream)
       python openai_agents_scenarios.py memory STRUCTURED_MODEL CHAT_MODEL SESSION_MODEL UNSTORED_MODEL
         (structured output, a server conversation by conversation_id and as a session, store=False)
"""

from __future__ import annotations

import asyncio
import json
import sys

import openai
from agents import (
    Agent,
    ModelSettings,
    OpenAIConversationsSession,
    Runner,
    function_tool,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from pydantic import BaseModel


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


class Forecast(BaseModel):
    city: str
    celsius: int


def configure() -> AsyncOpenAI:
    client = AsyncOpenAI(max_retries=0)
    set_tracing_disabled(True)
    set_default_openai_client(client, use_for_tracing=False)
    set_default_openai_api("responses")
    return client


async def reasoning(model: str) -> None:
    """The SDK keeps the context itself: our reasoning items go back to us as input items."""
    configure()
    weather = Agent(name="Weather", instructions="Answer with the tool.", model=model, tools=[get_weather])
    result = await Runner.run(weather, "Weather in Oslo?")
    streamed = Runner.run_streamed(Agent(name="Thinker", instructions="Think.", model=model), "Think aloud")
    kinds = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and "reasoning" in event.data.type:
            kinds.append(event.data.type)
    seen = {
        "items": [item.type for item in result.new_items],
        "output": result.final_output,
        "stream": {
            "kinds": kinds,
            "items": [item.type for item in streamed.new_items],
            "output": streamed.final_output,
        },
    }
    print(json.dumps(seen))


async def main(tools_model: str, stream_model: str, triage_model: str, billing_model: str) -> None:
    configure()
    seen: dict[str, object] = {}

    weather = Agent(name="Weather", instructions="Answer with the tool.", model=tools_model, tools=[get_weather])
    result = await Runner.run(weather, "Weather in Paris?")
    seen["function"] = {
        "output": result.final_output,
        "items": [item.type for item in result.new_items],
        "response_ids": [r.response_id for r in result.raw_responses],
    }

    streamer = Agent(name="Streamer", instructions="Stream.", model=stream_model)
    streamed = Runner.run_streamed(streamer, "Say something")
    deltas = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    seen["stream"] = {"deltas": deltas, "output": streamed.final_output}

    billing = Agent(name="Billing agent", instructions="Handle billing.", model=billing_model)
    triage = Agent(name="Triage", instructions="Route the user.", model=triage_model, handoffs=[billing])
    routed = await Runner.run(triage, "I was charged twice")
    seen["handoff"] = {"output": routed.final_output, "last_agent": routed.last_agent.name}
    print(json.dumps(seen))


async def unstored(client: AsyncOpenAI, model: str) -> dict[str, object]:
    """store=False: the SDK resends the context itself; nothing it got back can be read or chained from."""
    agent = Agent(name="Private", model=model, tools=[get_weather], model_settings=ModelSettings(store=False))
    result = await Runner.run(agent, "Weather in Nice?")
    statuses = []
    for raw in result.raw_responses:
        try:
            await client.responses.retrieve(str(raw.response_id))
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
    try:
        await Runner.run(Agent(name="Next", model=model), "Again", previous_response_id=result.last_response_id)
        chained: object = "accepted"
    except openai.APIStatusError as exc:
        chained = [exc.status_code, exc.code]
    return {"output": result.final_output, "reads": statuses, "chained": chained}


async def memory(structured_model: str, chat_model: str, session_model: str, unstored_model: str) -> None:
    client = configure()
    seen: dict[str, object] = {}
    forecaster = Agent(name="Forecaster", model=structured_model, output_type=Forecast)
    seen["structured"] = (await Runner.run(forecaster, "Oslo?")).final_output.model_dump()

    chat = Agent(name="Chat", instructions="Chat.", model=chat_model)
    conversation = await client.conversations.create()
    await Runner.run(chat, "I am Ada", conversation_id=conversation.id)
    await Runner.run(chat, "Who am I?", conversation_id=conversation.id)
    items = await client.conversations.items.list(conversation.id, order="asc")
    seen["conversation"] = [[item.role, item.content[0].text] for item in items.data]

    session = OpenAIConversationsSession(openai_client=client)
    remembered = Agent(name="Remembered", instructions="Chat.", model=session_model)
    await Runner.run(remembered, "My colour is blue", session=session)
    again = await Runner.run(remembered, "My colour?", session=session)
    seen["session"] = {"output": again.final_output, "roles": [i.get("role") for i in await session.get_items()]}

    seen["unstored"] = await unstored(client, unstored_model)
    print(json.dumps(seen))


if __name__ == "__main__":
    if sys.argv[1] == "reasoning":
        asyncio.run(reasoning(sys.argv[2]))
    elif sys.argv[1] == "memory":
        asyncio.run(memory(*sys.argv[2:6]))
    else:
        asyncio.run(main(*sys.argv[1:5]))
