"""SQLite through ``sqlean`` with sqlite-vec loaded, under SQLAlchemy's aiosqlite dialect.

Many Python builds (pyenv, python.org) compile ``sqlite3`` without extension loading, so the stdlib
cannot load sqlite-vec. ``sqlean-py`` is a drop-in ``sqlite3`` with a bundled, current SQLite that
can; both come from PyPI. SQLAlchemy's aiosqlite adapter is handed this module instead of the
stdlib one, so its errors are the ones SQLAlchemy translates (IntegrityError stays IntegrityError).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import aiosqlite
import sqlean
import sqlite_vec
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

ERRORS = (
    "DatabaseError",
    "Error",
    "IntegrityError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "Warning",
    "InterfaceError",
    "InternalError",
    "DataError",
)


def connect_sync(database: str, **kwargs: Any) -> Any:
    """A ``sqlean`` connection with the vec0 module and ``vec_*`` functions loaded."""
    connection = sqlean.connect(database, **kwargs)
    connection.enable_load_extension(True)
    sqlite_vec.load(connection)
    connection.enable_load_extension(False)
    return connection


def _aiosqlite_module() -> types.ModuleType:
    module = types.ModuleType("aiosqlite_sqlean")
    for name in ERRORS:
        setattr(module, name, getattr(sqlean, name))
    module.sqlite_version = sqlean.sqlite_version  # type: ignore[attr-defined]
    module.sqlite_version_info = sqlean.sqlite_version_info  # type: ignore[attr-defined]
    module.Connection = aiosqlite.Connection  # type: ignore[attr-defined]
    module.__version__ = aiosqlite.__version__  # type: ignore[attr-defined]

    def connect(database: str, iter_chunk_size: int = 64, **kwargs: Any) -> aiosqlite.Connection:
        return aiosqlite.Connection(lambda: connect_sync(database, **kwargs), iter_chunk_size)

    module.connect = connect  # type: ignore[attr-defined]
    return module


@functools.cache
def _dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    return AsyncAdapt_aiosqlite_dbapi(_aiosqlite_module(), sqlean)


def engine_options() -> dict[str, Any]:
    """Keyword arguments for ``create_async_engine`` on a ``sqlite+aiosqlite`` URL."""
    return {"module": _dbapi()}
