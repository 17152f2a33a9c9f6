"""The Admin API's project rate limits (``project.rate_limit``) and the body that modifies one.

OpenAI keeps one per model; limits here hold per project, whatever the model, so a project has one,
``rl-default`` (model ``*``), and one more per API key that has limits of its own (``rl-<key id>``).
Two fields beyond OpenAI's carry the limits it has no field for: concurrent runs and stored bytes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from typing_extensions import TypedDict

from assistantd.protocol.base import WireModel

PROJECT_LIMIT_ID = "rl-default"
KEY_LIMIT_PREFIX = "rl-"
EVERY_MODEL = "*"


class ProjectRateLimit(TypedDict):
    object: Literal["project.rate_limit"]
    id: str
    model: str
    max_requests_per_1_minute: int
    max_tokens_per_1_minute: int
    max_concurrent_runs: int
    max_storage_bytes: int


def rate_limit_object(
    limit_id: str, requests: int, tokens: int, concurrent_runs: int, storage_bytes: int
) -> ProjectRateLimit:
    return {
        "object": "project.rate_limit",
        "id": limit_id,
        "model": EVERY_MODEL,
        "max_requests_per_1_minute": requests,
        "max_tokens_per_1_minute": tokens,
        "max_concurrent_runs": concurrent_runs,
        "max_storage_bytes": storage_bytes,
    }


# OpenAI's fields for limits that only some of its models have; none of them can be honoured here.
UNSUPPORTED = (
    "max_images_per_1_minute",
    "max_audio_megabytes_per_1_minute",
    "max_requests_per_1_day",
    "batch_1_day_max_input_tokens",
)


class ModifyRateLimit(WireModel):
    """0 turns a limit off; null puts back the default (the settings' for ``rl-default``, none for a key)."""

    max_requests_per_1_minute: int | None = Field(default=None, ge=0)
    max_tokens_per_1_minute: int | None = Field(default=None, ge=0)
    max_concurrent_runs: int | None = Field(default=None, ge=0)
    max_storage_bytes: int | None = Field(default=None, ge=0)
    max_images_per_1_minute: int | None = None
    max_audio_megabytes_per_1_minute: int | None = None
    max_requests_per_1_day: int | None = None
    batch_1_day_max_input_tokens: int | None = None
