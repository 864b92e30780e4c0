"""The longer neighbour a case is collated beside (harness/adapters/neighbours.py) must be the same kind of row as
the case: where the case's template accepts the case, it accepts the neighbour too. Otherwise TRL refuses the pair
because of the neighbour, and the case is reported as refused (a PASS of the refusal, N/A for every other rule)
though TRL accepts it: mistral-v3 and gpt-oss did so for every tool-call case until the neighbour stopped giving a
tool-call turn the text it did not have."""

from __future__ import annotations

import pytest

from harness.adapters.neighbours import NEIGHBOUR_SUFFIX, neighbour_case
from harness.pipeline.cases import load_cases
from harness.pipeline.clock import frozen_clock
from harness.pipeline.encoding import Encoding
from harness.tokenizers import registry

CASES = {c.id: c for c in load_cases()}
CONVERSATIONS = [c for c in CASES.values() if c.shape != "string_pc"]


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


@pytest.mark.parametrize("tid", registry.expand(["all"]))  # the breadth tier too: users run it
def test_the_neighbour_renders_wherever_the_case_renders(tid):
    try:
        lt = registry.load(tid)
    except registry.TokenizerUnavailable as exc:  # a breadth tokenizer not provisioned
        pytest.skip(str(exc))
    if not lt.has_chat_template:
        pytest.skip(f"{tid} has no chat template")
    refused_for_the_neighbour = {}
    for case in CONVERSATIONS:
        if _renders(lt.tokenizer, case.conversation, case) is None:
            error = _renders(lt.tokenizer, neighbour_case(case)["messages"], case)
            if error is not None:
                refused_for_the_neighbour[case.id] = error[:120]
    assert not refused_for_the_neighbour


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
