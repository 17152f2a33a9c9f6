"""LangChain's OpenAIAssistantRunnable against a live assistantd (run in the LangChain venv).

Usage: python langchain_scenarios.py MODEL_RUN MODEL_TOOL MODEL_STREAM, with OPENAI_BASE_URL and
OPENAI_API_KEY pointing at the server (how LangChain users point it elsewhere). Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from langchain_classic.agents import AgentExecutor
from langchain_classic.agents.openai_assistant import OpenAIAssistantRunnable
from langchain_core.tools import tool


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def polled_run(model: str) -> dict[str, Any]:
    runnable = OpenAIAssistantRunnable.create_assistant(
        name="lc-plain", instructions="Be brief.", tools=[], model=model
    )
    messages = runnable.invoke({"content": "Hello?"})
    return {
        "texts": [part.text.value for m in messages for part in m.content],
        "roles": [m.role for m in messages],
        "attachments": [m.attachments for m in messages],
    }


def function_round_trip(model: str) -> dict[str, Any]:
    agent = OpenAIAssistantRunnable.create_assistant(
        name="lc-tools", instructions="Use the tools.", tools=[get_weather], model=model, as_agent=True
    )
    result = AgentExecutor(agent=agent, tools=[get_weather], return_intermediate_steps=True).invoke(
        {"content": "Weather in Paris?"}
    )
    steps = [(action.tool, action.tool_input, observation) for action, observation in result["intermediate_steps"]]
    return {"output": result["output"], "steps": steps, "thread_id": result["thread_id"]}


def streamed_run(model: str) -> dict[str, Any]:
    runnable = OpenAIAssistantRunnable.create_assistant(
        name="lc-stream", instructions="Be brief.", tools=[], model=model, as_agent=True
    )
    chunks = list(runnable.stream({"content": "Stream, please."}))
    return {"outputs": [chunk.return_values["output"] for chunk in chunks]}


def main() -> None:
    model_run, model_tool, model_stream = sys.argv[1:4]
    print(
        json.dumps(
            {
                "run": polled_run(model_run),
                "function": function_round_trip(model_tool),
                "stream": streamed_run(model_stream),
            }
        )
    )


if __name__ == "__main__":
    main()
