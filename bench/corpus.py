"""An offline retrieval corpus with known answers, built from Python's own standard library.

Documents: the docstrings of the public functions, classes and methods that stdlib modules define
(each document is one docstring, without its name). Queries: the names of those callables split
into words (``make_archive`` -> "make archive", ``TemporaryDirectory`` -> "temporary directory").
A query's relevant documents are the docstrings of every callable bearing that name. Nothing is
downloaded: the corpus is whatever the running interpreter ships, so say which Python made it.
"""

from __future__ import annotations

import importlib
import inspect
import random
import re
from dataclasses import dataclass

MODULES = [
    "argparse",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "difflib",
    "email.utils",
    "filecmp",
    "fnmatch",
    "fractions",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http.client",
    "inspect",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "operator",
    "os",
    "pathlib",
    "pickle",
    "platform",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "socket",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "tokenize",
    "traceback",
    "typing",
    "urllib.parse",
    "uuid",
    "warnings",
    "weakref",
    "zipfile",
]
MAX_DOC_CHARS = 1000


@dataclass(frozen=True)
class Doc:
    id: str  # module.qualname
    name: str  # the bare name (what queries are made from)
    text: str


def words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return [w.lower() for w in spaced.split() if w]


def _members(module: object, module_name: str) -> list[tuple[str, str, object]]:
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module_name:
            continue
        if inspect.isfunction(value) or inspect.isbuiltin(value):
            found.append((name, f"{module_name}.{name}", value))
        elif inspect.isclass(value):
            found.append((name, f"{module_name}.{name}", value))
            for attr, member in vars(value).items():
                if not attr.startswith("_") and inspect.isfunction(member):
                    found.append((attr, f"{module_name}.{name}.{attr}", member))
    return found


def build_docs(modules: list[str] | None = None) -> list[Doc]:
    docs: dict[str, Doc] = {}
    for module_name in modules or MODULES:
        module = importlib.import_module(module_name)
        for name, qualified, value in _members(module, module.__name__):
            doc = inspect.getdoc(value)
            if not doc or len(doc) < 40 or qualified in docs:
                continue
            docs[qualified] = Doc(qualified, name, doc[:MAX_DOC_CHARS])
    return list(docs.values())


def build_queries(docs: list[Doc], count: int, seed: int = 0) -> list[tuple[str, set[str]]]:
    """``(query, relevant doc ids)`` for names of two or more words, sampled reproducibly."""
    by_name: dict[str, set[str]] = {}
    for doc in docs:
        if len(words(doc.name)) >= 2:
            by_name.setdefault(doc.name, set()).add(doc.id)
    names = sorted(by_name)
    random.Random(seed).shuffle(names)
    return [(" ".join(words(name)), by_name[name]) for name in names[:count]]
