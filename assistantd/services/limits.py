"""Limits per project and per key: requests and tokens per minute, concurrent runs, stored bytes.

Requests and tokens are GCRA buckets (a token bucket kept as one number, its theoretical arrival time):
a limit of N per minute holds N and refills one every 60/N s, as OpenAI's limits do ("the time until the
rate limit resets to its initial state" is its reset header). The buckets live behind ``Counter``, shared
by every process and replica (the database by default, Redis by URL; wiring.py picks).

A request must not pay a shared write: each process leases permits in batches sized to its own recent
rate (a second of it, at most 1% of the limit, so the permits a lease strands when traffic stops are within the 5% the
limits promise), and once the shared bucket says "none before T" every process refuses locally until T.
Tokens are charged after the fact, as a run's model calls report usage: a run past the limit finishes,
and requests that would start model work are refused until the bucket has room again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Protocol

from assistantd.errors import Forbidden, RateLimited
from assistantd.services.keys import key_hash
from assistantd.store import limits as store
from assistantd.store.db import Database
from assistantd.store.limits import Taken

log = logging.getLogger("assistantd.limits")

PERIOD = 60.0  # seconds: every rate here is per minute
LEASE_SECONDS = 2.0  # leased permits not used by then are dropped (never reused late)
CACHE_SECONDS = 5.0  # how stale a process's copy of the configured limits may be


class Counter(Protocol):
    """Shared GCRA buckets: take up to ``n`` permits (all ``n`` with ``force``, running into debt)."""

    async def take(self, key: str, interval: float, tau: float, n: int, force: bool, at: float) -> Taken: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Policy:
    """Limits of one subject (a project, or a key); 0 is no limit."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    concurrent_runs: int = 0
    storage_bytes: int = 0

    def merged(self, row: dict[str, int | None] | None) -> Policy:
        row = row or {}
        return Policy(**{f.name: _pick(row.get(f.name), getattr(self, f.name)) for f in fields(self)})


def _pick(value: int | None, default: int) -> int:
    return default if value is None else int(value)


def key_id(secret: str) -> str:
    """An API key's ``key_...`` id: ``key_`` and the start of its SHA-256 (the secret itself is never kept)."""
    return "key_" + key_hash(secret)[:24]


def duration(seconds: float) -> str:
    """OpenAI's reset headers: Go's duration format (``20ms``, ``1s``, ``7.66s``, ``6m0s``)."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


@dataclass
class Bucket:
    """This process's view of one shared bucket."""

    limit: int
    permits: int = 0  # leased from the shared bucket, not used yet
    expires: float = 0.0  # monotonic: when the leased permits are dropped
    blocked_until: float = 0.0  # Unix time before which the shared bucket has nothing
    tat: float = 0.0  # the shared bucket's arrival time as last seen
    # Admissions here: [start of this second, in this second, in the second before].
    recent: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def interval(self) -> float:
        return PERIOD / self.limit

    def remaining(self, at: float) -> int:
        return max(0, math.floor((at + PERIOD - self.tat) / self.interval + store.EPSILON)) + self.permits

    def reset(self, at: float) -> float:
        return max(0.0, self.tat - at - self.permits * self.interval)

    def lease_size(self) -> int:
        """About a second of this process's recent admissions, within 1% of the limit: a shared write
        costs a SQLite server about a millisecond of CPU (a quarter second's leases were 0.15 ms a read)."""
        return max(1, min(int(max(self.recent[1], self.recent[2])), self.limit // 100, 1000))

    def count(self, mono: float) -> None:
        if mono - self.recent[0] > 1.0:
            before = self.recent[1] if mono - self.recent[0] < 2.0 else 0.0
            self.recent[:] = [mono, 0.0, before]
        self.recent[1] += 1


@dataclass(frozen=True)
class Subject:
    """Whose buckets a request draws on: its project's, and its key's when the key has limits."""

    name: str  # counter key part
    label: str  # for messages
    policy: Policy
    project: str
    key: str | None = None  # None: the project's own limits


class Limits:
    def __init__(self, db: Database, counter: Counter, defaults: Policy) -> None:
        self.db = db
        self.counter = counter
        self.defaults = defaults
        self._buckets: dict[str, Bucket] = {}
        self._rows: dict[str, tuple[dict[str, dict[str, int | None]], float]] = {}
        self._subjects: dict[tuple[str, str | None], tuple[dict[str, dict[str, int | None]], list[Subject]]] = {}
        self._debts: dict[str, tuple[int, int]] = {}  # counter key -> (limit, tokens not yet charged)
        self._flushing: asyncio.Task[None] | None = None

    # -- configuration -------------------------------------------------------------------------------

    async def rows(self, project: str) -> dict[str, dict[str, int | None]]:
        cached = self._rows.get(project)
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        found = await store.read_limits(self.db, project)
        if len(self._rows) > 10_000:
            self._rows.clear()
        self._rows[project] = (found, time.monotonic())
        return found

    async def stored_rows(self, project: str) -> dict[str, dict[str, int | None]]:
        """The rows as stored now, for the Admin API: not cached, so this process never keeps a view older
        than a change made through another one (which would then outlive the change by ``CACHE_SECONDS``)."""
        return await store.read_limits(self.db, project)

    async def project_policy(self, project: str) -> Policy:
        return self.defaults.merged((await self.rows(project)).get(""))

    async def set_limits(self, project: str, key: str, values: dict[str, int | None]) -> None:
        await store.write_limits(self.db, project, key, values)
        self._rows.pop(project, None)

    async def subjects(self, project: str, key: str | None) -> list[Subject]:
        """Whose limits a request of this project and key draws on (kept while the rows are)."""
        rows = await self.rows(project)
        cached = self._subjects.get((project, key))
        if cached is not None and cached[0] is rows:
            return cached[1]
        found = self._subjects_of(rows, project, key)
        if len(self._subjects) > 10_000:
            self._subjects.clear()
        self._subjects[(project, key)] = (rows, found)
        return found

    def _subjects_of(self, rows: dict[str, dict[str, int | None]], project: str, key: str | None) -> list[Subject]:
        found = [Subject(f"p:{project}", f"project {project}", self.defaults.merged(rows.get("")), project)]
        if key is not None and key in rows:
            found.append(Subject(f"k:{project}:{key}", f"key {key}", Policy().merged(rows[key]), project, key))
        return found

    # -- requests per minute -------------------------------------------------------------------------

    def _bucket(self, name: str, limit: int) -> Bucket:
        bucket = self._buckets.get(name)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[name] = Bucket(limit)
        return bucket

    async def admit(self, subjects: list[Subject]) -> dict[str, str]:
        """Take one request permit from each subject's bucket; the rate headers of the tightest."""
        tightest: tuple[int, Bucket] | None = None
        for subject in subjects:
            limit = subject.policy.requests_per_minute
            if not limit:
                continue
            bucket = self._bucket(f"rpm:{subject.name}", limit)
            if not await self._take_request(bucket, f"rpm:{subject.name}"):
                raise self._refusal(subject, bucket, "requests", "requests per min (RPM)")
            left = bucket.remaining(time.time())
            if tightest is None or left < tightest[0]:
                tightest = (left, bucket)
        return self._headers("requests", tightest[1]) if tightest else {}

    async def _take_request(self, bucket: Bucket, name: str) -> bool:
        mono = time.monotonic()
        bucket.count(mono)
        if bucket.permits > 0 and mono < bucket.expires:
            bucket.permits -= 1
            return True
        if time.time() < bucket.blocked_until:
            return False
        async with bucket.lock:
            if bucket.permits > 0 and time.monotonic() < bucket.expires:  # another request leased meanwhile
                bucket.permits -= 1
                return True
            at = time.time()
            taken = await self.counter.take(name, bucket.interval, PERIOD, bucket.lease_size(), False, at)
            bucket.tat = taken.tat
            if taken.granted == 0:
                bucket.permits = 0
                bucket.blocked_until = taken.tat - PERIOD + bucket.interval
                return False
            bucket.permits, bucket.expires = taken.granted - 1, time.monotonic() + LEASE_SECONDS
            return True

    def _headers(self, kind: str, bucket: Bucket) -> dict[str, str]:
        at = time.time()
        return {
            f"x-ratelimit-limit-{kind}": str(bucket.limit),
            f"x-ratelimit-remaining-{kind}": str(bucket.remaining(at)),
            f"x-ratelimit-reset-{kind}": duration(bucket.reset(at)),
        }

    def _refusal(self, subject: Subject, bucket: Bucket, kind: str, what: str) -> RateLimited:
        at = time.time()
        wait = max(0.001, bucket.tat - PERIOD + bucket.interval - at)
        used = bucket.limit - bucket.remaining(at)
        message = (
            f"Rate limit reached in {subject.label} on {what}: Limit {bucket.limit}, Used {used}, Requested 1. "
            f"Please try again in {duration(wait)}."
        )
        return RateLimited(message, kind, wait, self._headers(kind, bucket))

    # -- tokens per minute ---------------------------------------------------------------------------

    async def admit_model_work(self, subjects: list[Subject]) -> dict[str, str]:
        """Refuse work that would call the model while a token bucket is spent; its headers otherwise."""
        tightest: tuple[int, Bucket] | None = None
        for subject in subjects:
            limit = subject.policy.tokens_per_minute
            if not limit:
                continue
            name = f"tpm:{subject.name}"
            bucket = self._bucket(name, limit)
            at = time.time()
            bucket.tat = (await self.counter.take(name, bucket.interval, PERIOD, 0, False, at)).tat
            left = bucket.remaining(at)
            if left < 1:
                raise self._refusal(subject, bucket, "tokens", "tokens per min (TPM)")
            if tightest is None or left < tightest[0]:
                tightest = (left, bucket)
        return self._headers("tokens", tightest[1]) if tightest else {}

    async def charge_tokens(self, project: str, key: str | None, tokens: int) -> None:
        """A model call's usage, charged to the project's (and the key's) token buckets in the background."""
        if tokens <= 0:
            return
        for subject in await self.subjects(project, key):
            limit = subject.policy.tokens_per_minute
            if limit:
                name = f"tpm:{subject.name}"
                self._debts[name] = (limit, self._debts.get(name, (limit, 0))[1] + tokens)
        if self._debts and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._debts:
            name, (limit, tokens) = self._debts.popitem()
            try:
                taken = await self.counter.take(name, PERIOD / limit, PERIOD, tokens, True, time.time())
            except Exception:  # a failed charge must never fail a run; the tokens go uncounted
                log.exception("could not charge %s tokens to %s", tokens, name)
                continue
            self._bucket(name, limit).tat = taken.tat

    # -- runs and storage ----------------------------------------------------------------------------

    async def admit_run(self, subjects: list[Subject]) -> None:
        for subject in subjects:
            limit = subject.policy.concurrent_runs
            if not limit:
                continue
            active = await store.active_runs(self.db, subject.project, subject.key)
            if active >= limit:
                raise RateLimited(
                    f"Rate limit reached in {subject.label} on concurrent runs: Limit {limit}, Used {active}, "
                    "Requested 1. Please try again when a run has ended.",
                    "requests",
                    1.0,
                    {},
                )

    async def admit_storage(self, project: str, incoming: int) -> None:
        limit = (await self.project_policy(project)).storage_bytes
        if not limit:
            return
        used = await store.stored_bytes(self.db, project)
        if used + incoming > limit:
            raise Forbidden(
                f"You have exceeded your file storage quota. Project {project} is limited to {limit} bytes of files "
                f"and vector stores and uses {used}. Please delete files or vector stores, or ask for a higher limit.",
                code="quota_exceeded",
            )

    def token_meter(self) -> Callable[[str, str | None, int], None]:
        """What the run engine calls after each model call (it must not wait on a shared write)."""
        pending: set[asyncio.Task[None]] = set()

        def meter(project: str, key: str | None, tokens: int) -> None:
            task = asyncio.get_running_loop().create_task(self.charge_tokens(project, key, tokens))
            pending.add(task)
            task.add_done_callback(pending.discard)

        return meter

    async def close(self) -> None:
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await self.counter.close()
