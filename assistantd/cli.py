"""``assistantd serve | migrate | keys``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from assistantd.errors import MissingExtra
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
    return parser


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
    try:
        status = _serve(settings)
    except MissingExtra as error:  # a setting needs an extra that is not installed: say which
        parser.exit(2, f"assistantd: {error}\n")
    sys.exit(status)
