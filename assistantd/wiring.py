"""The one place that reads configuration and picks implementations for every seam."""

from __future__ import annotations

from dataclasses import dataclass

from assistantd.blobs import BlobStore, LocalBlobs
from assistantd.chatkit.responder import RunResponder
from assistantd.chatkit.server import Conversation
from assistantd.chatkit.sessions import Sessions as ChatKitSessions
from assistantd.chatkit.threads import ChatKitThreads
from assistantd.services.assistants import Assistants
from assistantd.services.files import Files
from assistantd.services.keys import Keys
from assistantd.services.messages import Messages
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
    chatkit_conversation: Conversation

    async def start(self) -> None:
        """Background work (run workers, ingestion) starts here once the server is up."""

    async def stop(self) -> None:
        await self.db.close()


def build(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    blobs = LocalBlobs(settings.blob_dir)
    return Container(
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
        chatkit_conversation=Conversation(db, RunResponder(db)),
    )
