"""Searching vector stores: the one engine behind ``POST /vector_stores/{id}/search`` and file_search.

Each store is searched with the embedder it was indexed with; attribute filters narrow the files
first; results below ``score_threshold`` are dropped. Expired stores answer with an error.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select

from assistantd.caller import Caller
from assistantd.errors import APIError, InvalidRequest, not_found
from assistantd.ids import now
from assistantd.protocol.vector_stores import (
    Attribute,
    ComparisonFilter,
    CompoundFilter,
    SearchResultsPage,
    SearchVectorStore,
    search_result,
    search_results_page,
)
from assistantd.retrieval.documents import is_expired
from assistantd.retrieval.embedders import Embedders, EmbeddingError
from assistantd.retrieval.index.base import Mode, SearchQuery, VectorIndex
from assistantd.retrieval.rerank import Reranker, RerankError, candidates, rerank_hits, wants_rerank
from assistantd.store import documents
from assistantd.store.db import Database, json_document
from assistantd.store.models import FileRow, VectorStoreFileRow, VectorStoreRow

TOUCH_EVERY_SECONDS = 60
READY_POLL_SECONDS = 0.2
STOP_WORDS = frozenset(
    "a an and are as at be by can could do does for from how i in is it me my of on or please "
    "should tell that the this to was what when where which who why will with would you your".split()
)


# The completed files of stores, and of them those in a set: built once, as building them per search
# was ~0.7 ms of the event loop's time (py-spy).
FILES = (
    select(VectorStoreFileRow.id, VectorStoreFileRow.data, FileRow.data)
    .join(FileRow, FileRow.id == VectorStoreFileRow.id)
    .where(
        VectorStoreFileRow.vector_store_id.in_(bindparam("stores", expanding=True)),
        VectorStoreFileRow.status == "completed",
    )
)
SOME_FILES = FILES.where(VectorStoreFileRow.id.in_(bindparam("only", expanding=True)))


class UpstreamUnavailable(APIError):
    status_code = 502
    error_type = "server_error"


@dataclass
class Result:
    file_id: str
    filename: str
    score: float
    text: str
    vector_store_id: str
    attributes: dict[str, Attribute] = field(default_factory=dict)


@dataclass(frozen=True)
class Store:
    id: str
    data: dict[str, Any]
    embedder: str | None


# One indexed read by key, which the database answers without a thread hop on SQLite.
STORE = f"SELECT data, embedder FROM {VectorStoreRow.__tablename__} WHERE id = :id AND project = :project LIMIT 1"


def rewrite(query: str) -> str:
    """A deterministic query rewrite: the query's content words, without filler."""
    words = [w for w in re.findall(r"\w+", query.lower()) if w not in STOP_WORDS]
    return " ".join(words) or query


def _compare(kind: str, actual: Any, expected: Any) -> bool:
    if kind in ("in", "nin"):
        inside = isinstance(expected, list) and actual in expected
        return inside if kind == "in" else not inside
    if kind == "eq":
        return bool(actual == expected)
    if kind == "ne":
        return bool(actual != expected)
    numeric = (int, float)
    same = (isinstance(actual, numeric) and isinstance(expected, numeric) and not isinstance(actual, bool)) or (
        isinstance(actual, str) and isinstance(expected, str)
    )
    if not same:
        return False
    return {
        "gt": actual > expected,
        "gte": actual >= expected,
        "lt": actual < expected,
        "lte": actual <= expected,
    }[kind]


def matches(attributes: dict[str, Any], condition: ComparisonFilter | CompoundFilter) -> bool:
    if isinstance(condition, CompoundFilter):
        outcomes = (matches(attributes, inner) for inner in condition.filters)
        return all(outcomes) if condition.type == "and" else any(outcomes)
    if condition.key not in attributes:
        return condition.type in ("ne", "nin")
    return _compare(condition.type, attributes[condition.key], condition.value)


def expired_error(store_id: str) -> InvalidRequest:
    return InvalidRequest(f"Vector store '{store_id}' has expired.", code="vector_store_expired")


class Searcher:
    def __init__(
        self,
        db: Database,
        index: VectorIndex,
        embedders: Embedders,
        mode: Mode = "hybrid",
        reranker: Reranker | None = None,
    ) -> None:
        self.db = db
        self.index = index
        self.embedders = embedders
        self.mode = mode
        self.reranker = reranker

    async def search(
        self,
        caller: Caller,
        store_ids: list[str],
        texts: list[str],
        limit: int,
        threshold: float = 0.0,
        condition: ComparisonFilter | CompoundFilter | None = None,
        ranker: str | None = None,
    ) -> list[Result]:
        stores = [await self._store(caller, store_id) for store_id in store_ids]
        files: dict[str, tuple[str, dict[str, Any]]] = {}
        if condition is not None:  # every file's attributes only when a filter needs them
            files = await self._files(store_ids)
        for store in stores:
            if is_expired(store.data):
                raise expired_error(store.id)
        allowed = None
        if condition is not None:
            allowed = {fid for fid, (_, attrs) in files.items() if matches(attrs, condition)}
        rerank = wants_rerank(ranker, self.reranker)
        # Embedded once, awaited by every vector list, while the keyword lists search.
        embedding = asyncio.ensure_future(self._embed(stores, texts))
        try:
            hits = await self.index.search(
                SearchQuery(
                    store_ids=store_ids,
                    texts=texts,
                    vectors={},
                    limit=candidates(limit) if rerank else limit,
                    mode=self.mode,
                    file_ids=allowed,
                    embedding=embedding,
                    vector_weights=self._weights(stores),
                )
            )
        finally:
            if not embedding.done():
                embedding.cancel()
            elif not embedding.cancelled():
                embedding.exception()  # retrieved: raised above if a vector list needed it
        if rerank and self.reranker is not None:
            try:
                hits = await rerank_hits(self.reranker, " ".join(texts), hits, limit)
            except RerankError as exc:
                raise UpstreamUnavailable(str(exc)) from None
        await self._touch(stores)
        if condition is None and hits:
            files = await self._files(store_ids, {hit.file_id for hit in hits})
        results = []
        for hit in hits:
            score = round(hit.score, 6)  # the threshold compares with the score as shown
            if score < threshold or hit.file_id not in files:
                continue
            filename, attributes = files[hit.file_id]
            results.append(Result(hit.file_id, filename, score, hit.text, hit.vector_store_id, attributes))
        return results

    async def _store(self, caller: Caller, store_id: str) -> Store:
        found = await self.db.row(STORE, {"id": store_id, "project": caller.project})
        if found is None:
            raise not_found("vector store", store_id)
        return Store(store_id, json_document(found[0]), found[1])

    def _weights(self, stores: list[Store]) -> dict[str, float]:
        """Each store's share of vector scores in hybrid search: its embedder's (see ``fusion``)."""
        if self.mode != "hybrid":
            return {}
        return {store.id: self.embedders.for_name(store.embedder).vector_weight for store in stores}

    async def _embed(self, stores: list[Store], texts: list[str]) -> dict[str, Any]:
        if self.mode == "keyword":
            return {}
        by_embedder: dict[str | None, Any] = {}
        vectors = {}
        for store in stores:
            name = store.embedder
            if name not in by_embedder:
                try:
                    by_embedder[name] = await self.embedders.for_name(name).embed(texts)
                except EmbeddingError as exc:
                    raise UpstreamUnavailable(str(exc)) from None
            vectors[store.id] = by_embedder[name]
        return vectors

    async def _files(self, store_ids: list[str], only: set[str] | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
        """Completed files of the stores (or those of them in ``only``): ``file_id -> (filename, attributes)``."""
        query, params = FILES, {"stores": store_ids}
        if only is not None:
            query, params = SOME_FILES, params | {"only": sorted(only)}
        rows = await self.db.query(lambda conn: conn.execute(query, params).all())  # one hop to a reader
        return {
            file_id: (file_data.get("filename", ""), vs_data.get("attributes") or {})
            for file_id, vs_data, file_data in rows
        }

    async def _touch(self, stores: list[Store]) -> None:
        """Searching is activity: it moves ``last_active_at`` (and so a relative expiry).

        A minute's precision is plenty for expiry counted in days, and spares the single writer."""
        stamp = now()
        stale = [s.id for s in stores if stamp - int(s.data.get("last_active_at") or 0) >= TOUCH_EVERY_SECONDS]
        if not stale:
            return
        async with self.db.write() as session:
            rows = (await session.execute(select(VectorStoreRow).where(VectorStoreRow.id.in_(stale)))).scalars()
            for row in rows:
                documents.save(row, {**row.data, "last_active_at": stamp})

    async def wait_ready(self, store_ids: list[str], seconds: float, flagged: Sequence[str] = ()) -> None:
        """Wait (up to ``seconds``) until no file of the stores, nor of those of ``flagged`` whose files
        runs wait for (``wait_for_files``), is still being ingested: one indexed read per look."""
        if not store_ids and not flagged:
            return
        files = VectorStoreFileRow
        stores: ColumnElement[bool] = files.vector_store_id.in_(store_ids)
        if flagged:
            waited = select(VectorStoreRow.id).where(VectorStoreRow.id.in_(flagged), VectorStoreRow.wait_for_files)
            stores = or_(stores, files.vector_store_id.in_(waited))
        query = select(files.seq).where(files.status == "in_progress", stores).limit(1)
        deadline = time.monotonic() + seconds
        while True:
            if await self.db.query(lambda conn: conn.execute(query).first()) is None:
                return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(READY_POLL_SECONDS)

    async def search_request(self, caller: Caller, store_id: str, body: SearchVectorStore) -> SearchResultsPage:
        texts = [body.query] if isinstance(body.query, str) else [t for t in body.query if t.strip()]
        if body.rewrite_query:
            texts = [rewrite(text) for text in texts]
        options = body.ranking_options
        results = await self.search(
            caller,
            [store_id],
            texts,
            body.max_num_results,
            options.score_threshold if options else 0.0,
            body.filters,
            options.ranker if options else "auto",
        )
        data = [search_result(r.file_id, r.filename, r.score, r.attributes, r.text) for r in results]
        return search_results_page(texts, data)
