"""The stream normaliser in process: tags split across chunks, text calls, call assembly.

The end-to-end behaviour is tested through the SDK in test_upstream_quirks.py; these cases pin the
chunk-boundary edges that a scripted stream only reaches by luck.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from assistantd.llm import ReasoningDelta, TextDelta, ToolCallDelta, UpstreamError
from assistantd.upstream.normalise import Normaliser, parse_calls
from assistantd.upstream.refusals import refused_parameter, shape


def _run(normaliser: Normaliser, pieces: list[str]) -> tuple[str, str, list[ToolCallDelta]]:
    out: list[Any] = []
    for piece in pieces:
        out.extend(normaliser.feed(SimpleNamespace(content=piece, tool_calls=None)))
    out.extend(normaliser.close())
    text = "".join(d.text for d in out if isinstance(d, TextDelta))
    thought = "".join(d.text for d in out if isinstance(d, ReasoningDelta))
    return text, thought, [d for d in out if isinstance(d, ToolCallDelta)]


@pytest.mark.parametrize("split", [1, 2, 3, 5, 7])
def test_think_block_split_anywhere(split: int) -> None:
    whole = "<think>a < b, so</think>\n\nThe answer <is> b."
    pieces = [whole[i : i + split] for i in range(0, len(whole), split)]
    text, thought, _ = _run(Normaliser("native", "auto", set()), pieces)
    assert (text, thought) == ("The answer <is> b.", "a < b, so")


@pytest.mark.parametrize("split", [1, 4, 9])
def test_hermes_calls_split_anywhere_with_text_around(split: int) -> None:
    whole = 'Sure. <tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call> <tool_call>{"name": "g"}</tool_call>'
    pieces = [whole[i : i + split] for i in range(0, len(whole), split)]
    text, _, calls = _run(Normaliser("hermes", "auto", {"f", "g"}), pieces)
    assert text == "Sure.  "
    assert [(c.index, c.name, c.arguments) for c in calls] == [(0, "f", '{"x": 1}'), (1, "g", "{}")]


def test_hermes_block_naming_no_tool_stays_text() -> None:
    text, _, calls = _run(Normaliser("hermes", "auto", {"f"}), ['<tool_call>{"name": "zzz"}</tool_call>'])
    assert calls == [] and text == '<tool_call>{"name": "zzz"}</tool_call>'


def test_unclosed_hermes_block_is_a_call_when_it_parses() -> None:
    _, _, calls = _run(Normaliser("hermes", "auto", {"f"}), ['<tool_call>{"name": "f", "arguments": {}}'])
    assert [(c.name, c.arguments) for c in calls] == [("f", "{}")]


def test_json_profile_streams_text_that_does_not_start_like_json() -> None:
    normaliser = Normaliser("json", "auto", {"f"})
    first = normaliser.feed(SimpleNamespace(content="Hello", tool_calls=None))
    assert first == [TextDelta("Hello")]  # streamed at once, not held to the end


def test_without_tools_nothing_is_parsed_as_a_call() -> None:
    text, _, calls = _run(Normaliser("json", "auto", set()), ['{"name": "f", "arguments": {}}'])
    assert calls == [] and text == '{"name": "f", "arguments": {}}'


def test_parse_calls_shapes() -> None:
    assert parse_calls('{"name": "f", "parameters": {"a": 1}}', {"f"}) == [("f", '{"a": 1}')]
    assert parse_calls('{"function": {"name": "f", "arguments": "{}"}}', {"f"}) == [("f", "{}")]
    assert parse_calls('{"name": "f", "arguments": "not json"}', {"f"}) is None
    assert parse_calls("[]", {"f"}) is None


def test_call_pieces_keep_their_call_by_id_and_index() -> None:
    normaliser = Normaliser("native", "auto", set())

    def call(**fields: Any) -> SimpleNamespace:
        function = SimpleNamespace(name=fields.pop("name", None), arguments=fields.pop("arguments", None))
        return SimpleNamespace(content=None, tool_calls=[{"function": function, **fields}])

    deltas = [
        *normaliser.feed(call(index=0, id="a", name="f", arguments="")),
        *normaliser.feed(call(index=0, arguments='{"x"')),
        *normaliser.feed(call(index=0, id="b", name="g", arguments={"y": 2})),  # another call at index 0
        *normaliser.feed(call(index=0, id="a", arguments=": 1}")),  # back to the first, by id
    ]
    assert [(d.index, d.arguments) for d in deltas] == [(0, ""), (0, '{"x"'), (1, '{"y": 2}'), (0, ": 1}")]
    assert normaliser.finish_reason("stop") == "tool_calls" and normaliser.finish_reason(None) == "tool_calls"


def test_refusals_are_recognised_and_shaped() -> None:
    request = {"model": "m", "tool_choice": "required", "tools": [], "parallel_tool_calls": False}
    assert refused_parameter('`tool_choice` must either be a named tool, "auto", or "none".', request) == (
        "tool_choice_required"
    )
    assert refused_parameter("Unrecognized request argument supplied: parallel_tool_calls", request) == (
        "parallel_tool_calls"
    )
    assert refused_parameter("context length exceeded", request) is None
    shaped = shape({"model": "m", "max_tokens": 5, "seed": 1}, {"max_tokens", "seed", "stream_options"}, "m")
    assert shaped == {"model": "m", "max_completion_tokens": 5}


def test_a_refused_auto_tool_choice_leaves_named_choices_alone() -> None:
    named = {"type": "function", "function": {"name": "f"}}
    tools = [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}]
    assert "tool_choice" not in shape({"model": "m", "tool_choice": "auto", "tools": tools}, {"tool_choice_auto"}, "m")
    kept = shape({"model": "m", "tool_choice": named, "tools": tools}, {"tool_choice_auto"}, "m")
    assert kept["tool_choice"] == named and kept["tools"] == tools
    narrowed = shape({"model": "m", "tool_choice": named, "tools": tools}, {"tool_choice_named"}, "m")
    assert narrowed["tool_choice"] == "required" and narrowed["tools"] == tools[:1]
    with pytest.raises(UpstreamError, match="does not support a named tool_choice"):
        shape({"model": "m", "tool_choice": named, "tools": tools}, {"tool_choice"}, "m")
