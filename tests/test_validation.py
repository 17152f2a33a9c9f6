"""Bad input over raw HTTP: each limit and malformation answers 400 in OpenAI's envelope with a precise
message and ``param``; unknown routes and ids answer 404; nothing ever answers 500 or a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.checks import TRACE_WORDS, assert_error
from tests.server import LiveServer

BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)
METADATA_17 = {f"k{i}": "v" for i in range(17)}
FUNCTION = {"type": "function", "function": {"name": "f"}}


@dataclass
class Case:
    path: str  # may name {thread} and {message}
    body: Any
    message: str
    param: str | None
    code: str | None
    method: str = "POST"
    params: dict[str, Any] = field(default_factory=dict)


def too_long(param: str, limit: int) -> str:
    return (
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {limit + 1} instead."
    )


def too_many(param: str, limit: int) -> str:
    return (
        f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {limit + 1} instead."
    )


def missing(param: str) -> tuple[str, str, str]:
    return f"Missing required parameter: '{param}'.", param, "missing_required_parameter"


def wrong_type(param: str, expected: str, got: str) -> tuple[str, str, str]:
    return f"Invalid type for '{param}': expected {expected}, but got {got} instead.", param, "invalid_type"


def metadata_cases(path: str, base: dict[str, Any]) -> list[Case]:
    return [
        Case(
            path,
            {**base, "metadata": METADATA_17},
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
            "but got an object with 17 properties instead.",
            "metadata",
            "object_above_max_properties",
        ),
        Case(
            path,
            {**base, "metadata": {"k" * 65: "v"}},
            "Invalid 'metadata': key too long. Expected a key with maximum length 64, "
            "but got a key with length 65 instead.",
            "metadata",
            "string_above_max_length",
        ),
        Case(
            path,
            {**base, "metadata": {"key": "v" * 513}},
            too_long("metadata.key", 512),
            "metadata.key",
            "string_above_max_length",
        ),
        Case(path, {**base, "metadata": {"key": 1}}, *wrong_type("metadata.key", "a string", "an integer")),
        Case(path, {**base, "metadata": ["k"]}, *wrong_type("metadata", "an object", "an array")),
    ]


ASSISTANT_CASES = [
    Case("/assistants", {"model": "m", "name": "n" * 257}, too_long("name", 256), "name", "string_above_max_length"),
    Case(
        "/assistants",
        {"model": "m", "description": "d" * 513},
        too_long("description", 512),
        "description",
        "string_above_max_length",
    ),
    Case(
        "/assistants",
        {"model": "m", "instructions": "i" * 256_001},
        too_long("instructions", 256_000),
        "instructions",
        "string_above_max_length",
    ),
    Case(
        "/assistants",
        {"model": "m", "tools": [FUNCTION] * 129},
        too_many("tools", 128),
        "tools",
        "array_above_max_length",
    ),
    Case(
        "/assistants",
        {"model": "m", "temperature": 2.5},
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.",
        "temperature",
        "decimal_above_max_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "temperature": -0.5},
        "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.5 instead.",
        "temperature",
        "decimal_below_min_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "top_p": 1.01},
        "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.01 instead.",
        "top_p",
        "decimal_above_max_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "top_p": -1},
        "Invalid 'top_p': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        "top_p",
        "decimal_below_min_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "tools": [{"type": "browser"}]},
        "Invalid value: 'browser'. Supported values are: 'code_interpreter', 'file_search', and 'function'.",
        "tools[0].type",
        "invalid_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "tools": [{"type": "code_interpreter"}, {"type": "retrieval"}]},
        "Invalid value: 'retrieval'. Supported values are: 'code_interpreter', 'file_search', and 'function'.",
        "tools[1].type",
        "invalid_value",
    ),
    Case("/assistants", {"model": "m", "tools": [{"function": {"name": "f"}}]}, *missing("tools[0].type")),
    Case("/assistants", {"model": "m", "tools": [{"type": "function"}]}, *missing("tools[0].function")),
    Case(
        "/assistants",
        {"model": "m", "tools": [{"type": "function", "function": {}}]},
        *missing("tools[0].function.name"),
    ),
    Case(
        "/assistants",
        {"model": "m", "tools": [{"type": "function", "function": {"name": "has space"}}]},
        "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that matches the "
        "pattern '^[a-zA-Z0-9_-]+$'.",
        "tools[0].function.name",
        "invalid_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}]},
        "Invalid 'tools[0].file_search.max_num_results': integer above maximum value. Expected a value <= 50, "
        "but got 51 instead.",
        "tools[0].file_search.max_num_results",
        "integer_above_max_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "response_format": "json"},
        "Invalid value: 'json'. Supported values are: 'auto'.",
        "response_format",
        "invalid_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "response_format": {"type": "xml"}},
        "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        "response_format.type",
        "invalid_value",
    ),
    Case(
        "/assistants",
        {"model": "m", "response_format": {"type": "json_schema"}},
        *missing("response_format.json_schema"),
    ),
    Case(
        "/assistants",
        {"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["file-x"] * 21}}},
        too_many("tool_resources.code_interpreter.file_ids", 20),
        "tool_resources.code_interpreter.file_ids",
        "array_above_max_length",
    ),
    Case(
        "/assistants",
        {"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["file-none"]}}},
        "No file found with id 'file-none'.",
        "tool_resources.code_interpreter.file_ids[0]",
        "invalid_value",
    ),
    Case("/assistants", {"name": "no model"}, *missing("model")),
    Case("/assistants", {"model": 4}, *wrong_type("model", "a string", "an integer")),
    Case("/assistants", {"model": "m", "name": ["x"]}, *wrong_type("name", "a string", "an array")),
    Case("/assistants", {"model": "m", "temperature": "hot"}, *wrong_type("temperature", "a number", "a string")),
    Case(
        "/assistants",
        {"model": "m", "tools": {"type": "code_interpreter"}},
        *wrong_type("tools", "an array", "an object"),
    ),
    Case(
        "/assistants", {"model": "m", "tools": ["code_interpreter"]}, *wrong_type("tools[0]", "an object", "a string")
    ),
    *metadata_cases("/assistants", {"model": "m"}),
    Case("/assistants/{assistant}", {"name": "n" * 257}, too_long("name", 256), "name", "string_above_max_length"),
    Case(
        "/assistants/{assistant}",
        {"temperature": 3},
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.",
        "temperature",
        "decimal_above_max_value",
    ),
    Case(
        "/assistants/{assistant}",
        {"tools": [{"type": "web"}]},
        "Invalid value: 'web'. Supported values are: 'code_interpreter', 'file_search', and 'function'.",
        "tools[0].type",
        "invalid_value",
    ),
    *metadata_cases("/assistants/{assistant}", {}),
]

MESSAGE = {"role": "user", "content": "hi"}
ATTACHMENT = {"file_id": "file-x", "tools": [{"type": "code_interpreter"}]}
MESSAGE_CASES = [
    Case(
        "/threads/{thread}/messages",
        {"role": "system", "content": "x"},
        "Invalid value: 'system'. Supported values are: 'user' and 'assistant'.",
        "role",
        "invalid_value",
    ),
    Case(
        "/threads/{thread}/messages",
        {"role": "tool", "content": "x"},
        "Invalid value: 'tool'. Supported values are: 'user' and 'assistant'.",
        "role",
        "invalid_value",
    ),
    Case("/threads/{thread}/messages", {"content": "x"}, *missing("role")),
    Case("/threads/{thread}/messages", {"role": "user"}, *missing("content")),
    Case(
        "/threads/{thread}/messages", {"role": "user", "content": 5}, *wrong_type("content", "a string", "an integer")
    ),
    Case(
        "/threads/{thread}/messages",
        {"role": "user", "content": []},
        "Invalid 'content': array too short. Expected an array with minimum length 1, but got an array with length "
        "0 instead.",
        "content",
        "array_below_min_length",
    ),
    Case(
        "/threads/{thread}/messages",
        {"role": "user", "content": [{"type": "audio"}]},
        "Invalid value: 'audio'. Supported values are: 'image_file', 'image_url', and 'text'.",
        "content[0].type",
        "invalid_value",
    ),
    Case("/threads/{thread}/messages", {"role": "user", "content": [{"text": "x"}]}, *missing("content[0].type")),
    Case(
        "/threads/{thread}/messages",
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}]},
        *missing("content[1].text"),
    ),
    Case(
        "/threads/{thread}/messages",
        {"role": "user", "content": [{"type": "image_file", "image_file": {}}]},
        *missing("content[0].image_file.file_id"),
    ),
    Case(
        "/threads/{thread}/messages",
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "max"}}]},
        "Invalid value: 'max'. Supported values are: 'auto', 'low', and 'high'.",
        "content[0].image_url.detail",
        "invalid_value",
    ),
    Case(
        "/threads/{thread}/messages",
        {**MESSAGE, "attachments": [ATTACHMENT] * 11},
        too_many("attachments", 10),
        "attachments",
        "array_above_max_length",
    ),
    Case(
        "/threads/{thread}/messages",
        {**MESSAGE, "attachments": [{"file_id": "file-x"}]},
        *missing("attachments[0].tools"),
    ),
    Case(
        "/threads/{thread}/messages",
        {**MESSAGE, "attachments": [{"tools": [{"type": "code_interpreter"}]}]},
        *missing("attachments[0].file_id"),
    ),
    Case(
        "/threads/{thread}/messages",
        {**MESSAGE, "attachments": [{"file_id": "f", "tools": [{"type": "retrieval"}]}]},
        "Invalid value: 'retrieval'. Supported values are: 'code_interpreter' and 'file_search'.",
        "attachments[0].tools[0].type",
        "invalid_value",
    ),
    *metadata_cases("/threads/{thread}/messages", MESSAGE),
    *metadata_cases("/threads/{thread}/messages/{message}", {}),
]

THREAD_CASES = [
    Case(
        "/threads",
        {"messages": [MESSAGE, {"role": "developer", "content": "x"}]},
        "Invalid value: 'developer'. Supported values are: 'user' and 'assistant'.",
        "messages[1].role",
        "invalid_value",
    ),
    Case(
        "/threads",
        {"messages": [{**MESSAGE, "attachments": [ATTACHMENT] * 11}]},
        too_many("messages[0].attachments", 10),
        "messages[0].attachments",
        "array_above_max_length",
    ),
    Case("/threads", {"messages": [{"content": "x"}]}, *missing("messages[0].role")),
    Case("/threads", {"messages": "hello"}, *wrong_type("messages", "an array", "a string")),
    Case(
        "/threads",
        {"tool_resources": {"code_interpreter": {"file_ids": "file-x"}}},
        *wrong_type("tool_resources.code_interpreter.file_ids", "an array", "a string"),
    ),
    *metadata_cases("/threads", {}),
    *metadata_cases("/threads/{thread}", {}),
]

LIMIT_CASES = (
    [
        Case(path, None, message, "limit", code, method="GET", params={"limit": value})
        for path in ("/assistants", "/threads/{thread}/messages")
        for value, message, code in (
            (
                0,
                "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead.",
                "integer_below_min_value",
            ),
            (
                101,
                "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead.",
                "integer_above_max_value",
            ),
            ("ten", "Invalid type for 'limit': expected an integer, but got a string instead.", "invalid_type"),
            ("2.5", "Invalid type for 'limit': expected an integer, but got a decimal instead.", "invalid_type"),
        )
    ]
    + [
        Case(
            path,
            None,
            "Invalid value: 'newest'. Supported values are: 'asc' and 'desc'.",
            "order",
            "invalid_value",
            method="GET",
            params={"order": "newest"},
        )
        for path in ("/assistants", "/threads/{thread}/messages", "/files")
    ]
    + [
        Case(
            "/files",
            None,
            "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "limit",
            "integer_below_min_value",
            method="GET",
            params={"limit": 0},
        ),
    ]
)

ALL_CASES = ASSISTANT_CASES + MESSAGE_CASES + THREAD_CASES + LIMIT_CASES


@pytest.fixture(scope="module")
def ids(http: httpx.Client) -> dict[str, str]:
    assistant = http.post("/assistants", json={"model": "m"}).json()["id"]
    thread = http.post("/threads", json={}).json()["id"]
    message = http.post(f"/threads/{thread}/messages", json=MESSAGE).json()["id"]
    return {"assistant": assistant, "thread": thread, "message": message}


def _case_id(case: Case) -> str:
    return f"{case.method} {case.path} {case.param}"


@pytest.mark.parametrize("case", ALL_CASES, ids=[_case_id(c) for c in ALL_CASES])
def test_invalid_input_is_a_precise_400(http: httpx.Client, ids: dict[str, str], case: Case) -> None:
    path = case.path.format(**ids)
    response = http.request(case.method, path, json=case.body, params=case.params)
    assert_error(response, 400, case.message, param=case.param, code=case.code)


def test_the_limits_themselves_are_allowed(http: httpx.Client) -> None:
    at_limits = {
        "model": "m",
        "name": "n" * 256,
        "description": "d" * 512,
        "instructions": "i" * 256_000,
        "tools": [FUNCTION] * 128,
        "metadata": {f"{i:064d}": "v" * 512 for i in range(16)},
        "temperature": 2,
        "top_p": 0,
    }
    response = http.post("/assistants", json=at_limits)
    assert response.status_code == 200, response.text[:500]
    document = response.json()
    assert len(document["tools"]) == 128 and len(document["metadata"]) == 16
    assert document["temperature"] == 2 and document["top_p"] == 0
    thread = http.post("/threads", json={}).json()["id"]
    message = {"role": "user", "content": "x", "attachments": []}
    assert http.post(f"/threads/{thread}/messages", json=message).status_code == 200
    for limit in (1, 100):
        assert http.get("/assistants", params={"limit": limit}).status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "message", "code"),
    [
        (b'{"model": "m"', {"content-type": "application/json"}, BAD_JSON, None),
        (b"{'model': 'm'}", {"content-type": "application/json"}, BAD_JSON, None),
        (b"\xff\xfe\x00", {"content-type": "application/json"}, BAD_JSON, None),
        (b"model=m", {"content-type": "application/x-www-form-urlencoded"}, BAD_JSON, None),
        (
            b'[{"model": "m"}]',
            {"content-type": "application/json"},
            "Invalid body: expected an object, but got an array instead.",
            "invalid_type",
        ),
        (
            b'"m"',
            {"content-type": "application/json"},
            "Invalid body: expected an object, but got a string instead.",
            "invalid_type",
        ),
        (
            b"null",
            {"content-type": "application/json"},
            "Invalid body: expected an object, but got null instead.",
            "invalid_type",
        ),
        (b"42", {}, "Invalid body: expected an object, but got an integer instead.", "invalid_type"),
    ],
    ids=["truncated", "single-quotes", "not-utf8", "form-encoded", "array", "string", "null", "number"],
)
def test_malformed_bodies(http: httpx.Client, body: bytes, headers: dict[str, str], message: str, code: str) -> None:
    assert_error(http.post("/assistants", content=body, headers=headers), 400, message, code=code)


@pytest.mark.parametrize("body", [b"", b"  \n", None], ids=["empty", "whitespace", "absent"])
def test_an_empty_body_is_an_empty_object(http: httpx.Client, body: bytes | None) -> None:
    """OpenAI then names the missing parameter; where nothing is required, the call succeeds."""
    headers = {"content-type": "application/json"}
    response = http.post("/assistants", content=body, headers=headers)
    message, param, code = missing("model")
    assert_error(response, 400, message, param=param, code=code)
    assert http.post("/threads", content=body, headers=headers).status_code == 200


def test_json_without_a_json_content_type_is_still_json(http: httpx.Client) -> None:
    """``curl -d`` labels its body form-urlencoded; OpenAI read it as JSON all the same."""
    response = http.post(
        "/assistants", content=b'{"model": "m", "name": "curl"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "curl"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing"),
        ("GET", "/threads"),  # there is no list of threads in the API
        ("DELETE", "/assistants"),
        ("PUT", "/assistants"),
        ("PATCH", "/threads/thread_x"),
        ("GET", "/assistants/asst_x/extra"),
        ("POST", "/files/file-x/content"),
    ],
)
def test_unknown_routes_answer_404_in_the_envelope(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={})
    assert_error(response, 404, f"Invalid URL ({method} /v1{path})")


def test_unknown_route_outside_v1(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/nowhere")
    assert_error(response, 404, "Invalid URL (GET /nowhere)")


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("GET", "/assistants/asst_nope", None, "No assistant found with id 'asst_nope'."),
        ("POST", "/assistants/asst_nope", {"name": "x"}, "No assistant found with id 'asst_nope'."),
        ("DELETE", "/assistants/asst_nope", None, "No assistant found with id 'asst_nope'."),
        ("GET", "/threads/thread_nope", None, "No thread found with id 'thread_nope'."),
        ("POST", "/threads/thread_nope", {}, "No thread found with id 'thread_nope'."),
        ("DELETE", "/threads/thread_nope", None, "No thread found with id 'thread_nope'."),
        ("GET", "/threads/thread_nope/messages", None, "No thread found with id 'thread_nope'."),
        ("POST", "/threads/thread_nope/messages", MESSAGE, "No thread found with id 'thread_nope'."),
        ("GET", "/threads/{thread}/messages/msg_nope", None, "No message found with id 'msg_nope'."),
        ("POST", "/threads/{thread}/messages/msg_nope", {}, "No message found with id 'msg_nope'."),
        ("DELETE", "/threads/{thread}/messages/msg_nope", None, "No message found with id 'msg_nope'."),
        ("GET", "/threads/thread_nope/messages/{message}", None, "No thread found with id 'thread_nope'."),
        ("GET", "/assistants/" + "a" * 300, None, f"No assistant found with id '{'a' * 300}'."),
    ],
)
def test_unknown_ids_answer_404(
    http: httpx.Client, ids: dict[str, str], method: str, path: str, body: Any, message: str
) -> None:
    response = http.request(method, path.format(**ids), json=body)
    assert_error(response, 404, message)


@pytest.mark.parametrize(
    ("path", "param"),
    [("/files/file-nope", "id"), ("/files/file-nope/content", "id")],
)
def test_unknown_files_answer_404(http: httpx.Client, path: str, param: str) -> None:
    for method in ("GET", "DELETE") if not path.endswith("content") else ("GET",):
        assert_error(http.request(method, path), 404, "No such File object: file-nope", param=param)


def test_unknown_cursor_is_a_400(http: httpx.Client) -> None:
    assert_error(
        http.get("/assistants", params={"after": "asst_nope"}),
        400,
        "Invalid 'after': no object with id 'asst_nope' in this list.",
        param="after",
        code="invalid_value",
    )


HOSTILE_VALUES: list[Any] = [
    None,
    0,
    -1,
    1e308,
    "",
    "\u0000",
    "x\u0000y",
    "😀" * 10,
    [],
    {},
    [[[[[]]]]],
    {"a": {"b": {"c": {}}}},
    True,
    "a" * 5000,
]
HOSTILE_TARGETS = [
    (
        "/assistants",
        {"model": "m"},
        [
            "model",
            "name",
            "description",
            "instructions",
            "tools",
            "metadata",
            "temperature",
            "top_p",
            "response_format",
            "tool_resources",
        ],
    ),
    ("/threads", {}, ["messages", "metadata", "tool_resources"]),
    ("/threads/{thread}/messages", dict(MESSAGE), ["role", "content", "attachments", "metadata"]),
]


@pytest.mark.parametrize(("path", "base", "fields"), HOSTILE_TARGETS, ids=[t[0] for t in HOSTILE_TARGETS])
def test_no_input_causes_a_500(
    http: httpx.Client, ids: dict[str, str], path: str, base: dict[str, Any], fields: list[str]
) -> None:
    """Every field with every odd value: each answer is a 200 or a 4xx envelope, never a server error."""
    failures = []
    for name in fields:
        for value in HOSTILE_VALUES:
            body = json.dumps({**base, name: value}).encode()
            response = http.post(path.format(**ids), content=body, headers={"content-type": "application/json"})
            text = response.text
            if response.status_code >= 500 or any(word in text for word in TRACE_WORDS):
                failures.append((name, repr(value)[:40], response.status_code, text[:200]))
            elif response.status_code != 200:
                assert set(response.json()) == {"error"}, text
    assert not failures, failures


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "name": "a\u0000b"}, "name"),
        ({"model": "m", "metadata": {"k": "\u0000"}}, "metadata.k"),
        ({"model": "m", "metadata": {"k\u0000": "v"}}, "metadata.k\u0000"),
        (
            {"model": "m", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"d": "\u0000"}}}]},
            "tools[0].function.parameters.d",
        ),
    ],
    ids=["name", "metadata-value", "metadata-key", "nested"],
)
def test_null_characters_are_refused_on_every_database(http: httpx.Client, body: Any, param: str) -> None:
    """PostgreSQL cannot store U+0000; SQLite can. Both answer the same 400."""
    message = f"Invalid '{param}': string contains a null character (\\u0000), which is not supported."
    assert_error(http.post("/assistants", json=body), 400, message, param=param, code="invalid_value")


@pytest.mark.parametrize(
    "url", ["/assistants/asst_%00", "/assistants?after=a%00", "/files?purpose=x%00", "/threads/t%00/messages"]
)
def test_null_characters_in_urls_are_refused(http: httpx.Client, url: str) -> None:
    assert_error(http.get(url), 400, "Invalid URL: it contains a null character (%00).")


def test_null_character_in_a_file_name(http: httpx.Client) -> None:
    # Written by hand: httpx would percent-encode the byte in the multipart header.
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.txt"\r\n\r\nhello\r\n--XX--\r\n'
    )
    response = http.post("/files", content=body, headers={"content-type": "multipart/form-data; boundary=XX"})
    assert_error(
        response,
        400,
        "Invalid 'file': the file name contains a null character, which is not supported.",
        param="file",
        code="invalid_value",
    )


def test_an_oversized_json_body_is_refused(http: httpx.Client) -> None:
    body = b'{"model": "m", "instructions": "' + b"x" * (32 * 1024 * 1024) + b'"}'
    assert_error(
        http.post("/assistants", content=body, headers={"content-type": "application/json"}),
        413,
        "Request body too large: a JSON body may be at most 33554432 bytes (files go to POST /v1/files as "
        "multipart/form-data).",
        code="request_too_large",
    )

    def streamed() -> Iterator[bytes]:  # no announced length: counted as it arrives
        yield body

    response = http.post("/assistants", content=streamed(), headers={"content-type": "application/json"})
    assert_error(response, 413, code="request_too_large")
