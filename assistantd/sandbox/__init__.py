"""The Sandbox seam: per-thread Python sessions that keep state, with files in and out.

``Sandbox.session(thread_key)`` gives the live session of a thread (starting one if needed);
``SandboxSession.exec(code, timeout)`` runs a cell and returns what it printed, the figures it drew
and the files it wrote under ``/mnt/data``. The local implementation (``local.LocalSandbox``) uses
Linux namespaces (bubblewrap) and resource limits; a remote one (e.g. a Jupyter kernel gateway) can
implement the same two Protocols later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# Where a session's files are, seen from inside the sandbox.
MOUNT_POINT = "/mnt/data"


class SandboxUnavailable(Exception):
    """The sandbox cannot run here (missing bubblewrap, Python runtime, ...); the message says why."""


@dataclass
class SandboxFile:
    path: str  # relative to /mnt/data, e.g. "out/report.csv"
    data: bytes


@dataclass
class ExecResult:
    stdout: str = ""
    stderr: str = ""
    images: list[bytes] = field(default_factory=list)  # PNG bytes, one per figure
    files: list[SandboxFile] = field(default_factory=list)  # new or changed under /mnt/data
    timed_out: bool = False
    # The session ended during the call (timeout, crash); the next call starts a fresh one.
    restarted: bool = False

    @property
    def logs(self) -> str:
        """stdout then stderr, as OpenAI's ``logs`` output shows them."""
        if self.stdout and self.stderr and not self.stdout.endswith("\n"):
            return self.stdout + "\n" + self.stderr
        return self.stdout + self.stderr


class SandboxSession(Protocol):
    # Made when the session is: another token for the same thread means its Python state was reset.
    token: str

    async def put_file(self, name: str, source: Path, alias: str | None = None) -> str:
        """Copy a host file into /mnt/data as ``name`` (and ``alias``, a second name for the same file);
        returns the path the code sees. Files put in are never reported back as outputs."""
        ...

    def has_file(self, name: str) -> bool:
        """Whether ``name`` (a name or an alias) is in this session's /mnt/data."""
        ...

    # The timeout is the sandbox's own wall limit for the code (the process tree is killed), not a
    # cancellation of the caller, hence a parameter.
    async def exec(self, code: str, timeout: float | None = None) -> ExecResult: ...  # noqa: ASYNC109

    async def close(self) -> None: ...


class Sandbox(Protocol):
    async def start(self) -> None:
        """Check prerequisites (log clearly what is missing); never raises."""
        ...

    def problem(self) -> str | None:
        """Why the sandbox cannot run, or None when it can."""
        ...

    async def session(self, thread_key: str) -> SandboxSession:
        """The thread's live session, started if there is none; raises SandboxUnavailable."""
        ...

    async def close(self) -> None: ...
