"""Validate responses against the official OpenAPI descriptions (Assistants; Responses and Conversations)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parent / "data" / "assistants-openapi.yaml"
RESPONSES_SPEC = Path(__file__).parent / "data" / "responses-openapi.yaml"


@cache
def _registry(spec_path: Path = SPEC) -> Registry:
    spec = yaml.safe_load(spec_path.read_text())
    return Registry().with_resource("urn:openai-spec", Resource(contents=spec, specification=DRAFT202012))


@cache
def _validator(name: str, spec_path: Path = SPEC) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:openai-spec#/components/schemas/{name}"}, registry=_registry(spec_path))


def assert_valid(name: str, document: Any, spec_path: Path = SPEC) -> None:
    """Fail with every schema violation of ``document`` against ``components.schemas[name]``."""
    errors = sorted(_validator(name, spec_path).iter_errors(document), key=lambda e: list(e.path))
    details = [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message[:300]}" for e in errors]
    assert not errors, f"{name} does not validate:\n" + "\n".join(details)


@cache
def _event_schemas() -> dict[str, str]:
    """Each Responses stream event type and the schema that describes it."""
    schemas = yaml.safe_load(RESPONSES_SPEC.read_text())["components"]["schemas"]
    found: dict[str, str] = {}
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        kind = schemas[name].get("properties", {}).get("type", {})
        for value in [*kind.get("enum", []), *([kind["const"]] if "const" in kind else [])]:
            found[value] = name
    return found


def assert_valid_event(event: dict[str, Any]) -> None:
    """A Responses stream event against the schema of its own type (precise errors, unlike anyOf)."""
    name = _event_schemas().get(event.get("type", ""))
    assert name is not None, f"unknown stream event type {event.get('type')!r}"
    assert_valid(name, event, RESPONSES_SPEC)


def assert_valid_stream(events: list[Any]) -> None:
    """SDK stream events numbered from 0 in order, each valid against the schema of its own type."""
    assert [e.sequence_number for e in events] == list(range(len(events)))
    for event in events:
        assert_valid_event(event.to_dict())
