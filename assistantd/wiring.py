"""The one place that reads configuration and picks implementations for every seam."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from assistantd.blobs import BlobStore, StorageUnavailable, from_url
from assistantd.chatkit.conversation import Conversation
from assistantd.chatkit.responder import RunResponder
from assistantd.chatkit.sessions import Sessions as ChatKitSessions
from assistantd.chatkit.threads import ChatKitThreads
from assistantd.console.service import Console
from assistantd.engine.bus import EventBus
from assistantd.engine.code_interpreter import CodeInterpreterTool
from assistantd.engine.executor import Executor, new_owner
from assistantd.engine.life import RunLife
from assistantd.engine.loop import RunEngine
from assistantd.engine.tools import ServerTool
from assistantd.errors import require_extra
from assistantd.llm import ChatModel
from assistantd.observability import metrics
from assistantd.observability.runs import ObservedChatModel, Sampler, observe_run_event
from assistantd.observability.upstream_log import DbUpstreamLog
from assistantd.responses.compact import Compactor, compaction_key
from assistantd.responses.conversations import Conversations
from assistantd.responses.engine_adapter import EngineAdapter
from assistantd.responses.service import Responses
from assistantd.retrieval.batches import FileBatches
from assistantd.retrieval.cascade import Cascade
from assistantd.retrieval.embedders import LOCAL_PREFIX, OPENAI_PREFIX, Embedder, Embedders, OpenAIEmbedder
from assistantd.retrieval.file_search import FileSearch
from assistantd.retrieval.index.sql_index import SqlIndex
from assistantd.retrieval.ingestion import Ingestion
from assistantd.retrieval.inline_stores import InlineStores
from assistantd.retrieval.rerank import HttpReranker
from assistantd.retrieval.search import Searcher
from assistantd.retrieval.stores import VectorStores
from assistantd.sandbox import Sandbox
from assistantd.sandbox.command import Limits as SandboxLimits
from assistantd.sandbox.shared import SharedSandbox
from assistantd.services.admin import Admin
from assistantd.services.assistants import Assistants
from assistantd.services.code_sessions import CodeSessions
from assistantd.services.files import Files
from assistantd.services.keys import Keys
from assistantd.services.limits import Counter, Limits, Policy
from assistantd.services.messages import Messages
from assistantd.services.run_door import RunDoor
from assistantd.services.runs import Runs
from assistantd.services.steps import Steps
from assistantd.services.threads import Threads
from assistantd.services.usage import Prices, Usage
from assistantd.services.v1files import V1Files
from assistantd.settings import Settings
from assistantd.store.db import Database, uncounted
from assistantd.store.limits import SqlCounter
from assistantd.store.runs import DbRunStore
from assistantd.upstream import Routes, build_routes
from assistantd.upstream.catalog import Catalog
from assistantd.upstream.chat import RoutedChatModel
from assistantd.upstream.fetch import URLLimits

log = logging.getLogger("assistantd")


@dataclass(frozen=True)
class Retrieval:
    vector_stores: VectorStores
    file_batches: FileBatches
    searcher: Searcher
    ingestion: Ingestion
    file_search: FileSearch
    # For services: stores made from tool_resources helpers and attachments; deletes of Files.
    inline_stores: InlineStores
    cascade: Cascade


@dataclass(frozen=True)
class RunParts:
    bus: EventBus
    life: RunLife
    executor: Executor
    runs: Runs
    steps: Steps


def build_keys(settings: Settings, db: Database) -> Keys:
    return Keys(db, settings.parsed_api_keys(), settings.keys_stamp, settings.parsed_admin_keys())


@dataclass(frozen=True)
class Container:
    """Every service, built once in dependency order by ``build``; nothing receives the container."""

    settings: Settings
    db: Database
    blobs: BlobStore
    keys: Keys
    # The Admin API (projects, service accounts, keys) and usage and cost by project, key and model.
    admin: Admin
    usage: Usage
    # Requests, tokens, runs and bytes per project and key (README "Limits").
    limits: Limits
    assistants: Assistants
    threads: Threads
    messages: Messages
    files: Files
    v1files: V1Files
    chatkit_sessions: ChatKitSessions
    chatkit_threads: ChatKitThreads
    chatkit_conversation: Conversation
    responses: Responses
    # POST /v1/responses/compact, and the compaction items later requests give back.
    compactor: Compactor
    conversations: Conversations
    # Which upstream serves each model name (the [models] table and the default route).
    routes: Routes
    # The upstream chat clients (closed at stop).
    chat: RoutedChatModel
    catalog: Catalog
    runs: Runs
    steps: Steps
    executor: Executor
    vector_stores: VectorStores
    file_batches: FileBatches
    searcher: Searcher
    ingestion: Ingestion
    # The code interpreter's sandbox (None when it cannot run here).
    sandbox: Sandbox | None
    # Server-side tools the run engine offers to the model, by tool type.
    server_tools: dict[str, ServerTool]
    # Where each thread's code-interpreter session lives, across replicas.
    code_sessions: CodeSessions
    # Observability (console): the upstream request log when the setting is on; the gauge sampler.
    upstream_log: DbUpstreamLog | None
    sampler: Sampler
    console: Console

    async def start(self) -> None:
        """Background work (run workers, ingestion) starts here once the server is up."""
        try:
            await self.blobs.check()
        except StorageUnavailable:
            log.error("object storage at %s does not answer: file requests fail with 503 until it does",
                      self.settings.blob_url)
        self.files.start(self.settings.blob_sweep_seconds, self.settings.blob_orphan_grace_seconds)
        await self.admin.ensure_projects(self.settings.parsed_api_keys().values())
        await self.ingestion.start()
        if self.sandbox is not None:
            await self.sandbox.start()
        self.code_sessions.start()
        await self.executor.start()
        self.responses.start()
        self.sampler.start()

    async def stop(self) -> None:
        await self.files.stop()
        await self.responses.stop()
        await self.sampler.stop()
        await self.executor.stop()
        await self.chat.close()
        await self.ingestion.stop()
        await self.searcher.embedders.close()
        if isinstance(self.searcher.reranker, HttpReranker):
            await self.searcher.reranker.close()
        await self.code_sessions.stop()
        if self.sandbox is not None:
            await self.sandbox.close()
        await self.limits.close()
        await self.db.close()


def build_runs(
    settings: Settings,
    db: Database,
    routes: Routes,
    model: ChatModel,
    server_tools: Mapping[str, ServerTool],
    inline: InlineStores,
    limits: Limits,
) -> RunParts:
    """The run engine: its store, its event bus, the owner of a run's life, the executor, the services."""
    store = DbRunStore(db)
    bus = EventBus(observe_run_event)  # observability hook: runs started/ended, the log's run id
    life = RunLife(store, bus, new_owner(), settings.run_lease_seconds)
    engine = RunEngine(model, life, server_tools, routes.context_tokens, limits.token_meter(), routes.continues)
    executor = Executor(store, life, engine, settings.run_workers, background=uncounted)
    door = RunDoor(life, limits, routes.require, settings.run_expiry_seconds)
    runs = Runs(db, life, executor, door, inline)
    return RunParts(bus, life, executor, runs, Steps(db))


def build_embedders(settings: Settings, routes: Routes) -> Embedders:
    """The embedder a store recorded (``openai:MODEL`` or ``local:MODEL``); new stores get the default.

    An embedding model the ``[models]`` table names goes to its route; others to the embeddings upstream.
    """

    def make(name: str) -> Embedder:
        if name.startswith(LOCAL_PREFIX):
            from assistantd.retrieval.local_embedder import LocalEmbedder

            return LocalEmbedder()
        base_url, api_key, model = routes.endpoint(
            name.removeprefix(OPENAI_PREFIX),
            settings.embedding_base_url or settings.model_base_url,
            settings.embedding_api_key or settings.model_api_key,
        )
        return OpenAIEmbedder(
            base_url=base_url,
            api_key=api_key,
            model=model,
            batch_size=settings.embedding_batch_size,
            max_retries=settings.model_max_retries,
            timeout=settings.model_timeout_seconds,
            vector_weight=settings.embedding_vector_weight,
        )

    if settings.embedding_provider == "local":
        from assistantd.retrieval.local_embedder import LOCAL_NAME

        return Embedders(make(LOCAL_NAME), make)
    return Embedders(make(OPENAI_PREFIX + settings.embedding_model), make)


def build_reranker(settings: Settings, routes: Routes) -> HttpReranker | None:
    """The rerank upstream: the ``[models]`` route of ``ASSISTANTD_RERANK_MODEL`` when the table names that
    model, else ``ASSISTANTD_RERANK_BASE_URL``; neither means no reranking."""
    model = settings.rerank_model or ""
    base_url, api_key, upstream_model = routes.endpoint(
        model, settings.rerank_base_url or "", settings.rerank_api_key or ""
    )
    if not base_url:
        return None
    return HttpReranker(
        base_url,
        upstream_model or None,
        api_key or None,
        max_retries=settings.model_max_retries,
        timeout=settings.model_timeout_seconds,
    )


def build_retrieval(settings: Settings, db: Database, blobs: BlobStore, routes: Routes) -> Retrieval:
    """Vector stores, ingestion and search, and the file_search tool for the run engine.

    Files reach ingestion one way (``Ingestion.after_commit``) and deletes go one way (``Cascade``)."""
    embedders = build_embedders(settings, routes)
    index = SqlIndex(db)
    cascade = Cascade(index)
    ingestion = Ingestion(
        db,
        blobs,
        index,
        cascade,
        embedders,
        settings.ingestion_workers,
        lease_seconds=settings.ingestion_lease_seconds,
        batch_files=settings.ingestion_batch_files,
        poll_seconds=settings.ingestion_poll_seconds,
    )

    def default_embedder() -> str:
        return embedders.default.name

    vector_stores = VectorStores(db, cascade, ingestion.after_commit, default_embedder)
    inline = InlineStores(cascade, ingestion.after_commit, default_embedder)
    searcher = Searcher(db, index, embedders, settings.search_mode, build_reranker(settings, routes))
    file_search = FileSearch(searcher, settings.file_search_wait_seconds)
    return Retrieval(vector_stores, FileBatches(vector_stores), searcher, ingestion, file_search, inline, cascade)


def build_sandbox(settings: Settings) -> SharedSandbox:
    limits = SandboxLimits(
        wall_seconds=settings.sandbox_wall_seconds,
        cpu_seconds=settings.sandbox_cpu_seconds,
        memory_bytes=settings.sandbox_memory_bytes,
        max_processes=settings.sandbox_max_processes,
        max_output_bytes=settings.sandbox_max_output_bytes,
        max_file_bytes=settings.sandbox_max_file_bytes,
        tmp_bytes=settings.sandbox_tmp_bytes,
        disk_bytes=settings.sandbox_max_disk_bytes,
    )
    # Every server process of a data dir reaches the same sessions through one manager process.
    return SharedSandbox(
        settings.effective_sandbox_dir,
        limits,
        python=settings.sandbox_python,
        uid_base=settings.sandbox_uid_base,
        max_sessions=settings.sandbox_max_sessions,
        idle_seconds=settings.sandbox_idle_seconds,
        log_level=settings.log_level,
        log_format=settings.log_format,
    )


def build_sampler(executor: Executor, ingestion: Ingestion, sandbox: Sandbox | None) -> Sampler:
    """Observability hook: what each gauge of ``/metrics`` reads in this process."""
    return Sampler(
        {
            metrics.runs_queued: lambda: len(executor.waiting),
            metrics.ingestion_backlog: lambda: ingestion.held,
            metrics.sandbox_sessions: lambda: len(getattr(sandbox, "sessions", ())),
        }
    )


def build_limits(settings: Settings, db: Database) -> Limits:
    """The limits' defaults from settings, their counters where every process and replica sees them."""
    counter: Counter
    if settings.limits_url:
        from assistantd.store.redis_counter import RedisCounter

        counter = RedisCounter(settings.limits_url)
    else:
        counter = SqlCounter(db)
    defaults = Policy(
        requests_per_minute=settings.limit_rpm,
        tokens_per_minute=settings.limit_tpm,
        concurrent_runs=settings.limit_concurrent_runs,
        storage_bytes=settings.limit_storage_bytes,
    )
    return Limits(db, counter, defaults)


def check_extras(settings: Settings) -> None:
    """What ``build`` refuses for a missing extra (MissingExtra), without building: the supervisor of
    ``--workers N`` says it once, before any worker starts."""
    from_url(settings.blob_url, settings.blob_dir)
    if settings.limits_url:
        require_extra("redis", "redis", "ASSISTANTD_LIMITS_URL=redis://...")
    if settings.embedding_provider == "local":
        from assistantd.retrieval.local_embedder import model_dir

        model_dir()


def build_responses(settings: Settings, db: Database, run_parts: RunParts, threads: Threads, files: Files) -> Responses:
    url_limits = URLLimits(
        settings.input_url_allow_private, settings.input_url_max_bytes, settings.input_url_timeout_seconds
    )
    adapter = EngineAdapter(run_parts.executor, run_parts.life, run_parts.runs)
    responses = Responses(db, adapter, threads, files, url_limits)
    run_parts.executor.forget = responses.forget_run  # orphaned unstored runs are deleted, not resumed
    return responses


def build(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url, settings.debug_sql_counts)
    blobs = from_url(settings.blob_url, settings.blob_dir)
    routes = build_routes(settings)
    retrieval = build_retrieval(settings, db, blobs, routes)
    files = Files(db, blobs, settings.max_upload_bytes, retrieval.cascade.file_deleted)
    inline = retrieval.inline_stores
    sandbox = build_sandbox(settings)
    code_sessions = CodeSessions(db, sandbox, files, settings.advertise_url, settings.sandbox_wall_seconds)
    server_tools: dict[str, ServerTool] = {
        "file_search": retrieval.file_search,
        "code_interpreter": CodeInterpreterTool(code_sessions, files),
    }
    upstream_log = DbUpstreamLog(db, settings.upstream_log_retention_seconds) if settings.upstream_log else None
    routed = RoutedChatModel(routes, settings.model_timeout_seconds, settings.model_max_retries)
    model = ObservedChatModel(routed, upstream_log)
    limits = build_limits(settings, db)
    run_parts = build_runs(settings, db, routes, model, server_tools, inline, limits)
    threads, messages = Threads(db, inline), Messages(db, inline)
    responder = RunResponder(threads, messages, run_parts.runs, run_parts.bus)
    responses = build_responses(settings, db, run_parts, threads, files)
    keys = build_keys(settings, db)
    return Container(
        settings=settings,
        db=db,
        blobs=blobs,
        keys=keys,
        admin=Admin(db, keys),
        usage=Usage(db, settings.models),
        limits=limits,
        assistants=Assistants(db, routes.require, inline),
        threads=threads,
        messages=messages,
        files=files,
        v1files=V1Files(db, inline),
        chatkit_sessions=ChatKitSessions(db),
        chatkit_threads=ChatKitThreads(db, responder.forget),
        chatkit_conversation=Conversation(db, responder),
        responses=responses,
        compactor=Compactor(responses, compaction_key(settings.compaction_key, settings.data_dir)),
        conversations=Conversations(db, threads, responses.inputs),
        routes=routes,
        chat=routed,
        catalog=Catalog(routes),
        runs=run_parts.runs,
        steps=run_parts.steps,
        executor=run_parts.executor,
        vector_stores=retrieval.vector_stores,
        file_batches=retrieval.file_batches,
        searcher=retrieval.searcher,
        ingestion=retrieval.ingestion,
        sandbox=sandbox,
        server_tools=server_tools,
        code_sessions=code_sessions,
        upstream_log=upstream_log,
        sampler=build_sampler(run_parts.executor, retrieval.ingestion, sandbox),
        console=Console(db, upstream_log, Prices(settings.models)),
    )
