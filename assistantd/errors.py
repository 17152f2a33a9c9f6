"""Exceptions that carry their HTTP status; the edge maps them to OpenAI's error envelope in one place."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import Any


class APIError(Exception):
    status_code = 400
    error_type = "invalid_request_error"
    retry_after: int | None = None  # seconds, sent as ``retry-after`` (a 503 worth retrying)
    headers: dict[str, str] | None = None  # more headers the answer carries (a 429's x-ratelimit-*)

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}
        }


class InvalidRequest(APIError):
    status_code = 400


class NotFound(APIError):
    status_code = 404


class Unauthorized(APIError):
    status_code = 401


class Forbidden(APIError):
    status_code = 403


class RateLimited(APIError):
    """429 ``rate_limit_exceeded``; ``error_type`` is what ran out, as OpenAI says it: requests or tokens."""

    status_code = 429

    def __init__(self, message: str, kind: str, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(message, code="rate_limit_exceeded")
        self.error_type = kind
        self.retry_after = max(1, math.ceil(retry_after))
        self.headers = {**headers, "retry-after-ms": str(max(1, math.ceil(retry_after * 1000)))}


class PayloadTooLarge(APIError):
    status_code = 413


class ServerError(APIError):
    status_code = 500
    error_type = "server_error"


class ShuttingDown(APIError):
    """This server is draining (SIGTERM): a 503 the client retries, which a load balancer sends elsewhere."""

    status_code = 503
    error_type = "server_error"
    retry_after = 1


def not_found(kind: str, object_id: str) -> NotFound:
    """OpenAI's wording: ``No assistant found with id 'asst_x'.``"""
    return NotFound(f"No {kind} found with id '{object_id}'.")


def missing_parameter(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def supported(values: Sequence[str]) -> str:
    """OpenAI's way of listing choices: ``'a' and 'b'``, ``'a', 'b', and 'c'``."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def invalid_value(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


class MissingExtra(RuntimeError):
    """A setting asks for an optional part whose extra is not installed: said at start, not as a traceback."""


def require_extra(module: str, extra: str, needed_by: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"{needed_by} needs the '{extra}' extra, which is not installed: pip install 'assistantd[{extra}]'"
        )
