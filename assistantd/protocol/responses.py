"""Responses and Conversations request bodies, and the tool/item shapes they carry.

Pydantic checks the top-level fields; the ``input`` items and ``tools`` are checked by hand here so
each refusal names the exact item (``input[2].call_id``), as OpenAI's messages do.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, TypeAdapter, ValidationError

from assistantd.errors import InvalidRequest, invalid_value, missing_parameter, supported
from assistantd.protocol.assistants import ReasoningEffort
from assistantd.protocol.base import Metadata, WireModel
from assistantd.protocol.vector_stores import Filter

TOOL_TYPES = ("function", "file_search", "code_interpreter")
ROLES = ("user", "assistant", "system", "developer")


class ConversationRef(WireModel):
    id: str


class PromptRef(WireModel):
    id: str
    version: str | None = None
    variables: dict[str, Any] | None = None


ReasoningSummary = Literal["auto", "concise", "detailed"]


class Reasoning(WireModel):
    # Checked as the Assistants door checks ``reasoning_effort``: the effort goes upstream as given.
    effort: ReasoningEffort | None = None
    summary: ReasoningSummary | None = None
    generate_summary: ReasoningSummary | None = None  # OpenAI's deprecated name for ``summary``


class CreateResponse(WireModel):
    model: str | None = None
    input: str | list[Any] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    store: StrictBool = True
    background: StrictBool = False
    stream: StrictBool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=16)
    truncation: Literal["auto", "disabled"] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: Metadata = None
    include: list[str] | None = None
    reasoning: Reasoning | None = None
    prompt: PromptRef | None = None
    user: str | None = None
    # Accepted and echoed (the upstream contract has no place for them).
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    safety_identifier: str | None = Field(default=None, max_length=64)
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    max_tool_calls: int | None = Field(default=None, ge=1)

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation


class CountTokens(WireModel):
    model: str | None = None
    input: str | list[Any] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    tools: list[dict[str, Any]] | None = None


class CreateConversation(WireModel):
    items: list[Any] | None = Field(default=None, max_length=20)
    metadata: Metadata = None


class UpdateConversation(WireModel):
    metadata: Metadata


class CreateItems(WireModel):
    items: list[Any] = Field(min_length=1, max_length=20)


def _bad(param: str, message: str) -> InvalidRequest:
    return invalid_value(param, f"Invalid '{param}': {message}")


# Refused as the Assistants API refuses them (its request models), so both APIs say the same.
TOOL_TYPES = ("code_interpreter", "file_search", "function")
TOOL_CHOICES = ("none", "auto", "required")


def _not_one_of(param: str, value: Any, values: tuple[str, ...]) -> InvalidRequest:
    return invalid_value(param, f"Invalid value: '{value}'. Supported values are: {supported(values)}.")


def _text_of(part: dict[str, Any], param: str) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise _bad(f"{param}.text", "expected a string.")
    return text


def content_part(part: Any, param: str) -> dict[str, Any]:
    """One Responses content part as a thread message part (text, image URL or image file).

    A part to read or fetch carries its ``param`` (its path in the request, for errors) until then."""
    if not isinstance(part, dict):
        raise _bad(param, "expected an object.")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": {"value": _text_of(part, param), "annotations": []}}
    if kind == "input_image":
        detail = part.get("detail") if part.get("detail") in ("low", "high") else "auto"
        if isinstance(part.get("file_id"), str):
            image = {"file_id": part["file_id"], "detail": detail}
            return {"type": "image_file", "image_file": image, "param": f"{param}.file_id"}
        if isinstance(part.get("image_url"), str):
            _url_scheme(part["image_url"], f"{param}.image_url")
            image = {"url": part["image_url"], "detail": detail}
            return {"type": "image_url", "image_url": image, "param": f"{param}.image_url"}
        raise missing_parameter(f"{param}.image_url")
    if kind == "input_file":
        return _input_file(part, param)
    raise _bad(
        f"{param}.type",
        f"'{kind}' is not a supported content part; expected 'input_text', 'input_image' or 'input_file'.",
    )


def _url_scheme(url: str, param: str) -> None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https", "data"):
        raise _bad(param, f"expected an 'http', 'https' or 'data' URL, got scheme '{scheme}'.")


def _input_file(part: dict[str, Any], param: str) -> dict[str, Any]:
    """An ``input_file`` by ``file_id``, by ``file_data`` (a base64 data URL, with ``filename``) or by
    ``file_url``; the file is read (and a URL fetched) when a response is made (``responses/input_files.py``)."""
    if isinstance(part.get("file_id"), str):
        return {"type": "input_file", "file_id": part["file_id"]}
    if part.get("file_data") is not None:
        if not isinstance(part["file_data"], str):
            raise _bad(f"{param}.file_data", "expected a string.")
        return {
            "type": "input_file",
            "file_data": part["file_data"],
            "filename": _string_field(part, "filename", param),
            "param": f"{param}.file_data",
        }
    if part.get("file_url") is not None:
        if not isinstance(part["file_url"], str):
            raise _bad(f"{param}.file_url", "expected a string.")
        _url_scheme(part["file_url"], f"{param}.file_url")
        return {"type": "input_file", "file_url": part["file_url"], "param": f"{param}.file_url"}
    raise missing_parameter(f"{param}.file_id")


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ROLES:
        raise _bad(f"{param}.role", f"expected one of 'user', 'assistant', 'system' or 'developer', got {role!r}.")
    content = item.get("content")
    if isinstance(content, str):
        parts = [{"type": "text", "text": {"value": content, "annotations": []}}]
    elif isinstance(content, list) and content:
        parts = [content_part(p, f"{param}.content[{i}]") for i, p in enumerate(content)]
    else:
        raise _bad(f"{param}.content", "expected a string or a non-empty array of content parts.")
    return {"type": "message", "role": role, "parts": parts}


def _string_field(item: dict[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if value is None:
        raise missing_parameter(f"{param}.{key}")
    if not isinstance(value, str):
        raise _bad(f"{param}.{key}", "expected a string.")
    return value


def _text_parts(item: dict[str, Any], key: str, kind: str, param: str) -> list[dict[str, str]]:
    parts = item.get(key)
    if parts is None:
        raise missing_parameter(f"{param}.{key}")
    if not isinstance(parts, list):
        raise _bad(f"{param}.{key}", f"expected an array of '{kind}' parts.")
    for index, part in enumerate(parts):
        where = f"{param}.{key}[{index}]"
        if not isinstance(part, dict) or part.get("type") != kind:
            raise _bad(f"{where}.type", f"expected '{kind}'.")
        _text_of(part, where)
    return [{"type": kind, "text": p["text"]} for p in parts]


def _reasoning(item: dict[str, Any], param: str) -> dict[str, Any]:
    """An earlier reasoning item given back: checked and kept, never sent to the model as text."""
    record: dict[str, Any] = {
        "id": _string_field(item, "id", param),
        "type": "reasoning",
        "summary": _text_parts(item, "summary", "summary_text", param),
    }
    if item.get("content") is not None:
        record["content"] = _text_parts(item, "content", "reasoning_text", param)
    encrypted = item.get("encrypted_content")
    if encrypted is not None and not isinstance(encrypted, str):
        raise _bad(f"{param}.encrypted_content", "expected a string.")
    if encrypted is not None:
        record["encrypted_content"] = encrypted
    status = item.get("status")
    if status is not None and status not in ("in_progress", "completed", "incomplete"):
        raise _bad(f"{param}.status", "expected 'in_progress', 'completed' or 'incomplete'.")
    if status is not None:
        record["status"] = status
    return record


def input_item(item: Any, param: str) -> dict[str, Any]:
    """A checked input item: ``message`` (with thread parts), ``function_call`` or ``function_call_output``.

    Earlier server-tool and reasoning output items are accepted and kept as context-free records.
    """
    if not isinstance(item, dict):
        raise _bad(param, "expected an object.")
    kind = item.get("type", "message")
    if kind == "message":
        return _message(item, param)
    if kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            output = "".join(p.get("text", "") for p in output if isinstance(p, dict))
        if not isinstance(output, str):
            raise missing_parameter(f"{param}.output")
        return {"type": kind, "call_id": _string_field(item, "call_id", param), "output": output}
    if kind == "function_call":
        return {
            "type": kind,
            "call_id": _string_field(item, "call_id", param),
            "name": _string_field(item, "name", param),
            "arguments": _string_field(item, "arguments", param),
        }
    if kind == "reasoning":
        return {"type": kind, "record": _reasoning(item, param)}
    if kind == "item_reference":  # resolved to the stored item by the caller (responses/references.py)
        return {"type": kind, "id": _string_field(item, "id", param), "param": param}
    if kind in ("file_search_call", "code_interpreter_call"):
        return {"type": kind, "record": item}
    raise _bad(f"{param}.type", f"'{kind}' is not a supported input item type.")


def input_items(value: str | list[Any] | None, param: str = "input") -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [
            {
                "type": "message",
                "role": "user",
                "parts": [{"type": "text", "text": {"value": value, "annotations": []}}],
            }
        ]
    return [input_item(item, f"{param}[{i}]") for i, item in enumerate(value)]


def tool_definition(tool: Any, param: str) -> dict[str, Any]:
    """A Responses tool as the run engine's tool document (Assistants shape) plus its resources."""
    if not isinstance(tool, dict):
        raise _bad(param, "expected an object.")
    kind = tool.get("type")
    if kind == "function":
        name = _string_field(tool, "name", param)
        function: dict[str, Any] = {"name": name, "parameters": tool.get("parameters") or {"type": "object"}}
        if tool.get("description"):
            function["description"] = tool["description"]
        if tool.get("strict"):
            function["strict"] = True
        return {"type": "function", "function": function}
    if kind == "file_search":
        return {"type": "file_search", "file_search": _file_search_options(tool, param)}
    if kind == "code_interpreter":
        container = tool.get("container")
        if container is None:
            raise missing_parameter(f"{param}.container")
        _container(container, f"{param}.container")
        return {"type": "code_interpreter"}
    raise _not_one_of(f"{param}.type", kind, TOOL_TYPES)


FILTER = TypeAdapter(Filter)
RANKERS = ("auto", "default-2024-11-15", "default_2024_08_21")


def _file_search_options(tool: dict[str, Any], param: str) -> dict[str, Any]:
    """A Responses file_search tool's options as the run engine's (``filters`` kept as given)."""
    ids = tool.get("vector_store_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise missing_parameter(f"{param}.vector_store_ids")
    options: dict[str, Any] = {}
    if tool.get("max_num_results") is not None:
        count = tool["max_num_results"]
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 50:
            raise _bad(f"{param}.max_num_results", "expected an integer from 1 to 50.")
        options["max_num_results"] = count
    ranking = tool.get("ranking_options") or {}
    if not isinstance(ranking, dict) or ranking.get("ranker", "auto") not in RANKERS:
        raise _bad(f"{param}.ranking_options.ranker", "expected 'auto' or 'default-2024-11-15'.")
    threshold = ranking.get("score_threshold") or 0.0
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise _bad(f"{param}.ranking_options.score_threshold", "expected a number from 0 to 1.")
    options["ranking_options"] = {"ranker": "default_2024_08_21", "score_threshold": float(threshold)}
    if tool.get("filters") is not None:
        try:
            FILTER.validate_python(tool["filters"])
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in problem["loc"] if "=" not in str(p))
            if problem["type"] == "missing":
                raise missing_parameter(f"{param}.filters{where}") from None
            raise _bad(f"{param}.filters{where}", str(problem["msg"]).rstrip(".") + ".") from None
        options["filters"] = tool["filters"]
    return options


def search_filter(options: dict[str, Any]) -> Any:
    """A file_search tool's ``filters`` (checked when the response was created) as the search's condition."""
    return None if options.get("filters") is None else FILTER.validate_python(options["filters"])


def _container(container: Any, param: str) -> None:
    """A container id (``cntr_...``, an earlier response's) or ``{"type": "auto", "file_ids": [...]}``."""
    if isinstance(container, str):
        if not container.startswith("cntr_"):
            raise _bad(param, f"expected a container ID that begins with 'cntr_', got '{container}'.")
        return
    if not isinstance(container, dict):
        raise _bad(param, "expected a container ID or an object with 'type': 'auto'.")
    if container.get("type") != "auto":
        raise _bad(f"{param}.type", f"expected 'auto', got {container.get('type')!r}.")
    files = container.get("file_ids")
    if files is not None and not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
        raise _bad(f"{param}.file_ids", "expected an array of file IDs.")


def tool_resources(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The vector stores and container files that Responses tools name, as run tool_resources."""
    resources: dict[str, Any] = {}
    for tool in tools:
        if tool.get("type") == "file_search":
            ids = resources.setdefault("file_search", {"vector_store_ids": []})["vector_store_ids"]
            ids += [i for i in tool.get("vector_store_ids") or [] if i not in ids]
        if tool.get("type") == "code_interpreter" and isinstance(tool.get("container"), dict):
            files = resources.setdefault("code_interpreter", {"file_ids": []})["file_ids"]
            files += [f for f in tool["container"].get("file_ids") or [] if f not in files]
    return resources


def tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any]:
    """A Responses tool_choice as the run engine's (Assistants shape); the run door checks that it names
    one of the run's tools, as for any run (``services/run_door.py``)."""
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise _not_one_of("tool_choice", choice, TOOL_CHOICES)
        return choice
    kind = choice.get("type")
    if kind == "function":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise missing_parameter("tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    return {"type": kind}


def response_format(text: dict[str, Any] | None) -> dict[str, Any] | str:
    """``text.format`` as the run engine's response_format (``text.verbosity`` is checked, and echoed)."""
    verbosity = (text or {}).get("verbosity")
    if verbosity is not None and verbosity not in ("low", "medium", "high"):
        raise _bad("text.verbosity", f"expected 'low', 'medium' or 'high', got {verbosity!r}.")
    fmt = (text or {}).get("format")
    if not fmt or fmt.get("type") == "text":
        return "auto"
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        if "name" not in schema or "schema" not in schema:
            raise missing_parameter("text.format.schema" if "name" in schema else "text.format.name")
        return {"type": "json_schema", "json_schema": schema}
    raise _bad("text.format.type", f"'{fmt.get('type')}' is not one of 'text', 'json_object' or 'json_schema'.")


def echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A request tool as the response echoes it back."""
    if tool.get("type") == "function":
        return {
            "type": "function",
            "name": tool["name"],
            "description": tool.get("description"),
            "parameters": tool.get("parameters"),
            "strict": tool.get("strict", True),
        }
    if tool.get("type") == "file_search":
        ranking = tool.get("ranking_options") or {}
        ranking_echo = {
            "ranker": ranking.get("ranker") or "auto",
            "score_threshold": ranking.get("score_threshold") or 0.0,
        }
        if ranking.get("hybrid_search") is not None:
            ranking_echo["hybrid_search"] = ranking["hybrid_search"]
        return {
            "type": "file_search",
            "vector_store_ids": tool.get("vector_store_ids") or [],
            "filters": tool.get("filters"),
            "max_num_results": tool.get("max_num_results") or 20,
            "ranking_options": ranking_echo,
        }
    return dict(tool)


ResponseStatus = Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
