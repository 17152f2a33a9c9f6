"""The Model object (``/v1/models``): a name some route serves, and who owns it."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class Model(TypedDict):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[Model]


def model_object(model_id: str, owned_by: str, created: int = 0) -> Model:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def model_list(models: list[Model]) -> ModelList:
    """Not a cursor page: OpenAI's model list has no ids to page by."""
    return {"object": "list", "data": models}
