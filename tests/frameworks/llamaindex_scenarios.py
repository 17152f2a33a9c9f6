"""LlamaIndex's OpenAIAssistantAgent against a live assistantd (run in the LlamaIndex venv).

Usage: python llamaindex_scenarios.py MODEL_RUN MODEL_TOOL with OPENAI_BASE_URL / OPENAI_API_KEY set.
LlamaIndex sends ``temperature``/``top_p``/``instructions`` as explicit nulls and polls every 0.1 s,
calling the tools whenever it sees ``requires_action``. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llama_index.agent.openai import OpenAIAssistantAgent
from llama_index.core.tools import FunctionTool

CALLS: list[str] = []


def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"Sunny in {city}"


def chat(model: str, tools: list[Any], text: str) -> dict[str, Any]:
    agent = OpenAIAssistantAgent.from_new(
        name="li", instructions="Be brief.", tools=tools, model=model, run_retrieve_sleep_time=0.1
    )
    response = agent.chat(text)
    assistant = agent.client.beta.assistants.retrieve(agent.assistant.id)
    return {
        "response": response.response,
        "sources": [str(s) for s in response.sources],
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "history": [m.role.value for m in agent.chat_history],
    }


def main() -> None:
    model_run, model_tool = sys.argv[1:3]
    plain = chat(model_run, [], "Hello?")
    weather = chat(model_tool, [FunctionTool.from_defaults(fn=get_weather)], "Weather in Paris?")
    print(json.dumps({"run": plain, "function": weather, "calls": CALLS}))


if __name__ == "__main__":
    main()
