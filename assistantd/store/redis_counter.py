"""The limits' GCRA buckets in Redis (``ASSISTANTD_LIMITS_URL=redis://...``, the ``redis`` extra).

One Lua script per take, so the read and the write of a bucket are one atomic step on the server, as
the upsert is in the database (store/limits.py); a bucket's key expires once it is full again.
"""

from __future__ import annotations

from typing import Any

from assistantd.errors import require_extra
from assistantd.store.limits import EPSILON, Taken

TAKE = f"""
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now, interval, tau, n, force = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5] == '1'
local base = math.max(tat, now)
local granted = n
if not force then
  granted = math.max(0, math.min(n, math.floor((now + tau - base) / interval + {EPSILON})))
end
local new = base + granted * interval
redis.call('SET', KEYS[1], string.format('%.6f', new), 'PX', math.ceil((new - now) * 1000) + 1000)
return {{granted, string.format('%.6f', new)}}
"""
PREFIX = "assistantd:limits:"


class RedisCounter:
    def __init__(self, url: str) -> None:
        require_extra("redis", "redis", "ASSISTANTD_LIMITS_URL=redis://...")
        import redis.asyncio as aioredis

        self.client: Any = aioredis.Redis.from_url(url)
        self.script = self.client.register_script(TAKE)

    async def take(self, key: str, interval: float, tau: float, n: int, force: bool, at: float) -> Taken:
        args = [repr(at), repr(interval), repr(tau), str(n), "1" if force else "0"]
        granted, tat = await self.script(keys=[PREFIX + key], args=args)
        return Taken(int(granted), float(tat))

    async def close(self) -> None:
        await self.client.aclose()
