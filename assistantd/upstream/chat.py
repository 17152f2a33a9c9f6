"""The ChatModel seam over OpenAI-compatible upstreams, one client per route, picked by model name.

``lean.LeanClient`` does the HTTP work (SSE parsing, retries with backoff on 408/409/429/5xx/
timeouts/refused connections, as the official ``openai`` client does them); Azure routes go through
the official client, imported only by a server that has one. Everything an upstream does differently
is settled here (see ``normalise`` and ``refusals``), so the engine reads clean deltas; failures
leave as ``UpstreamError`` carrying the run ``last_error`` code they map to.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from assistantd import tokens
from assistantd.llm import (
    ChatRequest,
    Chunk,
    Finish,
    ReasoningDelta,
    TextDelta,
    UpstreamError,
    Usage,
    count_messages,
    never_connected,
)
from assistantd.upstream import refusals
from assistantd.upstream.lean import LeanClient, StatusError, StreamLineError
from assistantd.upstream.normalise import Normaliser
from assistantd.upstream.routes import Profile, Route, Routes, model_not_found

if TYPE_CHECKING:
    import openai

ATTEMPTS = 6  # one per parameter an upstream may refuse, at most


def make_client(route: Route, timeout: float, max_retries: int) -> openai.AsyncAzureOpenAI | LeanClient:
    if not route.is_azure:
        return LeanClient(route.base_url, route.api_key, timeout, max_retries)
    sdk = importlib.import_module("openai")  # already imported at start (RoutedChatModel)
    # No deployment on the client: the SDK puts each request's model (the deployment) in the path.
    # aiohttp under the SDK (its own supported transport): the default one (httpcore on anyio) spent
    # about a quarter of a run's CPU on the upstream call's reads and writes (py-spy).
    azure: openai.AsyncAzureOpenAI = sdk.AsyncAzureOpenAI(
        azure_endpoint=route.base_url,
        api_key=route.api_key,
        api_version=route.api_version or "2024-10-21",
        timeout=timeout,
        max_retries=max_retries,
        http_client=sdk.DefaultAioHttpClient(),
    )
    return azure


class OpenAIChatModel:
    """Any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, Ollama, llama.cpp, OpenAI, Azure...)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        max_retries: int,
        client: openai.AsyncAzureOpenAI | LeanClient | None = None,
    ) -> None:
        self.client = client or LeanClient(base_url, api_key, timeout, max_retries)
        # What each model's upstream refused, so later calls are shaped right at the first try.
        self.refused: dict[str, set[str]] = {}

    def _refused(self, model: str, profile: Profile) -> set[str]:
        known = self.refused.get(model)
        if known is None:
            known = self.refused[model] = set(profile.refuses)
            for name in sorted(profile.refuses):
                refusals.note(model, name, learnt=False)
        return known

    async def _open(self, body: dict[str, Any], profile: Profile) -> Any:
        model = body["model"]
        refused = self._refused(model, profile)
        for _ in range(ATTEMPTS):
            request = refusals.shape(body, refused, model)
            try:
                if isinstance(self.client, LeanClient):
                    return await self.client.open({**request, "stream": True})
                return await _open_through_sdk(self.client, request)
            except StatusError as exc:
                if exc.status != 400:
                    raise
                culprit = refusals.refused_parameter(exc.message, request)
                if culprit is None or culprit in refused:
                    raise
                refused.add(culprit)
                refusals.note(model, culprit, learnt=True)
        raise UpstreamError("invalid_prompt", "The model upstream rejected every shape of the request.")

    async def stream(self, request: ChatRequest, profile: Profile | None = None) -> AsyncIterator[Chunk]:
        profile = profile or Profile()
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, **request.options}
        if request.tools:
            body["tools"] = request.tools
        try:
            stream = await self._open(body, profile)
        except UpstreamError:
            raise
        except Exception as exc:
            raise map_error(exc) from exc
        names = {t["function"]["name"] for t in body.get("tools") or []}
        clean = Normaliser(profile.tool_call_format, profile.reasoning_format, names)
        usage: Usage | None = None
        finish: str | None = None
        produced: list[str] = []
        try:
            async with stream:
                async for chunk in stream:
                    if not isinstance(chunk, dict):
                        continue
                    if isinstance(spent := chunk.get("usage"), dict):
                        usage = Usage(int(spent.get("prompt_tokens") or 0), int(spent.get("completion_tokens") or 0))
                    for choice in (chunk.get("choices") or [])[:1]:
                        for item in clean.feed(choice.get("delta")):
                            produced.append(_text_of(item))
                            yield item
                        finish = choice.get("finish_reason") or finish
        except Exception as exc:
            raise map_error(exc) from exc
        for item in clean.close():
            produced.append(_text_of(item))
            yield item
        if usage is None:
            # Upstreams that send no usage (older vLLM, some proxies) are counted here, off the loop.
            usage = await asyncio.to_thread(_count_usage, request, "".join(produced))
        yield usage
        yield Finish(clean.finish_reason(finish))


async def _open_through_sdk(client: openai.AsyncAzureOpenAI, request: dict[str, Any]) -> Any:
    """The SDK's stream; a refusal (400) leaves as ``StatusError`` as from ``LeanClient``."""
    sdk = importlib.import_module("openai")
    try:
        # Chunks arrive as plain dicts: building the SDK's pydantic chunk objects cost more CPU than
        # the rest of a run's streaming put together (measured with py-spy).
        return await client.post(
            "/chat/completions",
            body={**request, "stream": True},
            cast_to=object,
            stream=True,
            stream_cls=sdk.AsyncStream[object],
        )
    except sdk.BadRequestError as exc:
        kind = exc.response.headers.get("content-type", "") if exc.response is not None else ""
        raise StatusError(400, kind, exc.message) from exc


def _text_of(item: Any) -> str:
    return item.text if isinstance(item, TextDelta | ReasoningDelta) else item.arguments


class RoutedChatModel:
    """The ChatModel the engine uses: each request goes to its model's route, under that route's profile."""

    def __init__(self, routes: Routes, timeout: float, max_retries: int) -> None:
        if any(route.is_azure for route in routes.all()):
            importlib.import_module("openai")  # at start, not on the event loop at the first call
        self.routes = routes
        self.timeout = timeout
        self.max_retries = max_retries
        self.models: dict[tuple[Any, ...], OpenAIChatModel] = {}

    async def close(self) -> None:
        """Close the upstream connections (aiohttp warns of a session left open)."""
        models, self.models = list(self.models.values()), {}
        for model in models:
            await model.client.close()

    def _model(self, route: Route) -> OpenAIChatModel:
        key = (route.base_url, route.api_key, route.is_azure, route.api_version)
        model = self.models.get(key)
        if model is None:
            client = make_client(route, self.timeout, self.max_retries)
            model = self.models[key] = OpenAIChatModel(route.base_url, route.api_key, 0, 0, client=client)
        return model

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        route = self.routes.route_for(request.model)
        if route is None:
            error = model_not_found(request.model)
            raise UpstreamError("invalid_prompt", f"{error.message} No upstream serves it.")
        messages, options = request.messages, request.options
        if request.prefix and route.profile.continue_final_message:
            # vLLM's way: the partial answer as the last message, continued rather than answered.
            messages = [*messages, {"role": "assistant", "content": request.prefix}]
            options = {**options, "continue_final_message": True, "add_generation_prompt": False}
        upstream = ChatRequest(route.upstream_name(request.model), messages, request.tools, options)
        async for chunk in self._model(route).stream(upstream, route.profile):
            yield chunk


def map_error(exc: Exception) -> UpstreamError:
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, StatusError):
        return _status_error(exc.status, _detail(exc.status, exc.content_type, exc.message))
    if isinstance(exc, StreamLineError):
        return _stream_error(exc.body, exc.message)
    sdk = sys.modules.get("openai")  # the SDK's errors come only from a server that imported it
    if sdk is not None and isinstance(exc, sdk.APIError):
        return _sdk_error(exc)
    return UpstreamError("server_error", f"The model upstream failed: {exc}")


def _sdk_error(exc: openai.APIError) -> UpstreamError:
    sdk = importlib.import_module("openai")
    if isinstance(exc, sdk.APITimeoutError) and not never_connected(exc):
        return UpstreamError("server_error", "The model upstream did not answer in time.")
    if isinstance(exc, sdk.APIConnectionError):
        return UpstreamError("server_error", "Could not connect to the model upstream.")
    if isinstance(exc, sdk.APIStatusError):
        response = exc.response
        kind = response.headers.get("content-type", "") if response is not None else ""
        return _status_error(exc.status_code, _detail(exc.status_code, kind, exc.message))
    return _stream_error(exc.body if isinstance(exc.body, dict) else {}, exc.message)


def _status_error(status: int, detail: str) -> UpstreamError:
    if status == 429:
        return UpstreamError("rate_limit_exceeded", f"The model upstream is rate limited: {detail}")
    if status < 500 and status != 408:
        return UpstreamError("invalid_prompt", f"The model upstream rejected the request: {detail}")
    return UpstreamError("server_error", f"The model upstream failed: {detail}")


def _stream_error(body: dict[str, Any], said: str) -> UpstreamError:
    """An ``{"error": ...}`` line inside a 200 stream: its own code or type decides the run's error."""
    signs = " ".join(str(body.get(k, "")) for k in ("code", "type", "status")).lower()
    message = str(body.get("message") or said)
    if "429" in signs or "rate" in signs:
        return UpstreamError("rate_limit_exceeded", f"The model upstream is rate limited: {message}")
    if "context" in signs or "invalid_request" in signs or signs.strip().startswith("400"):
        return UpstreamError("invalid_prompt", f"The model upstream rejected the request: {message}")
    return UpstreamError("server_error", f"The model upstream failed mid-stream: {message}")


TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _detail(status: int, kind: str, message: str) -> str:
    """The upstream's status and message; an HTML page (a proxy's error) is named, not pasted."""
    if "html" in kind or re.search(r"<(!doctype|html|head|body)\b", message, re.IGNORECASE):
        title = TITLE.search(message)
        named = f" ({' '.join(title.group(1).split())})" if title else ""
        message = f"an HTML page{named}, not JSON (an error page of a proxy in front of the model server?)"
    elif status and message.startswith(f"Error code: {status}"):
        message = message.removeprefix(f"Error code: {status}").lstrip(" -")
    return f"{status} {message}".strip() if status else message


def _count_usage(request: ChatRequest, produced: str) -> Usage:
    return Usage(count_messages(request.messages), tokens.count(produced))
