"""ChatKit (beta) REST request bodies: ``POST /chatkit/sessions``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from assistantd.protocol.base import WireModel

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
