"""Frameworks built on the Assistants API, each in its own pinned environment, against a live server.

- LangChain's OpenAIAssistantRunnable (``langchain-classic``), in the venv ``.frameworks/langchain``
  made from ``tests/frameworks/langchain-requirements.txt``.
- LlamaIndex's OpenAIAssistantAgent (``llama-index-agent-openai``) in ``.frameworks/llamaindex``.
- Agency Swarm 0.7.2 (the Assistants-API line) in ``.frameworks/agency-swarm``.
- openai-python 1.20.0 (the last v1 SDK), in ``.frameworks/openai-1.20`` from
  ``tests/frameworks/openai120-requirements.txt``; openai-python 1.40.0 (``client.beta.vector_stores``)
  likewise in ``.frameworks/openai-1.40``.
- The OpenAI Agents SDK (``openai-agents``, Responses API) in ``.frameworks/openai-agents``.
- The Node SDK 4.x and 5.x, from ``tests/node/v4`` and ``tests/node/v5`` (``npm ci`` of their lockfiles).

``scripts/frameworks`` installs them all (``scripts/test`` runs it first). Each scenario script is
pointed at the server the way users point these clients elsewhere (``OPENAI_BASE_URL``,
``OPENAI_API_KEY``) and prints what it saw as JSON; the upstream model is the scripted fake.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEY_A
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

if os.environ.get("ASSISTANTD_TEST_POSTGRES"):
    pytest.skip(
        "client compatibility does not depend on the database: these run in the SQLite pass",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parent.parent
LANGCHAIN_PYTHON = ROOT / ".frameworks" / "langchain" / "bin" / "python"
AGENCY_SWARM_PYTHON = ROOT / ".frameworks" / "agency-swarm" / "bin" / "python"
LLAMAINDEX_PYTHON = ROOT / ".frameworks" / "llamaindex" / "bin" / "python"
OPENAI_120_PYTHON = ROOT / ".frameworks" / "openai-1.20" / "bin" / "python"
OPENAI_140_PYTHON = ROOT / ".frameworks" / "openai-1.40" / "bin" / "python"
AGENTS_PYTHON = ROOT / ".frameworks" / "openai-agents" / "bin" / "python"
NODE_DIR = ROOT / "tests" / "node"
INSTALL_HINT = "run scripts/frameworks to install it"


def scenario(command: list[str], cwd: Path, server: LiveServer) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ASSISTANTD_", "NODE_OPTIONS"))}
    env.update(OPENAI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY=KEY_A)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stderr[-4000:]}\n{server.log()[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def script_models(upstream: Upstream) -> tuple[str, str, str]:
    plain, tools, streamed = new_model(), new_model(), new_model()
    upstream.script(plain, Reply(text=["Hi", " from", " the", " run."]))
    upstream.script(
        tools,
        Reply(tool_calls=[("get_weather", json.dumps({"city": "Paris"}))]),
        Reply(text=["It", " is", " sunny", " in", " Paris."]),
    )
    upstream.script(streamed, Reply(text=["Streamed", " ", "words", "."]))
    return plain, tools, streamed


def tool_result_sent(upstream: Upstream, model: str) -> str:
    second = upstream.requests(model)[1].messages
    return str(next(m for m in second if m["role"] == "tool")["content"])


@pytest.mark.skipif(not LANGCHAIN_PYTHON.exists(), reason=f"the LangChain environment is missing: {INSTALL_HINT}")
def test_langchain_openai_assistant_runnable(server: LiveServer, upstream: Upstream) -> None:
    plain, tools, streamed = script_models(upstream)
    script = ROOT / "tests" / "frameworks" / "langchain_scenarios.py"
    seen = scenario([str(LANGCHAIN_PYTHON), str(script), plain, tools, streamed], ROOT, server)
    # A run: the runnable picks the run's replies by run_id and reads their attachments.
    assert seen["run"] == {"texts": ["Hi from the run."], "roles": ["assistant"], "attachments": [[]]}
    # The AgentExecutor loop: requires_action → the LangChain tool → submit_tool_outputs → answer.
    assert seen["function"]["steps"] == [["get_weather", {"city": "Paris"}, "Sunny in Paris"]]
    assert seen["function"]["output"] == "It is sunny in Paris."
    assert tool_result_sent(upstream, tools) == "Sunny in Paris"
    # The runnable's stream(): it has no token streaming of its own, and yields the finished answer.
    assert seen["stream"] == {"outputs": ["Streamed words."]}


@pytest.mark.parametrize("version", ["v4", "v5"])
def test_node_sdk(version: str, server: LiveServer, upstream: Upstream) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    directory = NODE_DIR / version
    if not (directory / "node_modules" / "openai").exists():
        pytest.skip(f"the Node SDK {version} environment is missing: {INSTALL_HINT}")
    plain, tools, streamed = script_models(upstream)
    seen = scenario([node, str(NODE_DIR / "scenarios.cjs"), plain, tools, streamed], directory, server)
    assert seen["sdk"].startswith(version[1] + ".")
    assert seen["run"] == {
        "status": "completed",
        "replies": [{"role": "assistant", "text": "Hi from the run.", "attachments": []}],
    }
    function = seen["function"]
    assert function["required"] == "requires_action"
    assert function["calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert function["status"] == "completed"
    assert [r["text"] for r in function["replies"]] == ["It is sunny in Paris."]
    assert tool_result_sent(upstream, tools) == "Sunny in Paris"
    stream = seen["stream"]
    assert stream["status"] == "completed"
    assert stream["deltas"] == ["Streamed", " ", "words", "."]
    assert stream["final"] == ["Streamed words."]
    assert stream["events"][0] == "thread.run.created" and stream["events"][-1] == "thread.run.completed"
    assert "thread.message.delta" in stream["events"]
    assert seen["upload"]["filename"] == "node.txt" and seen["upload"]["bytes"] == len("node bytes")
    assert seen["upload"]["id"].startswith("file-")


@pytest.mark.skipif(not OPENAI_120_PYTHON.exists(), reason=f"the openai 1.20 environment is missing: {INSTALL_HINT}")
def test_openai_python_1_20_speaks_v1(server: LiveServer, upstream: Upstream) -> None:
    plain, tools, streamed = script_models(upstream)
    script = ROOT / "tests" / "frameworks" / "openai120_scenarios.py"
    seen = scenario([str(OPENAI_120_PYTHON), str(script), plain, tools, streamed], ROOT, server)
    assert seen["sdk"] == "1.20.0"
    files = seen["files"]
    first, second = files["ids"]
    assert files["assistant_file_ids"] == [first]
    assert files["attached"]["object"] == "assistant.file" and files["attached"]["id"] == second
    assert files["listed"] == [first, second] and files["retrieved"] == second
    assert files["deleted"] == {"id": first, "object": "assistant.file.deleted", "deleted": True}
    assert files["after"] == [second]
    assert files["message_file_ids"] == [second]
    assert [(f["id"], f["object"]) for f in files["message_files"]] == [(second, "thread.message.file")]
    assert seen["run"] == {"status": "completed", "file_ids": [], "texts": ["Hi from the run."]}
    assert seen["function"] == {
        "required": "requires_action",
        "status": "completed",
        "texts": ["It is sunny in Paris."],
    }
    assert tool_result_sent(upstream, tools) == "Sunny in Paris"
    assert seen["stream"] == {
        "status": "completed",
        "deltas": ["Streamed", " ", "words", "."],
        "texts": ["Streamed words."],
    }


@pytest.mark.skipif(not OPENAI_140_PYTHON.exists(), reason=f"the openai 1.40 environment is missing: {INSTALL_HINT}")
def test_openai_python_1_40_beta_vector_stores(server: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": "capital of Zorblania"}))]),
        Reply(text=["Quuxville", " 【0:0†zorblania.txt】."]),
    )
    script = ROOT / "tests" / "frameworks" / "openai140_scenarios.py"
    seen = scenario([str(OPENAI_140_PYTHON), str(script), model], ROOT, server)
    assert seen["sdk"] == "1.40.0"
    assert seen["batch"] == {"status": "completed", "completed": 1}
    assert seen["run"] == "completed" and seen["text"].startswith("Quuxville")
    assert seen["citations"] == seen["store_files"] and len(seen["store_files"]) == 1
    assert seen["steps"] == ["tool_calls", "message_creation"]
    assert len(seen["assistant_stores"]) == 1 and seen["deleted"] is True
    tool_result = next(m for m in upstream.requests(model)[1].messages if m["role"] == "tool")["content"]
    assert "Quuxville, on the river Blorp" in tool_result


@pytest.mark.skipif(not LLAMAINDEX_PYTHON.exists(), reason=f"the LlamaIndex environment is missing: {INSTALL_HINT}")
def test_llamaindex_openai_assistant_agent(server: LiveServer, upstream: Upstream) -> None:
    plain, tools, _ = script_models(upstream)
    script = ROOT / "tests" / "frameworks" / "llamaindex_scenarios.py"
    seen = scenario([str(LLAMAINDEX_PYTHON), str(script), plain, tools], ROOT, server)
    # Explicit nulls (temperature, top_p, run instructions) meant "not given": defaults apply.
    assert (seen["run"]["temperature"], seen["run"]["top_p"]) == (1.0, 1.0)
    assert seen["run"]["response"] == "Hi from the run."
    assert seen["function"]["response"] == "It is sunny in Paris."
    # It polls at 0.1 s and calls the tools whenever it sees requires_action: exactly once here,
    # because the run has left requires_action by the time submit_tool_outputs answers.
    assert seen["calls"] == ["Paris"] and seen["function"]["sources"] == ["Sunny in Paris"]
    assert len(upstream.requests(tools)) == 2
    assert upstream.requests(plain)[0].messages[0]["content"] == "Be brief."


@pytest.mark.skipif(not AGENCY_SWARM_PYTHON.exists(), reason=f"the Agency Swarm environment is missing: {INSTALL_HINT}")
def test_agency_swarm(server: LiveServer, upstream: Upstream, tmp_path: Path) -> None:
    tools, streamed = new_model(), new_model()
    upstream.script(
        tools,
        Reply(tool_calls=[("GetWeather", json.dumps({"city": "Paris"}))]),
        Reply(text=["It", " is", " sunny", " in", " Paris."]),
    )
    upstream.script(streamed, Reply(text=["Streamed", " ", "words", "."]))
    script = ROOT / "tests" / "frameworks" / "agency_swarm_scenarios.py"
    seen = scenario([str(AGENCY_SWARM_PYTHON), str(script), tools, streamed], tmp_path, server)
    assert seen["answer"] == "It is sunny in Paris."
    assert seen["calls"] == ["Paris"]
    assert tool_result_sent(upstream, tools) == "Sunny in Paris"
    assert seen["reused_id"] == seen["assistant_id"]
    # Every field echoed back exactly as it was sent: a restart finds nothing to update.
    assert seen["restart_updates"] == []
    assert seen["deltas"] == ["Streamed", " ", "words", "."]
    assert seen["stream_final"] == "Streamed words."


@pytest.mark.skipif(not AGENTS_PYTHON.exists(), reason=f"the OpenAI Agents SDK environment is missing: {INSTALL_HINT}")
def test_openai_agents_sdk(server: LiveServer, upstream: Upstream) -> None:
    tools, streamed, triage, billing = new_model(), new_model(), new_model(), new_model()
    upstream.script(
        tools,
        Reply(tool_calls=[("get_weather", json.dumps({"city": "Paris"}))]),
        Reply(text=["It", " is", " sunny", "."]),
    )
    upstream.script(streamed, Reply(text=["Streamed", " ", "words", "."]))
    upstream.script(triage, Reply(tool_calls=[("transfer_to_billing_agent", "{}")]))
    upstream.script(billing, Reply(text=["Refund", " issued", "."]))
    script = ROOT / "tests" / "frameworks" / "openai_agents_scenarios.py"
    seen = scenario([str(AGENTS_PYTHON), str(script), tools, streamed, triage, billing], ROOT, server)
    # An agent with a function tool: the SDK runs the tool and sends its output back as an input item.
    assert seen["function"]["output"] == "It is sunny."
    assert seen["function"]["items"] == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert all(rid.startswith("resp_") for rid in seen["function"]["response_ids"])
    assert tool_result_sent(upstream, tools) == "Sunny in Paris"
    # A streamed run: the SDK's raw events carry our output_text deltas.
    assert seen["stream"] == {"deltas": ["Streamed", " ", "words", "."], "output": "Streamed words."}
    # A handoff: the triage agent's transfer call hands the conversation to the billing agent.
    assert seen["handoff"] == {"output": "Refund issued.", "last_agent": "Billing agent"}
    handed = upstream.requests(billing)[0].messages
    assert handed[1] == {"role": "user", "content": "I was charged twice"}
    assert handed[-2]["tool_calls"][0]["function"]["name"] == "transfer_to_billing_agent"


@pytest.mark.skipif(not AGENTS_PYTHON.exists(), reason=f"the OpenAI Agents SDK environment is missing: {INSTALL_HINT}")
def test_openai_agents_sdk_with_a_reasoning_model(server: LiveServer, upstream: Upstream) -> None:
    name = new_model()
    upstream.script(
        name,
        Reply(reasoning=["Need the tool."], tool_calls=[("get_weather", json.dumps({"city": "Oslo"}))]),
        Reply(reasoning=["Now answer."], text=["Sunny", "."]),
        Reply(reasoning=["Aloud."], text=["Thought", "."]),
    )
    script = ROOT / "tests" / "frameworks" / "openai_agents_scenarios.py"
    seen = scenario([str(AGENTS_PYTHON), str(script), "reasoning", name], ROOT, server)
    steps = ["reasoning_item", "tool_call_item", "tool_call_output_item", "reasoning_item", "message_output_item"]
    assert seen["items"] == steps and seen["output"] == "Sunny."
    # The SDK sent our reasoning item back as input: accepted, and not passed to the model as text.
    second = upstream.requests(name)[1].messages
    assert "Need the tool." not in str(second) and tool_result_sent(upstream, name) == "Sunny in Oslo"
    kinds = ["response.reasoning_text.delta", "response.reasoning_text.done"]
    assert seen["stream"] == {"kinds": kinds, "items": ["reasoning_item", "message_output_item"], "output": "Thought."}


@pytest.mark.skipif(not AGENTS_PYTHON.exists(), reason=f"the OpenAI Agents SDK environment is missing: {INSTALL_HINT}")
def test_openai_agents_sdk_memory(server: LiveServer, upstream: Upstream) -> None:
    structured, chat, session, unstored = new_model(), new_model(), new_model(), new_model()
    upstream.script(structured, Reply(text=['{"city": "Oslo",', ' "celsius": 3}']))
    upstream.script(chat, Reply(text=["Hi", " Ada."]), Reply(text=["You", " are", " Ada."]))
    upstream.script(session, Reply(text=["Noted."]), Reply(text=["Blue."]))
    upstream.script(
        unstored, Reply(tool_calls=[("get_weather", json.dumps({"city": "Nice"}))]), Reply(text=["Fine", "."])
    )
    script = ROOT / "tests" / "frameworks" / "openai_agents_scenarios.py"
    seen = scenario([str(AGENTS_PYTHON), str(script), "memory", structured, chat, session, unstored], ROOT, server)
    # Structured output: the agent's output_type goes upstream as a JSON schema and comes back parsed.
    assert seen["structured"] == {"city": "Oslo", "celsius": 3}
    assert upstream.requests(structured)[0].body["response_format"]["type"] == "json_schema"
    # conversation_id: both turns are the server's conversation, and the second turn's model saw the first.
    turns = [["user", "I am Ada"], ["assistant", "Hi Ada."], ["user", "Who am I?"], ["assistant", "You are Ada."]]
    assert seen["conversation"] == turns
    assert [m["role"] for m in upstream.requests(chat)[1].messages] == ["system", "user", "assistant", "user"]
    # A session kept in a server conversation (OpenAIConversationsSession): each item once, in order.
    assert seen["session"] == {"output": "Blue.", "roles": ["user", "assistant", "user", "assistant"]}
    assert "My colour is blue" in str(upstream.requests(session)[1].messages)
    # store=False: the SDK resent the tool round trip itself; none of its responses is readable after.
    assert seen["unstored"]["output"] == "Fine."
    assert seen["unstored"]["reads"] == [404, 404]
    assert seen["unstored"]["chained"] == [400, "previous_response_not_found"]
    assert [m["role"] for m in upstream.requests(unstored)[1].messages] == ["user", "assistant", "tool"]
