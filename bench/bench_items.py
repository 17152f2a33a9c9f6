"""Benchmark: the cost of one page of a conversation's items (and of a response's input items) as
the conversation grows.

Builds, on one server, a small conversation (``--small`` items) and a large one (``--items``),
each made of rounds of four messages added through ``conversations.items.create`` and a response
(its input message, a reasoning item and its answer); and two responses with ``--small`` and
``--items`` input items. Then times ``--repeat`` requests of: the newest page (limit 20, what a chat
screen loads), a page after a cursor in the middle (asc), and the first page of input items. Prints
the median milliseconds of each on both sizes and their ratio (large / small); a page read in SQL
stays near 1, one that loads every item grows with the conversation.

Usage: ``.venv/bin/python bench/bench_items.py [--items 2000] [--small 40] [--repeat 30] [--source DIR]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import add_server_options, bench_server, describe
from tests.upstream import Reply, Upstream

MODEL = "bench-items"
ROUND = 7  # items per round: four messages, then a response's input, reasoning and answer


def conversation(client: openai.OpenAI, upstream: Upstream, items: int) -> tuple[str, str]:
    """A conversation of about ``items`` items, and the id of an item in its middle."""
    rounds = max(1, items // ROUND)
    upstream.script(MODEL, *[Reply(reasoning=["Thinking."], text=["Noted", "."]) for _ in range(rounds)])
    conv = client.conversations.create()
    for n in range(rounds):
        notes: Any = [{"role": "user", "content": f"note {n}.{k}"} for k in range(4)]
        client.conversations.items.create(conv.id, items=notes)
        client.responses.create(model=MODEL, conversation=conv.id, input=f"question {n}")
    listed = list(client.conversations.items.list(conv.id, limit=100, order="asc"))
    return conv.id, listed[len(listed) // 2].id


def response_with_inputs(client: openai.OpenAI, upstream: Upstream, items: int) -> str:
    upstream.script(MODEL, Reply(text=["Read", "."]))
    given: Any = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"line {n}"} for n in range(items)]
    return client.responses.create(model=MODEL, input=given).id


def median_ms(request: Any, repeat: int) -> float:
    request()  # warm
    spent = []
    for _ in range(repeat):
        began = time.perf_counter()
        request()
        spent.append((time.perf_counter() - began) * 1000)
    return statistics.median(spent)


def measure(client: openai.OpenAI, conv: str, middle: str, response: str, repeat: int) -> dict[str, float]:
    items = client.conversations.items
    return {
        "newest page (limit 20)": median_ms(lambda: items.list(conv, limit=20), repeat),
        "page after a middle cursor": median_ms(lambda: items.list(conv, limit=20, order="asc", after=middle), repeat),
        "input items, first page": median_ms(lambda: client.responses.input_items.list(response, limit=20), repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--small", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=30)
    add_server_options(parser)
    args = parser.parse_args()
    with bench_server(args) as (server, upstream):
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-bench", max_retries=0)
        sizes = {}
        for size in (args.small, args.items):
            conv, middle = conversation(client, upstream, size)
            sizes[size] = measure(client, conv, middle, response_with_inputs(client, upstream, size), args.repeat)
    print(describe(args))
    print(f"{'median ms per request':32} {args.small:>8} {args.items:>8}   ratio")
    for name, small in sizes[args.small].items():
        large = sizes[args.items][name]
        print(f"{name:32} {small:8.1f} {large:8.1f}   {large / small:5.2f}")


if __name__ == "__main__":
    main()
