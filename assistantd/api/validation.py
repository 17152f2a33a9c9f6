"""Turn pydantic validation errors into OpenAI's messages, codes and ``param`` paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistantd.errors import APIError, InvalidRequest, supported
from assistantd.protocol.base import TAG_PREFIX
from assistantd.protocol.v1 import UNADVERTISED_TAGS

BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}
_SECTIONS = {"body", "query", "path", "header"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unsupported value"


def _in_query(err: dict[str, Any]) -> bool:
    loc = err.get("loc", ())
    return bool(loc) and loc[0] == "query"


def _describe_text(value: Any) -> str:
    """Query parameters are all text: describe what the text looks like (``1.5`` is a decimal)."""
    if not isinstance(value, str):
        return _describe(value)
    try:
        float(value)
    except ValueError:
        return "a string"
    return "a decimal"


def param_path(loc: Sequence[Any]) -> str | None:
    """``('body', 'tools', 0, 'type=function', 'function', 'name')`` → ``tools[0].function.name``."""
    path = ""
    for position, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        text = str(part)
        # Only the first element names a section: a body field may be called "query".
        if (position == 0 and text in _SECTIONS) or text.startswith(TAG_PREFIX) or "[" in text:
            continue
        if text in ("str", "int", "float", "bool", "none", "function-after", "function-before"):
            continue
        path += f".{text}" if path else text
    return path or None


def _number_kind(err: dict[str, Any]) -> str:
    """The parameter's kind, not the input's: pydantic reports float bounds as floats."""
    ctx = err.get("ctx") or {}
    bound = ctx.get("le", ctx.get("lt", ctx.get("ge", ctx.get("gt"))))
    return "integer" if isinstance(bound, int) and not isinstance(bound, bool) else "decimal"


def _number(value: Any) -> str:
    """``2.0`` reads as ``2``, the way OpenAI printed its bounds."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _expected(text: Any) -> list[str]:
    """pydantic's ``"'a', 'b' or 'c'"`` as ``['a', 'b', 'c']``."""
    return re.findall(r"'([^']*)'", str(text).replace(TAG_PREFIX, ""))


def _body_error(err: dict[str, Any]) -> APIError:
    """The body as a whole is wrong: absent, not JSON, or JSON but not an object."""
    value = err.get("input")
    if err["type"] == "missing":
        return InvalidRequest("Missing request body: send a JSON object.", code="missing_required_parameter")
    if isinstance(value, bytes):
        return InvalidRequest(BAD_JSON)
    return InvalidRequest(
        f"Invalid body: expected an object, but got {_describe(value)} instead.", code="invalid_type"
    )


def translate(err: dict[str, Any]) -> APIError:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    p = param_path(err.get("loc", ()))
    if kind == "json_invalid":
        return InvalidRequest(BAD_JSON)
    if p is None and tuple(err.get("loc", ())) == ("body",):
        return _body_error(err)
    if kind == "union_tag_not_found" and not isinstance(value, dict):
        return InvalidRequest(
            f"Invalid type for '{p}': expected an object, but got {_describe(value)} instead.",
            param=p,
            code="invalid_type",
        )
    if kind in ("missing", "union_tag_not_found"):
        name = p if kind == "missing" else (f"{p}.type" if p else "type")
        return InvalidRequest(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    if kind == "string_too_long":
        return InvalidRequest(
            f"Invalid '{p}': string too long. Expected a string with maximum length {ctx.get('max_length')}, "
            f"but got a string with length {len(value or '')} instead.",
            param=p,
            code="string_above_max_length",
        )
    if kind == "string_too_short":
        return InvalidRequest(
            f"Invalid '{p}': string too short. Expected a string with minimum length "
            f"{ctx.get('min_length')}, but got a string with length {len(value or '')} instead.",
            param=p,
            code="string_below_min_length",
        )
    if kind in ("too_long", "too_short") and isinstance(value, str):
        above = kind == "too_long"
        bound = ctx.get("max_length") if above else ctx.get("min_length")
        return InvalidRequest(
            f"Invalid '{p}': string too {'long' if above else 'short'}. Expected a string with "
            f"{'maximum' if above else 'minimum'} length {bound}, but got a string with length {len(value)} instead.",
            param=p,
            code=f"string_{'above_max' if above else 'below_min'}_length",
        )
    if kind in ("too_long", "too_short"):
        above = kind == "too_long"
        bound = ctx.get("max_length") if above else ctx.get("min_length")
        return InvalidRequest(
            f"Invalid '{p}': array too {'long' if above else 'short'}. Expected an array with "
            f"{'maximum' if above else 'minimum'} length {bound}, but got an array with length "
            f"{ctx.get('actual_length', len(value or []))} instead.",
            param=p,
            code=f"array_{'above_max' if above else 'below_min'}_length",
        )
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        above = kind.startswith("less")
        number = _number_kind(err)
        bound = ctx.get("le", ctx.get("lt", ctx.get("ge", ctx.get("gt"))))
        sign = "<=" if kind == "less_than_equal" else "<" if kind == "less_than" else ">="
        if kind == "greater_than":
            sign = ">"
        return InvalidRequest(
            f"Invalid '{p}': {number} {'above maximum' if above else 'below minimum'} value. "
            f"Expected a value {sign} {_number(bound)}, but got {value} instead.",
            param=p,
            code=f"{number}_{'above_max' if above else 'below_min'}_value",
        )
    if kind in _TYPE_WORDS:
        got = _describe_text(value) if _in_query(err) else _describe(value)
        return InvalidRequest(
            f"Invalid type for '{p}': expected {_TYPE_WORDS[kind]}, but got {got} instead.",
            param=p,
            code="invalid_type",
        )
    if kind in ("literal_error", "enum"):
        return InvalidRequest(
            f"Invalid value: '{value}'. Supported values are: {supported(_expected(ctx.get('expected')))}.",
            param=p,
            code="invalid_value",
        )
    if kind == "union_tag_invalid":
        tags = [t for t in _expected(ctx.get("expected_tags", "")) if t not in UNADVERTISED_TAGS]
        expected = supported(tags)
        name = f"{p}.type" if p else "type"
        return InvalidRequest(
            f"Invalid value: '{str(ctx.get('tag', '')).replace(TAG_PREFIX, '')}'. Supported values are: {expected}.",
            param=name,
            code="invalid_value",
        )
    if kind == "string_pattern_mismatch":
        return InvalidRequest(
            f"Invalid '{p}': string does not match pattern. Expected a string that matches the pattern "
            f"'{ctx.get('pattern')}'.",
            param=p,
            code="invalid_value",
        )
    if kind == "extra_forbidden":
        return InvalidRequest(f"Unknown parameter: '{p}'.", param=p, code="unknown_parameter")
    if "key" in ctx and p:
        p = f"{p}.{ctx['key']}"  # a metadata value: name the key, as the message does
    message = str(err.get("msg", "Invalid request."))
    message = message.removeprefix("Value error, ")
    if not message.startswith("Invalid"):
        message = f"Invalid '{p}': {message}" if p else message
    return InvalidRequest(message, param=p, code=kind if kind != "value_error" else "invalid_value")


def _wrong_branch(err: dict[str, Any]) -> bool:
    """An error from a union member the input never looked like (the ``str`` side of ``str | list``
    when a list was sent): reporting it would tell the client about the wrong shape."""
    loc = err.get("loc", ())
    label = loc[-1] if loc else None
    if not isinstance(label, str):
        return False
    value = err.get("input")
    if label == "str" or label.startswith("literal["):
        return not isinstance(value, str)
    if label.startswith("list["):
        return not isinstance(value, list)
    if label.startswith(("tagged-union[", "function-")) or label[:1].isupper():
        return not isinstance(value, dict)
    return False


def first_error(errors: Sequence[dict[str, Any]]) -> APIError:
    """OpenAI reports one problem at a time; report the most useful one."""
    if not errors:
        return InvalidRequest("Invalid request.")
    for err in errors:
        if err["type"] == "json_invalid":
            return translate(err)
    relevant = [err for err in errors if not _wrong_branch(err)]
    return translate((relevant or list(errors))[0])
