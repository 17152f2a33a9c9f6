"""The one place that reads configuration and picks implementations for every seam."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistantd.blobs import BlobStore, LocalBlobs
from assistantd.chatkit.responder import RunResponder
from assistantd.chatkit.server import Conversation
from assistantd.chatkit.sessions import Sessions as ChatKitSessions
from assistantd.chatkit.threads import ChatKitThreads
from assistantd.engine.events import EventBus
from assistantd.engine.loop import RunEngine
from assistantd.engine.tools import ServerTool
from assistantd.executor import Executor
from assistantd.llm import ChatModel, OpenAIChatModel
from assistantd.services.assistants import Assistants
from assistantd.services.files import Files
from assistantd.services.keys import Keys
from assistantd.services.messages import Messages
from assistantd.services.run_store import DbRunStore
from assistantd.services.runs import Runs
from assistantd.services.steps import Steps
from assistantd.services.threads import Threads
from assistantd.services.v1files import V1Files
from assistantd.settings import Settings
from assistantd.store.db import Database


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
    server_tools: dict[str, ServerTool] = field(default_factory=dict)

    def use_runs(self, model: ChatModel) -> None:
        """Wire the run engine; ``server_tools`` (file_search, code_interpreter) may be filled first."""
        store = DbRunStore(self.db)
        self.bus = EventBus()
        engine = RunEngine(model, store, self.bus, self.server_tools, self.settings.model_context_tokens)
        self.executor = Executor(
            store, engine, self.bus, self.settings.run_workers, self.settings.run_lease_seconds
        )
        self.runs = Runs(self.db, self.executor, self.bus, self.settings.run_expiry_seconds)
        self.steps = Steps(self.db)

    async def start(self) -> None:
        """Background work (run workers, ingestion) starts here once the server is up."""
        await self.executor.start()

    async def stop(self) -> None:
        await self.executor.stop()
        await self.db.close()


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
    container.use_runs(
        OpenAIChatModel(
            settings.model_base_url,
            settings.model_api_key,
            settings.model_timeout_seconds,
            settings.model_max_retries,
        )
    )
    container.chatkit_conversation = Conversation(db, RunResponder(container))
    return container
