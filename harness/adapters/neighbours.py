"""The rows a case is collated beside: a longer neighbour (padding is exercised) and a shorter one,
and the batch layouts the batch-invariance property collates a case in."""

from __future__ import annotations

from harness.pipeline.cases import Case

NEIGHBOUR_SUFFIX = " plus neighbour words"


def neighbour_case(case: Case) -> dict:
    """The case with every text a few words longer (a tool-call turn without text keeps none), collated beside
    it so padding is exercised.

    Same shape and roles as the case, so TRL processes it identically; strictly longer, so the
    case row is the one that gets padded (unless both are cut to ``max_length``).
    """
    if case.shape == "string_pc":
        return {"prompt": case.prompt + NEIGHBOUR_SUFFIX, "completion": case.completion + NEIGHBOUR_SUFFIX}
    return {"messages": [_longer(m) for m in case.conversation]}


def _longer(message: dict) -> dict:
    """The message with its text a few words longer; a tool-call turn without text keeps none. Text beside
    tool calls is another kind of message, which some templates refuse (mistral-v3: "Assistant message cannot
    have both content and tool calls"; gpt-oss with thinking), and the case would then be reported as refused
    by TRL when only its neighbour was."""
    if message.get("tool_calls") and not message.get("content"):
        return dict(message)
    return {**message, "content": message["content"] + NEIGHBOUR_SUFFIX}


# (variant, item order, row of the case in the batch); 0 is the case, 1 the longer, 2 the shorter neighbour
BATCH_LAYOUTS = (("alone", [0], 0), ("with_longer", [0, 1], 0), ("with_shorter", [0, 2], 0),
                 ("after_shorter", [2, 0], 1), ("left_padded", [0, 1], 0))


BATCH_VARIANTS = tuple(v for v, _, _ in BATCH_LAYOUTS)


def shorter_case(case: Case) -> dict:
    """The case with every text cut to its first half (at least one character), same roles."""
    def cut(text: str) -> str:
        return text[:max(1, len(text) // 2)] if text else text

    if case.shape == "string_pc":
        return {"prompt": cut(case.prompt), "completion": cut(case.completion)}
    return {"messages": [{**m, "content": cut(m["content"])} for m in case.conversation]}
