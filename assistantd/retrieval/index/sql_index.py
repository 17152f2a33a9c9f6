"""The default index: chunks, their vectors and their keywords, all searched inside the database.

Works the same on SQLite and PostgreSQL; the dialect shows only in ``keyword.py`` and in the vector
backend chosen on first use (``vectors.py``): no process holds a store in memory.
"""

from __future__ import annotations

import asyncio
from typing import cast

import numpy as np
from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.retrieval.index.base import FileChunks, Hit, IndexedChunk, SearchQuery
from assistantd.retrieval.index.fusion import VECTOR_WEIGHT, combine, keyword_score, similarity_score
from assistantd.retrieval.index.keyword import KeywordSearch
from assistantd.retrieval.index.vectors import ExactScan, VectorBackend
from assistantd.store.db import Database
from assistantd.store.models import ChunkRow

# How many candidates each ranked list contributes to the fusion.
MIN_CANDIDATES = 50
KINDS = ("vector", "keyword")
# Built once: building an IN statement per search was ~0.7 ms of the event loop's time (py-spy).
TEXTS = select(ChunkRow.seq, ChunkRow.text, ChunkRow.position).where(
    ChunkRow.seq.in_(bindparam("seqs", expanding=True))
)


class SqlIndex:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.keywords = KeywordSearch(db)
        self._vectors: VectorBackend | None = None
        self._choosing = asyncio.Lock()

    async def vectors(self) -> VectorBackend:
        """sqlite-vec on SQLite; pgvector when installed, else an exact scan, on PostgreSQL."""
        async with self._choosing:
            if self._vectors is None:
                if self.db.is_sqlite:
                    from assistantd.retrieval.index.sqlite_vec import SqliteVectors

                    self._vectors = SqliteVectors(self.db)
                else:
                    from assistantd.retrieval.index.pgvector import PgVectors, pgvector_version

                    version = await pgvector_version(self.db)
                    self._vectors = PgVectors(self.db, version) if version else ExactScan(self.db)
            return self._vectors

    async def backfill(self) -> int:
        """Index chunks stored before this vector index existed (an upgrade), in one transaction."""
        vectors = await self.vectors()
        async with self.db.write() as session:
            return await vectors.backfill(session)

    async def add(
        self, session: AsyncSession, project: str, store_id: str, file_id: str, chunks: list[IndexedChunk]
    ) -> None:
        await self.add_files(session, [FileChunks(project, store_id, file_id, chunks)])

    async def add_files(self, session: AsyncSession, files: list[FileChunks]) -> None:
        """One bulk insert of the chunks of every file, then their vectors store by store, in the
        caller's transaction.

        Multi-row statements (Core, unordered RETURNING, matched back by file and position): asking
        SQLite for the ids in parameter order makes SQLAlchemy insert row by row, and FTS5, written by a
        trigger, then flushes its index at every row's statement, which doubled the cost of keyword
        indexing."""
        files = [file for file in files if file.chunks]
        if not files:
            return
        rows = [
            {
                "project": file.project,
                "vector_store_id": file.store_id,
                "file_id": file.file_id,
                "position": chunk.position,
                "text": chunk.text,
                "tokens": chunk.tokens,
                "embedding": np.asarray(chunk.embedding, dtype="<f4").tobytes(),
            }
            for file in files
            for chunk in file.chunks
        ]
        statement = insert(cast(Table, ChunkRow.__table__)).returning(
            ChunkRow.vector_store_id, ChunkRow.file_id, ChunkRow.position, ChunkRow.seq
        )
        seq_of = {(store, file, position): seq for store, file, position, seq in await session.execute(statement, rows)}
        if len(seq_of) != len(rows):
            raise ValueError("a file's chunks must have distinct positions")
        by_store: dict[str, list[FileChunks]] = {}
        for file in files:
            by_store.setdefault(file.store_id, []).append(file)
        vectors = await self.vectors()
        for store_id, stored in by_store.items():
            keys = [(file.file_id, chunk) for file in stored for chunk in file.chunks]
            seqs = [seq_of[(store_id, file_id, chunk.position)] for file_id, chunk in keys]
            matrix = np.vstack([chunk.embedding for _, chunk in keys]).astype("<f4", copy=False)
            await vectors.add(session, store_id, [file_id for file_id, _ in keys], seqs, matrix)

    async def delete_file(self, session: AsyncSession, store_id: str | None, file_id: str) -> None:
        await (await self.vectors()).delete(session, store_id, file_id)
        statement = delete(ChunkRow).where(ChunkRow.file_id == file_id)
        if store_id is not None:
            statement = statement.where(ChunkRow.vector_store_id == store_id)
        await session.execute(statement)

    async def delete_store(self, session: AsyncSession, store_id: str) -> None:
        await (await self.vectors()).delete(session, store_id, None)
        await session.execute(delete(ChunkRow).where(ChunkRow.vector_store_id == store_id))

    async def _ranked_lists(
        self, query: SearchQuery, store_id: str, candidates: int
    ) -> list[tuple[str, list[tuple[int, str, float]]]]:
        """``(kind, ranking)`` pairs, kind ``vector`` or ``keyword``.

        The lists are asked for at once: each query runs in its own connection's thread, in C, so a
        hybrid search waits for the slower of the two rather than for their sum; and the keyword lists
        do not wait for the query's embedding (``SearchQuery.embedding``)."""
        kinds: list[str] = []
        pending = []
        vectors = await self.vectors()
        for index, text in enumerate(query.texts):
            if query.mode in ("hybrid", "vector"):
                kinds.append("vector")
                pending.append(self._vector_list(query, vectors, store_id, index, candidates))
            if query.mode in ("hybrid", "keyword"):
                kinds.append("keyword")
                pending.append(self.keywords.search(store_id, text, candidates, query.file_ids))
        return list(zip(kinds, await asyncio.gather(*pending), strict=True))

    @staticmethod
    async def _vector_list(
        query: SearchQuery, vectors: VectorBackend, store_id: str, index: int, candidates: int
    ) -> list[tuple[int, str, float]]:
        embedded = query.vectors if query.embedding is None else await query.embedding
        if store_id not in embedded:
            return []
        return await vectors.search(store_id, embedded[store_id][index], candidates, query.file_ids)

    async def search(self, query: SearchQuery) -> list[Hit]:
        candidates = max(MIN_CANDIDATES, query.limit * 2)
        hits: list[Hit] = []
        for store_id in query.store_ids:
            lists = await self._ranked_lists(query, store_id, candidates)
            hits.extend(self._score(query, store_id, lists))
        hits.sort(key=lambda hit: (-hit.score, hit.seq))
        hits = hits[: query.limit]
        await self._fill_text(hits)
        return hits

    def _score(
        self, query: SearchQuery, store_id: str, lists: list[tuple[str, list[tuple[int, str, float]]]]
    ) -> list[Hit]:
        owners = {seq: file_id for _, ranking in lists for seq, file_id, _ in ranking}
        if query.mode == "hybrid":
            by_kind = {kind: [[(seq, raw) for seq, _, raw in r] for k, r in lists if k == kind] for kind in KINDS}
            weight = query.vector_weights.get(store_id, VECTOR_WEIGHT)
            scored = combine(by_kind["vector"], by_kind["keyword"], weight)
        else:
            best: dict[int, float] = {}
            convert = similarity_score if query.mode == "vector" else keyword_score
            for _, ranking in lists:
                for seq, _, raw in ranking:
                    best[seq] = max(best.get(seq, 0.0), convert(raw))
            scored = sorted(best.items(), key=lambda item: (-item[1], item[0]))
        return [
            Hit(seq=seq, vector_store_id=store_id, file_id=owners[seq], position=0, score=score)
            for seq, score in scored
        ]

    async def _fill_text(self, hits: list[Hit]) -> None:
        if not hits:
            return
        params = {"seqs": [hit.seq for hit in hits]}
        found = await self.db.query(lambda conn: {row.seq: row for row in conn.execute(TEXTS, params).all()})
        for hit in hits:
            row = found.get(hit.seq)
            if row is not None:
                hit.text, hit.position = row.text, row.position
        # A chunk deleted between ranking and reading is gone: never return it.
        hits[:] = [hit for hit in hits if hit.seq in found]
