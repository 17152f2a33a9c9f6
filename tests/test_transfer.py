"""Moving data: ``assistantd export`` / ``import`` (archives and OpenAI dumps), ``backup`` / ``restore``.

Every check reads through the API with the official SDK: what one deployment answers, the one that
imported it answers too, object by object.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.checks import cli, wire
from tests.conftest import API_KEYS, KEY_A, KEY_B, upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.runhelp import WEATHER, new_model, wait_status
from tests.s3 import MotoS3, blob_ids
from tests.server import POSTGRES_ADMIN_URL, LiveServer, drop_database
from tests.upstream import Reply, Upstream

README = Path(__file__).resolve().parent.parent / "README.md"
ARCHIVE_V0 = Path(__file__).resolve().parent / "data" / "archive-v0"
WORD = "zqtransferlighthouse"


def _server(
    root: Path,
    upstream: Upstream,
    embeddings: EmbeddingsUpstream,
    postgres: bool,
    env: dict[str, str],
    start: bool = True,
) -> LiveServer:
    live = LiveServer(
        root,
        env={
            "ASSISTANTD_API_KEYS": API_KEYS,
            **upstream_env(upstream),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings.url,
            **env,
        },
    )
    if live.database_url and not postgres:  # this server is the SQLite end of a move
        drop_database(live.database_url)
        live.database_url = None
        del live.env["ASSISTANTD_DATABASE_URL"]
    if start:
        live.start()
    return live


def _client(server: LiveServer, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def servers(tmp_path: Path, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream) -> Iterator[Any]:
    started: list[LiveServer] = []

    def start(name: str, postgres: bool = True, **env: str) -> LiveServer:
        """On PostgreSQL when the suite runs on it (ASSISTANTD_TEST_POSTGRES) and ``postgres``, else SQLite."""
        started.append(_server(tmp_path / name, upstream, embeddings_upstream, postgres, env))
        return started[-1]

    yield start
    for live in started:
        live.close()


def _run(client: openai.OpenAI, upstream: Upstream, assistant_id: str, thread_id: str) -> None:
    """A run with a function call and its output: a tool-calls step and a message-creation step."""
    model = client.beta.assistants.retrieve(assistant_id).model
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]), Reply(text=["Sunny", "."]))
    run = client.beta.threads.runs.create(thread_id, assistant_id=assistant_id)
    run = wait_status(client, thread_id, run.id, {"requires_action"})
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}]
    )
    wait_status(client, thread_id, run.id)


def _populate(client: openai.OpenAI, upstream: Upstream) -> list[str]:
    """Objects of every kind; the thread ids (the API lists no threads)."""
    store = client.vector_stores.create(name="manuals", metadata={"team": "ops"})
    text = f"The {WORD} keeper polishes the lenses. Refunds take 30 days."
    attached = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("manual.md", io.BytesIO(text.encode()))
    )
    assert attached.status == "completed"
    client.files.create(file=("data.bin", io.BytesIO(bytes(range(256)) * 40)), purpose="assistants")
    assistant = client.beta.assistants.create(
        model=new_model(),
        name="keeper",
        instructions="Be brief.",
        tools=[WEATHER, {"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        metadata={"k": "v"},
    )
    threads = []
    for n in range(2):
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": f"weather {n}?"}], metadata={"n": str(n)}
        )
        _run(client, upstream, assistant.id, thread.id)
        threads.append(thread.id)
    return threads


def _respond(client: openai.OpenAI, upstream: Upstream) -> tuple[str, str]:
    """A conversation with a stored response in it: their ids."""
    model = new_model()
    upstream.script(model, Reply(text=["Noted", "."]))
    conversation = client.conversations.create(metadata={"topic": "moving"}, items=[{"role": "user", "content": "Hi"}])
    response = client.responses.create(model=model, input="Remember this.", conversation=conversation.id)
    return conversation.id, response.id


def _responses(client: openai.OpenAI, conversation_id: str, response_id: str) -> dict[str, Any]:
    return {
        "conversation": wire(client.conversations.retrieve(conversation_id)),
        "items": [wire(i) for i in client.conversations.items.list(conversation_id, order="asc")],
        "response": wire(client.responses.retrieve(response_id)),
        "input": [wire(i) for i in client.responses.input_items.list(response_id, order="asc")],
    }


def _snapshot(client: openai.OpenAI, thread_ids: list[str]) -> dict[str, Any]:
    shot: dict[str, Any] = {
        "assistants": [wire(a) for a in client.beta.assistants.list(order="asc")],
        "files": [wire(f) for f in client.files.list(order="asc")],
        "threads": [wire(client.beta.threads.retrieve(t)) for t in thread_ids],
    }
    shot["content"] = {f["id"]: client.files.content(f["id"]).content for f in shot["files"]}
    for thread_id in thread_ids:
        shot[thread_id] = [wire(m) for m in client.beta.threads.messages.list(thread_id, order="asc")]
        runs = [wire(r) for r in client.beta.threads.runs.list(thread_id, order="asc")]
        shot[f"runs {thread_id}"] = runs
        for run in runs:
            steps = client.beta.threads.runs.steps.list(run["id"], thread_id=thread_id, order="asc")
            shot[f"steps {run['id']}"] = [wire(s) for s in steps]
    stores = [wire(s) for s in client.vector_stores.list(order="asc")]
    for store in stores:
        store.pop("last_active_at")  # a search touches it
        shot[f"store files {store['id']}"] = [wire(f) for f in client.vector_stores.files.list(store["id"])]
        found = client.vector_stores.search(store["id"], query=f"who polishes the lenses {WORD}")
        shot[f"search {store['id']}"] = [wire(r) for r in found]
    shot["stores"] = stores
    return shot


def differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, by path (a readable failure, where ``==`` prints truncated dicts). A
    key set to null and a key left out read the same: the SDK's ``model_dump`` writes every field it
    models, null where the server sent none, as OpenAI's own objects carry them."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [
            d for key in sorted(set(got) | set(want)) for d in differences(got.get(key), want.get(key), f"{path}.{key}")
        ]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in differences(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def _move(source: LiveServer, target: LiveServer, archive: Path, *extra: str) -> str:
    """Export from one server and import into the other, both running; what the import printed."""
    exported = cli(source, "export", *extra, str(archive))
    assert exported.returncode == 0, exported.stderr
    imported = cli(target, "import", str(archive))
    assert imported.returncode == 0, imported.stderr
    return imported.stdout + imported.stderr


def test_sqlite_to_postgresql_to_sqlite_keeps_every_object(
    servers: Any, upstream: Upstream, tmp_path: Path, s3: MotoS3
) -> None:
    """The middle deployment is PostgreSQL when the suite has one (ASSISTANTD_TEST_POSTGRES), else SQLite,
    with its files in a bucket (S3 on loopback); the last one imports its archive twice."""
    first = servers("first", postgres=False)
    threads = _populate(_client(first), upstream)
    other = _client(first, KEY_B).beta.assistants.create(model="m", name="beta's")
    conversation = _respond(_client(first), upstream)
    before = _snapshot(_client(first), threads) | _responses(_client(first), *conversation)
    assert before["runs " + threads[0]][0]["status"] == "completed"
    assert len(before["steps " + before["runs " + threads[0]][0]["id"]]) == 2
    assert before["search " + before["stores"][0]["id"]]

    middle = servers("middle", **s3.bucket().env())
    _move(first, middle, tmp_path / "one.tar.gz")
    assert {f["id"] for f in before["files"]} <= blob_ids(middle)  # the bytes went to the bucket
    assert _snapshot(_client(middle), threads) | _responses(_client(middle), *conversation) == before
    assert wire(_client(middle, KEY_B).beta.assistants.retrieve(other.id)) == wire(other)

    last = servers("last", postgres=False)
    _move(middle, last, tmp_path / "two.tar")
    again = cli(last, "import", str(tmp_path / "two.tar"))  # twice is once
    assert again.returncode == 0, again.stderr
    assert _snapshot(_client(last), threads) | _responses(_client(last), *conversation) == before
    assert len(_client(last, KEY_B).beta.assistants.list().data) == 1

    # Another embedder here: the chunks are embedded again (the fake upstream's vectors do not depend on
    # the model's name, so the searches find what they found).
    only = servers("only-alpha", ASSISTANTD_EMBEDDING_MODEL="text-embedding-3-large")
    moved = _move(last, only, tmp_path / "alpha.tar", "--project", "alpha")
    assert "re-embedding" in moved and "-> openai:text-embedding-3-large" in moved
    assert _snapshot(_client(only), threads) | _responses(_client(only), *conversation) == before
    with pytest.raises(openai.NotFoundError):
        _client(only, KEY_B).beta.assistants.retrieve(other.id)


def test_an_archive_of_format_0_and_schema_0007_is_upgraded(servers: Any, tmp_path: Path) -> None:
    archive = tmp_path / "v0.tar"
    with tarfile.open(archive, "w") as tar:  # the manifest first, then the members in the order written
        for name in [
            "manifest.json",
            "blobs",
            "assistants.jsonl",
            "files.jsonl",
            "threads.jsonl",
            "messages.jsonl",
            "vector_stores.jsonl",
            "vector_store_files.jsonl",
            "chunks.jsonl",
        ]:
            tar.add(ARCHIVE_V0 / name, arcname=name)
    target = servers("target")
    for _ in range(2):
        done = cli(target, "import", "--project", "alpha", str(archive))
        assert done.returncode == 0, done.stderr
    client = _client(target)
    assert client.beta.assistants.retrieve("asst_v0archive000000000001").metadata == {"era": "v0"}
    messages = client.beta.threads.messages.list("thread_v0archive000000000001")
    assert [m.id for m in messages] == ["msg_v0archive000000000001"]
    content = client.files.content("file-v0archive0000000000001").text
    assert content.startswith("Lighthouse keepers")
    store = wire(client.vector_stores.retrieve("vs_v0archive000000000001"))
    assert "_embedder" not in store and store["file_counts"]["completed"] == 1
    attached = wire(client.vector_stores.files.retrieve("file-v0archive0000000000001", vector_store_id=store["id"]))
    assert "_job" not in attached and attached["status"] == "completed"
    hits = client.vector_stores.search(store["id"], query="who polishes the brass lenses")
    assert [h.file_id for h in hits] == ["file-v0archive0000000000001"]
    assert hits.data[0].content[0].text.startswith("Lighthouse keepers")


def _archive_rows(archive: Path, *kinds: str) -> dict[str, list[dict[str, Any]]]:
    with tarfile.open(archive) as tar:
        return {kind: [json.loads(line) for line in tar.extractfile(f"{kind}.jsonl") or []] for kind in kinds}


def _dump_script() -> str:
    found = re.search(r"```python\n(# dump\.py:.*?)```", README.read_text(), re.S)
    assert found, "the README's dump script (a python block beginning '# dump.py:')"
    return found.group(1)


def test_a_dump_made_with_the_readme_script_imports_with_openai_ids(
    servers: Any, upstream: Upstream, tmp_path: Path
) -> None:
    source = servers("openai")
    client = _client(source)
    threads = _populate(client, upstream)
    before = _snapshot(client, threads)
    script = tmp_path / "dump.py"
    script.write_text(_dump_script())
    (tmp_path / "thread_ids.txt").write_text("\n".join(threads))
    env = {"OPENAI_BASE_URL": f"{source.url}/v1", "OPENAI_API_KEY": KEY_A, "PATH": "/usr/bin:/bin"}
    dumped = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "dump"), str(tmp_path / "thread_ids.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dumped.returncode == 0, dumped.stderr
    target = servers("fresh")
    imported = cli(target, "import", "--project", "alpha", str(tmp_path / "dump"))
    assert imported.returncode == 0, imported.stderr
    assert "ingested 1/1 vector store files" in imported.stderr
    after = _snapshot(_client(target), threads)
    # Ingested again here: the same chunks, found the same way; only the usage is this deployment's.
    for shot in (before, after):
        for store in shot["stores"]:
            store.pop("usage_bytes")
            for attached in shot[f"store files {store['id']}"]:
                attached.pop("usage_bytes")
                attached.pop("created_at")
    assert differences(after, before) == []


def test_a_backup_taken_while_the_server_writes_restores(servers: Any, upstream: Upstream, tmp_path: Path) -> None:
    """The backup, and an export, each taken while threads with messages are being made: each is one
    moment of the deployment (no message whose thread it lacks)."""
    source = servers("live", postgres=False)
    client = _client(source)
    threads = _populate(client, upstream)
    writing = threading.Event()
    stop = threading.Event()

    def keep_writing() -> None:
        writer = _client(source, KEY_B)
        while not stop.is_set():
            writer.beta.assistants.create(model="m", name="while backing up")
            writer.beta.threads.create(messages=[{"role": "user", "content": "made while copying"}])
            writing.set()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        writing.wait(30)
        before = _snapshot(client, threads)
        done = cli(source, "backup", str(tmp_path / "backup"))
        assert done.returncode == 0, done.stderr
        exported = cli(source, "export", str(tmp_path / "during.tar"))
        assert exported.returncode == 0, exported.stderr
    finally:
        stop.set()
        thread.join()
    kinds = _archive_rows(tmp_path / "during.tar", "threads", "messages")
    assert {m["thread_id"] for m in kinds["messages"]} <= {t["id"] for t in kinds["threads"]}
    target = servers("restored", postgres=False)
    target.stop()
    refused = cli(target, "restore", str(tmp_path / "backup"))
    assert refused.returncode == 1 and "pass --force" in refused.stderr
    restored = cli(target, "restore", "--force", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr
    target.start()
    assert _snapshot(_client(target), threads) == before
    assert _client(target, KEY_B).beta.assistants.list(limit=1).data  # the writes before the copy are in it


def test_what_is_not_an_archive_is_said_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "ASSISTANTD_DATA_DIR": str(tmp_path / "data")}
    env.pop("ASSISTANTD_DATABASE_URL", None)
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    newer = tmp_path / "newer.tar"
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "assistantd-export", "version": 99}))
    with tarfile.open(newer, "w") as tar:
        tar.add(tmp_path / "manifest.json", arcname="manifest.json")
    cases = {
        "junk.tar": "assistantd import: " + str(tmp_path / "junk.tar") + " is not an assistantd archive",
        "newer.tar": "assistantd import: the archive is format version 99; this assistantd reads versions 0 to 1",
        "missing.tar": "assistantd import: [Errno 2] No such file or directory",
    }
    for name, message in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "assistantd", "import", str(tmp_path / name)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1 and done.stderr.splitlines()[-1].startswith(message), done.stderr
        assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "assistantd", "restore", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "holds no assistantd.db: not a backup" in done.stderr, done.stderr
    on_postgres = {**env, "ASSISTANTD_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run(
        [sys.executable, "-m", "assistantd", "backup", str(tmp_path / "copy")],
        env=on_postgres,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert (
        done.stderr
        == "assistantd backup: the database is PostgreSQL: back it up with pg_dump (see the README's Deploying)\n"
    )


@pytest.mark.skipif(
    not POSTGRES_ADMIN_URL or not shutil.which("pg_dump"),
    reason="the pg_dump path needs PostgreSQL (ASSISTANTD_TEST_POSTGRES) and its client tools",
)
def test_the_readme_pg_dump_path_restores(
    servers: Any, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream, tmp_path: Path, s3: MotoS3
) -> None:
    bucket = s3.bucket().env()  # the bytes stay in the bucket; the database is what pg_dump moves
    source = servers("pg-source", **bucket)
    threads = _populate(_client(source), upstream)
    before = _snapshot(_client(source), threads)
    assert source.database_url
    dump = tmp_path / "assistantd.dump"
    subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), source.database_url], check=True, timeout=120)
    target = _server(tmp_path / "pg-target", upstream, embeddings_upstream, True, bucket, start=False)
    try:
        assert target.database_url
        restore = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname", target.database_url, str(dump)]
        subprocess.run(restore, check=True, timeout=120)
        target.start()
        assert _snapshot(_client(target), threads) == before
    finally:
        target.close()


ADMIN_KEY = "sk-admin-transfer"


def _deployment(server: LiveServer, project_id: str) -> dict[str, Any]:
    """What the Admin API says of a project: its row, service accounts, API keys and rate limits."""
    with httpx.Client(base_url=f"{server.url}/v1", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        base = f"/organization/projects/{project_id}"
        found = {path: admin.get(base + path) for path in ("", "/service_accounts", "/api_keys", "/rate_limits")}
    assert all(answer.status_code == 200 for answer in found.values()), {p: a.text for p, a in found.items()}
    return {path: answer.json() for path, answer in found.items()}


def _members(archive: Path) -> dict[str, list[dict[str, Any]]]:
    with tarfile.open(archive) as tar:
        return {
            m.name.removesuffix(".jsonl"): [json.loads(line) for line in tar.extractfile(m).read().splitlines()]  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.name.endswith(".jsonl")
        }


def test_a_project_moves_with_its_accounts_keys_and_limits(servers: Any, tmp_path: Path) -> None:
    """A project made through the Admin API travels with its archive: its row, service accounts, API
    keys (the key a client holds works on the other side) and rate limits; importing twice is once."""
    source = servers("source", ASSISTANTD_ADMIN_KEYS=ADMIN_KEY)
    with httpx.Client(base_url=f"{source.url}/v1", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        project = admin.post("/organization/projects", json={"name": "Shop"}).json()
        made = admin.post(f"/organization/projects/{project['id']}/service_accounts", json={"name": "App"})
        limit = admin.post(
            f"/organization/projects/{project['id']}/rate_limits/rl-default", json={"max_requests_per_1_minute": 900}
        )
    assert made.status_code == 200 and limit.status_code == 200, (made.text, limit.text)
    key = made.json()["api_key"]["value"]
    mine = _client(source, key).beta.assistants.create(model="m", name="shop's")
    before = _deployment(source, project["id"])
    assert before["/rate_limits"]["data"] and before["/api_keys"]["data"]

    archive = tmp_path / "shop.tar"
    exported = cli(source, "export", "--project", project["id"], str(archive))
    assert exported.returncode == 0, exported.stderr
    members = _members(archive)
    assert [row["id"] for row in members["projects"]] == [project["id"]]
    assert [row["id"] for row in members["service_accounts"]] == [made.json()["id"]]
    assert len(members["api_keys"]) == 1 and len(members["rate_limits"]) == 1
    assert members["admin_api_keys"] == [] and {r["project"] for r in members["assistants"]} == {project["id"]}

    target = servers("target", ASSISTANTD_ADMIN_KEYS=ADMIN_KEY)
    for _ in range(2):  # twice is once
        imported = cli(target, "import", str(archive))
        assert imported.returncode == 0, imported.stderr
        assert _deployment(target, project["id"]) == before
        assert [a.id for a in _client(target, key).beta.assistants.list().data] == [mine.id]
