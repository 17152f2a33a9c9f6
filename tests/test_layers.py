"""Imports go one way: a module imports its own layer or the layers below it, never one above.

Every module's imports are read from its source (``ast``, imports inside functions and under
``TYPE_CHECKING`` included), so a layer that runs back up fails here, not in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistantd"

# Top first. Each name is a package or module directly under ``assistantd`` ("" is the package itself).
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    # The composition roots: the command line and the ASGI app.
    ("process", frozenset({"__main__", "cli", "app"})),
    # HTTP: parse, call a service, render (SSE frames, the v1 adapter).
    ("edge", frozenset({"api"})),
    # Builds every service in dependency order; the edge reads its services from the container.
    ("container", frozenset({"wiring"})),
    # The services, in three tiers. APIs built on the Assistants services: Responses and Conversations,
    # ChatKit, the console's reads, and moving data (export, import, backups).
    ("product services", frozenset({"responses", "chatkit", "console", "transfer"})),
    # Vector stores, ingestion and search, and the file_search tool the engine is handed in wiring.
    ("vector store services", frozenset({"retrieval"})),
    # The Assistants API's use cases; they reach vector stores only through ``services/inline.py``.
    ("services", frozenset({"services"})),
    # The run engine: a run's life, its loop, the executor, the event bus; no service, no store.
    ("engine", frozenset({"engine"})),
    # Wire shapes and the seams' implementations.
    ("seams", frozenset({"protocol", "store", "upstream", "sandbox", "observability", "blobs"})),
    # Imported by anyone, importing only each other.
    ("leaves", frozenset({"", "ids", "errors", "caller", "settings", "tokens", "llm"})),
)
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
# Below a layer but not for it: the edge reaches runs and the database through services only (it
# frames the engine's typed events from ``protocol/events.py``, read through a service); the engine
# reaches the database only through its seams (``engine/seams.py``), which ``wiring.py`` fills.
OUT_OF_REACH = {"api": frozenset({"engine", "store"}), "engine": frozenset({"store"})}


def module_name(path: Path) -> str:
    parts = ["assistantd", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The ``assistantd`` modules (or names in them) that ``module`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from assistantd import tokens`` imports the module ``assistantd.tokens``, not the package.
            found.update(f"{base}.{alias.name}" if _is_module(base, alias.name) else base for alias in node.names)
    return {name for name in found if name == "assistantd" or name.startswith("assistantd.")}


def _is_module(package: str, name: str) -> bool:
    path = PACKAGE.joinpath(*package.split(".")[1:], name)
    return path.is_dir() or path.with_suffix(".py").is_file()


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    own = top(module)
    if own not in RANK:
        return [f"{module}: assistantd.{own} has no layer in tests/test_layers.py"]
    found = []
    for name in sorted(imported(ast.parse(source), module, is_package)):
        target = top(name)
        if target not in RANK:
            found.append(f"{module} imports {name}: assistantd.{target} has no layer")
        elif RANK[target] < RANK[own] or target in OUT_OF_REACH.get(own, ()):
            found.append(f"{module} ({LAYERS[RANK[own]][0]}) imports {name} ({LAYERS[RANK[target]][0]})")
    return found


def test_no_module_imports_a_layer_above_its_own() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += violations(path.read_text(), module_name(path), path.name == "__init__.py")
    assert found == []


def test_an_import_running_back_up_is_found() -> None:
    """The check itself: upward imports at module level, inside a function, relative and by name."""
    engine = "from assistantd.engine.life import RunLife\n"
    assert violations(engine, "assistantd.store.runs") == [
        "assistantd.store.runs (seams) imports assistantd.engine.life (engine)"
    ]
    inside = "def f():\n    from assistantd.services import runs\n"
    assert violations(inside, "assistantd.engine.loop") == [
        "assistantd.engine.loop (engine) imports assistantd.services.runs (services)"
    ]
    assert violations("from ..api import v1\n", "assistantd.services.runs") == [
        "assistantd.services.runs (services) imports assistantd.api.v1 (edge)"
    ]
    assert violations("import assistantd.wiring\n", "assistantd.protocol.runs") == [
        "assistantd.protocol.runs (seams) imports assistantd.wiring (container)"
    ]
    assert violations("from assistantd.engine.bus import EventBus\n", "assistantd.api.runs") == [
        "assistantd.api.runs (edge) imports assistantd.engine.bus (engine)"
    ]
    assert violations("from assistantd.store.db import uncounted\n", "assistantd.engine.executor") == [
        "assistantd.engine.executor (engine) imports assistantd.store.db (seams)"
    ]
    assert violations("from assistantd.engine import objects\n", "assistantd.services.runs") == []
    assert violations("", "assistantd.newpackage.x") == [
        "assistantd.newpackage.x: assistantd.newpackage has no layer in tests/test_layers.py"
    ]


RUN_CORE_TABLES = {"ThreadRow", "MessageRow", "RunRow", "RunStepRow"}
WRITES = {"insert", "update", "delete"}


def run_core_writes(source: str) -> list[str]:
    """The statements writing a run-core table (``insert(MessageRow)``...) and rows made as ORM objects."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in RUN_CORE_TABLES:
                found.append(f"{node.func.id}(...)")
            elif node.func.id in WRITES and node.args and isinstance(node.args[0], ast.Name):
                if node.args[0].id in RUN_CORE_TABLES:
                    found.append(f"{node.func.id}({node.args[0].id})")
    return found


def test_threads_messages_and_runs_are_written_one_way() -> None:
    """Core statements in ``store/threads.py`` and ``store/runs.py``, never an ORM row made elsewhere."""
    writers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts and run_core_writes(path.read_text())
    }
    assert writers == {"store/threads.py", "store/runs.py"}
    assert run_core_writes("session.add(MessageRow(id='m'))\n") == ["MessageRow(...)"]
    assert run_core_writes("conn.execute(delete(ThreadRow))\n") == ["delete(ThreadRow)"]
