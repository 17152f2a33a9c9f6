"""Keyword search, the one place that knows each dialect's full-text syntax.

SQLite: the FTS5 table ``chunks_fts`` (migration 0002), ranked by BM25. PostgreSQL: the generated
``tsv`` column, ranked by ``ts_rank_cd``. Queries match any of their words (OR), so a question phrased
in many words still finds chunks that share only some of them; ranking rewards the ones sharing more.

Both score every chunk that holds any query word, so a long query (a pasted paragraph) costs in
proportion to the postings of its words: on SQLite ~2.5 us per matching chunk (BM25 looks up each
one's length); at 1M chunks a 41-word query matched ~200k chunks (90 ms of CPU; on PostgreSQL ~40%
of a store, 1.1 s at 100k). Rare words pick the chunks and common ones hardly move their order
(BM25 weighs a word by its rarity), so, in the spirit of a common-terms query, a query of more than
``KEEP_ALL`` words keeps its rarest words until their postings (chunks holding each, counted once
per word and remembered a while) would pass ``POSTINGS_BUDGET``, and drops the rest: its cost is
bounded whatever the size of the store. Questions as people and models ask them keep every word.

The price, measured with passages as queries (40 words of a document, the rest of it the answer):
where the budget is a small share of the store, long queries rank their answer lower than with all
their words (keyword-only nDCG@10 0.61 -> 0.53 on man pages at a budget of 5% of the store).
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
KEEP_ALL = 16  # a query of at most this many words is searched with all of them
POSTINGS_BUDGET = 5_000  # the postings a longer query's kept words may hold together
# Document frequencies only choose which words to drop, so minutes-old counts serve; and a word
# counted past the budget is dropped whatever its count, so counting stops there.
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


# A word's postings, counted up to the budget: the chunks (all stores') holding it, as each dialect
# matches it (stemmed). One statement for all the words not counted lately.
SQLITE_COUNT = "SELECT {i}, count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH :w{i} LIMIT :cap)"
POSTGRES_COUNT = (
    "SELECT {i}, count(*) FROM (SELECT 1 FROM chunks WHERE tsv @@ to_tsquery('english', :w{i}) LIMIT :cap) AS m{i}"
)


def fts_phrase(word: str) -> str:
    """A word as an FTS5 phrase: quoted, so FTS5 operators in user text are plain words."""
    return '"' + word.replace('"', '""') + '"'


def kept(words: list[str], postings: list[int]) -> list[str]:
    """The words a search scores, in query order: all of a short query's; of a longer one, the rarest
    while their postings fit ``POSTINGS_BUDGET``, and at least the rarest one."""
    if len(words) <= KEEP_ALL:
        return words
    chosen: list[int] = []
    total = 0
    for i in sorted(range(len(words)), key=lambda i: (postings[i], i)):
        if chosen and total + postings[i] > POSTINGS_BUDGET:
            break
        chosen.append(i)
        total += postings[i]
    return [words[i] for i in sorted(chosen)]


class KeywordSearch:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._frequency: dict[str, tuple[int, float]] = {}  # word -> (postings, up to the budget; when counted)

    def _postings(self, conn: Connection, words: list[str]) -> list[int]:
        """Each word's postings (counted up to just past ``POSTINGS_BUDGET``), from the cache or counted."""
        clock = time.monotonic()
        stale = [w for w in words if clock - self._frequency.get(w, (0, -FREQUENCY_SECONDS))[1] >= FREQUENCY_SECONDS]
        if stale:
            sql = SQLITE_COUNT if self.db.is_sqlite else POSTGRES_COUNT
            counts = " UNION ALL ".join(sql.format(i=i) for i in range(len(stale)))
            params: dict[str, object] = {f"w{i}": self._term(word) for i, word in enumerate(stale)}
            params["cap"] = POSTINGS_BUDGET + 1
            if len(self._frequency) + len(stale) > FREQUENCY_ENTRIES:
                self._frequency.clear()
            for i, count in conn.execute(text(counts), params).all():
                self._frequency[stale[int(i)]] = (int(count), clock)
        return [self._frequency.get(word, (0, 0.0))[0] for word in words]

    def _term(self, word: str) -> str:
        return fts_phrase(word) if self.db.is_sqlite else word

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
        if len(words) > KEEP_ALL:
            words = kept(words, self._postings(conn, words))
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
