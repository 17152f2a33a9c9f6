"""``assistantd serve | migrate | keys | export | import | backup | restore``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
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
    _key_commands(commands)
    _data_commands(commands)
    return parser


def _key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage project API keys (the Admin API's service accounts)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key for a project (made if missing); print it once")
    create.add_argument("--project", required=True, help="the project's id (proj_..., or any name of yours)")
    create.add_argument("--name", default="assistantd keys create", help="the key's service account's name")
    key_commands.add_parser("list", help="list keys (prefix, project, state, id)")
    revoke = key_commands.add_parser("revoke", help="revoke a key, given the key, its prefix or its id")
    revoke.add_argument("key")
    projects = commands.add_parser("projects", help="manage projects")
    project_commands = projects.add_subparsers(dest="projects_command", required=True)
    project_commands.add_parser("list", help="list projects, archived ones too (id, name, status)")
    made = project_commands.add_parser("create", help="create a project; print its id")
    made.add_argument("name")
    made.add_argument("--id", help="the project's id (default: a new proj_...)")
    rename = project_commands.add_parser("rename", help="rename a project")
    rename.add_argument("project")
    rename.add_argument("name")
    archive = project_commands.add_parser("archive", help="archive a project: its keys stop working")
    archive.add_argument("project")
    admin_keys = commands.add_parser("admin-keys", help="manage admin API keys (/v1/organization/...)")
    admin_commands = admin_keys.add_subparsers(dest="admin_keys_command", required=True)
    admin_create = admin_commands.add_parser("create", help="create an admin key and print it once")
    admin_create.add_argument("--name", default="assistantd admin-keys create")
    admin_commands.add_parser("list", help="list admin keys (id, redacted value, name)")
    admin_revoke = admin_commands.add_parser("revoke", help="revoke an admin key, given its id")
    admin_revoke.add_argument("key_id")


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


def _with_admin(settings: Settings, action: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run one call of the Admin API's service (``services/admin.py``) against the database.

    Only the database and the key services: building the whole container would import the run engine
    and the model client, seconds of start-up for a one-line answer."""
    from assistantd.services.admin import Admin
    from assistantd.store.db import Database
    from assistantd.wiring import build_keys

    async def go() -> Any:
        db = Database(settings.effective_database_url)
        try:
            return await action(Admin(db, build_keys(settings, db)))
        finally:
            await db.close()

    return asyncio.run(go())


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        print(_with_admin(settings, lambda admin: admin.create_key(args.project, args.name)))
    elif args.keys_command == "list":
        for key in _with_admin(settings, lambda admin: admin.all_keys()):
            state = "revoked" if key["revoked"] else "active"
            print(f"{key['prefix']}...\t{key['project']}\t{state}\t{key['key']['id']}")
    else:
        count = _with_admin(settings, lambda admin: admin.revoke(args.key))
        print(f"revoked {count} key(s)")
        return 0 if count else 1
    return 0


def _projects(settings: Settings, args: argparse.Namespace) -> int:
    if args.projects_command == "list":
        listed = _with_admin(settings, lambda admin: admin.list_projects(100, None, True))
        for project in listed["data"]:
            print(f"{project['id']}\t{project['name']}\t{project['status']}")
        return 0
    if args.projects_command == "create":
        project = _with_admin(settings, lambda admin: admin.create_project(args.name, args.id))
    elif args.projects_command == "rename":
        project = _with_admin(settings, lambda admin: admin.modify_project(args.project, args.name))
    else:
        project = _with_admin(settings, lambda admin: admin.archive_project(args.project))
    print(f"{project['id']}\t{project['name']}\t{project['status']}")
    return 0


def _admin_keys(settings: Settings, args: argparse.Namespace) -> int:
    if args.admin_keys_command == "create":
        print(_with_admin(settings, lambda admin: admin.create_admin_key(args.name))["value"])
    elif args.admin_keys_command == "list":
        for key in _with_admin(settings, lambda admin: admin.list_admin_keys(100, None, "asc"))["data"]:
            print(f"{key['id']}\t{key['redacted_value']}\t{key['name']}")
    else:
        removed = _with_admin(settings, lambda admin: admin.delete_admin_key(args.key_id))
        print(f"revoked {removed['id']}")
    return 0


MANAGE = {"keys": _keys, "projects": _projects, "admin-keys": _admin_keys}


def _manage(settings: Settings, args: argparse.Namespace) -> int:
    """``keys``, ``projects`` and ``admin-keys``: a refusal (unknown id, archived project) is one line."""
    _migrate(settings)
    try:
        return MANAGE[args.command](settings, args)
    except APIError as error:
        print(f"assistantd: {error.message}", file=sys.stderr)
        return 1


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
        importer = Importer(db, blobs, ingestion.index, embedders, ingestion.drain, _progress, args.project)
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


DRAIN_MARGIN_SECONDS = 5
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
        # On SIGTERM the open requests get the drain window (runs end or are handed over, their streams
        # close), then a little more; whatever still hangs on after that is cancelled.
        "timeout_graceful_shutdown": math.ceil(settings.drain_seconds) + DRAIN_MARGIN_SECONDS,
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
    if _with_admin(settings, lambda admin: admin.keys.is_open()):
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
    if args.command in MANAGE:
        sys.exit(_manage(settings, args))
    if args.command in ("export", "import", "backup", "restore"):
        sys.exit(_data(settings, args, parser))
    try:
        status = _serve(settings)
    except MissingExtra as error:  # a setting needs an extra that is not installed: say which
        parser.exit(2, f"assistantd: {error}\n")
    sys.exit(status)
