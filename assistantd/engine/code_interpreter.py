"""The ``code_interpreter`` server tool: the model's Python runs in the thread's sandbox session.

Each call goes to a ``CodeRunner`` (``services/code_sessions.py``): the thread's session, on the host
that holds it, with the files of ``tool_resources.code_interpreter.file_ids`` (assistant and thread;
a ``code_interpreter`` attachment lands in the thread's list) in ``/mnt/data/<filename>`` (also
reachable as ``/mnt/data/<file id>``, the name OpenAI's sandbox used). The tool turns what came out
into OpenAI's shapes: ``logs`` and ``image`` outputs in the step, figures and written files stored
as ``assistants_output`` files, ``image_file`` parts for the next message, and
``sandbox:/mnt/data/...`` links in the answer turned into ``file_path`` annotations.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistantd.engine.tools import ToolContext, ToolOutcome
from assistantd.sandbox import MOUNT_POINT, ExecResult, SandboxUnavailable

log = logging.getLogger("assistantd.code_interpreter")
OUTPUT_PURPOSE = "assistants_output"
# A link the model writes to a file it made: ``sandbox:/mnt/data/report.csv`` (markdown or bare).
SANDBOX_LINK = re.compile(r"sandbox:/mnt/data/[^\s()\[\]<>\"'`]+")
DESCRIPTION = (
    "Run Python code in a stateful Jupyter-like session and see its output. Variables persist between "
    "calls in this thread. The value of the last expression and everything printed is returned. "
    "numpy, pandas and matplotlib are available; figures (plt.show() or left open) are returned as "
    "images. Files the user provided are in /mnt/data (list the directory to see them); save files "
    "for the user in /mnt/data and link them as sandbox:/mnt/data/<name>. There is no internet access."
)


@dataclass
class CodeCall:
    key: str  # the sandbox session: the thread's, or the one ``ToolContext.sandbox_key`` names
    project: str
    file_ids: list[str]  # to be in /mnt/data
    code: str
    timeout: float | None = None


@dataclass
class CodeResult:
    result: ExecResult
    notes: list[str] = field(default_factory=list)  # told to the model before the output


class CodeRunner(Protocol):
    async def run(self, call: CodeCall) -> CodeResult:
        """Run the code in the session ``call.key``; raises SandboxUnavailable."""
        ...

    async def remember(self, key: str, project: str, written: dict[str, str]) -> None:
        """The files a call wrote (``/mnt/data`` path -> the file stored), for a session started later."""
        ...


class CodeInterpreterTool:
    type = "code_interpreter"
    function_name = "python"

    def __init__(self, runner: CodeRunner, files: Any, timeout: float | None = None) -> None:
        # ``files`` is services.files.Files (store_bytes); kept loose for reuse.
        self.runner = runner
        self.files = files
        self.timeout = timeout

    def function_definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": self.function_name,
            "description": DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "The Python code to run."}},
                "required": ["code"],
            },
        }

    async def execute(self, context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
        code = arguments.get("code")
        if not isinstance(code, str):
            code = str(next(iter(arguments.values()), "")) if len(arguments) == 1 else ""
        if context.emit is not None:
            # The engine wraps a partial as ``{"index", "type": "code_interpreter", "code_interpreter": partial}``.
            await context.emit({"input": code, "outputs": []})
        notes: list[str] = []
        if not code.strip():
            result = ExecResult(stderr="No code was given: call python with a `code` string argument.")
            return await self._outcome(context, code, result, notes)
        key = context.sandbox_key or context.thread_id
        call = CodeCall(key, context.caller.project, resource_file_ids(context), code, self.timeout)
        try:
            ran = await self.runner.run(call)
            result, notes = ran.result, ran.notes
        except SandboxUnavailable as error:
            log.warning("code interpreter call in %s failed: %s", context.thread_id, error)
            result = ExecResult(stderr=f"The code interpreter is not available on this server: {error}")
        outcome = await self._outcome(context, code, result, notes)
        if outcome.annotation_context["files"]:
            await self.runner.remember(key, context.caller.project, outcome.annotation_context["files"])
        if context.emit is not None and outcome.details["outputs"]:
            await context.emit({"outputs": outcome.details["outputs"]})
        return outcome

    async def _outcome(self, context: ToolContext, code: str, result: ExecResult, notes: list[str]) -> ToolOutcome:
        outputs: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        logs = result.logs
        if logs:
            outputs.append({"index": 0, "type": "logs", "logs": logs})
        for number, image in enumerate(result.images, start=1):
            stored = await self.files.store_bytes(context.caller, image, f"figure-{number}.png", OUTPUT_PURPOSE)
            outputs.append({"index": len(outputs), "type": "image", "image": {"file_id": stored["id"]}})
            parts.append({"type": "image_file", "image_file": {"file_id": stored["id"]}})
        written: dict[str, str] = {}
        for item in result.files:
            name = item.path.rsplit("/", 1)[-1]
            stored = await self.files.store_bytes(context.caller, item.data, name, OUTPUT_PURPOSE)
            written[f"{MOUNT_POINT}/{item.path}"] = stored["id"]
        told = [*notes, logs or "(no output)"]
        if result.images:
            told.append(f"({len(result.images)} image(s) shown to the user.)")
        told += [f"(Saved {path}: link it as sandbox:{path})" for path in written]
        return ToolOutcome(
            output="\n".join(told),
            details={"input": code, "outputs": outputs},
            message_parts=parts,
            annotation_context={"files": written},
        )

    async def annotate(self, text: str, outcomes: list[ToolOutcome]) -> tuple[str, list[dict[str, Any]]]:
        files: dict[str, str] = {}
        for outcome in outcomes:
            files.update(outcome.annotation_context.get("files", {}))
        annotations: list[dict[str, Any]] = []
        for match in SANDBOX_LINK.finditer(text):
            link = match.group(0).rstrip(".,;:!?")
            file_id = files.get(link.removeprefix("sandbox:"))
            if file_id is None:
                continue
            annotations.append(
                {
                    "type": "file_path",
                    "text": link,
                    "start_index": match.start(),
                    "end_index": match.start() + len(link),
                    "file_path": {"file_id": file_id},
                }
            )
        return text, annotations


def resource_file_ids(context: ToolContext) -> list[str]:
    """The assistant's then the thread's code_interpreter files, each once."""
    ids: list[str] = []
    for resources in (context.assistant_resources, context.thread_resources):
        for file_id in (resources or {}).get("code_interpreter", {}).get("file_ids", []) or []:
            if file_id not in ids:
                ids.append(file_id)
    return ids
