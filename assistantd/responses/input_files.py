"""``input_file`` parts: the model reads the file, so its text joins the message (as OpenAI does).

Uses the file store (``services.files.Files.read``) and text extraction (``retrieval.extract``,
which the retrieval package may move: re-point the import here).
"""

from __future__ import annotations

import asyncio
from typing import Any

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest
from assistantd.retrieval.extract import ExtractionError, extract
from assistantd.services.files import Files


async def inline_files(files: Files, caller: Caller, messages: list[dict[str, Any]]) -> None:
    """Put each ``input_file`` part's text beside it (the part stays, as the message's attachment)."""
    for entry in messages:
        parts: list[dict[str, Any]] = []
        for part in entry["parts"]:
            if part["type"] == "input_file":
                parts.append(await _text_part(files, caller, part["file_id"]))
            parts.append(part)
        entry["parts"] = parts


async def _text_part(files: Files, caller: Caller, file_id: str) -> dict[str, Any]:
    document, data = await files.read(caller, file_id)
    name = document.get("filename") or file_id
    try:
        text = await asyncio.to_thread(extract, name, data)
    except ExtractionError as exc:
        raise InvalidRequest(f"Invalid input_file '{file_id}': {exc.message}", code=exc.code) from exc
    return {"type": "text", "text": {"value": f"[File {name}]\n{text}", "annotations": []}}
