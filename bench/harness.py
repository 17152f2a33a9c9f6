"""What the benchmarks share: a fake upstream, a server started as a user starts it, its CPU time.

Every benchmark takes ``--workers N`` (passed to ``assistantd serve``; omitted when unset, so the
scripts also run against a checkout whose ``serve`` has no such flag) and ``--source DIR`` (the
server imports ``assistantd`` from that checkout instead of this one: measure main and a branch with
the same script). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.server import free_port  # noqa: E402
from tests.upstream import Upstream  # noqa: E402


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, help="`assistantd serve --workers N` (default: the server's own)")
    parser.add_argument("--source", type=Path, help="run the server from this checkout of assistantd")
    parser.add_argument("--database-url", help="postgresql://... (default: SQLite in a scratch data dir)")
    parser.add_argument("--py-spy", type=Path, help="profile the server with py-spy into this file (collapsed stacks)")
    parser.add_argument("--py-spy-gil", action="store_true", help="sample only threads holding the GIL (Python CPU)")


def raise_file_limit(wanted: int = 65536) -> int:
    """Raise RLIMIT_NOFILE as far as the hard limit allows (children inherit it); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_upstream() -> Upstream:
    upstream = Upstream()
    upstream._server.socket.listen(4096)  # the default backlog of 5 drops connections under load
    return upstream.start()


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    def pids(self) -> list[int]:
        """The server and every process under it (uvicorn workers; not the sandbox sessions' own)."""
        todo, seen = [self.process.pid], []
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(_children(pid))
        return seen

    def cpu(self) -> float:
        """CPU seconds (user + system) of the server's processes so far."""
        return sum(_cpu_of(pid) for pid in self.pids())

    def kill(self) -> None:
        """SIGKILL the server and its workers at once (its own process group), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(data_dir: Path, upstream_url: str, args: argparse.Namespace, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ASSISTANTD_DATA_DIR": str(data_dir),
        "ASSISTANTD_MODEL_BASE_URL": upstream_url,
        "ASSISTANTD_LOG_LEVEL": "warning",
        **extra,
    }
    env.pop("ASSISTANTD_API_KEYS", None)
    if args.database_url:
        env["ASSISTANTD_DATABASE_URL"] = args.database_url
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
    return env


def start_server(data_dir: Path, env: dict[str, str], workers: int | None, port: int | None = None) -> Server:
    port = port or free_port()
    argv = [sys.executable, "-m", "assistantd", "serve", "--port", str(port)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    log_path = data_dir / f"server-{port}.log"
    with open(log_path, "ab") as log:
        # cwd: not this checkout, which would come first on sys.path and shadow ``--source``.
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                wait_for_workers(server, workers)
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")


def wait_for_workers(server: Server, workers: int | None) -> None:
    """/health answers once the first worker is up; give the others their start-up too."""
    if workers is None or workers <= 1:
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(server.pids()) < workers + 1:
        time.sleep(0.1)
    time.sleep(3)  # a worker's process exists before its app has started


@contextmanager
def bench_server(args: argparse.Namespace, **extra: str) -> Iterator[tuple[Server, Upstream]]:
    """An upstream and one server over a scratch data dir, for the length of a benchmark."""
    upstream = start_upstream()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), server_env(Path(tmp), upstream.url, args, **extra), args.workers)
        profiler = profile(server, args.py_spy, args.py_spy_gil) if args.py_spy else None
        try:
            yield server, upstream
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=120)
            server.stop()
            upstream.close()


def profile(server: Server, output: Path, gil: bool) -> subprocess.Popen[bytes]:
    """py-spy over the server and its workers, from now until the benchmark ends (SIGINT writes it)."""
    argv = ["py-spy", "record", "--pid", str(server.process.pid), "--subprocesses", "--format", "raw"]
    argv += ["--gil"] if gil else []
    argv += ["--rate", "200", "--output", str(output)]
    py_spy = Path(sys.executable).with_name("py-spy")
    if py_spy.exists():
        argv[0] = str(py_spy)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)  # attached before the load starts
    return process


def describe(args: argparse.Namespace) -> str:
    source = args.source or ROOT
    workers = args.workers if args.workers is not None else "default"
    return f"server from {source}, workers={workers}, database={'PostgreSQL' if args.database_url else 'SQLite'}"
