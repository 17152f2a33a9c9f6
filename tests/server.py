"""A live assistantd process on loopback, started the way a user starts it."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get("ASSISTANTD_TEST_POSTGRES")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _admin(sql: str) -> None:
    import asyncpg

    assert POSTGRES_ADMIN_URL
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def scratch_database() -> str | None:
    """A new PostgreSQL database for one server when the suite runs on PostgreSQL, else None."""
    if not POSTGRES_ADMIN_URL:
        return None
    name = "assistantd_test_" + secrets.token_hex(6)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class LiveServer:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, workers: int = 1) -> None:
        # One process by default: the suite starts hundreds of servers on a small machine, and a
        # worker costs a second of start-up; the tests of ``--workers`` ask for more.
        self.workers = workers
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = scratch_database()
        self.env = {**os.environ, "ASSISTANTD_DATA_DIR": str(data_dir), **(env or {})}
        if self.database_url:
            self.env["ASSISTANTD_DATABASE_URL"] = self.database_url
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistantd", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # A loaded machine (CI, shared cores) may need longer: ASSISTANTD_TEST_START_SECONDS, per worker.
        per_worker = float(os.environ.get("ASSISTANTD_TEST_START_SECONDS", "120"))
        deadline = time.monotonic() + per_worker * max(self.workers, 1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the process dies with no chance to tidy up."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self.database_url:
            drop_database(self.database_url)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
