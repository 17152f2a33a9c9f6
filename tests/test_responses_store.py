"""``store: false``: nothing of the response outlives the request, looked for in the server's database
itself (every table a response writes), after a normal end, a SIGKILL mid-response and a restart."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from tests import db
from tests.checks import assert_envelope
from tests.runhelp import WEATHER, new_model, wait_for
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

TABLES = ("responses", "threads", "messages", "runs", "run_steps", "upstream_requests")


def rows(server: LiveServer) -> dict[str, int]:
    return {table: db.count(server, table, "1 = 1") for table in TABLES}


def gone(client: openai.OpenAI, response_id: str) -> bool:
    try:
        client.responses.retrieve(response_id)
    except openai.NotFoundError:
        return True
    return False


def stored_one(client: openai.OpenAI, server: LiveServer, upstream: Upstream, logged: int) -> None:
    """A stored response, once its upstream request is logged (so earlier log writes are done too)."""
    model = new_model()
    upstream.script(model, Reply(text=["Kept"]))
    assert client.responses.create(model=model, input="Keep me").output_text == "Kept"
    wait_for(lambda: db.count(server, "upstream_requests", "1 = 1") == logged, what="the upstream log row")


def own_server(server: LiveServer, **env: str) -> openai.OpenAI:
    server.env.update(env)
    server.start()
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def test_unstored_responses_leave_no_rows(tmp_server: LiveServer, upstream: Upstream) -> None:
    client = own_server(tmp_server, ASSISTANTD_UPSTREAM_LOG="true")
    stored_one(client, tmp_server, upstream, 1)
    one = rows(tmp_server)
    assert one == {"responses": 1, "threads": 1, "messages": 2, "runs": 1, "run_steps": 1, "upstream_requests": 1}
    model = new_model()
    upstream.script(
        model,
        Reply(text=["Gone"], reasoning=["thinking"]),
        Reply(text=["Streamed", " gone"]),
        Reply(tool_calls=[("get_weather", '{"city": "Nice"}')]),
    )
    plain = client.responses.create(model=model, input="Forget me", store=False)
    assert plain.output_text == "Gone" and plain.store is False
    assert [i.type for i in plain.output] == ["reasoning", "message"]
    with client.responses.stream(model=model, input="Forget this too", store=False) as stream:
        streamed = stream.get_final_response()
    assert streamed.output_text == "Streamed gone" and streamed.usage is not None
    tools = [{"type": "function", **WEATHER["function"]}]
    waiting = client.responses.create(model=model, input="Weather?", tools=tools, store=False)  # type: ignore[arg-type]
    assert waiting.output[0].type == "function_call"
    for response in (plain, streamed, waiting):
        wait_for(lambda r=response: gone(client, r.id), what=f"{response.id} to be forgotten")  # type: ignore[misc]
        with pytest.raises(openai.NotFoundError):
            client.responses.input_items.list(response.id)
    # A stored response after them: its log row lands after any the unstored ones could have written.
    stored_one(client, tmp_server, upstream, 2)
    assert rows(tmp_server) == {table: 2 * count for table, count in one.items()}
    assert len(upstream.requests(model)) == 3


def test_unstored_response_cut_by_sigkill_is_deleted_not_resumed(tmp_server: LiveServer, upstream: Upstream) -> None:
    client = own_server(tmp_server, ASSISTANTD_RUN_LEASE_SECONDS="1")
    model = new_model()
    upstream.script(model, Reply(text=["half"], hang=True), Reply(text=["resumed"]))
    failures: list[Exception] = []

    def ask() -> None:
        try:
            client.responses.create(model=model, input="Private", store=False)
        except Exception as exc:  # the server dies under it
            failures.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    upstream.wait_requests(model, 1)
    assert db.count(tmp_server, "runs", "1 = 1") == 1
    tmp_server.kill()
    asker.join(30)
    assert failures and isinstance(failures[0], openai.APIConnectionError)
    tmp_server.start()
    empty = dict.fromkeys(TABLES, 0)
    wait_for(lambda: rows(tmp_server) == empty, what="the orphaned unstored response to be deleted")
    assert len(upstream.requests(model)) == 1  # deleted, not run again for nobody


def test_restart_sweeps_unstored_leftovers(tmp_server: LiveServer, upstream: Upstream) -> None:
    """A server that died between a response's end and its deletion leaves it; a start removes it."""
    client = own_server(tmp_server)
    model = new_model()
    upstream.script(model, Reply(text=["Left"]), Reply(text=["Kept"]))
    left = client.responses.create(model=model, input="Left behind")
    kept = client.responses.create(model=model, input="Stored")
    tmp_server.stop()
    # What a SIGKILL right after the run's end leaves: an unstored response, ended over a minute ago.
    if tmp_server.database_url:
        store_false = "jsonb_set(data, '{store}', 'false'::jsonb)"
        started = "jsonb_set(data, '{started_at}', to_jsonb(created_at - 3600))"
        run_aged = f"jsonb_set({started}, '{{completed_at}}', to_jsonb(created_at - 3600))"
    else:
        store_false = "json_set(data, '$.store', json('false'))"
        run_aged = "json_set(data, '$.started_at', created_at - 3600, '$.completed_at', created_at - 3600)"
    db.execute(
        tmp_server,
        f"UPDATE responses SET created_at = created_at - 3600, data = {store_false} WHERE id = :id",
        id=left.id,
    )
    run_of = "(SELECT run_id FROM responses WHERE id = :id)"
    db.execute(
        tmp_server, f"UPDATE runs SET data = {run_aged}, created_at = created_at - 3600 WHERE id = {run_of}", id=left.id
    )
    tmp_server.start()
    wait_for(lambda: gone(client, left.id), what="the leftover unstored response to be swept")
    assert client.responses.retrieve(kept.id).output_text == "Kept"
    assert rows(tmp_server) | {"upstream_requests": 0} == {
        "responses": 1,
        "threads": 1,
        "messages": 2,
        "runs": 1,
        "run_steps": 1,
        "upstream_requests": 0,
    }


def test_store_malformed(http: httpx.Client) -> None:
    answer = http.post("/responses", json={"model": "m", "input": "x", "store": "no"})
    assert answer.status_code == 400
    message = "Invalid type for 'store': expected a boolean, but got a string instead."
    assert_envelope(answer.json(), message, "store", "invalid_type")
