"""Agency Swarm 0.x (the Assistants-API line) against a live assistantd (run in its own venv, with a
scratch working directory: Agency Swarm keeps ``settings.json`` there).

Usage: python agency_swarm_scenarios.py MODEL_TOOL MODEL_STREAM with OPENAI_BASE_URL / OPENAI_API_KEY.
It sends explicit nulls on run create, lists the thread's runs before each run, and on a restart
compares the stored assistant field by field with what it would send. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openai.resources.beta.assistants as assistants_api
from agency_swarm import Agency, Agent
from agency_swarm.tools import BaseTool
from agency_swarm.util.streaming import AgencyEventHandler
from pydantic import Field

CALLS: list[str] = []
DELTAS: list[str] = []
UPDATES: list[str] = []
_update = assistants_api.Assistants.update


def _counting_update(self: Any, assistant_id: str, **fields: Any) -> Any:
    UPDATES.append(assistant_id)
    return _update(self, assistant_id, **fields)


assistants_api.Assistants.update = _counting_update  # type: ignore[method-assign]


class GetWeather(BaseTool):  # type: ignore[misc]
    """The weather in a city."""

    city: str = Field(..., description="The city.")

    def run(self) -> str:
        CALLS.append(self.city)
        return f"Sunny in {self.city}"


class Collect(AgencyEventHandler):  # type: ignore[misc]
    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        DELTAS.append(delta.value)


def agency(model: str) -> tuple[Agency, Agent]:
    ceo = Agent(name="CEO", description="Answers.", instructions="Be brief.", tools=[GetWeather], model=model)
    return Agency([ceo], shared_instructions=""), ceo


def main() -> None:
    model_tool, model_stream = sys.argv[1:3]
    first, ceo = agency(model_tool)
    answer = first.get_completion("Weather in Paris?")
    # A restart: the same agent definition finds its stored assistant (settings.json), compares it
    # field by field with what it would send, and updates it only if something differs.
    updates_before = len(UPDATES)
    _, again = agency(model_tool)
    restart_updates = UPDATES[updates_before:]
    streamed, _ = agency(model_stream)
    final = streamed.get_completion_stream("Stream, please.", event_handler=Collect)
    print(
        json.dumps(
            {
                "answer": answer,
                "calls": CALLS,
                "assistant_id": ceo.id,
                "reused_id": again.id,
                "restart_updates": restart_updates,
                "stream_final": final,
                "deltas": DELTAS,
            }
        )
    )


if __name__ == "__main__":
    main()
