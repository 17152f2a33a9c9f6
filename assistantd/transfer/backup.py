"""``assistantd backup`` and ``assistantd restore``: a consistent copy of a SQLite deployment.

``VACUUM INTO`` writes the database as one read transaction sees it: a running server keeps writing
beside it (WAL), and the copy is a single point in time, compacted. The local files' bytes are
copied after it: a file's bytes are never changed once stored, so every row of the copy finds its
bytes (a file deleted in between aside); bytes of files created after the snapshot are swept after
a restore like any bytes without a row. PostgreSQL deployments use ``pg_dump``, and a bucket its own
tools (see the README).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sqlean

from assistantd.blobs.local import PARTIAL

DATABASE = "assistantd.db"
FILES = "files"


class BackupError(Exception):
    """Said in one line by the command, not as a traceback."""


def backup(database: Path, blob_dir: Path | None, out: Path) -> int:
    """Snapshot the database and copy the local blobs into the directory ``out``; the files copied.
    Blocking: the command runs it on its own (no event loop is waiting)."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: back up into a new directory")
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    out.mkdir(parents=True, exist_ok=True)
    # The server's own SQLite library (sqlean): two copies in one process do not see each other's locks.
    source = sqlean.connect(str(database), isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.execute("VACUUM INTO ?", (str(out / DATABASE),))
    finally:
        source.close()
    copied = 0
    if blob_dir is not None and blob_dir.is_dir():
        (out / FILES).mkdir()
        for blob in blob_dir.iterdir():
            if blob.is_file() and not blob.name.endswith(PARTIAL):
                shutil.copy2(blob, out / FILES / blob.name)
                copied += 1
    return copied


def restore(backup_dir: Path, database: Path, blob_dir: Path | None, force: bool) -> int:
    """Put a backup in place of the data dir's database (and files); the files restored.
    Servers on the data dir must be stopped: a running one would keep the old database open."""
    source = backup_dir / DATABASE
    if not source.is_file():
        raise BackupError(f"{backup_dir} holds no {DATABASE}: not a backup made by `assistantd backup`")
    if database.exists() and not force:
        raise BackupError(f"{database} exists: stop the servers and pass --force to replace it")
    database.parent.mkdir(parents=True, exist_ok=True)
    staged = database.with_name(database.name + ".restoring")
    shutil.copy2(source, staged)
    for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        leftover.unlink(missing_ok=True)  # the old database's log must not be replayed onto the copy
    os.replace(staged, database)
    restored = 0
    if blob_dir is not None and (backup_dir / FILES).is_dir():
        blob_dir.mkdir(parents=True, exist_ok=True)
        for blob in (backup_dir / FILES).iterdir():
            shutil.copy2(blob, blob_dir / blob.name)
            restored += 1
    return restored
