"""Keyword search, the one place that knows each dialect's full-text syntax.

SQLite: the FTS5 table ``chunks_fts`` (migration 0002), ranked by BM25. PostgreSQL: the generated
``tsv`` column, ranked by ``ts_rank`` with its rank divided by 1 + the log of the chunk's length
(normalization 1). Queries match any of their words (OR), so a question phrased in many words still
finds chunks that share only some of them; ranking rewards the ones sharing more.

Why not ``ts_rank_cd``, which ranked before: on the man-page and library corpora of
``bench/bench_quality.py --postgres`` it gave keyword-only nDCG@10 0.527 and 0.433 where this gives
0.775 and 0.672, and its cover-density pass cost about twice the time per matching chunk.

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

Counting is what a new word costs, and on PostgreSQL it reads each posting's row (GIN has no
index-only scan): at 100k chunks, 41-word queries of words not seen before took p95 48 ms against
8 ms once counted. So PostgreSQL takes a word's count from ANALYZE's statistics of ``tsv`` when it is
one of the most common lexemes there, and counts only the others, up to ``RARE_POSTINGS``: a word
found more often than that is a middling one, estimated at the count of the rarest listed lexeme (at
most that: so the budget still bounds a search's cost). Until ANALYZE has run, every word is counted.
ANALYZE lists the 10,000 most common lexemes there (migration 0007), so few words of a query but rare
ones need a count.
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
NO_STATISTICS_SECONDS = 15.0
RARE_POSTINGS = 64  # PostgreSQL: a word outside ANALYZE's common lexemes is counted up to this


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
SELECT seq, file_id, ts_rank(tsv, q, 1) AS rank
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


# ANALYZE's most common lexemes of ``tsv`` and the share of rows holding each; the list of shares
# ends with the smallest and largest of them (and the share of null rows).
POSTGRES_COMMON = """
SELECT s.most_common_elems::text::text[] AS lexemes, s.most_common_elem_freqs AS shares, c.reltuples AS rows
FROM pg_stats AS s JOIN pg_class AS c ON c.relname = s.tablename AND c.relnamespace = to_regnamespace(s.schemaname)
WHERE s.schemaname = current_schema() AND s.tablename = 'chunks' AND s.attname = 'tsv'
"""
POSTGRES_LEXEMES = (
    "SELECT t.n, tsvector_to_array(to_tsvector('english', t.word)) "
    "FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS t(word, n)"
)


class Common:
    """PostgreSQL's statistics of ``tsv``: each common lexeme's rows, and the rows of the rarest."""

    def __init__(self, lexemes: list[str], shares: list[float], rows: float) -> None:
        self.rows = {lexeme: int(share * rows) for lexeme, share in zip(lexemes, shares, strict=False)}
        self.rarest = int(shares[len(lexemes)] * rows) if len(shares) > len(lexemes) else 0


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
        self._stats: tuple[Common | None, float] | None = None  # PostgreSQL's, and when read

    def _postings(self, conn: Connection, words: list[str]) -> list[int]:
        """Each word's postings (counted up to just past ``POSTINGS_BUDGET``), from the cache or counted."""
        clock = time.monotonic()
        stale = [w for w in words if clock - self._frequency.get(w, (0, -FREQUENCY_SECONDS))[1] >= FREQUENCY_SECONDS]
        if stale:
            if len(self._frequency) + len(stale) > FREQUENCY_ENTRIES:
                self._frequency.clear()
            common = None if self.db.is_sqlite else self._common(conn, clock)
            counts = self._estimated(conn, stale, common) if common else self._counted(conn, stale, POSTINGS_BUDGET)
            for word, count in counts.items():
                self._frequency[word] = (count, clock)
        return [self._frequency.get(word, (0, 0.0))[0] for word in words]

    def _counted(self, conn: Connection, words: list[str], cap: int) -> dict[str, int]:
        """The words' postings, each counted up to ``cap + 1``, in one statement."""
        sql = SQLITE_COUNT if self.db.is_sqlite else POSTGRES_COUNT
        counts = " UNION ALL ".join(sql.format(i=i) for i in range(len(words)))
        params: dict[str, object] = {f"w{i}": self._term(word) for i, word in enumerate(words)}
        params["cap"] = cap + 1
        return {words[int(i)]: int(count) for i, count in conn.execute(text(counts), params).all()}

    def _common(self, conn: Connection, clock: float) -> Common | None:
        # None (no ANALYZE yet) is looked at again sooner: the statistics come with a bulk load's index.
        fresh = FREQUENCY_SECONDS if self._stats is not None and self._stats[0] is not None else NO_STATISTICS_SECONDS
        if self._stats is None or clock - self._stats[1] >= fresh:
            row = conn.execute(text(POSTGRES_COMMON)).first()
            found = Common(list(row.lexemes), list(row.shares), float(row.rows)) if row and row.lexemes else None
            self._stats = (found, clock)
        return self._stats[0]

    def _estimated(self, conn: Connection, words: list[str], common: Common) -> dict[str, int]:
        """Common words' postings from the statistics; the others counted up to ``RARE_POSTINGS``, and
        a word past that estimated at the rows of the rarest common lexeme (at most that many, so the
        budget still bounds the search's cost)."""
        rows = conn.execute(text(POSTGRES_LEXEMES), {"words": words})
        lexemes = {words[int(n) - 1]: list(found) for n, found in rows}
        postings = {word: 0 for word, found in lexemes.items() if not found}  # stop words match nothing
        rare = [w for w, found in lexemes.items() if found and any(lexeme not in common.rows for lexeme in found)]
        postings |= {w: min(common.rows[x] for x in found) for w, found in lexemes.items() if found and w not in rare}
        middling = max(RARE_POSTINGS + 1, common.rarest)
        if rare:
            counted = self._counted(conn, rare, RARE_POSTINGS)
            postings |= {w: count if count <= RARE_POSTINGS else middling for w, count in counted.items()}
        return postings

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
