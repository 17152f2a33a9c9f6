"""Drive the wheel installed with no extras (``scripts/wheel-smoke``): ``python -m tests.wheel_smoke VENV``.

Every module of the package imports there; ``assistantd serve`` starts from the venv's console script
with nothing of this checkout on its path and completes a run against the scripted upstream
(``tests/upstream.py``), and lists models (the upstream's too); a setting that needs a missing extra
stops the server at start with one line naming the extra, not a traceback, and the code interpreter
says at start which extra its data stack needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

from tests.server import free_port
from tests.upstream import Reply, Upstream

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, assistantd
names = [m.name for m in pkgutil.walk_packages(assistantd.__path__, "assistantd.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of this checkout's venv or paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "VIRTUAL_ENV", "PYTHON"))}
    return {**env, **extra}


def refused_at_start(venv: Path, data: Path, needing: dict[str, str], extra: str) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "assistantd"), "--data-dir", str(data), "serve", "--port", str(free_port())],
        env=clean_env(**needing), cwd=data, capture_output=True, text=True, timeout=120,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2 and f"'assistantd[{extra}]'" in said and "Traceback" not in said, said
    print(f"  {' '.join(needing)}: refused at start, naming the '{extra}' extra")


def serve_one_run(venv: Path, data: Path, upstream: Upstream) -> None:
    port = free_port()
    env = clean_env(ASSISTANTD_DATA_DIR=str(data), ASSISTANTD_MODEL_BASE_URL=upstream.url)
    log = open(data / "server.log", "wb")
    server = subprocess.Popen(
        [str(venv / "bin" / "assistantd"), "serve", "--port", str(port), "--workers", "1"],
        env=env, cwd=data, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (data / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        upstream.models = ["smoke-model"]
        upstream.script("smoke-model", Reply(text=["The", " wheel", " works."]))
        assistant = client.beta.assistants.create(model="smoke-model")
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hello"}]}, poll_interval_ms=50
        )
        assert run.status == "completed", run.last_error
        answer = client.beta.threads.messages.list(run.thread_id, limit=1).data[0].content[0]
        assert answer.type == "text" and answer.text.value == "The wheel works.", answer
        assert "smoke-model" in {model.id for model in client.models.list()}
        print(f"  assistantd serve: one run completed ({answer.text.value!r}), models listed")
        said = (data / "server.log").read_text()
        # No data stack in the venv: the code interpreter names its extra at start (or is off for want of bwrap).
        assert "assistantd[code-interpreter]" in said or "code interpreter disabled" in said, said[-3000:]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def main(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    dev_only = ("pytest", "pip", "httpx", "obstore", "pandas")
    probe = f"import importlib.util as u; print([m for m in {dev_only!r} if u.find_spec(m)])"
    present = subprocess.run([python, "-c", probe], env=clean_env(), capture_output=True, text=True, check=True)
    assert present.stdout.strip() == "[]", f"not a clean venv: {present.stdout}"
    began = time.monotonic()
    count = subprocess.run([python, "-c", IMPORT_EVERY_MODULE], env=clean_env(), capture_output=True, text=True)
    assert count.returncode == 0, count.stderr[-3000:]
    print(f"  every module imports: {count.stdout.strip()} modules in {time.monotonic() - began:.1f} s")
    upstream = Upstream().start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(scratch)
            refused_at_start(venv, data, {"ASSISTANTD_BLOB_URL": "s3://bucket/prefix"}, "s3")
            refused_at_start(venv, data, {"ASSISTANTD_EMBEDDING_PROVIDER": "local"}, "local-embeddings")
            serve_one_run(venv, data, upstream)
    finally:
        upstream.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
