"""ChatKit (beta) REST: the ``POST /chatkit/sessions`` body, and the session, thread and thread item objects.

Threads and items are stored as the ``openai-chatkit`` library's JSON; ``chatkit/threads.py`` renders them
into these shapes."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import Field, field_validator
from typing_extensions import TypedDict

from assistantd.ids import new_id
from assistantd.protocol.base import WireModel
from assistantd.protocol.deleted import Deleted

StateValue = str | int | float | bool


class Tracing(WireModel):
    enabled: bool | None = None


class Workflow(WireModel):
    id: str = Field(min_length=1)
    version: str | None = None
    state_variables: dict[str, StateValue] | None = None
    tracing: Tracing | None = None

    @field_validator("state_variables")
    @classmethod
    def _state_limits(cls, value: dict[str, StateValue] | None) -> dict[str, StateValue] | None:
        if value is None:
            return None
        if len(value) > 64:
            raise ValueError(
                "Invalid 'workflow.state_variables': too many properties. Expected an object with at most 64 "
                f"properties, but got an object with {len(value)} properties instead."
            )
        for key in value:
            if len(key) > 64:
                raise ValueError(
                    "Invalid 'workflow.state_variables': key too long. Expected a key with maximum "
                    f"length 64, but got a key with length {len(key)} instead."
                )
        return value


class ExpiresAfter(WireModel):
    anchor: Literal["created_at"]
    seconds: int = Field(ge=1, le=600)


class RateLimits(WireModel):
    max_requests_per_1_minute: int | None = Field(default=None, ge=1)


class Toggle(WireModel):
    enabled: bool | None = None


class FileUpload(WireModel):
    enabled: bool | None = None
    max_file_size: int | None = Field(default=None, ge=1, le=512)
    max_files: int | None = Field(default=None, ge=1)


class History(WireModel):
    enabled: bool | None = None
    recent_threads: int | None = Field(default=None, ge=1)


class Configuration(WireModel):
    automatic_thread_titling: Toggle | None = None
    file_upload: FileUpload | None = None
    history: History | None = None


class CreateSession(WireModel):
    user: str = Field(min_length=1)
    workflow: Workflow
    expires_after: ExpiresAfter | None = None
    rate_limits: RateLimits | None = None
    chatkit_configuration: Configuration | None = None


# Objects.

DEFAULT_SECONDS = 600
DEFAULT_RATE = 10
MAX_FILE_SIZE_MB = 512
DEFAULT_MAX_FILES = 10
SessionStatus = Literal["active", "expired", "cancelled"]


class Enabled(TypedDict):
    enabled: bool


class SessionWorkflow(TypedDict):
    id: str
    version: str | None
    state_variables: dict[str, StateValue] | None
    tracing: Enabled


class SessionRateLimits(TypedDict):
    max_requests_per_1_minute: int


class FileUploadSettings(TypedDict):
    enabled: bool
    max_file_size: int
    max_files: int


class HistorySettings(TypedDict):
    enabled: bool
    recent_threads: int | None


class SessionConfiguration(TypedDict):
    automatic_thread_titling: Enabled
    file_upload: FileUploadSettings
    history: HistorySettings


class ChatKitSession(TypedDict):
    id: str
    object: Literal["chatkit.session"]
    expires_at: int
    client_secret: str  # shown once, when created; stored empty (only its hash is kept)
    workflow: SessionWorkflow
    user: str
    rate_limits: SessionRateLimits
    max_requests_per_1_minute: int
    status: SessionStatus
    chatkit_configuration: SessionConfiguration


def _configuration(body: CreateSession) -> SessionConfiguration:
    given = body.chatkit_configuration
    titling = given.automatic_thread_titling if given else None
    upload = given.file_upload if given else None
    history = given.history if given else None
    return {
        "automatic_thread_titling": {"enabled": titling.enabled if titling and titling.enabled is not None else True},
        "file_upload": {
            "enabled": bool(upload and upload.enabled),
            "max_file_size": (upload.max_file_size if upload else None) or MAX_FILE_SIZE_MB,
            "max_files": (upload.max_files if upload else None) or DEFAULT_MAX_FILES,
        },
        "history": {
            "enabled": history.enabled if history and history.enabled is not None else True,
            "recent_threads": history.recent_threads if history else None,
        },
    }


def chatkit_session(body: CreateSession, created: int) -> ChatKitSession:
    """Every field present, every default resolved (as hosted ChatKit answered)."""
    seconds = body.expires_after.seconds if body.expires_after else DEFAULT_SECONDS
    rate = (body.rate_limits.max_requests_per_1_minute if body.rate_limits else None) or DEFAULT_RATE
    workflow = body.workflow
    tracing = workflow.tracing.enabled if workflow.tracing and workflow.tracing.enabled is not None else True
    return {
        "id": new_id("chatkit_session"),
        "object": "chatkit.session",
        "expires_at": created + seconds,
        "client_secret": "",
        "workflow": {
            "id": workflow.id,
            "version": workflow.version,
            "state_variables": workflow.state_variables,
            "tracing": {"enabled": tracing},
        },
        "user": body.user,
        "rate_limits": {"max_requests_per_1_minute": rate},
        "max_requests_per_1_minute": rate,
        "status": "active",
        "chatkit_configuration": _configuration(body),
    }


class ThreadStatus(TypedDict):
    type: Literal["active", "locked", "closed"]
    reason: NotRequired[str | None]


class ChatKitThread(TypedDict):
    id: str
    object: Literal["chatkit.thread"]
    created_at: int
    title: str | None
    status: ThreadStatus
    user: str


ChatKitThreadDeleted = Deleted[Literal["chatkit.thread.deleted"]]


def chatkit_thread(
    thread_id: str, created_at: int, title: str | None, status: ThreadStatus, user: str
) -> ChatKitThread:
    return {
        "id": thread_id,
        "object": "chatkit.thread",
        "created_at": created_at,
        "title": title,
        "status": status,
        "user": user,
    }


class ItemHeader(TypedDict):
    id: str
    object: Literal["chatkit.thread_item"]
    created_at: int
    thread_id: str


class ItemAttachment(TypedDict):
    type: str
    id: str
    name: str
    mime_type: str
    preview_url: str | None


class InferenceOptions(TypedDict):
    tool_choice: Any
    model: str | None


class UserMessageItem(ItemHeader):
    type: Literal["chatkit.user_message"]
    content: list[dict[str, str]]  # input_text and quoted_text parts
    attachments: list[ItemAttachment]
    inference_options: InferenceOptions


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]]  # url or file sources


class AssistantMessageItem(ItemHeader):
    type: Literal["chatkit.assistant_message"]
    content: list[OutputText]


class ClientToolCallItem(ItemHeader):
    type: Literal["chatkit.client_tool_call"]
    status: Literal["in_progress", "completed"]
    call_id: str
    name: str
    arguments: str
    output: str | None


class WidgetItem(ItemHeader):
    type: Literal["chatkit.widget"]
    widget: str


class Task(TypedDict):
    type: Literal["thought", "custom"]
    heading: str | None
    summary: str | None


class TaskItem(ItemHeader):
    type: Literal["chatkit.task"]
    task_type: Literal["thought", "custom"]
    heading: str | None
    summary: str | None


class TaskGroupItem(ItemHeader):
    type: str  # "chatkit.task_group" (a library ``workflow``), or another kind's name with its tasks
    tasks: list[Task]


ChatKitThreadItem = UserMessageItem | AssistantMessageItem | ClientToolCallItem | WidgetItem | TaskItem | TaskGroupItem


def item_header(item_id: str, created_at: int, thread_id: str) -> ItemHeader:
    """What every thread item starts with; ``chatkit/threads.py`` adds its type and its own fields."""
    return {"id": item_id, "object": "chatkit.thread_item", "created_at": created_at, "thread_id": thread_id}
