"""The OpenAI Agents SDK (Responses API by default) against assistantd: a function tool, a streamed
run, and a handoff. Run in its own pinned environment; prints what it saw as JSON on its last line.

Usage: python openai_agents_scenarios.py TOOLS_MODEL STREAM_MODEL TRIAGE_MODEL BILLING_MODEL
       python openai_agents_scenarios.py reasoning MODEL   (a reasoning model: tool run, then a stream)
"""

from __future__ import annotations

import asyncio
import json
import sys

from agents import (
    Agent,
    Runner,
    function_tool,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from openai import AsyncOpenAI


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def configure() -> None:
    set_tracing_disabled(True)
    set_default_openai_client(AsyncOpenAI(max_retries=0), use_for_tracing=False)
    set_default_openai_api("responses")


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


if __name__ == "__main__":
    if sys.argv[1] == "reasoning":
        asyncio.run(reasoning(sys.argv[2]))
    else:
        asyncio.run(main(*sys.argv[1:5]))
