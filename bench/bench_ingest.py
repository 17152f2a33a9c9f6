"""Ingestion throughput, in MB of extracted text per second, through the real pipeline.

Blob read, extraction, static 800/400 chunking, embedding, index write and status update, with
``Ingestion``'s own workers, into SQLite; from the moment the store is created with its files until
every file is ``completed``. Each measurement runs in a fresh child process; ``--baseline DIR`` runs
the same measurement against another checkout of assistantd (e.g. main) in the same run, so the
two figures share the machine's load.

Embedders:
- ``upstream``: an OpenAI-compatible embeddings server in its own process on loopback
  (``bench/fast_embeddings.py``, 1,536 dimensions, deterministic pseudo-vectors): a fast upstream,
  reached the way a real one is (``OpenAIEmbedder``: base64, several requests in flight).
- ``hash``: a hashed bag of words computed in the ingesting process itself (384 dimensions), as
  this benchmark measured before; it competes with the pipeline for the same interpreter.

- ``none``: keyword-only, as far as ingestion goes: a one-number vector per chunk, no embedding
  work at all, so the figure is the pipeline's own cost (extraction, chunking, writes).

The files go into one vector store as one file batch. Reported beside each figure: files/s, the
ingesting process's CPU seconds per MB (all its threads) and the upstream's, the peak growth of its
RSS while ingesting, how ``file_counts.completed`` moved (five samples), and the load average.

Modes: the default is large files (8 MB of text in 32 files: MB/s); ``--small`` is 1,050 files of
~8 KB (man-page sized: files/s) in one batch; ``--many`` is 10,000 such files in five batches of
2,000, the most one takes (peak RSS growth, progress).
Usage: ``.venv/bin/python bench/bench_ingest.py [--small | --many] [--mb 8] [--files 32]
[--baseline DIR] [--embedders upstream,hash,none]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


class HashEmbedder:
    """A hashed bag of words, 384 dimensions, in process (no HTTP)."""

    name = "bench:hash"
    vector_weight = 0.15  # the server's default for an upstream embedder (index.fusion.VECTOR_WEIGHT)

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}

    def _slot(self, word: str) -> int:
        slot = self._slots.get(word)
        if slot is None:
            slot = self._slots[word] = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % 384
        return slot

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for row, text in enumerate(texts):
            slots = [self._slot(word) for word in re.findall(r"\w+", text.lower())]
            np.add.at(out[row], slots, 1.0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)


class NoEmbedder:
    """Keyword-only ingestion: one constant number per chunk, no embedding work."""

    name = "bench:none"
    vector_weight = 0.0

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 1), dtype=np.float32)


def memory(field: str) -> int:
    """A ``/proc/self/status`` figure (VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> None:
    """From here VmHWM is the peak since now (Linux: ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def corpus_text(megabytes: float) -> str:
    sys.path.insert(0, str(ROOT))
    from bench.corpus import build_docs

    base = "\n\n".join(f"## {d.id}\n{d.text}" for d in build_docs())
    copies = max(1, round(megabytes * 1e6 / len(base.encode())))
    # Each copy numbered, so files differ (as real ones do) and no two chunks are equal.
    return "\n\n".join(f"# copy {n}\n{base}" for n in range(copies))


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by name (Linux /proc)."""
    found = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[f"{thread.name}/{thread.native_id}"] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return found


def profiler() -> subprocess.Popen[bytes] | None:
    """py-spy on this process for the timed part, when ``BENCH_PY_SPY`` names an output file."""
    output = os.environ.get("BENCH_PY_SPY")
    if not output:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "-r", "250", "-t", "-f", "raw", "-o", output, "--pid", str(os.getpid())]
    for flag in os.environ.get("BENCH_PY_SPY_FLAGS", "").split():
        command.append(flag)  # e.g. --gil, --native
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach
    return process


# The child: one measurement, with assistantd imported from the checkout it is given.


BATCH_LIMIT = 2000  # file_ids of one file batch at most


async def open_stack(tmp: str, embedder: Any, workers: int) -> tuple[Any, Any, Any, Any]:
    """A database, blob store, ``Ingestion`` and ``VectorStores`` in ``tmp``, as a server wires them."""
    from assistantd.blobs import from_url
    from assistantd.retrieval.cascade import Cascade
    from assistantd.retrieval.embedders import Embedders
    from assistantd.retrieval.index.sql_index import SqlIndex
    from assistantd.retrieval.ingestion import Ingestion
    from assistantd.retrieval.stores import VectorStores
    from assistantd.services.files import Files
    from assistantd.store.db import Database
    from assistantd.store.migrate import upgrade_async

    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
    await upgrade_async(url)
    db = Database(url)
    blobs = from_url(None, Path(tmp) / "blobs")
    index = SqlIndex(db)
    cascade = Cascade(index)
    ingestion = Ingestion(db, blobs, index, cascade, Embedders(embedder, lambda _name: embedder), workers=workers)
    stores = VectorStores(db, cascade, ingestion.after_commit, lambda: embedder.name)
    return db, ingestion, stores, Files(db, blobs, 1 << 30)


async def child_ingest(text: str, files: int, embedder: Any, workers: int) -> dict[str, Any]:
    from assistantd import tokens
    from assistantd.caller import Caller
    from assistantd.protocol.vector_stores import CreateFileBatch, CreateVectorStore
    from assistantd.retrieval.batches import FileBatches

    caller = Caller(project="bench")
    with tempfile.TemporaryDirectory() as tmp:
        db, ingestion, stores, service = await open_stack(tmp, embedder, workers)
        ids = await upload_all(service, caller, text, files)
        store = await stores.create(caller, CreateVectorStore(name="bench"))
        await ingestion.start()
        tokens.encode("warm up")  # a server loads the o200k ranks once, at its first chunking
        await embedder.embed(["warm up"])  # and opens its first upstream connection
        spy = profiler()
        reset_peak_rss()
        rss, anon = memory("VmRSS"), memory("RssAnon")
        cpu, started = time.process_time(), time.perf_counter()
        threads_before = thread_cpu()
        for start in range(0, len(ids), BATCH_LIMIT):  # one batch, or 10,000 files in batches of 2,000
            batch = CreateFileBatch(file_ids=ids[start : start + BATCH_LIMIT])
            await FileBatches(stores).create(caller, store["id"], batch)
        progress = await wait_done(stores, caller, store["id"], started)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = memory("VmHWM") - rss
        per_thread = {name: spent - threads_before.get(name, 0.0) for name, spent in thread_cpu().items()}
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        counts = (await stores.retrieve(caller, store["id"]))["file_counts"]
        await ingestion.stop()
        await db.close()
    if counts["completed"] != files:
        raise SystemExit(f"not every file completed: {counts}")
    return {
        "mb": len(text[: len(text) // files * files].encode()) / 1e6,
        "files": files,
        "seconds": elapsed,
        "cpu": cpu,
        "threads": per_thread,
        "peak_rss": peak,
        "peak_anon": max(sample[2] for sample in progress) - anon,
        "progress": progress,
    }


async def upload_all(service: Any, caller: Any, text: str, files: int) -> list[str]:
    """``text`` cut into ``files`` files of equal length, uploaded; their ids."""
    piece = len(text) // files
    ids = []
    for n in range(files):
        data = text[n * piece : (n + 1) * piece].encode()
        ids.append((await service.store_bytes(caller, data, f"f{n}.md", "assistants"))["id"])
    return ids


async def wait_done(stores: Any, caller: Any, store_id: str, started: float) -> list[tuple[float, int, int]]:
    """Poll the store as a client would, until no file is in progress; (seconds, completed, anonymous
    RSS) samples. Anonymous: the database file, mapped (``mmap_size``), counts in RSS as it grows."""
    samples: list[tuple[float, int, int]] = []
    while True:
        counts = (await stores.retrieve(caller, store_id))["file_counts"]
        samples.append((time.perf_counter() - started, int(counts["completed"]), memory("RssAnon")))
        if not counts["in_progress"]:
            return samples
        await asyncio.sleep(0.1)


def child_main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.checkout))
    text = Path(args.text).read_text()
    embedder: Any
    if args.embedder == "hash":
        embedder = HashEmbedder()
    elif args.embedder == "none":
        embedder = NoEmbedder()
    elif args.embedder == "minilm":
        from assistantd.retrieval.local_embedder import LocalEmbedder

        embedder = LocalEmbedder()
    else:
        from assistantd.retrieval.embedders import OpenAIEmbedder

        embedder = OpenAIEmbedder(args.upstream, "bench", "text-embedding-3-small")
    result = asyncio.run(child_ingest(text, args.files, embedder, args.workers))
    print(json.dumps(result))


# The parent: start the upstream, run each measurement in a child, print side by side.


class FastUpstream:
    def __init__(self, dims: int) -> None:
        script = ROOT / "bench" / "fast_embeddings.py"
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--dims", str(dims)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().decode().strip()

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def measure(checkout: Path, embedder: str, text_path: Path, files: int, workers: int, upstream: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--checkout", str(checkout)]
    command += ["--text", str(text_path), "--files", str(files), "--workers", str(workers)]
    command += ["--embedder", embedder, "--upstream", upstream]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=str(checkout))
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# The offline model embeds tens of kB/s: it gets a slice of the text and a few files.
MINILM_MB, MINILM_FILES = 0.12, 4


def report(embedder: str, label: str, r: dict[str, Any], upstream_cpu: float) -> str:
    row = f"  {embedder:<9} {label:<14} {r['files'] / r['seconds']:8.1f} files/s {r['mb'] / r['seconds']:7.3f} MB/s"
    row += f" ({r['files']} files, {r['mb']:.2f} MB, {r['seconds']:.1f} s)"
    row += f"  CPU {r['cpu'] / r['mb']:.3f} s/MB (ingesting process)"
    if embedder == "upstream":
        row += f" + {upstream_cpu / r['mb']:.3f} s/MB (upstream)"
    row += f"  peak RSS +{r['peak_rss'] / 1e6:.0f} MB (anonymous +{r['peak_anon'] / 1e6:.0f} MB)"
    samples = r["progress"]
    picks = [samples[min(len(samples) - 1, round(i * (len(samples) - 1) / 4))] for i in range(5)]
    row += "  completed " + " ".join(f"{done}@{at:.0f}s" for at, done, _ in picks)
    return row


def run(args: argparse.Namespace) -> None:
    text = corpus_text(args.mb)
    checkouts = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    print(f"  {len(text.encode()) / 1e6:.1f} MB of text in {args.files} files, {args.workers} workers, 800/400 chunks")
    upstream = FastUpstream(1536)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for embedder in args.embedders.split(","):
                minilm = embedder == "minilm"
                text_path = Path(tmp) / f"{embedder}.txt"
                text_path.write_text(text[: int(MINILM_MB * 1e6)] if minilm else text)
                files = MINILM_FILES if minilm else args.files
                for _round in range(args.rounds):
                    for label, checkout in checkouts:
                        load = os.getloadavg()[0]
                        before = upstream.cpu()
                        r = measure(checkout, embedder, text_path, files, args.workers, upstream.url)
                        spent = upstream.cpu() - before
                        print(f"{report(embedder, label, r, spent)}  load {load:.1f}", flush=True)
    finally:
        upstream.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=8.0, help="MB of text to ingest")
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="Ingestion(workers=...)")
    parser.add_argument("--embedders", default="upstream,hash", help="upstream, hash, minilm")
    parser.add_argument("--baseline", type=Path, help="another checkout of assistantd, measured in the same run")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each measurement (alternating checkouts)")
    parser.add_argument("--small", action="store_true", help="1,050 files of ~8 KB (sets --files and --mb)")
    parser.add_argument("--many", action="store_true", help="10,000 files of ~8 KB (sets --files and --mb)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkout", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--text", help=argparse.SUPPRESS)
    parser.add_argument("--embedder", default="upstream", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.small or args.many:
        args.files = 1050 if args.small else 10_000
        args.mb = args.files * 8_000 / 1e6
    if args.child:
        child_main(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
