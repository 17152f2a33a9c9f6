"""Vectors on SQLite: sqlite-vec, an inverted file of cells per store, each cell scanned exactly.

Two ``vec0`` tables per dimension, both in the database file and written in the ingestion's
transaction, so replicas and worker processes share them with no reload:

- ``chunk_cells_{dims}``: a store's cells, each a centroid (unit float32) and its vector count;
- ``chunk_vectors_{dims}``: each chunk's float32 embedding (rowid = the chunk's ``seq``),
  partitioned by store and by cell.

A new vector joins the cell with the nearest centroid. A cell that grows past ``MAX_CELL`` vectors
is split in two by 2-means over its own vectors (bisecting k-means, built as the store grows: no
training pass, and no rewrite of anything but the one cell). A search asks for the store's cells
nearest the query, then the nearest vectors of each of those cells by exact cosine, and keeps the
best: the cells probed cover at least ``PROBE_FLOATS`` floats (and ``MIN_PROBE`` cells), so the
cost of a query does not grow with the store.

Why: the binary-quantized scan of the whole store that came before cost 25 ms of CPU per query at
100k x 1536 and grew linearly with the store; probing cells took 5 ms with recall@10 1.00 on
clustered vectors (``bench/scale.py``).

An attribute filter is answered by an exact scan of the allowed files' chunks (indexed by store and
file), so it returns every match however selective it is.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, bindparam, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.retrieval.index.vectors import Ranked, scope
from assistantd.store.db import Database

# Smaller cells follow the data more closely, so the same floats probed find more of a query's
# neighbours when they straddle cells. At 100k x 1536 with queries four times as far from the data
# as bench/scale.py's default (--query-noise 40), cells of up to 1,024 vectors gave recall@10 0.708,
# 512 gave 0.992 and 256 0.996, at the same search time; ingestion splits more often: 512 cost ~5%
# of its MB/s, 256 ~15%. (At the default noise all three gave 1.000.) At 1M x 384, --query-noise 40,
# 1,024 and 512 gave 0.878 and 0.870; building that store took 627 s and 893 s.
MAX_CELL = 512
MAX_KNN = 4096  # vec0's largest k: above 2 x MAX_CELL, which a cell never reaches
# Probed: the two nearest cells, and more until they hold this many floats (vectors x dimensions):
# about four cells of 1,536-dimension vectors, sixteen of 384. Measured on clustered vectors
# (bench/scale.py, cells of up to 1,024): at 1M x 384, 1M floats gave recall@10 0.85, 2M 0.998.
MIN_PROBE = 2
PROBE_FLOATS = 2_000_000
MAX_PROBE = 64
# A store small enough that the nearest MAX_PROBE cells are all it has gets at least this share of
# its floats probed, up to SMALL_PROBE_FLOATS. Measured at 10k x 1536 (bench/scale.py): two cells
# (2M floats) gave recall@10 0.92 and 2.3 ms, a quarter of the store 0.98, the whole store 1.00 but
# 16 ms, as much as the probes of a store ten times larger.
SMALL_STORE_SHARE = 0.25
SMALL_PROBE_FLOATS = 3 * PROBE_FLOATS
CHUNK_SIZE = 128
SPLIT_ROUNDS = 6
LAYOUT = "cell integer partition key"  # in a table's SQL: the cell layout (older tables lack it)

TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chunk_vectors_%' "
    "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
)

CELL_KNN = "SELECT rowid, size FROM {cells} WHERE embedding MATCH :vector AND k = :k AND vector_store_id = :store"
VECTOR_KNN = (
    "SELECT rowid, distance FROM {table} WHERE embedding MATCH :vector AND k = :limit "
    "AND vector_store_id = :store AND cell = {cell}"
)
# MATERIALIZED: flattened, the outer LIMIT would reach vec0, which takes k or LIMIT, not both.
KNN = """
WITH near AS MATERIALIZED ({union})
SELECT near.rowid AS seq, c.file_id AS file_id, 1.0 - near.distance AS cosine
FROM near JOIN chunks AS c ON c.seq = near.rowid
ORDER BY near.distance, near.rowid LIMIT :limit
"""

FILTERED = """
SELECT seq, file_id, 1.0 - vec_distance_cosine(embedding, :vector) AS cosine
FROM chunks
WHERE vector_store_id = :store AND file_id IN :file_ids AND length(embedding) = :size
ORDER BY cosine DESC, seq LIMIT :limit
"""


def table_name(dims: int) -> str:
    return f"chunk_vectors_{int(dims)}"


def cells_name(dims: int) -> str:
    return f"chunk_cells_{int(dims)}"


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype("<f4")


def dots(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` without BLAS: OpenBLAS spreads every product of more than 9,216 numbers
    over its threads, which spin for work while ingestion's own threads hold the cores; a split's
    products cost 65 times the CPU they cost on one thread (3.9 ms against 0.06 ms for 513 x 1,536),
    most of ingestion's vector-index time (py-spy). einsum's own loop runs on the calling thread."""
    return np.einsum("ij,j->i", matrix, vector)


def two_means(matrix: np.ndarray) -> np.ndarray:
    """A split of the rows in two (True: the second half), by spherical 2-means."""
    mean = matrix.mean(axis=0)
    first = matrix[int(np.argmin(dots(matrix, mean)))]  # an extreme row, then the row farthest from it
    second = matrix[int(np.argmin(dots(matrix, first)))]
    labels = np.zeros(len(matrix), dtype=bool)
    for _ in range(SPLIT_ROUNDS):
        labels = dots(matrix, second - first) > 0  # nearer ``second`` than ``first``: one product
        if labels.all() or not labels.any():
            break
        first, second = unit(matrix[~labels].mean(axis=0)), unit(matrix[labels].mean(axis=0))
    if labels.all() or not labels.any():  # identical rows: halve them, so the cell stays bounded
        labels = np.arange(len(matrix)) >= len(matrix) // 2
    return labels


def probed(cells: list[tuple[int, int]], dims: int) -> list[int]:
    """The nearest cells (best first) that together hold ``PROBE_FLOATS`` floats, or in a small store
    (fewer than ``MAX_PROBE`` cells, so all of them are here) its ``SMALL_STORE_SHARE``."""
    wanted = PROBE_FLOATS
    if len(cells) < MAX_PROBE:
        store = sum(int(size) for _, size in cells) * dims
        wanted = max(wanted, min(int(store * SMALL_STORE_SHARE), SMALL_PROBE_FLOATS))
    chosen: list[int] = []
    floats = 0
    for cell, size in cells:
        if len(chosen) >= MIN_PROBE and floats >= wanted:
            break
        chosen.append(int(cell))
        floats += int(size) * dims
    return chosen


class SqliteVectors:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Tables a reader has seen in the cell layout (committed); one is never dropped after that.
        self._tables: set[str] = set()

    async def add(
        self, session: AsyncSession, store_id: str, file_id: str | list[str], seqs: list[int], matrix: np.ndarray
    ) -> None:
        if not seqs:
            return
        await session.run_sync(lambda s: self.add_sync(s.connection(), store_id, seqs, matrix))
        # Once committed the tables stay (see ``_ready``): later writes skip ``_ensure``'s seven
        # statements, each several hops to aiosqlite's thread, in every ingestion transaction.
        table = table_name(matrix.shape[1])
        event.listen(session.sync_session, "after_commit", lambda _s: self._tables.add(table), once=True)

    def add_sync(self, conn: Connection, store_id: str, seqs: list[int], matrix: np.ndarray) -> None:
        """Each vector into the cell with the nearest centroid, then any cell grown too large split;
        ``MAX_CELL`` vectors at a time, so a cell never outgrows what one vec0 query returns."""
        for start in range(0, len(seqs), MAX_CELL):
            self._add_slice(conn, store_id, seqs[start : start + MAX_CELL], matrix[start : start + MAX_CELL])

    def _add_slice(self, conn: Connection, store_id: str, seqs: list[int], matrix: np.ndarray) -> None:
        dims = matrix.shape[1]
        table, cells = self._ensure(conn, dims), cells_name(dims)
        matrix = np.asarray(matrix, dtype="<f4")
        found = conn.execute(
            text(f"SELECT rowid, size, embedding FROM {cells} WHERE vector_store_id = :store"), {"store": store_id}
        ).all()
        ids = [int(row.rowid) for row in found]
        sizes = {int(row.rowid): int(row.size) for row in found}
        if not found:
            ids = [self._new_cell(conn, cells, store_id, unit(matrix.mean(axis=0)), 0)]
            sizes = {ids[0]: 0}
            centroids = np.frombuffer(unit(matrix.mean(axis=0)).tobytes(), "<f4").reshape(1, -1)
        else:
            centroids = np.frombuffer(b"".join(row.embedding for row in found), "<f4").reshape(len(found), -1)
        nearest = np.argmax(matrix @ centroids.T, axis=1)
        rows = [self._row(seq, store_id, ids[int(nearest[i])], matrix[i]) for i, seq in enumerate(seqs)]
        self._insert(conn, table, rows)
        touched = {row[2] for row in rows}
        for cell in touched:
            sizes[cell] += sum(1 for row in rows if row[2] == cell)
            conn.execute(
                text(f"UPDATE {cells} SET size = :size WHERE rowid = :cell"), {"size": sizes[cell], "cell": cell}
            )
        for cell in touched:
            if sizes[cell] > MAX_CELL:
                self._split(conn, table, cells, store_id, cell)

    @staticmethod
    def _insert(conn: Connection, table: str, rows: list[tuple[int, str, int, bytes]]) -> None:
        """``(seq, store, cell, vector)`` rows, handed to the driver as they are: SQLAlchemy's own
        per-row parameter processing was most of this insert's time on the event loop (py-spy)."""
        if rows:
            sql = f"INSERT INTO {table}(rowid, vector_store_id, cell, embedding) VALUES (?, ?, ?, ?)"
            conn.exec_driver_sql(sql, rows)

    @staticmethod
    def _new_cell(conn: Connection, cells: str, store_id: str, centroid: np.ndarray, size: int) -> int:
        result = conn.execute(
            text(f"INSERT INTO {cells}(vector_store_id, size, embedding) VALUES (:store, :size, :vector)"),
            {"store": store_id, "size": size, "vector": centroid.tobytes()},
        )
        return int(result.lastrowid)

    def _split(self, conn: Connection, table: str, cells: str, store_id: str, cell: int) -> None:
        """The cell's vectors in two by 2-means, one half kept under the cell's id and one under a new
        cell's; halves still too large split again.

        Every vector of the cell is deleted and inserted again: vec0 frees a storage chunk only once
        all its vectors are gone, and a cell left in half-empty chunks would cost twice to scan."""
        pending = [cell]
        while pending:
            current = pending.pop()
            centroid = conn.execute(text(f"SELECT embedding FROM {cells} WHERE rowid = :cell"), {"cell": current})
            seqs = list(
                conn.execute(
                    text(
                        f"SELECT rowid FROM {table} WHERE embedding MATCH :vector AND k = :k "
                        "AND vector_store_id = :store AND cell = :cell"
                    ),
                    {"vector": centroid.scalar_one(), "k": MAX_KNN, "store": store_id, "cell": current},
                ).scalars()
            )
            if len(seqs) <= MAX_CELL:  # counted high (vectors deleted behind its back): recount
                conn.execute(
                    text(f"UPDATE {cells} SET size = :size WHERE rowid = :cell"),
                    {"size": len(seqs), "cell": current},
                )
                continue
            drop = text(f"DELETE FROM {table} WHERE rowid IN :seqs").bindparams(bindparam("seqs", expanding=True))
            conn.execute(drop, {"seqs": seqs})
            seqs, matrix = self._members(conn, seqs)
            if len(seqs) <= MAX_CELL:  # vectors whose chunks were gone: the rest stay in the cell
                conn.execute(
                    text(f"UPDATE {cells} SET size = :size WHERE rowid = :cell"), {"size": len(seqs), "cell": current}
                )
                kept = [self._row(seq, store_id, current, vector) for seq, vector in zip(seqs, matrix, strict=True)]
                self._insert(conn, table, kept)
                continue
            moved = two_means(matrix)
            conn.execute(
                text(f"UPDATE {cells} SET size = :size, embedding = :vector WHERE rowid = :cell"),
                {"size": int((~moved).sum()), "vector": unit(matrix[~moved].mean(axis=0)).tobytes(), "cell": current},
            )
            other = self._new_cell(conn, cells, store_id, unit(matrix[moved].mean(axis=0)), int(moved.sum()))
            rows = [  # each cell's vectors inserted together, into chunks of their own
                self._row(seqs[i], store_id, other if moved[i] else current, matrix[i])
                for i in np.argsort(moved, kind="stable")
            ]
            self._insert(conn, table, rows)
            pending += [current, other]

    @staticmethod
    def _row(seq: int, store_id: str, cell: int, vector: np.ndarray) -> tuple[int, str, int, bytes]:
        return int(seq), store_id, int(cell), vector.tobytes()

    @staticmethod
    def _members(conn: Connection, seqs: list[int]) -> tuple[list[int], np.ndarray]:
        """The vectors of a cell's chunks, read from ``chunks`` (the same float32 bytes). Read from vec0,
        each vector was a blob read at its offset in a storage chunk spanning hundreds of overflow
        pages, walked from its start: most of a split's cost, and a split was most of ingestion's
        SQLite time (py-spy). A vector whose chunk is gone is not put back."""
        read = text("SELECT seq, embedding FROM chunks WHERE seq IN :seqs ORDER BY seq").bindparams(
            bindparam("seqs", expanding=True)
        )
        rows = conn.execute(read, {"seqs": seqs}).all()
        if not rows:
            return [], np.zeros((0, 0), dtype="<f4")
        matrix = np.frombuffer(b"".join(row.embedding for row in rows), "<f4").reshape(len(rows), -1)
        return [int(row.seq) for row in rows], matrix

    async def backfill(self, session: AsyncSession) -> int:
        return int(await session.run_sync(lambda s: self._backfill(s.connection())))

    def _backfill(self, conn: Connection) -> int:
        """Index chunks that have an embedding but no vector here (stored before the table existed, or
        before its layout changed), in batches."""
        sizes = "SELECT DISTINCT length(embedding) FROM chunks WHERE embedding IS NOT NULL"
        indexed = 0
        for size in list(conn.execute(text(sizes)).scalars()):
            table = self._ensure(conn, int(size) // 4)
            # vec0 keeps its rowids in a plain table: a point lookup each, where asking vec0 would
            # read every vector too.
            missing = text(
                f"SELECT seq FROM chunks AS c WHERE length(c.embedding) = :size "
                f"AND NOT EXISTS (SELECT 1 FROM {table}_rowids AS r WHERE r.rowid = c.seq) ORDER BY seq"
            )
            seqs = list(conn.execute(missing, {"size": size}).scalars())
            read = text("SELECT seq, vector_store_id, embedding FROM chunks WHERE seq IN :seqs").bindparams(
                bindparam("seqs", expanding=True)
            )
            for start in range(0, len(seqs), 5000):
                by_store: dict[str, list[tuple[int, bytes]]] = {}
                for seq, store, blob in conn.execute(read, {"seqs": seqs[start : start + 5000]}).all():
                    by_store.setdefault(store, []).append((int(seq), blob))
                for store, rows in by_store.items():
                    matrix = np.frombuffer(b"".join(blob for _, blob in rows), "<f4").reshape(len(rows), -1)
                    self.add_sync(conn, store, [seq for seq, _ in rows], matrix)
                    indexed += len(rows)
        return indexed

    def _ensure(self, conn: Connection, dims: int) -> str:
        """The tables, created, or rebuilt empty when a version before cells made them (``backfill``,
        which runs at every start, then indexes their chunks again).

        Not remembered here: the caller's transaction may still roll back, taking tables it made with
        it. ``_ready`` remembers them once a reader (committed data) has seen them."""
        table, cells = table_name(dims), cells_name(dims)
        if table in self._tables:
            return table
        found = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}).scalar()
        if found is not None and LAYOUT not in found:
            conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text(f"DROP TABLE IF EXISTS {cells}"))
        conn.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0(vector_store_id text partition key, "
                f"{LAYOUT}, embedding float[{dims}] distance_metric=cosine, chunk_size={CHUNK_SIZE})"
            )
        )
        conn.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {cells} USING vec0(vector_store_id text partition key, "
                f"size integer, embedding float[{dims}] distance_metric=cosine, chunk_size=16)"
            )
        )
        for name, keys in ((table, "partition00, partition01"), (cells, "partition00")):
            self._index_partitions(conn, name, keys)
        return table

    @staticmethod
    def _index_partitions(conn: Connection, name: str, keys: str) -> None:
        """An index on the partition keys of vec0's chunk table, when it has the columns we know.

        vec0 finds a partition's storage chunks with a query on that shadow table, which has no such
        index: at 1M vectors (8,600 chunks) each probed cell cost a scan of all of them, 2.5 ms of
        CPU; with the index 0.44 ms. Checked by column name, so another sqlite-vec layout is left as is."""
        shadow = f"{name}_chunks"
        found = conn.execute(text(f"SELECT count(*) FROM pragma_table_info('{shadow}') WHERE name LIKE 'partition0%'"))
        if found.scalar() == keys.count(",") + 1:
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{shadow}_partition ON {shadow} ({keys})"))

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        await session.run_sync(lambda s: self._delete(s.connection(), store_id, file_id))

    def _delete(self, conn: Connection, store_id: str | None, file_id: str | None) -> None:
        where, params = scope(store_id, file_id)
        chunks = "SELECT seq FROM chunks WHERE " + where
        for table in list(conn.execute(text(TABLES)).scalars()):
            cells = cells_name(int(table.rsplit("_", 1)[1]))
            if file_id is None and store_id is not None:
                conn.execute(text(f"DELETE FROM {table} WHERE vector_store_id = :store"), params)
                conn.execute(text(f"DELETE FROM {cells} WHERE vector_store_id = :store"), params)
                continue
            counted = conn.execute(
                text(f"SELECT cell, count(*) FROM {table} WHERE rowid IN ({chunks}) GROUP BY cell"), params
            )
            for cell, gone in counted.all():
                conn.execute(
                    text(f"UPDATE {cells} SET size = max(0, size - :gone) WHERE rowid = :cell"),
                    {"gone": gone, "cell": cell},
                )
            conn.execute(text(f"DELETE FROM {table} WHERE rowid IN ({chunks})"), params)

    def _ready(self, conn: Connection, table: str) -> bool:
        """Whether the table exists in the cell layout (until ``backfill`` rebuilds an older one)."""
        if table not in self._tables:
            query = text(TABLES + " AND name = :name AND instr(sql, :layout) > 0")
            if conn.execute(query, {"name": table, "layout": LAYOUT}).first() is None:
                return False
            self._tables.add(table)
        return True

    async def search(self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> Ranked:
        if limit <= 0 or (file_ids is not None and not file_ids):
            return []
        blob = np.asarray(vector, dtype="<f4").reshape(-1).tobytes()
        return await self.db.query(lambda conn: self._search(conn, store_id, blob, limit, file_ids))

    def _search(self, conn: Connection, store_id: str, blob: bytes, limit: int, file_ids: set[str] | None) -> Ranked:
        params: dict[str, object] = {"vector": blob, "store": store_id, "limit": limit}
        dims = len(blob) // 4
        if file_ids is not None:
            statement = text(FILTERED).bindparams(bindparam("file_ids", expanding=True))
            rows = conn.execute(statement, params | {"file_ids": sorted(file_ids), "size": len(blob)}).all()
        else:
            table = table_name(dims)
            if not self._ready(conn, table):
                return []
            near = conn.execute(text(CELL_KNN.format(cells=cells_name(dims))), params | {"k": MAX_PROBE}).all()
            cells = probed([(row.rowid, row.size) for row in near], dims)
            if not cells:
                return []
            union = " UNION ALL ".join(VECTOR_KNN.format(table=table, cell=cell) for cell in cells)
            rows = conn.execute(text(KNN.format(union=union)), params).all()
        found = [(int(row.seq), str(row.file_id), float(row.cosine)) for row in rows]
        found.sort(key=lambda row: (-row[2], row[0]))
        return found
