"""Shared steps of the retrieval tests: upload documents, wait on ingestion."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import openai

from tests.documents import MAKERS


def unique_word() -> str:
    """A word no other document in the session contains."""
    return "zq" + uuid.uuid4().hex[:10]


def upload(client: openai.OpenAI, name: str, data: bytes) -> Any:
    return client.files.create(file=(name, data), purpose="assistants")


def upload_doc(client: openai.OpenAI, kind: str, text: str, stem: str = "doc") -> Any:
    return upload(client, f"{stem}.{kind}", MAKERS[kind](text))


def wait_for(check: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
    """Poll until ``check()`` is truthy (a condition with a deadline, never a fixed sleep)."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_store_idle(client: openai.OpenAI, store_id: str) -> Any:
    def idle() -> Any:
        store = client.vector_stores.retrieve(store_id)
        return store if store.file_counts.in_progress == 0 else None

    return wait_for(idle, f"{store_id} to finish ingesting")


def new_store(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.vector_stores.create(name=kwargs.pop("name", "test store"), **kwargs)
