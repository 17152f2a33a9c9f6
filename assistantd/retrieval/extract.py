"""Text out of the file types OpenAI's file_search accepted, with well-kept parsers.

Everything here is synchronous and CPU-bound: callers run it in a thread. Failures raise
``ExtractionError`` with the ``last_error`` code and a message a person can act on.
"""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath

# OpenAI's list of searchable extensions (behaviours.md §6).
TEXT_EXTENSIONS = {
    ".c",
    ".cs",
    ".cpp",
    ".java",
    ".json",
    ".md",
    ".php",
    ".py",
    ".rb",
    ".tex",
    ".txt",
    ".css",
    ".js",
    ".sh",
    ".ts",
}
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | {".doc", ".docx", ".html", ".pdf", ".pptx"}
SUPPORTED_FILES_URL = "https://platform.openai.com/docs/assistants/tools/file-search/supported-files"


class ExtractionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def extension(filename: str) -> str:
    return PurePosixPath(filename.lower()).suffix


def unsupported_message(extensions: list[str]) -> str:
    listed = ", ".join(extensions)
    return f"Files with extensions [{listed}] are not supported for retrieval. See {SUPPORTED_FILES_URL}"


def decode_text(data: bytes) -> str:
    """text/* must be UTF-8, UTF-16 or ASCII, as OpenAI required."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExtractionError(
            "invalid_file", "The file is not valid text: text files must be UTF-8, UTF-16 or ASCII."
        ) from None


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("invalid_file", "The PDF is encrypted; upload it without a password.")
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError("invalid_file", f"The file could not be read as a PDF: {exc}") from exc


def _docx(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zip, XML and its own errors alike
        raise ExtractionError("invalid_file", f"The file could not be read as a DOCX document: {exc}") from exc
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def _pptx(data: bytes) -> str:
    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as exc:  # zip, XML and package errors alike
        raise ExtractionError("invalid_file", f"The file could not be read as a PPTX deck: {exc}") from exc
    slides = []
    for number, slide in enumerate(deck.slides, start=1):
        lines = [f"Slide {number}"]
        for shape in slide.shapes:
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                lines.append(shape.text_frame.text)
            if getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    lines.append(" | ".join(cell.text for cell in row.cells))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            lines.append(slide.notes_slide.notes_text_frame.text)
        slides.append("\n".join(line for line in lines if line))
    return "\n\n".join(slides)


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def _json(data: bytes) -> str:
    text = decode_text(data)
    try:
        json.loads(text)
    except ValueError as exc:
        raise ExtractionError("invalid_file", f"The file is not valid JSON: {exc}") from exc
    return text


def extract(filename: str, data: bytes) -> str:
    """The file's text; raises ``ExtractionError`` when it cannot be read."""
    ext = extension(filename)
    if ext == ".pdf":
        return _pdf(data)
    if ext == ".docx":
        return _docx(data)
    if ext == ".pptx":
        return _pptx(data)
    if ext == ".html":
        return _html(data)
    if ext == ".json":
        return _json(data)
    if ext == ".doc":
        raise ExtractionError("unsupported_file", "Legacy Word .doc files cannot be read here; save the file as .docx.")
    if ext in TEXT_EXTENSIONS:
        return decode_text(data)
    raise ExtractionError("unsupported_file", unsupported_message([ext or "none"]))
