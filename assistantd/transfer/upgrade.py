"""Rows of older archives, brought to what this version writes.

Two things change between archives: the archive's format (``manifest.version``) and the database
schema the rows were read from (``manifest.schema_revision``, an Alembic revision). Each step below
names the one it undoes.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

# Migration 0008 moved server-private keys out of the documents into columns: (kind, key, column).
PRIVATE_KEYS = (
    ("vector_stores", "_embedder", "embedder"),
    ("vector_store_files", "_job", None),
    ("vector_store_file_batches", "_cancelled", "cancelled"),
)


def row(kind: str, found: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["version"] < 1 and kind == "chunks" and isinstance(found.get("embedding"), list):
        # Format 0 wrote embeddings as lists of numbers; 1 writes base64 of little-endian float32.
        found["embedding"] = base64.b64encode(np.asarray(found["embedding"], dtype="<f4").tobytes()).decode()
    if _before(manifest.get("schema_revision"), "0008"):
        _private_keys_to_columns(kind, found)
    if kind == "vector_stores" and not found.get("embedder"):
        # Stores made before embedders were recorded per store were indexed by the server's default.
        found["embedder"] = manifest.get("embedder")
    return found


def _before(revision: Any, than: str) -> bool:
    return isinstance(revision, str) and revision.isdigit() and revision < than


def _private_keys_to_columns(kind: str, found: dict[str, Any]) -> None:
    data = found.get("data")
    if not isinstance(data, dict):
        return
    for owner, key, column in PRIVATE_KEYS:
        if owner == kind and key in data:
            value = data.pop(key)
            if column == "cancelled":
                found[column] = bool(value)
            elif column is not None:
                found[column] = value
