"""``Range`` requests on a stream we serve ourselves (a bucket's object), answered as Starlette's
``FileResponse`` answers them for a local file: one range gets 206, a range past the end 416.

Several ranges, a unit other than bytes, or an ``If-Range`` that no longer matches get the whole body
(200), which RFC 9110 allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.responses import PlainTextResponse

ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def requested_range(headers: Mapping[str, str], size: int, etag: str | None) -> tuple[int, int] | None:
    """``(start, end)`` with ``end`` exclusive; ``start >= end`` when nothing of it exists; None for all."""
    spec = headers.get("range")
    if not spec:
        return None
    if_range = headers.get("if-range")
    if if_range is not None and if_range != etag:
        return None
    match = ONE_RANGE.fullmatch(spec.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last N bytes
        count = int(last)
        return (max(0, size - count), size) if count else (size, size)
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if last and int(last) < start:
        return None  # an invalid range is ignored
    return (start, end) if start < size else (size, size)


def unsatisfiable(size: int) -> PlainTextResponse:
    return PlainTextResponse("Range Not Satisfiable", status_code=416, headers={"content-range": f"bytes */{size}"})
