"""The one place threads and their messages are written, with Core statements as ``store/runs.py``
writes runs: in the transaction of ``Database.transact`` (the hot path: one hop to the database), or
in an ORM session's transaction through ``store.db.on_session``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, delete, insert, update

from assistantd.protocol.messages import Message
from assistantd.protocol.threads import Thread
from assistantd.store import restore
from assistantd.store.models import MessageRow, RunRow, RunStepRow, ThreadRow


def insert_thread(conn: Connection, project: str, thread: Thread, messages: list[Message]) -> None:
    """A new thread with its first messages: a few statements in one hop to the database, where the ORM
    session's flush took most of a ``create_and_run``'s CPU (py-spy)."""
    row = {"id": thread["id"], "project": project, "created_at": thread["created_at"], "data": thread}
    conn.execute(insert(ThreadRow), [row])
    insert_messages(conn, project, messages)


def insert_messages(conn: Connection, project: str, messages: list[Message]) -> None:
    if messages:
        rows = [
            {"id": m["id"], "project": project, "created_at": m["created_at"], "thread_id": m["thread_id"], "data": m}
            for m in messages
        ]
        conn.execute(insert(MessageRow), rows)


def save_thread(conn: Connection, thread: Thread) -> None:
    conn.execute(update(ThreadRow).where(ThreadRow.id == thread["id"]).values(data=thread))


def save_threads(conn: Connection, threads: list[Thread]) -> None:
    for thread in threads:
        save_thread(conn, thread)


def save_message(conn: Connection, message: Message) -> None:
    conn.execute(update(MessageRow).where(MessageRow.id == message["id"]).values(data=message))


def delete_thread(conn: Connection, thread_id: str) -> None:
    """The thread with everything in it: its messages, its runs and their steps."""
    for table in (MessageRow, RunStepRow, RunRow):
        conn.execute(delete(table).where(table.thread_id == thread_id))
    conn.execute(delete(ThreadRow).where(ThreadRow.id == thread_id))


def delete_message(conn: Connection, message_id: str) -> None:
    conn.execute(delete(MessageRow).where(MessageRow.id == message_id))


def restore_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Threads or messages as an archive holds them (``assistantd import``), upserted by id."""
    assert table.name in (ThreadRow.__tablename__, MessageRow.__tablename__)
    restore.upsert(conn, table, rows)
