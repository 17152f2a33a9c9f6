"""The one place that reads configuration and picks implementations for every seam."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistantd.blobs import BlobStore, LocalBlobs
from assistantd.chatkit.responder import RunResponder
from assistantd.chatkit.server import Conversation
from assistantd.chatkit.sessions import Sessions as ChatKitSessions
from assistantd.chatkit.threads import ChatKitThreads
from assistantd.embed import LOCAL_PREFIX, OPENAI_PREFIX, Embedder, Embedders, OpenAIEmbedder
from assistantd.engine.code_interpreter import CodeInterpreterTool
from assistantd.engine.events import EventBus
from assistantd.engine.file_search import FileSearch
from assistantd.engine.loop import RunEngine
from assistantd.engine.tools import ServerTool
from assistantd.executor import Executor
from assistantd.llm import ChatModel, OpenAIChatModel
from assistantd.responses.conversations import Conversations
from assistantd.responses.engine_adapter import EngineAdapter
from assistantd.responses.service import Responses
from assistantd.sandbox import Sandbox
from assistantd.sandbox.command import Limits
from assistantd.sandbox.local import LocalSandbox
from assistantd.services import inline_stores
from assistantd.services.assistants import Assistants
from assistantd.services.file_batches import FileBatches
from assistantd.services.files import Files
from assistantd.services.ingestion import Ingestion
from assistantd.services.keys import Keys
from assistantd.services.messages import Messages
from assistantd.services.run_store import DbRunStore
from assistantd.services.runs import Runs
from assistantd.services.steps import Steps
from assistantd.services.threads import Threads
from assistantd.services.v1files import V1Files
from assistantd.services.vector_search import Searcher
from assistantd.services.vector_stores import VectorStores
from assistantd.settings import Settings
from assistantd.store.db import Database
from assistantd.vectors.sql_index import SqlIndex


@dataclass
class Container:
    settings: Settings
    db: Database
    blobs: BlobStore
    keys: Keys
    assistants: Assistants
    threads: Threads
    messages: Messages
    files: Files
    v1files: V1Files
    chatkit_sessions: ChatKitSessions
    chatkit_threads: ChatKitThreads
    runs: Runs = field(init=False)
    steps: Steps = field(init=False)
    bus: EventBus = field(init=False)
    executor: Executor = field(init=False)
    chatkit_conversation: Conversation = field(init=False)
    responses: Responses = field(init=False)
    conversations: Conversations = field(init=False)
    # The code interpreter's sandbox; built by build_code_interpreter().
    sandbox: Sandbox | None = None
    # Server-side tools the run engine offers to the model, by tool type.
    server_tools: dict[str, ServerTool] = field(default_factory=dict)
    # Retrieval (vector stores, ingestion, search); built by build_retrieval().
    vector_stores: VectorStores = field(init=False)
    file_batches: FileBatches = field(init=False)
    searcher: Searcher = field(init=False)
    ingestion: Ingestion = field(init=False)

    def use_runs(self, model: ChatModel) -> None:
        """Wire the run engine; ``server_tools`` (file_search, code_interpreter) may be filled first."""
        store = DbRunStore(self.db)
        self.bus = EventBus()
        engine = RunEngine(model, store, self.bus, self.server_tools, self.settings.model_context_tokens)
        self.executor = Executor(store, engine, self.bus, self.settings.run_workers, self.settings.run_lease_seconds)
        self.runs = Runs(self.db, self.executor, self.bus, self.settings.run_expiry_seconds)
        self.steps = Steps(self.db)
        self.responses = Responses(self.db, EngineAdapter(self.executor, self.bus, self.runs), self.threads, self.files)
        self.conversations = Conversations(self.db, self.threads)

    async def start(self) -> None:
        """Background work (run workers, ingestion) starts here once the server is up."""
        await self.ingestion.start()
        if self.sandbox is not None:
            await self.sandbox.start()
        await self.executor.start()

    async def stop(self) -> None:
        await self.executor.stop()
        await self.ingestion.stop()
        if self.sandbox is not None:
            await self.sandbox.close()
        await self.db.close()


def build_embedders(settings: Settings) -> Embedders:
    """The embedder a store recorded (``openai:MODEL`` or ``local:MODEL``); new stores get the default."""

    def make(name: str) -> Embedder:
        if name.startswith(LOCAL_PREFIX):
            from assistantd.local_embed import LocalEmbedder

            return LocalEmbedder()
        return OpenAIEmbedder(
            base_url=settings.embedding_base_url or settings.model_base_url,
            api_key=settings.embedding_api_key or settings.model_api_key,
            model=name.removeprefix(OPENAI_PREFIX),
            batch_size=settings.embedding_batch_size,
            max_retries=settings.model_max_retries,
            timeout=settings.model_timeout_seconds,
        )

    if settings.embedding_provider == "local":
        from assistantd.local_embed import LOCAL_NAME

        return Embedders(make(LOCAL_NAME), make)
    return Embedders(make(OPENAI_PREFIX + settings.embedding_model), make)


def build_retrieval(container: Container) -> None:
    """Vector stores, ingestion and search, and the file_search tool for the run engine."""
    settings = container.settings
    embedders = build_embedders(settings)
    index = SqlIndex(container.db)
    workers = settings.ingestion_workers
    container.ingestion = Ingestion(container.db, container.blobs, index, embedders, workers)
    container.vector_stores = VectorStores(
        container.db, index, container.ingestion.enqueue, lambda: embedders.default.name
    )
    container.file_batches = FileBatches(container.vector_stores)
    container.searcher = Searcher(container.db, index, embedders, settings.search_mode)
    container.files.on_delete.append(container.vector_stores.forget_file)
    container.server_tools["file_search"] = FileSearch(container.searcher)
    inline_stores.configure(
        inline_stores.Runtime(index, container.ingestion.enqueue_nowait, lambda: embedders.default.name)
    )


def build_code_interpreter(container: Container) -> None:
    settings = container.settings
    limits = Limits(
        wall_seconds=settings.sandbox_wall_seconds,
        cpu_seconds=settings.sandbox_cpu_seconds,
        memory_bytes=settings.sandbox_memory_bytes,
        max_processes=settings.sandbox_max_processes,
        max_output_bytes=settings.sandbox_max_output_bytes,
        max_file_bytes=settings.sandbox_max_file_bytes,
        tmp_bytes=settings.sandbox_tmp_bytes,
        disk_bytes=settings.sandbox_max_disk_bytes,
    )
    container.sandbox = LocalSandbox(
        settings.effective_sandbox_dir,
        limits,
        python=settings.sandbox_python,
        uid_base=settings.sandbox_uid_base,
        max_sessions=settings.sandbox_max_sessions,
        idle_seconds=settings.sandbox_idle_seconds,
    )
    container.server_tools["code_interpreter"] = CodeInterpreterTool(container.sandbox, container.files)


def build(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    blobs = LocalBlobs(settings.blob_dir)
    container = Container(
        settings=settings,
        db=db,
        blobs=blobs,
        keys=Keys(db, settings.parsed_api_keys()),
        assistants=Assistants(db),
        threads=Threads(db),
        messages=Messages(db),
        files=Files(db, blobs, settings.max_upload_bytes),
        v1files=V1Files(db),
        chatkit_sessions=ChatKitSessions(db),
        chatkit_threads=ChatKitThreads(db),
    )
    build_retrieval(container)
    build_code_interpreter(container)
    container.use_runs(
        OpenAIChatModel(
            settings.model_base_url,
            settings.model_api_key,
            settings.model_timeout_seconds,
            settings.model_max_retries,
        )
    )
    responder = RunResponder(container)
    container.chatkit_conversation = Conversation(db, responder)
    container.chatkit_threads = ChatKitThreads(db, responder.forget)
    return container
