"""Who is calling: their project (tenant) and the API version of the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Caller:
    project: str
    api_version: Literal["v1", "v2"] = "v2"
    # The key's ``key_...`` id (None on an open server): runs record it (usage per key), and its limits.
    api_key_id: str | None = None
