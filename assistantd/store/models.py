"""Tables. Each API object is stored as its wire document (``data``) beside the columns we query on.

``seq`` is an ever-increasing integer key: lists order by it, so objects created in the same second
still page without repeats or gaps. ``project`` scopes every row to the tenant that created it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
SeqKey = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class DocumentRow:
    """Columns every stored API object has."""

    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), index=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class AssistantRow(DocumentRow, Base):
    __tablename__ = "assistants"
    __table_args__ = (UniqueConstraint("id"),)


class ThreadRow(DocumentRow, Base):
    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("id"),)


class MessageRow(DocumentRow, Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("id"), Index("ix_messages_thread_seq", "thread_id", "seq"))
    thread_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class RunRow(DocumentRow, Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("id"),
        Index("ix_runs_thread_seq", "thread_id", "seq"),
        Index("ix_runs_created_at", "created_at"),  # usage by time range (migration 0010)
    )
    thread_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    # Which worker executes the run, and until when its claim holds (see the executor).
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The wire document's ``expires_at`` (migration 0003), so the sweeper finds overdue runs by index.
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    # Engine state that is not part of the wire object (pending tool calls, partial output...).
    state: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    # The key that started the run (migration 0010), so usage and cost count per key.
    api_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The thread's last message seq when the run was created (migration 0011): where the run's items
    # list among the thread's messages, whatever the clock says.
    after_message_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RunStepRow(DocumentRow, Base):
    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("id"), Index("ix_run_steps_run_seq", "run_id", "seq"))
    run_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(String(64), index=True)


class ResponseRow(DocumentRow, Base):
    """A Responses API object: a run of the engine on a thread (a conversation's, or its own)."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("id"),)
    thread_id: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    # True when the thread is a conversation the caller named; False: the response's own thread.
    conversation: Mapped[bool] = mapped_column(Boolean)
    input_items: Mapped[list[Any]] = mapped_column(JSONDoc)


class FileRow(DocumentRow, Base):
    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("id"),)
    purpose: Mapped[str] = mapped_column(String(32), index=True)


class VectorStoreRow(DocumentRow, Base):
    __tablename__ = "vector_stores"
    __table_args__ = (UniqueConstraint("id"),)
    # The embedder that indexed the store's files, by name (migration 0008); its searches embed with it.
    embedder: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # Runs wait for its files still being ingested (migration 0013): a v1 assistant's implicit store.
    wait_for_files: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class VectorStoreFileRow(DocumentRow, Base):
    """A file attached to a store; its wire id is the file's id, unique only within the store."""

    __tablename__ = "vector_store_files"
    __table_args__ = (
        UniqueConstraint("vector_store_id", "id"),
        Index("ix_vector_store_files_store_seq", "vector_store_id", "seq"),
    )
    vector_store_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Bytes of parsed chunks + embeddings once indexed (migration 0002); the store's usage sums these.
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The token of the ingestion attempt that may write the file's result (migration 0008).
    job: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The process ingesting the file, and until when its claim holds (migration 0013), as for runs.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class FileBatchRow(DocumentRow, Base):
    __tablename__ = "vector_store_file_batches"
    __table_args__ = (UniqueConstraint("id"),)
    vector_store_id: Mapped[str] = mapped_column(String(64), index=True)
    # Cancelled while files were pending (migration 0008): the batch reads ``cancelled`` from then on.
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ChunkRow(Base):
    """One chunk of a file in a vector store, with its embedding (float32 bytes)."""

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_store_file", "vector_store_id", "file_id"),)
    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    vector_store_id: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The Admin API's view of the key (migration 0010): its ``key_...`` id, name, shown value and owner.
    id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    redacted_value: Mapped[str | None] = mapped_column(String(64), nullable=True)
    service_account_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class ProjectRow(Base):
    """A project (tenant) of the Admin API (migration 0010); rows of every table name theirs by ``id``."""

    __tablename__ = "projects"
    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)
    archived_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ServiceAccountRow(Base):
    """A project's service account (migration 0010): the owner of the project API keys made for it."""

    __tablename__ = "service_accounts"
    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)


class AdminApiKeyRow(Base):
    """An admin API key (migration 0010): works on ``/v1/organization/...`` only, stored hashed."""

    __tablename__ = "admin_api_keys"
    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    redacted_value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ChatKitSessionRow(DocumentRow, Base):
    __tablename__ = "chatkit_sessions"
    __table_args__ = (UniqueConstraint("id"),)
    secret_hash: Mapped[str] = mapped_column(String(64), index=True)


class ChatKitThreadRow(DocumentRow, Base):
    __tablename__ = "chatkit_threads"
    __table_args__ = (UniqueConstraint("id"),)
    user: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)


class ChatKitItemRow(DocumentRow, Base):
    __tablename__ = "chatkit_items"
    __table_args__ = (UniqueConstraint("id"), Index("ix_chatkit_items_thread_seq", "thread_id", "seq"))
    thread_id: Mapped[str] = mapped_column(String(64))


class UpstreamRequestRow(Base):
    """The console's upstream log (migration 0006): one chat request sent for a run, with its timing.
    Written only when the ``upstream_log`` setting is on; rows older than its retention are deleted."""

    __tablename__ = "upstream_requests"
    seq: Mapped[int] = mapped_column(SeqKey, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class SandboxHostRow(Base):
    """A host's code-interpreter sessions as other replicas reach them (migration 0009): its sandbox
    manager's id, the URL of its servers and the secret a call must show; alive while ``heartbeat_at``
    is recent. Written only by hosts with ``ASSISTANTD_ADVERTISE_URL`` set."""

    __tablename__ = "sandbox_hosts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(512))
    secret: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[float] = mapped_column(Float)


class SandboxSessionRow(Base):
    """Where a thread's Python session lives (migration 0009): the host, the session's token (another
    token: the state was reset), and the files its code wrote (``/mnt/data`` path -> file id), which a
    new session gets back from the blob store."""

    __tablename__ = "sandbox_sessions"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
    files: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)


class ResponseEventRow(Base):
    """A background response's stream event as sent (migration 0011), kept so its stream can be
    resumed (``starting_after``) from any worker; deleted with the response."""

    __tablename__ = "response_events"
    response_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sequence_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class RateLimitRow(Base):
    """A project's limits (``key_id`` empty), or one key's within its project (migration 0012); a column
    left null falls back to the settings' default (project) or to no key limit. 0 means no limit."""

    __tablename__ = "rate_limits"
    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests_per_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    concurrent_runs: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class LimitCounterRow(Base):
    """One GCRA bucket of the limits (migration 0012): its theoretical arrival time, in Unix seconds, and
    what the last take granted (read back in the same statement)."""

    __tablename__ = "limit_counters"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)
    granted: Mapped[int] = mapped_column(BigInteger)
