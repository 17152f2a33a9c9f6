"""What the engine needs of the outside, as small Protocols chosen in ``wiring.py``.

``RunStore``: a run's rows, written only by ``RunLife`` (``engine/life.py``); ``Leases``: the lease
operations of the executor (``engine/executor.py``). ``store/runs.py`` implements both.
"""

from __future__ import annotations

from typing import Protocol

from assistantd.protocol.run_record import Change, Current, Run, RunRecord, Warm
from assistantd.protocol.runs import RunStatus


class RunStore(Protocol):
    def add(self, transaction: object, run: Run, owner: str, lease_until: float) -> None:
        """Insert a new run inside the caller's open transaction, leased to ``owner``."""
        ...

    async def load(self, run_id: str, warm: Warm | None = None) -> RunRecord: ...

    async def apply(self, change: Change, owner: str, lease_until: float) -> Current | None:
        """Write the change in one transaction; None when applied, else the run's current row."""
        ...


class Leases(Protocol):
    """The executor's hold on the runs it executes: each leased to one process, renewed while it runs."""

    async def statuses(self, run_ids: list[str]) -> dict[str, RunStatus]: ...

    async def renew(self, owner: str, run_ids: list[str], lease_seconds: float) -> None:
        """Extend our leases on the runs we execute."""
        ...

    async def release(self, owner: str, run_ids: list[str]) -> None:
        """Give up our leases on these runs at once (a draining server), so another server takes them now."""
        ...

    async def release_all(self, owner: str) -> None:
        """Give up our leases at once (clean shutdown), so the next server resumes those runs."""
        ...

    async def claim_orphans(self, owner: str, lease_seconds: float) -> list[str]:
        """Take over runs whose worker's lease ran out (its process died)."""
        ...

    async def overdue(self) -> list[str]:
        """Active runs past their ``expires_at``."""
        ...
