"""File and image inputs as OpenAI accepts them: ``input_file`` by ``file_data`` and ``file_url``,
``input_image`` by file id, URL and data URL. URLs are fetched by the server (the model gets a data
URL), guarded against SSRF: each refusal is tested with the guard on; the fetches themselves, from a
file server on loopback, with ``ASSISTANTD_INPUT_URL_ALLOW_PRIVATE`` on."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from tests.checks import assert_error
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
NOTES = b"The launch code is 4417."


class FileServer:
    """Files on loopback: a text file, a PNG, one too big, one too slow, and a redirect."""

    def __init__(self) -> None:
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def _handler() -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                moves = {"/moved": "/notes.txt", "/to-file": "file:///etc/passwd", "/loop": "/loop"}
                if self.path in moves:
                    self.send_response(302)
                    self.send_header("Location", moves[self.path])
                    self.end_headers()
                    return
                if self.path == "/slow.txt":
                    time.sleep(3)
                body, kind = {
                    "/notes.txt": (NOTES, "text/plain"),
                    "/slow.txt": (NOTES, "text/plain"),
                    "/pixel.png": (PNG, "image/png"),
                    "/big.txt": (b"x" * 5000, "text/plain"),
                }.get(self.path, (b"", ""))
                if not kind:
                    self.send_error(404)
                    return
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server under test gave up first (the slow file)

        return Handler


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    served = FileServer()
    yield served
    served.close()


def _ask(parts: list[dict[str, Any]], model: str = "m") -> dict[str, Any]:
    return {"model": model, "input": [{"role": "user", "content": [*parts, {"type": "input_text", "text": "?"}]}]}


def test_file_and_image_inputs_fetched(tmp_server: LiveServer, upstream: Upstream, files: FileServer) -> None:
    tmp_server.env.update(ASSISTANTD_INPUT_URL_ALLOW_PRIVATE="1")
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(text=["4417"]), Reply(text=["A pixel"]))
    data = "data:text/plain;base64," + base64.b64encode(b"The door code is 9051.").decode()
    response = client.responses.create(
        model=model,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_file", "file_url": files.url("/moved")},  # redirected to notes.txt
                    {"type": "input_file", "file_data": data, "filename": "door.txt"},
                    {"type": "input_text", "text": "Which codes?"},
                ],
            }
        ],
    )
    assert response.output_text == "4417"
    sent = upstream.requests(model)[0].messages[-1]["content"]
    assert sent == "[File notes.txt]\nThe launch code is 4417.\n[File door.txt]\nThe door code is 9051.\nWhich codes?"
    items = client.responses.input_items.list(response.id).data[0].to_dict()
    assert items["content"][0] == {"type": "input_file", "file_url": files.url("/moved")}
    assert items["content"][1] == {"type": "input_file", "filename": "door.txt"}

    stored = client.files.create(file=("dot.png", io.BytesIO(PNG)), purpose="vision")
    inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
    images = [
        {"type": "input_image", "image_url": files.url("/pixel.png"), "detail": "low"},
        {"type": "input_image", "file_id": stored.id},
        {"type": "input_image", "image_url": inline},
    ]
    second = client.responses.create(model=model, input=[{"role": "user", "content": images}])  # type: ignore[list-item]
    assert second.output_text == "A pixel"
    content = upstream.requests(model)[1].messages[-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "image_url", "image_url"]
    assert all(part["image_url"]["url"] == inline for part in content[1:])  # the model gets the bytes
    assert content[1]["image_url"]["detail"] == "low"
    shown = client.responses.input_items.list(second.id).data[0].to_dict()["content"]
    assert shown[0] == {"type": "input_image", "image_url": files.url("/pixel.png"), "detail": "low"}
    assert shown[1] == {"type": "input_image", "file_id": stored.id, "detail": "auto"}
    assert shown[2]["image_url"] == inline


def test_fetch_limits(tmp_server: LiveServer, files: FileServer) -> None:
    tmp_server.env.update(
        ASSISTANTD_INPUT_URL_ALLOW_PRIVATE="1",
        ASSISTANTD_INPUT_URL_MAX_BYTES="1000",
        ASSISTANTD_INPUT_URL_TIMEOUT_SECONDS="1",
    )
    tmp_server.start()
    with httpx.Client(base_url=f"{tmp_server.url}/v1", timeout=30) as http:
        for path, reason in (
            ("/big.txt", "the file is larger than 1000 bytes"),
            ("/slow.txt", "it took longer than 1 seconds"),
            ("/missing.txt", "the server answered 404"),
            ("/to-file", "the URL scheme 'file' is not supported; expected 'http' or 'https'"),  # each hop is checked
            ("/loop", "more than 5 redirects"),
        ):
            url = files.url(path)
            answer = http.post("/responses", json=_ask([{"type": "input_file", "file_url": url}]))
            assert_error(
                answer,
                400,
                f"Error while downloading {url}: {reason}.",
                param="input[0].content[0].file_url",
                code="invalid_value",
            )


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),  # loopback
        ("localhost", None),  # loopback, by a name that resolves to it (127.0.0.1 or ::1)
        ("10.1.2.3", "10.1.2.3"),  # private
        ("169.254.169.254", "169.254.169.254"),  # link-local (cloud metadata)
        ("[::1]", "::1"),  # IPv6 loopback
        ("0.0.0.0", "0.0.0.0"),  # unspecified
        ("2130706433", "127.0.0.1"),  # loopback as one number, which C resolvers read
        ("127.1", "127.0.0.1"),  # loopback in the short dotted form
        ("0x7f.1", "127.0.0.1"),  # loopback in hexadecimal
    ],
)
def test_non_public_addresses_refused(http: httpx.Client, files: FileServer, host: str, address: str | None) -> None:
    url = files.url("/notes.txt", host)
    for part, param in (
        ({"type": "input_file", "file_url": url}, "input[0].content[0].file_url"),
        ({"type": "input_image", "image_url": url}, "input[0].content[0].image_url"),
    ):
        answer = http.post("/responses", json=_ask([part]))
        error = assert_error(answer, 400, None, param=param, code="invalid_value")
        found = address or error["message"].split("the address ")[-1].split(" ")[0]
        assert found in ("127.0.0.1", "::1") or address is not None
        assert error["message"] == f"Error while downloading {url}: the address {found} is not a public address."


def test_malformed_inputs_refused(http: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        (
            {"type": "input_file", "file_url": "ftp://example.com/notes.txt"},
            "input[0].content[0].file_url",
            "Invalid 'input[0].content[0].file_url': expected an 'http', 'https' or 'data' URL, got scheme 'ftp'.",
            "invalid_value",
        ),
        (
            {"type": "input_image", "image_url": "file:///etc/passwd"},
            "input[0].content[0].image_url",
            "Invalid 'input[0].content[0].image_url': expected an 'http', 'https' or 'data' URL, got scheme 'file'.",
            "invalid_value",
        ),
        (
            {"type": "input_file", "file_data": "data:text/plain;base64,@@not base64@@", "filename": "a.txt"},
            "input[0].content[0].file_data",
            "Invalid 'input[0].content[0].file_data': the data is not valid base64.",
            "invalid_value",
        ),
        (
            {"type": "input_file", "file_data": "aGVsbG8=", "filename": "a.txt"},
            "input[0].content[0].file_data",
            "Invalid 'input[0].content[0].file_data': expected a base64 data URL ('data:<media type>;base64,<data>').",
            "invalid_value",
        ),
        (
            {"type": "input_image", "image_url": "data:image/png;base64,###"},
            "input[0].content[0].image_url",
            "Invalid 'input[0].content[0].image_url': the data is not valid base64.",
            "invalid_value",
        ),
        (
            {"type": "input_image", "image_url": "data:text/plain;base64,aGVsbG8="},
            "input[0].content[0].image_url",
            "Invalid 'input[0].content[0].image_url': expected an image, got 'text/plain'.",
            "invalid_image_format",
        ),
        (
            {"type": "input_file", "file_data": "data:text/plain;base64,aGVsbG8="},
            "input[0].content[0].filename",
            "Missing required parameter: 'input[0].content[0].filename'.",
            "missing_required_parameter",
        ),
        (
            {"type": "input_file"},
            "input[0].content[0].file_id",
            "Missing required parameter: 'input[0].content[0].file_id'.",
            "missing_required_parameter",
        ),
    ]
    for part, param, message, code in cases:
        answer = http.post("/responses", json=_ask([part]))
        assert_error(answer, 400, message, param=param, code=code)


def test_conversation_items_guarded_too(http: httpx.Client, files: FileServer) -> None:
    """Items added to a conversation are read as a response's input is: a URL is fetched (so guarded)
    then, never left for the model upstream to fetch."""
    conversation = http.post("/conversations", json={}).json()
    url = files.url("/pixel.png")
    item = {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": url}]}
    answer = http.post(f"/conversations/{conversation['id']}/items", json={"items": [item]})
    assert_error(
        answer,
        400,
        f"Error while downloading {url}: the address 127.0.0.1 is not a public address.",
        param="items[0].content[0].image_url",
        code="invalid_value",
    )
    data = "data:text/plain;base64," + base64.b64encode(b"Kept as text.").decode()
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_file", "file_data": data, "filename": "k.txt"}],
    }
    added = http.post(f"/conversations/{conversation['id']}/items", json={"items": [item]}).json()
    assert added["data"][0]["content"] == [
        {"type": "input_text", "text": "[File k.txt]\nKept as text."},
        {"type": "input_file", "filename": "k.txt"},
    ]
