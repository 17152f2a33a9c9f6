"""Parameters an upstream refuses: recognised in its 400 answer, then dropped or translated.

Each refusal is remembered per model for the life of the process (and may be declared in the model's
route, ``refuses = [...]``), and logged once. An option with no equivalent the upstream accepts
(``tool_choice: "required"``, a ``response_format`` it cannot do) fails the run with a clear error
instead of being quietly ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from assistantd.llm import UpstreamError

log = logging.getLogger("assistantd.upstream")

# Dropped outright: the engine enforces parallel_tool_calls=false itself, and we count tokens when
# the upstream sends no usage; the sampling ones are logged, as the answer may differ.
DROPPED = ("stream_options", "parallel_tool_calls", "seed", "temperature", "top_p", "reasoning_effort")


def refused_parameter(message: str, request: dict[str, Any]) -> str | None:
    """The refusable parameter an upstream's 400 message complains about, if any."""
    text = message.lower()
    if "max_tokens" in text and "max_completion_tokens" in text and "max_tokens" in request:
        return "max_tokens"
    if "tool_choice" in text and "tool_choice" in request:
        choice = request["tool_choice"]
        return "tool_choice_named" if isinstance(choice, dict) else f"tool_choice_{choice}"
    fmt = request.get("response_format")
    if ("response_format" in text or "json_schema" in text) and isinstance(fmt, dict):
        return "json_schema" if fmt.get("type") == "json_schema" else "json_object"
    for name in DROPPED:
        if name in text and name in request:
            return name
    return None


def _cannot(model: str, what: str) -> UpstreamError:
    return UpstreamError("invalid_prompt", f"The upstream serving model '{model}' does not support {what}.")


def _tool_choice(body: dict[str, Any], refused: set[str], model: str) -> None:
    choice = body.get("tool_choice")
    every = "tool_choice" in refused  # declared: the upstream takes no tool_choice at all
    if isinstance(choice, dict) and ("tool_choice_named" in refused or every):
        name = choice.get("function", {}).get("name")
        if every:
            raise _cannot(model, f"a named tool_choice ('{name}')")
        # One tool and "required" is the same request, where the upstream takes "required".
        body["tools"] = [t for t in body.get("tools") or [] if t["function"]["name"] == name]
        choice = body["tool_choice"] = "required"
    if choice == "required" and ("tool_choice_required" in refused or every):
        raise _cannot(model, "tool_choice 'required', and it has no equivalent")
    if choice == "none" and ("tool_choice_none" in refused or every):
        body.pop("tools", None)  # no tools offered: the same as "none"
        body.pop("tool_choice")
    elif choice == "auto" and ("tool_choice_auto" in refused or every):
        body.pop("tool_choice")  # "auto" is every upstream's default


def _response_format(body: dict[str, Any], refused: set[str], model: str) -> None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return
    if fmt.get("type") == "json_schema" and "json_schema" in refused:
        fmt = body["response_format"] = {"type": "json_object"}
    if fmt.get("type") == "json_object" and "json_object" in refused:
        also = " (nor 'json_schema')" if "json_schema" in refused else ""
        raise _cannot(model, f"response_format 'json_object'{also}")


def shape(request: dict[str, Any], refused: set[str], model: str) -> dict[str, Any]:
    """The request as this model's upstream takes it, given what it refused."""
    body = dict(request)
    if "stream_options" not in refused:
        body["stream_options"] = {"include_usage": True}
    if "max_tokens" in refused and "max_tokens" in body:
        body["max_completion_tokens"] = body.pop("max_tokens")
    for name in DROPPED:
        if name in refused and name != "stream_options":
            body.pop(name, None)
    _tool_choice(body, refused, model)
    _response_format(body, refused, model)
    return body


def note(model: str, name: str, learnt: bool) -> None:
    how = "refused" if learnt else "is configured as refusing"
    log.warning("the upstream serving model %s %s '%s'; %s from now on", model, how, name, _remedy(name))


def _remedy(name: str) -> str:
    return {
        "max_tokens": "sending max_completion_tokens instead",
        "tool_choice_named": "offering only the named tool with tool_choice 'required'",
        "json_schema": "asking for response_format 'json_object' instead",
        "tool_choice_none": "offering no tools instead",
        "tool_choice_auto": "leaving tool_choice out",
        "tool_choice": "leaving tool_choice out where possible",
    }.get(name, f"leaving '{name}' out")
