"""Logs as plain text or one JSON object per line, carrying the request id, project, run id and route.

The request edge and the run executor fill context variables; the JSON formatter reads them, so any
``logging`` call made while serving a request or executing a run is tagged without passing ids around.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal

# One mutable record per request (request_id, route, project): filled as the request is routed and
# authenticated, and shared by every context copied from the request's (dependencies, background tasks).
request_info: ContextVar[dict[str, str] | None] = ContextVar("request_info", default=None)
# The run a worker is executing.
run_id: ContextVar[str | None] = ContextVar("run_id", default=None)
FIELDS = ("request_id", "project", "run_id", "route")


def tag(**values: str) -> None:
    """Add fields (``project``, ``route``) to the current request's record, if there is one."""
    info = request_info.get()
    if info is not None:
        info.update(values)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# LogRecord attributes that are not extra fields a caller passed.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_STANDARD.add("color_message")  # uvicorn's ANSI-coloured copy of the message


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = {**(request_info.get() or {}), "run_id": run_id.get()}
        for name in FIELDS:
            value = getattr(record, name, None) or context.get(name)
            if value:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str, fmt: Literal["text", "json"]) -> None:
    """Route every logger (uvicorn's too) through one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
