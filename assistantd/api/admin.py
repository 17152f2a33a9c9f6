"""``/v1/organization/...``: OpenAI's Admin API (projects, service accounts, project and admin API keys,
usage and costs). Every route needs an admin key (``deps.require_admin``). Parse, call, return."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from assistantd.api.csv import bucket_csv
from assistantd.api.deps import container, require_admin
from assistantd.protocol.admin import CreateAdminApiKey, CreateProject, CreateServiceAccount, ModifyProject
from assistantd.services.usage import UsageQuery
from assistantd.wiring import Container

router = APIRouter(prefix="/organization", tags=["admin"], dependencies=[Depends(require_admin)])
Doc = Mapping[str, Any]
PROJECT = "/projects/{project_id}"
Limit = Query(20, ge=1, le=100)


@router.get("/projects")
async def list_projects(
    limit: int = Limit,
    after: str | None = None,
    include_archived: bool = False,
    c: Container = Depends(container),
) -> Doc:
    return await c.admin.list_projects(limit, after, include_archived)


@router.post("/projects")
async def create_project(body: CreateProject, c: Container = Depends(container)) -> Doc:
    return await c.admin.create_project(body.name)


@router.get(PROJECT)
async def retrieve_project(project_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.retrieve_project(project_id)


@router.post(PROJECT)
async def modify_project(project_id: str, body: ModifyProject, c: Container = Depends(container)) -> Doc:
    return await c.admin.modify_project(project_id, body.name)


@router.post(PROJECT + "/archive")
async def archive_project(project_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.archive_project(project_id)


@router.get(PROJECT + "/service_accounts")
async def list_service_accounts(
    project_id: str, limit: int = Limit, after: str | None = None, c: Container = Depends(container)
) -> Doc:
    return await c.admin.list_service_accounts(project_id, limit, after)


@router.post(PROJECT + "/service_accounts")
async def create_service_account(
    project_id: str, body: CreateServiceAccount, c: Container = Depends(container)
) -> Doc:
    return await c.admin.create_service_account(project_id, body.name)


@router.get(PROJECT + "/service_accounts/{service_account_id}")
async def retrieve_service_account(project_id: str, service_account_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.retrieve_service_account(project_id, service_account_id)


@router.delete(PROJECT + "/service_accounts/{service_account_id}")
async def delete_service_account(project_id: str, service_account_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.delete_service_account(project_id, service_account_id)


@router.get(PROJECT + "/api_keys")
async def list_project_keys(
    project_id: str, limit: int = Limit, after: str | None = None, c: Container = Depends(container)
) -> Doc:
    return await c.admin.list_project_keys(project_id, limit, after)


@router.get(PROJECT + "/api_keys/{key_id}")
async def retrieve_project_key(project_id: str, key_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.retrieve_project_key(project_id, key_id)


@router.delete(PROJECT + "/api_keys/{key_id}")
async def delete_project_key(project_id: str, key_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.delete_project_key(project_id, key_id)


@router.get("/admin_api_keys")
async def list_admin_keys(
    limit: int = Limit,
    after: str | None = None,
    order: Literal["asc", "desc"] = "asc",
    c: Container = Depends(container),
) -> Doc:
    return await c.admin.list_admin_keys(limit, after, order)


@router.post("/admin_api_keys")
async def create_admin_key(body: CreateAdminApiKey, c: Container = Depends(container)) -> Doc:
    return await c.admin.create_admin_key(body.name)


@router.get("/admin_api_keys/{key_id}")
async def retrieve_admin_key(key_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.retrieve_admin_key(key_id)


@router.delete("/admin_api_keys/{key_id}")
async def delete_admin_key(key_id: str, c: Container = Depends(container)) -> Doc:
    return await c.admin.delete_admin_key(key_id)


# Usage and costs. ``format=csv`` (not OpenAI's) answers the same buckets as CSV: one line per result.


async def usage_query(
    request: Request,
    start_time: int = Query(..., ge=0),
    end_time: int | None = Query(None, ge=0),
    bucket_width: str = "1d",
    limit: int | None = None,
    page: str | None = None,
) -> UsageQuery:
    """Array parameters come as ``group_by=a&group_by=b``, ``group_by[]=a`` (the SDKs) or ``group_by=a,b``."""

    def listed(name: str) -> list[str]:
        values = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
        return [part for value in values for part in value.split(",") if part]

    return UsageQuery(
        start_time=start_time,
        end_time=end_time,
        bucket_width=bucket_width,
        group_by=listed("group_by"),
        limit=limit,
        page=page,
        project_ids=listed("project_ids"),
        api_key_ids=listed("api_key_ids"),
        models=listed("models"),
    )


Format = Query("json", description="`csv` answers the buckets as CSV, one line per result (not OpenAI's).")


def _answer(found: Doc, answer_format: Literal["json", "csv"]) -> Any:
    if answer_format == "json":
        return found
    return Response(bucket_csv(found), media_type="text/csv; charset=utf-8")


@router.get("/usage/completions")
async def usage_completions(
    q: UsageQuery = Depends(usage_query), format: Literal["json", "csv"] = Format, c: Container = Depends(container)
) -> Any:
    return _answer(await c.usage.completions(q), format)


@router.get("/usage/embeddings")
async def usage_embeddings(
    q: UsageQuery = Depends(usage_query), format: Literal["json", "csv"] = Format, c: Container = Depends(container)
) -> Any:
    return _answer(await c.usage.embeddings(q), format)


@router.get("/usage/vector_stores")
async def usage_vector_stores(
    q: UsageQuery = Depends(usage_query), format: Literal["json", "csv"] = Format, c: Container = Depends(container)
) -> Any:
    return _answer(await c.usage.vector_stores(q), format)


@router.get("/usage/code_interpreter_sessions")
async def usage_code_interpreter_sessions(
    q: UsageQuery = Depends(usage_query), format: Literal["json", "csv"] = Format, c: Container = Depends(container)
) -> Any:
    return _answer(await c.usage.code_interpreter_sessions(q), format)


@router.get("/costs")
async def costs(
    q: UsageQuery = Depends(usage_query), format: Literal["json", "csv"] = Format, c: Container = Depends(container)
) -> Any:
    return _answer(await c.usage.costs(q), format)
