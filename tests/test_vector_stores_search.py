"""Search (filters, thresholds, limits), deletion, malformed input and tenant isolation."""

from __future__ import annotations

import io
from typing import Any

import httpx
import openai
import pytest

from assistantd.retrieval.index import keyword
from tests.retrieval_helpers import new_store, unique_word, upload, upload_doc, wait_store_idle
from tests.schema import assert_valid


@pytest.fixture(scope="module")
def catalogue(client: openai.OpenAI) -> dict[str, Any]:
    """A store of four documents with attributes, ingested once for the module."""
    word = unique_word()
    store = new_store(client, name="catalogue")
    docs = {
        "apple": (
            "apple.txt",
            f"{word} apples are red fruit grown in orchards",
            {"kind": "fruit", "price": 3},
        ),
        "banana": (
            "banana.md",
            f"{word} bananas are yellow fruit from the tropics",
            {"kind": "fruit", "price": 1},
        ),
        "carrot": (
            "carrot.txt",
            f"{word} carrots are orange vegetables grown underground",
            {"kind": "veg", "price": 2},
        ),
        "granite": (
            "granite.txt",
            "granite is an igneous rock used in kitchen counters",
            {"kind": "rock", "hard": True},
        ),
    }
    ids = {}
    for key, (name, text, attributes) in docs.items():
        file = upload(client, name, text.encode())
        client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id, attributes=attributes)
        ids[key] = file.id
    wait_store_idle(client, store.id)
    return {"store": store.id, "ids": ids, "word": word}


def _found(page: Any) -> list[str]:
    return [item.file_id for item in page.data]


def test_search_shape_and_ranking(client: openai.OpenAI, catalogue: dict[str, Any]) -> None:
    page = client.vector_stores.search(catalogue["store"], query="yellow bananas from the tropics")
    raw = page.model_dump(exclude_unset=True)
    assert_valid("VectorStoreSearchResultItem", raw["data"][0])
    first = page.data[0]
    assert first.file_id == catalogue["ids"]["banana"] and first.filename == "banana.md"
    assert first.attributes == {"kind": "fruit", "price": 1}
    assert first.content[0].type == "text" and "bananas" in first.content[0].text
    scores = [item.score for item in page.data]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_a_long_query_finds_what_its_words_describe(client: openai.OpenAI, catalogue: dict[str, Any]) -> None:
    # More words than a query keeps unconditionally: each word's postings are counted first (each
    # dialect has its own statement for that), then the rarest are searched.
    query = (
        "which igneous rock do kitchen counters use, granite or marble or quartz or slate, and why is it "
        "so hard to cut at home"
    )
    assert len(keyword.terms(query)) > keyword.KEEP_ALL
    page = client.vector_stores.search(catalogue["store"], query=query, rewrite_query=False)
    assert _found(page)[0] == catalogue["ids"]["granite"]


def test_a_long_query_keeps_its_rarest_words_within_the_budget() -> None:
    budget = keyword.POSTINGS_BUDGET
    words = [f"w{i}" for i in range(keyword.KEEP_ALL + 2)]
    postings = [budget // 2, 1, budget + 1, budget // 4, 0, budget // 5, budget + 1, budget // 3]
    postings += [budget + 1] * (len(words) - len(postings))
    # Rarest first: w4, w1, w5, w3, w7 fit in the budget together; w0 would pass it.
    assert keyword.kept(words, postings) == ["w1", "w3", "w4", "w5", "w7"]
    assert keyword.kept(words, [budget + 1] * len(words)) == ["w0"]  # at least one word, the first of equals
    short = words[: keyword.KEEP_ALL]
    assert keyword.kept(short, [budget + 1] * len(short)) == short  # a short query keeps every word


def test_search_page_envelope(http: httpx.Client, catalogue: dict[str, Any]) -> None:
    answer = http.post(f"/vector_stores/{catalogue['store']}/search", json={"query": ["granite rock", "apples"]})
    assert answer.status_code == 200
    body = answer.json()
    assert_valid("VectorStoreSearchResultsPage", body)
    assert body["object"] == "vector_store.search_results.page"
    assert body["search_query"] == ["granite rock", "apples"] and body["has_more"] is False
    found = {item["file_id"] for item in body["data"]}
    assert {catalogue["ids"]["granite"], catalogue["ids"]["apple"]} <= found


def test_max_num_results(client: openai.OpenAI, catalogue: dict[str, Any]) -> None:
    page = client.vector_stores.search(catalogue["store"], query=f"{catalogue['word']} fruit", max_num_results=2)
    assert len(page.data) == 2


def test_score_threshold_drops_weak_results(client: openai.OpenAI, catalogue: dict[str, Any]) -> None:
    everything = client.vector_stores.search(catalogue["store"], query="granite counters", max_num_results=50)
    assert len(everything.data) >= 2
    top = everything.data[0].score
    strict = client.vector_stores.search(
        catalogue["store"], query="granite counters", ranking_options={"score_threshold": top - 1e-6}
    )
    assert _found(strict) == [catalogue["ids"]["granite"]]
    assert all(item.score >= top - 1e-6 for item in strict.data)
    none = client.vector_stores.search(
        catalogue["store"], query="granite counters", ranking_options={"score_threshold": 1}
    )
    assert len(none.data) <= 1


def test_comparison_and_compound_filters(client: openai.OpenAI, catalogue: dict[str, Any]) -> None:
    ids, store, word = catalogue["ids"], catalogue["store"], catalogue["word"]
    fruit = client.vector_stores.search(store, query=word, filters={"type": "eq", "key": "kind", "value": "fruit"})
    assert set(_found(fruit)) == {ids["apple"], ids["banana"]}
    cheap = client.vector_stores.search(store, query=word, filters={"type": "lte", "key": "price", "value": 2})
    assert set(_found(cheap)) == {ids["banana"], ids["carrot"]}
    either = client.vector_stores.search(
        store,
        query=f"{word} granite",
        filters={
            "type": "or",
            "filters": [
                {
                    "type": "and",
                    "filters": [
                        {"type": "eq", "key": "kind", "value": "fruit"},
                        {"type": "gt", "key": "price", "value": 2},
                    ],
                },
                {"type": "eq", "key": "hard", "value": True},
            ],
        },
    )
    assert set(_found(either)) == {ids["apple"], ids["granite"]}
    listed = client.vector_stores.search(
        store, query=word, filters={"type": "in", "key": "kind", "value": ["veg", "rock"]}
    )
    assert set(_found(listed)) == {ids["carrot"], ids["granite"]}
    excluded = client.vector_stores.search(store, query=word, filters={"type": "ne", "key": "kind", "value": "fruit"})
    assert ids["apple"] not in _found(excluded) and ids["carrot"] in _found(excluded)


def test_update_attributes_changes_filtering(client: openai.OpenAI) -> None:
    store = new_store(client)
    word = unique_word()
    file = upload(client, "attr.txt", f"{word} attribute test".encode())
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id, attributes={"tier": "free"})
    updated = client.vector_stores.files.update(file_id=file.id, vector_store_id=store.id, attributes={"tier": "pro"})
    assert updated.attributes == {"tier": "pro"}
    assert (
        _found(
            client.vector_stores.search(store.id, query=word, filters={"type": "eq", "key": "tier", "value": "free"})
        )
        == []
    )
    assert _found(
        client.vector_stores.search(store.id, query=word, filters={"type": "eq", "key": "tier", "value": "pro"})
    ) == [file.id]


def test_rewrite_query(http: httpx.Client, catalogue: dict[str, Any]) -> None:
    body = http.post(
        f"/vector_stores/{catalogue['store']}/search",
        json={"query": "What are the rocks used in kitchens?", "rewrite_query": True},
    ).json()
    assert body["search_query"] == ["rocks used kitchens"]
    assert body["data"][0]["file_id"] == catalogue["ids"]["granite"]


def test_deleting_a_file_removes_it_everywhere(client: openai.OpenAI) -> None:
    word = unique_word()
    first, second = new_store(client), new_store(client)
    file = upload(client, "gone.txt", f"{word} ephemeral content".encode())
    for store in (first, second):
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
        assert _found(client.vector_stores.search(store.id, query=word)) == [file.id]
    client.files.delete(file.id)
    for store in (first, second):
        assert _found(client.vector_stores.search(store.id, query=word)) == []
        assert client.vector_stores.files.list(vector_store_id=store.id).data == []
        assert client.vector_stores.retrieve(store.id).file_counts.total == 0
        with pytest.raises(openai.NotFoundError) as caught:
            client.vector_stores.files.retrieve(file_id=file.id, vector_store_id=store.id)
        assert caught.value.body["message"] == (  # type: ignore[index]
            f"No file found with id '{file.id}' in vector store '{store.id}'."
        )


def test_detaching_keeps_the_file(client: openai.OpenAI) -> None:
    word = unique_word()
    store = new_store(client)
    file = upload(client, "kept.txt", f"{word} detached content".encode())
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
    deleted = client.vector_stores.files.delete(file_id=file.id, vector_store_id=store.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (file.id, "vector_store.file.deleted", True)
    assert _found(client.vector_stores.search(store.id, query=word)) == []
    assert client.files.retrieve(file.id).id == file.id
    # Re-attaching indexes it again.
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
    assert _found(client.vector_stores.search(store.id, query=word)) == [file.id]


def test_deleting_a_store_stops_search(client: openai.OpenAI) -> None:
    store = new_store(client)
    client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("s.txt", io.BytesIO(b"store bound")))
    client.vector_stores.delete(store.id)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search(store.id, query="store bound")


@pytest.mark.parametrize(
    ("path", "body", "message", "param"),
    [
        (
            "search",
            {"query": "x", "max_num_results": 0},
            "Invalid 'max_num_results': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "max_num_results",
        ),
        (
            "search",
            {"query": "x", "max_num_results": 51},
            "Invalid 'max_num_results': integer above maximum value. Expected a value <= 50, but got 51 instead.",
            "max_num_results",
        ),
        ("search", {}, "Missing required parameter: 'query'.", "query"),
        ("search", {"query": "  "}, "Invalid 'query': expected a non-empty string.", "query"),
        (
            "search",
            {"query": "x", "ranking_options": {"score_threshold": 1.5}},
            "Invalid 'ranking_options.score_threshold': decimal above maximum value. "
            "Expected a value <= 1, but got 1.5 "
            "instead.",
            "ranking_options.score_threshold",
        ),
        (
            "search",
            {"query": "x", "filters": {"type": "like", "key": "a", "value": "b"}},
            "Invalid value: 'like'. Supported values are: 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', and 'nin'.",
            "filters.type",
        ),
        (
            "files",
            {
                "file_id": "file-x",
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101},
                },
            },
            "Invalid 'chunking_strategy.static.chunk_overlap_tokens': must not exceed half "
            "of 'max_chunk_size_tokens' "
            "(100), but got 101 instead.",
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        (
            "files",
            {
                "file_id": "file-x",
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0},
                },
            },
            "Invalid 'chunking_strategy.static.max_chunk_size_tokens': integer below minimum "
            "value. Expected a value "
            ">= 100, but got 99 instead.",
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        ("files", {"file_id": "file-missing"}, "No file found with id 'file-missing'.", "file_id"),
        (
            "files",
            {"file_id": "file-x", "attributes": {f"k{n}": n for n in range(17)}},
            "Invalid 'attributes': too many properties. Expected an object with at most 16 "
            "properties, but got an "
            "object with 17 properties instead.",
            "attributes",
        ),
        (
            "file_batches",
            {"file_ids": []},
            "Invalid 'file_ids': array too short. Expected an array with minimum length 1, "
            "but got an array with "
            "length 0 instead.",
            "file_ids",
        ),
        (
            "file_batches",
            {"file_ids": ["file-missing"]},
            "No file found with id 'file-missing'.",
            "file_ids[0]",
        ),
    ],
)
def test_malformed_requests(
    http: httpx.Client, catalogue: dict[str, Any], path: str, body: dict[str, Any], message: str, param: str
) -> None:
    answer = http.post(f"/vector_stores/{catalogue['store']}/{path}", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["message"] == message
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_malformed_store_bodies(http: httpx.Client) -> None:
    bad_days = http.post("/vector_stores", json={"expires_after": {"anchor": "last_active_at", "days": 0}})
    assert bad_days.status_code == 400 and bad_days.json()["error"]["param"] == "expires_after.days"
    bad_anchor = http.post("/vector_stores", json={"expires_after": {"anchor": "created_at", "days": 1}})
    assert (
        bad_anchor.json()["error"]["message"] == "Invalid value: 'created_at'. Supported values are: 'last_active_at'."
    )
    both = http.post("/vector_stores/vs_missing/file_batches", json={"file_ids": ["a"], "files": [{"file_id": "a"}]})
    assert both.status_code == 400
    assert both.json()["error"]["message"] == "Invalid request: 'file_ids' and 'files' are mutually exclusive."
    neither = http.post("/vector_stores/vs_missing/file_batches", json={})
    assert neither.json()["error"]["message"] == "Missing required parameter: 'file_ids'."
    missing = http.get("/vector_stores/vs_missing")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No vector store found with id 'vs_missing'."
    bad_filter = http.get("/vector_stores/vs_missing/files", params={"filter": "done"})
    assert bad_filter.status_code == 400


def test_tenant_isolation(client: openai.OpenAI, other_client: openai.OpenAI, catalogue: dict[str, Any]) -> None:
    store = catalogue["store"]
    with pytest.raises(openai.NotFoundError):
        other_client.vector_stores.retrieve(store)
    with pytest.raises(openai.NotFoundError):
        other_client.vector_stores.search(store, query="apples")
    with pytest.raises(openai.NotFoundError):
        other_client.vector_stores.files.list(vector_store_id=store)
    with pytest.raises(openai.NotFoundError):
        other_client.vector_stores.delete(store)
    assert store not in [s.id for s in other_client.vector_stores.list(limit=100).data]
    theirs = new_store(other_client)
    with pytest.raises(openai.BadRequestError) as caught:
        other_client.vector_stores.files.create(vector_store_id=theirs.id, file_id=catalogue["ids"]["apple"])
    assert caught.value.body["message"] == f"No file found with id '{catalogue['ids']['apple']}'."  # type: ignore[index]
    assert client.vector_stores.retrieve(store).id == store


def test_thread_attachments_build_the_thread_store(client: openai.OpenAI) -> None:
    word = unique_word()
    first = upload_doc(client, "md", f"{word} first attachment")
    second = upload_doc(client, "txt", f"{word} second attachment")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "read this",
                "attachments": [{"file_id": first.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    assert thread.tool_resources is not None and thread.tool_resources.file_search is not None
    (store_id,) = thread.tool_resources.file_search.vector_store_ids or []
    store = wait_store_idle(client, store_id)
    assert store.file_counts.completed == 1
    assert store.expires_after is not None and store.expires_after.days == 7
    client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="and this",
        attachments=[{"file_id": second.id, "tools": [{"type": "file_search"}]}],
    )
    again = client.beta.threads.retrieve(thread.id)
    assert again.tool_resources.file_search.vector_store_ids == [store_id]  # type: ignore[union-attr]
    store = wait_store_idle(client, store_id)
    assert store.file_counts.completed == 2
    assert set(_found(client.vector_stores.search(store_id, query=word))) == {first.id, second.id}
    csv = upload(client, "x.csv", b"a,b")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="csv",
            attachments=[{"file_id": csv.id, "tools": [{"type": "file_search"}]}],
        )
    assert caught.value.body["code"] == "unsupported_file"  # type: ignore[index]


def test_inline_vector_store_helpers(client: openai.OpenAI) -> None:
    word = unique_word()
    file = upload_doc(client, "txt", f"{word} inline helper")
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [file.id], "metadata": {"made": "inline"}}]}},
    )
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr,misc]
    store = wait_store_idle(client, store_id)
    assert store.metadata == {"made": "inline"} and store.file_counts.completed == 1
    assert _found(client.vector_stores.search(store_id, query=word)) == [file.id]
    thread = client.beta.threads.create(
        tool_resources={
            "file_search": {
                "vector_stores": [
                    {
                        "file_ids": [file.id],
                        "chunking_strategy": {
                            "type": "static",
                            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
                        },
                    }
                ]
            }
        }
    )
    (thread_store,) = thread.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr,misc]
    assert wait_store_idle(client, thread_store).file_counts.completed == 1
    vs_file = client.vector_stores.files.retrieve(file_id=file.id, vector_store_id=thread_store)
    assert vs_file.chunking_strategy.static.max_chunk_size_tokens == 100  # type: ignore[union-attr]
