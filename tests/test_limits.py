"""Limits per project and per key, on a server of two worker processes sharing one SQLite file.

Requests per minute are counted across both workers (fresh connections land on either), and the answer
past a limit is OpenAI's: 429 ``rate_limit_exceeded`` with ``x-ratelimit-*`` and ``retry-after``, which
the SDK surfaces as ``RateLimitError``; storage past its quota is 403 ``quota_exceeded``. Tokens per
minute are charged as runs use them: the run that goes past finishes, the next is refused. The Admin
API lists and modifies the limits as ``project.rate_limit`` objects, for admin keys only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.conftest import upstream_env
from tests.runhelp import assistant, new_model, thread_with, wait_status
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

ADMIN = "sk-admin-limits"
KEYS = {name: f"sk-limits-{name}" for name in ("alpha", "beta", "gamma", "delta", "zeta", "eta", "theta", "iota")}
DEFAULT_RPM = 6
# OpenAI's reset format: Go durations such as 20ms, 1s, 7.66s, 6m0s.
DURATION = re.compile(r"^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$")
RATE_MESSAGE = re.compile(
    r"^Rate limit reached in (project|key) \S+ on (requests per min \(RPM\)|tokens per min \(TPM\)|concurrent runs): "
    r"Limit \d+, Used \d+, Requested 1\. Please try again"
)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("limits"),
        env={
            **upstream_env(upstream),
            "ASSISTANTD_API_KEYS": ",".join(f"{key}={project}" for project, key in KEYS.items()),
            "ASSISTANTD_ADMIN_KEYS": f"sk-other-admin,{ADMIN}",
            "ASSISTANTD_LIMIT_RPM": str(DEFAULT_RPM),
        },
        workers=2,
    )
    live.start()
    yield live
    live.close()


def admin(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/v1", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


def set_limits(server: LiveServer, project: str, limit_id: str = "rl-default", **values: int) -> dict[str, object]:
    with admin(server) as http:
        answer = http.post(f"/organization/projects/{project}/rate_limits/{limit_id}", json=values)
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


def fresh_get(server: LiveServer, project: str, path: str = "/v1/assistants") -> httpx.Response:
    """A request on a connection of its own, so the two workers share the traffic."""
    return httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {KEYS[project]}"}, timeout=30)


def client_of(server: LiveServer, project: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEYS[project], max_retries=0)


def assert_refusal(answer: httpx.Response, kind: str = "requests") -> None:
    assert answer.status_code == 429
    error = answer.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == kind and error["param"] is None
    assert RATE_MESSAGE.match(error["message"]), error["message"]
    assert int(answer.headers["retry-after"]) >= 1
    if kind != "runs":
        assert answer.headers[f"x-ratelimit-remaining-{kind}"] == "0"
        assert DURATION.match(answer.headers[f"x-ratelimit-reset-{kind}"]), answer.headers


def test_requests_past_the_default_rpm_are_refused_across_both_workers(limited: LiveServer) -> None:
    answers = [fresh_get(limited, "alpha") for _ in range(2 * DEFAULT_RPM)]
    passed = [a for a in answers if a.status_code == 200]
    # One permit comes back every 10 s: a slow machine may let a seventh through, never more.
    assert DEFAULT_RPM <= len(passed) <= DEFAULT_RPM + 1, [a.status_code for a in answers]
    assert all(a.status_code == 429 for a in answers[len(passed) :])
    first = passed[0].headers
    assert first["x-ratelimit-limit-requests"] == str(DEFAULT_RPM)
    assert int(first["x-ratelimit-remaining-requests"]) < DEFAULT_RPM
    assert DURATION.match(first["x-ratelimit-reset-requests"])
    refused = answers[-1]
    assert_refusal(refused)
    assert refused.headers["x-ratelimit-limit-requests"] == str(DEFAULT_RPM)
    assert refused.json()["error"]["message"].startswith(
        f"Rate limit reached in project alpha on requests per min (RPM): Limit {DEFAULT_RPM}, Used {DEFAULT_RPM}"
    )
    # Another project has its own bucket; /health counts for nobody.
    assert fresh_get(limited, "beta").status_code == 200
    assert httpx.get(f"{limited.url}/health").status_code == 200


def test_the_sdk_raises_rate_limit_error_with_the_headers(limited: LiveServer) -> None:
    client = client_of(limited, "beta")
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(2 * DEFAULT_RPM):
            client.beta.assistants.list()
    error = refused.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded" and error.type == "requests"
    assert error.response.headers["x-ratelimit-limit-requests"] == str(DEFAULT_RPM)
    assert int(error.response.headers["retry-after"]) >= 1


def test_a_key_has_limits_of_its_own_within_its_project(limited: LiveServer) -> None:
    key = key_of("zeta")
    made = set_limits(limited, "zeta", f"rl-{key}", max_requests_per_1_minute=2)
    assert made["id"] == f"rl-{key}" and made["max_requests_per_1_minute"] == 2
    answers = [fresh_get(limited, "zeta") for _ in range(4)]
    assert [a.status_code for a in answers][:2] == [200, 200] and answers[-1].status_code == 429
    assert_refusal(answers[-1])
    assert f"in key {key} on requests per min" in answers[-1].json()["error"]["message"]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "2"  # the tighter of key and project


def test_the_admin_api_lists_and_modifies_project_rate_limits(limited: LiveServer) -> None:
    with admin(limited) as http:
        listed = http.get("/organization/projects/gamma/rate_limits").json()
        assert listed["object"] == "list" and listed["has_more"] is False
        assert listed["first_id"] == listed["last_id"] == "rl-default"
        assert listed["data"] == [
            {
                "object": "project.rate_limit",
                "id": "rl-default",
                "model": "*",
                "max_requests_per_1_minute": DEFAULT_RPM,
                "max_tokens_per_1_minute": 0,
                "max_concurrent_runs": 0,
                "max_storage_bytes": 0,
            }
        ]
        changed = http.post(
            "/organization/projects/gamma/rate_limits/rl-default", json={"max_requests_per_1_minute": 1000}
        ).json()
        assert changed["max_requests_per_1_minute"] == 1000 and changed["max_tokens_per_1_minute"] == 0
        assert http.get("/organization/projects/gamma/rate_limits").json()["data"][0] == changed
        default = "/organization/projects/gamma/rate_limits/rl-default"
        back = http.post(default, json={"max_requests_per_1_minute": None})
        assert back.json()["max_requests_per_1_minute"] == DEFAULT_RPM


def test_the_admin_api_refuses_project_keys_and_bad_bodies(limited: LiveServer) -> None:
    url = f"{limited.url}/v1/organization/projects/gamma/rate_limits"
    no_key = httpx.get(url)
    assert no_key.status_code == 401 and "You didn't provide an API key" in no_key.json()["error"]["message"]
    project_key = httpx.get(url, headers={"Authorization": f"Bearer {KEYS['gamma']}"})
    assert project_key.status_code == 401
    assert project_key.json()["error"]["code"] == "insufficient_permissions"
    with admin(limited) as http:
        unknown = http.post("/organization/projects/gamma/rate_limits/rl-gpt-4o", json={"max_requests_per_1_minute": 1})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "No rate limit found with id 'rl-gpt-4o'."
        images = http.post("/organization/projects/gamma/rate_limits/rl-default", json={"max_images_per_1_minute": 5})
        assert images.status_code == 400 and images.json()["error"]["param"] == "max_images_per_1_minute"
        assert images.json()["error"]["message"] == (
            "'max_images_per_1_minute' is not supported: limits here hold per project, not per model."
        )
        default = "/organization/projects/gamma/rate_limits/rl-default"
        negative = http.post(default, json={"max_tokens_per_1_minute": -1})
        assert negative.status_code == 400 and negative.json()["error"]["type"] == "invalid_request_error"
        assert "max_tokens_per_1_minute" in negative.json()["error"]["message"]


def key_of(project: str) -> str:
    return "key_" + hashlib.sha256(KEYS[project].encode()).hexdigest()[:24]


@pytest.mark.parametrize("whose", ["project", "key"])
def test_concurrent_runs_past_the_limit_are_refused(limited: LiveServer, upstream: Upstream, whose: str) -> None:
    project = "delta" if whose == "project" else "iota"
    set_limits(limited, project, max_requests_per_1_minute=1000)
    limit_id = "rl-default" if whose == "project" else f"rl-{key_of(project)}"
    set_limits(limited, project, limit_id, max_concurrent_runs=1)
    client = client_of(limited, project)
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("lookup", "{}")]))
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    asst = assistant(client, model, tools=[tool])
    waiting = client.beta.threads.runs.create(thread_id=thread_with(client, "one").id, assistant_id=asst.id)
    run = wait_status(client, waiting.thread_id, waiting.id, {"requires_action"})
    assert run.status == "requires_action"
    with pytest.raises(openai.RateLimitError) as refused:
        client.beta.threads.runs.create(thread_id=thread_with(client, "two").id, assistant_id=asst.id)
    assert refused.value.code == "rate_limit_exceeded"
    label = f"project {project}" if whose == "project" else f"key {key_of(project)}"
    assert f"in {label} on concurrent runs: Limit 1, Used 1, Requested 1." in refused.value.message
    client.beta.threads.runs.cancel(thread_id=waiting.thread_id, run_id=waiting.id)
    wait_status(client, waiting.thread_id, waiting.id)
    second = client.beta.threads.runs.create(thread_id=thread_with(client, "three").id, assistant_id=asst.id)
    assert second.status == "queued"


def test_tokens_are_charged_as_runs_use_them_and_then_refused(limited: LiveServer, upstream: Upstream) -> None:
    set_limits(limited, "eta", max_requests_per_1_minute=1000, max_tokens_per_1_minute=20)
    client = client_of(limited, "eta")
    asst = assistant(client, new_model())
    thread = thread_with(client, "a question long enough to spend the whole minute's tokens " * 3)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=50)
    assert run.status == "completed" and run.usage is not None and run.usage.total_tokens > 20  # past it, finished
    with httpx.Client(base_url=f"{limited.url}/v1", headers={"Authorization": f"Bearer {KEYS['eta']}"}) as http:
        for _ in range(50):  # the charge is written in the background, just after the model call
            refused = http.post(f"/threads/{thread.id}/runs", json={"assistant_id": asst.id})
            if refused.status_code == 429:
                break
            wait_status(client, thread.id, refused.json()["id"])
        assert_refusal(refused, "tokens")
        response = http.post("/responses", json={"model": asst.model, "input": "hi"})  # model work too
        assert_refusal(response, "tokens")
    assert refused.headers["x-ratelimit-limit-tokens"] == "20"
    assert "on tokens per min (TPM): Limit 20, Used" in refused.json()["error"]["message"]
    assert fresh_get(limited, "eta").status_code == 200  # reads need no tokens


def test_storage_past_the_quota_is_403_quota_exceeded(limited: LiveServer) -> None:
    set_limits(limited, "theta", max_requests_per_1_minute=1000, max_storage_bytes=100)
    client = client_of(limited, "theta")
    first = client.files.create(file=("a.txt", b"x" * 40), purpose="assistants")
    assert first.bytes == 40
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.files.create(file=("b.txt", b"y" * 80), purpose="assistants")
    error = refused.value
    assert error.status_code == 403 and error.code == "quota_exceeded"
    assert error.body["message"].startswith(  # type: ignore[index]
        "You have exceeded your file storage quota. Project theta is limited to 100 bytes"
    )
    client.files.delete(first.id)
    assert client.files.create(file=("b.txt", b"y" * 80), purpose="assistants").bytes == 80


def redis_url() -> str | None:
    """The Redis on this machine (``ASSISTANTD_TEST_REDIS``, default the local one), when it answers."""
    url = os.environ.get("ASSISTANTD_TEST_REDIS", "redis://127.0.0.1:6379/0")
    try:
        with socket.create_connection((urlsplit(url).hostname or "", urlsplit(url).port or 6379), timeout=1):
            return url
    except OSError:
        return None


def test_replicas_without_a_shared_database_count_together_in_redis(tmp_path: Path, upstream: Upstream) -> None:
    url = redis_url()
    if url is None:
        pytest.skip("no Redis answers at ASSISTANTD_TEST_REDIS (default redis://127.0.0.1:6379/0)")
    project, key = "redis-" + secrets.token_hex(4), "sk-redis-" + secrets.token_hex(8)  # buckets outlive runs
    env = {**upstream_env(upstream), "ASSISTANTD_API_KEYS": f"{key}={project}", "ASSISTANTD_LIMIT_RPM": "4"}
    replicas = [LiveServer(tmp_path / name, env={**env, "ASSISTANTD_LIMITS_URL": url}) for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.start()
        answers = [
            httpx.get(f"{replicas[i % 2].url}/v1/assistants", headers={"Authorization": f"Bearer {key}"})
            for i in range(8)
        ]
        statuses = [a.status_code for a in answers]
        assert statuses.count(200) in (4, 5) and statuses[-1] == 429, statuses  # a fifth: a refill after 15 s
        assert_refusal(answers[-1])
    finally:
        for replica in replicas:
            replica.close()

