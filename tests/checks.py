"""Assertions and small helpers shared by the API tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any

import httpx
import openai
import pytest

from tests.schema import assert_valid

TRACE_WORDS = ("Traceback", 'File "', "sqlalchemy", "pydantic", "Exception")


def wire(obj: Any) -> dict[str, Any]:
    """What the server sent for an SDK object (keys the response carried, nothing the SDK filled in)."""
    return obj.to_dict()  # type: ignore[no-any-return]


def valid(name: str, obj: Any) -> dict[str, Any]:
    document = obj if isinstance(obj, dict) else wire(obj)
    assert_valid(name, document)
    return document


def valid_list(name: str, page: Any) -> dict[str, Any]:
    """A list page: the spec types first_id/last_id as strings, OpenAI sent null on empty pages."""
    document = page if isinstance(page, dict) else page.to_dict()
    if document["data"]:
        assert_valid(name, document)
    else:
        assert document == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    return document


def assert_envelope(body: Any, message: str | None, param: str | None, code: str | None) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == "invalid_request_error", error
    if message is not None:
        assert error["message"] == message, error
    assert error["param"] == param, error
    assert error["code"] == code, error
    assert not any(word in error["message"] for word in TRACE_WORDS), error


def assert_error(
    response: httpx.Response,
    status: int,
    message: str | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """An OpenAI error envelope with exactly this status, message, param and code."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert_envelope(body, message, param, code)
    return body["error"]  # type: ignore[no-any-return]


def assert_sdk_error(
    error: pytest.ExceptionInfo[openai.APIStatusError],
    status: int,
    message: str | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return assert_error(error.value.response, status, message, param=param, code=code)


def upload(
    client: openai.OpenAI,
    data: bytes | None = None,
    name: str = "notes.txt",
    purpose: str = "assistants",
) -> Any:
    content = data if data is not None else os.urandom(64)
    return client.files.create(file=(name, io.BytesIO(content)), purpose=purpose)  # type: ignore[arg-type]


def cli(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """``assistantd ARGS`` against a server's data dir and database, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "assistantd", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def new_project_client(server: Any, project: str) -> openai.OpenAI:
    """A client of a project of its own: a key made with ``assistantd keys create``."""
    made = cli(server, "keys", "create", "--project", project)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
