"""The OpenAPI document behind ``/docs``: a bearer scheme, so "Try it out" sends the API key, one tag
per resource, so operations are grouped as in OpenAI's reference, and each answer's shape, read from
protocol/'s TypedDicts (the routes return plain mappings, so that nothing is validated twice on the
way out)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from assistantd.protocol.admin import (
    AdminApiKey,
    AdminApiKeyCreated,
    AdminApiKeyDeleted,
    BucketPage,
    CodeInterpreterSessionsResult,
    CompletionsResult,
    CostsResult,
    EmbeddingsResult,
    Project,
    ProjectApiKey,
    ProjectApiKeyDeleted,
    ServiceAccount,
    ServiceAccountCreated,
    ServiceAccountDeleted,
    VectorStoresResult,
)
from assistantd.protocol.assistants import Assistant, AssistantDeleted
from assistantd.protocol.chatkit import ChatKitSession, ChatKitThread, ChatKitThreadDeleted, ChatKitThreadItem
from assistantd.protocol.compaction import Compaction
from assistantd.protocol.console import ConsoleRun, ConsoleSession, ConsoleSessionDeleted, ConsoleUsage
from assistantd.protocol.files import File, FileDeleted
from assistantd.protocol.messages import Message, MessageDeleted
from assistantd.protocol.models import Model, ModelList
from assistantd.protocol.pages import Page
from assistantd.protocol.rate_limits import ProjectRateLimit
from assistantd.protocol.response_objects import (
    Conversation,
    ConversationDeleted,
    InputItem,
    InputTokens,
    OutputItem,
    Response,
    ResponseDeleted,
)
from assistantd.protocol.runs import ThreadRun
from assistantd.protocol.steps import RunStep
from assistantd.protocol.threads import Thread, ThreadDeleted
from assistantd.protocol.vector_stores import (
    FileBatch,
    FileContentPage,
    SearchResultsPage,
    VectorStore,
    VectorStoreDeleted,
    VectorStoreFile,
    VectorStoreFileDeleted,
)

# The first path segment after /v1 (or Azure's /openai) names the resource; a nested resource is
# named by its own segment.
NESTED_TAGS = {
    "messages": "Messages",
    "runs": "Runs",
    "steps": "Run steps",
    "file_batches": "Vector store file batches",
}
TAGS = {
    "assistants": "Assistants",
    "threads": "Threads",
    "files": "Files",
    "vector_stores": "Vector stores",
    "responses": "Responses",
    "conversations": "Conversations",
    "chatkit": "ChatKit",
    "models": "Models",
    "console": "Console",
    "organization": "Administration",
}
BEARER = {"type": "http", "scheme": "bearer", "description": "An API key of this server (`sk-...`)."}


# (method, path under /v1) -> the shape of a 200 answer. Streams and file bytes are not JSON.
ANSWERS: dict[tuple[str, str], Any] = {
    ("post", "/assistants"): Assistant,
    ("get", "/assistants"): Page[Assistant],
    ("get", "/assistants/{assistant_id}"): Assistant,
    ("post", "/assistants/{assistant_id}"): Assistant,
    ("delete", "/assistants/{assistant_id}"): AssistantDeleted,
    ("post", "/threads"): Thread,
    ("get", "/threads/{thread_id}"): Thread,
    ("post", "/threads/{thread_id}"): Thread,
    ("delete", "/threads/{thread_id}"): ThreadDeleted,
    ("post", "/threads/{thread_id}/messages"): Message,
    ("get", "/threads/{thread_id}/messages"): Page[Message],
    ("get", "/threads/{thread_id}/messages/{message_id}"): Message,
    ("post", "/threads/{thread_id}/messages/{message_id}"): Message,
    ("delete", "/threads/{thread_id}/messages/{message_id}"): MessageDeleted,
    ("post", "/threads/runs"): ThreadRun,
    ("post", "/threads/{thread_id}/runs"): ThreadRun,
    ("get", "/threads/{thread_id}/runs"): Page[ThreadRun],
    ("get", "/threads/{thread_id}/runs/{run_id}"): ThreadRun,
    ("post", "/threads/{thread_id}/runs/{run_id}"): ThreadRun,
    ("post", "/threads/{thread_id}/runs/{run_id}/cancel"): ThreadRun,
    ("post", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): ThreadRun,
    ("get", "/threads/{thread_id}/runs/{run_id}/steps"): Page[RunStep],
    ("get", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}"): RunStep,
    ("post", "/files"): File,
    ("get", "/files"): Page[File],
    ("get", "/files/{file_id}"): File,
    ("delete", "/files/{file_id}"): FileDeleted,
    ("post", "/vector_stores"): VectorStore,
    ("get", "/vector_stores"): Page[VectorStore],
    ("get", "/vector_stores/{vector_store_id}"): VectorStore,
    ("post", "/vector_stores/{vector_store_id}"): VectorStore,
    ("delete", "/vector_stores/{vector_store_id}"): VectorStoreDeleted,
    ("post", "/vector_stores/{vector_store_id}/search"): SearchResultsPage,
    ("post", "/vector_stores/{vector_store_id}/files"): VectorStoreFile,
    ("get", "/vector_stores/{vector_store_id}/files"): Page[VectorStoreFile],
    ("get", "/vector_stores/{vector_store_id}/files/{file_id}"): VectorStoreFile,
    ("post", "/vector_stores/{vector_store_id}/files/{file_id}"): VectorStoreFile,
    ("delete", "/vector_stores/{vector_store_id}/files/{file_id}"): VectorStoreFileDeleted,
    ("get", "/vector_stores/{vector_store_id}/files/{file_id}/content"): FileContentPage,
    ("post", "/vector_stores/{vector_store_id}/file_batches"): FileBatch,
    ("get", "/vector_stores/{vector_store_id}/file_batches/{batch_id}"): FileBatch,
    ("post", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel"): FileBatch,
    ("get", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files"): Page[VectorStoreFile],
    ("post", "/responses"): Response,
    ("get", "/responses/{response_id}"): Response,
    ("delete", "/responses/{response_id}"): ResponseDeleted,
    ("post", "/responses/{response_id}/cancel"): Response,
    ("post", "/responses/input_tokens"): InputTokens,
    ("post", "/responses/compact"): Compaction,
    ("get", "/responses/{response_id}/input_items"): Page[InputItem],
    ("post", "/conversations"): Conversation,
    ("get", "/conversations"): Page[Conversation],
    ("get", "/conversations/{conversation_id}/items"): Page[OutputItem],
    ("post", "/conversations/{conversation_id}/items"): Page[OutputItem],
    ("get", "/conversations/{conversation_id}/items/{item_id}"): OutputItem,
    ("delete", "/conversations/{conversation_id}/items/{item_id}"): Conversation,
    ("get", "/conversations/{conversation_id}"): Conversation,
    ("post", "/conversations/{conversation_id}"): Conversation,
    ("delete", "/conversations/{conversation_id}"): ConversationDeleted,
    ("get", "/models"): ModelList,
    ("get", "/models/{model_id}"): Model,
    ("post", "/chatkit/sessions"): ChatKitSession,
    ("post", "/chatkit/sessions/{session_id}/cancel"): ChatKitSession,
    ("get", "/chatkit/threads/{thread_id}"): ChatKitThread,
    ("delete", "/chatkit/threads/{thread_id}"): ChatKitThreadDeleted,
    ("get", "/chatkit/threads"): Page[ChatKitThread],
    ("get", "/chatkit/threads/{thread_id}/items"): Page[ChatKitThreadItem],
    ("get", "/console/session"): ConsoleSession,
    ("post", "/console/session"): ConsoleSession,
    ("delete", "/console/session"): ConsoleSessionDeleted,
    ("get", "/console/runs/{run_id}"): ConsoleRun,
    ("get", "/console/usage"): ConsoleUsage,
    ("get", "/organization/projects"): Page[Project],
    ("post", "/organization/projects"): Project,
    ("get", "/organization/projects/{project_id}"): Project,
    ("post", "/organization/projects/{project_id}"): Project,
    ("post", "/organization/projects/{project_id}/archive"): Project,
    ("get", "/organization/projects/{project_id}/service_accounts"): Page[ServiceAccount],
    ("post", "/organization/projects/{project_id}/service_accounts"): ServiceAccountCreated,
    ("get", "/organization/projects/{project_id}/service_accounts/{service_account_id}"): ServiceAccount,
    ("delete", "/organization/projects/{project_id}/service_accounts/{service_account_id}"): ServiceAccountDeleted,
    ("get", "/organization/projects/{project_id}/api_keys"): Page[ProjectApiKey],
    ("get", "/organization/projects/{project_id}/api_keys/{key_id}"): ProjectApiKey,
    ("delete", "/organization/projects/{project_id}/api_keys/{key_id}"): ProjectApiKeyDeleted,
    ("get", "/organization/projects/{project_id}/rate_limits"): Page[ProjectRateLimit],
    ("post", "/organization/projects/{project_id}/rate_limits/{rate_limit_id}"): ProjectRateLimit,
    ("get", "/organization/admin_api_keys"): Page[AdminApiKey],
    ("post", "/organization/admin_api_keys"): AdminApiKeyCreated,
    ("get", "/organization/admin_api_keys/{key_id}"): AdminApiKey,
    ("delete", "/organization/admin_api_keys/{key_id}"): AdminApiKeyDeleted,
    ("get", "/organization/usage/completions"): BucketPage[CompletionsResult],
    ("get", "/organization/usage/embeddings"): BucketPage[EmbeddingsResult],
    ("get", "/organization/usage/vector_stores"): BucketPage[VectorStoresResult],
    ("get", "/organization/usage/code_interpreter_sessions"): BucketPage[CodeInterpreterSessionsResult],
    ("get", "/organization/costs"): BucketPage[CostsResult],
}


def tag_for(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if parts[:1] not in (["v1"], ["openai"]) or len(parts) < 2:
        return "Server"
    for part in reversed(parts[2:]):
        if part in NESTED_TAGS:
            return NESTED_TAGS[part]
    if parts[1] == "vector_stores" and "files" in parts[2:]:
        return "Vector store files"
    return TAGS.get(parts[1], parts[1].replace("_", " ").capitalize())


def document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    spec.setdefault("components", {})["securitySchemes"] = {"bearer": BEARER}
    spec["security"] = [{"bearer": []}]
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            operation["tags"] = [tag_for(path)]
    spec["paths"].get("/health", {}).get("get", {})["security"] = []  # the probe needs no key
    _type_answers(spec)
    return spec


def _type_answers(spec: dict[str, Any]) -> None:
    mode: Literal["serialization"] = "serialization"
    adapters = [(key, mode, TypeAdapter(shape)) for key, shape in ANSWERS.items()]
    schemas, definitions = TypeAdapter.json_schemas(adapters, ref_template="#/components/schemas/{model}")
    spec["components"].setdefault("schemas", {}).update(definitions.get("$defs", {}))
    for path, operations in spec["paths"].items():
        resource = "/" + path.split("/", 2)[2] if path.count("/") >= 2 else path
        for method, operation in operations.items():
            schema = schemas.get(((method, resource), "serialization"))
            if schema is not None:
                answer = operation.setdefault("responses", {}).setdefault("200", {"description": "OK"})
                answer["content"] = {"application/json": {"schema": schema}}


def install(app: FastAPI) -> None:
    def cached() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = cached  # type: ignore[method-assign]
