"""The longer neighbour a case is collated beside (harness/adapters/neighbours.py) must be the same kind of row as
the case: where the case's template accepts the case, it accepts the neighbour too. Otherwise TRL refuses the pair
because of the neighbour, and the case is reported as refused (a PASS of the refusal, N/A for every other rule)
though TRL accepts it: mistral-v3 and gpt-oss did so for every tool-call case until the neighbour stopped giving a
tool-call turn the text it did not have."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.adapters.neighbours import NEIGHBOUR_SUFFIX, neighbour_case
from harness.pipeline.cases import load_cases
from harness.pipeline.clock import frozen_clock
from harness.pipeline.encoding import Encoding
from harness.tokenizers import registry

CASES = {c.id: c for c in load_cases()}
CONVERSATIONS = [c for c in CASES.values() if c.shape != "string_pc"]
EVERY_TOKENIZER = registry.expand(["all"])  # the breadth tier too: users run it
TESTS = Path(__file__).resolve().parent


def test_a_tool_call_turn_without_text_keeps_none_and_every_other_text_grows():
    case = CASES["chat_tool_call_then_answer"]
    longer = neighbour_case(case)["messages"]
    assert [m["role"] for m in longer] == [m["role"] for m in case.conversation]
    for mine, theirs in zip(case.conversation, longer):
        if mine.get("tool_calls") and not mine["content"]:
            assert theirs == dict(mine)
        else:
            assert theirs["content"] == mine["content"] + NEIGHBOUR_SUFFIX
            assert {k: v for k, v in theirs.items() if k != "content"} == {k: v for k, v in mine.items() if k != "content"}


def _renders(tok, messages, case) -> str | None:
    """The template's error on these messages, or None when it renders them."""
    try:
        with frozen_clock():
            tok.apply_chat_template(list(messages), tokenize=False, **case.render_kwargs)
    except Exception as exc:  # noqa: BLE001 - the template's own refusal is the datum
        return f"{type(exc).__name__}: {exc}"
    return None


def neighbour_refusals(tid: str) -> dict:
    """``{"refused": {case id: the template's error}}`` for the cases whose template renders the case but not its
    neighbour, ``{"skip": why}`` when the tokenizer is not provisioned or has no chat template."""
    try:
        lt = registry.load(tid)
    except registry.TokenizerUnavailable as exc:  # a breadth tokenizer not provisioned
        return {"skip": str(exc)}
    if not lt.has_chat_template:
        return {"skip": f"{tid} has no chat template"}
    refused = {}
    for case in CONVERSATIONS:
        if _renders(lt.tokenizer, case.conversation, case) is None:
            error = _renders(lt.tokenizer, neighbour_case(case)["messages"], case)
            if error is not None:
                refused[case.id] = error[:120]
    return {"refused": refused}


# Loading every catalog tokenizer takes 20-35 s (transformers reads each tokenizer.json into Python), which the
# test process would spend while a core idles: the renders run in one background command (``script_runs``: at low
# priority, started at collection), and each test reads its tokenizer's line. It runs in a new interpreter: in a
# fork it would hold the preloaded one, which runs one fork at a time, for half a minute while other tests wait on it.
# Run alone (``-k``), a test runs the command itself.
def _command():
    """The background command (a ``script_runs.Command``; imported here, not in the command's own process)."""
    import script_runs

    return script_runs.Command((sys.executable, "-m", "test_neighbours", *EVERY_TOKENIZER), str(TESTS.parent),
                               (("PYTHONPATH", str(TESTS)),))


def background_commands(names: set[str]) -> list:
    return [_command()] if "test_the_neighbour_renders_wherever_the_case_renders" in names else []


@pytest.mark.parametrize("tid", EVERY_TOKENIZER)
def test_the_neighbour_renders_wherever_the_case_renders(tid):
    import script_runs

    res = script_runs.outcome(_command())
    assert res.returncode == 0, res.stderr[-3000:]
    found = json.loads(res.stdout.strip().splitlines()[-1])[tid]
    if "skip" in found:
        pytest.skip(found["skip"])
    assert not found["refused"]


# what these templates say when a tool-call turn gets text beside its calls (the neighbour's fault, not the case's)
NEIGHBOUR_ONLY_REFUSALS = ("cannot have both content and tool calls", "Cannot pass both content and thinking")


@pytest.mark.parametrize(("tid", "case_id"), [("mistral-v3", "chat_tool_call_then_answer"),
                                              ("mistral-v3", "chat_tool_calls_parallel"),
                                              ("gpt-oss", "chat_reasoning_then_tool_call")])
@pytest.mark.parametrize("path", ["text", "messages", "completion_only_loss"])
def test_a_tool_call_case_is_not_refused_for_its_neighbour(conformance_session, tid, case_id, path):
    """With SFTTrainer alone (trl 1.16.0) each of these cases is accepted, alone and beside its neighbour."""
    try:
        enc = conformance_session.encoding(tid, path, case_id)
    except registry.TokenizerUnavailable as exc:
        pytest.skip(str(exc))
    if not isinstance(enc, Encoding):
        pytest.skip(f"not applicable here: {enc.reason}")
    assert not any(m in (enc.refused or "") for m in NEIGHBOUR_ONLY_REFUSALS), enc.refused


if __name__ == "__main__":  # the background command: one JSON line, {tokenizer id: neighbour_refusals(id)}
    print(json.dumps({tid: neighbour_refusals(tid) for tid in sys.argv[1:]}))
