"""``GET /v1/models``: the names the routes offer, and what each upstream's own ``/models`` reports.

Upstream lists are cached briefly and only ever read for these requests, never on a run's path. An
upstream that does not answer is left out (and logged), so one dead server does not hide the rest.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from typing import Any

import aiohttp

from assistantd.errors import NotFound
from assistantd.protocol.models import Model, model_object
from assistantd.upstream.routes import Route, Routes

log = logging.getLogger("assistantd.upstream")

CACHE_SECONDS = 60.0
LIST_TIMEOUT = 5.0


class Catalog:
    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.cached: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.lock = asyncio.Lock()

    async def _upstream(self, client: aiohttp.ClientSession, route: Route) -> list[dict[str, Any]]:
        url = route.base_url.rstrip("/") + "/models"
        hit = self.cached.get(url)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        try:
            async with client.get(url, headers={"Authorization": f"Bearer {route.api_key}"}) as answer:
                answer.raise_for_status()
                body = await answer.json(content_type=None)
            found = [m for m in body.get("data") or [] if isinstance(m, dict) and m.get("id")]
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            log.warning("could not list the models of %s: %s", url, exc)
            found = []
        self.cached[url] = (time.monotonic(), found)
        return found

    async def list(self) -> list[Model]:
        """Configured names first, then each upstream's models that its route would serve."""
        models: dict[str, Model] = {}
        for name in self.routes.exact:
            models[name] = model_object(name, "assistantd")
        timeout = aiohttp.ClientTimeout(total=LIST_TIMEOUT)
        async with self.lock, aiohttp.ClientSession(timeout=timeout) as client:
            for route in self.routes.all():
                if route.is_azure or not (route.is_pattern or route is self.routes.default):
                    continue  # Azure lists base models, not deployments; exact routes are named above
                for item in await self._upstream(client, route):
                    name = str(item["id"])
                    if route.is_pattern and not fnmatch.fnmatchcase(name, route.key):
                        continue
                    if name not in models and self.routes.route_for(name) is route:
                        models[name] = model_object(name, str(item.get("owned_by") or "upstream"), _int(item))
        return list(models.values())

    async def get(self, model_id: str) -> Model:
        for model in await self.list():
            if model["id"] == model_id:
                return model
        raise NotFound(
            f"The model '{model_id}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )


def _int(item: dict[str, Any]) -> int:
    value = item.get("created")
    return value if isinstance(value, int) else 0
