"""A server routing models by name to two scripted upstreams (A and B), through a ``[models]`` table.

There is no default route (``ASSISTANTD_MODEL_BASE_URL`` is empty), so a name the table does not
match has no upstream at all. Patterns pick each quirk profile:

- ``q-*`` → A, native tool calls (OpenAI's shape, plus whatever ``Reply.quirks`` asks for);
- ``hermes-*`` / ``json-*`` → A, tool calls written as text;
- ``think-*`` → A, reasoning up to ``</think>`` even without the opening tag;
- ``strict-*`` → A, declared as refusing ``tool_choice: "required"``;
- ``tiny-*`` → A, with a context of 60 tokens;
- ``b-*`` → B; ``azure-gpt`` → B as an Azure deployment (``gpt-dep``, key from the environment);
- the embedding model → the fake embeddings upstream.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import openai

from tests.embeddings_upstream import EmbeddingsUpstream
from tests.server import LiveServer
from tests.upstream import Upstream

AZURE_KEY = "azure-key-" + secrets.token_hex(4)
KEY = "sk-test-routed"


@dataclass
class Routed:
    server: LiveServer
    a: Upstream
    b: Upstream
    client: openai.OpenAI


def config(a: Upstream, b: Upstream, embeddings: EmbeddingsUpstream) -> str:
    azure_endpoint = b.url.removesuffix("/v1")
    return f"""
[models."text-embedding-3-small"]
base_url = "{embeddings.url}"

[models."azure-gpt"]
base_url = "{azure_endpoint}"
azure_deployment = "gpt-dep"
api_version = "2024-10-21"
api_key_env = "ROUTED_AZURE_KEY"

[models."q-*"]
base_url = "{a.url}"
api_key = "key-a"

[models."hermes-*"]
base_url = "{a.url}"
tool_call_format = "hermes"

[models."json-*"]
base_url = "{a.url}"
tool_call_format = "json"

[models."think-*"]
base_url = "{a.url}"
reasoning_format = "think"

[models."strict-*"]
base_url = "{a.url}"
refuses = ["tool_choice_required"]

[models."tiny-*"]
base_url = "{a.url}"
context_tokens = 60

[models."b-*"]
base_url = "{b.url}"
api_key = "key-b"
"""


def start(home: Path, embeddings: EmbeddingsUpstream) -> Routed:
    """Start both upstreams and the server (the session fixture ``routed`` in conftest)."""
    a, b = Upstream().start(), Upstream().start()
    path = home / "assistantd.toml"
    path.write_text(config(a, b, embeddings))
    live = LiveServer(
        home / "data",
        env={
            "ASSISTANTD_CONFIG": str(path),
            "ASSISTANTD_MODEL_BASE_URL": "",
            "ASSISTANTD_EMBEDDING_BASE_URL": "",
            "ASSISTANTD_API_KEYS": f"{KEY}=alpha",
            "ASSISTANTD_MODEL_TIMEOUT_SECONDS": "4",
            "ASSISTANTD_MODEL_MAX_RETRIES": "1",
            "ROUTED_AZURE_KEY": AZURE_KEY,
        },
    )
    live.start()
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=KEY, max_retries=0)
    return Routed(live, a, b, client)


def stop(routed: Routed) -> None:
    routed.server.close()
    routed.a.close()
    routed.b.close()


def model(prefix: str) -> str:
    """A model name of that route only this test uses, so its upstream script is its own."""
    return f"{prefix}-{secrets.token_hex(5)}"
