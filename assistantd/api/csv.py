"""Usage views as CSV (``?format=csv``): spreadsheets and billing scripts read it as it comes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any


def _flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become ``parent_child`` columns (``amount_value``, ``amount_currency``)."""
    flat: dict[str, Any] = {}
    for name, value in document.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{name}_"))
        elif isinstance(value, dict | list):
            continue
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV with a header of every column any row has, in first-seen order; ``object`` left out."""
    flat = [{k: v for k, v in _flat(row).items() if k != "object"} for row in rows]
    columns = list(dict.fromkeys(name for row in flat for name in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


def bucket_csv(found: Mapping[str, Any]) -> str:
    """A usage or cost page: one line per result, after its bucket's ``start_time`` and ``end_time``."""
    return table(
        {"start_time": bucket["start_time"], "end_time": bucket["end_time"], **result}
        for bucket in found["data"]
        for result in bucket["results"]
    )
