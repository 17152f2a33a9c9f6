"""Every setting, declared once with its help text.

Settings come from the environment (``ASSISTANTD_*``), optionally from a TOML config file named by
``ASSISTANTD_CONFIG`` or ``--config``; command-line flags win over both. The README documents each
field here, and a test keeps the two in step.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# ``assistantd serve --workers N`` hands its settings to each worker process through this variable.
SETTINGS_ENV = "_ASSISTANTD_SERVE_SETTINGS"


class ModelRoute(BaseModel):
    """One entry of the ``[models]`` table: where a model name (or glob pattern) is served, and how."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The upstream's OpenAI-compatible base URL (Azure: the resource endpoint).")
    api_key: str | None = Field(default=None, description="The key sent to this upstream.")
    api_key_env: str | None = Field(
        default=None, description="The environment variable that holds the key (read at start); wins over `api_key`."
    )
    upstream_model: str | None = Field(
        default=None, description="The name sent upstream, when it differs from the name clients use."
    )
    azure_deployment: str | None = Field(
        default=None, description="Azure OpenAI: the deployment that serves this model (makes the route Azure)."
    )
    api_version: str | None = Field(default=None, description="Azure OpenAI: the `api-version` query parameter.")
    tool_call_format: Literal["native", "json", "hermes"] = Field(
        default="native",
        description="Where the model writes tool calls: `native` (`tool_calls` deltas), `json` (a JSON object "
        "as the whole answer) or `hermes` (`<tool_call>{...}</tool_call>` in the text).",
    )
    reasoning_format: Literal["auto", "think", "none"] = Field(
        default="auto",
        description="How reasoning is kept out of answers: `auto` (reasoning fields, and a `<think>` block that "
        "opens the answer), `think` (all text up to `</think>`, even when the opening tag is missing), or "
        "`none` (text is left as it comes; reasoning fields are still dropped).",
    )
    context_tokens: int | None = Field(
        default=None, description="The model's context length; defaults to `ASSISTANTD_MODEL_CONTEXT_TOKENS`."
    )
    continue_final_message: bool = Field(
        default=False,
        description="The upstream continues a partly written answer sent as the last message (vLLM's "
        "`continue_final_message`): a run whose server died mid-answer resumes from the text already saved.",
    )
    input_price: float | None = Field(
        default=None, ge=0, description="USD per 1M input tokens (not cached), for costs; unset counts as 0."
    )
    cached_input_price: float | None = Field(
        default=None, ge=0, description="USD per 1M cached input tokens; defaults to `input_price`."
    )
    output_price: float | None = Field(
        default=None, ge=0, description="USD per 1M output tokens, for costs; unset counts as 0."
    )
    refuses: list[
        Literal[
            "stream_options",
            "max_tokens",
            "parallel_tool_calls",
            "seed",
            "temperature",
            "top_p",
            "reasoning_effort",
            "tool_choice",
            "tool_choice_required",
            "tool_choice_named",
            "json_schema",
            "json_object",
        ]
    ] = Field(
        default_factory=list,
        description="Parameters this upstream is known to refuse, so they are adapted from the first call "
        "(others are learnt from the upstream's 400 answers).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANTD_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"),
        description="Where the embedded SQLite database and the file blobs live.",
    )
    database_url: str | None = Field(
        default=None,
        description="A `postgresql://...` (or `sqlite:///...`) URL; unset means SQLite in the data dir.",
    )
    host: str = Field(default="127.0.0.1", description="Address `assistantd serve` binds to.")
    port: int = Field(default=8000, description="Port `assistantd serve` listens on.")
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Server processes `assistantd serve` starts on the port (`--workers`); they share the "
        "database and data dir as replicas do. Default: the number of CPUs.",
    )
    api_keys: str | None = Field(
        default=None,
        description="`KEY=PROJECT` pairs, comma-separated. When set (or when keys were created with "
        "`assistantd keys create`), every request needs a key and sees only its project's objects.",
    )
    admin_keys: str | None = Field(
        default=None,
        description="Admin API keys, comma-separated: they work on `/v1/organization/...` (projects, keys, usage "
        "and costs) and nowhere else. More are made with `assistantd admin-keys create`.",
    )
    model_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        description="OpenAI-compatible upstream for chat completions (vLLM, Ollama, llama.cpp, OpenAI...): the "
        "default route, serving any model name the `[models]` table does not; empty means no default route.",
    )
    models: dict[str, ModelRoute] = Field(
        default_factory=dict,
        description="Routes by model name or glob pattern (`[models]` table of the config file, or JSON here); "
        "names without one go to `ASSISTANTD_MODEL_BASE_URL`.",
    )
    model_api_key: str = Field(default="none", description="API key sent to the chat completions upstream.")
    model_context_tokens: int | None = Field(
        default=None,
        description="The upstream model's context length in tokens; `auto` truncation fits messages into it, and "
        "a response with `truncation: \"disabled\"` over it is refused.",
    )
    model_continue_final_message: bool = Field(
        default=False,
        description="The default route's upstream continues a partly written answer (vLLM's "
        "`continue_final_message`), so a run whose server died mid-answer resumes rather than starting over.",
    )
    model_timeout_seconds: float = Field(
        default=120.0, description="How long one upstream call may take before the run fails."
    )
    model_max_retries: int = Field(
        default=2, description="Retries (with backoff) of transient upstream failures: 429, 5xx, timeouts."
    )
    embedding_base_url: str | None = Field(
        default=None, description="OpenAI-compatible `/v1/embeddings` upstream; defaults to the model one."
    )
    embedding_model: str = Field(
        default="text-embedding-3-small", description="Embedding model name sent to the embeddings upstream."
    )
    embedding_api_key: str | None = Field(
        default=None, description="API key for the embeddings upstream; defaults to the model one."
    )
    embedding_provider: Literal["openai", "local"] = Field(
        default="openai",
        description="Where new vector stores get embeddings: `openai` (the `/v1/embeddings` upstream) or "
        "`local` (the offline MiniLM model of the `local-embeddings` extra).",
    )
    embedding_batch_size: int = Field(
        default=64, description="How many chunks one request to the embeddings upstream carries."
    )
    embedding_vector_weight: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="The vector share of hybrid search scores for stores embedded by the upstream "
        "(the rest is keyword): 0.15 never hurt even with a weak embedder; a good model earns more "
        "(the offline MiniLM uses 0.6).",
    )
    ingestion_workers: int = Field(
        default=2,
        ge=1,
        description="How many batches of vector-store files one server process ingests at once (each "
        "worker claims a batch from the database; every process and replica takes work).",
    )
    ingestion_batch_files: int = Field(
        default=32,
        ge=1,
        description="How many files an ingestion worker claims at once; their chunks share embedding "
        "requests and their results one transaction.",
    )
    ingestion_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claim on a file being ingested holds without renewal (renewed every "
        "third of it): a file whose process died is taken over by another within this time.",
    )
    ingestion_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often an idle process looks for files to ingest that another process "
        "attached (its own attaches wake it at once).",
    )
    file_search_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a run's file_search waits for files still being ingested into the thread's "
        "vector store or a v1 assistant's files, as OpenAI's runs did, before it searches anyway.",
    )
    search_mode: Literal["hybrid", "vector", "keyword"] = Field(
        default="hybrid",
        description="How vector stores are searched: `hybrid` (vector and keyword scores fused by a "
        "weighted combination), `vector` or `keyword`.",
    )
    rerank_base_url: str | None = Field(
        default=None,
        description="A Cohere/Jina-style rerank upstream (vLLM, TEI, Infinity): searches POST "
        "`{url}/rerank`. Unset means no reranking.",
    )
    rerank_model: str | None = Field(
        default=None, description="Reranker model name sent to the rerank upstream (unset: the upstream's own)."
    )
    rerank_api_key: str | None = Field(
        default=None, description="Bearer token for the rerank upstream; unset sends none."
    )
    blob_url: str | None = Field(
        default=None,
        description="Where file bytes live: unset, the data dir's `files` folder; `s3://bucket/prefix`, an "
        "S3-compatible bucket (the `s3` extra; credentials, region and `AWS_ENDPOINT_URL` from the `AWS_*` "
        "variables), which replicas share instead of a disk.",
    )
    blob_sweep_seconds: float = Field(
        default=3600.0,
        description="How often each server looks for blobs without a file (left by a crash between storing "
        "the bytes and writing the file) and deletes them.",
    )
    blob_orphan_grace_seconds: float = Field(
        default=86400.0,
        description="How old a blob without a file must be before the sweep deletes it: longer than any upload.",
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024, description="Largest file `POST /v1/files` accepts, in bytes."
    )
    run_workers: int = Field(
        default=64,
        description="How many runs one server process executes at once (a run mostly waits on the model, "
        "so this can be well above the number of cores); more wait in line.",
    )
    run_lease_seconds: float = Field(
        default=15.0,
        description="How long a worker's claim on a run lasts without renewal; a run whose server died is "
        "resumed by another (or the restarted) server once its lease has run out.",
    )
    drain_seconds: float = Field(
        default=20.0,
        ge=0,
        description="On SIGTERM, how long a server lets the runs it executes finish before it hands the rest "
        "to the other replicas (releasing their leases) and exits. Keep the orchestrator's grace period "
        "(Kubernetes' terminationGracePeriodSeconds, 30 s by default) a few seconds above it.",
    )
    run_expiry_seconds: int = Field(
        default=600,
        description="Seconds after creation when a run that has not ended (queued, in progress or waiting for "
        "tool outputs) expires (OpenAI: 600).",
    )
    responses_websocket_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long one Responses WebSocket connection may stay open (OpenAI: 60 minutes); then "
        "it gets a `websocket_connection_limit_reached` error event and is closed.",
    )
    compaction_key: str | None = Field(
        default=None,
        description="The Fernet key `/v1/responses/compact` encrypts compaction items with. Unset, a key is "
        "generated once in `compaction.key` in the data dir (shared by the servers on it); replicas on "
        "separate data dirs must share this setting.",
    )
    debug_sql_counts: bool = Field(
        default=False,
        description="Count the SQL statements and write transactions the server sends (background sweeps "
        "aside) and show the totals at `GET /debug/sql`; for tests and profiling, not for production.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    # Console and observability (README "Console", "Metrics").
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text`, or `json`: one JSON object per line with the request id, project, run id and route.",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Where worker processes keep their Prometheus samples for `/metrics` to add up; "
        "default: `metrics` in the data dir. Wiped at start.",
    )
    upstream_log: bool = Field(
        default=False,
        description="Keep the exact request each run sent to the model upstream, with its timing, for the "
        "console's run inspector. Off by default: prompts hold your users' data.",
    )
    upstream_log_retention_seconds: float = Field(
        default=86400.0, description="How long the upstream log keeps a request, in seconds."
    )
    input_url_allow_private: bool = Field(
        default=False,
        description="Let Responses fetch `file_url` and `image_url` inputs from loopback, private, link-local "
        "and other non-public addresses (refused by default: a client could otherwise reach your network).",
    )
    input_url_max_bytes: int = Field(
        default=50 << 20, description="Largest file or image a Responses input URL may answer with, in bytes."
    )
    input_url_timeout_seconds: float = Field(
        default=20.0, description="How long fetching one Responses input URL may take, redirects included, in seconds."
    )
    advertise_url: str | None = Field(
        default=None,
        description="The URL other replicas reach this server at (e.g. `http://10.0.0.5:8000`): a thread's code "
        "interpreter calls then go to the replica holding its Python session. Unset, a replica runs every call "
        "itself, and a thread whose session is elsewhere starts a fresh one.",
    )
    sandbox_python: str | None = Field(
        default=None,
        description="Python the code interpreter runs (needs numpy, pandas, matplotlib); default: the server's own.",
    )
    sandbox_dir: Path | None = Field(
        default=None,
        description="Where each thread's `/mnt/data` lives on the host while its session is alive; "
        "default: `sandbox` in the data dir. Wiped when its sandbox manager starts (no server uses it then).",
    )
    sandbox_wall_seconds: float = Field(
        default=60.0, description="Wall time one code interpreter call may take before its process tree is killed."
    )
    sandbox_cpu_seconds: int = Field(default=60, description="CPU seconds one code interpreter call may use.")
    sandbox_memory_bytes: int = Field(
        default=2 << 30, description="Address-space limit (RLIMIT_AS) of each process in the sandbox, in bytes."
    )
    sandbox_max_processes: int = Field(
        default=64, description="Processes and threads (RLIMIT_NPROC) one sandbox session may have at once."
    )
    sandbox_max_output_bytes: int = Field(
        default=100_000, description="Largest stdout (and stderr) one call returns; the rest is cut off."
    )
    sandbox_max_file_bytes: int = Field(
        default=256 << 20, description="Largest file the code may write (RLIMIT_FSIZE) and that is returned."
    )
    sandbox_max_disk_bytes: int = Field(
        default=1 << 30,
        description="Disk a session's `/mnt/data` may use; a call writing past it is stopped, its files removed.",
    )
    sandbox_tmp_bytes: int = Field(default=256 << 20, description="Size of the private in-memory `/tmp` of a session.")
    sandbox_idle_seconds: float = Field(
        default=3600.0, description="A thread's Python session ends after this long unused; the next call starts fresh."
    )
    sandbox_max_sessions: int = Field(
        default=16, description="Live Python sessions at once; the least recently used idle one is closed to make room."
    )
    sandbox_uid_base: int = Field(
        default=200000,
        description="When the server runs as root, each session runs as its own uid from here up (no account needed).",
    )

    @field_validator("compaction_key")
    @classmethod
    def _fernet_key(cls, value: str | None) -> str | None:
        if value:
            try:
                Fernet(value)
            except ValueError:
                raise ValueError(
                    "ASSISTANTD_COMPACTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes, "
                    "as Fernet.generate_key() makes)"
                ) from None
        return value or None

    # Limits (README "Limits"). 0 turns a limit off; the Admin API sets them per project and per key.
    limit_rpm: int = Field(
        default=0, ge=0, description="Requests per minute each project may make (every `/v1` request counts)."
    )
    limit_tpm: int = Field(
        default=0,
        ge=0,
        description="Model tokens (prompt + completion) per minute each project may spend: counted as runs "
        "use them; past it, requests that start model work answer 429 until the minute allows.",
    )
    limit_concurrent_runs: int = Field(
        default=0, ge=0, description="Runs a project may have queued, in progress or waiting for tool outputs."
    )
    limit_storage_bytes: int = Field(
        default=0, ge=0, description="Bytes of files and vector stores a project may keep; past it, uploads answer 403."
    )
    limits_url: str | None = Field(
        default=None,
        description="Where the limits' counters live: unset, the database (SQLite: shared by `--workers`; "
        "PostgreSQL: by replicas); `redis://host:port/db` (the `redis` extra) for replicas without a database "
        "write per permit batch.",
    )

    @field_validator("blob_url")
    @classmethod
    def _bucket_url(cls, value: str | None) -> str | None:
        if value and not value.startswith("s3://"):
            raise ValueError(f"ASSISTANTD_BLOB_URL must be an s3://bucket/prefix URL, not {value!r}")
        return value or None

    @field_validator("limits_url")
    @classmethod
    def _limits_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"ASSISTANTD_LIMITS_URL must be a redis:// URL (or unset: the database), not {value!r}")
        return value or None

    @property
    def effective_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'assistantd.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def keys_stamp(self) -> Path:
        """Touched whenever stored API keys change, so servers on this data dir drop their key cache."""
        return self.data_dir / "keys.changed"

    @property
    def effective_metrics_dir(self) -> Path:
        return self.metrics_dir or self.data_dir / "metrics"

    @property
    def effective_sandbox_dir(self) -> Path:
        return self.sandbox_dir or self.data_dir / "sandbox"

    def parsed_admin_keys(self) -> list[str]:
        return [key.strip() for key in (self.admin_keys or "").split(",") if key.strip()]

    def parsed_api_keys(self) -> dict[str, str]:
        """``KEY=PROJECT,...`` as a mapping; a bare ``KEY`` belongs to the project ``default``."""
        pairs: dict[str, str] = {}
        for item in (self.api_keys or "").split(","):
            item = item.strip()
            if not item:
                continue
            key, _, project = item.partition("=")
            pairs[key.strip()] = project.strip() or "default"
        return pairs


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings: the TOML file (if any) under the environment, flags over both."""
    path = config_file or os.environ.get("ASSISTANTD_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        with open(path, "rb") as handle:
            file_values = tomllib.load(handle)
        unknown = sorted(set(file_values) - set(Settings.model_fields))
        if unknown:
            raise ValueError(f"unknown setting '{unknown[0]}' in {path}")
    env_values = Settings().model_dump(exclude_unset=True)
    merged = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**merged)
