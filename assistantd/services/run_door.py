"""The one door every run comes in by: Assistants runs, ChatKit's and responses.

Each API turns its request into a ``RunSpec`` (``protocol/run_spec.py``); the door refuses what no run
may be, the same way for all of them, so the same bad request gets the same error from either API:
- ``admit``: the caller's concurrent-runs limit (project and key, ``services/limits.py``);
- ``open``: the model must have a route (the ``[models]`` table; else 400 ``model_not_found``) and
  ``tool_choice`` must name one of the run's tools; the result is the run, ready to store.
The caller stores the run with ``store`` in its own transaction (its thread and messages go with it)
and starts it through the executor.
"""

from __future__ import annotations

from collections.abc import Callable

from assistantd.caller import Caller
from assistantd.engine.life import RunLife
from assistantd.errors import invalid_value
from assistantd.protocol.run_record import Run
from assistantd.protocol.run_spec import RunSpec
from assistantd.services.limits import Limits


class RunDoor:
    def __init__(
        self, life: RunLife, limits: Limits, require_model: Callable[[str], object], expiry_seconds: int
    ) -> None:
        self.life = life
        self.limits = limits
        self.require_model = require_model  # raises OpenAI's 400 model_not_found for a name no route serves
        self.expiry_seconds = expiry_seconds

    async def admit(self, caller: Caller) -> None:
        """429 when the caller already has as many active runs as its limits allow."""
        await self.limits.admit_run(await self.limits.subjects(caller.project, caller.api_key_id))

    def check(self, spec: RunSpec) -> None:
        """Refuse a spec no run may have (before the caller changes anything for it)."""
        check_tool_choice(spec)
        self.require_model(spec.model)

    def open(self, caller: Caller, spec: RunSpec) -> Run:
        """The run the spec describes, checked; ``store`` it in the caller's transaction."""
        self.check(spec)
        spec.state.api_key_id = caller.api_key_id  # its tokens count against the key's limits too
        spec.state.kind = "response" if spec.origin == "responses" else "thread.run"
        return Run(caller.project, spec.document(self.expiry_seconds), spec.state, caller.api_key_id)

    def store(self, conn: object, run: Run) -> None:
        """Insert the opened run in the caller's Core transaction (``Database.transact``, ``on_session``)."""
        self.life.create(conn, run)


def check_tool_choice(spec: RunSpec) -> None:
    """``tool_choice`` naming a tool the run does not have."""
    choice = spec.tool_choice
    if not isinstance(choice, dict):
        return
    if choice["type"] == "function":
        name = choice["function"]["name"]
        if name not in {t["function"]["name"] for t in spec.tools if t["type"] == "function"}:
            raise invalid_value(
                "tool_choice", f"Invalid value for 'tool_choice': function '{name}' is not one of the run's tools."
            )
    elif choice["type"] not in {t["type"] for t in spec.tools}:
        raise invalid_value(
            "tool_choice", f"Invalid value for 'tool_choice': tool '{choice['type']}' is not one of the run's tools."
        )
