"""Turn pydantic validation errors into OpenAI's messages, codes and ``param`` paths."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
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


def _bound(ctx: dict[str, Any]) -> Any:
    return ctx.get("le", ctx.get("lt", ctx.get("ge", ctx.get("gt"))))


def _number_kind(err: dict[str, Any]) -> str:
    """The parameter's kind, not the input's: pydantic reports float bounds as floats."""
    bound = _bound(err.get("ctx") or {})
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


@dataclass(frozen=True)
class _Fault:
    """One pydantic error as the rules below read it: its type, ``param`` path, input and context."""

    kind: str
    param: str | None
    value: Any
    ctx: dict[str, Any]
    err: dict[str, Any]


def _invalid_type(p: str | None, got: str, expected: str = "an object") -> APIError:
    message = f"Invalid type for '{p}': expected {expected}, but got {got} instead."
    return InvalidRequest(message, param=p, code="invalid_type")


def _missing(fault: _Fault) -> APIError:
    p = fault.param
    return InvalidRequest(f"Missing required parameter: '{p}'.", param=p, code="missing_required_parameter")


def _tag_not_found(fault: _Fault) -> APIError:
    """A tagged union without its tag: a missing ``type``, unless the input is no object at all."""
    if not isinstance(fault.value, dict):
        return _invalid_type(fault.param, _describe(fault.value))
    return _missing(replace(fault, param=_tag_param(fault.param)))


def _tag_param(p: str | None) -> str:
    return f"{p}.type" if p else "type"


def _length(fault: _Fault, above: bool) -> APIError:
    """A string or an array outside its length bounds."""
    p, value, ctx = fault.param, fault.value, fault.ctx
    bound = ctx.get("max_length") if above else ctx.get("min_length")
    too, limit, side = ("long", "maximum", "above_max") if above else ("short", "minimum", "below_min")
    if isinstance(value, str) or fault.kind.startswith("string_"):
        return InvalidRequest(
            f"Invalid '{p}': string too {too}. Expected a string with {limit} length {bound}, but got a string "
            f"with length {len(value or '')} instead.",
            param=p,
            code=f"string_{side}_length",
        )
    return InvalidRequest(
        f"Invalid '{p}': array too {too}. Expected an array with {limit} length {bound}, but got an array with "
        f"length {ctx.get('actual_length', len(value or []))} instead.",
        param=p,
        code=f"array_{side}_length",
    )


_SIGNS = {"less_than_equal": "<=", "less_than": "<", "greater_than_equal": ">=", "greater_than": ">"}


def _out_of_bounds(fault: _Fault) -> APIError:
    above = fault.kind.startswith("less")
    number = _number_kind(fault.err)
    side = "above maximum" if above else "below minimum"
    return InvalidRequest(
        f"Invalid '{fault.param}': {number} {side} value. "
        f"Expected a value {_SIGNS[fault.kind]} {_number(_bound(fault.ctx))}, but got {fault.value} instead.",
        param=fault.param,
        code=f"{number}_{'above_max' if above else 'below_min'}_value",
    )


def _wrong_type(fault: _Fault) -> APIError:
    got = _describe_text(fault.value) if _in_query(fault.err) else _describe(fault.value)
    return _invalid_type(fault.param, got, _TYPE_WORDS[fault.kind])


def _not_supported(fault: _Fault) -> APIError:
    expected = supported(_expected(fault.ctx.get("expected")))
    return InvalidRequest(
        f"Invalid value: '{fault.value}'. Supported values are: {expected}.", param=fault.param, code="invalid_value"
    )


def _unknown_tag(fault: _Fault) -> APIError:
    tags = [t for t in _expected(fault.ctx.get("expected_tags", "")) if t not in UNADVERTISED_TAGS]
    tag = str(fault.ctx.get("tag", "")).replace(TAG_PREFIX, "")
    return InvalidRequest(
        f"Invalid value: '{tag}'. Supported values are: {supported(tags)}.",
        param=_tag_param(fault.param),
        code="invalid_value",
    )


def _pattern(fault: _Fault) -> APIError:
    return InvalidRequest(
        f"Invalid '{fault.param}': string does not match pattern. Expected a string that matches the pattern "
        f"'{fault.ctx.get('pattern')}'.",
        param=fault.param,
        code="invalid_value",
    )


def _unknown(fault: _Fault) -> APIError:
    return InvalidRequest(f"Unknown parameter: '{fault.param}'.", param=fault.param, code="unknown_parameter")


def _other(fault: _Fault) -> APIError:
    """Our own validators' messages (``value_error``) and any type without a rule: pydantic's text."""
    p, kind = fault.param, fault.kind
    if "key" in fault.ctx and p:
        p = f"{p}.{fault.ctx['key']}"  # a metadata value: name the key, as the message does
    message = str(fault.err.get("msg", "Invalid request.")).removeprefix("Value error, ")
    if not message.startswith("Invalid"):
        message = f"Invalid '{p}': {message}" if p else message
    return InvalidRequest(message, param=p, code=kind if kind != "value_error" else "invalid_value")


# One rule per pydantic error type; ``_other`` for the rest.
_RULES: dict[str, Callable[[_Fault], APIError]] = {
    "missing": _missing,
    "union_tag_not_found": _tag_not_found,
    "string_too_long": partial(_length, above=True),
    "too_long": partial(_length, above=True),
    "string_too_short": partial(_length, above=False),
    "too_short": partial(_length, above=False),
    **dict.fromkeys(_SIGNS, _out_of_bounds),
    **dict.fromkeys(_TYPE_WORDS, _wrong_type),
    "literal_error": _not_supported,
    "enum": _not_supported,
    "union_tag_invalid": _unknown_tag,
    "string_pattern_mismatch": _pattern,
    "extra_forbidden": _unknown,
}


def translate(err: dict[str, Any]) -> APIError:
    """One pydantic error as OpenAI's error: its message, ``param`` and ``code``."""
    if err["type"] == "json_invalid":
        return InvalidRequest(BAD_JSON)
    loc = tuple(err.get("loc", ()))
    p = param_path(loc)
    if p is None and loc == ("body",):
        return _body_error(err)
    fault = _Fault(err["type"], p, err.get("input"), err.get("ctx") or {}, err)
    return _RULES.get(fault.kind, _other)(fault)


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
