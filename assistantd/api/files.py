"""Files routes: multipart upload, list, retrieve, delete, content."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from assistantd.api.deps import caller, container
from assistantd.api.ranges import requested_range, unsatisfiable
from assistantd.blobs import PIECE
from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, missing_parameter
from assistantd.protocol.pages import PageParams
from assistantd.services.files import too_large
from assistantd.wiring import Container

router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before


def _expires_after(request_form: Any) -> dict[str, Any] | None:
    anchor = request_form.get("expires_after[anchor]")
    seconds = request_form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest(
            f"Invalid value: '{anchor}'. Supported values are: 'created_at'.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise InvalidRequest(
            "Invalid 'expires_after.seconds': expected an integer.", param="expires_after.seconds"
        ) from None
    if not 3600 <= value <= 2_592_000:
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected a value between 3600 and 2592000, but got {value} "
            "instead.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    return {"anchor": anchor, "seconds": value}


# Room for the multipart framing and the small fields beside the file itself.
FORM_OVERHEAD = 64 * 1024


async def _read_form(request: Request, limit: int) -> FormData:
    """The multipart form, refused with 413 as soon as the body is known to be too large.

    The route reads the form itself (no ``File()`` parameters) so that the caller's key is checked
    and an announced length refused before any byte is read; bodies without a length (chunked) are
    counted as they stream in, so nothing larger than the limit is ever spooled to disk.
    """
    budget = limit + FORM_OVERHEAD
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > budget:
        raise too_large(limit)
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > budget:
            raise too_large(limit)
        return message

    return await Request(request.scope, counted).form(max_files=1, max_fields=16)


@router.post("/files")
async def upload(request: Request, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    form = await _read_form(request, c.settings.max_upload_bytes)
    try:
        file, purpose = form.get("file"), form.get("purpose")
        if not isinstance(file, StarletteUploadFile):
            raise missing_parameter("file")
        if not isinstance(purpose, str):
            raise missing_parameter("purpose")
        expires = _expires_after(form)
        await c.limits.admit_storage(who.project, file.size or 0)  # the quota, now the size is known
        return await c.files.upload(who, _pieces(file), file.filename or "upload", purpose, expires)
    finally:
        await form.close()


async def _pieces(upload: StarletteUploadFile) -> AsyncIterator[bytes]:
    """The spooled upload (on disk past 1 MiB) read back a piece at a time, off the event loop."""
    await upload.seek(0)
    while piece := await upload.read(PIECE):
        yield piece


@router.get("/files")
async def list_files(
    purpose: str | None = Query(None),
    limit: int = Query(10_000, ge=1, le=10_000),
    order: Literal["asc", "desc"] = Query("desc"),
    after: str | None = Query(None),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    params = PageParams(limit=limit, order=order, after=after)
    return await c.files.list(who, params, purpose)


@router.get("/files/{file_id}")
async def retrieve(file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.files.retrieve(who, file_id)


@router.delete("/files/{file_id}")
async def delete(file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.files.delete(who, file_id)


@router.get("/files/{file_id}/content")
async def content(
    file_id: str, request: Request, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Response:
    """The bytes, streamed; a ``Range`` of them (206, or 416 past the end) as any file server answers."""
    document, blob = await c.files.download(who, file_id)
    headers = {"content-disposition": "attachment; filename*=UTF-8''" + quote(document["filename"], safe="")}
    media_type = "application/octet-stream"
    if blob.path is not None:  # local disk: Starlette serves it (sendfile), ranges included
        return FileResponse(blob.path, media_type=media_type, headers=headers)
    headers["accept-ranges"] = "bytes"
    if blob.etag:
        headers["etag"] = blob.etag
    wanted = requested_range(request.headers, blob.size, blob.etag)
    if wanted is None:
        headers["content-length"] = str(blob.size)
        body = await c.blobs.open(file_id, 0, blob.size)
        return StreamingResponse(body, media_type=media_type, headers=headers)
    start, end = wanted
    if start >= end:
        return unsatisfiable(blob.size)
    headers["content-range"] = f"bytes {start}-{end - 1}/{blob.size}"
    headers["content-length"] = str(end - start)
    body = await c.blobs.open(file_id, start, end)
    return StreamingResponse(body, status_code=206, media_type=media_type, headers=headers)
