"""Keyword search, the one place that knows each dialect's full-text syntax.

SQLite: the FTS5 table ``chunks_fts`` (migration 0002), ranked by BM25. PostgreSQL: the generated
``tsv`` column, ranked by ``ts_rank_cd``. Queries match any of their words (OR), so a question phrased
in many words still finds chunks that share only some of them; ranking rewards the ones sharing more.

FTS5 scores every matching chunk for every query word, so a long query (a pasted paragraph) costs
in proportion to both: on SQLite only its ``SCORED_TERMS`` rarest words are searched (how many chunks
hold each, looked up once and remembered a while). BM25 weighs a word by its rarity, so the
frequent words dropped moved scores least; at 100k chunks a 41-word query took 40 ms, 16 words 14.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from assistantd.store.db import Database

WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 64
SCORED_TERMS = 16
# Document frequencies only choose which words to drop, so minutes-old counts serve.
FREQUENCY_SECONDS = 300.0
FREQUENCY_ENTRIES = 50_000


def terms(query: str) -> list[str]:
    seen: list[str] = []
    for word in WORD.findall(query.lower()):
        if word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


SQLITE_SEARCH = """
SELECT c.seq AS seq, c.file_id AS file_id, -bm25(chunks_fts) AS rank
FROM chunks_fts JOIN chunks AS c ON c.seq = chunks_fts.rowid
WHERE chunks_fts MATCH :match AND c.vector_store_id = :store {file_filter}
ORDER BY bm25(chunks_fts), c.seq LIMIT :limit
"""

# The same ranking, first over the whole FTS index and only then joined to ``chunks`` for the store:
# the join costs a row lookup per match (half the query's time at 100k chunks), so it is paid for
# the best ``:window`` matches only. Filtering keeps the order, so when at least ``:limit`` of them
# belong to the store they are exactly its best; otherwise the plain query above answers.
SQLITE_WINDOWED = """
SELECT c.seq AS seq, c.file_id AS file_id, -f.score AS rank
FROM (
  SELECT rowid, bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH :match
  ORDER BY score LIMIT :window
) AS f JOIN chunks AS c ON c.seq = f.rowid
WHERE c.vector_store_id = :store
ORDER BY f.score, c.seq LIMIT :limit
"""
WINDOW = 8

POSTGRES_SEARCH = """
SELECT seq, file_id, ts_rank_cd(tsv, q) AS rank
FROM chunks, to_tsquery('english', :match) AS q
WHERE vector_store_id = :store AND tsv @@ q {file_filter}
ORDER BY rank DESC, seq LIMIT :limit
"""


def fts_phrase(word: str) -> str:
    """A word as an FTS5 phrase: quoted, so FTS5 operators in user text are plain words."""
    return '"' + word.replace('"', '""') + '"'


class KeywordSearch:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._frequency: dict[str, tuple[int, float]] = {}  # word -> (chunks holding it, when counted)

    def _rarest(self, conn: Connection, words: list[str]) -> list[str]:
        """The ``SCORED_TERMS`` words held by the fewest chunks (FTS5 counts stemmed forms, as it matches)."""
        clock = time.monotonic()
        stale = [w for w in words if clock - self._frequency.get(w, (0, -FREQUENCY_SECONDS))[1] >= FREQUENCY_SECONDS]
        if stale:
            counts = " UNION ALL ".join(
                f"SELECT {i}, count(*) FROM chunks_fts WHERE chunks_fts MATCH :w{i}" for i in range(len(stale))
            )
            params = {f"w{i}": fts_phrase(word) for i, word in enumerate(stale)}
            if len(self._frequency) + len(stale) > FREQUENCY_ENTRIES:
                self._frequency.clear()
            for i, count in conn.execute(text(counts), params).all():
                self._frequency[stale[int(i)]] = (int(count), clock)
        order = sorted(range(len(words)), key=lambda i: (self._frequency.get(words[i], (0, 0.0))[0], i))
        return [words[i] for i in sorted(order[:SCORED_TERMS])]

    def _statement(self, words: list[str], filtered: bool) -> tuple[str, str]:
        if self.db.is_sqlite:
            match = " OR ".join(fts_phrase(word) for word in words)
            sql = SQLITE_SEARCH
            file_filter = "AND c.file_id IN :file_ids" if filtered else ""
        else:
            match = " | ".join(words)
            sql = POSTGRES_SEARCH
            file_filter = "AND file_id IN :file_ids" if filtered else ""
        return sql.format(file_filter=file_filter), match

    async def search(
        self, store_id: str, query: str, limit: int, file_ids: set[str] | None
    ) -> list[tuple[int, str, float]]:
        """``(seq, file_id, relevance)`` best first; relevance is non-negative."""
        words = terms(query)
        if not words or (file_ids is not None and not file_ids):
            return []
        return await self.db.query(lambda conn: self._search(conn, store_id, words, limit, file_ids))

    def _search(
        self, conn: Connection, store_id: str, words: list[str], limit: int, file_ids: set[str] | None
    ) -> list[tuple[int, str, float]]:
        """The statements of a search, in one hop to a reader (``Database.query``)."""
        if self.db.is_sqlite and len(words) > SCORED_TERMS:
            words = self._rarest(conn, words)
        sql, match = self._statement(words, file_ids is not None)
        statement = text(sql)
        params: dict[str, object] = {"match": match, "store": store_id, "limit": limit}
        if file_ids is not None:
            statement = statement.bindparams(bindparam("file_ids", expanding=True))
            params["file_ids"] = sorted(file_ids)
        rows: Sequence[Any] = []
        if self.db.is_sqlite and file_ids is None:
            windowed = params | {"window": limit * WINDOW}
            rows = conn.execute(text(SQLITE_WINDOWED), windowed).all()
        if len(rows) < limit:
            rows = conn.execute(statement, params).all()
        return [(int(row.seq), str(row.file_id), float(row.rank)) for row in rows]
