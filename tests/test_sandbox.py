"""The local sandbox through its seam: real bubblewrap processes, no mocks.

What runs inside must compute, keep state, read its files and draw; what tries to get out (network,
the server's files, other threads, fork and memory bombs, endless loops) must be contained, with the
error in the logs and the host and the sandbox still usable afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from assistantd.sandbox import SandboxUnavailable
from assistantd.sandbox.command import Limits
from assistantd.sandbox.local import LocalSandbox

if os.environ.get("ASSISTANTD_TEST_POSTGRES"):
    pytest.skip("the sandbox touches no database: these run in the SQLite pass", allow_module_level=True)
if shutil.which("bwrap") is None:
    pytest.skip("bubblewrap (bwrap) is not installed; scripts/setup installs it", allow_module_level=True)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalSandbox]:
    root = tmp_path_factory.mktemp("server-data") / "sandbox"
    limits = Limits(wall_seconds=60, cpu_seconds=2, memory_bytes=1 << 30, max_processes=32,
                    max_output_bytes=10_000, max_file_bytes=8 << 20, tmp_bytes=16 << 20)
    box = LocalSandbox(root, limits, uid_base=210000, max_sessions=8)
    await box.start()
    if box.problem() or box.runtime.missing_modules:
        pytest.skip(f"sandbox prerequisites missing: {box.problem() or box.runtime.missing_modules}")
    yield box
    await box.close()


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        if int(uids[0]) == uid:
            found.append(int(entry))
    return found


async def wait_until_gone(uid: int) -> list[int]:
    deadline = time.monotonic() + 30
    while (left := processes_of(uid)) and time.monotonic() < deadline:  # noqa: ASYNC110 (polls /proc)
        await asyncio.sleep(0.1)
    return left


async def test_arithmetic_and_last_expression(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_arith")
    result = await session.exec("x = 6 * 7\nprint('x is', x)\nx + 0.5")
    assert result.stdout == "x is 42\n42.5\n"
    assert result.stderr == "" and not result.timed_out


async def test_state_persists_across_calls(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_state")
    await session.exec("import math\ntotal = sum(range(10))")
    result = await session.exec("print(total * 2, math.pi > 3)")
    assert result.stdout == "90 True\n"
    assert (await sandbox.session("thread_state")) is session


async def test_errors_are_logs(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_errors")
    result = await session.exec("values = [1, 2]\nvalues[5]")
    assert "IndexError: list index out of range" in result.stderr
    assert "driver" not in result.stderr  # the traceback starts at the cell, not the kernel
    assert (await session.exec("len(values)")).stdout == "2\n"


async def test_reads_a_csv_from_mnt_data_with_pandas(sandbox: LocalSandbox, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_text("city,temp\nOslo,4\nLima,19\nCairo,25\n")
    session = await sandbox.session("thread_csv")
    path = await session.put_file("weather.csv", source, alias="file-abc123")
    assert path == "/mnt/data/weather.csv"
    result = await session.exec(
        "import pandas as pd\ndf = pd.read_csv('/mnt/data/weather.csv')\n"
        "same = pd.read_csv('/mnt/data/file-abc123').equals(df)\nprint(df['temp'].sum(), len(df), same)"
    )
    assert result.stdout == "48 3 True\n", result.stderr
    assert result.files == []  # the input files are not outputs


async def test_matplotlib_figures_become_png(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_chart")
    result = await session.exec(
        "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')\nplt.show()\n"
        "plt.figure()\nplt.bar(['a', 'b'], [3, 5])"  # left open: saved at the end of the call
    )
    assert len(result.images) == 2, result.stderr
    assert all(image.startswith(PNG_MAGIC) and len(image) > 1000 for image in result.images)
    assert (await session.exec("import matplotlib.pyplot as plt\nlen(plt.get_fignums())")).stdout == "0\n"


async def test_generated_files_are_reported(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_files")
    result = await session.exec(
        "import os, pandas as pd\nos.makedirs('/mnt/data/out', exist_ok=True)\n"
        "pd.DataFrame({'n': [1, 2, 3]}).to_csv('/mnt/data/out/table.csv', index=False)\n"
        "open('/tmp/scratch.txt', 'w').write('not in /mnt/data')"
    )
    assert [(f.path, f.data) for f in result.files] == [("out/table.csv", b"n\n1\n2\n3\n")]
    unchanged = await session.exec("print('nothing written')")
    assert unchanged.files == []


async def test_runs_as_an_unprivileged_user_without_capabilities(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_user")
    result = await session.exec(
        "import os\nstatus = open('/proc/self/status').read()\n"
        "print(os.getuid(), os.geteuid(), [l.split()[1] for l in status.splitlines() if l.startswith('CapEff')])"
    )
    uid, euid, caps = result.stdout.split(maxsplit=2)
    assert uid == euid and int(uid) != 0, result.stdout
    assert caps.strip() == "['0000000000000000']"


async def test_cannot_connect_to_the_servers_port(sandbox: LocalSandbox) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        session = await sandbox.session("thread_net")
        result = await session.exec(
            "import socket\nprint(socket.if_nameindex())\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        )
        assert result.stdout == "[(1, 'lo')]\n"
        assert "ConnectionRefusedError" in result.stderr
        outside = await session.exec("import socket\nsocket.create_connection(('10.0.0.1', 80), timeout=5)")
        assert "Network is unreachable" in outside.stderr
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's listener
    finally:
        listener.close()


async def test_cannot_see_the_data_dir_or_other_threads(sandbox: LocalSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    mine = await sandbox.session("thread_private")
    await mine.put_file("private.txt", secret)
    other = await sandbox.session("thread_snoop")
    probe = "\n".join([
        "import os",
        f"for path in [{str(secret)!r}, {str(sandbox.root)!r}, {str(mine.directory)!r}, '/mnt/data/private.txt']:",
        "    try:",
        "        print(open(path).read() if os.path.isfile(path) else os.listdir(path))",
        "    except OSError as error:",
        "        print(type(error).__name__)",
        "print(sorted(os.listdir('/')))",
    ])
    result = await other.exec(probe)
    assert "TOP-SECRET-42" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["FileNotFoundError"] * 4, result.stdout
    assert "mnt" in lines[4] and "home" not in lines[4]


async def test_planted_symlinks_are_not_followed_on_the_host(sandbox: LocalSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "host-only.txt"
    secret.write_text("HOST-SECRET")
    session = await sandbox.session("thread_links")
    result = await session.exec(f"import os\nos.symlink({str(secret)!r}, '/mnt/data/leak.txt')\nprint('planted')")
    assert result.stdout == "planted\n"
    assert result.files == []


async def test_infinite_loop_times_out_and_the_session_restarts(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_loop")
    await session.exec("before = 1")
    uid = session.uid
    result = await session.exec("import time\nwhile True:\n    time.sleep(0.01)", timeout=2)
    assert result.timed_out and result.restarted
    assert "timed out after 2 seconds" in result.logs
    assert await wait_until_gone(uid) == []
    after = await session.exec("print('before' in globals(), 3 * 3)")
    assert after.stdout == "False 9\n"


async def test_cpu_budget_interrupts_the_call_but_keeps_state(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_cpu")
    await session.exec("kept = 'yes'")
    result = await session.exec("while True:\n    pass")  # CPU budget is 2 s, wall time 60 s
    assert not result.timed_out
    assert "CPU time limit" in result.stderr
    assert (await session.exec("print(kept)")).stdout == "yes\n"


async def test_fork_bomb_is_contained(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_forkbomb")
    await session.exec("ready = True")
    uid = session.uid
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = await session.exec(bomb, timeout=3)
    assert result.timed_out
    assert "timed out" in result.logs
    assert await wait_until_gone(uid) == []
    assert (await session.exec("print('alive')")).stdout == "alive\n"


async def test_fork_limit_is_an_error_in_the_logs(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_nproc")
    code = (
        "import os, time\npids = []\ntry:\n    while True:\n        pid = os.fork()\n"
        "        if pid == 0:\n            time.sleep(60)\n            os._exit(0)\n        pids.append(pid)\n"
        "finally:\n    for pid in pids:\n        os.kill(pid, 9)\n        os.waitpid(pid, 0)\n    print(len(pids))"
    )
    result = await session.exec(code)
    assert not result.timed_out
    assert "BlockingIOError" in result.stderr  # EAGAIN from RLIMIT_NPROC
    assert 0 < int(result.stdout) < 32


async def test_memory_bomb_is_contained(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_membomb")
    result = await session.exec("blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))")
    assert "MemoryError" in result.stderr
    assert not result.timed_out
    freed = await session.exec("del blocks\nprint('still here')")
    assert freed.stdout == "still here\n"


async def test_output_is_capped(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_output")
    result = await session.exec("print('x' * 1_000_000)")
    assert result.stdout.startswith("x" * 10_000)
    assert "[output truncated" in result.stdout and len(result.stdout) < 10_200


async def test_stdin_and_protocol_are_out_of_reach(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_stdin")
    code = "import sys, os\nprint(repr(sys.stdin.read()))\nstatus = os.system('echo from a child')"
    result = await session.exec(code)
    assert result.stdout == "''\nfrom a child\n"


async def test_idle_session_ends_and_the_next_call_starts_fresh(tmp_path: Path) -> None:
    box = LocalSandbox(tmp_path / "sandbox", Limits(), uid_base=220000, idle_seconds=0.2)
    await box.start()
    try:
        session = await box.session("thread_idle")
        await session.exec("value = 1")
        deadline = time.monotonic() + 30
        while "thread_idle" in box.sessions and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert "thread_idle" not in box.sessions and not session.directory.exists()
        fresh = await box.session("thread_idle")
        assert fresh is not session
        assert (await fresh.exec("print('value' in globals())")).stdout == "False\n"
    finally:
        await box.close()


async def test_returned_files_are_bounded(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_many_files")
    result = await session.exec("for n in range(25):\n    open(f'/mnt/data/f{n:02}.txt', 'w').write(str(n))")
    assert [f.path for f in result.files] == [f"f{n:02}.txt" for n in range(20)]
    assert "not returned as files" in result.stderr and "f24.txt" in result.stderr
    big = await session.exec("open('/mnt/data/big.bin', 'wb').write(b'0' * (9 << 20))")
    assert "File too large" in big.stderr  # RLIMIT_FSIZE (8 MiB here) stopped the write
    assert sum(len(f.data) for f in big.files) <= 8 << 20


async def test_least_recently_used_idle_session_makes_room(tmp_path: Path) -> None:
    box = LocalSandbox(tmp_path / "sandbox", Limits(), uid_base=225000, max_sessions=2)
    await box.start()
    try:
        first = await box.session("thread_one")
        await first.exec("a = 1")
        second = await box.session("thread_two")
        await second.exec("b = 2")
        await first.exec("a += 1")  # thread_two is now the least recently used
        third = await box.session("thread_three")
        assert set(box.sessions) == {"thread_one", "thread_three"}
        assert second.closed and not second.alive
        assert third.uid == second.uid  # its uid was free again
        assert (await first.exec("a")).stdout == "2\n"
    finally:
        await box.close()


async def test_multiprocessing_works_inside(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_pool")
    code = "from multiprocessing import Pool\nwith Pool(2) as pool:\n    print(pool.map(abs, [-1, -2, 3]))"
    result = await session.exec(code)
    assert result.stdout == "[1, 2, 3]\n", result.stderr


async def test_a_foreign_sandbox_dir_is_refused_not_wiped(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    box = LocalSandbox(precious, Limits())
    await box.start()
    assert "refusing to wipe it" in (box.problem() or "")
    assert (precious / "thesis.txt").read_text() == "years of work"
    with pytest.raises(SandboxUnavailable, match="refusing"):
        await box.session("thread_x")
    again = LocalSandbox(tmp_path / "ours", Limits())
    await again.start()
    await again.close()
    restarted = LocalSandbox(tmp_path / "ours", Limits())
    await restarted.start()  # its own directory from an earlier start is fine
    assert restarted.problem() is None


async def test_a_host_without_namespaces_is_found_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in bwrap that fails the way it does in a container without CAP_SYS_ADMIN.
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    box = LocalSandbox(tmp_path / "sandbox", Limits())
    await box.start()
    assert "Creating new namespace failed" in (box.problem() or "")
    with pytest.raises(SandboxUnavailable, match="did not start"):
        await box.session("thread_x")


async def test_disk_bomb_in_mnt_data_is_stopped_and_cleaned(tmp_path: Path) -> None:
    limits = Limits(max_file_bytes=4 << 20, disk_bytes=32 << 20)
    box = LocalSandbox(tmp_path / "sandbox", limits, uid_base=226000)
    await box.start()
    try:
        session = await box.session("thread_disk")
        await session.exec("open('/mnt/data/keep.txt', 'w').write('earlier output')")
        bomb = "n = 0\nwhile True:\n    open(f'/mnt/data/junk{n}.bin', 'wb').write(b'1' * (4 << 20))\n    n += 1"
        result = await session.exec(bomb)
        assert result.restarted and not result.timed_out
        assert f"wrote more than {32 << 20} bytes under /mnt/data" in result.stderr
        assert result.files == []
        left = sorted(os.listdir(session.directory))
        assert left == ["keep.txt"]  # this call's files went, an earlier call's stayed
        assert (await session.exec("print(open('/mnt/data/keep.txt').read())")).stdout == "earlier output\n"
    finally:
        await box.close()


async def test_a_cancelled_call_leaves_no_stale_answer(sandbox: LocalSandbox) -> None:
    session = await sandbox.session("thread_cancel")
    code = "import time\nopen('/mnt/data/started', 'w').close()\ntime.sleep(30)\nprint('stale')"
    slow = asyncio.ensure_future(session.exec(code))
    deadline = time.monotonic() + 30
    while not (session.directory / "started").exists() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert (session.directory / "started").exists()  # the cell is running inside the kernel
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    result = await session.exec("print('fresh')")
    assert result.stdout == "fresh\n"
