"""PostgreSQL with pgvector for the retrieval tests, from the ``pgserver`` package.

``python -m tests.pgvector_server start DIR`` starts the server bundled in the package (listening on
a Unix socket in DIR only) and prints its URL; ``stop DIR`` stops it. Run as root, pgserver runs the
server as an OS user of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pgserver


def start(data_dir: Path) -> str:
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    return str(server.get_uri())


def stop(data_dir: Path) -> None:
    pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()


def main() -> None:
    command, data_dir = sys.argv[1], Path(sys.argv[2]).resolve()
    if command == "start":
        print(start(data_dir))
    elif command == "stop":
        stop(data_dir)
    else:
        raise SystemExit(f"unknown command {command!r}: use start or stop")


if __name__ == "__main__":
    main()
