"""``POST /v1/responses/compact``: the upstream model writes the summary (through the same routing as
any response), the answer is a ``response.compaction`` whose output ends with an encrypted
``compaction`` item, and that item given back as input puts the summary before the model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from cryptography.fernet import Fernet
from websockets.sync.client import connect

from assistantd.settings import Settings
from tests.checks import assert_error
from tests.conftest import KEY_A, KEY_B, upstream_env
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

WINDOW = [
    {"type": "message", "role": "user", "content": "We agreed to launch on Tuesday and notify support first."},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Understood: Tuesday, support first."}],
    },
]
SUMMARY = "Launch on Tuesday; notify support first."


def compact(http: httpx.Client, model: str, **fields: object) -> dict[str, object]:
    answer = http.post("/responses/compact", json={"model": model, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_compaction_then_a_response_from_it(http: httpx.Client, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=[SUMMARY]), Reply(text=["Tuesday."]))
    compacted = compact(http, model, input=WINDOW, instructions="Be a launch planner.", prompt_cache_key="k")
    assert compacted["object"] == "response.compaction"
    assert str(compacted["id"]).startswith("resp_") and isinstance(compacted["created_at"], int)
    usage = compacted["usage"]
    assert isinstance(usage, dict) and usage["output_tokens"] == 1 and usage["total_tokens"] > 1
    output = compacted["output"]
    assert isinstance(output, list) and [item["type"] for item in output] == ["message", "compaction"]
    assert output[0]["role"] == "user"
    assert output[0]["content"] == [{"type": "input_text", "text": WINDOW[0]["content"]}]
    item = output[1]
    assert str(item["id"]).startswith("cmp_") and SUMMARY not in item["encrypted_content"]
    # The model wrote the summary: it was asked for one, and saw the whole window.
    asked = upstream.requests(model)[0].messages
    assert "compact conversations" in asked[0]["content"] and "Be a launch planner." in asked[0]["content"]
    assert [m["content"] for m in asked[1:3]] == [WINDOW[0]["content"], "Understood: Tuesday, support first."]
    assert asked[-1]["role"] == "user" and "Summarise the conversation" in asked[-1]["content"]
    counted = http.post("/responses/input_tokens", json={"model": model, "input": output})
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    # The compacted window, given back as input, starts a new chain.
    later = client.responses.create(model=model, input=[*output, {"role": "user", "content": "When do we launch?"}])
    assert later.output_text == "Tuesday."
    sent = upstream.requests(model)[1].messages
    assert sent == [
        {"role": "user", "content": WINDOW[0]["content"]},
        {"role": "user", "content": f"Summary of the earlier conversation (compacted):\n{SUMMARY}"},
        {"role": "user", "content": "When do we launch?"},
    ]


def test_compaction_of_a_previous_response(http: httpx.Client, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Noted."]), Reply(text=["Code word: slate."]), Reply(text=["slate"]))
    first = client.responses.create(model=model, input="Remember the code word: slate.")
    compacted = compact(http, model, previous_response_id=first.id)
    assert [m["content"] for m in upstream.requests(model)[1].messages[1:3]] == [
        "Remember the code word: slate.",
        "Noted.",
    ]
    [item] = compacted["output"]  # type: ignore[misc]
    assert item["type"] == "compaction"
    # Over a WebSocket too, and a compaction item may be compacted again.
    with connect(
        http.base_url.copy_with(scheme="ws").join("responses").__str__(),
        additional_headers={"Authorization": f"Bearer {KEY_A}"},
    ) as ws:
        ws.send(json.dumps({"type": "response.create", "model": model, "store": False, "input": [item]}))
        while (event := json.loads(ws.recv(timeout=30)))["type"] != "response.completed":
            assert event["type"] != "error", event
    assert upstream.requests(model)[2].messages[-1]["content"].endswith("Code word: slate.")


@pytest.mark.parametrize("where", ["tampered", "other_project"])
def test_forged_compaction_item_is_refused(
    http: httpx.Client, server: LiveServer, upstream: Upstream, where: str
) -> None:
    model = new_model()
    upstream.script(model, Reply(text=[SUMMARY]))
    item = compact(http, model, input=WINDOW)["output"][-1]  # type: ignore[index]
    key = KEY_A
    if where == "tampered":
        content = item["encrypted_content"]
        middle = len(content) // 2
        item["encrypted_content"] = content[:middle] + ("A" if content[middle] != "A" else "B") + content[middle + 1 :]
    else:
        key = KEY_B
    answer = httpx.post(
        f"{server.url}/v1/responses",
        json={"model": model, "input": [{"role": "user", "content": "Hi"}, item]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert_error(
        answer,
        400,
        "The encrypted content of 'input[1]' could not be verified.",
        param="input[1].encrypted_content",
        code="invalid_encrypted_content",
    )


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        ({"input": "x"}, "Missing required parameter: 'model'.", "model", "missing_required_parameter"),
        (
            {"model": "m", "input": [{"type": "compaction"}]},
            "Missing required parameter: 'input[0].encrypted_content'.",
            "input[0].encrypted_content",
            "missing_required_parameter",
        ),
        (
            {"model": "m", "previous_response_id": "resp_nope"},
            "Previous response with id 'resp_nope' not found.",
            "previous_response_id",
            "previous_response_not_found",
        ),
    ],
)
def test_bad_compact_requests(
    http: httpx.Client, body: dict[str, object], message: str, param: str | None, code: str | None
) -> None:
    answer = http.post("/responses/compact", json=body)
    assert_error(answer, 400, message, param=param, code=code)


def test_key_is_generated_once_per_data_dir(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.start()
    key_file = Path(tmp_server.data_dir) / "compaction.key"
    key = key_file.read_bytes()
    assert len(key.strip()) == 44 and key_file.stat().st_mode & 0o077 == 0
    model = new_model()
    upstream.script(model, Reply(text=[SUMMARY]), Reply(text=["ok"]))
    item = compact(httpx.Client(base_url=f"{tmp_server.url}/v1", timeout=30), model, input=WINDOW)["output"][-1]  # type: ignore[index]
    tmp_server.restart()
    assert key_file.read_bytes() == key
    answer = httpx.post(f"{tmp_server.url}/v1/responses", json={"model": model, "input": [item]}, timeout=30)
    assert answer.status_code == 200 and answer.json()["status"] == "completed"


def test_replicas_sharing_the_key_setting_read_each_others_items(tmp_path: Path, upstream: Upstream) -> None:
    shared = {"ASSISTANTD_COMPACTION_KEY": Fernet.generate_key().decode()}
    env = {**upstream_env(upstream), **shared}
    first, second = LiveServer(tmp_path / "a", env=env), LiveServer(tmp_path / "b", env=env)
    try:
        first.start()
        second.start()
        model = new_model()
        upstream.script(model, Reply(text=[SUMMARY]), Reply(text=["ok"]))
        with httpx.Client(base_url=f"{first.url}/v1", timeout=30) as made_on:
            item = compact(made_on, model, input=WINDOW)["output"][-1]  # type: ignore[index]
        answer = httpx.post(f"{second.url}/v1/responses", json={"model": model, "input": [item]}, timeout=30)
        assert answer.status_code == 200 and answer.json()["status"] == "completed"
        assert not (tmp_path / "a" / "compaction.key").exists()
    finally:
        first.close()
        second.close()


def test_a_key_setting_that_is_no_fernet_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ASSISTANTD_COMPACTION_KEY must be a Fernet key"):
        Settings(compaction_key="not-a-key")
