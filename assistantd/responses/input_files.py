"""Files and images given as input, made ready for the model before the response is stored.

``input_file`` (by ``file_id``, ``file_data`` or ``file_url``): the model reads the file, so its text
joins the message (as OpenAI does). ``input_image`` (by ``file_id``, URL or data URL): the model is
sent the image itself as a data URL, read from the file store or fetched here (``upstream/fetch.py``,
guarded against SSRF), so the upstream never fetches a client's URL; the part keeps its source, which
the item shows.

Uses the file store (``services.files.Files.read``) and text extraction (``retrieval.extract``,
which the retrieval package may move: re-point the import here).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
from typing import Any

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest
from assistantd.retrieval.extract import ExtractionError, extract
from assistantd.services.files import Files
from assistantd.upstream.fetch import URLLimits, fetch_input


def decode_data_url(url: str, param: str) -> tuple[str, bytes]:
    """``data:<type>;base64,<data>`` as its media type and bytes, or OpenAI's 400."""
    head, comma, body = url.partition(",")
    if not head.startswith("data:") or not comma or not head.endswith(";base64"):
        raise InvalidRequest(
            f"Invalid '{param}': expected a base64 data URL ('data:<media type>;base64,<data>').",
            param=param,
            code="invalid_value",
        )
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"Invalid '{param}': the data is not valid base64.", param=param, code="invalid_value"
        ) from None
    return head[len("data:") : -len(";base64")] or "application/octet-stream", data


def _check_image(kind: str, param: str) -> None:
    if not kind.startswith("image/"):
        raise InvalidRequest(
            f"Invalid '{param}': expected an image, got '{kind}'.", param=param, code="invalid_image_format"
        )


class InputFiles:
    def __init__(self, files: Files, limits: URLLimits) -> None:
        self.files = files
        self.limits = limits

    async def prepare(self, caller: Caller, messages: list[dict[str, Any]]) -> None:
        """Each ``input_file`` part gets its text beside it (the part stays: the message's attachment,
        or its record); each image part is made a data URL."""
        for entry in messages:
            parts: list[dict[str, Any]] = []
            for part in entry["parts"]:
                param = part.pop("param", "input")
                if part["type"] == "input_file":
                    parts.append(await self._file_text(caller, part, param))
                    part.pop("file_data", None)  # read: the item shows the file by its name
                elif part["type"] in ("image_url", "image_file"):
                    part = await self._image(caller, part, param)
                parts.append(part)
            entry["parts"] = parts

    async def _file_text(self, caller: Caller, part: dict[str, Any], param: str) -> dict[str, Any]:
        if "file_id" in part:
            document, data = await self.files.read(caller, part["file_id"])
            name, label = document.get("filename") or part["file_id"], part["file_id"]
        elif "file_data" in part:
            _, data = await asyncio.to_thread(decode_data_url, part["file_data"], param)
            name = label = part["filename"]
        else:
            fetched = await fetch_input(part["file_url"], self.limits, param)
            data, name, label = fetched.data, fetched.filename, part["file_url"]
        try:
            text = await asyncio.to_thread(extract, name, data)
        except ExtractionError as exc:
            raise InvalidRequest(f"Invalid input_file '{label}': {exc.message}", code=exc.code) from exc
        return {"type": "text", "text": {"value": f"[File {name}]\n{text}", "annotations": []}}

    async def _image(self, caller: Caller, part: dict[str, Any], param: str) -> dict[str, Any]:
        if part["type"] == "image_file":
            image = part["image_file"]
            document, data = await self.files.read(caller, image["file_id"])
            kind = mimetypes.guess_type(document.get("filename") or "")[0] or "image/png"
            source = {"file_id": image["file_id"]}
            detail = image.get("detail", "auto")
        else:
            url, detail = part["image_url"]["url"], part["image_url"].get("detail", "auto")
            if url.startswith("data:"):
                kind, _ = await asyncio.to_thread(decode_data_url, url, param)
                _check_image(kind, param)
                return part
            fetched = await fetch_input(url, self.limits, param)
            data, kind, source = fetched.data, fetched.content_type, {"image_url": url}
        _check_image(kind, param)
        encoded = await asyncio.to_thread(base64.b64encode, data)
        url = f"data:{kind};base64,{encoded.decode()}"
        return {"type": "image_url", "image_url": {"url": url, "detail": detail}, "source": source}
