"""The database: SQLAlchemy async engines, SQLite by default, PostgreSQL by URL.

SQLite quirks live here. Reads use a pool of connections (WAL lets them run beside a writer);
writes go through one connection that begins with ``BEGIN IMMEDIATE``, so two writers never
deadlock upgrading a read lock. aiosqlite runs every statement in a thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlean
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool

from assistantd.protocol.base import dump_json
from assistantd.store import sqlite_driver


def async_url(url: str) -> str:
    """Pick the async driver for a plain ``postgresql://`` or ``sqlite://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


T = TypeVar("T")
MMAP_BYTES = 1 << 36

JSON: dict[str, Any] = {"json_serializer": dump_json}  # how every JSON column is written


def json_document(value: Any) -> Any:
    """A JSON column read by ``Database.row``: text on SQLite (and from asyncpg), decoded here."""
    return json.loads(value) if isinstance(value, str) else value


def _sqlite_pragmas(engine: AsyncEngine | Engine, *, immediate: bool) -> None:
    engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Reads of large blobs (vector search) without a read() per page: file-backed, not anonymous, memory.
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# False in background sweeps (lease renewal, orphan claims, expiry), whose statements are not counted.
_COUNTED: ContextVar[bool] = ContextVar("assistantd_sql_counted", default=True)
_UNCOUNTED_PREFIXES = ("BEGIN", "COMMIT", "ROLLBACK")


def uncounted() -> None:
    """Mark the current task (and the tasks it starts) as background work for ``SqlCounts``."""
    _COUNTED.set(False)


@dataclass
class SqlCounts:
    """Statements sent (BEGIN/COMMIT aside) and write transactions, when the debug setting asks."""

    statements: int = 0
    write_transactions: int = 0
    # The last statements counted (their first words), so a budget test can say which went over.
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=64))

    def statement(self, sql: str) -> None:
        self.statements += 1
        self.recent.append(" ".join(sql.split())[:100])


class Database:
    """Sessions for reading and for writing; the only place that knows the dialect."""

    def __init__(self, url: str, count_statements: bool = False) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            # Retrieval hook: the sqlite-vec-capable driver (store/sqlite_driver.py).
            driver = sqlite_driver.engine_options()
            self.read_engine = create_async_engine(self.url, pool_size=4, max_overflow=4, **driver, **JSON)
            self.write_engine = create_async_engine(
                self.url, pool_size=1, max_overflow=0, pool_timeout=60, **driver, **JSON
            )
            _sqlite_pragmas(self.read_engine, immediate=False)
            _sqlite_pragmas(self.write_engine, immediate=True)
            self._sync_writer = _sync_sqlite_engine(make_url(self.url).database or "")
            _sqlite_pragmas(self._sync_writer, immediate=True)
            self._writer_thread: ThreadPoolExecutor | None = None
            self._writer_held = _Held(self._sync_writer)
            self._sync_reader = _sync_sqlite_engine(make_url(self.url).database or "", connections=2)
            _sqlite_pragmas(self._sync_reader, immediate=False)
            self._reader_threads: ThreadPoolExecutor | None = None
            self._readers_held = _Held(self._sync_reader)
        else:
            self.read_engine = create_async_engine(self.url, pool_size=8, max_overflow=8, pool_pre_ping=True, **JSON)
            self.write_engine = self.read_engine
            # ``query`` and ``document`` outside a transaction: no BEGIN and ROLLBACK around them, which
            # were half of such a read's round trips (0.56 -> 0.29 ms each, measured on loopback).
            self.query_engine = create_async_engine(
                self.url, pool_size=4, max_overflow=4, pool_pre_ping=True, isolation_level="AUTOCOMMIT", **JSON
            )
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self.counts: SqlCounts | None = None
        self._reader: sqlean.Connection | None = None
        if count_statements:
            self.counts = SqlCounts()
            for engine in self._async_engines():
                event.listen(engine.sync_engine, "before_cursor_execute", self._count)
            if self.is_sqlite:
                for sync_engine in (self._sync_writer, self._sync_reader):
                    event.listen(sync_engine, "before_cursor_execute", self._count)

    def _async_engines(self) -> list[AsyncEngine]:
        engines = [self.read_engine, self.write_engine] if self.is_sqlite else [self.read_engine, self.query_engine]
        return list(dict.fromkeys(engines))

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.counts is not None and _COUNTED.get() and not statement.lstrip().startswith(_UNCOUNTED_PREFIXES):
            self.counts.statement(statement)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and rolls back on an exception."""
        if self.counts is not None and _COUNTED.get():
            self.counts.write_transactions += 1
        async with self._write() as session, session.begin():
            yield session

    async def transact(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one write transaction that commits when it returns, with Core statements.

        On SQLite the whole transaction is one hop to a writer thread with a plain connection; through
        the async session every statement costs several hops between the loop and aiosqlite's thread,
        which made the writes of a run most of its CPU (measured with py-spy). Elsewhere it runs on
        the async engine's connection.
        """
        if self.counts is not None and _COUNTED.get():
            self.counts.write_transactions += 1
        if not self.is_sqlite:
            async with self.write_engine.begin() as conn:
                return await conn.run_sync(work)
        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        return await _in_thread(self._writer_thread, lambda: self._writer_held.run(work))

    async def query(self, work: Callable[[Connection], T]) -> T:
        """``work`` reading with Core statements: on SQLite one hop to a reader thread, as ``transact``;
        elsewhere on an autocommit connection (each statement sees what is committed when it runs)."""
        if not self.is_sqlite:
            async with self.query_engine.connect() as conn:
                return await conn.run_sync(work)
        if self._reader_threads is None:
            self._reader_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-reader")
        return await _in_thread(self._reader_threads, lambda: self._readers_held.run(work))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        """Reads that all see the database as one moment left it, while writers go on: one read
        transaction (``REPEATABLE READ`` on PostgreSQL; on SQLite, WAL keeps the snapshot of the
        transaction's first read). For long reads such as an export; it holds one connection."""
        async with self.read_engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield Snapshot(conn)

    async def document(self, table: str, where: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One stored document found by an indexed key (``where`` uses ``:name`` parameters)."""
        found = await self.row(f"SELECT data FROM {table} WHERE {where} LIMIT 1", params)
        return json_document(found[0]) if found else None

    async def row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a read by an indexed key (JSON columns as stored: see ``json_document``).

        On SQLite the read runs on the event loop: measured, an indexed read there costs ~20 us of CPU
        while the thread hop that would carry it (SQLAlchemy async + aiosqlite) costs ~2 ms, and a WAL
        reader never waits for the writer. Elsewhere it goes through the pool.
        """
        if not self.is_sqlite:  # counted by the engine's hook
            async with self.query_engine.connect() as conn:
                found = (await conn.execute(text(sql), params)).first()
            return tuple(found) if found is not None else None
        if self.counts is not None and _COUNTED.get():
            self.counts.statement(sql)  # the loop's own connection has no hook
        answer: tuple[Any, ...] | None = self._loop_reader().execute(sql, params).fetchone()
        return answer

    def _loop_reader(self) -> sqlean.Connection:
        if self._reader is None:
            path = make_url(self.url).database or ""
            # The same SQLite library as every other connection: a second copy in one process does not
            # see the first's file locks (POSIX locks are per process), so it could reset the shared WAL
            # index under them (SIGBUS seen in an ingestion benchmark).
            self._reader = sqlean.connect(path, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA query_only=ON")
            self._reader.execute("PRAGMA busy_timeout=200")
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        for engine in self._async_engines():
            await engine.dispose()
        if self.is_sqlite:
            for pool in (self._writer_thread, self._reader_threads):
                if pool is not None:
                    pool.shutdown(wait=True)  # nothing is in flight once the server has stopped
            self._writer_thread = self._reader_threads = None
            self._writer_held.close()
            self._readers_held.close()
            self._sync_writer.dispose()
            self._sync_reader.dispose()


class Snapshot:
    """``Database.query`` inside ``Database.snapshot``'s transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def query(self, work: Callable[[Connection], T]) -> T:
        return await self._conn.run_sync(work)


async def on_session(session: AsyncSession, work: Callable[[Connection], T]) -> T:
    """``work``'s Core statements (what ``Database.transact`` runs) in an ORM session's transaction, after
    what the session holds is flushed: one way to write a table, whichever transaction a request opened."""
    await session.flush()
    connection = await session.connection()
    return await connection.run_sync(work)


class _Held:
    """A connection for each thread of ``transact``'s or ``query``'s pool, kept between transactions:
    checking one out of the engine's pool for every transaction (a ``Connection`` built, the DBAPI
    connection reset on return) was ~40% of a small transaction's CPU (measured on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.local = threading.local()
        self.opened: list[Connection] = []
        self.lock = threading.Lock()

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` in a transaction of its own (``BEGIN IMMEDIATE`` for the writer): it commits when
        ``work`` returns, rolls back if it raises, and leaves no transaction (no read snapshot) open."""
        conn: Connection | None = getattr(self.local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.local.conn = self.engine.connect()
            with self.lock:
                self.opened.append(conn)
        with conn.begin():
            return work(conn)

    def close(self) -> None:
        """Once the threads are shut down."""
        with self.lock:
            for conn in self.opened:
                conn.close()
            self.opened.clear()


async def _in_thread(pool: ThreadPoolExecutor, work: Callable[[], T]) -> T:
    context = contextvars.copy_context()  # the statement counter reads the caller's context
    return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(context.run, work))


def _sync_sqlite_engine(path: str, connections: int = 1) -> Engine:
    """A plain (not async) engine on the same file, for the threads of ``transact`` and ``query``."""
    return create_engine(
        "sqlite+pysqlite://",
        module=sqlean,
        creator=lambda: sqlite_driver.connect_sync(path, check_same_thread=False),
        poolclass=QueuePool,
        pool_size=connections,
        max_overflow=0,
        **JSON,
    )
