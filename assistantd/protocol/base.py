"""Wire-model building blocks: tolerant request models, tagged unions, metadata, pages."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Tag, model_validator
from pydantic_core import PydanticCustomError

log = logging.getLogger("assistantd.protocol")

TAG_PREFIX = "type="
# The JSON text of every document stored or streamed (JSON columns, server-sent events): compact, and
# without the circular-reference check (documents are trees), ~15% less CPU per document than
# ``json.dumps``'s defaults on a run's hot path.
dump_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class WireModel(BaseModel):
    """A request body: unknown fields are accepted and logged, never fatal (clients add extras)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _log_unknown(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = set(value) - set(cls.model_fields)
            if unknown:
                log.debug("%s: ignoring unknown fields %s", cls.__name__, sorted(unknown))
        return value

    def given(self) -> dict[str, Any]:
        """The fields the client sent with a value; an explicit null means "not given"."""
        return {k: getattr(self, k) for k in self.model_fields_set if getattr(self, k) is not None}


def _type_of(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        return f"{TAG_PREFIX}{kind}" if isinstance(kind, str) else None
    kind = getattr(value, "type", None)
    return f"{TAG_PREFIX}{kind}" if isinstance(kind, str) else None


def tagged(*models: type[BaseModel]) -> Any:
    """A union chosen by the ``type`` field. Tags carry a prefix so error paths can drop them."""
    members = tuple(Annotated[m, Tag(TAG_PREFIX + _literal_tag(m))] for m in models)
    return Annotated[_union(members), Discriminator(_type_of)]


def _literal_tag(model: type[BaseModel]) -> str:
    annotation = model.model_fields["type"].annotation
    return str(annotation.__args__[0])  # type: ignore[union-attr]


def _union(members: tuple[Any, ...]) -> Any:
    from typing import Union

    return Union[members]  # noqa: UP007 - built from a runtime tuple


def check_key_map(name: str, value: dict[str, Any]) -> None:
    """The limits metadata and vector-store-file attributes share: 16 keys of at most 64 characters."""
    if len(value) > 16:
        raise PydanticCustomError(
            "object_above_max_properties",
            f"Invalid '{name}': too many properties. Expected an object with at most 16 properties, "
            "but got an object with {count} properties instead.",
            {"count": len(value)},
        )
    for key in value:
        if len(key) > 64:
            raise PydanticCustomError(
                "string_above_max_length",
                f"Invalid '{name}': key too long. Expected a key with maximum length 64, "
                "but got a key with length {length} instead.",
                {"length": len(key)},
            )


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    check_key_map("metadata", value)
    for key, item in value.items():
        if len(item) > 512:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, "
                "but got a string with length {length} instead.",
                {"key": key, "length": len(item)},
            )
    return value


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]
