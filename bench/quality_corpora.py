"""Corpora with known answers for ``bench/bench_quality.py``, built offline from what this machine has.

- ``stdlib``: the docstring corpus of ``bench/corpus.py`` (queries: callable names in words). Used to
  tune the fusion weight, and only for that.
- ``libraries``: the same construction over other code (numpy, pandas, SQLAlchemy, matplotlib and
  stdlib modules the tuning corpus leaves out), so names and prose differ from the tuning corpus.
- ``manpages``: section-1 man pages; the query is the page's one-line NAME description ("list
  directory contents"), the document is the rest of the page (NAME removed), one relevant page each.
"""

from __future__ import annotations

import gzip
import random
import re
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import build_docs, build_queries

LIBRARY_MODULES = [
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "numpy.ma",
    "pandas",
    "sqlalchemy",
    "sqlalchemy.orm",
    "matplotlib.pyplot",
    "email.message",
    "asyncio.base_events",
    "asyncio.streams",
    "decimal",
    "xml.etree.ElementTree",
    "http.server",
    "unittest.case",
    "ftplib",
    "smtplib",
    "imaplib",
    "mailbox",
    "optparse",
    "codecs",
    "locale",
]
MAN_DIR = Path("/usr/share/man/man1")
MAX_CHARS = 1000


@dataclass(frozen=True)
class Corpus:
    name: str
    docs: dict[str, str]  # id -> text
    queries: list[tuple[str, set[str]]]


def sample(corpus: Corpus, docs: int, queries: int, seed: int = 0) -> Corpus:
    """At most ``queries`` queries, and ``docs`` documents that keep every relevant one."""
    rng = random.Random(seed)
    chosen = corpus.queries[:queries]
    keep = set().union(*(relevant for _, relevant in chosen)) if chosen else set()
    others = sorted(set(corpus.docs) - keep)
    rng.shuffle(others)
    keep |= set(others[: max(0, docs - len(keep))])
    return Corpus(corpus.name, {k: v for k, v in corpus.docs.items() if k in keep}, chosen)


def docstrings(name: str, modules: list[str] | None) -> Corpus:
    docs = build_docs(modules)
    return Corpus(name, {d.id: d.text for d in docs}, build_queries(docs, 10_000))


ROFF_FONT = re.compile(r"\\f(\[[^]]*\]|\(..|.)")
ROFF_ESCAPE = re.compile(r"\\[&/,|^~%:]|\\\(..|\\\*\(..|\\\*.")


def _plain(line: str) -> str:
    line = ROFF_FONT.sub("", line).replace("\\-", "-").replace("\\e", "\\")
    return ROFF_ESCAPE.sub("", line)


def man_page(raw: str) -> tuple[str, str] | None:
    """``(NAME description, the rest as text)`` of a man page's roff source."""
    section, name, body = "", "", []
    for line in raw.splitlines():
        if line.startswith(".SH") or line.startswith(".Sh"):
            section = line[3:].strip().strip('"').upper()
            continue
        if line.startswith(".") or line.startswith("'"):
            parts = line.split(None, 1)
            line = parts[1] if len(parts) > 1 and parts[0] in (".B", ".I", ".BR", ".IR", ".BI", ".Nd") else ""
        text = _plain(line).strip()
        if not text:
            continue
        if section == "NAME":
            name += " " + text
        elif section:
            body.append(text)
    description = name.split(" - ", 1)[1].strip() if " - " in name else ""
    content = " ".join(body)[:MAX_CHARS]
    if len(description.split()) < 2 or len(content) < 200:
        return None
    return description, content


def manpages(limit: int = 3000) -> Corpus:
    docs: dict[str, str] = {}
    queries: list[tuple[str, set[str]]] = []
    seen: set[str] = set()
    # gcloud ships thousands of near-identical pages: leave them out so the corpus is about many tools.
    pages = [p for p in sorted(MAN_DIR.glob("*.1*.gz")) if not p.name.startswith("gcloud")] if MAN_DIR.is_dir() else []
    for path in pages[: limit * 2]:
        try:
            parsed = man_page(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        except (OSError, EOFError):
            continue
        if parsed is None or parsed[0].lower() in seen:
            continue
        seen.add(parsed[0].lower())
        docs[path.name] = parsed[1]
        queries.append((parsed[0], {path.name}))
    random.Random(0).shuffle(queries)
    return Corpus("manpages", docs, queries[:limit])


def corpora() -> dict[str, Corpus]:
    found = {"stdlib": docstrings("stdlib", None), "libraries": docstrings("libraries", LIBRARY_MODULES)}
    pages = manpages()
    if pages.queries:
        found["manpages"] = pages
    return found
