"""``assistantd serve | migrate | keys | export | import | backup | restore``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from assistantd.errors import APIError, MissingExtra
from assistantd.observability import logs
from assistantd.settings import SETTINGS_ENV, Settings, load_settings
from assistantd.store.migrate import upgrade

log = logging.getLogger("assistantd")

OPEN_WARNING = """
************************************************************************************
*  assistantd is running OPEN: no API key is configured, so anyone who can reach   *
*  this port can read and change every object. Set ASSISTANTD_API_KEYS or create  *
*  a key with `assistantd keys create --project NAME` before exposing it.          *
************************************************************************************"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistantd", description=__doc__)
    parser.add_argument("--config", help="TOML file of settings (environment and flags win over it)")
    parser.add_argument("--data-dir", help="where the SQLite database and file blobs live")
    parser.add_argument("--database-url", help="postgresql://... to use PostgreSQL")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API server (migrations run first)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--workers", type=int, help="server processes sharing the port (default: number of CPUs)")
    serve.add_argument("--log-format", choices=["text", "json"], help="log lines as text (default) or JSON")
    commands.add_parser("migrate", help="run the database migrations and exit")
    keys = commands.add_parser("keys", help="manage API keys stored in the database")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key for a project and print it once")
    create.add_argument("--project", required=True)
    key_commands.add_parser("list", help="list keys (prefix, project, state)")
    revoke = key_commands.add_parser("revoke", help="revoke a key, given the key or its prefix")
    revoke.add_argument("key")
    _data_commands(commands)
    return parser


def _data_commands(commands: Any) -> None:
    export = commands.add_parser("export", help="write every object (or one project's) and its files to an archive")
    export.add_argument("--project", help="only this project's objects (default: every project)")
    export.add_argument("out", help="the archive to write: NAME.tar, or NAME.tar.gz to compress it")
    into = commands.add_parser("import", help="import an archive, or a directory dumped from OpenAI's API")
    into.add_argument("--project", help="put every object in this project (a dump from OpenAI: default 'default')")
    into.add_argument("source", help="an archive made by `assistantd export`, or a dump directory")
    backup = commands.add_parser("backup", help="a consistent copy of a SQLite deployment, while it runs")
    backup.add_argument("out", help="a new directory for the copy")
    restore = commands.add_parser("restore", help="put a backup in place (stop the servers first)")
    restore.add_argument("--force", action="store_true", help="replace the data dir's existing database")
    restore.add_argument("source", help="a directory made by `assistantd backup`")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        data_dir=args.data_dir,
        database_url=args.database_url,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        log_format=getattr(args, "log_format", None),
    )


def _migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def _with_keys(settings: Settings, action: Callable[[Any], Awaitable[Any]]) -> Any:
    # Only the database and the key service: building the whole container would import the run
    # engine and the model client, seconds of start-up for a one-line answer.
    from assistantd.services.keys import Keys
    from assistantd.store.db import Database

    async def go() -> Any:
        db = Database(settings.effective_database_url)
        try:
            return await action(Keys(db, settings.parsed_api_keys(), settings.keys_stamp))
        finally:
            await db.close()

    return asyncio.run(go())


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    _migrate(settings)
    if args.keys_command == "create":
        print(_with_keys(settings, lambda keys: keys.create(args.project)))
    elif args.keys_command == "list":
        for key in _with_keys(settings, lambda keys: keys.list()):
            state = "revoked" if key["revoked"] else "active"
            print(f"{key['prefix']}...\t{key['project']}\t{state}")
    else:
        count = _with_keys(settings, lambda keys: keys.revoke(args.key))
        print(f"revoked {count} key(s)")
        return 0 if count else 1
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _data(settings: Settings, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """export / import / backup / restore, their failures said in one line."""
    from assistantd.retrieval.embedders import EmbeddingError
    from assistantd.transfer.archive import ArchiveError
    from assistantd.transfer.backup import BackupError

    # APIError: a blob store that does not answer (StorageUnavailable); EmbeddingError: the embeddings upstream.
    try:
        if args.command in ("backup", "restore"):
            return _backup(settings, args)
        _migrate(settings)
        counts = asyncio.run(_transfer(settings, args))
    except (ArchiveError, BackupError, APIError, EmbeddingError, MissingExtra, OSError, ValueError) as error:
        parser.exit(1, f"assistantd {args.command}: {error}\n")
    print(", ".join(f"{count} {kind}" for kind, count in counts.items() if count) or "nothing to move")
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistantd.transfer import backup
    from assistantd.transfer.backup import BackupError

    if settings.database_url:
        raise BackupError("the database is PostgreSQL: back it up with pg_dump (see the README's Deploying)")
    database = settings.data_dir / backup.DATABASE
    blob_dir = None if settings.blob_url else settings.blob_dir  # a bucket is backed up by its own tools
    if args.command == "backup":
        copied = backup.backup(database, blob_dir, Path(args.out))
        print(f"backed up the database and {copied} files to {args.out}")
    else:
        restored = backup.restore(Path(args.source), database, blob_dir, args.force)
        print(f"restored the database and {restored} files from {args.source}")
    return 0


async def _transfer(settings: Settings, args: argparse.Namespace) -> dict[str, int]:
    from pathlib import Path

    from assistantd.blobs import from_url
    from assistantd.store.db import Database
    from assistantd.transfer import openai_dump
    from assistantd.transfer.export import export
    from assistantd.transfer.importer import Importer
    from assistantd.upstream import build_routes
    from assistantd.wiring import build_retrieval

    db = Database(settings.effective_database_url)
    blobs = from_url(settings.blob_url, settings.blob_dir)
    retrieval = build_retrieval(settings, db, blobs, build_routes(settings))
    embedders = retrieval.searcher.embedders
    try:
        if args.command == "export":
            return await export(db, blobs, Path(args.out), args.project, embedders.default.name, _progress)
        ingestion = retrieval.ingestion
        importer = Importer(db, blobs, ingestion.index, embedders, ingestion.process, _progress, args.project)
        source = Path(args.source)
        if openai_dump.is_dump(source):
            await openai_dump.import_dump(importer, source)
        else:
            await importer.archive(source)
        return dict(importer.counts)
    finally:
        await embedders.close()
        await db.close()


async def _is_open(container: Any) -> bool:
    """Asked before uvicorn starts its own event loop: the connections opened here must not outlive
    this loop (asyncpg connections are bound to the loop that made them)."""
    try:
        return bool(await container.keys.is_open())
    finally:
        await container.db.close()


KEEP_ALIVE_SECONDS = 75  # nginx's default keep-alive timeout


def _serve(settings: Settings) -> int:
    import uvicorn

    from assistantd.observability import multiproc

    multiproc.prepare(settings.effective_metrics_dir)  # before prometheus-client is imported; workers inherit it
    _migrate(settings)
    workers = settings.effective_workers
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "log_config": None,  # keep the handlers logs.configure set up (text or JSON), in every worker too
        # Idle keep-alive connections outlive the clients' own expiry (httpx, so the openai SDK: 5 s), so
        # the client closes them first. At uvicorn's default, also 5 s, a request sent on a connection as
        # the server closed it was reset unread: 0-8 of 1,000 concurrent streams failed (bench_streams).
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
    if workers == 1:  # one process: build here, so a broken setting fails before the port opens
        from assistantd.app import create_app
        from assistantd.wiring import build

        container = build(settings)
        if asyncio.run(_is_open(container)):
            log.warning(OPEN_WARNING)
        uvicorn.run(create_app(settings, container), **options)
        return 0
    from assistantd.wiring import check_extras

    check_extras(settings)
    if _with_keys(settings, lambda keys: keys.is_open()):
        log.warning(OPEN_WARNING)
    # uvicorn's supervisor binds the port once and starts ``workers`` processes that accept on it; each
    # builds its own app from these settings (flags and config file included) through the factory.
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    log.info("starting %d server processes on %s:%d", workers, settings.host, settings.port)
    uvicorn.run("assistantd.app:from_environment", factory=True, workers=workers, **options)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except (ValueError, OSError) as error:  # a bad file or value: say which, not a traceback
        parser.exit(2, f"assistantd: invalid settings: {error}\n")
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        _migrate(settings)
        print("migrations applied")
        sys.exit(0)
    if args.command == "keys":
        sys.exit(_keys(settings, args))
    if args.command in ("export", "import", "backup", "restore"):
        sys.exit(_data(settings, args, parser))
    try:
        status = _serve(settings)
    except MissingExtra as error:  # a setting needs an extra that is not installed: say which
        parser.exit(2, f"assistantd: {error}\n")
    sys.exit(status)
