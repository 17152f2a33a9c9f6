"""Background ingestion: extract, chunk, embed and index files attached to vector stores.

The database is the queue. A file attached to a store is recorded ``in_progress``; the worker tasks of
every server process (and replica) claim such files in batches, each claim a lease
(``lease_owner``, ``lease_expires_at``) that the claiming process renews while it works, as for runs.
A file whose process died is claimed again once its lease runs out; a live lease is never taken, so
no file is ingested twice at the same time, and nothing is queued again blindly at start. A claim is
one conditional ``UPDATE ... RETURNING``: on PostgreSQL its rows picked ``FOR UPDATE SKIP LOCKED``,
so replicas claim different files; SQLite has one writer at a time.

A claim holds up to ``batch_files`` files and at most ``GROUP_BYTES`` of them (at least one file): its
files are read and parsed in parallel (threads: tokenising releases the GIL), their chunks embedded
in shared requests (the embedder splits them by its batch size), and their results written in one
transaction, so the per-file fixed cost is a few statements per claim. A worker
writes a file's result only if the file is still ``in_progress`` under the job token it claimed and
still leased to this process, so a cancel, a detach, a re-attach or a takeover in the meantime wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy import Connection, Table, bindparam, event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.blobs import BlobStore, StorageUnavailable
from assistantd.protocol.vector_stores import StaticStrategy
from assistantd.retrieval import chunking
from assistantd.retrieval.cascade import Cascade
from assistantd.retrieval.documents import is_expired
from assistantd.retrieval.embedders import Embedders, EmbeddingError
from assistantd.retrieval.extract import ExtractionError, extract
from assistantd.retrieval.index.base import FileChunks, IndexedChunk, VectorIndex
from assistantd.store.db import Database, uncounted
from assistantd.store.models import FileRow, VectorStoreFileRow, VectorStoreRow

log = logging.getLogger("assistantd.ingestion")
EXPIRY_SWEEP_SECONDS = 600
PROGRESS_EVERY_SECONDS = 10.0
# A claim keeps at most this many bytes of files (at least one file), and gives the rest back at once:
# a batch of large files never sits in one worker's memory, other workers share it, and its
# ``file_counts`` move a few files at a time. Small files fill a whole claim (a few ms of fixed cost
# per claim against ~0.5 s of work per MB).
GROUP_BYTES = 512 << 10
VSF = VectorStoreFileRow
FILES = cast(Table, VSF.__table__)
# Claimable: in progress and leased to nobody (or to a process whose lease ran out).
CLAIMABLE_SQL = (
    "SELECT 1 FROM vector_store_files WHERE status = 'in_progress' "
    "AND (lease_expires_at IS NULL OR lease_expires_at < :now) LIMIT 1"
)


class Progress:
    """Files and text ingested since this process was last idle; logged at most every 10 seconds."""

    def __init__(self) -> None:
        self.files = self.bytes = 0
        self.started = self.logged = 0.0

    def done(self, files: int, size: int, held: int) -> None:
        clock = time.monotonic()
        if not self.files:
            self.started = self.logged = clock
        self.files += files
        self.bytes += size
        if held == 0 or clock - self.logged >= PROGRESS_EVERY_SECONDS:
            rate = self.bytes / max(clock - self.started, 1e-6) / 1e6
            log.info(
                "ingested %d files (%.1f MB of text, %.2f MB/s); %d claimed here",
                self.files,
                self.bytes / 1e6,
                rate,
                held,
            )
            self.logged = clock
        if held == 0:
            self.files = self.bytes = 0


@dataclass
class Job:
    seq: int
    store_id: str
    file_id: str
    token: str
    project: str
    strategy: StaticStrategy
    filename: str = ""
    size: int = 0
    embedder: str | None = None
    # Filled while the group is processed: the chunks' texts and vectors, or why the file failed.
    pieces: list[chunking.Chunk] = field(default_factory=list)
    text_bytes: int = 0
    vectors: np.ndarray | None = None
    failure: Failure | None = None


class Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _parse(filename: str, data: bytes, strategy: StaticStrategy) -> tuple[list[chunking.Chunk], int]:
    """Text and chunks of one file (in a worker thread)."""
    try:
        text = extract(filename, data)
    except ExtractionError as exc:
        raise Failure(exc.code, exc.message) from None
    pieces = chunking.split(text, strategy)
    if not pieces:
        raise Failure("invalid_file", "No text could be extracted from the file.")
    return pieces, len(text.encode())


def first_bytes(jobs: list[Job], limit: int = GROUP_BYTES) -> list[Job]:
    """The first jobs holding at most ``limit`` bytes of files (or the first alone, if larger)."""
    size = 0
    for count, job in enumerate(jobs):
        size += job.size
        if count and size > limit:
            return jobs[:count]
    return jobs


async def _background(work: Coroutine[Any, Any, None]) -> None:
    """Ingestion's own tasks: their statements (an idle poll every second) are not a request's."""
    uncounted()
    await work


class Ingestion:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        index: VectorIndex,
        cascade: Cascade,
        embedders: Embedders,
        workers: int = 2,
        *,
        lease_seconds: float = 30.0,
        batch_files: int = 32,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.index = index
        self.cascade = cascade
        self.embedders = embedders
        self.workers = max(1, workers)
        self.lease_seconds = lease_seconds
        self.batch_files = max(1, batch_files)
        self.poll_seconds = poll_seconds
        # Names this process in the leases it holds (a restarted process is another owner).
        self.owner = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.held = 0  # files claimed here and not yet finished (the backlog gauge)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._parsers: ThreadPoolExecutor | None = None
        self.progress = Progress()

    def after_commit(self, session: AsyncSession, jobs: list[tuple[str, str]]) -> None:
        """Wake this process's workers once ``session``'s transaction commits (never if it rolls back);
        other processes find the files when they next look."""
        if not jobs:
            return

        def wake(_session: Any) -> None:
            self._wake.set()

        event.listen(session.sync_session, "after_commit", wake, once=True)

    async def start(self) -> None:
        """Workers, lease renewal and the expiry sweep, all in the background: starting never waits on
        the database. Files left ``in_progress`` by a stopped process are claimed like any other once
        their lease has run out (at once after a clean stop, which gives its leases up)."""
        self._parsers = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="ingest-parse")
        self._tasks = [asyncio.create_task(_background(self._work()), name=f"ingest-{n}") for n in range(self.workers)]
        self._tasks.append(asyncio.create_task(_background(self._renew_leases()), name="ingest-leases"))
        self._tasks.append(asyncio.create_task(_background(self._sweep_expired()), name="vector-store-expiry"))
        self._tasks.append(asyncio.create_task(_background(self._backfill()), name="vector-backfill"))

    async def _backfill(self) -> None:
        try:
            indexed = await self.index.backfill()
        except Exception:
            log.exception("could not index the vectors of chunks stored before the vector index")
            return
        if indexed:
            log.info("indexed the vectors of %d chunks stored before the vector index", indexed)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._parsers is not None:
            self._parsers.shutdown(wait=False, cancel_futures=True)
            self._parsers = None
        try:
            await self.db.transact(self._release)
        except Exception:
            log.exception("could not give up this process's ingestion leases; they run out by themselves")

    def _release(self, conn: Connection) -> None:
        """Leases given up at a clean stop, so another process takes the files at once."""
        conn.execute(
            update(FILES)
            .where(FILES.c.lease_owner == self.owner, FILES.c.status == "in_progress")
            .values(lease_owner=None, lease_expires_at=None)
        )

    # Claiming and leases.

    async def _work(self) -> None:
        while True:
            try:
                jobs = await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: look again later
                log.exception("claiming vector store files to ingest failed")
                jobs = []
            if not jobs:
                await self._idle()
                continue
            self.held += len(jobs)
            try:
                await self.process(jobs)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the worker; the files are marked failed
                log.exception("ingesting %d files failed", len(jobs))
                for job in jobs:
                    job.failure = job.failure or Failure("server_error", "The file could not be processed.")
                with contextlib.suppress(Exception):
                    await self._finish(jobs)
            finally:
                self.held -= len(jobs)

    async def _idle(self) -> None:
        """Until this process attaches files, or ``poll_seconds`` pass (another process may have)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        self._wake.clear()

    async def claim(self) -> list[Job]:
        """Lease up to ``batch_files`` claimable files to this process; a cheap read first, so an idle
        server's polls write nothing."""
        if await self.db.row(CLAIMABLE_SQL, {"now": time.time()}) is None:
            return []
        return await self.db.transact(self._claim)

    def _claim(self, conn: Connection) -> list[Job]:
        clock = time.time()
        stale = or_(FILES.c.lease_expires_at.is_(None), FILES.c.lease_expires_at < clock)
        pick = (
            select(FILES.c.seq)
            .where(FILES.c.status == "in_progress", stale)
            .order_by(FILES.c.seq)
            .limit(self.batch_files)
        )
        if not self.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        claimed = conn.execute(
            update(FILES)
            .where(FILES.c.seq.in_(pick.scalar_subquery()))
            .values(lease_owner=self.owner, lease_expires_at=clock + self.lease_seconds)
            .returning(FILES.c.seq, FILES.c.vector_store_id, FILES.c.id, FILES.c.job, FILES.c.project, FILES.c.data)
        ).all()
        jobs = [
            Job(
                seq=row.seq,
                store_id=row.vector_store_id,
                file_id=row.id,
                token=row.job or "",
                project=row.project,
                strategy=row.data.get("chunking_strategy") or chunking.static_strategy(),
            )
            for row in sorted(claimed, key=lambda row: row.seq)
        ]
        if not jobs:
            return []
        files = select(FileRow.id, FileRow.data).where(FileRow.id.in_({job.file_id for job in jobs}))
        about = {file_id: data for file_id, data in conn.execute(files)}
        stores = select(VectorStoreRow.id, VectorStoreRow.embedder)
        embedders = dict(conn.execute(stores.where(VectorStoreRow.id.in_({job.store_id for job in jobs}))).all())
        for job in jobs:
            data = about.get(job.file_id) or {}
            job.filename, job.size = data.get("filename") or "", int(data.get("bytes") or 0)
            job.embedder = embedders.get(job.store_id)
        kept = first_bytes(jobs)
        if len(kept) < len(jobs):
            given_back = [job.seq for job in jobs[len(kept) :]]
            conn.execute(
                update(FILES).where(FILES.c.seq.in_(given_back)).values(lease_owner=None, lease_expires_at=None)
            )
        return kept

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.lease_seconds / 3))
            if not self.held:
                continue
            try:
                await self.db.transact(self._renew)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing ingestion leases failed")

    def _renew(self, conn: Connection) -> None:
        mine = select(FILES.c.seq).where(FILES.c.lease_owner == self.owner, FILES.c.status == "in_progress")
        if not self.db.is_sqlite:
            # Rows a finishing transaction holds are skipped (they are done), never waited for.
            mine = mine.with_for_update(skip_locked=True)
        conn.execute(
            update(FILES)
            .where(FILES.c.seq.in_(mine.scalar_subquery()))
            .values(lease_expires_at=time.time() + self.lease_seconds)
        )

    async def drain(self) -> int:
        """Claim and process until nothing is left to claim, here and now (``assistantd import``,
        which has no serving loop); the number of files processed."""
        processed = 0
        while jobs := await self.claim():
            await self.process(jobs)
            processed += len(jobs)
        return processed

    # Processing a batch.

    async def process(self, jobs: list[Job]) -> None:
        """A claim's files: read and parsed in parallel, embedded together, written in one transaction."""
        await self._parse_all(jobs)
        await self._embed_all([job for job in jobs if job.failure is None])
        await self._finish(jobs)
        done = [job for job in jobs if job.failure is None]
        self.progress.done(len(done), sum(job.text_bytes for job in done), self.held - len(done))

    async def _parse_all(self, group: list[Job]) -> None:
        await asyncio.gather(*(self._parse_one(job) for job in group))

    async def _parse_one(self, job: Job) -> None:
        try:
            try:
                data = await self.blobs.read(job.file_id)
            except FileNotFoundError:
                raise Failure("invalid_file", "The file's content is gone; upload it again.") from None
            except StorageUnavailable as exc:
                raise Failure("server_error", exc.message) from None
            loop = asyncio.get_running_loop()
            job.pieces, job.text_bytes = await loop.run_in_executor(
                self._parsers, _parse, job.filename, data, job.strategy
            )
        except Failure as failure:
            job.failure = failure

    async def _embed_all(self, jobs: list[Job]) -> None:
        """The chunks of all ``jobs`` with one embedder in shared requests; if those fail, file by
        file, so one file the upstream refuses fails alone."""
        by_embedder: dict[str | None, list[Job]] = {}
        for job in jobs:
            by_embedder.setdefault(job.embedder, []).append(job)
        for name, sharing in by_embedder.items():
            try:
                await self._embed(name, sharing)
            except EmbeddingError as exc:
                if len(sharing) == 1:
                    sharing[0].failure = Failure("server_error", str(exc))
                    continue
                for job in sharing:
                    try:
                        await self._embed(name, [job])
                    except EmbeddingError as alone:
                        job.failure = Failure("server_error", str(alone))

    async def _embed(self, name: str | None, jobs: Sequence[Job]) -> None:
        texts = [piece.text for job in jobs for piece in job.pieces]
        vectors = await self.embedders.for_name(name).embed(texts)
        start = 0
        for job in jobs:
            job.vectors = vectors[start : start + len(job.pieces)]
            start += len(job.pieces)

    async def _finish(self, group: list[Job]) -> None:
        """Every file's result in one transaction, for the files still ours (see the module's doc).

        No chunks are dropped first: an ``in_progress`` file has none (attaching again drops them in
        the transaction that sets it ``in_progress``; chunks are written with the status)."""
        async with self.db.write() as session:
            current = await self._still_ours(session, group)
            mine = [job for job in group if job.seq in current]
            await self.index.add_files(session, [self._chunks(job) for job in mine if job.failure is None])
            rows = [self._result(job, current[job.seq]) for job in mine]
            if rows:
                await session.execute(RESULT, rows)

    async def _still_ours(self, session: AsyncSession, group: list[Job]) -> dict[int, dict[str, Any]]:
        # Locked (PostgreSQL; SQLite has one writer anyway): a detach, cancel or delete that commits
        # meanwhile waits for us or makes us see its result, never leaves chunks for a gone file.
        query = (
            select(FILES.c.seq, FILES.c.status, FILES.c.job, FILES.c.lease_owner, FILES.c.data)
            .where(FILES.c.seq.in_([job.seq for job in group]))
            .order_by(FILES.c.seq)
            .with_for_update()
        )
        tokens = {job.seq: job.token for job in group}
        return {
            row.seq: row.data
            for row in (await session.execute(query)).all()
            if row.status == "in_progress" and (row.job or "") == tokens[row.seq] and row.lease_owner == self.owner
        }

    @staticmethod
    def _chunks(job: Job) -> FileChunks:
        assert job.vectors is not None
        chunks = [
            IndexedChunk(position=p.position, text=p.text, tokens=p.tokens, embedding=job.vectors[i])
            for i, p in enumerate(job.pieces)
        ]
        return FileChunks(job.project, job.store_id, job.file_id, chunks)

    @staticmethod
    def _result(job: Job, stored: dict[str, Any]) -> dict[str, Any]:
        if job.failure is not None:
            error = {"code": job.failure.code, "message": job.failure.message}
            data = {**stored, "status": "failed", "last_error": error}
            return {"b_seq": job.seq, "b_status": "failed", "b_usage": 0, "b_data": data}
        assert job.vectors is not None
        usage = sum(len(p.text.encode()) for p in job.pieces) + int(job.vectors.size) * 4
        data = {**stored, "status": "completed", "usage_bytes": usage, "last_error": None}
        return {"b_seq": job.seq, "b_status": "completed", "b_usage": usage, "b_data": data}

    # Expired stores.

    async def _sweep_expired(self) -> None:
        """Expired stores stop serving searches at once (on read); here their chunks are dropped."""
        while True:
            try:
                await self.clean_expired()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cleaning expired vector stores failed")
            await asyncio.sleep(EXPIRY_SWEEP_SECONDS)

    async def clean_expired(self) -> int:
        async with self.db.read() as session:
            rows = list((await session.execute(select(VectorStoreRow))).scalars())
        expired = [row.id for row in rows if row.data.get("expires_after") and is_expired(row.data)]
        for store_id in expired:
            async with self.db.write() as session:
                await self.cascade.store_expired(session, store_id)
        return len(expired)


# A file's result, for many files in one statement (``b_*`` parameters, one set per file).
RESULT = (
    update(FILES)
    .where(FILES.c.seq == bindparam("b_seq"))
    .values(
        status=bindparam("b_status"),
        usage_bytes=bindparam("b_usage"),
        data=bindparam("b_data"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
