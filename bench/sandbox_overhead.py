"""How much the code interpreter's sandbox costs, against baselines measured in the same run.

- session start: a fresh bubblewrap session answering its first cell, against starting the same
  Python bare (``python -I -c pass``) with no sandbox;
- per call: a trivial cell through a live session (JSON over pipes, fd capture, /mnt/data scan),
  against ``exec`` of the same cell in this process;
- first data-stack cell: importing numpy, pandas and pyplot inside a fresh session.

Usage: .venv/bin/python bench/sandbox_overhead.py [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from assistantd.sandbox.command import Limits
from assistantd.sandbox.local import LocalSandbox


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        box = LocalSandbox(Path(scratch) / "sandbox", Limits(), uid_base=250000, max_sessions=4)
        await box.start()
        if box.problem():
            sys.exit(f"sandbox unavailable: {box.problem()}")
        bare, starts, imports = [], [], []
        for n in range(rounds):
            began = time.perf_counter()
            bare_process = await asyncio.create_subprocess_exec(box.runtime.python, "-I", "-c", "pass")
            await bare_process.wait()
            bare.append(time.perf_counter() - began)
            session = await box.session(f"bench_{n}")
            began = time.perf_counter()
            await session.exec("pass")
            starts.append(time.perf_counter() - began)
            began = time.perf_counter()
            await session.exec("import numpy, pandas, matplotlib.pyplot")
            imports.append(time.perf_counter() - began)
            await session.close()
        session = await box.session("bench_calls")
        await session.exec("pass")
        calls, local = [], []
        namespace: dict[str, object] = {}
        for _ in range(rounds * 20):
            began = time.perf_counter()
            await session.exec("x = 1 + 1")
            calls.append(time.perf_counter() - began)
            began = time.perf_counter()
            exec(compile("x = 1 + 1", "<cell>", "exec"), namespace)
            local.append(time.perf_counter() - began)
        await box.close()
    print(f"session start: {median_ms(starts):.1f} ms vs bare python start {median_ms(bare):.1f} ms "
          f"(ratio {median_ms(starts) / median_ms(bare):.2f})")
    print(f"per call: {median_ms(calls):.2f} ms vs in-process exec {median_ms(local) * 1000:.1f} us "
          f"(ratio {median_ms(calls) / median_ms(local):.0f})")
    print(f"first numpy+pandas+pyplot import in a fresh session: {median_ms(imports):.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
