"""OpenAI's Admin API for project rate limits: list, and modify (admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query

from assistantd.api.deps import container, require_admin
from assistantd.errors import InvalidRequest, not_found
from assistantd.protocol.pages import Page, page
from assistantd.protocol.rate_limits import (
    KEY_LIMIT_PREFIX,
    PROJECT_LIMIT_ID,
    UNSUPPORTED,
    ModifyRateLimit,
    ProjectRateLimit,
    rate_limit_object,
)
from assistantd.services.limits import Limits, Policy
from assistantd.wiring import Container

router = APIRouter(dependencies=[Depends(require_admin)], tags=["Admin: rate limits"])
BASE = "/organization/projects/{project_id}/rate_limits"
# The body's fields and the limits they set (store/limits.py columns).
FIELDS = {
    "max_requests_per_1_minute": "requests_per_minute",
    "max_tokens_per_1_minute": "tokens_per_minute",
    "max_concurrent_runs": "concurrent_runs",
    "max_storage_bytes": "storage_bytes",
}


def _object(limit_id: str, policy: Policy) -> ProjectRateLimit:
    return rate_limit_object(
        limit_id, policy.requests_per_minute, policy.tokens_per_minute, policy.concurrent_runs, policy.storage_bytes
    )


async def _objects(limits: Limits, project: str) -> list[ProjectRateLimit]:
    rows = await limits.stored_rows(project)
    found = [_object(PROJECT_LIMIT_ID, limits.defaults.merged(rows.get("")))]
    found += [_object(KEY_LIMIT_PREFIX + key, Policy().merged(rows[key])) for key in sorted(rows) if key]
    return found


@router.get(BASE, response_model=None)
async def list_rate_limits(
    project_id: str,
    limit: int = Query(100, ge=1, le=100),
    after: str | None = Query(None),
    before: str | None = Query(None),
    c: Container = Depends(container),
) -> Page[ProjectRateLimit]:
    found = await _objects(c.limits, project_id)
    ids = [o["id"] for o in found]
    if after in ids:
        found = found[ids.index(after) + 1 :]
    if before in ids:
        found = found[: ids.index(before)]
    return page(found[:limit], len(found) > limit)


@router.post(BASE + "/{rate_limit_id}", response_model=None)
async def modify_rate_limit(
    project_id: str,
    rate_limit_id: str,
    body: ModifyRateLimit = Body(...),
    c: Container = Depends(container),
) -> ProjectRateLimit:
    for name in UNSUPPORTED:
        if getattr(body, name) is not None:
            raise InvalidRequest(f"'{name}' is not supported: limits here hold per project, not per model.", param=name)
    if rate_limit_id == PROJECT_LIMIT_ID:
        key = ""
    elif rate_limit_id.startswith(KEY_LIMIT_PREFIX + "key_"):
        key = rate_limit_id.removeprefix(KEY_LIMIT_PREFIX)
    else:
        raise not_found("rate limit", rate_limit_id)
    values = {FIELDS[name]: getattr(body, name) for name in body.model_fields_set if name in FIELDS}
    if values:
        await c.limits.set_limits(project_id, key, values)
    rows = await c.limits.stored_rows(project_id)
    base = c.limits.defaults if not key else Policy()
    return _object(rate_limit_id, base.merged(rows.get(key)))
