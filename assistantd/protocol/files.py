"""The File object (``/v1/files``): uploads are multipart forms, read by ``api/files.py``."""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from assistantd.protocol.deleted import Deleted


class File(TypedDict):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    expires_at: NotRequired[int]


# OpenAI answers a file's delete with ``object: "file"``, not ``"file.deleted"``.
FileDeleted = Deleted[Literal["file"]]


def file_object(file_id: str, size: int, created: int, filename: str, purpose: str, expires_at: int | None) -> File:
    document: File = {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": created,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }
    if expires_at is not None:
        document["expires_at"] = expires_at
    return document
