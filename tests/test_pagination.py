"""Cursor pages walked by the SDK: no repeats, no gaps, both orders, cursors, ties in ``created_at``."""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

import openai
import pytest

from tests.checks import new_project_client, valid_list
from tests.server import LiveServer


@pytest.fixture(scope="module")
def fresh(server: LiveServer) -> openai.OpenAI:
    """A project with nothing in it, so a walk's expected result is known exactly."""
    return new_project_client(server, "pages-" + secrets.token_hex(4))


@pytest.fixture(scope="module")
def tied(fresh: openai.OpenAI) -> list[Any]:
    """Assistants created back to back until several share one ``created_at`` second."""
    made: list[Any] = []
    while len(made) < 200:
        made.append(fresh.beta.assistants.create(model="m", name=f"a{len(made)}"))
        if len(made) >= 15 and max(Counter(a.created_at for a in made).values()) >= 5:
            break
    assert max(Counter(a.created_at for a in made).values()) >= 5, "could not create objects within one second"
    return made


def test_empty_list(server: LiveServer) -> None:
    empty = new_project_client(server, "empty-" + secrets.token_hex(4))
    page = empty.beta.assistants.list()
    assert valid_list("ListAssistantsResponse", page)["data"] == []
    assert page.first_id is None and page.last_id is None and page.has_more is False
    assert list(empty.beta.assistants.list(limit=1)) == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_auto_pagination_walks_every_object_once(fresh: openai.OpenAI, tied: list[Any], limit: int) -> None:
    ids = [a.id for a in tied]
    assert [a.id for a in fresh.beta.assistants.list(limit=limit)] == ids[::-1]
    assert [a.id for a in fresh.beta.assistants.list(limit=limit, order="asc")] == ids


def test_page_fields(fresh: openai.OpenAI, tied: list[Any]) -> None:
    ids = [a.id for a in tied]
    first = valid_list("ListAssistantsResponse", fresh.beta.assistants.list(limit=2, order="asc"))
    assert [a["id"] for a in first["data"]] == ids[:2]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[0], ids[1], True)
    # A page that ends exactly at the last object has nothing more.
    whole = valid_list("ListAssistantsResponse", fresh.beta.assistants.list(limit=len(ids), order="asc"))
    assert [a["id"] for a in whole["data"]] == ids and whole["has_more"] is False
    tail = fresh.beta.assistants.list(limit=2, order="asc", after=ids[-3])
    assert [a.id for a in tail.data] == ids[-2:] and tail.has_more is False


def test_after_and_before(fresh: openai.OpenAI, tied: list[Any]) -> None:
    ids = [a.id for a in tied]
    page = fresh.beta.assistants.list(order="asc", after=ids[2], limit=2)
    assert [a.id for a in page.data] == ids[3:5] and page.has_more is True
    page = fresh.beta.assistants.list(order="desc", after=ids[5], limit=2)
    assert [a.id for a in page.data] == [ids[4], ids[3]] and page.has_more is True
    # ``before`` is the page just ahead of the cursor, in the list's own order.
    page = fresh.beta.assistants.list(order="asc", before=ids[5], limit=2)
    assert [a.id for a in page.data] == ids[3:5] and page.has_more is True
    page = fresh.beta.assistants.list(order="asc", before=ids[1], limit=2)
    assert [a.id for a in page.data] == ids[:1] and page.has_more is False
    page = fresh.beta.assistants.list(order="desc", before=ids[3], limit=2)
    assert [a.id for a in page.data] == [ids[5], ids[4]] and page.has_more is True
    page = fresh.beta.assistants.list(order="asc", after=ids[1], before=ids[5], limit=10)
    assert [a.id for a in page.data] == ids[2:5] and page.has_more is False


async def test_async_auto_pagination(server: LiveServer, fresh: openai.OpenAI, tied: list[Any]) -> None:
    aclient = openai.AsyncOpenAI(base_url=fresh.base_url, api_key=fresh.api_key, max_retries=0)
    ids = [a.id async for a in aclient.beta.assistants.list(limit=4, order="asc")]
    assert ids == [a.id for a in tied]


def test_messages_created_in_one_second_page_in_order(client: openai.OpenAI) -> None:
    contents = [f"m{i:02d}" for i in range(30)]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": c} for c in contents])
    walked = list(client.beta.threads.messages.list(thread.id, limit=4, order="asc"))
    assert [m.content[0].text.value for m in walked] == contents  # type: ignore[union-attr]
    assert max(Counter(m.created_at for m in walked).values()) >= 5  # ties are what this test is about
    backwards = list(client.beta.threads.messages.list(thread.id, limit=3))
    assert [m.id for m in backwards] == [m.id for m in walked][::-1]


def test_files_walk_with_after(fresh: openai.OpenAI) -> None:
    made = [fresh.files.create(file=(f"f{i}.txt", b"x"), purpose="user_data").id for i in range(7)]
    assert [f.id for f in fresh.files.list(limit=2)] == made[::-1]
    assert [f.id for f in fresh.files.list(limit=3, order="asc")] == made
    page = fresh.files.list(limit=3, order="asc")
    assert page.has_more is True and [f.id for f in page.data] == made[:3]


async def test_concurrent_creates_all_land_and_page_cleanly(server: LiveServer) -> None:
    """Many writers at once (SQLite has one writer): every create succeeds, each object pages once."""
    import asyncio

    sync = new_project_client(server, "burst-" + secrets.token_hex(4))
    aclient = openai.AsyncOpenAI(base_url=sync.base_url, api_key=sync.api_key, max_retries=0)
    made = await asyncio.gather(*(aclient.beta.assistants.create(model="m", name=f"c{i}") for i in range(40)))
    walked = [a.id async for a in aclient.beta.assistants.list(limit=6, order="asc")]
    assert sorted(walked) == sorted(a.id for a in made) and len(set(walked)) == 40
    thread = await aclient.beta.threads.create()
    sent = await asyncio.gather(
        *(aclient.beta.threads.messages.create(thread.id, role="user", content=f"m{i}") for i in range(30))
    )
    listed = [m.id async for m in aclient.beta.threads.messages.list(thread.id, limit=7)]
    assert sorted(listed) == sorted(m.id for m in sent) and len(set(listed)) == 30
