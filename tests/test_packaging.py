"""Every import of the package is a declared dependency: what ``pip install assistantd`` brings.

Read from the source (``ast``): an import at module level must come from ``[project].dependencies``;
one inside a function (an optional part, loaded on use) may come from an extra. The CI step
``scripts/wheel-smoke`` then proves it for real: the wheel in a clean venv, no extras, serving a run.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "assistantd"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return canonical(match.group(1))


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """The core dependencies, and each extra's (an extra naming ``assistantd[x]`` gets x's too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project["dependencies"]}
    extras = {name: {requirement_name(r) for r in reqs} for name, reqs in project["optional-dependencies"].items()}
    return core, extras


def third_party_imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level module name, imported at module level) for every import outside the stdlib and us."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = not top or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # never imported at run time
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                names = [child.module]
            for name in names:
                first = name.split(".")[0]
                if first != "assistantd" and first not in sys.stdlib_module_names:
                    found.append((first, top))
            visit(child, not nested)

    visit(tree, True)
    return found


def undeclared() -> list[str]:
    core, extras = declared()
    optional = set().union(*extras.values())
    providers = importlib.metadata.packages_distributions()
    problems: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, at_top in dict.fromkeys(third_party_imports(ast.parse(path.read_text()))):
            where = path.relative_to(ROOT)
            # An extra this environment lacks (local-embeddings): its distribution is named like the module.
            dists = {canonical(d) for d in providers.get(module, [])} or {canonical(module)}
            if at_top and not dists & core:
                problems.append(f"{where}: imports {module} ({', '.join(sorted(dists))}) at module level, "
                                "but it is not in [project].dependencies")
            elif not dists & (core | optional):
                problems.append(f"{where}: imports {module} ({', '.join(sorted(dists))}), declared nowhere")
    return problems


def test_every_import_is_a_declared_dependency() -> None:
    assert undeclared() == []


def test_the_check_sees_module_level_and_nested_imports() -> None:
    source = (
        "import httpx\nfrom obstore.store import S3Store\nimport json\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import boto3\n"
        "def f():\n    import onnxruntime\nclass C:\n    def g(self):\n        from tokenizers import Tokenizer\n"
    )
    assert third_party_imports(ast.parse(source)) == [
        ("httpx", True),
        ("obstore", True),
        ("onnxruntime", False),
        ("tokenizers", False),
    ]


def test_optional_parts_sit_behind_extras() -> None:
    """The code interpreter's data stack, local embeddings and S3 each have an extra of their name."""
    core, extras = declared()
    assert {"pandas", "matplotlib"} <= extras["code-interpreter"]
    assert {"onnxruntime", "tokenizers"} <= extras["local-embeddings"]
    assert "obstore" in extras["s3"]
    assert not {"pandas", "matplotlib", "onnxruntime", "tokenizers", "obstore", "httpx"} & core
