"""OpenAI's Admin API objects (``/v1/organization/...``): projects, service accounts, project and admin
API keys, and the usage and cost pages."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import Field
from typing_extensions import TypedDict

from assistantd.protocol.base import WireModel
from assistantd.protocol.deleted import Deleted

ProjectStatus = Literal["active", "archived"]


class Project(TypedDict):
    id: str
    object: Literal["organization.project"]
    name: str
    created_at: int
    archived_at: int | None
    status: ProjectStatus


def project(project_id: str, name: str, created_at: int, archived_at: int | None) -> Project:
    return {
        "id": project_id,
        "object": "organization.project",
        "name": name,
        "created_at": created_at,
        "archived_at": archived_at,
        "status": "archived" if archived_at is not None else "active",
    }


class ServiceAccount(TypedDict):
    id: str
    object: Literal["organization.project.service_account"]
    name: str
    role: Literal["owner", "member", "none"]
    created_at: int


def service_account(account_id: str, name: str, role: str, created_at: int) -> ServiceAccount:
    shown_role: Literal["owner", "member", "none"] = "owner" if role == "owner" else "member"
    return {
        "id": account_id,
        "object": "organization.project.service_account",
        "name": name,
        "role": shown_role,
        "created_at": created_at,
    }


class ServiceAccountApiKey(TypedDict):
    """The new key, on the service account's creation only: its ``value`` is never shown again."""

    id: str
    object: Literal["organization.project.service_account.api_key"]
    name: str
    value: str
    created_at: int


class ServiceAccountCreated(ServiceAccount):
    api_key: ServiceAccountApiKey


def service_account_created(account: ServiceAccount, key_id: str, value: str) -> ServiceAccountCreated:
    key: ServiceAccountApiKey = {
        "id": key_id,
        "object": "organization.project.service_account.api_key",
        "name": "Secret Key",
        "value": value,
        "created_at": account["created_at"],
    }
    return {**account, "api_key": key}


class KeyOwner(TypedDict):
    type: Literal["service_account"]
    service_account: ServiceAccount


class ProjectApiKey(TypedDict):
    id: str
    object: Literal["organization.project.api_key"]
    name: str
    redacted_value: str
    created_at: int
    last_used_at: int | None
    expires_at: int | None
    owner: KeyOwner
    owner_project_access: Literal["active", "inactive"]


def project_api_key(
    key_id: str, name: str, redacted: str, created_at: int, owner: ServiceAccount, active: bool
) -> ProjectApiKey:
    return {
        "id": key_id,
        "object": "organization.project.api_key",
        "name": name,
        "redacted_value": redacted,
        "created_at": created_at,
        "last_used_at": None,
        "expires_at": None,
        "owner": {"type": "service_account", "service_account": owner},
        "owner_project_access": "active" if active else "inactive",
    }


class AdminKeyOwner(TypedDict):
    """Who made an admin key: this server has no users, so the owner is the server's operator."""

    type: Literal["user"]
    object: Literal["organization.user"]
    id: str
    name: str
    created_at: int
    role: Literal["owner"]


class AdminApiKey(TypedDict):
    id: str
    object: Literal["organization.admin_api_key"]
    name: str
    redacted_value: str
    created_at: int
    last_used_at: int | None
    expires_at: int | None
    owner: AdminKeyOwner


class AdminApiKeyCreated(AdminApiKey):
    value: str


OPERATOR = "user_operator"


def admin_api_key(key_id: str, name: str, redacted: str, created_at: int) -> AdminApiKey:
    owner: AdminKeyOwner = {
        "type": "user",
        "object": "organization.user",
        "id": OPERATOR,
        "name": "operator",
        "created_at": 0,
        "role": "owner",
    }
    return {
        "id": key_id,
        "object": "organization.admin_api_key",
        "name": name,
        "redacted_value": redacted,
        "created_at": created_at,
        "last_used_at": None,
        "expires_at": None,
        "owner": owner,
    }


ServiceAccountDeleted = Deleted[Literal["organization.project.service_account.deleted"]]
ProjectApiKeyDeleted = Deleted[Literal["organization.project.api_key.deleted"]]
AdminApiKeyDeleted = Deleted[Literal["organization.admin_api_key.deleted"]]

Result = TypeVar("Result")


class Bucket(TypedDict, Generic[Result]):
    object: Literal["bucket"]
    start_time: int
    end_time: int
    results: list[Result]


class BucketPage(TypedDict, Generic[Result]):
    object: Literal["page"]
    data: list[Bucket[Result]]
    has_more: bool
    next_page: str | None


class CompletionsResult(TypedDict):
    object: Literal["organization.usage.completions.result"]
    input_tokens: int
    output_tokens: int
    input_cached_tokens: int
    input_audio_tokens: int
    output_audio_tokens: int
    num_model_requests: int
    project_id: str | None
    user_id: str | None
    api_key_id: str | None
    model: str | None
    batch: bool | None


class EmbeddingsResult(TypedDict):
    object: Literal["organization.usage.embeddings.result"]
    input_tokens: int
    num_model_requests: int
    project_id: str | None
    user_id: str | None
    api_key_id: str | None
    model: str | None


class VectorStoresResult(TypedDict):
    object: Literal["organization.usage.vector_stores.result"]
    usage_bytes: int
    project_id: str | None


class CodeInterpreterSessionsResult(TypedDict):
    object: Literal["organization.usage.code_interpreter_sessions.result"]
    num_sessions: int
    project_id: str | None


class Amount(TypedDict):
    value: float
    currency: Literal["usd"]


class CostsResult(TypedDict):
    object: Literal["organization.costs.result"]
    amount: Amount
    line_item: str | None
    project_id: str | None
    api_key_id: str | None


Group = tuple[str | None, ...]  # the grouped fields' values, None where not grouped by


def completion_result(group: Group, input_tokens: int, output_tokens: int, requests: int) -> CompletionsResult:
    project, key, model = group
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_cached_tokens": 0,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": requests,
        "project_id": project,
        "user_id": None,
        "api_key_id": key,
        "model": model,
        "batch": None,
    }


def embedding_result(group: Group, input_tokens: int, requests: int) -> EmbeddingsResult:
    project, model = group
    return {
        "object": "organization.usage.embeddings.result",
        "input_tokens": input_tokens,
        "num_model_requests": requests,
        "project_id": project,
        "user_id": None,
        "api_key_id": None,
        "model": model,
    }


def stored_bytes_result(project: str | None, size: int) -> VectorStoresResult:
    return {"object": "organization.usage.vector_stores.result", "usage_bytes": size, "project_id": project}


def sessions_result(project: str | None, sessions: int) -> CodeInterpreterSessionsResult:
    return {
        "object": "organization.usage.code_interpreter_sessions.result",
        "num_sessions": sessions,
        "project_id": project,
    }


def cost_result(group: Group, usd: float) -> CostsResult:
    project, line_item, key = group
    return {
        "object": "organization.costs.result",
        "amount": {"value": round(usd, 10), "currency": "usd"},
        "line_item": line_item,
        "project_id": project,
        "api_key_id": key,
    }


def bucket(start_time: int, end_time: int, results: list[Result]) -> Bucket[Result]:
    return {"object": "bucket", "start_time": start_time, "end_time": end_time, "results": results}


def bucket_page(data: list[Bucket[Result]], has_more: bool, next_page: str | None) -> BucketPage[Result]:
    return {"object": "page", "data": data, "has_more": has_more, "next_page": next_page}


class CreateProject(WireModel):
    name: str = Field(min_length=1, max_length=256)


class ModifyProject(WireModel):
    name: str = Field(min_length=1, max_length=256)


class CreateServiceAccount(WireModel):
    name: str = Field(min_length=1, max_length=256)


class CreateAdminApiKey(WireModel):
    name: str = Field(min_length=1, max_length=256)
