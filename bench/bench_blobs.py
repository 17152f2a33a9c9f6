"""Benchmark: server memory while a large file goes up and comes back down, on local disk and in S3.

For each blob store (the data dir's ``files``; an S3 bucket on moto's server, started here on loopback),
one server uploads a ``--mib`` MiB file (default 512: the upload limit) sent as a chunked multipart
body, then serves it back, read to the end by the client and checked byte for byte (SHA-256). The
server's RSS (its processes, from ``/proc``) is sampled every 20 ms; printed: its growth over the
resting server at the peak of the upload and of the download (the goal: under 64 MiB each), and the
MiB/s of each. The client never holds the file: it sends and reads it a MiB at a time.

Usage: ``flock /tmp/assistantd-bench.lock .venv/bin/python bench/bench_blobs.py [--mib 512] [--source DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Server, add_server_options, bench_server, describe
from tests.s3 import MotoS3

MiB = 1 << 20


def rss(server: Server) -> int:
    total = 0
    for pid in server.pids():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class Peak:
    """The highest RSS seen while the ``with`` block runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, rss(self.server))

    def __enter__(self) -> Peak:
        self.peak = rss(self.server)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def body(mib: int, digest: hashlib._Hash) -> Iterator[bytes]:
    block = os.urandom(MiB)
    yield b'--XX\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
    yield b'--XX\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    for n in range(mib):
        piece = block[n % 251 :] + block[: n % 251]  # no two MiB alike
        digest.update(piece)
        yield piece
    yield b"\r\n--XX--\r\n"


def measure(server: Server, mib: int) -> dict[str, float]:
    time.sleep(2)  # let start-up settle
    resting = rss(server)
    sent = hashlib.sha256()
    headers = {"content-type": "multipart/form-data; boundary=XX"}
    with Peak(server) as up:
        began = time.monotonic()
        answer = httpx.post(f"{server.url}/v1/files", content=body(mib, sent), headers=headers, timeout=3600)
        upload_seconds = time.monotonic() - began
    answer.raise_for_status()
    file_id = answer.json()["id"]
    received = hashlib.sha256()
    with Peak(server) as down:
        began = time.monotonic()
        with httpx.stream("GET", f"{server.url}/v1/files/{file_id}/content", timeout=3600) as response:
            response.raise_for_status()
            for piece in response.iter_bytes(MiB):
                received.update(piece)
        download_seconds = time.monotonic() - began
    assert received.hexdigest() == sent.hexdigest(), "the download differs from the upload"
    return {
        "resting": resting / MiB,
        "upload": (up.peak - resting) / MiB,
        "download": (down.peak - resting) / MiB,
        "upload_rate": mib / upload_seconds,
        "download_rate": mib / download_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=512, help="file size in MiB (default 512, the upload limit)")
    add_server_options(parser)
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 1
    limit = {"ASSISTANTD_MAX_UPLOAD_BYTES": str(max(args.mib * MiB, 512 * MiB))}
    print(f"{args.mib} MiB up and down; {describe(args)}")
    columns = ("resting RSS", "upload +RSS", "download +RSS", "up MiB/s", "down MiB/s")
    print(f"{'blob store':<12} " + " ".join(f"{c:>13}" for c in columns))
    moto = MotoS3().start()
    try:
        for name, extra in (("local disk", {}), ("S3 (moto)", moto.bucket().env())):
            with bench_server(args, **limit, **extra) as (server, _):
                got = measure(server, args.mib)
            print(
                f"{name:<12} {got['resting']:>9.0f} MiB {got['upload']:>9.1f} MiB {got['download']:>9.1f} MiB "
                f"{got['upload_rate']:>13.1f} {got['download_rate']:>13.1f}"
            )
    finally:
        moto.close()


if __name__ == "__main__":
    main()
