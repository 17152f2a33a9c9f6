"""Benchmark: export and import of a ~1 GB deployment, their time and the command's peak RSS.

One server (SQLite, local files, the fake embeddings upstream of the tests) is filled through the API:
``--mib`` MiB of file bytes in ``--file-mib`` MiB uploads, plus ``--stores`` vector stores of ``--docs``
text files each (ingested: chunks with vectors). It is stopped; then ``assistantd export`` writes
the archive and ``assistantd import`` reads it into a fresh data dir, each a child process whose peak
RSS comes from ``wait4`` (its own ``ru_maxrss``). The goal: under 256 MiB each, whatever ``--mib`` is.

Same-run baselines: ``assistantd migrate`` on the same data dir (the command's start-up, imports
included: what the peak RSS would be if moving data cost nothing) and ``tar`` of the data dir (the
time to read and write the same bytes with no database at all). Printed: each figure and its ratio to
its baseline. The import is checked through the API: every file, byte counts, and a search per store.

Usage: ``.venv/bin/python bench/bench_export.py [--mib 1024] [--file-mib 64] [--stores 4] [--docs 25]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Server, start_server, start_upstream
from tests.embeddings_upstream import EmbeddingsUpstream

MiB = 1 << 20
WORDS = "harbour lantern ledger copper meadow signal quarry orchard beacon timber cobalt willow".split()


def body(mib: int, seed: int) -> Iterator[bytes]:
    block = os.urandom(MiB)
    yield b'--XX\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
    yield f'--XX\r\nContent-Disposition: form-data; name="file"; filename="blob{seed}.bin"\r\n\r\n'.encode()
    for n in range(mib):
        yield block[(n + seed) % 251 :] + block[: (n + seed) % 251]
    yield b"\r\n--XX--\r\n"


def document(store: int, doc: int) -> bytes:
    words = [WORDS[(store * 7 + doc * 3 + i) % len(WORDS)] for i in range(3000)]
    return f"Store {store} document {doc} code zq{store}x{doc}. {' '.join(words)}".encode()


def fill(server: Server, args: argparse.Namespace) -> None:
    with httpx.Client(base_url=f"{server.url}/v1", timeout=3600) as http:
        for seed in range(args.mib // args.file_mib):
            headers = {"content-type": "multipart/form-data; boundary=XX"}
            http.post("/files", content=body(args.file_mib, seed), headers=headers).raise_for_status()
        for store in range(args.stores):
            file_ids = [
                http.post(
                    "/files",
                    files={"file": (f"s{store}d{doc}.txt", document(store, doc))},
                    data={"purpose": "assistants"},
                ).json()["id"]
                for doc in range(args.docs)
            ]
            made = http.post("/vector_stores", json={"name": f"store {store}", "file_ids": file_ids}).json()
            while http.get(f"/vector_stores/{made['id']}").json()["file_counts"]["in_progress"]:
                time.sleep(0.2)


def child(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one command, from its own rusage."""
    began = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - began
    if process.returncode != 0:
        raise RuntimeError(f"{argv[3:]} failed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def check(server: Server, args: argparse.Namespace) -> None:
    with httpx.Client(base_url=f"{server.url}/v1", timeout=60) as http:
        files = http.get("/files", params={"limit": 10000}).json()["data"]
        big = [f for f in files if f["filename"].startswith("blob")]
        assert len(big) == args.mib // args.file_mib and all(f["bytes"] == args.file_mib * MiB for f in big)
        stores = http.get("/vector_stores", params={"limit": 100}).json()["data"]
        assert len(stores) == args.stores and all(s["file_counts"]["completed"] == args.docs for s in stores)
        for n, store in enumerate(sorted(stores, key=lambda s: s["name"])):
            hits = http.post(f"/vector_stores/{store['id']}/search", json={"query": f"code zq{n}x0"}).json()
            assert hits["data"], f"no search results in {store['name']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="MiB of file bytes (default 1024)")
    parser.add_argument("--file-mib", type=int, default=64, help="MiB per uploaded file (default 64)")
    parser.add_argument("--stores", type=int, default=4, help="vector stores (default 4)")
    parser.add_argument("--docs", type=int, default=25, help="text files per vector store (default 25)")
    args = parser.parse_args()
    upstream, embeddings = start_upstream(), EmbeddingsUpstream().start()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "ASSISTANTD_MODEL_BASE_URL": upstream.url,
            "ASSISTANTD_LOG_LEVEL": "warning",
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings.url,
        }
        env.pop("ASSISTANTD_API_KEYS", None)
        env.pop("ASSISTANTD_DATABASE_URL", None)
        source, target = root / "source", root / "target"
        for data_dir in (source, target):
            data_dir.mkdir()
        began = time.monotonic()
        server = start_server(source, {**env, "ASSISTANTD_DATA_DIR": str(source)}, 1)
        try:
            fill(server, args)
        finally:
            server.stop()
        print(
            f"built {args.mib} MiB of files and {args.stores}x{args.docs} ingested documents "
            f"in {time.monotonic() - began:.0f} s (under load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        command = [sys.executable, "-m", "assistantd", "--data-dir"]
        base_seconds, base_rss = child([*command, str(source), "migrate"], env)
        tar_seconds, _ = child(["tar", "cf", str(root / "copy.tar"), "-C", str(source), "."], env)
        (root / "copy.tar").unlink()
        archive = root / "everything.tar"
        export_seconds, export_rss = child([*command, str(source), "export", str(archive)], env)
        import_seconds, import_rss = child([*command, str(target), "import", str(archive)], env)
        size = archive.stat().st_size / MiB
        print(
            f"archive: {size:.0f} MiB; baselines: `migrate` {base_seconds:.1f} s and {base_rss:.0f} MiB peak RSS, "
            f"`tar` of the data dir {tar_seconds:.1f} s"
        )
        print(f"{'':8} {'seconds':>8} {'x tar':>6} {'MiB/s':>7} {'peak RSS':>10} {'x migrate':>10}")
        for name, seconds, peak in (("export", export_seconds, export_rss), ("import", import_seconds, import_rss)):
            print(
                f"{name:8} {seconds:>8.1f} {seconds / tar_seconds:>6.1f} {size / seconds:>7.0f} "
                f"{peak:>6.0f} MiB {peak / base_rss:>10.2f}"
            )
        server = start_server(target, {**env, "ASSISTANTD_DATA_DIR": str(target)}, 1)
        try:
            check(server, args)
            print("imported deployment checked through the API: files, sizes, stores, searches")
        finally:
            server.stop()
    upstream.close()
    embeddings.close()


if __name__ == "__main__":
    main()
