"""What a delete answers: ``{id, object: "<kind>.deleted", deleted: true}``, one shape for every kind.

Each kind's module names its own (``VectorStoreDeleted = Deleted[Literal["vector_store.deleted"]]``),
so mypy checks the ``object`` a service passes against the kind it declares it returns.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from typing_extensions import TypedDict

Kind = TypeVar("Kind", bound=str)


class Deleted(TypedDict, Generic[Kind]):
    id: str
    object: Kind
    deleted: Literal[True]


def deleted(object_id: str, kind: Kind) -> Deleted[Kind]:
    return {"id": object_id, "object": kind, "deleted": True}
