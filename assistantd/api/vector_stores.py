"""Vector store routes: stores, their files, file batches, search. Parse, call, return."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from assistantd.api.deps import caller, container, page
from assistantd.caller import Caller
from assistantd.protocol.pages import PageParams
from assistantd.protocol.vector_stores import (
    CreateFileBatch,
    CreateVectorStore,
    CreateVectorStoreFile,
    ModifyVectorStore,
    SearchVectorStore,
    UpdateVectorStoreFile,
)
from assistantd.wiring import Container

router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before
StatusFilter = Literal["in_progress", "completed", "failed", "cancelled"] | None
BASE = "/vector_stores/{vector_store_id}"


@router.post("/vector_stores")
async def create(body: CreateVectorStore, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.vector_stores.create(who, body)


@router.get("/vector_stores")
async def list_(
    params: PageParams = Depends(page), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.vector_stores.list(who, params)


@router.get(BASE)
async def retrieve(vector_store_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.vector_stores.retrieve(who, vector_store_id)


@router.post(BASE)
async def update(
    vector_store_id: str,
    body: ModifyVectorStore,
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.vector_stores.update(who, vector_store_id, body)


@router.delete(BASE)
async def delete(vector_store_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.vector_stores.delete(who, vector_store_id)


@router.post(BASE + "/search")
async def search(
    vector_store_id: str,
    body: SearchVectorStore,
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.searcher.search_request(who, vector_store_id, body)


@router.post(BASE + "/files")
async def add_file(
    vector_store_id: str,
    body: CreateVectorStoreFile,
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.vector_stores.add_file(who, vector_store_id, body)


@router.get(BASE + "/files")
async def list_files(
    vector_store_id: str,
    params: PageParams = Depends(page),
    status: StatusFilter = Query(None, alias="filter"),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.vector_stores.list_files(who, vector_store_id, params, status)


@router.get(BASE + "/files/{file_id}")
async def retrieve_file(
    vector_store_id: str, file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.vector_stores.retrieve_file(who, vector_store_id, file_id)


@router.post(BASE + "/files/{file_id}")
async def update_file(
    vector_store_id: str,
    file_id: str,
    body: UpdateVectorStoreFile,
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.vector_stores.update_file(who, vector_store_id, file_id, body)


@router.delete(BASE + "/files/{file_id}")
async def delete_file(
    vector_store_id: str, file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.vector_stores.delete_file(who, vector_store_id, file_id)


@router.get(BASE + "/files/{file_id}/content")
async def file_content(
    vector_store_id: str, file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.vector_stores.file_content(who, vector_store_id, file_id)


@router.post(BASE + "/file_batches")
async def create_batch(
    vector_store_id: str,
    body: CreateFileBatch,
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.file_batches.create(who, vector_store_id, body)


@router.get(BASE + "/file_batches/{batch_id}")
async def retrieve_batch(
    vector_store_id: str, batch_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.file_batches.retrieve(who, vector_store_id, batch_id)


@router.post(BASE + "/file_batches/{batch_id}/cancel")
async def cancel_batch(
    vector_store_id: str, batch_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.file_batches.cancel(who, vector_store_id, batch_id)


@router.get(BASE + "/file_batches/{batch_id}/files")
async def list_batch_files(
    vector_store_id: str,
    batch_id: str,
    params: PageParams = Depends(page),
    status: StatusFilter = Query(None, alias="filter"),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.file_batches.list_files(who, vector_store_id, batch_id, params, status)
