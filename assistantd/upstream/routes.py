"""Model routing: which upstream serves a model name, with which key and which profile.

The ``[models]`` table of the config file maps names or glob patterns (``llama3.1*``) to routes; an
exact name wins over patterns, and patterns are tried in the file's order. ``ASSISTANTD_MODEL_BASE_URL``
is the default route and serves any other name (unless set empty). Chat models, embedders and rerankers
all resolve their model names here.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

from assistantd.errors import InvalidRequest
from assistantd.settings import ModelRoute, Settings

DEFAULT = "default"


@dataclass(frozen=True)
class Profile:
    """How one model's upstream differs from OpenAI's chat completions."""

    tool_call_format: str = "native"  # native | json | hermes
    reasoning_format: str = "auto"  # auto | think | none
    context_tokens: int | None = None
    # Continues an answer sent as the last message (vLLM's ``continue_final_message``).
    continue_final_message: bool = False
    refuses: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Route:
    """Where a model is served. ``key`` names the route (its table key, or ``default``)."""

    key: str
    base_url: str
    api_key: str = field(repr=False)  # never in logs
    profile: Profile = field(default_factory=Profile)
    upstream_model: str | None = None
    azure_deployment: str | None = None
    api_version: str | None = None

    @property
    def is_pattern(self) -> bool:
        return any(ch in self.key for ch in "*?[")

    @property
    def is_azure(self) -> bool:
        return self.azure_deployment is not None

    def upstream_name(self, model: str) -> str:
        """The model name to send upstream for ``model`` (Azure: the deployment)."""
        return self.upstream_model or self.azure_deployment or model

    @property
    def identity(self) -> tuple[str, str, str, str | None, str | None]:
        """Routes with the same identity share one HTTP client."""
        return (self.base_url, self.api_key, self.key if self.is_azure else "", self.azure_deployment, self.api_version)


def model_not_found(model: str) -> InvalidRequest:
    """OpenAI's answer to a model it does not serve (Assistants and runs: a 400)."""
    return InvalidRequest(f"The requested model '{model}' does not exist.", param="model", code="model_not_found")


class Routes:
    """The resolver: ``route_for(name)`` gives the route serving that model name, or None."""

    def __init__(self, routes: list[Route], default: Route | None) -> None:
        self.exact = {r.key: r for r in routes if not r.is_pattern}
        self.patterns = [r for r in routes if r.is_pattern]
        self.default = default

    def route_for(self, model: str) -> Route | None:
        if model in self.exact:
            return self.exact[model]
        for route in self.patterns:
            if fnmatch.fnmatchcase(model, route.key):
                return route
        return self.default

    def require(self, model: str) -> Route:
        """The route for ``model``, or OpenAI's 400 ``model_not_found``."""
        route = self.route_for(model)
        if route is None:
            raise model_not_found(model)
        return route

    def endpoint(self, model: str, base_url: str, api_key: str) -> tuple[str, str, str]:
        """``(base_url, api_key, upstream model name)`` for a model other seams call (embeddings,
        reranking): its table route when the table names it, else the seam's own upstream."""
        route = self.route_for(model)
        if route is None or route is self.default:
            return base_url, api_key, model
        return route.base_url, route.api_key, route.upstream_name(model)

    def context_tokens(self, model: str) -> int | None:
        """The model's context length, as its route's profile gives it."""
        route = self.route_for(model)
        return route.profile.context_tokens if route else None

    def continues(self, model: str) -> bool:
        """Whether the model's upstream continues a partly written answer (else a run starts it over)."""
        route = self.route_for(model)
        return bool(route and route.profile.continue_final_message)

    def all(self) -> list[Route]:
        return [*self.exact.values(), *self.patterns, *([self.default] if self.default else [])]


def _route(key: str, entry: ModelRoute, settings: Settings) -> Route:
    api_key = entry.api_key
    if entry.api_key_env:
        api_key = os.environ.get(entry.api_key_env) or api_key
    profile = Profile(
        tool_call_format=entry.tool_call_format,
        reasoning_format=entry.reasoning_format,
        context_tokens=entry.context_tokens or settings.model_context_tokens,
        refuses=frozenset(entry.refuses),
        continue_final_message=entry.continue_final_message,
    )
    return Route(
        key=key,
        base_url=entry.base_url,
        api_key=api_key or settings.model_api_key,
        profile=profile,
        upstream_model=entry.upstream_model,
        azure_deployment=entry.azure_deployment,
        api_version=entry.api_version,
    )


def build_routes(settings: Settings) -> Routes:
    """The routes of the ``[models]`` table, and the default one from the flat settings."""
    routes = [_route(key, entry, settings) for key, entry in settings.models.items()]
    default = None
    if settings.model_base_url:
        profile = Profile(
            context_tokens=settings.model_context_tokens, continue_final_message=settings.model_continue_final_message
        )
        default = Route(DEFAULT, settings.model_base_url, settings.model_api_key, profile)
    return Routes(routes, default)
