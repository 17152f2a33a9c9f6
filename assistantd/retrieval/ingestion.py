"""Background ingestion: extract, chunk, embed and index files attached to vector stores.

Jobs are ``(vector_store_id, file_id)`` pairs on an asyncio queue served by a few worker tasks that
``Container.start()`` launches. Files reach it one way: ``after_commit``, inside the transaction
that records them ``in_progress``. The database is the truth: at start every file still ``in_progress``
is queued again (a crash loses no work), and a worker writes its result only if the file is still
``in_progress`` under the job token it read, so a cancel, a detach or a re-attach in the meantime
wins. Parsing and chunking run in threads; the event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, event, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.blobs import BlobStore, StorageUnavailable
from assistantd.protocol.vector_stores import StaticStrategy
from assistantd.retrieval import chunking
from assistantd.retrieval.cascade import Cascade
from assistantd.retrieval.documents import is_expired
from assistantd.retrieval.embedders import Embedders, EmbeddingError
from assistantd.retrieval.extract import ExtractionError, extract
from assistantd.retrieval.index.base import IndexedChunk, VectorIndex
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import FileRow, VectorStoreFileRow, VectorStoreRow

log = logging.getLogger("assistantd.ingestion")
EXPIRY_SWEEP_SECONDS = 600
PROGRESS_EVERY_SECONDS = 10.0


class Progress:
    """Files and text ingested since the queue was last empty; logged at most every 10 seconds."""

    def __init__(self) -> None:
        self.files = self.bytes = 0
        self.started = self.logged = 0.0

    def done(self, size: int, queued: int) -> None:
        clock = time.monotonic()
        if not self.files:
            self.started = self.logged = clock
        self.files += 1
        self.bytes += size
        if queued == 0 or clock - self.logged >= PROGRESS_EVERY_SECONDS:
            rate = self.bytes / max(clock - self.started, 1e-6) / 1e6
            log.info(
                "ingested %d files (%.1f MB of text, %.2f MB/s); %d queued", self.files, self.bytes / 1e6, rate, queued
            )
            self.logged = clock
        if queued == 0:
            self.files = self.bytes = 0


@dataclass
class Job:
    store_id: str
    file_id: str
    token: str
    project: str
    strategy: StaticStrategy
    filename: str
    embedder: str | None


class Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Ingestion:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        index: VectorIndex,
        cascade: Cascade,
        embedders: Embedders,
        workers: int = 2,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.index = index
        self.cascade = cascade
        self.embedders = embedders
        self.workers = max(1, workers)
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.progress = Progress()

    def after_commit(self, session: AsyncSession, jobs: list[tuple[str, str]]) -> None:
        """Queue the jobs once ``session``'s transaction commits (never if it rolls back)."""
        if not jobs:
            return

        def hand_over(_session: Any) -> None:
            self.enqueue_nowait(jobs)

        event.listen(session.sync_session, "after_commit", hand_over, once=True)

    def enqueue_nowait(self, jobs: list[tuple[str, str]]) -> None:
        for job in jobs:
            self.queue.put_nowait(job)

    async def start(self) -> None:
        """Workers, the files a stopped server left in progress, and the expiry sweep, all in the
        background: starting never waits on the database."""
        self._tasks = [asyncio.create_task(self._work(), name=f"ingest-{n}") for n in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._requeue(), name="ingest-requeue"))
        self._tasks.append(asyncio.create_task(self._sweep_expired(), name="vector-store-expiry"))
        self._tasks.append(asyncio.create_task(self._backfill(), name="vector-backfill"))

    async def _backfill(self) -> None:
        try:
            indexed = await self.index.backfill()
        except Exception:
            log.exception("could not index the vectors of chunks stored before the vector index")
            return
        if indexed:
            log.info("indexed the vectors of %d chunks stored before the vector index", indexed)

    async def _requeue(self) -> None:
        query = select(VectorStoreFileRow.vector_store_id, VectorStoreFileRow.id).where(
            VectorStoreFileRow.status == "in_progress"
        )
        try:
            async with self.db.read() as session:
                pending = [(row[0], row[1]) for row in (await session.execute(query)).all()]
        except Exception:
            log.exception("could not look for vector store files left in progress")
            return
        if pending:
            log.info("re-queueing %d vector store files left in progress", len(pending))
        self.enqueue_nowait(pending)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _work(self) -> None:
        while True:
            store_id, file_id = await self.queue.get()
            try:
                size = await self.process(store_id, file_id)
                self.progress.done(size, self.queue.qsize())
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the worker; the file is marked failed
                log.exception("ingesting %s into %s failed", file_id, store_id)
                await self._finish_failed(store_id, file_id, "server_error", "The file could not be processed.")
            finally:
                self.queue.task_done()

    async def _job(self, store_id: str, file_id: str) -> Job | None:
        """Three Core reads in one hop to a reader (``Database.query``), not three through the async
        session: each of those cost a round trip to aiosqlite's thread on the event loop."""
        return await self.db.query(lambda conn: self._read_job(conn, store_id, file_id))

    @staticmethod
    def _read_job(conn: Connection, store_id: str, file_id: str) -> Job | None:
        vs_file = VectorStoreFileRow
        query = select(vs_file.project, vs_file.status, vs_file.job, vs_file.data).where(
            vs_file.vector_store_id == store_id, vs_file.id == file_id
        )
        row = conn.execute(query).first()
        if row is None or row.status != "in_progress":
            return None
        embedder = conn.execute(
            select(VectorStoreRow.embedder).where(VectorStoreRow.project == row.project, VectorStoreRow.id == store_id)
        ).scalar()
        file = conn.execute(select(FileRow.data).where(FileRow.project == row.project, FileRow.id == file_id)).scalar()
        return Job(
            store_id=store_id,
            file_id=file_id,
            token=row.job or "",
            project=row.project,
            strategy=row.data.get("chunking_strategy") or chunking.static_strategy(),
            filename=(file.get("filename") if file else "") or "",
            embedder=embedder,
        )

    async def process(self, store_id: str, file_id: str) -> int:
        """Ingest one file; the bytes of text it held (0 if it was not ingested)."""
        job = await self._job(store_id, file_id)
        if job is None:
            return 0
        try:
            chunks, size = await self._chunks(job)
        except Failure as failure:
            await self._finish_failed(store_id, file_id, failure.code, failure.message, job.token)
            return 0
        await self._finish_completed(job, chunks)
        return size

    async def _chunks(self, job: Job) -> tuple[list[IndexedChunk], int]:
        try:
            data = await self.blobs.read(job.file_id)
        except FileNotFoundError:
            raise Failure("invalid_file", "The file's content is gone; upload it again.") from None
        except StorageUnavailable as exc:
            raise Failure("server_error", exc.message) from None
        try:
            text = await asyncio.to_thread(extract, job.filename, data)
        except ExtractionError as exc:
            raise Failure(exc.code, exc.message) from None
        pieces = await asyncio.to_thread(chunking.split, text, job.strategy)
        if not pieces:
            raise Failure("invalid_file", "No text could be extracted from the file.")
        try:
            vectors = await self.embedders.for_name(job.embedder).embed([piece.text for piece in pieces])
        except EmbeddingError as exc:
            raise Failure("server_error", str(exc)) from None
        chunks = [
            IndexedChunk(position=p.position, text=p.text, tokens=p.tokens, embedding=np.asarray(v))
            for p, v in zip(pieces, vectors, strict=True)
        ]
        return chunks, len(text.encode())

    async def _current(self, session: Any, store_id: str, file_id: str, token: str | None) -> VectorStoreFileRow | None:
        # Locked (PostgreSQL; SQLite has one writer anyway): a detach, cancel or delete that commits
        # meanwhile waits for us or makes us see its result, never leaves chunks for a gone file.
        query = (
            select(VectorStoreFileRow)
            .where(VectorStoreFileRow.vector_store_id == store_id, VectorStoreFileRow.id == file_id)
            .with_for_update()
        )
        row = (await session.execute(query)).scalars().first()
        if row is None or row.status != "in_progress":
            return None
        if token is not None and row.job != token:
            return None
        return row

    async def _finish_completed(self, job: Job, chunks: list[IndexedChunk]) -> None:
        usage = sum(len(c.text.encode()) + c.embedding.size * 4 for c in chunks)
        async with self.db.write() as session:
            row = await self._current(session, job.store_id, job.file_id, job.token)
            if row is None:
                return
            await self.cascade.file_dropped(session, job.store_id, job.file_id)
            await self.index.add(session, job.project, job.store_id, job.file_id, chunks)
            row.status, row.usage_bytes = "completed", usage
            documents.save(row, {**row.data, "status": "completed", "usage_bytes": usage, "last_error": None})

    async def _finish_failed(
        self, store_id: str, file_id: str, code: str, message: str, token: str | None = None
    ) -> None:
        async with self.db.write() as session:
            row = await self._current(session, store_id, file_id, token)
            if row is None:
                return
            row.status = "failed"
            error = {"code": code, "message": message}
            documents.save(row, {**row.data, "status": "failed", "last_error": error})

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
